"""``scsampler extract``: cheap features of videos (or manifests of them) into a feature cache."""

from __future__ import annotations

import argparse
import sys

from scsampler.cli.args import comma_list
from scsampler.cli.predict import add_decode_processes, add_engine_options, decode_processes, engine_options

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.
ALL_FEATURES = ("md", "rgbr", "if", "audio")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "extract",
        help="extract the cheap per-clip features (motion vectors, residuals, I-frames, audio) into a cache",
        description="Run the cheap pass over videos and store per-clip features in a cache keyed by each "
        "file's content and the extractor's settings. A video that fails is recorded and the batch goes on.",
    )
    p.add_argument("inputs", nargs="+", metavar="VIDEO_OR_MANIFEST", help="video files and/or manifest .csv files")
    p.add_argument("--cache", required=True, metavar="DIR", help="feature cache directory (created if missing)")
    p.add_argument(
        "--features",
        default=",".join(ALL_FEATURES),
        help=f"comma-separated subset of {','.join(ALL_FEATURES)} (default: all)",
    )
    p.add_argument("--clip-frames", type=int, default=16, help="frames per clip on the clip timeline (default 16)")
    p.add_argument("--fps", type=int, default=16, help="rate of the clip timeline, frames per second (default 16)")
    p.add_argument("--small-side", type=int, default=64, help="longest side of residuals and I-frame thumbnails (default 64)")
    p.add_argument("--sample-rate", type=int, default=16000, help="audio resampling rate in Hz (default 16000)")
    p.add_argument("--fallback-refine", action=argparse.BooleanOptionalAction, default=True,
                   help="files without motion vectors (HEVC, VP9, AV1, intra-only): refine the decoded-motion "
                        "fallback's block matching by a pixel at half the resolution (default), or not "
                        "(--no-fallback-refine: whole steps of 4 source px, about 1.3x faster; docs/features.md)")
    p.add_argument("--workers", type=int, default=1, help="videos processed in parallel (default 1)")
    add_decode_processes(p)
    p.add_argument("--root", metavar="DIR", help="refuse manifest paths that resolve outside DIR")
    p.add_argument("--retry-failed", action="store_true", help="retry videos whose failure is cached")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_options(p, "cheap-pass workers, one CPU each (default: one per CPU of the cluster)")
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.data.extraction import extract_many
    from scsampler.errors import ConfigError
    from scsampler.features.extractor import ExtractorConfig

    engine = engine_options(args, stages=1)
    if engine is not None and args.workers != 1:
        raise ConfigError("--workers is the local engine's: with --engine ray give --workers-per-stage")
    processes = decode_processes(args, engine)
    if args.workers > 1 and processes > 1:
        # Each --workers process is a daemon, which may not start processes of its own.
        raise ConfigError("give --workers (videos in parallel) or --decode-processes (one video in parallel), not both")
    features = tuple(comma_list(args.features))
    try:
        config = ExtractorConfig(
            clip_frames=args.clip_frames,
            fps=args.fps,
            features=features,
            small_side=args.small_side,
            sample_rate=args.sample_rate,
            fallback_refine=args.fallback_refine,
        )
    except ValueError as err:
        print(f"scsampler extract: error: {err}", file=sys.stderr)
        return 2
    common = dict(retry_failed=args.retry_failed, root=args.root, progress=not args.no_progress and sys.stderr.isatty())
    if engine is None:
        summary = extract_many(args.inputs, args.cache, config, workers=args.workers, decode_processes=processes, **common)
    else:
        from scsampler.runners.ray import extract_ray

        workers = engine["workers"][0] if engine["workers"] else None
        summary = extract_ray(args.inputs, args.cache, config, **common, address=engine["address"], workers=workers)
    single = len(summary.done) + len(summary.skipped) + len(summary.failed) == 1
    if single and summary.failed:
        print(f"scsampler extract: error: {summary.failed[0][1]}", file=sys.stderr)
        return 2
    for _, error in summary.failed:
        print(f"failed: {error}", file=sys.stderr)
    print(
        f"extract: {len(summary.done)} done, {len(summary.skipped)} already cached, {len(summary.failed)} failed"
        + (" (interrupted: rerun the same command to finish)" if summary.interrupted else ""),
        file=sys.stderr,
    )
    if summary.interrupted:
        return 130
    return 1 if summary.failed else 0
