"""The Ray engine on a real local Ray (2 CPUs, started once for the module, by the runner): no
dashboard and the loopback address only, the same records and caches as the local commands, a
killed driver rerun with every video once (one stage and two), a corrupt file reported while the
rest are done, a worker that dies retried. The option checks run without Ray."""

from __future__ import annotations

import contextlib
import importlib.util
import ipaddress
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from scsampler.cli.main import main
from scsampler.selectors.base import ClipSelector

needs_ray = pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                               reason="ray is not installed: pip install 'scsampler[ray]' to test the Ray engine")


def lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def by_video(records: list[dict]) -> dict[str, dict]:
    """Records by video, timings dropped (they are the only thing that may differ)."""
    return {r["video"]: {k: v for k, v in r.items() if k != "seconds"} for r in records}


def same_records(a, b) -> bool:
    """Equal, floats to 1e-6: a worker runs torch on one thread, the local command on every core,
    and a sum split over other threads may differ in its last bits."""
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(same_records(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return isinstance(b, list) and len(a) == len(b) and all(same_records(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float):
        return math.isclose(a, b, rel_tol=1e-6, abs_tol=1e-9)
    return a == b and type(a) is type(b)


@pytest.fixture(scope="module")
def ray_address():
    """A local Ray of 2 CPUs for the module; the runs connect to it (the kill test from another process)."""
    if importlib.util.find_spec("ray") is None:
        pytest.skip("ray is not installed: pip install 'scsampler[ray]' to test the Ray engine")
    from scsampler.runners.ray import init_ray

    ray = init_ray(None, num_cpus=2)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


def _listening() -> dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """Socket inode -> address of every listening TCP socket of this machine (Linux's /proc/net)."""
    out = {}
    for table in ("tcp", "tcp6"):
        for row in Path(f"/proc/net/{table}").read_text().splitlines()[1:]:
            fields = row.split()
            if fields[3] == "0A":  # LISTEN
                raw = bytes.fromhex(fields[1].split(":")[0])  # 32-bit words in the host's (little-endian) order
                words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
                out[fields[9]] = ipaddress.ip_address(words)
    return out


def _family(pid: int) -> set[int]:
    """``pid`` and its descendants."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(stat.parent.name))
    out, todo = {pid}, [pid]
    while todo:
        todo += children.get(todo.pop(), [])
        out.update(todo)
    return out


@needs_ray
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="reads the listening sockets from Linux's /proc")
def test_a_local_ray_has_no_dashboard_and_listens_on_the_loopback_address_only(ray_address):
    """The fixture's Ray, started by the runner without an address: every process of it (this one,
    the driver, and its descendants) listens on 127.0.0.1 only, and its dashboard serves nothing."""
    import ray
    from ray._private.worker import get_dashboard_url

    assert ray_address.rsplit(":", 1)[0] == "127.0.0.1"
    assert {n["NodeManagerAddress"] for n in ray.nodes()} == {"127.0.0.1"}
    listening, addresses, commands = _listening(), [], []
    for pid in _family(os.getpid()):
        with contextlib.suppress(OSError):  # a process that ended meanwhile
            commands.append(Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0"))
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in listening:
                    addresses.append(listening[target[8:-1]])
    # the driver, gcs_server, raylet, the workers: a port or more each; on 0.0.0.0 or :: without the loopback setting
    assert len(addresses) >= 3
    assert all(a.is_loopback or getattr(a, "ipv4_mapped", None) and a.ipv4_mapped.is_loopback for a in addresses), addresses
    # Ray starts a dashboard process in any case; include_dashboard=False tells it to serve no frontend
    # (and no URL where the dashboard's own packages, ray[default], are installed).
    assert not get_dashboard_url()
    dashboards = [c for c in commands if any(a.endswith(b"dashboard.py") for a in c)]
    assert all(b"--disable-frontend" in c for c in dashboards) and len(dashboards) <= 1


def test_a_ray_option_without_ray_names_the_extra(media, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # what `import ray` meets where the extra is not installed
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(media["blob_right"]), "--strategy", "uniform", "--out", str(out), "--engine", "ray"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "pip install 'scsampler[ray]'" in err
    assert main(["extract", str(media["blob_right"]), "--cache", str(tmp_path), "--engine", "ray"]) == 2
    assert "scsampler[ray]" in capsys.readouterr().err
    assert main(["predict", str(media["blob_right"]), "--strategy", "uniform", "--out", str(out), "--address", "auto"]) == 2
    assert "--address applies to --engine ray only" in capsys.readouterr().err
    assert not out.exists()


@needs_ray
def test_predict_on_ray_writes_the_local_records_and_reports_a_corrupt_file(
        tiny_data, tiny_classifier, tiny_samplers, media, ray_address, tmp_path, capsys):
    from scsampler.data.manifest import read_manifest, write_manifest

    # The test videos and a video cut in half, in one manifest.
    rows = [{"path": str(e.path), "label": e.label, "split": "test"} for e in read_manifest(tiny_data / "manifest.csv", split="test")]
    write_manifest(tmp_path / "manifest.csv", rows + [{"path": str(media["truncated"]), "label": "move_right", "split": "test"}])
    inputs = [str(tmp_path / "manifest.csv")]
    args = ["--classifier", str(tiny_classifier), "--sampler", str(tiny_samplers["visual"]),
            "--audio-sampler", str(tiny_samplers["audio"]), "--k", "3", "--no-progress"]
    assert main(["predict", *inputs, *args, "--out", str(tmp_path / "local.jsonl")]) == 1
    capsys.readouterr()
    out = tmp_path / "ray.jsonl"
    report = tmp_path / "report"
    assert main(["predict", *inputs, *args, "--out", str(out), "--engine", "ray", "--address", ray_address,
                 "--report", str(report), "--segments", str(tiny_data / "segments.json")]) == 1
    err = capsys.readouterr().err
    assert "3 done, 0 already in" in err and "1 failed" in err
    local, ray = by_video(lines(tmp_path / "local.jsonl")), by_video(lines(out))
    assert set(ray) == set(local) and len(lines(out)) == 4  # one line per video
    assert same_records(ray, local)
    bad = ray[str(media["truncated"])]
    assert bad["error"].startswith(str(media["truncated"])) and "\n" not in bad["error"]
    assert Path(f"{out}.failures.txt").read_text() == bad["error"] + "\n"
    assert all(len(r["selected"]) == 3 and set(r["scores"]) == {"visual", "audio"} for v, r in ray.items() if v != str(media["truncated"]))
    # The pictures are drawn as each video comes back, with its ground truth.
    from PIL import Image

    from scsampler.reports.html import figure_name

    for v in ray:
        if v != str(media["truncated"]):
            with Image.open(report / figure_name(v)) as im:
                assert im.text["Description"].startswith("ground truth: label ")
    assert (report / "index.html").exists()


@needs_ray
@pytest.mark.timeout(900)  # a driver process starts torch and joins the cluster: minutes on a loaded machine
@pytest.mark.parametrize("strategy", ["dense", "uniform"])
def test_a_killed_driver_rerun_writes_every_video_once(strategy, tiny_data, tiny_classifier, ray_address, tmp_path, capsys):
    # dense classifies every clip to choose: each video runs whole on a classifier worker. uniform runs
    # in the two stages: the kill finds videos on the cheap-pass worker, chosen ones waiting between
    # the stages and one on the classifier worker.
    out = tmp_path / "results.jsonl"
    k = ["--k", "3"] if strategy == "uniform" else []
    cmd = [sys.executable, "-m", "scsampler", "predict", str(tiny_data / "manifest.csv"), "--classifier", str(tiny_classifier),
           "--strategy", strategy, *k, "--out", str(out), "--engine", "ray", "--address", ray_address, "--workers-per-stage", "1,1"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while time.time() < deadline and proc.poll() is None and (not out.exists() or out.read_bytes().count(b"\n") < 1):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    text = out.read_text(encoding="utf-8")
    before = {r["video"]: r for r in map(json.loads, text[: text.rfind("\n") + 1].splitlines())}  # whole lines
    assert 1 <= len(before) < 9  # killed in the middle of the batch
    with open(out, "a", encoding="utf-8") as f:
        f.write('{"video": "videos/train_0')  # what a kill in the middle of a write leaves
    assert main(cmd[3:] + ["--no-progress"]) == 0  # the same command, rerun here, on the same cluster
    assert f"{9 - len(before)} done, {len(before)} already in" in capsys.readouterr().err
    records = lines(out)  # every line parses: the cut one was dropped
    assert len(records) == 9 and len({r["video"] for r in records}) == 9
    assert all(r["clips_decoded"] == len(r["selected"]) == (r["num_clips"] if strategy == "dense" else 3) for r in records)
    assert all(r == before[r["video"]] for r in records if r["video"] in before)  # the first run's lines, untouched
    assert not list(tmp_path.glob(".*.tmp*"))


class DiesOnVideos(ClipSelector):
    """Uniform selection that kills its worker process: on ``once`` the first time, on ``always`` every
    time. Each attempt is counted in a file (the worker's memory dies with it)."""

    def __init__(self, marks: Path, once: str, always: str):
        from scsampler.selectors import load_selector

        self.inner = load_selector("uniform")
        self.name, self.needs = "uniform", self.inner.needs
        self.marks, self.once, self.always = marks, once, always

    def select(self, view, k):
        for video, dies in ((self.once, lambda n: n == 1), (self.always, lambda n: True)):
            if view.video_id == video:
                mark = self.marks / Path(video).name
                with open(mark, "a") as f:
                    f.write("x")
                if dies(mark.stat().st_size):
                    os._exit(1)
        return self.inner.select(view, k)


@needs_ray
@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_worker_that_dies_is_retried_and_a_video_that_always_kills_it_fails_alone(
        tiny_data, tiny_classifier, ray_address, tmp_path, monkeypatch):
    import ray.cloudpickle

    from scsampler.data.manifest import read_manifest
    from scsampler.runners import ray as runner
    from scsampler.runners.local import predict_many
    from scsampler.runtime.classifier import load_classifier

    monkeypatch.setattr(runner, "RETRIES", 1)  # three deaths in all, each a worker restart of a few seconds
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # the workers cannot import a test module
    entries = read_manifest(tiny_data / "manifest.csv", split="test")
    once, always = entries[0].video_id, entries[1].video_id
    (tmp_path / "marks").mkdir()
    selector = DiesOnVideos(tmp_path / "marks", once, always)
    clf = load_classifier(tiny_classifier)
    summary = runner.predict_ray(entries, clf, selector, tmp_path / "ray.jsonl", k=2, workers=(1, 1))
    assert (tmp_path / "marks" / Path(once).name).read_text() == "xx"       # died once, retried once
    assert (tmp_path / "marks" / Path(always).name).read_text() == "xx"     # died on every try
    assert [v for v, _ in summary.failed] == [always] and "cheap-pass worker was lost on each of 2 tries" in summary.failed[0][1]
    ray_records = by_video(lines(tmp_path / "ray.jsonl"))
    predict_many([e for e in entries if e.video_id != always], clf, selector, tmp_path / "local.jsonl", k=2)
    local = by_video(lines(tmp_path / "local.jsonl"))
    assert same_records({v: r for v, r in ray_records.items() if v != always}, local)


def _tree(root: Path) -> dict[str, object]:
    """Every file of a cache: tensors of safetensors files, JSON (timings dropped) of the others."""
    out = {}
    for p in sorted(root.rglob("*")):
        if p.is_file() and p.name != "last-run.json":
            if p.suffix == ".safetensors":
                out[str(p.relative_to(root))] = load_file(p)
            elif p.suffix == ".json":
                meta = json.loads(p.read_text())
                out[str(p.relative_to(root))] = {k: v for k, v in meta.items() if k != "seconds"} if isinstance(meta, dict) else meta
            else:
                out[str(p.relative_to(root))] = p.read_bytes()
    return out


def _same(a, b) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, torch.Tensor):
        if not (isinstance(b, torch.Tensor) and a.shape == b.shape and a.dtype == b.dtype):
            return False
        if not a.is_floating_point():
            return torch.equal(a, b)
        # Float sums may differ in their last bits on another number of torch threads (see same_records).
        return torch.allclose(a.float(), b.float(), rtol=torch.finfo(a.dtype).eps * 8, atol=1e-7, equal_nan=True)
    return a == b


@needs_ray
def test_extract_and_dense_scoring_on_ray_write_the_local_caches_once(tiny_data, tiny_classifier, media, ray_address, tmp_path, capsys):
    videos = [str(tiny_data / "videos" / f"test_0000{i}.mp4") for i in range(3)]
    ray = ["--engine", "ray", "--address", ray_address, "--no-progress"]
    features = ["--features", "md,audio", "--clip-frames", "16", "--fps", "16"]
    assert main(["extract", *videos, "--cache", str(tmp_path / "local"), *features, "--no-progress"]) == 0
    assert main(["extract", *videos, str(media["empty"]), "--cache", str(tmp_path / "ray"), *features, *ray]) == 1
    err = capsys.readouterr().err
    assert "3 done, 0 already cached, 1 failed" in err and f"{media['empty']}: empty file (0 bytes)" in err
    local, remote = _tree(tmp_path / "local"), _tree(tmp_path / "ray")
    error_entries = set(remote) - set(local)  # the failure is cached too (retried with --retry-failed)
    assert len(error_entries) == 1 and _same({k: remote[k] for k in local}, local)

    dense = ["score-dense", *videos, "--classifier", str(tiny_classifier)]
    assert main([*dense, "--cache", str(tmp_path / "local"), "--no-progress"]) == 0
    dense_ray = ["score-dense", *videos, str(media["random"]), "--classifier", str(tiny_classifier)]
    assert main([*dense_ray, "--cache", str(tmp_path / "ray"), *ray, "--workers-per-stage", "2"]) == 1
    err = capsys.readouterr().err
    assert "3 scored, 0 already cached, 1 failed" in err and f"failed: {media['random']}" in err
    local, remote = _tree(tmp_path / "local" / "dense"), _tree(tmp_path / "ray" / "dense")
    assert len(local) == 3 and _same(remote, local)
    # A rerun skips what is cached: the worker's own answer, asked here without Ray (a rerun would start the workers again).
    from scsampler.runners.ray import ClassifierWorker, ExtractWorker
    from scsampler.data.extraction import expand_inputs
    from scsampler.features.extractor import ExtractorConfig
    from scsampler.runtime.classifier import load_classifier

    entry = expand_inputs(videos[:1])[0]
    models = {"classifier": load_classifier(tiny_classifier)}
    assert ClassifierWorker("cpu").dense(entry, str(tmp_path / "ray"), models) == ("skipped", None)
    config = ExtractorConfig(features=("md", "audio"))
    assert ExtractWorker(str(tmp_path / "ray"), config, retry_failed=False).extract(entry) == ("skipped", None)


def test_the_ray_workers_records_carry_the_labels_as_the_local_ones(tiny_multilabel_data, tiny_multilabel_classifier):
    """The two stages' record of a video with several labels, asked of the workers without Ray (no
    cluster to start): its manifest labels, and the local runner's record otherwise."""
    import dataclasses

    from scsampler.data.manifest import read_manifest
    from scsampler.runners.local import predict_one
    from scsampler.runners.ray import CheapWorker, ClassifierWorker
    from scsampler.runtime.classifier import load_classifier
    from scsampler.selectors import load_selector

    classifier = load_classifier(tiny_multilabel_classifier)
    entry = read_manifest(tiny_multilabel_data / "manifest.csv", split="test")[0]
    choosing = {"selector": load_selector("uniform"), "fallback": None}
    chosen = CheapWorker(classifier.grid, 2, 0).choose(entry, choosing)
    rec = ClassifierWorker("cpu", 2, 0).classify(entry, chosen, {"classifier": classifier})
    assert rec["label"] == entry.label and rec["labels"] == list(entry.labels) and len(rec["labels"]) == 2
    local = predict_one(entry, classifier, choosing["selector"], 2)
    assert same_records(by_video([rec]), by_video([local]))
    missing = read_manifest(tiny_multilabel_data / "manifest.csv", split="test")[1]
    gone = CheapWorker(classifier.grid, 2, 0).choose(dataclasses.replace(missing, path=missing.path.with_name("gone.mp4")), choosing)
    assert gone["labels"] == list(missing.labels) and "no such file" in gone["error"]
