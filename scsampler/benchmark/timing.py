"""Wall time: every selector on a few test videos through the one per-video path
(:func:`scsampler.pipeline.video.run_video`, what ``scsampler predict`` runs), every stage and
decoded frame counted. Nothing precomputed is used."""

from __future__ import annotations

import dataclasses
import logging

import torch

from scsampler.errors import ScsamplerError
from scsampler.pipeline.video import choose_clips, classify_chosen, run_video
from scsampler.runtime.classifier import ClipClassifier
from scsampler.selectors.base import ClipSelector

log = logging.getLogger(__name__)

STAGES = ("cheap", "sampler", "selection", "decode", "classify")


def time_selectors(selectors: list[tuple[ClipSelector, int]], classifier: ClipClassifier, videos, *, k: int, seed: int = 0,
                   errors: dict[str, str] | None = None) -> list[dict]:
    """Each ``(selector, stride)`` at ``k`` as a user runs it, on ``videos``: per-video wall time of
    each stage, the frames actually decoded and the selector's GFLOPs. Selectors take turns on each
    video, so a change in the machine's load affects them alike; the first video is run once untimed
    to warm up the decoder, the selector's networks and the convolution kernels. In that warm-up the
    classifier runs once per batch size, not once per selector: after the first selector that chose
    ten clips, classifying another ten teaches the kernels nothing (with a paper-size network that
    was half the cost of timing). A video a selector fails on is left out of its row and recorded
    in ``errors``."""
    if not videos:
        return []  # no timing videos: accuracy only
    index = {c: i for i, c in enumerate(classifier.classes)}
    totals = {i: {**dict.fromkeys(STAGES, 0.0), "frames": 0, "clips": 0, "gflops": 0.0, "videos": 0} for i in range(len(selectors))}
    gens = {i: torch.Generator().manual_seed(seed) for i in range(len(selectors))}
    warmed: set[int] = set()  # the batch sizes the classifier has been warmed up on
    for n, entry in enumerate([videos[0]] + list(videos)):
        for i, (selector, _) in enumerate(selectors):
            try:
                if n == 0:
                    _warm_up(entry, classifier, selector, k, gens[i], index, warmed)
                    continue
                res = run_video(entry.path, classifier, selector, k, generator=gens[i], video_id=entry.video_id,
                                label=index.get(entry.label))
            except ScsamplerError as err:
                if errors is not None and n > 0:
                    errors[f"{entry.video_id} ({selector.name})"] = str(err)
                log.warning("timing %s on %s: %s", selector.name, entry.video_id, err)
                continue
            t = totals[i]
            for key, v in res.seconds.items():
                t[key] += v
            t["frames"] += res.frames_decoded
            t["clips"] += res.clips_decoded
            t["gflops"] += res.selector_gflops
            t["videos"] += 1
    rows = []
    for i, (selector, stride) in enumerate(selectors):
        t = totals[i]
        m = max(t["videos"], 1)
        per_video = {key: t[key] / m for key in STAGES}
        total = sum(per_video.values())
        scoring = bool(selector.scorers or selector.needs.features or selector.needs.frames)
        rows.append({
            "strategy": selector.name,
            "k": k if selector.takes_k else None,
            "stride": stride,
            "videos": t["videos"],
            "seconds_per_video": per_video,
            "total_seconds_per_video": total,
            # The cost target: the cheap pass and the scorers, as a share of the pipeline.
            "cheap_share": (per_video["cheap"] + per_video["sampler"]) / total if total > 0 and scoring else None,
            "frames_decoded_per_video": t["frames"] / m,
            "clips_decoded_per_video": t["clips"] / m,
            "selector_gflops_per_video": t["gflops"] / m,
        })
    return rows


def _warm_up(entry, classifier: ClipClassifier, selector: ClipSelector, k: int, generator: torch.Generator,
             index: dict[str, int], warmed: set[int]) -> None:
    """The untimed first run of ``selector``: its whole selection (the same random draws as a full
    run), then the classification of only as many of its clips as make batches of a size the
    classifier has not run yet (``warmed``): a full batch and the last, partial one. Dense on a
    300-clip video warms up on 32 + 12 clips, not 300."""
    chosen = choose_clips(entry.path, classifier.grid, selector, k, classifier=classifier, generator=generator,
                          video_id=entry.video_id, label=index.get(entry.label))
    if chosen.dense is not None:
        return  # the selector classified every clip itself
    n, size = len(chosen.indices), classifier.batch_size
    for batch in sorted({size if n >= size else 0, n % size} - {0} - warmed):
        classify_chosen(entry.path, classifier, dataclasses.replace(chosen, indices=chosen.indices[:batch]))
        warmed.add(batch)
