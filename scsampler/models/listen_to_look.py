"""Listen to Look (Gao, Tran, Grauman, Torresani, CVPR 2020): the IMGAUD2VID student and the
IMGAUD-SKIMMING policy.

Shapes: a step's image ``(B, 3, h, w)`` (an I-frame thumbnail or the clip's first frame, float in
[-1, 1]); its log-mel ``(B, 1, n_mels, frames)``; branch features ``zI (B, Di)``, ``zA (B, Da)``;
the fused feature ``z (B, D)``, D = the teacher's pooled clip feature (512 for torchvision's video
ResNets). The policy works on one video's ``N`` steps: ``zI (B, N, Di)``, ``zA (B, N, Da)``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from scsampler.models.registry import register_model
from scsampler.models.samplers import TinyFrameNet, resnet18


class ImgAud2Vid(nn.Module):
    """Section 3.2: an image network and an audio network, their features concatenated and fused by
    two fully-connected layers (Psi) into the teacher's feature size, then a linear classifier.
    ``forward_features`` is the fused feature (what the L1 term compares with the teacher's clip
    feature), ``forward_head`` the class logits."""

    def __init__(self, image: nn.Module, audio: nn.Module, branch_dim: int, *, feature_dim: int = 512, hidden: int = 512,
                 num_classes: int):
        super().__init__()
        self.image, self.audio = image, audio
        self.audio_norm = nn.BatchNorm2d(1)   # log-mel levels differ between recordings
        self.branch_dim, self.feature_dim = branch_dim, feature_dim
        self.fusion = nn.Sequential(nn.Linear(2 * branch_dim, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, feature_dim))
        self.fc = nn.Linear(feature_dim, num_classes)

    def forward_branches(self, image: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(B, 3, h, w)``, ``(B, 1, n_mels, frames)`` -> ``zI (B, Di)``, ``zA (B, Da)``: the indexing features."""
        return self.image(image), self.audio(self.audio_norm(audio))

    def fuse(self, z_image: torch.Tensor, z_audio: torch.Tensor) -> torch.Tensor:
        """Psi: ``(..., Di)``, ``(..., Da)`` -> ``(..., D)``."""
        return self.fusion(torch.cat([z_image, z_audio], dim=-1))

    def forward_features(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """``(B, 3, h, w)``, ``(B, 1, n_mels, frames)`` -> ``(B, D)`` fused feature."""
        return self.fuse(*self.forward_branches(image, audio))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.fc(z)

    def forward(self, image: torch.Tensor, audio: torch.Tensor) -> torch.Tensor:
        """``(B, 3, h, w)``, ``(B, 1, n_mels, frames)`` -> ``(B, num_classes)`` logits."""
        return self.forward_head(self.forward_features(image, audio))


def _headless(net: nn.Module) -> nn.Module:
    net.fc = nn.Identity()
    return net


@register_model("imgaud2vid")
def imgaud2vid_resnet18(*, num_classes: int, feature_dim: int = 512, hidden: int = 512) -> ImgAud2Vid:
    """The paper's student: ResNet-18 on the image, ResNet-18 with a one-channel stem on the log-mel
    (the samplers' stems: 3x3 stride 2, the inputs being far below ImageNet's size), both 512-d."""
    return ImgAud2Vid(_headless(resnet18(feature="if", num_outputs=1)), _headless(resnet18(feature="audio", num_outputs=1)), 512,
                      feature_dim=feature_dim, hidden=hidden, num_classes=num_classes)


class _TinyBranch(TinyFrameNet):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_features(x)


@register_model("imgaud2vid")
def imgaud2vid_tiny(*, num_classes: int, feature_dim: int = 32, hidden: int = 32) -> ImgAud2Vid:
    """Two-layer branches of width 8: for tests."""
    return ImgAud2Vid(_TinyBranch(3, 1), _TinyBranch(1, 1), 8, feature_dim=feature_dim, hidden=hidden, num_classes=num_classes)


INDEXING = ("image-audio", "image")   # what the policy queries: both modalities (section 3.3), or the image only (Supp. G.1)
AGGREGATION = ("soft", "hard")         # a step's next input: the soft aggregates (eq. 8), or the argmax features (Supp. G.3)


class SkimmingPolicy(nn.Module):
    """Section 3.3, IMGAUD-SKIMMING: an LSTM over indexed image-audio features.

    Per modality, ``Key`` maps every step's indexing feature to a key; from the hidden state, a query
    per modality attends over the keys (eq. 6, scaled dot product), two modality scores weigh the
    two attentions (eq. 8), and the soft aggregate of the steps' features is fused by the student's
    frozen Psi into the next input (eq. 5, 7). The first input is the fusion of the mean features.
    A step that an attention picked (its argmax) is masked out of every later attention, so no step
    is picked twice. The classifier ``fc`` takes the mean of the T attended fused features (eq. 9).

    ``indexing="image"`` (Supplementary G.1): only the image query attends; the next input fuses the
    soft aggregate of the image features with the audio feature at the image attention's argmax
    (eq. 10), and a step picks one step. ``forward(aggregation="hard")`` (G.3, inference): the next
    input takes the features at each attention's argmax instead of the soft aggregates.
    """

    def __init__(self, *, branch_dim: int, feature_dim: int, num_classes: int, hidden: int = 1024, key_dim: int = 512,
                 indexing: str = "image-audio"):
        super().__init__()
        if indexing not in INDEXING:
            raise ValueError(f"indexing must be one of {', '.join(INDEXING)}, got {indexing!r}")
        both = indexing == "image-audio"
        # Created in this order so that a seed gives the same weights as before indexing existed.
        self.key_image = nn.Linear(branch_dim, key_dim)
        self.key_audio = nn.Linear(branch_dim, key_dim) if both else None
        self.query_image = nn.Linear(hidden, key_dim)
        self.query_audio = nn.Linear(hidden, key_dim) if both else None
        self.lstm = nn.LSTMCell(feature_dim, hidden)
        self.modality = nn.Linear(hidden, 2) if both else None
        self.fc = nn.Linear(feature_dim, num_classes)
        self.hidden, self.key_dim, self.indexing = hidden, key_dim, indexing
        self.picks_per_step = 2 if both else 1

    def forward(self, z_image: torch.Tensor, z_audio: torch.Tensor, fuse, steps: int, valid: torch.Tensor | None = None,
                aggregation: str = "soft") -> dict:
        """``z_image (B, N, Di)``, ``z_audio (B, N, Da)``, ``fuse``: Psi; ``valid (B, N)`` bool
        (padding False) -> ``{"logits" (B, C), "fused" (B, T, D), "weights" (B, T, N) combined
        attention, "w_image", "w_audio" (B, T, N), "modality" (B, T, 2), "picks" (B, T, 2) the step
        each attention picked, image first (-1 where nothing was left)}``. With ``indexing="image"``,
        ``w_audio`` is zeros, ``modality`` (1, 0) and the audio pick -1."""
        if aggregation not in AGGREGATION:
            raise ValueError(f"aggregation must be one of {', '.join(AGGREGATION)}, got {aggregation!r}")
        b, n, _ = z_image.shape
        valid = torch.ones(b, n, dtype=torch.bool, device=z_image.device) if valid is None else valid
        both = self.indexing == "image-audio"
        k_i = self.key_image(z_image)                                                      # (B, N, d)
        k_a = self.key_audio(z_audio) if both else None
        count = valid.sum(1, keepdim=True).clamp(min=1)
        x = fuse((z_image * valid[..., None]).sum(1) / count, (z_audio * valid[..., None]).sum(1) / count)  # (B, D)
        h = x.new_zeros(b, self.hidden)
        c = x.new_zeros(b, self.hidden)
        free = valid.clone()
        out = {k: [] for k in ("fused", "weights", "w_image", "w_audio", "modality", "picks")}
        rows = torch.arange(b, device=z_image.device)
        for _ in range(steps):
            h, c = self.lstm(x, (h, c))
            w_i = self._attend(self.query_image(h), k_i, free)                              # (B, N)
            if both:
                w_a = self._attend(self.query_audio(h), k_a, free)
                s = torch.softmax(self.modality(h), dim=1)                                # (B, 2): s^I, s^A
                a_i, a_a = (w_i, w_a) if aggregation == "soft" else (_argmax(w_i, free), _argmax(w_a, free))
                zi = s[:, :1] * (a_i[:, :, None] * z_image).sum(1) + s[:, 1:] * (a_a[:, :, None] * z_image).sum(1)   # eq. 8
                za = s[:, :1] * (a_i[:, :, None] * z_audio).sum(1) + s[:, 1:] * (a_a[:, :, None] * z_audio).sum(1)
            else:
                w_a = torch.zeros_like(w_i)
                s = torch.tensor([1.0, 0.0], device=h.device, dtype=h.dtype).expand(b, 2)
                top = _argmax(w_i, free)
                zi = ((w_i if aggregation == "soft" else top)[:, :, None] * z_image).sum(1)   # eq. 10
                za = (top[:, :, None] * z_audio).sum(1)
            x = fuse(zi, za)
            picks = []
            for w in (w_i, w_a) if both else (w_i,):
                p = torch.where(free.any(1), w.detach().masked_fill(~free, -1.0).argmax(1), -1)
                free = free.clone()
                free[rows[p >= 0], p[p >= 0]] = False   # the mask: never picked again
                picks.append(p)
            if not both:
                picks.append(torch.full_like(picks[0], -1))
            out["fused"].append(x)
            out["weights"].append(s[:, :1] * w_i + s[:, 1:] * w_a)
            out["w_image"].append(w_i)
            out["w_audio"].append(w_a)
            out["modality"].append(s)
            out["picks"].append(torch.stack(picks, 1))
        res = {k: torch.stack(v, 1) for k, v in out.items()}
        res["logits"] = self.fc(res["fused"].mean(1))
        return res

    def _attend(self, q: torch.Tensor, keys: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
        """Eq. 6 over the steps still free: ``q (B, d)``, ``keys (B, N, d)`` -> ``(B, N)`` (zeros when none is free)."""
        logits = (keys @ q[:, :, None])[..., 0] / math.sqrt(self.key_dim)
        w = torch.softmax(logits.masked_fill(~free, float("-inf")), dim=1)
        return torch.nan_to_num(w, nan=0.0)


def _argmax(w: torch.Tensor, free: torch.Tensor) -> torch.Tensor:
    """``(B, N)`` one-hot at the argmax of attention ``w`` over the free steps (zeros when none is free)."""
    p = w.detach().masked_fill(~free, -1.0).argmax(1)
    return torch.zeros_like(w).scatter_(1, p[:, None], 1.0) * free.any(1, keepdim=True)


__all__ = ["AGGREGATION", "INDEXING", "ImgAud2Vid", "SkimmingPolicy", "imgaud2vid_resnet18", "imgaud2vid_tiny"]
