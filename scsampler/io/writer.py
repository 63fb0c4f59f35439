"""Writing real video files (the benchmark generator and the tests make their media with this)."""

from __future__ import annotations

import os
from fractions import Fraction

import av
import numpy as np

# Our codec names -> FFmpeg encoder names.
ENCODERS = {
    "h264": "libx264",
    "mpeg4": "mpeg4",
    "mjpeg": "mjpeg",
    "hevc": "libx265",
    "vp9": "libvpx-vp9",
}


class VideoWriter:
    """Encode RGB frames (and optionally mono audio) into a file, interleaving the two streams.

    >>> with VideoWriter("a.mp4", width=160, height=128, fps=16, sample_rate=16000) as w:
    ...     w.add_frame(rgb)          # (H, W, 3) uint8
    ...     w.add_audio(samples)      # (n,) float32 in [-1, 1], any chunking

    Audio is muxed up to the time of the video written so far, so the file interleaves the way
    a camera's would and a streaming reader holds little of either stream at once.
    """

    def __init__(
        self,
        path: str | os.PathLike,
        *,
        width: int,
        height: int,
        fps: int | Fraction = 16,
        codec: str = "h264",
        gop: int = 12,
        bframes: int = 0,
        quality: int | None = None,
        sample_rate: int | None = None,
        audio_codec: str = "aac",
        audio_bitrate: int = 48000,
        metadata: dict[str, str] | None = None,
        threads: int | None = None,
    ):
        self.path = str(path)
        self.fps = Fraction(fps)
        self._c = av.open(self.path, "w")
        encoder = ENCODERS.get(codec, codec)
        self._v = self._c.add_stream(encoder, rate=self.fps)
        self._v.width, self._v.height = width, height
        self._v.pix_fmt = "yuvj420p" if encoder == "mjpeg" else "yuv420p"
        opts = {"g": str(gop), "bf": str(bframes)}
        if encoder == "libx264":
            opts.update(preset="veryfast", crf=str(quality if quality is not None else 23))
            opts["x264-params"] = f"bframes={bframes}:keyint={gop}:min-keyint={gop}:scenecut=0:log-level=error"
        elif encoder == "libx265":
            opts.update(preset="ultrafast")
            opts["x265-params"] = f"bframes={bframes}:keyint={gop}:log-level=error"
        elif encoder in ("mpeg4", "mjpeg"):
            opts["qscale"] = str(quality if quality is not None else 4)
        elif encoder == "libvpx-vp9":
            opts.update({"deadline": "realtime", "cpu-used": "8", "crf": str(quality if quality is not None else 35), "b": "0"})
        self._v.codec_context.options = opts
        if threads is not None:
            # One thread makes x264's output bytes independent of the machine's core count.
            self._v.codec_context.thread_count = threads
        if encoder in ("mpeg4", "mjpeg"):
            self._v.codec_context.qscale = int(opts["qscale"])  # type: ignore[attr-defined]
        self._a = None
        self._audio_buf: list[np.ndarray] = []
        self._audio_written = 0
        if sample_rate is not None:
            self._a = self._c.add_stream(audio_codec, rate=sample_rate)
            self._a.layout = "mono"
            self._a.bit_rate = audio_bitrate
            self.sample_rate = sample_rate
        if metadata:
            for k, v in metadata.items():
                self._v.metadata[k] = v
        self._frames = 0

    # -- video -----------------------------------------------------------------------------
    def add_frame(self, rgb: np.ndarray) -> None:
        """Append one ``(H, W, 3)`` uint8 RGB frame."""
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
        frame.pts = self._frames
        frame.time_base = 1 / self.fps
        self._frames += 1
        for packet in self._v.encode(frame):
            self._c.mux(packet)
        self._flush_audio(until_s=self._frames / self.fps)

    # -- audio -----------------------------------------------------------------------------
    def add_audio(self, samples: np.ndarray) -> None:
        """Append mono samples, float in [-1, 1]; they are muxed as the video catches up."""
        if self._a is None:
            raise ValueError("this writer was made without audio (sample_rate=None)")
        self._audio_buf.append(np.asarray(samples, dtype=np.float32).reshape(-1))

    def _flush_audio(self, until_s: Fraction | None) -> None:
        if self._a is None or not self._audio_buf:
            return
        # Concatenating only when there are several pieces: the remainder is kept as a view, and
        # copying it again on every frame made writing a long soundtrack quadratic in its length.
        buf = self._audio_buf[0] if len(self._audio_buf) == 1 else np.concatenate(self._audio_buf)
        self._audio_buf = []
        frame_size = self._a.codec_context.frame_size or 1024
        if until_s is None:
            n = len(buf)
        else:
            target = int(until_s * self.sample_rate) - self._audio_written
            n = max(0, min(len(buf), target - target % frame_size))
        for j in range(0, n, frame_size):
            chunk = np.clip(buf[j : min(n, j + frame_size)], -1.0, 1.0)
            af = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
            af.sample_rate = self.sample_rate
            af.pts = self._audio_written
            af.time_base = Fraction(1, self.sample_rate)
            self._audio_written += len(chunk)
            for packet in self._a.encode(af):
                self._c.mux(packet)
        if n < len(buf):
            self._audio_buf = [buf[n:]]

    def close(self) -> None:
        if self._c is None:
            return
        for packet in self._v.encode():
            self._c.mux(packet)
        if self._a is not None:
            self._flush_audio(until_s=None)
            for packet in self._a.encode():
                self._c.mux(packet)
        self._c.close()
        self._c = None

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_video(path, frames, *, fps=16, audio=None, sample_rate=None, **kwargs) -> None:
    """Write an iterable of ``(H, W, 3)`` uint8 frames (and optional mono audio) to ``path``."""
    frames = iter(frames)
    first = next(frames)
    h, w = first.shape[:2]
    with VideoWriter(path, width=w, height=h, fps=fps, sample_rate=sample_rate, **kwargs) as wr:
        if audio is not None:
            wr.add_audio(audio)
        wr.add_frame(first)
        for f in frames:
            wr.add_frame(f)
