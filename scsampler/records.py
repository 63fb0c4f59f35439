"""Records passed across package boundaries. Times are exact: ``fractions.Fraction`` seconds.

Shape conventions, used everywhere in scsampler (and repeated in each ``forward`` docstring):

- video clips            ``(B, 3, T, H, W)``  RGB, T frames on the clip timeline
- motion (MD) per frame  ``(N, 2, ceil(H/16), ceil(W/16))``  (dx, dy) in pixels of the source video,
                         positive dx = content moves right, positive dy = content moves down
- residual (RGB-R)       ``(N, 3, h, w)``  at reduced resolution, signed
- I-frame thumbnails     ``(N, 3, h, w)``  uint8 RGB
- audio log-mel          ``(B, 1, n_mels, frames)`` for models; ``(n_mels, frames)`` per clip
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction


@dataclass(frozen=True)
class ClipRecord:
    """One clip of a video: ``[start, end)`` in seconds on the video's own clock (first frame at 0)."""

    video_id: str
    index: int
    start: Fraction
    end: Fraction

    @property
    def start_s(self) -> float:
        return float(self.start)

    @property
    def end_s(self) -> float:
        return float(self.end)


@dataclass(frozen=True)
class VideoInfo:
    """What a probe learns about a file from its container (and its first decoded frame: the rotation)."""

    path: str
    duration: Fraction            # seconds, of the video stream
    fps: Fraction                 # average frame rate of the video stream
    width: int
    height: int
    codec: str                    # FFmpeg codec name of the video stream, e.g. "h264"
    num_frames: int | None        # as the container states it; None when it does not
    has_audio: bool
    audio_codec: str | None = None
    audio_sample_rate: int | None = None
    rotation: int = 0             # degrees, from the display matrix, 0 when absent
    frame_types: dict[str, int] = field(default_factory=dict)  # {"I": n, "P": n, "B": n} when counted

    def to_json(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["duration"] = float(self.duration)
        d["fps"] = float(self.fps)
        return d
