"""``scsampler train-listen-to-look``: train Listen to Look's IMGAUD2VID student (``--stage distill``)
or its IMGAUD-SKIMMING policy over a trained student (``--stage skim``) from a data directory's files."""

from __future__ import annotations

import sys

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.
STUDENTS = ("imgaud2vid_resnet18", "imgaud2vid_tiny")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train-listen-to-look",
        help="train Listen to Look: the image-audio student distilled from the clip classifier (--stage distill), then "
        "the skimming policy (--stage skim)",
        description="Stage distill (IMGAUD2VID): a student that sees one image (the nearest I-frame, or the clip's first "
        "frame) and the clip's log-mel learns to imitate the frozen clip classifier (L1 to its pooled feature + lambda x "
        "soft-target cross-entropy) on every clip of the train split. Stage skim (IMGAUD-SKIMMING): an attention LSTM over "
        "the frozen student's per-step features learns where to look and listen (cross-entropy on the video label). The "
        "skim run directory (student/policy .safetensors, config.json, curve.json) is the listen-to-look selector: "
        "predict --sampler RUN, benchmark --sampler NAME=RUN.",
    )
    p.add_argument("--stage", choices=("distill", "skim"), required=True, help="distill: the student; skim: the policy over --student")
    p.add_argument("--data", required=True, help="data directory with manifest.csv and classes.txt (or a manifest)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--classifier", help="distill: the teacher, a clip classifier run (from train-classifier)")
    p.add_argument("--student", help="skim: the distill run whose student indexes the steps")
    p.add_argument("--arch", choices=STUDENTS, default=STUDENTS[0], help=f"distill: the student (default {STUDENTS[0]})")
    p.add_argument("--lam", type=float, default=100.0, help="distill: lambda, the soft-target term's weight (default 100, the paper's)")
    p.add_argument("--frame", choices=("iframe", "first"), default="iframe",
                   help="distill: a step's image: the I-frame nearest the clip (default; only key frames decoded) or the clip's "
                   "exact first frame, decoded (the paper)")
    p.add_argument("--pretrain-data", help="distill: a data directory of trimmed clips (the pretrain preset) whose train split's "
                   "clips join the training set (no labels needed)")
    p.add_argument("--steps", type=int, default=10, help="skim: T, the policy's steps in training and by default at test (default 10)")
    p.add_argument("--window", type=int, default=64, help="skim: consecutive steps of a video per training example (default 64; 0: all)")
    p.add_argument("--hidden", type=int, default=1024, help="skim: LSTM hidden units (default 1024, the official code's)")
    p.add_argument("--key-dim", type=int, default=512, help="skim: size of the keys and queries (default 512)")
    p.add_argument("--indexing", choices=("image-audio", "image"), default="image-audio",
                   help="skim: image-audio, an image and an audio query (default, the paper's); image, the image query alone, "
                   "the audio feature taken at its argmax (the ablation of Supplementary G.1)")
    p.add_argument("--epochs", type=int, help="epochs (default: 10 distill, 20 skim)")
    p.add_argument("--batch-size", type=int, help="clips (distill, default 64) or videos (skim, default 16) per step")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate, one-cycle schedule (default 1e-3)")
    p.add_argument("--cache", help="feature cache (default: DATA/cache)")
    p.add_argument("--workers", type=int, default=1, help="processes for extracting missing features (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.engine.listen_to_look import DistillConfig, SkimConfig, fit_distill, fit_skim
    from scsampler.errors import ConfigError

    common = dict(data=args.data, out=args.out, lr=args.lr, cache=args.cache, workers=args.workers, seed=args.seed)
    if args.epochs is not None:
        common["epochs"] = args.epochs
    if args.batch_size is not None:
        common["batch_size"] = args.batch_size
    if args.stage == "distill":
        if not args.classifier:
            raise ConfigError("--stage distill needs --classifier (the teacher)")
        out = fit_distill(DistillConfig(classifier=args.classifier, student=args.arch, lam=args.lam, frame=args.frame,
                                        pretrain_data=args.pretrain_data, **common),
                          progress=sys.stderr.isatty())
    else:
        if not args.student:
            raise ConfigError("--stage skim needs --student (a distill run)")
        out = fit_skim(SkimConfig(student=args.student, steps=args.steps, window=args.window, hidden=args.hidden,
                                  key_dim=args.key_dim, indexing=args.indexing, **common), progress=sys.stderr.isatty())
    print(f"Listen to Look ({args.stage}) saved to {out}")
    return 0
