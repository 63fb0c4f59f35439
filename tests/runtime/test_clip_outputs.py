"""The clip classifier's pooled features and probabilities of every clip, in one cache that Listen to
Look's teacher and VideoEpitoma's end-to-end mode share."""

from __future__ import annotations

import torch

from scsampler.data.manifest import read_manifest
from scsampler.engine.epitoma import heavy_features
from scsampler.engine.listen_to_look import teacher_targets
from scsampler.runtime.classifier import load_classifier
from scsampler.runtime.clip_outputs import cached_clip_outputs, clip_outputs, pooled_features


def test_every_clip_is_scored_once_and_both_trainers_read_the_same_entry(tiny_data, tiny_classifier, tmp_path):
    torch.set_num_threads(1)
    clf = load_classifier(tiny_classifier)
    entry = read_manifest(tiny_data / "manifest.csv", split="train")[0]
    feats, probs = cached_clip_outputs(clf, entry, tmp_path)
    n = len(clf.decode(entry.path, range(len(feats))))
    assert feats.shape[0] == probs.shape[0] == n > 1
    # Computed directly from the clips, in one batch: the same numbers.
    clips = clf.decode(entry.path, range(n))
    assert torch.allclose(probs, clf.probabilities(clips), atol=1e-5)
    with torch.no_grad():
        assert torch.allclose(feats, pooled_features(clf.model.eval(), clf.transform(clips)), atol=1e-5)
    entries = list((tmp_path / "clip-outputs").rglob("*.safetensors"))
    assert len(entries) == 1
    # The second reader finds it: the file is not rewritten, and the values come back as they were.
    mtime = entries[0].stat().st_mtime_ns
    z, p = teacher_targets(clf, entry, tmp_path)
    heavy, errors = heavy_features(clf, [entry], tmp_path, progress=False)
    assert not errors and torch.equal(z, feats) and torch.equal(p, probs) and torch.equal(heavy[entry.video_id], feats)
    assert entries[0].stat().st_mtime_ns == mtime and len(list((tmp_path / "clip-outputs").rglob("*.safetensors"))) == 1


def test_no_clips_give_empty_outputs(tiny_classifier):
    clf = load_classifier(tiny_classifier)
    feats, probs = clip_outputs(clf, torch.zeros(0, 3, clf.transform.frames, *clf.transform.resize, dtype=torch.uint8))
    assert feats.shape[0] == 0 and probs.shape == (0, clf.num_classes)
