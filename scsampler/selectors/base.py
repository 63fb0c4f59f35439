"""The selector interface: what picks K clips of a video.

A selector says what it needs from a video (:class:`Needs`) and picks clips through a
:class:`VideoView`, which answers those needs. Two views exist: the per-video pipeline's, which reads
the file (the cheap pass streams, only what is asked for is decoded), and the benchmark's, which reads
its caches (dense probabilities, cached cheap features and scores). The selector's code is the same
under both, so the benchmark's accuracy is that of the command users run.

Three shapes of selector fit:

- a *ranking* selector picks from the video's length alone (uniform, random, front, ...), or from the
  classifier's probabilities of every clip (dense, the oracle);
- a *scoring* selector scores every (stride-th) clip with one or more :class:`Scorer` s and ranks
  them (SCSampler's samplers, their audio-visual combinations, the training-free energy selectors):
  it asks :meth:`VideoView.scores`;
- a *sequential* policy asks :meth:`VideoView.features` for the clips it visits, one step at a time,
  and never sees the others.

The answer is a :class:`Choice`: clip indices best first (positional selectors: in time order),
the per-clip scores it ranked by, its own cost and, for a selector that recognises the video itself
(Listen to Look's policy), its own class probabilities ``probs`` ``(C,)`` over the classes named by
its ``classes``, in that order (the benchmark maps them onto its classifier's by name). A selector
that cannot score a video raises :class:`CannotScore` (one line): clips are never chosen from scores
that are all missing.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import torch

from scsampler.errors import ScsamplerError


class CannotScore(ScsamplerError):
    """The selector could not score this video (no audio for an audio sampler, no clip scored)."""


@dataclass(frozen=True)
class Needs:
    """What a selector needs from a video besides its length."""

    features: tuple[str, ...] = ()   # cheap-pass features it reads: "md", "rgbr", "if", "audio"
    audio: str = "none"              # "required": a video without (decodable) audio cannot be scored;
                                     # "optional": scored from the other features then; "none"
    dense: bool = False              # the classifier's probabilities of every clip (dense, oracle)
    label: bool = False              # the video's true label (the oracle: an upper bound, not a method)
    frames: bool = False             # frames it decodes itself from the view's file (``path``, ``grid``):
                                     # VideoEpitoma's middle frames


class Scorer(Protocol):
    """Per-clip scores from cheap-pass features (a trained sampler, or a training-free statistic).
    A scorer may also offer ``scoring(num_clips, clips)``, an accumulator that takes a video's packed
    features chunk by chunk (``add``) and gives its scores at the end (``result``), for what it can
    only score knowing the whole video (:class:`scsampler.runtime.sampler.VideoScoring`); the
    pipeline's cheap pass uses it where offered, and ``score`` on each chunk otherwise."""

    name: str
    key: str                          # identity of the weights and settings: caches are keyed by it
    features: tuple[str, ...]
    frames_per_clip: int              # frames scored per clip and visual feature; 0 = all
    extractor: dict                   # cheap-pass settings it was made for (features aside); {} = any

    def score(self, packed: dict[str, torch.Tensor], num_clips: int, clips: torch.Tensor | None = None) -> torch.Tensor:
        """``(L,)`` scores of one video's packed features (``nan`` where not scored)."""

    def flops_per_row(self) -> dict[str, int]:
        """FLOPs of one evaluation (one frame of a visual feature, one clip's log-mel) per feature."""


@dataclass
class Scores:
    """What :meth:`VideoView.scores` returns: every scorer's ``(L,)`` scores (``nan`` = not scored),
    the evaluations per scored clip of each scorer's features, the FLOPs of one evaluation per
    feature (as measured on this video's inputs; absent: the scorer's own count), and the seconds
    spent scoring."""

    values: dict[str, torch.Tensor]
    rows_per_clip: dict[str, dict[str, float]]
    seconds: float = 0.0
    flops_per_row: dict[str, dict[str, int]] = field(default_factory=dict)


class VideoView(Protocol):
    """What a selector may ask of one video."""

    video_id: str
    num_clips: int
    has_audio: bool
    generator: torch.Generator | None    # for random choices, seeded by the caller
    label: int | None                    # the true class index, where known (the oracle)
    labels: tuple[int, ...]              # every true class index, ``label`` first; () where unknown

    def scores(self, scorers: dict[str, Scorer], stride: int = 1) -> Scores:
        """Each scorer's scores of every ``stride``-th clip (from the first)."""

    def features(self, features: Sequence[str], clips: Sequence[int]) -> dict[str, torch.Tensor]:
        """The packed cheap features (:func:`scsampler.data.cache.pack_clips`) of ``clips`` only."""

    def probs(self) -> torch.Tensor:
        """``(L, C)``: the classifier's probabilities of every clip."""


@dataclass
class Choice:
    """A selector's answer for one video."""

    indices: torch.Tensor                                         # (K,) int64 clip indices, best first
    scores: dict[str, torch.Tensor] = field(default_factory=dict)  # name -> (L,), nan = not scored
    clips_scored: int = 0                                         # clips whose cheap features were scored
    gflops: float = 0.0                                           # the selector's own compute for this video
    seconds: float = 0.0                                          # time in the selector's networks
    notes: list[str] = field(default_factory=list)
    frames_decoded: int = 0                                       # frames it decoded itself (Needs.frames)
    probs: torch.Tensor | None = None                             # (C,) its own class probabilities, no clip
                                                                  # classified; classes: the selector's ``classes``


class ClipSelector:
    """Picks K clips of a video: ``select(video, k) -> Choice``. Subclasses set ``needs`` and
    implement :meth:`select`; ``settings`` is what decides their choice besides the video (stored
    with every result, so results made with other settings are never mixed)."""

    name: str = "selector"
    needs: Needs = Needs()
    takes_k: bool = True          # dense classifies every clip, whatever K is
    stochastic: bool = False      # its choice depends on the view's generator (random)
    classes: tuple[str, ...] | None = None   # the class names of its choices' own ``probs``, in that order

    def select(self, video: VideoView, k: int) -> Choice:
        raise NotImplementedError

    @property
    def scorers(self) -> dict[str, Scorer]:
        """The scorers this selector ranks by (their scores are cached by the benchmark)."""
        return {}

    @property
    def settings(self) -> dict:
        return {"name": self.name}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings})"


class Memo:
    """Values computed once per key, the ``capacity`` most recently used kept: a selector's per-video
    work that the benchmark asks for again (once per K and trial), bounded in memory."""

    def __init__(self, capacity: int):
        self.capacity = capacity
        self._items: OrderedDict = OrderedDict()

    def get(self, key: Hashable, compute: Callable[[], object]):
        if key in self._items:
            self._items.move_to_end(key)
            return self._items[key]
        value = self._items[key] = compute()
        while len(self._items) > self.capacity:
            self._items.popitem(last=False)
        return value
