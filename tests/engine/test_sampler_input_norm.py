"""Training prepares a sampler's inputs as run time does (``input_norm``), and records it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from scsampler.engine.sampler import (SamplerTrainConfig, _identity, build_trainset, compose_samplers, save_sampler_run,
                                     training_norm)
from scsampler.errors import ConfigError
from scsampler.models import create_model
from scsampler.runtime.sampler import InputNorm, choose_rows, load_sampler, wanted_mask

VIDEO_MEAN = InputNorm(grid={"md": (8, 10)}, motion="video-mean")


def _video(clips: int, size: tuple[int, int], speed: float, seed: int):
    """(packed MD of 4 frames a clip, dense probabilities, label) of one training video."""
    g = torch.Generator().manual_seed(seed)
    md = (torch.randn(clips * 4, 2, *size, generator=g) * speed).half()
    packed = {"md": md, "md_clip": torch.arange(clips).repeat_interleave(4).int(), "clip_index": torch.arange(clips).int()}
    return packed, torch.full((clips, 2), 0.5), 0


def test_a_sampler_trained_with_the_defaults_records_its_input_norm(tiny_samplers):
    saved = json.loads((tiny_samplers["visual"] / "config.json").read_text())
    assert saved["train"]["input_norm"] == "resize" and saved["identity"]["input_norm"] == "resize"
    assert saved["input_norm"] == {"md": {"grid": [8, 10]}}   # tiny's 160 x 128 files; MD in pixels, divided by 8
    assert saved["input_shapes"]["md"] == [2, 8, 10]
    assert load_sampler(tiny_samplers["visual"]).norm == InputNorm(grid={"md": (8, 10)})
    assert json.loads((tiny_samplers["audio"] / "config.json").read_text())["input_norm"] == {}  # log-mel: nothing to resize


def test_training_rows_are_resized_and_scaled_per_video_as_at_run_time():
    videos = [_video(5, (8, 10), 1.0, 0), _video(6, (16, 20), 3.0, 1), _video(4, (8, 10), 0.5, 2)]
    norm = training_norm("video", ("md",), videos)
    assert norm == VIDEO_MEAN                            # the grid of most training videos
    config = SamplerTrainConfig(data="d", classifier="c", out="o", features=("md",), loss="sal-rank", train_frames_per_clip=2)
    ts = build_trainset(config, "md", videos, np.random.default_rng(0), norm=norm)
    assert ts.x.shape[1:] == (2, 8, 10) and ts.x.dtype == torch.float16 and len(ts.scale) == len(ts.x)
    base = 0
    for packed, probs, _ in videos:
        n = len(probs)
        x = norm.resize("md", packed["md"])
        # The scale of the rows a sampler scores at run time (eval_frames_per_clip of each clip).
        expected = norm.scale("md", x[choose_rows(packed["md_clip"].long(), wanted_mask(n, None), config.eval_frames_per_clip)])
        mine = (ts.clip >= base) & (ts.clip < base + n)
        assert torch.equal(ts.scale[mine], torch.full((int(mine.sum()),), expected))
        base += n
    # Same-size videos under "resize": the rows exactly as stored, MD at the fixed scale.
    same = [videos[0], videos[2]]
    plain = build_trainset(config, "md", same, np.random.default_rng(0))
    resized = build_trainset(config, "md", same, np.random.default_rng(0), norm=training_norm("resize", ("md",), same))
    assert torch.equal(plain.x, resized.x) and plain.scale is None and resized.scale is None


def test_input_norm_none_trains_as_before():
    videos = [_video(5, (8, 10), 1.0, 0), _video(6, (16, 20), 3.0, 1)]
    assert training_norm("none", ("md",), videos) == InputNorm()
    config = SamplerTrainConfig(data="d", classifier="c", out="o", features=("md",), input_norm="none")
    with pytest.raises(ConfigError, match="differ in size .*input_norm video or resize"):
        build_trainset(config, "md", videos, np.random.default_rng(0), norm=InputNorm())
    with pytest.raises(ConfigError, match="input_norm must be one of"):
        SamplerTrainConfig(data="d", classifier="c", out="o", input_norm="pixels")


def test_identity_records_the_norm_unless_none(tmp_path):
    # A rerun with input_norm none reuses a run trained before the option existed; the default retrains it.
    (tmp_path / "manifest.csv").write_text("path\n")
    (tmp_path / "clf").mkdir()
    (tmp_path / "clf" / "model.safetensors").write_bytes(b"w")
    common = dict(data=str(tmp_path), classifier=str(tmp_path / "clf"), out="o", loss="sal-rank")
    assert _identity(SamplerTrainConfig(**common))["input_norm"] == "resize"
    assert _identity(SamplerTrainConfig(**common, input_norm="video"))["input_norm"] == "video"
    assert "input_norm" not in _identity(SamplerTrainConfig(**common, input_norm="none"))


def test_composed_samplers_keep_each_networks_input_norm(tmp_path):
    def run(name: str, feature: str, norm: dict | None):
        config = {"kind": "sampler", "modality": "visual", "loss": "ac", "features": [feature], "arch": {feature: "sampler_tiny"},
                  "num_outputs": 3, "input_shapes": {feature: [2, 8, 10] if feature == "md" else [3, 52, 64]}}
        if norm is not None:
            config["input_norm"] = norm
        return save_sampler_run(tmp_path / name, {feature: create_model("sampler_tiny", feature=feature, num_outputs=3)}, config)

    md = run("md", "md", VIDEO_MEAN.to_json())
    rgbr = run("rgbr", "rgbr", None)                  # trained before input_norm: its features as stored
    both = load_sampler(compose_samplers([rgbr, md], tmp_path / "both"))
    assert both.norm == VIDEO_MEAN and both.features == ("rgbr", "md")


def test_ac_samplers_trained_with_different_losses_are_not_composed(tmp_path):
    def run(name: str, feature: str, ac_loss: str | None):
        config = {"kind": "sampler", "modality": "visual", "loss": "ac", "features": [feature], "arch": {feature: "sampler_tiny"},
                  "num_outputs": 3, "input_shapes": {feature: [2, 8, 10] if feature == "md" else [3, 52, 64]}}
        if ac_loss is not None:
            config["ac_loss"] = ac_loss
        return save_sampler_run(tmp_path / name, {feature: create_model("sampler_tiny", feature=feature, num_outputs=3)}, config)

    with pytest.raises(ConfigError, match="trained with bce cannot be combined with one trained with ce"):
        compose_samplers([run("md", "md", None), run("rgbr", "rgbr", "bce")], tmp_path / "both")
    assert load_sampler(compose_samplers([run("md2", "md", None), run("rgbr2", "rgbr", "ce")], tmp_path / "ok")).features == ("md", "rgbr")
