"""Manifests: CSV files listing videos, with ``path`` (relative to the manifest) and optional
``label``, ``split`` and ``duration_s`` columns, and for videos with several labels (Charades,
some ActivityNet videos: ``scsampler import``; the ``multilabel`` synthetic preset) an optional
``labels`` column, ``;``-separated, beside ``label`` (the main one). A manifest without ``labels``
reads as one label a video."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from scsampler.errors import ConfigError

LABELS_SEPARATOR = ";"  # between the labels of the ``labels`` column


@dataclass(frozen=True)
class ManifestEntry:
    video_id: str          # the path as the manifest writes it: stable across machines
    path: Path             # resolved absolute path
    label: str | None = None
    split: str | None = None
    duration_s: float | None = None
    # Every label of the video, ``label`` first: the ``labels`` column, else ``(label,)``, else ().
    labels: tuple[str, ...] = ()

    @property
    def multi_label(self) -> bool:
        return len(self.labels) > 1


def read_manifest(
    manifest: str | os.PathLike, *, split: str | None = None, root: str | os.PathLike | None = None
) -> list[ManifestEntry]:
    """Entries of ``manifest`` (optionally only one ``split``), paths resolved against its folder.

    With ``root``, every resolved path (symbolic links followed) must lie inside ``root``: a
    manifest someone else wrote cannot point the tool at ``../../etc/passwd``."""
    manifest = Path(manifest)
    root = Path(root).resolve() if root is not None else None
    if not manifest.is_file():
        raise ConfigError(f"{manifest}: manifest not found")
    base = manifest.resolve().parent
    entries = []
    with open(manifest, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "path" not in reader.fieldnames:
            raise ConfigError(f"{manifest}: a manifest needs a header row with a 'path' column")
        for line, row in enumerate(reader, start=2):
            rel = (row.get("path") or "").strip()
            if not rel:
                raise ConfigError(f"{manifest}:{line}: empty path")
            if split is not None and row.get("split") != split:
                continue
            dur = row.get("duration_s")
            try:
                duration = float(dur) if dur not in (None, "") else None
            except ValueError:
                raise ConfigError(f"{manifest}:{line}: duration_s {dur!r} is not a number") from None
            label = row.get("label") or None
            labels = tuple(x.strip() for x in (row.get("labels") or "").split(LABELS_SEPARATOR) if x.strip())
            if label is None and labels:
                label = labels[0]  # only a labels column: its first is the main one
            if label is not None:
                labels = (label, *dict.fromkeys(x for x in labels if x != label))
            path = (base / rel).resolve()
            if root is not None and not path.is_relative_to(root):
                raise ConfigError(f"{manifest}:{line}: {rel} resolves outside --root {root}")
            entries.append(
                ManifestEntry(
                    video_id=rel,
                    path=path,
                    label=label,
                    split=(row.get("split") or None),
                    duration_s=duration,
                    labels=labels,
                )
            )
    return entries


def write_manifest(manifest: str | os.PathLike, rows: list[dict]) -> None:
    """Write ``rows`` (dicts with at least ``path``) as a manifest, atomically. A row's ``labels``
    may be a sequence: it is written ``;``-separated."""
    manifest = Path(manifest)
    fields = ["path", "label", "split", "duration_s"]
    extra = sorted({k for r in rows for k in r} - set(fields))
    written = []
    for r in rows:
        labels = r.get("labels")
        if isinstance(labels, (list, tuple)):
            if any(LABELS_SEPARATOR in x for x in labels):
                raise ConfigError(f"{r['path']}: a label with {LABELS_SEPARATOR!r} cannot go into the labels column")
            r = {**r, "labels": LABELS_SEPARATOR.join(labels)}
        written.append(r)
    tmp = manifest.with_name(manifest.name + ".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields + extra)
        writer.writeheader()
        writer.writerows(written)
    os.replace(tmp, manifest)
