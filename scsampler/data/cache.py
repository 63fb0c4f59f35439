"""The feature cache: cheap features per video, keyed by the file's content and the extractor's settings.

Layout under the cache root::

    <settings-key>/settings.json                 the ExtractorConfig of the first run (the fallback's
                                                 settings aside: each decoded-motion file records its own)
    <settings-key>/<hh>/<content-hash>.json      metadata; written last, so its presence means done
    <settings-key>/<hh>/<content-hash>/00000.safetensors ...   shards of a bounded size (below)

Shards keep memory bounded for long videos: the writer flushes every ``shard_clips`` clips or
``shard_mib`` MiB of features, whichever comes first. A clip count alone does not bound memory:
a clip of 160x128 video holds about 0.6 MiB of float32 features (RGB-R dominates), so 600 clips
are about 400 MiB before packing, and a 5-minute video never filled such a shard while a long one did. Every
file is written to a temporary name and renamed, so a killed run leaves no half entry. Failures are
cached too (``status: "error"``) so a batch does not retry a file whose bytes have not changed.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import torch
from safetensors import safe_open
from safetensors.torch import save_file

from scsampler.features.extractor import QUARTER_RES_FALLBACK, UNRECORDED_FALLBACK, ClipFeatures, ExtractorConfig
from scsampler.files import atomic_path, atomic_write_json, digest

# Bump when the meaning of stored features changes, so old caches are not mixed with new ones.
FEATURE_FORMAT = 1


def content_hash(path: str | os.PathLike) -> str:
    """Deprecated alias of ``scsampler.files.digest(path, size=16)``, the caches' key of a video file."""
    return digest(path, size=16)


def settings_key(config: ExtractorConfig) -> str:
    """The cache directory's key: the extractor's settings with the decoded-motion fallback's as
    they were when they were part of it (so that caches made then keep their keys). Only files
    without motion vectors depend on them, and those are checked file by file instead (lookup)."""
    keyed = dataclasses.replace(config, **QUARTER_RES_FALLBACK)
    return digest(json.dumps({"format": FEATURE_FORMAT, **keyed.to_json()}, sort_keys=True).encode())


def features_key(config: ExtractorConfig, motion: bool = True) -> str:
    """The key of what is computed from a cache's features (a scorer's cached scores): the settings
    key, and where ``motion`` (what is computed reads MD or RGB-R) the decoded-motion fallback's
    settings, unless they are those files without a record were made with (so that keys made
    before they were recorded stay the same)."""
    key = settings_key(config)
    if motion and config.fallback != UNRECORDED_FALLBACK:
        key += "-" + digest(json.dumps(config.fallback, sort_keys=True).encode())
    return key


class FeatureCache:
    def __init__(self, root: str | os.PathLike, config: ExtractorConfig, *, shard_clips: int = 600, shard_mib: float = 64):
        self.config = config
        self.root = Path(root) / settings_key(config)
        self.shard_clips = shard_clips
        self.shard_bytes = int(shard_mib * 2**20)
        self.root.mkdir(parents=True, exist_ok=True)
        settings = self.root / "settings.json"
        if not settings.exists():
            # The first user's settings; files of the decoded-motion fallback record their own.
            atomic_write_json(settings, {"format": FEATURE_FORMAT, **config.to_json()})

    def _meta_path(self, digest: str) -> Path:
        return self.root / digest[:2] / f"{digest}.json"

    def lookup(self, digest: str) -> dict | None:
        """The stored metadata for content ``digest`` (``status`` "ok" or "error"), or None: also
        for features whose motion came from the decoded-motion fallback under other settings than
        this cache's (they are extracted again, and replace those)."""
        p = self._meta_path(digest)
        if not p.exists():
            return None
        try:
            meta = json.loads(p.read_text())
        except (OSError, json.JSONDecodeError):
            return None  # unreadable metadata: treat as not cached
        if meta.get("motion_source") == "decoded" and meta.get("fallback", UNRECORDED_FALLBACK) != self.config.fallback:
            return None
        return meta

    def put_error(self, digest: str, video_id: str, error: str) -> None:
        atomic_write_json(self._meta_path(digest), {"status": "error", "video_id": video_id, "error": error})

    def write(self, digest: str, video_id: str, clips, meta_fn) -> dict:
        """Store the clips of an iterable of :class:`ClipFeatures`, shard by shard; then the
        metadata, ``meta_fn()`` (called after the iterable is exhausted) plus the shard list."""
        shard_dir = self.root / digest[:2] / digest
        shard_dir.mkdir(parents=True, exist_ok=True)
        # An entry made under other fallback settings is replaced (lookup): its metadata goes first,
        # so that a write stopped halfway leaves no entry, never old metadata over new shards.
        self._meta_path(digest).unlink(missing_ok=True)
        shards, pending, pending_bytes, n = [], [], 0, 0
        for feats in clips:
            pending.append(feats)
            n += 1
            pending_bytes += sum(x.nbytes for x in (feats.md, feats.rgbr, feats.iframes, feats.audio) if x is not None)
            if len(pending) == self.shard_clips or pending_bytes >= self.shard_bytes:
                shards.append(self._write_shard(shard_dir, len(shards), pending))
                pending, pending_bytes = [], 0
        if pending:
            shards.append(self._write_shard(shard_dir, len(shards), pending))
        meta = {"status": "ok", "video_id": video_id, "num_clips": n, "shards": shards, **meta_fn()}
        atomic_write_json(self._meta_path(digest), meta)
        return meta

    def _write_shard(self, shard_dir: Path, k: int, clips: list[ClipFeatures]) -> str:
        name = f"{k:05d}.safetensors"
        tensors = pack_clips(clips)
        with atomic_path(shard_dir / name) as tmp:
            save_file(tensors, str(tmp))
        return f"{shard_dir.name}/{name}"

    def load(self, digest: str, keys: set[str] | None = None) -> dict[str, torch.Tensor]:
        """All shards of a cached video concatenated: see :func:`pack_clips` for the keys. With
        ``keys``, only those tensors (and ``clip_index``) are read from disk."""
        meta = self.lookup(digest)
        if meta is None or meta.get("status") != "ok":
            raise KeyError(digest)
        parts = []
        for shard in meta["shards"]:
            with safe_open(self.root / digest[:2] / shard, framework="pt") as f:
                wanted = [k for k in f.keys() if keys is None or k in keys or k == "clip_index"]
                parts.append({k: f.get_tensor(k) for k in wanted})
        return {k: torch.cat([p[k] for p in parts]) for k in parts[0]}


def pack_clips(clips: list[ClipFeatures]) -> dict[str, torch.Tensor]:
    """Ragged per-clip features as flat tensors plus the clip index of every row.

    Keys: ``clip_index (L,)``; ``md (N, 2, Hg, Wg)`` float16 with ``md_clip (N,)``; ``rgbr (M, 3, h, w)``
    float16 with ``rgbr_clip``; ``iframes (K, 3, h, w)`` uint8 with ``iframes_clip``; and, when the
    video has audio, ``audio (L, n_mels, n_frames)`` float16 with ``audio_coverage (L,)`` (0 where the
    window held no audio at all: such rows are zeros and must be masked, never used as features).
    """
    out = {"clip_index": torch.tensor([c.clip.index for c in clips], dtype=torch.int32)}
    for key, dtype in (("md", np.float16), ("rgbr", np.float16), ("iframes", np.uint8)):
        arrays = [getattr(c, key) for c in clips if getattr(c, key) is not None]
        if not arrays:
            continue
        owners = np.concatenate([np.full(len(getattr(c, key)), c.clip.index, np.int32) for c in clips if getattr(c, key) is not None])
        out[key] = torch.from_numpy(np.ascontiguousarray(np.concatenate(arrays), dtype=dtype))
        out[f"{key}_clip"] = torch.from_numpy(owners)
    if any(c.audio is not None for c in clips):
        ref = next(c.audio for c in clips if c.audio is not None)
        audio = np.stack([c.audio if c.audio is not None else np.zeros_like(ref) for c in clips])
        out["audio"] = torch.from_numpy(audio.astype(np.float16))
        out["audio_coverage"] = torch.tensor([c.audio_coverage if c.audio is not None else 0.0 for c in clips])
    return out
