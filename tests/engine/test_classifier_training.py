import collections
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


def test_multi_label_training_uses_binary_cross_entropy_and_records_it(tiny_multilabel_classifier):
    config = json.loads((tiny_multilabel_classifier / "config.json").read_text())
    assert config["loss"] == "bce" and config["train"]["loss"] == "auto"
    curve = json.loads((tiny_multilabel_classifier / "curve.json").read_text())
    assert curve[-1]["loss"] < curve[0]["loss"]
    labels = np.load(next(tiny_multilabel_classifier.glob("segment-labels-*.npy")))
    assert labels.shape == (6 * 6, 3) and labels.dtype == np.float32 and (labels.sum(1) >= 1).all()
    clf = load_classifier(tiny_multilabel_classifier)
    assert clf.multi_label
    p = clf.probabilities(torch.randint(0, 256, (3, 3, 4, 32, 40), dtype=torch.uint8))
    assert p.shape == (3, 3) and ((p > 0) & (p < 1)).all() and not torch.allclose(p.sum(1), torch.ones(3))  # a sigmoid per class


def test_a_multi_label_video_s_segments_lie_in_its_actions(tiny_multilabel_data):
    from scsampler.data.segments import action_intervals, read_segments_file
    from scsampler.engine.classifier import multi_label_segments

    entries = read_manifest(tiny_multilabel_data / "manifest.csv", split="train")
    truth = read_segments_file(tiny_multilabel_data / "segments.json")
    segments, shown = multi_label_segments(entries, truth, 6, 2.0, seed=0)
    for e, segs, labels in zip(entries, segments, shown):
        intervals = action_intervals(truth[e.video_id])
        assert len(segs) == 6 and segs == sorted(segs)
        drawn = collections.Counter()
        for (a, b), ls in zip(segs, labels):
            assert 0 <= a < b <= e.duration_s + 1e-9 and set(ls) <= set(e.labels)
            middle = float(a + b) / 2
            # Each segment overlaps an action it is labelled with; its middle lies in one unless the
            # action is shorter than the segment (then the segment is centred on it).
            assert all(any(float(a) < q and p < float(b) for p, q in intervals[x]) for x in ls)
            drawn.update(x for x in ls if any(p <= middle < q for p, q in intervals[x]))
        assert all(drawn[x] >= 2 for x in e.labels)  # the labels in turn: 3 segments each
    # A video without ground truth gets random segments labelled with all its labels.
    segments, shown = multi_label_segments(entries[:1], {}, 4, 2.0, seed=0)
    assert segments == sample_segments(entries[:1], 4, 2.0, seed=0) and shown == [[entries[0].labels] * 4]


def test_the_loss_is_chosen_by_the_labels_or_given(tiny_data, tiny_multilabel_data):
    from scsampler.engine.classifier import training_loss
    from scsampler.errors import ConfigError

    single = read_manifest(tiny_data / "manifest.csv", split="train")
    multi = read_manifest(tiny_multilabel_data / "manifest.csv", split="train")
    assert (training_loss("auto", single), training_loss("auto", multi)) == ("ce", "bce")
    assert (training_loss("ce", multi), training_loss("bce", single)) == ("ce", "bce")
    with __import__("pytest").raises(ConfigError, match="unknown classifier loss 'l2'"):
        training_loss("l2", single)


def test_a_single_label_run_s_identity_has_no_loss_unless_given(tiny_data, tmp_path):
    """Runs trained before the loss could be chosen stay the same runs (reused, not retrained)."""
    from scsampler.engine.classifier import ClassifierTrainConfig, _identity

    config = ClassifierTrainConfig(data=str(tiny_data), out=str(tmp_path))
    assert "loss" not in _identity(config)
    assert _identity(ClassifierTrainConfig(data=str(tiny_data), out=str(tmp_path), loss="ce"))["loss"] == "ce"


def test_train_classifier_cli_takes_the_loss(tiny_multilabel_data, tmp_path):
    code = main([
        "train-classifier", "--data", str(tiny_multilabel_data), "--out", str(tmp_path / "run"), "--model", "classifier_tiny",
        "--frames", "4", "--resize", "32x40", "--crop", "32", "--segments", "2", "--epochs", "1", "--loss", "ce",
    ])
    assert code == 0
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["loss"] == "ce" and config["identity"]["loss"] == "ce"  # the main label only, with a softmax
    assert not load_classifier(tmp_path / "run").multi_label


def test_the_same_config_trains_the_same_weights(tiny_data, tmp_path):
    """A training run repeats bit for bit on the same machine (CPU, same data and seed): what the
    docs' numbers rest on. A different seed gives other weights, so the check can fail."""
    from safetensors.torch import load_file

    from scsampler.engine.classifier import ClassifierTrainConfig, fit

    def weights(name, seed=0):
        config = ClassifierTrainConfig(data=str(tiny_data), out=str(tmp_path / name), model="classifier_tiny", frames=4,
                                       resize=(32, 40), crop=(32, 32), segments_per_video=3, epochs=2, batch_size=8,
                                       lr=5e-3, seed=seed)
        return load_file(fit(config, progress=False) / "model.safetensors")

    a, b, c = weights("a"), weights("b"), weights("c", seed=1)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
