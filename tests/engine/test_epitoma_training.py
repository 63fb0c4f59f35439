"""Training VideoEpitoma from raw files, one command per mode, on `tiny`: the run directory, its
curves, and the selector it loads as; the shipped light network as the default start; the light
network's eval-mode features; and the gate learning which timesteps to keep."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from scsampler.assets import TRIMMED_LIGHT
from scsampler.data.manifest import read_manifest
from scsampler.engine import epitoma as engine
from scsampler.engine.epitoma import EpitomaTrainConfig, evaluate, fit_epitoma, pooled_features, train_gate, train_light
from scsampler.errors import ConfigError
from scsampler.models import create_model, list_models
from scsampler.runtime.sampler import prepare
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
            "--mode", "standalone", "--budget", "0.3", "--light", "epitoma_light_tiny", "--light-init", "none", "--light-epochs", "4",
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
                                frame="middle", light="epitoma_light_tiny", light_init=None, light_epochs=4, concepts=4, gate_hidden=8,
                                head_hidden=16, timesteps=8, epochs=8, batch_size=3, cache=str(tmp_path / "cache"))
    run = fit_epitoma(config, progress=False)
    saved, r = _check_run(run, tiny_data, tiny_classifier)
    assert saved["mode"] == "end-to-end" and saved["head_feature_dim"] == 32       # classifier_tiny's pooled feature
    assert saved["classifier"]["key"] == load_classifier(tiny_classifier).key
    assert len(list((tmp_path / "cache" / "clip-outputs").rglob("*.safetensors"))) == 9   # train and test videos
    assert saved["frames_decoded_per_video"] >= saved["clips_per_video"]          # a middle frame per clip, decoded
    assert any("middle frames" in n for n in r.notes)
    with pytest.raises(ConfigError, match="mode must be one of"):
        EpitomaTrainConfig(data=".", classifier=".", out=".", mode="both")
    with pytest.raises(ConfigError, match="would stay random"):
        EpitomaTrainConfig(data=".", classifier=".", out=".", light_init=None, light_epochs=0)


def test_the_shipped_light_network_is_the_default_start_and_is_used_as_it_is(tiny_data, tiny_classifier, tmp_path):
    config = EpitomaTrainConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "run"), concepts=4,
                                timesteps=8, epochs=2, batch_size=3, cache=str(tmp_path / "cache"))
    assert config.light_init == str(TRIMMED_LIGHT) and config.light_epochs == 0 and config.light == "epitoma_light_cnn"
    run = fit_epitoma(config, progress=False)
    saved, curves = json.loads((run / "config.json").read_text()), json.loads((run / "curve.json").read_text())
    assert curves["light"] == [] and saved["light"]["init"] == str(TRIMMED_LIGHT) and saved["feature_dim"] == 64
    shipped, got = load_file(TRIMMED_LIGHT / "model.safetensors"), load_file(run / "light.safetensors")
    assert all(torch.equal(shipped[k], got[k]) for k in shipped if k.startswith("body."))   # frozen as shipped
    assert "light_init_sha" in saved["identity"] and "light_init" not in saved["identity"]   # the weights, not the path
    with pytest.raises(ConfigError, match="holds a epitoma_light_cnn, not a epitoma_light_tiny"):
        fit_epitoma(EpitomaTrainConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "other"),
                                       light="epitoma_light_tiny", cache=str(tmp_path / "cache")), progress=False)


def test_the_clip_feature_of_a_torchvision_video_resnet_is_the_input_of_fc():
    model = create_model("r3d_18", num_classes=4).eval()
    x = torch.randn(1, 3, 4, 32, 32)
    with torch.inference_mode():
        got = pooled_features(model, x)
        model.fc = torch.nn.Identity()
        assert got.shape == (1, 512) and torch.allclose(got, model(x))


@pytest.fixture(scope="module")
def tiny_frames(tiny_data, tiny_classifier, tmp_path_factory):
    """The I-frame thumbnails of `tiny`'s training videos, one TimestepFrames a video."""
    config = EpitomaTrainConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=".")
    classifier = load_classifier(tiny_classifier)
    index = {c: i for i, c in enumerate(classifier.classes)}
    entries = read_manifest(tiny_data / "manifest.csv", split="train")
    frames, errors, _ = engine.load_timestep_frames(config, entries, classifier, index, tmp_path_factory.mktemp("frames"), False)
    assert not errors
    return frames


@pytest.mark.parametrize("name", list_models("epitoma_light"))
def test_a_fine_tuned_light_network_tells_frames_apart_in_eval_mode(name, tiny_frames):
    # MobileNetV3's batch norms track their statistics with momentum 0.01: after a short fine-tuning
    # they were still near their initial values, and the eval-mode network gave every frame the same
    # feature (std 4e-6 over `small`'s frames): the gate had nothing to go on. train_light recomputes them.
    config = EpitomaTrainConfig(data=".", classifier=".", out=".", light=name, light_init=None, light_epochs=2, light_batch_size=16)
    torch.manual_seed(0)
    net, curve = train_light(config, tiny_frames, 3, progress=False)
    assert not net.training and len(curve) == 2
    x = prepare("if", torch.cat([v.frames for v in tiny_frames]))
    with torch.no_grad():
        spread_eval = net.forward_features(x).std(dim=0).mean()
        spread_batch = net.train().forward_features(x).std(dim=0).mean()     # batch statistics: what training saw
    assert spread_eval > 0.3 * spread_batch > 0, (float(spread_eval), float(spread_batch))


def test_the_gate_learns_to_keep_the_timesteps_that_tell_the_class():
    """Features like `small`'s: each video is 4 shots of 6 timesteps, one showing its class (the class's
    prototype) and three a scene that every class shares (9 scenes, so each scene is as frequent as each
    class). Trained with the defaults but the epochs, the test-time gate keeps about the budget of
    held-out videos' timesteps, most of them the class's; the head, reading those, classifies the videos.
    With constant features, with the task's gradient cut from the gates, or with the old 40 x 8 steps
    and L0 weight 4, one of these fails."""
    gen = torch.Generator().manual_seed(0)
    classes, dim, t = 3, 16, 24
    prototypes, scenes = torch.randn(classes, dim, generator=gen), torch.randn(9, dim, generator=gen)

    def videos(n: int):
        labels = torch.arange(n) % classes
        shots = scenes[torch.randint(9, (n, 4), generator=gen)]                     # (n, 4, dim)
        which = torch.randint(4, (n,), generator=gen)                               # the shot of the class
        shots[torch.arange(n), which] = prototypes[labels]
        x = shots.repeat_interleave(6, dim=1) + 0.5 * torch.randn(n, t, dim, generator=gen)
        return list(x), (torch.arange(t) // 6)[None] == which[:, None], labels

    x, _, labels = videos(96)
    held_out, inside, held_labels = videos(48)
    config = EpitomaTrainConfig(data=".", classifier=".", out=".", concepts=8, gate_hidden=16, head_hidden=32, timesteps=t, epochs=40)
    torch.manual_seed(0)
    gate, head, curve = train_gate(config, x, x, labels, classes, progress=False)
    assert curve[-1]["ce"] < 0.5 * curve[0]["ce"]
    with torch.inference_mode():
        kept = torch.stack([gate.logits(v[None])[0] >= 0 for v in held_out])          # (48, t), the step function
    share, precision = float(kept.float().mean()), float(inside[kept].float().mean())
    assert 0.5 * config.budget < share < 1.5 * config.budget, share
    assert precision > 0.6, precision                                                # a quarter by chance
    assert evaluate(gate, head, held_out, held_out, held_labels)["top1"] > 0.9
