"""The listen-to-look selector: loaded from a skim run, the same picks on a file and on the
benchmark's cache view, its options, and predict with it."""

from __future__ import annotations

import json

import pytest
import torch

from scsampler.data.manifest import read_manifest
from scsampler.io.video import probe
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


def test_the_cache_view_computes_the_indexing_features_once_per_video(tiny_data, tiny_classifier, skim_run, tmp_path, monkeypatch):
    from scsampler.benchmark.scores import CachedVideo
    from scsampler.data.cache import FeatureCache, content_hash
    from scsampler.data.extraction import extract_many
    from scsampler.pipeline.video import shared_extractor

    clf = load_classifier(tiny_classifier)
    entries = read_manifest(tiny_data / "manifest.csv", split="test")[:2]
    ext = shared_extractor({}, clf)
    extract_many(entries, tmp_path / "features", ext, progress=False)
    selector, fresh = load_selector(skim_run["skim"]), load_selector(skim_run["skim"])
    calls = []
    branch = selector.model.branch_features
    # Every step of a video at once (a single row is the FLOP count's probe, made once).
    monkeypatch.setattr(selector.model, "branch_features", lambda *a: (len(a[0]) > 1 and calls.append(1)) or branch(*a))

    def view(e):
        n = clf.grid.num_clips(probe(e.path).duration)
        return CachedVideo(e.video_id, torch.zeros(n, clf.num_classes), label=None, generator=None, scores={},
                           features=(FeatureCache(tmp_path / "features", ext), content_hash(e.path)))

    for k in (2, 3, 4):
        for e in entries:
            got, want = selector.select(view(e), k), fresh.select(view(e), k)
            assert torch.equal(got.indices, want.indices) and got.notes == want.notes
    assert len(calls) == len(entries)          # once per video, not once per K
    # A view that does not name its file's content is never served from memory.
    r1 = run_video(entries[0].path, clf, selector, 2)
    assert len(calls) == len(entries) + 1 and [c["index"] for c in r1.selected] == selector.select(view(entries[0]), 2).indices.tolist()


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


def _cache_views(tiny_data, tiny_classifier, root):
    """The benchmark's cache view of every test video, and the classifier."""
    from scsampler.benchmark.scores import CachedVideo
    from scsampler.data.cache import FeatureCache, content_hash
    from scsampler.data.extraction import extract_many
    from scsampler.pipeline.video import shared_extractor
    from scsampler.runtime.dense import dense_scores

    clf = load_classifier(tiny_classifier)
    test = read_manifest(tiny_data / "manifest.csv", split="test")
    ext = shared_extractor({}, clf)
    extract_many(test, root / "features", ext, progress=False)
    dense, _ = dense_scores(clf, test, root, progress=False)
    index = {c: i for i, c in enumerate(clf.classes)}
    return clf, [(CachedVideo(e.video_id, dense[e.video_id].probs, label=index[e.label], generator=None, scores={},
                              features=(FeatureCache(root / "features", ext), content_hash(e.path))), (index[e.label],)) for e in test]


def test_early_stop_and_hard_aggregation_reach_the_policy(tiny_data, tiny_classifier, skim_run, tmp_path, monkeypatch):
    from scsampler.models.listen_to_look import SkimmingPolicy

    calls = []
    forward = SkimmingPolicy.forward

    def spy(self, *args, **kw):
        calls.append((args[3], kw.get("aggregation")))
        return forward(self, *args, **kw)

    monkeypatch.setattr(SkimmingPolicy, "forward", spy)
    _, views = _cache_views(tiny_data, tiny_classifier, tmp_path)
    view = views[0][0]
    sel = load_selector(skim_run["skim"], early_stop=3, aggregation="hard")
    assert sel.settings["steps"] == 3 and sel.settings["aggregation"] == "hard"
    assert "aggregation" not in load_selector(skim_run["skim"]).settings          # soft: the settings of every result before
    assert view.num_clips >= 6
    choice = sel.select(view, 6)
    assert calls == [(3, "hard")]                                                  # 3 steps give the 6 picks: no run-on
    assert len(set(choice.indices.tolist())) == 6 and float(choice.scores["picked_at"].nan_to_num(0).max()) == 3
    assert any("of 3 steps" in n for n in choice.notes)
    assert choice.probs.shape == (len(sel.classes),) and float(choice.probs.sum()) == pytest.approx(1, abs=1e-5)
    with pytest.raises(ConfigError, match="aggregation must be one of soft, hard"):
        load_selector(skim_run["skim"], aggregation="argmax")
    with pytest.raises(ConfigError, match="must be integers"):
        load_selector(skim_run["skim"], early_stop="three")


def test_image_indexing_trains_picks_one_clip_a_step_and_is_part_of_the_run(tiny_data, tiny_classifier, skim_run, tmp_path,
                                                                             monkeypatch):
    import shutil

    from scsampler.engine import listen_to_look as engine
    from scsampler.engine.listen_to_look import SkimConfig, fit_skim
    from scsampler.selectors.listen_to_look import load_listen_to_look

    def config(indexing):
        return SkimConfig(data=str(tiny_data), student=str(skim_run["distill"]), out=str(tmp_path / "image"), steps=2, window=8,
                          hidden=16, key_dim=8, epochs=1, batch_size=3, cache=str(skim_run["distill"].parent / "cache"),
                          indexing=indexing)

    run = fit_skim(config("image"), progress=False)
    saved = json.loads((run / "config.json").read_text())
    assert saved["indexing"] == "image" and saved["identity"]["indexing"] == "image"
    assert "indexing" not in json.loads((skim_run["skim"] / "config.json").read_text())["identity"]   # the default: as before
    model = load_listen_to_look(run)
    assert model.policy.indexing == "image"
    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    clf = load_classifier(tiny_classifier)
    r = run_video(entry.path, clf, load_selector(run), 3)    # K > the picks of 2 steps: runs on, one pick a step
    assert len({c["index"] for c in r.selected}) == 3 and any("the policy ran 3 steps" in n for n in r.notes)
    # A rerun with the same indexing reuses the run; with another it retrains.
    monkeypatch.setattr(engine, "train", lambda *a, **k: pytest.fail("retrained a finished run"))
    assert fit_skim(config("image"), progress=False) == run

    class Retrained(Exception):
        pass

    def retrain(*a, **k):
        raise Retrained

    monkeypatch.setattr(engine, "train", retrain)
    with pytest.raises(Retrained):
        fit_skim(config("image-audio"), progress=False)
    # A run from before indexing could be chosen loads as image-audio.
    old = tmp_path / "old"
    shutil.copytree(skim_run["skim"], old)
    saved = json.loads((old / "config.json").read_text())
    del saved["indexing"]
    (old / "config.json").write_text(json.dumps(saved))
    assert load_listen_to_look(old).policy.indexing == "image-audio"


def test_the_policys_own_recognition_and_selector_options_in_the_benchmark(tiny_data, tiny_classifier, skim_run, tmp_path):
    from scsampler.benchmark.metrics import mean_average_precision, topk_correct
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark

    run = str(skim_run["skim"])
    config = BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                             strategies=("uniform", "ltl", "ltl3", "ltlhard"), samplers={"ltl": run, "ltl3": run, "ltlhard": run},
                             sampler_options={"ltl3": {"early_stop": 3}, "ltlhard": {"aggregation": "hard"}}, ks=(1, 2),
                             timing_videos=1, timing_k=2, cache=str(tmp_path / "cache"))
    results = run_benchmark(config, progress=False)
    settings = {s["name"]: s for s in results["selectors"]}
    assert settings["ltl3"]["steps"] == 3 and settings["ltl"]["steps"] == 2 and settings["ltlhard"]["aggregation"] == "hard"
    rows = {(r["strategy"], r["k"]): r for r in results["rows"]}
    assert {s for s, _ in rows if s.endswith(" own")} == {"ltl own", "ltl3 own", "ltlhard own"}   # uniform has none
    clf, views = _cache_views(tiny_data, tiny_classifier, tmp_path / "cache")
    for name, options in (("ltl", {}), ("ltl3", {"early_stop": 3}), ("ltlhard", {"aggregation": "hard"})):
        sel = load_selector(run, **options)
        order = [sel.classes.index(c) for c in clf.classes]
        for k in (1, 2):
            own, row = rows[f"{name} own", k], rows[name, k]
            assert own["own"] == name and own["clips_per_video"] == 0 and own["classifier_gflops_per_video"] == 0
            assert own["cheap_gflops_per_video"] == row["cheap_gflops_per_video"] > 0 and own["videos"] == row["videos"] == len(views)
            choices = [(sel.select(view, k), label) for view, label in views]
            probs = [c.probs[order] for c, _ in choices]
            labels = [label for _, label in choices]
            assert own["top1"] == pytest.approx(sum(topk_correct(p, y, 1) for p, y in zip(probs, labels)) / len(views))
            assert own["top5"] == pytest.approx(sum(topk_correct(p, y, 5) for p, y in zip(probs, labels)) / len(views))
            assert own["map"] == pytest.approx(mean_average_precision(torch.stack(probs), labels))
            steps = {int(c.scores["picked_at"].nan_to_num(0).max()) for c, _ in choices}
            assert steps == {3 if name == "ltl3" else 2}
    assert "| ltl own | 1 |" in (tmp_path / "b" / "results.md").read_text()
    # A rerun from the caches gives the same rows.
    again = run_benchmark(config, progress=False)
    assert again["rows"] == results["rows"]


def test_own_probabilities_are_mapped_onto_the_classifiers_classes_by_name():
    from scsampler.benchmark.accuracy import own_order
    from scsampler.selectors.base import ClipSelector

    sel = ClipSelector()
    assert own_order(sel, ["a", "b"]) is None                               # no own recognition
    sel.classes = ("c", "a", "b")
    assert own_order(sel, ["a", "b", "c"]).tolist() == [1, 2, 0]
    with pytest.raises(ConfigError, match="lacks the classifier's d") as err:
        own_order(sel, ["a", "b", "c", "d"])
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="has classes the classifier lacks: c"):
        own_order(sel, ["a", "b"])


def test_sampler_options_are_checked(tiny_data, tiny_classifier, skim_run, tmp_path):
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark

    def bench(options):
        return run_benchmark(BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                                             strategies=("ltl",), samplers={"ltl": str(skim_run["skim"])}, sampler_options=options,
                                             ks=(1,), timing_videos=0), progress=False)

    with pytest.raises(ConfigError, match=r"ltl\.bogus: 'bogus' is not an option of the listen-to-look selector \(it takes: steps"):
        bench({"ltl": {"bogus": 1}})
    with pytest.raises(ConfigError, match="stride is --stride"):
        bench({"ltl": {"stride": 2}})
    with pytest.raises(ConfigError, match="other is not a --sampler NAME"):
        bench({"other": {"early_stop": 1}})
    with pytest.raises(ConfigError, match="set its stride to 2: give it as --stride"):
        bench({"ltl": {"sparse": 2}})


def test_benchmark_and_predict_options_on_the_command_line(tiny_data, tiny_classifier, skim_run, tmp_path, capsys):
    from scsampler.cli.main import main

    base = ["benchmark", "--data", str(tiny_data), "--classifier", str(tiny_classifier), "--out", str(tmp_path / "b"),
            "--strategies", "ltl", "--sampler", f"ltl={skim_run['skim']}", "--k", "1", "--timing-videos", "0"]
    for bad in ("ltl.early_stop", "early_stop=3", "ltl.=3", ".early_stop=3"):
        assert main([*base, "--sampler-option", bad]) == 2
        (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
        assert line.startswith("scsampler benchmark: error: --sampler-option takes NAME.KEY=VALUE"), line
    assert main([*base, "--sampler-option", "ltl.early_stops=3"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert "early_stops" in line
    assert main([*base, "--sampler-option", "ltl.early_stop=1", "--sampler-option", "ltl.aggregation=hard"]) == 0
    results = json.loads((tmp_path / "b" / "results.json").read_text())
    assert results["config"]["sampler_options"] == {"ltl": {"early_stop": 1, "aggregation": "hard"}}
    assert results["selectors"][0]["steps"] == 1 and results["selectors"][0]["aggregation"] == "hard"
    capsys.readouterr()
    # predict: --early-stop and --aggregation reach a listen-to-look run, and only one.
    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(entry.path), "--classifier", str(tiny_classifier), "--sampler", str(skim_run["skim"]), "--k", "2",
                 "--early-stop", "1", "--aggregation", "hard", "--out", str(out), "--no-progress"]) == 0
    line = json.loads(out.read_text().splitlines()[0])
    assert line["settings"]["selector"]["steps"] == 1 and line["settings"]["selector"]["aggregation"] == "hard"
    assert any("of 1 steps" in n for n in line["notes"]) and not any("the policy ran" in n for n in line["notes"])  # K=2: one step's picks
    capsys.readouterr()
    assert main(["predict", str(entry.path), "--classifier", str(tiny_classifier), "--strategy", "uniform", "--early-stop", "3",
                 "--out", str(tmp_path / "u.jsonl"), "--no-progress"]) == 2
    (line,) = [x for x in capsys.readouterr().err.splitlines() if x.strip()]
    assert line == "scsampler predict: error: --early-stop applies to listen-to-look only, not to uniform"
