"""The baseline benchmark end to end: generate the data, train the classifier, dense scoring and
every baseline strategy, each stage timed and cached (a rerun only does what changed).

    python benchmarks/baselines.py --data data/default --run runs/default [--docs docs/results.md]
    python benchmarks/baselines.py --quick --data data/small --run runs/small     # the small preset, a few minutes

The classifier is R(2+1)D-18 at 4 frames of 48 x 48 per 1-second clip. As the paper's classifiers
start from a large labelled set, ours is first trained on the ``pretrain`` preset (1,320 trimmed
clips of the same actions, in scenes of their own: ``--pretrain-data``), then fine-tuned with the
paper's protocol (10 random 2-second segments per training video) at a low learning rate; see
docs/results.md for why. Writes ``<run>/benchmark/results.json`` and, with ``--docs``, the table
into the docs.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

from scsampler.data.synthetic import PRESETS, generate
from scsampler.engine.classifier import ClassifierTrainConfig, fit
from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
from scsampler.reports.tables import accuracy_table, replace_block, timing_table


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--run", type=Path, required=True)
    ap.add_argument("--quick", action="store_true", help="the small preset (a few minutes once the pretrained classifier exists)")
    ap.add_argument("--epochs", type=int, help="fine-tuning epochs (default 2)")
    ap.add_argument("--pretrain-data", type=Path, default=Path("data/pretrain"), help="where the pretrain preset is generated")
    ap.add_argument("--pretrain-run", type=Path, default=Path("runs/pretrain"),
                    help="the pretrained classifier's run (shared by --quick and the full run; trained once)")
    ap.add_argument("--pretrain-epochs", type=int, default=8)
    ap.add_argument("--no-pretrain", action="store_true", help="train from scratch (the calibration runs 1-6)")
    ap.add_argument("--device", default="cpu", help="where the classifier trains and runs (timings in the docs: cpu)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--docs", type=Path)
    ap.add_argument("--tag", default="baselines-default")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    preset = "small" if args.quick else "default"
    epochs = args.epochs or (6 if args.no_pretrain else 2)
    seconds: dict[str, float] = {}
    progress = sys.stderr.isatty()

    net = dict(model="r2plus1d_18", frames=4, resize=(48, 60), crop=(48, 48), device=args.device)
    pretrained = None
    if not args.no_pretrain:
        t0 = time.perf_counter()
        generate(PRESETS["pretrain"], args.pretrain_data, seed=1, workers=args.workers, progress=progress)
        seconds["generate pretrain"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        run = fit(ClassifierTrainConfig(data=str(args.pretrain_data), out=str(args.pretrain_run), segments_per_video=1,
                                        epochs=args.pretrain_epochs, **net), progress=progress)
        pretrained = str(run / "model.safetensors")
        seconds["pretrain classifier"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    generate(PRESETS[preset], args.data, seed=0, workers=args.workers, progress=progress)
    seconds["generate"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    classifier = fit(ClassifierTrainConfig(
        data=str(args.data), out=str(args.run / "classifier"), epochs=epochs, pretrained=pretrained,
        lr=2e-3 if args.no_pretrain else 3e-4, **net), progress=progress)
    seconds["train classifier"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    results = run_benchmark(BenchmarkConfig(
        data=str(args.data), classifier=str(classifier), out=str(args.run / "benchmark"), ks=(1, 2, 5, 10, 20),
        timing_videos=8, device=args.device), progress=progress)
    seconds["benchmark"] = time.perf_counter() - t0
    results["pipeline_seconds"] = seconds
    (args.run / "benchmark" / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    stages = ", ".join(f"{k} {v / 60:.1f} min" for k, v in seconds.items())
    inner = ", ".join(f"{k} {v / 60:.1f} min" for k, v in results["stage_seconds"].items())
    curve = json.loads((Path(classifier) / "curve.json").read_text())
    text = (f"{results['test_videos']} test videos, {results['mean_clips_per_video']:.1f} clips each on average, "
            f"{100 * results['salient_share_of_clips']:.1f}% of clips salient; training clip accuracy after the last epoch "
            f"{curve[-1]['clip_accuracy']:.2f}.\n\n"
            f"{accuracy_table(results)}\n\nWall time per video ({results['timing'][0]['videos']} test videos, each strategy "
            f"run as a user runs it):\n\n{timing_table(results)}\n\nStages: {stages} (benchmark: {inner}).")
    print(text)
    if args.docs:
        shutil.copyfile(args.run / "benchmark" / "results.json", args.docs.parent / "results" / f"{args.tag}.json")
        replace_block(args.docs, args.tag, text, f"### {args.tag}")


if __name__ == "__main__":
    main()
