"""benchmarks/transfer_spread.py: the per-recipe spread of codec transfer over training runs, from
codec_transfer.py's results files, and the refusal of runs under another classifier."""

import json

import pytest


def results(top1, shares, classifier_key="c1"):
    variants = {"original": {"top1": top1, "share_of_gain": 1.0}}
    variants.update({name: {"top1": None, "share_of_gain": s} for name, s in shares.items()})
    return {"config": {"classifier": "runs/clf", "classifier_key": classifier_key, "data": "data/d", "manifest_key": "m",
                       "k": 10, "sampler": f"runs/s-{top1}"}, "variants": variants}


@pytest.fixture
def files(tmp_path):
    def write(name, r):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps(r))
        return str(path)
    return write


def test_the_spread_per_recipe_and_the_runs_meeting_the_target(benchmark_script, files, tmp_path, capsys):
    spread = benchmark_script("transfer_spread")
    runs = [f"a={files('a0', results(0.6, {'hevc': 0.94, 'vp9': 0.80}))}",
            f"a={files('a1', results(0.5, {'hevc': 0.90 - 1e-12, 'vp9': 1.10}))}",
            f"b={files('b0', results(0.4, {'hevc': 1.2}))}"]
    out = tmp_path / "spread.json"
    assert spread.main([*sum((["--run", r] for r in runs), []), "--out", str(out)]) == 0
    s = json.loads(out.read_text())
    assert s["variants"] == ["hevc", "vp9"]
    a = s["recipes"]["a"]["variants"]
    assert a["hevc"]["runs"] == 2 and a["hevc"]["meeting_target"] == 2  # 90% less a rounding error counts
    assert a["vp9"] == {"runs": 2, "mean": pytest.approx(0.95), "lowest": 0.80, "highest": 1.10, "meeting_target": 1}
    assert s["recipes"]["b"]["variants"]["vp9"] is None and s["recipes"]["b"]["runs"] == 1
    assert s["recipes"]["a"]["original_top1_mean"] == pytest.approx(0.55)
    table = capsys.readouterr().out
    assert "| a | 2 | 55.0 | 92% (90%-94%), 2/2 | 95% (80%-110%), 1/2 |" in table


def test_runs_under_another_classifier_are_refused(benchmark_script, files):
    spread = benchmark_script("transfer_spread")
    one, other = files("x", results(0.6, {"hevc": 0.9})), files("y", results(0.6, {"hevc": 0.9}, classifier_key="c2"))
    with pytest.raises(SystemExit, match="another classifier"):
        spread.main(["--run", f"a={one}", "--run", f"a={other}"])
    with pytest.raises(SystemExit, match="RECIPE=FILE"):
        spread.main(["--run", one])
