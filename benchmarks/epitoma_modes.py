"""VideoEpitoma stand-alone against end-to-end: which timesteps each gate keeps (the paper's Figure 5).

    python benchmarks/epitoma_modes.py --data data/default --classifier runs/pretrain \\
        --run standalone=runs/epitoma --run end-to-end=runs/epitoma-e2e --out runs/epitoma-modes \\
        [--k 10] [--videos 0] [--plot-videos 4] [--docs docs/results.md --tag epitoma-modes]

On the test split, from the benchmark's caches (cheap features and the concept scores of each run,
the dense probabilities of ``--classifier``), every run's test-time gate over all of a video's clips:

- **kept share**: the timesteps the gate keeps (value >= 0.5) as a share of the candidates, against
  the budget the run was trained toward;
- **kept in action**: the share of the kept timesteps' time inside the video's labelled segments
  (``segments.json``), and the share of all clips that lie there (what a blind pick gets);
- **top-1 at K**: the classifier's mean probability over the K highest-valued timesteps, as the
  benchmark's row of the selector; and the run's own head (``config.json``'s test evaluation: the
  light features in stand-alone mode, the clip classifier's features in end-to-end mode);
- between each pair of runs, the **overlap** of their kept sets (Jaccard, per video, averaged) and of
  their K picks, and the correlation of their gate values.

The plot (``OUT/gates.png``) draws, for the first ``--plot-videos`` test videos, each run's gate value
over time with the labelled segments shaded, as the paper's Figure 5 does for its two modes.
Writes ``OUT/results.json`` and the table (``OUT/epitoma_modes.md``; with ``--docs``, into that file's
``--tag`` block).
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np
import torch

from scsampler.benchmark.metrics import salient_overlap
from scsampler.benchmark.scores import CachedVideo, scorer_scores
from scsampler.data.classes import dataset_paths
from scsampler.data.manifest import read_manifest
from scsampler.engine.sampler import default_cache
from scsampler.files import atomic_write_text
from scsampler.pipeline.video import shared_extractor
from scsampler.reports.tables import publish
from scsampler.runtime.classifier import load_classifier
from scsampler.runtime.dense import dense_scores
from scsampler.selectors import load_selector
from scsampler.selectors.epitoma import EpitomaSelector


def gates_of(selector: EpitomaSelector, classifier, test, dense, cache: Path, k: int) -> dict[str, dict]:
    """Per test video: the gate value of every clip and the K clips chosen."""
    scores = {}
    for scorer in selector.scorers.values():
        scores[scorer.key], _ = scorer_scores(scorer, shared_extractor({"epitoma": scorer}, classifier), test, cache,
                                              progress=sys.stderr.isatty())
    out = {}
    for e in test:
        if e.video_id not in dense or any(e.video_id not in scores[s.key] for s in selector.scorers.values()):
            continue
        view = CachedVideo(e.video_id, dense[e.video_id].probs, label=None, generator=None, scores=scores)
        choice = selector.select(view, k)
        out[e.video_id] = {"gate": choice.scores["gate"], "chosen": choice.indices}
    return out


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def measure(args) -> dict:
    torch.set_num_threads(1)
    manifest, _ = dataset_paths(args.data)
    cache = Path(args.cache) if args.cache else default_cache(args.data)
    classifier = load_classifier(args.classifier)
    test = read_manifest(manifest, split="test")
    if args.videos:
        test = test[: args.videos]
    segments = json.loads((manifest.parent / "segments.json").read_text())
    dense, _ = dense_scores(classifier, test, cache, progress=sys.stderr.isatty())
    index = {c: i for i, c in enumerate(classifier.classes)}
    clip_s = float(classifier.grid.clip_duration)
    runs, gates = {}, {}
    for name, run in args.run:
        selector = load_selector(run)
        if not isinstance(selector, EpitomaSelector):
            raise SystemExit(f"error: {run}: not a train-epitoma run")
        config = json.loads((Path(run) / "config.json").read_text())
        gates[name] = gates_of(selector, classifier, test, dense, cache, args.k)
        videos = [e for e in test if e.video_id in gates[name]]
        kept_share, kept_action, right = [], [], []
        for e in videos:
            g = gates[name][e.video_id]
            kept = torch.nonzero(g["gate"] >= 0.5).flatten()
            kept_share.append(len(kept) / int(torch.isfinite(g["gate"]).sum()))
            if len(kept):
                kept_action.append(salient_overlap(kept, clip_s, segments[e.video_id]["segments"]))
            probs = dense[e.video_id].probs[g["chosen"]].mean(0)
            right.append(int(probs.argmax()) in {index[x] for x in e.labels})
        runs[name] = {"run": run, "mode": config.get("mode"), "budget": config.get("budget"), "videos": len(videos),
                      "kept_share": float(np.mean(kept_share)), "kept_in_action": float(np.mean(kept_action)) if kept_action else None,
                      "videos_with_nothing_kept": len(videos) - len(kept_action), "top1_at_k": float(np.mean(right)),
                      "own_head_top1": config.get("evaluation", {}).get("test", {}).get("top1")}
    all_clips = [torch.arange(len(dense[e.video_id].probs)) for e in test]
    action_share = float(np.mean([salient_overlap(c, clip_s, segments[e.video_id]["segments"]) for e, c in zip(test, all_clips)]))
    pairs = []
    for a, b in itertools.combinations(gates, 2):
        common = [v for v in gates[a] if v in gates[b]]
        kept_j, chosen_j, corr = [], [], []
        for v in common:
            ga, gb = gates[a][v]["gate"], gates[b][v]["gate"]
            kept_j.append(jaccard(set(torch.nonzero(ga >= 0.5).flatten().tolist()), set(torch.nonzero(gb >= 0.5).flatten().tolist())))
            chosen_j.append(jaccard(set(gates[a][v]["chosen"].tolist()), set(gates[b][v]["chosen"].tolist())))
            ok = torch.isfinite(ga) & torch.isfinite(gb)
            if ok.sum() > 2 and ga[ok].std() > 0 and gb[ok].std() > 0:
                corr.append(float(np.corrcoef(ga[ok].numpy(), gb[ok].numpy())[0, 1]))
        pairs.append({"runs": [a, b], "videos": len(common), "kept_jaccard": float(np.mean(kept_j)),
                      "chosen_jaccard": float(np.mean(chosen_j)), "gate_correlation": float(np.mean(corr)) if corr else None})
    if args.plot_videos:
        plot(gates, test[: args.plot_videos], segments, clip_s, Path(args.out) / "gates.png")
    return {"config": {"data": str(args.data), "classifier": str(args.classifier), "k": args.k, "videos": len(test)},
            "clips_in_action": action_share, "runs": runs, "pairs": pairs}


def plot(gates: dict, videos, segments: dict, clip_s: float, out: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(videos), 1, figsize=(9, 1.8 * len(videos)), squeeze=False)
    for ax, e in zip(axes[:, 0], videos):
        for seg in segments[e.video_id]["segments"]:
            if seg.get("kind") == "salient":
                ax.axvspan(seg["start_s"], seg["end_s"], color="0.85", lw=0)
        for name in gates:
            if e.video_id in gates[name]:
                g = gates[name][e.video_id]["gate"].numpy()
                ax.plot((np.arange(len(g)) + 0.5) * clip_s, g, label=name, lw=1)
        ax.axhline(0.5, color="0.5", lw=0.5, ls="--")
        ax.set_ylim(0, 1)
        ax.set_ylabel(e.video_id, fontsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds (shaded: the labelled action)")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


def markdown(results: dict) -> str:
    c = results["config"]
    cmd = (f"python benchmarks/epitoma_modes.py --data {c['data']} --classifier {c['classifier']} "
           + " ".join(f"--run {n}={r['run']}" for n, r in results["runs"].items()) + f" --k {c['k']}")
    lines = ["```sh", cmd, "```", "",
             "| run | mode | budget | kept share | kept in action | nothing kept | top-1 at K | own head top-1 |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    pct = lambda x: "-" if x is None else f"{100 * x:.1f}%"
    for name, r in results["runs"].items():
        lines.append(f"| {name} | {r['mode']} | {r['budget']} | {r['kept_share']:.3f} | {pct(r['kept_in_action'])} | "
                     f"{r['videos_with_nothing_kept']} | {pct(r['top1_at_k'])} | {pct(r['own_head_top1'])} |")
    lines += ["", "| runs | kept sets (Jaccard) | K picks (Jaccard) | gate values (correlation) |", "|---|---:|---:|---:|"]
    for p in results["pairs"]:
        corr = "-" if p["gate_correlation"] is None else f"{p['gate_correlation']:.2f}"
        lines.append(f"| {' vs '.join(p['runs'])} | {p['kept_jaccard']:.2f} | {p['chosen_jaccard']:.2f} | {corr} |")
    lines += ["", f"{c['videos']} test videos, K = {c['k']}; {pct(results['clips_in_action'])} of the clips' time lies in "
              "the labelled action. Kept: gate value >= 0.5 at test time; kept in action: the share of the kept "
              "timesteps' time inside the labelled segments (over the videos where the gate kept any); top-1 at K: the "
              "classifier's mean over the K highest-valued timesteps; own head: the run's test evaluation in config.json."]
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--classifier", required=True)
    p.add_argument("--run", action="append", required=True, type=lambda s: tuple(s.split("=", 1)), metavar="NAME=RUN")
    p.add_argument("--out", required=True)
    p.add_argument("--k", type=int, default=10)
    p.add_argument("--videos", type=int, default=0, help="only the first N test videos (0: all)")
    p.add_argument("--plot-videos", type=int, default=4)
    p.add_argument("--cache")
    p.add_argument("--docs", type=Path)
    p.add_argument("--tag", default="epitoma-modes")
    args = p.parse_args(argv)
    if any(len(r) != 2 for r in args.run):
        p.error("--run takes NAME=RUN")
    results = measure(args)
    out = Path(args.out)
    atomic_write_text(out / "epitoma_modes.md", markdown(results) + "\n")
    publish(markdown(results), results=results, out=out / "results.json", docs=args.docs, tag=args.tag)


if __name__ == "__main__":
    main()
