"""Importing public datasets and folders of videos into our ``manifest.csv``, ``classes.txt`` and
``segments.json`` (``docs/data-formats.md``).

Each format has a pure parser that reads annotation files into :class:`VideoRecord` s and checks
them (every bad entry is one :class:`ConfigError` line naming the file and the entry):

- :func:`parse_activitynet`: ActivityNet v1.3 JSON (untrimmed videos, subsets, labelled segments);
- :func:`parse_kinetics`: Kinetics-style CSV (``label,youtube_id,time_start,time_end,split``);
- :func:`parse_charades`: Charades CSV (``id,...,actions,length``; several actions per video);
- :func:`scan_folder`: a folder per class (``ROOT/<class>/<video>``, or ``ROOT/<split>/<class>/<video>``).

:func:`match_videos` finds each record's file under the user's folder of videos by a pattern
(``v_{id}.*``), and :func:`import_dataset` does it all: parse, match, probe, then write the files.
A video whose file is missing or unreadable is listed (``missing.txt``), never fatal.
"""

from __future__ import annotations

import bisect
import csv
import fnmatch
import glob
import io
import json
import logging
import math
import os
import random
import re
import string
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from scsampler.data.manifest import LABELS_SEPARATOR
from scsampler.errors import ConfigError, ScsamplerError
from scsampler.files import atomic_write_json, atomic_write_text

log = logging.getLogger(__name__)

FORMATS = ("activitynet", "kinetics", "charades", "folder")

# A source's split names -> ours (the commands read "train" and "test"; "val" is kept apart).
SPLITS = {
    "training": "train", "train": "train",
    "validation": "val", "validate": "val", "valid": "val", "val": "val",
    "testing": "test", "test": "test",
}

# The file name each format's videos usually have (the official crawlers' and downloaders' names).
DEFAULT_PATTERNS = {
    "activitynet": "v_{id}.*",
    "kinetics": "{id}_{start:06d}_{end:06d}.*",
    "charades": "{id}.*",
}
# Fields a pattern may use, per format.
PATTERN_FIELDS = {
    "activitynet": ("id", "label", "split"),
    "kinetics": ("id", "label", "split", "start", "end"),
    "charades": ("id", "label", "split"),
}

VIDEO_EXTENSIONS = frozenset(
    ".mp4 .m4v .mkv .webm .avi .mov .mpg .mpeg .ts .mts .m2ts .flv .wmv .3gp .ogv .vob".split()
)

DEFAULT_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Segment:
    """A labelled interval of a video, in seconds from its start."""

    start_s: float
    end_s: float
    label: str


@dataclass(frozen=True)
class VideoRecord:
    """One video (or trimmed clip) of an annotation file, checked."""

    video_id: str                       # the dataset's id: YouTube id, Kinetics clip name, Charades id, file path
    labels: tuple[str, ...]             # every label, the one covering most of the video first; () for none
    split: str | None                   # ours: "train", "val" or "test"
    duration_s: float | None            # as the annotation states it
    where: str                          # names the entry in messages: "anet.json: database.abc"
    segments: tuple[Segment, ...] = ()
    fields: tuple[tuple[str, object], ...] = ()   # what a file-name pattern may use: id, label, split, start, end
    path: Path | None = None            # the file itself, when the source is a folder of videos

    @property
    def label(self) -> str | None:
        return self.labels[0] if self.labels else None


@dataclass
class Annotations:
    """What a parser read: the videos, the known classes (the order of ``classes.txt``), whether the
    format has segments, notes (segments clipped to the video's end, ...) and the entries left out
    with ``skip_bad`` (one line each)."""

    videos: list[VideoRecord]
    classes: list[str]
    has_segments: bool
    notes: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass
class ImportSummary:
    manifest: Path
    imported: dict[str, int]                     # per split
    missing: list[tuple[str, str]]               # (video id, "no file matches <the pattern filled in>")
    unreadable: list[tuple[str, str]]            # (video id, "path: cause")
    unlabelled: int                              # videos without a label, not imported
    skipped: list[str]                           # bad entries left out (skip_bad)
    notes: list[str]
    classes: int
    segments: Path | None

    @property
    def total(self) -> int:
        return sum(self.imported.values())


# -- checks shared by the parsers ------------------------------------------------------------------
def _number(value, what: str, where: str) -> float:
    """``value`` as a finite float; bools and strings that are not numbers are errors."""
    if isinstance(value, bool) or value is None:
        raise ConfigError(f"{where}: {what} {value!r} is not a number")
    try:
        x = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {what} {value!r} is not a number") from None
    if not math.isfinite(x):
        raise ConfigError(f"{where}: {what} {value!r} is not a finite number")
    return x


def _fmt(x: float) -> str:
    return f"{x:g}" if abs(x) < 1e6 else f"{x:.1f}"


def _map_split(name, where: str) -> str:
    if not isinstance(name, str) or name.strip().lower() not in SPLITS:
        raise ConfigError(f"{where}: split {name!r} is not one of {', '.join(sorted(SPLITS))}")
    return SPLITS[name.strip().lower()]


def _check_segment(start: float, end: float, duration: float | None, tolerance_s: float, where: str,
                   notes: list[str]) -> tuple[float, float]:
    """``(start, end)`` checked against the video's stated ``duration``: an end past it by at most
    ``tolerance_s`` (annotators' rounding) is clipped to it, with a note; further is an error. Same
    for a start before 0."""
    seg = f"segment [{_fmt(start)}, {_fmt(end)}]"
    if end <= start:
        raise ConfigError(f"{where}: {seg} ends before it starts")
    if start < 0:
        if start < -tolerance_s:
            raise ConfigError(f"{where}: {seg} starts before the video (negative time)")
        notes.append(f"{where}: {seg} starts at {_fmt(start)} s, clipped to 0")
        start = 0.0
    if duration is not None and end > duration:
        if end > duration + tolerance_s:
            raise ConfigError(f"{where}: {seg} ends past the video's duration {_fmt(duration)} s")
        if start >= duration:
            raise ConfigError(f"{where}: {seg} starts at or past the video's duration {_fmt(duration)} s")
        notes.append(f"{where}: {seg} ends {_fmt(end - duration)} s past the video's duration {_fmt(duration)} s, clipped")
        end = duration
    return start, end


def _check_label(label, known: set[str] | None, where: str) -> str:
    if not isinstance(label, str) or not label.strip():
        raise ConfigError(f"{where}: label {label!r} is not a non-empty string")
    label = label.strip()
    if known is not None and label not in known:
        raise ConfigError(f"{where}: unknown label {label!r} (not in the class list)")
    return label


def _labels_by_cover(segments: Sequence[Segment]) -> tuple[str, ...]:
    """The labels of ``segments``, the one covering most time first (ties: first seen)."""
    cover: dict[str, float] = {}
    for s in segments:
        cover[s.label] = cover.get(s.label, 0.0) + (s.end_s - s.start_s)
    order = {label: i for i, label in enumerate(cover)}
    return tuple(sorted(cover, key=lambda label: (-cover[label], order[label])))


def _entries(items: Iterable, parse_one, skip_bad: bool, skipped: list[str]) -> list[VideoRecord]:
    """``parse_one`` over ``items``; with ``skip_bad`` a bad entry is listed in ``skipped`` instead of raised."""
    out = []
    for item in items:
        try:
            record = parse_one(item)
        except ConfigError as err:
            if not skip_bad:
                raise
            skipped.append(str(err))
            continue
        if record is not None:
            out.append(record)
    return out


def _other(other: str, where: str) -> str:
    """``other`` entry as said from ``where``: ``line 2 (aaa)`` in the same CSV file, else in full."""
    i = os.path.commonprefix([other, where]).rfind(":")
    return f"line {other[i + 1:]}" if i > 0 and other[i + 1: i + 2].isdigit() else other


def _no_duplicates(videos: list[VideoRecord]) -> None:
    seen: dict[str, str] = {}
    for v in videos:
        if v.video_id in seen:
            raise ConfigError(f"{v.where}: duplicate of {_other(seen[v.video_id], v.where)} (video id {v.video_id!r} appears twice)")
        seen[v.video_id] = v.where


def read_class_list(path: str | os.PathLike) -> list[str]:
    """A class list: our ``classes.txt`` (one name a line)."""
    from scsampler.data.classes import read_classes

    return read_classes(path)


# -- ActivityNet ------------------------------------------------------------------------------------
class _Object(dict):
    """A JSON object; ``duplicates`` holds the keys it was given more than once (``json`` keeps the
    last silently: a video id twice would lose an entry)."""

    duplicates: tuple[str, ...] = ()


def _object(pairs) -> _Object:
    obj = _Object(pairs)
    if len(obj) != len(pairs):
        keys = [k for k, _ in pairs]
        obj.duplicates = tuple(dict.fromkeys(k for k in keys if keys.count(k) > 1))
    return obj


def _no_duplicate_keys(obj, where: str) -> None:
    dups = getattr(obj, "duplicates", ())
    if dups:
        raise ConfigError(f"{where}: key {dups[0]!r} appears twice (a duplicate entry)")


def _load_json(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text, object_pairs_hook=_object)
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON (line {err.lineno} column {err.colno}: {err.msg})") from None


def activitynet_classes(taxonomy, where: str) -> list[str]:
    """The leaf classes of an ActivityNet ``taxonomy`` (nodes that are no node's parent), sorted."""
    if not isinstance(taxonomy, list):
        raise ConfigError(f"{where}: taxonomy is not a list")
    names, parents = [], set()
    for i, node in enumerate(taxonomy):
        if not isinstance(node, dict) or not isinstance(node.get("nodeName"), str):
            raise ConfigError(f"{where}: taxonomy[{i}] is not an object with a nodeName")
        names.append(node["nodeName"])
        if node.get("parentName") is not None:
            parents.add(node["parentName"])
    return sorted({n for n in names if n not in parents})


def parse_activitynet(path: str | os.PathLike, *, classes: Sequence[str] | None = None,
                      tolerance_s: float = DEFAULT_TOLERANCE_S, skip_bad: bool = False) -> Annotations:
    """Read an ActivityNet v1.3 JSON: ``{"taxonomy": [...], "database": {id: {"subset", "duration",
    "annotations": [{"segment": [start, end], "label"}]}}}``.

    Known classes: ``classes`` if given, else the taxonomy's leaves, else the labels found. A label
    outside them, a segment past the video's ``duration`` (beyond ``tolerance_s``), a wrong type, an
    unknown subset or a video id given twice is a ConfigError naming the entry."""
    path = Path(path)
    data = _load_json(path)
    if not isinstance(data, dict) or not isinstance(data.get("database"), dict):
        raise ConfigError(f"{path}: not an ActivityNet file (no 'database' object at the top)")
    _no_duplicate_keys(data, str(path))
    db = data["database"]
    if db.duplicates:
        raise ConfigError(f"{path}: database.{db.duplicates[0]}: the video id appears twice")
    if classes is not None:
        known = list(classes)
    elif data.get("taxonomy"):
        known = activitynet_classes(data["taxonomy"], str(path))
    else:
        known = None
    known_set = set(known) if known is not None else None
    notes: list[str] = []
    skipped: list[str] = []

    def one(item) -> VideoRecord:
        vid, entry = item
        where = f"{path}: database.{vid}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: not an object")
        _no_duplicate_keys(entry, where)
        if not isinstance(entry.get("subset"), str):
            raise ConfigError(f"{where}: subset {entry.get('subset')!r} is not a string")
        split = _map_split(entry["subset"], where)
        duration = _number(entry.get("duration"), "duration", where)
        if duration <= 0:
            raise ConfigError(f"{where}: duration {entry.get('duration')!r} is not positive")
        annotations = entry.get("annotations", [])
        if not isinstance(annotations, list):
            raise ConfigError(f"{where}: annotations is not a list")
        segments = []
        for j, ann in enumerate(annotations):
            at = f"{where}.annotations[{j}]"
            if not isinstance(ann, dict):
                raise ConfigError(f"{at}: not an object")
            _no_duplicate_keys(ann, at)
            seg = ann.get("segment")
            if not isinstance(seg, list) or len(seg) != 2:
                raise ConfigError(f"{at}: segment {seg!r} is not a list [start, end]")
            start, end = (_number(x, "segment time", at) for x in seg)
            label = _check_label(ann.get("label"), known_set, at)
            start, end = _check_segment(start, end, duration, tolerance_s, at, notes)
            segments.append(Segment(start, end, label))
        labels = _labels_by_cover(segments)
        return VideoRecord(video_id=vid, labels=labels, split=split, duration_s=duration, where=where,
                           segments=tuple(segments),
                           fields=(("id", vid), ("label", labels[0] if labels else ""), ("split", entry["subset"])))

    videos = _entries(db.items(), one, skip_bad, skipped)
    if known is None:
        known = sorted({label for v in videos for label in v.labels})
    return Annotations(videos, known, True, notes, skipped)


# -- CSV helpers ------------------------------------------------------------------------------------
def _csv_rows(path: Path, required: Sequence[str]) -> tuple[list[str], list[tuple[int, dict]]]:
    """The header and the ``(line number, row)`` s of a CSV; the columns in ``required`` must be there."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as err:
        raise ConfigError(f"{path}: cannot read ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    reader = csv.DictReader(io.StringIO(text, newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in required if c not in header]
    if missing:
        raise ConfigError(f"{path}: no column {', '.join(repr(c) for c in missing)} in the header row "
                          f"(found: {', '.join(header) or 'nothing'})")
    reader.fieldnames = header
    rows = []
    for row in reader:
        if None in row:
            raise ConfigError(f"{path}:{reader.line_num}: more fields than the header has")
        rows.append((reader.line_num, {k: (v or "").strip() for k, v in row.items()}))
    return header, rows


def split_from_name(path: Path) -> str | None:
    """Our split from an annotation file's name (``Charades_v1_train.csv`` -> ``train``), if it says."""
    words = re.split(r"[^a-z]+", path.stem.lower())
    found = {SPLITS[w] for w in words if w in SPLITS}
    return found.pop() if len(found) == 1 else None


def _file_split(path: Path, split: str | None) -> tuple[str, str]:
    """(our split, the name as given) for an annotation file without a split column."""
    if split is not None:
        return _map_split(split, "--split"), split
    found = split_from_name(path)
    if found is None:
        raise ConfigError(f"{path}: no split column and its name does not say train, val or test; give the split (--split)")
    return found, found


# -- Kinetics ---------------------------------------------------------------------------------------
def _time_field(x: float):
    """Kinetics times are whole seconds: ints format as ``{start:06d}`` in a pattern."""
    return int(x) if x == int(x) else x


def parse_kinetics(path: str | os.PathLike, *, classes: Sequence[str] | None = None, split: str | None = None,
                   skip_bad: bool = False) -> Annotations:
    """Read a Kinetics-style CSV: ``label,youtube_id,time_start,time_end,split`` (trimmed clips;
    a test file may lack ``label``; without a ``split`` column the split comes from ``split`` or the
    file's name). A clip is named ``{youtube_id}_{start:06d}_{end:06d}`` (the downloaders' file stem);
    the same clip twice is an error, as is an unknown label when ``classes`` is given."""
    path = Path(path)
    header, rows = _csv_rows(path, ("youtube_id", "time_start", "time_end"))
    known_set = set(classes) if classes is not None else None
    has_split = "split" in header
    if has_split and split is not None:
        raise ConfigError(f"{path}: has a split column; a split can be given only for files without one")
    default_split = None if has_split else _file_split(path, split)
    notes: list[str] = []
    skipped: list[str] = []

    def one(item) -> VideoRecord:
        line, row = item
        yid = row["youtube_id"]
        where = f"{path}:{line}" + (f" ({yid})" if yid else "")
        if not yid:
            raise ConfigError(f"{where}: empty youtube_id")
        start = _number(row["time_start"], "time_start", where)
        end = _number(row["time_end"], "time_end", where)
        if start < 0 or end <= start:
            raise ConfigError(f"{where}: clip [{_fmt(start)}, {_fmt(end)}] is empty, reversed or before 0")
        label = row.get("label", "")
        labels = (_check_label(label, known_set, where),) if label else ()
        if has_split:
            ours, given = _map_split(row["split"], where), row["split"]
        else:
            ours, given = default_split
        s, e = _time_field(start), _time_field(end)
        clip = f"{yid}_{s:06d}_{e:06d}" if isinstance(s, int) and isinstance(e, int) else f"{yid}_{s}_{e}"
        return VideoRecord(video_id=clip, labels=labels, split=ours, duration_s=end - start, where=where,
                           fields=(("id", yid), ("label", labels[0] if labels else ""), ("split", given),
                                   ("start", s), ("end", e)))

    videos = _entries(rows, one, skip_bad, skipped)
    _no_duplicates(videos)
    known = list(classes) if classes is not None else sorted({v.label for v in videos if v.label})
    return Annotations(videos, known, False, notes, skipped)


# -- Charades ---------------------------------------------------------------------------------------
def read_charades_classes(path: str | os.PathLike) -> dict[str, str]:
    """``Charades_v1_classes.txt``: lines ``c000 Holding some clothes`` -> ``{"c000": "Holding some clothes"}``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: class-name file not found")
    out: dict[str, str] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            raise ConfigError(f"{path}:{n}: expected 'cNNN class name', got {line.strip()!r}")
        cid, name = parts[0], parts[1].strip()
        if cid in out:
            raise ConfigError(f"{path}:{n}: class {cid} appears twice")
        if name in out.values():
            raise ConfigError(f"{path}:{n}: class name {name!r} appears twice")
        out[cid] = name
    if not out:
        raise ConfigError(f"{path}: no classes")
    return out


def parse_charades(path: str | os.PathLike, *, classes: dict[str, str] | None = None, split: str | None = None,
                   tolerance_s: float = DEFAULT_TOLERANCE_S, skip_bad: bool = False) -> Annotations:
    """Read a Charades CSV (``Charades_v1_train.csv``): ``id``, ``length`` (s) and ``actions``
    (``c092 11.90 21.20;c147 0.00 12.60``: class, start, end). With ``classes`` (from
    :func:`read_charades_classes`) labels are the class names and an unknown class id is an error;
    without, the class ids. The split is ``split`` or read from the file's name."""
    path = Path(path)
    _, rows = _csv_rows(path, ("id", "actions", "length"))
    ours, given = _file_split(path, split)
    notes: list[str] = []
    skipped: list[str] = []

    def one(item) -> VideoRecord:
        line, row = item
        vid = row["id"]
        where = f"{path}:{line}" + (f" ({vid})" if vid else "")
        if not vid:
            raise ConfigError(f"{where}: empty id")
        duration = _number(row["length"], "length", where)
        if duration <= 0:
            raise ConfigError(f"{where}: length {row['length']!r} is not positive")
        segments = []
        for j, action in enumerate(a.strip() for a in row["actions"].split(";") if a.strip()):
            at = f"{where}: action {j + 1}"
            parts = action.split()
            if len(parts) != 3:
                raise ConfigError(f"{at} {action!r} is not 'class start end'")
            cid = parts[0]
            if classes is not None and cid not in classes:
                raise ConfigError(f"{at}: unknown class {cid!r} (not in the class list)")
            start, end = (_number(x, "time", at) for x in parts[1:])
            start, end = _check_segment(start, end, duration, tolerance_s, at, notes)
            segments.append(Segment(start, end, classes[cid] if classes is not None else cid))
        labels = _labels_by_cover(segments)
        return VideoRecord(video_id=vid, labels=labels, split=ours, duration_s=duration, where=where,
                           segments=tuple(segments),
                           fields=(("id", vid), ("label", labels[0] if labels else ""), ("split", given)))

    videos = _entries(rows, one, skip_bad, skipped)
    _no_duplicates(videos)
    known = list(classes.values()) if classes is not None else sorted({label for v in videos for label in v.labels})
    return Annotations(videos, known, True, notes, skipped)


# -- a folder per class -----------------------------------------------------------------------------
def _is_video_name(name: str, pattern: str | None) -> bool:
    if name.startswith("."):
        return False
    if pattern is not None:
        return fnmatch.fnmatchcase(name, pattern)
    return os.path.splitext(name)[1].lower() in VIDEO_EXTENSIONS


def scan_folder(root: str | os.PathLike, *, classes: Sequence[str] | None = None, split: str | None = None,
                test_fraction: float | None = None, seed: int = 0, pattern: str | None = None) -> Annotations:
    """The videos of ``ROOT/<class>/...`` (any depth below the class folder), or of
    ``ROOT/<split>/<class>/...`` when every folder of ROOT is a split name (train, val, test, ...).

    A file is a video by its extension, or by ``pattern`` (a glob of file names, ``*.mp4``). Without
    split folders every video goes to ``split`` (default ``test``), or, with ``test_fraction``, that
    share of each class (drawn with ``seed``) to ``test`` and the rest to ``train``."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: not a folder")
    if split is not None and test_fraction is not None:
        raise ConfigError("give a split or a test fraction, not both")
    if test_fraction is not None and not 0 < test_fraction < 1:
        raise ConfigError(f"test fraction must be between 0 and 1, got {test_fraction}")
    top = sorted(d.name for d in root.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not top:
        raise ConfigError(f"{root}: no class folders (expected ROOT/<class>/<video files>)")
    notes: list[str] = []
    strays = sorted(f.name for f in root.iterdir() if f.is_file() and _is_video_name(f.name, pattern))
    if strays:
        notes.append(f"{root}: {len(strays)} video file(s) outside any class folder left out (e.g. {strays[0]})")
    by_split = all(name.lower() in SPLITS for name in top)
    if by_split and (split is not None or test_fraction is not None):
        raise ConfigError(f"{root}: its folders are splits ({', '.join(top)}); a split or test fraction cannot be given too")
    groups = [(root / s, SPLITS[s.lower()], s) for s in top] if by_split else [(root, None, None)]
    known_set = set(classes) if classes is not None else None
    videos: list[VideoRecord] = []
    for base, ours, given in groups:
        for class_dir in sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")):
            label = _check_label(class_dir.name, known_set, f"{class_dir}")
            files = sorted(
                p for p in class_dir.rglob("*")
                if p.is_file() and _is_video_name(p.name, pattern) and not any(q.startswith(".") for q in p.relative_to(class_dir).parts)
            )
            if not files:
                notes.append(f"{class_dir}: no video files")
            chosen = {}
            if ours is None:
                if test_fraction is not None:
                    order = list(files)
                    random.Random(f"{seed}:{label}").shuffle(order)
                    n_test = round(len(order) * test_fraction)
                    chosen = {p: ("test" if i < n_test else "train") for i, p in enumerate(order)}
                else:
                    chosen = dict.fromkeys(files, _map_split(split, "--split") if split is not None else "test")
            for p in files:
                rel = p.relative_to(root).as_posix()
                s = ours if ours is not None else chosen[p]
                videos.append(VideoRecord(video_id=rel, labels=(label,), split=s, duration_s=None, where=str(p),
                                          fields=(("id", rel), ("label", label), ("split", given or s)), path=p))
    known = list(classes) if classes is not None else sorted({v.label for v in videos})
    return Annotations(videos, known, False, notes, [])


# -- finding the files ------------------------------------------------------------------------------
_MAGIC = re.compile(r"[*?\[]")


class FileIndex:
    """Every file under ``root`` (relative POSIX paths), listed once, so that matching a pattern per
    video costs a binary search on file names instead of a directory listing (ActivityNet: 20,000
    videos in one folder)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        entries = []
        seen = set()
        for dirpath, dirnames, filenames in os.walk(self.root, followlinks=True):
            real = os.path.realpath(dirpath)
            if real in seen:  # a link cycle
                dirnames[:] = []
                continue
            seen.add(real)
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            rel = Path(dirpath).relative_to(self.root).as_posix()
            for name in filenames:
                if not name.startswith("."):
                    entries.append((name, name if rel == "." else f"{rel}/{name}"))
        entries.sort()
        self.names = [n for n, _ in entries]
        self.paths = [p for _, p in entries]
        self.all = set(self.paths)

    def match(self, pattern: str) -> list[str]:
        """The files matching ``pattern``, a glob: without a ``/`` of a file's name at any depth,
        with one of its path from the root (``*`` stays inside one folder). Best first: video
        extensions before others, then by path."""
        parts = pattern.split("/")
        if len(parts) > 1 and not _MAGIC.search(pattern):
            return [pattern] if pattern in self.all else []
        base = parts[-1]
        m = _MAGIC.search(base)
        prefix = base[: m.start()] if m else base
        lo = bisect.bisect_left(self.names, prefix)
        hi = bisect.bisect_left(self.names, prefix + "\U0010ffff") if prefix else len(self.names)
        if len(parts) == 1:
            found = [p for n, p in zip(self.names[lo:hi], self.paths[lo:hi]) if fnmatch.fnmatchcase(n, base)]
        else:
            found = [p for p in self.paths[lo:hi] if _match_parts(p.split("/"), parts)]
        return sorted(found, key=lambda p: (os.path.splitext(p)[1].lower() not in VIDEO_EXTENSIONS, p))


def _match_parts(path: list[str], pattern: list[str]) -> bool:
    return len(path) == len(pattern) and all(fnmatch.fnmatchcase(a, b) for a, b in zip(path, pattern))


def check_pattern(pattern: str, fmt: str) -> str:
    """``pattern`` normalised (``./`` dropped), or a ConfigError if it uses an unknown field or no ``{id}``."""
    allowed = PATTERN_FIELDS[fmt]
    try:
        names = [f for _, f, _, _ in string.Formatter().parse(pattern) if f is not None]
    except ValueError as err:
        raise ConfigError(f"--pattern {pattern!r}: {err} (a literal brace is written {{{{ or }}}})") from None
    for name in names:
        if name not in allowed:
            raise ConfigError(f"--pattern {pattern!r}: unknown field {{{name}}}; {fmt} knows "
                              + ", ".join("{" + a + "}" for a in allowed))
    if "id" not in names:
        raise ConfigError(f"--pattern {pattern!r}: needs {{id}}, the video's id")
    if pattern.startswith("/") or os.path.isabs(pattern):
        raise ConfigError(f"--pattern {pattern!r}: must be relative to the folder of videos")
    while pattern.startswith("./"):
        pattern = pattern[2:]
    return pattern


def file_pattern(pattern: str, record: VideoRecord) -> str:
    """``pattern`` filled in with ``record``'s fields, their glob characters escaped."""
    values = {k: glob.escape(v) if isinstance(v, str) else v for k, v in record.fields}
    try:
        return pattern.format(**values)
    except (ValueError, KeyError, IndexError) as err:
        raise ConfigError(f"{record.where}: --pattern {pattern!r} does not fit this entry ({err})") from None


def match_videos(videos: Sequence[VideoRecord], root: str | os.PathLike, pattern: str
                 ) -> tuple[list[tuple[VideoRecord, Path]], list[tuple[VideoRecord, str]]]:
    """Each video's file under ``root`` by ``pattern``: ``(found, missing)``, ``found`` as
    ``(record, path)`` and ``missing`` as ``(record, the pattern filled in)``. Several files for one
    video: the first (video extensions first, then by name), with a log line. Two videos on one file
    is a ConfigError (the pattern is too loose)."""
    root = Path(root)
    if not root.is_dir():
        raise ConfigError(f"{root}: folder of videos not found")
    index = FileIndex(root)
    found, missing = [], []
    owner: dict[str, VideoRecord] = {}
    for record in videos:
        wanted = file_pattern(pattern, record)
        hits = index.match(wanted)
        if not hits:
            missing.append((record, wanted))
            continue
        if len(hits) > 1:
            log.info("%s: %d files match %s; using %s", record.where, len(hits), wanted, hits[0])
        if hits[0] in owner:
            raise ConfigError(f"{record.where}: its file {hits[0]} is also that of {_other(owner[hits[0]].where, record.where)}; "
                              f"make --pattern {pattern!r} tighter")
        owner[hits[0]] = record
        found.append((record, root / hits[0]))
    return found, missing


# -- writing ----------------------------------------------------------------------------------------
def _round(x: float) -> float:
    return round(float(x), 6)


def segments_entry(record: VideoRecord, duration_s: float | None) -> dict:
    """The ``segments.json`` entry of one video: ``segments`` cut where any labelled interval starts
    or ends, so that they never overlap (the benchmark's shares assume so), each ``kind: "salient"``
    with the labels active in it (``label``: the first of them in the video's label order); the
    intervals as annotated stay in ``annotations``."""
    rank = {label: i for i, label in enumerate(record.labels)}
    cuts = sorted({t for s in record.segments for t in (s.start_s, s.end_s)})
    pieces: list[dict] = []
    for a, b in zip(cuts, cuts[1:]):
        active = sorted({s.label for s in record.segments if s.start_s <= a and s.end_s >= b}, key=rank.__getitem__)
        if not active:
            continue
        if pieces and pieces[-1]["labels"] == active and pieces[-1]["end_s"] == _round(a):
            pieces[-1]["end_s"] = _round(b)  # same labels on both sides of a cut: one piece
            continue
        pieces.append({"start_s": _round(a), "end_s": _round(b), "kind": "salient", "label": active[0], "labels": active})
    return {
        "id": record.video_id,
        "label": record.label,
        "labels": list(record.labels),
        "split": record.split,
        "duration_s": _round(duration_s) if duration_s is not None else None,
        "segments": pieces,
        "annotations": [{"start_s": _round(s.start_s), "end_s": _round(s.end_s), "label": s.label} for s in record.segments],
    }


def _manifest_text(rows: list[dict], multi_label: bool) -> str:
    fields = ["path", "label", "split", "duration_s"] + (["labels"] if multi_label else []) + ["source_id"]
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


def _manifest_path(video: Path, out: Path) -> str:
    """The manifest's ``path``: relative to the manifest's folder where that can be said, else absolute."""
    video = video.absolute()
    try:
        return Path(os.path.relpath(video, out.absolute())).as_posix()
    except ValueError:  # another drive (Windows)
        return video.as_posix()


def probe_videos(found: list[tuple[VideoRecord, Path]], notes: list[str], *, progress: bool = False):
    """Open each file: ``(readable, unreadable, durations)``, ``unreadable`` as ``(record, one-line
    cause)`` and ``durations`` the files' own, by video id. A file much shorter or longer than the
    annotation says (2 s and 5 %) adds a note."""
    from tqdm import tqdm

    from scsampler.io.video import probe

    kept, unreadable, durations = [], [], {}
    for record, path in tqdm(found, desc="probe", unit="video", disable=not progress, file=sys.stderr):
        try:
            seconds = float(probe(path).duration)
        except ScsamplerError as err:
            unreadable.append((record, str(err)))
            continue
        durations[record.video_id] = seconds
        stated = record.duration_s
        if stated is not None and abs(seconds - stated) > max(2.0, 0.05 * stated):
            notes.append(f"{record.where}: the file lasts {seconds:.1f} s, the annotation says {_fmt(stated)} s")
        kept.append((record, path))
    return kept, unreadable, durations


def parse(fmt: str, sources: Sequence[str | os.PathLike], *, classes: str | os.PathLike | None = None,
          split: str | None = None, test_fraction: float | None = None, seed: int = 0, pattern: str | None = None,
          tolerance_s: float = DEFAULT_TOLERANCE_S, skip_bad: bool = False) -> Annotations:
    """Parse ``sources`` (annotation files; for ``folder``, one folder) of format ``fmt`` and merge them.
    A video id in two files is an error."""
    if fmt not in FORMATS:
        raise ConfigError(f"unknown format {fmt!r}; known: {', '.join(FORMATS)}")
    if not sources:
        raise ConfigError(f"{fmt}: no annotation file given")
    if tolerance_s < 0:
        raise ConfigError(f"tolerance must be >= 0 s, got {tolerance_s}")
    if fmt == "folder":
        if len(sources) != 1:
            raise ConfigError("folder: give one folder (ROOT/<class>/<videos>)")
        return scan_folder(sources[0], classes=read_class_list(classes) if classes else None, split=split,
                           test_fraction=test_fraction, seed=seed, pattern=pattern)
    if test_fraction is not None:
        raise ConfigError(f"{fmt}: the split comes from the annotations; a test fraction is for a folder of videos")
    for s in sources:
        if not Path(s).is_file():
            raise ConfigError(f"{s}: annotation file not found")
    parts = []
    if fmt == "activitynet":
        if split is not None:
            raise ConfigError("activitynet: the split comes from each video's subset; --split is for files without one")
        known = read_class_list(classes) if classes else None
        parts = [parse_activitynet(s, classes=known, tolerance_s=tolerance_s, skip_bad=skip_bad) for s in sources]
    elif fmt == "kinetics":
        known = read_class_list(classes) if classes else None
        parts = [parse_kinetics(s, classes=known, split=split, skip_bad=skip_bad) for s in sources]
    elif fmt == "charades":
        cmap = read_charades_classes(classes) if classes else None
        parts = [parse_charades(s, classes=cmap, split=split, tolerance_s=tolerance_s, skip_bad=skip_bad) for s in sources]
    merged = Annotations([v for p in parts for v in p.videos], [], parts[0].has_segments,
                         [n for p in parts for n in p.notes], [s for p in parts for s in p.skipped])
    _no_duplicates(merged.videos)
    merged.classes = list(dict.fromkeys(c for p in parts for c in p.classes))
    if classes is None and len(parts) > 1:
        merged.classes = sorted(merged.classes)
    return merged


def import_dataset(fmt: str, sources: Sequence[str | os.PathLike], *, out: str | os.PathLike,
                   videos: str | os.PathLike | None = None, pattern: str | None = None,
                   classes: str | os.PathLike | None = None, split: str | None = None,
                   test_fraction: float | None = None, seed: int = 0, val_as_test: bool = False,
                   probe_files: bool = True, tolerance_s: float = DEFAULT_TOLERANCE_S, skip_bad: bool = False,
                   progress: bool = False) -> ImportSummary:
    """Import a dataset into ``out``: ``manifest.csv``, ``classes.txt``, ``segments.json`` (formats
    with segments), ``missing.txt`` (videos whose file is missing or unreadable, tab-separated: entry,
    reason) and ``import.json`` (these settings and the counts); the manifest is written last.

    Videos without a label (ActivityNet's testing subset, Kinetics' test file) are left out: every
    command that reads a manifest's split trains or scores on labels. ``val_as_test`` writes the
    validation videos as ``test`` (ActivityNet papers, Listen to Look included, report on validation).
    With ``probe_files`` each file is opened and must have a video stream, and ``duration_s`` is the
    file's; without, the annotation's. Raises ConfigError when no video at all is found."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    if fmt == "folder" and videos is not None:
        raise ConfigError("folder: the videos are the folder itself; --videos is for annotation files")
    if fmt != "folder":
        if videos is None:
            raise ConfigError(f"{fmt}: needs the folder of videos (--videos)")
        pattern = check_pattern(pattern or DEFAULT_PATTERNS[fmt], fmt)
    ann = parse(fmt, sources, classes=classes, split=split, test_fraction=test_fraction, seed=seed,
                pattern=pattern if fmt == "folder" else None, tolerance_s=tolerance_s, skip_bad=skip_bad)
    if not ann.has_segments and (out / "segments.json").exists():
        raise ConfigError(f"{out / 'segments.json'}: left by another dataset ({fmt} has no segments); "
                          "use an empty --out or delete it")
    labelled = [v for v in ann.videos if v.labels]
    unlabelled = len(ann.videos) - len(labelled)
    if fmt == "folder":
        found, missing = [(v, v.path) for v in labelled], []
    else:
        found, missing = match_videos(labelled, videos, pattern)
    if not found:
        example = f" (looked for e.g. {missing[0][1]})" if missing else ""
        raise ConfigError(f"no video of {', '.join(map(str, sources))} was found"
                          + (f" under {videos} with --pattern {pattern!r}{example}" if fmt != "folder" else ""))

    if probe_files:
        found, unreadable, durations = probe_videos(found, ann.notes, progress=progress)
        if not found:
            raise ConfigError(f"none of the {len(unreadable)} video files found could be read "
                              f"(e.g. {unreadable[0][1]}); see --no-probe to import them unchecked")
    else:
        unreadable, durations = [], {r.video_id: r.duration_s for r, _ in found}

    def our_split(s):
        return "test" if val_as_test and s == "val" else s

    rows, segments, imported = [], {}, {}
    multi = any(len(r.labels) > 1 for r, _ in found)
    for record, path in found:
        rel = _manifest_path(path, out)
        if multi and any(LABELS_SEPARATOR in label for label in record.labels):
            raise ConfigError(f"{record.where}: label with {LABELS_SEPARATOR!r} cannot go into the manifest's labels column")
        s = our_split(record.split)
        imported[s] = imported.get(s, 0) + 1
        d = durations[record.video_id]
        rows.append({"path": rel, "label": record.label, "split": s, "duration_s": _round(d) if d is not None else "",
                     "labels": LABELS_SEPARATOR.join(record.labels), "source_id": record.video_id})
        if ann.has_segments:
            entry = segments_entry(record, d if d is not None else record.duration_s)
            entry["split"] = s
            segments[rel] = entry

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "classes.txt", "".join(f"{c}\n" for c in ann.classes))  # data/classes.py's format
    seg_path = None
    if ann.has_segments:
        seg_path = out / "segments.json"
        atomic_write_json(seg_path, segments, indent=1, sort_keys=False)
    summary = ImportSummary(
        manifest=out / "manifest.csv", imported=dict(sorted(imported.items())),
        missing=[(r.video_id, f"no file matches {w}") for r, w in missing], unreadable=[(r.video_id, c) for r, c in unreadable],
        unlabelled=unlabelled, skipped=list(ann.skipped), notes=list(ann.notes), classes=len(ann.classes),
        segments=seg_path,
    )
    lines = summary.missing + [(vid, f"unreadable: {cause}") for vid, cause in summary.unreadable]
    atomic_write_text(out / "missing.txt", "".join(f"{vid}\t{why}\n" for vid, why in lines))
    atomic_write_json(out / "import.json", {
        "format": fmt, "sources": [str(s) for s in sources], "videos": str(videos) if videos is not None else None,
        "pattern": pattern, "classes": str(classes) if classes is not None else None, "split": split,
        "test_fraction": test_fraction, "seed": seed, "val_as_test": val_as_test, "probe": probe_files,
        "tolerance_s": tolerance_s, "skip_bad": skip_bad,
        "imported": summary.imported, "missing": len(summary.missing), "unreadable": len(summary.unreadable),
        "unlabelled": unlabelled, "skipped": summary.skipped, "notes": summary.notes,
    })
    atomic_write_text(summary.manifest, _manifest_text(rows, multi))
    return summary
