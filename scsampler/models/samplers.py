"""Sampler networks: cheap per-frame (visual) or per-clip (audio) scorers.

Every sampler maps one feature tensor to ``num_outputs`` logits: ``num_classes`` for the AC loss,
one for SAL-CL and SAL-RANK. Inputs (see :mod:`scsampler.records` for the shape conventions):

- ``md``: one P-frame's motion displacement, ``(B, 2, Hg, Wg)`` (H/16 x W/16 of the video);
- ``rgbr``: one P-frame's RGB residual, ``(B, 3, h, w)`` at the extractor's small side (64 px);
- ``if``: one I-frame thumbnail, ``(B, 3, h, w)``;
- ``audio``: one clip's log-mel, ``(B, 1, 40, 200)``.

Backbones come from torchvision (ResNet-18, ShuffleNet v2) with the first convolution fitted to the
input: 2 channels for MD, and a 3x3 stride-1 stem without max-pooling where the input is so small
that the usual 7x7 stride-2 stem and pooling would leave nothing to convolve (MD is 8 x 10 for a
160 x 128 video). The audio network is VGG-style (after the audio networks the paper cites).
``sampler_tiny`` exists for tests. Nothing is ever downloaded; weights come from our checkpoints.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from torchvision.models import resnet18 as tv_resnet18
from torchvision.models import shufflenet_v2_x0_5

from scsampler.models.registry import register_model

FEATURE_CHANNELS = {"md": 2, "rgbr": 3, "if": 3, "audio": 1}


def _small(feature: str) -> bool:
    # MD grids are tiny (H/16); residuals and thumbnails are 64 px: both are far below ImageNet's 224.
    return feature == "md"


@register_model("sampler")
def resnet18(*, feature: str, num_outputs: int) -> nn.Module:
    """ResNet-18 (torchvision) on one frame of ``feature``."""
    net = tv_resnet18(weights=None, num_classes=num_outputs)
    cin = FEATURE_CHANNELS[feature]
    if _small(feature):
        net.conv1 = nn.Conv2d(cin, 64, kernel_size=3, stride=1, padding=1, bias=False)
        net.maxpool = nn.Identity()
    else:
        net.conv1 = nn.Conv2d(cin, 64, kernel_size=3, stride=2, padding=1, bias=False)
    return net


@register_model("sampler")
def shufflenet(*, feature: str, num_outputs: int) -> nn.Module:
    """ShuffleNet v2 0.5x (torchvision; the paper used v1 0.5x with 3 groups, which torchvision
    does not ship) on one frame of ``feature``."""
    net = shufflenet_v2_x0_5(weights=None, num_classes=num_outputs)
    cin = FEATURE_CHANNELS[feature]
    out = net.conv1[0].out_channels
    stride = 1 if _small(feature) else 2
    net.conv1[0] = nn.Conv2d(cin, out, kernel_size=3, stride=stride, padding=1, bias=False)
    if _small(feature):
        net.maxpool = nn.Identity()
    return net


class VGGAudio(nn.Module):
    """VGG-style network on a ``(B, 1, n_mels, n_frames)`` log-mel: blocks of 3x3 convolutions with
    batch norm, max-pooling between blocks, global average pooling, then a linear head.
    ``forward_features(x)`` returns the pooled embedding ``(B, width)``, ``forward_head`` the outputs
    (the frozen-backbone variant trains only ``head``)."""

    def __init__(self, num_outputs: int, widths: tuple[int, ...] = (16, 32, 64, 128), convs_per_block: int = 2):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 1
        for i, w in enumerate(widths):
            for _ in range(convs_per_block):
                layers += [nn.Conv2d(cin, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True)]
                cin = w
            if i < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(cin, num_outputs)
        self.input_norm = nn.BatchNorm2d(1)  # log-mel levels differ between recordings

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, n_mels, frames)`` -> ``(B, width)``."""
        return self.body(self.input_norm(x)).mean(dim=(2, 3))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 1, n_mels, frames)`` -> ``(B, num_outputs)``."""
        return self.forward_head(self.forward_features(x))


@register_model("sampler")
def vgg_audio(*, feature: str = "audio", num_outputs: int) -> nn.Module:
    """The audio sampler: VGG-style, 8 convolutions in 4 blocks of 16-32-64-128 channels (0.2 GFLOPs
    per clip; the classic 64-512 widths cost 3.3 GFLOPs, as much as a small clip classifier)."""
    if feature != "audio":
        raise ValueError(f"vgg_audio takes the audio log-mel, not {feature!r}")
    return VGGAudio(num_outputs)


class TinyFrameNet(nn.Module):
    """Two convolutions and a linear head: for tests, any feature."""

    def __init__(self, cin: int, num_outputs: int, width: int = 8):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(cin, width, 3, padding=1), nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        )
        self.head = nn.Linear(width, num_outputs)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C, H, W)`` -> ``(B, width)``."""
        return self.body(x).mean(dim=(2, 3))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("sampler")
def sampler_tiny(*, feature: str, num_outputs: int) -> nn.Module:
    """A two-layer CNN on any feature; for tests."""
    return TinyFrameNet(FEATURE_CHANNELS[feature], num_outputs)
