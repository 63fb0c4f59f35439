"""How close is the decoded-motion fallback to the encoder's own vectors? Both on the same frames.

    python benchmarks/fallback_fidelity.py --data data/default [--videos 8] [--frames 400] [--out FILE.json]
    python benchmarks/fallback_fidelity.py --file VIDEO.mp4 [--file ...] [--frames 400]

HEVC, VP9, AV1 and intra-only files get MD from block matching on decoded frames (``block_motion``,
the extractor's settings), H.264 and MPEG-4 files from the vectors in the bitstream. A sampler trained
on one sees the other at run time (``benchmarks/codec_transfer.py``). This script takes the first
``--videos`` test videos of ``--data`` (files that carry vectors) and, on each P-frame of the first
``--frames`` frames, computes both from the same decoded picture and the one before it: the mean MD
magnitude of each (source pixels per cell), their ratio, the correlation of the two over all cells and
both components, the mean absolute difference, the share of cells where the bitstream moves by a
pixel or more and the fallback finds no motion at all, and the block matching's milliseconds per frame.

Three block matchings are measured: the extractor's (``refined``: the luma at a quarter of the
resolution, 4x4 blocks for the 16x16 cells, radius 2, each ambiguous block's costs joined by its
neighbours', then each block moved by up to a pixel at half the resolution: whole steps of 2 source
pixels up to 10), the one before it (``quarter``: the quarter-resolution search alone, on averaged
RGB, in whole steps of 4 source pixels up to 8), and exhaustive matching at half the resolution
(``half``: 8x8 blocks, radius 4: whole steps of 2 source pixels up to 8).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np

from scsampler.data.classes import dataset_paths
from scsampler.data.manifest import read_manifest
from scsampler.features.extractor import _NO_MVS, HALF_RES_FALLBACK, QUARTER_RES_FALLBACK, ExtractorConfig, fallback_motion, motion_grey
from scsampler.features.motion import rasterize_motion_vectors
from scsampler.io.video import iter_video_frames, probe
from scsampler.reports.tables import publish


# name -> the extractor's settings of that block matching
MATCHINGS = {"refined": ExtractorConfig(), "quarter": ExtractorConfig(**QUARTER_RES_FALLBACK), "half": ExtractorConfig(**HALF_RES_FALLBACK)}


def compare(path: Path, frames: int, matchings: dict) -> dict:
    """The bitstream's MD grids of ``path``'s P-frames and each matching's on the same frames, stacked
    ``(N, 2, Hg, Wg)``, and each matching's seconds."""
    info = probe(path)
    hg, wg = math.ceil(info.height / 16), math.ceil(info.width / 16)
    sizes = {name: c.motion_frames((hg, wg)) for name, c in matchings.items()}  # as the extractor reads them
    prev, grids, seconds = {}, {"bitstream": [], **{n: [] for n in matchings}}, dict.fromkeys(matchings, 0.0)
    for i, fr in enumerate(iter_video_frames(path, resize=sizes)):
        if i >= frames:
            break
        # Grey as the extractor's fallback reads it.
        grey = {n: motion_grey(fr.images[n]) for n in matchings}
        if prev and fr.pict_type == "P":
            grids["bitstream"].append(rasterize_motion_vectors(fr.mvs if fr.mvs is not None else _NO_MVS, info.height, info.width))
            for name, config in matchings.items():
                t0 = time.perf_counter()
                grids[name].append(fallback_motion(prev[name], grey[name], config, (hg, wg)))
                seconds[name] += time.perf_counter() - t0
        prev = grey
    if not grids["bitstream"]:
        return {}
    return {"grids": {n: np.stack(g) for n, g in grids.items()}, "seconds": seconds}


def measure(paths: list[Path], frames: int, matchings: dict) -> dict:
    runs = [r for r in (compare(p, frames, matchings) for p in paths) if r]
    if not runs:
        raise SystemExit("no P-frame with vectors in these videos")
    bit = np.concatenate([r["grids"]["bitstream"] for r in runs])
    mag_bit = np.linalg.norm(bit, axis=1)
    moving = mag_bit >= 1.0
    out = {"videos": len(runs), "p_frames": len(bit), "cells": int(mag_bit.size),
           "bitstream_mean_md_px": float(mag_bit.mean()), "cells_moving_1px_or_more": float(moving.mean()), "matchings": {}}
    for name, config in matchings.items():
        fall = np.concatenate([r["grids"][name] for r in runs])
        mag = np.linalg.norm(fall, axis=1)
        out["matchings"][name] = {
            **config.fallback, "mean_md_px": float(mag.mean()),
            "over_bitstream": float(mag.mean() / mag_bit.mean()) if mag_bit.mean() > 0 else None,
            "correlation": float(np.corrcoef(bit.ravel(), fall.ravel())[0, 1]),
            "mean_abs_difference_px": float(np.abs(bit - fall).mean()),
            "still_where_bitstream_moves": float((mag[moving] == 0).mean()) if moving.any() else None,
            "ms_per_frame": 1000 * sum(r["seconds"][name] for r in runs) / len(bit),
        }
    return out


def describe(m: dict) -> str:
    return f"{m['cell']}x{m['cell']} blocks, radius {m['search']}" + (f", refined at {2 * m['cell']}x{2 * m['cell']}" if m.get("refine") else "")


def markdown(r: dict) -> str:
    names = list(r["matchings"])
    m = r["matchings"]

    def row(label, fmt):
        return f"| {label} | " + " | ".join(fmt(m[n]) for n in names) + " |"

    return "\n".join([
        "| block matching | " + " | ".join(f"{n} ({describe(m[n])})" for n in names) + " |",
        "|---|" + "---:|" * len(names),
        row("mean MD (px)", lambda x: f"{x['mean_md_px']:.3f}"),
        row("its mean MD / the bitstream's", lambda x: f"{x['over_bitstream']:.2f}"),
        row("correlation with the bitstream's MD", lambda x: f"{x['correlation']:.2f}"),
        row("mean absolute difference (px)", lambda x: f"{x['mean_abs_difference_px']:.3f}"),
        row("no motion where the bitstream moves 1 px or more", lambda x: f"{100 * x['still_where_bitstream_moves']:.1f}%"),
        row("ms per frame (matching alone)", lambda x: f"{x['ms_per_frame']:.2f}"),
        "", f"{r['videos']} videos of `{r['data']}`, {r['p_frames']} P-frames, {r['cells']} cells. The bitstream's mean MD: "
            f"{r['bitstream_mean_md_px']:.3f} px; it moves by 1 px or more in {100 * r['cells_moving_1px_or_more']:.1f}% of the cells. "
            "The extractor's fallback is `refined`."])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    source = ap.add_mutually_exclusive_group(required=True)
    source.add_argument("--data", help="data directory (manifest.csv with a test split) of files with vectors")
    source.add_argument("--file", type=Path, action="append", metavar="VIDEO",
                        help="a video file with vectors (H.264, MPEG-4) instead of a data directory (repeatable)")
    ap.add_argument("--videos", type=int, default=8, help="the first N test videos of --data (default 8)")
    ap.add_argument("--frames", type=int, default=400, help="frames read per video (default 400)")
    ap.add_argument("--out", type=Path, help="also write the results as JSON")
    ap.add_argument("--docs", type=Path, help="markdown file to put the table into, between the --tag markers")
    ap.add_argument("--tag", default="fallback-fidelity")
    args = ap.parse_args(argv)
    if args.file:
        paths, where = args.file, ", ".join(str(f) for f in args.file)
        command = "python benchmarks/fallback_fidelity.py " + " ".join(f"--file {f}" for f in args.file) + f" --frames {args.frames}"
    else:
        manifest, _ = dataset_paths(args.data)
        paths, where = [e.path for e in read_manifest(manifest, split="test")[: args.videos]], str(args.data)
        command = f"python benchmarks/fallback_fidelity.py --data {args.data} --videos {args.videos} --frames {args.frames}"
    results = {**measure(paths, args.frames, MATCHINGS), "data": where, "frames_per_video": args.frames}
    command += f" --out {args.out}" if args.out else ""
    publish(markdown(results), results=results, out=args.out, docs=args.docs, tag=args.tag, command=command,
            heading="## The fallback's motion against the encoder's")
    return 0


if __name__ == "__main__":
    sys.exit(main())
