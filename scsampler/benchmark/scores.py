"""Cached per-clip scores of the test videos, one entry per scorer and video, and the
:class:`CachedVideo` view through which the benchmark's selectors read them.

A scorer (a trained sampler, a training-free statistic) scores every clip once from the cached
cheap features (extracted if missing); the scores are stored under ``<cache>/scores/<scorer key>``
with the network evaluations per clip that its FLOPs are counted from.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from scsampler.data.cache import FeatureCache, content_hash, features_key
from scsampler.data.extraction import extract_many
from scsampler.data.manifest import ManifestEntry
from scsampler.features.extractor import ExtractorConfig, reads_motion
from scsampler.files import atomic_path
from scsampler.io.grid import ClipGrid
from scsampler.runtime.sampler import PACKED, packed_keys, rows_per_clip
from scsampler.selectors.base import Scorer, Scores
from scsampler.selectors.combine import strided


@dataclass
class CachedScores:
    scores: torch.Tensor                 # (L,) nan where not scored
    rows_per_clip: dict[str, float]      # feature -> network evaluations per clip (frames scored)
    flops_per_row: dict[str, int] | None = None   # FLOPs of one evaluation per feature, on this video


def scorer_scores(scorer: Scorer, extractor: ExtractorConfig, entries: list[ManifestEntry], cache_root: Path, *,
                  workers: int = 1, progress: bool = True) -> tuple[dict[str, CachedScores], dict[str, str]]:
    """``scorer``'s scores of every clip of ``entries``, from the cached cheap features extracted
    with ``extractor`` (extracted if missing); cached under ``<cache>/scores/<scorer key>``.
    Returns the scores by video and the errors of the videos that could not be read."""
    extractor = dataclasses.replace(extractor, features=tuple(scorer.features)) \
        if set(scorer.features) - set(extractor.features) else extractor
    summary = extract_many(entries, cache_root / "features", extractor, workers=workers, progress=progress)
    errors = {v: e for v, e in summary.failed}
    fcache = FeatureCache(cache_root / "features", extractor)
    out: dict[str, CachedScores] = {}
    for entry in entries:
        if entry.video_id in errors:
            continue
        digest = content_hash(entry.path)
        path = cache_root / "scores" / f"{scorer.key}-{features_key(extractor, motion=reads_motion(scorer.features))}" / digest[:2] / f"{digest}.safetensors"
        if path.exists():
            with safe_open(str(path), framework="pt") as f:
                meta = f.metadata()
                out[entry.video_id] = CachedScores(f.get_tensor("scores"), json.loads(meta["rows_per_clip"]),
                                                   json.loads(meta.get("flops_per_row", "null")))
            continue
        packed = fcache.load(digest, keys=packed_keys(scorer.features))
        n = len(packed["clip_index"])
        scores = scorer.score(packed, n)
        rows = rows_per_clip(scorer.features, packed, n, scorer.frames_per_clip)
        flops = scorer.flops_per_row()
        with atomic_path(path) as tmp:
            save_file({"scores": scores.contiguous()}, str(tmp), metadata={
                "rows_per_clip": json.dumps(rows), "flops_per_row": json.dumps(flops), "video_id": entry.video_id})
        out[entry.video_id] = CachedScores(scores, rows, flops)
    return out, errors


class CachedVideo:
    """A :class:`scsampler.selectors.base.VideoView` of a test video from the benchmark's caches:
    the dense probabilities, the scorers' cached scores and the cached cheap features."""

    def __init__(self, video_id: str, probs: torch.Tensor, *, label: int | None, generator: torch.Generator | None,
                 scores: dict[str, dict[str, CachedScores]], features: tuple[FeatureCache, str] | None = None,
                 labels: Sequence[int] = (), path: str | os.PathLike | None = None, grid: ClipGrid | None = None):
        self.video_id = video_id
        self.num_clips = len(probs)
        self.has_audio = True        # the benchmark ranks by what the scorers could score (nan elsewhere)
        self.generator = generator
        self.label = label
        self.labels = tuple(labels) or ((label,) if label is not None else ())
        self._probs = probs
        self._scores = scores        # scorer key -> video id -> CachedScores
        self._features = features
        self.path = path             # the video file and the classifier's clip grid, for a selector that
        self.grid = grid             # decodes frames of its own (VideoEpitoma's middle frames)

    def scores(self, scorers: dict[str, Scorer], stride: int = 1) -> Scores:
        scored = strided(self.num_clips, stride)
        values, rows, flops = {}, {}, {}
        for role, scorer in scorers.items():
            cached = self._scores[scorer.key][self.video_id]
            full = torch.full((self.num_clips,), float("nan"))
            n = min(self.num_clips, len(cached.scores))   # a stream that ended early: the rest unscored
            full[:n] = cached.scores[:n]
            v = torch.full((self.num_clips,), float("nan"))
            v[scored] = full[scored]
            values[role] = v
            rows[role] = cached.rows_per_clip
            if cached.flops_per_row:
                flops[role] = cached.flops_per_row
        return Scores(values, rows, flops_per_row=flops)

    @property
    def content_key(self) -> str | None:
        """What a selector may memoise per-video work by: the benchmark asks about each video once per K
        (and trial), and work that depends on neither may be kept across those calls. The video's
        cached features' key (its file's content digest) when the view reads features, else its
        file's path, size and modification time when it names the file; None when it does neither.
        A file's own view (predict, the benchmark's wall time) has none, so it is never served
        another call's work."""
        if self._features is not None:
            return self._features[1]
        if self.path is not None:
            st = os.stat(self.path)
            return f"{os.fspath(self.path)}:{st.st_size}:{st.st_mtime_ns}"
        return None

    def features(self, features: Sequence[str], clips: Sequence[int]) -> dict[str, torch.Tensor]:
        if self._features is None:
            raise ValueError("no feature cache for this benchmark view")
        fcache, digest = self._features
        packed = fcache.load(digest, keys=packed_keys(features))
        return select_clips(packed, clips)

    def probs(self) -> torch.Tensor:
        return self._probs


def select_clips(packed: dict[str, torch.Tensor], clips: Sequence[int]) -> dict[str, torch.Tensor]:
    """The rows of a packed video (:func:`scsampler.data.cache.pack_clips`) that belong to ``clips``,
    clip numbers kept."""
    wanted = torch.as_tensor(sorted({int(c) for c in clips}), dtype=torch.long)
    owner_of = dict(PACKED.values())    # packed key -> its rows' clip key
    out = {}
    per_clip = packed["clip_index"].long()
    keep_clip = torch.isin(per_clip, wanted)
    for key, value in packed.items():
        if key in owner_of:
            out[key] = value[torch.isin(packed[owner_of[key]].long(), wanted)]
        elif key in owner_of.values():
            out[key] = value[torch.isin(value.long(), wanted)]
        elif value.shape[:1] == per_clip.shape:
            out[key] = value[keep_clip]
        else:
            out[key] = value
    return out
