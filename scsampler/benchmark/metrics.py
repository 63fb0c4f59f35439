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


def kind_shares(indices, clip_duration: float, segments: list[dict], kinds: list[str]) -> dict[str, float]:
    """Where the chosen clips lie: for each segment kind, the share of the chosen clips' seconds
    inside segments of that kind; ``"none"`` (when in ``kinds``) is the share in no segment. The
    segments of a video do not overlap, so the shares sum to 1."""
    idx = [int(i) for i in indices]
    if not idx:
        return dict.fromkeys(kinds, 0.0)
    total = clip_duration * len(idx)
    out = {kind: sum(clip_cover(i, clip_duration, segments, kind) for i in idx) / total for kind in kinds if kind != "none"}
    if "none" in kinds:
        out["none"] = max(0.0, 1.0 - sum(out.values()))
    return {kind: out[kind] for kind in kinds}


def segment_kinds(segments: dict) -> list[str]:
    """The segment kinds of a ``segments.json`` (sorted), then ``"none"``."""
    found = {s.get("kind") for v in segments.values() for s in v.get("segments", []) if s.get("kind")}
    return sorted(found) + ["none"]
