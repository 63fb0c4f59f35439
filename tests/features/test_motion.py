"""Motion kernels on hand-made inputs: codec vector rasterisation, block matching, warping, RGB-R."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.features import (
    MOTION_VECTOR_DTYPE,
    block_motion,
    coarse_to_fine_motion,
    motion_compensated_residual,
    rasterize_motion_vectors,
    warp,
)

# PyAV's MotionVectors.to_ndarray() dtype, written out independently of the module's copy.
PYAV_MV_DTYPE = np.dtype(
    [
        ("source", "i4"), ("w", "u1"), ("h", "u1"),
        ("src_x", "i2"), ("src_y", "i2"), ("dst_x", "i2"), ("dst_y", "i2"),
        ("flags", "u8"), ("motion_x", "i4"), ("motion_y", "i4"), ("motion_scale", "u2"),
    ],
    align=True,
)


def mv(dst_x, dst_y, move_x, move_y, *, w=16, h=16, source=-1, scale=4):
    """One row as FFmpeg writes it for a block whose content moved by ``(move_x, move_y)`` px.

    FFmpeg stores ``motion = (src - dst) * scale``: for a past reference the content moved from
    src to dst (``src = dst - move``), for a future one it will move from dst to src (``src = dst + move``).
    """
    back_x, back_y = (-move_x, -move_y) if source < 0 else (move_x, move_y)
    return (
        source, w, h,
        int(round(dst_x + back_x)), int(round(dst_y + back_y)), dst_x, dst_y,
        0, int(round(back_x * scale)), int(round(back_y * scale)), scale,
    )


def mvs(*rows):
    return np.array(list(rows), dtype=PYAV_MV_DTYPE)


def test_module_dtype_is_pyavs():
    assert MOTION_VECTOR_DTYPE == PYAV_MV_DTYPE


def test_single_block_moving_right_fills_exactly_its_cell():
    grid = rasterize_motion_vectors(mvs(mv(2 * 16 + 8, 1 * 16 + 8, 3, 0)), 64, 80)
    assert grid.shape == (2, 4, 5) and grid.dtype == np.float32
    expected = np.zeros((2, 4, 5), np.float32)
    expected[0, 1, 2] = 3.0
    np.testing.assert_array_equal(grid, expected)


def test_down_is_positive_dy():
    grid = rasterize_motion_vectors(mvs(mv(8, 8, 0, 2)), 32, 32)
    assert grid[1, 0, 0] == 2.0 and grid[0, 0, 0] == 0.0


@pytest.mark.parametrize("source", [-1, 1])
def test_past_and_future_references_mean_the_same_motion(source):
    grid = rasterize_motion_vectors(mvs(mv(8, 8, 5, -2, source=source)), 16, 16)
    np.testing.assert_array_equal(grid[:, 0, 0], [5.0, -2.0])


def test_same_codec_vector_flips_sign_with_reference_direction():
    row = list(mv(8, 8, 5, -2, source=-1))
    past = rasterize_motion_vectors(mvs(tuple(row)), 16, 16)
    row[0] = 1
    future = rasterize_motion_vectors(mvs(tuple(row)), 16, 16)
    np.testing.assert_array_equal(future, -past)


def test_subpixel_motion_comes_from_motion_scale():
    # src/dst are integers (1 px), the quarter-pel vector says 1.25 px.
    row = (-1, 16, 16, 7, 8, 8, 8, 0, -5, 0, 4)
    assert rasterize_motion_vectors(mvs(row), 16, 16)[0, 0, 0] == 1.25


def test_zero_motion_scale_falls_back_to_block_centres():
    row = (-1, 16, 16, 5, 8, 8, 8, 0, 0, 0, 0)
    assert rasterize_motion_vectors(mvs(row), 16, 16)[0, 0, 0] == 3.0


def test_bi_predicted_block_averages_past_and_future():
    grid = rasterize_motion_vectors(mvs(mv(8, 8, 2, 0, source=-1), mv(8, 8, 4, 2, source=1)), 16, 16)
    np.testing.assert_array_equal(grid[:, 0, 0], [3.0, 1.0])


def test_bi_predicted_block_counts_once_among_its_neighbours():
    # Four 8x8 blocks in one cell, the first bi-predicted: its two vectors average to 4, and the cell
    # is the plain mean of 4 blocks, not of 5 rows.
    grid = rasterize_motion_vectors(
        mvs(
            mv(4, 4, 2, 0, w=8, h=8, source=-1),
            mv(4, 4, 6, 0, w=8, h=8, source=1),
            mv(12, 4, 0, 0, w=8, h=8),
            mv(4, 12, 0, 0, w=8, h=8),
            mv(12, 12, 0, 0, w=8, h=8),
        ),
        16, 16,
    )
    assert grid[0, 0, 0] == pytest.approx(1.0)


def test_sub_blocks_are_averaged_by_area():
    quarters = mvs(*(mv(4 + 8 * i, 4 + 8 * j, 1 + i + 2 * j, 0, w=8, h=8) for i in (0, 1) for j in (0, 1)))
    assert rasterize_motion_vectors(quarters, 16, 16)[0, 0, 0] == pytest.approx(2.5)
    # A 16x8 half (area 128) at dx=4 and two 8x8 quarters (64 each) at 0 and 2: (512 + 128) / 256.
    mixed = mvs(mv(8, 4, 4, 0, w=16, h=8), mv(4, 12, 0, 0, w=8, h=8), mv(12, 12, 2, 0, w=8, h=8))
    assert rasterize_motion_vectors(mixed, 16, 16)[0, 0, 0] == pytest.approx(2.5)


def test_partly_intra_cell_takes_the_mean_of_its_inter_blocks():
    grid = rasterize_motion_vectors(mvs(mv(4, 4, 2, 0, w=8, h=8)), 16, 16)
    assert grid[0, 0, 0] == 2.0


def test_large_and_unaligned_blocks_split_over_cells():
    big = rasterize_motion_vectors(mvs(mv(32, 32, 3, 0, w=32, h=32)), 64, 64)
    np.testing.assert_array_equal(big[0], np.pad(np.full((2, 2), 3.0), 1))
    # A 16x16 block straddling two cells, next to a full block in the right-hand one.
    straddle = rasterize_motion_vectors(mvs(mv(16, 8, 4, 0), mv(24, 8, 0, 0, w=16)), 16, 32)
    assert straddle[0, 0, 0] == 4.0                        # only the straddling block reaches it
    assert straddle[0, 0, 1] == pytest.approx((4 * 8 + 0 * 16) / 24)


@settings(max_examples=60, deadline=None)
@given(height=st.integers(1, 300), width=st.integers(1, 300))
def test_empty_vectors_give_zeros_of_ceil_shape(height, width):
    grid = rasterize_motion_vectors(np.zeros(0, PYAV_MV_DTYPE), height, width)
    assert grid.shape == (2, -(-height // 16), -(-width // 16))
    assert grid.dtype == np.float32 and not grid.any()


def test_odd_frame_size_with_border_macroblocks():
    # 97x61 is coded as 112x64: the last column and row of macroblocks are partly outside the picture.
    rows = [mv(8 + 16 * i, 8 + 16 * j, 1.5, -0.5) for i in range(7) for j in range(4)]
    grid = rasterize_motion_vectors(mvs(*rows), 61, 97)
    assert grid.shape == (2, 4, 7)
    np.testing.assert_array_equal(grid[0], np.full((4, 7), 1.5))
    np.testing.assert_array_equal(grid[1], np.full((4, 7), -0.5))


@settings(max_examples=60, deadline=None)
@given(
    blocks=st.lists(
        st.tuples(st.integers(0, 9), st.integers(0, 7), st.sampled_from([4, 8, 16]), st.sampled_from([4, 8, 16])),
        min_size=1, max_size=20,
    ),
    move=st.tuples(st.integers(-64, 64), st.integers(-64, 64)),
    source=st.sampled_from([-1, 1]),
)
def test_uniform_motion_is_reproduced_wherever_blocks_land(blocks, move, source):
    # Blocks on an 8-px lattice, sizes mixed: every covered cell must read the common vector, any
    # uncovered one zero, whatever the overlaps (means of a constant are that constant).
    height, width = 64, 80
    rows = [mv(8 * i + w // 2, 8 * j + h // 2, move[0] / 4, move[1] / 4, w=w, h=h, source=source)
            for i, j, w, h in blocks]
    grid = rasterize_motion_vectors(mvs(*rows), height, width)
    covered = np.zeros((height // 16 + 1, width // 16 + 1), bool)
    for i, j, w, h in blocks:
        covered[(8 * j) // 16 : (8 * j + h - 1) // 16 + 1, (8 * i) // 16 : (8 * i + w - 1) // 16 + 1] = True
    covered = covered[: grid.shape[1], : grid.shape[2]]
    np.testing.assert_allclose(grid[0][covered], move[0] / 4)
    np.testing.assert_allclose(grid[1][covered], move[1] / 4)
    assert not grid[:, ~covered].any()


# --- block matching -----------------------------------------------------------------------------


def shifted_pair(rng, h, w, dx, dy, margin=8):
    """prev and cur (h, w) float32 where the content of prev moved by (dx, dy) pixels in cur."""
    tex = rng.random((h + 2 * margin, w + 2 * margin)).astype(np.float32)
    prev = tex[margin : margin + h, margin : margin + w]
    cur = tex[margin - dy : margin - dy + h, margin - dx : margin - dx + w]  # cur(y, x) = prev(y - dy, x - dx)
    return prev.copy(), cur.copy()


def test_block_matching_recovers_a_shift():
    prev, cur = shifted_pair(np.random.default_rng(0), 64, 80, 2, -1)
    motion = block_motion(prev, cur, 8, 4)
    assert motion.shape == (2, 8, 10) and motion.dtype == np.float32
    assert np.median(motion[0]) == 2.0 and np.median(motion[1]) == -1.0
    # Away from the borders, where edge padding cannot mimic the texture, every block is exact.
    np.testing.assert_array_equal(motion[0, 1:-1, 1:-1], 2.0)
    np.testing.assert_array_equal(motion[1, 1:-1, 1:-1], -1.0)


@settings(max_examples=25, deadline=None)
@given(dx=st.integers(-3, 3), dy=st.integers(-3, 3), seed=st.integers(0, 2**16))
def test_block_matching_any_shift_in_range(dx, dy, seed):
    prev, cur = shifted_pair(np.random.default_rng(seed), 40, 48, dx, dy)
    motion = block_motion(prev, cur, 4, 3)
    np.testing.assert_array_equal(motion[0, 1:-1, 1:-1], dx)
    np.testing.assert_array_equal(motion[1, 1:-1, 1:-1], dy)


def test_block_matching_zero_shift_and_flat_frames_give_zeros():
    prev, _ = shifted_pair(np.random.default_rng(1), 32, 48, 0, 0)
    assert not block_motion(prev, prev, 4, 2).any()
    flat = np.full((32, 48), 0.5, np.float32)
    assert not block_motion(flat, flat, 4, 2).any()


def smooth_texture(rng, h, w):
    """A texture with little energy at the highest frequencies, as natural images (a block of white
    noise matches nothing between whole steps)."""
    tex = rng.random((h + 3, w + 3)).astype(np.float32)
    return sum(tex[i:i + h, j:j + w] for i in range(4) for j in range(4))


@settings(max_examples=25, deadline=None)
@given(dx=st.integers(-5, 5), dy=st.integers(-5, 5), seed=st.integers(0, 2**16))
def test_coarse_to_fine_matching_finds_any_shift_in_range(dx, dy, seed):
    """Radius 2 at half the resolution, then a pixel at full: shifts up to 5 pixels, exact away
    from the borders."""
    tex = smooth_texture(np.random.default_rng(seed), 64 + 16, 80 + 16)
    prev, cur = tex[8:-8, 8:-8], tex[8 - dy:tex.shape[0] - 8 - dy, 8 - dx:tex.shape[1] - 8 - dx]
    motion = coarse_to_fine_motion(prev, cur, 8, 2)
    assert motion.shape == (2, 8, 10) and motion.dtype == np.float32
    np.testing.assert_array_equal(motion[0, 2:-2, 2:-2], dx)
    np.testing.assert_array_equal(motion[1, 2:-2, 2:-2], dy)


def test_coarse_to_fine_matching_agrees_with_the_exhaustive_search():
    tex = smooth_texture(np.random.default_rng(3), 64 + 16, 96 + 16)
    prev, cur = tex[8:-8, 8:-8], tex[10:-6, 5:-11]                      # moved by (3, -2)
    np.testing.assert_array_equal(coarse_to_fine_motion(prev, cur, 8, 2)[:, 1:-1, 1:-1],
                                  block_motion(prev, cur, 8, 4)[:, 1:-1, 1:-1])


def test_coarse_to_fine_matching_keeps_a_small_object_and_a_still_background():
    """A textured object of 2x2 blocks moving over a still textured background: its blocks move,
    the background's stay at 0. (A block whose costs are ambiguous joins its neighbours'; these
    have clear matches, so neither drags the other.)"""
    rng = np.random.default_rng(6)
    bg, obj = smooth_texture(rng, 64, 96), smooth_texture(rng, 16, 16) * 2
    prev, cur = bg.copy(), bg.copy()
    prev[24:40, 40:56] = obj
    cur[24:40, 43:59] = obj                                              # 3 px to the right
    motion = coarse_to_fine_motion(prev, cur, 8, 2)
    assert motion[0, 3:5, 5:7].min() >= 2 and not motion[1, 3:5, 5:7].any()
    moved = np.zeros((8, 12), bool)
    moved[3:5, 5:8] = True                                                # the object, before and after
    assert not motion[:, ~moved].any()


def test_coarse_to_fine_matching_zeros_odd_sizes_and_integer_frames():
    prev = smooth_texture(np.random.default_rng(4), 32, 48)
    assert not coarse_to_fine_motion(prev, prev, 8, 2).any()
    flat = np.full((32, 48), 0.5, np.float32)
    assert not coarse_to_fine_motion(flat, flat, 8, 2).any()
    tex = smooth_texture(np.random.default_rng(5), 38, 57)
    motion = coarse_to_fine_motion(tex[4:-4, 4:-4], tex[4:-4, 3:-5], 8, 2)  # 30 x 49: partial last blocks
    assert motion.shape == (2, 4, 7) and np.median(motion[0]) == 1.0 and np.median(motion[1]) == 0.0
    with pytest.raises(ValueError, match="even"):
        coarse_to_fine_motion(tex, tex, 5, 2)
    # uint8 frames (a decoder's luma) are matched in integers: the same sums, the same motion
    # (a texture constant over 2x2 squares, so that halving it needs no rounding either).
    tex = np.round(smooth_texture(np.random.default_rng(5), 24, 36) * 15).astype(np.uint8).repeat(2, axis=0).repeat(2, axis=1)
    a, b = tex[4:-4, 4:-4], tex[2:-6, 6:-2]
    for match, cell in ((coarse_to_fine_motion, 8), (block_motion, 4)):
        np.testing.assert_array_equal(match(a, b, cell, 2), match(a.astype(np.float32), b.astype(np.float32), cell, 2))


def test_block_matching_odd_size_gives_ceil_grid():
    prev, cur = shifted_pair(np.random.default_rng(2), 30, 49, 1, 0)
    motion = block_motion(prev, cur, 4, 2)
    assert motion.shape == (2, 8, 13)
    assert np.median(motion[0]) == 1.0


def test_block_matching_agrees_with_codec_sign_convention():
    # The same "content moves right by 2" read both ways gives the same sign.
    prev, cur = shifted_pair(np.random.default_rng(3), 32, 32, 2, 0)
    estimated = np.median(block_motion(prev, cur, 16, 3)[0])
    from_codec = rasterize_motion_vectors(mvs(mv(8, 8, 2, 0)), 16, 16)[0, 0, 0]
    assert estimated == from_codec == 2.0


# --- warping and residuals ----------------------------------------------------------------------


def test_warp_moves_content_along_the_vector():
    prev = np.zeros((1, 32, 32), np.float32)
    prev[0, 10, 10] = 1.0
    motion = np.zeros((2, 2, 2), np.float32)
    motion[0] = 4.0   # source pixels: 2 output pixels at scale 0.5
    motion[1] = -2.0
    out = warp(prev, motion, 0.5)
    assert out.shape == prev.shape and out.dtype == np.float32
    assert out[0, 9, 12] == 1.0 and out.sum() == pytest.approx(1.0)


def test_warp_bilinear_half_pixel():
    prev = np.arange(8, dtype=np.float32)[None, None, :].repeat(4, axis=1)   # (1, 4, 8), a ramp in x
    motion = np.zeros((2, 1, 1), np.float32)
    motion[0] = 0.5
    out = warp(prev, motion, 1.0)
    np.testing.assert_allclose(out[0, :, 1:], np.tile(np.arange(7, dtype=np.float32) + 0.5, (4, 1)))
    assert (out[0, :, 0] == 0.0).all()   # sampling left of the frame clamps to its first column


def test_warp_upsamples_the_grid_by_cells_of_source_pixels():
    # At scale 0.25 a 16-px source cell covers 4x4 output pixels: motion in cell (1, 2) only moves
    # those pixels.
    rng = np.random.default_rng(4)
    prev = rng.random((3, 16, 24)).astype(np.float32)
    motion = np.zeros((2, 4, 6), np.float32)
    motion[0, 1, 2] = 8.0                                   # 2 output pixels
    out = warp(prev, motion, 0.25)
    moved = np.zeros((16, 24), bool)
    moved[4:8, 8:12] = True
    np.testing.assert_array_equal(out[:, ~moved], prev[:, ~moved])
    np.testing.assert_array_equal(out[:, 4:8, 8:12], prev[:, 4:8, 6:10])


def panning_pair(rng, c, h, w, shift):
    tex = rng.random((c, h, w + shift)).astype(np.float32)
    prev = tex[:, :, shift:]                  # the camera pans left, the content moves right by `shift`
    cur = tex[:, :, :w]
    return prev.copy(), cur.copy()


@pytest.mark.parametrize("scale", [1.0, 0.5, 0.25])
def test_compensated_residual_is_far_below_frame_difference_on_a_pan(scale):
    rng = np.random.default_rng(5)
    h, w, shift = 48, 64, 3
    prev, cur = panning_pair(rng, 3, h, w, shift)
    motion = np.full((2, -(-int(h / scale) // 16), -(-int(w / scale) // 16)), 0.0, np.float32)
    motion[0] = shift / scale                                 # source pixels
    residual = motion_compensated_residual(prev, cur, motion, scale)
    difference = cur - prev
    assert residual.shape == cur.shape and residual.dtype == np.float32
    # Columns left of `shift` have no source in prev (they are clamped), so they keep a residual.
    inner = np.s_[:, :, shift:]
    assert np.mean(residual[inner] ** 2) < 1e-3 * np.mean(difference[inner] ** 2)


def test_compensated_residual_with_zero_motion_is_the_frame_difference():
    rng = np.random.default_rng(6)
    prev = rng.integers(0, 256, (3, 30, 50), dtype=np.uint8)
    cur = rng.integers(0, 256, (3, 30, 50), dtype=np.uint8)
    residual = motion_compensated_residual(prev, cur, np.zeros((2, 4, 7), np.float32), 0.5)
    np.testing.assert_array_equal(residual, cur.astype(np.float32) - prev.astype(np.float32))


def test_compensated_residual_accepts_single_channel_frames():
    rng = np.random.default_rng(7)
    prev, cur = panning_pair(rng, 1, 32, 32, 2)
    motion = np.full((2, 2, 2), 0.0, np.float32)
    motion[0] = 2.0
    residual = motion_compensated_residual(prev[0], cur[0], motion, 1.0)
    assert residual.shape == (32, 32)
    assert np.abs(residual[:, 2:]).max() < 1e-6
