"""What a benchmark run shows, in one table and a few sentences, computed from its ``results.json``.

``comparison_table`` puts each selector's accuracy at one K beside its cost (GFLOPs and wall time
per video, with the run's own classifier and, when the run timed one, with the paper-size network
of ``--timing-arch``) and the speed-up over dense. ``what_it_shows`` says in plain sentences what
those numbers mean; nothing in it is written in advance of the numbers.
"""

from __future__ import annotations

from scsampler.reports.tables import label

BLIND = ("random", "uniform", "front", "center", "end")   # pick clips without looking at the video
REFERENCE = ("dense", "oracle")                             # every clip; the label-aware upper bound
TRAINING_FREE = ("motion-energy", "audio-energy")


def rows_at(results: dict, k: int) -> list[dict]:
    """The accuracy rows at ``k`` (plus dense), at stride 1 and each strategy's first K'."""
    seen, out = set(), []
    for r in results["rows"]:
        if r["k"] not in (k, None) or r.get("stride", 1) not in (1, None) or r["strategy"] in seen:
            continue
        seen.add(r["strategy"])
        out.append(r)
    return out


def _timing(rows: list[dict], strategy: str, k: int | None) -> dict | None:
    return next((t for t in rows if t["strategy"] == strategy and t["k"] in (k, None) and t.get("stride", 1) == 1), None)


def _speed(rows: list[dict], strategy: str, k: int) -> tuple[float, float] | None:
    """``(seconds per video, speed-up over dense)`` of ``strategy`` in timing ``rows``, if both were timed."""
    t, dense = _timing(rows, strategy, k), _timing(rows, "dense", None)
    if t is None or dense is None:
        return None
    return t["total_seconds_per_video"], dense["total_seconds_per_video"] / t["total_seconds_per_video"]


def comparison_table(results: dict, k: int = 10) -> str:
    """One row per strategy at ``k``: top-1, GFLOPs per video (classifier + selector), the share of
    its chosen clips where the action is on screen, and the wall time per video and speed-up over
    dense with the run's classifier and with the ``--timing-arch`` network when timed."""
    big = results.get("timing_arch") or {}
    big_name = ""
    if big:
        tr = big["classifier"]["transform"]
        big_name = f"{big['classifier']['name']} {tr['frames']}x{tr['crop'][0]}x{tr['crop'][1]}"
    own = results["classifier"]["name"]
    head = ["strategy", "K", "top-1 %", "GFLOPs / video", "clips with the action on screen %",
            f"s / video ({own})", "speed-up"]
    if big:
        head += [f"s / video ({big_name})", "speed-up"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for r in rows_at(results, k):
        gflops = r["classifier_gflops_per_video"] + (r.get("cheap_gflops_per_video") or 0.0)
        cells = [label(r), "all" if r["k"] is None else str(r["k"]), _top1(r), f"{gflops:.1f}", _visible(r)]
        for timing in [results.get("timing") or []] + ([big.get("timing") or []] if big else []):
            sp = _speed(timing, r["strategy"], k)
            cells += [f"{sp[0]:.2f}", f"{sp[1]:.1f}x"] if sp else ["", ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _top1(r: dict) -> str:
    text = f"{100 * r['top1']:.1f}"
    if r.get("top1_std_over_trials"):
        text += f" ± {100 * r['top1_std_over_trials']:.1f}"
    return text


def visible_share(r: dict) -> float | None:
    """The share of a row's chosen clip seconds in which the video's action is on screen (salient or
    masked segments), or the salient share when the run has no per-kind split."""
    kinds = r.get("chosen_by_kind")
    if kinds:
        return sum(kinds.get(kind) or 0.0 for kind in ("salient", "masked"))
    return r.get("salient_fraction_of_chosen")


def _visible(r: dict) -> str:
    share = visible_share(r)
    return "" if share is None else f"{100 * share:.1f}"


def what_it_shows(results: dict, k: int = 10, num_classes: int | None = None) -> list[str]:
    """Plain sentences on what the run at ``k`` shows: dense against chance and the oracle, the best
    selector against dense and the uniform-to-oracle gap, the selectors that do not beat dense, where
    the picks lie, and the speed-up with the largest classifier timed. Every number comes from
    ``results``; a sentence whose inputs the run lacks is left out."""
    rows = {r["strategy"]: r for r in rows_at(results, k)}
    dense, oracle, uniform = rows.get("dense"), rows.get("oracle"), rows.get("uniform")
    if dense is None:
        return ["This run has no dense row, so there is nothing to compare the selectors with."]
    pct = lambda x: f"{100 * x:.1f}%"  # noqa: E731
    out = []
    chance = f" (chance {pct(1 / num_classes)})" if num_classes else ""
    out.append(f"Dense evaluation, which classifies all {results['mean_clips_per_video']:.0f} clips of a video on average "
               f"and averages them, is right on {pct(dense['top1'])} of the {results['test_videos']} test videos{chance}.")
    if oracle is not None:
        out.append(f"The oracle, which keeps the {k} clips the classifier is surest of the true label on (it reads the label, "
                   f"so no real selector can match it), reaches {pct(oracle['top1'])}: "
                   + (f"{100 * (oracle['top1'] - dense['top1']):.1f} points above dense, the accuracy the clips without the action cost."
                      if oracle["top1"] > dense["top1"] else "no better than dense, so choosing clips cannot help this classifier here."))
    # A selector's own recognition ("<name> own") classifies no clip: it is not a choice of clips.
    selectors = [r for name, r in rows.items() if name not in REFERENCE + BLIND and not r.get("own")]
    if selectors:
        best = max(selectors, key=lambda r: r["top1"])
        sentence = f"The best selector at K = {k} is {label(best)}, at {pct(best['top1'])}, {100 * (best['top1'] - dense['top1']):+.1f} points against dense"
        if oracle is not None and uniform is not None and oracle["top1"] > uniform["top1"]:
            gap = (best["top1"] - uniform["top1"]) / (oracle["top1"] - uniform["top1"])
            sentence += f"; it closes {100 * gap:.0f}% of the gap from uniform ({pct(uniform['top1'])}) to the oracle"
        out.append(sentence + ".")
        below = [label(r) for r in selectors if r["top1"] <= dense["top1"]]
        if below:
            out.append(f"Not better than dense here: {', '.join(below)}.")
        else:
            out.append(f"Every selector beats dense; the weakest, {label(min(selectors, key=lambda r: r['top1']))}, "
                       f"by {100 * (min(r['top1'] for r in selectors) - dense['top1']):.1f} points.")
    blind = [r for name, r in rows.items() if name in BLIND]
    if blind:
        out.append("Picking clips without looking (" + ", ".join(f"{label(r)} {pct(r['top1'])}" for r in blind) + ") "
                   + ("does no better than dense." if max(r["top1"] for r in blind) <= dense["top1"] else "already beats dense: "
                      "fewer background clips in the average help a classifier that is confidently wrong on them."))
    share = visible_share(dense)
    if selectors and share is not None and visible_share(best) is not None:
        out.append(f"The action is on screen in {pct(share)} of all clips; in {pct(visible_share(best))} of the clips {label(best)} chose.")
    big = results.get("timing_arch")
    for timing, name in ([(big["timing"], big["classifier"]["name"] + " at the paper's input size")] if big else []) + [
            (results.get("timing") or [], results["classifier"]["name"] + " (this run's classifier)")]:
        sp = _speed(timing, best["strategy"], k) if selectors else None
        if sp and sp[1] >= 1:
            out.append(f"With {name}, {label(best)} takes {sp[0]:.2f} s per video: {sp[1]:.1f}x faster than dense.")
        elif sp:
            out.append(f"With {name}, {label(best)} takes {sp[0]:.2f} s per video, {1 / sp[1]:.1f}x as long as dense: "
                       "its own pass over the video costs more than classifying every clip with a classifier this cheap.")
    return out
