"""Training Listen to Look's two stages from the video files of a data directory.

``distill`` (section 3.2, IMGAUD2VID): every clip of the training videos is one example: its image
(the nearest I-frame thumbnail from the feature cache, or its exact first frame, decoded and cached
under ``<cache>/ltl-first``) and its log-mel window; the targets are the frozen clip classifier's
pooled feature and class distribution on that clip, computed once and cached under
``<cache>/clip-outputs/<classifier key>`` (shared with VideoEpitoma). With ``pretrain_data``, the clips of that data directory's
train split (the trimmed ``pretrain`` preset) join the training set. Loss (eq. 4): L1 between the student's fused feature and
the teacher's feature (mean over the dimensions) plus ``lam`` times the soft-target cross-entropy.
The student is trained from scratch.

``skim`` (section 3.3, IMGAUD-SKIMMING): the frozen student's branch features of every step of the
training videos; the policy is trained with cross-entropy on the video label of its classifier over
the mean fused feature of ``steps`` steps, on a random window of ``window`` consecutive steps of
each video per batch. ``indexing="image"`` trains the ablation of Supplementary G.1 (the image query
alone; see :class:`scsampler.models.listen_to_look.SkimmingPolicy`). The skim run holds its student
(copied) and names the distill run.

Both runs: ``*.safetensors`` + ``config.json`` (``"kind": "listen-to-look"``, ``"stage"``) + ``curve.json``.
"""

from __future__ import annotations

import json
import logging
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm import tqdm

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
from scsampler.io.grid import ClipGrid
from scsampler.io.video import probe
from scsampler.models.listen_to_look import INDEXING, ImgAud2Vid, SkimmingPolicy
from scsampler.models.registry import create_model, list_models
from scsampler.models.weights import save_run
from scsampler.runtime.classifier import ClipClassifier, load_classifier
from scsampler.runtime.clip_outputs import cached_clip_outputs, clip_outputs
from scsampler.runtime.sampler import packed_keys, prepare
from scsampler.selectors.listen_to_look import FRAMES, KIND, first_frames, load_student, step_audio, step_inputs

log = logging.getLogger(__name__)


@dataclass
class DistillConfig:
    data: str                                   # data directory or manifest (train split)
    classifier: str                             # the teacher: a clip classifier run (frozen)
    out: str
    student: str = "imgaud2vid_resnet18"
    lam: float = 100.0                          # lambda of eq. 4 (the paper's 100)
    frame: str = "iframe"                       # a step's image: "iframe" (nearest I-frame) or "first" (decoded)
    pretrain_data: str | None = None            # trimmed clips (the `pretrain` preset): its train split's clips join the training set
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    cache: str | None = None
    workers: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.frame not in FRAMES:
            raise ConfigError(f"frame must be one of {', '.join(FRAMES)}, got {self.frame!r}")
        if self.student not in list_models("imgaud2vid"):
            raise ConfigError(f"unknown student {self.student!r}; known: {', '.join(list_models('imgaud2vid'))}")


@dataclass
class SkimConfig:
    data: str
    student: str                                # a distill run
    out: str
    steps: int = 10                             # T (the paper's 10)
    window: int = 64                            # consecutive steps of a video per training example (0: all)
    hidden: int = 1024                          # LSTM hidden units (the official code's 1024)
    key_dim: int = 512
    indexing: str = "image-audio"               # what the policy queries: "image-audio" (section 3.3) or "image" (Supp. G.1)
    epochs: int = 20
    batch_size: int = 16
    lr: float = 1e-3
    weight_decay: float = 1e-4
    cache: str | None = None
    workers: int = 1
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.window < 0:
            raise ConfigError(f"steps must be >= 1 and window >= 0, got {self.steps}, {self.window}")
        if self.indexing not in INDEXING:
            raise ConfigError(f"indexing must be one of {', '.join(INDEXING)}, got {self.indexing!r}")


# -- the steps' inputs ------------------------------------------------------------------------------
@dataclass
class VideoSteps:
    video_id: str
    label: int
    images: torch.Tensor        # uint8 (L, 3, h, w)
    audio: torch.Tensor         # float16 (L, n_mels, frames), zeros without audio
    frames_decoded: int         # key frames of the cheap pass (iframe) or frames decoded (first)
    entry: ManifestEntry


def _extractor(grid) -> ExtractorConfig:
    # The selector's view reads the default cheap-pass settings on the classifier's grid: train on the same.
    return ExtractorConfig(clip_frames=grid.clip_frames, fps=grid.fps, features=("if", "audio"))


def load_steps(entries: list[ManifestEntry], grid, frame: str, index: dict[str, int], cache_root: Path, *,
               workers: int = 1, progress: bool = False) -> tuple[list[VideoSteps], dict[str, str], ExtractorConfig]:
    extractor = _extractor(grid)
    summary = extract_many(entries, cache_root / "features", extractor, workers=workers, progress=progress)
    errors = {v: e for v, e in summary.failed}
    fcache = FeatureCache(cache_root / "features", extractor)
    out = []
    for e in tqdm(entries, desc="steps", unit="video", disable=not progress):
        if e.video_id in errors:
            continue
        try:
            packed = fcache.load(digest(e.path, size=16), keys=packed_keys(("if", "audio")))
            clips = packed["clip_index"].long()
            if frame == "iframe":
                images, audio, _ = step_inputs(packed, clips)
                decoded = len(packed["iframes"])
            else:
                images, decoded = _first_frames_cached(e, grid, extractor.small_side, len(clips), cache_root)
                audio, _ = step_audio(packed, clips)
        except (ScsamplerError, KeyError) as err:
            errors[e.video_id] = f"{e.video_id}: {err}"
            continue
        if audio.dim() != 3 or audio.shape[1:] != (extractor.n_mels, extractor.n_frames):
            audio = torch.zeros(len(clips), extractor.n_mels, extractor.n_frames)
        out.append(VideoSteps(e.video_id, index.get(e.label, -1), images, audio.half(), decoded, e))
    return out, errors, extractor


def _first_frames_cached(entry, grid, small_side: int, n: int, cache_root: Path) -> tuple[torch.Tensor, int]:
    return cached_frames("ltl-first", entry, {"grid": grid.to_json(), "small_side": small_side}, cache_root,
                         lambda stats: first_frames(entry.path, range(n), grid, small_side, stats))


# -- the teacher ------------------------------------------------------------------------------------
# The teacher's targets are the clip classifier's pooled feature and softmax of every clip: the shared
# cache of scsampler.runtime.clip_outputs (VideoEpitoma's end-to-end mode reads the same entries).
teacher_outputs = clip_outputs
teacher_targets = cached_clip_outputs


# -- distillation -----------------------------------------------------------------------------------
class DistillLoss(nn.Module):
    """Eq. 4: ``L1(z_student (B, D), z_teacher (B, D))`` (mean) plus ``lam`` times the soft-target
    cross-entropy of eq. 2 between ``p_teacher (B, C)`` and the student's ``logits (B, C)``."""

    def __init__(self, lam: float = 100.0):
        super().__init__()
        self.lam = lam

    def forward(self, z, z_teacher, logits, p_teacher) -> dict[str, torch.Tensor]:
        l1 = F.l1_loss(z, z_teacher)
        soft_ce = -(p_teacher * F.log_softmax(logits, dim=1)).sum(1).mean()
        return {"loss": l1 + self.lam * soft_ce, "l1": l1, "soft_ce": soft_ce}


def distill_step(student: ImgAud2Vid, loss: DistillLoss, images, audio, z_teacher, p_teacher) -> dict[str, torch.Tensor]:
    """One forward pass: uint8 images ``(B, 3, h, w)``, log-mels ``(B, n_mels, frames)``."""
    z = student.forward_features(prepare("if", images), prepare("audio", audio))
    return loss(z, z_teacher, student.forward_head(z), p_teacher)


def _classes_and_splits(data: str, classes: list[str]):
    manifest, _ = dataset_paths(data)
    index = {c: i for i, c in enumerate(classes)}
    splits = {s: read_manifest(manifest, split=s) for s in ("train", "test")}
    if not splits["train"]:
        raise ConfigError(f"{manifest}: no videos in the train split")
    for e in splits["train"] + splits["test"]:
        if e.label not in index:
            raise ConfigError(f"{manifest}: label {e.label!r} of {e.video_id} is not one of the classifier's classes")
    return manifest, index, splits


def fit_distill(config: DistillConfig, *, progress: bool = True, reuse: bool = True) -> Path:
    """Train the IMGAUD2VID student as ``config`` says; returns the run directory."""
    torch.manual_seed(config.seed)
    run = Path(config.out)
    manifest, _ = dataset_paths(config.data)
    files = {"manifest_sha": manifest, "classifier_sha": Path(config.classifier) / "model.safetensors"}
    if config.pretrain_data:
        files["pretrain_manifest_sha"] = dataset_paths(config.pretrain_data)[0]
    identity = run_identity(config, drop=("out", "workers", "cache"), files=files)
    if reuse and is_finished_run(run, identity, [run / "student.safetensors"]):
        return run
    t0 = time.perf_counter()
    cache_root = Path(config.cache) if config.cache else default_cache(config.data)
    teacher = load_classifier(config.classifier)
    _, index, splits = _classes_and_splits(config.data, teacher.classes)
    extra = read_manifest(dataset_paths(config.pretrain_data)[0], split="train") if config.pretrain_data else []
    entries = list(splits["train"]) + extra   # pretrain clips need no label: the teacher's soft targets are the labels
    videos, errors, extractor = load_steps(entries, teacher.grid, config.frame, index, cache_root,
                                           workers=config.workers, progress=progress)
    zs, ps, keep = [], [], []
    for v in videos:
        try:
            z, p = teacher_targets(teacher, v.entry, cache_root)
        except (ScsamplerError, OSError) as err:
            errors[v.video_id] = f"{v.video_id}: {err}"
            continue
        if len(z) != len(v.images):
            errors[v.video_id] = f"{v.video_id}: {len(v.images)} steps but {len(z)} teacher clips"
            continue
        zs.append(z), ps.append(p), keep.append(v)
    if not keep:
        raise ConfigError(f"no usable training videos ({len(errors)} failed; first: {next(iter(errors.values()), '')})")
    images = torch.cat([v.images for v in keep])
    audio = torch.cat([v.audio for v in keep])
    z_t, p_t = torch.cat(zs), torch.cat(ps)
    student = create_model(config.student, num_classes=len(index), feature_dim=z_t.shape[1])
    loss = DistillLoss(config.lam)
    rng = np.random.default_rng(config.seed)
    bs = config.batch_size

    def batches(epoch: int):
        return shuffled(len(images), bs, rng)

    def step(b) -> Step:
        out = distill_step(student, loss, images[b], audio[b], z_t[b], p_t[b])
        return Step(out["loss"], len(b), {"l1": out["l1"].item() * len(b), "soft_ce": out["soft_ce"].item() * len(b)})

    curve = train(student, batches, step, epochs=config.epochs, steps_per_epoch=math.ceil(len(images) / bs), lr=config.lr,
                  weight_decay=config.weight_decay, desc="distill IMGAUD2VID", progress=progress)
    saved = {
        "kind": KIND, "stage": "distill", "frame": config.frame,
        "student": {"arch": config.student, "kwargs": {"num_classes": len(index), "feature_dim": int(z_t.shape[1])}},
        "classes": list(teacher.classes),
        "teacher": {"name": teacher.name, "key": teacher.key, "run": str(config.classifier)},
        "input_shape": list(images.shape[1:]), "audio_shape": list(audio.shape[1:]),
        "extractor": extractor.to_json(),
        "frames_decoded_per_video": float(np.mean([v.frames_decoded for v in keep])),
        "clips_per_video": float(np.mean([len(v.images) for v in keep])),
        "train": json.loads(json.dumps(asdict(config))), "identity": identity,
        "training_videos": len(keep), "training_clips": len(images), "skipped_videos": errors,
        "pretrain_videos": sum(id(v.entry) in {id(e) for e in extra} for v in keep),
        "seconds": {"total": time.perf_counter() - t0, "train": sum(c["seconds"] for c in curve)},
    }
    atomic_write_json(run / "curve.json", {"distill": curve}, sort_keys=False)
    return save_run(run, {"student.safetensors": student.eval()}, saved)


# -- skimming ---------------------------------------------------------------------------------------
@torch.inference_mode()
def video_branch_features(student: ImgAud2Vid, v: VideoSteps, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    zi, za = [], []
    for i in range(0, len(v.images), batch):
        a, b = student.forward_branches(prepare("if", v.images[i : i + batch]), prepare("audio", v.audio[i : i + batch]))
        zi.append(a.float()), za.append(b.float())
    return torch.cat(zi), torch.cat(za)


def window_batch(feats: list[tuple[torch.Tensor, torch.Tensor]], videos: list[int], window: int, rng: np.random.Generator | None):
    """``(zI (B, W, Di), zA (B, W, Da), valid (B, W))``: a random window of ``window`` consecutive
    steps of each video (``rng=None`` or ``window=0``: all its steps), padded."""
    parts = []
    for v in videos:
        zi, za = feats[v]
        n = len(zi)
        if window and n > window and rng is not None:
            s = int(rng.integers(0, n - window + 1))
            zi, za = zi[s : s + window], za[s : s + window]
        parts.append((zi, za))
    w = max(len(p[0]) for p in parts)
    zi = torch.zeros(len(parts), w, parts[0][0].shape[1])
    za = torch.zeros(len(parts), w, parts[0][1].shape[1])
    valid = torch.zeros(len(parts), w, dtype=torch.bool)
    for b, (a, c) in enumerate(parts):
        zi[b, : len(a)], za[b, : len(c)], valid[b, : len(a)] = a, c, True
    return zi, za, valid


@torch.inference_mode()
def evaluate_skim(policy: SkimmingPolicy, student: ImgAud2Vid, feats, labels: torch.Tensor, steps: int) -> dict:
    """The paper's own recognition over every step of each video: top-1."""
    policy.eval()
    correct = [int(policy(*window_batch(feats, [v], 0, None)[:2], student.fuse, steps)["logits"].argmax(1)[0] == labels[v])
               for v in range(len(feats))]
    return {"videos": len(feats), "top1": float(np.mean(correct)) if correct else None}


def fit_skim(config: SkimConfig, *, progress: bool = True, reuse: bool = True) -> Path:
    """Train IMGAUD-SKIMMING over a distill run's frozen student; returns the run directory."""
    torch.manual_seed(config.seed)
    run = Path(config.out)
    manifest, _ = dataset_paths(config.data)
    # The default indexing is left out, so that runs trained before it could be chosen are still reused.
    drop = ("out", "workers", "cache") + (("indexing",) if config.indexing == "image-audio" else ())
    identity = run_identity(config, drop=drop,
                            files={"manifest_sha": manifest, "student_sha": Path(config.student) / "student.safetensors"})
    if reuse and is_finished_run(run, identity, [run / "student.safetensors", run / "policy.safetensors"]):
        return run
    t0 = time.perf_counter()
    student, dconf = load_student(config.student)
    if dconf.get("stage") != "distill":
        raise ConfigError(f"{config.student}: a {dconf.get('stage')} run; skim trains over a distill run")
    for p in student.parameters():
        p.requires_grad_(False)     # the fusion (and the branches) stay frozen
    cache_root = Path(config.cache) if config.cache else default_cache(config.data)
    grid = ClipGrid(dconf["extractor"]["clip_frames"], dconf["extractor"]["fps"])
    _, index, splits = _classes_and_splits(config.data, dconf["classes"])
    videos, errors, _ = load_steps(splits["train"], grid, dconf["frame"], index, cache_root, workers=config.workers, progress=progress)
    if not videos:
        raise ConfigError(f"no usable training videos ({len(errors)} failed; first: {next(iter(errors.values()), '')})")
    feats = [video_branch_features(student, v) for v in videos]
    labels = torch.tensor([v.label for v in videos])
    policy = SkimmingPolicy(branch_dim=student.branch_dim, feature_dim=student.feature_dim, num_classes=len(index),
                            hidden=config.hidden, key_dim=config.key_dim, indexing=config.indexing)
    policy.fc.load_state_dict(student.fc.state_dict())   # start from the student's classifier
    rng = np.random.default_rng(config.seed)
    n, bs = len(videos), config.batch_size

    def batches(epoch: int):
        return ([int(v) for v in batch] for batch in shuffled(n, bs, rng))

    def step(batch) -> Step:
        zi, za, valid = window_batch(feats, batch, config.window, rng)
        out = policy(zi, za, student.fuse, config.steps, valid)
        loss = F.cross_entropy(out["logits"], labels[batch])
        return Step(loss, len(batch), {"accuracy": int((out["logits"].argmax(1) == labels[batch]).sum())})

    curve = train(policy, batches, step, epochs=config.epochs, steps_per_epoch=math.ceil(n / bs), lr=config.lr,
                  weight_decay=config.weight_decay, desc="train IMGAUD-SKIMMING", progress=progress)
    result = {"train": evaluate_skim(policy, student, feats, labels, config.steps)}
    if splits["test"]:
        t_videos, t_errors, _ = load_steps(splits["test"], grid, dconf["frame"], index, cache_root, workers=config.workers,
                                           progress=progress)
        errors.update(t_errors)
        if t_videos:
            result["test"] = evaluate_skim(policy, student, [video_branch_features(student, v) for v in t_videos],
                                           torch.tensor([v.label for v in t_videos]), config.steps)
    saved = {**{k: v for k, v in dconf.items() if k not in ("train", "identity", "seconds", "skipped_videos")},
             "stage": "skim", "distill_run": str(config.student), "steps": config.steps, "indexing": config.indexing,
             "policy": {"hidden": config.hidden, "key_dim": config.key_dim}, "evaluation": result,
             "train": json.loads(json.dumps(asdict(config))), "identity": identity, "training_videos": len(videos),
             "skipped_videos": errors, "seconds": {"total": time.perf_counter() - t0, "train": sum(c["seconds"] for c in curve)}}
    atomic_write_json(run / "curve.json", {"skim": curve}, sort_keys=False)
    return save_run(run, {"student.safetensors": Path(config.student) / "student.safetensors", "policy.safetensors": policy.eval()}, saved)


__all__ = ["DistillConfig", "DistillLoss", "SkimConfig", "distill_step", "evaluate_skim", "fit_distill", "fit_skim",
           "load_steps", "teacher_outputs", "teacher_targets", "window_batch"]
