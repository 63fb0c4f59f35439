"""Importers of public annotation formats (ActivityNet JSON, Kinetics CSV, Charades CSV, a folder
per class) into our manifest.csv, classes.txt and segments.json, on small files made here."""

import csv
import json
import shutil

import pytest
from conftest import blob_frames

from scsampler.benchmark.metrics import salient_overlap, segment_kinds
from scsampler.data.classes import read_classes
from scsampler.data.importers import (
    FileIndex,
    check_pattern,
    import_dataset,
    parse_activitynet,
    parse_charades,
    parse_kinetics,
    read_charades_classes,
    scan_folder,
)
from scsampler.data.manifest import read_manifest
from scsampler.errors import ConfigError
from scsampler.io.writer import write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """One real 1-second video, copied under every name a test needs."""
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, blob_frames(16, h=64, w=96), fps=16)
    return path


def put(clip, folder, *names):
    for name in names:
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, folder / name)


TAXONOMY = [
    {"nodeId": 0, "nodeName": "Root", "parentId": None, "parentName": None},
    {"nodeId": 1, "nodeName": "Sports", "parentId": 0, "parentName": "Root"},
    {"nodeId": 2, "nodeName": "Household", "parentId": 0, "parentName": "Root"},
    {"nodeId": 3, "nodeName": "Long jump", "parentId": 1, "parentName": "Sports"},
    {"nodeId": 4, "nodeName": "Javelin throw", "parentId": 1, "parentName": "Sports"},
    {"nodeId": 5, "nodeName": "Vacuuming floor", "parentId": 2, "parentName": "Household"},
]


def anet_video(subset, duration, *annotations):
    return {"subset": subset, "duration": duration, "resolution": "640x360", "url": "https://www.youtube.com/watch?v=x",
            "annotations": [{"segment": [a, b], "label": label} for a, b, label in annotations]}


def anet_file(path, database):
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": TAXONOMY, "database": database}))
    return path


@pytest.fixture
def anet(tmp_path, clip):
    videos = tmp_path / "videos"
    videos.mkdir()
    put(clip, videos, "v_abc.mp4", "v_def.mkv", "v_-mn.mp4", "v_zzz.mp4", "sub/v_uvw.mp4")
    (videos / "v_abc.info.json").write_text("{}")       # a sidecar that `v_abc.*` also matches
    (videos / "v_bad.mp4").write_text("not a video\n")  # found, unreadable
    path = anet_file(tmp_path / "anet.json", {
        "abc": anet_video("training", 120.0, (10, 20, "Long jump"), (50, 55.5, "Long jump")),
        "def": anet_video("validation", 60.0, (5, 15, "Javelin throw"), (10, 40, "Vacuuming floor")),
        "-mn": anet_video("validation", 60.0, (30, 60.4, "Javelin throw")),    # 0.4 s past the end: clipped
        "uvw": anet_video("training", 30.0, (0, 30, "Vacuuming floor")),        # in a subfolder
        "ghi": anet_video("training", 90.0, (1, 2, "Long jump")),               # no file
        "bad": anet_video("validation", 60.0, (1, 2, "Long jump")),             # unreadable file
        "jkl": anet_video("testing", 75.0),                                     # no labels
    })
    return path, videos


def test_activitynet_import(anet, tmp_path):
    path, videos = anet
    out = tmp_path / "out"
    summary = import_dataset("activitynet", [path], out=out, videos=videos, pattern="v_{id}.*")
    assert summary.imported == {"train": 2, "val": 2}
    assert [v for v, _ in summary.missing] == ["ghi"] and "v_ghi.*" in summary.missing[0][1]
    assert [v for v, _ in summary.unreadable] == ["bad"] and "v_bad.mp4" in summary.unreadable[0][1]
    assert summary.unlabelled == 1
    assert any("clipped" in n and "-mn" in n for n in summary.notes)

    entries = {e.path.name: e for e in read_manifest(out / "manifest.csv")}
    assert set(entries) == {"v_abc.mp4", "v_def.mkv", "v_-mn.mp4", "v_uvw.mp4"}  # the sidecar lost to the video
    abc, de = entries["v_abc.mp4"], entries["v_def.mkv"]
    assert abc.video_id == "../videos/v_abc.mp4" and abc.path == (videos / "v_abc.mp4").resolve()
    assert (abc.label, abc.split, abc.labels) == ("Long jump", "train", ("Long jump",))
    assert abc.duration_s == pytest.approx(1.0)  # the file's duration (probed), not the annotation's 120 s
    # Two labels: the one covering more time first (vacuuming 30 s, javelin 10 s).
    assert (de.label, de.split, de.labels) == ("Vacuuming floor", "val", ("Vacuuming floor", "Javelin throw"))
    assert read_classes(out / "classes.txt") == ["Javelin throw", "Long jump", "Vacuuming floor"]  # taxonomy leaves
    rows = list(csv.DictReader(open(out / "manifest.csv")))
    assert {r["source_id"] for r in rows} == {"abc", "def", "-mn", "uvw"}

    segments = json.loads((out / "segments.json").read_text())
    assert set(segments) == {e.video_id for e in entries.values()}
    s = segments[abc.video_id]["segments"]
    assert [(x["start_s"], x["end_s"], x["kind"], x["label"]) for x in s] == [
        (10.0, 20.0, "salient", "Long jump"), (50.0, 55.5, "salient", "Long jump")]
    # Overlapping actions are cut into pieces that do not overlap; the annotations stay as given.
    s = segments[de.video_id]["segments"]
    assert [(x["start_s"], x["end_s"], x["labels"]) for x in s] == [
        (5.0, 10.0, ["Javelin throw"]), (10.0, 15.0, ["Vacuuming floor", "Javelin throw"]), (15.0, 40.0, ["Vacuuming floor"])]
    assert len(segments[de.video_id]["annotations"]) == 2
    assert segments[entries["v_-mn.mp4"].video_id]["segments"][0]["end_s"] == 60.0
    # The benchmark's localisation column reads them as they are.
    assert segment_kinds(segments) == ["salient", "none"]
    assert salient_overlap([12, 51, 70, 100], 1.0, segments[abc.video_id]["segments"]) == 0.5

    missing = (out / "missing.txt").read_text().splitlines()
    assert missing[0].startswith("ghi\tno file matches v_ghi.*") and missing[1].startswith("bad\tunreadable: ")
    assert json.loads((out / "import.json").read_text())["imported"] == {"train": 2, "val": 2}


def test_activitynet_validation_as_test_and_no_probe(anet, tmp_path):
    path, videos = anet
    summary = import_dataset("activitynet", [path], out=tmp_path / "out", videos=videos, val_as_test=True, probe_files=False)
    assert summary.imported == {"test": 3, "train": 2}  # unprobed, the unreadable file stays in
    assert summary.unreadable == []
    test = read_manifest(tmp_path / "out" / "manifest.csv", split="test")
    assert sorted(e.path.name for e in test) == ["v_-mn.mp4", "v_bad.mp4", "v_def.mkv"]
    assert {e.duration_s for e in test} == {60.0}  # the annotation's duration when not probed


def test_nothing_found_is_one_line_naming_the_pattern(anet, tmp_path):
    path, videos = anet
    with pytest.raises(ConfigError, match=r"no video of .*anet.json was found under .* --pattern '\{id\}.avi' \(looked for e.g. abc.avi\)"):
        import_dataset("activitynet", [path], out=tmp_path / "out", videos=videos, pattern="{id}.avi")


KINETICS = """label,youtube_id,time_start,time_end,split
riding a bike,aaa,10,20,train
riding a bike,aaa,30,40,train
dancing,bbb,0,10,val
dancing,ccc,5,15,val
"""


def test_kinetics_import(tmp_path, clip):
    videos = tmp_path / "k"
    put(clip, videos, "train/aaa_000010_000020.mp4", "train/aaa_000030_000040.mp4", "val/bbb_000000_000010.mp4")
    (tmp_path / "train.csv").write_text(KINETICS)
    (tmp_path / "test.csv").write_text("youtube_id,time_start,time_end,split\nddd,0,10,test\n")  # labels withheld
    summary = import_dataset("kinetics", [tmp_path / "train.csv", tmp_path / "test.csv"], out=tmp_path / "out", videos=videos)
    assert summary.imported == {"train": 2, "val": 1} and summary.unlabelled == 1
    assert summary.missing == [("ccc_000005_000015", "no file matches ccc_000005_000015.*")]
    assert summary.segments is None and not (tmp_path / "out" / "segments.json").exists()  # trimmed clips: no segments
    entries = read_manifest(tmp_path / "out" / "manifest.csv")
    assert [(e.video_id, e.label, e.split) for e in entries] == [
        ("../k/train/aaa_000010_000020.mp4", "riding a bike", "train"),
        ("../k/train/aaa_000030_000040.mp4", "riding a bike", "train"),
        ("../k/val/bbb_000000_000010.mp4", "dancing", "val")]
    assert "labels" not in open(tmp_path / "out" / "manifest.csv").readline()  # one label a video: no labels column
    assert read_classes(tmp_path / "out" / "classes.txt") == ["dancing", "riding a bike"]
    # A pattern with a folder is matched from --videos; {split} and {label} are the annotation's.
    summary = import_dataset("kinetics", [tmp_path / "train.csv"], out=tmp_path / "out2", videos=videos,
                             pattern="{split}/{id}_{start:06d}_{end:06d}.mp4", probe_files=False)
    assert summary.total == 3


CHARADES_HEADER = "id,subject,scene,quality,relevance,verified,script,objects,descriptions,actions,length\n"
CHARADES_CLASSES = "c000 Holding some clothes\nc001 Putting clothes somewhere\nc002 Taking a laptop from somewhere\n"


def charades_row(vid, actions, length):
    return f'{vid},S1,Bedroom,6,7,Yes,"A person, holding clothes.",clothes;bed,"They hold clothes, then put them away.",{actions},{length}\n'


def test_charades_import(tmp_path, clip):
    videos = tmp_path / "Charades_v1_480"
    put(clip, videos, "46GP8.mp4", "N11GT.mp4", "TST01.mp4")
    (tmp_path / "classes.txt").write_text(CHARADES_CLASSES)
    train = tmp_path / "Charades_v1_train.csv"
    train.write_text(CHARADES_HEADER + charades_row("46GP8", "c001 11.90 21.20;c000 0.00 12.60", 24.83)
                     + charades_row("N11GT", "", 30.0) + charades_row("XYZ12", "c002 1.0 5.0", 20.0))
    test = tmp_path / "Charades_v1_test.csv"
    test.write_text(CHARADES_HEADER + charades_row("TST01", "c002 0.0 3.0;c002 2.5 4.0", 10.0))
    summary = import_dataset("charades", [train, test], out=tmp_path / "out", videos=videos, classes=tmp_path / "classes.txt")
    assert summary.imported == {"test": 1, "train": 1}  # the split from each file's name
    assert summary.unlabelled == 1 and [v for v, _ in summary.missing] == ["XYZ12"]
    entries = {e.path.stem: e for e in read_manifest(tmp_path / "out" / "manifest.csv")}
    assert entries["46GP8"].labels == ("Holding some clothes", "Putting clothes somewhere")  # 12.6 s before 9.3 s
    assert entries["TST01"].labels == ("Taking a laptop from somewhere",)
    assert read_classes(tmp_path / "out" / "classes.txt") == [
        "Holding some clothes", "Putting clothes somewhere", "Taking a laptop from somewhere"]
    segments = json.loads((tmp_path / "out" / "segments.json").read_text())
    pieces = segments[entries["46GP8"].video_id]["segments"]
    assert [(p["start_s"], p["end_s"], len(p["labels"])) for p in pieces] == [(0.0, 11.9, 1), (11.9, 12.6, 2), (12.6, 21.2, 1)]
    # Two overlapping instances of one action are one salient piece.
    assert [(p["start_s"], p["end_s"]) for p in segments[entries["TST01"].video_id]["segments"]] == [(0.0, 4.0)]
    # Without the class file the labels are the class ids.
    ann = parse_charades(train)
    assert ann.videos[0].labels == ("c000", "c001") and ann.classes == ["c000", "c001", "c002"]


def test_folder_per_class(tmp_path, clip):
    root = tmp_path / "mine"
    put(clip, root, "jump/a.mp4", "jump/deeper/b.mp4", "run/c.MOV", "run/d.mp4", "loose.mp4")
    (root / "run" / "notes.txt").write_text("not a video")
    (root / "run" / "broken.mp4").write_text("not a video")
    summary = import_dataset("folder", [root], out=tmp_path / "out")
    assert summary.imported == {"test": 4} and [v for v, _ in summary.unreadable] == ["run/broken.mp4"]
    assert any("outside any class folder" in n for n in summary.notes)
    entries = read_manifest(tmp_path / "out" / "manifest.csv")
    assert sorted((e.path.relative_to(root).as_posix(), e.label) for e in entries) == [
        ("jump/a.mp4", "jump"), ("jump/deeper/b.mp4", "jump"), ("run/c.MOV", "run"), ("run/d.mp4", "run")]
    assert read_classes(tmp_path / "out" / "classes.txt") == ["jump", "run"]

    ann = scan_folder(root, test_fraction=0.5, seed=3)
    per_class = {label: sorted(v.split for v in ann.videos if v.label == label) for label in ("jump", "run")}
    assert per_class == {"jump": ["test", "train"], "run": ["test", "test", "train"]}  # round(0.5 x 3) = 2
    assert ann == scan_folder(root, test_fraction=0.5, seed=3)  # the draw is seeded

    split_root = tmp_path / "by_split"
    put(clip, split_root, "train/jump/a.mp4", "test/run/b.mp4", "val/run/c.mp4")
    ann = scan_folder(split_root)
    assert sorted((v.video_id, v.split, v.label) for v in ann.videos) == [
        ("test/run/b.mp4", "test", "run"), ("train/jump/a.mp4", "train", "jump"), ("val/run/c.mp4", "val", "run")]
    with pytest.raises(ConfigError, match="unknown label 'run'"):
        scan_folder(root, classes=["jump"])


def test_file_index_and_patterns(tmp_path):
    for name in ("a/v_x.mp4", "v_x.json", "v_xy.mp4", "b/c/v_[1].webm"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    index = FileIndex(tmp_path)
    assert index.match("v_x.*") == ["a/v_x.mp4", "v_x.json"]  # no '/': a name at any depth, videos first
    assert index.match("a/v_x.*") == ["a/v_x.mp4"] and index.match("*/v_x.mp4") == ["a/v_x.mp4"]
    assert index.match("v_xy.mp4") == ["v_xy.mp4"] and index.match("v_q.*") == []
    assert index.match("b/*/v_[[]1].*") == ["b/c/v_[1].webm"]  # an id's glob characters are escaped
    assert check_pattern("./v_{id}.*", "activitynet") == "v_{id}.*"
    with pytest.raises(ConfigError, match=r"unknown field \{start\}"):
        check_pattern("{id}_{start}.mp4", "activitynet")
    with pytest.raises(ConfigError, match=r"needs \{id\}"):
        check_pattern("{label}.mp4", "charades")


def test_two_videos_on_one_file_is_an_error(tmp_path, clip):
    put(clip, tmp_path / "v", "aaa.mp4")
    (tmp_path / "k.csv").write_text(KINETICS)
    with pytest.raises(ConfigError, match=r"k.csv:3 \(aaa\): its file aaa.mp4 is also that of line 2 \(aaa\); make --pattern '\{id\}.\*' tighter"):
        import_dataset("kinetics", [tmp_path / "k.csv"], out=tmp_path / "out", videos=tmp_path / "v", pattern="{id}.*")


# -- bad annotation files: one line naming the file and the entry -----------------------------------
def _anet(tmp_path, entry=None, raw=None):
    path = tmp_path / "anet.json"
    if raw is not None:
        path.write_text(raw)
        return path
    return anet_file(path, {"abc": entry})


BAD_ANET = [
    (anet_video("training", "long", (1, 2, "Long jump")), r"anet.json: database.abc: duration 'long' is not a number"),
    (anet_video("training", 200.0, (12.0, 250.0, "Long jump")),
     r"anet.json: database.abc.annotations\[0\]: segment \[12, 250\] ends past the video's duration 200 s"),
    (anet_video("training", 200.0, (30, 20, "Long jump")), r"database.abc.annotations\[0\]: segment \[30, 20\] ends before it starts"),
    (anet_video("training", 200.0, (-5, 20, "Long jump")), r"database.abc.annotations\[0\]: segment \[-5, 20\] starts before the video"),
    (anet_video("training", 200.0, (1, 2, "Juggling")), r"database.abc.annotations\[0\]: unknown label 'Juggling'"),
    (anet_video("training", 200.0, (1, 2, 7)), r"database.abc.annotations\[0\]: label 7 is not a non-empty string"),
    (anet_video("train-ish", 200.0), r"database.abc: split 'train-ish' is not one of"),
    ({"subset": "training", "duration": 10.0, "annotations": [{"segment": 3, "label": "Long jump"}]},
     r"database.abc.annotations\[0\]: segment 3 is not a list \[start, end\]"),
    ({"subset": "training", "duration": 10.0, "annotations": [{"segment": ["1", True], "label": "Long jump"}]},
     r"database.abc.annotations\[0\]: segment time True is not a number"),
    ({"subset": "training", "duration": 10.0, "annotations": {"label": "Long jump"}}, r"database.abc: annotations is not a list"),
    ([1, 2], r"database.abc: not an object"),
]


@pytest.mark.parametrize("entry,message", BAD_ANET)
def test_bad_activitynet_entries(tmp_path, entry, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_activitynet(_anet(tmp_path, entry))
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("raw,message", [
    ('{"database": {"abc": {"subset": "training", "duration": 5, "annotations": []}, '
     '"abc": {"subset": "validation", "duration": 5, "annotations": []}}}', r"anet.json: database.abc: the video id appears twice"),
    ('{"database": {"abc": {"subset": "training", "subset": "testing", "duration": 5}}}', r"database.abc: key 'subset' appears twice"),
    ('{"database": {"abc": ', r"anet.json: not valid JSON \(line 1 column"),
    ('{"videos": {}}', r"anet.json: not an ActivityNet file"),
])
def test_bad_activitynet_files(tmp_path, raw, message):
    with pytest.raises(ConfigError, match=message) as err:
        parse_activitynet(_anet(tmp_path, raw=raw))
    assert "\n" not in str(err.value)


def test_a_video_in_two_activitynet_files_and_skip_bad(tmp_path, clip):
    a = anet_file(tmp_path / "a.json", {"abc": anet_video("training", 10.0, (1, 2, "Long jump"))})
    b = anet_file(tmp_path / "b.json", {"abc": anet_video("validation", 10.0, (1, 2, "Long jump")),
                                        "bad": anet_video("validation", 10.0, (1, 99, "Long jump"))})
    put(clip, tmp_path / "v", "v_abc.mp4", "v_bad.mp4")
    with pytest.raises(ConfigError, match=r"b.json: database.abc: duplicate of .*a.json: database.abc"):
        import_dataset("activitynet", [a, b], out=tmp_path / "out", videos=tmp_path / "v", skip_bad=True)
    with pytest.raises(ConfigError, match=r"b.json: database.bad.annotations\[0\]: segment \[1, 99\] ends past"):
        import_dataset("activitynet", [b], out=tmp_path / "out", videos=tmp_path / "v")
    summary = import_dataset("activitynet", [b], out=tmp_path / "out", videos=tmp_path / "v", skip_bad=True)
    assert summary.total == 1 and len(summary.skipped) == 1 and "database.bad" in summary.skipped[0]


@pytest.mark.parametrize("text,message,kwargs", [
    ("label,youtube_id,time_start,time_end,split\nx,aaa,ten,20,train\n", r"k.csv:2 \(aaa\): time_start 'ten' is not a number", {}),
    ("label,youtube_id,time_start,time_end,split\nx,aaa,10,20,train\ny,aaa,10,20,val\n",
     r"k.csv:3 \(aaa\): duplicate of line 2 \(aaa\) \(video id 'aaa_000010_000020' appears twice\)", {}),
    ("label,youtube_id,time_start,time_end,split\nx,aaa,10,20,train\n", r"k.csv:2 \(aaa\): unknown label 'x'", {"classes": ["y"]}),
    ("label,youtube_id,time_start,time_end,split\nx,aaa,20,10,train\n", r"k.csv:2 \(aaa\): clip \[20, 10\] is empty", {}),
    ("label,youtube_id,time_start,time_end,split\nx,aaa,10,20,dev\n", r"k.csv:2 \(aaa\): split 'dev' is not one of", {}),
    ("label,video,time_start,time_end,split\nx,aaa,10,20,train\n", r"k.csv: no column 'youtube_id' in the header row", {}),
    ("label,youtube_id,time_start,time_end\nx,aaa,10,20\n", r"k.csv: no split column and its name does not say", {}),
])
def test_bad_kinetics_files(tmp_path, text, message, kwargs):
    (tmp_path / "k.csv").write_text(text)
    with pytest.raises(ConfigError, match=message) as err:
        parse_kinetics(tmp_path / "k.csv", **kwargs)
    assert "\n" not in str(err.value)


@pytest.mark.parametrize("rows,message", [
    ([("46GP8", "c000 1.0 40.0", 24.8)],
     r"Charades_v1_train.csv:2 \(46GP8\): action 1: segment \[1, 40\] ends past the video's duration 24.8 s"),
    ([("46GP8", "c000 1.0 2.0;c999 1.0 2.0", 24.8)], r"Charades_v1_train.csv:2 \(46GP8\): action 2: unknown class 'c999'"),
    ([("46GP8", "c000 1.0", 24.8)], r"Charades_v1_train.csv:2 \(46GP8\): action 1 'c000 1.0' is not 'class start end'"),
    ([("46GP8", "c000 x 2.0", 24.8)], r"\(46GP8\): action 1: time 'x' is not a number"),
    ([("46GP8", "", "n/a")], r"Charades_v1_train.csv:2 \(46GP8\): length 'n/a' is not a number"),
    ([("46GP8", "", 10), ("46GP8", "", 12)], r"Charades_v1_train.csv:3 \(46GP8\): duplicate of line 2 \(46GP8\)"),
])
def test_bad_charades_files(tmp_path, rows, message):
    (tmp_path / "classes.txt").write_text(CHARADES_CLASSES)
    path = tmp_path / "Charades_v1_train.csv"
    path.write_text(CHARADES_HEADER + "".join(charades_row(*r) for r in rows))
    with pytest.raises(ConfigError, match=message) as err:
        import_dataset("charades", [path], out=tmp_path / "out", videos=tmp_path, classes=tmp_path / "classes.txt")
    assert "\n" not in str(err.value)


def test_charades_class_file_and_tolerance(tmp_path):
    (tmp_path / "c.txt").write_text("c000 Holding some clothes\nc001\n")
    with pytest.raises(ConfigError, match=r"c.txt:2: expected 'cNNN class name'"):
        read_charades_classes(tmp_path / "c.txt")
    path = tmp_path / "Charades_v1_test.csv"
    path.write_text(CHARADES_HEADER + charades_row("46GP8", "c000 1.0 26.0", 24.8))
    with pytest.raises(ConfigError, match="ends past"):
        parse_charades(path)
    ann = parse_charades(path, tolerance_s=2.0)  # 1.2 s past the end: clipped, with a note
    assert ann.videos[0].segments[0].end_s == 24.8 and ann.videos[0].split == "test" and "clipped" in ann.notes[0]


def test_manifest_labels_column(tmp_path):
    m = tmp_path / "manifest.csv"
    m.write_text("path,label,split,duration_s,labels\na.mp4,x,test,,y;x;z\nb.mp4,w,test,,\nc.mp4,,test,,\n")
    a, b, c = read_manifest(m)
    assert (a.label, a.labels) == ("x", ("x", "y", "z"))  # label first
    assert (b.labels, c.labels) == (("w",), ())
    m.write_text("path,label\nd.mp4,v\n")  # a manifest of before: labels is (label,)
    assert read_manifest(m)[0].labels == ("v",)


def test_import_refusals(tmp_path, clip):
    (tmp_path / "v").mkdir()
    (tmp_path / "v" / "aaa_000010_000020.mp4").write_text("not a video")
    (tmp_path / "k.csv").write_text(KINETICS)
    with pytest.raises(ConfigError, match=r"none of the 1 video files found could be read \(e.g. .*aaa_000010_000020.mp4: "):
        import_dataset("kinetics", [tmp_path / "k.csv"], out=tmp_path / "out", videos=tmp_path / "v")
    with pytest.raises(ConfigError, match="has a split column; a split can be given only for files without one"):
        import_dataset("kinetics", [tmp_path / "k.csv"], out=tmp_path / "out", videos=tmp_path / "v", split="train")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "segments.json").write_text("{}")
    with pytest.raises(ConfigError, match=r"segments.json: left by another dataset \(kinetics has no segments\)"):
        import_dataset("kinetics", [tmp_path / "k.csv"], out=tmp_path / "out", videos=tmp_path / "v", probe_files=False)
    with pytest.raises(ConfigError, match="--videos is for annotation files"):
        import_dataset("folder", [tmp_path], out=tmp_path / "out2", videos=tmp_path / "v")
