"""The benchmark: every selector on the same test videos, in one run, accuracy and cost side by side.

Stages (each cached, each timed):

1. dense scores: the classifier's probabilities for every clip of the test split (and of the train
   split when the empirical selector needs the oracle's positions there);
2. scorer scores: each scorer of the selectors (a trained sampler, a training-free statistic) scores
   every test clip from the cached cheap features (extracted into ``<cache>/features`` if missing),
   cached per scorer and video (:mod:`scsampler.benchmark.scores`);
3. accuracy: each selector at each K, from those caches (:mod:`scsampler.benchmark.accuracy`);
4. timing: on ``timing_videos`` test videos, each selector through the one per-video path, the code
   ``scsampler predict`` runs (:mod:`scsampler.benchmark.timing`).

Strategy names: the registered selectors (:func:`scsampler.selectors.list_selectors`) and the name of
any sampler given in ``samplers`` (top-K by its scores); a registered selector built from trained
samplers (the audio-visual combinations) takes them by modality from the samplers named ``visual``
and ``audio``. With no strategies given: every registered selector that the given samplers allow.
``sampler_options`` gives a named sampler's selector its registered options (a trained selector's
``early_stop``, ``aggregation``): several variants of one run side by side, under other names.
A selector with its own recognition (Listen to Look) also gets ``"<name> own"`` rows.

Writes ``results.json`` and, generated from it, ``results.md`` and the plots.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from scsampler.benchmark.accuracy import evaluate_selector
from scsampler.benchmark.metrics import salient_share, segment_kinds
from scsampler.benchmark.scores import scorer_scores
from scsampler.benchmark.timing import time_selectors
from scsampler.data.cache import FeatureCache
from scsampler.data.classes import dataset_paths
from scsampler.data.extraction import extract_many
from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError
from scsampler.files import atomic_write_text, digest
from scsampler.models.classifier import ClipTransform
from scsampler.pipeline.video import shared_extractor
from scsampler.runtime.classifier import load_classifier, untrained_classifier
from scsampler.runtime.dense import dense_scores
from scsampler.runtime.sampler import Sampler, load_sampler
from scsampler.selectors import SELECTORS, ClipSelector, fit_position_prior, load_selector, select_oracle, true_class_scores
from scsampler.selectors.registry import trained_selector

log = logging.getLogger(__name__)


@dataclass
class BenchmarkConfig:
    data: str
    classifier: str
    out: str
    strategies: tuple[str, ...] = ()    # () = every registered selector the samplers allow, and the samplers
    ks: tuple[int, ...] = (1, 2, 5, 10, 20)
    cache: str | None = None            # default: <out>/cache
    timing_videos: int = 8
    timing_k: int = 10
    random_trials: int = 5
    prior_bins: int = 20
    prior_videos: int = 64              # training videos the empirical prior is fitted on (0: all)
    seed: int = 0
    samplers: dict[str, str] = field(default_factory=dict)   # name -> sampler run directory
    sampler_options: dict[str, dict] = field(default_factory=dict)   # sampler name -> its selector's options ({"early_stop": 3})
    strides: tuple[int, ...] = (1,)     # sampler strategies are also run scoring every N-th clip
    k_primes: tuple[int, ...] = (8,)    # av-union-list's K' values
    alpha: float | None = None          # av-convex-*: the visual weight (None: each one's default, 0.9 score / 0.8 list)
    device: str = "cpu"                 # where the classifier runs
    # Also time the pipeline with this architecture at a user's input size, untrained (timing only:
    # its predictions are not used), on the first timing_arch_videos test videos.
    timing_arch: str | None = None
    timing_arch_input: tuple[int, int, int] = (16, 112, 112)   # frames, crop height, crop width
    timing_arch_videos: int = 3
    timing_arch_strategies: tuple[str, ...] = ()               # () = all strategies
    timing_strides: tuple[int, ...] = (1,)  # the strategies that take a stride are timed at each of these


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


def default_strategies(sampler_names) -> tuple[str, ...]:
    """Every registered selector the named samplers allow, then each sampler by its name."""
    names = set(sampler_names)
    registered = tuple(n for n, spec in SELECTORS.items() if set(spec.samplers) <= names and not (spec.samplers and n in names)
                       and spec.run_kind is None)  # a trained selector (videoepitoma) comes as a named run
    return registered + tuple(n for n in sampler_names if n not in registered)


def build_selectors(config: "BenchmarkConfig", samplers: dict[str, Sampler], priors: dict[int, torch.Tensor],
                    strides: tuple[int, ...]) -> list[tuple[ClipSelector, int]]:
    """``(selector, stride)`` for every strategy of ``config``: a selector that scores clips once per
    stride (and av-union-list once per K'), the others once."""
    out = []
    for strategy in config.strategies:
        options = config.sampler_options.get(strategy, {})
        if strategy in config.samplers and strategy not in samplers:  # a trained selector's run (train-epitoma)
            out += [(_with_stride(load_selector(config.samplers[strategy], name=strategy, **options, stride=n), n), n)
                    for n in strides]
            continue
        if strategy in samplers:
            sampler = samplers[strategy]
            out += [(_with_stride(load_selector(sampler.modality, samplers={sampler.modality: sampler}, name=strategy, **options,
                                                stride=n), n), n) for n in strides]
            continue
        spec = SELECTORS[strategy]
        if not spec.samplers and "stride" not in spec.options:
            out.append((load_selector(strategy, priors=priors), 1))
            continue
        k_primes = config.k_primes if "k_prime" in spec.options else (None,)
        for n in strides:
            for kp in k_primes:
                out.append((load_selector(strategy, samplers=samplers, stride=n, k_prime=kp, alpha=config.alpha), n))
    return out


def _with_stride(selector: ClipSelector, stride: int) -> ClipSelector:
    if getattr(selector, "stride", stride) != stride:   # an option under another name (sparse) set it
        raise ConfigError(f"the {selector.name} strategy's options set its stride to {selector.stride}: give it as --stride")
    return selector


def check_sampler_options(config: "BenchmarkConfig", samplers: dict[str, Sampler]) -> None:
    """Each of ``config.sampler_options`` names a --sampler and only options its selector registers
    (the stride excepted: --stride sets it)."""
    for name, options in config.sampler_options.items():
        if name not in config.samplers:
            given = ", ".join(config.samplers) or "none given"
            raise ConfigError(f"--sampler-option {name}.*: {name} is not a --sampler NAME ({given})")
        spec = SELECTORS[trained_selector(config.samplers[name]) or samplers[name].modality]
        takes = [o for o in spec.options if o != "stride"]
        for key in options:
            if key not in takes:
                raise ConfigError(f"--sampler-option {name}.{key}: {key!r} is not an option of the {spec.name} selector "
                                  f"(it takes: {', '.join(takes) or 'none'}; the stride is --stride)")


def check_strategies(config: "BenchmarkConfig") -> None:
    known = set(SELECTORS) | set(config.samplers)
    unknown = [s for s in config.strategies if s not in known]
    if unknown:
        raise ConfigError(f"unknown strategies: {', '.join(unknown)}; known: {', '.join(list(SELECTORS) + list(config.samplers))}")
    for s in config.strategies:
        if s in config.samplers:
            continue
        missing = [m for m in SELECTORS[s].samplers if m not in config.samplers]
        if missing:
            raise ConfigError(f"strategy {s} needs samplers named {' and '.join(missing)} (--sampler {missing[0]}=RUN)")


def run_benchmark(config: BenchmarkConfig, *, progress: bool = True) -> dict:
    out = Path(config.out)
    out.mkdir(parents=True, exist_ok=True)
    manifest, _ = dataset_paths(config.data)
    cache = Path(config.cache) if config.cache else manifest.parent / "cache"
    if not config.strategies:
        config = replace(config, strategies=default_strategies(config.samplers))
    check_strategies(config)
    if config.timing_arch:
        from scsampler.models.registry import list_models

        if config.timing_arch not in list_models("classifier"):
            raise ConfigError(f"--timing-arch {config.timing_arch!r}: not a classifier; known: {', '.join(list_models('classifier'))}")
        if len(config.timing_arch_input) != 3 or min(config.timing_arch_input) < 1:
            raise ConfigError(f"--timing-arch-input must be frames,height,width, got {','.join(map(str, config.timing_arch_input))}")
    if min(config.strides + config.timing_strides) < 1:
        raise ConfigError(f"strides must be >= 1, got {', '.join(map(str, config.strides + config.timing_strides))}")
    timer = StageTimer()
    samplers = {name: load_sampler(run) for name, run in config.samplers.items() if not trained_selector(run)}
    for role in ("visual", "audio"):
        if role in samplers and samplers[role].modality != role:
            raise ConfigError(f"sampler {role!r} ({config.samplers[role]}) is a {samplers[role].modality} sampler")
    check_sampler_options(config, samplers)
    classifier = load_classifier(config.classifier, device=config.device)
    test = read_manifest(manifest, split="test")
    if not test:
        raise ConfigError(f"{manifest}: no videos in the test split")
    seg_path = manifest.parent / "segments.json"
    segments = json.loads(seg_path.read_text()) if seg_path.exists() else {}
    index = {c: i for i, c in enumerate(classifier.classes)}
    unknown = sorted({x for e in test for x in (e.labels or (None,))} - set(index), key=str)
    if unknown:
        raise ConfigError(f"{manifest}: test labels the classifier does not know: {', '.join(map(str, unknown[:5]))}")

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
        for k in set(config.ks) | {config.timing_k}:
            chosen = [
                (len(r.probs), select_oracle(len(r.probs), k, scores=true_class_scores(r.probs, [index[x] for x in e.labels])))
                for e in train if (r := dense_train.get(e.video_id)) is not None
            ]
            priors[k] = fit_position_prior(chosen, bins=config.prior_bins)
    gflops_clip = classifier.flops_per_clip() / 1e9  # one forward pass under the FLOP counter
    selectors = build_selectors(config, samplers, priors, config.strides)
    scores: dict[str, dict] = {}
    for selector, _ in selectors:
        for role, scorer in selector.scorers.items():
            if scorer.key in scores:
                continue
            with timer(f"scores_{scorer.name}"):
                scores[scorer.key], scorer_errors = scorer_scores(scorer, shared_extractor({role: scorer}, classifier), test, cache,
                                                                  progress=progress)
            errors.update(scorer_errors)
    features = _feature_views(selectors, classifier, test, cache, errors, timer, progress)
    clip_s = float(classifier.grid.clip_duration)
    labels = {e.video_id: tuple(index[x] for x in e.labels) for e in test}  # the main label first
    kinds = segment_kinds(segments) if segments else []
    with timer("accuracy"):
        rows = []
        for selector, stride in selectors:
            rows += evaluate_selector(selector, ks=list(config.ks), test=test, dense=dense, labels=labels, segments=segments,
                                      kinds=kinds, scores=scores, clip_s=clip_s, gflops_clip=gflops_clip,
                                      trials=config.random_trials, seed=config.seed, features=features, stride=stride,
                                      classes=classifier.classes, grid=classifier.grid)
    timing_videos = test[: config.timing_videos]
    timed = _first_k_prime(build_selectors(config, samplers, priors, config.timing_strides))
    with timer("timing"):
        timing = time_selectors(timed, classifier, timing_videos, k=config.timing_k, seed=config.seed, errors=errors)
    timing_arch = None
    if config.timing_arch:
        frames, ch, cw = config.timing_arch_input
        big = untrained_classifier(config.timing_arch, classifier.classes, grid=classifier.grid, device=config.device,
                                   transform=ClipTransform.torchvision(frames, (ch, cw)))
        wanted = set(config.timing_arch_strategies or config.strategies)
        with timer("timing_arch"):
            timing_arch = {"classifier": {"name": big.name, "transform": big.transform.to_json(), "gflops_per_clip": big.flops_per_clip() / 1e9,
                                          "weights": "untrained (timing only)"},
                           "timing": time_selectors([(s, n) for s, n in timed if s.name in wanted], big,
                                                    test[: config.timing_arch_videos], k=config.timing_k, seed=config.seed)}
    lengths = [len(dense[e.video_id].probs) for e in test]
    results = {
        "config": {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(config).items()},
        "samplers": {name: {"run": config.samplers[name], "modality": s.modality, "loss": s.loss, "features": list(s.features),
                            "arch": s.config.get("arch"), "gflops_per_row": {f: v / 1e9 for f, v in s.flops_per_row().items()}}
                     for name, s in samplers.items()},
        "selectors": [s.settings for s, _ in selectors],
        "classifier": {
            "name": classifier.name,
            "transform": classifier.transform.to_json(),
            "gflops_per_clip": gflops_clip,
            "train": classifier.config.get("train"),
        },
        "test_videos": len(test),
        "mean_clips_per_video": float(np.mean(lengths)),
        "salient_share_of_clips": float(np.mean([salient_share(n, clip_s, segments[e.video_id]["segments"]) for e, n in zip(test, lengths) if e.video_id in segments])) if segments else None,
        "kind_share_of_clips": _kind_share_of_clips(test, lengths, segments, kinds, clip_s),
        "rows": rows,
        "timing": timing,
        "timing_arch": timing_arch,
        "errors": errors,
        "stage_seconds": timer.seconds,
    }
    atomic_write_text(out / "results.json", json.dumps(results, indent=1) + "\n")
    from scsampler.reports.tables import write_report

    write_report(results, out)
    return results


def _feature_views(selectors, classifier, test, cache: Path, errors: dict, timer, progress: bool) -> dict:
    """For selectors that read cheap features clip by clip rather than through scorers (a sequential
    policy): the test videos' features extracted into the feature cache, and per video the
    (cache, digest) their benchmark view reads."""
    wanted = sorted({f for s, _ in selectors if not s.scorers for f in s.needs.features})
    if not wanted:
        return {}
    ext = dataclasses.replace(shared_extractor({}, classifier), features=tuple(wanted))
    with timer("features"):
        summary = extract_many(test, cache / "features", ext, progress=progress)
    errors.update({v: e for v, e in summary.failed})
    fcache = FeatureCache(cache / "features", ext)
    failed = {v for v, _ in summary.failed}
    return {e.video_id: (fcache, digest(e.path, size=16)) for e in test if e.video_id not in failed}


def _first_k_prime(timed: list[tuple[ClipSelector, int]]) -> list[tuple[ClipSelector, int]]:
    """Timing runs one K' of each selector that takes several (the first): K' does not change the cost."""
    seen, out = set(), []
    for s, n in timed:
        if (s.name, n) in seen:
            continue
        seen.add((s.name, n))
        out.append((s, n))
    return out


def _kind_share_of_clips(test, lengths, segments, kinds, clip_s) -> dict[str, float] | None:
    """Each segment kind's share of the test clips' seconds: what a selector blind to content gets."""
    from scsampler.benchmark.metrics import kind_shares

    shares = [kind_shares(range(n), clip_s, segments[e.video_id]["segments"], kinds) for e, n in zip(test, lengths) if e.video_id in segments]
    return {kind: float(np.mean([s[kind] for s in shares])) for kind in kinds} if shares else None
