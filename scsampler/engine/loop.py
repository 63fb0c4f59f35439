"""The one training loop: AdamW with a one-cycle learning rate, over batches a caller makes.

Every trainer in the package (the clip classifier, the samplers under each loss, joint audio-visual
fine-tuning) is this loop plus two functions of its own:

- ``batches(epoch)``: the batches of one epoch, any objects (indices, tensors, tuples of pairs); it may
  be a generator, consumed lazily, so random draws made while batching interleave with those of the
  steps exactly as in a hand-written loop;
- ``step(batch) -> Step``: the forward pass: the loss to minimise (a scalar tensor, a mean over the
  batch), the number of examples it covers, and any sums to report per example (e.g. the number of
  correct predictions, or ``l1 * n`` and ``soft_ce * n`` for a distillation loss with two terms).

The loop owns everything else: the optimizer and its schedule, train mode, zeroing, backward, the
optional gradient clipping, stepping, and the per-epoch curve ``{"epoch", "loss", <sums / n>...,
"seconds"}``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn as nn
from tqdm import tqdm

log = logging.getLogger(__name__)


class Step(NamedTuple):
    """What a training step returns: ``loss`` (scalar tensor, the batch's mean), ``size`` (examples in
    the batch, its weight in the epoch's means) and ``sums`` (name -> sum over the batch's examples,
    reported in the curve divided by the epoch's examples)."""

    loss: torch.Tensor
    size: int
    sums: dict[str, float] = {}


def build_optimizer(
    params: Iterable[nn.Parameter], *, lr: float, weight_decay: float, total_steps: int, pct_start: float = 0.15
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW and a one-cycle schedule that peaks at ``lr`` after ``pct_start`` of ``total_steps`` (at least 1)."""
    optimizer = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(1, total_steps), pct_start=pct_start)
    return optimizer, scheduler


def train(
    modules: nn.Module | Iterable[nn.Module],
    batches: Callable[[int], Iterable[Any]],
    step: Callable[[Any], Step],
    *,
    epochs: int,
    steps_per_epoch: int,
    lr: float,
    weight_decay: float,
    pct_start: float = 0.15,
    params: Iterable[nn.Parameter] | None = None,
    max_grad_norm: float | None = None,
    desc: str = "train",
    progress: bool = False,
) -> list[dict]:
    """Train for ``epochs`` epochs of ``batches(epoch)`` (``epoch`` counted from 0); returns the curve.

    ``modules`` are put in train mode at the start of every epoch (pass ``()`` to leave modes as the
    caller set them, e.g. a frozen backbone kept in eval mode, or a teacher never trained). ``params``
    (default: every parameter of ``modules``) are optimised by AdamW with ``weight_decay`` under a
    one-cycle schedule peaking at ``lr``, over ``epochs * steps_per_epoch`` steps; ``steps_per_epoch``
    is an upper bound when ``batches`` may skip some. ``max_grad_norm`` clips the gradients' total norm
    before each update (None: no clipping). The curve holds one dict per epoch: ``epoch`` (from 1),
    ``loss`` (mean over the epoch's examples), each of the steps' ``sums`` divided by the epoch's
    examples, and ``seconds``.
    """
    modules = [modules] if isinstance(modules, nn.Module) else list(modules)
    params = [p for m in modules for p in m.parameters()] if params is None else list(params)
    optimizer, scheduler = build_optimizer(params, lr=lr, weight_decay=weight_decay, total_steps=epochs * steps_per_epoch,
                                           pct_start=pct_start)
    curve = []
    bar = tqdm(range(epochs), desc=desc, unit="epoch", disable=not progress)
    for epoch in bar:
        for m in modules:
            m.train()
        t0 = time.perf_counter()
        total, seen, sums = 0.0, 0, {}
        for batch in batches(epoch):
            out = step(batch)
            optimizer.zero_grad(set_to_none=True)
            out.loss.backward()
            if max_grad_norm is not None:
                nn.utils.clip_grad_norm_(params, max_grad_norm)
            optimizer.step()
            scheduler.step()
            total += out.loss.item() * out.size
            seen += out.size
            for k, v in out.sums.items():
                sums[k] = sums.get(k, 0) + float(v)
        stats = {"epoch": epoch + 1, "loss": total / max(seen, 1), **{k: v / max(seen, 1) for k, v in sums.items()},
                 "seconds": time.perf_counter() - t0}
        curve.append(stats)
        shown = ", ".join(f"{k} {v:.4f}" for k, v in stats.items() if k not in ("epoch", "seconds"))
        log.info("%s: epoch %d: %s (%.1f s)", desc, epoch + 1, shown, stats["seconds"])
        bar.set_postfix({k: f"{v:.3f}" for k, v in stats.items() if k not in ("epoch", "seconds")})
    return curve


def shuffled(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[torch.Tensor]:
    """One epoch of minibatches: the indices ``0..n-1`` in an order drawn from ``rng`` (one
    permutation per call, drawn when the epoch starts), ``batch_size`` at a time (the last one shorter)."""
    order = torch.from_numpy(rng.permutation(n))
    return (order[b : b + batch_size] for b in range(0, n, batch_size))
