"""Training a clip classifier with the paper's protocol (Appendix A, after Tran et al. 2018): from
every training video, N random 2-second segments labelled with the video's label; each training
step takes one clip at a random offset inside a segment, randomly cropped.

Videos with several labels (a manifest's ``labels`` column) train with binary cross-entropy over the
classes (``loss="bce"``, chosen by ``"auto"`` when some training video has several). A random
segment of such a video would mostly show none of its actions, or one of several, so where
``segments.json`` says where each action is, a multi-label video's segments are drawn inside its
actions' intervals, its labels in turn, each labelled with the actions that cover its middle.

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
from scsampler.data.segments import action_intervals, read_segments_file
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

LOSSES = ("auto", "ce", "bce")


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
    # "ce": cross-entropy on each video's label; "bce": binary cross-entropy over the classes, on all
    # its labels; "auto": bce when some training video has several labels, else ce.
    loss: str = "auto"
    device: str = "cpu"                        # where training runs (not part of the run's identity)

    def transform(self) -> ClipTransform:
        return ClipTransform(frames=self.frames, resize=tuple(self.resize), crop=tuple(self.crop))


def training_loss(loss: str, entries: list[ManifestEntry]) -> str:
    """``"ce"`` or ``"bce"``: ``loss``, or for ``"auto"`` what the training videos' labels call for."""
    if loss not in LOSSES:
        raise ConfigError(f"unknown classifier loss {loss!r}; known: {', '.join(LOSSES)}")
    if loss == "auto":
        return "bce" if any(e.multi_label for e in entries) else "ce"
    return loss


def _duration(entry: ManifestEntry) -> Fraction:
    return Fraction(entry.duration_s).limit_denominator(1000) if entry.duration_s else probe(entry.path).duration


def _video_rng(entry: ManifestEntry, seed: int) -> np.random.Generator:
    """The video's own RNG: adding a video does not move the others' segments."""
    return np.random.default_rng([seed, int(digest(entry.video_id.encode(), size=4), 16)])


def sample_segments(entries: list[ManifestEntry], n: int, length_s: float, seed: int) -> list[list[tuple[Fraction, Fraction]]]:
    """``n`` random ``length_s`` segments per video (their own RNG per video: adding a video does not
    move the others' segments). A video shorter than a segment gets one segment covering it."""
    out = []
    length = Fraction(length_s).limit_denominator(1000)
    for entry in entries:
        duration = _duration(entry)
        rng = _video_rng(entry, seed)
        room = duration - length
        if room <= 0:
            out.append([(Fraction(0), duration)])
            continue
        # Start times on a 1/16 s grid, drawn without regard to each other (segments may overlap).
        starts = sorted(Fraction(int(s * 16), 16) for s in rng.uniform(0, float(room), n))
        out.append([(s, s + length) for s in starts])
    return out


def sample_action_segments(entry: ManifestEntry, intervals: dict[str, list[tuple[float, float]]], n: int, length_s: float,
                           seed: int) -> tuple[list[tuple[Fraction, Fraction]], list[tuple[str, ...]]]:
    """``n`` ``length_s`` segments of a video with several labels, drawn inside its actions'
    ``intervals`` (label -> seconds, :func:`scsampler.data.segments.action_intervals`): its labels in
    turn (the main one first), an interval of that label by its length, a start uniformly inside it
    (centred on an interval shorter than a segment). Each segment's labels are those whose action
    covers its middle (the drawn one always). Returns the segments in time order and their labels."""
    duration = _duration(entry)
    rng = _video_rng(entry, seed)
    length = min(Fraction(length_s).limit_denominator(1000), duration)
    drawn = []
    for j in range(n):
        label = entry.labels[j % len(entry.labels)]
        spans = intervals[label]
        widths = np.array([max(b - a, 0.0) for a, b in spans])
        a, b = spans[int(rng.choice(len(spans), p=widths / widths.sum() if widths.sum() > 0 else None))]
        start = rng.uniform(a, b - float(length)) if b - a > length else (a + b - float(length)) / 2
        start = Fraction(int(min(max(start, 0.0), float(duration - length)) * 16), 16)  # on the 1/16 s grid, in the video
        middle = float(start + length / 2)
        shown = tuple(x for x in entry.labels if x == label or any(p <= middle < q for p, q in intervals.get(x, ())))
        drawn.append(((start, start + length), shown))
    drawn.sort(key=lambda d: d[0])
    return [d[0] for d in drawn], [d[1] for d in drawn]


def multi_label_segments(entries: list[ManifestEntry], ground_truth: dict[str, dict], n: int, length_s: float,
                         seed: int) -> tuple[list[list[tuple[Fraction, Fraction]]], list[list[tuple[str, ...]]]]:
    """Each video's segments and each segment's labels, for binary cross-entropy: a video with several
    labels whose ``segments.json`` entry places every one of them gets :func:`sample_action_segments`;
    any other gets :func:`sample_segments`' random ones, each labelled with all its labels."""
    segments, labels = [], []
    for e in entries:
        intervals = action_intervals(ground_truth[e.video_id]) if e.video_id in ground_truth else {}
        if e.multi_label and all(intervals.get(x) for x in e.labels):
            segs, shown = sample_action_segments(e, intervals, n, length_s, seed)
        else:
            segs = sample_segments([e], n, length_s, seed)[0]
            shown = [e.labels] * len(segs)
        segments.append(segs)
        labels.append(shown)
    return segments, labels


def decode_segments(
    config: ClassifierTrainConfig, entries, targets: list, segments, run: Path, progress: bool, num_classes: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """All segments' frames, ``(S, 3, F, H, W)`` uint8 with ``F = segment_s * fps``, and labels: ``(S,)``
    class indices, ``targets`` holding each video's; or, with ``num_classes`` (binary cross-entropy),
    ``(S, C)`` float32 multi-hot rows, ``targets`` holding each video's list of its segments' class
    indices. Cached in the run directory by a key of the inputs and settings."""
    n_frames = int(round(config.segment_s * config.fps))
    key = digest(json.dumps([[e.video_id, y, [(str(a), str(b)) for a, b in s]] for e, y, s in zip(entries, targets, segments)]
                            + [n_frames, list(config.resize)] + ([num_classes] if num_classes else [])).encode())
    frames_path, labels_path = run / f"segments-{key}.npy", run / f"segment-labels-{key}.npy"
    if frames_path.exists() and labels_path.exists():
        log.info("reusing decoded training segments %s", frames_path.name)
        return np.load(frames_path, mmap_mode="r"), np.load(labels_path)
    total = sum(len(s) for s in segments)
    h, w = config.resize
    labels = np.zeros(total, dtype=np.int64) if num_classes is None else np.zeros((total, num_classes), dtype=np.float32)
    with atomic_path(frames_path) as tmp:
        frames = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(total, 3, n_frames, h, w))
        k = 0
        jobs = list(zip(entries, targets, segments))
        for entry, y, segs in tqdm(jobs, desc="decode segments", unit="video", disable=not progress):
            clips = decode_intervals(entry.path, segs, num_frames=n_frames, size=(h, w))
            frames[k : k + len(segs)] = clips.numpy()
            if num_classes is None:
                labels[k : k + len(segs)] = y
            else:
                for j, classes in enumerate(y):
                    labels[k + j, list(classes)] = 1.0
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
    (random crop and flip from ``gen``) and scores it with cross-entropy, or with binary
    cross-entropy per class when ``labels`` are multi-hot rows ``(S, C)``."""
    multi_label = labels.ndim == 2

    def batches(epoch: int):
        order = rng.permutation(len(labels))
        for b in range(0, len(order), config.batch_size):
            yield np.sort(order[b : b + config.batch_size])  # sorted: sequential reads of the memmap

    def step(idx: np.ndarray) -> Step:
        x = transform(clip_batch(segments, idx, config, rng).to(config.device), train=True, generator=gen)
        y = torch.from_numpy(labels[idx]).to(config.device)
        logits = model(x)
        if multi_label:  # y (B, C) multi-hot; a clip is right when its top class is one of its labels
            right = y[torch.arange(len(idx)), logits.argmax(1)].sum().item()
            return Step(F.binary_cross_entropy_with_logits(logits, y), len(idx), {"clip_accuracy": right})
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
    classes = read_classes(classes_path) if classes_path.exists() else sorted({x for e in entries for x in e.labels})
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({x for e in entries for x in (e.labels or (None,))} - set(index), key=str)
    if not entries:
        raise ConfigError(f"{manifest}: no videos in the train split")
    if unknown:
        raise ConfigError(f"{manifest}: labels not in the class list: {', '.join(map(str, unknown[:5]))}")
    loss = training_loss(config.loss, entries)

    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    t0 = time.perf_counter()
    if loss == "ce":
        segments = sample_segments(entries, config.segments_per_video, config.segment_s, config.seed)
        frames, labels = decode_segments(config, entries, [index[e.label] for e in entries], segments, run, progress)
    else:
        ground_truth = read_segments_file(manifest.parent / "segments.json")
        segments, shown = multi_label_segments(entries, ground_truth, config.segments_per_video, config.segment_s, config.seed)
        targets = [[[index[x] for x in s] for s in video] for video in shown]
        frames, labels = decode_segments(config, entries, targets, segments, run, progress, num_classes=len(classes))
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
        "loss": loss,                  # the classifier's outputs: softmax (ce) or a sigmoid per class (bce)
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
    # The same training on another device is the same run; "auto" is decided by the manifest, whose
    # digest is there (and the runs from before the loss could be chosen stay the same runs).
    drop = ("out", "device") + (("loss",) if config.loss == "auto" else ())
    return run_identity(config, drop=drop, files=files)


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
