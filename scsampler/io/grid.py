"""The clip grid: non-overlapping fixed-length clips on a fixed-rate timeline (paper section 3.1).

A clip is ``clip_frames`` frames of a ``fps`` timeline (default 16 frames at 16 fps = 1 s),
whatever the video's own frame rate: clip ``i`` covers ``[i * d, (i + 1) * d)`` seconds with
``d = clip_frames / fps``. The grid covers the video from its first frame; a tail shorter than
one clip is not a clip (it is reported as ``uncovered_s``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from scsampler.records import ClipRecord


@dataclass(frozen=True)
class ClipGrid:
    clip_frames: int = 16
    fps: int = 16

    def __post_init__(self):
        if self.clip_frames < 1 or self.fps < 1:
            raise ValueError(f"clip_frames and fps must be positive, got {self.clip_frames}, {self.fps}")

    @property
    def clip_duration(self) -> Fraction:
        return Fraction(self.clip_frames, self.fps)

    def num_clips(self, duration: Fraction | float) -> int:
        # Fraction arithmetic: a 20 s video holds exactly 20 one-second clips, not 19.
        return max(0, math.floor(Fraction(duration) / self.clip_duration))

    def clip(self, video_id: str, index: int) -> ClipRecord:
        d = self.clip_duration
        return ClipRecord(video_id=video_id, index=index, start=index * d, end=(index + 1) * d)

    def clips(self, video_id: str, duration: Fraction | float) -> list[ClipRecord]:
        return [self.clip(video_id, i) for i in range(self.num_clips(duration))]

    def index_of(self, t: float | Fraction) -> int:
        """The clip that contains time ``t`` (seconds); may be past the last whole clip."""
        return math.floor(Fraction(t) / self.clip_duration) if isinstance(t, Fraction) else math.floor(t / float(self.clip_duration) + 1e-9)

    def sample_times(self, clip: ClipRecord, num_frames: int) -> list[Fraction]:
        """``num_frames`` evenly spaced times in ``[start, end)``: the frames a classifier sees."""
        step = (clip.end - clip.start) / num_frames
        return [clip.start + j * step for j in range(num_frames)]

    def to_json(self) -> dict:
        return {"clip_frames": self.clip_frames, "fps": self.fps}
