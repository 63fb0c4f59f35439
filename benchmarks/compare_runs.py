"""One row per benchmark run, one column per strategy: top-1 at one K, from ``results.json`` files.

    python benchmarks/compare_runs.py --k 10 "pretrained=docs/results/a.json" "fine-tuned=docs/results/b.json" \
        [--strategies random,uniform,dense,oracle] [--docs docs/results.md --tag NAME]

Dense has no K: its column is the all-clips row. A strategy a run lacks is left blank; --strategies
keeps only the columns named.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from scsampler.reports.tables import replace_block

ORDER = ("random", "uniform", "empirical", "front", "center", "end", "dense", "oracle")


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


def main() -> None:
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
