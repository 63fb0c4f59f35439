"""`scsampler predict` as a user runs it: results lines, resuming a killed batch, bad input, the report."""

import html
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from scsampler.cli.main import main
from scsampler.reports.html import figure_name
from scsampler.models import create_model


def lines(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def stderr_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.strip()]


def test_one_line_per_video_with_both_samplers_and_a_rerun_skips(tiny_data, tiny_classifier, tiny_samplers, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    args = ["predict", str(tiny_data / "manifest.csv"), "--split", "test", "--classifier", str(tiny_classifier),
            "--sampler", str(tiny_samplers["visual"]), "--audio-sampler", str(tiny_samplers["audio"]), "--k", "4", "--out", str(out)]
    assert main(args) == 0
    records = lines(out)
    assert sorted(r["video"] for r in records) == ["videos/test_00000.mp4", "videos/test_00001.mp4", "videos/test_00002.mp4"]
    for r in records:
        assert r["strategy"] == "av-union-list" and r["k"] == 4 and r["label"] in {"move_right", "move_left", "circle_cw"}
        assert len(r["selected"]) == 4 == r["clips_decoded"]
        assert len({c["index"] for c in r["selected"]}) == 4
        assert set(r["scores"]) == {"visual", "audio"} and all(len(s) == r["num_clips"] for s in r["scores"].values())
        assert all(set(c["scores"]) == {"visual", "audio"} for c in r["selected"])
        assert len(r["top5"]) == 3 and abs(sum(p["prob"] for p in r["top5"]) - 1) < 1e-4
    assert "3 done, 0 already in" in capsys.readouterr().err
    before = out.read_bytes()
    assert main(args) == 0
    assert out.read_bytes() == before  # nothing appended, nothing rewritten
    assert "0 done, 3 already in" in capsys.readouterr().err


def test_a_killed_batch_resumes_with_every_video_once(tiny_data, tiny_classifier, tiny_samplers, tmp_path, capsys):
    out = tmp_path / "results.jsonl"
    cmd = [sys.executable, "-m", "scsampler", "predict", str(tiny_data / "manifest.csv"), "--classifier", str(tiny_classifier),
           "--sampler", str(tiny_samplers["visual"]), "--k", "3", "--out", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None and (not out.exists() or out.read_bytes().count(b"\n") < 1):
        time.sleep(0.01)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done_before = out.read_bytes().count(b"\n")
    assert 1 <= done_before < 9  # killed in the middle of the batch
    with open(out, "a", encoding="utf-8") as f:
        f.write('{"video": "videos/train_0')  # what a kill in the middle of a write leaves
    assert main(cmd[3:]) == 0  # the same command, rerun in this process (one interpreter start less)
    assert f"{9 - done_before} done, {done_before} already in" in capsys.readouterr().err
    records = lines(out)  # every line parses: the cut one was dropped
    assert sorted(r["video"] for r in records) == sorted({r["video"] for r in records})
    assert len(records) == 9 and all(len(r["selected"]) == 3 for r in records)
    assert not [p for p in tmp_path.rglob(".*") if ".tmp" in p.name]


def own_classifier(tmp_path) -> tuple[list[str], list[str]]:
    """A user's own classifier (untrained ``classifier_tiny`` weights, three classes): its names and predict's options."""
    names = ["jump", "run", "swim"]
    (tmp_path / "classes.txt").write_text("\n".join(names) + "\n")
    torch.save(create_model("classifier_tiny", num_classes=3).state_dict(), tmp_path / "mine.pth")
    return names, ["--classifier-arch", "classifier_tiny", "--classifier-weights", str(tmp_path / "mine.pth"),
                   "--classes", str(tmp_path / "classes.txt"), "--frames", "4", "--resize", "32x40", "--crop", "32"]


def test_a_users_own_classifier_and_a_baseline_report(media, tmp_path, capsys):
    names, own = own_classifier(tmp_path)
    out = tmp_path / "r.jsonl"
    code = main(["predict", str(media["blob_right"]), *own, "--strategy", "uniform", "--k", "2", "--out", str(out), "--report", str(tmp_path / "rep")])
    assert code == 0, capsys.readouterr().err
    (r,) = lines(out)
    assert r["strategy"] == "uniform" and r["scores"] == {} and len({c["index"] for c in r["selected"]}) == 2
    assert {p["label"] for p in r["top5"]} == set(names)
    assert (tmp_path / "rep" / figure_name(str(media["blob_right"]))).read_bytes()[:4] == b"\x89PNG"


def test_decode_processes_give_the_same_scores_and_choice(media, tmp_path, capsys):
    _, own = own_classifier(tmp_path)
    args = ["predict", str(media["idr_gops"]), *own, "--strategy", "motion-energy", "--k", "3"]
    assert main([*args, "--out", str(tmp_path / "one.jsonl")]) == 0
    assert main([*args, "--out", str(tmp_path / "two.jsonl"), "--decode-processes", "2"]) == 0
    (one,), (two,) = lines(tmp_path / "one.jsonl"), lines(tmp_path / "two.jsonl")
    assert one["scores"] == two["scores"] and one["selected"] == two["selected"] and len(one["scores"]["motion-energy"]) == 12
    capsys.readouterr()
    assert main([*args, "--out", str(tmp_path / "r.jsonl"), "--decode-processes", "0"]) == 2
    assert "--decode-processes must be >= 1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--classifier-arch", "classifier_tiny"], "needs --classifier-weights, --classes"),
        (["--classifier", "RUN", "--classifier-arch", "classifier_tiny"], "not both"),
        (["--classifier", "RUN", "--frames", "8"], "--frames applies to --classifier-arch only"),
        ([], "no classifier"),
    ],
)
def test_exactly_one_way_to_name_the_classifier(media, tmp_path, capsys, extra, message):
    extra = [str(tmp_path) if x == "RUN" else x for x in extra]
    assert main(["predict", str(media["blob_right"]), *extra, "--strategy", "uniform", "--out", str(tmp_path / "r.jsonl")]) == 2
    (line,) = stderr_lines(capsys.readouterr().err)
    assert message in line


def test_sampler_flags_are_checked(media, tiny_classifier, tiny_samplers, tmp_path, capsys):
    base = ["predict", str(media["blob_right"]), "--classifier", str(tiny_classifier), "--out", str(tmp_path / "r.jsonl")]
    assert main([*base, "--audio-sampler", str(tiny_samplers["visual"])]) == 2
    assert "is a visual sampler" in capsys.readouterr().err
    assert main([*base, "--sampler", str(tiny_samplers["visual"]), "--strategy", "av-union-list"]) == 2
    assert "needs --audio-sampler" in capsys.readouterr().err
    assert main(base) == 2
    assert "no sampler" in capsys.readouterr().err
    assert main([*base, "--sampler", str(tiny_samplers["audio"])]) == 0  # an audio sampler as --sampler: strategy audio
    assert lines(tmp_path / "r.jsonl")[0]["strategy"] == "audio"
    capsys.readouterr()
    assert main([*base, "--sampler", str(tiny_samplers["audio"]), "--k", "3"]) == 2  # same file, other settings
    (line,) = stderr_lines(capsys.readouterr().err)
    assert "other settings (k 10, now 3" in line


def test_audio_sampler_on_a_video_without_audio(media, tiny_classifier, tiny_samplers, tmp_path):
    base = [sys.executable, "-m", "scsampler", "predict", str(media["pan"]), "--classifier", str(tiny_classifier),
            "--audio-sampler", str(tiny_samplers["audio"]), "--k", "2"]
    proc = subprocess.run([*base, "--out", str(tmp_path / "a.jsonl")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    (line,) = stderr_lines(proc.stderr)
    assert str(media["pan"]) in line and "no audio stream" in line and "Traceback" not in proc.stderr
    assert "no audio stream" in lines(tmp_path / "a.jsonl")[0]["error"]  # recorded as well

    assert main([*base[3:], "--fallback", "uniform", "--out", str(tmp_path / "b.jsonl")]) == 0
    (r,) = lines(tmp_path / "b.jsonl")
    assert r["fallback"].startswith("uniform") and len(r["selected"]) == 2 and r["clips_scored"] == 0


def test_a_video_shorter_than_k_clips_uses_all_of_them_with_a_note(media, tiny_classifier, tmp_path):
    out = tmp_path / "r.jsonl"
    assert main(["predict", str(media["pan"]), "--classifier", str(tiny_classifier), "--strategy", "center", "--k", "10", "--out", str(out)]) == 0
    (r,) = lines(out)
    assert r["num_clips"] == 3 and sorted(c["index"] for c in r["selected"]) == [0, 1, 2]
    assert any("fewer than K=10" in n for n in r["notes"])


def test_batch_failures_are_recorded_and_retried_only_when_asked(media, tiny_classifier, tmp_path, capsys):
    out = tmp_path / "r.jsonl"
    videos = [media["blob_right"], media["empty"], media["directory"], tmp_path / "missing.mp4", media["short"]]
    args = ["predict", *map(str, videos), "--classifier", str(tiny_classifier), "--strategy", "uniform", "--k", "2", "--out", str(out)]
    assert main(args) == 1
    err = capsys.readouterr().err
    assert "1 done, 0 already in" in err and "4 failed" in err and "Traceback" not in err
    records = {r["video"]: r for r in lines(out)}
    assert len(records) == 5 and "error" not in records[str(media["blob_right"])]
    assert "no such file" in records[str(tmp_path / "missing.mp4")]["error"]
    assert "directory" in records[str(media["directory"])]["error"]
    assert "shorter than one clip" in records[str(media["short"])]["error"]
    failures = (tmp_path / "r.jsonl.failures.txt").read_text().splitlines()
    assert len(failures) == 4 and all(any(str(v) in f for v in videos) for f in failures)

    before = out.read_bytes()
    assert main(args) == 1  # recorded failures are not retried...
    assert out.read_bytes() == before
    assert "--retry-failed" in capsys.readouterr().err
    assert main([*args, "--retry-failed"]) == 1  # ...unless asked, and then replaced, not repeated
    err = capsys.readouterr().err
    assert "0 done, 1 already in" in err and "4 failed" in err
    assert sorted(r["video"] for r in lines(out)) == sorted(map(str, videos))


def test_ctrl_c_keeps_what_was_written(media, tiny_classifier, tmp_path, monkeypatch, capsys):
    from scsampler.runners import local as predict

    real, calls = predict.predict_one, []

    def interrupt_on_second(*a, **kw):
        calls.append(a)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*a, **kw)

    monkeypatch.setattr(predict, "predict_one", interrupt_on_second)
    out = tmp_path / "r.jsonl"
    videos = [media["blob_right"], media["pan"], media["mpeg4"]]
    code = main(["predict", *map(str, videos), "--classifier", str(tiny_classifier), "--strategy", "uniform", "--k", "2", "--out", str(out)])
    assert code == 130
    assert [r["video"] for r in lines(out)] == [str(media["blob_right"])]
    assert "interrupted: rerun the same command" in capsys.readouterr().err


def test_report_has_a_picture_per_video_and_an_index(tiny_data, tiny_classifier, tiny_samplers, media, tmp_path):
    odd = tmp_path / "a&b <x>.mp4"  # a name that must be escaped in the page
    shutil.copy(tiny_data / "videos" / "test_00001.mp4", odd)
    good = [str(tiny_data / "videos" / "test_00000.mp4"), str(odd)]
    out, rep = tmp_path / "r.jsonl", tmp_path / "report"
    code = main(["predict", *good, str(media["text"]), "--classifier", str(tiny_classifier), "--sampler", str(tiny_samplers["visual"]),
                 "--k", "3", "--stride", "2", "--out", str(out), "--report", str(rep)])
    assert code == 1  # the text file failed
    pictures = sorted(p.name for p in rep.glob("*.png"))
    assert pictures == sorted(figure_name(v) for v in good)
    assert all((rep / p).read_bytes()[:4] == b"\x89PNG" for p in pictures)
    page = (rep / "index.html").read_text(encoding="utf-8")
    assert "a&amp;b &lt;x&gt;.mp4" in page and "<x>" not in page
    assert page.count("<section") == 3 and html.escape(str(media["text"])) in page
    assert all(f'src="{p}"' in page for p in pictures)
    # A picture lost since (or never drawn) is drawn again by a rerun from the results file.
    (rep / pictures[0]).unlink()
    assert main(["predict", *good, "--classifier", str(tiny_classifier), "--sampler", str(tiny_samplers["visual"]),
                 "--k", "3", "--stride", "2", "--out", str(out), "--report", str(rep)]) == 0
    assert (rep / pictures[0]).exists()


def test_records_of_videos_with_several_labels_carry_them_all(tiny_multilabel_data, tiny_multilabel_classifier, tiny_data,
                                                              tiny_classifier, tmp_path, capsys):
    from scsampler.data.manifest import read_manifest, write_manifest

    test = read_manifest(tiny_multilabel_data / "manifest.csv", split="test")
    rows = [{"path": str(e.path), "label": e.label, "labels": list(e.labels), "split": "test"} for e in test]
    rows.append({"path": str(tmp_path / "gone.mp4"), "label": "circle_cw", "labels": ["circle_cw", "move_left"], "split": "test"})
    write_manifest(tmp_path / "manifest.csv", rows)
    out, rep = tmp_path / "r.jsonl", tmp_path / "report"
    assert main(["predict", str(tmp_path / "manifest.csv"), "--classifier", str(tiny_multilabel_classifier), "--strategy", "uniform",
                 "--k", "2", "--out", str(out), "--report", str(rep)]) == 1  # gone.mp4 failed
    records = {Path(r["video"]).name: r for r in lines(out)}
    for e in test:
        r = records[e.path.name]
        assert r["label"] == e.label and r["labels"] == list(e.labels) and len(r["labels"]) == 2
        assert len(r["top5"]) == 3 and len(r["selected"]) == 2  # the predicted classes as before
    assert records["gone.mp4"]["labels"] == ["circle_cw", "move_left"] and "error" in records["gone.mp4"]
    # The page counts a top class that is any of the video's labels as correct, and lists them all.
    page = (rep / "index.html").read_text(encoding="utf-8")
    ok = [r for r in records.values() if "error" not in r]
    correct = sum(r["top5"][0]["label"] in r["labels"] for r in ok)
    assert f"top-1 correct on {correct} of {len(ok)} labelled videos" in page
    assert all(f"labels {', '.join(r['labels'])}</span>" in page for r in ok)
    # One label a video: the records are as before, no labels field.
    single = tmp_path / "single.jsonl"
    assert main(["predict", str(tiny_data / "manifest.csv"), "--split", "test", "--classifier", str(tiny_classifier),
                 "--strategy", "uniform", "--k", "2", "--out", str(single)]) == 0
    assert [("labels" in r, r["label"] is not None) for r in lines(single)] == [(False, True)] * 3
