"""``scsampler import``: a public dataset's annotations, or a folder per class, into our manifest.csv,
classes.txt and segments.json (``docs/data-formats.md``)."""

from __future__ import annotations

import sys

# The library is imported inside run(): `scsampler --help` stays light. Its FORMATS is checked
# against this list by the tests.
FORMATS = ("activitynet", "kinetics", "charades", "folder")
SHOWN = 20  # missing or unreadable videos printed on the terminal; missing.txt has them all


def add_parser(sub) -> None:
    p = sub.add_parser(
        "import",
        help="import ActivityNet JSON, Kinetics CSV, Charades CSV or a folder per class as manifest.csv + segments.json",
        description="Read a dataset's annotation files, find each video's file under --videos by --pattern, check "
        "that it opens, and write manifest.csv, classes.txt, segments.json (labelled segments, for formats that "
        "have them), missing.txt and import.json into --out. Missing or unreadable files are listed, not fatal; "
        "a bad annotation entry stops the import with one line naming it (or, with --skip-bad, is left out).",
    )
    p.add_argument("format", choices=FORMATS, help="annotation format: activitynet (v1.3 JSON), kinetics (CSV: "
                   "label,youtube_id,time_start,time_end,split), charades (Charades_v1_*.csv), folder (ROOT/<class>/<videos>)")
    p.add_argument("sources", nargs="+", metavar="ANNOTATIONS",
                   help="annotation files (several are merged: e.g. Kinetics' train.csv and val.csv); for folder, the ROOT folder")
    p.add_argument("--out", required=True, metavar="DIR", help="output folder for manifest.csv and the rest (created if missing)")
    p.add_argument("--videos", metavar="DIR", help="folder holding the video files (searched recursively); not for folder")
    p.add_argument("--pattern", metavar="GLOB",
                   help="a video's file under --videos, with {id} (also {label}, {split}; kinetics: {start}, {end}) and "
                   "glob wildcards: without a '/' a file name at any depth, e.g. 'v_{id}.*', with one a path from --videos, "
                   "e.g. '{split}/{label}/{id}_{start:06d}_{end:06d}.mp4'. "
                   "Default: activitynet 'v_{id}.*', kinetics '{id}_{start:06d}_{end:06d}.*', charades '{id}.*'. "
                   "For folder: a glob of file names (default: common video extensions)")
    p.add_argument("--classes", metavar="FILE",
                   help="the class list: labels outside it are errors, and classes.txt keeps its order (one name a "
                   "line; for charades Charades_v1_classes.txt, whose names become the labels). Default: activitynet's "
                   "taxonomy leaves, else the labels found, sorted")
    p.add_argument("--split", help="split of every video, for files without a split column (charades, a kinetics file "
                   "without one: default from the file's name) and for folder (default test)")
    p.add_argument("--test-fraction", type=float, metavar="F",
                   help="folder only: put this share of each class's videos in test and the rest in train")
    p.add_argument("--seed", type=int, default=0, help="seed of --test-fraction's draw (default 0)")
    p.add_argument("--val-as-test", action="store_true",
                   help="write the validation videos as split test, the one the benchmark scores (ActivityNet's and "
                   "Kinetics' test labels are withheld; papers report on validation)")
    p.add_argument("--tolerance", type=float, default=1.0, metavar="S",
                   help="a segment may end up to S seconds past the video's stated duration and is clipped to it; "
                   "further is an error (default 1.0)")
    p.add_argument("--skip-bad", action="store_true",
                   help="leave out bad annotation entries (listed in import.json) instead of stopping at the first")
    p.add_argument("--no-probe", action="store_true",
                   help="do not open each file to check it has a video stream (faster; duration_s is then the annotation's)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar while probing")
    p.set_defaults(func=run)


def _listed(title: str, items: list[tuple[str, str]]) -> None:
    for vid, why in items[:SHOWN]:
        print(f"{title}: {vid}: {why}", file=sys.stderr)
    if len(items) > SHOWN:
        print(f"{title}: ... and {len(items) - SHOWN} more", file=sys.stderr)


def run(args) -> int:
    from scsampler.data.importers import import_dataset

    summary = import_dataset(
        args.format, args.sources, out=args.out, videos=args.videos, pattern=args.pattern, classes=args.classes,
        split=args.split, test_fraction=args.test_fraction, seed=args.seed, val_as_test=args.val_as_test,
        probe_files=not args.no_probe, tolerance_s=args.tolerance, skip_bad=args.skip_bad,
        progress=not args.no_progress and sys.stderr.isatty(),
    )
    _listed("missing", summary.missing)
    _listed("unreadable", summary.unreadable)
    for line in summary.skipped[:SHOWN]:
        print(f"skipped: {line}", file=sys.stderr)
    splits = ", ".join(f"{s} {n}" for s, n in summary.imported.items())
    extra = []
    if summary.unlabelled:
        extra.append(f"{summary.unlabelled} without labels left out")
    if summary.skipped:
        extra.append(f"{len(summary.skipped)} bad entries skipped")
    if summary.notes:
        extra.append(f"{len(summary.notes)} notes in import.json")
    print(f"import: {summary.total} videos imported ({splits}), {len(summary.missing)} missing, "
          f"{len(summary.unreadable)} unreadable" + "".join(f", {e}" for e in extra)
          + f"; {summary.classes} classes; {summary.manifest}"
          + (f" (see {summary.manifest.parent / 'missing.txt'})" if summary.missing or summary.unreadable else ""))
    if "test" not in summary.imported and "val" in summary.imported:
        print("import: no test videos; --val-as-test makes the validation videos the benchmark's test split", file=sys.stderr)
    return 0
