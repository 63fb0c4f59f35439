"""benchmarks/sampler_targets.py: each target's own top K, on tiny data."""

from pathlib import Path

import pytest
import torch


@pytest.fixture(scope="module")
def targets_module(benchmark_script):
    return benchmark_script("sampler_targets")


def test_each_targets_top_k_is_scored_as_the_oracle_would_be(targets_module, tiny_data, tiny_classifier):
    from scsampler.benchmark.metrics import aggregate, topk_correct
    from scsampler.data.manifest import read_manifest
    from scsampler.runtime.classifier import load_classifier
    from scsampler.runtime.dense import dense_scores
    from scsampler.selectors import select_oracle

    r = targets_module.audit(str(tiny_data), str(tiny_classifier), split="test", k=2)
    clf = load_classifier(str(tiny_classifier))
    test = read_manifest(Path(tiny_data) / "manifest.csv", split="test")
    dense, _ = dense_scores(clf, test, Path(tiny_data) / "cache", progress=False)
    index = {c: i for i, c in enumerate(clf.classes)}
    # The label target's top K is the oracle's choice: the same top-1, computed here without the script.
    oracle = [topk_correct(aggregate(d.probs, select_oracle(len(d.probs), 2, scores=d.probs[:, index[e.label]])), index[e.label], 1)
              for e in test for d in [dense[e.video_id]]]
    assert r["videos"] == len(test) and r["split"] == "test"
    assert r["targets"]["label"]["top_k_top1"] == pytest.approx(sum(oracle) / len(oracle))
    assert r["dense_top1"] == pytest.approx(sum(topk_correct(dense[e.video_id].probs.mean(0), index[e.label], 1)
                                                for e in test) / len(test))
    assert set(r["targets"]) == {"label", "confidence", "agreement"}
    assert all(0 <= v <= 1 for t in r["targets"].values() for v in t.values())
    table = targets_module.markdown(r)
    assert "| agreement |" in table and "dense prediction" in table
