"""A training set in a mix of codecs, for a sampler that is to transfer to codecs without bitstream vectors.

    python benchmarks/codec_mix.py --data data/default --out runs/codec-mix [--variants hevc,vp9] [--share 0.5]
        [--seed 0] [--workers 2]

Issue 18's last miss: a sampler trained on H.264 alone keeps 83-89% of its gain on HEVC and VP9,
whose motion is the decoded-motion fallback's (block matching), not an encoder's vectors, which it
never saw in training. This script makes the training set that would show it both: a seeded
``--share`` of the training videos of ``--data``, re-encoded with the FFmpeg command line as the
``--variants`` of ``benchmarks/codec_transfer.py`` (in turn, so the variants get equal shares), the
rest as they are, and the test split untouched. It writes ``OUT/manifest.csv`` (absolute paths, the
same labels, splits and durations), ``classes.txt`` beside it, and ``OUT/mix.json`` (which video
became which variant, and the videos FFmpeg failed on, which stay in their original codec). Then:

    scsampler train-sampler --data OUT/manifest.csv --cache DATA/cache --classifier CLASSIFIER --out RUN ...
    python benchmarks/codec_transfer.py --data DATA --classifier CLASSIFIER --sampler RUN --out ...

(``--cache DATA/cache`` reuses the original videos' features and dense scores: the cache is keyed by
a file's content, so the re-encoded ones are extracted and scored anew, through the fallback.)
Resumable: a re-encoded file is kept when it exists. Needs the ``ffmpeg`` command line.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from codec_transfer import VARIANTS, encode  # noqa: E402  (a script beside this one)

from scsampler.cli.args import comma_choices  # noqa: E402
from scsampler.data.cache import content_hash  # noqa: E402
from scsampler.data.classes import dataset_paths  # noqa: E402
from scsampler.data.manifest import ManifestEntry, read_manifest, write_manifest  # noqa: E402
from scsampler.files import atomic_write_text  # noqa: E402


def assign(train: list[ManifestEntry], variants: list[str], share: float, seed: int) -> dict[str, str]:
    """Video id -> variant for a seeded ``share`` of ``train``, the variants in turn."""
    ids = sorted(e.video_id for e in train)
    random.Random(seed).shuffle(ids)
    chosen = ids[: round(share * len(ids))]
    return {vid: variants[i % len(variants)] for i, vid in enumerate(chosen)}


def mix(data: Path, out: Path, variants: list[str], share: float, seed: int, workers: int) -> dict:
    manifest, classes = dataset_paths(data)
    entries = read_manifest(manifest)
    train = [e for e in entries if e.split == "train"]
    if not train:
        raise SystemExit(f"{manifest}: no training videos (split 'train')")
    plan = assign(train, variants, share, seed)
    by_id = {e.video_id: e for e in train}
    # Named by the source's content, as codec_transfer.py names its files: never a stale copy.
    dsts = {vid: out / "videos" / v / f"{Path(vid).stem}-{content_hash(by_id[vid].path)[:12]}.mkv" for vid, v in plan.items()}
    with ThreadPoolExecutor(max(1, workers)) as pool:
        errors = dict(zip(plan, pool.map(lambda vid: encode(by_id[vid].path, dsts[vid], VARIANTS[plan[vid]][1]), plan)))
    failed = {vid: f"ffmpeg: {err}" for vid, err in errors.items() if err is not None}
    rows = []
    for e in entries:
        path = dsts[e.video_id] if e.video_id in plan and e.video_id not in failed and e.split == "train" else e.path
        rows.append({"path": str(Path(path).resolve()), "label": e.label or "", "split": e.split or "",
                     "duration_s": "" if e.duration_s is None else e.duration_s, "labels": list(e.labels)})
    out.mkdir(parents=True, exist_ok=True)
    write_manifest(out / "manifest.csv", rows)
    if classes.is_file():
        shutil.copyfile(classes, out / "classes.txt")
    counts = {v: sum(1 for vid, x in plan.items() if x == v and vid not in failed) for v in variants}
    summary = {"data": str(data), "variants": variants, "share": share, "seed": seed, "train_videos": len(train),
               "re_encoded": counts, "assignment": {vid: v for vid, v in sorted(plan.items()) if vid not in failed},
               "failed": failed}
    atomic_write_text(out / "mix.json", json.dumps(summary, indent=1) + "\n")
    return summary


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True, help="data directory (manifest.csv, classes.txt) or a manifest")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--variants", default="hevc,vp9", help=f"comma-separated, of {', '.join(VARIANTS)} (default hevc,vp9)")
    ap.add_argument("--share", type=float, default=0.5, help="share of the training videos re-encoded (default 0.5)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=1, help="FFmpeg processes at once (one thread each)")
    args = ap.parse_args()
    variants = comma_choices(ap, "--variants", args.variants, VARIANTS)
    if not 0.0 < args.share <= 1.0:
        ap.error("--share must be in (0, 1]")
    if shutil.which("ffmpeg") is None:
        ap.error("needs the ffmpeg command line on PATH")
    summary = mix(args.data, args.out, variants, args.share, args.seed, args.workers)
    print(f"{args.out / 'manifest.csv'}: {summary['train_videos']} training videos, re-encoded {summary['re_encoded']}"
          + (f", {len(summary['failed'])} failed (kept in their codec)" if summary["failed"] else ""))


if __name__ == "__main__":
    main()
