"""Ray throughput: videos per minute of ``scsampler predict``, locally and with ``--engine ray`` at 1 and 2 workers per stage.

    python benchmarks/ray_throughput.py --data /tmp/small --out docs/results/ray-throughput.json

Runs, one after the other, the commands that docs/benchmarks.md lists ("Ray"): ``predict`` of every
video of ``--data``'s manifest with the training-free ``motion-energy`` selector, K=10 and an
R(2+1)D-18 with random weights (saved here, seed 0) at 4x48x48, once with the local engine and once
per ``--configs`` worker count of the Ray engine (each starts a Ray of its own on this machine,
so each wall time includes starting Ray and the workers). Each run writes a fresh results file in
``--work``; its wall time, its videos and the load average before and after go to the JSON file the
moment it ends, with the per-video seconds of each stage that its records give and how far its
records are from the local run's (timings aside). The markdown table in docs/benchmarks.md is
regenerated from the JSON (between the ray-throughput markers); ``--render-only`` does only that.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from scsampler.files import atomic_write_text
from scsampler.reports.tables import replace_block

CONFIGS = ("local", "1,1", "2,2", "1,2")  # local, or the Ray engine's --workers-per-stage CHEAP,CLASSIFIER
# The settings of docs/benchmarks.md's commands (the classifier's weights and classes are added per run).
SETTINGS = ["--frames", "4", "--resize", "48x60", "--crop", "48", "--strategy", "motion-energy", "--k", "10", "--no-progress"]
CHEAP = ("cheap", "sampler", "selection")  # the record's seconds spent in the cheap-pass stage; the rest classify


def scsampler_command() -> str:
    """The console script of this interpreter's environment, else the one on PATH."""
    here = Path(sys.executable).parent / "scsampler"
    return str(here) if here.exists() else (shutil.which("scsampler") or "scsampler")


def random_classifier(data: Path, work: Path) -> list[str]:
    """The classifier options of the commands: R(2+1)D-18 with random weights (timing does not depend on them)."""
    import torch

    from scsampler.models import create_model

    weights = work / "r2p1d-random.pth"
    if not weights.exists():
        classes = [c for c in (data / "classes.txt").read_text().splitlines() if c.strip()]
        torch.manual_seed(0)
        torch.save(create_model("r2plus1d_18", num_classes=len(classes)).state_dict(), weights)
    return ["--classifier-arch", "r2plus1d_18", "--classifier-weights", str(weights), "--classes", str(data / "classes.txt")]


def command(config: str, manifest: Path, classifier: list[str], out: Path) -> list[str]:
    engine = [] if config == "local" else ["--engine", "ray", "--workers-per-stage", config]
    return [scsampler_command(), "predict", str(manifest), *classifier, *SETTINGS, "--out", str(out), *engine]


def records(path: Path) -> dict[str, dict]:
    from scsampler.runners.local import read_results  # torch comes with it: not for --render-only

    return read_results(path)[0]


def stage_seconds(recs: dict[str, dict]) -> dict[str, float]:
    """Mean seconds per video of the cheap-pass stage (probe, cheap pass, sampler, selection) and of
    the classifier stage (decode and classify), from the records' ``seconds``."""
    ok = [r["seconds"] for r in recs.values() if "error" not in r and isinstance(r.get("seconds"), dict)]
    if not ok:
        return {}
    cheap = sum(v for s in ok for k, v in s.items() if k in CHEAP) / len(ok)
    return {"cheap_stage": cheap, "classifier_stage": sum(v for s in ok for k, v in s.items() if k not in CHEAP) / len(ok)}


def distance(a, b) -> float:
    """The largest difference between two records' floats (timings dropped); ``inf`` where anything else differs."""
    if isinstance(a, dict):
        if not isinstance(b, dict) or a.keys() - {"seconds"} != b.keys() - {"seconds"}:
            return math.inf
        return max((distance(a[k], b[k]) for k in a if k != "seconds"), default=0.0)
    if isinstance(a, list):
        if not isinstance(b, list) or len(a) != len(b):
            return math.inf
        return max((distance(x, y) for x, y in zip(a, b)), default=0.0)
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b)
    return 0.0 if a == b and type(a) is type(b) else math.inf


def run(config: str, manifest: Path, classifier: list[str], work: Path) -> dict:
    out = work / f"{config.replace(',', '-')}.jsonl"
    for stale in (out, Path(f"{out}.failures.txt")):
        stale.unlink(missing_ok=True)  # a fresh run, not a resumed one
    cmd = command(config, manifest, classifier, out)
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):  # 1: some videos failed (counted below); anything else: the run did not finish
        raise SystemExit(f"{' '.join(cmd)}: exit status {proc.returncode}")
    recs = records(out)
    return {"config": config, "command": cmd, "wall_seconds": wall, "videos": len(recs),
            "failed": sum("error" in r for r in recs.values()), "videos_per_minute": 60 * len(recs) / wall,
            "load_start": load, "load_end": os.getloadavg()[0], "seconds_per_video": stage_seconds(recs), "results": str(out)}


def measure(args) -> dict:
    args.work.mkdir(parents=True, exist_ok=True)
    classifier = random_classifier(args.data, args.work)
    manifest = args.data / "manifest.csv"
    results = {"data": str(args.data), "cpus": os.cpu_count(), **_torch(), "date": time.strftime("%Y-%m-%d"),
               "machine": f"{platform.processor() or platform.machine()}, Python {platform.python_version()}, "
                          f"torch {_version('torch')}, Ray {_version('ray')}, PyAV {_version('av')}",
               "settings": SETTINGS, "runs": []}
    local = None
    for config in args.configs:
        print(f"{config}: {' '.join(command(config, manifest, classifier, args.work / '...'))}", flush=True)
        row = run(config, manifest, classifier, args.work)
        if config == "local":
            local = records(Path(row["results"]))
        elif local is not None:
            ray = records(Path(row["results"]))
            row["max_difference_from_local"] = (max((distance(r, local[v]) for v, r in ray.items()), default=0.0)
                                                if ray.keys() == local.keys() else math.inf)
        results["runs"].append(row)
        atomic_write_text(args.out, json.dumps(results, indent=1) + "\n")  # after each run: a stopped run keeps its figures
        print(f"  {row['wall_seconds']:.1f} s, {row['videos']} videos, {row['videos_per_minute']:.1f} per minute", flush=True)
    return results


def _version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _torch() -> dict:
    """GPUs, and the threads torch takes by default in this environment (the local run's, which inherits it)."""
    import torch

    return {"gpus": torch.cuda.device_count(), "torch_threads": torch.get_num_threads()}


def _workers(row: dict, cpus: int, threads: int) -> str:
    if row["config"] == "local":
        return f"one process, torch on {threads} thread{'s' if threads != 1 else ''}"
    cheap, clf = map(int, row["config"].split(","))
    return f"{cheap} + {clf}" + (f" ({cheap + clf} processes on {cpus} cores)" if cheap + clf > cpus else "")


def _same(row: dict) -> str:
    d = row.get("max_difference_from_local")
    if d is None:
        return ""
    return "differ" if d == math.inf else "equal" if d == 0 else f"equal to {d:.0e}"


def table(results: dict) -> str:
    runs, cpus = results["runs"], results["cpus"]
    lines = ["| engine | workers (cheap pass + classifier) | wall s | videos | videos / minute | load average, start / end "
             "| s per video: cheap-pass stage / classifier stage | records vs local |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for r in runs:
        s = r["seconds_per_video"]
        stages = f"{s['cheap_stage']:.2f} / {s['classifier_stage']:.2f}" if s else ""
        videos = f"{r['videos']} ({r['failed']} failed)" if r["failed"] else str(r["videos"])
        engine, workers = ("local" if r["config"] == "local" else "ray"), _workers(r, cpus, results["torch_threads"])
        lines.append(f"| {engine} | {workers} | {r['wall_seconds']:.1f} | {videos} | {r['videos_per_minute']:.1f} "
                     f"| {r['load_start']:.1f} / {r['load_end']:.1f} | {stages} | {_same(r)} |")
    gpus = {0: "no GPU", 1: "1 GPU"}.get(results["gpus"], f"{results['gpus']} GPUs")
    lines += ["", f"Machine: {cpus} cores, {gpus}, {results['machine']}; "
              f"{results['date']}. Each Ray run's wall time includes starting Ray and its workers. Records vs local: the "
              f"largest difference of a float in the records (timings aside)."]
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="a generated data directory (manifest.csv, classes.txt): "
                    "`scsampler generate --preset small --out /tmp/small --workers 2`")
    ap.add_argument("--configs", default=" ".join(CONFIGS),
                    help=f"space-separated runs: local, or CHEAP,CLASSIFIER workers of the Ray engine "
                    f"(default: {' '.join(CONFIGS)})")
    ap.add_argument("--work", type=Path, default=Path("/tmp/ray-throughput"), help="where the runs' results files and the weights go")
    ap.add_argument("--out", type=Path, default=Path("docs/results/ray-throughput.json"), help="the JSON results file")
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"),
                    help="markdown file whose ray-throughput table is regenerated")
    ap.add_argument("--render-only", action="store_true", help="measure nothing: regenerate the table from --out")
    args = ap.parse_args(argv)
    args.configs = args.configs.split()
    bad = [c for c in args.configs
           if c != "local" and not (c.count(",") == 1 and all(x.isdigit() and int(x) > 0 for x in c.split(",")))]
    if bad or not args.configs:
        ap.error(f"--configs: unknown {bad}; give local or CHEAP,CLASSIFIER (e.g. 1,1)")
    if args.render_only:
        results = json.loads(args.out.read_text())
    else:
        if args.data is None:
            ap.error("--data is required unless --render-only")
        results = measure(args)
    configs = [r["config"] for r in results["runs"]]
    cmd = (f"python benchmarks/ray_throughput.py --data {results['data']}"
           + (f" --configs \"{' '.join(configs)}\"" if configs != list(CONFIGS) else "") + f" --out {args.out}")
    replace_block(args.doc, "ray-throughput", f"```sh\n{cmd}\n```\n\n{table(results)}", "### Throughput on this machine")
    print(table(results))


if __name__ == "__main__":
    main()
