"""Decoding the RGB frames of chosen clips only: the expensive stage of the pipeline.

``decode_clips`` seeks to the key frame before each requested clip and decodes forward to its
end, so its cost is proportional to the clips asked for, not to the video. Clips that a seek
would not reach any sooner (no key frame between the end of one and the start of the next) are
read in one forward pass: one seek per group of pictures, not per clip. It counts every frame
it decodes (``DecodeStats.frames_decoded``), which is how the tests prove that unselected clips
are never decoded.

A clip is made of its own frames or not at all: each sample time takes the frame shown at that
time, and where a seek cannot reach that frame (a container without an index, such as MPEG-TS,
lands after the key frame it needs), the reader seeks further back rather than use a later frame.
"""

from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from scsampler.errors import VideoError
from scsampler.io.grid import ClipGrid
from scsampler.io.video import (
    _TS_DISCONT,
    _av_cause,
    _decode_safely,
    _packet_cause,
    _restart_of,
    _scanned_keyframes,
    _stop_at,
    _stream_start,
    _video_stream,
    open_container,
    to_rgb,
)


@dataclass
class DecodeStats:
    frames_decoded: int = 0
    seeks: int = 0
    clips: int = 0
    per_clip_frames: list[int] = field(default_factory=list)


def decode_clips(
    path: str | os.PathLike,
    indices,
    *,
    grid: ClipGrid = ClipGrid(),
    num_frames: int = 16,
    size: tuple[int, int] = (112, 112),
    stats: DecodeStats | None = None,
    threads: int = 0,
) -> torch.Tensor:
    """RGB frames of clips ``indices`` of ``path``: uint8 tensor ``(K, 3, T, H, W)``.

    ``T = num_frames`` frames are sampled evenly over each clip's interval on the grid's
    timeline (each sample takes the frame shown at its time: the last one at or before it); frames
    are resized to ``size = (H, W)``. The result follows the order of ``indices``. Pass ``stats`` to learn
    how many frames were decoded; ``threads`` decoding threads (0: FFmpeg's choice).
    """
    clips = [grid.clip("", int(i)) for i in indices]
    return decode_intervals(
        path, [(c.start, c.end) for c in clips], num_frames=num_frames, size=size, stats=stats, threads=threads
    )


def decode_intervals(
    path: str | os.PathLike,
    intervals,
    *,
    num_frames: int = 16,
    size: tuple[int, int] = (112, 112),
    stats: DecodeStats | None = None,
    threads: int = 0,
) -> torch.Tensor:
    """Like :func:`decode_clips` for arbitrary ``[(start, end), ...]`` intervals in seconds
    (e.g. the random 2 s training segments): uint8 ``(K, 3, T, H, W)`` in the order given."""
    path = os.fspath(path)
    stats = stats if stats is not None else DecodeStats()
    wanted = [(Fraction(a), Fraction(b)) for a, b in intervals]
    h, w = size
    out = torch.empty((len(wanted), 3, num_frames, h, w), dtype=torch.uint8)
    if not wanted:
        return out
    with open_container(path) as container:
        stream = _video_stream(container, path)
        if threads == 1:
            stream.thread_type = "NONE"
            stream.codec_context.thread_count = 1
        else:
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = threads
        reader = _FrameReader(container, stream, path, stats, threads)
        results: dict[tuple[Fraction, Fraction], np.ndarray] = {}
        for start, end in sorted(set(wanted)):
            times = [start + j * (end - start) / num_frames for j in range(num_frames)]
            if not reader.reads_on_to(start):
                reader.seek(start)
            before = stats.frames_decoded
            results[(start, end)] = reader.sample(times, end, (h, w), f"interval {float(start):.2f}-{float(end):.2f} s")
            stats.clips += 1
            stats.per_clip_frames.append(stats.frames_decoded - before)
        for k, key in enumerate(wanted):
            out[k] = torch.from_numpy(results[key]).permute(3, 0, 1, 2)
    return out


class _LandedLate(Exception):
    """A seek landed after the frame it was meant to reach (see :meth:`_FrameReader.seek`)."""


class _FrameReader:
    """Frames of one stream in display order, with their times, across seeks.

    After :meth:`seek` to ``t`` the first frame read is the one shown at ``t`` (or the stream's first
    decodable frame, when ``t`` precedes it), never a later one.
    """

    # Packets decoded past a seek's target without a frame coming out before the seek is given up as
    # landed late: more than the decoder's reordering and frame-thread delays hold (16 + 16).
    PATIENCE = 48
    # Reading on is cheaper than a seek up to this many seconds ahead, key frame or not.
    NEAR_S = 2

    def __init__(self, container, stream, path, stats, threads: int = 1):
        self.container, self.stream, self.path, self.stats = container, stream, path, stats
        self.threads = threads  # the scaler's, as the decoder's (to_rgb)
        self.origin, self.tb = _stream_start(stream), stream.time_base
        self.frames = None
        self.position = None   # time of the last frame read
        self.prev = None       # (time, frame, rgb-or-None): last frame at or before the next sample
        self.ahead = None      # a frame read past the last clip's end, for the next clip
        self.reformatter = VideoReformatter()  # reused across frames: FFmpeg keeps its scaler
        self.byte_seek = bool(container.format.flags & _TS_DISCONT)
        # A file whose timestamps restart is read up to the restart (probe's duration ends there too).
        self.end_of_part = _stop_at(_restart_of(container, stream, path))
        self.target = None     # while a seek waits for its first frame: its time, and packets past it
        self.past = 0
        self.keyframes = _KeyFrames(container, stream, path)

    def reads_on_to(self, t: Fraction) -> bool:
        """Whether decoding on from here to ``t`` costs no more than seeking there: ``t`` lies ahead,
        and near, or with no key frame between here and ``t`` (a seek would land on a key frame at or
        before here, and decode again what reading on decodes once)."""
        if self.position is None or t < self.position:
            return False
        if t - self.position <= self.NEAR_S:
            return True
        key = self.keyframes.before(t)
        return key is not None and key <= self.position

    def seek(self, t: Fraction) -> None:
        """Position the reader so that the next frame read is the one shown at ``t``.

        A container with an index (MP4, MKV) seeks to the key frame before ``t``. One without
        (MPEG-TS, MPEG-PS) seeks by searching timestamps and lands near ``t`` on any packet; the
        decoder then drops every frame up to the next key frame, which can be seconds past ``t``
        (10 s with x264's defaults), and an open GOP drops the B-frames that lead it. Such a landing
        shows as a first frame after ``t``: the seek is retried 1, 2, 4, ... s earlier, down to the
        start of the file.
        """
        back = Fraction(0)
        while True:
            target = t - back
            self._seek(target)
            if target <= 0:
                return  # from the very start: whatever comes first is the first frame there is
            self.target, self.past = t, 0
            try:
                first = self._next()
            except _LandedLate:
                first = None
            finally:
                self.target = None
            if first is not None and first[0] <= t:
                self.ahead = first
                return
            back = 2 * back if back else Fraction(1)

    def _seek(self, t: Fraction) -> None:
        try:
            if t <= 0 and self.byte_seek:
                # The file's first byte: a timestamp seek in MPEG-TS lands on the first packet whose
                # dts reaches the start time, after a key frame whose dts lies before it.
                try:
                    self.container.seek(0, unsupported_byte_offset=True)
                except av.error.FFmpegError:
                    self.container.seek(int(self.origin / self.tb), stream=self.stream, backward=True, any_frame=False)
            else:
                self.container.seek(int((max(t, Fraction(0)) + self.origin) / self.tb), stream=self.stream, backward=True, any_frame=False)
        except av.error.FFmpegError as err:
            raise VideoError(self.path, f"cannot seek to {float(t):.2f} s: {_av_cause(err)}") from None
        self.stats.seeks += 1
        # Damaged packets are skipped as in the cheap pass, so a clip near a damaged stretch still decodes.
        self.frames = _decode_safely(self.container, self.stream, self.path, stop=self._stop)
        self.prev = self.ahead = None
        self.position = None

    def _stop(self, packet) -> bool:
        if self.end_of_part is not None and self.end_of_part(packet):
            return True
        if self.target is not None and packet.dts is not None:
            if Fraction(packet.dts) * self.tb - self.origin > self.target:
                self.past += 1
                if self.past > self.PATIENCE:
                    raise _LandedLate
        return False

    def _next(self):
        if self.ahead is not None:
            item, self.ahead = self.ahead, None
            return item
        try:
            frame = next(self.frames)
        except StopIteration:
            return None
        except av.error.FFmpegError as err:
            raise VideoError(self.path, f"decoding failed near {float(self.position or 0):.2f} s: {_packet_cause(err)}") from None
        self.stats.frames_decoded += 1
        t = Fraction(frame.pts) * self.tb - self.origin if frame.pts is not None else (self.position or Fraction(0))
        self.position = t
        return [t, frame, None]

    def sample(self, times, end, size, what: str) -> np.ndarray:
        h, w = size
        out = np.empty((len(times), h, w, 3), dtype=np.uint8)

        def rgb(item):
            if item[2] is None:
                item[2] = to_rgb(item[1], w, h, self.reformatter, self.threads)
            return item[2]

        filled, item = 0, None
        while filled < len(times):
            item = self._next()
            if item is None:
                break
            t = item[0]
            if t >= end and self.prev is None:
                break  # nothing is shown during the interval: the first frame there is comes after it
            # Every sample time before this frame takes the latest earlier frame, or this one when
            # the interval starts before the stream's first decodable frame (this one, inside it).
            while filled < len(times) and t > times[filled]:
                out[filled] = rgb(self.prev if self.prev is not None else item)
                filled += 1
            if t >= end:
                break
            self.prev = item
        if filled < len(times):
            if self.prev is None:
                why = (f"the first frame that decodes is at {float(item[0]):.2f} s" if item is not None
                       else "no frame decodes from there on")
                raise VideoError(self.path, f"{what} has no decodable frames ({why})")
            if self.prev[0] < times[0]:
                raise VideoError(self.path, f"{what} has no decodable frames (the video ends before it)")
            out[filled:] = rgb(self.prev)  # the video ends inside the clip: hold its last frame
        if item is not None and item[0] >= end:
            self.ahead = item  # read past the interval: the next one may start with it
        return out


class _KeyFrames:
    """Where a seek lands: the last key frame at or before a time (s, first frame = 0). From the
    container's index (MP4, AVI, Matroska's cues: ``stream.index_entries``) or, in a format without
    one (MPEG-TS), from the scan that finds restarts; None where neither knows."""

    def __init__(self, container, stream, path):
        self.scanned = _scanned_keyframes(container, stream, path)
        # Read at each question: Matroska's index grows as the file is read. (Older PyAV has none.)
        self.entries = getattr(stream, "index_entries", None)
        self.tb = stream.time_base

    def before(self, t: Fraction) -> Fraction | None:
        if self.scanned is not None:
            i = bisect.bisect_right(self.scanned, t) - 1
            return self.scanned[i] if i >= 0 else None
        entries = self.entries
        if not entries or self.tb is None:
            return None
        # MP4's index holds decoding times, which B-frames shift before the presentation times:
        # count from the first entry, the first frame's.
        first = entries[0].timestamp
        ts = first + math.floor(t / self.tb)
        if entries[len(entries) - 1].timestamp < ts:
            return None  # the index does not reach t (or not yet)
        i = entries.search_timestamp(ts, backward=True)
        return None if i < 0 else (entries[i].timestamp - first) * self.tb
