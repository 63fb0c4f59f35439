"""Which clips do cheap cues pick, and what do they show? A shortcut audit of the generated data (issue 20).

    python benchmarks/audit_shortcuts.py --data data/default --out docs/results/audit-shortcuts-default.json \\
        [--split test] [--k 10] [--docs docs/benchmark-data.md --tag audit-shortcuts-default]

A sampler should find the action by what it looks and sounds like, not by a side effect that the
generator happens to tie to it (version 5 put a loud noise burst over masked segments only, so the
loudest seconds of a video were its own action). This script ranks every video's clips (1 s, the
clip grid) by cues a cheap model could latch onto, reading the files themselves:

- ``loudness``: RMS of the decoded sound over the clip;
- ``motion``: mean motion-vector magnitude (the cheap pass's MD, px per frame);
- ``frame difference``: mean absolute difference of consecutive decoded low-res frames;
- ``cut strength``: the largest of those differences in the clip (a shot cut is one large jump).

For each cue it takes every video's top-K clips and reports the share of their time in each kind
of ``segments.json`` (``none``: outside every segment) against that kind's share of the clips (each
video weighted by its number of picks: what K random clips would get), and the ratio of the two. A
ratio far above 1 for the kinds that show the action (salient and masked) is a shortcut.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from scsampler.benchmark.metrics import clip_cover
from scsampler.data.classes import dataset_paths
from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError, VideoError
from scsampler.features.extractor import ExtractorConfig, FeatureStream
from scsampler.io.video import iter_audio, iter_video_frames, small_size
from scsampler.reports.tables import publish

CUES = ("loudness", "motion", "frame difference", "cut strength")
KINDS = ("salient", "masked", "glimpse", "sound_only", "none")
VISIBLE = ("salient", "masked")  # the kinds in which the video's action is on screen
SAMPLE_RATE = 16000


def kind_cover(num_clips: int, clip_s: float, segments: list[dict]) -> np.ndarray:
    """Share of each clip's time in each of :data:`KINDS`, ``(num_clips, len(KINDS))``; rows sum to 1."""
    cover = np.array([[clip_cover(i, clip_s, segments, k) / clip_s for k in KINDS[:-1]] for i in range(num_clips)])
    cover = cover.reshape(num_clips, len(KINDS) - 1)
    return np.concatenate([cover, 1 - cover.sum(axis=1, keepdims=True)], axis=1)


def clip_cues(path: str | Path, small_side: int = 64) -> dict[str, np.ndarray]:
    """Each of :data:`CUES` for every clip of the file's grid, ``{cue: (num_clips,)}``."""
    config = ExtractorConfig(features=("md",))
    stream = FeatureStream(str(path), config)
    # Mean over the clip's P-frames and grid cells of the motion vector's length.
    motion = np.array([float(np.hypot(f.md[:, 0], f.md[:, 1]).mean()) if f.md is not None and len(f.md) else 0.0
                       for f in stream])
    n = len(motion)
    grid, info = config.grid, stream.meta.info
    w, h = small_size(info.width, info.height, small_side)
    diffs: list[list[float]] = [[] for _ in range(n)]
    prev = None
    for fr in iter_video_frames(path, export_mvs=False, resize={"small": (w, h, "all")}):
        img = fr.images["small"].astype(np.float32)
        i = grid.index_of(fr.time)
        if prev is not None and i < n:
            diffs[i].append(float(np.abs(img - prev).mean()))
        prev = img
    clip_n = int(round(float(grid.clip_duration) * SAMPLE_RATE))
    sound = np.zeros(n * clip_n, np.float32)
    for t0, chunk in iter_audio(path, sample_rate=SAMPLE_RATE):
        a = int(round(t0 * SAMPLE_RATE))
        if a < 0:  # sound before the first video frame
            chunk, a = chunk[-a:], 0
        part = chunk[: max(len(sound) - a, 0)]
        sound[a : a + len(part)] = part
    return {
        "loudness": np.sqrt((sound.reshape(n, clip_n) ** 2).mean(axis=1)),
        "motion": motion,
        "frame difference": np.array([np.mean(d) if d else 0.0 for d in diffs]),
        "cut strength": np.array([max(d) if d else 0.0 for d in diffs]),
    }


def top_k(values: np.ndarray, k: int) -> np.ndarray:
    """Indices of the ``min(k, len)`` largest values, largest first (ties: the earlier clip)."""
    return np.argsort(-np.asarray(values, float), kind="stable")[: min(k, len(values))]


def tally(videos: list[tuple[dict[str, np.ndarray], np.ndarray]], k: int) -> dict:
    """Shares of the top-``k`` picks of each cue in each kind, over ``(cues, kind_cover)`` pairs of videos."""
    picked = {c: np.zeros(len(KINDS)) for c in CUES}
    base = np.zeros(len(KINDS))
    n_picks = 0
    for cues, cover in videos:
        m = min(k, len(cover))
        n_picks += m
        base += m * cover.mean(axis=0)
        for c in CUES:
            picked[c] += cover[top_k(cues[c], k)].sum(axis=0)

    def shares(x: np.ndarray) -> dict[str, float]:
        d = {kind: float(v / n_picks) for kind, v in zip(KINDS, x)}
        d["action visible"] = sum(d[kind] for kind in VISIBLE)
        return d

    base_share = shares(base)
    out = {"picks": n_picks, "base": base_share, "cues": {}}
    for c in CUES:
        s = shares(picked[c])
        out["cues"][c] = {"top_k": s, "ratio": {kind: (s[kind] / base_share[kind] if base_share[kind] > 0 else None) for kind in s}}
    return out


def audit(data: str | Path, split: str | None = "test", k: int = 10) -> dict:
    """Read the videos of ``split`` (None: all) of a generated data directory and tally the cues."""
    manifest, _ = dataset_paths(data)
    seg_path = manifest.parent / "segments.json"
    if not seg_path.is_file():
        raise ConfigError(f"{seg_path}: not found (the audit needs the generator's segments.json)")
    segments = json.loads(seg_path.read_text())
    entries = read_manifest(manifest, split=split)
    if not entries:
        raise ConfigError(f"{manifest}: no videos in split {split!r}")
    videos, errors = [], {}
    for e in entries:
        if e.video_id not in segments:
            errors[e.video_id] = "not in segments.json"
            continue
        try:
            cues = clip_cues(e.path)
        except VideoError as err:
            errors[e.video_id] = str(err)
            continue
        clip_s = float(ExtractorConfig().grid.clip_duration)
        videos.append((cues, kind_cover(len(cues["motion"]), clip_s, segments[e.video_id]["segments"])))
    if not videos:
        raise ConfigError(f"{manifest}: no video could be read ({len(errors)} errors)")
    r = {"data": str(data), "split": split or "all", "k": k, "videos": len(videos),
         "clips": int(sum(len(cover) for _, cover in videos)), "kinds": list(KINDS)}
    r.update(tally(videos, k))
    r["errors"] = errors
    return r


def markdown(r: dict) -> str:
    cols = list(KINDS) + ["action visible"]
    lines = [f"{r['videos']} {r['split']} videos, {r['clips']} clips of 1 s; each cue's top {r['k']} clips of every video "
             f"({r['picks']} picks): % of their time in each kind, and that over the kind's share of the clips.", "",
             "| clips | " + " | ".join(cols) + " |", "|---" + "|---:" * len(cols) + "|",
             "| all (share of the clips) | " + " | ".join(f"{100 * r['base'][c]:.1f}" for c in cols) + " |"]
    for cue, v in r["cues"].items():
        cells = [f"{100 * v['top_k'][c]:.1f} ({v['ratio'][c]:.2f}x)" if v["ratio"][c] is not None else f"{100 * v['top_k'][c]:.1f}"
                 for c in cols]
        lines.append(f"| top {r['k']} by {cue} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True, help="generated data directory (manifest.csv, segments.json, videos/)")
    ap.add_argument("--split", default="test", help="videos of this split only; 'all' for every video (default: test)")
    ap.add_argument("--k", type=int, default=10, help="clips each cue picks per video (default: 10)")
    ap.add_argument("--out", type=Path, required=True, help="results JSON")
    ap.add_argument("--docs", type=Path, help="also put the table into this markdown file")
    ap.add_argument("--tag", default="audit-shortcuts", help="name of the table's block in --docs")
    args = ap.parse_args(argv)
    if args.k < 1:
        ap.error(f"--k must be at least 1, got {args.k}")
    try:
        r = audit(args.data, None if args.split == "all" else args.split, args.k)
    except ConfigError as err:
        print(f"audit_shortcuts: error: {err}", file=sys.stderr)
        return 2
    publish(markdown(r), results=r, out=args.out, docs=args.docs, tag=args.tag)
    return 0


if __name__ == "__main__":
    sys.exit(main())
