"""Synthetic benchmark data: long videos with brief class-specific actions hidden among distractors.

Real labelled long videos cannot be downloaded here, so the benchmark makes its own, as real H.264
(or MPEG-4 Part 2) files with AAC audio, written by :class:`scsampler.io.writer.VideoWriter`.
They follow the premise of the SCSampler paper (Sec. 1; tutorial slides 2-3): a video is minutes
long, and only a minority of it (the *salient* segments) shows its class's action with the class's
sound. The rest is uninformative (still or panning textured backgrounds, crowd-like flicker, babble,
music, silence) or misleading:

- ``glimpse``: another class's motion, short, small and partly hidden (behind a pillar or cut by
  the frame's edge), without its sound;
- ``sound_only``: another class's sound with nothing on screen;
- ``masked``: the video's own action with its sound buried under loud noise (informative to the
  eye, misleading to the ear).

With ``actions_per_video`` above one (the ``multilabel`` presets) a video shows the actions of
several classes, each in segments of its own: the video has several labels (the manifest's
``labels`` column), the first the class whose action takes the most time.

Loud noise bursts are a layer of their own, independent of every event: a Poisson process over the
whole video, which covers each frame with the same probability whatever it shows. An action under
a burst is ``masked``; a burst over anything else (background, a glimpse, a sound-only event) is
just a loud moment. So a burst, like every other sound or picture event of the background (shot
cuts, cameras, sound beds), says nothing about whether the video's action is on screen: no event
occurs only with one kind of segment, and loudness is no shortcut to the action.

Classes differ only in how a sprite moves over time; every class draws the sprite's look (shape,
colours, texture, size) from the same distribution, and several classes come in pairs that differ
only by direction (left/right, clockwise/counter-clockwise, grow/shrink), so one frame cannot tell
them apart. Each class also has a sound: a pulsed tone with its own pitch, pulse rate and chirp
direction, drawn from the same notes that the background music plays.

Everything is planned from the seed first (:func:`plan_dataset`: durations, labels, the timeline of
every event, background shot and noise burst), then rendered one video per task
(:func:`render_video`), so the manifest and ``segments.json`` are identical for a seed whatever the
number of workers, and so are the video bytes (the encoder runs on one thread).

Times: a video has ``n_frames`` frames at ``fps``; events and shots are half-open frame ranges
``[start, end)``, written to ``segments.json`` in seconds (``frame / fps``, exact in binary for
fps = 16). Images are ``(H, W, 3)`` uint8 RGB; audio is mono float32 in [-1, 1].
"""

from __future__ import annotations

import csv
import dataclasses
import json
import logging
import math
import multiprocessing
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from scsampler.data.manifest import LABELS_SEPARATOR
from scsampler.errors import ConfigError
from scsampler.io.writer import VideoWriter

log = logging.getLogger(__name__)

# Bump when the rendering changes, so that a rerun into an old folder does not mix the two.
# 6: noise bursts are an independent layer (``bursts`` in segments.json); masked = action under a burst.
FORMAT_VERSION = 6

CODECS = ("h264", "mpeg4")
AAC_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
CAMERAS = ("static", "pan", "flicker")
BEDS = ("silence", "babble", "music", "noise")
KINDS = ("salient", "glimpse", "sound_only", "masked")


# -- classes ---------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ActionClass:
    """A class: a motion pattern (its name) and a sound signature (pulsed tone)."""

    name: str
    pitch_hz: float   # the tone's centre frequency
    pulse_hz: float   # pulses per second
    chirp: int        # +1: each pulse glides up, -1: down

# Neighbours form pairs that share pitch and pulse rate and differ in chirp direction, just as the
# motions of most pairs differ only by direction: a class is never told apart by one cue alone.
# Pitches are notes of the scale the background music plays, so the music is confusable with them.
ACTIONS: tuple[ActionClass, ...] = (
    ActionClass("move_right", 440.0, 3.0, +1),
    ActionClass("move_left", 440.0, 3.0, -1),
    ActionClass("circle_cw", 587.3, 2.0, +1),
    ActionClass("circle_ccw", 587.3, 2.0, -1),
    ActionClass("grow", 392.0, 4.0, +1),
    ActionClass("shrink", 392.0, 4.0, -1),
    ActionClass("oscillate_h", 659.3, 2.5, +1),
    ActionClass("oscillate_v", 659.3, 2.5, -1),
    ActionClass("spin_cw", 493.9, 5.0, +1),
    ActionClass("spin_ccw", 493.9, 5.0, -1),
    ActionClass("bounce", 784.0, 3.5, +1),
    ActionClass("zigzag", 784.0, 3.5, -1),
    ActionClass("move_down", 329.6, 2.5, -1),
    ActionClass("move_up", 329.6, 2.5, +1),
    ActionClass("shake", 880.0, 6.0, +1),
    ActionClass("diagonal", 880.0, 6.0, -1),
)
CLASS_NAMES: tuple[str, ...] = tuple(a.name for a in ACTIONS)
# The music's notes: a major pentatonic scale over two octaves that holds every class pitch.
MUSIC_NOTES_HZ = (261.6, 293.7, 329.6, 392.0, 440.0, 493.9, 587.3, 659.3, 784.0, 880.0, 987.8, 1046.5)


# -- configuration ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SyntheticConfig:
    """What to generate. Durations are in seconds, rates in events per minute of video.

    Invalid values raise :class:`ConfigError` when the config is made (also through
    ``dataclasses.replace``).
    """

    # dataset size: class i is ACTIONS[i]
    num_classes: int = 12
    train_per_class: int = 14
    test_per_class: int = 6
    # video length: lognormal(log(median), sigma), clipped to [min, max]
    duration_median_s: float = 100.0
    duration_sigma: float = 0.5
    duration_min_s: float = 45.0
    duration_max_s: float = 480.0
    # share of each video that shows its action (salient, or masked where a noise burst covers it),
    # uniform in [fraction - spread, fraction + spread]
    salient_fraction: float = 0.2
    salient_fraction_spread: float = 0.05
    salient_segment_s: tuple[float, float] = (2.0, 8.0)
    # How many classes' actions a video shows, uniform in [low, high] (several: a multi-label video;
    # that share of the video is divided among them, its label's the largest). (1, 1): one label.
    actions_per_video: tuple[int, int] = (1, 1)
    # distractors: Poisson counts per minute, and their lengths
    glimpse_per_min: float = 1.5
    sound_only_per_min: float = 1.0
    glimpse_s: tuple[float, float] = (0.5, 1.5)
    sound_only_s: tuple[float, float] = (1.5, 5.0)
    # Loud noise bursts (7-13 dB over a class's sound): a Poisson process over the whole video,
    # independent of the events; the action under a burst is masked. About 15 % of the time in
    # default, so that about a sixth of the action is masked, as with version 5's masked events.
    burst_per_min: float = 3.0
    burst_s: tuple[float, float] = (1.5, 5.0)
    min_gap_s: float = 1.0           # between two events, and before the first / after the last
    # background shots (camera cuts): length, camera kind and sound bed probabilities
    shot_s: tuple[float, float] = (6.0, 30.0)
    pan_prob: float = 0.4            # else static; flicker_prob of them show a flickering crowd
    flicker_prob: float = 0.25
    music_prob: float = 0.3          # else silence when the three sum below 1
    babble_prob: float = 0.3
    noise_prob: float = 0.2
    sprite_size: tuple[float, float] = (0.3, 0.42)    # side of the sprite, fraction of the height
    # Class similarity: the probability that an action's sprite wears its class's look (see
    # class_look) rather than a random one (glimpses wear the look of the class they show). Two
    # classes of a pair share a look, so the look narrows a class down to its pair and only the
    # motion tells the two apart. 0: every sprite looks random (classes differ by motion only).
    look_cue: float = 0.8
    # The probability that a background prop (still or drifting) wears a random class's look: a
    # decoy that one frame cannot tell from an action; 0: props always look random.
    prop_look_cue: float = 0.0
    # Backgrounds: every shot's scene (texture and still props) is one of scene_pool scenes shared
    # by all videos of all classes, so a scene says nothing about the class and a classifier cannot
    # learn a video's label from its background; 0: a new scene for every shot.
    scene_pool: int = 32
    # encoding
    width: int = 160
    height: int = 128
    fps: int = 16
    gop: int = 12
    bframes: int = 0
    codec: str = "h264"
    quality: int | None = None       # x264 CRF or MPEG-4 qscale; None: the writer's default
    sample_rate: int = 16000
    # Trimmed videos (the Kinetics-like pretraining set): each video is one shot that shows one
    # action from its first frame to its last; the salient-fraction and distractor fields are
    # ignored. The long untrimmed benchmark videos keep False.
    trimmed: bool = False

    def __post_init__(self) -> None:
        for name in ("salient_segment_s", "glimpse_s", "sound_only_s", "burst_s", "shot_s", "sprite_size"):
            value = getattr(self, name)
            try:
                lo, hi = (float(v) for v in value)
            except (TypeError, ValueError):
                raise ConfigError(f"{name} must be a pair (low, high), got {value!r}") from None
            if not 0 < lo <= hi:
                raise ConfigError(f"{name} must satisfy 0 < low <= high, got {value!r}")
            object.__setattr__(self, name, (lo, hi))  # JSON gives lists; keep tuples (hashable)
        value = self.actions_per_video
        if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(isinstance(v, int) and not isinstance(v, bool) for v in value)):
            raise ConfigError(f"actions_per_video must be a pair of whole numbers (low, high), got {value!r}")
        object.__setattr__(self, "actions_per_video", tuple(value))
        self._check()

    def _check(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ConfigError(msg)

        need(2 <= self.num_classes <= len(ACTIONS), f"num_classes must be in [2, {len(ACTIONS)}], got {self.num_classes}")
        need(self.train_per_class >= 0 and self.test_per_class >= 0, "videos per class cannot be negative")
        need(self.train_per_class + self.test_per_class > 0, "train_per_class + test_per_class must be at least 1")
        need(self.duration_sigma >= 0, f"duration_sigma must be >= 0, got {self.duration_sigma}")
        need(
            4 <= self.duration_min_s <= self.duration_median_s <= self.duration_max_s,
            "durations must satisfy 4 <= duration_min_s <= duration_median_s <= duration_max_s, got "
            f"{self.duration_min_s}, {self.duration_median_s}, {self.duration_max_s}",
        )
        lo, hi = self.salient_fraction - self.salient_fraction_spread, self.salient_fraction + self.salient_fraction_spread
        need(self.salient_fraction_spread >= 0, "salient_fraction_spread must be >= 0")
        need(0 < lo and hi < 0.5, f"salient fraction must stay in (0, 0.5) (a minority), got [{lo:g}, {hi:g}]")
        need(self.scene_pool >= 0, f"scene_pool must be >= 0, got {self.scene_pool}")
        lo, hi = self.actions_per_video
        need(1 <= lo <= hi < self.num_classes,
             f"actions_per_video must satisfy 1 <= low <= high < num_classes (a class left for distractors), got {self.actions_per_video}")
        need(hi == 1 or not self.trimmed, "trimmed videos show one action: actions_per_video must be (1, 1)")
        for name in ("glimpse_per_min", "sound_only_per_min", "burst_per_min", "min_gap_s"):
            need(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("pan_prob", "flicker_prob", "music_prob", "babble_prob", "noise_prob", "look_cue", "prop_look_cue"):
            need(0 <= getattr(self, name) <= 1, f"{name} must be in [0, 1], got {getattr(self, name)}")
        need(self.pan_prob + self.flicker_prob <= 1, "pan_prob + flicker_prob must be <= 1")
        need(self.music_prob + self.babble_prob + self.noise_prob <= 1, "music_prob + babble_prob + noise_prob must be <= 1")
        need(self.sprite_size[1] <= 0.5, f"sprite_size must be at most half the height, got {self.sprite_size}")
        need(
            self.width % 2 == 0 and self.height % 2 == 0 and 64 <= self.width <= 1920 and 48 <= self.height <= 1080,
            f"width x height must be even, within 64x48 .. 1920x1080, got {self.width}x{self.height}",
        )
        need(isinstance(self.fps, int) and 4 <= self.fps <= 60, f"fps must be a whole number in [4, 60], got {self.fps}")
        need(self.gop >= 1, f"gop must be >= 1, got {self.gop}")
        need(0 <= self.bframes <= 8 and self.bframes < max(self.gop, 1), f"bframes must be in [0, min(8, gop - 1)], got {self.bframes}")
        need(self.codec in CODECS, f"codec must be one of {', '.join(CODECS)}, got {self.codec!r}")
        need(self.quality is None or self.quality >= 0, f"quality must be >= 0, got {self.quality}")
        need(self.sample_rate in AAC_RATES, f"sample_rate must be one of {AAC_RATES} (AAC), got {self.sample_rate}")

    @property
    def classes(self) -> tuple[str, ...]:
        return CLASS_NAMES[: self.num_classes]

    @property
    def multi_label(self) -> bool:
        """Whether a video may show several classes' actions (and the files list its ``labels``)."""
        return self.actions_per_video[1] > 1

    @property
    def num_videos(self) -> int:
        return self.num_classes * (self.train_per_class + self.test_per_class)

    def to_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in dataclasses.asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict) -> "SyntheticConfig":
        unknown = set(d) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise ConfigError(f"unknown synthetic config fields: {', '.join(sorted(unknown))}")
        return cls(**d)


PRESETS: dict[str, SyntheticConfig] = {
    # For tests: 9 videos of 8-20 s, a few seconds to generate.
    "tiny": SyntheticConfig(
        num_classes=3, train_per_class=2, test_per_class=1,
        duration_median_s=13.0, duration_sigma=0.3, duration_min_s=8.0, duration_max_s=20.0,
        salient_segment_s=(1.5, 4.0), glimpse_per_min=4.0, sound_only_per_min=3.0, burst_per_min=8.0,
        glimpse_s=(0.5, 1.0), sound_only_s=(1.0, 2.0), burst_s=(1.0, 2.0), min_gap_s=0.5, shot_s=(4.0, 10.0),
    ),
    # For the demo: 72 videos of 20-60 s.
    "small": SyntheticConfig(
        num_classes=6, train_per_class=8, test_per_class=4,
        duration_median_s=36.0, duration_sigma=0.35, duration_min_s=20.0, duration_max_s=60.0,
        salient_segment_s=(2.0, 6.0), glimpse_per_min=2.0, sound_only_per_min=1.5, burst_per_min=4.0,
        shot_s=(5.0, 20.0),
    ),
    # Several actions in one video, for multi-label training and mAP: 2-3 of 6 classes each, 72
    # videos of 25-70 s (sized like small: about a minute to generate). The action's share grows to
    # 0.3 so that each class still shows a few seconds (one or two segments) in a 40 s video.
    "multilabel": SyntheticConfig(
        num_classes=6, train_per_class=8, test_per_class=4, actions_per_video=(2, 3),
        duration_median_s=40.0, duration_sigma=0.35, duration_min_s=25.0, duration_max_s=70.0,
        salient_fraction=0.3, salient_segment_s=(2.0, 6.0), glimpse_per_min=2.0, sound_only_per_min=1.5, burst_per_min=4.0,
        shot_s=(5.0, 20.0),
    ),
    # For tests: tiny with two actions a video (9 videos of 8-20 s).
    "tiny-multilabel": SyntheticConfig(
        num_classes=3, train_per_class=2, test_per_class=1, actions_per_video=(2, 2),
        duration_median_s=13.0, duration_sigma=0.3, duration_min_s=8.0, duration_max_s=20.0,
        salient_fraction=0.3, salient_segment_s=(1.5, 4.0), glimpse_per_min=4.0, sound_only_per_min=3.0, burst_per_min=8.0,
        glimpse_s=(0.5, 1.0), sound_only_s=(1.0, 2.0), burst_s=(1.0, 2.0), min_gap_s=0.5, shot_s=(4.0, 10.0),
    ),
    # The benchmark: 240 videos, mostly 1-4 minutes, a few up to 8 (sized so that generating it,
    # training the classifier, dense scoring and the baselines fit in an hour on 2 cores).
    "default": SyntheticConfig(),
    # Pretraining, standing in for the large labelled set a real classifier starts from (Kinetics,
    # or Sports1M's million training videos): 1,320 trimmed 4-7 s clips of the same 12 actions,
    # each in a scene of its own (none from the benchmark's scene pool), about 110 min of video.
    "pretrain": SyntheticConfig(
        trimmed=True, train_per_class=100, test_per_class=10,
        duration_median_s=5.0, duration_sigma=0.15, duration_min_s=4.0, duration_max_s=7.0, scene_pool=0,
    ),
}


# -- the plan: what each video contains, decided from the seed alone -------------------------------
@dataclass(frozen=True)
class Event:
    """One event of a video's timeline, frames ``[start, end)``; ``cls`` indexes ACTIONS.

    ``kind`` is ``"salient"`` (the video's action, masked where a burst covers it: see
    :func:`video_segments`), ``"glimpse"`` or ``"sound_only"``.
    """

    start: int
    end: int
    kind: str
    cls: int
    seed: int


@dataclass(frozen=True)
class Shot:
    """One background shot (between two camera cuts), frames ``[start, end)``."""

    start: int
    end: int
    camera: str     # "static", "pan" or "flicker"
    audio: str      # sound bed: "silence", "babble", "music" or "noise"
    seed: int
    scene: int = -1  # index into the shared scene pool; -1: the shot's own scene


@dataclass(frozen=True)
class Burst:
    """A loud noise burst, frames ``[start, end)``, placed independently of the events."""

    start: int
    end: int
    seed: int


@dataclass(frozen=True)
class VideoSpec:
    """Everything needed to render one video; ``path`` is relative to the dataset folder."""

    path: str
    split: str
    label: int
    n_frames: int
    events: tuple[Event, ...]
    shots: tuple[Shot, ...]
    seed: int
    bursts: tuple[Burst, ...] = ()  # disjoint, sorted
    labels: tuple[int, ...] = ()    # every class whose action it shows, ``label`` first


def plan_dataset(config: SyntheticConfig, seed: int = 0) -> list[VideoSpec]:
    """The deterministic plan of every video: train videos first, then test, labels shuffled."""
    specs = []
    for split_id, (split, per_class) in enumerate((("train", config.train_per_class), ("test", config.test_per_class))):
        labels = np.repeat(np.arange(config.num_classes), per_class)
        np.random.default_rng([seed, split_id, 0xC1A55]).shuffle(labels)
        for i, label in enumerate(labels):
            rng = np.random.default_rng([seed, split_id, i])
            specs.append(_plan_video(config, rng, f"videos/{split}_{i:05d}.mp4", split, int(label)))
    return specs


def _frames(seconds: float, fps: int) -> int:
    return max(1, int(round(seconds * fps)))


def _split_total(total: int, n: int, rng: np.random.Generator) -> list[int]:
    """``total`` frames split into ``n`` positive parts of similar length that sum exactly to it."""
    w = rng.uniform(0.6, 1.4, n)
    raw = total * w / w.sum()
    parts = np.floor(raw).astype(int)
    for i in np.argsort(raw - parts)[::-1][: total - parts.sum()]:
        parts[i] += 1
    return [int(p) for p in parts]


def _plan_video(cfg: SyntheticConfig, rng: np.random.Generator, path: str, split: str, label: int) -> VideoSpec:
    fps = cfg.fps
    duration = float(np.clip(rng.lognormal(math.log(cfg.duration_median_s), cfg.duration_sigma), cfg.duration_min_s, cfg.duration_max_s))
    n_frames = _frames(duration, fps)
    seconds = n_frames / fps

    if cfg.trimmed:  # one action over the whole video, in one shot
        event = Event(0, n_frames, "salient", label, int(rng.integers(2**31)))
        shot = Shot(0, n_frames, *_shot_style(cfg, rng))
        return VideoSpec(path, split, label, n_frames, (event,), (shot,), int(rng.integers(2**31)), labels=(label,))

    # Salient segments: their total is the video's salient fraction, cut into segments whose
    # length is within salient_segment_s where the total allows.
    fraction = rng.uniform(cfg.salient_fraction - cfg.salient_fraction_spread, cfg.salient_fraction + cfg.salient_fraction_spread)
    salient_total = max(1, int(round(fraction * n_frames)))
    labels, totals = (label,), [salient_total]
    if cfg.multi_label:  # only here: a one-label config draws what it always drew (its data stay as they were)
        n = int(rng.integers(cfg.actions_per_video[0], cfg.actions_per_video[1] + 1))
        if n > 1:
            labels += tuple(int(c) for c in rng.choice([c for c in range(cfg.num_classes) if c != label], n - 1, replace=False))
            totals = sorted(_split_total(salient_total, n, rng), reverse=True)  # the label's share the largest
    lo, hi = (_frames(s, fps) for s in cfg.salient_segment_s)
    events: list[tuple[int, str, int]] = []
    for cls, total in zip(labels, totals):
        n_salient = int(round(total / ((lo + hi) / 2)))
        n_salient = max(1, min(max(n_salient, math.ceil(total / hi)), max(1, total // lo)))
        events += [(n, "salient", cls) for n in _split_total(total, n_salient, rng)]
    others = [c for c in range(cfg.num_classes) if c not in labels]

    distractors: list[tuple[int, str, int]] = []
    for kind, rate, (dlo, dhi) in (
        ("glimpse", cfg.glimpse_per_min, cfg.glimpse_s),
        ("sound_only", cfg.sound_only_per_min, cfg.sound_only_s),
    ):
        for _ in range(rng.poisson(rate * seconds / 60)):
            distractors.append((_frames(rng.uniform(dlo, dhi), fps), kind, int(rng.choice(others))))

    # Drop distractors at random until every event fits with its gaps; salient ones always fit
    # (they take less than half the video), with the gaps shrunk if the video is very short.
    gap = _frames(cfg.min_gap_s, fps) if cfg.min_gap_s > 0 else 0
    while distractors and sum(e[0] for e in events + distractors) + (len(events) + len(distractors) + 1) * gap > n_frames:
        distractors.pop(int(rng.integers(len(distractors))))
    events += distractors
    busy = sum(e[0] for e in events)
    gap = min(gap, (n_frames - busy) // (len(events) + 1))
    free = n_frames - busy - (len(events) + 1) * gap

    # Random order, random free time between events: salient segments land anywhere.
    order = rng.permutation(len(events))
    cuts = np.sort(rng.integers(0, free + 1, len(events)))
    extra = np.diff(np.concatenate([[0], cuts]))
    timeline, pos = [], 0
    for j, i in enumerate(order):
        length, kind, cls = events[i]
        pos += gap + int(extra[j])
        timeline.append(Event(pos, pos + length, kind, cls, int(rng.integers(2**31))))
        pos += length

    shots, pos = [], 0
    slo, shi = cfg.shot_s
    while pos < n_frames:
        end = pos + _frames(rng.uniform(slo, shi), fps)
        if n_frames - end < _frames(slo / 2, fps):  # no stub shot at the end
            end = n_frames
        shots.append(Shot(pos, end, *_shot_style(cfg, rng)))
        pos = end

    bursts = _plan_bursts(cfg, rng, n_frames)
    return VideoSpec(path, split, label, n_frames, tuple(timeline), tuple(shots), int(rng.integers(2**31)), bursts, labels)


def _plan_bursts(cfg: SyntheticConfig, rng: np.random.Generator, n_frames: int) -> tuple[Burst, ...]:
    """Loud noise bursts: ``burst_per_min`` a minute, placed without looking at the events.

    The bursts of a Poisson process on an endless timeline that overlap the video: a burst of ``L``
    frames starts uniformly in ``[1 - L, n_frames - 1]`` and is cut to the video, so it covers
    every frame with the same probability ``L / (n_frames + L - 1)``: whether a frame is under a
    burst is independent of what it shows. Overlapping bursts merge into one.
    """
    lo, hi = (_frames(s, cfg.fps) for s in cfg.burst_s)
    spans = []
    for _ in range(rng.poisson(cfg.burst_per_min * (n_frames + (lo + hi) / 2 - 1) / cfg.fps / 60)):
        length = int(rng.integers(lo, hi + 1))
        start = int(rng.integers(1 - length, n_frames))
        spans.append((max(start, 0), min(start + length, n_frames)))
    merged: list[list[int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], b)
        else:
            merged.append([a, b])
    return tuple(Burst(a, b, int(rng.integers(2**31))) for a, b in merged)


def video_segments(spec: VideoSpec) -> list[tuple[int, int, str, int]]:
    """The segments of ``spec`` as ``(start, end, kind, cls)`` in frames, sorted: its events, each
    action cut where bursts cover it into ``masked`` pieces (the action under a burst) and
    ``salient`` ones (the rest). Glimpses and sound-only events keep their kind under a burst."""
    out = []
    for ev in spec.events:
        if ev.kind != "salient":
            out.append((ev.start, ev.end, ev.kind, ev.cls))
            continue
        pos = ev.start
        for b in spec.bursts:
            a, z = max(b.start, ev.start), min(b.end, ev.end)
            if a >= z:
                continue
            if a > pos:
                out.append((pos, a, "salient", ev.cls))
            out.append((a, z, "masked", ev.cls))
            pos = z
        if pos < ev.end:
            out.append((pos, ev.end, "salient", ev.cls))
    return sorted(out)


def _shot_style(cfg: SyntheticConfig, rng: np.random.Generator) -> tuple[str, str, int, int]:
    """A shot's camera, sound bed, seed and scene (index into the pool, -1: its own scene)."""
    camera_p = [1 - cfg.pan_prob - cfg.flicker_prob, cfg.pan_prob, cfg.flicker_prob]
    bed_p = [max(0.0, 1 - cfg.music_prob - cfg.babble_prob - cfg.noise_prob), cfg.babble_prob, cfg.music_prob, cfg.noise_prob]
    camera = CAMERAS[int(rng.choice(3, p=camera_p))]
    bed = BEDS[int(rng.choice(4, p=np.array(bed_p) / sum(bed_p)))]
    scene = int(rng.integers(cfg.scene_pool)) if cfg.scene_pool > 0 else -1
    seed = int(rng.integers(2**31))
    return camera, bed, seed, scene


# -- sprites ---------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Sprite:
    """A textured shape on an ``S x S`` canvas: ``rgb`` (S, S, 3) float32, ``alpha`` (S, S) in [0, 1]."""

    rgb: np.ndarray
    alpha: np.ndarray
    # (scale, angle) -> the warped sprite: most motions keep both fixed and only translate, so one
    # warp serves every frame of the event.
    _warps: dict = field(default_factory=dict, repr=False)

    def warped(self, scale: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
        """Premultiplied rgb and 1 - alpha, both (n, n, 3) float32, of the scaled, rotated sprite."""
        key = (round(float(scale), 3), round(float(angle) % (2 * math.pi), 3))
        hit = self._warps.get(key)
        if hit is None:
            if len(self._warps) >= 64:
                self._warps.clear()  # also drops the tables: _warp rebuilds them
            hit = self._warps[key] = _warp(self, *key)
        return hit


def _colour(rng: np.random.Generator) -> np.ndarray:
    return rng.uniform(25, 230, 3).astype(np.float32)


# A look per pair of classes (class i belongs to pair i // 2): a shape, a pattern and a base colour.
# Eight pairs, eight distinct (shape, pattern) combinations, colours spread around the hue circle.
PAIR_COLOURS = np.array([
    (220, 60, 50), (50, 110, 225), (235, 200, 40), (60, 180, 80),
    (170, 70, 200), (240, 130, 30), (40, 200, 200), (230, 90, 170),
], np.float32)


@dataclass(frozen=True)
class Look:
    """What a class's sprites look like: ``shape`` and ``pattern`` in 0..3, a base colour (RGB)."""

    shape: int
    pattern: int
    colour: tuple[float, float, float]


def class_look(cls: int) -> Look:
    """The look shared by class ``cls`` and its pair partner."""
    pair = cls // 2
    return Look(shape=pair % 4, pattern=(pair + pair // 4) % 4, colour=tuple(float(c) for c in PAIR_COLOURS[pair]))


def pick_look(rng: np.random.Generator, cls: int | None, cue: float, num_classes: int) -> Look | None:
    """The look of one sprite: with probability ``cue`` class ``cls``'s look (a random class's
    when ``cls`` is None), else None (a random look)."""
    if rng.random() >= cue:
        return None
    return class_look(int(rng.integers(num_classes)) if cls is None else cls)


def make_sprite(rng: np.random.Generator, size: int, look: Look | None = None) -> Sprite:
    """A sprite: a random shape, colours and pattern, or those of ``look`` (colours jittered)."""
    s = int(size)
    yy, xx = (np.mgrid[0:s, 0:s].astype(np.float32) + 0.5 - s / 2) / (s / 2)  # [-1, 1]
    a, b = 0.95, 0.95 * rng.uniform(0.55, 0.85)  # elongated, so that spinning shows
    shape = rng.integers(4) if look is None else look.shape
    if shape == 0:    # ellipse
        d = np.sqrt((xx / a) ** 2 + (yy / b) ** 2) - 1
    elif shape == 1:  # rectangle
        d = np.maximum(np.abs(xx) / a, np.abs(yy) / b) - 1
    elif shape == 2:  # diamond
        d = np.abs(xx) / a + np.abs(yy) / b - 1
    else:             # two overlapping discs, a peanut
        r = b * 1.1
        d = np.minimum(np.hypot(xx - (a - r), yy), np.hypot(xx + (a - r) * 0.6, yy)) / r - 1
    alpha = np.clip(0.5 - d * b * s / 2, 0, 1).astype(np.float32)  # one-pixel soft edge

    if look is None:
        c1 = _colour(rng)
        c2 = _colour(rng)
        while np.abs(c1 - c2).sum() < 120:
            c2 = _colour(rng)
    else:  # the class's colour, and a darker shade of it: the whole sprite is in the class's hue
        c1 = np.clip(np.array(look.colour, np.float32) + rng.normal(0, 12, 3), 0, 255).astype(np.float32)
        c2 = (c1 * rng.uniform(0.45, 0.6)).astype(np.float32)
    pattern = rng.integers(4) if look is None else look.pattern
    u, v = xx * s / 2, yy * s / 2  # pixels
    if pattern == 0:    # stripes
        beta = rng.uniform(0, np.pi)
        p = np.sin(2 * np.pi * (u * np.cos(beta) + v * np.sin(beta)) / rng.uniform(4, 9)) > 0
    elif pattern == 1:  # checker
        k = rng.uniform(3, 7)
        p = (np.floor(u / k) + np.floor(v / k)) % 2 == 0
    elif pattern == 2:  # spots
        k = rng.uniform(5, 9)
        p = np.hypot(u / k - np.round(u / k), v / k - np.round(v / k)) < 0.3
    else:               # half and half, split at an angle
        beta = rng.uniform(0, 2 * np.pi)
        p = u * np.cos(beta) + v * np.sin(beta) > 0
    rgb = np.where(p[..., None], c1, c2)
    shade = 0.7 + 0.3 * (1 - np.clip(xx**2 + yy**2, 0, 1))  # darker rim: reads as a solid body
    rgb = rgb * shade[..., None] + rng.normal(0, 6, (s, s, 3))
    return Sprite(np.clip(rgb, 0, 255).astype(np.float32), alpha)


def _warp(sprite: Sprite, scale: float, angle: float) -> tuple[np.ndarray, np.ndarray]:
    s = sprite.alpha.shape[0]
    if "tables" not in sprite._warps:
        # Rows: premultiplied rgb, and 1 - alpha, of each sprite pixel, then a transparent row.
        a = sprite.alpha.reshape(-1, 1)
        premult = np.concatenate([sprite.rgb.reshape(-1, 3) * a, np.zeros((1, 3), np.float32)])
        keep = np.concatenate([np.repeat(1 - a, 3, axis=1), np.ones((1, 3), np.float32)])
        sprite._warps["tables"] = (premult, keep)
    premult, keep = sprite._warps["tables"]
    c, sn = math.cos(angle), math.sin(angle)
    n = int(math.ceil(s * scale * (abs(c) + abs(sn)))) + 2  # canvas that holds the rotated square
    xs = np.arange(n, dtype=np.float32) + 0.5 - n / 2        # (n,)
    ys = xs[:, None]                                          # (n, 1)
    # Inverse map: canvas pixel -> sprite pixel (nearest neighbour); outside -> the transparent row.
    ui = np.floor((c * xs + sn * ys) / scale + s / 2).astype(np.int32)   # (n, n)
    vi = np.floor((-sn * xs + c * ys) / scale + s / 2).astype(np.int32)
    inside = (ui >= 0) & (ui < s) & (vi >= 0) & (vi < s)
    idx = np.where(inside, vi * s + ui, s * s)
    # Both (n, n, 3): blending with an (n, n, 1) alpha broadcast is several times slower.
    return premult.take(idx, axis=0), keep.take(idx, axis=0)


def draw_sprite(frame: np.ndarray, sprite: Sprite, x: float, y: float, scale: float = 1.0, angle: float = 0.0) -> None:
    """Composite ``sprite`` into ``frame`` (H, W, 3) uint8 in place, centred at pixel ``(x, y)``
    (rounded to whole pixels), scaled, and rotated by ``angle`` radians (clockwise on screen)."""
    rgb, keep = sprite.warped(scale, angle)
    n = rgb.shape[0]
    h, w = frame.shape[:2]
    x0, y0 = int(round(x - n / 2)), int(round(y - n / 2))
    fx0, fx1, fy0, fy1 = max(x0, 0), min(x0 + n, w), max(y0, 0), min(y0 + n, h)
    if fx0 >= fx1 or fy0 >= fy1:
        return
    sx, sy = slice(fx0 - x0, fx1 - x0), slice(fy0 - y0, fy1 - y0)
    out = frame[fy0:fy1, fx0:fx1].astype(np.float32)
    out *= keep[sy, sx]   # alpha blend with a premultiplied sprite
    out += rgb[sy, sx]
    out += 0.5            # the uint8 cast truncates: this rounds
    frame[fy0:fy1, fx0:fx1] = out


# -- motion patterns: pose over time -------------------------------------------------------------
# Each returns arrays (x, y, scale, angle) over ``t`` (seconds since the event began), around the
# anchor (ax, ay) in pixels, for a frame of w x h and a sprite of side s. Speeds, radii and phases
# are drawn from ``rng`` so that no class has one exact speed.


def _wrap(v: np.ndarray, lo: float, hi: float) -> np.ndarray:
    return lo + np.mod(v - lo, hi - lo)


def _translate(t, ax, ay, rng, w, h, s, direction_deg):
    theta = np.deg2rad(direction_deg + rng.uniform(-8, 8))
    speed = rng.uniform(0.3, 0.5) * (w * abs(math.cos(theta)) + h * abs(math.sin(theta)))  # px/s
    tc = t - t.mean()  # the path's middle is at the anchor
    x = _wrap(ax + speed * math.cos(theta) * tc, -s / 2, w + s / 2)
    y = _wrap(ay + speed * math.sin(theta) * tc, -s / 2, h + s / 2)
    return x, y, np.ones_like(t), np.full_like(t, rng.uniform(-0.3, 0.3))


def _circle(t, ax, ay, rng, w, h, s, sign):
    r = rng.uniform(0.18, 0.26) * h
    phase = rng.uniform(0, 2 * np.pi) + sign * 2 * np.pi * rng.uniform(0.6, 1.0) * t
    # sign +1: the angle grows, which is clockwise on screen because y points down.
    return ax + r * np.cos(phase), ay + r * np.sin(phase), np.ones_like(t), np.full_like(t, rng.uniform(-0.3, 0.3))


def _oscillate(t, ax, ay, rng, w, h, s, axis):
    amp = rng.uniform(0.2, 0.3) * (w if axis == 0 else h)
    off = amp * np.sin(2 * np.pi * rng.uniform(0.7, 1.1) * t + rng.uniform(0, 2 * np.pi))
    x, y = (ax + off, np.full_like(t, ay)) if axis == 0 else (np.full_like(t, ax), ay + off)
    return x, y, np.ones_like(t), np.full_like(t, rng.uniform(-0.3, 0.3))


def _scale(t, ax, ay, rng, w, h, s, sign):
    ramp = np.mod(rng.uniform(0.6, 0.9) * t + rng.uniform(0, 1), 1.0)  # sawtooth, ~1.3 s period
    scale = 0.55 + 0.9 * (ramp if sign > 0 else 1 - ramp)
    return np.full_like(t, ax), np.full_like(t, ay), scale, np.full_like(t, rng.uniform(-0.3, 0.3))


def _spin(t, ax, ay, rng, w, h, s, sign):
    angle = rng.uniform(0, 2 * np.pi) + sign * 2 * np.pi * rng.uniform(0.5, 0.9) * t
    return np.full_like(t, ax), np.full_like(t, ay), np.ones_like(t), angle


def _bounce(t, ax, ay, rng, w, h, s, _):
    height = rng.uniform(0.3, 0.4) * h
    y = ay + height / 2 - height * np.abs(np.sin(np.pi * rng.uniform(0.9, 1.4) * t + rng.uniform(0, np.pi)))
    x = ax + rng.uniform(-0.05, 0.05) * w * (t - t.mean())
    return x, y, np.ones_like(t), np.full_like(t, rng.uniform(-0.3, 0.3))


def _zigzag(t, ax, ay, rng, w, h, s, _):
    speed = rng.choice([-1, 1]) * rng.uniform(0.3, 0.45) * w
    x = _wrap(ax + speed * (t - t.mean()), -s / 2, w + s / 2)
    tri = 2 * np.abs(2 * np.mod(rng.uniform(0.8, 1.2) * t + rng.uniform(0, 1), 1.0) - 1) - 1  # triangle wave in [-1, 1]
    return x, ay + rng.uniform(0.15, 0.25) * h * tri, np.ones_like(t), np.full_like(t, rng.uniform(-0.3, 0.3))


def _shake(t, ax, ay, rng, w, h, s, _):
    freq = rng.uniform(3.5, 5.0)  # below the Nyquist rate of 16 fps video
    phase = 2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)
    x = ax + rng.uniform(0.025, 0.045) * w * np.sin(phase) + rng.normal(0, 0.6, t.shape)
    y = ay + rng.normal(0, 0.6, t.shape)
    return x, y, np.ones_like(t), rng.uniform(-0.3, 0.3) + 0.15 * np.sin(phase + 1.0)


MOTIONS = {
    "move_right": lambda *a: _translate(*a, 0),
    "move_left": lambda *a: _translate(*a, 180),
    "move_down": lambda *a: _translate(*a, 90),
    "move_up": lambda *a: _translate(*a, 270),
    "diagonal": lambda *a: _translate(*a, 45),
    "circle_cw": lambda *a: _circle(*a, +1),
    "circle_ccw": lambda *a: _circle(*a, -1),
    "oscillate_h": lambda *a: _oscillate(*a, 0),
    "oscillate_v": lambda *a: _oscillate(*a, 1),
    "grow": lambda *a: _scale(*a, +1),
    "shrink": lambda *a: _scale(*a, -1),
    "spin_cw": lambda *a: _spin(*a, +1),
    "spin_ccw": lambda *a: _spin(*a, -1),
    "bounce": lambda *a: _bounce(*a, None),
    "zigzag": lambda *a: _zigzag(*a, None),
    "shake": lambda *a: _shake(*a, None),
}
assert set(MOTIONS) == set(CLASS_NAMES)


def motion_path(
    motion: str, n_frames: int, *, fps: int, width: int, height: int, sprite_px: int,
    anchor: tuple[float, float], rng: np.random.Generator,
) -> np.ndarray:
    """Poses of a sprite doing ``motion`` for ``n_frames``: (n_frames, 4) float = (x, y, scale, angle)."""
    t = np.arange(n_frames, dtype=np.float64) / fps
    x, y, scale, angle = MOTIONS[motion](t, anchor[0], anchor[1], rng, width, height, sprite_px)
    return np.stack([x, y, scale, angle], axis=1)


def render_event_frames(
    motion: str, *, appearance_seed: int, motion_seed: int, n_frames: int, width: int = 160, height: int = 128,
    fps: int = 16, sprite_px: int = 28, anchor: tuple[float, float] | None = None, background: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """One action on its own, for inspection and tests: frames (T, H, W, 3) uint8 and poses (T, 4).

    The sprite's look depends only on ``appearance_seed``; the path only on ``motion`` and
    ``motion_seed``. The background is flat grey unless given as an (H, W, 3) uint8 image.
    """
    sprite = make_sprite(np.random.default_rng(appearance_seed), sprite_px)
    anchor = anchor if anchor is not None else (width / 2, height / 2)
    poses = motion_path(motion, n_frames, fps=fps, width=width, height=height, sprite_px=sprite_px,
                        anchor=anchor, rng=np.random.default_rng(motion_seed))
    bg = background if background is not None else np.full((height, width, 3), 128, np.uint8)
    frames = np.repeat(bg[None], n_frames, axis=0)
    for frame, (x, y, scale, angle) in zip(frames, poses):
        draw_sprite(frame, sprite, x, y, scale, angle)
    return frames, poses


# -- backgrounds -----------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, h: int, w: int, beta: float) -> np.ndarray:
    """Periodic 1/f^beta noise (h, w) float32 scaled to about [0, 1]: tiles without seams."""
    spec = np.fft.rfft2(rng.standard_normal((h, w)))
    f = np.hypot(np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :])
    f[0, 0] = 1.0
    spec *= f ** (-beta / 2)
    spec[0, 0] = 0
    n = np.fft.irfft2(spec, s=(h, w))
    return np.clip(0.5 + n / (4 * n.std() + 1e-9), 0, 1).astype(np.float32)


def make_texture(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """A periodic textured scene (h, w, 3) uint8: large colour regions, patches and grain."""
    c0, c1, c2 = _colour(rng), _colour(rng), _colour(rng)
    big = _smooth_noise(rng, h, w, 3.2)[..., None]
    patch = np.clip((_smooth_noise(rng, h, w, 2.4) - 0.62) * 10, 0, 1)[..., None]
    grain = _smooth_noise(rng, h, w, 1.0)[..., None] - 0.5
    img = c0 + (c1 - c0) * big
    img = img * (1 - patch) + c2 * patch
    img = img + grain * rng.uniform(20, 45)  # fine detail for the encoder's block matching
    return np.clip(img, 0, 255).astype(np.uint8)


class _Scene:
    """The background of one shot: a periodic texture seen by a static, panning or crowd camera,
    with props (sprites from the same look distribution) standing still or drifting slowly."""

    def __init__(self, shot: Shot, cfg: SyntheticConfig):
        rng = np.random.default_rng([shot.seed, 1])
        h, w = cfg.height, cfg.width
        self.h, self.w, self.fps, self.camera = h, w, cfg.fps, shot.camera
        self.th, self.tw = 2 * h, 2 * w
        sizes = cfg.sprite_size
        # The scene: the texture and the still props painted into it (they pan with it: one frame
        # shows objects in every shot, salient or not, so only motion can tell). A pooled scene
        # comes from its own seed, the same in every video that uses it.
        scene_rng = np.random.default_rng([0x5CE7E, shot.scene]) if shot.scene >= 0 else rng
        tex = make_texture(scene_rng, self.th, self.tw)
        for _ in range(scene_rng.integers(0, 4)):
            sp = make_sprite(scene_rng, _sprite_px(scene_rng, sizes, h), pick_look(scene_rng, None, cfg.prop_look_cue, cfg.num_classes))
            draw_sprite(tex, sp, scene_rng.uniform(0.1, 0.9) * self.tw, scene_rng.uniform(0.1, 0.9) * self.th,
                        scene_rng.uniform(0.7, 1.1), scene_rng.uniform(0, np.pi))
        self.tiled = np.tile(tex, (2, 2, 1))
        self.offset = (rng.uniform(0, self.th), rng.uniform(0, self.tw))
        self.velocity = (0.0, 0.0)
        if shot.camera == "pan":
            # Mostly horizontal pans, some tilts; px/frame, content moves opposite to the camera.
            theta = rng.choice([0, np.pi]) + rng.normal(0, 0.35) if rng.random() < 0.8 else rng.choice([-1, 1]) * np.pi / 2
            speed = rng.uniform(0.6, 2.5) * w / 160
            self.velocity = (speed * math.sin(theta), speed * math.cos(theta))
        self.drifters: list[tuple[Sprite, np.ndarray]] = []  # (sprite, params) moving slowly in screen coords
        self.pillar: tuple[int, np.ndarray] | None = None
        if shot.camera != "pan":
            for _ in range(rng.choice(3, p=[0.4, 0.4, 0.2])):
                sp = make_sprite(rng, _sprite_px(rng, sizes, h), pick_look(rng, None, cfg.prop_look_cue, cfg.num_classes))
                params = np.array([rng.uniform(0.15, 0.85) * w, rng.uniform(0.15, 0.85) * h,
                                   rng.uniform(5, 25) * w / 160, rng.uniform(5, 20) * h / 128,
                                   rng.uniform(0.03, 0.12), rng.uniform(0.03, 0.12),
                                   rng.uniform(0, 2 * np.pi), rng.uniform(0, 2 * np.pi), rng.uniform(0, np.pi)])
                self.drifters.append((sp, params))
            if rng.random() < 0.35:  # a foreground pillar, in front of everything
                pw = max(4, int(rng.uniform(0.08, 0.15) * w))
                ptex = (make_texture(rng, h, pw).astype(np.float32) * rng.uniform(0.4, 0.7)).astype(np.uint8)
                self.pillar = (int(rng.uniform(0.15, 0.85) * w - pw / 2), ptex)
        if shot.camera == "flicker":
            self._make_crowd(rng, shot.end - shot.start)

    def _make_crowd(self, rng: np.random.Generator, n_frames: int) -> None:
        """Heads in the lower part of the frame whose brightness jumps from frame to frame."""
        h, w = self.h, self.w
        base = self._slice(0).copy()
        n = int(rng.integers(30, 70) * (h * w) / (160 * 128))
        owner = np.full((h, w), -1, np.int32)
        yy, xx = np.mgrid[0:h, 0:w]
        for i in range(n):
            r = rng.uniform(2.5, 6) * h / 128
            cy, cx = rng.uniform(0.5, 1.02) * h, rng.uniform(-0.02, 1.02) * w
            disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            base[disc] = rng.uniform(40, 200, 3).astype(np.uint8)
            owner[disc] = i
        self.base = base
        flat = owner.reshape(-1)
        self.crowd_pix = np.flatnonzero(flat >= 0)
        self.crowd_owner = flat[self.crowd_pix]
        # Each head keeps a brightness change for a few frames, then jumps: (n_frames, n) int16.
        jump = rng.random((n_frames, n)) < 0.25
        jump[0] = True
        since = np.maximum.accumulate(np.where(jump, np.arange(n_frames)[:, None], 0), axis=0)
        values = rng.normal(0, 35, (n_frames, n))
        self.gains = values[since, np.arange(n)].astype(np.int16)

    def _slice(self, k: int) -> np.ndarray:
        iy = int(self.offset[0] + self.velocity[0] * k) % self.th
        ix = int(self.offset[1] + self.velocity[1] * k) % self.tw
        return self.tiled[iy : iy + self.h, ix : ix + self.w]

    def background(self, k: int) -> np.ndarray:
        """Frame ``k`` of the shot (counted from the shot's start) before any event: (H, W, 3) uint8."""
        if self.camera == "flicker":
            frame = self.base.copy()
            flat = frame.reshape(-1, 3)
            vals = self.base.reshape(-1, 3)[self.crowd_pix].astype(np.int16) + self.gains[k, self.crowd_owner][:, None]
            flat[self.crowd_pix] = np.clip(vals, 0, 255).astype(np.uint8)
        else:
            frame = self._slice(k).copy()
        t = k / self.fps
        for sp, p in self.drifters:
            draw_sprite(frame, sp, p[0] + p[2] * math.sin(2 * np.pi * p[4] * t + p[6]),
                        p[1] + p[3] * math.sin(2 * np.pi * p[5] * t + p[7]), 1.0, p[8])
        return frame

    def occlude(self, frame: np.ndarray) -> None:
        if self.pillar is not None:
            x, tex = self.pillar
            x0, x1 = max(x, 0), min(x + tex.shape[1], self.w)
            frame[:, x0:x1] = tex[:, x0 - x : x1 - x]

    def glimpse_anchor(self, rng: np.random.Generator) -> tuple[float, float]:
        """Where a glimpse happens: behind the pillar, or half out of the frame at an edge."""
        if self.pillar is not None:
            x, tex = self.pillar
            return x + tex.shape[1] / 2 + rng.normal(0, 3), rng.uniform(0.3, 0.7) * self.h
        if rng.random() < 0.5:
            return float(rng.choice([rng.uniform(-0.04, 0.06), rng.uniform(0.94, 1.04)]) * self.w), rng.uniform(0.25, 0.75) * self.h
        return rng.uniform(0.25, 0.75) * self.w, float(rng.choice([rng.uniform(-0.05, 0.07), rng.uniform(0.93, 1.05)]) * self.h)


def _sprite_px(rng: np.random.Generator, sizes: tuple[float, float], height: int) -> int:
    return max(8, int(round(rng.uniform(*sizes) * height)))


# -- audio ---------------------------------------------------------------------------------------
def _rms_normalised(x: np.ndarray) -> np.ndarray:
    return x / (np.sqrt(np.mean(x**2)) + 1e-9)


def _phase(freq: np.ndarray, sr: int) -> np.ndarray:
    """Phase (radians, float32 in [0, 2 pi)) of a tone whose frequency (Hz) is given per sample."""
    return np.mod(np.cumsum(freq, dtype=np.float64) * (2 * np.pi / sr), 2 * np.pi).astype(np.float32)


def _control(n: int, values: np.ndarray, step: int = 16) -> np.ndarray:
    """A slowly varying signal given at ``len(values)`` points spread over ``n`` samples, as (n,)
    float32: interpolated on a grid of one point per ``step`` samples, then held (cheap)."""
    grid = np.interp(np.linspace(0, len(values) - 1, -(-n // step)), np.arange(len(values)), values)
    return np.repeat(grid.astype(np.float32), step)[:n]


def class_sound(cls: int, n: int, sample_rate: int, rng: np.random.Generator) -> np.ndarray:
    """The sound of class ``cls``: pulses of a chirped tone, unit RMS, (n,) float32.

    Pitch and pulse rate vary a little per instance (+-3 %, +-8 %); each pulse glides 0.6 octave up
    (chirp +1) or down (-1) around the pitch.
    """
    a = ACTIONS[cls]
    f0 = a.pitch_hz * rng.uniform(0.97, 1.03)
    rate = a.pulse_hz * rng.uniform(0.92, 1.08)
    u = np.mod(np.arange(n) * (rate / sample_rate) + rng.uniform(0, 1), 1.0).astype(np.float32)  # pulse clock
    duty = np.float32(0.55)
    v = np.minimum(u / duty, 1)  # position inside the pulse, [0, 1]
    phase = _phase(f0 * np.exp2(a.chirp * 0.6 * (v - 0.5)), sample_rate)
    s, c = np.sin(phase), np.cos(phase)
    env = (u < duty) * np.sin(np.pi * v) ** 2
    # sin x + 0.35 sin 2x + 0.15 sin 3x, by the double- and triple-angle identities.
    return _rms_normalised(env * s * (1.45 + 0.7 * c - 0.6 * s * s))


def _music(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Plucked notes of the same scale as the class tones, some gliding into the next note."""
    beat = int(rng.uniform(0.22, 0.55) * sr)  # samples per note
    k = n // beat + 2
    notes = np.array(MUSIC_NOTES_HZ, np.float32)[rng.integers(0, len(MUSIC_NOTES_HZ), k)]
    glide = np.where(rng.random(k - 1) < 0.2, np.log2(notes[1:] / notes[:-1]), 0).astype(np.float32)
    pos = np.tile(np.arange(beat, dtype=np.float32) / beat, k - 1)[:n]  # position inside the note
    freq = np.repeat(notes[:-1], beat)[:n] * np.exp2(np.repeat(glide, beat)[:n] * pos)
    phase = _phase(freq, sr)
    s, c = np.sin(phase), np.cos(phase)
    env = np.exp(-pos * np.float32(rng.uniform(2, 5)))
    bass = 0.5 * np.sin(_phase(np.repeat(notes[:-1:2] / 2, 2 * beat)[:n], sr))  # an octave down, every other note
    return _rms_normalised(env * s * (1 + 0.8 * c) + bass)  # sin x + 0.4 sin 2x


def _bandpassed_noise(rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, tilt: float = 0.0) -> np.ndarray:
    spec = np.fft.rfft(rng.standard_normal(n, dtype=np.float32))
    f = np.fft.rfftfreq(n, 1 / sr)
    gain = ((f >= lo) & (f <= hi)) / np.maximum(f, 1.0) ** tilt
    return np.fft.irfft(spec * gain, n).astype(np.float32)


def _babble(n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Several voices at once: voiced harmonics and speech-band noise, each syllable-modulated."""
    seconds = n / sr
    out = np.zeros(n, np.float32)
    env_sq = np.zeros(n, np.float32)
    for voice in range(rng.integers(4, 9)):
        env = _control(n, rng.random(int(seconds * rng.uniform(3, 6)) + 2) ** 2)  # syllables, 3-6 per second
        env_sq += env * env
        if voice < 3:  # the nearest voices are voiced; the rest add breath to the noise below
            vibrato = np.sin(np.linspace(0, 2 * np.pi * rng.uniform(0.5, 2) * seconds, 64) + rng.uniform(0, 6))
            phase = _phase(_control(n, rng.uniform(100, 240) * (1 + 0.08 * vibrato)), sr)
            s, c = np.sin(phase), np.cos(phase)
            out += env * s * (2 + c - (4 / 3) * s * s)  # sin x + sin 2x / 2 + sin 3x / 3
    # Noise shaped by all the voices' envelopes: one FFT for all of them (filtering is linear).
    out = _rms_normalised(out) + 0.8 * _rms_normalised(_bandpassed_noise(rng, n, sr, 300, 3400) * np.sqrt(env_sq))
    return _rms_normalised(out)


def _bed(kind: str, n: int, sr: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "silence" or n < 2:
        return np.zeros(n, np.float32)
    if kind == "music":
        return _music(n, sr, rng) * rng.uniform(0.03, 0.09)
    if kind == "babble":
        return _babble(n, sr, rng) * rng.uniform(0.03, 0.09)
    return _rms_normalised(_bandpassed_noise(rng, n, sr, 40, sr / 2, tilt=0.5)) * rng.uniform(0.02, 0.06)


def _faded(x: np.ndarray, sr: int) -> np.ndarray:
    """``x`` with 10 ms fades at both ends, so that cuts do not click."""
    k = min(len(x) // 2, sr // 100)
    if k > 0:
        ramp = np.linspace(0, 1, k)
        x[:k] *= ramp
        x[-k:] *= ramp[::-1]
    return x


def render_audio(spec: VideoSpec, cfg: SyntheticConfig) -> np.ndarray:
    """The soundtrack of ``spec``: (n_frames * sample_rate // fps,) float32 in [-1, 1]."""
    sr, fps = cfg.sample_rate, cfg.fps
    at = lambda frame: frame * sr // fps  # noqa: E731 (first sample of a frame)
    out = np.random.default_rng([spec.seed, 2]).standard_normal(at(spec.n_frames), dtype=np.float32)
    out *= 0.002  # the noise floor
    for shot in spec.shots:
        s0, s1 = at(shot.start), at(shot.end)
        out[s0:s1] += _faded(_bed(shot.audio, s1 - s0, sr, np.random.default_rng([shot.seed, 2])), sr)
    for ev in spec.events:
        if ev.kind == "glimpse":
            continue
        rng = np.random.default_rng([ev.seed, 2])
        s0, s1 = at(ev.start), at(ev.end)
        out[s0:s1] += _faded(class_sound(ev.cls, s1 - s0, sr, rng) * rng.uniform(0.08, 0.14), sr)
    for burst in spec.bursts:  # about 7 to 13 dB over a class's sound: an action under it is masked
        rng = np.random.default_rng([burst.seed, 2])
        s0, s1 = at(burst.start), at(burst.end)
        noise = _rms_normalised(_bandpassed_noise(rng, s1 - s0, sr, 60, sr / 2, tilt=0.3)) * rng.uniform(0.25, 0.35)
        out[s0:s1] += _faded(noise, sr)
    return np.clip(out, -1, 1, out=out)


# -- rendering one video -----------------------------------------------------------------------
def render_frames(spec: VideoSpec, cfg: SyntheticConfig):
    """Yield the frames of ``spec`` in order, each (H, W, 3) uint8."""
    starts = {ev.start: ev for ev in spec.events if ev.kind != "sound_only"}
    active: tuple[Event, Sprite, np.ndarray] | None = None
    for shot in spec.shots:
        scene = _Scene(shot, cfg)
        for k in range(shot.start, shot.end):
            frame = scene.background(k - shot.start)
            if k in starts:
                ev = starts[k]
                rng = np.random.default_rng([ev.seed, 1])
                size = _sprite_px(rng, cfg.sprite_size, cfg.height)
                sprite = make_sprite(rng, size, pick_look(rng, ev.cls, cfg.look_cue, cfg.num_classes))
                if ev.kind == "glimpse":  # small, and where it is partly hidden
                    anchor = scene.glimpse_anchor(rng)
                    shrink = rng.uniform(0.45, 0.65)
                else:
                    anchor = (rng.uniform(0.3, 0.7) * cfg.width, rng.uniform(0.3, 0.7) * cfg.height)
                    shrink = 1.0
                poses = motion_path(CLASS_NAMES[ev.cls], ev.end - ev.start, fps=cfg.fps, width=cfg.width,
                                    height=cfg.height, sprite_px=size, anchor=anchor, rng=rng)
                poses[:, 2] *= shrink
                active = (ev, sprite, poses)
            if active is not None:
                ev, sprite, poses = active
                x, y, scale, angle = poses[k - ev.start]
                draw_sprite(frame, sprite, x, y, scale, angle)
                if k + 1 >= ev.end:
                    active = None
            scene.occlude(frame)
            yield frame


def render_video(spec: VideoSpec, cfg: SyntheticConfig, path: str | os.PathLike) -> None:
    """Write ``spec`` as a video file at ``path`` (not atomic: :func:`generate` renames)."""
    audio = render_audio(spec, cfg)
    sr, fps = cfg.sample_rate, cfg.fps
    with VideoWriter(
        path, width=cfg.width, height=cfg.height, fps=fps, codec=cfg.codec, gop=cfg.gop, bframes=cfg.bframes,
        quality=cfg.quality, sample_rate=sr, threads=1,
    ) as writer:
        for k, frame in enumerate(render_frames(spec, cfg)):
            writer.add_audio(audio[k * sr // fps : (k + 1) * sr // fps])
            writer.add_frame(frame)


# -- the dataset -----------------------------------------------------------------------------------
def _seconds(frames: int, fps: int) -> float:
    return round(frames / fps, 6)


def segments_record(spec: VideoSpec, cfg: SyntheticConfig) -> dict:
    """The ``segments.json`` entry of one video, in seconds: its segments
    (:func:`video_segments`), its background shots and its noise bursts; and, for a multi-label
    config, its ``labels``."""
    fps = cfg.fps
    labels = {"labels": [CLASS_NAMES[c] for c in spec.labels]} if cfg.multi_label else {}
    return {
        "label": CLASS_NAMES[spec.label],
        **labels,
        "split": spec.split,
        "duration_s": _seconds(spec.n_frames, fps),
        "segments": [
            {"start_s": _seconds(a, fps), "end_s": _seconds(b, fps), "kind": kind, "class": CLASS_NAMES[cls]}
            for a, b, kind, cls in video_segments(spec)
        ],
        "background": [
            {"start_s": _seconds(s.start, fps), "end_s": _seconds(s.end, fps), "camera": s.camera, "audio": s.audio}
            for s in spec.shots
        ],
        "bursts": [{"start_s": _seconds(b.start, fps), "end_s": _seconds(b.end, fps)} for b in spec.bursts],
    }


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _partial_name(final: Path) -> Path:
    # Keeps the .mp4 suffix: the muxer is chosen from the file name.
    return final.with_name(f"{final.stem}.partial{final.suffix}")


def _render_task(task: tuple[VideoSpec, SyntheticConfig, str]) -> tuple[str, float]:
    """Render one video to a temporary name, then rename it: a killed run leaves no half file
    under a final name. Top-level, so that spawned worker processes can import it."""
    spec, cfg, root = task
    final = Path(root) / spec.path
    tmp = _partial_name(final)
    t0 = time.perf_counter()
    try:
        render_video(spec, cfg, tmp)
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return spec.path, time.perf_counter() - t0


def generate(config: SyntheticConfig, out_dir: str | os.PathLike, *, seed: int = 0, workers: int = 1, progress: bool = True) -> Path:
    """Generate the dataset into ``out_dir``; returns the path of its ``manifest.csv``.

    Writes ``videos/{train,test}_NNNNN.mp4``, ``classes.txt``, ``segments.json``, ``config.json``
    and, last, ``manifest.csv``. A rerun into the same folder with the same config and seed keeps
    the videos already finished and renders the rest (content is a function of config and seed);
    a folder made with another config or seed raises :class:`ConfigError`.
    """
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a folder")
    videos = out / "videos"
    videos.mkdir(parents=True, exist_ok=True)
    effective = {"format_version": FORMAT_VERSION, "seed": int(seed), "config": config.to_dict(), "classes": list(config.classes)}
    config_path = out / "config.json"
    if config_path.exists():
        try:
            previous = json.loads(config_path.read_text(encoding="utf-8"))
            # A field added since (actions_per_video) takes its default, which gives the data as they were.
            previous["config"] = SyntheticConfig.from_dict(previous["config"]).to_dict()
        except (OSError, ValueError, TypeError, KeyError, ConfigError):
            previous = None
        if previous != effective:
            raise ConfigError(f"{out}: holds a dataset made with another config or seed (see its config.json); choose another folder")
    _write_atomic(config_path, json.dumps(effective, indent=2) + "\n")

    for stale in videos.glob("*.partial.mp4"):  # left by a killed run
        stale.unlink()
    specs = plan_dataset(config, seed)
    todo = [s for s in specs if not (out / s.path).is_file()]
    todo.sort(key=lambda s: -s.n_frames)  # longest first: workers finish together
    total_min = sum(s.n_frames for s in specs) / config.fps / 60
    log.info("%d videos (%.1f min of video) in %s; %d to render, %d already done",
             len(specs), total_min, out, len(todo), len(specs) - len(todo))

    from tqdm import tqdm

    t0 = time.perf_counter()
    tasks = [(s, config, str(out)) for s in todo]
    with tqdm(total=len(specs), initial=len(specs) - len(todo), unit="video", desc="generate",
              disable=not progress, file=sys.stderr, dynamic_ncols=True) as bar:
        if workers == 1 or len(tasks) <= 1:
            for task in tasks:
                _render_task(task)
                bar.update(1)
        else:
            with multiprocessing.get_context("spawn").Pool(min(workers, len(tasks))) as pool:
                for _ in pool.imap_unordered(_render_task, tasks):
                    bar.update(1)
    log.info("rendered %d videos in %.1f s", len(todo), time.perf_counter() - t0)

    _write_atomic(out / "classes.txt", "".join(f"{c}\n" for c in config.classes))
    segments = {s.path: segments_record(s, config) for s in specs}
    _write_atomic(out / "segments.json", json.dumps(segments, indent=1) + "\n")
    manifest = out / "manifest.csv"
    tmp = manifest.with_name(".manifest.csv.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["path", "label", "split", "duration_s"] + (["labels"] if config.multi_label else []))
        for s in specs:
            labels = [LABELS_SEPARATOR.join(CLASS_NAMES[c] for c in s.labels)] if config.multi_label else []
            w.writerow([s.path, CLASS_NAMES[s.label], s.split, _seconds(s.n_frames, config.fps)] + labels)
    os.replace(tmp, manifest)
    return manifest
