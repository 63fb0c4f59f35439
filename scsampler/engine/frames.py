"""A cache of frames decoded for training (one image per clip), keyed by the video's content and the
settings that chose them, with the count of frames the decoding took."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from scsampler.data.manifest import ManifestEntry
from scsampler.files import atomic_path, digest
from scsampler.io.decode import DecodeStats


def cached_frames(name: str, entry: ManifestEntry, settings: dict, cache_root: Path,
                  decode: Callable[[DecodeStats], torch.Tensor]) -> tuple[torch.Tensor, int]:
    """``decode(stats)``'s frames of ``entry``, from ``<cache_root>/<name>/<settings key>/`` when there,
    and the frames decoded to make them."""
    key = digest(json.dumps(settings, sort_keys=True).encode())
    video = digest(entry.path, size=16)
    path = cache_root / name / key / video[:2] / f"{video}.safetensors"
    if path.exists():
        with safe_open(str(path), framework="pt") as f:
            return f.get_tensor("frames"), int(f.metadata()["frames_decoded"])
    stats = DecodeStats()
    frames = decode(stats)
    with atomic_path(path) as tmp:
        save_file({"frames": frames.contiguous()}, str(tmp), metadata={"frames_decoded": str(stats.frames_decoded)})
    return frames, stats.frames_decoded
