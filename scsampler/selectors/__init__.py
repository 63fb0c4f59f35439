"""Selectors: what picks K clips of a video (:mod:`scsampler.selectors.base`), loaded by name or from
a run directory with :func:`load_selector`. Underneath, the pure ranking strategies
(:mod:`scsampler.selectors.ranking`) and the audio-visual combinations (:mod:`scsampler.selectors.combine`).

The built-in selectors register themselves when their modules are imported here: the baselines,
SCSampler's samplers and combinations, and the training-free energy selectors.
"""

from scsampler.selectors import baselines, energy, epitoma, listen_to_look, scoring  # noqa: F401  (registration)
from scsampler.selectors.base import CannotScore, Choice, ClipSelector, Needs, Scorer, Scores, VideoView
from scsampler.selectors.combine import (
    av_convex_list,
    av_convex_score,
    av_intersect_list,
    av_union_list,
    select_strided,
    strided,
)
from scsampler.selectors.ranking import (
    STRATEGIES,
    fit_position_prior,
    get_strategy,
    list_strategies,
    register_strategy,
    select_center,
    select_dense,
    select_empirical,
    select_end,
    select_front,
    select_oracle,
    select_random,
    select_topk,
    select_uniform,
    true_class_scores,
)
from scsampler.selectors.registry import SELECTORS, get_spec, list_selectors, load_selector, register_selector, selector_help

__all__ = [
    "CannotScore", "Choice", "ClipSelector", "Needs", "Scorer", "Scores", "VideoView",
    "SELECTORS", "get_spec", "list_selectors", "load_selector", "register_selector", "selector_help",
    "av_convex_list", "av_convex_score", "av_intersect_list", "av_union_list", "select_strided", "strided",
    "STRATEGIES", "fit_position_prior", "get_strategy", "list_strategies", "register_strategy",
    "select_center", "select_dense", "select_empirical", "select_end", "select_front", "select_oracle",
    "select_random", "select_topk", "select_uniform", "true_class_scores",
]
