import dataclasses
import json

import pytest
import torch

from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError
from scsampler.runtime import dense as dense_module
from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
from scsampler.runtime.classifier import load_classifier
from scsampler.runtime.dense import dense_scores
from scsampler.benchmark.metrics import aggregate, salient_overlap
from scsampler.io.video import probe
from scsampler.pipeline.video import run_video
from scsampler.selectors import SELECTORS, get_strategy, load_selector

BASELINES = tuple(n for n, spec in SELECTORS.items() if not spec.samplers and "stride" not in spec.options)
AV_STRATEGIES = tuple(n for n, spec in SELECTORS.items() if set(spec.samplers) == {"visual", "audio"})


@pytest.fixture(scope="module")
def bench(tiny_data, tiny_classifier, tmp_path_factory):
    out = tmp_path_factory.mktemp("bench")
    config = BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(out), ks=(1, 2, 5), timing_videos=2, timing_k=2,
                             strategies=BASELINES)
    return run_benchmark(config, progress=False), out


def test_every_strategy_and_k_is_reported(bench):
    results, out = bench
    rows = {(r["strategy"], r["k"]) for r in results["rows"]}
    for s in BASELINES:
        if s == "dense":
            assert ("dense", None) in rows
        else:
            assert {(s, 1), (s, 2), (s, 5)} <= rows
    for r in results["rows"]:
        assert 0 <= r["top1"] <= r["top5"] <= 1
    oracle = {r["k"]: r["top1"] for r in results["rows"] if r["strategy"] == "oracle"}
    dense = next(r for r in results["rows"] if r["strategy"] == "dense")
    assert oracle[1] >= dense["top1"]  # the oracle picks clips that favour the true class
    assert (out / "results.md").read_text().count("| oracle |") == 3 + 3 + 1  # three K in accuracy and by kind, one timing row
    assert (out / "accuracy_vs_k.png").stat().st_size > 1000 and (out / "accuracy_vs_gflops.png").exists()
    assert json.loads((out / "results.json").read_text())["stage_seconds"]["dense_test"] >= 0


def test_wall_time_decodes_only_the_chosen_clips(bench):
    results, _ = bench
    timing = {t["strategy"]: t for t in results["timing"]}
    dense, uniform = timing["dense"], timing["uniform"]
    assert uniform["clips_decoded_per_video"] == 2
    # Dense decodes every frame of the videos; K=2 decodes a small part of them.
    assert uniform["frames_decoded_per_video"] < 0.5 * dense["frames_decoded_per_video"]
    assert timing["oracle"]["frames_decoded_per_video"] == dense["frames_decoded_per_video"]


def test_accuracy_from_dense_scores_equals_classifying_only_the_chosen_clips(tiny_data, tiny_classifier, bench, tmp_path):
    clf = load_classifier(tiny_classifier)
    entry = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    dense, _ = dense_scores(clf, [entry], tmp_path, progress=False)
    probs = dense[entry.video_id].probs
    chosen = get_strategy("uniform")(len(probs), 3)
    direct = clf.classify_clips(entry.path, chosen.tolist())
    assert torch.allclose(direct, probs[chosen], atol=1e-5)
    r = run_video(entry.path, clf, load_selector("uniform"), 3)
    assert torch.allclose(r.probs, aggregate(probs, chosen), atol=1e-5) and r.clips_decoded == 3


def test_dense_scores_are_cached(tiny_data, tiny_classifier, tmp_path, monkeypatch):
    clf = load_classifier(tiny_classifier)
    entries = read_manifest(tiny_data / "manifest.csv", split="test")
    first, _ = dense_scores(clf, entries, tmp_path, progress=False)

    def boom(*a, **k):
        raise AssertionError("recomputed a cached video")

    monkeypatch.setattr(dense_module, "score_video", boom)
    again, _ = dense_scores(clf, entries, tmp_path, progress=False)
    for e in entries:
        assert torch.equal(first[e.video_id].probs, again[e.video_id].probs)


def test_salient_overlap():
    segs = [{"start_s": 2.0, "end_s": 4.5, "kind": "salient"}, {"start_s": 6.0, "end_s": 9.0, "kind": "glimpse"}]
    assert salient_overlap([2, 3], 1.0, segs) == 1.0
    assert salient_overlap([4, 6, 7, 0], 1.0, segs) == 0.25  # clip 4 is half inside
    assert salient_overlap([5], 1.0, segs) == 0.0


def test_samplers_and_their_combinations_are_benchmarked(tiny_data, tiny_classifier, tiny_samplers, tmp_path):
    from scsampler.benchmark.scores import CachedScores, CachedVideo
    from scsampler.runtime.sampler import load_sampler

    config = BenchmarkConfig(
        data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"), ks=(1, 3),
        strategies=("uniform", "dense", "visual", "audio") + AV_STRATEGIES,
        samplers={k: str(v) for k, v in tiny_samplers.items()}, strides=(1, 2), k_primes=(1, 2),
        timing_videos=1, timing_k=3, timing_strides=(1, 2), cache=str(tmp_path / "cache"),
    )
    results = run_benchmark(config, progress=False)
    rows = results["rows"]
    for strategy in ("visual", "audio") + AV_STRATEGIES:
        mine = [r for r in rows if r["strategy"] == strategy]
        per = 2 if strategy == "av-union-list" else 1
        assert len(mine) == 2 * 2 * per, strategy  # K x stride (x K')
        for r in mine:
            assert 0 <= r["top1"] <= r["top5"] <= 1
            assert r["cheap_gflops_per_video"] > 0
    # Stride 2 scores half the clips: about half the sampler FLOPs.
    v1 = next(r for r in rows if r["strategy"] == "visual" and r["k"] == 3 and r["stride"] == 1)
    v2 = next(r for r in rows if r["strategy"] == "visual" and r["k"] == 3 and r["stride"] == 2)
    assert 0.4 < v2["cheap_gflops_per_video"] / v1["cheap_gflops_per_video"] < 0.65
    # The accuracy rows agree with selecting from the sampler's own scores on the dense probabilities.
    visual = load_sampler(tiny_samplers["visual"])
    clf = load_classifier(tiny_classifier)
    test = read_manifest(tiny_data / "manifest.csv", split="test")
    dense, _ = dense_scores(clf, test, tmp_path / "cache", progress=False)
    from scsampler.data.cache import FeatureCache, content_hash
    from scsampler.features.extractor import ExtractorConfig

    fc = FeatureCache(tmp_path / "cache" / "features", ExtractorConfig.from_json(visual.config["extractor"]))
    index = {c: i for i, c in enumerate(clf.classes)}
    correct = []
    for e in test:
        packed = fc.load(content_hash(e.path))
        probs = dense[e.video_id].probs
        view = CachedVideo(e.video_id, probs, label=None, generator=None,
                           scores={visual.key: {e.video_id: CachedScores(visual.score(packed, len(probs)), {})}})
        idx = load_selector("visual", samplers={"visual": visual}).select(view, 3).indices
        correct.append(int(aggregate(probs, idx).argmax()) == index[e.label])
    assert v1["top1"] == pytest.approx(sum(correct) / len(correct))
    # Timing: the baselines once, the sampler strategies at each timing stride.
    timing = {(t["strategy"], t["stride"]): t for t in results["timing"]}
    assert len(timing) == len(results["timing"]) == 2 + 2 * (2 + len(AV_STRATEGIES))
    assert ("dense", 2) not in timing and timing[("dense", 1)]["cheap_share"] is None
    for stride in (1, 2):
        v = timing[("visual", stride)]
        assert v["seconds_per_video"]["cheap"] > 0 and v["seconds_per_video"]["sampler"] > 0
        assert v["clips_decoded_per_video"] == 3
        s = v["seconds_per_video"]
        assert v["cheap_share"] == pytest.approx((s["cheap"] + s["sampler"]) / v["total_seconds_per_video"])
    md = (tmp_path / "b" / "results.md").read_text()
    assert "| av-union-list K'=2 stride 2 |" in md and "| visual (stride 2) | 3 |" in md


def test_a_bad_test_video_is_recorded_and_the_benchmark_goes_on(tiny_data, tiny_classifier, tiny_samplers, media, tmp_path):
    """Issue 5 for the benchmark: a broken file in the test split (here: truncated, zero bytes and a
    video without audio for the audio sampler) fails as itself, the other videos are measured."""
    import shutil

    from scsampler.data.manifest import write_manifest

    data = tmp_path / "data"
    shutil.copytree(tiny_data, data)
    rows = [{"path": str(e.path.relative_to(data if e.path.is_relative_to(data) else tiny_data)), "label": e.label, "split": e.split,
             "duration_s": e.duration_s} for e in read_manifest(tiny_data / "manifest.csv")]
    label = rows[-1]["label"]
    for name in ("truncated", "empty", "pan"):
        target = data / "videos" / f"bad_{name}{media[name].suffix}"
        shutil.copyfile(media[name], target)
        rows.append({"path": f"videos/{target.name}", "label": label, "split": "test", "duration_s": None})
    write_manifest(data / "manifest.csv", rows)
    config = BenchmarkConfig(data=str(data), classifier=str(tiny_classifier), out=str(tmp_path / "b"), ks=(2,),
                             strategies=("uniform", "dense", "visual", "audio"), samplers={k: str(v) for k, v in tiny_samplers.items()},
                             timing_videos=1, timing_k=2)
    results = run_benchmark(config, progress=False)
    errors = results["errors"]
    assert "videos/bad_empty.mp4" in errors and "\n" not in errors["videos/bad_empty.mp4"]
    good = len(read_manifest(tiny_data / "manifest.csv", split="test"))
    assert results["test_videos"] >= good
    audio = next(r for r in results["rows"] if r["strategy"] == "audio")
    visual = next(r for r in results["rows"] if r["strategy"] == "visual")
    assert audio["videos"] == visual["videos"] - 1  # the video without audio is not ranked by guesses
    assert "videos/bad_empty.mp4" in (tmp_path / "b" / "results.md").read_text()


def test_timing_with_a_users_architecture_at_its_own_input(tiny_data, tiny_classifier, tiny_samplers, tmp_path):
    """--timing-arch times the same pipeline with an untrained network at another input size: the
    clips decoded are the same, the classifier's cost is that network's."""
    config = BenchmarkConfig(
        data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"), ks=(2,),
        strategies=("uniform", "dense", "visual"), samplers={"visual": str(tiny_samplers["visual"])},
        timing_videos=2, timing_k=2, cache=str(tmp_path / "cache"),
        timing_arch="r3d_18", timing_arch_input=(4, 32, 32), timing_arch_videos=1,
    )
    results = run_benchmark(config, progress=False)
    big = results["timing_arch"]
    assert big["classifier"]["name"] == "r3d_18" and list(big["classifier"]["transform"]["crop"]) == [32, 32]
    assert big["classifier"]["gflops_per_clip"] > 2 * results["classifier"]["gflops_per_clip"]
    rows = {t["strategy"]: t for t in big["timing"]}
    assert set(rows) == {"uniform", "dense", "visual"} and all(t["videos"] == 1 for t in rows.values())
    assert rows["uniform"]["clips_decoded_per_video"] == rows["visual"]["clips_decoded_per_video"] == 2
    first = read_manifest(tiny_data / "manifest.csv", split="test")[0]
    clf = load_classifier(tiny_classifier)
    assert rows["dense"]["clips_decoded_per_video"] == clf.grid.num_clips(probe(first.path).duration)
    assert rows["visual"]["seconds_per_video"]["sampler"] > 0
    assert "r3d_18 at 4x32x32" in (tmp_path / "b" / "results.md").read_text()
    with pytest.raises(ConfigError, match="timing-arch"):
        run_benchmark(dataclasses.replace(config, timing_arch="resnet18"), progress=False)


def test_accuracy_only_without_timing_videos(tiny_data, tiny_classifier, tmp_path):
    config = BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                             strategies=("uniform", "dense"), ks=(2,), timing_videos=0)
    results = run_benchmark(config, progress=False)
    assert results["timing"] == [] and {r["strategy"] for r in results["rows"]} == {"uniform", "dense"}
    assert "Wall time: not measured" in (tmp_path / "b" / "results.md").read_text()


def test_a_results_file_is_written_into_the_docs_by_one_command(bench, tmp_path):
    from scsampler.reports.tables import main as report_main

    _, out = bench
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n\nhand-written\n")
    report_main([str(out / "results.json"), "--docs", str(doc), "--tag", "run-a"])
    report_main([str(out / "results.json"), "--docs", str(doc), "--tag", "run-a"])  # rerun: replaced, not appended
    text = doc.read_text()
    assert text.startswith("# Results\n\nhand-written\n") and text.count("<!-- run-a:begin -->") == 1
    assert (out / "results.md").read_text().strip() in text  # the same report the benchmark wrote


def test_picks_by_segment_kind_are_reported_and_sum_to_one(bench):
    from scsampler.benchmark.metrics import kind_shares

    segs = [{"start_s": 2.0, "end_s": 4.5, "kind": "salient"}, {"start_s": 6.0, "end_s": 9.0, "kind": "masked"}]
    shares = kind_shares([2, 4, 6, 0], 1.0, segs, ["masked", "salient", "none"])
    assert shares == {"masked": 0.25, "salient": 0.375, "none": 0.375}
    results, out = bench
    base = results["kind_share_of_clips"]
    assert base is not None and abs(sum(base.values()) - 1) < 1e-6 and "none" in base
    for r in results["rows"]:
        assert set(r["chosen_by_kind"]) == set(base) and abs(sum(r["chosen_by_kind"].values()) - 1) < 1e-6
    dense = next(r for r in results["rows"] if r["strategy"] == "dense")
    assert dense["chosen_by_kind"] == pytest.approx(base)  # every clip: the clips' own shares
    assert "by segment kind" in (out / "results.md").read_text()


def test_single_label_rows_have_map_over_the_videos(bench, tiny_data, tiny_classifier):
    from scsampler.benchmark.metrics import mean_average_precision

    results, out = bench
    assert all(0 <= r["map"] <= 1 for r in results["rows"])
    assert "| mAP % |" in (out / "results.md").read_text()
    clf = load_classifier(tiny_classifier)
    test = read_manifest(tiny_data / "manifest.csv", split="test")
    dense, _ = dense_scores(clf, test, tiny_data / "cache", progress=False)  # the benchmark's cache: nothing recomputed
    video = torch.stack([dense[e.video_id].probs.mean(0) for e in test])
    row = next(r for r in results["rows"] if r["strategy"] == "dense")
    assert row["map"] == pytest.approx(mean_average_precision(video, [clf.classes.index(e.label) for e in test]))


MULTI_LABEL_STRATEGIES = ("uniform", "random", "dense", "oracle", "empirical", "motion-energy")


def test_every_selector_runs_on_multi_label_videos_with_map_and_top1_on_any_label(
        tiny_multilabel_data, tiny_multilabel_classifier, tmp_path):
    from scsampler.benchmark.metrics import mean_average_precision

    config = BenchmarkConfig(data=str(tiny_multilabel_data), classifier=str(tiny_multilabel_classifier), out=str(tmp_path / "b"),
                             ks=(1, 2), timing_videos=1, timing_k=2, strategies=MULTI_LABEL_STRATEGIES, cache=str(tmp_path / "cache"))
    results = run_benchmark(config, progress=False)
    rows = {(r["strategy"], r["k"]): r for r in results["rows"]}
    assert {s for s, _ in rows} == set(MULTI_LABEL_STRATEGIES) and not results["errors"]
    assert all(0 <= r["map"] <= 1 and 0 <= r["top1"] <= r["top5"] <= 1 for r in rows.values())
    assert "| mAP % |" in (tmp_path / "b" / "results.md").read_text()
    # Dense by hand: top-1 is right when the top class is any of the video's labels; mAP over the videos.
    clf = load_classifier(tiny_multilabel_classifier)
    test = read_manifest(tiny_multilabel_data / "manifest.csv", split="test")
    dense, _ = dense_scores(clf, test, tmp_path / "cache", progress=False)
    video = torch.stack([dense[e.video_id].probs.mean(0) for e in test])
    labels = [[clf.classes.index(x) for x in e.labels] for e in test]
    assert all(len(y) == 2 for y in labels)
    assert rows[("dense", None)]["top1"] == pytest.approx(sum(int(v.argmax()) in y for v, y in zip(video, labels)) / len(test))
    assert rows[("dense", None)]["map"] == pytest.approx(mean_average_precision(video, labels))
    # The oracle ranks clips by their most probable true class: K=1 by hand.
    best = [dense[e.video_id].probs[int(dense[e.video_id].probs[:, y].max(1).values.argmax())] for e, y in zip(test, labels)]
    assert rows[("oracle", 1)]["top1"] == pytest.approx(sum(int(b.argmax()) in y for b, y in zip(best, labels)) / len(test))
    timing = {t["strategy"] for t in results["timing"]}
    assert timing == set(MULTI_LABEL_STRATEGIES)


def test_timing_warms_the_classifier_once_per_batch_size(tiny_data, tiny_classifier, monkeypatch):
    """The untimed warm-up runs every selector's selection but classifies only batches of a size not
    run yet: the second and third K-clip selectors add nothing; dense adds a full batch and its last one."""
    from scsampler.benchmark import timing as timing_module

    calls = []
    real = timing_module.classify_chosen
    monkeypatch.setattr(timing_module, "classify_chosen", lambda path, clf, chosen: calls.append(len(chosen.indices)) or real(path, clf, chosen))
    selectors = [(load_selector(name), 1) for name in ("uniform", "random", "front", "dense")]
    videos = read_manifest(tiny_data / "manifest.csv", split="test")[:1]
    classifier = load_classifier(tiny_classifier, batch_size=4)
    rows = timing_module.time_selectors(selectors, classifier, videos, k=2)
    clips = int(rows[3]["clips_decoded_per_video"])  # dense: every clip of the video
    assert clips > 4 and calls == [2] + sorted({4, clips % 4} - {0, 2})
    assert [r["videos"] for r in rows] == [1, 1, 1, 1] and all(r["total_seconds_per_video"] > 0 for r in rows)
    assert [r["clips_decoded_per_video"] for r in rows[:3]] == [2, 2, 2]
