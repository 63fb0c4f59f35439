"""Train the clip classifier shipped with scsampler for the demo, and measure it.

    python benchmarks/demo_classifier.py [--classes-of small] [--epochs 40] [--width 48] [--install] [--docs docs/results.md]

A small (2+1)D network (``classifier_tiny``, about 360 thousand parameters at width 48, a
1.4 MB safetensors file) trained on the ``pretrain`` preset's trimmed clips only (a few seconds of
one action each, in a scene of its own; 100 training clips a class), as a user's Kinetics-style
classifier is trained on trimmed clips. With ``--classes-of small`` (the demo's) only the clips of
that preset's classes: the demo's 6 actions, as a user's classifier covers the actions of their
videos. It never sees a long video, a background segment or the demo's data. Its input: 4 frames
of 48 x 48 per one-second clip.

Why this size: it must train in minutes on 2 cores (so anyone can rebuild it with this command) and
keep the repository light, while knowing the actions well enough for the demo to show the effect
the project is about: dense evaluation polluted by the background clips a trimmed-clip classifier
has never seen. Writes ``<run>`` (the training run), the trimmed test-split accuracy to
``<run>/eval/results.json`` and, with ``--install``, copies the checkpoint (config.json,
model.safetensors, classes.txt) into ``scsampler/assets/trimmed-classifier``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
from pathlib import Path

from scsampler.assets import TRIMMED_CLASSIFIER
from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
from scsampler.data.classes import read_classes, write_classes
from scsampler.data.manifest import read_manifest, write_manifest
from scsampler.data.synthetic import PRESETS, generate
from scsampler.engine.classifier import ClassifierTrainConfig, fit
from scsampler.reports.tables import publish

SHIPPED = ("config.json", "model.safetensors", "classes.txt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pretrain-data", type=Path, default=Path("data/pretrain"))
    ap.add_argument("--run", type=Path, default=Path("runs/demo-classifier"))
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--classes-of", choices=sorted(PRESETS), help="train on the clips of this preset's classes only "
                    "(the demo: small); default all 12")
    ap.add_argument("--width", type=int, default=48, help="channels of the first block (x2, x4 in the next two)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--install", action="store_true", help="copy the trained checkpoint into scsampler/assets/trimmed-classifier")
    ap.add_argument("--docs", type=Path)
    ap.add_argument("--tag", default="demo-classifier")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    progress = sys.stderr.isatty()

    generate(PRESETS["pretrain"], args.pretrain_data, seed=1, workers=args.workers, progress=progress)
    data = args.pretrain_data
    if args.classes_of:
        data = subset(args.pretrain_data, list(PRESETS[args.classes_of].classes))
    run = fit(ClassifierTrainConfig(
        data=str(data), out=str(args.run), model="classifier_tiny", model_kwargs={"width": args.width},
        frames=4, resize=(48, 60), crop=(48, 48), segments_per_video=1, epochs=args.epochs, lr=2e-3), progress=progress)
    results = run_benchmark(BenchmarkConfig(data=str(data), classifier=str(run), out=str(args.run / "eval"),
                                            strategies=("dense",), ks=(1,), timing_videos=0), progress=progress)
    dense = next(r for r in results["rows"] if r["strategy"] == "dense")
    curve = json.loads((Path(run) / "curve.json").read_text())
    size = (Path(run) / "model.safetensors").stat().st_size
    table = (f"classifier_tiny, width {args.width}, {args.epochs} epochs on the pretrain preset's trimmed clips: "
             f"{size / 1e6:.2f} MB of weights, {results['classifier']['gflops_per_clip']:.3f} GFLOPs per clip; "
             f"top-1 on the {results['test_videos']} trimmed test videos (a few seconds of one action each, their "
             f"{results['mean_clips_per_video']:.1f} clips averaged) {100 * dense['top1']:.1f}% (top-5 {100 * dense['top5']:.1f}%, "
             f"{len(read_classes(Path(run) / 'classes.txt'))} classes); training clip accuracy after the last epoch {curve[-1]['clip_accuracy']:.2f}.")
    summary = {"classes_of": args.classes_of, "width": args.width, "epochs": args.epochs, "weights_bytes": size, "test_clips": results["test_videos"],
               "top1": dense["top1"], "top5": dense["top5"], "gflops_per_clip": results["classifier"]["gflops_per_clip"],
               "curve": curve}
    publish(table, results=summary, out=args.run / "summary.json", docs=args.docs, tag=args.tag)
    if args.docs:
        shutil.copyfile(args.run / "summary.json", args.docs.parent / "results" / f"{args.tag}.json")
    if args.install:
        TRIMMED_CLASSIFIER.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED:
            shutil.copyfile(Path(run) / name, TRIMMED_CLASSIFIER / name)
        print(f"installed {', '.join(SHIPPED)} into {TRIMMED_CLASSIFIER}")


def subset(data: Path, classes: list[str]) -> Path:
    """A data folder beside ``data`` whose manifest keeps the videos of ``classes`` only (same files)."""
    out = data.parent / f"{data.name}-{len(classes)}-classes"
    out.mkdir(parents=True, exist_ok=True)
    keep = [{"path": os.path.relpath(e.path, out), "label": e.label, "split": e.split, "duration_s": e.duration_s}
            for e in read_manifest(data / "manifest.csv") if e.label in classes]
    write_manifest(out / "manifest.csv", keep)
    write_classes(out / "classes.txt", classes)
    return out


if __name__ == "__main__":
    main()
