"""How much can a perfect saliency detector gain with this classifier? A diagnostic for issue 4.

    python benchmarks/saliency_bound.py --data data/default --classifier runs/default/classifier \\
        --out docs/results/saliency-bound-default.json [--docs docs/results.md --tag saliency-bound-default]
    python benchmarks/saliency_bound.py --compare "R(2+1)D-18=docs/results/saliency-bound-default.json" ... \\
        [--docs docs/results.md --tag NAME]        # one row per classifier, from earlier results files

A sampler can at best find the clips that show the action: the ``salient`` segments of the
generated ground truth (``segments.json``). This script reads the classifier's cached dense
probabilities of the test videos (scored if missing) and reports, with no sampler at all:

- the classifier's per-clip accuracy and confidence by the kind of interval a clip lies in
  (salient, glimpse, masked, sound-only, none);
- video top-1 when the video's prediction averages: every clip (dense), every ground-truth salient
  clip, K random salient clips (mean over trials), the salient clips alone vs the others, and the
  oracle's K (the clips with the highest true-class probability).

If averaging the ground-truth salient clips is no better than dense, no sampler that finds salient
clips can beat dense with this classifier, however good it is: what is missing is a classifier
that is right on the clips that show the action.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from scsampler.data.classes import dataset_paths
from scsampler.data.manifest import read_manifest
from scsampler.engine.sampler import default_cache
from scsampler.runtime.classifier import load_classifier
from scsampler.runtime.dense import dense_scores
from scsampler.benchmark.metrics import aggregate, clip_cover, topk_correct
from scsampler.reports.tables import publish
from scsampler.selectors import select_oracle

KINDS = ("salient", "glimpse", "masked", "sound_only")


def clip_kinds(num_clips: int, clip_s: float, segments: list[dict]) -> list[str]:
    """The kind of interval covering at least half of each clip ("none" where no interval does)."""
    out = []
    for i in range(num_clips):
        cover = {k: clip_cover(i, clip_s, segments, k) for k in KINDS}
        best = max(KINDS, key=lambda k: cover[k])
        out.append(best if cover[best] >= clip_s / 2 else "none")
    return out


def bound(data: str, classifier_run: str, ks=(5, 10, 20), trials: int = 20, seed: int = 0) -> dict:
    manifest, _ = dataset_paths(data)
    segments = json.loads((manifest.parent / "segments.json").read_text())
    classifier = load_classifier(classifier_run)
    test = read_manifest(manifest, split="test")
    dense, errors = dense_scores(classifier, test, default_cache(data), progress=False)
    index = {c: i for i, c in enumerate(classifier.classes)}
    clip_s = float(classifier.grid.clip_duration)
    rng = np.random.default_rng(seed)
    per_kind: dict[str, list[bool]] = {k: [] for k in KINDS + ("none",)}
    confidence: dict[str, list[float]] = {k: [] for k in per_kind}   # max class probability of each clip
    video: dict[str, list[float]] = {"dense": [], "all salient clips": [], "all other clips": []}
    video.update({f"{k} random salient clips": [] for k in ks})
    video.update({f"oracle K={k}": [] for k in ks})
    for e in test:
        if e.video_id not in dense or e.video_id not in segments:
            continue
        p = dense[e.video_id].probs.float()
        y = index[e.label]
        kinds = np.array(clip_kinds(len(p), clip_s, segments[e.video_id]["segments"]))
        right = (p.argmax(1) == y).numpy()
        top = p.max(1).values.numpy()
        for k in per_kind:
            per_kind[k] += right[kinds == k].tolist()
            confidence[k] += top[kinds == k].tolist()

        def correct(rows) -> float:
            return float(topk_correct(aggregate(p, torch.as_tensor(rows)), y, 1))

        sal = np.nonzero(kinds == "salient")[0]
        other = np.nonzero(kinds != "salient")[0]
        video["dense"].append(correct(np.arange(len(p))))
        video["all salient clips"].append(correct(sal) if len(sal) else video["dense"][-1])
        video["all other clips"].append(correct(other) if len(other) else video["dense"][-1])
        for k in ks:
            if len(sal) <= k:
                video[f"{k} random salient clips"].append(video["all salient clips"][-1])
            else:
                video[f"{k} random salient clips"].append(np.mean([correct(rng.choice(sal, k, replace=False)) for _ in range(trials)]))
            video[f"oracle K={k}"].append(correct(select_oracle(len(p), k, scores=p[:, y])))
    return {
        "data": str(data), "classifier": str(classifier_run), "test_videos": len(video["dense"]), "trials": trials,
        "per_clip_accuracy": {k: {"clips": len(v), "top1": float(np.mean(v)) if v else None,
                                  "mean_max_probability": float(np.mean(confidence[k])) if v else None} for k, v in per_kind.items()},
        "classes": len(classifier.classes),
        "video_top1": {k: float(np.mean(v)) for k, v in video.items()},
        "errors": errors,
    }


def markdown(r: dict) -> str:
    lines = [f"| clips in | clips | classifier's per-clip top-1 % | mean max class probability (chance {1 / r['classes']:.2f}) |",
             "|---|---:|---:|---:|"]
    for k, v in r["per_clip_accuracy"].items():
        if v["clips"]:
            lines.append(f"| {k} | {v['clips']} | {100 * v['top1']:.1f} | {v['mean_max_probability']:.2f} |")
    lines += ["", f"| video prediction averages ({r['test_videos']} test videos) | top-1 % |", "|---|---:|"]
    lines += [f"| {k} | {100 * v:.1f} |" for k, v in r["video_top1"].items()]
    return "\n".join(lines)


def compare(runs: list[tuple[str, dict]], k: int = 10) -> str:
    """One row per classifier: what dense, the ground-truth salient clips and the oracle reach, and
    how confident the classifier is on clips with no action (chance is 1 / classes)."""
    lines = [f"| classifier | dense | all salient clips | {k} random salient clips | oracle K={k} | all salient - dense "
             "| per-clip top-1 % on salient clips | mean max probability on clips with no action (chance) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in runs:
        v, c = r["video_top1"], r["per_clip_accuracy"]
        lines.append(f"| {name} | {100 * v['dense']:.1f} | {100 * v['all salient clips']:.1f} "
                     f"| {100 * v[f'{k} random salient clips']:.1f} | {100 * v[f'oracle K={k}']:.1f} "
                     f"| {100 * (v['all salient clips'] - v['dense']):+.1f} | {100 * c['salient']['top1']:.1f} "
                     f"| {c['none']['mean_max_probability']:.2f} ({1 / r['classes']:.2f}) |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data")
    ap.add_argument("--classifier")
    ap.add_argument("--out", type=Path, help="results JSON")
    ap.add_argument("--trials", type=int, default=20)
    ap.add_argument("--compare", nargs="+", metavar="NAME=RESULTS_JSON",
                    help="tabulate earlier results files instead, one row per classifier")
    ap.add_argument("--docs", type=Path)
    ap.add_argument("--tag", default="saliency-bound")
    args = ap.parse_args()
    if args.compare:
        publish(compare([(n, json.loads(Path(f).read_text())) for n, _, f in (s.partition("=") for s in args.compare)]),
                docs=args.docs, tag=args.tag)
    else:
        if not (args.data and args.classifier and args.out):
            ap.error("--data, --classifier and --out are required (or --compare)")
        r = bound(args.data, args.classifier, trials=args.trials)
        publish(markdown(r), results=r, out=args.out, docs=args.docs, tag=args.tag)


if __name__ == "__main__":
    main()
