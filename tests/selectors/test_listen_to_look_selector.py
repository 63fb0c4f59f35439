"""The listen-to-look selector: loaded from a skim run, the same picks on a file and on the
benchmark's cache view, its options, and predict with it."""

from __future__ import annotations

import json

import pytest
import torch

from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError
from scsampler.pipeline.video import run_video
from scsampler.runtime.classifier import load_classifier
from scsampler.selectors import load_selector
from scsampler.selectors.listen_to_look import ListenToLookSelector, interpolate_steps, nearest_iframe
from scsampler.selectors.registry import trained_selector


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture(scope="module")
def skim_run(tiny_data, tiny_classifier, tmp_path_factory):
    from scsampler.engine.listen_to_look import DistillConfig, SkimConfig, fit_distill, fit_skim

    root = tmp_path_factory.mktemp("ltl_selector")
    distill = fit_distill(DistillConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(root / "distill"),
                                        student="imgaud2vid_tiny", epochs=1, batch_size=64, cache=str(root / "cache")), progress=False)
    skim = fit_skim(SkimConfig(data=str(tiny_data), student=str(distill), out=str(root / "skim"), steps=2, window=8, hidden=16,
                               key_dim=8, epochs=1, batch_size=3, cache=str(root / "cache")), progress=False)
    return {"distill": distill, "skim": skim}


def test_nearest_iframe_and_interpolation():
    owner = torch.tensor([0, 0, 3, 7, 7])
    assert nearest_iframe(owner, torch.arange(9)).tolist() == [0, 0, 2, 2, 2, 2, 3, 3, 3]   # clip 5: a tie, the earlier
    z = torch.tensor([[0.0], [10.0], [20.0]])
    assert interpolate_steps(z, torch.tensor([0, 5, 10]), 12)[:, 0].tolist() == pytest.approx(
        [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 20])


def test_the_selector_loads_from_its_run(skim_run):
    assert trained_selector(skim_run["skim"]) == "listen-to-look"
    sel = load_selector(skim_run["skim"], sparse=2, early_stop=1)
    assert isinstance(sel, ListenToLookSelector) and (sel.steps, sel.sparse) == (1, 2)
    assert load_selector(skim_run["skim"]).steps == 2
    assert load_selector(skim_run["skim"], stride=3).sparse == 3          # predict's and the benchmark's --stride
    with pytest.raises(ConfigError, match="skim run"):
        load_selector(skim_run["distill"])
    with pytest.raises(ConfigError, match="is trained"):
        load_selector("listen-to-look")


def test_a_view_without_cheap_features_fails_with_one_line(skim_run):
    from scsampler.benchmark.scores import CachedVideo

    view = CachedVideo("v", torch.full((6, 3), 1 / 3), label=None, generator=None, scores={})
    with pytest.raises(ConfigError, match="cheap features of every step"):
        load_selector(skim_run["skim"]).select(view, 2)


def test_the_picks_on_a_file_equal_those_on_the_benchmarks_cache_view(tiny_data, tiny_classifier, skim_run, tmp_path):
    from scsampler.benchmark.scores import CachedVideo
    from scsampler.data.cache import FeatureCache, content_hash
    from scsampler.data.extraction import extract_many
    from scsampler.pipeline.video import shared_extractor
    from scsampler.runtime.dense import dense_scores

    clf = load_classifier(tiny_classifier)
    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    ext = shared_extractor({}, clf)
    extract_many([entry], tmp_path / "features", ext, progress=False)
    dense, _ = dense_scores(clf, [entry], tmp_path, progress=False)
    for k, options in ((3, {}), (5, {"sparse": 3}), (2, {"early_stop": 1})):
        r = run_video(entry.path, clf, load_selector(skim_run["skim"], **options), k)
        view = CachedVideo(entry.video_id, dense[entry.video_id].probs, label=None, generator=None, scores={},
                           features=(FeatureCache(tmp_path / "features", ext), content_hash(entry.path)))
        choice = load_selector(skim_run["skim"], **options).select(view, k)
        picked = [c["index"] for c in r.selected]
        assert choice.indices.tolist() == picked and len(set(picked)) == k
        assert r.clips_decoded == k                             # only the picked clips were decoded and classified
        assert choice.clips_scored == len(range(0, view.num_clips, options.get("sparse", 1))) and choice.gflops > 0
        assert torch.allclose(torch.tensor([v if v is not None else float("nan") for v in r.scores["attention"]]),
                              choice.scores["attention"], equal_nan=True, atol=1e-5)
    # K beyond the picks of the policy's steps (2 per step): it runs on, and says so.
    r = run_video(entry.path, clf, load_selector(skim_run["skim"], early_stop=1), 4)
    assert len({c["index"] for c in r.selected}) == 4
    assert any("the policy ran 2 steps" in n for n in r.notes) and any("own recognition" in n for n in r.notes)


def test_the_benchmark_gives_its_accuracy_rows_from_the_feature_cache(tiny_data, tiny_classifier, skim_run, tmp_path,
                                                                      monkeypatch):
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
    from scsampler.benchmark.scores import CachedVideo

    picks = {}   # (video id, K, sparse) -> the clips the selector chose on the benchmark's accuracy view
    select = ListenToLookSelector.select

    def spy(self, video, k):
        choice = select(self, video, k)
        if isinstance(video, CachedVideo):
            picks[video.video_id, k, self.sparse] = choice.indices.tolist()
        return choice

    monkeypatch.setattr(ListenToLookSelector, "select", spy)
    results = run_benchmark(BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                                            strategies=("uniform", "ltl"), samplers={"ltl": str(skim_run["skim"])}, ks=(1, 2),
                                            strides=(1, 2), timing_videos=1, timing_k=2, timing_strides=(1, 2)), progress=False)
    n = results["test_videos"]
    rows = {(r["k"], r["stride"]): r for r in results["rows"] if r["strategy"] == "ltl"}
    assert set(rows) == {(1, 1), (2, 1), (1, 2), (2, 2)}
    assert {r["k"] for r in results["rows"] if r["strategy"] == "uniform"} == {1, 2}
    gflops_clip = results["classifier"]["gflops_per_clip"]
    for (k, stride), row in rows.items():
        assert row["videos"] == n and row["clips_per_video"] == k
        assert row["cheap_gflops_per_video"] > 0 and row["classifier_gflops_per_video"] == pytest.approx(k * gflops_clip)
        assert 0 <= row["top1"] <= 1
    assert rows[2, 2]["cheap_gflops_per_video"] < rows[2, 1]["cheap_gflops_per_video"]   # sparse: fewer steps indexed
    assert len(picks) == 4 * n and all(len(set(p)) == k for (_, k, _), p in picks.items())
    assert "features" in results["stage_seconds"] and not results["errors"]
    assert [(s["name"], s.get("sparse")) for s in results["selectors"]] == [("uniform", None), ("ltl", 1), ("ltl", 2)]
    # The benchmark's picks are the selector's on the file.
    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    clf = load_classifier(tiny_classifier)
    for sparse in (1, 2):
        r = run_video(entry.path, clf, load_selector(skim_run["skim"], sparse=sparse), 2)
        assert [c["index"] for c in r.selected] == picks[entry.video_id, 2, sparse]
    timing = {t["stride"]: t for t in results["timing"] if t["strategy"] == "ltl"}
    assert set(timing) == {1, 2}
    for t in timing.values():
        assert t["videos"] == 1 and t["clips_decoded_per_video"] == 2 and t["frames_decoded_per_video"] > 0
        assert t["selector_gflops_per_video"] > 0 and t["total_seconds_per_video"] > 0 and t["cheap_share"] is not None


def test_first_frames_need_the_file(tiny_data, tiny_classifier, skim_run):
    clf = load_classifier(tiny_classifier)
    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    r = run_video(entry.path, clf, load_selector(skim_run["skim"], frame="first"), 2)
    assert len(r.selected) == 2 and any("decoded" in n and "first frames" in n for n in r.notes)


def test_predict_with_the_run_and_a_report(tiny_data, tiny_classifier, skim_run, tmp_path):
    from scsampler.cli.main import main

    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(entry.path), "--classifier", str(tiny_classifier), "--sampler", str(skim_run["skim"]), "--k", "3",
                 "--out", str(out), "--report", str(tmp_path / "report"), "--no-progress"]) == 0
    line = json.loads(out.read_text().splitlines()[0])
    assert len(line["selected"]) == 3 and set(line["scores"]) >= {"attention", "picked_at"}
    assert (tmp_path / "report" / "index.html").exists()
