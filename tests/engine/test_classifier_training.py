import json

import numpy as np
import torch

from scsampler.cli.main import main
from scsampler.data.manifest import read_manifest
from scsampler.engine.classifier import sample_segments
from scsampler.runtime.classifier import load_classifier


def test_training_run_keeps_checkpoint_config_and_curve(tiny_classifier):
    files = {p.name for p in tiny_classifier.iterdir()}
    assert {"model.safetensors", "config.json", "curve.json", "curve.png", "classes.txt"} <= files
    curve = json.loads((tiny_classifier / "curve.json").read_text())
    assert len(curve) == 6
    assert curve[-1]["loss"] < curve[0]["loss"]  # it learned something
    config = json.loads((tiny_classifier / "config.json").read_text())
    assert config["train"]["segments_per_video"] == 6 and config["model"] == "classifier_tiny"
    clf = load_classifier(tiny_classifier)
    assert clf.classes == (tiny_classifier / "classes.txt").read_text().split()
    x = torch.randint(0, 256, (3, 3, 4, 32, 40), dtype=torch.uint8)
    p = clf.probabilities(x)
    assert p.shape == (3, len(clf.classes)) and torch.allclose(p.sum(1), torch.ones(3))


def test_segments_are_random_two_second_windows_inside_each_video(tiny_data):
    entries = read_manifest(tiny_data / "manifest.csv", split="train")
    segs = sample_segments(entries, 10, 2.0, seed=3)
    assert len(segs) == len(entries)
    for e, s in zip(entries, segs):
        assert len(s) == 10
        assert all(b - a == 2 and 0 <= a and b <= e.duration_s for a, b in s)
        assert len({a for a, _ in s}) > 3  # spread, not one place
    assert segs == sample_segments(entries, 10, 2.0, seed=3)
    assert segs != sample_segments(entries, 10, 2.0, seed=4)


def test_train_classifier_cli(tiny_data, tmp_path):
    code = main([
        "train-classifier", "--data", str(tiny_data), "--out", str(tmp_path / "run"), "--model", "classifier_tiny",
        "--frames", "4", "--resize", "32x40", "--crop", "32", "--segments", "2", "--epochs", "1",
    ])
    assert code == 0
    assert (tmp_path / "run" / "model.safetensors").exists()
    # The decoded segments are reused by a rerun with the same data and settings.
    cached = list((tmp_path / "run").glob("segments-*.npy"))
    assert len(cached) == 1 and np.load(cached[0], mmap_mode="r").shape[1:3] == (3, 32)


def test_a_finished_run_is_reused(tiny_data, tiny_classifier, monkeypatch):
    from scsampler.engine import classifier as engine

    config = engine.ClassifierTrainConfig(
        data=str(tiny_data), out=str(tiny_classifier), model="classifier_tiny", frames=4, resize=(32, 40), crop=(32, 32),
        segments_per_video=6, epochs=6, batch_size=8, lr=5e-3,
    )
    monkeypatch.setattr(engine, "train", lambda *a, **k: (_ for _ in ()).throw(AssertionError("retrained")))
    assert engine.fit(config, progress=False) == tiny_classifier
    changed = engine.ClassifierTrainConfig(**{**config.__dict__, "epochs": 7})
    with __import__("pytest").raises(AssertionError, match="retrained"):
        engine.fit(changed, progress=False)
