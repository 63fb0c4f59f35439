"""Training-free selectors: rank clips by simple statistics of the cheap features. No paper of this
line offers them; they are the floor a learned sampler must beat.

- **motion energy**: the mean magnitude of a clip's motion field after removing each frame's
  dominant (median) motion, so that a camera pan does not count as action. The motion field is the
  one the cheap pass already computes: the bitstream's vectors, or block matching on the decoded
  frames where the codec has none.
- **audio energy**: a clip's loudness (the log of its mean mel power) plus its onset strength (the
  mean rise of the log-mel from one frame to the next, summed over the mel bands: spectral flux).
  Both are in nepers of mel power, so they add without a weight.
"""

from __future__ import annotations

import torch

from scsampler.runtime.sampler import feature_scores, wanted_mask
from scsampler.selectors.scoring import ScoringSelector, rank_by
from scsampler.selectors.registry import register_selector


class ClipStatistic:
    """A training-free :class:`scsampler.selectors.base.Scorer`: ``rows`` maps one feature's rows
    (frames of a visual feature, a clip's log-mel) to ``(N,)`` scores, costing about ``ops`` FLOPs
    per input value."""

    name = key = feature = ""
    ops = 0
    frames_per_clip = 0
    extractor: dict = {}

    def __init__(self):
        self._values = 0          # input values per row, from the last video scored (for the FLOP count)

    @property
    def features(self) -> tuple[str, ...]:
        return (self.feature,)

    @staticmethod
    def rows(x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def score(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None = None) -> torch.Tensor:
        x = packed.get(self.feature)
        if x is not None and len(x):
            self._values = int(x[0].numel())
        return feature_scores(packed, num_clips, wanted_mask(num_clips, clips), self.feature, self.rows)

    def flops_per_row(self) -> dict[str, int]:
        return {self.feature: self.ops * self._values}


class MotionEnergy(ClipStatistic):
    """Mean magnitude of the motion relative to each frame's median vector."""

    name, key, feature = "motion-energy", "motion-energy-v1", "md"
    ops = 4  # per value (two per cell): subtract the median, square, add, root and mean

    @staticmethod
    def rows(md: torch.Tensor) -> torch.Tensor:
        """``md (N, 2, H/16, W/16)`` motion grids -> ``(N,)`` energy."""
        v = md.float().flatten(2)                                 # (N, 2, cells)
        v = v - v.median(dim=2, keepdim=True).values              # remove the frame's dominant (camera) motion
        return v.pow(2).sum(dim=1).sqrt().mean(dim=1)


class AudioEnergy(ClipStatistic):
    """Loudness + onset strength of a clip's log-mel window."""

    name, key, feature = "audio-energy", "audio-energy-v1", "audio"
    ops = 6  # per log-mel value: exp and add (logsumexp), difference, clamp, add

    @staticmethod
    def rows(logmel: torch.Tensor) -> torch.Tensor:
        """``logmel (N, n_mels, frames)`` (natural log of mel power) -> ``(N,)``."""
        x = logmel.float()
        n = x.shape[1] * x.shape[2]
        loudness = torch.logsumexp(x.flatten(1), dim=1) - torch.log(torch.tensor(float(n)))
        onset = (x[:, :, 1:] - x[:, :, :-1]).clamp(min=0).sum(dim=1).mean(dim=1)
        return loudness + onset


@register_selector("motion-energy", help="top-K by motion energy (no training; camera motion removed)", options=("stride",))
def _motion(*, stride: int = 1, **_) -> ScoringSelector:
    return ScoringSelector("motion-energy", {"motion-energy": MotionEnergy()}, rank_by("motion-energy"), stride=stride)


@register_selector("audio-energy", help="top-K by loudness + onset strength (no training)", options=("stride",))
def _audio(*, stride: int = 1, **_) -> ScoringSelector:
    return ScoringSelector("audio-energy", {"audio-energy": AudioEnergy()}, rank_by("audio-energy"), stride=stride,
                           audio="required")
