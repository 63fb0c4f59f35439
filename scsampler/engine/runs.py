"""A training run's identity: what makes two runs the same, so that a rerun reuses a finished one.

The identity is the run's config (less what does not change the result, e.g. the output folder or
the device) plus digests of the files it learns from (the data's manifest, the classifier whose
labels it uses, the weights it starts from). It is stored in the run's ``config.json``.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

from scsampler.files import digest


def run_identity(config, *, drop: tuple[str, ...] = ("out",), files: dict[str, str | os.PathLike] | None = None) -> dict:
    """``config`` (a dataclass) as stored in JSON, without the fields in ``drop``, plus the digest of
    each of ``files`` under its key."""
    d = json.loads(json.dumps(asdict(config)))  # tuples -> lists, as stored in config.json
    for k in drop:
        d.pop(k, None)
    for key, path in (files or {}).items():
        d[key] = digest(path)
    return d


def is_finished_run(run: Path, identity: dict, outputs: list[Path]) -> bool:
    """Whether ``run`` holds ``outputs`` and a ``config.json`` recording ``identity``."""
    try:
        saved = json.loads((run / "config.json").read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return saved.get("identity") == identity and all(p.exists() for p in outputs)
