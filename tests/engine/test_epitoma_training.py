"""Training VideoEpitoma from raw files, one command per mode, on `tiny`: the run directory, its
curves, and the selector it loads as."""

from __future__ import annotations

import json

import pytest
import torch

from scsampler.data.manifest import read_manifest
from scsampler.engine import epitoma as engine
from scsampler.engine.epitoma import EpitomaTrainConfig, fit_epitoma, pooled_features
from scsampler.errors import ConfigError
from scsampler.models import create_model
from scsampler.pipeline.video import run_video
from scsampler.runtime.classifier import load_classifier
from scsampler.selectors import load_selector


def _check_run(run, tiny_data, tiny_classifier, k=3, l0_fell=False):
    config = json.loads((run / "config.json").read_text())
    curves = json.loads((run / "curve.json").read_text())
    assert config["kind"] == "epitoma" and all((run / f).exists() for f in ("light.safetensors", "gate.safetensors", "head.safetensors"))
    assert curves["light"][-1]["loss"] < curves["light"][0]["loss"]          # the light network learned
    if l0_fell:                                                               # (with the noise fixed: annealed, it grows first)
        assert curves["gate"][-1]["l0"] < curves["gate"][0]["l0"]            # the L0 term pulled toward the budget
    assert 0 <= config["evaluation"]["test"]["kept_share"] <= 1 and config["evaluation"]["test"]["videos"] == 3
    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    r = run_video(entry.path, load_classifier(tiny_classifier), load_selector(run), k)
    gate = torch.tensor([float("nan") if v is None else v for v in r.scores["gate"]])
    assert [c["index"] for c in r.selected] == torch.sort(torch.nan_to_num(gate, nan=-1.0), descending=True, stable=True).indices[:k].tolist()
    return config, r


def test_standalone_training_with_one_command(tiny_data, tiny_classifier, tmp_path, monkeypatch):
    from scsampler.cli.main import main

    run = tmp_path / "standalone"
    args = ["train-epitoma", "--data", str(tiny_data), "--classifier", str(tiny_classifier), "--out", str(run),
            "--mode", "standalone", "--budget", "0.3", "--light", "epitoma_light_tiny", "--light-epochs", "4",
            "--concepts", "4", "--timesteps", "8", "--epochs", "8", "--batch-size", "3", "--noise-end", "1",
            "--cache", str(tmp_path / "cache")]
    assert main(args) == 0
    config, r = _check_run(run, tiny_data, tiny_classifier, l0_fell=True)
    assert config["mode"] == "standalone" and config["head_feature_dim"] == config["feature_dim"] == 16
    assert config["frame"] == "iframe" and config["frames_decoded_per_video"] > 0 and config["budget"] == 0.3
    assert any("I-frame thumbnails" in n for n in r.notes)
    # The same command again reuses the finished run.
    monkeypatch.setattr(engine, "train_light", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert main(args) == 0


def test_end_to_end_training_on_middle_frames(tiny_data, tiny_classifier, tmp_path):
    config = EpitomaTrainConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "e2e"), mode="end-to-end",
                                frame="middle", light="epitoma_light_tiny", light_epochs=4, concepts=4, gate_hidden=8, head_hidden=16,
                                timesteps=8, epochs=8, batch_size=3, cache=str(tmp_path / "cache"))
    run = fit_epitoma(config, progress=False)
    saved, r = _check_run(run, tiny_data, tiny_classifier)
    assert saved["mode"] == "end-to-end" and saved["head_feature_dim"] == 32       # classifier_tiny's pooled feature
    assert saved["classifier"]["key"] == load_classifier(tiny_classifier).key
    assert len(list((tmp_path / "cache" / "epitoma-heavy").rglob("*.safetensors"))) == 9   # train and test videos
    assert saved["frames_decoded_per_video"] >= saved["clips_per_video"]          # a middle frame per clip, decoded
    assert any("middle frames" in n for n in r.notes)
    with pytest.raises(ConfigError, match="mode must be one of"):
        EpitomaTrainConfig(data=".", classifier=".", out=".", mode="both")


def test_the_clip_feature_of_a_torchvision_video_resnet_is_the_input_of_fc():
    model = create_model("r3d_18", num_classes=4).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.inference_mode():
        got = pooled_features(model, x)
        model.fc = torch.nn.Identity()
        assert got.shape == (1, 512) and torch.allclose(got, model(x))
