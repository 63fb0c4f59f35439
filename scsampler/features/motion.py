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
    h, w = cur.shape
    hg, wg = -(-h // cell), -(-w // cell)
    pad_h, pad_w = hg * cell - h, wg * cell - w
    cur = np.pad(np.asarray(cur, np.float32), ((0, pad_h), (0, pad_w)), mode="edge")
    # Every shifted prev is a view into one padded array: windows[sy + search, sx + search] is prev
    # moved by (sx, sy), i.e. prev[y - sy, x - sx].
    prev = np.pad(
        np.asarray(prev, np.float32), ((search, search + pad_h), (search, search + pad_w)), mode="edge"
    )
    windows = np.lib.stride_tricks.sliding_window_view(prev, cur.shape)[::-1, ::-1]  # (S, S, H, W)

    n = 2 * search + 1
    diff = np.empty((n, hg * cell, wg * cell), np.float32)
    row_sums = np.empty((n, n, hg, wg * cell), np.float32)
    # One row of shifts at a time: vectorised over dx and over blocks, while the (n, H, W) temporary
    # stays small at 720p where all n * n shifts at once would not.
    for i in range(n):
        np.subtract(windows[i], cur, out=diff)
        np.abs(diff, out=diff)
        diff.reshape(n, hg, cell, wg * cell).sum(axis=2, out=row_sums[i])   # (n, Hg, W)
    # Column sums as `cell` strided adds: numpy reduces a short last axis (reshape(..., cell).sum(-1))
    # several times slower, and a BLAS matmul with a 0/1 matrix is at the mercy of its thread pool.
    sad = row_sums[..., 0::cell].copy()                                     # (n, n, Hg, Wg)
    for k in range(1, cell):
        sad += row_sums[..., k::cell]

    shifts = np.arange(-search, search + 1)
    l1 = np.abs(shifts)[:, None] + np.abs(shifts)[None, :]                  # (n, n) over (sy, sx)
    sad *= (1 + zero_bias * l1).astype(np.float32)[:, :, None, None]
    # Visit shifts in order of |s|, zero first, so argmin's first-minimum rule breaks ties toward 0.
    order = np.argsort(l1, axis=None, kind="stable")
    best = order[np.argmin(sad.reshape(n * n, hg, wg)[order], axis=0)]     # (Hg, Wg), flat (sy, sx)
    dy, dx = np.divmod(best, n)
    return np.stack([shifts[dx], shifts[dy]]).astype(np.float32)


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
