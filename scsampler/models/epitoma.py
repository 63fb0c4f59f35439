"""VideoEpitoma ("VideoEpitoma: efficient recognition of long-range actions", a paper under
double-blind review): a timestep selector on a light network, and a video classifier over the
timesteps it keeps (section 3).

- :class:`LightNet`: a 2D CNN on one frame per timestep (MobileNetV3-small in the paper; here on the
  64 px I-frame thumbnail of the cheap pass, or the clip's decoded middle frame; by default the
  four-layer ``epitoma_light_cnn`` with the weights shipped in ``scsampler/assets/trimmed-light``):
  ``forward_features (B, 3, h, w) -> (B, C)``, ``forward_head`` the class logits it is trained with.
- :class:`TimestepGate`: the gating module. Concept kernels ``K (N, C)``, the similarity of each
  timestep's feature to them ``s = x K^T (B, T, N)``, one self-attention layer over the timesteps
  (context-conditional gating, section 3 "Context Conditional Gating"), a two-layer MLP to one gating
  logit ``alpha (B, T)``. Training: logistic (binary Gumbel) noise, a sigmoid and the clip at 0.5:
  a gate is exactly 0 or in [0.5, 1]. Test: the step function, ``alpha >= 0`` (no noise).
- :class:`L0Penalty`: the expected share of open gates, pulled toward a budget (Louizos et al. 2018).
- :class:`EpitomaHead`: the video classifier over the gated timestep features: one self-attention
  layer, a gate-weighted mean over the kept timesteps, a two-layer MLP (section 3, "The Video Classifier").

Shapes: frames ``(B, 3, h, w)``; timestep features ``(B, T, C)``; a ``mask (B, T)`` bool marks the
real timesteps of a padded batch (True = a timestep; None = all are).
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
from torchvision.models import mobilenet_v3_small

from scsampler.models.registry import register_model

THRESHOLD = 0.5   # the clipped sigmoid's threshold: a gate under it is 0 (figure 3)


# -- the light network ------------------------------------------------------------------------------
class LightNet(nn.Module):
    """A frame CNN ``body`` (a feature map), global average pooling and a linear head:
    ``forward_features`` gives the pooled feature the gate reads, ``forward_head`` the class logits
    of the fine-tuning that precedes VideoEpitoma's training (section 3.1)."""

    def __init__(self, body: nn.Module, feature_dim: int, num_classes: int, dropout: float = 0.0):
        super().__init__()
        self.body = body
        self.feature_dim = feature_dim
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(feature_dim, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 3, h, w)`` frames in [-1, 1] -> ``(B, C)``."""
        return self.body(x).mean(dim=(2, 3))

    def forward_head(self, z: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(z))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


@register_model("epitoma_light")
def epitoma_light_mobilenet_v3_small(*, num_classes: int) -> nn.Module:
    """MobileNetV3-small (torchvision, no pretrained weights), its classifier replaced by one linear
    layer on the 576-d pooled feature."""
    net = mobilenet_v3_small(weights=None)
    return LightNet(net.features, 576, num_classes, dropout=0.2)


@register_model("epitoma_light")
def epitoma_light_cnn(*, num_classes: int, width: int = 32) -> nn.Module:
    """Four 3x3 convolutions of stride 2 (batch norm, ReLU), ``width, width, 2 width, 2 width`` channels:
    a ``2 * width``-d feature (64-d; about 65 thousand parameters, 9 MFLOPs on a 64 x 52 thumbnail, whose
    last map is 4 x 4). Sized for the cheap pass's 64-px I-frame thumbnails, on which MobileNetV3's
    32x downsampling leaves a 2 x 2 map; the shipped weights (:data:`scsampler.assets.TRIMMED_LIGHT`)
    are this network's."""
    layers, cin = [], 3
    for cout in (width, width, 2 * width, 2 * width):
        layers += [nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]
        cin = cout
    return LightNet(nn.Sequential(*layers), cin, num_classes)


@register_model("epitoma_light")
def epitoma_light_tiny(*, num_classes: int, width: int = 16) -> nn.Module:
    """Two convolutions: for tests."""
    body = nn.Sequential(
        nn.Conv2d(3, width, 3, stride=2, padding=1), nn.ReLU(inplace=True),
        nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(inplace=True),
    )
    return LightNet(body, width, num_classes)


# -- the gating module ------------------------------------------------------------------------------
def clipped_sigmoid(x: torch.Tensor) -> torch.Tensor:
    """``sigmoid(x)`` where it is at least 0.5, else exactly 0 (figure 3)."""
    s = torch.sigmoid(x)
    return torch.where(s >= THRESHOLD, s, torch.zeros_like(s))


class SelfAttention(nn.Module):
    """One self-attention layer over the timesteps with a residual and layer norm (a non-local block,
    Wang et al. 2018): ``(B, T, D) -> (B, T, D)``; masked timesteps are never attended to."""

    def __init__(self, dim: int, heads: int = 1):
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        pad = None
        if mask is not None:
            # A row with nothing to attend to would give NaN: let it attend to all (its output is unused).
            pad = ~mask & mask.any(dim=1, keepdim=True)
        out, _ = self.attn(x, x, x, key_padding_mask=pad, need_weights=False)
        return self.norm(x + out)


class TimestepGate(nn.Module):
    """The gating module of section 3: ``forward(x (B, T, C), mask) -> gates (B, T)``.

    Training mode: ``clipped_sigmoid((alpha + noise_scale * logistic noise) / temperature)``: 0, or a
    value in [0.5, 1] that tells the classifier how much the timestep matters. Eval mode: the step
    function, 1 where ``alpha >= 0`` (sigmoid(alpha) >= 0.5) and 0 elsewhere, deterministic. The
    paper's noise has scale 1; the trainer anneals ``noise_scale`` toward 0.1 so that the gates it
    trains are the step function's (with scale 1 throughout, the L0 term is met by every alpha just
    under 0, and the test-time gates close them all).

    The selector splits it in two: :meth:`similarity` per timestep (no context: it can be computed
    clip by clip while the cheap pass streams) and :meth:`logits_from_similarity` over the whole video.
    """

    def __init__(self, feature_dim: int, *, concepts: int = 16, hidden: int = 32, heads: int = 1,
                 temperature: float = 2 / 3):
        super().__init__()
        if concepts % heads:
            raise ValueError(f"concepts ({concepts}) must be a multiple of heads ({heads})")
        self.temperature = temperature
        self.noise_scale = 1.0    # of the logistic noise; a trainer may anneal it (set it before each step)
        # The concept kernels K (N, C), randomly initialised and learned (section 3).
        self.kernels = nn.Parameter(torch.randn(concepts, feature_dim) / math.sqrt(feature_dim))
        # No normalisation of s per timestep: its size is how strongly the timestep matches the concepts,
        # what the gate decides on (a LayerNorm here, removed, cost 0.05 of the gate's AUC on `small`).
        self.context = SelfAttention(concepts, heads)
        self.mlp = nn.Sequential(nn.Linear(concepts, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    @property
    def concepts(self) -> int:
        return self.kernels.shape[0]

    def similarity(self, x: torch.Tensor) -> torch.Tensor:
        """``s_i = K . x_i``: ``(..., C)`` timestep features -> ``(..., N)`` similarities to the concepts."""
        return x @ self.kernels.t()

    def logits_from_similarity(self, s: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, N)`` similarities -> ``(B, T)`` gating logits alpha, each conditioned on the
        timestep and, through the self-attention, on the other timesteps of its video."""
        h = self.context(s, mask)
        return self.mlp(h).squeeze(-1)

    def logits(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, C)`` timestep features -> ``(B, T)`` gating logits."""
        return self.logits_from_similarity(self.similarity(x), mask)

    def gates(self, alpha: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
        """Gate values from logits ``(B, T)``: noisy clipped sigmoid in training, step function in eval."""
        if not self.training:
            return (alpha >= 0).to(alpha.dtype)
        # Binary concrete (Maddison et al.; Jang et al.): logistic noise log(u) - log(1 - u).
        u = torch.rand(alpha.shape, generator=generator, device=alpha.device).clamp_(1e-6, 1 - 1e-6)
        return clipped_sigmoid((alpha + self.noise_scale * (torch.log(u) - torch.log1p(-u))) / self.temperature)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, T, C)`` timestep features -> ``(B, T)`` gates (0 where ``mask`` is False)."""
        g = self.gates(self.logits(x, mask))
        return g if mask is None else g * mask


class L0Penalty(nn.Module):
    """L0 regularisation of the gates toward a budget: ``weight * mean_b (E[kept share]_b - budget)^2``.

    ``forward(alpha (B, T), mask (B, T) bool | None, noise_scale) -> scalar``. A gate is nonzero when
    ``alpha + s * noise >= 0``, i.e. with probability ``sigmoid(alpha / s)`` (the hard-concrete L0 of
    Louizos et al. 2018, eq. 12, with the stretch (gamma, zeta) = (-1, 1) that puts its zero below 0.5),
    so the expected number of open gates is differentiable. Squared, the term pulls the share from either
    side: the classifier cannot keep every timestep, and the gate cannot close them all.
    """

    def __init__(self, budget: float, weight: float = 1.0):
        super().__init__()
        if not 0 < budget <= 1:
            raise ValueError(f"budget must be a share of the timesteps in (0, 1], got {budget}")
        self.budget = budget
        self.weight = weight

    @staticmethod
    def expected_share(alpha: torch.Tensor, mask: torch.Tensor | None = None, noise_scale: float = 1.0) -> torch.Tensor:
        """``(B,)``: the expected share of each video's timesteps whose gate is open under logistic
        noise of scale ``noise_scale``: ``P(alpha + s L >= 0) = sigmoid(alpha / s)``."""
        p = torch.sigmoid(alpha / noise_scale)
        if mask is None:
            return p.mean(dim=1)
        m = mask.to(p.dtype)
        return (p * m).sum(dim=1) / m.sum(dim=1).clamp(min=1)

    def forward(self, alpha: torch.Tensor, mask: torch.Tensor | None = None, noise_scale: float = 1.0) -> torch.Tensor:
        return self.weight * (self.expected_share(alpha, mask, noise_scale) - self.budget).pow(2).mean()


# -- the video classifier ---------------------------------------------------------------------------
class EpitomaHead(nn.Module):
    """The paper's video classifier over the kept timesteps: ``forward(y (B, T, D), gates (B, T),
    mask) -> (B, num_classes)`` logits.

    Each timestep's feature is multiplied by its gate, projected to ``hidden``, passed through one
    self-attention layer among the kept timesteps (gate > 0) only, averaged over them weighted by
    their gates (so a gate's value, in [0.5, 1] in training, says how much its timestep counts), and
    classified by a two-layer MLP. A video with no kept timestep gets the MLP of a zero vector."""

    def __init__(self, feature_dim: int, num_classes: int, *, hidden: int = 128, heads: int = 1, dropout: float = 0.2):
        super().__init__()
        self.proj = nn.Linear(feature_dim, hidden)
        self.context = SelfAttention(hidden, heads)
        self.mlp = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(hidden, num_classes))

    def forward(self, y: torch.Tensor, gates: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        kept = gates > 0 if mask is None else (gates > 0) & mask          # (B, T)
        w = (gates * kept).unsqueeze(-1)                                  # (B, T, 1)
        h = self.context(self.proj(y * w), kept)                          # (B, T, hidden)
        pooled = (h * w).sum(dim=1) / w.sum(dim=1).clamp(min=1e-6)        # (B, hidden); 0 where none kept
        return self.mlp(pooled)


__all__ = ["THRESHOLD", "EpitomaHead", "L0Penalty", "LightNet", "TimestepGate", "clipped_sigmoid",
           "epitoma_light_cnn", "epitoma_light_mobilenet_v3_small", "epitoma_light_tiny"]
