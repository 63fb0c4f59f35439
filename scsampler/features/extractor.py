"""The cheap pass: one streaming read of a video that yields every clip's cheap features.

The features of paper section 3.3, per clip of the grid:

- ``md``      motion displacement of each P/B frame, ``(n, 2, ceil(H/16), ceil(W/16))``, in source
              pixels (+dx = content moves right). From the bitstream's motion vectors when the
              codec exports them (H.264, MPEG-4 Part 2, ...); otherwise estimated by block matching
              on decoded low-resolution frames ("decoded" motion source, recorded in the metadata).
- ``rgbr``    residual of each P-frame, ``(m, 3, h, w)`` at reduced resolution: the frame minus the
              previous anchor frame warped by the motion field. FFmpeg does not expose the codec's
              own residual, so this is a reconstruction from decoded pictures, not the bitstream's.
- ``iframes`` key-frame thumbnails, ``(k, 3, h, w)`` uint8.
- ``audio``   log-mel ``(n_mels, n_frames)`` of a window twice as long as the clip, centred on it
              (section 3.3.2), with ``audio_coverage`` in [0, 1], the share of that window the audio
              stream actually covered. Absent (None) when the file has no audio stream.

Video and audio are read by two independent streaming decoders zipped clip by clip, so memory
holds about one clip of each and does not depend on how the file interleaves its streams.

With ``processes`` > 1 the video is decoded in chunks by that many worker processes, one decoding
thread each, and their clips are joined in order (:func:`plan_chunks`); every clip's features are
those of the one-process pass, bit for bit. A chunk starts at an H.264 IDR picture, from which the
decoder gives the same pictures and vectors as from the file's start, and RGB-R's anchor (the I/P
frame before) is the IDR picture or a frame after it, which the worker decodes too. A chunk is the
clips that start in it: its worker decodes on past its end to the end of its last clip, and the
next one decodes the frames between its IDR picture and its first clip for their anchors only.
The audio is read in this process (a log-mel window spans two clips).
"""

from __future__ import annotations

import copy
import functools
import gc
import logging
import math
import multiprocessing as mp
import os
import signal
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction

import numpy as np
import torch

from scsampler.errors import VideoError
from scsampler.features.audio import LogMel
from scsampler.features.motion import (
    MOTION_VECTOR_DTYPE,
    block_motion,
    coarse_to_fine_motion,
    motion_compensated_residual,
    rasterize_motion_vectors,
)
from scsampler.io.grid import ClipGrid
from scsampler.io.video import (
    MV_EXPORT_CODECS,
    SeekMissed,
    i_p_pictures_are_references,
    idr_times,
    intra_only,
    iter_audio,
    iter_video_frames,
    picture_plan,
    probe,
    small_size,
    timeline_restart,
    video_stream_note,
)
from scsampler.records import ClipRecord, VideoInfo

log = logging.getLogger(__name__)

ALL_FEATURES = ("md", "rgbr", "if", "audio")


def reads_motion(features) -> bool:
    """Whether features include MD or RGB-R, the ones made from motion (vectors, or the fallback)."""
    return bool({"md", "rgbr"} & set(features))


def without_fallback(settings: dict) -> dict:
    """Extractor settings (``to_json``'s form) but the decoded-motion fallback's."""
    return {k: v for k, v in settings.items() if not k.startswith("fallback_")}


def as_written(settings: dict) -> dict:
    """Extractor settings as a run or a cache wrote them (``to_json``'s form), with the fallback they
    were made with: written before ``fallback_refine`` existed, without it (written settings always
    name ``fallback_search``; a partial dict of overrides may not, and keeps the default)."""
    return {"fallback_refine": False, **settings} if "fallback_search" in settings else dict(settings)


@dataclass(frozen=True)
class ExtractorConfig:
    """Settings of the cheap pass. Part of the feature cache's key: change one, re-extract."""

    clip_frames: int = 16
    fps: int = 16
    features: tuple[str, ...] = ALL_FEATURES
    small_side: int = 64           # longest side of residuals and I-frame thumbnails, pixels
    sample_rate: int = 16000       # audio is resampled to mono at this rate
    n_mels: int = 40
    n_frames: int = 200
    audio_window_clips: float = 2.0  # the audio window is this many clips long, centred on the clip
    # The decoded-motion fallback (files without motion vectors): block matching on grey frames at
    # fallback_cell pixels per 16-px cell within fallback_search of them, refined (fallback_refine)
    # by a pixel at twice that resolution, or not (the matching before the refinement existed:
    # whole steps of 16 / fallback_cell px). See fallback_motion.
    fallback_search: int = 2
    fallback_cell: int = 4
    fallback_refine: bool = True

    def __post_init__(self):
        unknown = set(self.features) - set(ALL_FEATURES)
        if unknown or not self.features:
            raise ValueError(f"features must be a non-empty subset of {ALL_FEATURES}, got {self.features}")
        if self.fallback_cell not in (1, 2, 4, 8, 16) or self.fallback_search < 1:
            raise ValueError(f"fallback_cell must divide 16 and fallback_search be >= 1, got {self.fallback_cell}, {self.fallback_search}")
        if self.fallback_refine and self.fallback_cell > 8:
            raise ValueError(f"a refined fallback matches at twice fallback_cell, which must then be 8 or less, got {self.fallback_cell}")

    @property
    def grid(self) -> ClipGrid:
        return ClipGrid(self.clip_frames, self.fps)

    def to_json(self) -> dict:
        d = asdict(self)
        d["features"] = list(self.features)
        # Fallback fields at the value they had before they existed are left out, so that runs and
        # caches made before keep their keys (and read back as they were made: from_json).
        if d["fallback_cell"] == 4:
            del d["fallback_cell"]
        if not d["fallback_refine"]:
            del d["fallback_refine"]
        return d

    @classmethod
    def from_json(cls, d: dict) -> "ExtractorConfig":
        """The inverse of :meth:`to_json` (a sampler's config.json stores its extractor's settings);
        settings written before the refined fallback existed read back without it (:func:`as_written`)."""
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in as_written(d).items()})

    @property
    def motion_cell(self) -> int:
        """Pixels per 16-px cell of the grey frames the fallback reads: twice ``fallback_cell`` when
        it refines (the coarse search averages them back to ``fallback_cell``)."""
        return self.fallback_cell * (2 if self.fallback_refine else 1)

    def motion_frames(self, grid: tuple[int, int]) -> tuple[int, int, str, str]:
        """The frames the fallback reads, as :func:`scsampler.io.video.iter_video_frames`' ``resize``
        asks for them on a video of ``grid`` ``(Hg, Wg)`` 16-px cells: every frame at
        :attr:`motion_cell` pixels per cell, the luma for the refined matching, RGB (averaged to
        grey by :func:`motion_grey`) for the one before it, as it always read."""
        hg, wg = grid
        return wg * self.motion_cell, hg * self.motion_cell, "all", "gray" if self.fallback_refine else "rgb24"

    @property
    def fallback(self) -> dict:
        """The decoded-motion fallback's settings: what features of a file without motion vectors
        depend on beyond the rest (a feature cache checks them per file: ``scsampler.data.cache``)."""
        return {"search": self.fallback_search, "cell": self.fallback_cell, "refine": self.fallback_refine}


@dataclass
class ClipFeatures:
    clip: ClipRecord
    md: np.ndarray | None = None        # (n, 2, Hg, Wg) float32
    rgbr: np.ndarray | None = None      # (m, 3, h, w) float32
    iframes: np.ndarray | None = None   # (k, 3, h, w) uint8
    audio: np.ndarray | None = None     # (n_mels, n_frames) float32
    audio_coverage: float = 0.0
    frame_types: str = ""               # e.g. "IPPBP...", the clip's decoded pictures in order


@dataclass
class StreamMeta:
    """What the pass learned about the video; complete once the stream is exhausted."""

    info: VideoInfo
    motion_source: str = "none"        # "bitstream", "decoded", or "none" when MD/RGB-R not asked
    fallback: dict | None = None       # ExtractorConfig.fallback where the motion is "decoded"
    audio: str = "absent"              # "present", "absent" (no stream), "not requested", "failed: ..."
    num_clips_expected: int = 0
    num_clips: int = 0
    frame_types: dict[str, int] = field(default_factory=dict)
    truncated: bool = False            # the file holds video the clips do not cover (cut short, or a restart)
    video_stream: str | None = None    # which video stream was read, when the file has several
    timeline: str | None = None        # where the file's timestamps restart and what was used, when they do
    seconds: dict[str, float] = field(default_factory=lambda: {"video": 0.0, "audio": 0.0})

    def to_json(self) -> dict:
        d = asdict(self)
        d["info"] = self.info.to_json()
        return d


class FeatureStream:
    """Iterate to get :class:`ClipFeatures` clip by clip; ``meta`` fills in as it goes."""

    def __init__(self, path: str, config: ExtractorConfig, video_id: str | None = None, *,
                 frames_per_clip: int = 0, clips: set[int] | None = None, processes: int = 1):
        if processes < 1:
            raise ValueError(f"processes must be >= 1, got {processes}")
        self.path = os.fspath(path)
        self.config = config
        self.frames_per_clip = frames_per_clip
        self.clips = clips
        self.processes = processes
        self.video_id = video_id if video_id is not None else os.path.basename(self.path)
        info = probe(self.path)
        grid = config.grid
        n = grid.num_clips(info.duration)
        if n == 0:
            raise VideoError(
                self.path,
                f"video is {float(info.duration):.2f} s long, shorter than one clip ({float(grid.clip_duration):.2f} s)",
            )
        self.meta = StreamMeta(info=info, num_clips_expected=n, video_stream=video_stream_note(self.path))
        restart = timeline_restart(self.path)
        if restart is not None:
            # The grid (probe's duration) ends at the restart: the clips are those of the first part.
            self.meta.timeline, self.meta.truncated = restart.note(), True
            log.warning("%s: the timeline %s", self.path, restart.note())
        self._restart = restart is not None
        self._logmel = None
        if "audio" in config.features:
            self._logmel = LogMel(
                sample_rate=config.sample_rate,
                n_mels=config.n_mels,
                n_frames=config.n_frames,
                window_s=float(grid.clip_duration) * config.audio_window_clips,
            )

    def __iter__(self) -> Iterator[ClipFeatures]:
        cfg, meta = self.config, self.meta
        wants_video = bool({"md", "rgbr", "if"} & set(cfg.features))
        video = self._video() if wants_video else None
        audio = self._audio_clips() if "audio" in cfg.features else None
        if audio is None:
            meta.audio = "not requested"
        limit = meta.num_clips_expected
        for i in range(limit):
            if video is not None:
                try:
                    feats = next(video)
                except StopIteration:
                    if i == 0:
                        raise VideoError(self.path, "no clip could be decoded: the video stream ends within the first clip") from None
                    meta.truncated = True
                    log.warning("%s: the video stream ends after %d of %d clips", self.path, i, limit)
                    break
            else:
                feats = ClipFeatures(clip=self.config.grid.clip(self.video_id, i))
            if audio is not None:
                feats.audio, feats.audio_coverage = next(audio)
            meta.num_clips = i + 1
            yield feats

    # -- video -------------------------------------------------------------------------------
    def _video(self) -> Iterator[ClipFeatures]:
        """Every clip's video features: in chunks decoded in parallel where asked for and possible
        (:meth:`_chunks`), else in this process."""
        chunks = self._chunks() if self.processes > 1 else []
        return self._video_in_chunks(chunks) if len(chunks) > 1 else self._video_clips()

    @functools.cached_property
    def _motion(self) -> tuple[bool, bool]:
        """Whether the pass reads motion (MD or RGB-R), and whether from the bitstream's vectors."""
        motion = reads_motion(self.config.features)
        # An intra-only stream (-g 1) of a codec that could carry vectors carries none: decoded motion.
        return motion, motion and self.meta.info.codec in MV_EXPORT_CODECS and not intra_only(self.path)

    def _chunks(self) -> list[tuple[Fraction | None, int, int]]:
        """The chunks of :func:`plan_chunks` where the video may be decoded in parallel; one or none
        where it may not: a pass without bitstream motion (block matching needs the frame before;
        I-frames alone are decoded fast), a file without IDR pictures a seek reaches
        (:func:`idr_times`), or a process that may not start others (a daemon: ``extract --workers``)."""
        _, bitstream = self._motion
        if not bitstream or mp.current_process().daemon:
            return []
        return plan_chunks(idr_times(self.path), self.meta.num_clips_expected, self.config.grid, self.processes)

    def _video_in_chunks(self, chunks: list[tuple[Fraction | None, int, int]]) -> Iterator[ClipFeatures]:
        """The clips of ``chunks``, each chunk decoded by one of ``processes`` worker processes, in
        order. At most two chunks per process are in flight (being decoded, or decoded and not yet
        read), which bounds the memory their features hold."""
        meta = self.meta
        meta.motion_source = "bitstream"
        # What the workers need of this stream, probed once here: each opens the file once, to decode.
        worker = copy.copy(self)
        worker._logmel, worker.meta = None, StreamMeta(info=meta.info, num_clips_expected=meta.num_clips_expected)
        if {"rgbr", "if"} & set(self.config.features):
            i_p_pictures_are_references(self.path)  # scanned once here: forked workers inherit the answer
        if self.frames_per_clip > 0 or self.clips is not None:
            picture_plan(self.path)  # likewise (_unread_pictures)
        ahead: deque = deque()
        todo = iter(chunks)
        with _worker_pool(min(self.processes, len(chunks))) as pool:
            while True:
                while len(ahead) < 2 * self.processes and (chunk := next(todo, None)) is not None:
                    ahead.append((chunk, pool.apply_async(_decode_chunk, (worker, chunk))))
                if not ahead:
                    return
                (_, first, stop), result = ahead.popleft()
                t0 = time.perf_counter()
                try:
                    clips, types = result.get()
                except SeekMissed as err:
                    # A container whose index misled the seek: read on from the file's start here.
                    log.debug("%s: %s; decoding the rest in one process", self.path, err.cause)
                    pool.terminate()
                    yield from self._video_clips(first)
                    return
                meta.seconds["video"] += time.perf_counter() - t0
                for t, n in types.items():
                    meta.frame_types[t] = meta.frame_types.get(t, 0) + n
                yield from clips
                if len(clips) < stop - first:
                    return  # the video stream ends in this chunk (a file cut short)

    def _video_clips(self, first: int = 0, stop: int | None = None, start: Fraction | None = None) -> Iterator[ClipFeatures]:
        """Video features of clips ``first`` to ``stop`` (default: the last), decoded from the key
        frame at ``start`` s (None: the file's start). Frames before clip ``first`` are decoded for
        the anchors of the residuals and the codec's references only."""
        cfg, meta, info = self.config, self.meta, self.meta.info
        grid = cfg.grid
        stop = meta.num_clips_expected if stop is None else stop
        want_md, want_rgbr, want_if = ("md" in cfg.features), ("rgbr" in cfg.features), ("if" in cfg.features)
        motion, bitstream = self._motion
        meta.motion_source = ("bitstream" if bitstream else "decoded") if motion else "none"
        meta.fallback = cfg.fallback if meta.motion_source == "decoded" else None
        H, W = info.height, info.width
        hg, wg = math.ceil(H / 16), math.ceil(W / 16)
        sw, sh = small_size(W, H, cfg.small_side)
        resize = {}
        if want_rgbr or want_if:
            # RGB-R reads the pictures of P-frames and their anchors (I/P) when the vectors come from
            # the bitstream, of every frame when they are estimated; I-frame thumbnails, key frames'.
            resize["small"] = (sw, sh, ("ip" if bitstream else "all") if want_rgbr else "key")
        if motion and not bitstream:
            resize["motion"] = cfg.motion_frames((hg, wg))
        scale_small = sw / W
        keyframes_only = want_if and not motion
        # Scoring only: MD and RGB-R of a few frames per clip, or of some clips only. The frames are
        # still all decoded (the codec needs them), but only the chosen ones are rasterised, scaled
        # and motion-compensated, at the clip's end, when its frames are known.
        lazy = motion and bitstream and (self.frames_per_clip > 0 or self.clips is not None)
        pending: list[tuple[object, object]] = []   # (non-key frame, the I/P frame before it)
        anchor_frame = None
        # Nor are the non-reference pictures among those decoded that no chosen frame is: no other
        # picture refers to them (a third to a half of an x264 file's, its B-frames).
        skip = self._unread_pictures(first, stop) if lazy and not self._restart else None
        frames = iter_video_frames(self.path, export_mvs=motion and bitstream, keyframes_only=keyframes_only, resize=resize,
                                   lazy=lazy, start=start, skip=skip)

        def finish(clip_index: int) -> None:
            if lazy:
                if clip_index >= first:
                    self._chosen_frames(acc, pending, clip_index, H, W, scale_small, want_md, want_rgbr)
                pending.clear()

        current = 0
        acc = _ClipAccumulator()
        anchor = None          # previous I/P frame, small, float32 (3, h, w): the residual's reference
        prev_motion = None     # previous frame at motion resolution, grey float32 (fallback only)
        last_t = -1.0
        native_dt = 1.0 / float(info.fps)
        goes_on = False        # a frame lies past the last clip: the stream covers every clip
        t0 = time.perf_counter()
        for fr in frames:
            idx = grid.index_of(fr.time)
            if idx >= stop:
                goes_on = True
                break
            while idx > current:
                finish(current)
                if current >= first:
                    meta.seconds["video"] += time.perf_counter() - t0
                    yield acc.emit(grid.clip(self.video_id, current), hg, wg, sh, sw)
                    t0 = time.perf_counter()
                else:
                    acc.clear()
                current += 1
            last_t = fr.time
            acc.types.append(fr.pict_type)
            if current >= first:
                meta.frame_types[fr.pict_type] = meta.frame_types.get(fr.pict_type, 0) + 1
            if lazy:
                if not fr.key:
                    pending.append((fr, anchor_frame))
                if fr.pict_type in ("I", "P"):
                    anchor_frame = fr
                if want_if and fr.key and "small" in fr.images:
                    acc.iframes.append(fr.images["small"].transpose(2, 0, 1))
                continue
            small = fr.images.get("small")
            small_f = small.transpose(2, 0, 1).astype(np.float32) if (small is not None and want_rgbr) else None
            grid_mv = None
            if motion and bitstream and not fr.key:
                grid_mv = rasterize_motion_vectors(fr.mvs if fr.mvs is not None else _NO_MVS, H, W)
            elif motion and not bitstream:
                grey = motion_grey(fr.images["motion"])
                if prev_motion is not None:
                    grid_mv = fallback_motion(prev_motion, grey, cfg, (hg, wg))
                prev_motion = grey
            if want_md and grid_mv is not None:
                acc.md.append(grid_mv)
            if want_rgbr and small_f is not None:
                is_p = fr.pict_type == "P" or (not bitstream and grid_mv is not None)
                if is_p and anchor is not None and grid_mv is not None:
                    acc.rgbr.append(motion_compensated_residual(anchor, small_f, grid_mv, scale_small))
                if fr.pict_type in ("I", "P") or not bitstream:
                    anchor = small_f
            if want_if and fr.key and small is not None:
                acc.iframes.append(small.transpose(2, 0, 1))
        frames.close()  # we may have stopped early: release the decoder now, not at garbage collection
        finish(current)
        meta.seconds["video"] += time.perf_counter() - t0
        if keyframes_only or goes_on:
            # Only key frames were decoded, so the last of them does not mark the video's end; or
            # frames go on past the last clip (with a variable frame rate, the last frame before the
            # grid's end may lie well before it).
            end = stop
        else:
            # A clip counts only if the decoded video reaches (about) its end: a truncated file
            # yields fewer clips, never clips of made-up features.
            end = min(stop, grid.num_clips(last_t + native_dt * 1.5))
        while current < end:
            if current >= first:
                yield acc.emit(grid.clip(self.video_id, current), hg, wg, sh, sw)
            else:
                acc.clear()
            current += 1

    def _unread_pictures(self, first: int, stop: int) -> frozenset[int] | None:
        """The pts of the non-reference pictures (:func:`picture_plan`) whose frames a pass that
        reads only the chosen frames of clips ``first`` to ``stop - 1`` (:meth:`_chosen_frames`) does
        not read; None when the file's pictures cannot be known before decoding. A B-frame
        is chosen for MD by its place among its clip's non-key frames, which the plan gives."""
        plan = picture_plan(self.path)
        if plan is None:
            return None
        grid, m = self.config.grid, self.frames_per_clip
        clips: dict[int, list] = {}
        for picture in plan:
            clips.setdefault(grid.index_of(picture.time), []).append(picture)
        skip = set()
        for index, pictures in clips.items():
            unread = {p.pts for p in pictures if not p.reference}
            if unread and "md" in self.config.features and first <= index < stop and (self.clips is None or index in self.clips):
                frames = sorted((p for p in pictures if not p.key), key=lambda p: p.time)
                unread -= {frames[j].pts for j in evenly_spaced(len(frames), m).tolist()}
            skip |= unread
        return frozenset(skip)

    def _chosen_frames(self, acc, pending, clip_index, H, W, scale_small, want_md, want_rgbr) -> None:
        """MD and RGB-R of the frames a sampler scoring ``frames_per_clip`` frames would pick from
        the clip's full features (the same :func:`evenly_spaced` rows), for a wanted clip."""
        if self.clips is not None and clip_index not in self.clips:
            return
        m = self.frames_per_clip
        grids: dict[int, np.ndarray] = {}

        def grid_mv(j: int) -> np.ndarray:
            if j not in grids:
                fr = pending[j][0]
                grids[j] = rasterize_motion_vectors(fr.mvs if fr.mvs is not None else _NO_MVS, H, W)
            return grids[j]

        if want_md:
            chosen = evenly_spaced(len(pending), m).tolist()
            if not all(pending[j][0].decoded for j in chosen):
                # The decoder gave other frames than the file's packets said (a damaged file): the
                # clip's MD comes from the frames it did decode, spread the same way.
                log.warning("%s: clip %d: MD from its decoded frames only (the stream differs from its packets)",
                            self.path, clip_index)
                decoded = [j for j, (fr, _) in enumerate(pending) if fr.decoded]
                chosen = [decoded[i] for i in evenly_spaced(len(decoded), m).tolist()]
            acc.md.extend(grid_mv(j) for j in chosen)
        if want_rgbr:
            rows = [j for j, (fr, anchor) in enumerate(pending) if fr.pict_type == "P" and anchor is not None]
            for i in evenly_spaced(len(rows), m).tolist():
                fr, anchor = pending[rows[i]]
                ref = anchor.images["small"].transpose(2, 0, 1).astype(np.float32)
                cur = fr.images["small"].transpose(2, 0, 1).astype(np.float32)
                acc.rgbr.append(motion_compensated_residual(ref, cur, grid_mv(rows[i]), scale_small))

    # -- audio -------------------------------------------------------------------------------
    def _audio_clips(self) -> Iterator[tuple[np.ndarray | None, float]]:
        cfg, meta = self.config, self.meta
        n = meta.num_clips_expected
        if not meta.info.has_audio:
            meta.audio = "absent"
            while True:
                yield None, 0.0
        meta.audio = "present"
        sr = cfg.sample_rate
        d = float(cfg.grid.clip_duration)
        win = int(round(d * cfg.audio_window_clips * sr))
        pad = (win - int(round(d * sr))) // 2          # window starts this far before the clip
        # Decoded audio as (first sample on the video clock, samples) pieces, in order: a gap
        # between two pieces is audio the stream does not have, which no window counts as covered.
        pieces: deque[tuple[int, np.ndarray]] = deque()
        covered_until = None                            # the clock sample after the last piece
        source = iter_audio(self.path, sample_rate=sr, stop_at_restart=self._restart)
        exhausted = False
        batch: list[tuple[np.ndarray, float]] = []
        t0 = time.perf_counter()
        for i in range(n):
            a = int(round(i * d * sr)) - pad
            b = a + win
            while not exhausted and (covered_until is None or covered_until < b):
                try:
                    t_chunk, chunk = next(source)
                except StopIteration:
                    exhausted = True
                    if covered_until is None and not meta.audio.startswith("failed"):
                        meta.audio = "failed: the audio stream has no decodable audio"
                        log.warning("%s: audio unusable, audio features absent: no decodable audio", self.path)
                    break
                except VideoError as err:
                    meta.audio = f"failed: {err.cause}"
                    log.warning("%s: audio unusable, audio features absent: %s", self.path, err.cause)
                    exhausted = True
                    break
                s0 = int(round(t_chunk * sr))
                if covered_until is not None and s0 < covered_until + sr // 100:
                    s0 = covered_until  # contiguous (iter_audio's times differ only by rounding, or jump by a gap)
                pieces.append((s0, chunk))
                covered_until = s0 + len(chunk)
            window = np.zeros(win, dtype=np.float32)
            covered = 0
            for s0, chunk in pieces:
                lo, hi = max(a, s0, 0), min(b, s0 + len(chunk))  # audio before the first video frame has no clip
                if hi > lo:
                    window[lo - a : hi - a] = chunk[lo - s0 : hi - s0]
                    covered += hi - lo
            coverage = covered / win
            # Drop what no later window needs (windows advance by one clip).
            keep_from = a + int(round(d * sr))
            while pieces and pieces[0][0] + len(pieces[0][1]) <= keep_from:
                pieces.popleft()
            batch.append((window, coverage))
            if len(batch) == 32 or i == n - 1:
                if meta.audio.startswith("failed"):
                    results = [(None, 0.0)] * len(batch)
                else:
                    with torch.inference_mode():
                        mel = self._logmel(torch.from_numpy(np.stack([w for w, _ in batch]))).numpy()
                    results = [(mel[k], batch[k][1]) if batch[k][1] > 0 else (None, 0.0) for k in range(len(batch))]
                meta.seconds["audio"] += time.perf_counter() - t0
                yield from results
                t0 = time.perf_counter()
                batch = []
        while True:
            yield None, 0.0


# Exhaustive matching in whole steps at half the resolution (8x8 blocks, radius 4: steps of 2 source
# px up to 8), kept for measurement (docs/benchmarks.md); and at a quarter, the fallback before the
# refinement (steps of 4 source px up to 8).
HALF_RES_FALLBACK = {"fallback_cell": 8, "fallback_search": 4, "fallback_refine": False}
QUARTER_RES_FALLBACK = {"fallback_cell": 4, "fallback_search": 2, "fallback_refine": False}
# What a file cached, or a result written, without a record of its fallback was made with.
UNRECORDED_FALLBACK = ExtractorConfig(**QUARTER_RES_FALLBACK).fallback


def motion_grey(image: np.ndarray) -> np.ndarray:
    """The grey frame the fallback matches: a luma image as it is (uint8, matched in integers), an
    RGB one averaged to float32."""
    if image.ndim == 2:
        return image
    return image.astype(np.float32).mean(axis=2)


def fallback_motion(prev: np.ndarray, grey: np.ndarray, config: ExtractorConfig, grid: tuple[int, int]) -> np.ndarray:
    """The decoded-motion fallback's MD ``(2, Hg, Wg)`` in source pixels between two grey frames at
    ``config.motion_cell`` pixels per 16-px cell: :func:`coarse_to_fine_motion` with the config's
    radius at half that resolution (whole steps of 2 source px up to 10, at the default), or without
    ``fallback_refine`` :func:`block_motion` with it (whole steps of 16 / fallback_cell px)."""
    hg, wg = grid
    cell = config.motion_cell
    match = coarse_to_fine_motion if config.fallback_refine else block_motion
    return match(prev, grey, cell, config.fallback_search)[:, :hg, :wg] * (16 / cell)


_NO_MVS = np.zeros(0, dtype=MOTION_VECTOR_DTYPE)  # a P/B frame without side data: no inter blocks


class _ClipAccumulator:
    def __init__(self):
        self.clear()

    def clear(self) -> None:
        self.md, self.rgbr, self.iframes, self.types = [], [], [], []

    def emit(self, clip: ClipRecord, hg: int, wg: int, sh: int, sw: int) -> ClipFeatures:
        out = ClipFeatures(
            clip=clip,
            md=np.stack(self.md).astype(np.float32) if self.md else np.zeros((0, 2, hg, wg), np.float32),
            rgbr=np.stack(self.rgbr).astype(np.float32) if self.rgbr else np.zeros((0, 3, sh, sw), np.float32),
            iframes=np.stack(self.iframes) if self.iframes else np.zeros((0, 3, sh, sw), np.uint8),
            frame_types="".join(self.types),
        )
        self.clear()
        return out


# Seconds of video a worker process decodes at a time, about: chunks start at IDR pictures, and
# their number is a multiple of the processes, so that each gets as many. Short enough that the
# last ones leave no process idle for long, long enough that the clip or so a chunk decodes twice
# (the frames between its IDR picture and its first clip) costs little.
CHUNK_S = 30
MIN_CHUNK_CLIPS = 4   # a chunk of fewer clips is not worth its seek: its clips join the chunk before


def plan_chunks(idr: Sequence[Fraction], num_clips: int, grid: ClipGrid, processes: int) -> list[tuple[Fraction | None, int, int]]:
    """How the cheap pass splits clips ``0 .. num_clips - 1`` among ``processes`` parallel decoders:
    ``(start, first, stop)`` per chunk, in order, the clips ``first`` to ``stop - 1`` decoded from
    the IDR picture at ``start`` s (one of ``idr``, see :func:`scsampler.io.video.idr_times`; None
    for the first chunk: the file's start). A chunk holds the clips that start at or after its IDR
    picture and before the next chunk's; a clip that spans the next chunk's IDR picture is its
    chunk's last. Each chunk starts at the IDR picture nearest to an even split of the clips;
    one chunk means the video is not split (no IDR picture where one is needed)."""
    d = grid.clip_duration
    span = num_clips * d
    pieces = processes * math.ceil(span / (processes * CHUNK_S))
    cuts: list[tuple[Fraction | None, int]] = [(None, 0)]
    for k in range(1, pieces):
        ideal = span * k / pieces
        start = min(idr, key=lambda t: abs(t - ideal), default=None)
        if start is None:
            break
        first = math.ceil(start / d)
        if first - cuts[-1][1] >= MIN_CHUNK_CLIPS and num_clips - first >= MIN_CHUNK_CLIPS:
            cuts.append((start, first))
    stops = [first for _, first in cuts[1:]] + [num_clips]
    return [(start, first, stop) for (start, first), stop in zip(cuts, stops)]


# Worker processes are forked where fork is the platform's default (Linux), as torch's DataLoader
# forks its workers: spawned ones would each import torch again (2 s, a tenth of a 5-minute 720p
# pass on two cores). They use no CUDA, and torch on one thread only (_worker_init).
_START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"


def _worker_pool(processes: int):
    """A pool of ``processes`` workers (:func:`_worker_init`). A forked worker never collects the
    garbage it inherits: freeing an FFmpeg object whose threads were the parent's (a scaler with
    its own threads, left in a reference cycle by the caller) waits for those threads forever,
    which hung a worker. So what exists at the fork is frozen (``gc.freeze``) in the parent for as
    long as the workers take to fork, and again in each worker (one forked later, to replace one)."""
    frozen_before = gc.get_freeze_count()
    if _START_METHOD == "fork":
        gc.freeze()
    try:
        return mp.get_context(_START_METHOD).Pool(processes, initializer=_worker_init)
    finally:
        if _START_METHOD == "fork" and not frozen_before:  # a caller's own freeze stays
            gc.unfreeze()


def _worker_init() -> None:
    if _START_METHOD == "fork":
        gc.freeze()  # see _worker_pool
    # One torch thread before any torch op: a forked process has none of its parent's OpenMP
    # threads and must not ask for them. Ctrl-C is the parent's to handle (it ends the pool).
    torch.set_num_threads(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _decode_chunk(stream: FeatureStream, chunk: tuple[Fraction | None, int, int]) -> tuple[list[ClipFeatures], dict[str, int]]:
    """A worker's part of :meth:`FeatureStream._video_in_chunks`: the video features of the clips
    of ``chunk`` and the picture types counted in them (``stream.meta``, the worker's own)."""
    start, first, stop = chunk
    return list(stream._video_clips(first, stop, start)), stream.meta.frame_types


def evenly_spaced(n: int, m: int) -> torch.Tensor:
    """Indices of ``m`` of ``n`` rows spread evenly (all of them when ``m`` is 0 or >= n): the
    frames of a clip a sampler scores, and the ones the cheap pass computes when told so."""
    if m <= 0 or m >= n:
        return torch.arange(n)
    return torch.round(torch.linspace(0, n - 1, m)).long()


def extract_clip_features(
    path, config: ExtractorConfig = ExtractorConfig(), video_id: str | None = None, *,
    frames_per_clip: int = 0, clips: set[int] | None = None, processes: int = 1,
) -> FeatureStream:
    """Start the cheap pass over ``path``; iterate the result for :class:`ClipFeatures`.

    For scoring (not for the feature cache, which keeps every frame): ``frames_per_clip`` > 0
    computes MD and RGB-R only for that many of each clip's frames, the ones
    :func:`evenly_spaced` picks from the clip's rows, and ``clips`` only for the clips it holds
    (others get none). Both apply where motion vectors come from the bitstream; the block-matching
    fallback computes every frame.

    ``processes`` > 1 decodes the video in chunks in that many worker processes, each on one
    decoding thread (see the module docstring), with the same features; where it cannot (no
    motion vectors in the bitstream, not H.264, no IDR picture to split at, a file too short, a
    format without an index, a daemon process) the pass runs in this process, as with 1.

    Raises :class:`VideoError` at once for a file that can't be read or is shorter than a clip.
    """
    return FeatureStream(path, config, video_id, frames_per_clip=frames_per_clip, clips=clips, processes=processes)
