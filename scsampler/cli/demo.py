"""``scsampler demo``: the main job on the built-in data, start to finish.

Generates the ``small`` preset, trains the clip classifier, extracts the cheap features, trains a
visual sampler (ResNet-18 on MD and RGB-R, AC loss) and an audio sampler (VGG on log-mel, SAL-RANK),
runs the benchmark (baselines, both samplers and the audio-visual combinations), prints the
comparison table at K=10 and writes one test video's report. With ``--pretrained`` (e.g. the
classifier ``benchmarks/baselines.py`` pretrains) the classifier is fine-tuned from those weights
instead of trained from scratch, and the comparison means something: a from-scratch classifier
that fits the demo's 15 minutes stays near chance. Every stage caches its result in
``--out`` and the data folder, so a rerun only does what changed; it prints how long each stage took.
"""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path

log = logging.getLogger(__name__)


def add_parser(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="the main job on built-in data: generate, train classifier and samplers, benchmark, report",
        description="Generate the small synthetic benchmark, train the clip classifier and the visual and audio "
        "samplers, compare every selection strategy and write one video's report. Cached stage by stage.",
    )
    p.add_argument("--out", default="runs/demo", help="run folder (default runs/demo)")
    p.add_argument("--data", help="data folder (default: OUT/data, generated from the small preset)")
    p.add_argument("--workers", type=int, default=2, help="processes for generating and extracting (default 2)")
    p.add_argument("--pretrained", help="start the classifier from these weights (safetensors), e.g. the pretrained run of "
                   "benchmarks/baselines.py (runs/pretrain/model.safetensors), and fine-tune it at a low rate")
    p.add_argument("--classifier-epochs", type=int, help="default 4 from scratch, 2 with --pretrained")
    p.add_argument("--sampler-epochs", type=int, default=2, help="default 2")
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.cli.main import main as cli
    from scsampler.data.synthetic import PRESETS, generate
    from scsampler.engine.classifier import ClassifierTrainConfig, fit
    from scsampler.engine.sampler import SamplerTrainConfig, fit_sampler
    from scsampler.benchmark.run import BenchmarkConfig, default_strategies, run_benchmark
    from scsampler.selectors import SELECTORS
    from scsampler.reports.tables import accuracy_table, timing_table

    progress = sys.stderr.isatty()
    out = Path(args.out)
    data = Path(args.data) if args.data else out / "data"
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
    classifier = stage("train classifier", lambda: fit(ClassifierTrainConfig(
        data=str(data), out=str(out / "classifier"), model="r2plus1d_18", frames=4, resize=(48, 60), crop=(48, 48),
        epochs=args.classifier_epochs or (2 if args.pretrained else 4), pretrained=args.pretrained,
        lr=3e-4 if args.pretrained else 2e-3), progress=progress))
    common = dict(data=str(data), classifier=str(classifier), epochs=args.sampler_epochs, workers=args.workers,
                  train_frames_per_clip=1)
    visual = stage("train visual sampler", lambda: fit_sampler(SamplerTrainConfig(
        out=str(out / "sampler-visual"), modality="visual", features=("md", "rgbr"), loss="ac", **common), progress=progress))
    audio = stage("train audio sampler", lambda: fit_sampler(SamplerTrainConfig(
        out=str(out / "sampler-audio"), modality="audio", loss="sal-rank", **common), progress=progress))
    samplers = {"visual": str(visual), "audio": str(audio)}
    # Every selector but those fitted on the training videos' dense scores (a second dense pass).
    strategies = tuple(s for s in default_strategies(samplers) if "priors" not in SELECTORS.get(s, SELECTORS["uniform"]).options)
    results = stage("benchmark", lambda: run_benchmark(BenchmarkConfig(
        data=str(data), classifier=str(classifier), out=str(out / "benchmark"), strategies=strategies,
        samplers=samplers, ks=(1, 2, 5, 10), timing_videos=4), progress=progress))
    test_video = next(p for p in sorted((data / "videos").glob("test_*.mp4")))
    stage("report", lambda: cli([
        "predict", str(test_video), "--classifier", str(classifier), "--sampler", str(visual), "--audio-sampler", str(audio),
        "--k", "10", "--out", str(out / "predict.jsonl"), "--report", str(out / "report")]))

    print(f"\nTest videos: {results['test_videos']}, {results['mean_clips_per_video']:.1f} clips each; K = 10\n")
    print(accuracy_table(results, k=10))
    print()
    print(timing_table(results))
    print("\nStages: " + ", ".join(f"{k} {v:.0f} s" for k, v in seconds.items()))
    print(f"Benchmark: {out / 'benchmark' / 'results.md'}; report of {test_video.name}: {out / 'report' / 'index.html'}")
    return 0
