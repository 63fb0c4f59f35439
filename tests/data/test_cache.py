"""The feature cache: shards bounded in clips and in bytes, read back whole or in part, written atomically, under keys that never change."""

import pytest
import torch

from scsampler.data.cache import FeatureCache
from scsampler.features.extractor import ExtractorConfig, extract_clip_features
from scsampler.files import digest


def _nbytes(c) -> int:
    return sum(x.nbytes for x in (c.md, c.rgbr, c.iframes, c.audio) if x is not None)


def test_shards_are_bounded_in_bytes_and_load_back_whole(media, tmp_path):
    path = media["blob_right"]
    clips = list(extract_clip_features(path))
    per_clip = [_nbytes(c) for c in clips]
    assert len(clips) == 4 and min(per_clip) > 100_000  # RGB-R of 15 P-frames a clip dominates
    key = digest(path, size=16)
    whole = FeatureCache(tmp_path / "a", ExtractorConfig())
    meta = whole.write(key, "v", iter(clips), dict)
    assert len(meta["shards"]) == 1
    # A budget of just over one clip's features: a shard is flushed as soon as it holds two clips.
    small = FeatureCache(tmp_path / "b", ExtractorConfig(), shard_mib=1.2 * max(per_clip) / 2**20)
    meta = small.write(key, "v", iter(clips), dict)
    assert len(meta["shards"]) == 2 and meta["num_clips"] == 4
    by_clips = FeatureCache(tmp_path / "c", ExtractorConfig(), shard_clips=3)
    assert len(by_clips.write(key, "v", iter(clips), dict)["shards"]) == 2
    a, b = whole.load(key), small.load(key)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Reading only some features: the same tensors, and nothing else but the clip index.
    part = small.load(key, keys={"md", "md_clip"})
    assert part.keys() == {"clip_index", "md", "md_clip"} and all(torch.equal(part[k], a[k]) for k in part)


def test_a_shard_that_fails_to_write_leaves_no_entry_and_no_temp(media, tmp_path, monkeypatch):
    import scsampler.data.cache as cache_module

    clips = list(extract_clip_features(media["blob_right"]))
    cache = FeatureCache(tmp_path, ExtractorConfig())

    def half_written(tensors, path, *a, **k):
        open(path, "wb").write(b"half a shard")
        raise OSError("disk full")

    monkeypatch.setattr(cache_module, "save_file", half_written)
    key = "ab" + "0" * 30
    with pytest.raises(OSError, match="disk full"):
        cache.write(key, "v", iter(clips), dict)
    assert cache.lookup(key) is None
    assert [p.name for p in (cache.root / "ab").rglob("*") if p.is_file()] == []


def test_the_settings_key_is_the_key_it_always_was():
    import hashlib
    import json

    from scsampler.data.cache import FEATURE_FORMAT, settings_key

    config = ExtractorConfig()
    blob = json.dumps({"format": FEATURE_FORMAT, **config.to_json()}, sort_keys=True).encode()
    assert settings_key(config) == hashlib.blake2b(blob, digest_size=8).hexdigest()
