"""benchmarks/epitoma_modes.py: two VideoEpitoma runs' kept timesteps, their overlap and the plot, on `tiny`."""

import json

import pytest
import torch

from scsampler.engine.epitoma import EpitomaTrainConfig, fit_epitoma


@pytest.fixture(scope="module")
def two_runs(tiny_data, tiny_classifier, tmp_path_factory):
    root = tmp_path_factory.mktemp("epitoma_modes")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    runs = {}
    for name, budget in (("low", 0.2), ("high", 0.8)):
        config = EpitomaTrainConfig(data=str(tiny_data), classifier=str(tiny_classifier), out=str(root / name), mode="standalone",
                                    budget=budget, light="epitoma_light_tiny", light_init=None, light_epochs=2, concepts=4,
                                    gate_hidden=8, head_hidden=16, timesteps=8, epochs=6, batch_size=3, cache=str(root / "cache"))
        runs[name] = fit_epitoma(config, progress=False)
    torch.set_num_threads(n)
    return root, runs


def test_each_run_gets_its_row_and_each_pair_its_overlap(benchmark_script, tiny_data, tiny_classifier, two_runs):
    modes = benchmark_script("epitoma_modes")
    root, runs = two_runs
    out = root / "out"
    modes.main(["--data", str(tiny_data), "--classifier", str(tiny_classifier), "--run", f"low={runs['low']}",
                "--run", f"high={runs['high']}", "--out", str(out), "--k", "3", "--plot-videos", "2", "--cache", str(root / "cache")])
    results = json.loads((out / "results.json").read_text())
    low, high = results["runs"]["low"], results["runs"]["high"]
    assert low["videos"] == high["videos"] > 0 and low["budget"] == 0.2 and high["budget"] == 0.8
    for r in (low, high):
        assert 0.0 <= r["kept_share"] <= 1.0 and 0.0 <= r["top1_at_k"] <= 1.0
        assert r["own_head_top1"] == json.loads((root / ("low" if r is low else "high") / "config.json").read_text())["evaluation"]["test"]["top1"]
    (pair,) = results["pairs"]
    assert pair["runs"] == ["low", "high"] and 0.0 <= pair["kept_jaccard"] <= 1.0 and 0.0 <= pair["chosen_jaccard"] <= 1.0
    assert 0.0 < results["clips_in_action"] < 1.0
    assert (out / "gates.png").stat().st_size > 0
    table = (out / "epitoma_modes.md").read_text()
    assert "| low | standalone | 0.2 |" in table and "| low vs high |" in table


def test_a_run_compared_with_itself_overlaps_fully(benchmark_script, tiny_data, tiny_classifier, two_runs):
    modes = benchmark_script("epitoma_modes")
    root, runs = two_runs
    modes.main(["--data", str(tiny_data), "--classifier", str(tiny_classifier), "--run", f"a={runs['low']}", "--run", f"b={runs['low']}",
                "--out", str(root / "same"), "--plot-videos", "0", "--cache", str(root / "cache")])
    (pair,) = json.loads((root / "same" / "results.json").read_text())["pairs"]
    assert pair["kept_jaccard"] == 1.0 and pair["chosen_jaccard"] == 1.0
