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
