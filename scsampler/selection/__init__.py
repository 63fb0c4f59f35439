"""Clip selection strategies (pure functions; see :mod:`scsampler.selection.strategies`)."""

from scsampler.selection.strategies import (
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
