"""``scsampler train-epitoma``: train VideoEpitoma's timestep gate (stand-alone or end-to-end with the
clip classifier) from the video files of a data directory."""

from __future__ import annotations

import sys

# Library imports happen inside run(): `scsampler --help` must not pay for importing torch.
LIGHT_ARCHS = ("epitoma_light_cnn", "epitoma_light_mobilenet_v3_small", "epitoma_light_tiny")


def add_parser(sub) -> None:
    p = sub.add_parser(
        "train-epitoma",
        help="train VideoEpitoma's timestep selector (a light network, a gate, a classifier head), stand-alone or end-to-end",
        description="Train VideoEpitoma on the train split of a data directory: take the light network (by default the shipped "
        "one, pretrained on trimmed clips' thumbnails; --light-epochs fine-tunes it on one frame per clip: the nearest "
        "I-frame thumbnail, or the decoded middle frame), then train the gate (concept kernels, "
        "self-attention, MLP, Gumbel noise and the clipped sigmoid, L0 toward --budget) with the paper's classifier head, "
        "over the light features (standalone) or the clip classifier's features (end-to-end). The run directory "
        "(light/gate/head .safetensors, config.json, curve.json) is the videoepitoma selector: predict --sampler RUN, "
        "benchmark --sampler NAME=RUN.",
    )
    p.add_argument("--data", required=True, help="data directory with manifest.csv and classes.txt (or a manifest)")
    p.add_argument("--classifier", required=True, help="clip classifier run (from train-classifier): its clip grid, and its "
                   "features in end-to-end mode")
    p.add_argument("--out", required=True, help="run directory")
    p.add_argument("--mode", choices=("standalone", "end-to-end"), default="standalone",
                   help="standalone: the head classifies the light features (section 4.2); end-to-end: the clip "
                   "classifier's features (section 4.3). Default standalone")
    p.add_argument("--budget", type=float, default=0.25, help="share of the timesteps the L0 term pulls the gate toward (default 0.25)")
    p.add_argument("--l0-weight", type=float, default=1.0, help="weight of the L0 term (default 1)")
    p.add_argument("--frame", choices=("iframe", "middle"), default="iframe",
                   help="a timestep's frame: the I-frame thumbnail nearest the clip (default; no extra decoding) or the "
                   "clip's exact middle frame, decoded (the paper)")
    p.add_argument("--light", choices=LIGHT_ARCHS, default=LIGHT_ARCHS[0], help=f"light network (default {LIGHT_ARCHS[0]}, "
                   "the shipped one's architecture)")
    p.add_argument("--light-init", default="shipped",
                   help="the light network's starting weights: 'shipped' (default: scsampler/assets/trimmed-light, pretrained on "
                   "the thumbnails of the generated pretrain preset's trimmed clips: made for the generated benchmark data; "
                   "for your own videos train one on frames like yours), a light-network run directory "
                   "(benchmarks/epitoma_light.py), or 'none' (random: give --light-epochs)")
    p.add_argument("--light-epochs", type=int, default=0,
                   help="epochs of the light network's fine-tuning on the training videos' frames, each labelled with its "
                   "video's label (default 0: used as it comes; in long videos that label is wrong for most frames)")
    p.add_argument("--concepts", type=int, default=16, help="concept kernels N (default 16)")
    p.add_argument("--timesteps", type=int, default=32, help="random timesteps per video in a training step (default 32, the paper's T)")
    p.add_argument("--eval-timesteps", type=int, default=0,
                   help="the selector's candidate timesteps, evenly spread (default 0: every clip)")
    p.add_argument("--noise-end", type=float, default=0.1,
                   help="scale of the gate's logistic noise at the end of training, annealed from 1 (default 0.1; 1: the "
                   "paper's fixed noise)")
    p.add_argument("--epochs", type=int, default=200, help="epochs of the gate's training (default 200)")
    p.add_argument("--batch-size", type=int, default=16, help="videos per step (default 16)")
    p.add_argument("--lr", type=float, default=1e-3, help="peak learning rate, one-cycle schedule (default 1e-3)")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation on the test split")
    p.add_argument("--cache", help="feature cache (default: DATA/cache)")
    p.add_argument("--workers", type=int, default=1, help="processes for extracting missing features (default 1)")
    p.add_argument("--seed", type=int, default=0, help="seed of the initialisation, the batches and the gate's noise (default 0)")
    p.set_defaults(func=run)


def run(args) -> int:
    from scsampler.assets import TRIMMED_LIGHT
    from scsampler.engine.epitoma import EpitomaTrainConfig, fit_epitoma

    light_init = {"shipped": str(TRIMMED_LIGHT), "none": None}.get(args.light_init, args.light_init)
    config = EpitomaTrainConfig(
        data=args.data, classifier=args.classifier, out=args.out, mode=args.mode, budget=args.budget, l0_weight=args.l0_weight,
        frame=args.frame, light=args.light, light_init=light_init, light_epochs=args.light_epochs, concepts=args.concepts,
        timesteps=args.timesteps, eval_timesteps=args.eval_timesteps, noise_end=args.noise_end, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        evaluate=not args.no_eval, cache=args.cache, workers=args.workers, seed=args.seed,
    )
    out = fit_epitoma(config, progress=sys.stderr.isatty())
    print(f"VideoEpitoma ({args.mode}) saved to {out}")
    return 0
