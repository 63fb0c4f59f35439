"""Motion features of the visual sampler: MD grids and RGB residuals (section 3.3.1 of the SCSampler paper).

Tensor-in / tensor-out kernels over numpy arrays; decoding lives in ``scsampler.io``, which calls these
once per decoded frame, so everything here is vectorised (no Python loop over blocks or pixels).

Conventions (see ``scsampler.records``):

- A motion grid is float32 ``(2, ceil(H/cell), ceil(W/cell))`` with ``cell = 16`` for codec vectors:
  channel 0 is dx, channel 1 is dy, *forward* displacement (how content moved from the reference
  picture to the current one): content moving right gives dx > 0, moving down gives dy > 0.
- :func:`rasterize_motion_vectors` returns pixels of the source video; :func:`block_motion` returns
  pixels of the low-resolution frames it was given.
- Residual frames are float32 ``(C, h, w)`` at reduced resolution, signed (RGB-R of section 3.3.1).

Codec vectors are per reference distance, not per frame: a P-frame three frames after its reference
carries three frames' worth of motion, and a B-frame's future vector spans its own distance. FFmpeg's
``source`` field only tells past (< 0) from future (> 0) for H.264, so no normalisation is done here.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "MOTION_VECTOR_DTYPE",
    "block_motion",
    "motion_compensated_residual",
    "rasterize_motion_vectors",
    "warp",
]

# The record PyAV exports for AV_FRAME_DATA_MOTION_VECTORS (``MotionVectors.to_ndarray()``),
# mirroring FFmpeg's ``AVMotionVector`` with C alignment. Tests build inputs with it.
MOTION_VECTOR_DTYPE = np.dtype(
    [
        ("source", "i4"),         # < 0: reference in the past, > 0: in the future
        ("w", "u1"),              # block size in pixels
        ("h", "u1"),
        ("src_x", "i2"),          # block centre in the reference picture
        ("src_y", "i2"),
        ("dst_x", "i2"),          # block centre in the current picture
        ("dst_y", "i2"),
        ("flags", "u8"),
        ("motion_x", "i4"),       # (src - dst) * motion_scale, sub-pixel
        ("motion_y", "i4"),
        ("motion_scale", "u2"),
    ],
    align=True,
)


def rasterize_motion_vectors(mvs: np.ndarray, height: int, width: int, cell: int = 16) -> np.ndarray:
    """Codec motion vectors of one frame -> MD grid ``(2, ceil(height/cell), ceil(width/cell))`` float32.

    ``mvs`` is PyAV's structured array (fields of :data:`MOTION_VECTOR_DTYPE`; extra fields ignored),
    one row per (block, reference). The codec vector ``motion/motion_scale`` is ``src - dst`` (where the
    block came from minus where it is); we return forward displacement in source pixels:
    ``dst - src`` for past references and ``src - dst`` for future ones. A block with several vectors
    (bi-predicted B blocks) contributes their mean. Each cell holds the mean of the blocks overlapping
    it, weighted by overlap area; cells no block overlaps (intra blocks, skipped side data) are 0.
    An empty ``mvs`` gives all zeros: whether missing side data is an error is the caller's decision.
    """
    hg, wg = -(-height // cell), -(-width // cell)
    n = len(mvs)
    if n == 0:
        return np.zeros((2, hg, wg), np.float32)
    centre = _pair(mvs, "dst_x", "dst_y", np.int32)                               # (2, n) block centres
    motion = _forward_motion(mvs, centre)                                          # (2, n) float32
    weight = _row_weights(mvs, centre)                                             # (n,) float32, or None: all 1

    # Block rectangles in half pixels (integers: a centre is a whole pixel, a size may be odd),
    # clipped to the grid (coded pictures are padded to whole macroblocks).
    size = _pair(mvs, "w", "h", np.int32)
    lo = 2 * centre - size
    hi = lo + 2 * size
    cell2 = 2 * cell                                                               # a cell in half pixels
    limit = np.array([[wg * cell2], [hg * cell2]], np.int32)
    for bound in (lo, hi):
        np.maximum(bound, 0, out=bound)
        np.minimum(bound, limit, out=bound)
    first = lo // cell2                                                            # (2, n) first cell (x, y)
    span = (-(-hi // cell2) - first).max(axis=1)                                   # most cells a block spans (x, y)
    if span.max() <= 1:
        # Every block inside one cell (codec blocks sit inside one macroblock): its whole area there.
        extent = hi - lo
        area = extent[0] * extent[1]                                               # quarter pixels
        cells = first[1] * wg + first[0]
        row = None                                                                 # every row, in order
        if not area.all():                                                         # blocks wholly outside
            row = np.flatnonzero(area)
            cells, area = cells[row], area[row]
    else:
        cells, row, area = _spread_over_cells(lo, hi, first, span, cell2, wg)

    # Sums in float64, each cell's terms added in the order listed (np.bincount's). Areas are in
    # quarter pixels, 4x the pixels' (exact: a power of two scales every term and sum without
    # rounding), which the mean cancels.
    w = area.astype(np.float64)
    if weight is not None:
        w *= weight if row is None else weight[row]
    if row is not None:
        motion = motion[:, row]
    n_cells = hg * wg
    total = np.bincount(cells, weights=w, minlength=n_cells)
    sums = np.empty((2, n_cells))
    for k in range(2):
        sums[k] = np.bincount(cells, weights=w * motion[k], minlength=n_cells)
    total[total == 0] = 1.0                                                        # uncovered cells stay 0
    sums /= total
    return sums.reshape(2, hg, wg).astype(np.float32)


def _pair(mvs: np.ndarray, x: str, y: str, dtype) -> np.ndarray:
    """Fields ``x`` and ``y`` of every row as one ``(2, n)`` array (cheaper than np.stack per frame)."""
    out = np.empty((2, len(mvs)), dtype)
    out[0], out[1] = mvs[x], mvs[y]
    return out


def _forward_motion(mvs: np.ndarray, centre: np.ndarray) -> np.ndarray:
    """Forward displacement ``(dx, dy)`` of each row, float32 ``(2, n)``, in source pixels."""
    back = _pair(mvs, "motion_x", "motion_y", np.int32)                           # (src - dst) * scale
    scale = mvs["motion_scale"]
    if scale.all():
        back = back / scale                                                        # float64
    else:
        # Sub-pixel vector when the codec gives one (quarter-pel for H.264), integer centres otherwise.
        has_scale = scale > 0
        centres = _pair(mvs, "src_x", "src_y", np.int32) - centre                 # src - dst
        back = np.where(has_scale, back / np.where(has_scale, scale, 1), centres)
    back = back.astype(np.float32)
    # Past reference: dst - src; future: src - dst. FFmpeg never writes source == 0; we read it as past.
    return np.where(mvs["source"] > 0, back, -back)


def _row_weights(mvs: np.ndarray, centre: np.ndarray) -> np.ndarray | None:
    """A block predicted from k references appears k times with the same geometry: weight each of
    its rows 1/k, so the block counts once, with the mean of its vectors (B-frames, past + future).
    None when every block has one row (P-frames)."""
    n = len(mvs)
    # A key per geometry, ordered as FFmpeg writes blocks (macroblock rows, then macroblocks, then
    # the blocks inside one), so the stable sort below finds the rows nearly in order.
    c = centre.astype(np.int64) + 32768                                            # 16 bits each
    mb, inside = c >> 4, c & 15
    key = mb[1] << 36 | mb[0] << 24 | inside[1] << 20 | inside[0] << 16 | mvs["w"].astype(np.int64) << 8 | mvs["h"]
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    starts = np.empty(n, bool)
    starts[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=starts[1:])
    if starts.all():
        return None
    first = np.flatnonzero(starts)
    counts = np.diff(first, append=n)
    per_row = np.empty(n, np.float32)
    per_row[order] = np.repeat(counts, counts)
    return np.float32(1.0) / per_row


def _spread_over_cells(lo, hi, first, span, cell2: int, wg: int):
    """``(cells, rows, areas)`` of every (block, cell) overlap with a positive area, for blocks that
    span several cells: the loops run over the few cell offsets a large or unaligned block can span,
    never over blocks. Terms come offset by offset, each in row order; sizes in half pixels."""
    (x0, y0), (x1, y1), (cx0, cy0) = lo, hi, first
    cells, rows, areas = [], [], []
    for oy in range(max(int(span[1]), 1)):
        cy = cy0 + oy
        over_y = np.minimum(y1, (cy + 1) * cell2) - np.maximum(y0, cy * cell2)
        for ox in range(max(int(span[0]), 1)):
            cx = cx0 + ox
            over_x = np.minimum(x1, (cx + 1) * cell2) - np.maximum(x0, cx * cell2)
            area = np.clip(over_x, 0, None) * np.clip(over_y, 0, None)
            # A positive overlap lies inside the clipped grid, so cx < wg and cy < hg here.
            row = np.flatnonzero(area)
            cells.append(cy[row] * wg + cx[row])
            rows.append(row)
            areas.append(area[row])
    return np.concatenate(cells), np.concatenate(rows), np.concatenate(areas)


def block_motion(
    prev: np.ndarray, cur: np.ndarray, cell: int, search: int, *, zero_bias: float = 0.02
) -> np.ndarray:
    """Exhaustive block matching ``(h, w), (h, w) -> (2, ceil(h/cell), ceil(w/cell))`` float32.

    Fallback MD for codecs that export no motion vectors (MJPEG, VP9, ...). ``prev`` and ``cur`` are
    grayscale frames at reduced resolution (any intensity scale); ``cell`` is the block size and
    ``search`` the search radius, both in those low-resolution pixels, and so is the result. Same sign
    convention as :func:`rasterize_motion_vectors`: the block of ``cur`` at ``p`` is matched with
    ``prev`` at ``p - (dx, dy)``, so content moving right gives dx > 0.

    The cost of a shift is its SAD (sum of absolute differences) times ``1 + zero_bias * (|dx| + |dy|)``; exact ties go to the
    smallest shift, so flat blocks and noise-level differences read as no motion. Borders are
    edge-replicated, both for ``prev`` beyond the frame and to fill a partial last block.
    """
    return _best_shift(_shift_costs(prev, cur, cell, search, zero_bias), search)


def _shift_costs(prev: np.ndarray, cur: np.ndarray, cell: int, search: int, zero_bias: float) -> np.ndarray:
    """:func:`block_motion`'s costs ``(n, n, Hg, Wg)`` float32 over the shifts ``(sy, sx)`` of radius
    ``search`` (``n = 2 * search + 1``, index ``s + search``): each block's SAD times its shift's
    bias. Frames of uint8 (a decoder's luma) are matched in integers (:func:`_work_types`), others
    in float32."""
    h, w = cur.shape
    hg, wg = -(-h // cell), -(-w // cell)
    pad_h, pad_w = hg * cell - h, wg * cell - w
    image, diff_type, sum_type = _work_types(prev, cur)
    cur = np.pad(np.asarray(cur, image), ((0, pad_h), (0, pad_w)), mode="edge").astype(diff_type, copy=False)
    # Every shifted prev is a view into one padded array: windows[sy + search, sx + search] is prev
    # moved by (sx, sy), i.e. prev[y - sy, x - sx].
    prev = np.pad(
        np.asarray(prev, image), ((search, search + pad_h), (search, search + pad_w)), mode="edge"
    )
    windows = np.lib.stride_tricks.sliding_window_view(prev, cur.shape)[::-1, ::-1]  # (S, S, H, W)

    n = 2 * search + 1
    diff = np.empty((n, hg * cell, wg * cell), diff_type)
    row_sums = np.empty((n, n, hg, wg * cell), sum_type)
    # One row of shifts at a time: vectorised over dx and over blocks, while the (n, H, W) temporary
    # stays small at 720p where all n * n shifts at once would not.
    for i in range(n):
        np.subtract(windows[i], cur, out=diff)
        np.abs(diff, out=diff)
        diff.reshape(n, hg, cell, wg * cell).sum(axis=2, dtype=sum_type, out=row_sums[i])   # (n, Hg, W)
    sad = _column_sums(row_sums, cell).astype(np.float32, copy=False)      # (n, n, Hg, Wg)
    _, l1 = _shifts(search)
    sad *= (1 + zero_bias * l1).astype(np.float32)[:, :, None, None]
    return sad


def _shifts(search: int) -> tuple[np.ndarray, np.ndarray]:
    """The shifts ``-search .. search`` of one axis, and the size ``|sy| + |sx|`` of each shift
    ``(n, n)`` over ``(sy, sx)``."""
    shifts = np.arange(-search, search + 1)
    return shifts, np.abs(shifts)[:, None] + np.abs(shifts)[None, :]


def _work_types(prev: np.ndarray, cur: np.ndarray) -> tuple:
    """``(image, difference, sum)`` dtypes of a matching: uint8 frames stay uint8, their differences
    int16 and their sums int32 (the same sums as in float32, for a quarter or half of its memory
    traffic, which is what the matching costs once a decoder has the caches); other frames float32
    throughout. (:func:`coarse_to_fine_motion` halves uint8 frames in integers, rounded, so its
    coarse search may differ from that of the same frames given as floats.)"""
    if prev.dtype == np.uint8 and cur.dtype == np.uint8:
        return np.uint8, np.int16, np.int32
    return np.float32, np.float32, np.float32


def _column_sums(row_sums: np.ndarray, cell: int) -> np.ndarray:
    """``(..., W) -> (..., W / cell)``: sums of ``cell`` adjacent columns, as ``cell`` strided adds:
    numpy reduces a short last axis (reshape(..., cell).sum(-1)) several times slower, and a BLAS
    matmul with a 0/1 matrix is at the mercy of its thread pool."""
    out = row_sums[..., 0::cell].copy()
    for k in range(1, cell):
        out += row_sums[..., k::cell]
    return out


def _best_shift(costs: np.ndarray, search: int) -> np.ndarray:
    """``(2, Hg, Wg)`` float32 ``(dx, dy)`` of each block's least cost in ``costs`` ``(n, n, Hg, Wg)``
    (:func:`_shift_costs`); exact ties go to the smallest shift."""
    n = 2 * search + 1
    shifts, l1 = _shifts(search)
    # Visit shifts in order of |s|, zero first, so argmin's first-minimum rule breaks ties toward 0.
    order = np.argsort(l1, axis=None, kind="stable")
    best = order[np.argmin(costs.reshape(n * n, *costs.shape[2:])[order], axis=0)]   # flat (sy, sx)
    dy, dx = np.divmod(best, n)
    return np.stack([shifts[dx], shifts[dy]]).astype(np.float32)


def coarse_to_fine_motion(
    prev: np.ndarray, cur: np.ndarray, cell: int, search: int, *, zero_bias: float = 0.02
) -> np.ndarray:
    """Block matching in whole pixels of ``prev``/``cur`` over a radius of ``2 * search + 1``, at a
    fraction of :func:`block_motion`'s cost at that resolution. Same arguments, result and
    conventions as :func:`block_motion`; ``cell`` must be even.

    1. **Coarse.** Both frames averaged over 2x2 pixels, blocks of ``cell / 2`` matched exhaustively
       within ``search``, each block's costs joined by its neighbours' where it is ambiguous
       (:func:`_with_neighbours`).
    2. **Fine.** Each block at full resolution tries the 9 shifts within one pixel of twice its
       coarse shift (its own biased SAD, as :func:`block_motion`), and keeps the least; exact ties
       go to the smallest shift.

    Against :func:`block_motion` at full resolution with radius ``2 * search``, this evaluates
    ``(2 * search + 1)**2`` shifts over a quarter of the pixels and 9 over all of them, instead of
    ``(4 * search + 1)**2`` (81 for radius 4) over all. Like :func:`block_motion` it moves a
    block only by whole pixels, so a block that did not change stays at 0.
    """
    if cell % 2:
        raise ValueError(f"cell must be even, got {cell}")
    h, w = cur.shape
    hg, wg = -(-h // cell), -(-w // cell)
    pad = ((0, hg * cell - h), (0, wg * cell - w))
    image = _work_types(prev, cur)[0]
    prev = np.pad(np.asarray(prev, image), pad, mode="edge")
    cur = np.pad(np.asarray(cur, image), pad, mode="edge")
    costs = _with_neighbours(_shift_costs(_half_size(prev), _half_size(cur), cell // 2, search, zero_bias))
    coarse = 2 * _best_shift(costs, search).astype(np.int64)                # (2, Hg, Wg), fine pixels
    return _refine(prev, cur, coarse, cell, zero_bias)


def _with_neighbours(own: np.ndarray) -> np.ndarray:
    """Costs ``(n, n, Hg, Wg)`` of blocks joined by their neighbours' where they are ambiguous: twice
    a block's own plus those of the 8 blocks around it (edge blocks repeat the edge) weighted by
    ``1 - contrast``, ``contrast = (mean - min) / mean`` of its own costs over the shifts. A flat or
    noisy block, whose costs hardly differ, takes the motion around it (as an encoder's skipped
    blocks take their neighbours' vectors); a textured one with a clear match keeps its own, so
    that a small object's motion is not smoothed away."""
    n2, hg, wg = own.shape[0] * own.shape[1], own.shape[2], own.shape[3]
    per_shift = own.reshape(n2, hg, wg)
    mean = per_shift.mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ambiguity = np.where(mean > 0, per_shift.min(axis=0) / mean, 1.0).astype(np.float32)  # 1 - contrast
    padded = np.pad(own, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    around = np.zeros_like(own)
    for i in range(3):
        for j in range(3):
            if (i, j) != (1, 1):
                around += padded[:, :, i:i + hg, j:j + wg]
    return 2 * own + ambiguity * around


def _half_size(image: np.ndarray) -> np.ndarray:
    """The mean of each 2x2 pixels of an image of even sides (strided adds: numpy's mean over two
    short axes is several times slower); uint8 images give uint8, rounded."""
    if image.dtype == np.uint8:
        out = image[0::2, 0::2].astype(np.uint16)
        out += image[1::2, 0::2]
        out += image[0::2, 1::2]
        out += image[1::2, 1::2]
        out += 2
        out >>= 2
        return out.astype(np.uint8)
    out = image[0::2, 0::2] + image[1::2, 0::2]
    out += image[0::2, 1::2]
    out += image[1::2, 1::2]
    out *= np.float32(0.25)
    return out


def _refine(prev: np.ndarray, cur: np.ndarray, centre: np.ndarray, cell: int, zero_bias: float) -> np.ndarray:
    """:func:`coarse_to_fine_motion`'s second step: frames of ``(Hg * cell, Wg * cell)``, and each
    block's best of the 9 shifts within one pixel of ``centre`` ``(2, Hg, Wg)`` (integers)."""
    hg, wg = centre.shape[1:]
    w = cur.shape[1]
    cx, cy = centre
    _, diff_type, sum_type = _work_types(prev, cur)
    r = int(np.abs(centre).max()) + 1
    padded = np.pad(prev, r, mode="edge")
    # Row segments of `cell` pixels of prev: segments[k] starts at flat index k of the padded frame.
    segments = np.lib.stride_tricks.sliding_window_view(padded.ravel(), cell)
    # Each block's rows of prev moved by its centre shift, with a row more above and below:
    # first[i, y, j] is the flat index of padded prev at (i * cell + y - cy - 1 + r, j * cell - cx + r).
    first = ((np.arange(hg)[:, None, None] * cell + np.arange(cell + 2)[None, :, None] - cy[:, None, :] - 1 + r) * padded.shape[1]
             + (np.arange(wg)[None, None, :] * cell - cx[:, None, :] + r))
    blocks = cur.reshape(hg, cell, w).astype(diff_type, copy=False)
    diff = np.empty((hg, cell, w), diff_type)
    best_cost = np.full((hg, wg), np.inf, np.float32)
    best_l1 = np.zeros((hg, wg), np.int64)
    best = np.zeros((2, hg, wg), np.int64)
    for ex in (0, -1, 1):
        # prev at x - (cx + ex): the blocks' segments moved by ex, gathered as frame rows
        # (Hg, cell + 2, W), so that the work below runs along whole rows.
        shifted = segments[first - ex].reshape(hg, cell + 2, w)
        for ey in (0, -1, 1):
            # prev at y - (cy + ey) is row y - cy - ey, row (y - cy - 1) + (1 - ey) of `shifted`.
            np.subtract(shifted[:, 1 - ey:1 - ey + cell], blocks, out=diff)
            np.abs(diff, out=diff)
            sad = _column_sums(diff.sum(axis=1, dtype=sum_type), cell)           # (Hg, Wg)
            sx, sy = cx + ex, cy + ey
            l1 = np.abs(sx) + np.abs(sy)
            cost = sad.astype(np.float32) * (1 + zero_bias * l1).astype(np.float32)
            # The least cost wins; an equal cost goes to the smaller shift (the first tried of
            # equal cost and size: none, they differ in ex or ey).
            better = (cost < best_cost) | ((cost == best_cost) & (l1 < best_l1))
            best_cost = np.where(better, cost, best_cost)
            best_l1 = np.where(better, l1, best_l1)
            best[0] = np.where(better, sx, best[0])
            best[1] = np.where(better, sy, best[1])
    return best.astype(np.float32)


def warp(prev: np.ndarray, motion: np.ndarray, scale: float, *, cell: int = 16) -> np.ndarray:
    """Move ``prev`` ``(..., h, w)`` along an MD grid ``(2, Hg, Wg)``; returns float32 ``(..., h, w)``.

    ``motion`` is in source-video pixels on a grid of ``cell`` source pixels (the codec's
    macroblocks); ``scale`` is reduced / source resolution, so a cell spans ``cell * scale`` output
    pixels and a vector ``(dx, dy)`` moves content by ``(dx, dy) * scale`` of them. The grid is
    upsampled piecewise-constant, as the codec applies it, and output pixel ``(x, y)`` takes ``prev``
    at ``(x - dx * scale, y - dy * scale)``, bilinearly, with coordinates clamped to the frame.
    Zero motion returns ``prev`` exactly.
    """
    h, w = prev.shape[-2:]
    hg, wg = motion.shape[-2:]
    # Grid cell of each output pixel, from its centre in source coordinates; pixels per cell as
    # repeat counts (np.repeat copies runs, cheaper than a per-pixel gather).
    gy = np.minimum(((np.arange(h) + 0.5) / (scale * cell)).astype(np.intp), hg - 1)
    gx = np.minimum(((np.arange(w) + 0.5) / (scale * cell)).astype(np.intp), wg - 1)
    shift = (
        np.asarray(motion, np.float32)
        .repeat(np.bincount(gy, minlength=hg), axis=1)
        .repeat(np.bincount(gx, minlength=wg), axis=2)
    )                                                                            # (2, h, w)
    shift *= np.float32(scale)                                                   # output pixels

    # In-place arithmetic below keeps the temporaries few: this runs per frame, and at these sizes
    # fresh allocations cost page faults (glibc hands freed heap back to the OS) more than the maths.
    sx, sy = shift[0], shift[1]                                                  # (h, w) each
    np.subtract(np.arange(w, dtype=np.float32), sx, out=sx)
    np.subtract(np.arange(h, dtype=np.float32)[:, None], sy, out=sy)
    np.clip(shift, 0, np.array([w - 1, h - 1], np.float32)[:, None, None], out=shift)
    base = np.floor(shift)
    shift -= base                                                                # fractions (fx, fy)
    fx, fy = shift[0], shift[1]
    x0 = base[0].astype(np.intp)
    y0 = base[1].astype(np.intp)
    right = x0 < w - 1                            # the clamped last column is its own neighbour
    down = (y0 < h - 1) * w
    idx = y0 * w                                   # flat index of the top-left neighbour
    idx += x0

    # np.take on flat indices: several times faster than fancy indexing with two index arrays.
    flat = np.asarray(prev, np.float32).reshape(-1, h * w)                      # (C, h*w)
    top = np.take(flat, idx, axis=1)                                             # (C, h, w)
    idx += right
    top_right = np.take(flat, idx, axis=1)
    idx += down
    bottom_right = np.take(flat, idx, axis=1)
    idx -= right
    bottom = np.take(flat, idx, axis=1)
    # p + f * (q - p) rather than (1 - f) * p + f * q: exactly p when f == 0, so zero motion is
    # the identity.
    top_right -= top
    top_right *= fx
    top += top_right
    bottom_right -= bottom
    bottom_right *= fx
    bottom += bottom_right
    bottom -= top
    bottom *= fy
    top += bottom
    return top.reshape(prev.shape)


def motion_compensated_residual(
    prev: np.ndarray, cur: np.ndarray, motion: np.ndarray, scale: float, *, cell: int = 16
) -> np.ndarray:
    """RGB-R of section 3.3.1: ``cur - warp(prev, motion, scale)``, float32 ``(..., h, w)``, signed.

    ``prev`` and ``cur`` are frames at reduced resolution (any intensity scale, e.g. uint8 RGB as
    ``(3, h, w)``); ``motion`` and ``scale`` as in :func:`warp`. With zero motion this is exactly the
    frame difference ``cur - prev``.
    """
    return np.asarray(cur, np.float32) - warp(prev, motion, scale, cell=cell)
