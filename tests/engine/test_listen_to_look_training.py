"""Training Listen to Look's two stages from raw files on `tiny`, one command each, and the
distillation loss on a fixed batch."""

from __future__ import annotations

import json

import pytest
import torch

from scsampler.engine.listen_to_look import (
    DistillConfig, DistillLoss, distill_step, fit_distill, teacher_outputs, window_batch,
)
from scsampler.engine.loop import Step, train
from scsampler.models import create_model
from scsampler.runtime.classifier import load_classifier
from scsampler.selectors.listen_to_look import load_listen_to_look


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny networks: one thread is faster than two that wait on each other on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

def test_the_distillation_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    student = create_model("imgaud2vid_tiny", num_classes=4, feature_dim=16)
    images = torch.randint(0, 256, (8, 3, 32, 40), dtype=torch.uint8)
    audio = torch.randn(8, 40, 50)
    z_t = torch.rand(8, 16) * 2
    p_t = torch.softmax(torch.randn(8, 4) * 3, 1)
    loss = DistillLoss(lam=100.0)
    batch = torch.arange(8)

    def step(b) -> Step:
        out = distill_step(student, loss, images[b], audio[b], z_t[b], p_t[b])
        return Step(out["loss"], len(b), {"l1": out["l1"].item() * len(b), "soft_ce": out["soft_ce"].item() * len(b)})

    curve = train(student, lambda e: [batch], step, epochs=60, steps_per_epoch=1, lr=1e-2, weight_decay=0.0)
    floor = 100.0 * float(-(p_t * p_t.log()).sum(1).mean())   # the soft-target term cannot fall below the teacher's entropy
    assert curve[-1]["loss"] - floor < 0.5 * (curve[0]["loss"] - floor)
    assert curve[-1]["l1"] < curve[0]["l1"] and curve[-1]["soft_ce"] < curve[0]["soft_ce"]
    # The soft-target term is a cross-entropy: at its minimum (student = teacher) it is the teacher's entropy.
    out = loss(z_t, z_t, torch.log(p_t), p_t)
    assert float(out["l1"]) == 0.0
    assert torch.isclose(out["soft_ce"], -(p_t * p_t.log()).sum(1).mean())


def test_the_teacher_feature_is_the_input_of_the_classifiers_fc(tiny_classifier):
    clf = load_classifier(tiny_classifier)
    clips = torch.randint(0, 256, (3, 3, clf.transform.frames, *clf.transform.resize), dtype=torch.uint8)
    feats, probs = teacher_outputs(clf, clips)
    assert feats.shape == (3, 32)
    with torch.no_grad():
        x = clf.transform(clips)
        assert torch.allclose(feats, clf.model.forward_features(x), atol=1e-5)
    assert torch.allclose(probs, clf.probabilities(clips), atol=1e-5)


def test_window_batches_pad_and_mask():
    feats = [(torch.randn(n, 4), torch.randn(n, 4)) for n in (3, 10)]
    import numpy as np

    zi, za, valid = window_batch(feats, [0, 1], 5, np.random.default_rng(0))
    assert zi.shape == (2, 5, 4) and valid.sum(1).tolist() == [3, 5]
    zi, _, valid = window_batch(feats, [1], 0, None)
    assert zi.shape == (1, 10, 4) and valid.all()


@pytest.fixture(scope="module")
def ltl_runs(tiny_data, tiny_classifier, tmp_path_factory):
    from scsampler.cli.main import main

    root = tmp_path_factory.mktemp("ltl")
    common = ["--data", str(tiny_data), "--cache", str(root / "cache")]
    distill = ["train-listen-to-look", "--stage", "distill", "--classifier", str(tiny_classifier), "--out", str(root / "distill"),
               "--arch", "imgaud2vid_tiny", "--epochs", "3", "--batch-size", "32", *common]
    assert main(distill) == 0
    skim = ["train-listen-to-look", "--stage", "skim", "--student", str(root / "distill"), "--out", str(root / "skim"),
            "--steps", "3", "--window", "8", "--hidden", "16", "--key-dim", "8", "--epochs", "4", "--batch-size", "3", *common]
    assert main(skim) == 0
    return {"distill": root / "distill", "skim": root / "skim", "cache": root / "cache", "args": (distill, skim)}


def test_both_stages_train_from_raw_files_with_one_command_each(ltl_runs, tiny_classifier, monkeypatch):
    d = json.loads((ltl_runs["distill"] / "config.json").read_text())
    s = json.loads((ltl_runs["skim"] / "config.json").read_text())
    assert d["kind"] == s["kind"] == "listen-to-look" and (d["stage"], s["stage"]) == ("distill", "skim")
    assert d["student"]["kwargs"]["feature_dim"] == 32                  # classifier_tiny's pooled feature
    assert d["teacher"]["key"] == load_classifier(tiny_classifier).key and d["frame"] == "iframe"
    assert d["frames_decoded_per_video"] > 0 and d["training_clips"] > 0
    assert s["distill_run"] == str(ltl_runs["distill"]) and s["steps"] == 3 and s["policy"] == {"hidden": 16, "key_dim": 8}
    assert 0 <= s["evaluation"]["test"]["top1"] <= 1
    curve = json.loads((ltl_runs["distill"] / "curve.json").read_text())["distill"]
    assert curve[-1]["loss"] < curve[0]["loss"]
    assert (ltl_runs["skim"] / "policy.safetensors").exists() and (ltl_runs["skim"] / "student.safetensors").exists()
    model = load_listen_to_look(ltl_runs["skim"])
    assert model.policy is not None and model.policy.hidden == 16
    assert load_listen_to_look(ltl_runs["distill"]).policy is None
    assert len(list((ltl_runs["cache"] / "clip-outputs").rglob("*.safetensors"))) == d["training_videos"]
    # Rerunning a finished stage reuses it.
    from scsampler.cli.main import main
    from scsampler.engine import listen_to_look as engine

    monkeypatch.setattr(engine, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert main(ltl_runs["args"][0]) == 0 and main(ltl_runs["args"][1]) == 0


def test_distillation_on_first_frames_counts_what_it_decodes(tiny_data, tiny_classifier, ltl_runs, tmp_path):
    config = DistillConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "first"), student="imgaud2vid_tiny",
                           frame="first", epochs=1, batch_size=64, cache=str(ltl_runs["cache"]), pretrain_data=str(tiny_data))
    run = fit_distill(config, progress=False)
    first = json.loads((run / "config.json").read_text())
    iframe = json.loads((ltl_runs["distill"] / "config.json").read_text())
    assert first["frame"] == "first" and first["input_shape"] == iframe["input_shape"]
    # The pretrain data's train clips joined the training set (here the same videos again).
    assert first["pretrain_videos"] == iframe["training_videos"] and first["training_clips"] == 2 * iframe["training_clips"]
    print("frames decoded per video: first", first["frames_decoded_per_video"], "iframe", iframe["frames_decoded_per_video"],
          "clips", first["clips_per_video"])
    # One exact frame per clip, decoded from the key frame before it; the I-frame option decodes only the key frames.
    assert first["frames_decoded_per_video"] >= first["clips_per_video"] and iframe["frames_decoded_per_video"] > 0
