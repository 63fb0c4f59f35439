"""The per-video pipeline's cheap pass: streaming scores equal the scores from the full cached features."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from scsampler.data.cache import pack_clips
from scsampler.data.manifest import read_manifest
from scsampler.pipeline.video import cheap_scores, shared_extractor, strided
from scsampler.runtime.sampler import load_sampler
from scsampler.features.extractor import extract_clip_features


@pytest.mark.parametrize("stride", [1, 2])
def test_streaming_scores_of_a_few_frames_equal_scores_from_all_frames(tiny_data, tiny_samplers, stride):
    sampler = load_sampler(tiny_samplers["visual"])
    assert sampler.frames_per_clip == 2  # the default: the stream computes only those frames
    ext = shared_extractor({"visual": sampler})
    for entry in read_manifest(tiny_data / "manifest.csv", split="test"):
        full = list(extract_clip_features(entry.path, dataclasses.replace(ext, features=sampler.features)))
        n = len(full)
        want = strided(n, stride)
        expected = sampler.score(pack_clips(full), n, clips=want)
        streamed, meta = cheap_scores(entry.path, {"visual": sampler}, ext, n, stride=stride)
        torch.testing.assert_close(streamed.values["visual"], expected, equal_nan=True)
        assert torch.isfinite(streamed.values["visual"][want]).all()
        assert streamed.seconds > 0 and meta["num_clips"] >= n


def test_samplers_score_with_the_fallback_they_were_trained_with():
    """A motion sampler trained before the refined fallback existed (no ``fallback_refine`` in its
    settings) scores files without vectors as it was trained; one trained since, with its own; the
    fallback's settings of a sampler that reads no motion conflict with nothing."""
    from types import SimpleNamespace

    from scsampler.errors import ConfigError

    before = {"clip_frames": 16, "fps": 16, "fallback_search": 2}
    old_visual = SimpleNamespace(features=("md", "rgbr"), extractor=before)
    new_visual = SimpleNamespace(features=("md",), extractor={**before, "fallback_refine": True})
    old_audio = SimpleNamespace(features=("audio",), extractor=before)
    assert not shared_extractor({"visual": old_visual}).fallback_refine
    assert shared_extractor({"visual": new_visual}).fallback_refine
    assert shared_extractor({"visual": new_visual, "audio": old_audio}).fallback_refine
    assert shared_extractor({}).fallback_refine  # a training-free selector: the default
    with pytest.raises(ConfigError, match="fallback_refine"):
        shared_extractor({"visual": old_visual, "other": new_visual})
