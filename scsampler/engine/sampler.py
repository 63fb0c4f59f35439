"""Training a sampler (SCSampler section 3.2) from cached cheap features and the classifier's dense
probabilities on the training split.

- AC: the sampler is a C-way action classifier of single frames (visual) or clips (audio), every
  clip labelled with its video's label;
- SAL-CL: binary "salient" labels: the top ``K_tr`` clips of each training video under the
  classifier's true-class probability (``K_tr = k_tr * L``; 1/2 visual, 1/4 audio by default);
- SAL-RANK: eq. 2, a hinge over pairs of clips of one video ordered by the classifier's true-class
  probability: ``max(0, eta - z (s_i - s_j))`` with ``z = +1`` when clip i scores higher.

Videos with several labels (a manifest's ``labels`` column) use all of them. AC then trains with
binary cross-entropy over the classes, every clip's target the video's labels (``ac_loss``, chosen
as the classifier's loss is: ``"auto"`` takes it when some training video has several labels,
:func:`scsampler.engine.classifier.training_loss`). SAL-CL and SAL-RANK rank the clips by the
probability of the best of the video's labels, the oracle's rule
(:func:`scsampler.selectors.ranking.true_class_scores`). One label a video trains as before.

Features become network input as at run time: :class:`scsampler.runtime.sampler.InputNorm` (each
visual feature at one grid; with ``input_norm`` ``"video"``, MD divided by the video's own mean motion) and
:func:`scsampler.runtime.sampler.prepare`, whatever the training videos' resolution and codec.

SAL-CL and SAL-RANK can also learn without labels (``target``, :func:`clip_targets`): a clip's
target is then the classifier's own output, its maximum class probability (``confidence``) or its
probability of the video's dense prediction (``agreement``), and the manifest's labels are never read.

The visual sampler trains one network per feature (MD, RGB-R, IF) on single frames; a clip's score
averages its frames' and then its features' scores at test time (:mod:`scsampler.runtime.sampler`).
A run directory holds ``nets/<feature>.safetensors``, ``config.json`` and ``curve.json``.

Features come from the feature cache (``<cache>/features``; extracted here if missing) and the dense
probabilities from ``<cache>/dense`` (scored here if missing), so every stage is reused by a rerun.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from scsampler.data.cache import FeatureCache
from scsampler.data.classes import dataset_paths
from scsampler.data.extraction import extract_many
from scsampler.engine.classifier import training_loss
from scsampler.engine.loop import Step, shuffled, train
from scsampler.engine.runs import is_finished_run, run_identity
from scsampler.data.manifest import ManifestEntry, read_manifest
from scsampler.errors import ConfigError
from scsampler.files import atomic_write_json, digest
from scsampler.runtime.classifier import load_classifier
from scsampler.runtime.dense import dense_scores
from scsampler.runtime.sampler import LOSSES, PACKED, VISUAL_FEATURES, InputNorm, choose_rows, packed_keys, prepare, saliency
from scsampler.selectors.ranking import true_class_scores
from scsampler.features.extractor import ExtractorConfig, without_fallback
from scsampler.models.registry import create_model, list_models
from scsampler.models.weights import load_weights, save_run

log = logging.getLogger(__name__)

MODALITIES = {"visual": VISUAL_FEATURES, "audio": ("audio",)}
DEFAULT_ARCH = {"visual": "resnet18", "audio": "vgg_audio"}
DEFAULT_K_TR = {"visual": 0.5, "audio": 0.25}
# What SAL-CL and SAL-RANK rank a video's clips by (see clip_targets); only "label" reads the labels.
TARGETS = ("label", "confidence", "agreement")
# How features reach the networks (InputNorm): "resize" (the default), each visual feature at the grid of
# most training videos with MD in its pixels (divided by 8); "video", that grid and MD divided by the
# video's mean motion; "none", as stored (every run before input_norm existed).
INPUT_NORMS = ("resize", "video", "none")
# AC's loss (as the classifier's): ce on the main label, bce over all the labels, auto = bce when some
# training video has several labels.
AC_LOSSES = ("auto", "ce", "bce")


def default_cache(data: str | Path) -> Path:
    """The cache shared by extract, dense scoring, training and the benchmark: ``<data>/cache``."""
    manifest, _ = dataset_paths(data)
    return manifest.parent / "cache"


@dataclass
class SamplerTrainConfig:
    data: str                                   # data directory or manifest (train split used)
    classifier: str                             # classifier run: its dense probabilities label the clips
    out: str                                    # run directory
    modality: str = "visual"
    features: tuple[str, ...] = ("md", "rgbr")
    arch: str | None = None                     # default: resnet18 (visual), vgg_audio (audio)
    loss: str = "ac"
    ac_loss: str = "auto"                       # AC only: auto, ce (the main label) or bce (all the labels)
    target: str = "label"                       # SAL-CL / SAL-RANK clip target: label, confidence, agreement
    k_tr: float | None = None                   # SAL-CL positives per video, as a fraction of its clips
    margin: float = 0.2                         # SAL-RANK's eta
    epochs: int = 6
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 1e-4
    train_frames_per_clip: int = 2              # frames kept per clip for training (memory bound)
    eval_frames_per_clip: int = 2               # frames scored per clip and feature at test time; 0 = all (the paper)
    input_norm: str = "resize"                  # resize, video or none (INPUT_NORMS)
    init_from: str | None = None                # a sampler run to start from (same arch and features)
    freeze_backbone: bool = False               # train only the last layer (Table 6's variant)
    cache: str | None = None                    # default: <data>/cache
    workers: int = 1                            # for extracting missing features
    seed: int = 0
    extractor: dict = field(default_factory=dict)  # ExtractorConfig overrides (must match extraction)

    def __post_init__(self):
        if self.modality not in MODALITIES:
            raise ConfigError(f"modality must be one of {', '.join(MODALITIES)}, got {self.modality!r}")
        self.features = tuple(self.features) if self.modality == "visual" else ("audio",)
        bad = [f for f in self.features if f not in MODALITIES[self.modality]]
        if bad or not self.features:
            raise ConfigError(f"{self.modality} sampler features must be among {', '.join(MODALITIES[self.modality])}, got {', '.join(bad) or 'none'}")
        if self.loss not in LOSSES:
            raise ConfigError(f"loss must be one of {', '.join(LOSSES)}, got {self.loss!r}")
        if self.ac_loss not in AC_LOSSES:
            raise ConfigError(f"ac_loss must be one of {', '.join(AC_LOSSES)}, got {self.ac_loss!r}")
        if self.target not in TARGETS:
            raise ConfigError(f"target must be one of {', '.join(TARGETS)}, got {self.target!r}")
        if self.input_norm not in INPUT_NORMS:
            raise ConfigError(f"input_norm must be one of {', '.join(INPUT_NORMS)}, got {self.input_norm!r}")
        if self.ac_loss != "auto" and self.loss != "ac":
            raise ConfigError(f"ac_loss {self.ac_loss} applies to loss ac only, not {self.loss}")
        if self.loss == "ac" and self.target != "label":
            raise ConfigError(f"loss ac learns the videos' labels; target {self.target} needs loss sal-cl or sal-rank")
        self.arch = self.arch or DEFAULT_ARCH[self.modality]
        if self.arch not in list_models("sampler"):
            raise ConfigError(f"unknown sampler architecture {self.arch!r}; known: {', '.join(list_models('sampler'))}")
        if self.k_tr is None:
            self.k_tr = DEFAULT_K_TR[self.modality]
        if not 0 < self.k_tr <= 1:
            raise ConfigError(f"k_tr must be a fraction in (0, 1], got {self.k_tr}")
        if self.freeze_backbone and not self.init_from:
            raise ConfigError("freeze_backbone needs init_from: a trained sampler whose backbone to keep")

    def extractor_config(self) -> ExtractorConfig:
        return ExtractorConfig.from_json(self.extractor) if self.extractor else ExtractorConfig()


# -- the training set -----------------------------------------------------------------------------
@dataclass
class TrainSet:
    """Rows of one feature for training: inputs ``x (N, ...)``, the clip of each row ``clip (N,)``
    (global clip number), and per global clip: ``video (M,)``, ``label (M,)`` (the video's main
    label; -1 when trained without labels), ``target (M,)`` (:func:`clip_targets`), ``salient (M,)``
    (SAL-CL's pseudo-label) and, for AC with binary cross-entropy, ``labels (M, C)``: the video's
    labels, multi-hot."""

    x: torch.Tensor
    clip: torch.Tensor
    video: torch.Tensor
    label: torch.Tensor
    target: torch.Tensor
    salient: torch.Tensor
    labels: torch.Tensor | None = None
    scale: torch.Tensor | None = None           # (N,) what each row's MD is divided by (InputNorm.scale); None: 8


def oracle_labels(targets: torch.Tensor, k_tr: float) -> torch.Tensor:
    """SAL-CL pseudo-labels of one video: 1 for its top ``max(1, round(k_tr * L))`` clips by
    ``targets (L,)`` (:func:`clip_targets`)."""
    n = len(targets)
    k = max(1, min(n, int(round(k_tr * n))))
    out = torch.zeros(n)
    out[torch.sort(targets, descending=True, stable=True).indices[:k]] = 1
    return out


def video_labels(label: int | tuple[int, ...] | None) -> tuple[int, ...]:
    """A video's class indices, the main one first: ``label`` as one index or all of them; () for none."""
    if label is None:
        return ()
    return tuple(int(x) for x in label) if isinstance(label, (tuple, list)) else (int(label),)


def clip_targets(probs: torch.Tensor, target: str, label: int | tuple[int, ...] | None = None) -> torch.Tensor:
    """``(L,)`` saliency targets of one video's clips from the classifier's probabilities ``(L, C)``:

    - ``label``: the probability of the video's ``label`` (the paper's oracle, section 3.2); for a
      video with several (``label``: their indices), the highest among them, as the oracle ranks
      (:func:`scsampler.selectors.ranking.true_class_scores`);
    - ``confidence``: the clip's maximum class probability;
    - ``agreement``: the clip's probability of the video's dense prediction, the argmax of the
      mean of all its clips' probabilities (the first class on a tie).

    Only ``label`` uses ``label``; the other two need none."""
    if target == "label":
        labels = video_labels(label)
        if not labels:
            raise ConfigError("target label needs the video's label")
        # With one label the maximum is that column itself: the same numbers as probs[:, label].
        return true_class_scores(probs, labels).float()
    if target == "confidence":
        return probs.float().max(dim=1).values
    if target == "agreement":
        dense = int(probs.float().mean(dim=0).argmax())  # the video's dense prediction
        return probs[:, dense].float()
    raise ConfigError(f"unknown sampler target {target!r}; known: {', '.join(TARGETS)}")


def build_trainset(config: SamplerTrainConfig, feature: str, videos: list[tuple[dict, torch.Tensor, int | tuple[int, ...] | None]],
                   rng: np.random.Generator, ac_loss: str = "ce", norm: InputNorm | None = None) -> TrainSet:
    """``videos``: (packed features, dense probabilities (L, C), label: its index, or the indices of
    all the video's labels, main first, or None) per training video. ``ac_loss`` ``"bce"`` adds the
    multi-hot ``labels`` that AC's binary cross-entropy learns (:func:`training_ac_loss`). ``norm``:
    the rows' resizing and MD's per-video scale (default: features as stored), computed on the rows
    the sampler will score at test time (``eval_frames_per_clip`` of every clip)."""
    norm = norm or InputNorm()
    xs, clips, vid, lab, tgt, sal, multi, scales = [], [], [], [], [], [], [], []
    base = 0
    for v, (packed, probs, label) in enumerate(videos):
        n = len(probs)
        labels = video_labels(label)
        target = clip_targets(probs, config.target, label)
        if feature == "audio":
            if "audio" in packed:
                rows = torch.nonzero(packed["audio_coverage"] > 0).flatten()
                xs.append(packed["audio"][rows])
                clips.append(packed["clip_index"][rows].long() + base)
        else:
            key, clip_key = PACKED[feature]
            if key in packed and len(packed[key]):
                owner = packed[clip_key].long()
                x = norm.resize(feature, packed[key])
                # The per-video scale (InputNorm.scale) of the rows the sampler scores at test time.
                scale = (norm.scale(feature, x[choose_rows(owner, torch.ones(n, dtype=torch.bool), config.eval_frames_per_clip)])
                         if norm.per_video(feature) else None)
                keep = _subsample_rows(owner, config.train_frames_per_clip, rng)
                xs.append(x[keep])
                clips.append(owner[keep] + base)
                if scale is not None:
                    scales.append(torch.full((len(keep),), scale))
        vid.append(torch.full((n,), v))
        lab.append(torch.full((n,), labels[0] if labels else -1))
        tgt.append(target)
        sal.append(oracle_labels(target, config.k_tr))
        if ac_loss == "bce":
            hot = torch.zeros(n, probs.shape[1])  # (L, C): every clip carries all the video's labels
            hot[:, list(labels)] = 1.0
            multi.append(hot)
        base += n
    if not xs:
        raise ConfigError(f"no {feature} features in the training videos (is there audio / were they extracted with {feature}?)")
    sizes = sorted({tuple(x.shape[1:]) for x in xs})
    if len(sizes) > 1:
        raise ConfigError(f"the training videos' {feature} rows differ in size ({', '.join('x'.join(map(str, z)) for z in sizes)}): "
                          "train with input_norm video or resize")
    return TrainSet(torch.cat(xs), torch.cat(clips), torch.cat(vid), torch.cat(lab), torch.cat(tgt), torch.cat(sal),
                    torch.cat(multi) if multi else None, torch.cat(scales) if scales else None)


def training_norm(mode: str, features, videos: list[tuple[dict, torch.Tensor, object]]) -> InputNorm:
    """The :class:`InputNorm` of ``mode`` (:data:`INPUT_NORMS`) for training on ``videos``: each visual
    feature at the grid of most of them (ties: the first video's)."""
    if mode == "none":
        return InputNorm()
    grid = {}
    for feature in features:
        key = PACKED.get(feature, (None,))[0]
        sizes = Counter(tuple(p[key].shape[-2:]) for p, _, _ in videos if key in p and len(p[key]))
        if sizes:
            grid[feature] = sizes.most_common(1)[0][0]
    return InputNorm(grid=grid, motion="video-mean" if mode == "video" and "md" in grid else "pixels")


def _rows_scale(ts: TrainSet, rows: torch.Tensor) -> torch.Tensor | None:
    return None if ts.scale is None else ts.scale[rows]


def _subsample_rows(owner: torch.Tensor, per_clip: int, rng: np.random.Generator) -> torch.Tensor:
    """At most ``per_clip`` random rows of each clip (all when ``per_clip`` <= 0)."""
    if per_clip <= 0:
        return torch.arange(len(owner))
    order = torch.from_numpy(rng.permutation(len(owner)))
    # Rank of each row among its clip's rows in the random order: keep the first per_clip.
    o = owner[order]
    sort = torch.sort(o, stable=True)
    ranks = torch.empty_like(o)
    starts = torch.searchsorted(sort.values, sort.values, right=False)
    ranks[sort.indices] = torch.arange(len(o)) - starts
    return torch.sort(order[ranks < per_clip]).values


# -- losses ---------------------------------------------------------------------------------------
def rank_loss(s_i: torch.Tensor, s_j: torch.Tensor, z: torch.Tensor, margin: float) -> torch.Tensor:
    """Eq. 2 of the paper as a margin ranking hinge: ``max(0, margin - z (s_i - s_j))``."""
    return F.relu(margin - z * (s_i - s_j)).mean()


def pair_batches(ts: TrainSet, batch_size: int, rng: np.random.Generator):
    """Pairs of rows from the same video whose clips' targets differ: for each
    row in a random order, a random partner row of the same video. Yields (rows_i, rows_j, z)."""
    row_video = ts.video[ts.clip].numpy()
    by_video: dict[int, np.ndarray] = {}
    order_v = np.argsort(row_video, kind="stable")
    bounds = np.searchsorted(row_video[order_v], np.arange(row_video.max() + 2))
    for v in range(len(bounds) - 1):
        by_video[v] = order_v[bounds[v] : bounds[v + 1]]
    target = ts.target[ts.clip].numpy()
    rows = rng.permutation(len(row_video))
    half = max(1, batch_size // 2)
    for b in range(0, len(rows), half):
        ri = rows[b : b + half]
        rj = np.array([by_video[row_video[r]][rng.integers(len(by_video[row_video[r]]))] for r in ri])
        z = np.sign(target[ri] - target[rj])
        keep = z != 0
        if keep.any():
            yield torch.from_numpy(ri[keep]), torch.from_numpy(rj[keep]), torch.from_numpy(z[keep]).float()


def train_network(config: SamplerTrainConfig, feature: str, ts: TrainSet, num_classes: int, progress: bool, init: Path | None) -> tuple[torch.nn.Module, list[dict]]:
    """A network for ``feature`` trained on ``ts`` with ``config``'s loss (in eval mode) and its curve."""
    num_outputs = num_classes if config.loss == "ac" else 1
    net = create_model(config.arch, feature=feature, num_outputs=num_outputs)
    if init is not None:
        load_weights(net, init, skip_mismatched_head=True)
    modules, params = [net], None
    if config.freeze_backbone:
        head = _last_linear(net)
        for p in net.parameters():
            p.requires_grad_(False)
        for p in head.parameters():
            p.requires_grad_(True)
        modules, params = [], list(head.parameters())
        net.eval()  # frozen batch-norm statistics too
    rng = np.random.default_rng(config.seed)
    n = len(ts.clip)
    per_epoch = math.ceil(n / config.batch_size) if config.loss != "sal-rank" else math.ceil(n / max(1, config.batch_size // 2))

    def batches(epoch: int):
        if config.loss == "sal-rank":
            return pair_batches(ts, config.batch_size, rng)
        return shuffled(n, config.batch_size, rng)

    curve = train(modules, batches, lambda batch: _sampler_step(config, feature, net, ts, batch), params=params,
                  epochs=config.epochs, steps_per_epoch=per_epoch, lr=config.lr, weight_decay=config.weight_decay,
                  desc=f"train {config.modality} sampler ({feature}, {config.loss})", progress=progress)
    return net.eval(), curve


def _sampler_step(config: SamplerTrainConfig, feature: str, net: torch.nn.Module, ts: TrainSet, batch) -> Step:
    """The loss of ``config.loss`` on one batch (rows, or SAL-RANK's pairs ``(rows_i, rows_j, z)``), and
    the number of correct predictions (pairs ordered right, for SAL-RANK) as ``accuracy``."""
    if config.loss == "sal-rank":
        ri, rj, z = batch
        both = torch.cat([ri, rj])
        out = net(prepare(feature, ts.x[both], _rows_scale(ts, both)))[:, 0]
        loss = rank_loss(out[: len(ri)], out[len(ri) :], z, config.margin)
        return Step(loss, len(ri), {"accuracy": int(((out[: len(ri)] - out[len(ri) :]) * z > 0).sum())})
    clips = ts.clip[batch]
    out = net(prepare(feature, ts.x[batch], _rows_scale(ts, batch)))
    if config.loss == "ac" and ts.labels is not None:  # y (B, C) multi-hot; right when the top class is one of them
        y = ts.labels[clips]
        right = int(y[torch.arange(len(batch)), out.argmax(1)].sum())
        return Step(F.binary_cross_entropy_with_logits(out, y), len(batch), {"accuracy": right})
    if config.loss == "ac":
        y = ts.label[clips]
        return Step(F.cross_entropy(out, y), len(batch), {"accuracy": int((out.argmax(1) == y).sum())})
    y = ts.salient[clips]
    loss = F.binary_cross_entropy_with_logits(out[:, 0], y)
    return Step(loss, len(batch), {"accuracy": int(((out[:, 0] > 0).float() == y).sum())})


def _last_linear(net: torch.nn.Module) -> torch.nn.Module:
    last = None
    for m in net.modules():
        if isinstance(m, torch.nn.Linear):
            last = m
    if last is None:
        raise ConfigError("freeze_backbone: the network has no linear layer to train")
    return last


def training_entries(manifest: Path, target: str) -> list[ManifestEntry]:
    """The manifest's train split. Trained without labels, a manifest with no split at all (a
    user's folder of videos, one ``path`` column) gives all its videos."""
    entries = read_manifest(manifest, split="train")
    if not entries and target != "label":
        every = read_manifest(manifest)
        if not any(e.split for e in every):
            entries = every
    if not entries:
        raise ConfigError(f"{manifest}: no videos in the train split")
    return entries


def training_ac_loss(config: SamplerTrainConfig) -> str | None:
    """AC's loss, ``"ce"`` or ``"bce"``, decided as the classifier's is (``"auto"``: bce when some
    video of the train split has several labels); None for SAL-CL and SAL-RANK."""
    if config.loss != "ac":
        return None
    manifest, _ = dataset_paths(config.data)
    return training_loss(config.ac_loss, training_entries(manifest, config.target))


def load_training_videos(config: SamplerTrainConfig, progress: bool, features: tuple[str, ...] | None = None):
    """(packed features, dense probabilities, label indices: the video's labels, main first) of every
    usable training video (None instead of the indices when ``config.target`` needs no label: the
    labels are not read), the class list, and the errors of the ones left out. Only ``features``
    (default: the config's) are read from the cache."""
    manifest, _ = dataset_paths(config.data)
    entries = training_entries(manifest, config.target)
    cache_root = Path(config.cache) if config.cache else default_cache(config.data)
    classifier = load_classifier(config.classifier)
    index = {c: i for i, c in enumerate(classifier.classes)}
    extractor = config.extractor_config()
    summary = extract_many(entries, cache_root / "features", extractor, workers=config.workers, progress=progress)
    errors = {v: e for v, e in summary.failed}
    dense, dense_errors = dense_scores(classifier, entries, cache_root, progress=progress, desc="dense (train)")
    errors.update(dense_errors)
    fcache = FeatureCache(cache_root / "features", extractor)
    videos = []
    keys = packed_keys(features or config.features)
    for e in entries:
        if e.video_id in errors or e.video_id not in dense:
            continue
        unknown = [x for x in e.labels or (None,) if x not in index] if config.target == "label" else []
        if unknown:
            raise ConfigError(f"{manifest}: label {unknown[0]!r} of {e.video_id} is not one of the classifier's classes")
        packed = fcache.load(digest(e.path, size=16), keys=keys)
        probs = dense[e.video_id].probs
        if len(packed["clip_index"]) != len(probs):
            errors[e.video_id] = f"{e.video_id}: {len(packed['clip_index'])} clips of features but {len(probs)} of dense scores"
            continue
        videos.append((packed, probs, tuple(index[x] for x in e.labels) if config.target == "label" else None))
    return videos, classifier.classes, errors, extractor


def _identity(config: SamplerTrainConfig) -> dict:
    manifest, _ = dataset_paths(config.data)
    # The default target and AC loss are left out, so that runs trained before they existed are still
    # reused ("auto" is decided by the manifest, whose digest is there).
    drop = ("out", "workers") + (("target",) if config.target == "label" else ()) + (("ac_loss",) if config.ac_loss == "auto" else ())
    drop += ("input_norm",) if config.input_norm == "none" else ()  # "none" trains as every run before it
    return run_identity(config, drop=drop,
                        files={"manifest_sha": manifest, "classifier_sha": Path(config.classifier) / "model.safetensors"})


def _same_run(run: Path, config: SamplerTrainConfig) -> bool:
    return is_finished_run(run, _identity(config), [run / "nets" / f"{f}.safetensors" for f in config.features])


def fit_sampler(config: SamplerTrainConfig, *, progress: bool = True, reuse: bool = True) -> Path:
    """Train the sampler of ``config``; returns its run directory. With ``reuse``, a run directory
    already trained with the same settings, data and classifier is returned as it is."""
    torch.manual_seed(config.seed)
    run = Path(config.out)
    if reuse and _same_run(run, config):
        log.info("%s: already trained with these settings, reusing it", run)
        return run
    t0 = time.perf_counter()
    videos, classes, errors, extractor = load_training_videos(config, progress)
    if not videos:
        raise ConfigError(f"no usable training videos ({len(errors)} failed; first: {next(iter(errors.values()), '')})")
    prepare_s = time.perf_counter() - t0
    loss = training_ac_loss(config)
    rng = np.random.default_rng(config.seed)
    norm = training_norm(config.input_norm, config.features, videos)
    nets, curves, shapes = {}, {}, {}
    for feature in config.features:
        ts = build_trainset(config, feature, videos, rng, ac_loss=loss or "ce", norm=norm)
        shapes[feature] = list(prepare(feature, ts.x[:1]).shape[1:])
        init = Path(config.init_from) / "nets" / f"{feature}.safetensors" if config.init_from else None
        nets[feature], curves[feature] = train_network(config, feature, ts, len(classes), progress, init)
    saved = {
        "kind": "sampler",
        "modality": config.modality,
        "loss": config.loss,
        **({"ac_loss": loss} if loss else {}),  # AC's outputs: a softmax (ce) or a sigmoid per class (bce)
        "features": list(config.features),
        "arch": {f: config.arch for f in config.features},
        "num_outputs": len(classes) if config.loss == "ac" else 1,
        "classes": list(classes),
        "input_shapes": shapes,
        "input_norm": norm.to_json(),   # per feature: the training grid, MD's motion unit ({}: as stored)
        "eval_frames_per_clip": config.eval_frames_per_clip,
        "extractor": extractor.to_json(),
        "train": json.loads(json.dumps(asdict(config))),
        "identity": _identity(config),
        "training_videos": len(videos),
        "skipped_videos": errors,
        "seconds": {"prepare": prepare_s, "train": sum(c["seconds"] for cs in curves.values() for c in cs)},
    }
    atomic_write_json(run / "curve.json", curves, sort_keys=False)
    return save_sampler_run(run, nets, saved)


def save_sampler_run(run: str | Path, nets: dict[str, torch.nn.Module | str | Path], config: dict) -> Path:
    """A sampler run directory: ``nets/<feature>.safetensors`` per network (a module, or a weights file
    to copy) and ``config.json``, written last and atomically (:func:`scsampler.models.weights.save_run`)."""
    return save_run(run, {f"nets/{feature}.safetensors": net for feature, net in nets.items()}, config)


@dataclass
class JointTrainConfig:
    """AV-joint-training (section 3.3.3): a visual and an audio sampler, both trained with SAL-RANK,
    fine-tuned together on the mean of their scores. The result is one sampler of modality
    ``audio-visual`` whose clip score is that mean."""

    data: str
    classifier: str
    visual: str                       # a visual sampler run (SAL-RANK)
    audio: str                        # an audio sampler run (SAL-RANK)
    out: str
    epochs: int = 2
    batch_size: int = 64
    lr: float = 1e-4
    margin: float = 0.2
    target: str = "label"             # what the pairs are ordered by (SamplerTrainConfig.target)
    cache: str | None = None
    workers: int = 1
    seed: int = 0


def fit_joint_sampler(config: JointTrainConfig, *, progress: bool = True) -> Path:
    """Fine-tune the two samplers of ``config`` jointly; returns the joint run directory."""
    from scsampler.runtime.sampler import load_sampler

    torch.manual_seed(config.seed)
    visual, audio = load_sampler(config.visual), load_sampler(config.audio)
    for run, sampler, modality in ((config.visual, visual, "visual"), (config.audio, audio, "audio")):
        if sampler.modality != modality or sampler.loss != "sal-rank":
            raise ConfigError(f"{run}: joint training needs a {modality} sampler trained with sal-rank, got a {sampler.modality} one with {sampler.loss}")
    base = SamplerTrainConfig(data=config.data, classifier=config.classifier, out=config.out, modality="visual",
                              features=visual.features, loss="sal-rank", target=config.target, cache=config.cache, workers=config.workers,
                              extractor=visual.config["extractor"], eval_frames_per_clip=visual.frames_per_clip)
    videos, classes, errors, _ = load_training_videos(base, progress, features=visual.features + ("audio",))
    rng = np.random.default_rng(config.seed)
    nets = {**{f: visual.nets[f] for f in visual.features}, "audio": audio.nets["audio"]}
    sets = {f: build_trainset(base, f, videos, rng, norm=visual.norm) for f in nets}  # the visual sampler's own input_norm
    ref = sets["audio"]
    # Clips that every network can score: per feature, the rows of each clip (CSR over clip ids).
    n_clips = len(ref.video)
    rows_of = {}
    eligible = torch.ones(n_clips, dtype=torch.bool)
    for f, ts in sets.items():
        order = torch.sort(ts.clip, stable=True)
        counts = torch.bincount(ts.clip, minlength=n_clips)
        starts = torch.cumsum(counts, 0) - counts
        rows_of[f] = (order.indices, starts, counts)
        eligible &= counts > 0
    clips = torch.nonzero(eligible).flatten().numpy()
    video_of = ref.video.numpy()
    by_video: dict[int, np.ndarray] = {}
    for c in clips:
        by_video.setdefault(int(video_of[c]), []).append(c)
    by_video = {v: np.array(c) for v, c in by_video.items()}

    def pick(f: str, cs: np.ndarray) -> torch.Tensor:
        """One random row of each clip of ``cs``, as network input."""
        idx, starts, counts = rows_of[f]
        cs_t = torch.from_numpy(cs)
        off = torch.from_numpy(rng.integers(0, 1 << 30, len(cs))) % counts[cs_t]
        rows = idx[starts[cs_t] + off]
        return prepare(f, sets[f].x[rows], _rows_scale(sets[f], rows))

    def score(cs: np.ndarray) -> torch.Tensor:
        vis = torch.stack([nets[f](pick(f, cs))[:, 0] for f in visual.features]).mean(dim=0)
        return 0.5 * (vis + nets["audio"](pick("audio", cs))[:, 0])

    half = max(1, config.batch_size // 2)
    target = ref.target.numpy()

    def batches(epoch: int):
        """Pairs of eligible clips of one video whose targets differ: (clips_i, clips_j, z)."""
        order = rng.permutation(clips)
        for b in range(0, len(order), half):
            ci = order[b : b + half]
            cj = np.array([by_video[int(video_of[c])][rng.integers(len(by_video[int(video_of[c])]))] for c in ci])
            z = np.sign(target[ci] - target[cj])
            keep = z != 0
            if keep.any():
                yield ci[keep], cj[keep], torch.from_numpy(z[keep]).float()

    def step(batch) -> Step:
        ci, cj, zt = batch
        si, sj = score(ci), score(cj)
        return Step(rank_loss(si, sj, zt, config.margin), len(ci), {"accuracy": int(((si - sj) * zt > 0).sum())})

    curve = train(list(nets.values()), batches, step, epochs=config.epochs, steps_per_epoch=math.ceil(len(clips) / half),
                  lr=config.lr, weight_decay=1e-4, desc="joint audio-visual fine-tuning", progress=progress)
    for net in nets.values():
        net.eval()
    saved = {
        **visual.config,
        "modality": "audio-visual",
        "loss": "sal-rank",
        "features": list(nets),
        "arch": {**visual.config["arch"], "audio": audio.config["arch"]["audio"]},
        "input_shapes": {**visual.config["input_shapes"], "audio": audio.config["input_shapes"]["audio"]},
        "train": json.loads(json.dumps(asdict(config))),
        "joint_from": {"visual": config.visual, "audio": config.audio},
        "training_videos": len(videos),
        "skipped_videos": errors,
    }
    saved.pop("identity", None)
    # The decoded-motion fallback's settings change no audio feature: the visual run's count.
    if without_fallback(visual.config.get("extractor", {})) != without_fallback(audio.config.get("extractor", {})):
        raise ConfigError("the visual and audio samplers were trained on features extracted with different settings")
    run = Path(config.out)
    atomic_write_json(run / "curve.json", curve, sort_keys=False)
    return save_sampler_run(run, nets, saved)


def compose_samplers(runs: list[str | Path], out: str | Path) -> Path:
    """One sampler whose clip score averages the features of several single-modality runs (e.g. an
    MD run and an RGB-R run -> MD + RGB-R), as section 3.3.1 combines its networks. The runs must
    share the modality and the loss; the networks are copied, not retrained."""
    configs = [json.loads((Path(r) / "config.json").read_text()) for r in runs]
    first = configs[0]
    for r, c in zip(runs, configs):
        if (c["modality"], c["loss"], c["num_outputs"]) != (first["modality"], first["loss"], first["num_outputs"]):
            raise ConfigError(f"{r}: a {c['modality']} / {c['loss']} sampler cannot be combined with a {first['modality']} / {first['loss']} one")
        # The composed run scores every network with one saliency (runtime.sampler.saliency): an AC network
        # trained with a softmax (ce) and one trained with a sigmoid per class (bce) cannot share it.
        if c.get("ac_loss", "ce") != first.get("ac_loss", "ce"):
            raise ConfigError(f"{r}: an ac sampler trained with {c.get('ac_loss', 'ce')} cannot be combined with one trained with "
                              f"{first.get('ac_loss', 'ce')}")
    combined = {**first, "features": [], "arch": {}, "input_shapes": {}, "input_norm": {}, "composed_from": [str(r) for r in runs]}
    combined.pop("identity", None)
    nets = {}
    for r, c in zip(runs, configs):
        for f in c["features"]:
            if f in combined["features"]:
                raise ConfigError(f"{r}: feature {f} is already in the combination")
            nets[f] = Path(r) / "nets" / f"{f}.safetensors"
            combined["features"].append(f)
            combined["arch"][f] = c["arch"][f]
            combined["input_shapes"][f] = c["input_shapes"][f]
            if f in c.get("input_norm", {}):  # each network keeps its own (none: a run from before input_norm)
                combined["input_norm"][f] = c["input_norm"][f]
    return save_sampler_run(out, nets, combined)


__all__ = ["AC_LOSSES", "INPUT_NORMS", "JointTrainConfig", "SamplerTrainConfig", "TARGETS", "clip_targets", "compose_samplers", "fit_joint_sampler", "fit_sampler", "oracle_labels", "rank_loss", "saliency", "save_sampler_run", "default_cache", "training_ac_loss"]
