"""Class names: ``classes.txt`` (one name per line; the line number is the class index)."""

from __future__ import annotations

import os
from pathlib import Path

from scsampler.errors import ConfigError


def read_classes(path: str | os.PathLike) -> list[str]:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: class-name file not found")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not names:
        raise ConfigError(f"{path}: no class names")
    if len(set(names)) != len(names):
        raise ConfigError(f"{path}: duplicate class names")
    return names


def write_classes(path: str | os.PathLike, names: list[str]) -> None:
    Path(path).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")


def dataset_paths(data: str | os.PathLike) -> tuple[Path, Path]:
    """``(manifest.csv, classes.txt)`` of a data directory, or of a manifest file and the
    ``classes.txt`` beside it."""
    data = Path(data)
    manifest = data / "manifest.csv" if data.is_dir() else data
    classes = manifest.parent / "classes.txt"
    if not manifest.is_file():
        raise ConfigError(f"{manifest}: manifest not found")
    return manifest, classes
