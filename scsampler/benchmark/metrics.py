"""Video-level prediction from selected clips, and the metrics of the benchmark."""

from __future__ import annotations

import torch


def aggregate(probs: torch.Tensor, indices: torch.Tensor) -> torch.Tensor:
    """Video prediction: the mean of the selected clips' softmax outputs, ``(L, C)`` -> ``(C,)``."""
    return probs[indices].mean(dim=0)


def topk_correct(video_probs: torch.Tensor, label, k: int) -> bool:
    """Whether one of the ``k`` top classes of ``video_probs`` ``(C,)`` is ``label``: a class index, or
    the class indices of a video with several labels (then any of them counts: top-1 is right when
    the top class is one of the video's labels)."""
    k = min(k, video_probs.numel())
    return bool(torch.isin(torch.topk(video_probs, k).indices, torch.as_tensor(label).reshape(-1)).any())


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


def mean_average_precision(scores, labels) -> float:
    """Video-level mean average precision over classes, the metric of ActivityNet's and Charades'
    classification tasks: for each class, rank the videos by their score for it and average the
    precision at each positive video (non-interpolated AP); then the mean over the classes that
    have at least one positive video (classes without positives are skipped, as both evaluations do).

    ``scores``: ``(N, C)`` per-video class scores (a tensor or anything ``torch.as_tensor`` takes);
    ``labels``: N label sets, each an iterable of class indices (or one index). Videos with equal
    scores for a class form one threshold (as scikit-learn's ``average_precision_score``), so the
    result does not depend on the order of ties. Raises ValueError on bad shapes or indices, and
    when no class has a positive video."""
    s = torch.as_tensor(scores, dtype=torch.float64)
    if s.ndim != 2:
        raise ValueError(f"scores must be (videos, classes), got shape {tuple(s.shape)}")
    n, c = s.shape
    if len(labels) != n:
        raise ValueError(f"{n} score rows but {len(labels)} label sets")
    truth = torch.zeros(n, c, dtype=torch.bool)
    for i, video_labels in enumerate(labels):
        one = not hasattr(video_labels, "__iter__") or getattr(video_labels, "ndim", 1) == 0  # a single index
        for j in ([video_labels] if one else video_labels):
            if not 0 <= int(j) < c:
                raise ValueError(f"video {i}: class index {int(j)} outside 0..{c - 1}")
            truth[i, int(j)] = True
    aps = []
    for j in range(c):
        positives = int(truth[:, j].sum())
        if positives == 0:
            continue
        order = torch.argsort(s[:, j], descending=True, stable=True)
        ranked = s[order, j]                                   # (N,) scores, highest first
        tp = torch.cumsum(truth[order, j].double(), dim=0)     # (N,) positives among the first i+1
        last = torch.ones(n, dtype=torch.bool)                 # the last video of each group of tied scores
        last[:-1] = ranked[1:] != ranked[:-1]
        tp_at = tp[last]
        precision = tp_at / (torch.nonzero(last).squeeze(1) + 1).double()
        recall_step = torch.diff(tp_at, prepend=tp_at.new_zeros(1)) / positives
        aps.append(float((recall_step * precision).sum()))
    if not aps:
        raise ValueError("no class has a positive video")
    return sum(aps) / len(aps)
