"""The one per-video path: probe -> the selector (through a view of the file: the cheap pass streams
only the features it asks for) -> decode the K chosen clips -> classify -> the video's prediction.
``scsampler predict``, every timing row of the benchmark and the batch runners call
:func:`run_video`, so the numbers the benchmark reports are those of the command users run.
:func:`run_video` is two stages composed, :func:`choose_clips` (probe, cheap pass, selection: CPU
work that needs only the classifier's clip grid) and :func:`classify_chosen` (decode the chosen
clips, classify), which a distributed runner runs on different workers; :class:`ChosenClips`, small
and picklable, is what passes between them.

Memory stays bounded whatever the video's length: the cheap pass streams clip features in chunks
that are scored and dropped, only the per-clip scores (a few floats per clip) are kept, and only
the K selected clips are decoded. A sampler that normalises MD by the video's own motion
(``input_norm``, :class:`scsampler.runtime.sampler.InputNorm`) keeps the MD rows it scores, at its
training grid (160 values a frame for an 8 x 10 grid), until the video's end.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from scsampler.data.cache import pack_clips
from scsampler.errors import ConfigError, VideoError
from scsampler.features.extractor import ExtractorConfig, as_written, extract_clip_features, reads_motion, without_fallback
from scsampler.io.decode import DecodeStats
from scsampler.io.grid import ClipGrid
from scsampler.io.video import probe, timeline_restart, video_stream_note
from scsampler.runtime.classifier import ClipClassifier
from scsampler.runtime.sampler import rows_per_clip
from scsampler.selectors.base import CannotScore, Choice, ClipSelector, Scorer, Scores
from scsampler.selectors.combine import strided


@dataclass
class VideoResult:
    video: str
    num_clips: int
    selector: str
    selected: list[dict]                         # the chosen clips, best first: rank, index, times, scores, top class
    top5: list[dict]
    probs: torch.Tensor                          # (C,) the video prediction
    seconds: dict[str, float]                    # cheap, sampler, selection, decode, classify
    clips_scored: int
    clips_decoded: int
    frames_decoded: int
    selector_gflops: float = 0.0                 # the selector's own compute (its networks on the scored clips)
    notes: list[str] = field(default_factory=list)
    fallback: str | None = None
    scores: dict[str, list[float | None]] = field(default_factory=dict)  # per scorer, every clip (nan -> None)

    def to_json(self) -> dict:
        return {
            "video": self.video,
            "num_clips": self.num_clips,
            "top5": self.top5,
            "selected": self.selected,
            "clips_scored": self.clips_scored,
            "clips_decoded": self.clips_decoded,
            "frames_decoded": self.frames_decoded,
            "selector_gflops": self.selector_gflops,
            "seconds": self.seconds,
            "fallback": self.fallback,
            "notes": self.notes,
        }


def shared_extractor(scorers: dict[str, Scorer], classifier: ClipClassifier | None = None, *,
                     grid: ClipGrid | None = None) -> ExtractorConfig:
    """The cheap-pass settings the scorers were made for (features aside), which must agree with
    each other and put clips on the classifier's grid. Settings no scorer fixes (a training-free one)
    take the classifier's clip grid. ``grid``: that grid, where the classifier itself is elsewhere."""
    grid = classifier.grid if classifier is not None else grid
    settings = {}
    for name, scorer in scorers.items():
        # Scored with the fallback it was trained with; a scorer that reads no motion has none.
        trained = as_written(scorer.extractor) if reads_motion(scorer.features) else without_fallback(scorer.extractor)
        for k, v in trained.items():
            if k in settings and settings[k][0] != v:
                raise ConfigError(f"the {settings[k][1]} and {name} samplers were trained on features extracted with different {k} ({settings[k][0]} vs {v})")
            settings.setdefault(k, (v, name))
    if grid is not None:
        settings.setdefault("clip_frames", (grid.clip_frames, "classifier"))
        settings.setdefault("fps", (grid.fps, "classifier"))
    ext = ExtractorConfig(**{k: v for k, (v, _) in settings.items()})
    if grid is not None and (ext.clip_frames, ext.fps) != (grid.clip_frames, grid.fps):
        raise ConfigError(f"the samplers score clips of {ext.clip_frames} frames at {ext.fps} fps but the classifier's clips are "
                          f"{grid.clip_frames} frames at {grid.fps} fps")
    return ext


def cheap_scores(path, scorers: dict[str, Scorer], extractor: ExtractorConfig, num_clips: int, stride: int = 1,
                 chunk: int = 64, processes: int = 1) -> tuple[Scores, dict]:
    """Stream the cheap pass over ``path`` and score its clips with every scorer, ``chunk`` clips
    at a time; ``processes`` decode the video (see :func:`extract_clip_features`). Returns the
    scores and the stream's metadata."""
    features = sorted({f for s in scorers.values() for f in s.features})
    cfg = dataclasses.replace(extractor, features=tuple(features))
    wanted = set(strided(num_clips, stride).tolist())
    # Compute MD / RGB-R only for what the scorers will score: the clips of the stride and, when
    # every visual scorer scores the same m frames per clip, those m frames (the scores are the same
    # as from the full features, where the scorer picks the same rows).
    per_clip = {s.frames_per_clip for s in scorers.values() if reads_motion(s.features)}
    frames_per_clip = per_clip.pop() if len(per_clip) == 1 else 0
    stream = extract_clip_features(path, cfg, frames_per_clip=frames_per_clip, clips=wanted if stride > 1 else None,
                                   processes=processes)
    values = {m: torch.full((num_clips,), float("nan")) for m in scorers}
    rows = {m: dict.fromkeys(s.features, 0.0) for m, s in scorers.items()}
    # A scorer that offers scoring() (a trained sampler) gets the whole video chunk by chunk: one that
    # normalises by the whole video scores part of it at the end. The others score each chunk.
    whole = {m: s.scoring(num_clips, torch.tensor(sorted(wanted), dtype=torch.long))
             for m, s in scorers.items() if hasattr(s, "scoring")}
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
        for m, scorer in scorers.items():
            if m in whole:
                whole[m].add(packed)
            else:
                values[m][first:n] = scorer.score(local, n - first, clips=torch.tensor([i - first for i in idx], dtype=torch.long))
            for f, r in rows_per_clip(scorer.features, local, n - first, scorer.frames_per_clip).items():
                rows[m][f] += r * (n - first)
        pending.clear()
        spent[0] += time.perf_counter() - t

    for feats in stream:
        if feats.clip.index >= num_clips:
            break
        pending.append(feats)
        if len(pending) >= chunk:
            flush()
    flush()
    t = time.perf_counter()
    for m, scoring in whole.items():
        values[m] = scoring.result()
    spent[0] += time.perf_counter() - t
    per_clip_rows = {m: {f: v / max(len(wanted), 1) for f, v in r.items()} for m, r in rows.items()}
    flops = {m: s.flops_per_row() for m, s in scorers.items()}
    return Scores(values, per_clip_rows, spent[0], flops), stream.meta.to_json()


class FileVideo:
    """A :class:`scsampler.selectors.base.VideoView` of a video file: it runs the cheap pass, the
    targeted feature extraction or the dense classification a selector asks for, and keeps what
    they cost. Without a classifier (only its ``grid``) it answers every question but :meth:`probs`.
    ``decode_processes``: the processes that decode the video for the cheap pass."""

    def __init__(self, path, video_id: str, num_clips: int, has_audio: bool, classifier: ClipClassifier | None, *,
                 grid: ClipGrid | None = None, generator: torch.Generator | None = None, label: int | None = None,
                 labels: Sequence[int] = (), decode_processes: int = 1):
        self.path = path
        self.decode_processes = decode_processes
        self.video_id = video_id
        self.num_clips = num_clips
        self.has_audio = has_audio
        self.classifier = classifier
        self.grid = classifier.grid if classifier is not None else grid
        self.generator = generator
        self.labels = tuple(labels) or ((label,) if label is not None else ())  # all the true classes, the main one first
        self.label = self.labels[0] if self.labels else None
        self.meta: dict = {}                 # the cheap pass's metadata (truncation, audio state)
        self.dense: torch.Tensor | None = None
        self.dense_frames = 0
        self.dense_seconds = {"decode": 0.0, "classify": 0.0}
        self.cheap_seconds = 0.0             # the cheap pass, the scorers' networks aside
        self.scorer_seconds = 0.0            # the scorers' networks

    def scores(self, scorers: dict[str, Scorer], stride: int = 1) -> Scores:
        t = time.perf_counter()
        scores, self.meta = cheap_scores(self.path, scorers, shared_extractor(scorers, grid=self.grid), self.num_clips, stride,
                                         processes=self.decode_processes)
        self.cheap_seconds += time.perf_counter() - t - scores.seconds
        self.scorer_seconds += scores.seconds
        return scores

    def features(self, features: Sequence[str], clips: Sequence[int]) -> dict[str, torch.Tensor]:
        t = time.perf_counter()
        cfg = dataclasses.replace(shared_extractor({}, grid=self.grid), features=tuple(features))
        wanted = {int(c) for c in clips}
        stream = extract_clip_features(self.path, cfg, clips=wanted, processes=self.decode_processes)
        got, last = [], max(wanted, default=-1)
        for f in stream:  # the stream reads from the start: stop after the last clip asked for
            if f.clip.index in wanted:
                got.append(f)
            if f.clip.index >= last:
                break
        self.meta = stream.meta.to_json()
        self.cheap_seconds += time.perf_counter() - t
        return pack_clips(got) if got else {}

    def probs(self) -> torch.Tensor:
        if self.classifier is None:
            raise ConfigError("the selector asked for the classifier's probabilities of every clip without declaring "
                              "needs.dense, so it was given no classifier")
        if self.dense is None:
            stats = DecodeStats()
            t0 = time.perf_counter()
            rgb = self.classifier.decode(self.path, list(range(self.num_clips)), stats)
            t1 = time.perf_counter()
            self.dense = self.classifier.probabilities(rgb)
            self.dense_seconds = {"decode": t1 - t0, "classify": time.perf_counter() - t1}
            self.dense_frames = stats.frames_decoded
        return self.dense


@dataclass
class ChosenClips:
    """What :func:`choose_clips` hands :func:`classify_chosen`: the choice and what it cost, small and
    picklable (no decoded video; ``dense`` only where the selector classified every clip itself)."""

    video: str
    grid: ClipGrid                               # the clip grid the indices are on
    num_clips: int
    selector: str                                # the selector that chose (the fallback where it did)
    indices: list[int]                           # the chosen clips, best first
    scores: dict[str, list[float | None]]        # per scorer, every clip (nan -> None)
    seconds: dict[str, float]                    # cheap, sampler, selection; decode, classify of dense selection
    clips_scored: int
    selector_gflops: float = 0.0
    notes: list[str] = field(default_factory=list)
    fallback: str | None = None
    dense: torch.Tensor | None = None            # (L, C) the selector's own classification of every clip
    dense_frames: int = 0
    selector_frames: int = 0                     # frames the selector decoded itself (VideoEpitoma's middle frames)


def fallback_words(fallback: dict) -> str:
    """The decoded-motion fallback's settings (``ExtractorConfig.fallback``) in words."""
    if not fallback:
        return "the fallback's block matching"
    words = f"blocks at {fallback['cell']}/16 of the resolution, radius {fallback['search']}"
    return words + (f", refined by a pixel at {2 * fallback['cell']}/16" if fallback.get("refine") else ", whole steps")


def choose_clips(
    path,
    grid: ClipGrid,
    selector: ClipSelector,
    k: int = 10,
    *,
    classifier: ClipClassifier | None = None,
    fallback: ClipSelector | None = None,
    generator: torch.Generator | None = None,
    video_id: str | None = None,
    label: int | None = None,
    labels: Sequence[int] = (),
    decode_processes: int = 1,
) -> ChosenClips:
    """The first stage of :func:`run_video`: probe, the cheap pass and the selection, on the clip
    ``grid`` of the classifier. ``classifier`` is needed only by a selector that classifies every clip
    (``selector.needs.dense``: dense, the oracle). Raises as :func:`run_video` does."""
    if k < 1:
        raise ConfigError(f"k must be >= 1, got {k}")
    video_id = video_id or str(path)
    t0 = time.perf_counter()
    info = probe(path)
    restart, stream_note = timeline_restart(path), video_stream_note(path)  # for the notes (cached per file)
    num_clips = grid.num_clips(info.duration)
    if num_clips == 0:
        raise VideoError(str(path), f"video is {float(info.duration):.2f} s long, shorter than one clip")
    t_probe = time.perf_counter()
    view = FileVideo(path, video_id, num_clips, info.has_audio, classifier, grid=grid, generator=generator, label=label,
                     labels=labels, decode_processes=decode_processes)
    notes: list[str] = []
    fallback_note = None
    needs = selector.needs
    try:
        if needs.audio == "required" and not info.has_audio:
            raise CannotScore(f"has no audio stream, and the {selector.name} selector needs one")
        choice = selector.select(view, k)
        _check_audio(view, selector)
    except CannotScore as err:
        try:
            _check_audio(view, selector)  # an undecodable audio stream is the cause to name, where it is one
        except CannotScore as audio_err:
            err = audio_err
        if fallback is None:
            raise VideoError(str(path), f"{err} (use --fallback uniform to fall back)") from None
        fallback_note = f"{fallback.name}: {err}"
        choice = fallback.select(view, k)
    if view.meta.get("truncated"):
        notes.append(f"the video stream ended after {view.meta['num_clips']} of {num_clips} clips; the rest were not scored")
    # Whatever the selector read: a file whose timestamps restart, a file with several video streams.
    if restart is not None:
        notes.append(f"the file's timeline {restart.note()}")
    if stream_note:
        notes.append(f"video stream {stream_note}")
    if needs.audio == "optional" and "audio" in needs.features:
        if not info.has_audio:
            notes.append(f"the video has no audio stream: the {selector.name} selector scored it from the visual features alone")
        elif str(view.meta.get("audio", "")).startswith("failed"):
            notes.append(f"the audio stream is undecodable: the {selector.name} selector scored the video from the visual features alone")
    if view.meta.get("motion_source") == "decoded":
        notes.append(f"no motion vectors in the {info.codec} bitstream: motion was matched on decoded frames "
                     f"({fallback_words(view.meta.get('fallback') or {})})")
    if info.rotation:
        notes.append(f"rotation {info.rotation} degrees in the file's metadata: frames were classified as stored, not rotated")
    notes += choice.notes
    used = fallback if fallback_note else selector
    if num_clips < k and used.takes_k:
        notes.append(f"video has {num_clips} clips, fewer than K={k}: all of them were used")
    t2 = time.perf_counter()
    # The selector's time, split: the cheap pass (with the probe), its networks, dense classification
    # on its behalf (the oracle: reported as decode and classify), and the rest (its ranking).
    probe_s = t_probe - t0
    selection_s = t2 - t_probe - view.cheap_seconds - view.scorer_seconds - sum(view.dense_seconds.values())
    return ChosenClips(
        video=video_id,
        grid=grid,
        num_clips=num_clips,
        selector=used.name,
        indices=choice.indices.tolist(),
        scores={m: [_num(v) for v in s.tolist()] for m, s in choice.scores.items()},
        seconds={"cheap": probe_s + view.cheap_seconds, "sampler": view.scorer_seconds, "selection": selection_s,
                 "decode": view.dense_seconds["decode"], "classify": view.dense_seconds["classify"]},
        clips_scored=choice.clips_scored,
        selector_gflops=choice.gflops,
        notes=notes,
        fallback=fallback_note,
        dense=view.dense,
        dense_frames=view.dense_frames,
        selector_frames=choice.frames_decoded,
    )


def classify_chosen(path, classifier: ClipClassifier, chosen: ChosenClips) -> VideoResult:
    """The second stage of :func:`run_video`: decode the chosen clips of ``path``, classify them and
    average (or take them from the selector's own dense classification)."""
    if chosen.grid != classifier.grid:
        raise ConfigError(f"the clips were chosen on a grid of {chosen.grid.clip_frames} frames at {chosen.grid.fps} fps "
                          f"but the classifier's clips are {classifier.grid.clip_frames} frames at {classifier.grid.fps} fps")
    t2 = time.perf_counter()
    stats = DecodeStats()
    if chosen.dense is not None:
        probs = chosen.dense[chosen.indices]  # the selector already classified every clip
        t3 = time.perf_counter()
    else:
        rgb = classifier.decode(path, chosen.indices, stats)
        t3 = time.perf_counter()
        probs = classifier.probabilities(rgb)
    video = probs.mean(dim=0)
    t5 = time.perf_counter()
    top = torch.topk(video, min(5, len(video)))
    grid = classifier.grid
    selected = []
    for rank, i in enumerate(chosen.indices):
        c = grid.clip(chosen.video, i)
        selected.append({
            "rank": rank, "index": i, "start_s": c.start_s, "end_s": c.end_s,
            "scores": {m: s[i] for m, s in chosen.scores.items()},
            "top_class": classifier.classes[int(probs[rank].argmax())],
        })
    seconds = dict(chosen.seconds)
    seconds["decode"] += t3 - t2
    seconds["classify"] += t5 - t3
    return VideoResult(
        video=chosen.video,
        num_clips=chosen.num_clips,
        selector=chosen.selector,
        selected=selected,
        top5=[{"label": classifier.classes[int(j)], "prob": float(p)} for p, j in zip(top.values, top.indices)],
        probs=video,
        seconds=seconds,
        clips_scored=chosen.clips_scored,
        clips_decoded=len(chosen.indices) if chosen.dense is None else chosen.num_clips,
        frames_decoded=stats.frames_decoded + chosen.dense_frames + chosen.selector_frames,
        selector_gflops=chosen.selector_gflops,
        notes=list(chosen.notes),
        fallback=chosen.fallback,
        scores={m: list(s) for m, s in chosen.scores.items()},
    )


def run_video(
    path,
    classifier: ClipClassifier,
    selector: ClipSelector,
    k: int = 10,
    *,
    fallback: ClipSelector | None = None,
    generator: torch.Generator | None = None,
    video_id: str | None = None,
    label: int | None = None,
    labels: Sequence[int] = (),
    decode_processes: int = 1,
) -> VideoResult:
    """Everything for one video; raises :class:`VideoError` (one line) for a bad file or a video the
    selector cannot score (unless ``fallback`` is given: then that selector chooses, and the result
    says why). ``label`` (the true class index), or ``labels`` (all of a video's with several, the
    main one first), is needed by the oracle only. ``decode_processes`` > 1 decodes the video for
    the cheap pass in that many processes, in chunks (:func:`extract_clip_features`): the same
    features, sooner on as many cores."""
    chosen = choose_clips(path, classifier.grid, selector, k, classifier=classifier, fallback=fallback,
                          generator=generator, video_id=video_id, label=label, labels=labels,
                          decode_processes=decode_processes)
    return classify_chosen(path, classifier, chosen)


def _check_audio(view: FileVideo, selector: ClipSelector) -> None:
    """Raise :class:`CannotScore` when the selector needs the audio and the cheap pass could not decode it."""
    state = str(view.meta.get("audio", ""))
    if selector.needs.audio == "required" and state.startswith("failed"):
        raise CannotScore(f"audio stream undecodable ({state.removeprefix('failed: ')}), and the {selector.name} selector needs it")


def _num(x) -> float | None:
    x = float(x)
    return None if x != x else x
