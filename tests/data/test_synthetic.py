"""The benchmark generator: real decodable files laid out as documented, a timeline that follows the
config, determinism, no event that tells where the action is, and classes that differ by motion over
time but not by any one frame."""

from __future__ import annotations

import collections
import csv
import dataclasses
import hashlib
import json
import math
from pathlib import Path

import av
import numpy as np
import pytest

from scsampler.cli.main import main
from scsampler.data.synthetic import (
    BEDS,
    CAMERAS,
    CLASS_NAMES,
    KINDS,
    PRESETS,
    SyntheticConfig,
    class_sound,
    generate,
    make_texture,
    plan_dataset,
    render_event_frames,
    segments_record,
    video_segments,
)
from scsampler.errors import ConfigError
from scsampler.io.video import iter_audio
from scsampler.io.writer import write_video

TINY = PRESETS["tiny"]
# Two videos of 5-7 s: well under a second to generate.
PAIR = dataclasses.replace(TINY, num_classes=2, train_per_class=1, test_per_class=0,
                           duration_min_s=5.0, duration_median_s=6.0, duration_max_s=7.0)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("tiny")
    generate(TINY, out, seed=0, progress=False)
    return out


def read_manifest(root: Path) -> tuple[list[str], list[dict]]:
    with open(root / "manifest.csv", newline="") as f:
        reader = csv.DictReader(f)
        return list(reader.fieldnames or []), list(reader)


def files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


# -- layout ------------------------------------------------------------------------------------
def test_manifest_classes_and_config_agree(tiny):
    classes = (tiny / "classes.txt").read_text().splitlines()
    assert classes == list(TINY.classes) == list(CLASS_NAMES[:3])
    header, rows = read_manifest(tiny)
    assert header == ["path", "label", "split", "duration_s"]
    assert len(rows) == TINY.num_videos == 9
    for split, per_class in (("train", TINY.train_per_class), ("test", TINY.test_per_class)):
        counts = collections.Counter(r["label"] for r in rows if r["split"] == split)
        assert counts == {c: per_class for c in classes}
    for r in rows:
        assert r["path"].startswith("videos/") and (tiny / r["path"]).is_file()
        assert TINY.duration_min_s <= float(r["duration_s"]) <= TINY.duration_max_s
    assert sorted(p.name for p in (tiny / "videos").iterdir()) == sorted(Path(r["path"]).name for r in rows)  # no leftovers
    cfg = json.loads((tiny / "config.json").read_text())
    assert cfg["seed"] == 0 and SyntheticConfig.from_dict(cfg["config"]) == TINY


def test_videos_are_h264_with_aac_mono_audio_of_the_stated_length(tiny):
    _, rows = read_manifest(tiny)
    for r in rows:
        duration = float(r["duration_s"])
        with av.open(str(tiny / r["path"])) as c:
            v, a = c.streams.video[0], c.streams.audio[0]
            assert v.codec_context.name == "h264"
            assert (v.codec_context.width, v.codec_context.height) == (TINY.width, TINY.height)
            assert v.average_rate == TINY.fps
            assert a.codec_context.name == "aac" and a.rate == TINY.sample_rate and a.channels == 1
            n_frames = sum(1 for _ in c.decode(video=0))
        assert n_frames == round(duration * TINY.fps)
        with av.open(str(tiny / r["path"])) as c:
            n_samples = sum(f.samples for f in c.decode(audio=0))
        assert abs(n_samples / TINY.sample_rate - duration) < 0.15  # AAC pads to 1024-sample frames


# -- the timeline ----------------------------------------------------------------------------------
def check_segments(entry: dict, label: str, duration: float, cfg: SyntheticConfig) -> None:
    assert entry["label"] == label and entry["duration_s"] == pytest.approx(duration)
    segs = entry["segments"]
    assert [s["start_s"] for s in segs] == sorted(s["start_s"] for s in segs)
    for s in segs:
        assert 0 <= s["start_s"] < s["end_s"] <= duration
        assert s["kind"] in KINDS and s["class"] in cfg.classes
        # Salient and masked show the video's own actions; the other two mislead with another class.
        assert (s["class"] in entry.get("labels", [label])) == (s["kind"] in ("salient", "masked"))
    for a, b in zip(segs, segs[1:]):
        assert a["end_s"] <= b["start_s"]
    # The action (salient, or masked under a burst) takes the video's salient fraction.
    action = sum(s["end_s"] - s["start_s"] for s in segs if s["kind"] in ("salient", "masked"))
    assert action > 0
    share = action / duration
    assert cfg.salient_fraction - cfg.salient_fraction_spread - 0.01 <= share <= cfg.salient_fraction + cfg.salient_fraction_spread + 0.01
    shots = entry["background"]
    assert shots[0]["start_s"] == 0 and shots[-1]["end_s"] == pytest.approx(duration)
    assert all(a["end_s"] == b["start_s"] for a, b in zip(shots, shots[1:]))
    # Bursts: disjoint, inside the video; the action is masked exactly where a burst covers it.
    bursts = entry["bursts"]
    assert all(0 <= b["start_s"] < b["end_s"] <= duration for b in bursts)
    assert all(a["end_s"] < b["start_s"] for a, b in zip(bursts, bursts[1:]))
    for s in segs:
        under = sum(max(0.0, min(s["end_s"], b["end_s"]) - max(s["start_s"], b["start_s"])) for b in bursts)
        if s["kind"] == "masked":
            assert under == pytest.approx(s["end_s"] - s["start_s"])
        elif s["kind"] == "salient":
            assert under == 0


def test_segments_json_lists_every_video_with_a_minority_of_salient_time(tiny):
    segments = json.loads((tiny / "segments.json").read_text())
    _, rows = read_manifest(tiny)
    assert set(segments) == {r["path"] for r in rows}
    for r in rows:
        check_segments(segments[r["path"]], r["label"], float(r["duration_s"]), TINY)
    kinds = collections.Counter(s["kind"] for e in segments.values() for s in e["segments"])
    assert set(kinds) == set(KINDS)  # tiny's rates put every distractor kind somewhere


def test_default_plan_is_long_tailed_with_salient_minority_at_varied_positions():
    cfg = PRESETS["default"]
    specs = plan_dataset(cfg, seed=0)
    assert cfg.num_classes >= 10 and len(specs) == cfg.num_videos >= 200
    durations = np.array([s.n_frames / cfg.fps for s in specs])
    assert 0.75 <= np.mean((durations >= 60) & (durations <= 300)) < 1  # mostly 1-5 min ...
    assert np.sum(durations > 300) >= 3 and durations.max() <= cfg.duration_max_s  # ... a few longer
    shares, centres = [], []
    for s in specs:
        entry = segments_record(s, cfg)
        check_segments(entry, CLASS_NAMES[s.label], s.n_frames / cfg.fps, cfg)
        sal = [x for x in entry["segments"] if x["kind"] in ("salient", "masked")]
        shares.append(sum(x["end_s"] - x["start_s"] for x in sal) / entry["duration_s"])
        centres += [(x["start_s"] + x["end_s"]) / 2 / entry["duration_s"] for x in sal]
    assert abs(np.mean(shares) - cfg.salient_fraction) < 0.01
    # Salient segments anywhere in the video: relative positions spread over [0, 1].
    assert np.histogram(centres, bins=5, range=(0, 1))[0].min() > 0.1 * len(centres)


# -- no event says where the action is ----------------------------------------------------------
def event_frames(spec, fps: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Where the video's action is visible (salient or masked), and where each event placed without
    regard to the segments happens: noise bursts, each camera and sound bed, and the second that
    follows each shot cut. All (n_frames,) bool."""
    visible = np.zeros(spec.n_frames, bool)
    for a, b, kind, _ in video_segments(spec):
        visible[a:b] |= kind in ("salient", "masked")
    events = {name: np.zeros(spec.n_frames, bool) for name in ("burst", "cut", *CAMERAS, *BEDS)}
    for burst in spec.bursts:
        events["burst"][burst.start : burst.end] = True
    for i, shot in enumerate(spec.shots):
        events[shot.camera][shot.start : shot.end] = True
        events[shot.audio][shot.start : shot.end] = True
        if i:
            events["cut"][shot.start : shot.start + fps] = True
    return visible, events


def z_score(diffs: list[float]) -> float:
    """Sum of independent per-video differences over its standard error, estimated from the
    differences themselves (their mean is 0 when the event ignores the segments): about N(0, 1)."""
    d = np.asarray(diffs, float)
    return float(d.sum() / max(np.sqrt((d**2).sum()), 1e-12))


def independence(plans: list[tuple[np.ndarray, dict[str, np.ndarray]]], name: str) -> dict[str, float]:
    """How often ``name``'s frames show the action, against two expectations.

    ``overall``: the share of all frames that show it. Each video contributes
    ``|E & V| - |E| * share_v`` (share_v: its own visible share), which averages to 0 when every
    frame is as likely to carry the event, whatever it shows (true of bursts, cameras and beds).
    ``swapped``: the share of the event's frames that show the action in the *other* videos of the
    same length. Each video contributes ``|E & V| - mean_u |E & V_u|``, which averages to 0 when the
    event is independent of the segments, even where it is not uniform over the video (no shot
    cut falls in a video's first seconds, where the action is rarer, too).
    """
    visible = [v for v, _ in plans]
    event = [e[name] for _, e in plans]
    hits = sum(int((e & v).sum()) for e, v in zip(event, visible))
    total = sum(int(e.sum()) for e in event)
    direct = [(e & v).sum() - e.sum() * v.mean() for e, v in zip(event, visible)]
    by_length: dict[int, list[int]] = collections.defaultdict(list)
    for i, v in enumerate(visible):
        by_length[len(v)].append(i)
    swapped, swap_hits, swap_total = [], 0.0, 0
    for group in by_length.values():
        if len(group) < 2:
            continue
        e = np.stack([event[i] for i in group]).astype(np.int64)
        m = e @ np.stack([visible[i] for i in group]).astype(np.int64).T  # m[a, b] = |E_a & V_b|
        others = (m.sum(axis=1) - np.diag(m)) / (len(group) - 1)
        swapped += list(np.diag(m) - others)
        swap_hits += others.sum()
        swap_total += int(e.sum())
    return {
        "share": hits / total, "overall": sum(int(v.sum()) for v in visible) / sum(len(v) for v in visible),
        "z_overall": z_score(direct), "share_swapped": swap_hits / swap_total, "z_swapped": z_score(swapped),
    }


def test_no_event_tells_where_the_action_is():
    """A noise burst, a camera, a sound bed or a shot cut happens where the action is visible as
    often as anywhere else: no event occurs only with one kind of segment (version 5 put a burst
    over masked segments only: z_overall +24 and z_swapped +23 on the same seeds, share 1.0 against 0.25)."""
    specs = [s for seed in range(200) for s in plan_dataset(TINY, seed=seed)]  # 1,800 videos, ~1 s
    plans = [event_frames(s, TINY.fps) for s in specs]
    for name in ("burst", "cut", *CAMERAS, *BEDS):
        r = independence(plans, name)
        # |z| < 4: a chance failure has odds of about 6e-5 (and the seeds are fixed).
        assert abs(r["z_swapped"]) < 4 and abs(r["share"] - r["share_swapped"]) < 0.03, (name, r)
        if name != "cut":  # cuts avoid the first and last seconds; the others are uniform over the video
            assert abs(r["z_overall"]) < 4 and abs(r["share"] - r["overall"]) < 0.03, (name, r)
    assert 0.1 < sum(int(e["burst"].sum()) for _, e in plans) / sum(len(v) for v, _ in plans) < 0.3  # there are bursts


def test_bursts_are_loud_in_the_files_and_nothing_else_is(tiny):
    """The decoded sound is loud (RMS > 0.2) inside every burst that segments.json lists and quieter
    everywhere else (every one-second window away from bursts), action or not."""
    segments = json.loads((tiny / "segments.json").read_text())
    sr, fps = TINY.sample_rate, TINY.fps
    hop = sr // fps
    n_bursts = 0
    for path, entry in segments.items():
        x = np.concatenate([chunk for _, chunk in iter_audio(tiny / path, sample_rate=sr)])
        power = (x[: len(x) // hop * hop].reshape(-1, hop) ** 2).mean(axis=1)  # per video frame
        near = np.zeros(len(power), bool)
        for b in entry["bursts"]:
            a, z = round(b["start_s"] * fps), round(b["end_s"] * fps)
            near[max(a - 2, 0) : z + 2] = True
            if z - a >= 4:  # the inside, without the fades at both ends
                assert np.sqrt(power[a + 1 : z - 1].mean()) > 0.2, (path, b)
                n_bursts += 1
        quiet = power[~near]
        if len(quiet) >= fps:
            assert np.sqrt(np.convolve(quiet, np.ones(fps) / fps, "valid").max()) < 0.2, path
    assert n_bursts >= 5


def test_one_label_plans_are_those_of_before_multi_label_presets():
    """actions_per_video came without a format version: a config with one action a video draws what it
    always drew (digests of format 6's plans, taken before the field existed)."""
    for name, expected in (("tiny", "28ae2104f0b17cd3"), ("default", "2149d13a571fd6e1")):
        cfg = PRESETS[name]
        plan = {s.path: segments_record(s, cfg) for s in plan_dataset(cfg, seed=0)}
        assert hashlib.sha256(json.dumps(plan, sort_keys=True).encode()).hexdigest()[:16] == expected, name
        assert all(s.labels == (s.label,) for s in plan_dataset(cfg, seed=0))


def test_an_old_folder_without_actions_per_video_is_the_same_dataset(tmp_path):
    generate(PAIR, tmp_path, seed=0, progress=False)
    config = json.loads((tmp_path / "config.json").read_text())
    del config["config"]["actions_per_video"]  # as format 6 wrote it
    (tmp_path / "config.json").write_text(json.dumps(config))
    generate(PAIR, tmp_path, seed=0, progress=False)  # not refused
    with pytest.raises(ConfigError, match="another config or seed"):
        generate(dataclasses.replace(PAIR, actions_per_video=(1, 1), num_classes=3), tmp_path, seed=0, progress=False)


@pytest.mark.parametrize("name", ["multilabel", "tiny-multilabel"])
def test_multi_label_plans_show_several_actions_the_label_s_the_longest(name):
    cfg = PRESETS[name]
    lo, hi = cfg.actions_per_video
    specs = plan_dataset(cfg, seed=0)
    assert {len(s.labels) for s in specs} <= set(range(lo, hi + 1)) and max(len(s.labels) for s in specs) == hi
    for s in specs:
        assert s.labels[0] == s.label and len(set(s.labels)) == len(s.labels)
        entry = segments_record(s, cfg)
        assert entry["labels"] == [CLASS_NAMES[c] for c in s.labels]
        check_segments(entry, CLASS_NAMES[s.label], s.n_frames / cfg.fps, cfg)  # distractors from the other classes
        cover = collections.Counter()
        for e in s.events:
            if e.kind == "salient":
                cover[e.cls] += e.end - e.start
        assert set(cover) == set(s.labels) and cover[s.label] == max(cover.values())
    # Labels balanced as before: each class is the main label of train_per_class + test_per_class videos.
    assert set(collections.Counter(s.label for s in specs).values()) == {cfg.train_per_class + cfg.test_per_class}


def test_multi_label_files_list_every_label(tiny_multilabel_data):
    header, rows = read_manifest(tiny_multilabel_data)
    assert header == ["path", "label", "split", "duration_s", "labels"]
    segments = json.loads((tiny_multilabel_data / "segments.json").read_text())
    for r in rows:
        labels = r["labels"].split(";")
        assert len(labels) == 2 and labels[0] == r["label"] and segments[r["path"]]["labels"] == labels
    # One label a video (every other preset): no labels column, no labels key, as before.
    assert "labels" not in segments_record(plan_dataset(TINY, seed=0)[0], TINY)


def test_plan_is_a_function_of_the_seed():
    assert plan_dataset(TINY, seed=0) == plan_dataset(TINY, seed=0)
    assert plan_dataset(TINY, seed=0) != plan_dataset(TINY, seed=1)


def test_same_seed_same_files_with_one_or_two_workers_and_other_seed_differs(tmp_path):
    generate(PAIR, tmp_path / "a", seed=0, progress=False)
    generate(PAIR, tmp_path / "b", seed=0, workers=2, progress=False)
    generate(PAIR, tmp_path / "c", seed=1, progress=False)
    a, b, c = files(tmp_path / "a"), files(tmp_path / "b"), files(tmp_path / "c")
    assert a == b  # manifest, segments and the video bytes (x264 on one thread)
    assert a["manifest.csv"] != c["manifest.csv"] and a["segments.json"] != c["segments.json"]
    assert a["videos/train_00000.mp4"] != c["videos/train_00000.mp4"]


def test_rerun_keeps_finished_videos_redoes_missing_and_refuses_another_seed(tmp_path):
    generate(PAIR, tmp_path, seed=0, progress=False)
    first = files(tmp_path)
    done, missing = tmp_path / "videos/train_00000.mp4", tmp_path / "videos/train_00001.mp4"
    mtime = done.stat().st_mtime_ns
    missing.unlink()
    (tmp_path / "videos/train_00001.partial.mp4").write_bytes(b"half a video")  # as a killed run leaves
    generate(PAIR, tmp_path, seed=0, progress=False)
    assert done.stat().st_mtime_ns == mtime
    assert files(tmp_path) == first  # the partial file is gone, the missing video is back, identical
    with pytest.raises(ConfigError, match="another config or seed"):
        generate(PAIR, tmp_path, seed=1, progress=False)


def test_mpeg4_codec(tmp_path):
    generate(dataclasses.replace(PAIR, codec="mpeg4"), tmp_path, progress=False)
    with av.open(str(tmp_path / "videos/train_00000.mp4")) as c:
        assert c.streams.video[0].codec_context.name == "mpeg4"
        assert c.streams.audio[0].rate == PAIR.sample_rate
        assert sum(1 for _ in c.decode(video=0)) >= 5 * PAIR.fps


# -- classes: motion over time, not one frame's look ---------------------------------------------
def sprite_tracks(frames: np.ndarray, bg_value: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Centroid x, y, area and orientation (radians, mod pi) of the non-background pixels."""
    mask = np.any(frames != bg_value, axis=-1)  # (T, H, W)
    ys, xs = np.mgrid[0 : frames.shape[1], 0 : frames.shape[2]]
    area = mask.sum(axis=(1, 2)).astype(float)
    cx = (mask * xs).sum(axis=(1, 2)) / area
    cy = (mask * ys).sum(axis=(1, 2)) / area
    mu20 = (mask * (xs - cx[:, None, None]) ** 2).sum(axis=(1, 2))
    mu02 = (mask * (ys - cy[:, None, None]) ** 2).sum(axis=(1, 2))
    mu11 = (mask * (xs - cx[:, None, None]) * (ys - cy[:, None, None])).sum(axis=(1, 2))
    return cx, cy, area, 0.5 * np.arctan2(2 * mu11, mu20 - mu02)


def render(motion: str, seed: int, n_frames: int) -> np.ndarray:
    frames, _ = render_event_frames(motion, appearance_seed=seed, motion_seed=seed, n_frames=n_frames, sprite_px=30)
    return frames


def direction(motion: str, frames: np.ndarray) -> float:
    """A signed statistic of the trajectory that direction pairs must disagree on."""
    cx, cy, area, theta = sprite_tracks(frames)
    if motion.startswith("move"):
        return float(np.median(np.diff(cx)))
    if motion.startswith("circle"):  # cross product around the path's centre: > 0 is clockwise on screen
        x, y = cx - cx.mean(), cy - cy.mean()
        return float(np.median(x[:-1] * y[1:] - y[:-1] * x[1:]))
    if motion in ("grow", "shrink"):
        return float(np.median(np.diff(area)))
    dtheta = np.mod(np.diff(theta) + np.pi / 2, np.pi) - np.pi / 2  # orientation is defined mod pi
    return float(np.median(dtheta))


@pytest.mark.parametrize("pair", [("move_right", "move_left"), ("circle_cw", "circle_ccw"), ("grow", "shrink"), ("spin_cw", "spin_ccw")])
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_direction_pairs_differ_over_time_but_not_in_single_frame_statistics(pair, seed):
    n = 64 if pair[0] == "grow" else 16  # grow/shrink: several ~1.3 s sawtooth periods
    a, b = render(pair[0], seed, n), render(pair[1], seed, n)
    # One frame: the same look, the same set of per-frame mean colours.
    mean_a, mean_b = np.sort(a.mean(axis=(1, 2, 3))), np.sort(b.mean(axis=(1, 2, 3)))
    spread = a.mean(axis=(1, 2, 3)).std() + np.abs(mean_a - 128).mean()
    assert spread > 0.1  # the sprite is there
    assert np.abs(mean_a.mean() - mean_b.mean()) < 0.15 * spread
    # Over time: opposite directions.
    da, db = direction(pair[0], a), direction(pair[1], b)
    assert da > 0 > db, (da, db)
    if pair[0] == "move_right":  # left to right: increasing centroid x
        cx = sprite_tracks(a)[0]
        assert np.corrcoef(np.arange(n), cx)[0, 1] > 0.95


def test_every_class_moves_and_sprites_look_alike_across_classes():
    looks = []
    for motion in CLASS_NAMES:
        frames = render(motion, 7, 32)
        changed = np.any(frames[1:] != frames[:-1], axis=-1).mean()  # share of pixels changing per frame
        assert changed > 0.003, motion
        looks.append(frames[np.any(frames != 128, axis=-1)].mean(axis=0))  # mean RGB of the sprite's pixels
    # Same appearance seed: the sprite's colours are the same whatever the class.
    assert np.ptp(np.array(looks), axis=0).max() < 2


def test_h264_motion_vectors_follow_the_sprite(tmp_path):
    bg = make_texture(np.random.default_rng(5), 128, 160)
    means = {}
    for motion in ("move_right", "move_left"):
        frames, _ = render_event_frames(motion, appearance_seed=1, motion_seed=2, n_frames=32, sprite_px=36, background=bg)
        path = tmp_path / f"{motion}.mp4"
        write_video(path, frames, fps=16, threads=1)
        dx = []
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            stream.codec_context.options = {"flags2": "+export_mvs"}
            for frame in c.decode(stream):
                side = frame.side_data.get("MOTION_VECTORS")
                if side is not None:
                    mv = side.to_ndarray()
                    mv = mv[(mv["motion_x"] != 0) | (mv["motion_y"] != 0)]  # the blocks that moved
                    dx += list(mv["dst_x"] - mv["src_x"])  # content displacement, px
        means[motion] = np.mean(dx)
    assert means["move_right"] > 1 and means["move_left"] < -1


# -- sound -----------------------------------------------------------------------------------------
def pitch_track(x: np.ndarray, sr: int, hop: int = 160) -> tuple[np.ndarray, np.ndarray]:
    frames = np.lib.stride_tricks.sliding_window_view(x, 512)[::hop] * np.hanning(512)
    spec = np.abs(np.fft.rfft(frames, axis=1))
    return np.fft.rfftfreq(512, 1 / sr)[spec.argmax(axis=1)], spec.max(axis=1)


@pytest.mark.parametrize("cls", [0, 1, 2, 3])
def test_class_sound_has_its_pitch_and_chirp_direction(cls):
    sr = 16000
    x = class_sound(cls, 3 * sr, sr, np.random.default_rng(cls))
    assert np.sqrt(np.mean(x**2)) == pytest.approx(1, rel=1e-3)
    freq, energy = pitch_track(x, sr)
    on = energy > 0.3 * energy.max()
    from scsampler.data.synthetic import ACTIONS
    action = ACTIONS[cls]
    assert abs(np.median(freq[on]) / action.pitch_hz - 1) < 0.2
    steps = np.diff(freq)[on[:-1] & on[1:]]
    steps = steps[(steps != 0) & (np.abs(steps) < 0.2 * action.pitch_hz)]  # within a pulse, not across two
    assert np.mean(np.sign(steps) == action.chirp) > 0.8


# -- config and CLI --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "change",
    [
        {"num_classes": 1}, {"num_classes": 17}, {"salient_fraction": 0.5}, {"salient_fraction_spread": 0.3},
        {"width": 161}, {"codec": "vp9"}, {"sample_rate": 12345}, {"train_per_class": 0, "test_per_class": 0},
        {"duration_min_s": 50.0, "duration_median_s": 40.0}, {"glimpse_s": (2.0, 1.0)}, {"pan_prob": 0.8, "flicker_prob": 0.5},
        {"actions_per_video": (0, 1)}, {"actions_per_video": (2, 1)}, {"actions_per_video": (1, 3)},  # tiny has 3 classes
        {"actions_per_video": (1.5, 2)}, {"actions_per_video": 2}, {"actions_per_video": (2, 2), "trimmed": True},
    ],
)
def test_bad_config_raises_config_error(change):
    with pytest.raises(ConfigError):
        dataclasses.replace(TINY, **change)


def test_presets_sizes():
    assert PRESETS["tiny"].num_videos <= 12 and PRESETS["tiny"].duration_max_s <= 20
    small = PRESETS["small"]
    assert (small.num_classes, small.train_per_class, small.test_per_class) == (6, 8, 4)
    default = PRESETS["default"]
    assert default.num_classes >= 10 and default.num_videos >= 200


def test_cli_applies_overrides_and_reports_errors_in_one_line(tmp_path, capsys):
    out = tmp_path / "cli"
    argv = ["generate", "--preset", "tiny", "--out", str(out), "--seed", "5", "--classes", "2", "--train-per-class", "1",
            "--test-per-class", "0", "--duration-median", "9", "--duration-max", "10", "--codec", "mpeg4", "--no-progress"]
    assert main(argv) == 0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["seed"] == 5 and cfg["config"]["num_classes"] == 2 and cfg["config"]["codec"] == "mpeg4"
    assert len(read_manifest(out)[1]) == 2
    capsys.readouterr()
    assert main(["generate", "--preset", "tiny", "--out", str(tmp_path / "x"), "--salient-fraction", "0.7"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["scsampler generate: error: salient fraction must stay in (0, 0.5) (a minority), got [0.65, 0.75]"]
    assert main(["generate", "--preset", "tiny", "--out", str(tmp_path / "x"), "--workers", "0"]) == 2


@pytest.mark.slow
def test_small_preset_generates(tmp_path):
    cfg = dataclasses.replace(PRESETS["small"], train_per_class=1, test_per_class=1)
    manifest = generate(cfg, tmp_path, seed=0, workers=2, progress=False)
    _, rows = read_manifest(tmp_path)
    assert manifest == tmp_path / "manifest.csv" and len(rows) == 12
    segments = json.loads((tmp_path / "segments.json").read_text())
    for r in rows:
        check_segments(segments[r["path"]], r["label"], float(r["duration_s"]), cfg)
    assert math.isclose(sum(float(r["duration_s"]) for r in rows) / len(rows), 36, rel_tol=0.35)


def test_pretrain_preset_is_trimmed_clips_of_the_benchmark_classes_in_scenes_of_their_own():
    pre, default = PRESETS["pretrain"], PRESETS["default"]
    assert pre.trimmed and not default.trimmed
    assert pre.classes == default.classes and pre.scene_pool == 0
    specs = plan_dataset(pre, seed=1)
    assert len(specs) == pre.num_videos >= 1000
    for s in specs[:50]:
        (event,) = s.events
        (shot,) = s.shots
        assert s.bursts == ()
        assert (event.start, event.end, event.kind, event.cls) == (0, s.n_frames, "salient", s.label)
        assert (shot.start, shot.end, shot.scene) == (0, s.n_frames, -1)
        assert pre.duration_min_s <= s.n_frames / pre.fps <= pre.duration_max_s


def test_trimmed_videos_show_the_action_from_first_frame_to_last(tmp_path):
    cfg = dataclasses.replace(TINY, trimmed=True, duration_median_s=4.0, duration_min_s=4.0, duration_max_s=5.0,
                              num_classes=2, train_per_class=1, test_per_class=0)
    generate(cfg, tmp_path, seed=0, progress=False)
    segments = json.loads((tmp_path / "segments.json").read_text())
    for path, rec in segments.items():
        assert rec["segments"] == [{"start_s": 0.0, "end_s": rec["duration_s"], "kind": "salient", "class": rec["label"]}]
        with av.open(str(tmp_path / path)) as c:
            frames = sum(1 for _ in c.decode(video=0))
        assert frames == round(rec["duration_s"] * cfg.fps)
