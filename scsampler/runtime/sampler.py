"""A trained sampler at run time: clip saliency scores from cheap-pass features.

A sampler run directory (written by ``scsampler train-sampler``) holds one network per feature
(``nets/<feature>.safetensors``) and ``config.json``. The visual sampler scores every P-frame of a
clip with each feature's network (MD, RGB-R; I-frames for IF) and averages: first over the clip's
frames, then over the features (section 3.3.1). The audio sampler scores each clip's log-mel.

Saliency from the network's output depends on the loss it was trained with (section 3.2):
AC: the maximum class probability; SAL-CL: the probability of "salient"; SAL-RANK: the raw score.
Clips a sampler cannot score (no audio in their window; no frame of the feature) get ``nan``, never
zero: the selection strategies rank them last.

Features reach the networks through :class:`InputNorm` and :func:`prepare`, the same two steps in
training (:mod:`scsampler.engine.sampler`) and here: each visual feature resampled to the grid the
network was trained on (MD's displacements rescaled to that grid's pixels), and MD divided by the
video's own mean motion magnitude, so that a file of another resolution or codec reaches the sampler
at the size and scale it was trained on (``docs/samplers.md``, "Input normalisation").
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
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


def saliency(logits: torch.Tensor, loss: str, ac_loss: str = "ce") -> torch.Tensor:
    """Per-row saliency from a sampler's outputs ``(N, O)``. ``ac_loss``: how an ``ac`` sampler was
    trained (its config's ``ac_loss``): ``ce``, a softmax over the classes; ``bce`` (videos with several
    labels), a sigmoid per class. Either way the saliency is the largest class probability."""
    if loss == "ac":
        if ac_loss == "bce":
            return torch.sigmoid(logits.float()).max(dim=1).values
        return logits.float().softmax(dim=1).max(dim=1).values
    if loss == "sal-cl":
        return torch.sigmoid(logits.float()[:, 0])
    if loss == "sal-rank":
        return logits.float()[:, 0]
    raise ConfigError(f"unknown sampler loss {loss!r}; known: {', '.join(LOSSES)}")


def prepare(feature: str, x: torch.Tensor, scale: float | torch.Tensor | None = None) -> torch.Tensor:
    """Cached feature rows -> network input (float32, ``(N, C, H, W)``). ``scale``: what MD is divided
    by, one number or one per row (:meth:`InputNorm.scale`); None: 8, pixels of displacement."""
    if feature == "if":
        return x.float().div(127.5).sub(1.0)  # uint8 thumbnails -> [-1, 1]
    if feature == "md":
        if scale is None:
            return x.float().div(8.0)         # pixels of displacement; typical motions are a few px/frame
        s = torch.as_tensor(scale, dtype=torch.float32)
        return x.float() / (s.view(-1, 1, 1, 1) if s.ndim else s)
    if feature == "rgbr":
        return x.float().div(32.0)            # signed residual levels
    if feature == "audio":
        return x.float().unsqueeze(1)         # (L, n_mels, frames) -> (L, 1, n_mels, frames)
    raise ConfigError(f"unknown sampler feature {feature!r}")


# MD normalisations: "pixels" (divided by 8, as every run before input_norm), "video-mean" (divided by
# the video's mean motion magnitude, at least MOTION_FLOOR pixels of the training grid).
MOTION_NORMS = ("pixels", "video-mean")
MOTION_FLOOR = 0.05


@dataclass(frozen=True)
class InputNorm:
    """How a video's cached features are brought to the size and scale a sampler was trained on,
    recorded per feature as ``input_norm`` in the run's config.json. A feature it does not name is
    used as stored: a run trained before it existed has none, and works exactly as it did.

    - ``grid``: feature -> ``(h, w)``, the spatial size of the rows the network was trained on. Rows of
      another size (a file of another resolution or aspect ratio) are resampled to it, each output cell
      the area-weighted mean of the input cells under it, and MD's displacements are rescaled to pixels
      of the training resolution (dx by the ratio of the grids' widths, dy of their heights). Rows of
      that size are returned as they are.
    - ``motion``: what MD is divided by (:func:`prepare`): ``pixels``, 8; ``video-mean``, the mean
      displacement magnitude of the MD rows the sampler scores in this video (after the resampling),
      at least ``MOTION_FLOOR`` pixels. A sampler ranks the clips of one video, and a codec (the
      distance its vectors span, its block sizes and intra blocks, the decoded fallback's search) scales
      a whole video's motion, so the video's own mean is the unit that the codec cancels out of.
    """

    grid: Mapping[str, tuple[int, int]] = field(default_factory=dict)
    motion: str = "pixels"

    def __post_init__(self):
        if self.motion not in MOTION_NORMS:
            raise ConfigError(f"unknown motion normalisation {self.motion!r}; known: {', '.join(MOTION_NORMS)}")

    @classmethod
    def from_json(cls, d: dict | None) -> "InputNorm":
        """From a run's ``input_norm`` (None or absent: features as stored)."""
        d = d or {}
        return cls(grid={f: tuple(e["grid"]) for f, e in d.items() if e.get("grid")},
                   motion=d.get("md", {}).get("motion", "pixels"))

    def to_json(self) -> dict:
        out = {f: {"grid": list(hw)} for f, hw in self.grid.items()}
        if self.motion != "pixels":
            out.setdefault("md", {})["motion"] = self.motion
        return out

    def per_video(self, feature: str) -> bool:
        """Whether ``feature``'s rows need the whole video before they can be scored (:meth:`scale`)."""
        return feature == "md" and self.motion == "video-mean"

    def resize(self, feature: str, x: torch.Tensor) -> torch.Tensor:
        """Rows ``(N, C, h, w)`` of one feature at the training grid, in the dtype they came in."""
        size = self.grid.get(feature)
        if size is None or tuple(x.shape[-2:]) == tuple(size):
            return x
        h, w = x.shape[-2:]
        y = _area_matrix(h, size[0]) @ x.float() @ _area_matrix(w, size[1]).T   # (N, C, H', W')
        if feature == "md":
            y[:, 0] *= size[1] / w   # displacements in pixels of the training resolution
            y[:, 1] *= size[0] / h
        if not x.is_floating_point():
            y = y.round().clamp(torch.iinfo(x.dtype).min, torch.iinfo(x.dtype).max)
        return y.to(x.dtype)

    def scale(self, feature: str, x: torch.Tensor) -> float | None:
        """What :func:`prepare` divides ``feature`` by for one video whose scored rows (resized) are
        ``x``: None for the fixed scaling."""
        if not self.per_video(feature):
            return None
        mean = x.double().pow(2).sum(dim=1).sqrt().mean() if len(x) else torch.tensor(0.0)  # (N, 2, H, W) -> magnitude
        return max(float(mean), MOTION_FLOOR)


def _area_matrix(n: int, m: int) -> torch.Tensor:
    """``(m, n)``: row i holds the share of output cell i (of ``m`` over the same extent) that each of
    ``n`` input cells covers, so that ``A @ v`` is the area-weighted mean."""
    edges = torch.arange(m + 1, dtype=torch.float64) * n / m
    j = torch.arange(n, dtype=torch.float64)
    overlap = (torch.minimum(edges[1:, None], j + 1) - torch.maximum(edges[:-1, None], j)).clamp(min=0)
    return (overlap / overlap.sum(dim=1, keepdim=True)).float()


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
    return clip_means(rows_fn(packed[key][rows]), owner[rows], num_clips)


def clip_means(values: torch.Tensor, owner: torch.Tensor, num_clips: int) -> torch.Tensor:
    """``(L,)``: the mean of each clip's row ``values (N,)`` (``owner``: the clip of each row); ``nan``
    for a clip without a row."""
    total = torch.zeros(num_clips).index_add_(0, owner, values)
    count = torch.zeros(num_clips).index_add_(0, owner, torch.ones_like(values))
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
    norm: InputNorm = field(default_factory=InputNorm)   # the config's input_norm (default: features as stored)
    _flops: dict[str, int] | None = field(default=None, repr=False)

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(self.nets)

    @property
    def extractor(self) -> dict:
        """The cheap-pass settings the sampler was trained on (features aside)."""
        return {k: v for k, v in self.config.get("extractor", {}).items() if k != "features"}

    @torch.inference_mode()
    def _rows(self, feature: str, x: torch.Tensor, scale: float | None = None) -> torch.Tensor:
        net = self.nets[feature]
        ac_loss = self.config.get("ac_loss", "ce")
        out = [saliency(net(prepare(feature, x[i : i + self.batch_size], scale)), self.loss, ac_loss)
               for i in range(0, len(x), self.batch_size)]
        return torch.cat(out) if out else torch.empty(0)

    def score(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None = None) -> torch.Tensor:
        """Saliency of the clips of one video from its packed features. ``clips`` (clip indices)
        restricts the work to those clips (stride); the others get ``nan``."""
        scoring = self.scoring(num_clips, clips)
        scoring.add(packed)
        return scoring.result()

    def scoring(self, num_clips: int, clips: torch.Tensor | None = None) -> "VideoScoring":
        """The scores of one video whose packed features come in chunks (:class:`VideoScoring`)."""
        return VideoScoring(self, num_clips, clips)

    def combine(self, per_feature: torch.Tensor) -> torch.Tensor:
        """``(F, L)`` scores of the features (in ``nets``' order) -> ``(L,)``: their mean (section 3.3.1);
        jointly trained, the mean of the visual score (over its features) and the audio score."""
        if self.modality == "audio-visual":
            names = list(self.nets)
            visual = per_feature[[i for i, f in enumerate(names) if f != "audio"]].nanmean(dim=0)
            audio = per_feature[names.index("audio")]
            return torch.stack([visual, audio]).nanmean(dim=0)
        return per_feature.nanmean(dim=0)

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


class VideoScoring:
    """A sampler's scores of one video whose packed features (clip numbers of the whole video) come
    chunk by chunk, as the pipeline's cheap pass streams them: ``add(packed)`` per chunk, then
    ``result() -> (L,)``. A feature is scored as it comes, except one normalised by the whole video
    (:meth:`InputNorm.per_video`: MD under ``video-mean``), whose chosen rows, resized to the training
    grid (a few hundred values a frame), wait for the video's end. :meth:`Sampler.score` is one chunk,
    so that scores from the cache and from the stream are the same computation."""

    def __init__(self, sampler: Sampler, num_clips: int, clips: torch.Tensor | None = None):
        self.sampler = sampler
        self.num_clips = num_clips
        self.wanted = wanted_mask(num_clips, clips)
        self.scores = {f: torch.full((num_clips,), float("nan")) for f in sampler.nets}
        self.held: dict[str, list[tuple[torch.Tensor, torch.Tensor]]] = {f: [] for f in sampler.nets if sampler.norm.per_video(f)}

    def add(self, packed: dict[str, torch.Tensor]) -> None:
        s = self.sampler
        for feature in s.nets:
            per_clip = 0 if feature == "audio" else s.frames_per_clip
            if feature in self.held:
                key, clip_key = PACKED[feature]
                if key in packed and len(packed[key]):
                    owner = packed[clip_key].long()
                    rows = choose_rows(owner, self.wanted, per_clip)
                    self.held[feature].append((s.norm.resize(feature, packed[key][rows]), owner[rows]))
                continue
            new = feature_scores(packed, self.num_clips, self.wanted, feature,
                                 lambda x, f=feature: s._rows(f, s.norm.resize(f, x)), per_clip)
            self.scores[feature] = torch.where(torch.isnan(new), self.scores[feature], new)

    def result(self) -> torch.Tensor:
        s = self.sampler
        for feature, parts in self.held.items():
            if parts:
                x, owner = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
                self.scores[feature] = clip_means(s._rows(feature, x, s.norm.scale(feature, x)), owner, self.num_clips)
        return s.combine(torch.stack([self.scores[f] for f in s.nets]))


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
                   frames_per_clip=int(fpc), config=config, key=sampler_key(run), norm=InputNorm.from_json(config.get("input_norm")))
