"""Train the light network shipped for VideoEpitoma (``scsampler/assets/trimmed-light``), and measure it.

    python benchmarks/epitoma_light.py [--data data/pretrain-6-classes] [--epochs 10] [--install] [--check data/small]

``epitoma_light_cnn`` (four convolutions, a 64-d feature) trained as a frame classifier on the I-frame
thumbnails of the ``pretrain`` preset's trimmed clips (the cheap pass's, 64 px), where every frame
shows its clip's action and so every frame's label is right. It is this project's counterpart of the
paper's MobileNet, which comes pretrained on ImageNet before its fine-tuning, and the sibling of the
trimmed-clip classifier (``benchmarks/demo_classifier.py --classes-of small`` writes the 6-class data
folder it reads). It never sees a long video or a background without an actor.

Why: trained from scratch on the frames of `small`'s 48 training videos, each labelled with its
video's label, a light network learns the training videos' backgrounds, not the action: on the test
videos its features carry nothing the gate can use (``docs/videoepitoma.md``, "The light network").

``--check DATA`` (a long-video data folder with ``segments.json``, e.g. ``data/small``): on its test
videos, the network's accuracy on the frames of clips inside the action (its class, and its pair: one
frame shows the look that two classes share, ``docs/benchmark-data.md``), and how well the network's
confidence (its top softmax probability) tells those frames from the rest (AUC). Writes
``<run>/summary.json``; with ``--install``, copies ``config.json`` and ``model.safetensors`` into
``scsampler/assets/trimmed-light``.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import torch

from scsampler.assets import TRIMMED_CLASSIFIER, TRIMMED_LIGHT
from scsampler.benchmark.metrics import clip_cover
from scsampler.data.classes import dataset_paths
from scsampler.data.manifest import read_manifest
from scsampler.data.segments import ACTION_KINDS, read_segments_file
from scsampler.engine.epitoma import EpitomaTrainConfig, light_features, load_timestep_frames, train_light
from scsampler.models.weights import save_run
from scsampler.runtime.classifier import load_classifier

SHIPPED = ("config.json", "model.safetensors")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, default=Path("data/pretrain-6-classes"), help="trimmed clips (manifest.csv, classes.txt)")
    ap.add_argument("--run", type=Path, default=Path("runs/epitoma-light"))
    ap.add_argument("--cache", type=Path, help="feature cache (default: DATA/cache)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--check", type=Path, help="a long-video data folder with segments.json to measure the network on")
    ap.add_argument("--install", action="store_true", help="copy the network into scsampler/assets/trimmed-light")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    progress = sys.stderr.isatty()
    torch.manual_seed(0)

    classifier = load_classifier(TRIMMED_CLASSIFIER)       # its clip grid: one timestep a clip
    config = EpitomaTrainConfig(data=str(args.data), classifier=str(TRIMMED_CLASSIFIER), out=str(args.run),
                                light="epitoma_light_cnn", light_init=None, light_epochs=args.epochs,
                                cache=str(args.cache) if args.cache else None)
    cache = Path(config.cache) if config.cache else args.data / "cache"
    index = {c: i for i, c in enumerate(classifier.classes)}
    manifest, _ = dataset_paths(args.data)
    train, errors, _ = load_timestep_frames(config, read_manifest(manifest, split="train"), classifier, index, cache, progress)
    t0 = time.perf_counter()
    net, curve = train_light(config, train, len(index), progress)
    seconds = time.perf_counter() - t0
    test, _, _ = load_timestep_frames(config, read_manifest(manifest, split="test"), classifier, index, cache, progress)
    summary = {"epochs": args.epochs, "train_frames": sum(len(v.frames) for v in train),
               "train_videos": len(train), "seconds": seconds, "trimmed_test": _accuracy(net, test, None), "skipped": errors}
    if args.check:
        summary["check"] = {"data": str(args.check), **check(net, args.check, cache=args.check / "cache", progress=progress)}
    save_run(args.run, {"model.safetensors": net}, {
        "kind": "epitoma-light", "model": "epitoma_light_cnn", "model_kwargs": {},
        "classes": list(classifier.classes), "input": "the cheap pass's I-frame thumbnails (64 px longest side)",
        "trained_on": str(args.data), "curve": curve, **{k: v for k, v in summary.items() if k != "skipped"}})
    (args.run / "summary.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "skipped"}, indent=1))
    if args.install:
        TRIMMED_LIGHT.mkdir(parents=True, exist_ok=True)
        for name in SHIPPED:
            shutil.copyfile(args.run / name, TRIMMED_LIGHT / name)
        print(f"installed {', '.join(SHIPPED)} into {TRIMMED_LIGHT}")


def _accuracy(net, videos, actions: list[torch.Tensor] | None) -> dict:
    """Frame accuracy (class, pair) over every frame (trimmed clips) or the action's clips only, and the
    AUC of the top probability between the action's clips and the others."""
    right, pair, conf_in, conf_out = [], [], [], []
    with torch.inference_mode():
        for i, v in enumerate(videos):
            p = net.forward_head(light_features(net, v)).softmax(1)          # (L, classes), a row per clip
            inside = torch.ones(len(p), dtype=torch.bool) if actions is None else actions[i]
            right.append((p.argmax(1) == v.label)[inside])
            pair.append((p.argmax(1) // 2 == v.label // 2)[inside])
            conf_in.append(p.max(1).values[inside])
            conf_out.append(p.max(1).values[~inside])
    out = {"clips": int(sum(len(r) for r in right)), "top1": float(torch.cat(right).float().mean()),
           "pair": float(torch.cat(pair).float().mean())}
    a, b = torch.cat(conf_in), torch.cat(conf_out)
    if len(a) and len(b):
        out["auc_confidence"] = float((a[:, None] > b[None]).float().mean() + 0.5 * (a[:, None] == b[None]).float().mean())
    return out


def check(net, data: Path, *, cache: Path, progress: bool) -> dict:
    """:func:`_accuracy` on the action's clips of ``data``'s test videos (their I-frames), by ``segments.json``."""
    classifier = load_classifier(TRIMMED_CLASSIFIER)
    index = {c: i for i, c in enumerate(classifier.classes)}
    manifest, _ = dataset_paths(data)
    entries = read_manifest(manifest, split="test")
    config = EpitomaTrainConfig(data=str(data), classifier=str(TRIMMED_CLASSIFIER), out=".", light_init=None, light_epochs=1)
    videos, _, _ = load_timestep_frames(config, entries, classifier, index, cache, progress)
    segments = read_segments_file(data / "segments.json")       # by video id
    clip_s = classifier.grid.clip_frames / classifier.grid.fps
    actions = []
    for v in videos:
        segs = segments[v.video_id]["segments"]
        actions.append(torch.tensor([sum(clip_cover(c, clip_s, segs, k) for k in ACTION_KINDS) >= clip_s / 2
                                     for c in range(v.num_clips)]))
    out = _accuracy(net, videos, actions)
    out["action_share"] = float(np.mean([float(a.float().mean()) for a in actions]))
    return out


if __name__ == "__main__":
    main()
