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
    from scsampler.features.extractor import QUARTER_RES_FALLBACK

    # The settings as they were written before the fallback was refined, and the key they had then.
    before = ExtractorConfig(**QUARTER_RES_FALLBACK)
    assert "fallback_refine" not in before.to_json() and "fallback_cell" not in before.to_json()
    blob = json.dumps({"format": FEATURE_FORMAT, **before.to_json()}, sort_keys=True).encode()
    assert settings_key(before) == hashlib.blake2b(blob, digest_size=8).hexdigest()
    # The fallback's settings are checked file by file, not in the key: the default's is the same.
    assert settings_key(ExtractorConfig()) == settings_key(before)
    assert settings_key(ExtractorConfig(**QUARTER_RES_FALLBACK, features=("md",))) != settings_key(before)


def test_files_of_the_decoded_fallback_are_checked_for_its_settings(media, tmp_path):
    """The fallback's settings are not in the directory's key: a file whose motion the fallback
    decoded under other settings (or before they were recorded) is a miss, one with vectors a hit."""
    from scsampler.data.cache import features_key, settings_key
    from scsampler.features.extractor import QUARTER_RES_FALLBACK

    refined, quarter = ExtractorConfig(features=("md",)), ExtractorConfig(features=("md",), **QUARTER_RES_FALLBACK)
    old, new = FeatureCache(tmp_path, quarter), FeatureCache(tmp_path, refined)
    assert old.root == new.root
    for name, source in (("mjpeg", "decoded"), ("blob_right", "bitstream")):
        stream = extract_clip_features(media[name], quarter)
        key = digest(media[name], size=16)
        meta = old.write(key, name, iter(stream), lambda s=stream: s.meta.to_json())
        assert meta["motion_source"] == source and old.lookup(key) is not None
        assert (new.lookup(key) is None) == (source == "decoded")
    # An entry written before the settings were recorded: made with the quarter-resolution search.
    import json

    key = digest(media["mjpeg"], size=16)
    path = old._meta_path(key)
    meta = json.loads(path.read_text())
    del meta["fallback"]
    path.write_text(json.dumps(meta))
    assert old.lookup(key) is not None and new.lookup(key) is None
    # What is computed from the features (cached scores) is keyed by the fallback too, but where it
    # was the one of that time, or where it reads no motion, by the settings key as before.
    assert features_key(quarter) == settings_key(quarter) != features_key(refined)
    assert features_key(refined, motion=False) == settings_key(refined)


def test_a_replacement_stopped_halfway_leaves_no_entry(media, tmp_path):
    """Features of the other fallback replace an entry shard by shard: stopped after the first,
    neither settings may find the entry (old metadata over new shards would mix the two)."""
    from scsampler.features.extractor import QUARTER_RES_FALLBACK

    quarter = FeatureCache(tmp_path, ExtractorConfig(features=("md",), **QUARTER_RES_FALLBACK), shard_clips=1)
    refined = FeatureCache(tmp_path, ExtractorConfig(features=("md",)), shard_clips=1)
    key = digest(media["mjpeg"], size=16)
    stream = extract_clip_features(media["mjpeg"], quarter.config)
    quarter.write(key, "v", iter(stream), lambda: stream.meta.to_json())
    assert quarter.lookup(key) is not None and refined.lookup(key) is None

    def stopped():
        yield from list(extract_clip_features(media["mjpeg"], refined.config))[:1]
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        refined.write(key, "v", stopped(), dict)
    assert quarter.lookup(key) is None and refined.lookup(key) is None
