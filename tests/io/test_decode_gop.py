"""Issue 18: ``decode_clips`` seeks once per group of pictures, not once per clip.

Clips that a seek would not reach any sooner (no key frame between the end of one and the start of
the next) are decoded in one forward pass; the frames are the same as when each clip is decoded on
its own (one seek each, as before), and each sample is the frame shown at its time.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import blob_frames
from scsampler.io.decode import DecodeStats, decode_clips
from scsampler.io.grid import ClipGrid
from scsampler.io.video import iter_video_frames, probe
from scsampler.io.writer import write_video

SIZE = (32, 40)
SECONDS = 16


@pytest.fixture(scope="module")
def gop_files(tmp_path_factory, media):
    """16 s at 16 fps: one key frame (x264 keyint past the end) or one every 0.5 s, with B-frames,
    in MP4, MPEG-TS (no index: seeks land late) and Matroska; plus the session's open-GOP MPEG-2."""
    d = tmp_path_factory.mktemp("gop")
    out = {}
    for name, gop in [("one_key", 1000), ("short_gop", 8)]:
        for ext in ("mp4", "ts", "mkv"):
            out[f"{name}.{ext}"] = d / f"{name}.{ext}"
            write_video(out[f"{name}.{ext}"], blob_frames(16 * SECONDS, h=64, w=80, dx=3), fps=16, gop=gop, bframes=2)
    out["ts_long_gop"] = media["ts_long_gop"]   # key frames at 0 and 4 s, B-frames
    out["ts_mpeg2"] = media["ts_mpeg2"]         # open GOPs
    return out


def _shown(path):
    """Times and pictures of one sequential decode: what each sample must show."""
    h, w = SIZE
    frames = list(iter_video_frames(path, export_mvs=False, resize={"s": (w, h, "all")}))
    return np.array([f.time for f in frames]), [f.images["s"] for f in frames]


SELECTIONS = [[5], [2, 9], [1, 5, 9, 13], [13, 1, 9, 5], [0, 3, 4, 8, 11], [0, 1, 2, 3, 4, 5, 6, 7], [15, 0, 6, 5]]


@pytest.mark.parametrize("name", ["one_key.mp4", "one_key.ts", "one_key.mkv", "short_gop.mp4", "short_gop.ts",
                                  "short_gop.mkv", "ts_long_gop", "ts_mpeg2"])
def test_clips_decoded_together_are_the_clips_decoded_alone(gop_files, name):
    path, k = gop_files[name], 4
    n = ClipGrid().num_clips(probe(path).duration)
    alone = {c: decode_clips(path, [c], num_frames=k, size=SIZE)[0].numpy() for c in range(n)}
    times, images = _shown(path)
    for order in SELECTIONS:
        order = [c for c in order if c < n]
        together = decode_clips(path, order, num_frames=k, size=SIZE)
        for row, c in enumerate(order):
            assert np.array_equal(together[row].numpy(), alone[c]), f"clip {c} of {order}"
            for j in range(k):
                shown = int(np.searchsorted(times, c + j / k + 1e-9)) - 1
                got = together[row, :, j].permute(1, 2, 0).numpy()
                assert np.array_equal(got, images[shown]), f"clip {c} of {order}, sample {j}"


@pytest.mark.parametrize("name", ["one_key.mp4", "one_key.ts"])
def test_one_seek_for_clips_in_one_group_of_pictures(gop_files, name):
    # One key frame: each clip alone decodes from the start of the file to its end (what every clip
    # cost before, the clips being 3 s apart); together they cost one pass to the last end.
    path, clips = gop_files[name], [1, 5, 9, 13]
    alone = {}
    for c in clips:
        alone[c] = DecodeStats()
        decode_clips(path, [c], num_frames=4, size=SIZE, stats=alone[c])
    before = sum(s.frames_decoded for s in alone.values())
    stats = DecodeStats()
    decode_clips(path, clips, num_frames=4, size=SIZE, stats=stats)
    # The first clip's seek only (in MPEG-TS a seek to 1 s lands after the key frame at 0 and is
    # tried again from the start: two).
    assert stats.seeks == alone[clips[0]].seeks <= 2
    assert stats.frames_decoded <= 16 * (clips[-1] + 1) + 4  # up to the last clip's end (+ reordering)
    assert stats.frames_decoded < 0.5 * before


@pytest.mark.parametrize("name", ["short_gop.mp4", "short_gop.mkv"])
def test_a_key_frame_between_clips_still_means_a_seek(gop_files, name):
    # A key frame every 0.5 s: each clip far from the last is reached by a seek, decoding little
    # more than itself. (Matroska: its index grows as the file is read, or knows the key frames
    # from the first seek on.)
    stats = DecodeStats()
    decode_clips(gop_files[name], [1, 5, 9, 13], num_frames=4, size=SIZE, stats=stats)
    assert stats.seeks == 4
    assert max(stats.per_clip_frames) <= 16 + 8 + 4
