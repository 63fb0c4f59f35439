"""`scsampler extract` as a user runs it: batches, the cache, and bad input."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from scsampler.cli.main import main
from scsampler.data.cache import FeatureCache, content_hash
from scsampler.features.extractor import ExtractorConfig


def cache_root(tmp_path):
    roots = [p for p in (tmp_path / "cache").iterdir() if p.is_dir()]
    assert len(roots) == 1
    return roots[0]


def test_single_good_file_is_cached_and_rerun_skips(media, tmp_path, capsys):
    assert main(["extract", str(media["blob_right"]), "--cache", str(tmp_path / "cache")]) == 0
    root = cache_root(tmp_path)
    cache = FeatureCache(tmp_path / "cache", ExtractorConfig())
    digest = content_hash(media["blob_right"])
    meta = cache.lookup(digest)
    assert meta["status"] == "ok" and meta["num_clips"] == 4 and meta["audio"] == "present"
    feats = cache.load(digest)
    assert feats["audio"].shape == (4, 40, 200)
    assert feats["md"].shape[1:] == (2, 8, 10) and feats["md_clip"].max() == 3
    assert not [p for p in root.rglob(".*") if ".tmp" in p.name]  # no temporary file left (hidden, ".tmp" in the name)
    capsys.readouterr()
    assert main(["extract", str(media["blob_right"]), "--cache", str(tmp_path / "cache")]) == 0
    assert "1 already cached" in capsys.readouterr().err


def test_settings_change_the_cache_key(media, tmp_path):
    main(["extract", str(media["blob_right"]), "--cache", str(tmp_path / "c"), "--features", "md"])
    main(["extract", str(media["blob_right"]), "--cache", str(tmp_path / "c"), "--features", "md,audio"])
    assert len([p for p in (tmp_path / "c").iterdir() if p.is_dir()]) == 2


def test_the_fallback_setting_extracts_again_only_files_without_vectors(media, tmp_path):
    """--no-fallback-refine shares the cache directory: the H.264 file is found cached, the MJPEG
    file (decoded motion) is extracted again, and each keeps the motion of its settings."""
    cache = tmp_path / "c"
    files = [str(media["blob_right"]), str(media["mjpeg"])]
    assert main(["extract", *files, "--cache", str(cache), "--features", "md"]) == 0
    (root,) = [p for p in cache.iterdir() if p.is_dir()]

    def entries():
        return {Path(m["video_id"]).name: (p.stat().st_mtime_ns, m) for p in root.glob("*/*.json") if (m := json.loads(p.read_text())).get("video_id")}

    first = entries()
    assert first["blob.avi"][1]["fallback"] == {"search": 2, "cell": 4, "refine": True}
    assert main(["extract", *files, "--cache", str(cache), "--features", "md", "--no-fallback-refine"]) == 0
    assert [p for p in cache.iterdir() if p.is_dir()] == [root]
    second = entries()
    assert second["blob.avi"][1]["fallback"] == {"search": 2, "cell": 4, "refine": False}
    assert second["blob_right.mp4"] == first["blob_right.mp4"]  # not written again
    assert first["blob_right.mp4"][1]["fallback"] is None and first["blob_right.mp4"][1]["motion_source"] == "bitstream"


@pytest.mark.timeout(150)
@pytest.mark.parametrize("name", ["empty", "random", "text", "truncated", "directory", "short", "one_frame", "audio_only"])
def test_single_bad_file_one_line_and_nonzero_exit(media, tmp_path, name):
    proc = subprocess.run(
        [sys.executable, "-m", "scsampler", "extract", str(media[name]), "--cache", str(tmp_path / "cache")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert str(media[name]) in lines[0] and "Traceback" not in proc.stderr


def test_batch_records_failures_and_goes_on(media, tmp_path, capsys):
    manifest = tmp_path / "m.csv"
    manifest.write_text(
        "path,label,split\n"
        f"{media['blob_right']},a,train\n"
        f"{media['empty']},b,train\n"
        f"{media['mpeg4']},a,test\n"
        f"{tmp_path / 'missing.mp4'},b,test\n"
    )
    code = main(["extract", str(manifest), str(media["random"]), "--cache", str(tmp_path / "cache")])
    assert code == 1
    report = json.loads((cache_root(tmp_path) / "last-run.json").read_text())
    assert report["done"] == 2 and report["failed"] == 3
    errors = " ".join(f["error"] for f in report["failures"])
    assert "empty file" in errors and "no such file" in errors and "invalid data" in errors
    # The good videos landed in the cache despite the failures around them.
    cache = FeatureCache(tmp_path / "cache", ExtractorConfig())
    assert cache.lookup(content_hash(media["mpeg4"]))["status"] == "ok"
    assert cache.lookup(content_hash(media["blob_right"]))["label"] == "a"


def test_batch_in_parallel_workers(media, tmp_path):
    code = main(
        ["extract", str(media["blob_right"]), str(media["pan"]), str(media["text"]), "--cache", str(tmp_path / "cache"), "--workers", "2"]
    )
    assert code == 1
    report = json.loads((cache_root(tmp_path) / "last-run.json").read_text())
    assert report["done"] == 2 and report["failed"] == 1


def test_decode_processes_cache_the_same_features(media, tmp_path, capsys):
    path = media["idr_gops"]
    assert main(["extract", str(path), "--cache", str(tmp_path / "one")]) == 0
    assert main(["extract", str(path), "--cache", str(tmp_path / "two"), "--decode-processes", "2"]) == 0
    one, two = (FeatureCache(tmp_path / name, ExtractorConfig()).load(content_hash(path)) for name in ("one", "two"))
    assert one.keys() == two.keys() and all(torch.equal(one[k], two[k]) for k in one)
    # A --workers process is a daemon, which may not start processes of its own.
    capsys.readouterr()
    assert main(["extract", str(path), "--cache", str(tmp_path / "c"), "--workers", "2", "--decode-processes", "2"]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["extract", str(path), "--cache", str(tmp_path / "c"), "--decode-processes", "0"]) == 2


def test_a_killed_batch_resumes_without_losing_or_repeating_work(media, tmp_path):
    import os
    import signal
    import time

    from scsampler.data.cache import settings_key

    names = ["blob_right", "pan", "mpeg4", "tone_video", "odd_size", "blob_right_b"]
    manifest = tmp_path / "m.csv"
    manifest.write_text("path\n" + "".join(f"{media[n]}\n" for n in names))
    cmd = [sys.executable, "-m", "scsampler", "extract", str(manifest), "--cache", str(tmp_path / "cache")]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    root = tmp_path / "cache" / settings_key(ExtractorConfig())

    def entries():  # finished entries only: a file being written has a hidden temporary name
        return [p for p in root.glob("*/*.json") if not p.name.startswith(".")]

    def leftovers():  # temporary files a killed writer left behind
        return {p for p in root.rglob(".*") if ".tmp" in p.name}

    deadline = time.time() + 120
    while time.time() < deadline and len(entries()) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = len(entries())
    left_by_kill = leftovers()
    assert 2 <= done_before < len(names)  # killed in the middle of the batch
    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert f"{len(names) - done_before} done, {done_before} already cached" in rerun.stderr
    metas = [json.loads(p.read_text()) for p in entries()]
    assert sorted(m["video_id"] for m in metas) == sorted(str(media[n]) for n in names)  # each exactly once
    cache = FeatureCache(tmp_path / "cache", ExtractorConfig())
    for n in names:
        feats = cache.load(content_hash(media[n]))  # every entry complete and readable
        assert len(feats["clip_index"]) > 0
    assert leftovers() == left_by_kill  # the rerun leaves no temporary file of its own


def test_ctrl_c_keeps_what_was_done(media, tmp_path, monkeypatch):
    from scsampler.data import extraction

    calls = []
    real = extraction._work

    def interrupt_on_second(job):
        calls.append(job)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(job)

    monkeypatch.setattr(extraction, "_work", interrupt_on_second)
    code = main(["extract", str(media["blob_right"]), str(media["pan"]), str(media["mpeg4"]), "--cache", str(tmp_path / "cache")])
    assert code == 130
    report = json.loads((cache_root(tmp_path) / "last-run.json").read_text())
    assert report["interrupted"] and report["done"] == 1
    cache = FeatureCache(tmp_path / "cache", ExtractorConfig())
    assert cache.lookup(content_hash(media["blob_right"]))["status"] == "ok"
