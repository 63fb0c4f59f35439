"""Training VideoEpitoma (section 3) from raw video files, in one of the paper's two modes.

1. Timestep frames: one frame per clip of every training video. ``iframe`` (default): the cheap
   pass's I-frame thumbnail of the clip, or of the nearest clip that has one (read from the feature
   cache, extracted if missing: only key frames are decoded); ``middle``: the clip's exact middle
   frame, decoded (cached under ``<cache>/epitoma-middle``).
2. The light network: the shipped one, pretrained on the thumbnails of trimmed clips (as the paper's
   MobileNet comes pretrained on ImageNet), used as it is by default, or fine-tuned on those frames,
   each labelled with its video's label (``light_epochs``; section 3.1), then frozen.
3. The gate and the paper's classifier head are trained together on batches of videos, ``timesteps``
   random timesteps each (section 4.2: T = 32), with cross-entropy on the video label plus the L0
   term toward ``budget``:

   - ``standalone`` (section 4.2): the light features on both sides: the head classifies the gated
     light features. The trained gate is then used with any clip classifier, which it never saw.
   - ``end-to-end`` (section 4.3): the head classifies the gated features of the clip classifier
     (its pooled feature before ``fc``, computed once with the frozen classifier and cached under
     ``<cache>/clip-outputs``, shared with Listen to Look's teacher), so the gate learns what helps that classifier.

A run directory holds ``light.safetensors``, ``gate.safetensors``, ``head.safetensors``,
``config.json`` (``"kind": "epitoma"``, written last) and ``curve.json``; ``load_selector(run)``
loads it as the ``videoepitoma`` selector.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.optim.swa_utils import update_bn
from tqdm import tqdm

from scsampler.assets import TRIMMED_LIGHT
from scsampler.data.cache import FeatureCache
from scsampler.data.classes import dataset_paths
from scsampler.data.extraction import extract_many
from scsampler.data.manifest import ManifestEntry, read_manifest
from scsampler.engine.frames import cached_frames
from scsampler.engine.loop import Step, shuffled, train
from scsampler.engine.runs import is_finished_run, run_identity
from scsampler.engine.sampler import default_cache
from scsampler.errors import ConfigError, ScsamplerError
from scsampler.features.extractor import ExtractorConfig
from scsampler.files import atomic_write_json, digest
from scsampler.io.decode import DecodeStats
from scsampler.io.video import probe
from scsampler.models.epitoma import EpitomaHead, L0Penalty, LightNet, TimestepGate
from scsampler.models.registry import create_model, list_models
from scsampler.models.weights import load_weights, read_run_config, save_run
from scsampler.runtime.classifier import ClipClassifier, load_classifier
from scsampler.runtime.clip_outputs import cached_clip_outputs, pooled_features
from scsampler.runtime.sampler import packed_keys, prepare
from scsampler.selectors.epitoma import FRAMES, RUN_FILES, middle_frames, nearest_source, own_iframe_rows, thumbnail_size
from scsampler.selectors.ranking import select_uniform

log = logging.getLogger(__name__)

MODES = ("standalone", "end-to-end")


@dataclass
class EpitomaTrainConfig:
    data: str                                   # data directory or manifest (train split; the test split is evaluated)
    classifier: str                             # the clip classifier: its grid (both modes) and features (end-to-end)
    out: str                                    # run directory
    mode: str = "standalone"                    # or "end-to-end"
    budget: float = 0.25                        # the share of timesteps the L0 term pulls the gate toward
    l0_weight: float = 1.0                      # weight of the L0 term (the paper gives none)
    frame: str = "iframe"                       # the timestep's frame: "iframe" (nearest I-frame) or "middle"
    light: str = "epitoma_light_cnn"
    light_init: str | None = str(TRIMMED_LIGHT)  # the light network's starting weights (a light run); None: random
    light_epochs: int = 0                       # its fine-tuning on the training videos' frames (0: used as it is)
    light_batch_size: int = 64
    light_lr: float = 2e-3
    concepts: int = 16                          # N concept kernels
    gate_hidden: int = 32                       # the gate MLP's hidden width
    head_hidden: int = 128                      # the classifier head's width (attention and MLP)
    heads: int = 1                              # attention heads (gate and head)
    temperature: float = 2 / 3                  # of the logistic (Gumbel) noise
    noise_start: float = 1.0                    # the noise's scale, annealed geometrically over the epochs
    noise_end: float = 0.1                      # to this (1.0 and 1.0: the paper's fixed noise)
    timesteps: int = 32                         # random timesteps per video and training step (paper: T = 32)
    eval_timesteps: int = 0                     # the selector's candidates by default: 0 = every clip
    epochs: int = 200                           # 600 steps on `small`'s 48 videos (docs/videoepitoma.md)
    batch_size: int = 16                        # videos per step
    lr: float = 1e-3
    weight_decay: float = 1e-4
    evaluate: bool = True                       # the paper's classifier and the kept share on the test split
    cache: str | None = None                    # default: <data>/cache
    workers: int = 1                            # for extracting missing features
    seed: int = 0
    extractor: dict = field(default_factory=dict)   # ExtractorConfig overrides (small_side, ...)

    def __post_init__(self):
        if self.mode not in MODES:
            raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {self.mode!r}")
        if self.frame not in FRAMES:
            raise ConfigError(f"frame must be one of {', '.join(FRAMES)}, got {self.frame!r}")
        if self.light not in list_models("epitoma_light"):
            raise ConfigError(f"unknown light network {self.light!r}; known: {', '.join(list_models('epitoma_light'))}")
        if not 0 < self.budget <= 1:
            raise ConfigError(f"budget must be a share of the timesteps in (0, 1], got {self.budget}")
        if self.timesteps < 1 or self.eval_timesteps < 0:
            raise ConfigError(f"timesteps must be >= 1 and eval_timesteps >= 0, got {self.timesteps}, {self.eval_timesteps}")
        if not 0 < self.noise_end <= self.noise_start:
            raise ConfigError(f"the noise's scale must satisfy 0 < noise_end <= noise_start, got {self.noise_start}, {self.noise_end}")
        if self.light_init is None and self.light_epochs < 1:
            raise ConfigError("the light network would stay random: give light_init (pretrained weights) or light_epochs >= 1")
        if self.concepts % self.heads or self.head_hidden % self.heads:
            raise ConfigError(f"concepts ({self.concepts}) and head_hidden ({self.head_hidden}) must be multiples of heads ({self.heads})")


# -- timestep frames --------------------------------------------------------------------------------
@dataclass
class TimestepFrames:
    """The light network's input of one video: ``frames (M, 3, h, w)`` uint8, the distinct frames
    read, and ``source (L,)``, the frame of each clip."""

    video_id: str
    label: int
    frames: torch.Tensor
    source: torch.Tensor
    frames_decoded: int            # what reading them decoded: key frames (iframe) or frames (middle)

    @property
    def num_clips(self) -> int:
        return len(self.source)


def iframe_timesteps(packed: dict[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """``(frames, source)`` of a packed video: each clip's own I-frame nearest its middle, or that of
    the nearest clip with one (the selector's rule, :mod:`scsampler.selectors.epitoma`)."""
    n = len(packed["clip_index"])
    owner = packed.get("iframes_clip", torch.zeros(0, dtype=torch.int32))
    clips, rows = own_iframe_rows(owner.long(), torch.ones(n, dtype=torch.bool))
    if len(rows) == 0:
        raise ConfigError("no I-frame in the video")
    has = torch.zeros(n, dtype=torch.bool)
    has[clips] = True
    slot = torch.full((n,), -1, dtype=torch.long)
    slot[clips] = torch.arange(len(clips))
    return packed["iframes"][rows], slot[nearest_source(has, torch.arange(n))]


def load_timestep_frames(config: EpitomaTrainConfig, entries: list[ManifestEntry], classifier: ClipClassifier,
                         index: dict[str, int], cache_root: Path, progress: bool) -> tuple[list[TimestepFrames], dict[str, str], dict]:
    """The timestep frames of ``entries`` (those that could be read), their errors, and the extractor settings."""
    grid = classifier.grid
    extractor = ExtractorConfig(**{"clip_frames": grid.clip_frames, "fps": grid.fps, **config.extractor, "features": ("if",)})
    out, errors = [], {}
    if config.frame == "iframe":
        summary = extract_many(entries, cache_root / "features", extractor, workers=config.workers, progress=progress)
        errors.update({v: e for v, e in summary.failed})
        fcache = FeatureCache(cache_root / "features", extractor)
    for e in tqdm(entries, desc=f"{config.frame} frames", unit="video", disable=not progress):
        if e.video_id in errors:
            continue
        try:
            if config.frame == "iframe":
                packed = fcache.load(digest(e.path, size=16), keys=packed_keys(("if",)))
                frames, source = iframe_timesteps(packed)
                decoded = len(packed["iframes"])
            else:
                frames, decoded = _middle_frames_cached(e, grid, extractor.small_side, cache_root)
                source = torch.arange(len(frames))
        except (ScsamplerError, KeyError) as err:
            errors[e.video_id] = f"{e.video_id}: {err}"
            continue
        out.append(TimestepFrames(e.video_id, index[e.label], frames, source, decoded))
    return out, errors, extractor.to_json()


def _middle_frames_cached(entry: ManifestEntry, grid, small_side: int, cache_root: Path) -> tuple[torch.Tensor, int]:
    def decode(stats: DecodeStats) -> torch.Tensor:
        n = grid.num_clips(probe(entry.path).duration)
        return middle_frames(entry.path, range(n), grid, thumbnail_size(entry.path, small_side), stats)

    return cached_frames("epitoma-middle", entry, {"grid": grid.to_json(), "small_side": small_side}, cache_root, decode)


# -- the clip classifier's features (end-to-end) ----------------------------------------------------
def heavy_features(classifier: ClipClassifier, entries: list[ManifestEntry], cache_root: Path, progress: bool,
                   chunk: int = 64) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """``(L, D)`` pooled features of every clip of each video, from the cache Listen to Look's teacher
    shares (:func:`scsampler.runtime.clip_outputs.cached_clip_outputs`), and the videos that failed."""
    out, errors = {}, {}
    for e in tqdm(entries, desc="classifier features", unit="video", disable=not progress):
        try:
            out[e.video_id] = cached_clip_outputs(classifier, e, cache_root, chunk)[0]
        except (ScsamplerError, OSError) as err:
            errors[e.video_id] = f"{e.video_id}: {err}"
    return out, errors


# -- the light network ------------------------------------------------------------------------------
def light_kwargs(config: EpitomaTrainConfig, num_classes: int) -> dict:
    """The light network's builder arguments: those of ``light_init`` (its width) and ``num_classes``."""
    if config.light_init is None:
        return {"num_classes": num_classes}
    saved = read_run_config(config.light_init, "epitoma-light", "light-network run")
    if saved.get("model") != config.light:
        raise ConfigError(f"{config.light_init} holds a {saved.get('model')}, not a {config.light}: train with light="
                          f"{saved.get('model')}, or from scratch with light_init=None (--light-init none)")
    return {**saved.get("model_kwargs", {}), "num_classes": num_classes}


def initial_light(config: EpitomaTrainConfig, num_classes: int) -> LightNet:
    """The light network before any fine-tuning: ``light_init``'s weights (its class layer too when it has
    ``num_classes`` classes; else a new one), or random ones."""
    net = create_model(config.light, **light_kwargs(config, num_classes))
    if config.light_init is not None:
        load_weights(net, Path(config.light_init) / "model.safetensors", skip_mismatched_head=True)
    return net


def train_light(config: EpitomaTrainConfig, videos: list[TimestepFrames], num_classes: int, progress: bool) -> tuple[LightNet, list[dict]]:
    """The light network (:func:`initial_light`), fine-tuned ``light_epochs`` as a frame classifier
    (every frame labelled with its video's label), in eval mode; and the fine-tuning's curve.

    In long videos whose action fills a fifth of the time, that label is wrong for most frames: on
    `small` (48 training videos) the fine-tuning learns to tell the training videos apart by their
    backgrounds (89% of their background frames "right" after 6 epochs) rather than the action (on
    the test videos the pretrained network's pair accuracy on action frames fell from 0.69 to 0.52):
    hence the default of none when the network comes pretrained."""
    net = initial_light(config, num_classes)
    if config.light_epochs < 1:
        return net.eval(), []
    size = _common_size(videos)
    x = torch.cat([_resized(v.frames, size) for v in videos])
    y = torch.cat([torch.full((len(v.frames),), v.label) for v in videos])
    rng = np.random.default_rng(config.seed)
    bs = config.light_batch_size

    def batches(epoch: int):
        return shuffled(len(x), bs, rng)

    def step(batch) -> Step:
        frames = prepare("if", x[batch])
        flip = torch.from_numpy(rng.random(len(batch)) < 0.5)
        frames = torch.where(flip.view(-1, 1, 1, 1), frames.flip(-1), frames)   # horizontal flips
        out = net(frames)
        return Step(F.cross_entropy(out, y[batch]), len(batch), {"accuracy": int((out.argmax(1) == y[batch]).sum())})

    curve = train(net, batches, step, epochs=config.light_epochs, steps_per_epoch=math.ceil(len(x) / bs), lr=config.light_lr,
                  weight_decay=config.weight_decay, desc=f"fine-tune {config.light}", progress=progress)
    precise_batchnorm(net, x, bs)
    return net.eval(), curve


def precise_batchnorm(net: LightNet, frames: torch.Tensor, batch: int) -> None:
    """Set every batch norm's running statistics to their average over ``frames`` (uint8 ``(N, 3, h, w)``)
    under the trained weights ("precise BN": torch's ``update_bn`` over the network's ``body``, where
    its batch norms are, so that the head's dropout draws no random numbers).

    torchvision's MobileNetV3 updates them with momentum 0.01, made for ImageNet's long schedules: after
    a fine-tuning of a few hundred steps they are still mostly their initial values (mean 0, variance 1)
    and the eval-mode network gave every frame the same feature (std over `small`'s frames 4e-6), so the
    gate and the head had nothing to learn from."""
    update_bn((prepare("if", frames[i : i + batch]) for i in range(0, len(frames), batch)), net.body)


def _common_size(videos: list[TimestepFrames]) -> tuple[int, int]:
    sizes = [tuple(v.frames.shape[-2:]) for v in videos]
    return max(set(sizes), key=sizes.count)


def _resized(frames: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Frames of another size (a video of another shape) resized for batching with the rest."""
    if tuple(frames.shape[-2:]) == size:
        return frames
    return F.interpolate(frames.float(), size=size, mode="bilinear", align_corners=False).round().clamp(0, 255).to(torch.uint8)


@torch.inference_mode()
def light_features(net: LightNet, video: TimestepFrames, batch: int = 256) -> torch.Tensor:
    """``(L, C)``: the light feature of each clip's frame."""
    feats = torch.cat([net.forward_features(prepare("if", video.frames[i : i + batch])) for i in range(0, len(video.frames), batch)])
    return feats[video.source]


# -- the gate and the classifier head ---------------------------------------------------------------
class EpitomaTask(nn.Module):
    """The training objective: cross-entropy of the head on the gated timesteps plus the L0 term.

    ``forward(x (B, T, C) light features, y (B, T, D) classifier features, mask (B, T), labels (B,))
    -> {"loss", "ce", "l0", "logits" (B, classes), "gates" (B, T), "alpha" (B, T)}``."""

    def __init__(self, gate: TimestepGate, head: EpitomaHead, penalty: L0Penalty):
        super().__init__()
        self.gate, self.head, self.penalty = gate, head, penalty

    def forward(self, x, y, mask, labels) -> dict[str, torch.Tensor]:
        alpha = self.gate.logits(x, mask)
        gates = self.gate.gates(alpha) * mask
        logits = self.head(y, gates, mask)
        ce = F.cross_entropy(logits, labels)
        l0 = self.penalty(alpha, mask, self.gate.noise_scale)
        return {"loss": ce + l0, "ce": ce, "l0": l0, "logits": logits, "gates": gates, "alpha": alpha}


def timestep_batch(videos: list[int], light: list[torch.Tensor], heavy: list[torch.Tensor], timesteps: int,
                   rng: np.random.Generator | None):
    """``(x (B, T, C), y (B, T, D), mask (B, T))``: ``timesteps`` random timesteps of each video in
    time order (``rng=None``: evenly spread), fewer where a video has fewer clips (padded, masked)."""
    picks = []
    for v in videos:
        n = len(light[v])
        if n <= timesteps:
            picks.append(torch.arange(n))
        elif rng is None:
            picks.append(select_uniform(n, timesteps))
        else:
            picks.append(torch.from_numpy(np.sort(rng.choice(n, timesteps, replace=False))))
    t = max(len(p) for p in picks)
    x = torch.zeros(len(videos), t, light[videos[0]].shape[1])
    y = torch.zeros(len(videos), t, heavy[videos[0]].shape[1])
    mask = torch.zeros(len(videos), t, dtype=torch.bool)
    for b, (v, p) in enumerate(zip(videos, picks)):
        x[b, : len(p)], y[b, : len(p)], mask[b, : len(p)] = light[v][p], heavy[v][p], True
    return x, y, mask


def noise_scale(config: EpitomaTrainConfig, epoch: int) -> float:
    """The logistic noise's scale in ``epoch`` (from 0): ``noise_start`` to ``noise_end``, geometrically."""
    if config.epochs <= 1:
        return config.noise_end
    return config.noise_start * (config.noise_end / config.noise_start) ** (epoch / (config.epochs - 1))


def train_gate(config: EpitomaTrainConfig, light: list[torch.Tensor], heavy: list[torch.Tensor], labels: torch.Tensor,
               num_classes: int, progress: bool) -> tuple[TimestepGate, EpitomaHead, list[dict]]:
    gate = TimestepGate(light[0].shape[1], concepts=config.concepts, hidden=config.gate_hidden, heads=config.heads,
                        temperature=config.temperature)
    head = EpitomaHead(heavy[0].shape[1], num_classes, hidden=config.head_hidden, heads=config.heads)
    task = EpitomaTask(gate, head, L0Penalty(config.budget, config.l0_weight))
    rng = np.random.default_rng(config.seed)
    n, bs = len(light), config.batch_size

    def batches(epoch: int):
        gate.noise_scale = noise_scale(config, epoch)
        return ([int(v) for v in batch] for batch in shuffled(n, bs, rng))

    def step(batch) -> Step:
        x, y, mask = timestep_batch(batch, light, heavy, config.timesteps, rng)
        out = task(x, y, mask, labels[batch])
        kept = ((out["gates"] > 0).sum(1) / mask.sum(1)).sum()
        return Step(out["loss"], len(batch), {"ce": out["ce"].item() * len(batch), "l0": out["l0"].item() * len(batch),
                                              "kept_share": float(kept),
                                              "accuracy": int((out["logits"].argmax(1) == labels[batch]).sum())})

    curve = train(task, batches, step, epochs=config.epochs, steps_per_epoch=math.ceil(n / bs), lr=config.lr,
                  weight_decay=config.weight_decay, desc=f"train the gate ({config.mode})", progress=progress)
    return gate.eval(), head.eval(), curve


@torch.inference_mode()
def evaluate(gate: TimestepGate, head: EpitomaHead, light: list[torch.Tensor], heavy: list[torch.Tensor], labels: torch.Tensor,
             timesteps: int = 0) -> dict:
    """The paper's classifier with test-time gates (no noise, the step function) over every clip of
    each video (``timesteps`` evenly spread ones): accuracy and the share of timesteps kept."""
    gate.eval(), head.eval()
    correct, kept = [], []
    for v in range(len(light)):
        t = timesteps if timesteps > 0 else len(light[v])
        x, y, mask = timestep_batch([v], light, heavy, t, None)
        g = gate(x, mask)
        correct.append(int(head(y, g, mask).argmax(1)[0] == labels[v]))
        kept.append(float(g.sum() / mask.sum()))
    return {"videos": len(light), "top1": float(np.mean(correct)) if correct else None,
            "kept_share": float(np.mean(kept)) if kept else None}


# -- the run ----------------------------------------------------------------------------------------
def _identity(config: EpitomaTrainConfig) -> dict:
    manifest, _ = dataset_paths(config.data)
    files = {"manifest_sha": manifest, "classifier_sha": Path(config.classifier) / "model.safetensors"}
    if config.light_init is not None:             # its weights, wherever the package is installed
        files["light_init_sha"] = Path(config.light_init) / "model.safetensors"
        if not files["light_init_sha"].is_file():
            raise ConfigError(f"{config.light_init}: not a light-network run (no model.safetensors)")
    return run_identity(config, drop=("out", "workers", "cache", "light_init"), files=files)


def _features(config, entries, split, classifier, index, cache_root, progress, net=None):
    """Light and classifier features of the readable videos of ``entries``: ``(frames, light, heavy,
    labels, errors, extractor)``; the light network is trained on these frames when ``net`` is None."""
    frames, errors, extractor = load_timestep_frames(config, entries, classifier, index, cache_root, progress)
    heavy = {}
    if config.mode == "end-to-end":
        heavy, heavy_errors = heavy_features(classifier, [e for e in entries if e.video_id not in errors], cache_root, progress)
        errors.update(heavy_errors)
        for v in frames:
            if v.video_id in heavy and len(heavy[v.video_id]) != v.num_clips:
                errors[v.video_id] = f"{v.video_id}: {v.num_clips} clips of frames but {len(heavy[v.video_id])} of classifier features"
        frames = [v for v in frames if v.video_id not in errors]
    if not frames:
        raise ConfigError(f"no usable {split} videos ({len(errors)} failed; first: {next(iter(errors.values()), '')})")
    return frames, heavy, errors, extractor


def fit_epitoma(config: EpitomaTrainConfig, *, progress: bool = True, reuse: bool = True) -> Path:
    """Train VideoEpitoma as ``config`` says; returns the run directory. With ``reuse``, a run
    already trained with the same settings, data and classifier is returned as it is."""
    torch.manual_seed(config.seed)
    run = Path(config.out)
    identity = _identity(config)
    if reuse and is_finished_run(run, identity, [run / f for f in RUN_FILES]):
        log.info("%s: already trained with these settings, reusing it", run)
        return run
    t0 = time.perf_counter()
    manifest, _ = dataset_paths(config.data)
    cache_root = Path(config.cache) if config.cache else default_cache(config.data)
    classifier = load_classifier(config.classifier)
    index = {c: i for i, c in enumerate(classifier.classes)}
    splits = {s: read_manifest(manifest, split=s) for s in ("train", "test")}
    if not splits["train"]:
        raise ConfigError(f"{manifest}: no videos in the train split")
    for e in splits["train"] + splits["test"]:
        if e.label not in index:
            raise ConfigError(f"{manifest}: label {e.label!r} of {e.video_id} is not one of the classifier's classes")
    frames, heavy, errors, extractor = _features(config, splits["train"], "train", classifier, index, cache_root, progress)
    prepare_s = time.perf_counter() - t0
    light_net, light_curve = train_light(config, frames, len(index), progress)
    light = [light_features(light_net, v) for v in frames]
    side = [heavy[v.video_id] for v in frames] if config.mode == "end-to-end" else light
    labels = torch.tensor([v.label for v in frames])
    gate, head, curve = train_gate(config, light, side, labels, len(index), progress)
    result = {"train": evaluate(gate, head, light, side, labels, config.eval_timesteps)}
    if config.evaluate and splits["test"]:
        t_frames, t_heavy, t_errors, _ = _features(config, splits["test"], "test", classifier, index, cache_root, progress)
        errors.update(t_errors)
        t_light = [light_features(light_net, v) for v in t_frames]
        t_side = [t_heavy[v.video_id] for v in t_frames] if config.mode == "end-to-end" else t_light
        result["test"] = evaluate(gate, head, t_light, t_side, torch.tensor([v.label for v in t_frames]), config.eval_timesteps)
    saved = {
        "kind": "epitoma",
        "mode": config.mode,
        "frame": config.frame,
        "light": {"arch": config.light, "kwargs": light_kwargs(config, len(index)), "init": config.light_init},
        "feature_dim": light[0].shape[1],
        "head_feature_dim": side[0].shape[1],
        "gate": {"concepts": config.concepts, "hidden": config.gate_hidden, "heads": config.heads, "temperature": config.temperature},
        "head": {"hidden": config.head_hidden, "heads": config.heads},
        "classes": list(classifier.classes),
        "classifier": {"name": classifier.name, "key": classifier.key, "run": str(config.classifier)},
        "input_shape": list(frames[0].frames.shape[1:]),
        "small_side": extractor["small_side"],
        "extractor": extractor,
        "budget": config.budget,
        "eval_timesteps": config.eval_timesteps,
        "frames_decoded_per_video": float(np.mean([v.frames_decoded for v in frames])),
        "clips_per_video": float(np.mean([v.num_clips for v in frames])),
        "evaluation": result,
        "train": json.loads(json.dumps(asdict(config))),
        "identity": identity,
        "training_videos": len(frames),
        "skipped_videos": errors,
        "seconds": {"prepare": prepare_s, "light": sum(c["seconds"] for c in light_curve), "gate": sum(c["seconds"] for c in curve),
                    "total": time.perf_counter() - t0},
    }
    atomic_write_json(run / "curve.json", {"light": light_curve, "gate": curve}, sort_keys=False)
    return save_run(run, {"light.safetensors": light_net, "gate.safetensors": gate, "head.safetensors": head}, saved)


__all__ = ["EpitomaTask", "EpitomaTrainConfig", "MODES", "evaluate", "fit_epitoma", "heavy_features",
           "iframe_timesteps", "initial_light", "light_features", "light_kwargs", "load_timestep_frames", "pooled_features",
           "precise_batchnorm", "timestep_batch", "train_gate", "train_light"]
