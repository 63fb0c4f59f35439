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
