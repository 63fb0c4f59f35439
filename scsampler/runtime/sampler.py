"""A trained sampler at run time: clip saliency scores from cheap-pass features.

A sampler run directory (written by ``scsampler train-sampler``) holds one network per feature
(``nets/<feature>.safetensors``) and ``config.json``. The visual sampler scores every P-frame of a
clip with each feature's network (MD, RGB-R; I-frames for IF) and averages: first over the clip's
frames, then over the features (section 3.3.1). The audio sampler scores each clip's log-mel.

Saliency from the network's output depends on the loss it was trained with (section 3.2):
AC: the maximum class probability; SAL-CL: the probability of "salient"; SAL-RANK: the raw score.
Clips a sampler cannot score (no audio in their window; no frame of the feature) get ``nan``, never
zero: the selection strategies rank them last.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from scsampler.errors import ConfigError
from scsampler.features.extractor import evenly_spaced
from scsampler.files import digest
from scsampler.models.registry import create_model
from scsampler.models.weights import load_weights, read_run_config

LOSSES = ("ac", "sal-cl", "sal-rank")
VISUAL_FEATURES = ("md", "rgbr", "if")
# The packed-feature keys of each feature (see scsampler.data.cache.pack_clips).
PACKED = {"md": ("md", "md_clip"), "rgbr": ("rgbr", "rgbr_clip"), "if": ("iframes", "iframes_clip")}


def packed_keys(features) -> set[str]:
    """The keys of a packed video (:func:`scsampler.data.cache.pack_clips`) that ``features`` read."""
    return {k for f in features for k in (PACKED[f] if f in PACKED else ("audio", "audio_coverage"))}


def saliency(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Per-row saliency from a sampler's outputs ``(N, O)``."""
    if loss == "ac":
        return logits.float().softmax(dim=1).max(dim=1).values
    if loss == "sal-cl":
        return torch.sigmoid(logits.float()[:, 0])
    if loss == "sal-rank":
        return logits.float()[:, 0]
    raise ConfigError(f"unknown sampler loss {loss!r}; known: {', '.join(LOSSES)}")


def prepare(feature: str, x: torch.Tensor) -> torch.Tensor:
    """Cached feature rows -> network input (float32, ``(N, C, H, W)``)."""
    if feature == "if":
        return x.float().div(127.5).sub(1.0)  # uint8 thumbnails -> [-1, 1]
    if feature == "md":
        return x.float().div(8.0)             # pixels of displacement; typical motions are a few px/frame
    if feature == "rgbr":
        return x.float().div(32.0)            # signed residual levels
    if feature == "audio":
        return x.float().unsqueeze(1)         # (L, n_mels, frames) -> (L, 1, n_mels, frames)
    raise ConfigError(f"unknown sampler feature {feature!r}")


def feature_scores(packed: dict[str, torch.Tensor], num_clips: int, wanted: torch.Tensor, feature: str, rows_fn,
                   frames_per_clip: int = 0) -> torch.Tensor:
    """``(L,)`` per-clip scores of one feature: ``rows_fn`` maps the feature's rows (a visual
    feature's frames, ``(N, ...)``; the audio's log-mel windows, one per clip) to ``(N,)`` scores,
    and a clip's score is the mean over its rows (at most ``frames_per_clip`` of them, evenly
    spread; 0 = all). Clips not ``wanted`` (a bool mask ``(L,)``) or without a row get ``nan``."""
    s = torch.full((num_clips,), float("nan"))
    if feature == "audio":
        if "audio" not in packed:
            return s
        rows = packed["clip_index"].long()
        keep = wanted[rows] & (packed["audio_coverage"] > 0)
        s[rows[keep]] = rows_fn(packed["audio"][keep])
        return s
    key, clip_key = PACKED[feature]
    if key not in packed or packed[key].shape[0] == 0:
        return s
    owner = packed[clip_key].long()
    rows = choose_rows(owner, wanted, frames_per_clip)
    v = rows_fn(packed[key][rows])
    total = torch.zeros(num_clips).index_add_(0, owner[rows], v)
    count = torch.zeros(num_clips).index_add_(0, owner[rows], torch.ones_like(v))
    return torch.where(count > 0, total / count.clamp(min=1), torch.full_like(total, float("nan")))


def choose_rows(owner: torch.Tensor, wanted: torch.Tensor, frames_per_clip: int = 0) -> torch.Tensor:
    """Rows of the wanted clips (``owner``: the clip of each row); at most ``frames_per_clip`` of
    each clip, evenly spread (0 = all)."""
    rows = torch.nonzero(wanted[owner]).flatten()
    if frames_per_clip <= 0 or len(rows) == 0:
        return rows
    picked = []
    for c in torch.unique_consecutive(owner[rows]):
        r = rows[owner[rows] == c]
        picked.append(r[evenly_spaced(len(r), frames_per_clip)])
    return torch.cat(picked)


def wanted_mask(num_clips: int, clips: torch.Tensor | None) -> torch.Tensor:
    """``(L,)`` bool: the clips to score (all when ``clips`` is None)."""
    if clips is None:
        return torch.ones(num_clips, dtype=torch.bool)
    wanted = torch.zeros(num_clips, dtype=torch.bool)
    wanted[torch.as_tensor(clips, dtype=torch.long)] = True
    return wanted


def rows_per_clip(features, packed: dict[str, torch.Tensor], num_clips: int, frames_per_clip: int = 0) -> dict[str, float]:
    """Evaluations per clip of each feature, over the video's clips: the audio's share of clips
    with sound, a visual feature's frames per clip (at most ``frames_per_clip``). Times the FLOPs of
    one evaluation, the cost of scoring a clip."""
    n = num_clips
    rows = {}
    for feature in features:
        if feature == "audio":
            rows[feature] = float((packed.get("audio_coverage", torch.zeros(n)) > 0).float().mean()) if n else 0.0
        else:
            owner = packed.get(PACKED[feature][1], torch.zeros(0, dtype=torch.int32)).long()
            per = torch.bincount(owner, minlength=n).float() if len(owner) else torch.zeros(n)
            if frames_per_clip > 0:
                per = per.clamp(max=frames_per_clip)
            rows[feature] = float(per.mean()) if n else 0.0
    return rows


@dataclass
class Sampler:
    """A loaded sampler: ``score(packed, num_clips) -> (L,)`` saliency (``nan`` = not scored).
    A :class:`scsampler.selectors.base.Scorer`."""

    name: str
    modality: str                       # "visual", "audio" or "audio-visual" (jointly trained)
    loss: str
    nets: dict[str, nn.Module]          # feature -> network, in eval mode
    frames_per_clip: int = 0            # visual: frames scored per clip and feature; 0 = all of them
    config: dict = field(default_factory=dict)
    key: str = ""
    batch_size: int = 256
    _flops: dict[str, int] | None = field(default=None, repr=False)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.nets)

    @property
    def extractor(self) -> dict:
        """The cheap-pass settings the sampler was trained on (features aside)."""
        return {k: v for k, v in self.config.get("extractor", {}).items() if k != "features"}

    @torch.inference_mode()
    def _rows(self, feature: str, x: torch.Tensor) -> torch.Tensor:
        net = self.nets[feature]
        out = [saliency(net(prepare(feature, x[i : i + self.batch_size])), self.loss) for i in range(0, len(x), self.batch_size)]
        return torch.cat(out) if out else torch.empty(0)

    def score(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None = None) -> torch.Tensor:
        """Saliency of the clips of one video from its packed features. ``clips`` (clip indices)
        restricts the work to those clips (stride); the others get ``nan``."""
        wanted = wanted_mask(num_clips, clips)
        stacked = torch.stack([
            feature_scores(packed, num_clips, wanted, feature, lambda x, f=feature: self._rows(f, x),
                           0 if feature == "audio" else self.frames_per_clip)
            for feature in self.nets
        ])
        if self.modality == "audio-visual":
            # AV-joint-training: the mean of the visual score (over its features) and the audio score.
            names = list(self.nets)
            visual = stacked[[i for i, f in enumerate(names) if f != "audio"]].nanmean(dim=0)
            audio = stacked[names.index("audio")]
            return torch.stack([visual, audio]).nanmean(dim=0)
        return stacked.nanmean(dim=0)

    def flops_per_row(self) -> dict[str, int]:
        """FLOPs of one network evaluation (one frame, or one clip's log-mel) per feature."""
        if self._flops is None:
            from torch.utils.flop_counter import FlopCounterMode

            shapes = self.config.get("input_shapes", {})
            out = {}
            for feature, net in self.nets.items():
                x = torch.zeros(1, *shapes[feature])
                with FlopCounterMode(display=False) as counter, torch.inference_mode():
                    net(x)
                out[feature] = counter.get_total_flops()
            self._flops = out
        return dict(self._flops)


def sampler_key(run: Path) -> str:
    """The identity of a sampler run, for caches: the digest of its weights files and its config.json."""
    return digest(*sorted(run.glob("nets/*.safetensors")), run / "config.json")


def load_sampler(run: str | os.PathLike, *, frames_per_clip: int | None = None) -> Sampler:
    """The sampler saved in run directory ``run``; a clear error when it is not one."""
    run = Path(run)
    config = read_run_config(run, "sampler", "sampler run")
    nets = {}
    for feature in config["features"]:
        net = create_model(config["arch"][feature], feature=feature, num_outputs=config["num_outputs"])
        missing = load_weights(net, run / "nets" / f"{feature}.safetensors", skip_mismatched_head=False)
        if missing:
            raise ConfigError(f"{run}/nets/{feature}.safetensors: {len(missing)} tensors missing (first: {missing[0]})")
        nets[feature] = net.eval()
    fpc = config.get("eval_frames_per_clip", 0) if frames_per_clip is None else frames_per_clip
    return Sampler(name=run.name, modality=config["modality"], loss=config["loss"], nets=nets,
                   frames_per_clip=int(fpc), config=config, key=sampler_key(run))
