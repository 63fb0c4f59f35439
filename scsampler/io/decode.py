"""Decoding the RGB frames of chosen clips only: the expensive stage of the pipeline.

``decode_clips`` seeks to the key frame before each requested clip and decodes forward to its
end, so its cost is proportional to the clips asked for, not to the video. It counts every frame
it decodes (``DecodeStats.frames_decoded``), which is how the tests prove that unselected clips
are never decoded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from fractions import Fraction

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from scsampler.errors import VideoError
from scsampler.io.grid import ClipGrid
from scsampler.io.video import _av_cause, _decode_safely, _packet_cause, _stream_start, _video_stream, open_container, to_rgb


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
    timeline (each sample takes the last decoded frame at or before its time); frames are resized
    to ``size = (H, W)``. The result follows the order of ``indices``. Pass ``stats`` to learn
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
        reader = _FrameReader(container, stream, path, _stream_start(stream), stream.time_base, stats)
        results: dict[tuple[Fraction, Fraction], np.ndarray] = {}
        for start, end in sorted(set(wanted)):
            times = [start + j * (end - start) / num_frames for j in range(num_frames)]
            # Decoding forward is cheaper than seeking when the interval starts soon after where we are.
            if reader.position is None or start < reader.position or start - reader.position > 2:
                reader.seek(start)
            before = stats.frames_decoded
            results[(start, end)] = reader.sample(times, end, (h, w), f"interval {float(start):.2f}-{float(end):.2f} s")
            stats.clips += 1
            stats.per_clip_frames.append(stats.frames_decoded - before)
        for k, key in enumerate(wanted):
            out[k] = torch.from_numpy(results[key]).permute(3, 0, 1, 2)
    return out


class _FrameReader:
    """Frames of one stream in display order, with their times, across seeks."""

    def __init__(self, container, stream, path, origin, tb, stats):
        self.container, self.stream, self.path = container, stream, path
        self.origin, self.tb, self.stats = origin, tb, stats
        self.frames = None
        self.position = None   # time of the last frame read
        self.prev = None       # (time, frame, rgb-or-None): last frame at or before the next sample
        self.ahead = None      # a frame read past the last clip's end, for the next clip
        self.reformatter = VideoReformatter()  # reused across frames: FFmpeg keeps its scaler

    def seek(self, t: Fraction) -> None:
        try:
            self.container.seek(int((t + self.origin) / self.tb), stream=self.stream, backward=True, any_frame=False)
        except av.error.FFmpegError as err:
            raise VideoError(self.path, f"cannot seek to {float(t):.2f} s: {_av_cause(err)}") from None
        self.stats.seeks += 1
        # Damaged packets are skipped as in the cheap pass, so a clip near a damaged stretch still decodes.
        self.frames = _decode_safely(self.container, self.stream, self.path)
        self.prev = self.ahead = None
        self.position = None

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
                item[2] = to_rgb(item[1], w, h, self.reformatter)
            return item[2]

        filled = 0
        while filled < len(times):
            item = self._next()
            if item is None:
                break
            t = item[0]
            # Every sample time before this frame takes the latest earlier frame (or this one,
            # when the clip starts before the video's first frame).
            while filled < len(times) and t > times[filled]:
                out[filled] = rgb(self.prev if self.prev is not None else item)
                filled += 1
            if t >= end:
                self.ahead = item
                break
            self.prev = item
        if filled < len(times):
            if self.prev is None or self.prev[0] < times[0]:
                why = "the video ends before it" if self.position is not None else "no frame decodes from there on"
                raise VideoError(self.path, f"{what} has no decodable frames ({why})")
            out[filled:] = rgb(self.prev)  # the video ends inside the clip: hold its last frame
        return out
