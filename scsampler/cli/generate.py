"""`scsampler generate`: write the synthetic benchmark (videos, manifest, segments) to a folder."""

from __future__ import annotations

import argparse
import dataclasses
import logging
import time

from scsampler.data.synthetic import CODECS, PRESETS, generate

log = logging.getLogger(__name__)

# flag -> SyntheticConfig field; each overrides the preset's value when given.
OVERRIDES = {
    "classes": ("num_classes", int, "number of classes (2-16); class i is the i-th motion pattern"),
    "train_per_class": ("train_per_class", int, "training videos per class"),
    "test_per_class": ("test_per_class", int, "test videos per class"),
    "duration_median": ("duration_median_s", float, "median video length in seconds (lognormal)"),
    "duration_sigma": ("duration_sigma", float, "spread of the lognormal video length (sigma of its log)"),
    "duration_min": ("duration_min_s", float, "shortest video in seconds (the lognormal is clipped here)"),
    "duration_max": ("duration_max_s", float, "longest video in seconds (the lognormal is clipped here)"),
    "salient_fraction": ("salient_fraction", float, "mean share of each video that is salient (below 0.5)"),
    "salient_spread": ("salient_fraction_spread", float, "per-video salient share is uniform in fraction +- spread"),
    "glimpse_rate": ("glimpse_per_min", float, "glimpses (another class's motion, brief, no sound) per minute"),
    "sound_only_rate": ("sound_only_per_min", float, "sound-only distractors (another class's sound) per minute"),
    "burst_rate": ("burst_per_min", float, "loud noise bursts per minute, placed independently of the events (the action under one is masked)"),
    "look_cue": ("look_cue", float, "class similarity: probability that a sprite wears its class pair's look (0: motion alone tells classes apart)"),
    "prop_look_cue": ("prop_look_cue", float, "probability that a background prop wears a random class's look (a decoy)"),
    "scene_pool": ("scene_pool", int, "backgrounds shared by all videos (0: a new one per shot)"),
    "width": ("width", int, "frame width in pixels (even)"),
    "height": ("height", int, "frame height in pixels (even)"),
    "fps": ("fps", int, "frames per second"),
    "gop": ("gop", int, "keyframe interval in frames (one I-frame every GOP frames)"),
    "bframes": ("bframes", int, "B-frames between reference frames (0: I and P frames only)"),
    "quality": ("quality", int, "x264 CRF or MPEG-4 qscale (lower is better); default: the writer's"),
    "sample_rate": ("sample_rate", int, "audio sample rate in Hz (AAC, mono)"),
}


def add_parser(sub) -> None:
    p = sub.add_parser(
        "generate",
        help="write the synthetic benchmark: long videos with brief salient actions among distractors",
        description="Generate labelled long videos (H.264 or MPEG-4 with AAC audio) in which brief salient "
        "segments of a class's action and sound sit among uninformative and misleading stretches. Writes "
        "videos/, manifest.csv, classes.txt, segments.json and config.json into --out. A rerun into the same "
        "folder with the same settings keeps finished videos and renders the rest.",
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="default",
                   help="base settings: tiny (tests, seconds), small (demo, ~1 min), default (the benchmark), pretrain "
                   "(trimmed clips), multilabel (2-3 actions a video, ~1 min), tiny-multilabel (tests)")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    p.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same dataset")
    p.add_argument("--codec", choices=CODECS, default=None,
                   help="video codec: h264 (libx264) or mpeg4 (MPEG-4 Part 2); default: the preset's (h264)")
    p.add_argument("--workers", type=int, default=1, help="videos rendered in parallel, one process each")
    p.add_argument("--no-progress", action="store_true", help="do not show a progress bar on stderr")
    for flag, (field, kind, text) in OVERRIDES.items():
        p.add_argument("--" + flag.replace("_", "-"), dest=flag, type=kind, default=None, help=text + " (default: the preset's)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    changes = {field: getattr(args, flag) for flag, (field, _, _) in OVERRIDES.items() if getattr(args, flag) is not None}
    if args.codec is not None:
        changes["codec"] = args.codec
    config = dataclasses.replace(PRESETS[args.preset], **changes)  # validates: ConfigError on bad values
    t0 = time.perf_counter()
    manifest = generate(config, args.out, seed=args.seed, workers=args.workers, progress=not args.no_progress)
    log.info("%d videos in %.1f s; manifest: %s", config.num_videos, time.perf_counter() - t0, manifest)
    return 0
