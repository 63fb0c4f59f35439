"""The feature cache's shards: bounded in clips and in bytes, and read back whole or in part."""

import torch

from scsampler.data.cache import FeatureCache, content_hash
from scsampler.features.extractor import ExtractorConfig, extract_clip_features


def _nbytes(c) -> int:
    return sum(x.nbytes for x in (c.md, c.rgbr, c.iframes, c.audio) if x is not None)


def test_shards_are_bounded_in_bytes_and_load_back_whole(media, tmp_path):
    path = media["blob_right"]
    clips = list(extract_clip_features(path))
    per_clip = [_nbytes(c) for c in clips]
    assert len(clips) == 4 and min(per_clip) > 100_000  # RGB-R of 15 P-frames a clip dominates
    digest = content_hash(path)
    whole = FeatureCache(tmp_path / "a", ExtractorConfig())
    meta = whole.write(digest, "v", iter(clips), dict)
    assert len(meta["shards"]) == 1
    # A budget of just over one clip's features: a shard is flushed as soon as it holds two clips.
    small = FeatureCache(tmp_path / "b", ExtractorConfig(), shard_mib=1.2 * max(per_clip) / 2**20)
    meta = small.write(digest, "v", iter(clips), dict)
    assert len(meta["shards"]) == 2 and meta["num_clips"] == 4
    by_clips = FeatureCache(tmp_path / "c", ExtractorConfig(), shard_clips=3)
    assert len(by_clips.write(digest, "v", iter(clips), dict)["shards"]) == 2
    a, b = whole.load(digest), small.load(digest)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    # Reading only some features: the same tensors, and nothing else but the clip index.
    part = small.load(digest, keys={"md", "md_clip"})
    assert part.keys() == {"clip_index", "md", "md_clip"} and all(torch.equal(part[k], a[k]) for k in part)
