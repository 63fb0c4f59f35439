"""Clip selection strategies (pure functions; see :mod:`scsampler.selectors.ranking`) and the
audio-visual combinations of two samplers' scores (:mod:`scsampler.selectors.combine`)."""

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
)

__all__ = [
    "av_convex_list",
    "av_convex_score",
    "av_intersect_list",
    "av_union_list",
    "select_strided",
    "strided",
    "STRATEGIES",
    "fit_position_prior",
    "get_strategy",
    "list_strategies",
    "register_strategy",
    "select_center",
    "select_dense",
    "select_empirical",
    "select_end",
    "select_front",
    "select_oracle",
    "select_random",
    "select_topk",
    "select_uniform",
]
