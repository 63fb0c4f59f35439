"""The one training loop: the same updates as the hand-written AdamW + one-cycle loop it replaced, a
curve of weighted means, and the knobs the trainers need (frozen parts, skipped batches, clipping)."""

import math

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from scsampler.engine.loop import Step, build_optimizer, train


def _data(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 6, generator=g)
    y = (x[:, 0] + x[:, 1] > 0).long()
    return x, y


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 2))


def _hand_written(x, y, epochs, batch_size, lr):
    """The loop as the trainers wrote it before they shared one."""
    model, rng = _model(), np.random.default_rng(0)
    optimizer = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * math.ceil(len(y) / batch_size)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=steps, pct_start=0.15)
    losses = []
    for _ in range(epochs):
        model.train()
        order = rng.permutation(len(y))
        total, seen, correct = 0.0, 0, 0
        for b in range(0, len(order), batch_size):
            idx = order[b : b + batch_size]
            logits = model(x[idx])
            loss = F.cross_entropy(logits, y[idx])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            total += loss.item() * len(idx)
            seen += len(idx)
            correct += int((logits.argmax(1) == y[idx]).sum())
        losses.append((total / seen, correct / seen))
    return model, losses


def _shared(x, y, epochs, batch_size, lr, **kw):
    model, rng = _model(), np.random.default_rng(0)

    def batches(epoch):
        order = rng.permutation(len(y))
        return (order[b : b + batch_size] for b in range(0, len(order), batch_size))

    def step(idx):
        logits = model(x[idx])
        return Step(F.cross_entropy(logits, y[idx]), len(idx), {"accuracy": int((logits.argmax(1) == y[idx]).sum())})

    curve = train(model, batches, step, epochs=epochs, steps_per_epoch=math.ceil(len(y) / batch_size), lr=lr,
                  weight_decay=1e-4, **kw)
    return model, curve


def test_the_loop_makes_the_same_updates_as_the_hand_written_one():
    x, y = _data()
    a, losses = _hand_written(x, y, epochs=3, batch_size=8, lr=1e-2)
    b, curve = _shared(x, y, epochs=3, batch_size=8, lr=1e-2)
    sa, sb = a.state_dict(), b.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)  # bit for bit, batch-norm statistics included
    assert [(c["loss"], c["accuracy"]) for c in curve] == losses
    assert [list(c) for c in curve] == [["epoch", "loss", "accuracy", "seconds"]] * 3
    assert [c["epoch"] for c in curve] == [1, 2, 3] and all(c["seconds"] >= 0 for c in curve)


def test_frozen_modules_and_a_subset_of_parameters():
    x, y = _data()
    model = _model().eval()
    head = model[3]
    before = {k: v.clone() for k, v in model.state_dict().items()}
    step = lambda idx: Step(F.cross_entropy(model(x[idx]), y[idx]), len(idx))  # noqa: E731
    curve = train((), lambda e: [torch.arange(10), torch.arange(10, 20)], step, params=head.parameters(), epochs=2,
                  steps_per_epoch=2, lr=1e-2, weight_decay=0.0)
    after = model.state_dict()
    assert not model.training  # left in eval mode: batch-norm statistics untouched
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"3.weight", "3.bias"}
    assert list(curve[0]) == ["epoch", "loss", "seconds"]


def test_modules_are_put_in_train_mode_every_epoch():
    model = nn.Linear(2, 1)
    modes = []

    def step(batch):
        modes.append(model.training)
        model.eval()  # a step that leaves the module in eval mode: the next epoch restores train mode
        return Step(model(batch).pow(2).mean(), len(batch))

    train(model, lambda e: [torch.ones(3, 2)], step, epochs=3, steps_per_epoch=1, lr=1e-3, weight_decay=0.0)
    assert modes == [True, True, True]


def test_the_curve_weights_each_batch_by_its_size_and_reports_every_sum():
    model = nn.Linear(1, 1, bias=False)
    sizes = iter([3, 1])

    def step(batch):
        n = next(sizes)
        loss = model(torch.zeros(1, 1)).sum() + batch  # constant loss: batch (1.0 or 5.0)
        return Step(loss, n, {"l1": 2.0 * n, "soft_ce": torch.tensor(n / 2)})

    curve = train(model, lambda e: [1.0, 5.0], step, epochs=1, steps_per_epoch=2, lr=1e-3, weight_decay=0.0)
    assert curve[0]["loss"] == pytest.approx((1.0 * 3 + 5.0 * 1) / 4)
    assert curve[0]["l1"] == pytest.approx(2.0) and curve[0]["soft_ce"] == pytest.approx(0.5)


def test_an_epoch_without_batches_and_fewer_steps_than_planned():
    model = nn.Linear(2, 1)
    curve = train(model, lambda e: iter(()) if e == 0 else [torch.ones(1, 2)],
                  lambda b: Step(model(b).sum(), 1), epochs=2, steps_per_epoch=5, lr=1e-3, weight_decay=0.0)
    assert curve[0]["loss"] == 0 and len(curve) == 2


def test_gradient_clipping_bounds_the_gradient_norm():
    def clipped_norm(max_grad_norm):
        model = nn.Linear(1, 1, bias=False)
        step = lambda batch: Step((model(torch.ones(1, 1)) - 1e6).pow(2).mean(), 1)  # noqa: E731  a huge gradient
        train(model, lambda e: [None], step, epochs=1, steps_per_epoch=1, lr=1e-3, weight_decay=0.0, max_grad_norm=max_grad_norm)
        return model.weight.grad.norm().item()  # the gradient the update used

    assert clipped_norm(1.0) == pytest.approx(1.0)
    assert clipped_norm(None) > 1e5


def test_build_optimizer_is_adamw_with_a_one_cycle_schedule_of_at_least_one_step():
    p = nn.Parameter(torch.zeros(1))
    optimizer, scheduler = build_optimizer([p], lr=0.1, weight_decay=0.01, total_steps=0)
    assert isinstance(optimizer, torch.optim.AdamW) and optimizer.param_groups[0]["weight_decay"] == 0.01
    assert isinstance(scheduler, torch.optim.lr_scheduler.OneCycleLR) and scheduler.total_steps == 1
