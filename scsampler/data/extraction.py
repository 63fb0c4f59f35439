"""Extracting cheap features for many videos into the feature cache, surviving bad files."""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from scsampler.data.cache import FeatureCache
from scsampler.data.manifest import ManifestEntry, read_manifest
from scsampler.errors import ScsamplerError, VideoError
from scsampler.features.extractor import ExtractorConfig, extract_clip_features
from scsampler.files import atomic_write_json, digest

log = logging.getLogger(__name__)


@dataclass
class ExtractSummary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)   # (video, one-line error)
    interrupted: bool = False

    def to_json(self) -> dict:
        return {
            "done": len(self.done),
            "skipped": len(self.skipped),
            "failed": len(self.failed),
            "interrupted": self.interrupted,
            "failures": [{"video": v, "error": e} for v, e in self.failed],
        }


def expand_inputs(inputs: list[str], root: str | os.PathLike | None = None) -> list[ManifestEntry]:
    """Video paths and manifests (``.csv``) as one list of entries. A directory is kept as an
    entry, so it fails as that one item of the batch rather than stopping it. ``root`` confines
    the paths that manifests name (see :func:`read_manifest`)."""
    entries: list[ManifestEntry] = []
    for item in inputs:
        if item.lower().endswith(".csv") and os.path.isfile(item):
            entries.extend(read_manifest(item, root=root))
        else:
            entries.append(ManifestEntry(video_id=item, path=Path(item).absolute()))
    return entries


def extract_one(entry: ManifestEntry, cache: FeatureCache, *, retry_failed: bool = False,
                decode_processes: int = 1) -> tuple[str, str | None]:
    """Features of one video into ``cache``, its video decoded by ``decode_processes`` processes
    (see :func:`extract_clip_features`). Returns ``(outcome, error)`` with outcome one of
    ``"done"``, ``"skipped"`` (already cached) or ``"failed"``; never raises for a bad video."""
    path = str(entry.path)
    try:
        if os.path.isdir(path):
            raise VideoError(entry.video_id, "is a directory, not a video file")
        if not os.path.exists(path):
            raise VideoError(entry.video_id, "no such file")
        key = digest(path, size=16)
    except OSError as err:
        return "failed", f"{entry.video_id}: {err.strerror or err}"
    except VideoError as err:
        return "failed", str(err)
    known = cache.lookup(key)
    if known is not None and (known["status"] == "ok" or not retry_failed):
        return ("skipped", None) if known["status"] == "ok" else ("failed", known["error"])
    try:
        stream = extract_clip_features(path, cache.config, video_id=entry.video_id, processes=decode_processes)
        t0 = time.perf_counter()
        cache.write(
            key,
            entry.video_id,
            stream,
            lambda: {"label": entry.label, "split": entry.split, "seconds": time.perf_counter() - t0, **stream.meta.to_json()},
        )
        return "done", None
    except VideoError as err:
        error = f"{entry.video_id}: {err.cause}"
    except ScsamplerError as err:
        error = f"{entry.video_id}: {err}"
    except (RuntimeError, ValueError, MemoryError) as err:
        # A decoder state we did not foresee: record it for this video and let the batch go on.
        log.debug("unexpected failure on %s", path, exc_info=True)
        error = f"{entry.video_id}: {type(err).__name__}: {' '.join(str(err).split())}"
    cache.put_error(key, entry.video_id, error)
    return "failed", error


def _worker_init():
    import torch

    torch.set_num_threads(1)


def _work(args):
    entry, root, config, retry, processes = args
    cache = FeatureCache(root, config)
    return entry.video_id, *extract_one(entry, cache, retry_failed=retry, decode_processes=processes)


def extract_many(
    inputs: list[str] | list[ManifestEntry],
    cache_root: str | os.PathLike,
    config: ExtractorConfig = ExtractorConfig(),
    *,
    workers: int = 1,
    retry_failed: bool = False,
    progress: bool = True,
    root: str | os.PathLike | None = None,
    decode_processes: int = 1,
) -> ExtractSummary:
    """Cheap features of every input into the cache at ``cache_root``; a summary of the outcome is
    also written next to the features (``<settings-key>/last-run.json``). ``workers`` processes
    take a video each, or ``decode_processes`` decode each video in chunks (the same features);
    a worker decodes its videos in one process."""
    entries = inputs if inputs and isinstance(inputs[0], ManifestEntry) else expand_inputs(list(inputs), root)
    cache = FeatureCache(cache_root, config)
    summary = ExtractSummary()
    jobs = [(e, cache_root, config, retry_failed, decode_processes) for e in entries]
    bar = tqdm(total=len(jobs), desc="extract", unit="video", disable=not progress)
    try:
        if workers > 1 and len(jobs) > 1:
            ctx = mp.get_context("spawn")
            with ctx.Pool(workers, initializer=_worker_init) as pool:
                for video_id, outcome, error in pool.imap_unordered(_work, jobs):
                    _record(summary, video_id, outcome, error, bar)
        else:
            for job in jobs:
                _record(summary, *_work(job), bar)
    except KeyboardInterrupt:
        # Every finished video is already in the cache (each entry is written atomically); say
        # what was done and let the caller report the interruption. A rerun skips the done ones.
        summary.interrupted = True
    finally:
        bar.close()
        atomic_write_json(cache.root / "last-run.json", summary.to_json())
    return summary


def _record(summary: ExtractSummary, video_id: str, outcome: str, error: str | None, bar) -> None:
    if outcome == "failed":
        summary.failed.append((video_id, error))
    else:
        getattr(summary, outcome).append(video_id)
    bar.update()
