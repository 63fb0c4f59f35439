"""Opening, probing and decoding video files: the only module family that imports ``av``.

Everything here works on any file FFmpeg can read. Failures a user can cause (missing file, a
directory, zero bytes, not a video, no video stream) raise :class:`scsampler.errors.VideoError`
with one line naming the file and the cause.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import logging
import os
import re
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np
from av.sidedata.sidedata import SideDataContainer
from av.video.reformatter import VideoReformatter

from scsampler.errors import VideoError
from scsampler.records import VideoInfo

log = logging.getLogger(__name__)

# FFmpeg's AVPictureType values.
PICT_TYPES = {0: "?", 1: "I", 2: "P", 3: "B", 4: "S", 5: "SI", 6: "SP", 7: "BI"}

# Codecs whose FFmpeg decoder exports motion vectors with flags2=+export_mvs. For the others
# (HEVC, VP9, AV1, MJPEG, ...) motion is estimated from decoded low-resolution frames instead.
MV_EXPORT_CODECS = frozenset({"h264", "mpeg4", "mpeg2video", "mpeg1video", "h263", "h263p", "msmpeg4v2", "msmpeg4v3", "flv1"})


def _av_cause(err: Exception) -> str:
    if isinstance(err, av.error.InvalidDataError):
        return "not a media file FFmpeg can read (invalid data)"
    if isinstance(err, av.error.EOFError):
        return "unexpected end of file"
    strerror = getattr(err, "strerror", None)
    return strerror or str(err) or type(err).__name__


def _packet_cause(err: Exception) -> str:
    if isinstance(err, av.error.InvalidDataError):
        return "invalid data"
    return _av_cause(err)


@contextmanager
def open_container(path: str | os.PathLike) -> Iterator["av.container.InputContainer"]:
    """Open ``path`` for reading, turning every way that can fail into a one-line VideoError."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise VideoError(path, "is a directory, not a video file")
    if not os.path.exists(path):
        raise VideoError(path, "no such file")
    if os.path.getsize(path) == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = av.open(path, metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as err:
        raise VideoError(path, _av_cause(err)) from None
    try:
        yield container
    finally:
        container.close()


def _usable(stream) -> bool:
    # Size last: PyAV reads it from the decoder, and a stream without one has no size either.
    return stream.codec_context is not None and bool(stream.codec_context.name) and bool(stream.width and stream.height)


def _area(stream) -> int:
    return stream.width * stream.height if _usable(stream) else 0


def _video_streams(container) -> list:
    """The video streams a player would consider, best first: those it can decode, then the default
    one (disposition), then the largest picture, then the first in the file. Attached pictures (cover
    art) are not video."""
    streams = [s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic]
    return sorted(streams, key=lambda s: (
        not _usable(s),
        not s.disposition & av.stream.Disposition.default,
        -_area(s),
        s.index,
    ))


def _video_stream(container, path: str):
    """The video stream a player would play (see :func:`_video_streams`); :func:`video_stream_note`
    says which when there are several."""
    streams = _video_streams(container)
    if not streams:
        raise VideoError(path, "no video stream" if not container.streams.video else "no video stream (only an attached picture, e.g. cover art)")
    stream = streams[0]
    if stream.codec_context is None or not stream.codec_context.name:
        raise VideoError(path, "video stream with a codec FFmpeg cannot decode")
    if not stream.width or not stream.height:
        raise VideoError(path, "video stream has no frame size (broken header)")
    return stream


def _describe(stream) -> str:
    what = f"{stream.width}x{stream.height} {stream.codec_context.name}" if _usable(stream) else "not decodable"
    default = ", default" if stream.disposition & av.stream.Disposition.default else ""
    return f"#{stream.index} ({what}{default})"


def video_stream_note(path: str | os.PathLike) -> str | None:
    """Which video stream is read when the file has several, e.g. ``"#1 (1280x720 h264, default) of
    2 video streams; not #0 (640x272 h264, default)"``; None when it has one."""
    path = os.fspath(path)
    with open_container(path) as container:
        chosen = _video_stream(container, path)
        others = [s for s in _video_streams(container) if s.index != chosen.index]
        if not others:
            return None
        return f"{_describe(chosen)} of {len(others) + 1} video streams; not {', '.join(map(_describe, others))}"


def _frame_time(pts: int, tb: Fraction, origin: Fraction) -> float:
    """A video frame's time in seconds from the stream's first frame: what :func:`iter_video_frames`
    gives a decoded frame, and :func:`picture_plan` the picture of a packet, which must agree."""
    return float(Fraction(pts) * tb - origin)


def _stream_start(stream) -> Fraction:
    if stream.start_time is None or stream.time_base is None:
        return Fraction(0)
    return Fraction(stream.start_time) * stream.time_base


def _duration(container, stream) -> Fraction | None:
    if stream.duration and stream.time_base:
        return Fraction(stream.duration) * stream.time_base
    # Matroska keeps each track's duration in a tag ("00:00:05.280000000"); the container's is the
    # longest track's, which is not the video's when the file has a longer one beside it.
    tag = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if tag:
        try:
            h, m, sec = tag.strip().split(":")
            return (int(h) * 60 + int(m)) * 60 + Fraction(sec)
        except ValueError:
            log.debug("unreadable DURATION tag %r", tag)
    if container.duration:
        return Fraction(container.duration, av.time_base)
    return None


def _stop_at(restart: Restart | None, audio: bool = False) -> Callable | None:
    """A ``stop`` for :func:`_decode_safely`: the first packet after the restart."""
    pos = None if restart is None else restart.audio_pos if audio else restart.pos
    return None if pos is None else (lambda packet: packet.pos is not None and packet.pos >= pos)


def probe(path: str | os.PathLike, *, frame_types: bool = False) -> VideoInfo:
    """Read what the container says about ``path``: duration, rate, size, codecs, audio, and
    the rotation tag, which FFmpeg hands out on decoded frames only (the first frame is decoded).

    With ``frame_types=True`` every picture is decoded once (cheap at 1/1000 of real time for
    small videos, but a full decode) to count I, P and B frames.
    """
    path = os.fspath(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise VideoError(path, "video stream has no frame rate")
        restart = _restart_of(container, stream, path)
        # Timestamps that restart: the clips are those of the part before the restart (FFmpeg's own
        # estimate of such a file's duration mixes the two parts).
        duration = restart.at if restart is not None else _duration(container, stream)
        if duration is None:
            raise VideoError(path, "duration unknown (no duration in the container or stream)")
        audio = container.streams.audio[0] if container.streams.audio else None
        audio_ctx = audio.codec_context if audio is not None else None  # None: a codec FFmpeg cannot decode
        counts: dict[str, int] = {}
        # FFmpeg hands the container's display matrix to decoded frames only: read the first one.
        frames = _decode_safely(container, stream, path, stop=_stop_at(restart))
        try:
            first = next(frames, None)
            rotation = int(getattr(first, "rotation", 0) or 0)
            if frame_types:
                for frame in itertools.chain([first] if first is not None else [], frames):
                    key = PICT_TYPES.get(int(frame.pict_type), "?")
                    counts[key] = counts.get(key, 0) + 1
        except VideoError:
            if frame_types:
                raise
            rotation = 0  # nothing decodes: the caller's own decoding reports it
        finally:
            frames.close()
        return VideoInfo(
            path=path,
            duration=duration,
            fps=Fraction(rate),
            width=stream.width,
            height=stream.height,
            codec=stream.codec_context.name,
            num_frames=stream.frames or None,
            has_audio=audio is not None,
            audio_codec=audio_ctx.name if audio_ctx is not None else None,
            audio_sample_rate=audio_ctx.sample_rate if audio_ctx is not None else None,
            rotation=rotation,
            frame_types=counts,
        )


def _decode_safely(container, stream, path: str, *, max_errors: int = 50, stop: Callable | None = None,
                   before: Callable | None = None):
    """Decode ``stream`` frame by frame, skipping packets the decoder rejects (a damaged
    stretch of an otherwise good file) but giving up after ``max_errors`` of them in a row.
    Counting in a row, not in total, lets an hour-long file with scattered damage through.

    ``stop(packet)`` is asked before each packet is decoded; when it says True, decoding ends there,
    after the frames the decoder still holds (the end of the part of a file before its timestamps
    restart). ``before(packet)`` is called just before a packet is decoded."""
    errors = 0
    try:
        for packet in container.demux(stream):
            if stop is not None and packet.size and stop(packet):
                yield from _flush(stream, path)
                return
            if before is not None and packet.size:
                before(packet)
            try:
                frames = packet.decode()
            except av.error.FFmpegError as err:
                errors += 1
                log.debug("%s: skipped a damaged packet: %s", path, err)
                if errors > max_errors:
                    raise VideoError(path, f"{errors} undecodable packets in a row: {_packet_cause(err)}") from None
                continue
            errors = 0
            yield from frames
    except av.error.FFmpegError as err:
        # Demuxing itself failed (e.g. truncated mid-packet): stop here, keep what was decoded.
        log.debug("%s: demuxing stopped early: %s", path, err)


def _flush(stream, path: str) -> list:
    """The frames a decoder still holds (its reordering delay), at the end of what is read."""
    try:
        return stream.codec_context.decode(None)
    except av.error.FFmpegError as err:
        log.debug("%s: flushing the decoder failed: %s", path, err)
        return []


# AVFMT_TS_DISCONT: formats whose timestamps may jump (MPEG-TS, MPEG-PS), as files joined end to end do.
_TS_DISCONT = 0x0200


@dataclass(frozen=True)
class Restart:
    """Where the timestamps of a file's video stream jump back, as in MPEG-TS recordings joined end
    to end (``cat a.ts b.ts``). Only the part before it is read: the grid, the cheap pass and the
    decoder all stop there, and the metadata says so (:meth:`note`)."""

    at: Fraction               # the end of the part before the jump, s on the video's clock (first frame = 0)
    to: Fraction               # the time the video's timestamps jump back to, on the same clock
    pos: int                   # byte offset of the first video packet after the jump
    audio_pos: int | None      # byte offset of the first packet after the first audio stream's own jump

    def note(self) -> str:
        return (f"restarts at {float(self.at):.2f} s (timestamps jump back to {float(self.to):.2f} s); "
                f"only the first {float(self.at):.2f} s were used")


def _restart_of(container, stream, path: str) -> Restart | None:
    """The first timestamp restart of ``stream``, for formats that allow them (found once per file
    and process: the whole file is demuxed, not decoded)."""
    scan = _scan_of(container, stream, path)
    return None if scan is None else scan[0]


def _scanned_keyframes(container, stream, path: str) -> tuple[Fraction, ...] | None:
    """The times of the key frames of ``stream`` (s, first frame = 0, up to its restart) in a
    format that has no index but may restart (MPEG-TS, MPEG-PS), from the same scan as
    :func:`_restart_of`; None for other formats, whose index (``stream.index_entries``) says it."""
    scan = _scan_of(container, stream, path)
    return None if scan is None else scan[1]


def _scan_of(container, stream, path: str) -> tuple[Restart | None, tuple[Fraction, ...]] | None:
    if not container.format.flags & _TS_DISCONT:
        return None
    st = os.stat(path)
    audio = container.streams.audio[0].index if container.streams.audio else None
    return _scan_timeline(path, st.st_size, st.st_mtime_ns, stream.index, audio)


def timeline_restart(path: str | os.PathLike) -> Restart | None:
    """Where the timestamps of the video stream of ``path`` restart, or None (see :class:`Restart`)."""
    path = os.fspath(path)
    with open_container(path) as container:
        return _restart_of(container, _video_stream(container, path), path)


@functools.lru_cache(maxsize=32)
def _scan_timeline(path: str, size: int, mtime_ns: int, index: int, audio_index: int | None
                   ) -> tuple[Restart | None, tuple[Fraction, ...]]:
    """The first restart of video stream ``index`` and the times of its key frames before it."""
    # A jump back of more than 0.1 s in decoding order (dts) is a discontinuity, as FFmpeg's own
    # command line takes it; within one recording dts never decreases.
    with open_container(path) as container:
        video = container.streams[index]
        streams = [video] + ([container.streams[audio_index]] if audio_index is not None else [])
        rate = video.average_rate or video.guessed_rate or video.base_rate or 25
        start = _stream_start(video)
        last: dict[int, Fraction] = {}
        jumps: dict[int, tuple[int, Fraction]] = {}
        keyframes: list[Fraction] = []
        end = None
        try:
            for packet in container.demux(streams):
                i = packet.stream.index
                if packet.size == 0 or packet.dts is None or i in jumps:
                    continue
                t = Fraction(packet.dts) * packet.time_base
                if i in last and t < last[i] - Fraction(1, 10):
                    jumps[i] = (packet.pos, t)
                    if len(jumps) == len(streams):
                        break
                    continue
                last[i] = t
                if i == index and packet.pts is not None:
                    dur = Fraction(packet.duration) * packet.time_base if packet.duration else 1 / Fraction(rate)
                    t_end = Fraction(packet.pts) * packet.time_base + dur
                    end = t_end if end is None else max(end, t_end)
                    if packet.is_keyframe:
                        keyframes.append(Fraction(packet.pts) * packet.time_base - start)
        except av.error.FFmpegError as err:
            log.debug("%s: demuxing stopped early: %s", path, err)
    keyframes = tuple(sorted(keyframes))
    if index not in jumps or end is None:
        return None, keyframes
    pos, to = jumps[index]
    restart = Restart(at=end - start, to=to - start, pos=pos, audio_pos=jumps[audio_index][0] if audio_index in jumps else None)
    return restart, keyframes


class SeekMissed(VideoError):
    """A seek landed after the frame it was meant to reach (:func:`iter_video_frames`' ``start``)."""


def idr_times(path: str | os.PathLike) -> tuple[Fraction, ...]:
    """Times (s, first frame = 0) of the pictures of the video stream of ``path`` from which decoding
    gives the same frames, picture types and motion vectors as decoding from the file's start: the
    H.264 IDR pictures, which empty the decoder's references, so that no later picture refers to
    one before them (a closed GOP). x264 makes every key frame one unless told ``open-gop``.

    Empty for other codecs, whose key frames may open a GOP (MPEG-2, MPEG-4 Part 2 with B-frames
    decode the B-frames before a key frame after it, from the GOP before), and for files whose
    seeks may not land on the key frame asked for: formats without an index (MPEG-TS and MPEG-PS
    land near it; so do raw streams). Reads packets, decodes nothing.
    """
    path = os.fspath(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        if (stream.codec_context.name != "h264" or container.format.flags & _TS_DISCONT
                or not getattr(stream, "index_entries", None)):
            return ()
        length_size = _nal_length_size(stream)
        origin, times = _stream_start(stream), []
        try:
            for packet in container.demux(stream):
                if packet.size and packet.is_keyframe and packet.pts is not None and _has_idr(bytes(packet), length_size):
                    times.append(Fraction(packet.pts) * packet.time_base - origin)
        except av.error.FFmpegError as err:
            log.debug("%s: demuxing stopped early: %s", path, err)
    return tuple(sorted(times))


def _nal_length_size(stream) -> int:
    """How an H.264 stream's packets delimit NAL units: MP4 and Matroska store each behind its length
    (avcC extradata, first byte 1, gives the length's size in bytes); 0 for start codes (Annex B)."""
    extradata = stream.codec_context.extradata or b""
    return (extradata[4] & 3) + 1 if len(extradata) > 4 and extradata[0] == 1 else 0


def _nal_units(data: bytes, length_size: int) -> Iterator[tuple[int, int]]:
    """``(header, end)`` offsets of the NAL units of an H.264 access unit: NAL units behind their
    ``length_size``-byte lengths, or after start codes when ``length_size`` is 0."""
    if not length_size:
        starts = [m.end() for m in re.finditer(b"\x00\x00\x01", data[:-1])]
        yield from zip(starts, [s - 3 for s in starts[1:]] + [len(data)])
        return
    i = 0
    while i + length_size < len(data):
        end = i + length_size + int.from_bytes(data[i:i + length_size], "big")
        yield i + length_size, min(end, len(data))
        i = end


def _has_idr(data: bytes, length_size: int) -> bool:
    """Whether an H.264 access unit holds an IDR slice (NAL unit type 5)."""
    return any(data[i] & 0x1F == 5 for i, _ in _nal_units(data, length_size))


def _unescape(rbsp: bytes) -> bytes:
    """A NAL unit's payload without its emulation-prevention bytes (00 00 03 -> 00 00)."""
    return rbsp.replace(b"\x00\x00\x03", b"\x00\x00")


def _sei_payload_types(payload: bytes) -> list[int]:
    """The message types of an H.264 SEI NAL unit's payload (after its header byte); as many as can be read."""
    data, i, types = _unescape(payload), 0, []
    while i < len(data) and data[i] != 0x80:  # 0x80: the payload's trailing bits
        fields = []
        for _ in range(2):  # payloadType, then payloadSize: runs of 0xFF, each adding 255, then the last byte
            value = 0
            while i < len(data) and data[i] == 0xFF:
                value, i = value + 255, i + 1
            if i >= len(data):
                return types
            fields.append(value + data[i])
            i += 1
        types.append(fields[0])
        i += fields[1]
    return types


def _slice_type(header: bytes) -> int | None:
    """An H.264 slice's type (0 P, 1 B, 2 I, 3 SP, 4 SI) from the bytes after its NAL unit header:
    ``first_mb_in_slice`` and ``slice_type``, two Exp-Golomb numbers. None when they do not fit."""
    bits = "".join(f"{b:08b}" for b in _unescape(header))
    pos, value = 0, 0
    for _ in range(2):
        zeros = bits.find("1", pos) - pos
        if zeros < 0 or pos + 2 * zeros + 1 > len(bits):
            return None
        value = int(bits[pos + zeros:pos + 2 * zeros + 1], 2) - 1
        pos += 2 * zeros + 1
    return value % 5


def _non_reference_i_or_p(data: bytes, length_size: int) -> bool:
    """Whether an H.264 access unit holds a slice that no picture refers to (``nal_ref_idc`` 0) and
    whose picture a pass may read: one that is not a B slice (or whose type cannot be read), or any,
    when the unit also carries a recovery point (SEI message 6), which makes FFmpeg call its frame a
    key frame."""
    units = [(a, b) for a, b in _nal_units(data, length_size) if a < len(data)]
    non_reference = [a for a, _ in units if data[a] & 0x1F in (1, 5) and not data[a] & 0x60]
    if not non_reference:
        return False
    if any(_slice_type(data[a + 1:a + 9]) != 1 for a in non_reference):
        return True
    return any(data[a] & 0x1F == 6 and 6 in _sei_payload_types(data[a + 1:b]) for a, b in units)


@functools.lru_cache(maxsize=64)
def _i_p_slices_are_references(path: str, size: int, mtime_ns: int) -> bool:
    with open_container(path) as container:
        stream = _video_stream(container, path)
        if stream.codec_context.name != "h264":
            return False
        length_size = _nal_length_size(stream)
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if _non_reference_i_or_p(bytes(packet), length_size):
                    return False
        except av.error.FFmpegError as err:
            log.debug("%s: demuxing stopped early: %s", path, err)
            return False
    return True


def i_p_pictures_are_references(path: str | os.PathLike) -> bool:
    """True when every I and P slice of ``path``'s H.264 video stream is a reference (``nal_ref_idc``
    > 0), as x264 writes them: then a decoder that skips its loop filter on non-reference pictures
    (``skip_loop_filter=noref``) gives every I and P picture exactly as the full decode does, and
    only pictures no other refers to (B-frames, here) change. False for other codecs, and for a
    stream with a non-reference I or P slice (hierarchical-P encoders make them) or packets that
    cannot be read. Reads packets, decodes nothing; remembered per file (path, size, mtime)."""
    path = os.fspath(path)
    st = os.stat(path)
    return _i_p_slices_are_references(path, st.st_size, st.st_mtime_ns)


@dataclass(frozen=True)
class Picture:
    """One coded picture of an H.264 stream as its packet tells it, before any decoding."""

    pts: int
    time: float          # s, first frame = 0: the time :func:`iter_video_frames` gives its frame
    reference: bool      # some slice of it has nal_ref_idc > 0: other pictures may refer to it
    key: bool            # an IDR or I picture: what :func:`iter_video_frames` calls a key frame


def picture_plan(path: str | os.PathLike) -> tuple[Picture, ...] | None:
    """Every picture of ``path``'s video stream in decoding order, read from the packets' NAL unit
    headers without decoding, for a pass that skips the non-reference pictures it does not read
    (``iter_video_frames``' ``skip``). None where that cannot be known exactly, and the pass decodes
    everything: codecs other than H.264, streams whose timestamps may jump (MPEG-TS, MPEG-PS),
    packets without a pts or two with one, pts in decoding order (AVI: no B-frame shown before a
    picture decoded ahead of it), pictures of mixed slice types, SP/SI slices, a non-reference
    picture that is not a B picture (:func:`i_p_pictures_are_references`), a recovery point (which
    makes FFmpeg call a frame key) on a picture that is not an I picture, or packets that cannot be
    read. Remembered per file (path, size, mtime)."""
    path = os.fspath(path)
    st = os.stat(path)
    return _picture_plan(path, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _picture_plan(path: str, size: int, mtime_ns: int) -> tuple[Picture, ...] | None:
    with open_container(path) as container:
        stream = _video_stream(container, path)
        if stream.codec_context.name != "h264" or container.format.flags & _TS_DISCONT:
            return None
        length_size, origin, tb = _nal_length_size(stream), _stream_start(stream), stream.time_base
        pictures, seen, latest = [], set(), None
        try:
            for packet in container.demux(stream):
                if not packet.size:
                    continue
                if packet.pts is None or packet.pts in seen:
                    return None
                picture = _picture(bytes(packet), length_size)
                if picture is False:
                    return None
                if picture is None or packet.is_discard:
                    # Parameter sets or SEI alone; or a picture an edit list cuts, which the decoder
                    # decodes but does not give out (a reference one is never skipped).
                    continue
                reference, key = picture
                if not reference and (latest is None or packet.pts > latest):
                    # A B-frame comes after a picture shown later than it: with pts in decoding
                    # order (AVI and other containers without them, filled in by FFmpeg) the
                    # frames' display order cannot be known from the packets.
                    return None
                seen.add(packet.pts)
                latest = packet.pts if latest is None else max(latest, packet.pts)
                pictures.append(Picture(packet.pts, _frame_time(packet.pts, tb, origin), reference, key))
        except av.error.FFmpegError as err:
            log.debug("%s: demuxing stopped early: %s", path, err)
            return None
    return tuple(pictures)


def _picture(data: bytes, length_size: int) -> tuple[bool, bool] | None | bool:
    """``(reference, key)`` of an H.264 access unit's picture; None when it holds no slice; False
    when :func:`picture_plan` cannot tell (see there)."""
    types, reference, idr, recovery = set(), False, False, False
    for a, b in _nal_units(data, length_size):
        if a >= len(data):
            continue
        kind = data[a] & 0x1F
        if kind in (1, 5):
            t = _slice_type(data[a + 1:a + 9])
            if t is None or t > 2:
                return False
            types.add(t)
            reference |= bool(data[a] & 0x60)
            idr |= kind == 5
        elif kind == 6 and 6 in _sei_payload_types(data[a + 1:b]):
            recovery = True
    if not types:
        return None
    if len(types) > 1 or (not reference and types != {1}) or (recovery and types != {2}):
        return False
    return reference, idr or types == {2}


def intra_only(path: str | os.PathLike, packets: int = 32) -> bool:
    """True when the first ``packets`` packets of the video stream are all key frames: an intra-only
    stream (``-g 1``, the all-intra modes of cameras and editing exports), which carries no motion
    vectors whatever its codec. Reads packets, decodes nothing."""
    path = os.fspath(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        seen = 0
        try:
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue
                if not packet.is_keyframe:
                    return False
                seen += 1
                if seen >= packets:
                    break
        except av.error.FFmpegError as err:
            log.debug("%s: demuxing stopped early: %s", path, err)
        return seen >= 2


def to_rgb(frame, width: int, height: int, reformatter: VideoReformatter, threads: int = 1) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB. A reformatter kept across frames reuses FFmpeg's scaler
    (about 20x faster than building one per frame); AREA averages when shrinking, so small copies
    do not alias. The scaler runs on ``threads`` threads (0: one per core), one by default, as the
    decoder does: PyAV's own default is one per core, which would make a pass quoted per core use
    every core, and would leave thread pools that a forked worker process cannot free. The pixels
    are the same for any number."""
    return to_array(frame, width, height, reformatter, threads)


def to_array(frame, width: int, height: int, reformatter: VideoReformatter, threads: int = 1,
             format: str = "rgb24") -> np.ndarray:
    """:func:`to_rgb` in ``format``: ``"rgb24"``, ``(height, width, 3)``, or ``"gray"``, the luma
    alone, ``(height, width)`` uint8 (no colour conversion: cheaper, and what motion is matched on)."""
    return reformatter.reformat(frame, width=width, height=height, format=format, interpolation="AREA",
                                threads=threads).to_ndarray()


@dataclass
class DecodedFrame:
    """One decoded picture as the cheap pass sees it."""

    time: float                  # seconds from the first frame of the video stream
    pict_type: str               # "I", "P", "B", ...
    key: bool
    mvs: np.ndarray | None       # FFmpeg's motion vectors (structured array), None when not exported
    images: "dict[str, np.ndarray] | LazyImages"  # small (h, w, 3) uint8 RGB copies, as asked for
    decoded: bool = True         # False: a non-reference picture ``skip`` left undecoded (no mvs, no images)


class LazyImages:
    """A frame's small copies, converted when first asked for (``get``/``[]``), so that a caller
    that needs a few frames' pictures does not pay the scaler for every frame. Holds the decoded
    frame until then."""

    def __init__(self, frame, sizes: dict[str, tuple[int, int, str]], reformatters: dict[str, VideoReformatter]):
        self._frame, self._sizes, self._reformatters, self._done = frame, sizes, reformatters, {}

    def get(self, name: str, default=None):
        if name not in self._sizes:
            return default
        if name not in self._done:
            w, h, fmt = self._sizes[name]
            self._done[name] = to_array(self._frame, w, h, self._reformatters[name], format=fmt)
        return self._done[name]

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._sizes:
            raise KeyError(name)
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self._sizes


def small_size(width: int, height: int, side: int) -> tuple[int, int]:
    """``(w, h)`` with the longest side ``side`` (never enlarged), aspect kept, even numbers."""
    scale = min(1.0, side / max(width, height))
    return max(2, 2 * round(width * scale / 2)), max(2, 2 * round(height * scale / 2))


def iter_video_frames(
    path: str | os.PathLike,
    *,
    export_mvs: bool = True,
    keyframes_only: bool = False,
    resize: dict[str, tuple] | None = None,
    lazy: bool = False,
    start: Fraction | None = None,
    skip: Collection[int] | None = None,
) -> Iterator[DecodedFrame]:
    """Decode the video stream once, in display order, with motion vectors attached. The stream is
    the one a player would play (:func:`video_stream_note`); in a file whose timestamps restart
    (:class:`Restart`) decoding ends at the restart.

    ``keyframes_only`` sets ``skip_frame="NONKEY"`` so only key frames are decoded (I-frame
    features). ``resize`` asks for small RGB copies of frames: ``{name: (width, height, which)}``
    with ``which`` one of ``"all"``, ``"ip"`` (I and P frames) or ``"key"``; they arrive in ``DecodedFrame.images[name]``
    as ``(h, w, 3)`` uint8. A fourth item ``"gray"`` asks for the luma alone, ``(h, w)`` uint8. Memory is one frame at a time whatever the video's length. With ``lazy``,
    ``images`` is a :class:`LazyImages` that converts a copy only when asked for it, and the motion
    vectors are a copy, so a caller that keeps them does not keep the picture. Without ``resize``
    no pixel is read, and the decoder skips its loop filter (H.264's deblocking); with pictures of
    I/P frames only (``"ip"``, ``"key"``) it filters only the reference pictures where every I/P
    picture is one (:func:`i_p_pictures_are_references`), which gives those exactly.

    ``start`` (s, first frame = 0): decoding begins at the key frame at or before that time instead
    of the file's start; at one of :func:`idr_times` it gives the frames from there on exactly as
    decoding from the start does. Raises :class:`SeekMissed` when the first frame comes after it.

    ``skip``: the pts of non-reference pictures (:func:`picture_plan`) the caller will not read. The
    decoder drops them (``skip_frame=nonref`` for their packets), which changes no other picture or
    vector since none refers to them, and each comes in its place in display order as a B-frame with
    ``decoded`` False, no vectors and no pictures, so that frame counts and positions are those of
    the full decode. Should one be decoded after all, or frames come out of order, skipping stops
    there. On a damaged stream the two may differ: a garbled picture the full decode rejects is
    still given its place here, since it is never parsed.
    """
    path = os.fspath(path)
    with open_container(path) as container:
        stream = _video_stream(container, path)
        # One decoding thread: batches parallelise over videos, and speed is quoted per core. Frame
        # threads are also unsafe here: with them, the motion vectors exported for B-frames changed
        # from run to run (bikes.mp4 under load), and they were no faster (docs/benchmarks.md).
        stream.thread_type = "NONE"
        ctx = stream.codec_context
        ctx.thread_count = 1
        if keyframes_only:
            ctx.skip_frame = "NONKEY"
        options = {"flags2": "+export_mvs"} if export_mvs else {}
        if not resize:
            # No picture is asked for, so no pixel is read: skip the deblocking filter (H.264 spends
            # about a fifth of its decoding time there). It changes pixels only; the vectors, types
            # and times are the bitstream's (tests/features/test_md_exact.py).
            options["skip_loop_filter"] = "all"
        elif (not keyframes_only and all(spec[2] in ("ip", "key") for spec in resize.values())
              and i_p_pictures_are_references(path)):
            # Pictures of I/P frames only, and every one a reference: filtering only the references
            # gives those exactly, and no picture refers to the others (B-frames, here).
            options["skip_loop_filter"] = "noref"
        ctx.options = options
        origin = _stream_start(stream)
        tb = stream.time_base
        if start is not None:
            try:
                container.seek(int((start + origin) / tb), stream=stream, backward=True, any_frame=False)
            except av.error.FFmpegError as err:
                raise VideoError(path, f"cannot seek to {float(start):.2f} s: {_av_cause(err)}") from None
        # name -> (width, height, which, format)
        resize = {name: (*spec, "rgb24")[:4] for name, spec in (resize or {}).items()}
        reformatters = {name: VideoReformatter() for name in resize}
        last_t = None
        skipper = _Skipper(ctx, skip, origin, tb, path) if skip else None
        frames = _decode_safely(container, stream, path, stop=_stop_at(_restart_of(container, stream, path)),
                                before=skipper.before if skipper else None)
        for frame in itertools.chain(frames, [None] if skipper else []):
            if skipper is not None:
                for phantom in skipper.until(frame):
                    last_t = phantom.time
                    yield phantom
                if frame is None:
                    break
            if frame.pts is None:
                # Some containers (raw streams) leave pts unset: count frames at the nominal rate.
                t = 0.0 if last_t is None else last_t + 1.0 / float(stream.average_rate or 25)
            else:
                t = _frame_time(frame.pts, tb, origin)
            if last_t is None and start is not None and t > float(start):
                raise SeekMissed(path, f"a seek to {float(start):.3f} s landed on a frame at {t:.3f} s")
            last_t = t
            ptype = PICT_TYPES.get(int(frame.pict_type), "?")
            key = bool(frame.key_frame) or ptype == "I"
            mvs = _motion_vectors(frame, copy=lazy) if export_mvs else None
            sizes = {name: (w, h, fmt) for name, (w, h, which, fmt) in resize.items()
                     if which == "all" or key or (which == "ip" and ptype == "P")}
            if lazy:
                images = LazyImages(frame, sizes, reformatters) if sizes else {}  # {}: the picture can go now
            else:
                images = {name: to_array(frame, w, h, reformatters[name], format=fmt) for name, (w, h, fmt) in sizes.items()}
            yield DecodedFrame(time=t, pict_type=ptype, key=key, mvs=mvs, images=images)


class _Skipper:
    """:func:`iter_video_frames`' ``skip``: which packets the decoder drops, and their frames' places."""

    def __init__(self, ctx, skip: Collection[int], origin: Fraction, tb: Fraction, path: str):
        self.ctx, self.skip, self.origin, self.tb, self.path = ctx, skip, origin, tb, path
        self.held: list[int] = []          # pts of dropped pictures not yet given their place (a heap)
        self.last: int | None = None       # pts of the last frame given out
        self.on = True                     # False once the stream did what the plan did not say
        self.dropping = False              # the decoder's skip_frame is NONREF

    def before(self, packet) -> None:
        drop = self.on and packet.pts in self.skip and not packet.is_discard
        if drop:
            heapq.heappush(self.held, packet.pts)
        if drop != self.dropping:
            self.ctx.skip_frame = "NONREF" if drop else "DEFAULT"
            self.dropping = drop

    def until(self, frame) -> Iterator[DecodedFrame]:
        """The dropped pictures shown before ``frame`` (None: the stream's end), in order."""
        if frame is not None and frame.pts is None:
            self._off("a frame without a pts")
            return
        pts = None if frame is None else frame.pts
        if pts is not None and self.last is not None and pts < self.last:
            self._off(f"frames came out of display order (pts {pts} after {self.last})")
        if pts is not None and pts in self.held:
            self._off(f"a picture to skip was decoded (pts {pts})")
            self.held.remove(pts)
            heapq.heapify(self.held)
        while self.held and (pts is None or self.held[0] < pts):
            p = heapq.heappop(self.held)
            if self.last is None or p < self.last:
                # Before the first frame (leading pictures the decoder would not show either) or
                # behind one already given out: no place to give it.
                if self.last is not None:
                    self._off(f"a skipped picture came out of order (pts {p})")
                continue
            self.last = p
            yield DecodedFrame(time=_frame_time(p, self.tb, self.origin), pict_type="B", key=False,
                               mvs=None, images={}, decoded=False)
        if pts is not None:
            self.last = pts if self.last is None else max(self.last, pts)

    def _off(self, why: str) -> None:
        if self.on:
            log.debug("%s: %s; decoding every picture from here", self.path, why)
            self.on = False


def _motion_vectors(frame, copy: bool) -> np.ndarray | None:
    """The frame's exported motion vectors (FFmpeg's ``AVMotionVector`` records), None when it has
    none. Read through a side-data container of our own: ``frame.side_data`` caches one on the
    frame that refers back to it, a reference cycle that kept every decoded picture until Python's
    garbage collector ran (PyAV 18; 1.4 GB at 300 s of 720p). The array is a view of the frame's
    buffer, which it keeps alive; with ``copy`` it owns its memory and the picture can go."""
    side = SideDataContainer(frame).get("MOTION_VECTORS")
    if side is None:
        return None
    mvs = side.to_ndarray()
    return mvs.copy() if copy else mvs


def iter_audio(path: str | os.PathLike, *, sample_rate: int = 16000, gap_s: float = 0.05,
               stop_at_restart: bool = False) -> Iterator[tuple[float, np.ndarray]]:
    """Decode the first audio stream as mono float32 at ``sample_rate``.

    Yields ``(t0, samples)`` where ``t0`` is the time of the first sample in seconds on the
    video's clock (0 = the first video frame), so audio and video line up. Chunks follow each
    other without a gap, except where the stream's timestamps jump ahead by more than ``gap_s``
    (packets the decoder rejected, or a pause in the recording): there ``t0`` jumps too, so the
    audio after the gap stays under its video. Where the timestamps jump back (files joined end to
    end) the chunks go on without a gap, as a player plays them; with ``stop_at_restart`` and a video
    stream whose timestamps restart (:class:`Restart`) the audio ends at its own restart instead, with
    the part of the video that is read. Raises VideoError when the file has no audio stream or no
    decoder for it.
    """
    path = os.fspath(path)
    with open_container(path) as container:
        if not container.streams.audio:
            raise VideoError(path, "no audio stream")
        astream = container.streams.audio[0]
        if astream.codec_context is None:
            raise VideoError(path, "audio stream with a codec FFmpeg cannot decode")
        videos = _video_streams(container)
        origin = _stream_start(videos[0]) if videos else Fraction(0)
        restart = _restart_of(container, videos[0], path) if stop_at_restart and videos else None
        t0 = None
        produced = 0  # samples yielded so far, gaps included

        def chunks(frames):
            nonlocal produced
            for out in frames:
                samples = out.to_ndarray().reshape(-1)
                yield (t0 or 0.0) + produced / sample_rate, samples
                produced += len(samples)

        resampler, setup = None, None
        for frame in _decode_safely(container, astream, path, stop=_stop_at(restart, audio=True)):
            if frame.pts is not None and frame.time_base is not None:
                t = float(Fraction(frame.pts) * frame.time_base - origin)
                if t0 is None:
                    t0 = t
                elif (ahead := round((t - t0) * sample_rate) - produced) > gap_s * sample_rate:
                    log.debug("%s: %.3f s of audio missing before %.3f s", path, ahead / sample_rate, t)
                    produced += ahead
            if (frame.format.name, frame.layout.name, frame.sample_rate) != setup:
                # A resampler takes one input format; a stream may change it mid-way (a concatenated
                # or damaged file), so start a new one, after emptying the old.
                if resampler is not None:
                    yield from chunks(_drain(resampler))
                resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
                setup = (frame.format.name, frame.layout.name, frame.sample_rate)
            try:
                resampled = resampler.resample(frame)
            except (av.error.FFmpegError, ValueError) as err:
                log.debug("%s: skipped an audio frame the resampler rejects: %s", path, err)
                resampler, setup = None, None
                continue
            yield from chunks(resampled)
        if resampler is not None:
            yield from chunks(_drain(resampler))


def _drain(resampler) -> list:
    """The samples a resampler still holds."""
    try:
        return resampler.resample(None)
    except (av.error.FFmpegError, ValueError):
        return []
