"""Features at the sampler's input (``InputNorm``): the size and the scale the sampler was trained on,
whatever the file's resolution and codec; runs from before it score exactly as they did."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import texture

from scsampler.data.cache import pack_clips
from scsampler.engine.sampler import save_sampler_run
from scsampler.features.extractor import ExtractorConfig, extract_clip_features
from scsampler.io.writer import write_video
from scsampler.models import create_model
from scsampler.runtime.sampler import InputNorm, Sampler, choose_rows, clip_means, load_sampler, prepare, wanted_mask

SPEEDS = (0, 1, 3, 0, 2, 1, 3, 0)   # px/frame of the sprite in each 1-s clip: within x264's search range at 4-frame spans
VIDEO_MEAN = InputNorm(grid={"md": (8, 10)}, motion="video-mean")


def varying_motion(scale: int = 1, h: int = 128, w: int = 160):
    """A textured sprite over a still background moving ``SPEEDS[c]`` px/frame in clip ``c`` (16 frames
    a clip), every pixel repeated ``scale`` times in each direction (the same video at a higher resolution)."""
    rng = np.random.default_rng(0)
    bg, sprite = texture(rng, h, w), texture(rng, 32, 32)
    x = 16
    for v in SPEEDS:
        for _ in range(16):
            x += v
            f = bg.copy()
            f[48:80, x % (w - 40) : x % (w - 40) + 32] = sprite
            yield np.repeat(np.repeat(f, scale, axis=0), scale, axis=1)


@pytest.fixture(scope="module")
def motion_files(tmp_path_factory) -> dict[str, dict]:
    """Packed MD of one scene, encoded as H.264 with P-frames only (``p``), with 3 B-frames between
    P-frames (``b``: a P-frame's vectors span 4 frames), and with P-frames at twice the resolution (``p2x``)."""
    d = tmp_path_factory.mktemp("input_norm")
    out = {}
    for name, scale, bframes in (("p", 1, 0), ("b", 1, 3), ("p2x", 2, 0)):
        path = d / f"{name}.mp4"
        write_video(path, varying_motion(scale), fps=16, gop=64, bframes=bframes, threads=1)
        out[name] = pack_clips(list(extract_clip_features(path, ExtractorConfig(features=("md",)))))
    return out


def _old_run(tmp_path, net) -> Sampler:
    """A sampler run directory as every run before input_norm wrote it: no such field in config.json."""
    config = {"kind": "sampler", "modality": "visual", "loss": "sal-rank", "features": ["md"], "arch": {"md": "sampler_tiny"},
              "num_outputs": 1, "input_shapes": {"md": [2, 8, 10]}, "eval_frames_per_clip": 2}
    save_sampler_run(tmp_path / "old", {"md": net}, config)
    assert "input_norm" not in json.loads((tmp_path / "old" / "config.json").read_text())
    return load_sampler(tmp_path / "old")


def test_a_run_from_before_input_norm_scores_its_features_as_stored(tmp_path):
    torch.manual_seed(0)
    net = create_model("sampler_tiny", feature="md", num_outputs=1).eval()
    sampler = _old_run(tmp_path, net)
    assert sampler.norm == InputNorm()
    md = torch.randn(6, 2, 16, 20).half()   # a file of twice the training size: used as it is, as before
    packed = {"md": md, "md_clip": torch.tensor([0, 0, 0, 1, 1, 2]), "clip_index": torch.arange(3)}
    with torch.inference_mode():
        rows = net(md.float() / 8.0)[:, 0]
    expected = torch.stack([(rows[0] + rows[2]) / 2, rows[3:5].mean(), rows[5]])
    assert torch.equal(sampler.score(packed, 3), expected)
    assert sampler.norm.resize("md", md) is md and sampler.norm.scale("md", md) is None


def test_resizing_at_the_training_size_is_an_exact_no_op(tmp_path, motion_files):
    torch.manual_seed(0)
    net = create_model("sampler_tiny", feature="md", num_outputs=1).eval()
    old = _old_run(tmp_path, net)
    resized = Sampler(name="r", modality="visual", loss="sal-rank", nets={"md": net}, frames_per_clip=2,
                      norm=InputNorm(grid={"md": (8, 10)}))
    packed = motion_files["p"]
    assert packed["md"].shape[-2:] == (8, 10)
    assert resized.norm.resize("md", packed["md"]) is packed["md"]
    n = len(packed["clip_index"])
    assert torch.equal(resized.score(packed, n), old.score(packed, n))


def test_area_resampling_averages_cells_and_rescales_displacements():
    x = torch.arange(2 * 4 * 6, dtype=torch.float32).reshape(1, 2, 4, 6)
    y = InputNorm(grid={"md": (2, 3)}).resize("md", x)
    pooled = torch.nn.functional.avg_pool2d(x, 2)
    assert torch.allclose(y, pooled * 0.5)            # 2x2 cells averaged; pixels of a grid half as wide and high
    thumbs = torch.randint(0, 256, (3, 3, 36, 64), dtype=torch.uint8)
    out = InputNorm(grid={"rgbr": (52, 64), "if": (52, 64)}).resize("if", thumbs)
    assert out.shape == (3, 3, 52, 64) and out.dtype == torch.uint8    # a 16:9 file's thumbnails at a 5:4 grid
    # Non-integer ratios: every output cell is a weighted mean of the input, so a constant stays constant.
    const = InputNorm(grid={"rgbr": (8, 10)}).resize("rgbr", torch.full((1, 3, 45, 80), 7.0))
    assert torch.allclose(const, torch.full_like(const, 7.0))


def test_a_2x_upscaled_video_reaches_the_sampler_at_its_size_with_close_scores(motion_files):
    torch.manual_seed(0)
    net = create_model("sampler_tiny", feature="md", num_outputs=1).eval()
    shapes = []
    net.register_forward_hook(lambda module, args, out: shapes.append(tuple(args[0].shape[1:])))
    sampler = Sampler(name="v", modality="visual", loss="sal-rank", nets={"md": net}, frames_per_clip=2, norm=VIDEO_MEAN)
    small, big = motion_files["p"], motion_files["p2x"]
    assert big["md"].shape[-2:] == (16, 20)
    n = len(small["clip_index"])
    a = sampler.score(small, n)
    shapes.clear()
    b = sampler.score(big, n)
    assert set(shapes) == {(2, 8, 10)}                  # the cost of a clip is the same on both files
    # The encoder decides blocks differently at 2x, and an untrained network magnifies that (0.2 of
    # the scores' spread here); as stored, the network sees another grid and twice the displacement.
    spread = a.max() - a.min()
    assert spread > 0 and (a - b).abs().max() < 0.4 * spread, (a, b)
    plain = Sampler(name="p", modality="visual", loss="sal-rank", nets={"md": net}, frames_per_clip=2)
    shapes.clear()
    c = plain.score(big, n)
    assert set(shapes) == {(2, 16, 20)} and (a - c).abs().max() > 0.8 * spread


def _clip_motion(packed: dict, norm: InputNorm) -> torch.Tensor:
    """Each clip's mean MD magnitude at the network's input (``prepare``), over all its frames."""
    owner = packed["md_clip"].long()
    n = len(packed["clip_index"])
    x = norm.resize("md", packed["md"])
    rows = choose_rows(owner, wanted_mask(n, None), 0)
    net_input = prepare("md", x, norm.scale("md", x[rows]))
    return clip_means(net_input.pow(2).sum(dim=1).sqrt().flatten(1).mean(dim=1), owner, n)


def test_video_mean_makes_a_clips_motion_comparable_across_frame_types(motion_files):
    moving = torch.tensor(SPEEDS) > 0
    raw_p, raw_b = _clip_motion(motion_files["p"], InputNorm()), _clip_motion(motion_files["b"], InputNorm())
    raw = (raw_b / raw_p)[moving]
    assert (raw > 1.4).all(), raw                        # a P-frame of IBBBP spans 4 frames: far more motion in pixels
    p, b = _clip_motion(motion_files["p"], VIDEO_MEAN), _clip_motion(motion_files["b"], VIDEO_MEAN)
    ratio = (b / p)[moving]
    assert ((ratio > 1 / 1.3) & (ratio < 1.3)).all(), ratio
    assert ratio.log().abs().mean() < 0.5 * raw.log().abs().mean()
    assert (p[~moving] < 0.1).all() and (b[~moving] < 0.2).all()   # still clips stay still


def test_the_video_scale_has_a_floor_for_still_videos():
    still = torch.zeros(5, 2, 8, 10)
    assert VIDEO_MEAN.scale("md", still) == pytest.approx(0.05)
    assert torch.equal(prepare("md", still, VIDEO_MEAN.scale("md", still)), still)
    assert VIDEO_MEAN.scale("rgbr", torch.ones(2, 3, 4, 4)) is None   # only MD is scaled by the video
    assert InputNorm.from_json(VIDEO_MEAN.to_json()) == VIDEO_MEAN
    assert VIDEO_MEAN.to_json() == {"md": {"grid": [8, 10], "motion": "video-mean"}}
