"""Where a video's actions are, from the ``segments.json`` beside a manifest (``{video path: entry}``).

Two writers fill it: ``scsampler generate`` (``segments`` with a ``kind`` and the ``class`` shown) and
``scsampler import`` (``segments`` cut where the active labels change, each with ``labels``, and
``annotations``: the intervals as annotated). See ``docs/benchmark-data.md`` and ``docs/data-formats.md``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from scsampler.errors import ConfigError

# The kinds of segment that show the video's own action (generated data: masked is the action under a
# noise burst; glimpses and sound-only events show other classes).
ACTION_KINDS = ("salient", "masked")


def read_segments_file(path: str | os.PathLike) -> dict[str, dict]:
    """The entries of the ``segments.json`` at ``path`` by video path; ``{}`` when there is none."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: cannot read the segments file ({err})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: not a segments file (a JSON object by video path expected)")
    return data


def action_intervals(entry: dict) -> dict[str, list[tuple[float, float]]]:
    """Seconds ``[(start, end), ...]`` of each label's action in one video's ``segments.json`` entry:
    its ``annotations`` (imported data), else its segments of an action kind, each under its
    ``labels``, ``class`` or ``label``."""
    out: dict[str, list[tuple[float, float]]] = {}
    if entry.get("annotations"):
        for a in entry["annotations"]:
            out.setdefault(a["label"], []).append((float(a["start_s"]), float(a["end_s"])))
        return out
    for s in entry.get("segments", []):
        if s.get("kind") not in ACTION_KINDS:
            continue
        for label in s.get("labels") or [s.get("class") or s.get("label")]:
            if label:
                out.setdefault(label, []).append((float(s["start_s"]), float(s["end_s"])))
    return out
