"""The selector interface: the registry, loading by name or run directory, the training-free
selectors, a sequential policy that fits without touching the pipeline, and the one per-video path."""

from __future__ import annotations

import pytest
import torch

from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError, VideoError
from scsampler.pipeline.video import run_video
from scsampler.runtime.classifier import load_classifier
from scsampler.selectors import (
    SELECTORS,
    CannotScore,
    Choice,
    ClipSelector,
    Needs,
    list_selectors,
    load_selector,
    register_selector,
)
from scsampler.selectors.energy import AudioEnergy, MotionEnergy


def test_the_registry_refuses_a_duplicate_and_names_what_it_knows():
    with pytest.raises(ValueError, match="already registered"):
        register_selector("uniform", help="again")(lambda **_: None)
    with pytest.raises(ConfigError, match="unknown selector 'nope'.*uniform.*motion-energy"):
        load_selector("nope")
    assert "oracle" in list_selectors() and "oracle" not in list_selectors(predict=True)
    assert {"motion-energy", "audio-energy", "av-union-list", "dense"} <= set(list_selectors(predict=True))


def test_a_selector_built_from_samplers_says_which_it_lacks(tiny_samplers):
    with pytest.raises(ConfigError, match="needs a visual sampler and a audio sampler|needs a visual sampler"):
        load_selector("av-union-list")
    with pytest.raises(ConfigError, match="needs a visual sampler, and .* is a audio one"):
        load_selector("visual", samplers={"visual": tiny_samplers["audio"]})


def test_a_sampler_run_directory_loads_as_its_top_k_selector(tiny_samplers, tmp_path):
    audio = load_selector(tiny_samplers["audio"], stride=2)
    assert audio.name == "audio" and audio.stride == 2 and audio.needs.audio == "required"
    assert audio.needs.features == ("audio",)
    assert load_selector(tiny_samplers["visual"], name="mine").name == "mine"
    union = load_selector("av-union-list", samplers=tiny_samplers, k_prime=3, alpha=0.5)  # alpha is not its option
    assert union.settings["k_prime"] == 3 and "alpha" not in union.settings
    (tmp_path / "config.json").write_text('{"kind": "classifier"}')
    with pytest.raises(ConfigError, match="a classifier run, not a selector"):
        load_selector(tmp_path)


def test_motion_energy_ignores_a_camera_pan_and_sees_a_moving_object():
    pan = torch.zeros(1, 2, 8, 10)
    pan[:, 0] = 3.0                                   # every cell moves right by 3 px: the camera
    patch = pan.clone()
    patch[:, :, 2:4, 2:4] += torch.tensor([0.0, 5.0]).view(1, 2, 1, 1)  # an object moving down on top of it
    still = torch.zeros(1, 2, 8, 10)
    e = MotionEnergy.rows(torch.cat([pan, patch, still]))
    assert e[0] == 0 and e[2] == 0 and e[1] > 0.2


def test_audio_energy_ranks_louder_and_sharper_windows_higher():
    quiet = torch.full((1, 40, 50), -6.0)
    loud = torch.full((1, 40, 50), -2.0)
    onsets = quiet.clone()
    onsets[:, :, ::10] = -2.0                         # the same floor with sharp onsets
    e = AudioEnergy.rows(torch.cat([quiet, loud, onsets]))
    assert e[1] > e[0] and e[2] > e[0]


def _test_entry(tiny_data):
    return read_manifest(tiny_data / "manifest.csv", split="test")[0]


def test_the_energy_selectors_run_on_a_file_and_count_their_cost(tiny_data, tiny_classifier):
    clf = load_classifier(tiny_classifier)
    entry = _test_entry(tiny_data)
    for name in ("motion-energy", "audio-energy"):
        r = run_video(entry.path, clf, load_selector(name), 3)
        finite = [s for s in r.scores[name] if s is not None]
        assert r.clips_scored == r.num_clips and len(finite) >= r.num_clips - 1
        assert [c["scores"][name] for c in r.selected] == sorted((c["scores"][name] for c in r.selected), reverse=True)
        assert r.selector_gflops > 0 and r.seconds["sampler"] > 0 and r.clips_decoded == 3


def test_a_file_without_motion_vectors_says_its_motion_was_decoded(media, tiny_data, tiny_classifier):
    clf = load_classifier(tiny_classifier)
    r = run_video(media["mjpeg"], clf, load_selector("motion-energy"), 2)
    (note,) = [n for n in r.notes if "motion vectors" in n]
    assert note.startswith("no motion vectors in the mjpeg bitstream") and "refined by a pixel at 8/16" in note
    r = run_video(_test_entry(tiny_data).path, clf, load_selector("motion-energy"), 2)
    assert not [n for n in r.notes if "motion vectors" in n]


class _NaNScorer:
    name, key, features, frames_per_clip, extractor = "blind", "blind-v1", ("md",), 0, {}

    def score(self, packed, num_clips, clips=None):
        return torch.full((num_clips,), float("nan"))

    def flops_per_row(self):
        return {"md": 0}


def test_clips_are_never_chosen_from_scores_that_are_all_missing(tiny_data, tiny_classifier):
    from scsampler.selectors.scoring import ScoringSelector, rank_by

    clf = load_classifier(tiny_classifier)
    entry = _test_entry(tiny_data)
    blind = ScoringSelector("blind", {"blind": _NaNScorer()}, rank_by("blind"))
    with pytest.raises(VideoError, match="the blind selector could not score any clip"):
        run_video(entry.path, clf, blind, 2)
    r = run_video(entry.path, clf, blind, 2, fallback=load_selector("uniform"))
    assert r.fallback.startswith("uniform: the blind selector could not score") and r.selector == "uniform"
    assert [c["index"] for c in r.selected] == load_selector("uniform").select(_Len(r.num_clips), 2).indices.tolist()


class _Len:
    def __init__(self, n):
        self.num_clips, self.generator = n, None


class Skimmer(ClipSelector):
    """A sequential policy: it visits every other clip from the start, one at a time, reading only
    that clip's motion, and keeps the K it found busiest. Registered by the test alone: nothing in
    the pipeline or the benchmark knows it."""

    name = "skimmer"
    needs = Needs(features=("md",))

    def __init__(self):
        self.visited: list[int] = []

    def select(self, video, k):
        seen = {}
        for clip in range(0, video.num_clips, 2):
            packed = video.features(("md",), [clip])
            self.visited.append(clip)
            seen[clip] = float(packed["md"].float().abs().mean()) if "md" in packed and len(packed["md"]) else -1.0
        order = sorted(seen, key=lambda c: -seen[c])[:k]
        return Choice(torch.tensor(order), scores={"skimmer": torch.tensor([seen.get(i, float("nan")) for i in range(video.num_clips)])},
                      clips_scored=len(seen))


def test_a_sequential_policy_fits_without_touching_the_pipeline(tiny_data, tiny_classifier, tmp_path):
    from scsampler.benchmark.scores import CachedVideo
    from scsampler.data.cache import FeatureCache, content_hash
    from scsampler.data.extraction import extract_many
    from scsampler.pipeline.video import shared_extractor
    from scsampler.runtime.dense import dense_scores

    register_selector("skimmer", help="a test's sequential policy")(lambda **_: Skimmer())
    try:
        clf = load_classifier(tiny_classifier)
        entry = _test_entry(tiny_data)
        on_file = load_selector("skimmer")
        r = run_video(entry.path, clf, on_file, 3)
        assert on_file.visited == list(range(0, r.num_clips, 2)) and r.clips_scored == len(on_file.visited)
        # The same policy on the benchmark's caches picks the same clips.
        ext = shared_extractor({}, clf)
        extract_many([entry], tmp_path / "features", ext, progress=False)
        dense, _ = dense_scores(clf, [entry], tmp_path, progress=False)
        view = CachedVideo(entry.video_id, dense[entry.video_id].probs, label=None, generator=None, scores={},
                           features=(FeatureCache(tmp_path / "features", ext), content_hash(entry.path)))
        cached = load_selector("skimmer").select(view, 3)
        assert cached.indices.tolist() == [c["index"] for c in r.selected]
    finally:
        del SELECTORS["skimmer"]


def test_the_oracle_on_a_file_classifies_every_clip_once(tiny_data, tiny_classifier):
    clf = load_classifier(tiny_classifier)
    entry = _test_entry(tiny_data)
    label = clf.classes.index(entry.label)
    r = run_video(entry.path, clf, load_selector("oracle"), 2, label=label)
    dense = run_video(entry.path, clf, load_selector("dense"), 2)
    assert r.clips_decoded == dense.clips_decoded == r.num_clips and r.frames_decoded == dense.frames_decoded
    assert len(r.selected) == 2
    with pytest.raises(ConfigError, match="needs the video's label"):
        run_video(entry.path, clf, load_selector("oracle"), 2)


def test_the_python_api_of_the_readme(tiny_data, tiny_classifier, tmp_path):
    from scsampler import load_classifier as api_classifier, load_selector as api_selector, predict_many, run_video as api_run

    classifier = api_classifier(tiny_classifier)
    selector = api_selector("motion-energy")
    entry = _test_entry(tiny_data)
    result = api_run(entry.path, classifier, selector, k=2)
    assert len(result.top5) == min(5, classifier.num_classes) and len(result.selected) == 2
    assert all(c["end_s"] > c["start_s"] for c in result.selected) and result.seconds["decode"] > 0
    summary = predict_many([entry.path], classifier, selector, tmp_path / "r.jsonl", k=2)
    assert len(summary.done) == 1 and (tmp_path / "r.jsonl").read_text().count("\n") == 1


def test_the_benchmark_serves_a_sequential_policy_from_its_feature_cache(tiny_data, tiny_classifier, tmp_path):
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark

    register_selector("skimmer", help="a test's sequential policy")(lambda **_: Skimmer())
    try:
        results = run_benchmark(BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                                                strategies=("uniform", "skimmer"), ks=(2,), timing_videos=1, timing_k=2,
                                                cache=str(tmp_path / "cache")), progress=False)
    finally:
        del SELECTORS["skimmer"]
    rows = {r["strategy"]: r for r in results["rows"]}
    assert rows["skimmer"]["clips_per_video"] == 2 and 0 <= rows["skimmer"]["top1"] <= 1
    assert {t["strategy"] for t in results["timing"]} == {"uniform", "skimmer"}


def test_a_training_free_selector_counts_its_flops_from_cached_scores_too(tiny_data, tiny_classifier, tmp_path):
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark

    config = BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                             strategies=("motion-energy",), ks=(2,), strides=(1, 2), timing_videos=0, cache=str(tmp_path / "cache"))
    first = run_benchmark(config, progress=False)["rows"]
    again = run_benchmark(config, progress=False)["rows"]  # every score now read from the cache
    assert [r["cheap_gflops_per_video"] for r in first] == [r["cheap_gflops_per_video"] for r in again]
    by_stride = {r["stride"]: r["cheap_gflops_per_video"] for r in again}
    assert by_stride[1] > 0 and 0.4 < by_stride[2] / by_stride[1] < 0.65


def test_the_oracle_of_a_video_with_several_labels_picks_the_clips_most_confident_on_any():
    from scsampler.benchmark.scores import CachedVideo

    probs = torch.tensor([[0.8, 0.1, 0.1], [0.1, 0.7, 0.2], [0.2, 0.2, 0.6], [0.5, 0.4, 0.1]])
    oracle = load_selector("oracle")
    one = CachedVideo("v", probs, label=1, generator=None, scores={})
    assert one.labels == (1,) and oracle.select(one, 2).indices.tolist() == [1, 3]   # by class 1 alone, as before
    both = CachedVideo("v", probs, label=1, labels=(1, 2), generator=None, scores={})
    assert oracle.select(both, 2).indices.tolist() == [1, 2]                          # 0.7 on 1, 0.6 on 2
    with pytest.raises(ConfigError, match="needs the video's label"):
        oracle.select(CachedVideo("v", probs, label=None, generator=None, scores={}), 2)


def test_memo_computes_once_per_key_and_keeps_the_most_recently_used():
    from scsampler.selectors.base import Memo

    calls = []
    memo = Memo(capacity=2)

    def get(key):
        return memo.get(key, lambda: calls.append(key) or key * 10)

    assert [get(1), get(2), get(1)] == [10, 20, 10] and calls == [1, 2]
    get(3)           # over capacity: 2, the least recently used, goes
    get(1)
    get(2)
    assert calls == [1, 2, 3, 2]
