"""``scsampler demo``: the main job on the built-in data, start to finish, in about ten minutes on 2 cores
(twelve on a fresh clone, creating the venv included).

Generates the ``small`` preset (long videos of 6 actions among backgrounds, distractors and noise),
takes a clip classifier that already knows the actions (by default the one shipped in
``scsampler/assets/trimmed-classifier``: trained on trimmed clips only, as a user's Kinetics-style
network is; ``benchmarks/demo_classifier.py`` trains it), trains a visual sampler (ResNet-18s on MD
and RGB-R) and an audio sampler (VGG on log-mel), both with the AC loss, and VideoEpitoma's timestep
gate (stand-alone, on the shipped light network) and Listen to Look (its image-audio student
distilled from the classifier for one epoch, then its skimming policy), and runs the benchmark:
random, uniform, dense, oracle, the training-free selectors, both samplers, the audio-visual
combinations, VideoEpitoma and Listen to Look, with accuracy, GFLOPs and wall time per video, also
timed with R(2+1)D-18 at
16 x 112 x 112 (the cost a user of a paper-size network sees). Prints the comparison at K = 10, a
few sentences computed from it, and the paths of the plot and of the HTML report of a few test
videos with their ground-truth segments drawn. Every stage caches its result in ``--out`` and the
data folder, so a rerun only does what changed; it prints how long each stage took.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job on built-in data: generate, train the samplers, benchmark every selector, report",
        description="Generate the small synthetic benchmark, train the visual and audio samplers, VideoEpitoma's gate and Listen to "
        "Look's student and policy, compare every "
        "selection strategy with a classifier trained on trimmed clips (shipped with scsampler) and write the "
        "report of a few test videos. Cached stage by stage.",
    )
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--data", help="data folder (default: OUT/data, generated from the small preset)")
    p.add_argument("--classifier", metavar="RUN", help="a classifier run directory (default: the trimmed-clip classifier "
                   "shipped with scsampler, trained on the pretrain preset by benchmarks/demo_classifier.py)")
    p.add_argument("--workers", type=int, default=2, help="processes for generating and extracting (default 2)")
    p.add_argument("--sampler-epochs", type=int, default=3, help="default 3")
    p.add_argument("--ltl-epochs", type=_two_epochs, default=(1, 10), metavar="DISTILL,SKIM",
                   help="Listen to Look's epochs: the student's distillation, then the skimming policy (default 1,10: the "
                   "demo's time budget; the command's own defaults are 10,20)")
    p.add_argument("--k", type=int, default=10, help="the K of the comparison table (default 10)")
    p.add_argument("--timing-arch", default="r2plus1d_18",
                   help="also time the pipeline with this network at 16x112x112, untrained (default r2plus1d_18; none: skip)")
    p.add_argument("--report-videos", type=int, default=3, help="test videos in the HTML report (default 3)")
    p.set_defaults(func=run)


def _two_epochs(text: str) -> tuple[int, int]:
    import argparse

    try:
        distill, skim = (int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected two epoch counts, DISTILL,SKIM (e.g. 1,10); got {text!r}") from None
    if min(distill, skim) < 1:
        raise argparse.ArgumentTypeError(f"epoch counts must be at least 1; got {text!r}")
    return distill, skim


def run(args) -> int:
    from scsampler.assets import TRIMMED_CLASSIFIER
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
    from scsampler.cli.main import main as cli
    from scsampler.data.classes import read_classes
    from scsampler.data.synthetic import PRESETS, generate
    from scsampler.engine.epitoma import EpitomaTrainConfig, fit_epitoma
    from scsampler.engine.listen_to_look import DistillConfig, SkimConfig, fit_distill, fit_skim
    from scsampler.engine.sampler import SamplerTrainConfig, fit_sampler
    from scsampler.files import atomic_write_text
    from scsampler.reports.summary import BLIND, REFERENCE, comparison_table, rows_at, what_it_shows

    progress = sys.stderr.isatty()
    out = Path(args.out)
    data = Path(args.data) if args.data else out / "data"
    classifier = Path(args.classifier) if args.classifier else TRIMMED_CLASSIFIER
    seconds: dict[str, float] = {}

    def stage(name, fn):
        t0 = time.perf_counter()
        print(f"[demo] {name} ...", file=sys.stderr, flush=True)
        result = fn()
        seconds[name] = time.perf_counter() - t0
        print(f"[demo] {name}: {seconds[name]:.0f} s", file=sys.stderr, flush=True)
        return result

    if not args.data:
        stage("generate", lambda: generate(PRESETS["small"], data, seed=0, workers=args.workers, progress=progress))
    common = dict(data=str(data), classifier=str(classifier), epochs=args.sampler_epochs, workers=args.workers,
                  train_frames_per_clip=1, loss="ac")
    visual = stage("train visual sampler", lambda: fit_sampler(SamplerTrainConfig(
        out=str(out / "sampler-visual"), modality="visual", features=("md", "rgbr"), **common), progress=progress))
    audio = stage("train audio sampler", lambda: fit_sampler(SamplerTrainConfig(
        out=str(out / "sampler-audio"), modality="audio", **common), progress=progress))
    epitoma = stage("train VideoEpitoma gate", lambda: fit_epitoma(EpitomaTrainConfig(
        data=str(data), classifier=str(classifier), out=str(out / "videoepitoma"), workers=args.workers), progress=progress))
    student = stage("train Listen to Look student", lambda: fit_distill(DistillConfig(
        data=str(data), classifier=str(classifier), out=str(out / "listen-to-look-student"), epochs=args.ltl_epochs[0],
        workers=args.workers), progress=progress))
    ltl = stage("train Listen to Look policy", lambda: fit_skim(SkimConfig(
        data=str(data), student=str(student), out=str(out / "listen-to-look"), epochs=args.ltl_epochs[1], workers=args.workers),
        progress=progress))
    samplers = {"visual": str(visual), "audio": str(audio), "videoepitoma": str(epitoma), "listen-to-look": str(ltl)}
    strategies = ("random", "uniform", "dense", "oracle", "motion-energy", "audio-energy", "visual", "audio",
                  "av-convex-score", "av-convex-list", "av-intersect-list", "av-union-list", "videoepitoma", "listen-to-look")
    big = None if args.timing_arch in (None, "", "none") else args.timing_arch
    results = stage("benchmark", lambda: run_benchmark(BenchmarkConfig(
        data=str(data), classifier=str(classifier), out=str(out / "benchmark"), strategies=strategies,
        samplers=samplers, ks=(1, 2, 5, 10), timing_videos=2, timing_k=args.k, timing_arch=big, timing_arch_videos=1,
        timing_arch_strategies=tuple(s for s in strategies if s not in ("random", "oracle"))), progress=progress))

    # The report: the best of the selectors that look at the video and that predict runs with the visual and audio
    # samplers it is given (a trained selector of its own run, VideoEpitoma or Listen to Look, is not among them).
    looking = set(strategies) - set(BLIND + REFERENCE) - (samplers.keys() - {"visual", "audio"})
    best = max((r for r in rows_at(results, args.k) if r["strategy"] in looking), key=lambda r: r["top1"])
    tests = sorted((data / "videos").glob("test_*.mp4"))[: args.report_videos]
    report = out / "report"
    stage("report", lambda: cli(
        ["predict", *map(str, tests), "--classifier", str(classifier), "--sampler", str(visual), "--audio-sampler", str(audio),
         "--strategy", best["strategy"], "--k", str(args.k), "--out", str(out / "predict.jsonl"), "--report", str(report),
         "--no-progress"] + (["--segments", str(data / "segments.json")] if (data / "segments.json").exists() else [])))

    classes = read_classes(data / "classes.txt")
    table = comparison_table(results, k=args.k)
    sentences = what_it_shows(results, k=args.k, num_classes=len(classes))
    c = results["classifier"]
    head = (f"{results['test_videos']} test videos of {len(classes)} actions, {results['mean_clips_per_video']:.1f} one-second "
            f"clips each on average; classifier {c['name']} ({c['gflops_per_clip']:.2f} GFLOPs per clip) from {classifier}. K = {args.k}.")
    text = f"{head}\n\n{table}\n\n" + "\n".join(f"- {s}" for s in sentences) + "\n"
    atomic_write_text(out / "summary.md", text)
    atomic_write_text(out / "stage_seconds.json", json.dumps(seconds, indent=1) + "\n")

    print(f"\n{text}")
    print("Stages: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()) + f"; total {sum(seconds.values()) / 60:.1f} min")
    print(f"\nComparison:  {out / 'summary.md'}")
    print(f"Benchmark:   {out / 'benchmark' / 'results.md'} (every K, picks by segment kind, wall time by stage)")
    print(f"Plot:        {out / 'benchmark' / 'accuracy_vs_gflops.png'}")
    print(f"Report:      {report / 'index.html'} ({len(tests)} test videos, {best['strategy']}, ground-truth segments drawn)")
    return 0
