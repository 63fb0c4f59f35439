"""Clip selection strategies: which K of a video's L clips to decode and classify.

Every strategy is a pure function with one signature::

    strategy(num_clips: int, k: int, *, scores=None, generator=None, prior=None) -> LongTensor

- ``scores``: per-clip scores ``(L,)`` where the strategy ranks clips (oracle, sampler top-K);
- ``generator``: a ``torch.Generator`` for the random strategy (seeded by the caller: reproducible);
- ``prior``: ``(B,)`` weights over relative positions for the empirical strategy.

``k`` is clamped to ``[1, L]`` (a video shorter than K clips gets all its clips). The result is
a 1-D int64 tensor of distinct clip indices in ``[0, L)``; ranking strategies return them best
first, positional ones in increasing order. Registered by name in :data:`STRATEGIES`.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

Strategy = Callable[..., torch.Tensor]
STRATEGIES: dict[str, Strategy] = {}


def register_strategy(name: str):
    def deco(fn: Strategy) -> Strategy:
        if name in STRATEGIES:
            raise ValueError(f"selection strategy {name!r} is already registered")
        STRATEGIES[name] = fn
        return fn

    return deco


def get_strategy(name: str) -> Strategy:
    try:
        return STRATEGIES[name]
    except KeyError:
        raise KeyError(f"unknown selection strategy {name!r}; known: {', '.join(sorted(STRATEGIES))}") from None


def list_strategies() -> list[str]:
    return sorted(STRATEGIES)


def _clamp(num_clips: int, k: int) -> int:
    if num_clips < 1:
        raise ValueError(f"a video needs at least one clip, got num_clips={num_clips}")
    return max(1, min(int(k), num_clips))


@register_strategy("topk")
def select_topk(num_clips: int, k: int, *, scores: torch.Tensor, **_) -> torch.Tensor:
    """The K highest-scoring clips, best first; ties go to the earlier clip."""
    scores = torch.as_tensor(scores, dtype=torch.float64).reshape(-1)
    if scores.numel() != num_clips:
        raise ValueError(f"expected {num_clips} scores, got {scores.numel()}")
    k = _clamp(num_clips, k)
    # A stable descending sort makes ties deterministic (earlier clip first), unlike torch.topk.
    order = torch.sort(scores, descending=True, stable=True).indices
    return order[:k].clone()


@register_strategy("oracle")
def select_oracle(num_clips: int, k: int, *, scores: torch.Tensor, **_) -> torch.Tensor:
    """Section 3.1's oracle: the top-K clips by the classifier's probability of the *true* class.

    ``scores`` must be those probabilities ``(L,)`` (:func:`true_class_scores`): an upper bound, not a
    usable method."""
    return select_topk(num_clips, k, scores=scores)


def true_class_scores(probs: torch.Tensor, labels) -> torch.Tensor:
    """What the oracle ranks by: ``(L, C)`` probabilities -> ``(L,)``, each clip's probability of the
    video's true class; for a video with several ``labels`` (class indices), the highest among them,
    so that the oracle's clips are those most confident on any of its actions."""
    return probs[:, list(labels)].max(dim=1).values


@register_strategy("dense")
def select_dense(num_clips: int, k: int = 0, **_) -> torch.Tensor:
    """All clips (``k`` is ignored)."""
    return torch.arange(_clamp(num_clips, num_clips))


@register_strategy("random")
def select_random(num_clips: int, k: int, *, generator: torch.Generator | None = None, **_) -> torch.Tensor:
    """K distinct clips uniformly at random, in increasing order."""
    k = _clamp(num_clips, k)
    return torch.sort(torch.randperm(num_clips, generator=generator)[:k]).values


@register_strategy("uniform")
def select_uniform(num_clips: int, k: int, **_) -> torch.Tensor:
    """K clips evenly spaced, the first and the last clip included (section 4.1.2)."""
    k = _clamp(num_clips, k)
    if k == 1:
        return torch.tensor([num_clips // 2])  # one clip: the middle one
    # Rounding k evenly spaced positions over [0, L-1]; distinct because the step is >= 1 when k <= L.
    idx = torch.round(torch.linspace(0, num_clips - 1, k, dtype=torch.float64)).long()
    return idx


@register_strategy("front")
def select_front(num_clips: int, k: int, **_) -> torch.Tensor:
    """The first K clips (Listen to Look's FRONT baseline)."""
    return torch.arange(_clamp(num_clips, k))


@register_strategy("center")
def select_center(num_clips: int, k: int, **_) -> torch.Tensor:
    """K consecutive clips in the middle of the video (CENTER)."""
    k = _clamp(num_clips, k)
    start = (num_clips - k) // 2
    return torch.arange(start, start + k)


@register_strategy("end")
def select_end(num_clips: int, k: int, **_) -> torch.Tensor:
    """The last K clips (END)."""
    k = _clamp(num_clips, k)
    return torch.arange(num_clips - k, num_clips)


@register_strategy("empirical")
def select_empirical(num_clips: int, k: int, *, prior: torch.Tensor, **_) -> torch.Tensor:
    """The K clips at the relative positions where the oracle most often found salient clips in
    the training split. ``prior`` is a histogram ``(B,)`` over relative position ``[0, 1)``
    (see :func:`fit_position_prior`); clips are ranked by the weight of their bin, best first,
    ties to the clip nearer the start."""
    prior = torch.as_tensor(prior, dtype=torch.float64).reshape(-1)
    centres = (torch.arange(num_clips, dtype=torch.float64) + 0.5) / num_clips
    bins = torch.clamp((centres * prior.numel()).long(), max=prior.numel() - 1)
    return select_topk(num_clips, k, scores=prior[bins])


def fit_position_prior(videos: list[tuple[int, torch.Tensor]], bins: int = 20) -> torch.Tensor:
    """Histogram ``(bins,)`` of the relative positions of chosen clips over many videos.

    ``videos`` holds ``(num_clips, chosen_indices)`` per training video, e.g. the oracle's top-K.
    Each video contributes weight 1 in total, so long videos do not dominate."""
    hist = torch.zeros(bins, dtype=torch.float64)
    for num_clips, chosen in videos:
        chosen = torch.as_tensor(chosen).reshape(-1)
        if chosen.numel() == 0:
            continue
        pos = (chosen.double() + 0.5) / num_clips
        b = torch.clamp((pos * bins).long(), max=bins - 1)
        hist += torch.bincount(b, minlength=bins).double() / chosen.numel()
    return hist / max(hist.sum().item(), 1e-12)
