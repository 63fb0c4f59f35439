"""Every file of the bad-and-unusual corpus (the `media` fixture) through `scsampler extract` and
`scsampler predict`: features with the fallback recorded, or one line naming the file and the cause.
No traceback, no silent zeros, and no hang: each case runs under a time bound."""

import json
import math

import numpy as np
import pytest

from scsampler.cli.main import main
from scsampler.data.cache import FeatureCache, content_hash
from scsampler.features.extractor import ExtractorConfig

# What the cache's metadata says of each file that yields features (fields of StreamMeta; "rotation"
# and "width" are info's), or the cause in the one line of a file that fails. Every corpus file is here.
FEATURES = {
    "blob_right": {"audio": "present", "motion_source": "bitstream", "num_clips": 4},
    "blob_right_b": {"audio": "absent", "motion_source": "bitstream"},
    "pan": {"motion_source": "bitstream"},
    "mpeg4": {"audio": "present", "motion_source": "bitstream"},
    "mpeg4_b": {"motion_source": "bitstream"},
    "mjpeg": {"motion_source": "decoded"},
    "hevc": {"motion_source": "decoded"},
    "vp9": {"motion_source": "decoded"},
    "tone_video": {"audio": "present"},
    "odd_size": {"motion_source": "bitstream"},
    "unicode name": {"num_clips": 2},
    "ts": {"truncated": False, "num_clips": 6},
    "ts_truncated": {"num_clips": 3, "audio": "present"},  # cut at 55%: the container's duration says so too
    "rotated": {"rotation": 90, "num_clips": 3},
    "vfr": {"num_clips": 3, "motion_source": "bitstream"},
    "audio_damaged": {"audio": "failed: 51 undecodable packets in a row: invalid data", "num_clips": 4},
    "audio_damaged_short": {"audio": "failed: the audio stream has no decodable audio", "num_clips": 2},
    "audio_gap": {"audio": "present", "num_clips": 4},
    "video_damaged_stretch": {"num_clips": 4, "audio": "present", "motion_source": "bitstream"},
    "audio_unknown_codec": {"audio": "failed: audio stream with a codec FFmpeg cannot decode", "num_clips": 4},
    # Issue 18: files that gave wrong results without a word (tests/io/test_video.py checks the
    # decoded frames of each clip).
    "ts_long_gop": {"truncated": False, "num_clips": 6, "audio": "present"},
    "idr_gops": {"audio": "present", "motion_source": "bitstream", "num_clips": 12, "truncated": False},
    "ts_mpeg2": {"truncated": False, "num_clips": 4},
    "ts_joined": {"truncated": True, "num_clips": 3, "audio": "present",
                  "timeline": "restarts at 3.00 s (timestamps jump back to 0.00 s); only the first 3.00 s were used"},
    "intra_only": {"motion_source": "decoded", "num_clips": 3},
    "vfr_gap": {"truncated": False, "num_clips": 3},
    "two_video_streams": {"width": 160, "num_clips": 3,
                          "video_stream": "#1 (160x128 h264, default) of 2 video streams; not #0 (80x64 h264, default)"},
}
# The same one line from both commands, except where noted in PREDICT_ERRORS.
ERRORS = {
    "empty": "empty file (0 bytes)",
    "random": "invalid data",
    "text": "invalid data",
    "truncated": "",
    "directory": "is a directory",
    "short": "shorter than one clip",
    "one_frame": "shorter than one clip",
    "audio_only": "no video stream",
    "video_damaged": "no clip could be decoded",
}
# predict with a positional strategy decodes only the chosen clips, so it learns of a video that
# decodes to nothing there.
PREDICT_ERRORS = {**ERRORS, "video_damaged": "interval 0.00-1.00 s has no decodable frames (no frame decodes from there on)"}


def test_every_corpus_file_has_a_pinned_outcome(media):
    assert set(FEATURES) | set(ERRORS) == set(media)
    assert not set(FEATURES) & set(ERRORS)


def _meta_value(meta: dict, key: str):
    return meta["info"][key] if key in ("rotation", "width") else meta[key]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(FEATURES))
def test_extract_gives_features_and_records_the_fallback(media, tmp_path, name):
    assert main(["extract", str(media[name]), "--cache", str(tmp_path)]) == 0
    cache = FeatureCache(tmp_path, ExtractorConfig())
    digest = content_hash(media[name])
    meta = cache.lookup(digest)
    assert meta["status"] == "ok" and meta["num_clips"] >= 1
    assert {k: _meta_value(meta, k) for k in FEATURES[name]} == FEATURES[name]
    feats = cache.load(digest)
    assert len(feats["clip_index"]) == meta["num_clips"]
    assert all(bool(v.float().isfinite().all()) for v in feats.values())
    if meta["audio"] == "present":
        assert feats["audio_coverage"].max() > 0.5
    else:
        assert "audio" not in feats  # absent or failed: no rows at all, never rows of zeros


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_extract_fails_with_one_line(media, tmp_path, capsys, name):
    assert main(["extract", str(media[name]), "--cache", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert str(media[name]) in line and ERRORS[name] in line and "Traceback" not in err


def lines(path) -> list[dict]:
    return [json.loads(x) for x in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(FEATURES))
def test_predict_uniform_classifies_k_clips(media, tiny_classifier, tmp_path, capsys, name):
    out = tmp_path / "r.jsonl"
    code = main(["predict", str(media[name]), "--classifier", str(tiny_classifier), "--strategy", "uniform", "--k", "2", "--out", str(out)])
    err = capsys.readouterr().err
    (r,) = lines(out)
    assert code == 0, err
    assert len({c["index"] for c in r["selected"]}) == r["clips_decoded"] == min(2, r["num_clips"])
    assert abs(sum(p["prob"] for p in r["top5"]) - 1) < 1e-4 and all(math.isfinite(p["prob"]) for p in r["top5"])
    assert r["frames_decoded"] > 0


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", sorted(ERRORS))
def test_predict_fails_with_one_line(media, tiny_classifier, tmp_path, capsys, name):
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(media[name]), "--classifier", str(tiny_classifier), "--strategy", "uniform", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    (line,) = [x for x in err.splitlines() if x.strip()]
    assert str(media[name]) in line and PREDICT_ERRORS[name] in line and "Traceback" not in err
    (r,) = lines(out)
    assert r["error"] in line


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", ["rotated", "vfr", "audio_damaged", "audio_gap", "intra_only", "ts_joined"])
def test_predict_with_the_visual_sampler_scores_every_clip(media, tiny_classifier, tiny_samplers, tmp_path, name):
    out = tmp_path / "r.jsonl"
    args = ["predict", str(media[name]), "--classifier", str(tiny_classifier), "--sampler", str(tiny_samplers["visual"]), "--k", "2"]
    assert main([*args, "--out", str(out)]) == 0
    (r,) = lines(out)
    scores = r["scores"]["visual"]
    assert len(scores) == r["num_clips"] and all(s is not None and math.isfinite(s) for s in scores)
    assert sorted(c["index"] for c in r["selected"]) == sorted(np.argsort(scores)[::-1][:2].tolist())


@pytest.mark.timeout(60)
def test_predict_with_the_audio_sampler_scores_only_clips_with_audio(media, tiny_classifier, tiny_samplers, tmp_path):
    out = tmp_path / "r.jsonl"
    args = ["predict", str(media["audio_gap"]), str(media["audio_damaged"]), "--classifier", str(tiny_classifier),
            "--sampler", str(tiny_samplers["audio"]), "--k", "2", "--out", str(out)]
    assert main(args) == 1  # a batch in which one video failed
    records = {r["video"]: r for r in lines(out)}
    gap = records[str(media["audio_gap"])]
    assert all(s is not None and math.isfinite(s) for s in gap["scores"]["audio"])  # every window holds some audio
    damaged = records[str(media["audio_damaged"])]
    # No audio could be decoded: the video fails with the cause, no clip gets a made-up score.
    assert "audio stream undecodable" in damaged["error"] and "selected" not in damaged


@pytest.mark.timeout(60)
def test_predict_with_the_audio_sampler_on_failed_audio_says_so(media, tiny_classifier, tiny_samplers, tmp_path, capsys):
    args = ["predict", str(media["audio_damaged"]), "--classifier", str(tiny_classifier), "--sampler", str(tiny_samplers["audio"]), "--k", "2"]
    assert main([*args, "--out", str(tmp_path / "a.jsonl")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "audio stream undecodable" in err[0] and "Traceback" not in err[0]
    assert main([*args, "--fallback", "uniform", "--out", str(tmp_path / "b.jsonl")]) == 0
    (r,) = lines(tmp_path / "b.jsonl")
    assert r["fallback"].startswith("uniform") and "undecodable" in r["fallback"]


@pytest.mark.timeout(60)
def test_predict_decodes_the_clips_around_a_damaged_stretch(media, tiny_classifier, tmp_path):
    out = tmp_path / "r.jsonl"
    args = ["predict", str(media["video_damaged_stretch"]), "--classifier", str(tiny_classifier), "--strategy", "dense", "--out", str(out)]
    assert main(args) == 0
    (r,) = lines(out)
    assert sorted(c["index"] for c in r["selected"]) == [0, 1, 2, 3]  # clip 1 holds the damage


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name, clips", [("ts_long_gop", 6), ("ts_mpeg2", 4), ("ts_joined", 3), ("vfr_gap", 3)])
def test_predict_classifies_every_clip_of_the_issue_18_files(media, tiny_classifier, tmp_path, name, clips):
    out = tmp_path / "r.jsonl"
    args = ["predict", str(media[name]), "--classifier", str(tiny_classifier), "--strategy", "dense", "--out", str(out)]
    assert main(args) == 0
    (r,) = lines(out)
    assert r["num_clips"] == clips and sorted(c["index"] for c in r["selected"]) == list(range(clips))


@pytest.mark.parametrize("name, says", [("ts_joined", "timeline restarts at"), ("two_video_streams", "video stream #1"),
                                         ("ts_long_gop", None)])
def test_predict_says_which_part_of_the_file_it_used(media, tiny_classifier, tmp_path, name, says):
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(media[name]), "--classifier", str(tiny_classifier), "--strategy", "uniform", "--k", "2",
                 "--out", str(out)]) == 0
    (r,) = lines(out)
    if says:
        assert any(says in n for n in r["notes"]), r["notes"]
    else:
        assert not any("timeline" in n or "video stream #" in n for n in r["notes"]), r["notes"]
