"""What each decoder setting could save the cheap pass: PyAV's decode of a file, alone, under the
settings issue 18 names as levers, as CPU seconds and a share of the full decode's time.

    python benchmarks/decode_levers.py FILE [FILE ...] [--repeats 5] [--out docs/results/decode-levers.json]
        [--doc docs/benchmarks.md --tag decode-levers]

Each setting decodes the whole video stream on one thread with motion vectors exported and read (as
the cheap pass does), and keeps nothing. The settings:

- ``full``            every picture, with H.264's loop filter: what a pass that reads pictures
                      (RGB-R) decodes now
- ``no loop filter``  ``skip_loop_filter=all``: what a pass that reads no picture decodes now
                      (MD only; vectors identical)
- ``loop filter on references only`` ``skip_loop_filter=noref``: pictures of reference frames (every
                      I/P frame x264 writes) identical, the others not filtered
- ``references only`` ``skip_frame=nonref``: frames no other frame refers to are not decoded at all
                      (with x264's B-pyramid, the non-reference B-frames): their vectors are lost
- ``I/P only``        ``skip_frame=bidir``: no B-frame decoded

Runs alternate between the settings, and each setting's best of ``--repeats`` is kept (the machine
is shared: single runs vary by 10-20%). No setting but the first two is what the cheap pass does:
the table measures what the others could save, not what they would cost in accuracy. (It talks to
PyAV directly, not through ``scsampler.io``: what it measures is the decoder under each setting.)
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import platform
import time
from pathlib import Path

import av
from av.sidedata.sidedata import SideDataContainer

from scsampler.reports.tables import replace_block

# name -> (skip_loop_filter, skip_frame)
SETTINGS = {
    "full": (None, None),
    "no loop filter": ("all", None),
    "loop filter on references only": ("noref", None),
    "references only": (None, "NONREF"),
    "I/P only": (None, "BIDIR"),
}


def decode(path: Path, loop_filter: str | None, skip_frame: str | None) -> tuple[float, int, int]:
    """``(CPU seconds, frames decoded, motion vectors read)`` of one decode of ``path``'s first video stream."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        options = {"flags2": "+export_mvs"}
        if loop_filter:
            options["skip_loop_filter"] = loop_filter
        stream.codec_context.options = options
        if skip_frame:
            stream.codec_context.skip_frame = skip_frame
        frames = vectors = 0
        t0 = time.process_time()
        for packet in container.demux(stream):
            for frame in packet.decode():
                frames += 1
                side = SideDataContainer(frame).get("MOTION_VECTORS")
                if side is not None:
                    vectors += len(side.to_ndarray())
        return time.process_time() - t0, frames, vectors


def measure(path: Path, repeats: int) -> dict:
    runs: dict[str, list[float]] = {name: [] for name in SETTINGS}
    counts: dict[str, tuple[int, int]] = {}
    for _ in range(repeats):
        for name, (loop_filter, skip_frame) in SETTINGS.items():
            seconds, frames, vectors = decode(path, loop_filter, skip_frame)
            runs[name].append(seconds)
            counts[name] = (frames, vectors)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        duration = float(stream.duration * stream.time_base) if stream.duration else float(container.duration / 1e6)
        resolution = f"{stream.codec_context.width}x{stream.codec_context.height} {stream.codec_context.name}"
    return {"video_seconds": duration, "resolution": resolution, "settings": {
        name: {"seconds": min(runs[name]), "runs": runs[name], "frames": counts[name][0], "vectors": counts[name][1]}
        for name in SETTINGS}}


def table(results: dict) -> str:
    files = results["files"]
    lines = ["| setting | " + " | ".join(files) + " |", "|---|" + "---:|" * len(files)]
    for name in SETTINGS:
        cells = []
        for v in files.values():
            s, full = v["settings"][name], v["settings"]["full"]
            cells.append(f"{s['seconds']:.2f} s ({s['seconds'] / full['seconds']:.2f}), {s['frames']} frames, "
                         f"{s['vectors'] / max(full['vectors'], 1):.0%} of the vectors")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("CPU seconds of PyAV's decode alone (one thread, motion vectors exported and read), best of "
                 f"{results['repeats']} alternating runs, in brackets as a share of the full decode's; frames decoded "
                 "and the share of the full decode's motion vectors they carry ("
                 + "; ".join(f"{f}: {v['video_seconds']:.0f} s, {v['resolution']}" for f, v in files.items())
                 + f"). Machine: {results['machine']}.")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("docs/results/decode-levers.json"))
    ap.add_argument("--doc", type=Path, help="markdown file whose block --tag is regenerated")
    ap.add_argument("--tag", default="decode-levers")
    args = ap.parse_args()
    results = {"files": {}, "repeats": args.repeats, "date": time.strftime("%Y-%m-%d"),
               "machine": f"{platform.processor() or platform.machine()}, PyAV {importlib.metadata.version('av')} "
                          f"(FFmpeg {av.ffmpeg_version_info})"}
    for path in args.files:
        print(path, flush=True)
        results["files"][path.name] = measure(path, args.repeats)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1) + "\n")  # as it goes
    text = table(results)
    if args.doc:
        command = (f"python benchmarks/decode_levers.py {' '.join(map(str, args.files))} --repeats {args.repeats} "
                   f"--out {args.out} --doc {args.doc} --tag {args.tag}")
        replace_block(args.doc, args.tag, f"```sh\n{command}\n```\n\n{text}", "## Ingest speed")
    print(text)


if __name__ == "__main__":
    main()
