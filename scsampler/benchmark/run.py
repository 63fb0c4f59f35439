"""The benchmark: every selection strategy on the same test videos, in one run, accuracy and cost side by side.

Stages (each cached, each timed):

1. dense scores: the classifier's probabilities for every clip of the test split (and of the train
   split when the empirical strategy needs the oracle's positions there);
2. accuracy: for each strategy and K, the video prediction is the mean of the selected clips'
   probabilities, read from the dense scores (the classifier is deterministic, so this equals
   classifying just those clips; a test checks it);
3. sampler scores (when samplers are given): each sampler scores every test clip from the cached
   cheap features (extracted into ``<cache>/features`` if missing), cached per sampler and video;
4. timing: on ``timing_videos`` test videos, each strategy runs the way a user runs it (probe or
   cheap pass + sampler, select, decode the chosen clips only, classify; samplers through
   :func:`scsampler.pipeline.video.run_video`, the code ``scsampler predict`` runs) and every
   stage and decoded frame is counted.

Strategy names: the baselines, the name of any sampler given in ``samplers`` (top-K by its scores),
and the audio-visual combinations, which use the samplers named ``visual`` and ``audio``.

Writes ``results.json`` and, generated from it, ``results.md`` and the plots.
"""

from __future__ import annotations

import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from scsampler.data.classes import dataset_paths
from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError
from scsampler.runtime.classifier import ClipClassifier, load_classifier, untrained_classifier
from scsampler.runtime.dense import dense_scores
from scsampler.benchmark.metrics import aggregate, salient_overlap, salient_share, topk_correct
from scsampler.pipeline.video import AV_STRATEGIES, Selection, choose, run_video
from scsampler.runtime.sampler import Sampler, load_sampler
from scsampler.io.decode import DecodeStats
from scsampler.models.classifier import ClipTransform
from scsampler.io.video import probe
from scsampler.selectors import fit_position_prior, get_strategy, select_oracle

log = logging.getLogger(__name__)

BASELINES = ("random", "uniform", "empirical", "front", "center", "end", "dense", "oracle")


@dataclass
class BenchmarkConfig:
    data: str
    classifier: str
    out: str
    strategies: tuple[str, ...] = BASELINES
    ks: tuple[int, ...] = (1, 2, 5, 10, 20)
    cache: str | None = None            # default: <out>/cache
    timing_videos: int = 8
    timing_k: int = 10
    random_trials: int = 5
    prior_bins: int = 20
    prior_videos: int = 64              # training videos the empirical prior is fitted on (0: all)
    seed: int = 0
    samplers: dict[str, str] = field(default_factory=dict)   # name -> sampler run directory
    strides: tuple[int, ...] = (1,)     # sampler strategies are also run scoring every N-th clip
    k_primes: tuple[int, ...] = (8,)    # av-union-list's K' values
    alpha_score: float = 0.9            # av-convex-score
    alpha_list: float = 0.8             # av-convex-list
    device: str = "cpu"                 # where the classifier runs
    # Also time the pipeline with this architecture at a user's input size, untrained (timing only:
    # its predictions are not used), on the first timing_arch_videos test videos.
    timing_arch: str | None = None
    timing_arch_input: tuple[int, int, int] = (16, 112, 112)   # frames, crop height, crop width
    timing_arch_videos: int = 3
    timing_arch_strategies: tuple[str, ...] = ()               # () = all strategies
    timing_strides: tuple[int, ...] = (1,)  # the sampler strategies are timed at each of these strides


class StageTimer:
    """``with timer("name"): ...`` adds the block's wall time to ``timer.seconds["name"]``."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    @contextmanager
    def __call__(self, name: str):
        log.info("stage %s ...", name)
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - t0
            log.info("stage %s: %.1f s", name, self.seconds[name])


def select(strategy: str, num_clips: int, k: int, *, probs: torch.Tensor, label: int, generator, prior) -> torch.Tensor:
    """The clips ``strategy`` picks. Only the oracle looks at the true label's probabilities."""
    scores = probs[:, label] if strategy == "oracle" else None
    return get_strategy(strategy)(num_clips, k, scores=scores, generator=generator, prior=prior)


def evaluate_accuracy(config, classifier, test, dense, segments, priors, gflops_clip: float) -> list[dict]:
    """One row per (strategy, K): accuracy, clips classified, localisation, GFLOPs per video."""
    index = {c: i for i, c in enumerate(classifier.classes)}
    clip_s = float(classifier.grid.clip_duration)
    rows = []
    for strategy in config.strategies:
        ks = [0] if strategy == "dense" else list(config.ks)
        trials = config.random_trials if strategy == "random" else 1
        for k in ks:
            top1, top5, clips, overlap = [], [], [], []
            for trial in range(trials):
                gen = torch.Generator().manual_seed(config.seed * 1000 + trial)
                for entry in test:
                    probs = dense[entry.video_id].probs
                    label = index[entry.label]
                    idx = select(strategy, len(probs), k, probs=probs, label=label, generator=gen, prior=priors.get(k))
                    video = aggregate(probs, idx)
                    top1.append(topk_correct(video, label, 1))
                    top5.append(topk_correct(video, label, 5))
                    clips.append(len(idx))
                    if entry.video_id in segments:
                        overlap.append(salient_overlap(idx, clip_s, segments[entry.video_id]["segments"]))
            per_trial = np.array(top1, dtype=float).reshape(trials, -1).mean(axis=1)
            rows.append({
                "strategy": strategy,
                "k": k if strategy != "dense" else None,
                "top1": float(np.mean(top1)),
                "top1_std_over_trials": float(per_trial.std()) if trials > 1 else None,
                "top5": float(np.mean(top5)),
                "clips_per_video": float(np.mean(clips)),
                "classifier_gflops_per_video": float(np.mean(clips)) * gflops_clip,
                "cheap_gflops_per_video": 0.0,
                "salient_fraction_of_chosen": float(np.mean(overlap)) if overlap else None,
            })
    return rows


def run_pipeline(strategy: str, k: int, classifier: ClipClassifier, entry, label: int, *, generator, prior) -> dict:
    """One video through a baseline strategy the way a user runs it: seconds per stage, frames
    decoded and the predicted class. Nothing precomputed is used."""
    t0 = time.perf_counter()
    num_clips = classifier.grid.num_clips(probe(entry.path).duration)  # baselines need only the length
    t1 = time.perf_counter()
    if strategy == "oracle":
        # The oracle needs the true-class probability of every clip: it costs dense evaluation.
        chosen = torch.arange(num_clips)
    else:
        chosen = select(strategy, num_clips, k, probs=None, label=label, generator=generator, prior=prior)
    t2 = time.perf_counter()
    stats = DecodeStats()
    rgb = classifier.decode(entry.path, chosen.tolist(), stats)
    t3 = time.perf_counter()
    probs = classifier.probabilities(rgb)
    if strategy == "oracle":
        probs = probs[select_oracle(num_clips, k, scores=probs[:, label])]
    video = probs.mean(dim=0)
    t4 = time.perf_counter()
    return {
        "seconds": {"cheap": t1 - t0, "sampler": 0.0, "selection": t2 - t1, "decode": t3 - t2, "classify": t4 - t3},
        "frames_decoded": stats.frames_decoded,
        "clips_decoded": len(chosen),
        "prediction": int(video.argmax()),
    }


def time_pipeline(config, classifier: ClipClassifier, test, priors, samplers: dict[str, Sampler] | None = None) -> list[dict]:
    """Each strategy at ``timing_k`` as a user runs it, on the first ``timing_videos`` test videos:
    per-video wall time of each stage and the frames actually decoded. Strategies take turns on each
    video, so a change in the machine's load affects them alike; the first video is run once
    untimed to warm up the decoder and the convolution kernels."""
    index = {c: i for i, c in enumerate(classifier.classes)}
    videos = test[: config.timing_videos]
    if not videos:
        return []  # timing_videos = 0: accuracy only
    k = config.timing_k
    samplers = samplers or {}
    stages = ("cheap", "sampler", "selection", "decode", "classify")
    # What is timed: each baseline once, each sampler strategy at every timing stride.
    runs = [(s, n) for s in config.strategies for n in ((1,) if s in BASELINES else config.timing_strides)]
    totals = {r: {**{st: 0.0 for st in stages}, "frames": 0, "clips": 0} for r in runs}
    gens = {s: torch.Generator().manual_seed(config.seed) for s in config.strategies}
    for n, entry in enumerate([videos[0]] + videos):
        for strategy, stride in runs:
            if strategy in BASELINES:
                r = run_pipeline(strategy, k, classifier, entry, index[entry.label], generator=gens[strategy], prior=priors.get(k))
            else:
                kp = config.k_primes[0] if config.k_primes else 8
                res = run_video(entry.path, classifier, _sampler_selection(strategy, k, samplers, config, stride=stride, k_prime=kp),
                                _sampler_roles(strategy, samplers), video_id=entry.video_id)
                r = {"seconds": res.seconds, "frames_decoded": res.frames_decoded, "clips_decoded": res.clips_decoded}
            if n == 0:
                continue  # warm-up
            t = totals[(strategy, stride)]
            for key, v in r["seconds"].items():
                t[key] += v
            t["frames"] += r["frames_decoded"]
            t["clips"] += r["clips_decoded"]
    rows = []
    m = len(videos)
    for (strategy, stride), t in totals.items():
        per_video = {key: t[key] / m for key in stages}
        total = sum(per_video.values())
        rows.append({
            "strategy": strategy,
            "k": None if strategy == "dense" else k,
            "stride": stride,
            "videos": len(videos),
            "seconds_per_video": per_video,
            "total_seconds_per_video": total,
            # The cost target: the cheap pass and the samplers, as a share of the pipeline.
            "cheap_share": (per_video["cheap"] + per_video["sampler"]) / total if total > 0 and strategy not in BASELINES else None,
            "frames_decoded_per_video": t["frames"] / m,
            "clips_decoded_per_video": t["clips"] / m,
        })
    return rows


@dataclass
class SamplerScores:
    scores: torch.Tensor                 # (L,) saliency, nan where not scored
    rows_per_clip: dict[str, float]      # feature -> network evaluations per clip (frames scored)


def sampler_scores(sampler: Sampler, entries, cache_root: Path, *, workers: int = 1, progress: bool = True) -> tuple[dict[str, SamplerScores], dict[str, str]]:
    """The sampler's scores for every clip of ``entries``, from the cached cheap features
    (extracted if missing); cached under ``<cache>/scores/<sampler key>``."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    from scsampler.data.cache import FeatureCache, content_hash
    from scsampler.data.extraction import extract_many
    from scsampler.runtime.sampler import PACKED, packed_keys
    from scsampler.features.extractor import ExtractorConfig

    extractor = ExtractorConfig.from_json(sampler.config["extractor"])
    summary = extract_many(entries, cache_root / "features", extractor, workers=workers, progress=progress)
    errors = {v: e for v, e in summary.failed}
    fcache = FeatureCache(cache_root / "features", extractor)
    out: dict[str, SamplerScores] = {}
    for entry in entries:
        if entry.video_id in errors:
            continue
        digest = content_hash(entry.path)
        path = cache_root / "scores" / sampler.key / digest[:2] / f"{digest}.safetensors"
        if path.exists():
            with safe_open(str(path), framework="pt") as f:
                out[entry.video_id] = SamplerScores(f.get_tensor("scores"), json.loads(f.metadata()["rows_per_clip"]))
            continue
        packed = fcache.load(digest, keys=packed_keys(sampler.features))
        n = len(packed["clip_index"])
        scores = sampler.score(packed, n)
        rows = {}
        for feature in sampler.features:
            if feature == "audio":
                rows[feature] = float((packed.get("audio_coverage", torch.zeros(n)) > 0).float().mean()) if n else 0.0
            else:
                owner = packed.get(PACKED[feature][1], torch.zeros(0, dtype=torch.int32)).long()
                per = torch.bincount(owner, minlength=n).float() if len(owner) else torch.zeros(n)
                if sampler.frames_per_clip > 0:
                    per = per.clamp(max=sampler.frames_per_clip)
                rows[feature] = float(per.mean()) if n else 0.0
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        save_file({"scores": scores.contiguous()}, str(tmp), metadata={"rows_per_clip": json.dumps(rows), "video_id": entry.video_id})
        tmp.replace(path)
        out[entry.video_id] = SamplerScores(scores, rows)
    return out, errors


def _sampler_selection(strategy: str, k: int, samplers: dict[str, Sampler], config: BenchmarkConfig, *, stride: int = 1, k_prime: int = 8) -> Selection:
    if strategy in samplers:
        return Selection(strategy=samplers[strategy].modality, k=k, stride=stride)
    alpha = config.alpha_score if strategy == "av-convex-score" else config.alpha_list if strategy == "av-convex-list" else None
    return Selection(strategy=strategy, k=k, stride=stride, k_prime=k_prime, alpha=alpha)


def _sampler_roles(strategy: str, samplers: dict[str, Sampler]) -> dict[str, Sampler]:
    """The samplers a strategy runs, by the role the pipeline gives them."""
    if strategy in samplers:
        return {samplers[strategy].modality: samplers[strategy]}
    return {"visual": samplers["visual"], "audio": samplers["audio"]}


def evaluate_sampler_accuracy(config, classifier, test, dense, segments, samplers, scored, gflops_clip: float,
                              flops: dict[str, dict[str, int]]) -> list[dict]:
    """Rows of the sampler strategies (each at every K and stride; av-union-list at every K')."""
    index = {c: i for i, c in enumerate(classifier.classes)}
    clip_s = float(classifier.grid.clip_duration)
    rows = []
    for strategy in config.strategies:
        if strategy not in samplers and strategy not in AV_STRATEGIES:
            continue
        roles = _sampler_roles(strategy, samplers)
        names = {role: (strategy if strategy in samplers else role) for role in roles}
        k_primes = config.k_primes if strategy == "av-union-list" else (None,)
        for stride in config.strides:
            for kp in k_primes:
                for k in config.ks:
                    sel = _sampler_selection(strategy, k, samplers, config, stride=stride, k_prime=kp or 8)
                    top1, top5, clips, overlap, cheap = [], [], [], [], []
                    for entry in test:
                        if any(entry.video_id not in scored[n] for n in names.values()):
                            continue
                        probs = dense[entry.video_id].probs
                        label = index[entry.label]
                        n_clips = len(probs)
                        scores = {role: scored[n][entry.video_id].scores[:n_clips] for role, n in names.items()}
                        if len(scores) == 1 and not torch.isfinite(next(iter(scores.values()))).any():
                            continue  # nothing to rank by (an audio sampler on a video without audio): not a row of guesses
                        idx = choose(sel, n_clips, scores)
                        video = aggregate(probs, idx)
                        top1.append(topk_correct(video, label, 1))
                        top5.append(topk_correct(video, label, 5))
                        clips.append(len(idx))
                        n_scored = len(range(0, n_clips, stride))
                        cheap.append(sum(
                            n_scored * sum(flops[n][f] * scored[n][entry.video_id].rows_per_clip.get(f, 0.0) for f in flops[n])
                            for n in names.values()) / 1e9)
                        if entry.video_id in segments:
                            overlap.append(salient_overlap(idx, clip_s, segments[entry.video_id]["segments"]))
                    if not top1:
                        continue
                    rows.append({
                        "strategy": strategy,
                        "k": k,
                        "stride": stride,
                        "k_prime": kp,
                        "top1": float(np.mean(top1)),
                        "top1_std_over_trials": None,
                        "top5": float(np.mean(top5)),
                        "clips_per_video": float(np.mean(clips)),
                        "classifier_gflops_per_video": float(np.mean(clips)) * gflops_clip,
                        "cheap_gflops_per_video": float(np.mean(cheap)),
                        "salient_fraction_of_chosen": float(np.mean(overlap)) if overlap else None,
                        "videos": len(top1),
                    })
    return rows


def run_benchmark(config: BenchmarkConfig, *, progress: bool = True) -> dict:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest, _ = dataset_paths(config.data)
    cache = Path(config.cache) if config.cache else manifest.parent / "cache"
    known = BASELINES + tuple(config.samplers) + (AV_STRATEGIES if {"visual", "audio"} <= set(config.samplers) else ())
    unknown = [s for s in config.strategies if s not in known]
    if unknown:
        raise ConfigError(f"unknown strategies: {', '.join(unknown)}; known: {', '.join(known)}"
                          + ("" if {"visual", "audio"} <= set(config.samplers) else " (the audio-visual ones need samplers named visual and audio)"))
    if config.timing_arch:
        from scsampler.models.registry import list_models

        if config.timing_arch not in list_models("classifier"):
            raise ConfigError(f"--timing-arch {config.timing_arch!r}: not a classifier; known: {', '.join(list_models('classifier'))}")
        if len(config.timing_arch_input) != 3 or min(config.timing_arch_input) < 1:
            raise ConfigError(f"--timing-arch-input must be frames,height,width, got {','.join(map(str, config.timing_arch_input))}")
    if min(config.strides + config.timing_strides) < 1:
        raise ConfigError(f"strides must be >= 1, got {', '.join(map(str, config.strides + config.timing_strides))}")
    timer = StageTimer()
    samplers = {name: load_sampler(run) for name, run in config.samplers.items()}
    for role in ("visual", "audio"):
        if role in samplers and samplers[role].modality != role:
            raise ConfigError(f"sampler {role!r} ({config.samplers[role]}) is a {samplers[role].modality} sampler")
    classifier = load_classifier(config.classifier, device=config.device)
    test = read_manifest(manifest, split="test")
    if not test:
        raise ConfigError(f"{manifest}: no videos in the test split")
    seg_path = manifest.parent / "segments.json"
    segments = json.loads(seg_path.read_text()) if seg_path.exists() else {}

    with timer("dense_test"):
        dense, errors = dense_scores(classifier, test, cache, progress=progress, desc="dense (test)")
    test = [e for e in test if e.video_id in dense]
    priors: dict[int, torch.Tensor] = {}
    if "empirical" in config.strategies:
        train = read_manifest(manifest, split="train")
        if config.prior_videos > 0:
            train = train[: config.prior_videos]  # labels are shuffled in a generated manifest
        with timer("dense_train"):
            dense_train, train_errors = dense_scores(classifier, train, cache, progress=progress, desc="dense (train)")
        errors.update(train_errors)
        index = {c: i for i, c in enumerate(classifier.classes)}
        for k in set(config.ks) | {config.timing_k}:
            chosen = [
                (len(r.probs), select_oracle(len(r.probs), k, scores=r.probs[:, index[e.label]]))
                for e in train if (r := dense_train.get(e.video_id)) is not None
            ]
            priors[k] = fit_position_prior(chosen, bins=config.prior_bins)
    gflops_clip = classifier.flops_per_clip() / 1e9  # one forward pass under the FLOP counter
    sampler_flops = {name: s.flops_per_row() for name, s in samplers.items()}  # FLOPs of one evaluation per feature
    scored: dict[str, dict[str, SamplerScores]] = {}
    for name, sampler in samplers.items():
        with timer(f"sampler_{name}"):
            scored[name], sampler_errors = sampler_scores(sampler, test, cache, progress=progress)
        errors.update(sampler_errors)
    baseline_config = replace(config, strategies=tuple(s for s in config.strategies if s in BASELINES))
    with timer("accuracy"):
        rows = evaluate_accuracy(baseline_config, classifier, test, dense, segments, priors, gflops_clip)
        rows += evaluate_sampler_accuracy(config, classifier, test, dense, segments, samplers, scored, gflops_clip, sampler_flops)
    with timer("timing"):
        timing = time_pipeline(config, classifier, test, priors, samplers)
    timing_arch = None
    if config.timing_arch:
        frames, ch, cw = config.timing_arch_input
        big = untrained_classifier(config.timing_arch, classifier.classes, grid=classifier.grid, device=config.device,
                                   transform=ClipTransform.torchvision(frames, (ch, cw)))
        strategies = config.timing_arch_strategies or config.strategies
        big_config = replace(config, timing_videos=config.timing_arch_videos, strategies=tuple(strategies))
        with timer("timing_arch"):
            timing_arch = {"classifier": {"name": big.name, "transform": big.transform.to_json(), "gflops_per_clip": big.flops_per_clip() / 1e9,
                                          "weights": "untrained (timing only)"},
                           "timing": time_pipeline(big_config, big, test, priors, samplers)}
    clip_s = float(classifier.grid.clip_duration)
    lengths = [len(dense[e.video_id].probs) for e in test]
    results = {
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "samplers": {name: {"run": config.samplers[name], "modality": s.modality, "loss": s.loss, "features": list(s.features),
                            "arch": s.config.get("arch"), "gflops_per_row": {f: v / 1e9 for f, v in sampler_flops[name].items()}}
                     for name, s in samplers.items()},
        "classifier": {
            "name": classifier.name,
            "transform": classifier.transform.to_json(),
            "gflops_per_clip": gflops_clip,
            "train": classifier.config.get("train"),
        },
        "test_videos": len(test),
        "mean_clips_per_video": float(np.mean(lengths)),
        "salient_share_of_clips": float(np.mean([salient_share(n, clip_s, segments[e.video_id]["segments"]) for e, n in zip(test, lengths) if e.video_id in segments])) if segments else None,
        "rows": rows,
        "timing": timing,
        "timing_arch": timing_arch,
        "errors": errors,
        "stage_seconds": timer.seconds,
    }
    (out / "results.json").write_text(json.dumps(results, indent=1) + "\n")
    from scsampler.reports.tables import write_report

    write_report(results, out)
    return results
