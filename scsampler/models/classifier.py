"""Clip classifiers: ``(B, 3, T, H, W)`` float clips -> ``(B, num_classes)`` logits.

torchvision's video ResNets by name (``r2plus1d_18``, ``mc3_18``, ``r3d_18``; never with downloaded
weights: pretrained weights come from a local file, see :mod:`scsampler.models.weights`) and a tiny
R(2+1)D for tests. Inputs are normalised float clips; :class:`ClipTransform` turns decoded uint8
frames into them. Any other ``nn.Module`` with the same contract can be used instead.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.models import video as tv_video

from scsampler.models.registry import register_model

# Kinetics-400 statistics used by torchvision's video models.
KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)


@dataclass(frozen=True)
class ClipTransform:
    """uint8 ``(B, 3, T, H, W)`` frames -> normalised float clips, resized (short side) and centre
    cropped to ``crop``. The decode size is ``resize`` ``(H, W)``; training adds a random crop."""

    frames: int = 8
    resize: tuple[int, int] = (64, 80)
    crop: tuple[int, int] = (64, 64)
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD

    def __call__(self, clips: torch.Tensor, *, train: bool = False, generator: torch.Generator | None = None) -> torch.Tensor:
        x = clips.float().div_(255.0)
        h, w = x.shape[-2:]
        ch, cw = self.crop
        if (h, w) != tuple(self.resize):
            b, c, t = x.shape[:3]
            x = F.interpolate(x.reshape(b, c * t, h, w), size=self.resize, mode="bilinear", align_corners=False, antialias=True)
            x = x.reshape(b, c, t, *self.resize)
            h, w = self.resize
        if train:
            top = int(torch.randint(0, h - ch + 1, (1,), generator=generator))
            left = int(torch.randint(0, w - cw + 1, (1,), generator=generator))
        else:
            top, left = (h - ch) // 2, (w - cw) // 2
        x = x[..., top : top + ch, left : left + cw]
        mean = torch.tensor(self.mean, device=x.device).view(1, 3, 1, 1, 1)
        std = torch.tensor(self.std, device=x.device).view(1, 3, 1, 1, 1)
        return (x - mean) / std

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def torchvision(cls, frames: int = 16, crop: tuple[int, int] = (112, 112), resize: tuple[int, int] | None = None) -> "ClipTransform":
        """torchvision's video classifiers' convention (their Kinetics-400 weights): frames resized
        to 128 x 171 and centre-cropped to 112 x 112; another crop keeps those proportions unless
        ``resize`` is given."""
        ch, cw = crop
        return cls(frames=frames, resize=resize or (round(ch * 128 / 112), round(cw * 171 / 112)), crop=(ch, cw))

    @classmethod
    def from_json(cls, d: dict) -> "ClipTransform":
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})


def _torchvision(builder, num_classes: int) -> nn.Module:
    # weights=None: nothing is ever downloaded; users load their own file.
    return builder(weights=None, num_classes=num_classes)


@register_model("classifier")
def r2plus1d_18(*, num_classes: int = 400) -> nn.Module:
    """R(2+1)D-18 (Tran et al. 2018), torchvision's implementation."""
    return _torchvision(tv_video.r2plus1d_18, num_classes)


@register_model("classifier")
def mc3_18(*, num_classes: int = 400) -> nn.Module:
    """MC3-18: 3D convolutions in the first group, 2D after."""
    return _torchvision(tv_video.mc3_18, num_classes)


@register_model("classifier")
def r3d_18(*, num_classes: int = 400) -> nn.Module:
    """R3D-18: 3D convolutions throughout."""
    return _torchvision(tv_video.r3d_18, num_classes)


class TinyR2Plus1D(nn.Module):
    """A few (2+1)D convolutions: the classifier contract at a tiny cost, for tests."""

    def __init__(self, *, num_classes: int = 10, width: int = 8):
        super().__init__()

        def block(cin, cout, stride):
            return nn.Sequential(
                nn.Conv3d(cin, cout, (1, 3, 3), stride=(1, stride, stride), padding=(0, 1, 1), bias=False),
                nn.BatchNorm3d(cout),
                nn.ReLU(inplace=True),
                nn.Conv3d(cout, cout, (3, 1, 1), stride=(stride, 1, 1), padding=(1, 0, 0), bias=False),
                nn.BatchNorm3d(cout),
                nn.ReLU(inplace=True),
            )

        self.features = nn.Sequential(block(3, width, 2), block(width, 2 * width, 2), block(2 * width, 4 * width, 2))
        self.pool = nn.AdaptiveAvgPool3d(1)
        self.fc = nn.Linear(4 * width, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> ``(B, 4 * width)`` clip embedding."""
        return self.pool(self.features(x)).flatten(1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, T, H, W)`` -> ``(B, num_classes)`` logits."""
        return self.fc(self.forward_features(x))


@register_model("classifier")
def classifier_tiny(*, num_classes: int = 10, width: int = 8) -> nn.Module:
    return TinyR2Plus1D(num_classes=num_classes, width=width)
