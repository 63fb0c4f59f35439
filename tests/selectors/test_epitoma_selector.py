"""The videoepitoma selector: its frame rules, the same choice on a file and on the benchmark's caches,
the kept timesteps as the clips the per-video path classifies, predict and the benchmark."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import blob_frames

from scsampler.benchmark.scores import CachedVideo, scorer_scores
from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError
from scsampler.features.extractor import ExtractorConfig
from scsampler.io.writer import write_video
from scsampler.models import create_model
from scsampler.models.epitoma import EpitomaHead, TimestepGate
from scsampler.models.weights import save_run
from scsampler.pipeline.video import cheap_scores, run_video
from scsampler.runtime.classifier import load_classifier
from scsampler.selectors import load_selector
from scsampler.selectors.epitoma import EpitomaSelector, load_epitoma, nearest_source, own_iframe_rows
from scsampler.selectors.registry import trained_selector


def test_each_clip_takes_its_own_middle_i_frame_or_the_nearest_clips():
    owner = torch.tensor([0, 0, 2, 2, 2, 5])                  # clip 0 owns two I-frames, clip 2 three, clip 5 one
    clips, rows = own_iframe_rows(owner, torch.ones(7, dtype=torch.bool))
    assert clips.tolist() == [0, 2, 5] and rows.tolist() == [1, 3, 5]
    clips, rows = own_iframe_rows(owner, torch.tensor([False, True, True, True, True, False, True]))
    assert clips.tolist() == [2] and rows.tolist() == [3]
    has = torch.tensor([True, False, True, False, False, True, False])
    assert nearest_source(has, torch.arange(7)).tolist() == [0, 0, 2, 2, 5, 5, 5]   # clip 1: a tie, the earlier


def make_run(path, *, bias: float = 0.0, frame: str = "iframe", seed: int = 0):
    """An untrained VideoEpitoma run of the tiny networks (``bias``: the gate MLP's last bias)."""
    torch.manual_seed(seed)
    light = create_model("epitoma_light_tiny", num_classes=3)
    gate = TimestepGate(light.feature_dim, concepts=4, hidden=8)
    head = EpitomaHead(light.feature_dim, 3, hidden=8)
    with torch.no_grad():
        gate.mlp[-1].bias.fill_(bias)
        gate.mlp[-1].weight.mul_(20)                              # spread the gate values of random weights
    config = {
        "kind": "epitoma", "mode": "standalone", "frame": frame,
        "light": {"arch": "epitoma_light_tiny", "kwargs": {"num_classes": 3}},
        "feature_dim": light.feature_dim, "head_feature_dim": light.feature_dim,
        "gate": {"concepts": 4, "hidden": 8, "heads": 1, "temperature": 2 / 3}, "head": {"hidden": 8, "heads": 1},
        "classes": ["a", "b", "c"], "input_shape": [3, 52, 64], "small_side": 64,
        "extractor": ExtractorConfig(features=("if",)).to_json(), "eval_timesteps": 0,
    }
    return save_run(path, {"light.safetensors": light, "gate.safetensors": gate, "head.safetensors": head}, config)


@pytest.fixture(scope="module")
def setting(tiny_data, tiny_classifier, tmp_path_factory):
    root = tmp_path_factory.mktemp("epitoma_selector")
    clf, entry = load_classifier(tiny_classifier), read_manifest(tiny_data / "manifest.csv", split="test")[0]
    # Shift the random gate so that it keeps about half of this video's clips.
    values = run_video(entry.path, clf, load_selector(make_run(root / "first")), 1).scores["gate"]
    alpha = torch.logit(torch.tensor(values))
    return {"run": make_run(root / "run", bias=-float(alpha.median()) + 1e-3), "root": root, "clf": clf, "entry": entry}


def test_the_kept_timesteps_are_what_the_per_video_path_classifies_and_the_benchmark_chooses(setting):
    clf, entry, run = setting["clf"], setting["entry"], setting["run"]
    selector = load_selector(run)
    assert isinstance(selector, EpitomaSelector) and trained_selector(run) == "videoepitoma"
    r = run_video(entry.path, clf, selector, 4)
    gate = torch.tensor([float("nan") if v is None else v for v in r.scores["gate"]])
    assert torch.isfinite(gate).all() and r.clips_scored == r.num_clips
    chosen = [c["index"] for c in r.selected]
    assert chosen == torch.sort(gate, descending=True, stable=True).indices[:4].tolist()   # top-K by gate value
    assert r.clips_decoded == 4 and r.selector_gflops > 0
    kept = int((gate >= 0.5).sum())
    assert 0 < kept < r.num_clips and any(f"the gate kept {kept} of {r.num_clips} timesteps" in n for n in r.notes)
    assert any("I-frame thumbnails" in n and "key frames" in n for n in r.notes)
    # The gate values from the networks directly: each clip's own middle I-frame, then the whole-video gate.
    model = load_epitoma(run)
    ext = ExtractorConfig(**{**model.config["extractor"], "features": ("if",)})
    scores, _ = scorer_scores(selector.scorers["concept0"], ext, [entry], setting["root"] / "cache", progress=False)
    from scsampler.data.cache import FeatureCache, content_hash

    packed = FeatureCache(setting["root"] / "cache" / "features", ext).load(content_hash(entry.path))
    clips, rows = own_iframe_rows(packed["iframes_clip"].long(), torch.ones(r.num_clips, dtype=torch.bool))
    sims = model.similarities(packed["iframes"][rows])[nearest_source(
        torch.zeros(r.num_clips, dtype=torch.bool).index_fill_(0, clips, True), torch.arange(r.num_clips))]
    with torch.inference_mode():
        direct = torch.sigmoid(model.gate.logits_from_similarity(sims[None])[0])
    assert torch.allclose(direct, gate, atol=1e-5)
    # The benchmark's cache view: every concept scorer cached, the same choice.
    cached = {s.key: scorer_scores(s, ext, [entry], setting["root"] / "cache", progress=False)[0] for s in selector.scorers.values()}
    view = CachedVideo(entry.video_id, torch.zeros(r.num_clips, 3), label=None, generator=None, scores=cached)
    again = load_selector(run).select(view, 4)
    assert again.indices.tolist() == chosen and torch.allclose(again.scores["gate"], gate, atol=1e-5)


def test_clips_without_an_i_frame_take_the_nearest_ones_whatever_the_chunks(setting, tmp_path):
    path = tmp_path / "long_gop.mp4"
    write_video(path, blob_frames(96, dx=3), fps=16, gop=40)     # 6 clips; I-frames at frames 0, 40, 80: clips 0, 2, 5
    selector = load_selector(setting["run"])
    ext = ExtractorConfig(**{**selector.model.config["extractor"], "features": ("if",)})
    whole, _ = cheap_scores(path, selector.scorers, ext, 6, chunk=64)
    chunked, _ = cheap_scores(path, selector.scorers, ext, 6, chunk=2)
    for role in selector.scorers:
        assert torch.allclose(whole.values[role], chunked.values[role], equal_nan=True)
    assert torch.isfinite(whole.values["concept0"]).tolist() == [True, False, True, False, False, True]
    r = run_video(path, setting["clf"], selector, 2)
    g = r.scores["gate"]
    assert None not in g and g[1] == g[0] and g[3] == g[2] and g[4] == g[5]   # the same frame, the same gate
    assert any("light network on 3 I-frame thumbnails (the cheap pass decoded 3 key frames) for 6 timesteps" in n for n in r.notes)


@pytest.mark.parametrize("bias, k, said", [(30.0, 3, "the 3 with the highest gate values were classified"),
                                            (-30.0, 3, "the 3 highest-valued gated-off timesteps were added")])
def test_the_output_says_what_was_done_when_the_gate_keeps_more_or_fewer_than_k(setting, bias, k, said, tmp_path):
    r = run_video(setting["entry"].path, setting["clf"], load_selector(make_run(tmp_path / "r", bias=bias)), k)
    assert len(r.selected) == k and any(said in n for n in r.notes), r.notes


def test_timesteps_and_middle_frames(setting):
    clf, entry, run = setting["clf"], setting["entry"], setting["run"]
    r = run_video(entry.path, clf, load_selector(run, timesteps=4), 2)
    scored = [i for i, v in enumerate(r.scores["gate"]) if v is not None]
    assert scored == [0, 4, 8, 12] and {c["index"] for c in r.selected} <= set(scored)
    mid = load_selector(run, timesteps=4, frame="middle")
    assert mid.needs.features == () and not mid.scorers
    r = run_video(entry.path, clf, mid, 2)
    note = next(n for n in r.notes if "middle frames" in n)
    assert int(note.split("decoded ")[1].split()[0]) >= 4            # at least the 4 frames, counted
    with pytest.raises(ConfigError, match="middle frames decodes them from the video file, which this view does not name"):
        mid.select(CachedVideo(entry.video_id, torch.zeros(r.num_clips, 3), label=None, generator=None, scores={}), 2)
    # The benchmark's view names the file and the classifier's grid: the same middle frames, the same choice.
    view = CachedVideo(entry.video_id, torch.zeros(r.num_clips, 3), label=None, generator=None, scores={},
                       path=entry.path, grid=clf.grid)
    again = mid.select(view, 2)
    assert again.indices.tolist() == [c["index"] for c in r.selected]
    gate = torch.tensor([float("nan") if v is None else v for v in r.scores["gate"]])
    assert torch.allclose(again.scores["gate"], gate, atol=1e-5, equal_nan=True)
    assert note in again.notes                                        # the same frames decoded
    decoded = int(note.split("decoded ")[1].split()[0])
    assert r.frames_decoded >= decoded + 2 * clf.grid.clip_frames    # its own frames count with the chosen clips'


def test_middle_frames_are_decoded_again_on_a_file_and_once_per_video_in_the_benchmark(setting, monkeypatch):
    import scsampler.selectors.epitoma as epitoma_module

    clf, entry = setting["clf"], setting["entry"]
    calls = []
    real = epitoma_module.middle_frames
    monkeypatch.setattr(epitoma_module, "middle_frames", lambda *a, **kw: calls.append(1) or real(*a, **kw))
    mid = load_selector(setting["run"], timesteps=4, frame="middle")
    first = run_video(entry.path, clf, mid, 2)
    run_video(entry.path, clf, mid, 2)
    assert len(calls) == 2             # predict and the benchmark's wall time: each run pays for its frames
    view = CachedVideo(entry.video_id, torch.zeros(first.num_clips, 3), label=None, generator=None, scores={},
                       path=entry.path, grid=clf.grid)
    fresh = load_selector(setting["run"], timesteps=4, frame="middle")
    for k in (1, 2, 3):
        fresh.select(view, k)
    assert len(calls) == 3             # the benchmark's accuracy: once per video, whatever K
    with pytest.raises(ConfigError, match="is trained: give its run directory"):
        load_selector("videoepitoma")


def test_predict_and_the_benchmark_take_the_run(setting, tiny_data, tiny_classifier, tmp_path):
    from scsampler.benchmark.run import BenchmarkConfig, run_benchmark
    from scsampler.cli.main import main

    out = tmp_path / "r.jsonl"
    assert main(["predict", str(setting["entry"].path), "--classifier", str(tiny_classifier), "--sampler", str(setting["run"]),
                 "--strategy", "videoepitoma", "--k", "3", "--out", str(out), "--report", str(tmp_path / "report"),
                 "--no-progress"]) == 0
    line = json.loads(out.read_text())
    assert len(line["selected"]) == 3 and "gate" in line["selected"][0]["scores"]
    assert (tmp_path / "report" / "index.html").exists()
    assert main(["predict", str(setting["entry"].path), "--classifier", str(tiny_classifier), "--sampler", str(setting["run"]),
                 "--strategy", "uniform", "--out", str(tmp_path / "u.jsonl")]) == 2
    results = run_benchmark(BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "b"),
                                            strategies=("uniform", "epi"), samplers={"epi": str(setting["run"])}, ks=(1, 3),
                                            timing_videos=1, timing_k=3, strides=(1, 2)), progress=False)
    rows = [r for r in results["rows"] if r["strategy"] == "epi"]
    assert {(r["k"], r["stride"]) for r in rows} == {(1, 1), (3, 1), (1, 2), (3, 2)}
    assert all(r["cheap_gflops_per_video"] > 0 and r["videos"] == results["test_videos"] for r in rows)
    assert [s["frame"] for s in results["selectors"] if s["name"] == "epi"] == ["iframe", "iframe"]  # one per stride
    # The middle-frame variant gets accuracy rows too: it decodes its frames from the test videos' files.
    mid = run_benchmark(BenchmarkConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(tmp_path / "m"),
                                        strategies=("epi-mid",), samplers={"epi-mid": str(setting["run"])},
                                        sampler_options={"epi-mid": {"frame": "middle"}}, ks=(3,), timing_videos=0),
                        progress=False)
    row = next(r for r in mid["rows"] if r["strategy"] == "epi-mid")
    assert row["videos"] == mid["test_videos"] and row["cheap_gflops_per_video"] > 0
    assert next(t for t in results["timing"] if t["strategy"] == "epi")["clips_decoded_per_video"] == 3
