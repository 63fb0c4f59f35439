"""``scsampler predict --report DIR``: a picture per video and an ``index.html`` that shows them all.

Each picture has the saliency timeline (every clip's sampler score over time, one panel per modality,
the selected clips shaded) and thumbnails of the middle frame of the three highest- and three
lowest-scoring clips per modality (selected ones framed). A baseline strategy has no scores: its
timeline shows the selected clips only, and the thumbnails are those of the first selected clips.

Given the ground truth (a ``segments.json``, :func:`read_segments`), a thin band under the timeline
shows each video's labelled segments coloured by kind, and the title its true label. The truth is
drawn only, never stored in the results file. A video with several labels (the record's ``labels``,
else the ground truth's) shows them all, and its top class is correct when it is one of them, as the
benchmark's top-1 counts it.

Pictures are drawn from the records of the results file alone (plus the video, for thumbnails, and the
ground truth when given), so a rerun can draw the ones an interrupted run did not. The page is
self-contained: relative links only.
"""

from __future__ import annotations

import html
import json
import logging
import math
import os
import re
from collections import Counter
from fractions import Fraction
from pathlib import Path
from urllib.parse import quote

from scsampler.errors import ConfigError, ScsamplerError
from scsampler.files import atomic_path, atomic_write_text, digest

log = logging.getLogger(__name__)

MODALITY_COLOURS = {"visual": "tab:blue", "audio": "tab:green"}
SELECTED_COLOUR = "tab:orange"
THUMB_HEIGHT = 90  # pixels of a decoded thumbnail
# The ground-truth band: a colour and a legend entry per segment kind (scsampler.data.synthetic.KINDS;
# imported datasets write "salient" only), in legend order. A kind not listed is drawn in SEGMENT_OTHER.
SEGMENT_KINDS = {
    "salient": ("tab:red", "salient: the action, seen and heard"),
    "masked": ("lightcoral", "masked: the action seen, its sound covered"),
    "glimpse": ("tab:purple", "glimpse: another class's action, briefly"),
    "sound_only": ("tab:cyan", "sound_only: another class's sound only"),
}
SEGMENT_OTHER = "tab:gray"


class GroundTruth:
    """The entries of a ``segments.json`` (``{video path: {"label", "segments": [...], ...}}``, the
    paths relative to the file's folder), found by video path: :meth:`find`."""

    def __init__(self, path: str | os.PathLike, entries: dict[str, dict]):
        self.path = Path(path)
        self.entries = entries
        folder = self.path.absolute().parent
        self._by_path: dict[str, dict] = {}
        names: dict[str, list[dict]] = {}
        for key, entry in entries.items():
            self._by_path.setdefault(_resolved(folder / key), entry)
            names.setdefault(Path(key).name, []).append(entry)
        self._by_name = {name: found[0] for name, found in names.items() if len(found) == 1}

    def find(self, video: str | os.PathLike) -> dict | None:
        """The entry of the video file ``video``: the one whose path resolves to the same file, else
        the only one with its file name; ``None`` when there is none."""
        entry = self._by_path.get(_resolved(Path(video)))
        return entry if entry is not None else self._by_name.get(Path(video).name)

    def __len__(self) -> int:
        return len(self.entries)


def _resolved(path: Path) -> str:
    try:
        return str(path.resolve())
    except (OSError, RuntimeError):  # a symbolic-link loop: compare it as written
        return os.path.abspath(path)


def read_segments(path: str | os.PathLike) -> GroundTruth:
    """The ground truth of ``segments.json`` at ``path``; a file that cannot be read, is not JSON or
    not of that shape is a :class:`ConfigError` naming the file and the cause."""
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a segments file") from None
    except OSError as err:
        raise ConfigError(f"{path}: cannot read the segments file ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise ConfigError(f"{path}: not valid JSON ({err.msg}: line {err.lineno} column {err.colno})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not valid JSON (not UTF-8 text)") from None
    cause = _shape_error(data)
    if cause:
        raise ConfigError(f"{path}: not a segments file: {cause}")
    return GroundTruth(path, data)


def _shape_error(data) -> str | None:
    """Why ``data`` is not the content of a ``segments.json``; ``None`` when it is."""
    if not isinstance(data, dict):
        return f"a JSON object by video path expected, got {_json_type(data)}"
    for key, entry in data.items():
        if not isinstance(entry, dict):
            return f"{key}: an object expected, got {_json_type(entry)}"
        if "segments" not in entry:
            return f"{key}: no list of segments"
        if not isinstance(entry["segments"], list):
            return f"{key}: segments is {_json_type(entry['segments'])}, not a list"
        if entry.get("label") is not None and not isinstance(entry["label"], str):
            return f"{key}: label is {_json_type(entry['label'])}, not a string"
        for n, seg in enumerate(entry["segments"]):
            where = f"{key}: segment {n}"
            if not isinstance(seg, dict):
                return f"{where}: an object expected, got {_json_type(seg)}"
            for field in ("start_s", "end_s"):
                v = seg.get(field)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
                    return f"{where}: {field} is {'missing' if field not in seg else _json_type(v)}, not a number of seconds"
            if seg["end_s"] < seg["start_s"]:
                return f"{where}: ends ({seg['end_s']:g} s) before it starts ({seg['start_s']:g} s)"
            if not isinstance(seg.get("kind"), str):
                return f"{where}: kind is {'missing' if 'kind' not in seg else _json_type(seg['kind'])}, not a string"
    return None


def _json_type(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number" if math.isfinite(value) else repr(value)
    return {str: "a string", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)


def segment_spans(segments: list[dict]) -> list[tuple[str, str, list[tuple[float, float]]]]:
    """The ground-truth band of ``segments`` (a ``segments.json`` entry's): ``[(kind, colour,
    [(start_s, width_s), ...])]``, one row per kind present, the kinds of :data:`SEGMENT_KINDS` first
    in their order, then any other kind (alphabetically) in :data:`SEGMENT_OTHER`."""
    by_kind: dict[str, list[tuple[float, float]]] = {}
    for seg in segments:
        by_kind.setdefault(seg["kind"], []).append((float(seg["start_s"]), float(seg["end_s"]) - float(seg["start_s"])))
    order = [k for k in SEGMENT_KINDS if k in by_kind] + sorted(k for k in by_kind if k not in SEGMENT_KINDS)
    return [(k, SEGMENT_KINDS.get(k, (SEGMENT_OTHER,))[0], by_kind[k]) for k in order]


def _truth_description(truth: dict | None) -> str:
    """What the picture shows of the ground truth, in one line (the PNG's ``Description``)."""
    if truth is None:
        return "ground truth: none"
    kinds = Counter(seg["kind"] for seg in truth["segments"])
    label = f"label {truth['label']}, " if truth.get("label") is not None else ""
    return f"ground truth: {label}{len(truth['segments'])} segments" + (
        f" ({', '.join(f'{k} {n}' for k, n in sorted(kinds.items()))})" if kinds else "")


def figure_name(video: str) -> str:
    """A file name for the picture of ``video``: readable, and distinct for equal base names."""
    stem = re.sub(r"[^A-Za-z0-9._-]+", "_", Path(video).name).strip("_")[:60] or "video"
    return f"{stem}-{digest(video.encode('utf-8'), size=4)}.png"


def thumbnail_clips(record: dict) -> list[tuple[str, list[int]]]:
    """Which clips to show, per row: ``[(row label, clip indices)]``. Per modality the three
    highest-scoring clips (best first) then the three lowest (lowest last); without scores, the
    first six selected clips."""
    rows = []
    for modality, scores in record.get("scores", {}).items():
        scored = sorted((i for i, s in enumerate(scores) if s is not None), key=lambda i: -scores[i])
        top = scored[:3]
        bottom = [i for i in scored[-3:] if i not in top]
        if top:
            rows.append((modality, top + bottom))
    if not rows:
        rows.append(("selected", [c["index"] for c in record["selected"][:6]]))
    return rows


def _thumbnails(path, clips: list[int], clip_s: Fraction) -> dict[int, "object"]:
    """Middle frame of each clip, ``{index: (H, W, 3) uint8 array}``."""
    from scsampler.io.decode import decode_intervals
    from scsampler.io.video import probe

    info = probe(path)
    w = max(1, min(3 * THUMB_HEIGHT, round(THUMB_HEIGHT * info.width / info.height)))
    order = sorted(set(clips))
    frames = decode_intervals(path, [(i * clip_s + clip_s / 2, (i + 1) * clip_s) for i in order], num_frames=1, size=(THUMB_HEIGHT, w))
    return {i: frames[k, :, 0].permute(1, 2, 0).numpy() for k, i in enumerate(order)}  # (K, 3, 1, H, W) -> (H, W, 3)


def _clip_seconds(record: dict) -> Fraction:
    c = record["selected"][0]
    return Fraction(c["end_s"] - c["start_s"]).limit_denominator(1000)


def draw_video(record: dict, path: str | os.PathLike, out: str | os.PathLike, truth: dict | None = None) -> Path:
    """Draw the picture of one successful record (a line of the results file) into ``out`` (PNG).
    ``truth``: the video's ``segments.json`` entry, drawn as a band under the timeline (its segments
    coloured by kind) with its label in the title; the PNG's ``Description`` says what was drawn."""
    from matplotlib.figure import Figure  # no pyplot: no global backend or figure registry to manage

    out = Path(out)
    clip_s = _clip_seconds(record)
    d = float(clip_s)
    n = record["num_clips"]
    scores = {m: s for m, s in record.get("scores", {}).items() if any(v is not None for v in s)}
    selected = {c["index"] for c in record["selected"]}
    rows = thumbnail_clips({**record, "scores": scores})
    notes = list(record.get("notes", []))
    if record.get("fallback"):
        notes.insert(0, f"fallback: {record['fallback']}")
    try:
        thumbs = _thumbnails(path, [i for _, r in rows for i in r], clip_s)
    except ScsamplerError as err:
        thumbs, rows = {}, []
        notes.append(f"no thumbnails: {err}")

    panels = list(scores) or ["selected"]
    band = int(truth is not None)
    fig = Figure(figsize=(12, 1.0 + 1.9 * len(panels) + 0.8 * band + 1.9 * len(rows)), layout="constrained")
    grid = fig.add_gridspec(len(panels) + band + len(rows), 1,
                            height_ratios=[1.6] * len(panels) + [0.6] * band + [1.5] * len(rows))
    spans = [(c["start_s"], c["end_s"] - c["start_s"]) for c in record["selected"]]
    first = ax = None
    for p, name in enumerate(panels):
        ax = fig.add_subplot(grid[p], sharex=first)
        first = first or ax
        # The selected clips, shaded over the whole height of the panel.
        ax.broken_barh(spans, (0, 1), transform=ax.get_xaxis_transform(), color=SELECTED_COLOUR, alpha=0.3,
                       label=f"selected ({len(spans)} clips)")
        if name in scores:
            s = scores[name]
            # Through the scored clips only: with a stride the others are None, and a line through
            # nan would break at every one of them.
            scored = [i for i, v in enumerate(s) if v is not None]
            ax.plot([(i + 0.5) * d for i in scored], [s[i] for i in scored], color=MODALITY_COLOURS.get(name, "tab:gray"),
                    marker="." if n <= 300 else None, lw=1.2, label=f"{name} sampler score")
            sel = sorted(i for i in selected if i < len(s) and s[i] is not None)
            ax.scatter([(i + 0.5) * d for i in sel], [s[i] for i in sel], color=SELECTED_COLOUR, edgecolor="black", zorder=3, s=22)
            ax.set_ylabel(f"{name} score")
        else:
            ax.set_yticks([])
            ax.text(0.5, 0.5, f"strategy {record.get('strategy', '?')}: no sampler scores", transform=ax.transAxes,
                    ha="center", va="center", color="dimgray")
        ax.set_xlim(0, max(n * d, d))
        ax.legend(loc="upper right", fontsize=7, framealpha=0.8)
        ax.grid(axis="x", alpha=0.3)
    if truth is not None:
        ax = fig.add_subplot(grid[len(panels)], sharex=first)
        bars = segment_spans(truth["segments"])
        for kind, colour, kind_spans in bars:
            ax.broken_barh(kind_spans, (0, 1), color=colour, label=SEGMENT_KINDS.get(kind, (colour, kind))[1])
        if bars:
            ax.legend(loc="center left", bbox_to_anchor=(1.005, 0.5), fontsize=7, frameon=False, borderaxespad=0)
        else:
            ax.text(0.5, 0.5, "no labelled segments", transform=ax.transAxes, ha="center", va="center", color="dimgray", fontsize=8)
        ax.set_ylim(0, 1)
        ax.set_yticks([])
        ax.set_ylabel("truth", fontsize=8)
        ax.grid(axis="x", alpha=0.3)
    ax.set_xlabel("time (s)")

    for r, (name, clips) in enumerate(rows):
        fmt = _score_format(scores.get(name, []))
        cells = grid[len(panels) + band + r].subgridspec(1, 6)
        for j, i in enumerate(clips):
            ax = fig.add_subplot(cells[j])
            ax.imshow(thumbs[i])
            ax.set_xticks([])
            ax.set_yticks([])
            colour, width = (SELECTED_COLOUR, 3) if i in selected else ("lightgray", 1)
            for spine in ax.spines.values():
                spine.set_color(colour)
                spine.set_linewidth(width)
            score = scores[name][i] if name in scores else None
            ax.set_title(f"{i * d:g}-{(i + 1) * d:g} s" + (f"  {score:{fmt}}" if score is not None else ""), fontsize=8)
            if j == 0:
                ax.set_ylabel(f"{name}: top 3" if name in scores else "selected", fontsize=8)
            elif j == 3 and name in scores:
                ax.set_ylabel("bottom 3", fontsize=8)

    fig.suptitle(_title(record, true_labels(record, truth)) + "".join(f"\n{x}" for x in notes), fontsize=10, ha="left", x=0.01)
    with atomic_path(out) as tmp:
        fig.savefig(tmp, dpi=90, metadata={"Title": record["video"], "Description": _truth_description(truth)})
    return out


def _score_format(scores: list) -> str:
    """A format that tells a video's scores apart: enough decimals for their spread (an AC
    sampler's scores can all lie within 0.001 of each other)."""
    values = [v for v in scores if v is not None]
    spread = max(values) - min(values) if values else 0.0
    decimals = 3 if spread <= 0 else min(8, max(2, 2 - math.floor(math.log10(spread))))
    return f".{decimals}f"


def true_labels(record: dict, truth: dict | None = None) -> list[str]:
    """The video's true labels, the main one first: the record's (``labels`` when the manifest gives
    several, else ``label``), else the ground truth's; [] when neither has one."""
    for source in (record, truth or {}):
        if source.get("labels"):
            return list(source["labels"])
        if source.get("label") is not None:
            return [source["label"]]
    return []


def _verdict(record: dict, labels: list[str]) -> str:
    """``"label: x (correct)"``, ``"labels: x, y (wrong)"``: right when the top class is one of ``labels``."""
    top = record["top5"][0]["label"] if record.get("top5") else None
    return f"label{'s' if len(labels) > 1 else ''}: {', '.join(labels)}" + (" (correct)" if top in labels else " (wrong)")


def _title(record: dict, labels: list[str] | None = None) -> str:
    """The picture's title; ``labels``: the video's true labels (:func:`true_labels`)."""
    top = record["top5"][0] if record.get("top5") else None
    line = f"{record['video']}   predicted: {top['label']} ({top['prob']:.0%})" if top else record["video"]
    if labels:
        line += f"   {_verdict(record, labels)}"
    seconds = sum(record.get("seconds", {}).values())
    return line + (f"\nstrategy {record.get('strategy', '?')}, K={record.get('k', '?')}: {record['clips_decoded']} of "
                   f"{record['num_clips']} clips classified, {seconds:.2f} s")


def draw_video_safely(record: dict, path: str | os.PathLike, report: str | os.PathLike,
                      truth: dict | None = None) -> Path | None:
    """:func:`draw_video` into ``report/<figure_name>``; a picture that cannot be drawn is logged,
    never a reason to stop a batch (the prediction is already saved)."""
    out = Path(report) / figure_name(record["video"])
    try:
        return draw_video(record, path, out, truth)
    except (ScsamplerError, OSError, ValueError, RuntimeError, KeyError, IndexError) as err:
        log.warning("%s: no report picture: %s", record["video"], " ".join(str(err).split()))
        log.debug("report picture failed", exc_info=True)
        return None


def write_report(rows: list[tuple[dict, str | os.PathLike]], report: str | os.PathLike,
                 ground_truth: GroundTruth | None = None) -> Path:
    """Draw the missing pictures of ``rows`` (record, video path), with each video's ground truth
    when ``ground_truth`` has it, and write ``report/index.html``."""
    report = Path(report)
    report.mkdir(parents=True, exist_ok=True)
    for record, path in rows:
        if "error" not in record and not (report / figure_name(record["video"])).exists():
            draw_video_safely(record, path, report, ground_truth.find(path) if ground_truth is not None else None)
    page = report / "index.html"
    atomic_write_text(page, index_html(rows, report))
    return page


def _href(target: str | os.PathLike, base: Path) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(target), os.path.abspath(base))
    except ValueError:  # another drive (Windows)
        return Path(os.path.abspath(target)).as_uri()
    return quote(Path(rel).as_posix())


def index_html(rows: list[tuple[dict, str | os.PathLike]], report: Path) -> str:
    """The page: a summary, a table of contents, then per video its prediction and picture."""
    e = html.escape
    ok = [r for r, _ in rows if "error" not in r]
    labelled = [r for r in ok if true_labels(r) and r.get("top5")]
    correct = sum(r["top5"][0]["label"] in true_labels(r) for r in labelled)
    settings = next(iter(ok), {})
    head = f"{len(rows)} videos, {len(rows) - len(ok)} failed"
    if settings:
        head += f"; strategy {e(str(settings.get('strategy')))}, K={e(str(settings.get('k')))}"
    if labelled:
        head += f"; top-1 correct on {correct} of {len(labelled)} labelled videos"
    toc, sections = [], []
    for n, (record, path) in enumerate(rows):
        anchor = f"v{n}"
        name = e(record["video"])
        video_link = f'<a href="{e(_href(path, report))}">video file</a>'
        if "error" in record:
            toc.append(f'<li><a href="#{anchor}">{name}</a>: <span class="bad">failed</span></li>')
            sections.append(f'<section id="{anchor}"><h2>{name}</h2><p class="bad">{e(record["error"])}</p><p>{video_link}</p></section>')
            continue
        top = record["top5"][0] if record["top5"] else {"label": "?", "prob": 0.0}
        verdict = ""
        labels = true_labels(record)
        if labels:
            good = top["label"] in labels
            verdict = f' <span class="{"good" if good else "bad"}">label{"s" if len(labels) > 1 else ""} {e(", ".join(labels))}</span>'
        toc.append(f'<li><a href="#{anchor}">{name}</a>: {e(top["label"])} ({top["prob"]:.0%}){verdict}</li>')
        preds = "".join(
            f'<tr><td>{e(p["label"])}</td><td class="num">{p["prob"]:.1%}</td>'
            f'<td><div class="bar" style="width:{100 * p["prob"]:.0f}px"></div></td></tr>'
            for p in record["top5"]
        )
        notes = ([f"fallback: {record['fallback']}"] if record.get("fallback") else []) + list(record.get("notes", []))
        picture = figure_name(record["video"])
        img = (f'<a href="{e(quote(picture))}"><img src="{e(quote(picture))}" alt="saliency timeline of {name}"></a>'
               if (report / picture).exists() else '<p class="bad">no picture (see the log)</p>')
        sections.append(
            f'<section id="{anchor}"><h2>{name}</h2>'
            f'<p>{video_link} &middot; {record["clips_decoded"]} of {record["num_clips"]} clips classified{verdict}</p>'
            f'<table>{preds}</table>'
            + "".join(f'<p class="note">{e(x)}</p>' for x in notes)
            + f"{img}</section>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>scsampler predict</title>
<style>
body {{ font-family: sans-serif; max-width: 1100px; margin: 1em auto; padding: 0 1em; }}
section {{ border-top: 1px solid #ccc; padding-top: .5em; margin-top: 1.5em; }}
h2 {{ font-size: 1.1em; word-break: break-all; }}
img {{ max-width: 100%; }}
td.num {{ text-align: right; padding: 0 .6em; }}
.bar {{ height: .8em; background: #e8a33d; }}
.good {{ color: #2a7a2a; }} .bad {{ color: #b22; }} .note {{ color: #555; font-size: .9em; }}
</style></head><body>
<h1>scsampler predict</h1>
<p>{head}</p>
<ul>{"".join(toc)}</ul>
{"".join(sections)}
</body></html>
"""


__all__ = ["GroundTruth", "draw_video", "draw_video_safely", "figure_name", "index_html", "read_segments", "segment_spans",
           "thumbnail_clips", "true_labels", "write_report"]
