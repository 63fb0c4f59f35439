"""`scsampler import`: exit 0 with a report line, missing files listed; exit 2 with one line on bad input."""

import json
import shutil

import pytest
from conftest import blob_frames

from scsampler.cli import import_data
from scsampler.cli.main import main
from scsampler.data import importers
from scsampler.data.manifest import read_manifest
from scsampler.io.writer import write_video


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    path = tmp_path_factory.mktemp("clip") / "clip.mp4"
    write_video(path, blob_frames(16, h=64, w=96), fps=16)
    return path


def anet(path, database):
    path.write_text(json.dumps({"version": "VERSION 1.3", "taxonomy": [], "database": database}))
    return str(path)


def video(subset, duration, *annotations):
    return {"subset": subset, "duration": duration, "annotations": [{"segment": [a, b], "label": c} for a, b, c in annotations]}


def test_formats_match_the_library():
    assert import_data.FORMATS == importers.FORMATS


def test_import_activitynet(tmp_path, clip, capsys):
    videos = tmp_path / "videos"
    videos.mkdir()
    for name in ("v_abc.mp4", "v_def.mp4"):
        shutil.copy(clip, videos / name)
    (videos / "v_bad.mp4").write_bytes(b"")
    path = anet(tmp_path / "anet.json", {
        "abc": video("training", 100.0, (3, 9, "Long jump")),
        "def": video("validation", 50.0, (1, 4, "Javelin throw")),
        "ghi": video("validation", 50.0, (1, 4, "Javelin throw")),
        "bad": video("validation", 50.0, (1, 4, "Long jump")),
        "tst": video("testing", 50.0),
    })
    out = tmp_path / "out"
    rc = main(["import", "activitynet", path, "--videos", str(videos), "--out", str(out), "--pattern", "v_{id}.*",
               "--val-as-test", "--no-progress"])
    captured = capsys.readouterr()
    assert rc == 0
    assert captured.out.startswith("import: 2 videos imported (test 1, train 1), 1 missing, 1 unreadable, "
                                   "1 without labels left out")
    assert "missing: ghi: no file matches v_ghi.*" in captured.err
    assert "unreadable: bad: " in captured.err and "empty file (0 bytes)" in captured.err
    assert [e.label for e in read_manifest(out / "manifest.csv", split="test")] == ["Javelin throw"]
    assert (out / "missing.txt").read_text().count("\n") == 2
    segments = json.loads((out / "segments.json").read_text())
    assert [s["kind"] for v in segments.values() for s in v["segments"]] == ["salient", "salient"]


def test_import_folder(tmp_path, clip, capsys):
    for name in ("jump/a.mp4", "run/b.mp4", "run/c.mp4"):
        (tmp_path / "root" / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(clip, tmp_path / "root" / name)
    rc = main(["import", "folder", str(tmp_path / "root"), "--out", str(tmp_path / "out"), "--no-probe"])
    assert rc == 0
    assert capsys.readouterr().out.startswith("import: 3 videos imported (test 3), 0 missing, 0 unreadable; 2 classes")


@pytest.mark.parametrize("args,message", [
    (["activitynet", "{anet}", "--videos", "{videos}"],
     "anet.json: database.abc.annotations[0]: segment [12, 250] ends past the video's duration 200 s"),
    (["activitynet", "{anet}"], "activitynet: needs the folder of videos (--videos)"),
    (["activitynet", "{anet}", "--videos", "{videos}", "--pattern", "{vid}.mp4"], "--pattern '{vid}.mp4': unknown field {vid}"),
    (["kinetics", "{tmp}/nope.csv", "--videos", "{videos}"], "nope.csv: annotation file not found"),
    (["folder", "{tmp}/nope"], "nope: not a folder"),
])
def test_bad_input_is_exit_2_and_one_line(tmp_path, capsys, args, message):
    (tmp_path / "videos").mkdir()
    names = {"anet": anet(tmp_path / "anet.json", {"abc": video("training", 200.0, (12.0, 250.0, "Long jump"))}),
             "videos": str(tmp_path / "videos"), "tmp": str(tmp_path)}
    rc = main(["import", *[a.format(**names) if a != "{vid}.mp4" else a for a in args], "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and err.startswith("scsampler import: error: ") and message in err
    assert not (tmp_path / "out" / "manifest.csv").exists()
