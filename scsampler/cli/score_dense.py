"""``scsampler score-dense``: the classifier on every clip of every video, into the dense-score cache
that ``train-sampler`` and ``benchmark`` read (ahead of them, or on a Ray cluster)."""

from __future__ import annotations

import sys

from scsampler.cli.predict import add_engine_options, engine_options

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.


def add_parser(sub) -> None:
    p = sub.add_parser(
        "score-dense",
        help="classify every clip of videos into the dense-score cache (what train-sampler and benchmark read)",
        description="Decode and classify every clip of each video and cache the probabilities, keyed by the "
        "classifier and the file's content, in CACHE/dense/ (CACHE: the --cache of train-sampler and benchmark, "
        "DATA/cache by default there). A rerun skips what is cached; a video that fails is reported and the batch goes on.",
    )
    p.add_argument("inputs", nargs="+", metavar="VIDEO_OR_MANIFEST", help="video files and/or manifest .csv files")
    p.add_argument("--classifier", required=True, metavar="RUN", help="classifier run directory (from train-classifier)")
    p.add_argument("--cache", required=True, metavar="DIR", help="the cache folder (dense scores go to DIR/dense/)")
    p.add_argument("--split", help="only the manifest rows of this split, e.g. train")
    p.add_argument("--root", metavar="DIR", help="refuse manifest paths that resolve outside DIR")
    p.add_argument("--device", default="cpu", help="where the classifier runs: cpu (default), cuda, cuda:N, mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_options(p, "classifier workers (default: one per GPU with --device cuda, else one per CPU)")
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.data.extraction import expand_inputs
    from scsampler.errors import ConfigError
    from scsampler.runtime.classifier import load_classifier
    from scsampler.runtime.dense import dense_scores

    engine = engine_options(args, stages=1)
    entries = expand_inputs(args.inputs, args.root)
    if args.split is not None:
        entries = [e for e in entries if e.split == args.split]
        if not entries:
            raise ConfigError(f"no videos of the split {args.split!r} in {', '.join(args.inputs)}")
    progress = not args.no_progress and sys.stderr.isatty()
    if engine is None:
        classifier = load_classifier(args.classifier, device=args.device)
        results, errors = dense_scores(classifier, entries, args.cache, progress=progress)
        failed = list(errors.items())
        counts, interrupted = f"{len(results)} scored or already cached", False
    else:
        from scsampler.runners.ray import score_dense_ray

        classifier = load_classifier(args.classifier)  # sent to the workers, which run it on --device
        workers = engine["workers"][0] if engine["workers"] else None
        summary = score_dense_ray(classifier, entries, args.cache, progress=progress, address=engine["address"],
                                  workers=workers, device=args.device)
        failed, interrupted = summary.failed, summary.interrupted
        counts = f"{len(summary.done)} scored, {len(summary.skipped)} already cached"
    if len(entries) == 1 and failed:
        print(f"scsampler score-dense: error: {failed[0][1]}", file=sys.stderr)
        return 2
    for _, error in failed:
        print(f"failed: {error}", file=sys.stderr)
    print(f"score-dense: {counts}, {len(failed)} failed" + (" (interrupted: rerun the same command to finish)" if interrupted else ""),
          file=sys.stderr)
    if interrupted:
        return 130
    return 1 if failed else 0

