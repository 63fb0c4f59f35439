"""The spread of codec transfer over training runs: several ``codec_transfer.py`` results per recipe.

    python benchmarks/transfer_spread.py --run h264=docs/results/codec-transfer-resize-default-f6-run2.json \\
        --run h264=docs/results/codec-transfer-resize-seed1-default-f6.json ... \\
        --run mix=docs/results/codec-transfer-mix-default-f6.json ... [--out FILE.json] [--docs FILE.md --tag NAME]

Each ``--run RECIPE=FILE`` is one ``results.json`` of ``benchmarks/codec_transfer.py``: one trained
sampler measured on the original test videos and their re-encoded variants. The runs must share the
classifier, the data and K (their files' ``classifier_key``, ``manifest_key`` and ``k``): a share of
the gain means something else under another classifier, so a run with another is refused. Prints
(and puts into ``--docs``) two tables generated from the files: every run's share of its own gain
per variant, and per recipe the mean, the lowest and the highest share, and how many runs meet the
target (``codec_transfer.TARGET_SHARE``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from codec_transfer import TARGET_SHARE, meets_target  # noqa: E402

from scsampler.reports.tables import publish  # noqa: E402


def load_runs(specs: list[str]) -> list[dict]:
    """``[{"recipe", "file", "results"}]`` in the order given; raises SystemExit on a bad spec or runs
    that do not share classifier, data and K."""
    runs = []
    for spec in specs:
        recipe, sep, file = spec.partition("=")
        if not sep or not recipe or not file:
            raise SystemExit(f"--run {spec!r}: give RECIPE=FILE")
        try:
            results = json.loads(Path(file).read_text())
        except (OSError, ValueError) as err:
            raise SystemExit(f"{file}: cannot read a codec_transfer results file ({err})") from None
        runs.append({"recipe": recipe, "file": file, "results": results})
    keys = [(r["results"]["config"]["classifier_key"], r["results"]["config"]["manifest_key"], r["results"]["config"]["k"])
            for r in runs]
    for r, key in zip(runs, keys):
        if key != keys[0]:
            raise SystemExit(f"{r['file']}: another classifier, data or K than {runs[0]['file']} "
                             f"(classifier_key, manifest_key, k: {key} against {keys[0]})")
    return runs


def summarise(runs: list[dict]) -> dict:
    """Per run and per recipe, each variant's share of the original videos' gain (None where a run has no
    such variant or no gain)."""
    variants = [v for v in runs[0]["results"]["variants"] if v != "original"]
    for r in runs[1:]:
        variants += [v for v in r["results"]["variants"] if v != "original" and v not in variants]
    rows = []
    for r in runs:
        v = r["results"]["variants"]
        rows.append({"recipe": r["recipe"], "file": r["file"], "sampler": r["results"]["config"]["sampler"],
                     "original_top1": v.get("original", {}).get("top1"),
                     "shares": {name: v.get(name, {}).get("share_of_gain") for name in variants}})
    recipes = {}
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        mine = [r for r in rows if r["recipe"] == recipe]
        per_variant = {}
        for name in variants:
            shares = [r["shares"][name] for r in mine if r["shares"][name] is not None]
            per_variant[name] = None if not shares else {
                "runs": len(shares), "mean": sum(shares) / len(shares), "lowest": min(shares), "highest": max(shares),
                "meeting_target": sum(meets_target(s) for s in shares)}
        tops = [r["original_top1"] for r in mine if r["original_top1"] is not None]
        recipes[recipe] = {"runs": len(mine), "original_top1_mean": sum(tops) / len(tops) if tops else None,
                           "variants": per_variant}
    return {"variants": variants, "runs": rows, "recipes": recipes, "target_share": TARGET_SHARE,
            "config": {k: runs[0]["results"]["config"][k] for k in ("classifier", "classifier_key", "data", "manifest_key", "k")}}


def markdown(summary: dict) -> str:
    variants = summary["variants"]

    def pct(x):
        return "" if x is None else f"{100 * x:.0f}%"

    lines = ["| recipe | sampler run | original top-1 % | " + " | ".join(variants) + " |",
             "|---|---|---:|" + "---:|" * len(variants)]
    for r in summary["runs"]:
        top = "" if r["original_top1"] is None else f"{100 * r['original_top1']:.1f}"
        lines.append(f"| {r['recipe']} | `{Path(r['sampler']).name}` | {top} | "
                     + " | ".join(pct(r["shares"][v]) for v in variants) + " |")
    lines += ["", "| recipe | runs | mean original top-1 % | " + " | ".join(f"{v}: mean (lowest-highest), meeting" for v in variants) + " |",
              "|---|---:|---:|" + "---:|" * len(variants)]
    for recipe, s in summary["recipes"].items():
        cells = []
        for v in variants:
            x = s["variants"][v]
            cells.append("" if x is None else f"{pct(x['mean'])} ({pct(x['lowest'])}-{pct(x['highest'])}), {x['meeting_target']}/{x['runs']}")
        top = "" if s["original_top1_mean"] is None else f"{100 * s['original_top1_mean']:.1f}"
        lines.append(f"| {recipe} | {s['runs']} | {top} | " + " | ".join(cells) + " |")
    c = summary["config"]
    lines += ["", f"Shares of each run's own gain over uniform on the original videos, top-1 at K={c['k']}; "
              f"target {100 * summary['target_share']:.0f}%. Classifier `{c['classifier']}`, data `{c['data']}`, every run the same."]
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", required=True, metavar="RECIPE=FILE",
                    help="a codec_transfer.py results.json and the recipe its sampler was trained with (repeatable)")
    ap.add_argument("--out", type=Path, help="also write the summary as JSON")
    ap.add_argument("--docs", type=Path, help="markdown file to put the tables into, between the --tag markers")
    ap.add_argument("--tag", default="transfer-spread")
    args = ap.parse_args(argv)
    summary = summarise(load_runs(args.run))
    command = "python benchmarks/transfer_spread.py " + " ".join(f"--run {r}" for r in args.run)
    command += f" --out {args.out}" if args.out else ""
    publish(markdown(summary), results=summary, out=args.out, docs=args.docs, tag=args.tag, command=command,
            heading="## Codec transfer over training runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
