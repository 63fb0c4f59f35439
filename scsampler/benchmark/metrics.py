"""Video-level prediction from selected clips, and the metrics of the benchmark."""

from __future__ import annotations

import torch


def aggregate(probs: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Video prediction: the mean of the selected clips' softmax outputs, ``(L, C)`` -> ``(C,)``."""
    return probs[indices].mean(dim=0)


def topk_correct(video_probs: torch.Tensor, label: int, k: int) -> bool:
    k = min(k, video_probs.numel())
    return bool((torch.topk(video_probs, k).indices == label).any())


def clip_cover(index: int, clip_duration: float, segments: list[dict], kind: str) -> float:
    """Seconds of clip ``index`` covered by the ``segments`` of ``kind`` (``segments.json``'s intervals)."""
    a, b = index * clip_duration, (index + 1) * clip_duration
    return sum(max(0.0, min(b, s["end_s"]) - max(a, s["start_s"])) for s in segments if s.get("kind") == kind)


def salient_overlap(indices, clip_duration: float, segments: list[dict]) -> float:
    """Fraction of the chosen clips that lie mostly (at least half their length) inside a
    ground-truth salient segment (``kind == "salient"`` in ``segments.json``)."""
    idx = [int(i) for i in indices]
    if not idx:
        return 0.0
    return sum(clip_cover(i, clip_duration, segments, "salient") >= clip_duration / 2 for i in idx) / len(idx)


def salient_share(num_clips: int, clip_duration: float, segments: list[dict]) -> float:
    """Share of a video's clips that are salient: what a selector that ignores content gets."""
    return salient_overlap(range(num_clips), clip_duration, segments)
