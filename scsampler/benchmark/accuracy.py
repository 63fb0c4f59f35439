"""Accuracy of every selector from the benchmark's caches: for each selector and K, the video's
prediction is the mean of the chosen clips' probabilities, read from the dense scores (the
classifier is deterministic, so this equals classifying just those clips; a test checks it).
The selectors run through :class:`scsampler.benchmark.scores.CachedVideo`, the same selector code
as on a file. A selector whose choices carry its own class probabilities (Listen to Look's policy)
also gets a ``"<name> own"`` row per K from those, no clip classified."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from scsampler.benchmark.metrics import aggregate, kind_shares, mean_average_precision, salient_overlap, topk_correct
from scsampler.benchmark.scores import CachedScores, CachedVideo
from scsampler.errors import ConfigError
from scsampler.io.grid import ClipGrid
from scsampler.runtime.dense import DenseResult
from scsampler.selectors.base import CannotScore, ClipSelector


def evaluate_selector(selector: ClipSelector, *, ks, test, dense: dict[str, DenseResult], labels: dict[str, tuple[int, ...]],
                      segments: dict, kinds: list[str], scores: dict[str, dict[str, CachedScores]], clip_s: float,
                      gflops_clip: float, trials: int = 1, seed: int = 0, features: dict | None = None,
                      stride: int = 1, classes: Sequence[str] | None = None, grid: ClipGrid | None = None) -> list[dict]:
    """One row per K (one row for a selector that ignores K): top-1/top-5, mAP, clips classified, the
    selector's and the classifier's GFLOPs per video, and where the chosen clips lie (the share in
    salient segments, and in each segment kind). ``labels``: each video's class indices, its main
    label first; top-1 is right when the top class is any of them, and mAP is over the videos (per
    class, the videos ranked by their score; :func:`mean_average_precision`), averaged over the
    trials of a random selector. Videos the selector cannot score are left out of
    its rows (``videos`` counts the rest). ``features``: video id -> (feature cache, content digest),
    for a selector that reads cheap features clip by clip (a sequential policy); ``stride``: the stride
    the selector was built with (its rows' ``stride``, whatever its own name for it); ``classes``: the
    classifier's class names, onto which a selector's own probabilities are mapped by name; ``grid``:
    the classifier's clip grid, given to the views with each video's file for a selector that decodes
    frames of its own (VideoEpitoma's middle frames)."""
    rows = []
    scoring = bool(selector.scorers or selector.needs.features or selector.needs.frames)
    trials = trials if selector.stochastic else 1
    order = own_order(selector, classes)
    for k in (ks if selector.takes_k else [0]):
        clips, overlap, cheap, by_kind, predicted, own = [], [], [], [], [], []
        for trial in range(trials):
            gen = torch.Generator().manual_seed(seed * 1000 + trial)
            for entry in test:
                probs = dense[entry.video_id].probs
                if any(entry.video_id not in scores.get(s.key, {}) for s in selector.scorers.values()):
                    continue  # a scorer could not read this video (its error is recorded)
                if not selector.scorers and selector.needs.features and entry.video_id not in (features or {}):
                    continue  # its features could not be extracted (the error is recorded)
                label = labels[entry.video_id]
                view = CachedVideo(entry.video_id, probs, label=label[0], labels=label, generator=gen, scores=scores,
                                   features=(features or {}).get(entry.video_id), path=entry.path, grid=grid)
                try:
                    choice = selector.select(view, k)
                except CannotScore:
                    continue  # nothing to rank by (an audio sampler on a video without audio): not a row of guesses
                idx = choice.indices
                predicted.append((aggregate(probs, idx), label))
                if choice.probs is not None and order is not None:
                    own.append((choice.probs.float()[order], label))
                clips.append(len(idx))
                cheap.append(choice.gflops)
                if entry.video_id in segments:
                    segs = segments[entry.video_id]["segments"]
                    overlap.append(salient_overlap(idx, clip_s, segs))
                    by_kind.append(kind_shares(idx, clip_s, segs, kinds))
        if not predicted:
            continue
        row = {
            "strategy": selector.name,
            "k": k if selector.takes_k else None,
        }
        if scoring:
            row.update(stride=stride, k_prime=selector.settings.get("k_prime"))
        row.update(accuracy(predicted, trials))
        row.update({
            "clips_per_video": float(np.mean(clips)),
            "classifier_gflops_per_video": float(np.mean(clips)) * gflops_clip,
            "cheap_gflops_per_video": float(np.mean(cheap)),
            "salient_fraction_of_chosen": float(np.mean(overlap)) if overlap else None,
            "chosen_by_kind": {kind: float(np.mean([b[kind] for b in by_kind])) for kind in kinds} if by_kind else None,
        })
        if scoring:
            row["videos"] = len(predicted) // trials
        rows.append(row)
        if own and len(own) == len(predicted):
            # The selector's own recognition: nothing classified, its own cost only.
            rows.append({**row, "strategy": f"{selector.name} own", "own": selector.name, **accuracy(own, trials),
                         "clips_per_video": 0.0, "classifier_gflops_per_video": 0.0,
                         "salient_fraction_of_chosen": None, "chosen_by_kind": None})
    return rows


def accuracy(predicted: list[tuple[torch.Tensor, tuple[int, ...]]], trials: int = 1) -> dict:
    """Top-1, top-5 and mAP of ``(video probabilities (C,), labels)`` pairs, ``trials`` runs of the
    same videos one after the other (the spread of top-1 over them when more than one)."""
    top1 = [topk_correct(p, y, 1) for p, y in predicted]
    per_trial = np.array(top1, dtype=float).reshape(trials, -1).mean(axis=1)
    n = len(predicted) // trials
    maps = [mean_average_precision(torch.stack([p for p, _ in predicted[t * n : (t + 1) * n]]),
                                   [y for _, y in predicted[t * n : (t + 1) * n]]) for t in range(trials)]
    return {
        "top1": float(np.mean(top1)),
        "top1_std_over_trials": float(per_trial.std()) if trials > 1 else None,
        "top5": float(np.mean([topk_correct(p, y, 5) for p, y in predicted])),
        "map": float(np.mean(maps)),
    }


def own_order(selector: ClipSelector, classes: Sequence[str] | None) -> torch.Tensor | None:
    """For a selector with its own recognition (``selector.classes``), the index into its
    probabilities of each of the classifier's ``classes``; None for the others."""
    if selector.classes is None or classes is None:
        return None
    index = {c: i for i, c in enumerate(selector.classes)}
    missing = [c for c in classes if c not in index]
    extra = [c for c in selector.classes if c not in set(classes)]
    if missing or extra:
        which, names = ("lacks the classifier's", missing) if missing else ("has classes the classifier lacks:", extra)
        raise ConfigError(f"the {selector.name} selector {which} {', '.join(map(str, names[:5]))}: its own recognition "
                          "cannot be compared with the classifier's")
    return torch.tensor([index[c] for c in classes], dtype=torch.long)
