"""What each sampler target ranks first, before any sampler learns it. A diagnostic for issue 17.

    python benchmarks/sampler_targets.py --data data/default --classifier runs/pretrain --split train \\
        --out docs/results/sampler-targets-trimmed-default-f6.json [--docs docs/results.md --tag NAME]

SAL-CL and SAL-RANK learn an order of each video's clips (``train-sampler --target``,
:func:`scsampler.engine.sampler.clip_targets`): the classifier's probability of the true label
(``label``, the paper's), its top probability (``confidence``) or its probability of the video's
dense prediction (``agreement``). A sampler can at best learn its target, so the target's own top K
is the ceiling of what it will pick. From the classifier's cached dense probabilities (scored if
missing) and ``segments.json``, with no sampler at all, this reports per target: the share of the
top K clips' time in the labelled action (``salient`` segments), the video top-1 when those K
clips are averaged, and how often the dense prediction (``agreement``'s anchor) is right.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from scsampler.benchmark.metrics import aggregate, salient_overlap, salient_share, topk_correct
from scsampler.data.classes import dataset_paths
from scsampler.data.manifest import read_manifest
from scsampler.engine.sampler import TARGETS, clip_targets, default_cache
from scsampler.reports.tables import publish
from scsampler.runtime.classifier import load_classifier
from scsampler.runtime.dense import dense_scores
from scsampler.selectors.ranking import select_topk


def audit(data: str, classifier_run: str, split: str = "train", k: int = 10) -> dict:
    manifest, _ = dataset_paths(data)
    segments = json.loads((manifest.parent / "segments.json").read_text())
    classifier = load_classifier(classifier_run)
    entries = read_manifest(manifest, split=split)
    dense, errors = dense_scores(classifier, entries, default_cache(data), progress=False)
    index = {c: i for i, c in enumerate(classifier.classes)}
    clip_s = float(classifier.grid.clip_duration)
    in_action = {t: [] for t in TARGETS}
    top1 = {t: [] for t in TARGETS}
    dense_right, share = [], []
    for e in entries:
        if e.video_id not in dense or e.video_id not in segments:
            continue
        p = dense[e.video_id].probs.float()
        y = index[e.label]
        segs = segments[e.video_id]["segments"]
        dense_right.append(float(topk_correct(p.mean(0), y, 1)))
        share.append(salient_share(len(p), clip_s, segs))
        for t in TARGETS:
            chosen = select_topk(len(p), k, scores=clip_targets(p, t, y))
            in_action[t].append(salient_overlap(chosen, clip_s, segs))
            top1[t].append(float(topk_correct(aggregate(p, chosen), y, 1)))
    return {
        "data": str(data), "classifier": str(classifier_run), "split": split, "k": k, "videos": len(dense_right),
        "dense_top1": float(np.mean(dense_right)), "salient_share_of_clips": float(np.mean(share)),
        "targets": {t: {"top_k_in_action": float(np.mean(in_action[t])), "top_k_top1": float(np.mean(top1[t]))}
                    for t in TARGETS},
        "errors": errors,
    }


def markdown(r: dict) -> str:
    lines = [f"| target | its top {r['k']}: time in the action % | its top {r['k']} averaged: top-1 % |", "|---|---:|---:|"]
    lines += [f"| {t} | {100 * v['top_k_in_action']:.1f} | {100 * v['top_k_top1']:.1f} |" for t, v in r["targets"].items()]
    lines += ["", f"The {r['split']} split of `{r['data']}`, {r['videos']} videos, classifier `{r['classifier']}`: "
              f"{100 * r['salient_share_of_clips']:.1f}% of the clips' time lies in the action; the dense prediction "
              f"(the mean over every clip, `agreement`'s anchor) is right for {100 * r['dense_top1']:.1f}% of the videos."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", required=True)
    ap.add_argument("--classifier", required=True)
    ap.add_argument("--split", default="train", help="the manifest split to audit (default train: what a sampler learns)")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--out", type=Path, required=True, help="results JSON")
    ap.add_argument("--docs", type=Path)
    ap.add_argument("--tag", default="sampler-targets")
    args = ap.parse_args()
    r = audit(args.data, args.classifier, split=args.split, k=args.k)
    publish(markdown(r), results=r, out=args.out, docs=args.docs, tag=args.tag)


if __name__ == "__main__":
    main()
