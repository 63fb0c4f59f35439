"""Diagnostic for the benchmark's calibration: can the classifier learn the classes at all?

    python benchmarks/diagnose_classifier.py --data data/small --out runs/diag_salient [--segments 10 --epochs 8]

Trains exactly as ``scsampler train-classifier`` does, except that the training segments are taken
from the *visually informative* intervals of the training videos (``salient`` and ``masked`` in
``segments.json``) instead of at random, then benchmarks random / uniform / dense / oracle on the
test split. If the test accuracy stays at chance even so, the classifier is not failing because of
label noise (most random segments show no action) but because it cannot generalise from the
training set. Not the paper's protocol: a tool to find out why the protocol's classifier fails.
"""

from __future__ import annotations

import argparse
import json
import logging
from fractions import Fraction
from pathlib import Path

import numpy as np

from scsampler.engine import classifier as engine
from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
from scsampler.reports.tables import accuracy_table


def informative_segments(segments_json: dict):
    def sample(entries, n, length_s, seed):
        rng = np.random.default_rng(seed)
        length = Fraction(length_s).limit_denominator(100)
        out = []
        for e in entries:
            shown = [s for s in segments_json[e.video_id]["segments"] if s["kind"] in ("salient", "masked")]
            segs = []
            for _ in range(n):
                s = shown[rng.integers(len(shown))]
                start = max(0.0, (s["start_s"] + s["end_s"]) / 2 - length_s / 2)
                start = Fraction(int(start * 16), 16)
                segs.append((start, start + length))
            out.append(sorted(segs))
        return out

    return sample


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--segments", type=int, default=10)
    ap.add_argument("--epochs", type=int, default=8)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    engine.sample_segments = informative_segments(json.loads((args.data / "segments.json").read_text()))
    config = engine.ClassifierTrainConfig(
        data=str(args.data), out=str(args.out / "classifier"), model="r2plus1d_18", frames=4, resize=(48, 60), crop=(48, 48),
        segments_per_video=args.segments, epochs=args.epochs,
    )
    engine.fit(config, progress=False, reuse=False)
    results = run_benchmark(
        BenchmarkConfig(data=str(args.data), classifier=str(args.out / "classifier"), out=str(args.out / "benchmark"),
                        strategies=("random", "uniform", "dense", "oracle"), ks=(1, 5, 10), timing_videos=1),
        progress=False,
    )
    print(accuracy_table(results))


if __name__ == "__main__":
    main()
