"""`scsampler predict --report DIR --segments JSON`: the ground truth drawn as a band under each
video's timeline (segments coloured by kind), never stored in the results file; a bad segments file
is one error line."""

import json
import shutil
from pathlib import Path

import pytest
import torch
from PIL import Image

from scsampler.cli.main import main
from scsampler.data.synthetic import KINDS
from scsampler.errors import ConfigError
from scsampler.models import create_model
from scsampler.reports.html import SEGMENT_KINDS, SEGMENT_OTHER, figure_name, read_segments, segment_spans


def described(png: Path) -> str:
    """What the picture says it drew of the ground truth (its PNG ``Description``)."""
    with Image.open(png) as im:
        return im.text["Description"]


def test_segment_spans_cover_the_given_intervals_coloured_by_kind():
    segments = [
        {"start_s": 4.0, "end_s": 6.5, "kind": "salient", "class": "a"},
        {"start_s": 0.5, "end_s": 1.0, "kind": "chatter"},  # a kind we do not know: still drawn, in grey
        {"start_s": 1.0, "end_s": 2.25, "kind": "glimpse", "class": "b"},
        {"start_s": 6.5, "end_s": 8.0, "kind": "masked", "class": "a"},
        {"start_s": 9.0, "end_s": 12.0, "kind": "salient", "class": "a"},
        {"start_s": 2.5, "end_s": 3.0, "kind": "sound_only", "class": "c"},
    ]
    spans = segment_spans(segments)
    assert [k for k, _, _ in spans] == ["salient", "masked", "glimpse", "sound_only", "chatter"]  # legend order, unknown last
    assert {k: bars for k, _, bars in spans} == {
        "salient": [(4.0, 2.5), (9.0, 3.0)], "masked": [(6.5, 1.5)], "glimpse": [(1.0, 1.25)],
        "sound_only": [(2.5, 0.5)], "chatter": [(0.5, 0.5)],
    }
    colours = {k: c for k, c, _ in spans}
    assert colours["chatter"] == SEGMENT_OTHER
    assert all(colours[k] == SEGMENT_KINDS[k][0] for k in KINDS)
    assert len({SEGMENT_KINDS[k][0] for k in KINDS} | {SEGMENT_OTHER}) == len(KINDS) + 1  # told apart
    assert set(SEGMENT_KINDS) == set(KINDS)  # every kind the generator writes has its colour and legend entry
    assert segment_spans([]) == []


@pytest.fixture
def own_classifier(tiny_data, tmp_path) -> list[str]:
    """Flags of an untrained classifier of tiny_data's classes: no training needed to draw pictures."""
    classes = (tiny_data / "classes.txt").read_text().split()
    torch.save(create_model("classifier_tiny", num_classes=len(classes)).state_dict(), tmp_path / "clf.pth")
    return ["--classifier-arch", "classifier_tiny", "--classifier-weights", str(tmp_path / "clf.pth"),
            "--classes", str(tiny_data / "classes.txt"), "--frames", "4", "--resize", "32x40", "--crop", "32"]


def test_predict_draws_the_ground_truth_of_the_videos_it_has(tiny_data, own_classifier, tmp_path, capsys):
    truth = json.loads((tiny_data / "segments.json").read_text())
    moved = tmp_path / "elsewhere" / "test_00001.mp4"  # not at its path: found by its (unique) file name
    moved.parent.mkdir()
    shutil.copy(tiny_data / "videos" / "test_00001.mp4", moved)
    stranger = tmp_path / "stranger.mp4"  # in no entry: no band
    shutil.copy(tiny_data / "videos" / "test_00002.mp4", stranger)
    videos = [str(tiny_data / "videos" / "test_00000.mp4"), str(moved), str(stranger)]
    out, rep = tmp_path / "r.jsonl", tmp_path / "report"
    args = ["predict", *videos, *own_classifier, "--strategy", "uniform", "--k", "2", "--out", str(out), "--report", str(rep)]
    assert main([*args, "--segments", str(tiny_data / "segments.json")]) == 0, capsys.readouterr().err

    def expected(key):
        entry = truth[key]
        kinds = {}
        for s in entry["segments"]:
            kinds[s["kind"]] = kinds.get(s["kind"], 0) + 1
        return (f"ground truth: label {entry['label']}, {len(entry['segments'])} segments ("
                + ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) + ")")

    pictures = [rep / figure_name(v) for v in videos]
    assert described(pictures[0]) == expected("videos/test_00000.mp4")
    assert described(pictures[1]) == expected("videos/test_00001.mp4")
    assert described(pictures[2]) == "ground truth: none"
    # The truth is drawn only: the lines are those of a run without it (no label for video files given directly).
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(records) == 3 and all("label" not in r and "segments" not in r for r in records)
    assert all(set(r) == set(records[0]) for r in records)

    # A picture lost since is drawn again by a rerun, with the truth when given, without it from the results file alone.
    pictures[0].unlink()
    assert main([*args, "--segments", str(tiny_data / "segments.json")]) == 0
    assert described(pictures[0]) == expected("videos/test_00000.mp4")
    pictures[0].unlink()
    assert main(args) == 0
    assert described(pictures[0]) == "ground truth: none"
    assert (rep / "index.html").exists()


def test_the_ray_engine_is_given_the_truth_to_draw(tiny_data, own_classifier, tmp_path, monkeypatch):
    from scsampler.runners import local, ray

    def predict_ray(entries, classifier, selector, out, *, report, ground_truth, address, workers, device, **common):
        assert report is not None and ground_truth is not None  # the Ray runner draws with the truth itself
        return local.predict_many(entries, classifier, selector, out, report=report, ground_truth=ground_truth, **common)

    monkeypatch.setattr(ray, "import_ray", lambda: None)
    monkeypatch.setattr(ray, "predict_ray", predict_ray)
    video = str(tiny_data / "videos" / "test_00000.mp4")
    rep = tmp_path / "report"
    assert main(["predict", video, *own_classifier, "--strategy", "uniform", "--k", "2", "--out", str(tmp_path / "r.jsonl"),
                 "--report", str(rep), "--segments", str(tiny_data / "segments.json"), "--engine", "ray"]) == 0
    assert described(rep / figure_name(video)).startswith("ground truth: label ")
    assert (rep / "index.html").exists()


@pytest.mark.parametrize(
    "content, cause",
    [
        ('{"videos/a.mp4": {"segments": [', "not valid JSON (Expecting value: line 1 column 32)"),
        (b"\xff\xfe{", "not valid JSON"),
        ("[1, 2]", "not a segments file: a JSON object by video path expected, got a list"),
        ('{"videos/a.mp4": {"label": "x"}}', "not a segments file: videos/a.mp4: no list of segments"),
        ('{"videos/a.mp4": {"segments": {}}}', "not a segments file: videos/a.mp4: segments is an object, not a list"),
        ('{"a.mp4": {"segments": [{"start_s": "0", "end_s": 1, "kind": "salient"}]}}',
         "not a segments file: a.mp4: segment 0: start_s is a string, not a number of seconds"),
        ('{"a.mp4": {"segments": [{"start_s": 0, "end_s": 1}]}}', "not a segments file: a.mp4: segment 0: kind is missing, not a string"),
        ('{"a.mp4": {"segments": [{"start_s": 2, "end_s": 1, "kind": "salient"}]}}',
         "not a segments file: a.mp4: segment 0: ends (1 s) before it starts (2 s)"),
        ('{"a.mp4": {"label": 3, "segments": []}}', "not a segments file: a.mp4: label is a number, not a string"),
        (None, "no such file"),
    ],
)
def test_a_bad_segments_file_is_one_error_line(tmp_path, capsys, content, cause):
    seg = tmp_path / "segments.json"
    if content is not None:
        seg.write_bytes(content if isinstance(content, bytes) else content.encode())
    # Read before the classifier is loaded: a wrong file fails at once (here the classifier would fail too).
    code = main(["predict", "v.mp4", "--classifier", str(tmp_path), "--strategy", "uniform", "--out", str(tmp_path / "r.jsonl"),
                 "--report", str(tmp_path / "rep"), "--segments", str(seg)])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"scsampler predict: error: {seg}: {cause}") and err.count("\n") == 1 and "Traceback" not in err
    with pytest.raises(ConfigError, match="^" + str(seg)):
        read_segments(seg)


def test_segments_without_a_report(tmp_path, capsys):
    assert main(["predict", "v.mp4", "--strategy", "uniform", "--out", str(tmp_path / "r.jsonl"), "--segments", "s.json"]) == 2
    assert "--segments applies to --report only" in capsys.readouterr().err


def test_an_entry_is_found_by_its_resolved_path_else_by_a_unique_file_name(tmp_path):
    (tmp_path / "data" / "videos").mkdir(parents=True)
    entries = {k: {"label": k, "segments": []} for k in ("videos/a.mp4", "videos/b.mp4", "other/b.mp4")}
    (tmp_path / "data" / "segments.json").write_text(json.dumps(entries))
    truth = read_segments(tmp_path / "data" / "segments.json")
    assert truth.find(tmp_path / "data" / "videos" / ".." / "videos" / "a.mp4") == entries["videos/a.mp4"]
    assert truth.find(tmp_path / "data" / "other" / "b.mp4") == entries["other/b.mp4"]
    assert truth.find(tmp_path / "copy" / "a.mp4") == entries["videos/a.mp4"]  # the only a.mp4
    assert truth.find(tmp_path / "copy" / "b.mp4") is None  # two b.mp4: which one is unknown
    assert truth.find(tmp_path / "c.mp4") is None


def test_a_video_with_several_labels_is_right_when_its_top_class_is_any_of_them(tmp_path):
    from scsampler.reports.html import _title, index_html, true_labels

    def record(video, top, **truth):
        return {"video": video, "top5": [{"label": top, "prob": 0.6}], "clips_decoded": 2, "num_clips": 5, **truth}

    two = record("two.mp4", "jump", label="run", labels=["run", "jump"])
    one = record("one.mp4", "jump", label="run")
    assert true_labels(two) == ["run", "jump"] and true_labels(one) == ["run"]
    assert true_labels(record("x.mp4", "jump"), {"label": "swim", "labels": ["swim", "jump"]}) == ["swim", "jump"]
    assert "labels: run, jump (correct)" in _title(two, true_labels(two))
    assert "label: run (wrong)" in _title(one, true_labels(one))  # one label: as before
    page = index_html([(two, tmp_path / "two.mp4"), (one, tmp_path / "one.mp4")], tmp_path)
    assert "top-1 correct on 1 of 2 labelled videos" in page
    assert '<span class="good">labels run, jump</span>' in page and '<span class="bad">label run</span>' in page
