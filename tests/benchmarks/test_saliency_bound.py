"""benchmarks/saliency_bound.py: the kind of interval each clip lies in, and the bound on tiny data."""

from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def bound_module(benchmark_script):
    return benchmark_script("saliency_bound")


def test_a_clip_takes_the_kind_that_covers_half_of_it(bound_module):
    segments = [{"kind": "salient", "start_s": 0.5, "end_s": 2.2}, {"kind": "glimpse", "start_s": 2.6, "end_s": 3.0},
                {"kind": "masked", "start_s": 3.4, "end_s": 4.0}]
    # Clip 0 is half salient; clip 2 only 0.2 s salient + 0.4 s glimpse; clip 3 0.6 s masked.
    assert bound_module.clip_kinds(5, 1.0, segments) == ["salient", "salient", "none", "masked", "none"]


def test_bound_counts_every_clip_once(bound_module, tiny_data, tiny_classifier):
    r = bound_module.bound(str(tiny_data), str(tiny_classifier), ks=(2,), trials=3)
    from scsampler.data.manifest import read_manifest
    from scsampler.runtime.classifier import load_classifier
    from scsampler.runtime.dense import dense_scores

    test = read_manifest(Path(tiny_data) / "manifest.csv", split="test")
    dense, _ = dense_scores(load_classifier(str(tiny_classifier)), test, Path(tiny_data) / "cache", progress=False)
    assert r["test_videos"] == len(test)
    assert sum(v["clips"] for v in r["per_clip_accuracy"].values()) == sum(len(d.probs) for d in dense.values())
    assert r["per_clip_accuracy"]["salient"]["clips"] > 0
    assert set(r["video_top1"]) == {"dense", "all salient clips", "all other clips", "2 random salient clips", "oracle K=2"}
    assert all(0 <= v <= 1 for v in r["video_top1"].values())
    assert "| salient |" in bound_module.markdown(r)


def test_compare_has_a_row_per_classifier_with_the_salient_margin(bound_module):
    def run(dense, salient, conf):
        return {"classes": 12, "video_top1": {"dense": dense, "all salient clips": salient, "10 random salient clips": 0.5,
                                             "oracle K=10": 0.9},
                "per_clip_accuracy": {"salient": {"top1": 0.4}, "none": {"mean_max_probability": conf}}}

    table = bound_module.compare([("weak", run(0.5, 0.486, 0.12)), ("strong", run(0.722, 0.75, 0.14))])
    rows = table.splitlines()[2:]
    assert len(rows) == 2
    assert rows[0].startswith("| weak | 50.0 | 48.6 |") and "| -1.4 |" in rows[0] and "0.12 (0.08)" in rows[0]
    assert rows[1].startswith("| strong | 72.2 | 75.0 |") and "| +2.8 |" in rows[1]
