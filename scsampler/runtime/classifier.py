"""A clip classifier ready to run on decoded clips: model + input transform + clip grid + classes."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn as nn

from scsampler.data.classes import read_classes
from scsampler.errors import ConfigError
from scsampler.files import digest
from scsampler.io.decode import DecodeStats, decode_clips
from scsampler.io.grid import ClipGrid
from scsampler.models.classifier import ClipTransform
from scsampler.models.registry import check_device, create_model
from scsampler.models.weights import load_checkpoint, load_weights


@dataclass
class ClipClassifier:
    model: nn.Module
    transform: ClipTransform
    grid: ClipGrid
    classes: list[str]
    name: str                      # e.g. "r2plus1d_18"
    key: str                       # identity of the weights and settings, for caches
    batch_size: int = 32
    config: dict = field(default_factory=dict)
    device: str = "cpu"            # where the model runs; clips are decoded on the CPU and moved
    multi_label: bool = False      # trained with binary cross-entropy: a sigmoid per class, not a softmax

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @torch.inference_mode()
    def probabilities(self, clips: torch.Tensor) -> torch.Tensor:
        """uint8 ``(K, 3, T, H, W)`` decoded clips -> ``(K, C)`` class probabilities, in batches
        (batch 1 is a slow path for 3D convolutions on CPU): a softmax, or for a multi-label
        classifier each class's own sigmoid (the rows need not sum to 1)."""
        self.model.eval()
        out = []
        for i in range(0, len(clips), self.batch_size):
            x = self.transform(clips[i : i + self.batch_size].to(self.device, non_blocking=True))
            logits = self.model(x).float()
            out.append((torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=1)).cpu())
        return torch.cat(out) if out else torch.zeros(0, self.num_classes)

    def decode(self, path, indices, stats: DecodeStats | None = None) -> torch.Tensor:
        """The RGB frames this classifier needs for clips ``indices`` of ``path``."""
        return decode_clips(path, indices, grid=self.grid, num_frames=self.transform.frames, size=self.transform.resize, stats=stats)

    def classify_clips(self, path, indices, stats: DecodeStats | None = None, chunk: int = 64) -> torch.Tensor:
        """Decode and classify clips ``indices`` (in chunks, so memory stays bounded): ``(K, C)``."""
        indices = list(indices)
        parts = [self.probabilities(self.decode(path, indices[i : i + chunk], stats)) for i in range(0, len(indices), chunk)]
        return torch.cat(parts) if parts else torch.zeros(0, self.num_classes)

    def flops_per_clip(self) -> int:
        """Forward FLOPs of one clip, counted by ``torch.utils.flop_counter``."""
        from torch.utils.flop_counter import FlopCounterMode

        x = torch.zeros(1, 3, self.transform.frames, *self.transform.crop, device=self.device)
        self.model.eval()
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            self.model(x)
        return int(counter.get_total_flops())


def load_classifier(checkpoint: str | os.PathLike, *, batch_size: int = 32, device: str = "cpu") -> ClipClassifier:
    """A classifier trained by ``scsampler train-classifier`` (a run directory), on ``device``."""
    checkpoint = Path(checkpoint)
    model, config = load_checkpoint(checkpoint)
    device = check_device(device)
    return ClipClassifier(
        transform=ClipTransform.from_json(config["transform"]),
        grid=ClipGrid(**config.get("grid", {})),
        classes=list(config["classes"]),
        name=config["model"],
        key=digest(checkpoint / "model.safetensors", checkpoint / "config.json"),
        batch_size=batch_size,
        config=config,
        model=model.to(device),
        device=device,
        multi_label=config.get("loss") == "bce",
    )


def classifier_from_weights(
    arch: str,
    weights: str | os.PathLike | None,
    classes: str | os.PathLike,
    *,
    transform: ClipTransform = ClipTransform.torchvision(),
    grid: ClipGrid = ClipGrid(),
    batch_size: int = 32,
    device: str = "cpu",
) -> ClipClassifier:
    """A user's own classifier: a registered architecture, a local state-dict file (e.g. their
    Kinetics-400 torchvision weights; ``None`` keeps random weights, for timing) and a class-name
    file whose length sets the number of outputs."""
    clf = untrained_classifier(arch, read_classes(classes), transform=transform, grid=grid, batch_size=batch_size, device="cpu")
    if weights is not None:
        missing = load_weights(clf.model, weights, skip_mismatched_head=False)
        if missing:
            raise ConfigError(f"{weights}: no values for {len(missing)} tensors of {arch} (first: {missing[0]})")
        clf.key = digest(clf.key.encode(), weights)
    clf.device = check_device(device)
    clf.model.to(clf.device)
    return clf


def untrained_classifier(
    arch: str,
    classes: list[str],
    *,
    transform: ClipTransform = ClipTransform.torchvision(),
    grid: ClipGrid = ClipGrid(),
    batch_size: int = 32,
    device: str = "cpu",
) -> ClipClassifier:
    """A registered architecture with random weights: for timing a pipeline at a user's input size."""
    model = create_model(arch, num_classes=len(classes))
    device = check_device(device)
    return ClipClassifier(model=model.eval().to(device), transform=transform, grid=grid, classes=list(classes), name=arch,
                          key=digest(arch.encode(), str(transform).encode()), batch_size=batch_size, device=device)
