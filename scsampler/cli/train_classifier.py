"""``scsampler train-classifier``: train a clip classifier on a data directory's train split."""

from __future__ import annotations

import sys

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.
CLASSIFIERS = ("r2plus1d_18", "mc3_18", "r3d_18", "classifier_tiny")


def _pair(text: str) -> tuple[int, int]:
    parts = [int(p) for p in text.lower().replace("x", ",").split(",")]
    if len(parts) == 1:
        parts *= 2
    return parts[0], parts[1]


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train-classifier",
        help="train a clip classifier (random 2 s segments of each training video, the paper's protocol)",
        description="Train a clip classifier on the train split of a data directory: from every training video, "
        "N random segments labelled with the video's label (paper Appendix A); videos with several labels train with "
        "binary cross-entropy (--loss). The run directory keeps the "
        "checkpoint (model.safetensors + config.json), classes.txt and the training curve.",
    )
    p.add_argument("--data", required=True, help="data directory with manifest.csv and classes.txt (or a manifest)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--model", default="r2plus1d_18", help=f"classifier architecture: {', '.join(CLASSIFIERS)} (default r2plus1d_18)")
    p.add_argument("--frames", type=int, default=8, help="frames per clip given to the classifier (default 8)")
    p.add_argument("--resize", type=_pair, default=(64, 80), help="decode size HxW (default 64x80)")
    p.add_argument("--crop", type=_pair, default=(64, 64), help="classifier input size HxW (default 64x64)")
    p.add_argument("--segments", type=int, default=10, help="random segments per training video (default 10)")
    p.add_argument("--segment-s", type=float, default=2.0, help="segment length in seconds (default 2)")
    p.add_argument("--epochs", type=int, default=10, help="training epochs (default 10)")
    p.add_argument("--batch-size", type=int, default=16, help="clips per batch (default 16)")
    p.add_argument("--lr", type=float, default=2e-3, help="peak learning rate, one-cycle schedule (default 2e-3)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--pretrained", help="weights to start from: a local torchvision state-dict file (e.g. Kinetics-400 "
                   "weights) or our own model.safetensors (e.g. the run trained on the pretrain preset)")
    p.add_argument("--loss", choices=("auto", "ce", "bce"), default="auto",
                   help="ce: cross-entropy on each video's label; bce: binary cross-entropy over the classes, on all of a "
                   "video's labels (the manifest's labels column; segments drawn inside each action where segments.json "
                   "places them); auto (default): bce when some training video has several labels, else ce")
    p.add_argument("--device", default="cpu", help="where to train: cpu (default), cuda, cuda:N, mps")
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.engine.classifier import ClassifierTrainConfig, fit

    config = ClassifierTrainConfig(
        data=args.data,
        out=args.out,
        model=args.model,
        frames=args.frames,
        resize=args.resize,
        crop=args.crop,
        segments_per_video=args.segments,
        segment_s=args.segment_s,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        pretrained=args.pretrained,
        loss=args.loss,
        device=args.device,
    )
    out = fit(config, progress=sys.stderr.isatty())
    print(f"classifier saved to {out}")
    return 0
