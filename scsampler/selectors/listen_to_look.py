"""Listen to Look as a clip selector (``listen-to-look``; a ``train-listen-to-look --stage skim`` run).

Every clip of the classifier's grid is a time step. Its image is the I-frame thumbnail of the cheap
pass nearest the clip (the clip's own first I-frame, else that of the nearest clip with one: only key
frames are decoded), or, with ``frame="first"``, the clip's exact first frame, decoded for it (the
paper). Its audio is the cheap pass's log-mel window of the clip (zeros where the window held no
audio). The selector asks the view once for the ``if`` and ``audio`` features of every indexed step
(``sparse=n``, or ``stride=n`` as predict's and the benchmark's --stride say: every n-th step, the
others linearly interpolated, section 4.2), runs the student's two branches once over them (the
indexing features), then the skimming policy for ``steps`` steps (the training T by default;
fewer: early stopping). Each step's image attention and audio attention pick a step (their
argmax; a picked step is masked from every later attention; a run trained with ``indexing="image"``
picks by the image attention alone), and the picks, in order, are the chosen clips (Supplementary D:
the project's classifier classifies only those). When K exceeds the picks of ``steps`` steps, the
policy runs on until it has K (said in the notes). ``aggregation="hard"`` (Supplementary G.3): each
step's next input takes the features at the attentions' argmax instead of the soft aggregates.

``scores["attention"]``: the first step's combined attention over every step; ``scores["picked_at"]``:
the step at which a clip was picked (nan: never). The policy's own recognition (its classifier on the
mean fused feature, no clip decoded) is the choice's ``probs``, over the run's classes (``classes``),
and is said in the notes.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import torch

from scsampler.errors import ConfigError
from scsampler.files import digest
from scsampler.io.decode import DecodeStats, decode_intervals
from scsampler.io.grid import ClipGrid
from scsampler.io.video import probe, small_size
from scsampler.models.listen_to_look import AGGREGATION, INDEXING, ImgAud2Vid, SkimmingPolicy
from scsampler.models.registry import create_model
from scsampler.models.weights import load_weights, read_run_config
from scsampler.runtime.sampler import prepare
from scsampler.selectors.base import CannotScore, Choice, ClipSelector, Memo, Needs, VideoView
from scsampler.selectors.registry import register_selector

FRAMES = ("iframe", "first")
KIND = "listen-to-look"
MEMO_VIDEOS = 256   # indexing features kept per selector (a 300-clip video: 1.2 MB)


# -- a step's inputs --------------------------------------------------------------------------------
def nearest_iframe(owner: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
    """For each of ``clips``, the row of its image: the first I-frame row the clip owns, else that of
    the nearest clip owning one (of two at the same distance, the earlier). ``owner (R,)``: the clip
    of each I-frame row, in clip order; must not be empty."""
    owner = owner.long()
    have, first = torch.unique_consecutive(owner, return_counts=True)
    starts = torch.cumsum(first, 0) - first                     # the first row of each owning clip
    pos = torch.searchsorted(have, clips)
    right = pos.clamp(max=len(have) - 1)
    left = (pos - 1).clamp(min=0)
    take_left = (clips - have[left]).abs() <= (have[right] - clips).abs()
    return starts[torch.where(take_left, left, right)]


def step_inputs(packed: dict[str, torch.Tensor], clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(images uint8 (S, 3, h, w), log-mels float (S, n_mels, frames), has_audio (S,))`` of steps
    ``clips`` from a packed video (the I-frame image). Zeros for a step without audio."""
    owner = packed.get("iframes_clip")
    if owner is None or len(owner) == 0:
        raise CannotScore("no I-frame in the video's cheap features")
    images = packed["iframes"][nearest_iframe(owner, clips)]
    return (images, *step_audio(packed, clips))


def step_audio(packed: dict[str, torch.Tensor], clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if "audio" not in packed:
        return torch.zeros(len(clips), 1, 1), torch.zeros(len(clips), dtype=torch.bool)
    row = {int(c): i for i, c in enumerate(packed["clip_index"].tolist())}
    idx = torch.tensor([row.get(int(c), -1) for c in clips])
    ok = idx >= 0
    audio = torch.zeros(len(clips), *packed["audio"].shape[1:])
    audio[ok] = packed["audio"][idx[ok]].float()
    has = torch.zeros(len(clips), dtype=torch.bool)
    has[ok] = packed["audio_coverage"][idx[ok]] > 0
    audio[~has] = 0.0
    return audio, has


def first_frames(path, clips, grid: ClipGrid, small_side: int, stats: DecodeStats | None = None) -> torch.Tensor:
    """The exact first frame of each clip (the paper's image), decoded at the thumbnails' size:
    uint8 ``(S, 3, h, w)``. ``stats`` counts the frames decoded (from the key frame before each clip)."""
    info = probe(path)
    w, h = small_size(info.width, info.height, small_side)
    step = Fraction(1, grid.fps)
    starts = [grid.clip("", int(i)).start for i in clips]
    return decode_intervals(path, [(s, s + step) for s in starts], num_frames=1, size=(h, w), stats=stats)[:, :, 0]


def interpolate_steps(z: torch.Tensor, indexed: torch.Tensor, n: int) -> torch.Tensor:
    """``(S, D)`` features of steps ``indexed`` (increasing) -> ``(n, D)``, the rest linearly
    interpolated between their indexed neighbours (held constant past the ends): section 4.2."""
    if len(indexed) == n:
        return z
    pos = torch.arange(n, dtype=torch.float32)
    idx = indexed.float()
    right = torch.searchsorted(idx, pos).clamp(1, max(1, len(idx) - 1))
    left = right - 1
    if len(idx) == 1:
        return z[:1].expand(n, -1).clone()
    t = ((pos - idx[left]) / (idx[right] - idx[left])).clamp(0, 1)[:, None]
    return z[left] * (1 - t) + z[right] * t


# -- a trained run ----------------------------------------------------------------------------------
@dataclass
class ListenToLook:
    """A loaded run: the student (its branches and fusion are the indexing features and Psi) and,
    for a skim run, the policy; eval mode."""

    student: ImgAud2Vid
    policy: SkimmingPolicy | None
    config: dict
    key: str
    batch_size: int = 256
    _flops: int | None = field(default=None, repr=False)

    @torch.inference_mode()
    def branch_features(self, images: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """uint8 ``(S, 3, h, w)``, ``(S, n_mels, frames)`` -> ``zI (S, Di)``, ``zA (S, Da)``."""
        zi, za = [], []
        for i in range(0, len(images), self.batch_size):
            a, b = self.student.forward_branches(prepare("if", images[i : i + self.batch_size]),
                                                 prepare("audio", audio[i : i + self.batch_size]))
            zi.append(a.float())
            za.append(b.float())
        return torch.cat(zi), torch.cat(za)

    def flops_per_step(self) -> int:
        """FLOPs of the two branches on one step's image and log-mel (the student's indexing cost)."""
        if self._flops is None:
            from torch.utils.flop_counter import FlopCounterMode

            with FlopCounterMode(display=False) as counter:
                self.branch_features(torch.zeros(1, *self.config["input_shape"], dtype=torch.uint8),
                                     torch.zeros(1, *self.config["audio_shape"]))
            self._flops = int(counter.get_total_flops())
        return self._flops


def read_config(run: Path) -> dict:
    return read_run_config(run, KIND, "Listen to Look run")


def load_student(run: str | os.PathLike) -> tuple[ImgAud2Vid, dict]:
    run = Path(run)
    config = read_config(run)
    student = create_model(config["student"]["arch"], **config["student"]["kwargs"])
    _load(student, run / "student.safetensors", run)
    return student.eval(), config


def load_listen_to_look(run: str | os.PathLike) -> ListenToLook:
    """A ``train-listen-to-look`` run: a skim run (it holds its student) or, for the student alone, a distill run."""
    run = Path(run)
    student, config = load_student(run)
    policy = None
    if config.get("stage") == "skim":
        indexing = config.get("indexing", "image-audio")   # runs from before the G.1 ablation index both
        if indexing not in INDEXING:
            raise ConfigError(f"{run}: indexing {indexing!r} is not one of {', '.join(INDEXING)}")
        policy = SkimmingPolicy(branch_dim=student.branch_dim, feature_dim=student.feature_dim,
                                num_classes=len(config["classes"]), indexing=indexing, **config["policy"])
        _load(policy, run / "policy.safetensors", run)
        policy.eval()
    files = [run / "student.safetensors", run / "config.json"] + ([run / "policy.safetensors"] if policy is not None else [])
    return ListenToLook(student, policy, config, digest(*files))


def _load(net, path: Path, run: Path) -> None:
    missing = load_weights(net, path, skip_mismatched_head=False)
    if missing:
        raise ConfigError(f"{path}: {len(missing)} tensors missing (first: {missing[0]})")


# -- the selector -----------------------------------------------------------------------------------
class ListenToLookSelector(ClipSelector):
    """The clips IMGAUD-SKIMMING's attentions pick, in the order picked (see the module docstring)."""

    def __init__(self, model: ListenToLook, *, steps: int | None = None, sparse: int = 1, frame: str | None = None,
                 aggregation: str = "soft", name: str = "listen-to-look"):
        if model.policy is None:
            raise ConfigError("the listen-to-look selector needs a skim run (train-listen-to-look --stage skim), not a distill run")
        try:
            steps, sparse = int(model.config["steps"] if steps is None else steps), int(sparse)
        except (TypeError, ValueError):
            raise ConfigError(f"steps and sparse must be integers, got {steps!r}, {sparse!r}") from None
        if steps < 1 or sparse < 1:
            raise ConfigError(f"steps and sparse must be >= 1, got {steps}, {sparse}")
        frame = frame or model.config.get("frame", "iframe")
        if frame not in FRAMES:
            raise ConfigError(f"frame must be one of {', '.join(FRAMES)}, got {frame!r}")
        if aggregation not in AGGREGATION:
            raise ConfigError(f"aggregation must be one of {', '.join(AGGREGATION)}, got {aggregation!r}")
        self.name, self.model, self.steps, self.sparse, self.frame = name, model, steps, sparse, frame
        self.aggregation, self.classes = aggregation, tuple(model.config["classes"])
        self.stride = self.sparse    # the benchmark's and predict's name for it
        self._memo = Memo(MEMO_VIDEOS)   # content key -> indexing features (indexing_features)
        self.needs = Needs(features=("if", "audio") if frame == "iframe" else ("audio",), audio="optional")

    @property
    def settings(self) -> dict:
        hard = {"aggregation": self.aggregation} if self.aggregation != "soft" else {}   # soft: as every result before it
        return {"name": self.name, "run": self.model.key, "steps": self.steps, "sparse": self.sparse, "frame": self.frame, **hard}

    def indexing_features(self, video: VideoView) -> tuple[torch.Tensor, torch.Tensor, int, list[str], float]:
        """``(zI (L, Di), zA (L, Da), steps indexed, notes, seconds)`` of every step of ``video``. A view
        that names its file's content (``content_key``: the benchmark's cache view) gets them computed
        once per selector, whatever K: they depend on the features alone."""
        key = getattr(video, "content_key", None)
        if key is None:
            return self._indexing_features(video)
        zi, za, indexed, notes, seconds = self._memo.get((key, video.num_clips), lambda: self._indexing_features(video))
        return zi, za, indexed, list(notes), seconds

    def _indexing_features(self, video: VideoView) -> tuple[torch.Tensor, torch.Tensor, int, list[str], float]:
        n = video.num_clips
        indexed = torch.arange(0, n, self.sparse)
        try:
            packed = video.features(self.needs.features, indexed.tolist())
        except ValueError as err:   # a cache view built without a feature cache
            raise ConfigError(f"the {self.name} selector reads the cheap features of every step, which this view does not "
                              f"give ({err})") from None
        notes = []
        if self.frame == "iframe":
            images, audio, has = step_inputs(packed, indexed)
            notes.append(f"{self.name}: images of {len(indexed)} steps from {len(packed['iframes'])} I-frame thumbnails "
                         "(no frame decoded beyond the key frames)")
        else:
            path, grid = getattr(video, "path", None), getattr(video, "grid", None)
            if path is None or grid is None:
                raise ConfigError(f"the {self.name} selector with first frames decodes them from the video file, which this view "
                                  "does not have (the benchmark's accuracy reads caches: use frame=iframe)")
            stats = DecodeStats()
            images = first_frames(path, indexed.tolist(), grid, int(self.model.config["extractor"]["small_side"]), stats)
            audio, has = step_audio(packed, indexed)
            notes.append(f"{self.name}: decoded {stats.frames_decoded} frames for the first frames of {len(indexed)} steps")
        if audio.shape[1:] != tuple(self.model.config["audio_shape"]):
            audio = torch.zeros(len(indexed), *self.model.config["audio_shape"])
        if not has.all():
            notes.append(f"{self.name}: {int((~has).sum())} of {len(indexed)} steps without audio (zeros)")
        t0 = time.perf_counter()
        zi, za = self.model.branch_features(images, audio)
        seconds = time.perf_counter() - t0
        if self.sparse > 1:
            zi, za = interpolate_steps(zi, indexed, n), interpolate_steps(za, indexed, n)
        return zi, za, len(indexed), notes, seconds

    def select(self, video: VideoView, k: int) -> Choice:
        n = video.num_clips
        if n == 0:
            raise CannotScore(f"the {self.name} selector got a video without clips")
        zi, za, indexed, notes, seconds = self.indexing_features(video)
        policy = self.model.policy
        steps = self.steps
        t0 = time.perf_counter()
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            out = policy(zi[None], za[None], self.model.student.fuse, steps, aggregation=self.aggregation)
            want = min(k, n)
            if _distinct(out["picks"][0]) < want:
                steps = max(steps, math.ceil(want / policy.picks_per_step))
                while True:   # fewer distinct picks than K: run on until K (each step picks at most picks_per_step)
                    out = policy(zi[None], za[None], self.model.student.fuse, steps, aggregation=self.aggregation)
                    if _distinct(out["picks"][0]) >= want or steps >= n:
                        break
                    steps += 1
                notes.append(f"{self.name}: K={k} exceeds the picks of {self.steps} steps: the policy ran {steps} steps")
        seconds += time.perf_counter() - t0
        picks = out["picks"][0]                                   # (T, 2)
        order, picked_at = [], torch.full((n,), float("nan"))
        for t, p in enumerate(picks.tolist()):
            for c in p:
                if c >= 0 and c not in order:
                    order.append(c)
                    picked_at[c] = t + 1
        chosen = torch.tensor(order[:k], dtype=torch.long)
        probs = torch.softmax(out["logits"][0].float(), 0)
        notes.append(f"{self.name}: its own recognition (the mean fused feature of {steps} steps, no clip decoded): "
                     f"class {int(probs.argmax())} ({self.model.config['classes'][int(probs.argmax())]}, p={float(probs.max()):.3f})")
        gflops = (indexed * self.model.flops_per_step() + counter.get_total_flops()) / 1e9
        scores = {"attention": out["weights"][0, 0].float(), "picked_at": picked_at}
        return Choice(chosen, scores=scores, clips_scored=indexed, gflops=gflops, seconds=seconds, notes=notes, probs=probs)


def _distinct(picks: torch.Tensor) -> int:
    return len({c for c in picks.flatten().tolist() if c >= 0})


@register_selector(KIND, help="Listen to Look's IMGAUD-SKIMMING: the clips its image and audio attentions pick "
                   "(a train-listen-to-look --stage skim run: --sampler RUN)",
                   options=("steps", "early_stop", "sparse", "stride", "frame", "aggregation"), run_kind=KIND)
def _build(*, run: str | os.PathLike | None = None, steps: int | None = None, early_stop: int | None = None, sparse: int | None = None,
           stride: int | None = None, frame: str | None = None, aggregation: str | None = None, **_) -> ListenToLookSelector:
    """``sparse``: index every n-th step (``stride``, the name predict's and the benchmark's --stride
    give it, is the same setting; ``sparse`` wins); ``early_stop`` (or ``steps``): the policy's steps;
    ``aggregation``: ``"soft"`` (default) or ``"hard"``, the next input from the argmax features."""
    if run is None:
        raise ConfigError("the listen-to-look selector is trained: give its skim run (from train-listen-to-look) as --sampler RUN "
                          "(Python: load_selector(RUN))")
    return ListenToLookSelector(load_listen_to_look(run), steps=early_stop if early_stop is not None else steps,
                                sparse=sparse or stride or 1, frame=frame, aggregation=aggregation or "soft")


__all__ = ["ListenToLook", "ListenToLookSelector", "first_frames", "interpolate_steps", "load_listen_to_look", "load_student",
           "nearest_iframe", "step_audio", "step_inputs"]
