"""VideoEpitoma's networks: the light network builders, the gate (training and test-time gates), the
L0 term and the classifier head."""

from __future__ import annotations

import pytest
import torch

from scsampler.models import create_model, list_models
from scsampler.models.epitoma import THRESHOLD, EpitomaHead, L0Penalty, TimestepGate, clipped_sigmoid


@pytest.mark.parametrize("name", list_models("epitoma_light"))
def test_every_light_network_gives_a_pooled_feature_and_class_logits(name):
    net = create_model(name, num_classes=5).eval()
    x = torch.rand(2, 3, 52, 64) * 2 - 1                      # two I-frame thumbnails of a 160 x 128 video
    with torch.inference_mode():
        z = net.forward_features(x)
        assert z.shape == (2, net.feature_dim) and net(x).shape == (2, 5)
    if name == "epitoma_light_mobilenet_v3_small":
        assert net.feature_dim == 576


def test_the_cli_names_every_light_network():
    from scsampler.cli.train_epitoma import LIGHT_ARCHS

    assert set(LIGHT_ARCHS) == set(list_models("epitoma_light"))


def _gate(concepts=4, dim=8, seed=0):
    torch.manual_seed(seed)
    return TimestepGate(dim, concepts=concepts, hidden=8)


def test_training_gates_are_exactly_zero_or_in_the_upper_half_and_vary_with_the_noise():
    gate = _gate().train()
    x = torch.randn(4, 32, 8)
    g1, g2 = gate(x), gate(x)
    for g in (g1, g2):
        assert ((g == 0) | ((g >= THRESHOLD) & (g <= 1))).all()
        assert (g == 0).any() and (g > 0).any()
    assert not torch.equal(g1, g2)                                # Gumbel noise in training
    s = clipped_sigmoid(torch.tensor([-3.0, -0.01, 0.0, 0.01, 5.0]))
    assert s[0] == 0 and s[1] == 0 and s[2] == 0.5 and 0.5 < s[3] < s[4] <= 1


def test_test_time_gates_are_a_deterministic_step_of_the_logits():
    gate = _gate().eval()
    x = torch.randn(3, 20, 8)
    with torch.inference_mode():
        g1, g2 = gate(x), gate(x)
        alpha = gate.logits(x)
    assert torch.equal(g1, g2)
    assert torch.equal(g1, (alpha >= 0).float())                  # step function: sigmoid(alpha) >= 0.5
    assert set(g1.unique().tolist()) <= {0.0, 1.0}
    # The selector's split (similarities per clip, then the context over the video) is the same gate.
    assert torch.allclose(gate.logits_from_similarity(gate.similarity(x)), alpha)


def test_masked_timesteps_are_gated_off_and_change_nothing_else():
    gate = _gate().eval()
    x = torch.randn(1, 10, 8)
    mask = torch.ones(1, 10, dtype=torch.bool)
    mask[0, 7:] = False
    junk = x.clone()
    junk[0, 7:] = 100.0                                           # padding content must not matter
    with torch.inference_mode():
        a, b = gate.logits(x, mask), gate.logits(junk, mask)
        assert torch.allclose(a[0, :7], b[0, :7], atol=1e-5)
        assert torch.allclose(a[0, :7], gate.logits(x[:, :7]), atol=1e-5)
        assert (gate(junk, mask)[0, 7:] == 0).all()


@pytest.mark.parametrize("budget", [0.2, 0.9])
def test_the_l0_term_moves_the_kept_share_toward_the_budget_on_a_fixed_batch(budget):
    gate = _gate(seed=1).train()
    x = torch.randn(8, 32, 8)
    penalty = L0Penalty(budget, weight=1.0)

    def kept_share() -> float:
        with torch.no_grad():                                     # the share of training gates open, over 20 noise draws
            return float(torch.stack([(gate(x) > 0).float().mean() for _ in range(20)]).mean())

    before = kept_share()
    opt = torch.optim.Adam(gate.parameters(), lr=0.05)
    for _ in range(40):
        loss = penalty(gate.logits(x))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = kept_share()
    assert abs(after - budget) < 0.4 * abs(before - budget), (before, after)
    with torch.no_grad():
        assert abs(float(L0Penalty.expected_share(gate.logits(x)).mean()) - budget) < 0.05


def test_the_head_classifies_only_the_kept_timesteps():
    torch.manual_seed(0)
    head = EpitomaHead(6, 3, hidden=8).eval()
    y = torch.randn(2, 5, 6)
    gates = torch.tensor([[1.0, 0.0, 0.7, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0, 0.0]])
    other = y.clone()
    other[0, 1], other[0, 3] = 50.0, -50.0                        # gated-off timesteps of video 0
    other[1] = 9.0                                                # video 1 keeps none
    with torch.inference_mode():
        a, b = head(y, gates), head(other, gates)
    assert a.shape == (2, 3) and torch.isfinite(a).all()
    assert torch.allclose(a, b, atol=1e-5)
    with torch.inference_mode():                                  # a kept timestep's gate value matters
        assert not torch.allclose(head(y, gates * torch.tensor([1.0, 1, 0.5, 1, 1])), a)
