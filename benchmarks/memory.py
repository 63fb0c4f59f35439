"""Peak memory of `scsampler extract` and `scsampler predict` on a 60-minute video against a 5-minute one.

    python benchmarks/memory.py --out docs/results/memory.json

Both videos are generated here at the same resolution and rate (160x128, 16 fps, H.264 with a 16 kHz
AAC track; the long one has 57,600 frames): a textured background panning under a moving square,
with a tone whose pitch changes every few seconds. Each command runs in a fresh process, as a user
runs it, and its peak resident set size is the child's ``ru_maxrss`` (``os.wait4``):

- ``extract``            all cheap features (MD, RGB-R, I-frames, audio) into a fresh cache
- ``predict uniform``    K=10 clips, a randomly initialised ``classifier_tiny`` (4x32x32 clips)
- ``predict sampler``    the same with a randomly initialised ``sampler_tiny`` MD sampler scoring every clip

Target (issue 5): the 60-minute peak within 1.2x of the 5-minute peak. The table in
docs/benchmarks.md is regenerated from the JSON (between the memory markers).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from scsampler.reports.tables import replace_block
from scsampler.io.writer import VideoWriter

W, H, FPS, SR = 160, 128, 16, 16000


def generate(path: Path, minutes: int) -> None:
    """A ``minutes``-long video, written a second at a time (memory: one second of audio)."""
    rng = np.random.default_rng(minutes)
    strip = rng.integers(40, 216, (H // 8, (W + 512) // 8, 3)).astype(np.uint8)
    strip = np.kron(strip, np.ones((8, 8, 1), np.uint8))        # (H, W + 512, 3) blocky texture
    sprite = rng.integers(0, 256, (24, 24, 3)).astype(np.uint8)
    t = np.arange(SR) / SR
    with VideoWriter(path, width=W, height=H, fps=FPS, sample_rate=SR, threads=1) as w:
        for s in range(minutes * 60):
            freq = 300 + 100 * ((s // 5) % 12)
            w.add_audio((0.3 * np.sin(2 * np.pi * freq * (t + s))).astype(np.float32))
            for j in range(FPS):
                i = s * FPS + j
                off = (2 * i) % 512
                frame = np.ascontiguousarray(strip[:, off : off + W])
                x, y = (8 + 3 * i) % (W - 24), (20 + i) % (H - 24)
                frame[y : y + 24, x : x + 24] = sprite
                w.add_frame(frame)


def make_models(d: Path) -> tuple[list[str], Path]:
    """A random ``classifier_tiny`` (state dict and classes file) and a random ``sampler_tiny`` MD
    sampler run directory: memory does not depend on the weights' values."""
    import torch
    from safetensors.torch import save_file

    from scsampler.features.extractor import ExtractorConfig
    from scsampler.models import create_model

    torch.manual_seed(0)
    classes = ["a", "b", "c"]
    (d / "classes.txt").write_text("\n".join(classes) + "\n")
    save_file(create_model("classifier_tiny", num_classes=3).state_dict(), str(d / "classifier.safetensors"))
    classifier = ["--classifier-arch", "classifier_tiny", "--classifier-weights", str(d / "classifier.safetensors"),
                  "--classes", str(d / "classes.txt"), "--frames", "4", "--resize", "32x40", "--crop", "32"]
    run = d / "sampler"
    (run / "nets").mkdir(parents=True, exist_ok=True)
    net = create_model("sampler_tiny", feature="md", num_outputs=3)
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(run / "nets" / "md.safetensors"))
    (run / "config.json").write_text(json.dumps({
        "kind": "sampler", "modality": "visual", "loss": "ac", "features": ["md"], "arch": {"md": "sampler_tiny"},
        "num_outputs": 3, "classes": classes, "input_shapes": {"md": [2, H // 16, W // 16]}, "eval_frames_per_clip": 2,
        "extractor": ExtractorConfig(features=("md",)).to_json(),
    }))
    return classifier, run


def peak_rss_mb(cmd: list[str]) -> tuple[float, float]:
    """Run ``cmd`` in a fresh process: its peak RSS in MiB and its wall time in seconds."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not the maximum over all children
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed ({proc.returncode}):\n{err.decode(errors='replace')}")
    return usage.ru_maxrss / 1024, time.perf_counter() - t0


def measure(videos: dict[str, Path], work: Path) -> dict:
    classifier, sampler = make_models(work)
    scsampler = [sys.executable, "-m", "scsampler"]
    commands = {
        "extract": lambda v, o: [*scsampler, "extract", str(v), "--cache", str(o / "cache"), "--no-progress"],
        "predict uniform": lambda v, o: [*scsampler, "predict", str(v), *classifier, "--strategy", "uniform", "--k", "10",
                                         "--out", str(o / "r.jsonl"), "--no-progress"],
        "predict sampler": lambda v, o: [*scsampler, "predict", str(v), *classifier, "--sampler", str(sampler), "--k", "10",
                                         "--out", str(o / "r.jsonl"), "--no-progress"],
    }
    out = {}
    for name, command in commands.items():
        out[name] = {}
        for label, video in videos.items():
            scratch = Path(tempfile.mkdtemp(dir=work))
            rss, wall = peak_rss_mb(command(video, scratch))
            shutil.rmtree(scratch)
            out[name][label] = {"peak_rss_mib": rss, "seconds": wall}
            print(f"{name:16s} {label:7s} {rss:8.1f} MiB {wall:7.1f} s", flush=True)
        short, long = (out[name][k]["peak_rss_mib"] for k in videos)
        out[name]["ratio"] = long / short
    return out


def table(results: dict) -> str:
    labels = list(results["videos"])
    lines = ["| command | " + " | ".join(f"peak RSS, {k}" for k in labels) + " | ratio | difference | "
             + " | ".join(f"time, {k}" for k in labels) + " |", "|---|" + "---:|" * (2 * len(labels) + 2)]
    for name, r in results["commands"].items():
        diff = r[labels[1]]["peak_rss_mib"] - r[labels[0]]["peak_rss_mib"]
        lines.append(f"| {name} | " + " | ".join(f"{r[k]['peak_rss_mib']:.0f} MiB" for k in labels)
                     + f" | {r['ratio']:.2f}x | {diff:+.0f} MiB | " + " | ".join(f"{r[k]['seconds']:.0f} s" for k in labels) + " |")
    v = results["videos"]
    lines += ["", "Videos: " + "; ".join(f"{k}: {x['frames']} frames, {x['mib']:.1f} MiB" for k, x in v.items())
              + f" (160x128 H.264 at 16 fps, 16 kHz AAC). Peak RSS of each command in a fresh process; for scale, a process that "
              f"only imports torch and torchvision peaks at {results['import_torch_torchvision_mib']:.0f} MiB. Machine: {results['machine']}."]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/memory"), help="where the videos are generated (kept for reruns)")
    ap.add_argument("--minutes", type=int, nargs=2, default=[5, 60], metavar=("SHORT", "LONG"), help="lengths of the two videos")
    ap.add_argument("--out", type=Path, default=Path("docs/results/memory.json"))
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"), help="markdown file whose memory table is regenerated")
    args = ap.parse_args()
    import torch

    args.work.mkdir(parents=True, exist_ok=True)
    videos = {}
    for minutes in args.minutes:
        path = args.work / f"{minutes}min_160x128.mp4"
        if not path.exists():
            t0 = time.perf_counter()
            generate(path.with_suffix(".part.mp4"), minutes)
            path.with_suffix(".part.mp4").rename(path)
            print(f"generated {path} in {time.perf_counter() - t0:.0f} s", flush=True)
        videos[f"{minutes} min"] = path
    reference, _ = peak_rss_mb([sys.executable, "-c", "import torch, torchvision"])
    print(f"import torch, torchvision: {reference:.1f} MiB", flush=True)
    results = {
        "import_torch_torchvision_mib": reference,
        "videos": {k: {"path": str(p), "frames": int(k.split()[0]) * 60 * FPS, "mib": p.stat().st_size / 2**20} for k, p in videos.items()},
        "commands": measure(videos, args.work),
        "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}",
        "date": time.strftime("%Y-%m-%d"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=1) + "\n")
    command = "python benchmarks/memory.py" + (f" --minutes {args.minutes[0]} {args.minutes[1]}" if args.minutes != [5, 60] else "") + f" --out {args.out}"
    replace_block(args.doc, "memory", f"```sh\n{command}\n```\n\n{table(results)}", "## Memory on long videos")
    print(table(results))


if __name__ == "__main__":
    main()
