"""benchmarks/studies.py end to end on tiny data: the cross-classifier study (Table 3), resumable."""

import json
import shutil
import sys

import pytest


@pytest.mark.slow
def test_cross_study_trains_once_and_writes_its_table(tiny_data, tiny_classifier, tmp_path, monkeypatch, capsys,
                                                      benchmark_script):
    studies = benchmark_script("studies")
    second = tmp_path / "second"
    shutil.copytree(tiny_classifier, second)  # the same network under another name stands in for mc3_18
    doc = tmp_path / "results.md"
    doc.write_text("# Results\n")
    argv = ["studies.py", "--data", str(tiny_data), "--classifier", str(tiny_classifier), "--classifier2", str(second),
            "--out", str(tmp_path / "out"), "--cache", str(tmp_path / "cache"), "--study", "cross", "--epochs", "1",
            "--workers", "1", "--docs", str(doc)]
    monkeypatch.setattr(sys, "argv", argv)
    studies.main()
    first = capsys.readouterr().out
    results = json.loads((tmp_path / "out" / "cross" / "results.json").read_text())
    assert results["config"]["classifier"] == str(second)
    strategies = {r["strategy"] for r in results["rows"]}
    assert {"dense", "oracle", "visual", "audio", "audio (own labels)", "av-union-list"} <= strategies
    own = json.loads((tmp_path / "out" / "samplers" / "audio-sal-rank-second" / "config.json").read_text())
    theirs = json.loads((tmp_path / "out" / "samplers" / "audio-sal-rank" / "config.json").read_text())
    assert own["train"]["classifier"] == str(second) and theirs["train"]["classifier"] == str(tiny_classifier)
    text = doc.read_text()
    assert text.count("<!-- study-cross:begin -->") == 1 and "| audio (own labels) | 10 |" in text
    # A rerun reuses every sampler: no training time is recorded.
    studies.main()
    seconds = json.loads(capsys.readouterr().out.rsplit("seconds: ", 1)[1])
    assert all(v < 5 for k, v in seconds.items() if k.startswith("sampler")), seconds
    assert "| audio (own labels) |" in first
