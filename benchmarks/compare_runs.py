"""One row per benchmark run, one column per strategy: top-1 at one K, from ``results.json`` files.

    python benchmarks/compare_runs.py --k 10 "pretrained=docs/results/a.json" "fine-tuned=docs/results/b.json" \
        [--strategies random,uniform,dense,oracle] [--docs docs/results.md --tag NAME]

Dense has no K: its column is the all-clips row. A strategy a run lacks is left blank; --strategies
keeps only the columns named.

    python benchmarks/compare_runs.py --same OLD_RESULTS_JSON NEW_RESULTS_JSON

checks that two runs agree (a refactor keeps behaviour): every row the two files share (strategy, K,
stride, K') compared field by field on the accuracy and cost fields both carry; prints each difference
and a count, and exits 1 when there is one.

    python benchmarks/compare_runs.py --timing "new=a.json" "old=b.json" ...

puts the runs' wall-time tables side by side: seconds per video of each timed strategy (stride 1) per
run, and the frames and clips each run decoded per video; ``--timing-arch`` does the same for the
runs' ``--timing-arch`` tables (the paper-size network).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from scsampler.reports.tables import replace_block

ORDER = ("random", "uniform", "empirical", "front", "center", "end", "dense", "oracle")
SAME_FIELDS = ("top1", "top5", "map", "clips_per_video", "classifier_gflops_per_video", "cheap_gflops_per_video",
               "salient_fraction_of_chosen", "videos")


def differences(old: dict, new: dict) -> tuple[int, list[str]]:
    """(rows the two results share, one line per field that differs in them). A field is compared
    only when both rows carry it (an older benchmark wrote fewer)."""
    def key(r):
        return r["strategy"], r["k"], r.get("stride") or 1, r.get("k_prime")
    a, b = {key(r): r for r in old["rows"]}, {key(r): r for r in new["rows"]}
    lines = []
    shared = sorted(set(a) & set(b), key=str)
    for k in shared:
        for f in SAME_FIELDS:
            if f in a[k] and f in b[k] and a[k][f] != b[k][f]:
                x, y = a[k][f], b[k][f]
                if x is None or y is None or abs(x - y) > 1e-9:
                    lines.append(f"{k}: {f} {x} -> {y}")
    return len(shared), lines


def table(runs: list[tuple[str, dict]], k: int, strategies: list[str] | None = None) -> str:
    present = {r["strategy"] for _, res in runs for r in res["rows"]}
    if strategies:
        present &= set(strategies)
    cols = [s for s in ORDER if s in present] + sorted(present - set(ORDER))
    lines = ["| run | " + " | ".join(f"{c} (K={k})" if c != "dense" else "dense" for c in cols) + " | oracle - dense |",
             "|---|" + "---:|" * (len(cols) + 1)]
    for name, res in runs:
        top1 = {}
        for r in res["rows"]:
            if r.get("stride", 1) != 1 or r.get("k_prime") not in (None, 8):
                continue
            if r["k"] == k or (r["strategy"] == "dense" and r["k"] is None):
                top1[r["strategy"]] = 100 * r["top1"]
        gap = top1["oracle"] - top1["dense"] if {"oracle", "dense"} <= set(top1) else None
        cells = [f"{top1[c]:.1f}" if c in top1 else "" for c in cols]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {'' if gap is None else f'{gap:+.1f}'} |")
    return "\n".join(lines)


def timing_table(runs: list[tuple[str, dict]], arch: bool = False) -> str:
    """One row per timed strategy (stride 1), one column of seconds per video per run, then the frames
    and clips decoded per video by each run ("a / b / ..."); with ``arch``, from the runs'
    ``timing_arch`` tables."""
    tables = [(name, res["timing_arch"]["timing"] if arch else res["timing"]) for name, res in runs]
    timed = [(name, {t["strategy"]: t for t in rows if (t.get("stride") or 1) == 1}) for name, rows in tables]
    strategies = list(dict.fromkeys(s for _, t in timed for s in t))
    names = [name for name, _ in timed]
    lines = ["| strategy | " + " | ".join(f"{n} s / video" for n in names) + " | frames decoded / video | clips decoded / video |",
             "|---|" + "---:|" * (len(names) + 2)]
    for s in strategies:
        rows = [t.get(s) for _, t in timed]
        cell = lambda f, fmt: " / ".join("" if r is None else format(r[f], fmt) for r in rows)
        lines.append(f"| {s} | " + " | ".join("" if r is None else f"{r['total_seconds_per_video']:.3f}" for r in rows)
                     + f" | {cell('frames_decoded_per_video', '.1f')} | {cell('clips_decoded_per_video', '.1f')} |")
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 2 and sys.argv[1] in ("--timing", "--timing-arch"):
        runs = [(name, json.loads(Path(path).read_text())) for name, _, path in (a.partition("=") for a in sys.argv[2:])]
        print(timing_table(runs, arch=sys.argv[1] == "--timing-arch"))
        return
    if len(sys.argv) == 4 and sys.argv[1] == "--same":
        old, new = (json.loads(Path(p).read_text()) for p in sys.argv[2:])
        shared, lines = differences(old, new)
        print("\n".join(lines + [f"{shared} rows in common, {len(lines)} differences"]))
        sys.exit(1 if lines else 0)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="NAME=RESULTS_JSON")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--strategies", help="comma-separated: only these columns")
    ap.add_argument("--docs", type=Path)
    ap.add_argument("--tag")
    args = ap.parse_args()
    runs = []
    for spec in args.runs:
        name, _, path = spec.partition("=")
        runs.append((name, json.loads(Path(path).read_text())))
    text = table(runs, args.k, args.strategies.split(",") if args.strategies else None)
    print(text)
    if args.docs:
        replace_block(args.docs, args.tag, text, f"### {args.tag}")


if __name__ == "__main__":
    main()
