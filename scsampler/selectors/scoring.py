"""Selectors that score every clip (or every stride-th) from cheap features and rank them:
SCSampler's trained samplers (section 3.3), their audio-visual combinations (section 3.3.3) and
stride (Appendix D). The training-free scorers of :mod:`scsampler.selectors.energy` use the same class.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from scsampler.runtime.sampler import Sampler
from scsampler.selectors.base import CannotScore, Choice, ClipSelector, Needs, Scorer, VideoView
from scsampler.selectors.combine import strided
from scsampler.selectors.ranking import get_strategy, select_topk
from scsampler.selectors.registry import register_selector

# (num_scored, k, {role: (num_scored,) scores}) -> indices into the scored clips, best first
Rank = Callable[[int, int, dict[str, torch.Tensor]], torch.Tensor]


def rank_by(role: str) -> Rank:
    """Top-K by one scorer's scores; clips it could not score (``nan``) come last."""

    def rank(n: int, k: int, scores: dict[str, torch.Tensor]) -> torch.Tensor:
        return select_topk(n, k, scores=torch.nan_to_num(scores[role], nan=-torch.inf))

    return rank


class ScoringSelector(ClipSelector):
    """Scores every ``stride``-th clip with each of ``scorers`` and ranks them with ``rank``."""

    def __init__(self, name: str, scorers: dict[str, Scorer], rank: Rank, *, stride: int = 1, audio: str = "none",
                 settings: dict | None = None):
        if stride < 1:
            from scsampler.errors import ConfigError

            raise ConfigError(f"stride must be >= 1, got {stride}")
        self.name = name
        self._scorers = dict(scorers)
        self._rank = rank
        self.stride = stride
        self.needs = Needs(features=tuple(sorted({f for s in scorers.values() for f in s.features})), audio=audio)
        self._settings = settings or {}

    @property
    def scorers(self) -> dict[str, Scorer]:
        return dict(self._scorers)

    @property
    def settings(self) -> dict:
        return {"name": self.name, "stride": self.stride, **self._settings,
                "scorers": {role: s.key for role, s in self._scorers.items()}}

    def select(self, video: VideoView, k: int) -> Choice:
        scored = strided(video.num_clips, self.stride)
        got = video.scores(self._scorers, self.stride)
        sub = {role: s[scored] for role, s in got.values.items()}
        if not any(torch.isfinite(s).any() for s in sub.values()):
            features = ", ".join(self.needs.features)
            raise CannotScore(f"the {self.name} selector could not score any clip (no {features} features in the file)")
        heard = [role for role, s in self._scorers.items() if "audio" in s.features]
        if self.needs.audio == "required" and heard and not any(torch.isfinite(sub[role]).any() for role in heard):
            raise CannotScore(f"the {self.name} selector needs the audio, and no clip of the video has any")
        chosen = scored[self._rank(len(scored), k, sub)]
        gflops = sum(
            len(scored) * sum(flops * got.rows_per_clip[role].get(f, 0.0)
                              for f, flops in (got.flops_per_row.get(role) or scorer.flops_per_row()).items())
            for role, scorer in self._scorers.items()
        ) / 1e9
        return Choice(chosen, scores=got.values, clips_scored=len(scored), gflops=gflops, seconds=got.seconds)


def sampler_selector(sampler: Sampler, *, stride: int = 1) -> ScoringSelector:
    """Top-K by one trained sampler (its modality is its role and its scores' name)."""
    audio = {"audio": "required", "audio-visual": "optional"}.get(sampler.modality, "none")
    return ScoringSelector(sampler.modality, {sampler.modality: sampler}, rank_by(sampler.modality), stride=stride, audio=audio)


def _register_sampler(role: str, help: str) -> None:
    @register_selector(role, help=help, samplers=(role,), options=("stride",))
    def build(*, samplers: dict[str, Sampler], stride: int = 1, **_) -> ScoringSelector:
        return sampler_selector(samplers[role], stride=stride)


_register_sampler("visual", "top-K by a visual sampler (--sampler)")
_register_sampler("audio", "top-K by an audio sampler (--sampler or --audio-sampler)")
_register_sampler("audio-visual", "top-K by a jointly trained audio-visual sampler (--sampler)")

# Section 3.3.3: the two samplers' scores combined; alpha weighs the visual side.
# name: (help, the default alpha, the options it takes besides stride)
_AV = {
    "av-convex-score": ("alpha * visual + (1 - alpha) * audio score (--alpha, default 0.9)", 0.9, ("alpha",)),
    "av-convex-list": ("convex combination of the clips' ranks in the two lists (--alpha, default 0.8)", 0.8, ("alpha",)),
    "av-intersect-list": ("clips in both top lists, the lists growing until there are K", None, ()),
    "av-union-list": ("the visual top-K' plus the best audio clips (--k-prime, default 8)", None, ("k_prime",)),
}


def av_selector(name: str, visual: Sampler, audio: Sampler, *, stride: int = 1, k_prime: int = 8, alpha: float | None = None) -> ScoringSelector:
    """One of the audio-visual combinations of a visual and an audio sampler."""
    combine = get_strategy(name)
    kwargs = {"k_prime": k_prime}
    if alpha is not None:
        kwargs["alpha"] = alpha

    def rank(n: int, k: int, scores: dict[str, torch.Tensor]) -> torch.Tensor:
        return combine(n, k, visual=scores["visual"], audio=scores["audio"], **kwargs)

    default_alpha, options = _AV[name][1], _AV[name][2]
    settings = {"k_prime": k_prime} if "k_prime" in options else {"alpha": alpha if alpha is not None else default_alpha} if "alpha" in options else {}
    return ScoringSelector(name, {"visual": visual, "audio": audio}, rank, stride=stride, audio="required", settings=settings)


def _register_av(name: str, help: str, options: tuple[str, ...]) -> None:
    @register_selector(name, help=help, samplers=("visual", "audio"), options=("stride",) + options)
    def build(*, samplers: dict[str, Sampler], **kwargs) -> ScoringSelector:
        return av_selector(name, samplers["visual"], samplers["audio"], **kwargs)


for _name, (_help, _, _options) in _AV.items():
    _register_av(_name, _help, _options)
