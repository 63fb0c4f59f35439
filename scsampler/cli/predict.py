"""``scsampler predict``: classify long videos from their K most salient clips, one JSON line per video."""

from __future__ import annotations

import argparse
import sys

from scsampler.cli.names import selector_help, selector_names

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.


def _size(text: str) -> tuple[int, int]:
    """``112`` -> (112, 112); ``128x171`` -> (128, 171)."""
    parts = text.lower().split("x")
    if len(parts) not in (1, 2) or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a size: give N or HxW, e.g. 112 or 128x171")
    return int(parts[0]), int(parts[-1])


def _counts(text: str) -> tuple[int, ...]:
    """``4`` -> (4,); ``6,2`` -> (6, 2)."""
    parts = text.split(",")
    if len(parts) > 2 or not all(p.strip().isdigit() and int(p) > 0 for p in parts):
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of workers: give N, or N,M for two stages")
    return tuple(int(p) for p in parts)


def add_engine_options(p, stages: str) -> None:
    """``--engine``, ``--address`` and ``--workers-per-stage`` (``stages`` says what its numbers count)."""
    g = p.add_argument_group("engine (Ray: pip install 'scsampler[ray]')")
    g.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: this process (default); ray: workers of a Ray cluster, which open the video paths "
                   "themselves (the same paths on every node), writing the same output")
    g.add_argument("--address", metavar="ADDRESS",
                   help="with --engine ray: the cluster, auto (RAY_ADDRESS, or the one `ray start` began on this machine), "
                   "HOST:PORT or ray://HOST:10001 (default: a new Ray on this machine, listening on 127.0.0.1 only)")
    g.add_argument("--workers-per-stage", type=_counts, metavar="N[,M]", help=f"with --engine ray: {stages}")


def add_decode_processes(p) -> None:
    """``--decode-processes``, the cheap pass's parallel decoding of one video (predict, extract)."""
    p.add_argument("--decode-processes", type=int, default=1, metavar="N",
                   help="decode each video's cheap pass in N processes, in chunks split at its key frames, one decoding "
                   "thread each: the same features, sooner on N cores (H.264 with IDR key frames in a file with an index, "
                   "such as MP4 or Matroska; other videos are decoded in one process) (default 1)")


def decode_processes(args, engine: dict | None) -> int:
    """``--decode-processes``, checked: at least 1, and for the local engine only."""
    from scsampler.errors import ConfigError

    if args.decode_processes < 1:
        raise ConfigError(f"--decode-processes must be >= 1, got {args.decode_processes}")
    if engine is not None and args.decode_processes != 1:
        raise ConfigError("--decode-processes applies to --engine local only: with ray, give more workers")
    return args.decode_processes


def engine_options(args, stages: int) -> dict | None:
    """``None`` for the local engine, else ``{"address", "workers"}`` for the Ray runner; with Ray
    missing, a one-line error naming the extra that installs it."""
    from scsampler.errors import ConfigError

    if args.engine == "local":
        given = [f for f, v in (("--address", args.address), ("--workers-per-stage", args.workers_per_stage)) if v is not None]
        if given:
            raise ConfigError(f"{given[0]} applies to --engine ray only")
        return None
    from scsampler.runners.ray import import_ray

    import_ray()
    workers = args.workers_per_stage
    if workers is not None and len(workers) != stages:
        if stages == 1:
            raise ConfigError(f"--workers-per-stage: this command has one stage, give one number (got {len(workers)})")
        workers = workers * stages
    return {"address": args.address, "workers": workers}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "predict",
        help="classify videos from their K most salient clips (one JSON line per video; resumable)",
        description="Score every clip of each video with the cheap sampler(s), decode and classify only the K "
        "selected clips, and append one JSON line per video to --out. A rerun of the same command skips the "
        "videos already in --out (a killed batch resumes); videos that failed are listed in "
        "OUT.failures.txt and retried only with --retry-failed.",
    )
    p.add_argument("inputs", nargs="*", metavar="VIDEO_OR_MANIFEST", help="video files and/or manifest .csv files")
    p.add_argument("--manifest", action="append", default=[], metavar="CSV", help="a manifest of videos (repeatable)")
    p.add_argument("--split", help="only the manifest rows of this split, e.g. test (video files given directly have none)")
    p.add_argument("--root", metavar="DIR", help="refuse manifest paths that resolve outside DIR")
    p.add_argument("--out", required=True, metavar="JSONL", help="results file, one JSON object per video (appended to)")
    p.add_argument("--report", metavar="DIR", help="also write a picture per video and DIR/index.html")
    p.add_argument("--segments", metavar="JSON",
                   help="with --report: ground truth to draw under each video's timeline, a segments.json (as `scsampler "
                   "generate` and `scsampler import` write it: per video path relative to its folder, the label and the "
                   "segments, coloured by kind); a video is found by its path, else by its file name when only one entry "
                   "has it, and a video it lacks gets no ground-truth band. Drawn only, never written to --out; pictures "
                   "already in DIR are not redrawn")

    c = p.add_argument_group("classifier (a run directory, or your own torchvision weights)")
    c.add_argument("--classifier", metavar="RUN", help="classifier run directory (from train-classifier)")
    c.add_argument("--classifier-arch", metavar="NAME", help="a registered classifier, e.g. r2plus1d_18 (with --classifier-weights and --classes)")
    c.add_argument("--classifier-weights", metavar="FILE", help="state-dict file of --classifier-arch (.pth, .pt or .safetensors)")
    c.add_argument("--classes", metavar="TXT", help="class names of --classifier-weights, one per line, in output order")
    c.add_argument("--frames", type=int, help="with --classifier-arch: frames per clip (default 16)")
    c.add_argument("--crop", type=_size, help="with --classifier-arch: centre crop, N or HxW (default 112)")
    c.add_argument("--resize", type=_size, help="with --classifier-arch: decode size HxW (default 128x171 for a 112 crop, in those proportions for another)")

    s = p.add_argument_group("selection")
    s.add_argument("--sampler", metavar="RUN", help="sampler run directory (from train-sampler): a visual one, or an audio one; "
                   "or a trained selector's run (train-epitoma: the videoepitoma strategy)")
    s.add_argument("--audio-sampler", metavar="RUN", help="audio sampler run directory, to combine with a visual --sampler")
    s.add_argument(
        "--strategy", metavar="NAME", choices=selector_names(predict=True),
        help=selector_help("how clips are chosen (default: the sampler's own with one sampler, av-union-list with both):",
                           predict=True),
    )
    s.add_argument("--k", type=int, default=10, help="clips classified per video (default 10)")
    s.add_argument("--k-prime", type=int, default=8, help="av-union-list: clips from the visual top list, the rest from the audio one (default 8)")
    s.add_argument("--alpha", type=float, help="av-convex-*: weight of the visual sampler (default 0.9 score, 0.8 list)")
    s.add_argument("--stride", type=int, default=1, help="the samplers score every N-th clip only (default 1)")
    s.add_argument("--early-stop", type=int, metavar="T",
                   help="a listen-to-look run: the policy stops after T steps (default: its training T)")
    s.add_argument("--aggregation", choices=("soft", "hard"),
                   help="a listen-to-look run: each step's next input from the soft aggregates (default) or the features at "
                   "the attentions' argmax (hard)")
    s.add_argument("--fallback", choices=("none", "uniform"), default="none",
                   help="a video the selector cannot score (no audio for an audio sampler): fail it (none, default) or choose uniformly")
    s.add_argument("--seed", type=int, default=0, help="seed of the random strategy")

    p.add_argument("--device", default="cpu", help="where the classifier runs: cpu (default), cuda, cuda:N, mps "
                   "(decoding and the samplers stay on the CPU)")
    add_decode_processes(p)
    p.add_argument("--retry-failed", action="store_true", help="retry videos recorded as failed in --out")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_engine_options(p, "cheap-pass workers (one CPU each) and classifier workers (one GPU each with --device cuda, "
                       "else one CPU), or N for both (default: the whole cluster, a classifier worker per GPU or "
                       "half the CPUs, the cheap pass on the CPUs left)")
    p.set_defaults(func=run)


def load_classifier_from_args(args):
    """The classifier of exactly one of --classifier RUN or --classifier-arch/-weights/--classes."""
    from scsampler.errors import ConfigError
    from scsampler.runtime.classifier import classifier_from_weights, load_classifier
    from scsampler.models.classifier import ClipTransform

    own = {"--classifier-arch": args.classifier_arch, "--classifier-weights": args.classifier_weights, "--classes": args.classes}
    shape = {"--frames": args.frames, "--crop": args.crop, "--resize": args.resize}
    if args.classifier and any(v is not None for v in own.values()):
        raise ConfigError("give either --classifier RUN or --classifier-arch/--classifier-weights/--classes, not both")
    if args.classifier:
        given = [k for k, v in shape.items() if v is not None]
        if given:
            raise ConfigError(f"{given[0]} applies to --classifier-arch only: a classifier run carries its own input size")
        return load_classifier(args.classifier, device=args.device)
    missing = [k for k, v in own.items() if v is None]
    if len(missing) == len(own):
        raise ConfigError("no classifier: give --classifier RUN, or --classifier-arch NAME --classifier-weights FILE --classes TXT")
    if missing:
        raise ConfigError(f"your own classifier needs {', '.join(missing)} as well")
    if args.frames is not None and args.frames < 1:
        raise ConfigError(f"--frames must be >= 1, got {args.frames}")
    transform = ClipTransform.torchvision(args.frames or 16, args.crop or (112, 112), args.resize)
    (rh, rw), (ch, cw) = transform.resize, transform.crop
    if rh < ch or rw < cw:
        raise ConfigError(f"--resize {rh}x{rw} is smaller than --crop {ch}x{cw}")
    return classifier_from_weights(args.classifier_arch, args.classifier_weights, args.classes, transform=transform,
                                   device=args.device)


def load_samplers_from_args(args, classifier) -> dict:
    """``{"visual": Sampler, "audio": Sampler}`` (those given), each checked against its flag and
    against the classifier's clip grid (a sampler's clip i must be the classifier's clip i)."""
    from scsampler.errors import ConfigError
    from scsampler.runtime.sampler import load_sampler

    samplers = {}
    if args.sampler:
        s = load_sampler(args.sampler)
        samplers[s.modality] = s
    if args.audio_sampler:
        s = load_sampler(args.audio_sampler)
        if s.modality != "audio":
            raise ConfigError(f"--audio-sampler {args.audio_sampler} is a {s.modality} sampler; give it as --sampler")
        if "audio" in samplers:
            raise ConfigError(f"--sampler {args.sampler} is an audio sampler too; --sampler takes the visual one")
        samplers["audio"] = s
    for m, s in samplers.items():
        ext = s.config.get("extractor", {})
        clip = (ext.get("clip_frames", 16), ext.get("fps", 16))
        grid = (classifier.grid.clip_frames, classifier.grid.fps)
        if clip[0] * grid[1] != grid[0] * clip[1]:
            raise ConfigError(
                f"the {m} sampler's clips are {clip[0]} frames at {clip[1]} fps but the classifier's are "
                f"{grid[0]} frames at {grid[1]} fps: their clips would not line up"
            )
    return samplers


def default_strategy(samplers: dict) -> str:
    from scsampler.errors import ConfigError

    if "visual" in samplers and "audio" in samplers:
        return "av-union-list"
    if samplers:
        return next(iter(samplers))
    raise ConfigError("no sampler: give --sampler RUN (and/or --audio-sampler RUN), or a --strategy that needs none "
                      "(scsampler predict --help lists them)")


def run(args) -> int:
    from scsampler.data.extraction import expand_inputs
    from scsampler.errors import ConfigError
    from scsampler.runners.local import failures_path, predict_many
    from scsampler.selectors import SELECTORS, get_spec, load_selector
    from scsampler.selectors.registry import trained_selector

    engine = engine_options(args, stages=2)
    processes = decode_processes(args, engine)
    inputs = list(args.inputs) + list(args.manifest)
    if not inputs:
        raise ConfigError("no videos: give VIDEO files and/or --manifest CSV")
    ground_truth = None
    if args.segments is not None:
        if args.report is None:
            raise ConfigError("--segments applies to --report only: the ground truth is drawn in the pictures")
        from scsampler.reports.html import read_segments

        ground_truth = read_segments(args.segments)
    entries = expand_inputs(inputs, args.root)
    if args.split is not None:
        entries = [e for e in entries if e.split == args.split]
        if not entries:
            raise ConfigError(f"no videos of the split {args.split!r} in {', '.join(inputs)}")
    # On Ray the classifier is loaded here on the CPU and runs on --device on the classifier workers.
    classifier = load_classifier_from_args(args if engine is None else argparse.Namespace(**{**vars(args), "device": "cpu"}))
    trained = trained_selector(args.sampler) if args.sampler else None   # a trained selector's run, not a sampler's
    samplers = {} if trained else load_samplers_from_args(args, classifier)
    strategy = args.strategy or trained or default_strategy(samplers)
    if trained and (strategy != trained or args.audio_sampler):
        raise ConfigError(f"--sampler {args.sampler} is a {trained} run: it is the {trained} strategy, alone")
    missing = [m for m in get_spec(strategy).samplers if m not in samplers]
    if missing:
        flags = {"visual": "--sampler (a visual one)", "audio": "--audio-sampler (or an audio --sampler)"}
        raise ConfigError(f"strategy {strategy} needs {' and '.join(flags.get(m, f'--sampler (an {m} one)') for m in missing)}")
    if args.k < 1:
        raise ConfigError(f"--k must be >= 1, got {args.k}")
    policy = {"early_stop": args.early_stop, "aggregation": args.aggregation}
    for key, value in policy.items():
        if value is not None and key not in get_spec(strategy).options:
            takes = [n for n, spec in SELECTORS.items() if key in spec.options]
            raise ConfigError(f"--{key.replace('_', '-')} applies to {' or '.join(takes)} only, not to {strategy}")
    selector = load_selector(args.sampler if trained else strategy, samplers=samplers, stride=args.stride, k_prime=args.k_prime,
                             alpha=args.alpha, **policy)
    fallback = load_selector(args.fallback) if args.fallback != "none" else None
    common = dict(k=args.k, fallback=fallback, seed=args.seed, retry_failed=args.retry_failed, report=args.report,
                  progress=not args.no_progress and sys.stderr.isatty())
    if engine is None:
        summary = predict_many(entries, classifier, selector, args.out, **common, ground_truth=ground_truth,
                               decode_processes=processes)
    else:
        from scsampler.runners.ray import predict_ray

        summary = predict_ray(entries, classifier, selector, args.out, **common, ground_truth=ground_truth, **engine,
                              device=args.device)
    failed = summary.failed + summary.recorded
    if len(entries) == 1 and failed and not summary.interrupted:
        print(f"scsampler predict: error: {failed[0][1]}", file=sys.stderr)
        return 2
    for _, error in summary.failed:
        print(f"failed: {error}", file=sys.stderr)
    parts = [f"{len(summary.done)} done", f"{len(summary.skipped)} already in {args.out}", f"{len(failed)} failed"]
    if summary.recorded:
        parts[-1] += f" ({len(summary.recorded)} in an earlier run: --retry-failed retries them)"
    print(
        "predict: " + ", ".join(parts)
        + (f"; failures listed in {failures_path(args.out)}" if failed else "")
        + (f"; report in {args.report}/index.html" if args.report else "")
        + (" (interrupted: rerun the same command to finish)" if summary.interrupted else ""),
        file=sys.stderr,
    )
    if summary.interrupted:
        return 130
    return 1 if failed else 0
