"""Predicting many videos into a JSON-lines file that survives being killed (``scsampler predict``).

The results file holds one JSON object per video and line: :meth:`VideoResult.to_json` plus
``strategy``, ``k``, ``label`` (when the manifest has one), ``labels`` (all of them, ``label``
first, when the manifest gives the video several: :func:`truth_fields`), ``scores`` (every clip's
saliency per modality, ``null`` where not scored) and ``settings`` (everything else that decided the
result), or ``{"video", "error", ...}`` for a video that failed.

Each line is appended, flushed and fsynced as its video finishes, so a killed batch loses at most the
video in progress. A rerun of the same command reads the file back, drops a line cut short by the kill,
and skips the videos it already holds; videos recorded as failed are retried only when asked. The file
keeps one line per video: retried failures are removed before they are retried.
"""

from __future__ import annotations

import json
import logging
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import torch
from tqdm import tqdm

from scsampler.data.manifest import ManifestEntry
from scsampler.errors import ConfigError, ScsamplerError, VideoError
from scsampler.files import atomic_write_text
from scsampler.reports import html as report_html
from scsampler.runtime.classifier import ClipClassifier
from scsampler.pipeline.video import run_video
from scsampler.selectors.base import ClipSelector

log = logging.getLogger(__name__)


@dataclass
class PredictSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)               # already in the results file
    failed: list[tuple[str, str]] = field(default_factory=list)    # (video, one-line error), this run
    recorded: list[tuple[str, str]] = field(default_factory=list)  # failures of earlier runs, not retried
    dropped_lines: int = 0                                          # unreadable lines removed from the file
    interrupted: bool = False
    failures_file: Path | None = None


def failures_path(out: str | os.PathLike) -> Path:
    """Where the failed videos of a results file are listed: ``<out>.failures.txt``."""
    out = Path(out)
    return out.with_name(out.name + ".failures.txt")


def run_settings(classifier: ClipClassifier, selector: ClipSelector, fallback: ClipSelector | None, seed: int) -> dict:
    """What decides a video's result besides the video: stored in every line, so a rerun into the
    same file with other settings is refused instead of mixing results."""
    return {
        "selector": selector.settings,
        "fallback": fallback.name if fallback is not None else "none",
        "seed": seed,
        "classifier": classifier.key,
    }


def read_results(out: str | os.PathLike) -> tuple[dict[str, dict], int]:
    """The records of a results file by video (the last line of a video wins) and the number of
    lines that could not be read (a line cut short by a kill)."""
    try:
        data = Path(out).read_bytes()
    except FileNotFoundError:
        return {}, 0
    except OSError as err:
        raise ConfigError(f"{out}: cannot read the results file ({err.strerror or err})") from None
    records, bad = {}, 0
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            bad += 1
            continue
        if isinstance(rec, dict) and isinstance(rec.get("video"), str):
            records[rec["video"]] = rec
        else:
            bad += 1
    return records, bad


def rewrite_results(out: Path, records: list[dict]) -> None:
    """Replace the results file by ``records``, atomically (a kill leaves the old or the new file)."""
    atomic_write_text(out, "".join(json.dumps(rec, ensure_ascii=False) + "\n" for rec in records))


def _check_settings(out: Path, records: dict[str, dict], settings: dict) -> None:
    for rec in records.values():
        theirs = {"strategy": rec.get("strategy"), "k": rec.get("k"), **rec.get("settings", {})}
        differ = [k for k in settings if theirs.get(k) != settings[k]]
        if differ:
            k = differ[0]
            raise ConfigError(
                f"{out} holds results made with other settings ({k} {theirs.get(k)!r}, now {settings[k]!r}, for {rec['video']}): "
                "write to another --out, or delete the file to start over"
            )


def _generator(seed: int, video_id: str) -> torch.Generator:
    # One generator per video: the random strategy draws the same clips whatever ran before (a rerun).
    return torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(video_id.encode("utf-8")))


def error_line(entry: ManifestEntry, err: BaseException) -> str:
    """The one line recorded for a video that failed with ``err``."""
    if isinstance(err, VideoError):
        return f"{entry.video_id}: {err.cause}"
    if not isinstance(err, ScsamplerError):
        log.debug("unexpected failure on %s", entry.path, exc_info=True)
        return f"{entry.video_id}: {type(err).__name__}: {' '.join(str(err).split())}"
    return f"{entry.video_id}: {' '.join(str(err).split())}"


def truth_fields(entry: ManifestEntry) -> dict:
    """What a record says of the video's truth, from the manifest: ``label`` (the main label) when
    it has one, and ``labels`` (every label, the main one first) when it has several."""
    fields = {}
    if entry.label is not None:
        fields["label"] = entry.label
    if entry.multi_label:
        fields["labels"] = list(entry.labels)
    return fields


def error_record(entry: ManifestEntry, error: str) -> dict:
    """The results-file line of a video that failed."""
    return {"video": entry.video_id, "error": error, **truth_fields(entry)}


def predict_one(entry: ManifestEntry, classifier: ClipClassifier, selector: ClipSelector, k: int = 10, *,
                fallback: ClipSelector | None = None, seed: int = 0, decode_processes: int = 1) -> dict:
    """The record of one video: its result, or ``{"video", "error"}`` for a bad file. Raises only
    :class:`ConfigError` (a misuse that would fail every video) and ``KeyboardInterrupt``.
    ``decode_processes``: see :func:`scsampler.pipeline.video.run_video`."""
    rec: dict = {"video": entry.video_id}
    try:
        if os.path.isdir(entry.path):
            raise VideoError(entry.video_id, "is a directory, not a video file")
        if not os.path.exists(entry.path):
            raise VideoError(entry.video_id, "no such file")
        # The oracle's true classes: every label of the video the classifier knows, the main one first.
        labels = tuple(classifier.classes.index(x) for x in entry.labels if x in classifier.classes) if selector.needs.label else ()
        result = run_video(entry.path, classifier, selector, k, fallback=fallback, video_id=entry.video_id,
                           generator=_generator(seed, entry.video_id), labels=labels, decode_processes=decode_processes)
    except ConfigError:
        raise
    except (ScsamplerError, RuntimeError, ValueError, MemoryError, OSError) as err:
        # A bad file, or a decoder or model state we did not foresee: recorded for this video, the batch goes on.
        rec["error"] = error_line(entry, err)
    else:
        rec.update(result.to_json())
        rec["scores"] = result.scores
    rec.update(truth_fields(entry))
    return rec


def resume(out: Path, entries: list[ManifestEntry], settings: dict, retry_failed: bool, summary: PredictSummary):
    """Before the first video: read ``out`` back, refuse other settings, drop a line cut short and the
    failures to retry (rewriting the file atomically), and list what is left to do (each video once).
    Fills ``summary``'s dropped, recorded and skipped videos. Returns ``(records, todo)``."""
    records, bad = read_results(out)
    _check_settings(out, records, settings)
    summary.dropped_lines = bad
    wanted = {e.video_id for e in entries}
    retry = {v for v, r in records.items() if "error" in r and retry_failed and v in wanted}
    if bad or retry or _unterminated(out):
        if bad:
            log.warning("%s: dropped %d unreadable line(s) (cut short when an earlier run was killed)", out, bad)
        records = {v: r for v, r in records.items() if v not in retry}
        rewrite_results(out, list(records.values()))
    todo, seen = [], set()
    for e in entries:
        if e.video_id in seen:
            continue
        seen.add(e.video_id)
        rec = records.get(e.video_id)
        if rec is None:
            todo.append(e)
        elif "error" in rec:
            summary.recorded.append((e.video_id, rec["error"]))
        else:
            summary.skipped.append(e.video_id)
    return records, todo


def predict_many(
    entries: list[ManifestEntry | str | os.PathLike],
    classifier: ClipClassifier,
    selector: ClipSelector,
    out: str | os.PathLike,
    *,
    k: int = 10,
    fallback: ClipSelector | None = None,
    seed: int = 0,
    retry_failed: bool = False,
    report: str | os.PathLike | None = None,
    ground_truth: report_html.GroundTruth | None = None,
    progress: bool = False,
    decode_processes: int = 1,
) -> PredictSummary:
    """Predict every entry into the JSON-lines file ``out``, resuming what an earlier run of the same
    settings left there. ``entries``: manifest entries, or paths of videos and manifests (``.csv``).
    ``report``: a folder for a picture per video and an ``index.html``; ``ground_truth`` (a
    ``segments.json``, :func:`scsampler.reports.html.read_segments`): drawn in the pictures of the
    videos it has, never written to ``out``. ``decode_processes``: the processes that decode each
    video for the cheap pass (:func:`scsampler.pipeline.video.run_video`); the results are the same
    whatever their number, so it is not one of the settings a rerun must repeat."""
    from scsampler.data.extraction import expand_inputs

    entries = [x for e in entries for x in ([e] if isinstance(e, ManifestEntry) else expand_inputs([os.fspath(e)]))]
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    nested = run_settings(classifier, selector, fallback, seed)
    summary = PredictSummary()
    records, todo = resume(out, entries, {"strategy": selector.name, "k": k, **nested}, retry_failed, summary)
    if report is not None:
        report = Path(report)
        report.mkdir(parents=True, exist_ok=True)
    bar = tqdm(total=len(todo), desc="predict", unit="video", disable=not progress)
    try:
        with open(out, "a", encoding="utf-8") as f:
            for e in todo:
                rec = predict_one(e, classifier, selector, k, fallback=fallback, seed=seed, decode_processes=decode_processes)
                rec.update(strategy=selector.name, k=k, settings=nested)
                f.write(json.dumps(rec, ensure_ascii=False) + "\n")
                f.flush()
                os.fsync(f.fileno())
                records[e.video_id] = rec
                if "error" in rec:
                    summary.failed.append((e.video_id, rec["error"]))
                else:
                    summary.done.append(e.video_id)
                    if report is not None:
                        truth = ground_truth.find(e.path) if ground_truth is not None else None
                        report_html.draw_video_safely(rec, e.path, report, truth)
                bar.update()
    except KeyboardInterrupt:
        # Every finished video is already in the file; a rerun of the same command goes on from here.
        summary.interrupted = True
    finally:
        bar.close()
        summary.failures_file = _write_failures(out, records)
        if report is not None:
            report_html.write_report(report_rows(entries, records), report, ground_truth)
    return summary


def report_rows(entries: list[ManifestEntry], records: dict[str, dict]) -> list[tuple[dict, Path]]:
    """The ``(record, video path)`` of each video of ``entries`` that ``records`` holds, once, in
    order: what :func:`scsampler.reports.html.write_report` shows."""
    return [(records[v], e.path) for v, e in {e.video_id: e for e in entries}.items() if v in records]


def _unterminated(out: Path) -> bool:
    """Whether the file's last line lacks its newline (a kill between the object and the newline)."""
    try:
        with open(out, "rb") as f:
            f.seek(-1, os.SEEK_END)
            return f.read(1) != b"\n"
    except OSError:  # missing or empty
        return False


def _write_failures(out: Path, records: dict[str, dict]) -> Path | None:
    """List the failed videos of the whole file in ``<out>.failures.txt`` (removed when none failed)."""
    path = failures_path(out)
    errors = [r["error"] for r in records.values() if "error" in r]
    if not errors:
        path.unlink(missing_ok=True)
        return None
    atomic_write_text(path, "".join(e + "\n" for e in errors))
    return path


__all__ = ["PredictSummary", "predict_many", "predict_one", "read_results", "failures_path", "report_rows", "run_settings",
           "truth_fields"]
