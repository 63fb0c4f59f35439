"""A clip classifier's pooled feature and class distribution for every clip of a video, cached.

Listen to Look's distillation (the teacher's targets) and VideoEpitoma's end-to-end mode (the heavy
features of the timesteps) both need, for every clip of a training video, the clip classifier's
pooled feature: the input of its ``fc`` layer (512-d for torchvision's video ResNets), or what its
``forward_features`` returns. Both read it from one cache, ``<cache>/clip-outputs/<classifier key>``,
keyed by the file's content, so a video the one has scored costs the other nothing. Each entry holds
``features (L, D)`` and ``probs (L, C)`` (the softmax of the logits, what a distillation imitates),
float32, from one forward pass per batch (two for a model with ``forward_features``: it and the
whole model).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
from safetensors import safe_open
from safetensors.torch import save_file

from scsampler.data.manifest import ManifestEntry
from scsampler.errors import ConfigError
from scsampler.files import atomic_path, digest
from scsampler.io.video import probe
from scsampler.runtime.classifier import ClipClassifier

CACHE_DIR = "clip-outputs"


def _features_and_logits(model: nn.Module, x: torch.Tensor, *, logits: bool = True) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The pooled feature and (with ``logits``) the logits of ``x``: one forward pass with a hook on
    ``fc``; a model with ``forward_features`` runs it, and ``model(x)`` too only when the logits are wanted."""
    if hasattr(model, "forward_features"):
        return model.forward_features(x), (model(x) if logits else None)
    fc = getattr(model, "fc", None)
    if not isinstance(fc, nn.Linear):
        raise ConfigError(f"{type(model).__name__}: no forward_features and no fc layer to read the clip feature from")
    got = {}
    hook = fc.register_forward_pre_hook(lambda _m, args: got.__setitem__("x", args[0]))
    try:
        out = model(x)
    finally:
        hook.remove()
    return got["x"], (out if logits else None)


def pooled_features(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """A clip classifier's pooled feature of the transformed clips ``x``: ``forward_features``, else
    the input of its ``fc`` layer (torchvision's video ResNets: 512-d)."""
    return _features_and_logits(model, x, logits=False)[0]


@torch.inference_mode()
def clip_outputs(classifier: ClipClassifier, clips: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 ``(K, 3, T, H, W)`` decoded clips -> ``(K, D)`` pooled features and ``(K, C)`` softmax
    probabilities, in batches of the classifier's batch size."""
    model = classifier.model.eval()
    feats, probs = [], []
    for i in range(0, len(clips), classifier.batch_size):
        f, logits = _features_and_logits(model, classifier.transform(clips[i : i + classifier.batch_size].to(classifier.device)))
        feats.append(f.float().cpu())
        probs.append(torch.softmax(logits.float(), 1).cpu())
    if not feats:
        return torch.zeros(0, 0), torch.zeros(0, classifier.num_classes)
    return torch.cat(feats), torch.cat(probs)


def cached_clip_outputs(classifier: ClipClassifier, entry: ManifestEntry, cache_root: Path,
                        chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`clip_outputs` of every clip of ``entry``'s video, decoded ``chunk`` clips at a time and
    cached per video under ``<cache_root>/clip-outputs/<classifier key>``."""
    video = digest(entry.path, size=16)
    path = Path(cache_root) / CACHE_DIR / classifier.key / video[:2] / f"{video}.safetensors"
    if path.exists():
        with safe_open(str(path), framework="pt") as f:
            return f.get_tensor("features"), f.get_tensor("probs")
    n = classifier.grid.num_clips(probe(entry.path).duration)
    parts = [clip_outputs(classifier, classifier.decode(entry.path, list(range(i, min(n, i + chunk))))) for i in range(0, n, chunk)]
    feats, probs = torch.cat([p[0] for p in parts]), torch.cat([p[1] for p in parts])
    with atomic_path(path) as tmp:
        save_file({"features": feats.contiguous(), "probs": probs.contiguous()}, str(tmp), metadata={"video_id": entry.video_id})
    return feats, probs


__all__ = ["CACHE_DIR", "cached_clip_outputs", "clip_outputs", "pooled_features"]
