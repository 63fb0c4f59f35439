"""Training a clip classifier with the paper's protocol (Appendix A, after Tran et al. 2018): from
every training video, N random 2-second segments labelled with the video's label; each training
step takes one clip at a random offset inside a segment, randomly cropped.

The segments are decoded once, at the classifier's decode size, into ``segments.npy`` in the run
directory (reused by a rerun with the same data and settings); training never touches the video
files again.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from scsampler.data.classes import dataset_paths, read_classes, write_classes
from scsampler.data.manifest import ManifestEntry, read_manifest
from scsampler.errors import ConfigError
from scsampler.files import atomic_path, atomic_write_json, digest
from scsampler.io.decode import decode_intervals
from scsampler.io.video import probe
from scsampler.models.classifier import ClipTransform
from scsampler.models.registry import check_device, create_model, list_models
from scsampler.engine.loop import Step, train
from scsampler.engine.runs import is_finished_run, run_identity
from scsampler.models.weights import load_weights, save_checkpoint

log = logging.getLogger(__name__)


@dataclass
class ClassifierTrainConfig:
    data: str                                  # data directory (manifest.csv + classes.txt) or a manifest
    out: str                                   # run directory
    model: str = "r2plus1d_18"
    frames: int = 8                            # T frames per clip, spread over the clip's 1 s
    resize: tuple[int, int] = (64, 80)         # decode size (H, W)
    crop: tuple[int, int] = (64, 64)           # classifier input (H, W)
    clip_frames: int = 16                      # the clip grid: clip_frames at fps = 1 s
    fps: int = 16
    segments_per_video: int = 10
    segment_s: float = 2.0
    epochs: int = 10
    batch_size: int = 16
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    pretrained: str | None = None              # a local torchvision state dict to start from
    model_kwargs: dict = field(default_factory=dict)
    device: str = "cpu"                        # where training runs (not part of the run's identity)

    def transform(self) -> ClipTransform:
        return ClipTransform(frames=self.frames, resize=tuple(self.resize), crop=tuple(self.crop))


def sample_segments(entries: list[ManifestEntry], n: int, length_s: float, seed: int) -> list[list[tuple[Fraction, Fraction]]]:
    """``n`` random ``length_s`` segments per video (their own RNG per video: adding a video does not
    move the others' segments). A video shorter than a segment gets one segment covering it."""
    out = []
    length = Fraction(length_s).limit_denominator(1000)
    for entry in entries:
        duration = Fraction(entry.duration_s).limit_denominator(1000) if entry.duration_s else probe(entry.path).duration
        rng = np.random.default_rng([seed, int(digest(entry.video_id.encode(), size=4), 16)])
        room = duration - length
        if room <= 0:
            out.append([(Fraction(0), duration)])
            continue
        # Start times on a 1/16 s grid, drawn without regard to each other (segments may overlap).
        starts = sorted(Fraction(int(s * 16), 16) for s in rng.uniform(0, float(room), n))
        out.append([(s, s + length) for s in starts])
    return out


def decode_segments(
    config: ClassifierTrainConfig, entries, label_indices: list[int], segments, run: Path, progress: bool
) -> tuple[np.ndarray, np.ndarray]:
    """All segments' frames, ``(S, 3, F, H, W)`` uint8 with ``F = segment_s * fps``, and labels ``(S,)``.
    Cached in the run directory by a key of the inputs and settings."""
    n_frames = int(round(config.segment_s * config.fps))
    key = digest(json.dumps([[e.video_id, y, [(str(a), str(b)) for a, b in s]] for e, y, s in zip(entries, label_indices, segments)]
                            + [n_frames, list(config.resize)]).encode())
    frames_path, labels_path = run / f"segments-{key}.npy", run / f"segment-labels-{key}.npy"
    if frames_path.exists() and labels_path.exists():
        log.info("reusing decoded training segments %s", frames_path.name)
        return np.load(frames_path, mmap_mode="r"), np.load(labels_path)
    total = sum(len(s) for s in segments)
    h, w = config.resize
    labels = np.zeros(total, dtype=np.int64)
    with atomic_path(frames_path) as tmp:
        frames = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total, 3, n_frames, h, w))
        k = 0
        jobs = list(zip(entries, label_indices, segments))
        for entry, y, segs in tqdm(jobs, desc="decode segments", unit="video", disable=not progress):
            clips = decode_intervals(entry.path, segs, num_frames=n_frames, size=(h, w))
            frames[k : k + len(segs)] = clips.numpy()
            labels[k : k + len(segs)] = y
            k += len(segs)
        frames.flush()
        del frames
    with atomic_path(labels_path) as tmp:
        np.save(tmp, labels)
    return np.load(frames_path, mmap_mode="r"), labels


def clip_batch(segments: np.ndarray, idx: np.ndarray, config: ClassifierTrainConfig, rng: np.random.Generator) -> torch.Tensor:
    """One clip per segment at a random offset: ``frames`` samples spread over ``clip_frames``
    frames of the segment (the same spacing the grid's clips get at test time)."""
    seg_len = segments.shape[2]
    step = config.clip_frames / config.frames
    span = config.clip_frames
    out = np.empty((len(idx), 3, config.frames, *segments.shape[3:]), dtype=np.uint8)
    for j, i in enumerate(idx):
        off = int(rng.integers(0, max(1, seg_len - span + 1)))
        t = np.minimum(off + (np.arange(config.frames) * step).astype(int), seg_len - 1)
        out[j] = segments[i][:, t]
    return torch.from_numpy(out)


def clip_steps(model, segments, labels, config, transform, rng, gen):
    """``batches`` and ``step`` for :func:`scsampler.engine.loop.train`: every epoch, the segments in a
    random order, ``batch_size`` at a time; a step draws one random clip of each, transforms it
    (random crop and flip from ``gen``) and scores it with cross-entropy."""

    def batches(epoch: int):
        order = rng.permutation(len(labels))
        for b in range(0, len(order), config.batch_size):
            yield np.sort(order[b : b + config.batch_size])  # sorted: sequential reads of the memmap

    def step(idx: np.ndarray) -> Step:
        x = transform(clip_batch(segments, idx, config, rng).to(config.device), train=True, generator=gen)
        y = torch.from_numpy(labels[idx]).to(config.device)
        logits = model(x)
        return Step(F.cross_entropy(logits, y), len(idx), {"clip_accuracy": (logits.argmax(1) == y).sum().item()})

    return batches, step


def fit(config: ClassifierTrainConfig, *, progress: bool = True, reuse: bool = True) -> Path:
    """Train and save ``<out>/model.safetensors`` + ``config.json`` + ``curve.json``; returns ``out``.

    With ``reuse``, a run directory that already holds a checkpoint trained with the same
    settings is returned as it is (the data's manifest is part of the settings' identity)."""
    if config.model not in list_models("classifier"):
        raise ConfigError(f"unknown classifier {config.model!r}; known: {', '.join(list_models('classifier'))}")
    run = Path(config.out)
    if reuse and _same_run(run, config):
        log.info("%s: already trained with these settings, reusing it", run)
        return run
    run.mkdir(parents=True, exist_ok=True)
    manifest, classes_path = dataset_paths(config.data)
    entries = read_manifest(manifest, split="train")
    classes = read_classes(classes_path) if classes_path.exists() else sorted({e.label for e in entries if e.label})
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({e.label for e in entries} - set(index))
    if not entries:
        raise ConfigError(f"{manifest}: no videos in the train split")
    if unknown:
        raise ConfigError(f"{manifest}: labels not in the class list: {', '.join(map(str, unknown[:5]))}")
    label_indices = [index[e.label] for e in entries]

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    t0 = time.perf_counter()
    segments = sample_segments(entries, config.segments_per_video, config.segment_s, config.seed)
    frames, labels = decode_segments(config, entries, label_indices, segments, run, progress)
    decode_s = time.perf_counter() - t0

    model_kwargs = {"num_classes": len(classes), **config.model_kwargs}
    model = create_model(config.model, **model_kwargs)
    if config.pretrained:
        load_weights(model, config.pretrained)
    model.to(check_device(config.device))
    transform = config.transform()
    batches, step = clip_steps(model, frames, labels, config, transform, rng, gen)
    curve = train(model, batches, step, epochs=config.epochs, steps_per_epoch=math.ceil(len(labels) / config.batch_size),
                  lr=config.lr, weight_decay=config.weight_decay, desc=f"train {config.model}", progress=progress)
    saved = {
        "model": config.model,
        "model_kwargs": model_kwargs,
        "transform": transform.to_json(),
        "grid": {"clip_frames": config.clip_frames, "fps": config.fps},
        "classes": classes,
        "train": asdict(config),
        "identity": _identity(config),
        "seconds": {"decode_segments": decode_s, "train": sum(c["seconds"] for c in curve)},
    }
    write_classes(run / "classes.txt", classes)
    atomic_write_json(run / "curve.json", curve, sort_keys=False)
    plot_curve(curve, run / "curve.png")
    save_checkpoint(run, model, saved)  # config.json last: it marks the run finished
    return run


def _identity(config: ClassifierTrainConfig) -> dict:
    manifest, _ = dataset_paths(config.data)
    files = {"manifest_sha": manifest}
    if config.pretrained and Path(config.pretrained).is_file():  # new starting weights: a new run
        files["pretrained_sha"] = config.pretrained
    # The same training on another device is the same run.
    return run_identity(config, drop=("out", "device"), files=files)


def _same_run(run: Path, config: ClassifierTrainConfig) -> bool:
    return is_finished_run(run, _identity(config), [run / "model.safetensors"])


def plot_curve(curve: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3))
    epochs = [c["epoch"] for c in curve]
    ax.plot(epochs, [c["loss"] for c in curve], "o-", label="loss")
    ax.set_xlabel("epoch")
    ax.set_ylabel("training loss")
    ax2 = ax.twinx()
    ax2.plot(epochs, [c["clip_accuracy"] for c in curve], "s--", color="tab:orange", label="clip accuracy")
    ax2.set_ylabel("clip accuracy (train)")
    ax2.set_ylim(0, 1)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
