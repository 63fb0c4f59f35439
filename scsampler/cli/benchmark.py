"""``scsampler benchmark``: all selection strategies on the same test videos, accuracy and cost."""

from __future__ import annotations

import sys

from scsampler.cli.args import comma_list
from scsampler.cli.names import selector_help

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.


def _ints(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",") if x.strip())


def parse_option(text: str) -> tuple[str, str, int | str]:
    """``ltl3.early_stop=3`` -> ("ltl3", "early_stop", 3): the value an int when it is one, else the text."""
    from scsampler.errors import ConfigError

    target, sep, value = text.partition("=")
    name, dot, key = target.rpartition(".")
    if not sep or not dot or not name.strip() or not key.strip() or not value.strip():
        raise ConfigError(f"--sampler-option takes NAME.KEY=VALUE (e.g. ltl3.early_stop=3), got {text!r}")
    value = value.strip()
    try:
        return name.strip(), key.strip(), int(value)
    except ValueError:
        return name.strip(), key.strip(), value


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
    p.add_argument("--strategies", help=selector_help(
        "comma-separated selectors (default: every one that needs no trained sampler, every --sampler by its NAME and, "
        "with samplers named visual and audio, the audio-visual combinations):"))
    p.add_argument("--k", type=_ints, default=(1, 2, 5, 10, 20), help="K values, comma-separated (default 1,2,5,10,20)")
    p.add_argument("--sampler", action="append", default=[], metavar="NAME=RUN",
                   help="a trained sampler to compare (repeatable); its NAME becomes a strategy (top-K by its scores). "
                   "Samplers named visual and audio also enable the audio-visual strategies "
                   "av-convex-score, av-convex-list, av-intersect-list, av-union-list")
    p.add_argument("--sampler-option", action="append", default=[], metavar="NAME.KEY=VALUE",
                   help="an option of the selector of --sampler NAME (repeatable), e.g. ltl3.early_stop=3 or ltlhard.aggregation=hard "
                   "with --sampler ltl3=RUN --sampler ltlhard=RUN: variants of one run side by side")
    p.add_argument("--stride", type=_ints, default=(1,), help="sampler strategies also run scoring every N-th clip only, comma-separated (default 1)")
    p.add_argument("--k-prime", type=_ints, default=(8,), help="av-union-list: clips taken from the visual sampler, comma-separated (default 8)")
    p.add_argument("--cache", help="cache for features, dense and sampler scores (default: DATA/cache)")
    p.add_argument("--timing-videos", type=int, default=8, help="test videos on which wall time is measured (default 8)")
    p.add_argument("--timing-stride", type=_ints, default=(1,),
                   help="the wall time of the strategies that take a stride (samplers, trained selectors) is measured at each of these strides, "
                   "comma-separated (default 1)")
    p.add_argument("--timing-k", type=int, default=10, help="K for the wall-time measurement (default 10)")
    p.add_argument("--prior-videos", type=int, default=64, help="training videos the empirical strategy's prior is fitted on (default 64; 0: all)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random strategy")
    p.add_argument("--device", default="cpu", help="where the classifier runs: cpu (default), cuda, cuda:N, mps")
    p.add_argument("--timing-arch", help="also time every strategy with this architecture at --timing-arch-input, untrained "
                   "(e.g. r2plus1d_18: what a user runs; timing only)")
    p.add_argument("--timing-arch-input", type=_ints, default=(16, 112, 112), help="frames,height,width for --timing-arch (default 16,112,112)")
    p.add_argument("--timing-arch-videos", type=int, default=3, help="test videos timed with --timing-arch (default 3)")
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
    from scsampler.reports.tables import markdown

    from scsampler.errors import ConfigError

    samplers = {}
    for item in args.sampler:
        name, sep, run_dir = item.partition("=")
        if not sep or not name or not run_dir:
            raise ConfigError(f"--sampler takes NAME=RUN, got {item!r}")
        samplers[name.strip()] = run_dir.strip()
    options: dict[str, dict] = {}
    for item in args.sampler_option:
        name, key, value = parse_option(item)
        options.setdefault(name, {})[key] = value
    strategies = tuple(comma_list(args.strategies))
    config = BenchmarkConfig(
        data=args.data,
        classifier=args.classifier,
        out=args.out,
        strategies=strategies,
        samplers=samplers,
        sampler_options=options,
        strides=args.stride,
        k_primes=args.k_prime,
        ks=args.k,
        cache=args.cache,
        timing_videos=args.timing_videos,
        timing_k=args.timing_k,
        timing_strides=tuple(args.timing_stride),
        seed=args.seed,
        prior_videos=args.prior_videos,
        device=args.device,
        timing_arch=args.timing_arch,
        timing_arch_input=tuple(args.timing_arch_input),
        timing_arch_videos=args.timing_arch_videos,
    )
    results = run_benchmark(config, progress=sys.stderr.isatty())
    print(markdown(results))
    return 0
