"""``scsampler train-sampler``: train a visual or audio sampler from cached features and the
classifier's dense probabilities on the training split."""

from __future__ import annotations

import sys

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.
SAMPLER_ARCHS = ("resnet18", "shufflenet", "vgg_audio", "sampler_tiny")
LOSSES = ("ac", "sal-cl", "sal-rank")
TARGETS = ("label", "confidence", "agreement")
AC_LOSSES = ("auto", "ce", "bce")
INPUT_NORMS = ("video", "resize", "none")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train-sampler",
        help="train a sampler (visual: MD / RGB-R / IF frames; audio: log-mel) with the AC, SAL-CL or SAL-RANK loss",
        description="Train an SCSampler sampler on the train split of a data directory. Features are read from "
        "(and, if missing, extracted into) the cache; the classifier's dense probabilities on the training videos "
        "(scored and cached if missing) provide the SAL-CL and SAL-RANK labels. With --target confidence or agreement "
        "those labels come from the classifier's own output and the manifest's labels are never read, so unlabelled "
        "videos will do (a manifest without a split column is then used whole). Videos with several labels (the "
        "manifest's labels column) use all of them: ac learns them with binary cross-entropy (--ac-loss), and "
        "--target label ranks a clip by its probability of the best of them, as the oracle does. The run directory keeps one "
        "network per feature (nets/<feature>.safetensors), config.json and curve.json.",
    )
    p.add_argument("--data", required=True, help="data directory with manifest.csv and classes.txt (or a manifest)")
    p.add_argument("--classifier", required=True, help="classifier run directory (from train-classifier)")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--modality", choices=("visual", "audio", "audio-visual"), default="visual",
                   help="default visual; audio-visual: AV-joint-training, fine-tuning --visual-sampler and --audio-sampler "
                   "(both SAL-RANK) together on the mean of their scores")
    p.add_argument("--visual-sampler", help="audio-visual: the visual sampler run to start from")
    p.add_argument("--audio-sampler", help="audio-visual: the audio sampler run to start from")
    p.add_argument("--features", default="md,rgbr", help="visual features, comma-separated among md, rgbr, if (default md,rgbr)")
    p.add_argument("--arch", help=f"network: {', '.join(SAMPLER_ARCHS)} (default resnet18 visual, vgg_audio audio)")
    p.add_argument("--loss", choices=LOSSES, default="ac", help="default ac")
    p.add_argument("--ac-loss", choices=AC_LOSSES, default="auto",
                   help="with --loss ac: ce, cross-entropy on each video's label; bce, binary cross-entropy over the classes "
                   "on all the video's labels (the manifest's labels column); auto (default): bce when some training video "
                   "has several labels, else ce (as train-classifier's --loss)")
    p.add_argument("--target", choices=TARGETS, default="label",
                   help="what sal-cl and sal-rank rank a video's clips by: label, the classifier's probability of the video's "
                   "label (default, the paper's; of the best of its labels when it has several, as the oracle); confidence, "
                   "the clip's maximum class probability; agreement, the clip's "
                   "probability of the video's dense prediction (argmax of the mean over its clips), which needs a classifier "
                   "whose whole-video prediction is right (docs/samplers.md). confidence and agreement "
                   "read no labels; ac needs label")
    p.add_argument("--k-tr", type=float, help="SAL-CL: fraction of each video's clips labelled salient (default 0.5 visual, 0.25 audio)")
    p.add_argument("--margin", type=float, default=0.2, help="SAL-RANK margin eta (default 0.2)")
    p.add_argument("--epochs", type=int, default=6, help="default 6")
    p.add_argument("--batch-size", type=int, default=64, help="default 64")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate, one-cycle schedule (default 1e-3)")
    p.add_argument("--eval-frames", type=int, default=2,
                   help="frames scored per clip and feature at test time, evenly spread (default 2; 0: all P-frames, as in the paper, "
                   "about 7x the FLOPs)")
    p.add_argument("--input-norm", choices=INPUT_NORMS, default="resize",
                   help="how features reach the networks, recorded in config.json and applied to every video at run time: "
                   "resize (default), each visual feature resampled to the grid of most training videos (MD in pixels of that "
                   "grid, divided by 8), so that files of another resolution are scored at the size trained on; video, the "
                   "same grid and MD divided by the video's own mean motion, so that files of another codec are scored at "
                   "the scale trained on (docs/results.md, 'Codec transfer of a sampler'); none, features as stored (every run before this "
                   "option), all training videos the same size")
    p.add_argument("--init-from", help="a sampler run directory to start from (same architecture and features)")
    p.add_argument("--freeze-backbone", action="store_true", help="train only the last layer (needs --init-from)")
    p.add_argument("--cache", help="feature and dense-score cache (default: DATA/cache)")
    p.add_argument("--workers", type=int, default=1, help="processes for extracting missing features (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.cli.args import comma_list
    from scsampler.engine.sampler import JointTrainConfig, SamplerTrainConfig, fit_joint_sampler, fit_sampler
    from scsampler.errors import ConfigError

    if args.modality == "audio-visual":
        if not (args.visual_sampler and args.audio_sampler):
            raise ConfigError("--modality audio-visual needs --visual-sampler RUN and --audio-sampler RUN (both trained with sal-rank)")
        out = fit_joint_sampler(JointTrainConfig(
            data=args.data, classifier=args.classifier, visual=args.visual_sampler, audio=args.audio_sampler, out=args.out,
            epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, margin=args.margin, target=args.target, cache=args.cache,
            workers=args.workers, seed=args.seed), progress=sys.stderr.isatty())
        print(f"joint sampler saved to {out}")
        return 0

    config = SamplerTrainConfig(
        data=args.data, classifier=args.classifier, out=args.out, modality=args.modality,
        features=tuple(comma_list(args.features)), arch=args.arch, loss=args.loss, ac_loss=args.ac_loss,
        target=args.target, k_tr=args.k_tr, margin=args.margin, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        eval_frames_per_clip=args.eval_frames, input_norm=args.input_norm, init_from=args.init_from, freeze_backbone=args.freeze_backbone,
        cache=args.cache, workers=args.workers, seed=args.seed,
    )
    out = fit_sampler(config, progress=sys.stderr.isatty())
    print(f"sampler saved to {out}")
    return 0
