"""Classifier cost: clip throughput against batch size, and dense vs K=10 uniform per video.

    python benchmarks/classifier_speed.py --data data/default --videos 4 --out docs/results/classifier_speed.json

For R(2+1)D-18 at two inputs: the small one the accuracy benchmark trains (4 x 48 x 48) and the
paper's (16 x 112 x 112). Weights are random (timing does not depend on them). Everything runs in
one process with torch's default threads, so the ratios between rows hold on a noisy machine.
The markdown table in docs/benchmarks.md is regenerated from the JSON (between the classifier markers).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from scsampler.data.manifest import read_manifest
from scsampler.runtime.classifier import ClipClassifier
from scsampler.reports.tables import replace_block
from scsampler.io.decode import DecodeStats
from scsampler.io.grid import ClipGrid
from scsampler.io.video import probe
from scsampler.models import create_model
from scsampler.models.classifier import ClipTransform
from scsampler.selectors import select_uniform

INPUTS = {
    "4x48x48": ClipTransform(frames=4, resize=(48, 60), crop=(48, 48)),
    "16x112x112": ClipTransform(frames=16, resize=(128, 160), crop=(112, 112)),
}


def classifier(transform: ClipTransform, batch_size: int) -> ClipClassifier:
    model = create_model("r2plus1d_18", num_classes=12).eval()
    return ClipClassifier(model=model, transform=transform, grid=ClipGrid(), classes=[str(i) for i in range(12)], name="r2plus1d_18", key="timing", batch_size=batch_size)


def batching(transform: ClipTransform, clips: int) -> dict:
    out = {}
    x = torch.randint(0, 256, (clips, 3, transform.frames, *transform.resize), dtype=torch.uint8)
    for bs in (1, 4, 16, 32):
        clf = classifier(transform, bs)
        clf.probabilities(x[: min(bs, clips)])  # warm-up for this shape
        t0 = time.perf_counter()
        clf.probabilities(x)
        out[bs] = (time.perf_counter() - t0) / clips
    return out


def per_video(transform: ClipTransform, paths: list[Path]) -> dict:
    clf = classifier(transform, 32)
    res = {"dense": {"seconds": 0.0, "frames": 0, "clips": 0}, "uniform-10": {"seconds": 0.0, "frames": 0, "clips": 0}}
    clf.classify_clips(paths[0], [0, 1])  # warm-up
    for path in paths:
        n = clf.grid.num_clips(probe(path).duration)
        for name, idx in (("dense", list(range(n))), ("uniform-10", select_uniform(n, 10).tolist())):
            stats = DecodeStats()
            t0 = time.perf_counter()
            clf.classify_clips(path, idx, stats=stats)
            r = res[name]
            r["seconds"] += time.perf_counter() - t0
            r["frames"] += stats.frames_decoded
            r["clips"] += len(idx)
    for r in res.values():
        for k in ("seconds", "frames", "clips"):
            r[k] /= len(paths)
    return res


def table(results: dict) -> str:
    lines = ["| input | GFLOPs / clip | s / clip at batch 1 | batch 4 | batch 16 | batch 32 | dense s / video | uniform K=10 s / video | dense / uniform |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in results["inputs"].items():
        b = r["batching"]
        d, u = r["per_video"]["dense"], r["per_video"]["uniform-10"]
        lines.append(
            f"| {name} | {r['gflops_per_clip']:.1f} | {b['1']:.3f} | {b['4']:.3f} | {b['16']:.3f} | {b['32']:.3f} | "
            f"{d['seconds']:.1f} | {u['seconds']:.1f} | {d['seconds'] / u['seconds']:.1f}x |"
        )
    lines.append("")
    lines.append(f"Per-video figures: {results['videos']} test videos of `{results['data']}`, {results['mean_clips']:.0f} clips each on average, decode + classify. torch threads: {results['threads']}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("docs/results/classifier_speed.json"))
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"))
    args = ap.parse_args()
    paths = [e.path for e in read_manifest(args.data / "manifest.csv", split="test")[: args.videos]]
    results = {"data": str(args.data), "videos": len(paths), "threads": torch.get_num_threads(), "inputs": {}}
    results["mean_clips"] = sum(ClipGrid().num_clips(probe(p).duration) for p in paths) / len(paths)
    for name, transform in INPUTS.items():
        clf = classifier(transform, 32)
        print(name, flush=True)
        results["inputs"][name] = {
            "gflops_per_clip": clf.flops_per_clip() / 1e9,
            "batching": {str(k): v for k, v in batching(transform, 32).items()},
            "per_video": per_video(transform, paths),
        }
        print(json.dumps(results["inputs"][name], indent=1), flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    command = f"python benchmarks/classifier_speed.py --data {args.data} --videos {args.videos} --out {args.out}"
    replace_block(args.doc, "classifier", f"```sh\n{command}\n```\n\n{table(results)}", "## Classifier cost")
    print(table(results))


if __name__ == "__main__":
    main()
