"""Listen to Look's networks: shapes, and the skimming mask that never picks a step twice."""

import pytest
import torch

from scsampler.models.listen_to_look import SkimmingPolicy
from scsampler.models.registry import create_model, list_models


@pytest.mark.parametrize("name", list_models("imgaud2vid"))
def test_the_student_maps_an_image_and_a_log_mel_to_the_teachers_feature_size(name):
    net = create_model(name, num_classes=5, feature_dim=24).eval()
    image, audio = torch.randn(3, 3, 48, 64), torch.randn(3, 1, 40, 200)
    zi, za = net.forward_branches(image, audio)
    assert zi.shape == za.shape == (3, net.branch_dim)
    z = net.forward_features(image, audio)
    assert z.shape == (3, 24) and net.forward_head(z).shape == (3, 5) and net(image, audio).shape == (3, 5)
    assert net.fuse(zi[None], za[None]).shape == (1, 3, 24)


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks: one thread is faster than two that wait on each other on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def _policy(seed=0, hidden=16):
    torch.manual_seed(seed)
    student = create_model("imgaud2vid_tiny", num_classes=4, feature_dim=12)
    return student.eval(), SkimmingPolicy(branch_dim=student.branch_dim, feature_dim=12, num_classes=4, hidden=hidden, key_dim=6).eval()


def test_the_policy_outputs_one_attention_per_step_and_modality():
    student, policy = _policy()
    zi, za = torch.randn(2, 9, 8), torch.randn(2, 9, 8)
    out = policy(zi, za, student.fuse, 4)
    assert out["logits"].shape == (2, 4) and out["fused"].shape == (2, 4, 12)
    for k in ("weights", "w_image", "w_audio"):
        assert out[k].shape == (2, 4, 9)
        assert torch.allclose(out[k].sum(-1), torch.ones(2, 4), atol=1e-5)
    assert out["modality"].shape == (2, 4, 2) and out["picks"].shape == (2, 4, 2)


@pytest.mark.parametrize("seed", range(12))
def test_masking_never_picks_a_step_twice(seed):
    student, policy = _policy(seed)
    g = torch.Generator().manual_seed(seed)
    n = int(torch.randint(1, 12, (1,), generator=g))
    steps = int(torch.randint(1, 10, (1,), generator=g))
    zi = torch.randn(3, n, 8, generator=g)
    za = zi.clone() if seed % 3 == 0 else torch.randn(3, n, 8, generator=g)   # identical modalities: the same argmax
    valid = torch.ones(3, n, dtype=torch.bool)
    valid[1, n // 2 :] = False           # a padded video
    valid[1, 0] = True
    with torch.no_grad():
        out = policy(zi, za, student.fuse, steps, valid)
    for b in range(3):
        picks = [p for p in out["picks"][b].flatten().tolist() if p >= 0]
        assert len(picks) == len(set(picks)), picks
        assert all(valid[b, p] for p in picks)
        assert len(picks) == min(2 * steps, int(valid[b].sum()))   # a step is never wasted while one is free
        # A picked step gets no attention afterwards.
        for t, (pi, pa) in enumerate(out["picks"][b].tolist()):
            for p in (pi, pa):
                if p >= 0:
                    assert float(out["w_image"][b, t + 1 :, p].abs().sum()) == 0.0
                    assert float(out["w_audio"][b, t + 1 :, p].abs().sum()) == 0.0


def test_gradients_reach_the_policy_but_not_a_frozen_fusion():
    student, policy = _policy()
    for p in student.parameters():
        p.requires_grad_(False)
    out = policy(torch.randn(2, 7, 8), torch.randn(2, 7, 8), student.fuse, 3)
    out["logits"].sum().backward()
    assert policy.query_image.weight.grad is not None and policy.key_audio.weight.grad is not None
    assert policy.modality.weight.grad is not None
    assert all(p.grad is None for p in student.parameters())


def _inputs(seed=100):
    g = torch.Generator().manual_seed(seed)
    zi, za = torch.randn(2, 7, 8, generator=g), torch.randn(2, 7, 8, generator=g)
    valid = torch.ones(2, 7, dtype=torch.bool)
    valid[1, 5:] = False
    return zi, za, valid


def test_the_defaults_give_the_forward_from_before_the_ablations():
    """Image-audio indexing and soft aggregation: the outputs recorded before those options existed."""
    student, policy = _policy(0)
    zi, za, valid = _inputs()
    with torch.no_grad():
        out = policy(zi, za, student.fuse, 5, valid)
        soft = policy(zi, za, student.fuse, 5, valid, aggregation="soft")
    assert out["picks"].tolist() == [[[2, 6], [4, 5], [1, 3], [0, -1], [-1, -1]], [[0, 4], [2, 1], [3, -1], [-1, -1], [-1, -1]]]
    assert torch.allclose(out["logits"], torch.tensor([[-0.2535032, 0.1981388, 0.1867657, -0.1061369],
                                                       [-0.2962207, 0.1917258, 0.1570893, -0.1369392]]), atol=1e-5)
    assert all(torch.equal(out[k], soft[k]) for k in out)


def _zero(layer):
    torch.nn.init.zeros_(layer.weight)
    torch.nn.init.zeros_(layer.bias)


def test_hard_aggregation_fuses_the_argmax_features_by_hand():
    """Queries at zero: every attention is uniform over the free steps, so its argmax is the first
    free step; the modality weights are (1/2, 1/2)."""
    student, policy = _policy(0)
    for layer in (policy.query_image, policy.query_audio, policy.modality):
        _zero(layer)
    zi, za = torch.randn(1, 5, 8), torch.randn(1, 5, 8)
    with torch.no_grad():
        hard = policy(zi, za, student.fuse, 2, aggregation="hard")
        soft = policy(zi, za, student.fuse, 2)
        # Step 1: both attentions' argmax is step 0 (picks 0, then 1 for the audio one); step 2: step 2.
        assert hard["picks"][0].tolist() == [[0, 1], [2, 3]]
        assert torch.allclose(hard["fused"][0, 0], student.fuse(zi[0, 0], za[0, 0]), atol=1e-6)
        assert torch.allclose(hard["fused"][0, 1], student.fuse(zi[0, 2], za[0, 2]), atol=1e-6)
        assert torch.allclose(soft["fused"][0, 0], student.fuse(zi[0].mean(0), za[0].mean(0)), atol=1e-6)


@pytest.mark.parametrize("seed", range(4))
def test_hard_aggregation_weighs_the_argmax_features_by_the_modality_scores(seed):
    student, policy = _policy(seed)
    zi, za, valid = _inputs(seed)
    with torch.no_grad():
        out = policy(zi, za, student.fuse, 3, valid, aggregation="hard")
    for b in range(2):
        free = valid[b].clone()
        for t in range(3):
            if not free.any():
                break
            p_i = int(out["w_image"][b, t].masked_fill(~free, -1).argmax())
            p_a = int(out["w_audio"][b, t].masked_fill(~free, -1).argmax())
            s_i, s_a = out["modality"][b, t]
            expected = student.fuse(s_i * zi[b, p_i] + s_a * zi[b, p_a], s_i * za[b, p_i] + s_a * za[b, p_a])   # eq. 8, argmax features
            assert torch.allclose(out["fused"][b, t], expected, atol=1e-5)
            for p in out["picks"][b, t].tolist():
                if p >= 0:
                    free[p] = False


@pytest.mark.parametrize("aggregation", ["soft", "hard"])
@pytest.mark.parametrize("seed", range(6))
def test_image_indexing_picks_one_step_per_step_by_the_image_attention(seed, aggregation):
    torch.manual_seed(seed)
    student = create_model("imgaud2vid_tiny", num_classes=4, feature_dim=12).eval()
    policy = SkimmingPolicy(branch_dim=8, feature_dim=12, num_classes=4, hidden=16, key_dim=6, indexing="image").eval()
    assert policy.key_audio is None and policy.modality is None and policy.picks_per_step == 1
    zi, za, valid = _inputs(seed)
    with torch.no_grad():
        out = policy(zi, za, student.fuse, 6, valid, aggregation=aggregation)
    assert (out["picks"][:, :, 1] == -1).all() and float(out["w_audio"].abs().sum()) == 0.0
    for b in range(2):
        picks = [p for p in out["picks"][b, :, 0].tolist() if p >= 0]
        assert len(picks) == len(set(picks)) == min(6, int(valid[b].sum()))
        for t, p in enumerate(picks):
            assert p == int(out["w_image"][b, t].argmax())
            image = zi[b, p] if aggregation == "hard" else (out["w_image"][b, t, :, None] * zi[b]).sum(0)
            assert torch.allclose(out["fused"][b, t], student.fuse(image, za[b, p]), atol=1e-5)   # eq. 10
