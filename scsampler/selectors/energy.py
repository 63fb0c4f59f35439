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


class MotionEnergy:
    """Scorer: mean magnitude of the motion relative to each frame's median vector."""

    name = "motion-energy"
    key = "motion-energy-v1"
    features = ("md",)
    frames_per_clip = 0
    extractor: dict = {}

    def __init__(self):
        self._cells = 0

    @staticmethod
    def rows(md: torch.Tensor) -> torch.Tensor:
        """``md (N, 2, H/16, W/16)`` motion grids -> ``(N,)`` energy."""
        v = md.float().flatten(2)                                 # (N, 2, cells)
        v = v - v.median(dim=2, keepdim=True).values              # remove the frame's dominant (camera) motion
        return v.pow(2).sum(dim=1).sqrt().mean(dim=1)

    def score(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None = None) -> torch.Tensor:
        if packed.get("md") is not None and packed["md"].ndim == 4:
            self._cells = int(packed["md"].shape[2] * packed["md"].shape[3])
        return feature_scores(packed, num_clips, wanted_mask(num_clips, clips), "md", self.rows)

    def flops_per_row(self) -> dict[str, int]:
        # per cell: subtract the median (2), square and add (3), root, and the mean: about 8
        return {"md": 8 * self._cells}


class AudioEnergy:
    """Scorer: loudness + onset strength of a clip's log-mel window."""

    name = "audio-energy"
    key = "audio-energy-v1"
    features = ("audio",)
    frames_per_clip = 0
    extractor: dict = {}

    def __init__(self):
        self._size = 0

    @staticmethod
    def rows(logmel: torch.Tensor) -> torch.Tensor:
        """``logmel (N, n_mels, frames)`` (natural log of mel power) -> ``(N,)``."""
        x = logmel.float()
        n = x.shape[1] * x.shape[2]
        loudness = torch.logsumexp(x.flatten(1), dim=1) - torch.log(torch.tensor(float(n)))
        onset = (x[:, :, 1:] - x[:, :, :-1]).clamp(min=0).sum(dim=1).mean(dim=1)
        return loudness + onset

    def score(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None = None) -> torch.Tensor:
        if packed.get("audio") is not None and packed["audio"].ndim == 3:
            self._size = int(packed["audio"].shape[1] * packed["audio"].shape[2])
        return feature_scores(packed, num_clips, wanted_mask(num_clips, clips), "audio", self.rows)

    def flops_per_row(self) -> dict[str, int]:
        # exp, add (logsumexp), difference, clamp, add: about 6 per log-mel value
        return {"audio": 6 * self._size}


@register_selector("motion-energy", help="top-K by motion energy (no training; camera motion removed)", options=("stride",))
def _motion(*, stride: int = 1, **_) -> ScoringSelector:
    return ScoringSelector("motion-energy", {"motion-energy": MotionEnergy()}, rank_by("motion-energy"), stride=stride)


@register_selector("audio-energy", help="top-K by loudness + onset strength (no training)", options=("stride",))
def _audio(*, stride: int = 1, **_) -> ScoringSelector:
    return ScoringSelector("audio-energy", {"audio-energy": AudioEnergy()}, rank_by("audio-energy"), stride=stride,
                           audio="required")
