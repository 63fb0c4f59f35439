"""Markdown tables and plots generated from a benchmark's ``results.json`` (never typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path

from scsampler.files import atomic_write_text


def _pct(x) -> str:
    return "" if x is None else f"{100 * x:.1f}"


def label(row: dict) -> str:
    """A row's strategy with its parameters: ``av-union-list K'=8``, ``visual stride 4``."""
    text = row["strategy"]
    if row.get("k_prime") is not None:
        text += f" K'={row['k_prime']}"
    if row.get("stride", 1) not in (1, None):
        text += f" stride {row['stride']}"
    return text


def accuracy_table(results: dict, k: int | None = None, strategies: list[str] | None = None, stride: int | None = None) -> str:
    """One row per (strategy, K[, K', stride]); only ``k`` (plus dense), only ``strategies``, only
    ``stride`` (baselines always) when given. An mAP column after top-5 when the run has it (results
    from before it was measured have not)."""
    cheap = any(r.get("cheap_gflops_per_video") for r in results["rows"])
    has_map = any("map" in r for r in results["rows"])
    head = "| strategy | K | top-1 % | top-5 % |" + (" mAP % |" if has_map else "") + " clips / video | classifier GFLOPs / video |"
    rule = "|---|---:|---:|---:|" + ("---:|" if has_map else "") + "---:|---:|"
    if cheap:
        head += " sampler GFLOPs / video |"
        rule += "---:|"
    lines = [head + " chosen clips in salient segments % |", rule + "---:|"]
    for r in results["rows"]:
        if k is not None and r["k"] not in (k, None):
            continue
        if strategies is not None and r["strategy"] not in strategies:
            continue
        if stride is not None and r.get("stride", 1) not in (stride, None):
            continue
        top1 = _pct(r["top1"])
        if r.get("top1_std_over_trials"):
            top1 += f" ± {100 * r['top1_std_over_trials']:.1f}"
        line = (f"| {label(r)} | {'all' if r['k'] is None else r['k']} | {top1} | {_pct(r['top5'])} | "
                + (f"{_pct(r.get('map'))} | " if has_map else "")
                + f"{r['clips_per_video']:.1f} | {r['classifier_gflops_per_video']:.1f} |")
        if cheap:
            line += f" {r.get('cheap_gflops_per_video', 0.0):.2f} |"
        lines.append(line + f" {_pct(r['salient_fraction_of_chosen'])} |")
    return "\n".join(lines)


def side_by_side(runs: dict[str, dict], k: int, paper: dict[str, str] | None = None, paper_title: str = "paper") -> str:
    """Top-1 at ``k`` (dense: all clips) of every strategy in several benchmark runs, a column per run
    (e.g. the same strategies with two classifiers), in the first run's row order; with ``paper``,
    a last column of figures a paper reports for a strategy label (cited as given, never computed)."""
    cols = {name: {label(r): r for r in res["rows"] if r["k"] in (k, None)} for name, res in runs.items()}
    order = list(dict.fromkeys(lab for c in cols.values() for lab in c))
    head = "| strategy | " + " | ".join(f"{name} top-1 %" for name in runs) + (f" | {paper_title} |" if paper else " |")
    rule = "|---|" + "---:|" * (len(runs) + bool(paper))
    lines = [head, rule]
    for lab in order:
        cells = []
        for c in cols.values():
            r = c.get(lab)
            cell = "" if r is None else _pct(r["top1"])
            if r is not None and r.get("top1_std_over_trials"):
                cell += f" ± {100 * r['top1_std_over_trials']:.1f}"
            cells.append(cell)
        lines.append(f"| {lab} | " + " | ".join(cells) + (f" | {paper.get(lab, '')} |" if paper else " |"))
    videos = {name: res.get("test_videos") for name, res in runs.items()}
    lines += ["", f"K = {k} (dense: every clip); test videos: " + ", ".join(f"{n} {v}" for n, v in videos.items()) + "."]
    return "\n".join(lines)


def kinds_table(results: dict, k: int | None = None) -> str:
    """Where each selector's chosen clips lie: the share of their seconds in each segment kind, with
    each kind's share of all clips first (what a selector blind to content gets). A selector far above
    that share on a kind that shows no action has found a cue, not the action."""
    base = results.get("kind_share_of_clips")
    rows = [r for r in results["rows"] if r.get("chosen_by_kind") and (k is None or r["k"] in (k, None))]
    if not base or not rows:
        return ""
    kinds = list(base)
    lines = ["| strategy | K | " + " | ".join(f"{kind} %" for kind in kinds) + " |", "|---|---:|" + "---:|" * len(kinds),
             "| (all clips) | | " + " | ".join(_pct(base[kind]) for kind in kinds) + " |"]
    for r in rows:
        lines.append(f"| {label(r)} | {'all' if r['k'] is None else r['k']} | "
                     + " | ".join(_pct(r["chosen_by_kind"].get(kind)) for kind in kinds) + " |")
    return "\n".join(lines)


def timing_table(results: dict, rows: list[dict] | None = None) -> str:
    """The wall-time table of ``results["timing"]`` (or of ``rows``, e.g. ``results["timing_arch"]["timing"]``)."""
    rows = results["timing"] if rows is None else rows
    if not rows:
        return "(not timed: no timing videos)"
    dense = next((t for t in rows if t["strategy"] == "dense"), None)
    lines = [
        "| strategy | K | probe / cheap pass s | sampler s | select s | RGB decode s | classify s | total s / video | "
        "cheap pass + sampler % | frames decoded / video | speed-up vs dense |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for t in rows:
        s = t["seconds_per_video"]
        speed = f"{dense['total_seconds_per_video'] / t['total_seconds_per_video']:.1f}x" if dense else ""
        name = t["strategy"] + (f" (stride {t['stride']})" if t.get("stride", 1) > 1 else "")
        share = f"{100 * t['cheap_share']:.1f}" if t.get("cheap_share") is not None else ""
        lines.append(
            f"| {name} | {'all' if t['k'] is None else t['k']} | {s['cheap']:.3f} | {s.get('sampler', 0.0):.3f} | {s['selection']:.3f} | {s['decode']:.3f} | "
            f"{s['classify']:.3f} | {t['total_seconds_per_video']:.3f} | {share} | {t['frames_decoded_per_video']:.0f} | {speed} |"
        )
    return "\n".join(lines)


def timing_arch_section(results: dict) -> str:
    """The wall-time table of ``--timing-arch`` (the user-size network), with the sentence that says
    what it is; empty when the benchmark ran without it."""
    big = results.get("timing_arch")
    if not big:
        return ""
    c, t = big["classifier"], big["classifier"]["transform"]
    return (f"The same pipeline with {c['name']} at {t['frames']}x{t['crop'][0]}x{t['crop'][1]} "
            f"({c['gflops_per_clip']:.1f} GFLOPs per clip, {c['weights']}), "
            f"on {big['timing'][0]['videos'] if big['timing'] else 0} of those videos:\n\n{timing_table(results, big['timing'])}")


TARGETS = {"over dense": 5.0, "share of the gap": 0.5, "cheap share": 0.10, "sampler flops": 0.01, "speed-up": 0.8}


def targets_table(results: dict, k: int = 10) -> str:
    """Each sampler strategy against the project's targets (README), from one run: top-1 at ``k`` at least 5
    points over dense and closing half the uniform-to-oracle gap; with the timed pipeline (the
    ``--timing-arch`` one when present), a speed-up over dense of at least 0.8 x L/K (L: the timed
    videos' mean clips), the cheap pass and sampler under 10% of its time, and the sampler's GFLOPs
    per clip of the video under 1% of the timed classifier's."""
    big = results.get("timing_arch")
    timing, clf = (big["timing"], big["classifier"]) if big else (results["timing"], results["classifier"])
    acc = {(r["strategy"], r["k"]): r for r in results["rows"] if r.get("stride", 1) in (1, None)}
    dense_t = next((t for t in timing if t["strategy"] == "dense"), None)
    needed = [("dense", None), ("uniform", k), ("oracle", k)]
    if dense_t is None or any(key not in acc for key in needed):
        return "(targets need dense, uniform and oracle at this K, and a timed dense)"
    dense, uniform, oracle = (acc[key]["top1"] for key in needed)
    speed_target = TARGETS["speed-up"] * dense_t["clips_decoded_per_video"] / k
    first_k_prime = (results.get("config", {}).get("k_primes") or [None])[0]
    lines = [f"Targets at K={k}: top-1 at least {TARGETS['over dense']:.0f} points over dense ({100 * dense:.1f}) and "
             f"{TARGETS['share of the gap']:.0%} of the gap from uniform ({100 * uniform:.1f}) to oracle ({100 * oracle:.1f}); "
             f"timed with {clf['name']} ({clf['gflops_per_clip']:.1f} GFLOPs per clip), a speed-up of at least "
             f"{speed_target:.1f}x ({TARGETS['speed-up']} x L/K, L = {dense_t['clips_decoded_per_video']:.1f}), cheap pass + "
             f"sampler under {TARGETS['cheap share']:.0%}, sampler GFLOPs under {TARGETS['sampler flops']:.0%} of the classifier's.", "",
             "| strategy | top-1 % | over dense | share of the gap | speed-up | cheap pass + sampler % "
             "| sampler / classifier GFLOPs per clip % | misses |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for r in results["rows"]:
        if r["k"] != k or not r.get("cheap_gflops_per_video") or r.get("k_prime") not in (None, first_k_prime):
            continue
        t = next((t for t in timing if t["strategy"] == r["strategy"] and t["k"] == k
                  and t.get("stride", 1) == r.get("stride", 1)), None)
        if t is None:
            continue
        over = 100 * (r["top1"] - dense)
        gap = (r["top1"] - uniform) / (oracle - uniform) if oracle > uniform else float("nan")
        speed = dense_t["total_seconds_per_video"] / t["total_seconds_per_video"]
        flops = r["cheap_gflops_per_video"] / results["mean_clips_per_video"] / clf["gflops_per_clip"]
        misses = [name for name, bad in (("accuracy", over < TARGETS["over dense"]), ("gap", not gap >= TARGETS["share of the gap"]),
                                         ("speed", speed < speed_target), ("cheap share", t["cheap_share"] >= TARGETS["cheap share"]),
                                         ("FLOPs", flops >= TARGETS["sampler flops"])) if bad]
        lines.append(f"| {label(r)} | {100 * r['top1']:.1f} | {over:+.1f} | {100 * gap:.0f}% | {speed:.1f}x "
                     f"| {100 * t['cheap_share']:.1f} | {100 * flops:.2f} | {', '.join(misses) or 'none'} |")
    return "\n".join(lines)


def markdown(results: dict, k: int | None = None) -> str:
    """The benchmark's report: accuracy (every K, or only ``k``), wall time, stages, failures."""
    c = results["classifier"]
    tr = c["transform"]
    stages = ", ".join(f"{k} {v:.0f} s" for k, v in results["stage_seconds"].items())
    parts = [
        f"Classifier: {c['name']}, input {tr['frames']}x{tr['crop'][0]}x{tr['crop'][1]} "
        f"({c['gflops_per_clip']:.2f} GFLOPs per clip). Test videos: {results['test_videos']}, "
        f"{results['mean_clips_per_video']:.1f} clips each on average"
        + (f"; {100 * results['salient_share_of_clips']:.1f}% of clips are salient." if results.get("salient_share_of_clips") is not None else "."),
        "",
        accuracy_table(results, k=k),
        "",
    ]
    kinds = kinds_table(results, k=k)
    if kinds:
        parts += ["Where the chosen clips lie, by segment kind (share of their seconds):", "", kinds, ""]
    if results["timing"]:
        parts += [f"Wall time per video, measured on {results['timing'][0]['videos']} test videos as a user runs each strategy "
                  f"(decoding only the chosen clips):", "", timing_table(results), ""]
    else:
        parts += ["Wall time: not measured (no timing videos).", ""]
    parts += [f"Stages: {stages}."]
    if results.get("timing_arch"):
        parts[-1:-1] = [timing_arch_section(results), ""]
    if results.get("errors"):
        parts += ["", f"Videos that failed ({len(results['errors'])}): " + "; ".join(results["errors"].values())]
    return "\n".join(parts) + "\n"


def plot(results: dict, out: Path) -> list[Path]:
    """``accuracy_vs_k.png`` (Figure 2 in shape) and ``accuracy_vs_gflops.png`` (Figure 6)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [{**r, "strategy": label(r)} for r in results["rows"]]
    strategies = list(dict.fromkeys(r["strategy"] for r in rows))
    dense = next((r for r in rows if r["strategy"] == "dense"), None)

    def finish(fig, ax, xlabel: str, name: str) -> Path:
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel("video top-1 accuracy (%)")
        ax.legend(fontsize=7)
        fig.tight_layout()
        fig.savefig(out / name, dpi=110)
        plt.close(fig)
        return out / name

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # a colour per strategy, up to 20
    for strategy in strategies:
        if strategy != "dense":
            pts = sorted((r["k"], r["top1"]) for r in rows if r["strategy"] == strategy)
            ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], "o-", label=strategy)
    if dense:
        ax.axhline(100 * dense["top1"], color="k", ls="--", label="dense")
    paths = [finish(fig, ax, "K (clips classified per video)", "accuracy_vs_k.png")]

    fig, ax = plt.subplots(figsize=(6, 4))
    ax.set_prop_cycle(color=plt.cm.tab20.colors)  # a colour per strategy, up to 20
    for strategy in strategies:
        pts = sorted((r["classifier_gflops_per_video"] + r["cheap_gflops_per_video"], r["top1"]) for r in rows if r["strategy"] == strategy)
        style = dict(fmt="o-", markersize=5) if len(pts) > 1 else dict(fmt="k*", markersize=12)
        ax.plot([p[0] for p in pts], [100 * p[1] for p in pts], style["fmt"], label=strategy, markersize=style["markersize"])
    paths.append(finish(fig, ax, "GFLOPs per video", "accuracy_vs_gflops.png"))
    return paths


def replace_block(doc: Path, name: str, content: str, heading: str) -> None:
    """Put ``content`` between ``<!-- name:begin -->`` and ``<!-- name:end -->`` in ``doc``,
    appending ``heading`` and an empty block first if the file has none. How the benchmark
    scripts keep generated tables in hand-written docs."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    text = doc.read_text() if doc.exists() else ""
    if begin not in text:
        text += f"\n{heading}\n\n{begin}\n{end}\n"
    head, rest = text.split(begin, 1)
    _, tail = rest.split(end, 1)
    atomic_write_text(doc, f"{head}{begin}\n{content}\n{end}{tail}")


def publish(table: str, *, results: dict | None = None, out: Path | None = None, docs: Path | None = None, tag: str = "",
            command: str | None = None, heading: str | None = None) -> None:
    """How a benchmark script ends: its results written to ``out`` (JSON, atomically) when given, its
    table printed and, with ``docs``, put into that file's ``tag`` block (see :func:`replace_block`),
    after the ``command`` line that made it when given (a new block goes under ``heading``)."""
    if results is not None and out is not None:
        atomic_write_text(out, json.dumps(results, indent=1) + "\n")
    print(table)
    if docs:
        block = f"```sh\n{command}\n```\n\n{table}" if command else table
        replace_block(docs, tag, block, heading or f"### {tag}")


def write_report(results: dict, out: Path) -> None:
    atomic_write_text(out / "results.md", markdown(results))
    plot(results, out)


def main(argv=None) -> None:
    """``python -m scsampler.reports.tables RESULTS.json [--k K] [--docs DOC --tag NAME]``: print a
    benchmark's report and rewrite it (results.md and the plots) next to its results.json; with
    ``--docs``, put it between ``NAME``'s markers in DOC instead (how a result file's tables get into
    the docs, by a command written above them)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m scsampler.reports.tables", description="a benchmark's report, from its results.json")
    ap.add_argument("results", type=Path)
    ap.add_argument("--docs", type=Path, help="markdown file to write the report into, between the --tag markers")
    ap.add_argument("--tag", help="name of the block in --docs (default: the results file's stem)")
    ap.add_argument("--k", type=int, help="only this K in the accuracy table (default: every K)")
    ap.add_argument("--targets", action="store_true", help="instead, each sampler strategy against the accuracy and cost targets (at --k, default 10)")
    ap.add_argument("--summary", action="store_true", help="instead, the demo's comparison at --k (default 10) and what it shows")
    ap.add_argument("--classes", type=int, help="with --summary: the number of classes (for chance)")
    ap.add_argument("--name", default="", help="with --beside: the column name of RESULTS (default: its file's stem)")
    ap.add_argument("--beside", action="append", default=[], metavar="NAME=RESULTS",
                    help="instead, top-1 at --k (default 10) of RESULTS and of these runs side by side, a column each (repeatable)")
    ap.add_argument("--paper", action="append", default=[], metavar="STRATEGY=FIGURE",
                    help="with --beside: a figure a paper reports for that strategy label, in a last column (repeatable)")
    ap.add_argument("--paper-title", default="paper", help="with --paper: that column's title")
    args = ap.parse_args(argv)
    results = json.loads(args.results.read_text())
    if args.beside:
        runs = {args.name or args.results.stem: results}
        for item in args.beside:
            name, sep, path = item.partition("=")
            if not sep:
                ap.error(f"--beside takes NAME=RESULTS, got {item!r}")
            runs[name] = json.loads(Path(path).read_text())
        paper = dict(x.split("=", 1) for x in args.paper if "=" in x) or None
        text = side_by_side(runs, args.k or 10, paper, args.paper_title) + "\n"
    elif args.summary:
        from scsampler.reports.summary import comparison_table, what_it_shows

        k = args.k or 10
        text = comparison_table(results, k) + "\n\n" + "\n".join(f"- {x}" for x in what_it_shows(results, k, args.classes)) + "\n"
    else:
        text = targets_table(results, k=args.k or 10) + "\n" if args.targets else markdown(results, k=args.k)
    if args.docs:
        tag = args.tag or args.results.stem
        replace_block(args.docs, tag, text.rstrip("\n"), f"### {tag}")
    elif not (args.targets or args.summary or args.beside):
        write_report(results, args.results.parent)
    print(text)


if __name__ == "__main__":
    main()
