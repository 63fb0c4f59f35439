"""Video-level prediction from selected clips, and the metrics of the benchmark."""

from __future__ import annotations

import torch


def aggregate(probs: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Video prediction: the mean of the selected clips' softmax outputs, ``(L, C)`` -> ``(C,)``."""
    return probs[indices].mean(dim=0)


def topk_correct(video_probs: torch.Tensor, label: int, k: int) -> bool:
    k = min(k, video_probs.numel())
    return bool((torch.topk(video_probs, k).indices == label).any())


def salient_overlap(indices, clip_duration: float, segments: list[dict]) -> float:
    """Fraction of the chosen clips that lie mostly (at least half their length) inside a
    ground-truth salient segment (``kind == "salient"`` in ``segments.json``)."""
    salient = [(s["start_s"], s["end_s"]) for s in segments if s.get("kind") == "salient"]
    idx = [int(i) for i in indices]
    if not idx:
        return 0.0
    hits = 0
    for i in idx:
        a, b = i * clip_duration, (i + 1) * clip_duration
        inside = sum(max(0.0, min(b, e) - max(a, s)) for s, e in salient)
        hits += inside >= clip_duration / 2
    return hits / len(idx)


def salient_share(num_clips: int, clip_duration: float, segments: list[dict]) -> float:
    """Share of a video's clips that are salient: what a selector that ignores content gets."""
    return salient_overlap(range(num_clips), clip_duration, segments)
