"""Audio-visual combinations of two samplers' clip scores (SCSampler section 3.3.3), and stride.

Each combination takes the visual scores ``sv`` and the audio scores ``sa`` of one video's clips,
``(L,)`` each (higher = more salient), and returns K distinct clip indices, best first, like every
strategy in :mod:`scsampler.selectors.ranking`. Clips the audio sampler could not score (no audio
in their window) carry ``nan`` in ``sa``; every combination ranks them after the scored ones for the
audio side, so a video without audio degrades to the visual ranking, never to zeros.
"""

from __future__ import annotations

import torch

from scsampler.selectors.ranking import _clamp, register_strategy, select_topk


def _scores(x, num_clips: int) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    if x.numel() != num_clips:
        raise ValueError(f"expected {num_clips} scores, got {x.numel()}")
    return torch.nan_to_num(x, nan=-torch.inf)


def _order(scores: torch.Tensor, tiebreak: torch.Tensor | None = None) -> torch.Tensor:
    """Clips best first under ``scores``; ties (unscored clips among them) by ``tiebreak``, then
    to the earlier clip."""
    if tiebreak is None:
        return torch.sort(scores, descending=True, stable=True).indices
    first = torch.sort(tiebreak, descending=True, stable=True).indices
    return first[torch.sort(scores[first], descending=True, stable=True).indices]


def _ranks(scores: torch.Tensor, tiebreak: torch.Tensor | None = None) -> torch.Tensor:
    """Rank of every clip under ``scores`` (0 = best; see :func:`_order` for ties)."""
    order = _order(scores, tiebreak)
    ranks = torch.empty_like(order)
    ranks[order] = torch.arange(len(order))
    return ranks


@register_strategy("av-convex-score")
def av_convex_score(num_clips: int, k: int, *, visual, audio, alpha: float = 0.9, **_) -> torch.Tensor:
    """Top-K of ``alpha * sv + (1 - alpha) * sa`` (clips without audio: the visual score alone).
    The two scores should be on comparable scales (probabilities, for the AC and SAL-CL losses)."""
    sv, sa = _scores(visual, num_clips), _scores(audio, num_clips)
    combined = torch.where(torch.isfinite(sa), alpha * sv + (1 - alpha) * sa, sv)
    return select_topk(num_clips, k, scores=combined)


@register_strategy("av-convex-list")
def av_convex_list(num_clips: int, k: int, *, visual, audio, alpha: float = 0.8, **_) -> torch.Tensor:
    """Top-K by the convex combination of each clip's rank in the visual and the audio list."""
    sv = _scores(visual, num_clips)
    rv, ra = _ranks(sv), _ranks(_scores(audio, num_clips), sv)
    position = alpha * rv.double() + (1 - alpha) * ra.double()
    return select_topk(num_clips, k, scores=-position)


@register_strategy("av-intersect-list")
def av_intersect_list(num_clips: int, k: int, *, visual, audio, **_) -> torch.Tensor:
    """The clips in both the visual and the audio top-m, m growing until there are K of them.
    When the last step adds more than needed, the ones best ranked by the visual sampler are kept."""
    k = _clamp(num_clips, k)
    sv = _scores(visual, num_clips)
    rv, ra = _ranks(sv), _ranks(_scores(audio, num_clips), sv)
    worst = torch.maximum(rv, ra)  # a clip enters the intersection when m exceeds its worse rank
    # Order by the m at which a clip enters, then by visual rank: the first K are the answer.
    key = worst.double() * num_clips + rv.double()
    return select_topk(num_clips, k, scores=-key)


@register_strategy("av-union-list")
def av_union_list(num_clips: int, k: int, *, visual, audio, k_prime: int = 8, **_) -> torch.Tensor:
    """The visual top-K' plus the K - K' best audio clips not already chosen (K' clamped to K)."""
    k = _clamp(num_clips, k)
    kp = max(0, min(int(k_prime), k))
    sv = _scores(visual, num_clips)
    first = select_topk(num_clips, kp, scores=sv)[:kp] if kp else torch.empty(0, dtype=torch.long)
    taken = torch.zeros(num_clips, dtype=torch.bool)
    taken[first] = True
    order = _order(_scores(audio, num_clips), sv)
    rest = order[~taken[order]][: k - kp]
    return torch.cat([first, rest])


def strided(num_clips: int, stride: int) -> torch.Tensor:
    """The clips a sampler scores with stride N (Appendix D): every N-th, starting at the first."""
    if stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    return torch.arange(0, num_clips, stride)


def select_strided(num_clips: int, k: int, stride: int, scores_of_scored: torch.Tensor) -> torch.Tensor:
    """Top-K among the clips scored with ``stride`` (``scores_of_scored`` holds their scores, in
    order). Returns indices into the whole video."""
    scored = strided(num_clips, stride)
    top = select_topk(len(scored), k, scores=scores_of_scored)
    return scored[top]
