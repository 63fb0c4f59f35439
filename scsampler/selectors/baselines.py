"""The baselines: selectors that need no cheap features (section 4.1.2 of the SCSampler paper and
Listen to Look's FRONT / CENTER / END), dense evaluation, and the oracle upper bound."""

from __future__ import annotations

import torch

from scsampler.errors import ConfigError
from scsampler.selectors.base import Choice, ClipSelector, Needs, VideoView
from scsampler.selectors.ranking import get_strategy, select_dense, select_empirical, select_oracle, true_class_scores
from scsampler.selectors.registry import register_selector


class PositionalSelector(ClipSelector):
    """Clips from the video's length alone, by one of the pure strategies of
    :mod:`scsampler.selectors.ranking` (``random`` draws from the view's generator)."""

    def __init__(self, name: str):
        self.name = name
        self._rank = get_strategy(name)
        self.stochastic = name == "random"

    def select(self, video: VideoView, k: int) -> Choice:
        return Choice(self._rank(video.num_clips, k, generator=video.generator))


class DenseSelector(ClipSelector):
    """Every clip: the classifier's average over the whole video (K is ignored)."""

    name = "dense"
    takes_k = False

    def select(self, video: VideoView, k: int) -> Choice:
        return Choice(select_dense(video.num_clips))


class OracleSelector(ClipSelector):
    """Section 3.1's oracle: the K clips with the highest probability of the *true* class (of any of
    them, for a video with several labels: :func:`true_class_scores`). It needs the classifier on
    every clip and the labels: an upper bound, not a usable method."""

    name = "oracle"
    needs = Needs(dense=True, label=True)

    def select(self, video: VideoView, k: int) -> Choice:
        if not video.labels:
            raise ConfigError("the oracle needs the video's label")
        true = true_class_scores(video.probs(), video.labels)
        return Choice(select_oracle(video.num_clips, k, scores=true), scores={"oracle": true})


class EmpiricalSelector(ClipSelector):
    """The clips at the relative positions where the oracle most often found salient clips in the
    training videos: ``priors`` holds a position histogram per K (see
    :func:`scsampler.selectors.ranking.fit_position_prior`)."""

    name = "empirical"

    def __init__(self, priors: dict[int, torch.Tensor]):
        self.priors = priors

    def select(self, video: VideoView, k: int) -> Choice:
        if k not in self.priors:
            raise ConfigError(f"the empirical selector has no position prior for K={k} (fitted for K={sorted(self.priors)})")
        return Choice(select_empirical(video.num_clips, k, prior=self.priors[k]))


def _positional(name: str, help: str) -> None:
    register_selector(name, help=help)(lambda **_: PositionalSelector(name))


_positional("uniform", "K clips evenly spaced over the video")
_positional("random", "K clips drawn at random (--seed)")
_positional("front", "the first K clips")
_positional("center", "K consecutive clips in the middle")
_positional("end", "the last K clips")
register_selector("dense", help="every clip (K is ignored): the classifier's full cost")(lambda **_: DenseSelector())
register_selector("oracle", help="the K clips best for the true class (needs labels; an upper bound)", predict=False)(
    lambda **_: OracleSelector())


@register_selector("empirical", help="the positions where the oracle's clips lie in the training videos (needs a fitted prior)",
                   options=("priors",), predict=False)
def _empirical(*, priors: dict[int, torch.Tensor] | None = None, **_) -> EmpiricalSelector:
    if priors is None:
        raise ConfigError("the empirical selector needs position priors fitted on training videos (the benchmark fits them)")
    return EmpiricalSelector(priors)
