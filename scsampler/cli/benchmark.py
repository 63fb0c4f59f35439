"""``scsampler benchmark``: all selection strategies on the same test videos, accuracy and cost."""

from __future__ import annotations

import sys

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.
BASELINES = ("random", "uniform", "empirical", "front", "center", "end", "dense", "oracle")


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def add_parser(sub) -> None:
    p = sub.add_parser(
        "benchmark",
        help="compare clip-selection strategies: accuracy, clips, FLOPs and wall time per video",
        description="Run every selection strategy on the test split of a data directory with one classifier, "
        "in one process. Writes results.json, results.md and plots to --out; every stage is cached.",
    )
    p.add_argument("--data", required=True, help="data directory (manifest.csv, classes.txt, segments.json)")
    p.add_argument("--classifier", required=True, help="classifier run directory (from train-classifier)")
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument("--strategies", default=",".join(BASELINES), help=f"comma-separated (default: {','.join(BASELINES)})")
    p.add_argument("--k", type=_ints, default=(1, 2, 5, 10, 20), help="K values, comma-separated (default 1,2,5,10,20)")
    p.add_argument("--cache", help="cache directory for dense scores (default: OUT/cache)")
    p.add_argument("--timing-videos", type=int, default=8, help="test videos on which wall time is measured (default 8)")
    p.add_argument("--timing-k", type=int, default=10, help="K for the wall-time measurement (default 10)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random strategy")
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.evaluation.benchmark import BenchmarkConfig, run_benchmark
    from scsampler.evaluation.report import markdown

    config = BenchmarkConfig(
        data=args.data,
        classifier=args.classifier,
        out=args.out,
        strategies=tuple(s.strip() for s in args.strategies.split(",") if s.strip()),
        ks=args.k,
        cache=args.cache,
        timing_videos=args.timing_videos,
        timing_k=args.timing_k,
        seed=args.seed,
    )
    results = run_benchmark(config, progress=sys.stderr.isatty())
    print(markdown(results))
    return 0
