"""VideoEpitoma's timestep selector as a clip selector (``videoepitoma``; a ``train-epitoma`` run).

Every clip of the classifier's grid is a candidate timestep (or ``timesteps`` of them, evenly spread,
the paper's protocol of T = 16 or 32). A timestep's frame is the I-frame thumbnail of the cheap pass
(the default: no decoding beyond the key frames the cheap pass reads anyway) or the clip's exact
middle frame, decoded for it (the paper; ``frame="middle"``). The light network and the concept
similarities run clip by clip while the cheap pass streams: the ``N`` similarities of a clip are
``N`` scorers (``videoepitoma-concept<j>``), which the benchmark caches like any sampler's scores and
which share one light-network pass per video. The context (self-attention over the timesteps) and
the gate then run once over the whole video, in :meth:`EpitomaSelector.select`, so the pipeline's
chunked cheap pass and the benchmark's whole-video cache give the same gates.

A clip that owns no I-frame (a GOP longer than a clip) takes the features of the nearest clip that
does, among the clips scored. The gate keeps the timesteps whose value sigmoid(alpha) is at least
0.5; the selector classifies the K timesteps of highest value, and says in its notes when the gate
kept more or fewer than K. ``scores["gate"]`` holds the gate value of every candidate (nan elsewhere).
"""

from __future__ import annotations

import json
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
from scsampler.models.epitoma import EpitomaHead, LightNet, TimestepGate
from scsampler.models.registry import create_model
from scsampler.models.weights import load_weights, read_run_config
from scsampler.runtime.sampler import prepare, wanted_mask
from scsampler.selectors.base import CannotScore, Choice, ClipSelector, Memo, Needs, VideoView
from scsampler.selectors.combine import strided
from scsampler.selectors.ranking import select_uniform
from scsampler.selectors.registry import register_selector

FRAMES = ("iframe", "middle")
RUN_FILES = ("light.safetensors", "gate.safetensors", "head.safetensors")
MIDDLE_MEMO_VIDEOS = 512   # videos whose middle-frame similarities a selector keeps (T x N floats each)


# -- the timestep frames ----------------------------------------------------------------------------
def own_iframe_rows(owner: torch.Tensor, wanted: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(clips, rows)``: each wanted clip that owns I-frames and the row of its I-frame nearest the
    clip's middle (the middle of its rows; of two, the later). ``owner (R,)``: the clip of each
    I-frame row, in clip order (as the cheap pass packs them); ``wanted (L,)`` bool."""
    counts = torch.bincount(owner.long(), minlength=len(wanted))[: len(wanted)]
    starts = torch.cumsum(counts, 0) - counts
    clips = torch.nonzero((counts > 0) & wanted).flatten()
    return clips, starts[clips] + counts[clips] // 2


def nearest_source(has: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """For each target clip, the nearest clip where ``has (L,)`` holds (itself if it does; of two at
    the same distance, the earlier). ``has`` must hold somewhere."""
    have = torch.nonzero(has).flatten()
    pos = torch.searchsorted(have, targets)
    right = have[pos.clamp(max=len(have) - 1)]
    left = have[(pos - 1).clamp(min=0)]
    return torch.where((targets - left).abs() <= (right - targets).abs(), left, right)


def thumbnail_size(path, small_side: int) -> tuple[int, int]:
    """``(h, w)`` of the cheap pass's thumbnails of ``path`` (the longest side ``small_side``)."""
    info = probe(path)
    w, h = small_size(info.width, info.height, small_side)
    return h, w


def middle_frames(path, clips, grid: ClipGrid, size: tuple[int, int], stats: DecodeStats | None = None) -> torch.Tensor:
    """The exact middle frame of each clip (frame ``m/2`` of its ``m``; the paper's choice for a 3D
    classifier's timestep), decoded at ``size (h, w)``: uint8 ``(T, 3, h, w)``. ``stats`` counts the
    frames decoded (from the key frame before each clip)."""
    step = Fraction(1, grid.fps)
    mids = [(c.start + c.end) / 2 for c in (grid.clip("", int(i)) for i in clips)]
    return decode_intervals(path, [(m, m + step) for m in mids], num_frames=1, size=size, stats=stats)[:, :, 0]


# -- a trained run ----------------------------------------------------------------------------------
@dataclass
class Epitoma:
    """A loaded ``train-epitoma`` run: the light network, the gate and the paper's classifier head,
    all in eval mode."""

    light: LightNet
    gate: TimestepGate
    head: EpitomaHead
    config: dict
    key: str
    batch_size: int = 256
    _flops: int | None = field(default=None, repr=False)

    @property
    def frame(self) -> str:
        return self.config["frame"]

    @property
    def extractor(self) -> dict:
        """The cheap-pass settings the light network was trained on (features aside)."""
        return {k: v for k, v in self.config.get("extractor", {}).items() if k != "features"}

    @property
    def concepts(self) -> int:
        return self.gate.concepts

    @torch.inference_mode()
    def light_features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, 3, h, w)`` frames -> ``(N, C)``."""
        out = [self.light.forward_features(prepare("if", frames[i : i + self.batch_size]))
               for i in range(0, len(frames), self.batch_size)]
        return torch.cat(out) if out else torch.zeros(0, self.light.feature_dim)

    @torch.inference_mode()
    def similarities(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, 3, h, w)`` frames -> ``(N, concepts)``: the per-timestep part of the gate."""
        return self.gate.similarity(self.light_features(frames))

    def flops_per_frame(self) -> int:
        """FLOPs of the light network and the concept similarities on one frame."""
        if self._flops is None:
            from torch.utils.flop_counter import FlopCounterMode

            x = torch.zeros(1, *self.config["input_shape"], dtype=torch.uint8)
            with FlopCounterMode(display=False) as counter:
                self.similarities(x)
            self._flops = int(counter.get_total_flops())
        return self._flops


def run_key(run: Path) -> str:
    return digest(*(run / f for f in RUN_FILES), run / "config.json")


def load_epitoma(run: str | os.PathLike) -> Epitoma:
    """The ``train-epitoma`` run in ``run``; a clear error when it is not one."""
    run = Path(run)
    config = read_run_config(run, "epitoma", "VideoEpitoma run")
    light = create_model(config["light"]["arch"], **config["light"]["kwargs"])
    gate = TimestepGate(config["feature_dim"], **config["gate"])
    head = EpitomaHead(config["head_feature_dim"], len(config["classes"]), **config["head"])
    for name, net in (("light", light), ("gate", gate), ("head", head)):
        missing = load_weights(net, run / f"{name}.safetensors", skip_mismatched_head=False)
        if missing:
            raise ConfigError(f"{run}/{name}.safetensors: {len(missing)} tensors missing (first: {missing[0]})")
    return Epitoma(light.eval(), gate.eval(), head.eval(), config, run_key(run))


# -- the scorers: the per-clip part, cached by the benchmark ------------------------------------------
class _SharedSimilarities:
    """``(L, N)`` similarities of one video's packed I-frames, memoised by content, so that the ``N``
    concept scorers of a video (called one after another in the pipeline, one video after another in
    the benchmark) run the light network once."""

    def __init__(self, model: Epitoma, capacity: int = 512):
        self.model = model
        self._memo = Memo(capacity)

    def __call__(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None) -> torch.Tensor:
        wanted = wanted_mask(num_clips, clips)
        frames, owner = packed.get("iframes"), packed.get("iframes_clip")
        if frames is None or owner is None or len(frames) == 0:
            return torch.full((num_clips, self.model.concepts), float("nan"))
        key = digest(frames.contiguous().numpy().tobytes(), owner.contiguous().numpy().tobytes(),
                     wanted.numpy().tobytes(), str(num_clips).encode())

        def compute() -> torch.Tensor:
            out = torch.full((num_clips, self.model.concepts), float("nan"))
            idx, rows = own_iframe_rows(owner.long(), wanted)
            if len(rows):
                out[idx] = self.model.similarities(frames[rows]).float()
            return out

        return self._memo.get(key, compute)


class ConceptScorer:
    """A :class:`scsampler.selectors.base.Scorer`: each clip's similarity to concept ``j``, from the
    light network on its own I-frame (``nan`` for a clip without one, or not scored)."""

    features = ("if",)
    frames_per_clip = 0   # the rows count every I-frame of a clip: the key frames the cheap pass decoded

    def __init__(self, shared: _SharedSimilarities, j: int):
        self._shared = shared
        self.j = j
        self.name = f"videoepitoma-concept{j}"
        self.key = f"epitoma-{shared.model.key}-c{j}"
        self.extractor = shared.model.extractor

    def score(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None = None) -> torch.Tensor:
        return self._shared(packed, num_clips, clips)[:, self.j].clone()

    def flops_per_row(self) -> dict[str, int]:
        """One light-network evaluation (shared by the concepts; the selector counts it once)."""
        return {"if": self._shared.model.flops_per_frame()}


# -- the selector -----------------------------------------------------------------------------------
class EpitomaSelector(ClipSelector):
    """Top-K candidate timesteps by VideoEpitoma's gate value (see the module docstring)."""

    def __init__(self, model: Epitoma, *, stride: int = 1, timesteps: int | None = None, frame: str | None = None,
                 name: str = "videoepitoma"):
        if stride < 1:
            raise ConfigError(f"stride must be >= 1, got {stride}")
        timesteps = int(model.config.get("eval_timesteps", 0)) if timesteps is None else int(timesteps)
        if timesteps < 0:
            raise ConfigError(f"timesteps must be >= 0 (0: every clip), got {timesteps}")
        frame = frame or model.frame
        if frame not in FRAMES:
            raise ConfigError(f"frame must be one of {', '.join(FRAMES)}, got {frame!r}")
        self.name = name
        self.model = model
        self.stride = stride
        self.timesteps = timesteps
        self.frame = frame
        self.needs = Needs(features=("if",)) if frame == "iframe" else Needs(frames=True)
        shared = _SharedSimilarities(model)
        self._scorers = {f"concept{j}": ConceptScorer(shared, j) for j in range(model.concepts)} if frame == "iframe" else {}
        self._middle_memo = Memo(MIDDLE_MEMO_VIDEOS)   # middle frames: content, grid and candidates -> similarities

    @property
    def scorers(self):
        return dict(self._scorers)

    @property
    def settings(self) -> dict:
        return {"name": self.name, "run": self.model.key, "stride": self.stride, "timesteps": self.timesteps,
                "frame": self.frame}

    def candidates(self, num_clips: int) -> torch.Tensor:
        """The candidate timesteps: every scored clip, or ``timesteps`` clips evenly spread."""
        if self.timesteps == 0:
            return strided(num_clips, self.stride)
        return select_uniform(num_clips, self.timesteps)

    def select(self, video: VideoView, k: int) -> Choice:
        n = video.num_clips
        cand = self.candidates(n)
        notes: list[str] = []
        if self.frame == "iframe":
            got = video.scores(self._scorers, self.stride)
            sims = torch.stack([got.values[f"concept{j}"] for j in range(self.model.concepts)], dim=1)  # (L, N)
            has = torch.isfinite(sims).all(dim=1)
            if not has.any():
                raise CannotScore(f"the {self.name} selector found no I-frame to score in the clips it read")
            s = sims[nearest_source(has, cand)]
            evaluations, seconds = int(has.sum()), got.seconds
            keyframes = round(got.rows_per_clip["concept0"].get("if", 0.0) * n)
            notes.append(f"{self.name}: light network on {evaluations} I-frame thumbnails (the cheap pass decoded "
                         f"{keyframes} key frames) for {len(cand)} timesteps")
            clips_scored = len(strided(n, self.stride))
        else:
            path, grid = getattr(video, "path", None), _grid(video)
            if path is None or grid is None:
                raise ConfigError(f"the {self.name} selector with middle frames decodes them from the video file, "
                                  "which this view does not name")
            s, decoded, seconds = self._middle_similarities(path, grid, cand, getattr(video, "content_key", None))
            evaluations = len(cand)
            notes.append(f"{self.name}: decoded {decoded} frames for the middle frames of {len(cand)} timesteps")
            clips_scored = len(cand)
        t0 = time.perf_counter()
        from torch.utils.flop_counter import FlopCounterMode

        with FlopCounterMode(display=False) as counter, torch.inference_mode():
            alpha = self.model.gate.logits_from_similarity(s[None])[0]
        value = torch.sigmoid(alpha.float())
        seconds += time.perf_counter() - t0
        order = torch.sort(value, descending=True, stable=True).indices
        chosen = cand[order[:k]]
        notes.append(_kept_note(int((alpha >= 0).sum()), len(cand), k))
        gate = torch.full((n,), float("nan"))
        gate[cand] = value
        gflops = (evaluations * self.model.flops_per_frame() + counter.get_total_flops()) / 1e9
        return Choice(chosen, scores={"gate": gate}, clips_scored=clips_scored, gflops=gflops, seconds=seconds, notes=notes,
                      frames_decoded=0 if self.frame == "iframe" else decoded)

    def _middle_similarities(self, path, grid: ClipGrid, cand: torch.Tensor, content_key: str | None) -> tuple[torch.Tensor, int, float]:
        """``(similarities (T, N), frames decoded, seconds in the light network)`` of the candidates'
        middle frames. A view that names its video's content (``content_key``: the benchmark's, which
        asks again about the same video once per K) gets them memoised by that key, the grid and the
        candidates; a file's view (predict, the benchmark's wall time) has none and decodes every time."""
        def compute() -> tuple[torch.Tensor, int, float]:
            stats = DecodeStats()
            frames = middle_frames(path, cand.tolist(), grid, thumbnail_size(path, self.model.config["small_side"]), stats)
            t0 = time.perf_counter()
            return self.model.similarities(frames).float(), stats.frames_decoded, time.perf_counter() - t0

        if content_key is None:
            return compute()
        return self._middle_memo.get((content_key, json.dumps(grid.to_json(), sort_keys=True), tuple(cand.tolist())), compute)


def _kept_note(kept: int, candidates: int, k: int) -> str:
    head = f"the gate kept {kept} of {candidates} timesteps"
    if candidates <= k:
        return f"{head}; K={k}: all {candidates} timesteps were classified"
    if kept < k:
        return f"{head}; K={k}: the {k - kept} highest-valued gated-off timesteps were added"
    if kept > k:
        return f"{head}; K={k}: the {k} with the highest gate values were classified"
    return f"{head}; K={k}: all of them were classified"


def _grid(video) -> ClipGrid | None:
    grid = getattr(video, "grid", None)
    if grid is None and getattr(video, "classifier", None) is not None:
        grid = video.classifier.grid
    return grid


@register_selector("videoepitoma", help="VideoEpitoma's timestep gate, top-K by gate value (a train-epitoma run: --sampler RUN)",
                   options=("stride", "timesteps", "frame"), run_kind="epitoma")
def _build(*, run: str | os.PathLike | None = None, stride: int = 1, timesteps: int | None = None, frame: str | None = None,
           **_) -> EpitomaSelector:
    if run is None:
        raise ConfigError("the videoepitoma selector is trained: give its run directory (from train-epitoma) as --sampler RUN "
                          "(Python: load_selector(RUN))")
    return EpitomaSelector(load_epitoma(run), stride=stride, timesteps=timesteps, frame=frame)


__all__ = ["ConceptScorer", "Epitoma", "EpitomaSelector", "load_epitoma", "middle_frames", "nearest_source",
           "own_iframe_rows", "thumbnail_size"]
