"""`scsampler demo`: the shipped classifier loads, and the demo runs start to finish on `tiny`."""

import json
import shutil

import pytest

from scsampler.assets import TRIMMED_CLASSIFIER
from scsampler.cli.main import main
from scsampler.data.synthetic import PRESETS
from scsampler.runtime.classifier import load_classifier


def test_the_shipped_classifier_knows_the_demos_actions():
    clf = load_classifier(TRIMMED_CLASSIFIER)
    assert clf.classes == list(PRESETS["small"].classes)
    config = json.loads((TRIMMED_CLASSIFIER / "config.json").read_text())
    assert config["identity"]["model"] == "classifier_tiny"
    assert (TRIMMED_CLASSIFIER / "model.safetensors").stat().st_size < 4_000_000   # the repository stays light


@pytest.mark.slow
def test_the_demo_runs_on_tiny_data_and_prints_its_comparison(tiny_data, tmp_path, capsys):
    data = tmp_path / "data"
    shutil.copytree(tiny_data, data, ignore=shutil.ignore_patterns("cache"))
    out = tmp_path / "demo"
    assert main(["demo", "--data", str(data), "--out", str(out), "--sampler-epochs", "1", "--timing-arch", "none",
                 "--report-videos", "1", "--k", "2", "--ltl-epochs", "1,2"]) == 0
    text = capsys.readouterr().out
    summary = (out / "summary.md").read_text()
    for strategy in ("random", "uniform", "dense", "oracle", "motion-energy", "audio-energy", "visual", "audio", "av-union-list",
                     "videoepitoma", "listen-to-look"):
        assert f"| {strategy} |" in summary or f"| {strategy} K'" in summary
    assert "Dense evaluation" in summary and "The best selector at K = 2" in summary
    assert summary.strip() in text
    assert text.rstrip().splitlines()[-1].startswith("Report:")             # the paths come last
    assert (out / "benchmark" / "accuracy_vs_gflops.png").is_file()
    assert len(list((out / "report").glob("*.png"))) == 1
    stages = json.loads((out / "stage_seconds.json").read_text())
    assert list(stages) == ["train visual sampler", "train audio sampler", "train VideoEpitoma gate",
                            "train Listen to Look student", "train Listen to Look policy", "benchmark", "report"]


@pytest.mark.parametrize("value", ["1", "1,x", "0,5"])
def test_a_bad_ltl_epochs_is_one_line_before_any_work(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["demo", "--out", str(tmp_path / "demo"), "--ltl-epochs", value])
    assert exit_.value.code == 2 and "--ltl-epochs" in capsys.readouterr().err
    assert not (tmp_path / "demo").exists()
