"""One video the way a user runs it: cheap pass -> sampler scores -> select K -> decode those clips
-> classify -> video prediction. Used by ``scsampler predict`` and by the benchmark's timing, so the
numbers the benchmark reports are those of the command users run.

Memory stays bounded whatever the video's length: the cheap pass streams clip features in chunks
that are scored and dropped, only the per-clip scores (a few floats per clip) are kept, and only
the K selected clips are decoded.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field

import torch

from scsampler.data.cache import pack_clips
from scsampler.errors import ConfigError, VideoError
from scsampler.runtime.classifier import ClipClassifier
from scsampler.runtime.sampler import Sampler
from scsampler.features.extractor import ExtractorConfig, extract_clip_features
from scsampler.io.decode import DecodeStats
from scsampler.io.video import probe
from scsampler.selectors import get_strategy, select_topk
from scsampler.selectors.combine import strided

SAMPLER_STRATEGIES = ("visual", "audio", "audio-visual")
AV_STRATEGIES = ("av-convex-score", "av-convex-list", "av-intersect-list", "av-union-list")
POSITIONAL = ("random", "uniform", "front", "center", "end", "dense")
FALLBACKS = ("none", "uniform")


@dataclass
class Selection:
    """How to choose clips: a strategy and its parameters."""

    strategy: str = "visual"
    k: int = 10
    k_prime: int = 8            # av-union-list
    alpha: float | None = None  # av-convex-*: default 0.9 (score) / 0.8 (list), the paper's best
    stride: int = 1             # the samplers score every stride-th clip only (Appendix D)
    fallback: str = "none"      # what to do when the audio sampler cannot run: "none" = error

    def __post_init__(self):
        known = SAMPLER_STRATEGIES + AV_STRATEGIES + POSITIONAL
        if self.strategy not in known:
            raise ConfigError(f"unknown strategy {self.strategy!r}; known: {', '.join(known)}")
        if self.k < 1:
            raise ConfigError(f"k must be >= 1, got {self.k}")
        if self.stride < 1:
            raise ConfigError(f"stride must be >= 1, got {self.stride}")
        if self.fallback not in FALLBACKS:
            raise ConfigError(f"fallback must be one of {', '.join(FALLBACKS)}, got {self.fallback!r}")

    @property
    def needs(self) -> tuple[str, ...]:
        """Which samplers the strategy runs."""
        if self.strategy == "visual":
            return ("visual",)
        if self.strategy == "audio":
            return ("audio",)
        if self.strategy == "audio-visual":
            return ("audio-visual",)
        if self.strategy in AV_STRATEGIES:
            return ("visual", "audio")
        return ()


def choose(selection: Selection, num_clips: int, scores: dict[str, torch.Tensor], generator: torch.Generator | None = None) -> torch.Tensor:
    """The selected clip indices from per-modality scores ``(L,)`` (``nan`` where not scored)."""
    s = selection
    if s.strategy in POSITIONAL:
        return get_strategy(s.strategy)(num_clips, s.k, generator=generator)
    scored = strided(num_clips, s.stride)
    if s.strategy in SAMPLER_STRATEGIES:
        sub = scores[s.strategy][scored]
        return scored[select_topk(len(scored), s.k, scores=torch.nan_to_num(sub, nan=-torch.inf))]
    kwargs = {"k_prime": s.k_prime}
    if s.alpha is not None:
        kwargs["alpha"] = s.alpha
    top = get_strategy(s.strategy)(len(scored), s.k, visual=scores["visual"][scored], audio=scores["audio"][scored], **kwargs)
    return scored[top]


@dataclass
class VideoResult:
    video: str
    num_clips: int
    selected: list[dict]
    top5: list[dict]
    probs: torch.Tensor                          # (C,) the video prediction
    seconds: dict[str, float]
    clips_scored: int
    clips_decoded: int
    frames_decoded: int
    notes: list[str] = field(default_factory=list)
    fallback: str | None = None
    scores: dict[str, list[float | None]] = field(default_factory=dict)  # per modality, every clip (nan -> None)

    def to_json(self) -> dict:
        return {
            "video": self.video,
            "num_clips": self.num_clips,
            "top5": self.top5,
            "selected": self.selected,
            "clips_scored": self.clips_scored,
            "clips_decoded": self.clips_decoded,
            "frames_decoded": self.frames_decoded,
            "seconds": self.seconds,
            "fallback": self.fallback,
            "notes": self.notes,
        }


def cheap_scores(path, samplers: dict[str, Sampler], extractor: ExtractorConfig, num_clips: int, stride: int = 1, chunk: int = 64) -> tuple[dict[str, torch.Tensor], dict]:
    """Stream the cheap pass over ``path`` and score its clips with every sampler, ``chunk`` clips
    at a time. Returns per-modality scores ``(L,)`` and the stream's metadata (with
    ``sampler_seconds``, the time spent in the samplers' networks)."""
    features = sorted({f for s in samplers.values() for f in s.features})
    cfg = dataclasses.replace(extractor, features=tuple(features))
    wanted = set(strided(num_clips, stride).tolist())
    # Compute MD / RGB-R only for what the samplers will score: the clips of the stride and, when
    # every visual sampler scores the same m frames per clip, those m frames (the scores are the same
    # as from the full features, where the sampler picks the same rows).
    per_clip = {s.frames_per_clip for s in samplers.values() if set(s.features) & {"md", "rgbr"}}
    frames_per_clip = per_clip.pop() if len(per_clip) == 1 else 0
    stream = extract_clip_features(path, cfg, frames_per_clip=frames_per_clip, clips=wanted if stride > 1 else None)
    scores = {m: torch.full((num_clips,), float("nan")) for m in samplers}
    pending = []
    spent = [0.0]

    def flush():
        if not pending:
            return
        t = time.perf_counter()
        packed = pack_clips(pending)
        first = pending[0].clip.index
        n = pending[-1].clip.index + 1
        idx = [c.clip.index for c in pending if c.clip.index in wanted]
        # Shift clip numbers to the chunk so that score() sees a small video.
        local = {k: (v - first if k.endswith("_clip") or k == "clip_index" else v) for k, v in packed.items()}
        for m, sampler in samplers.items():
            sc = sampler.score(local, n - first, clips=torch.tensor([i - first for i in idx], dtype=torch.long))
            scores[m][first:n] = sc
        pending.clear()
        spent[0] += time.perf_counter() - t

    for feats in stream:
        if feats.clip.index >= num_clips:
            break
        pending.append(feats)
        if len(pending) >= chunk:
            flush()
    flush()
    meta = stream.meta.to_json()
    meta["sampler_seconds"] = spent[0]
    return scores, meta


def shared_extractor(samplers: dict[str, Sampler], classifier: ClipClassifier | None = None) -> ExtractorConfig:
    """The cheap-pass settings the samplers were trained with (features aside), which must agree
    with each other and put clips on the classifier's grid."""
    settings = {}
    for name, sampler in samplers.items():
        own = {k: v for k, v in sampler.config.get("extractor", {}).items() if k != "features"}
        for k, v in own.items():
            if k in settings and settings[k][0] != v:
                raise ConfigError(f"the {settings[k][1]} and {name} samplers were trained on features extracted with different {k} ({settings[k][0]} vs {v})")
            settings.setdefault(k, (v, name))
    ext = ExtractorConfig(**{k: v for k, (v, _) in settings.items()})
    if classifier is not None and (ext.clip_frames, ext.fps) != (classifier.grid.clip_frames, classifier.grid.fps):
        raise ConfigError(f"the samplers score clips of {ext.clip_frames} frames at {ext.fps} fps but the classifier's clips are "
                          f"{classifier.grid.clip_frames} frames at {classifier.grid.fps} fps")
    return ext


def run_video(
    path,
    classifier: ClipClassifier,
    selection: Selection,
    samplers: dict[str, Sampler] | None = None,
    *,
    extractor: ExtractorConfig | None = None,
    generator: torch.Generator | None = None,
    video_id: str | None = None,
) -> VideoResult:
    """Everything for one video; raises :class:`VideoError` (one line) for a bad file, and
    :class:`ConfigError` when the strategy needs a sampler that was not given."""
    samplers = samplers or {}
    video_id = video_id or str(path)
    t0 = time.perf_counter()
    info = probe(path)
    num_clips = classifier.grid.num_clips(info.duration)
    if num_clips == 0:
        raise VideoError(str(path), f"video is {float(info.duration):.2f} s long, shorter than one clip")
    notes: list[str] = []
    fallback = None
    needed = {m: samplers[m] for m in selection.needs if m in samplers}
    missing = [m for m in selection.needs if m not in samplers]
    if missing:
        raise ConfigError(f"strategy {selection.strategy!r} needs a {' and an '.join(missing)} sampler")
    active = selection
    if "audio-visual" in needed and not info.has_audio:
        notes.append("the video has no audio stream: the joint sampler scored it from the visual features alone")
    if "audio" in needed and not info.has_audio:
        if selection.fallback == "uniform":
            fallback = "uniform: the video has no audio stream for the audio sampler"
            active = Selection(strategy="uniform", k=selection.k)
            needed = {}
        else:
            raise VideoError(str(path), "has no audio stream, and the audio sampler needs one (use --fallback uniform to fall back)")
    scores: dict[str, torch.Tensor] = {}
    meta: dict = {}
    if needed:
        ext = extractor or shared_extractor(needed, classifier)
        scores, meta = cheap_scores(path, needed, ext, num_clips, selection.stride)
        if meta.get("truncated"):
            notes.append(f"the video stream ended after {meta['num_clips']} of {num_clips} clips; the rest were not scored")
        audio_state = str(meta.get("audio", ""))
        if "audio" in needed and audio_state.startswith("failed"):
            cause = audio_state.removeprefix("failed: ")
            if selection.fallback != "uniform":
                raise VideoError(str(path), f"audio stream undecodable ({cause}), and the audio sampler needs it (use --fallback uniform to fall back)")
            fallback = f"uniform: the audio stream is undecodable ({cause})"
            active = Selection(strategy="uniform", k=selection.k)
        elif "audio-visual" in needed and audio_state.startswith("failed"):
            notes.append("the audio stream is undecodable: the joint sampler scored the video from the visual features alone")
    if info.rotation:
        notes.append(f"rotation {info.rotation} degrees in the file's metadata: frames were classified as stored, not rotated")
    t1 = time.perf_counter()
    sampler_s = float(meta.get("sampler_seconds", 0.0))
    chosen = choose(active, num_clips, scores, generator)
    if num_clips < selection.k and active.strategy != "dense":
        notes.append(f"video has {num_clips} clips, fewer than K={selection.k}: all of them were used")
    t2 = time.perf_counter()
    stats = DecodeStats()
    rgb = classifier.decode(path, chosen.tolist(), stats)
    t3 = time.perf_counter()
    probs = classifier.probabilities(rgb)
    video = probs.mean(dim=0)
    t4 = time.perf_counter()
    top = torch.topk(video, min(5, len(video)))
    grid = classifier.grid
    selected = []
    for rank, i in enumerate(chosen.tolist()):
        c = grid.clip(video_id, i)
        selected.append({
            "rank": rank, "index": i, "start_s": c.start_s, "end_s": c.end_s,
            "scores": {m: _num(s[i]) for m, s in scores.items()},
            "top_class": classifier.classes[int(probs[rank].argmax())],
        })
    return VideoResult(
        video=video_id,
        num_clips=num_clips,
        selected=selected,
        top5=[{"label": classifier.classes[int(j)], "prob": float(p)} for p, j in zip(top.values, top.indices)],
        probs=video,
        seconds={"cheap": t1 - t0 - sampler_s, "sampler": sampler_s, "selection": t2 - t1, "decode": t3 - t2, "classify": t4 - t3},
        clips_scored=len(strided(num_clips, selection.stride)) if needed else 0,
        clips_decoded=len(chosen),
        frames_decoded=stats.frames_decoded,
        notes=notes,
        fallback=fallback,
        scores={m: [_num(v) for v in s.tolist()] for m, s in scores.items()},
    )


def _num(x) -> float | None:
    x = float(x)
    return None if x != x else x
