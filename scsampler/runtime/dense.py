"""Dense clip scoring: the classifier's probabilities for every clip of every video, cached.

This is what the oracle, the dense baseline and (later) the samplers' pseudo-labels are made from.
Entries are keyed by the classifier's identity and the video file's content, so a rerun only scores
what changed. Stored as safetensors (``probs (L, C)`` float32) with the timing in its metadata.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file
from tqdm import tqdm

from scsampler.data.manifest import ManifestEntry
from scsampler.errors import ScsamplerError
from scsampler.files import atomic_path, digest
from scsampler.runtime.classifier import ClipClassifier
from scsampler.io.decode import DecodeStats
from scsampler.io.video import probe

log = logging.getLogger(__name__)


@dataclass
class DenseResult:
    probs: torch.Tensor          # (L, C)
    seconds: float               # decode + classify, when it was computed
    frames_decoded: int


def _path(root: Path, classifier: ClipClassifier, key: str) -> Path:
    return root / "dense" / classifier.key / key[:2] / f"{key}.safetensors"


def score_video(classifier: ClipClassifier, path: str | os.PathLike) -> DenseResult:
    """Every clip of one video through the classifier."""
    t0 = time.perf_counter()
    n = classifier.grid.num_clips(probe(path).duration)
    stats = DecodeStats()
    probs = classifier.classify_clips(path, range(n), stats=stats)
    return DenseResult(probs=probs, seconds=time.perf_counter() - t0, frames_decoded=stats.frames_decoded)


def dense_scores(
    classifier: ClipClassifier,
    entries: list[ManifestEntry],
    cache_root: str | os.PathLike,
    *,
    progress: bool = True,
    desc: str = "dense",
) -> tuple[dict[str, DenseResult], dict[str, str]]:
    """``({video_id: DenseResult}, {video_id: error})`` for ``entries``, from the cache when there."""
    root = Path(cache_root)
    results, errors = {}, {}
    for entry in tqdm(entries, desc=desc, unit="video", disable=not progress):
        try:
            key = digest(entry.path, size=16)
        except OSError as err:
            errors[entry.video_id] = f"{entry.video_id}: {err.strerror or err}"
            continue
        path = _path(root, classifier, key)
        if path.exists():
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata() or {}
                results[entry.video_id] = DenseResult(f.get_tensor("probs"), float(meta.get("seconds", 0)), int(meta.get("frames_decoded", 0)))
            continue
        try:
            res = score_video(classifier, entry.path)
        except ScsamplerError as err:
            errors[entry.video_id] = str(err)
            log.warning("dense scoring failed: %s", err)
            continue
        with atomic_path(path) as tmp:
            save_file({"probs": res.probs.contiguous()}, str(tmp),
                      metadata={"seconds": str(res.seconds), "frames_decoded": str(res.frames_decoded), "video_id": entry.video_id})
        results[entry.video_id] = res
    return results, errors
