"""The demo's comparison table and sentences follow the numbers of the results they are given."""

from scsampler.reports.summary import comparison_table, rows_at, what_it_shows


def row(strategy, k, top1, *, cheap=0.0, visible=None, stride=1, **extra):
    r = {"strategy": strategy, "k": k, "top1": top1, "top5": 1.0, "clips_per_video": 10.0 if k else 40.0,
         "classifier_gflops_per_video": 0.3 if k else 1.2, "cheap_gflops_per_video": cheap, "stride": stride,
         "salient_fraction_of_chosen": visible}
    if visible is not None:
        r["chosen_by_kind"] = {"salient": visible * 0.75, "masked": visible * 0.25, "none": 1 - visible}
    return {**r, **extra}


def timed(strategy, k, seconds):
    return {"strategy": strategy, "k": k, "stride": 1, "total_seconds_per_video": seconds}


def results(visual=0.6, audio=0.3):
    return {
        "classifier": {"name": "classifier_tiny", "gflops_per_clip": 0.03, "transform": {"frames": 4, "crop": [48, 48]}},
        "test_videos": 24, "mean_clips_per_video": 40.0,
        "rows": [row("random", 10, 0.4, top1_std_over_trials=0.05), row("uniform", 10, 0.3), row("dense", None, 0.35, visible=0.2),
                 row("oracle", 10, 0.9), row("visual", 10, visual, cheap=2.0, visible=0.7), row("visual", 10, 0.1, stride=4),
                 row("audio", 10, audio, cheap=1.0, visible=0.4), row("visual", 5, 0.99)],
        "timing": [timed("dense", None, 4.0), timed("visual", 10, 2.0)],
        "timing_arch": {"classifier": {"name": "r2plus1d_18", "transform": {"frames": 16, "crop": [112, 112]}},
                        "timing": [timed("dense", None, 40.0), timed("visual", 10, 5.0)]},
    }


def test_rows_at_keeps_one_row_per_strategy_at_k_and_stride_1():
    rows = rows_at(results(), 10)
    assert [r["strategy"] for r in rows] == ["random", "uniform", "dense", "oracle", "visual", "audio"]
    assert next(r for r in rows if r["strategy"] == "visual")["top1"] == 0.6


def test_the_table_has_both_speed_ups_and_blank_cells_for_what_was_not_timed():
    lines = comparison_table(results(), k=10).splitlines()
    assert "r2plus1d_18 16x112x112" in lines[0]
    visual = next(line for line in lines if line.startswith("| visual |"))
    cells = [c.strip() for c in visual.strip("|").split("|")]
    assert cells[2] == "60.0" and cells[3] == "2.3"          # top-1; 0.3 classifier + 2.0 sampler GFLOPs
    assert cells[4] == "70.0"                                   # salient + masked share of the picks
    assert cells[5:] == ["2.00", "2.0x", "5.00", "8.0x"]
    audio = next(line for line in lines if line.startswith("| audio |"))
    assert audio.rstrip().endswith("|  |  |  |  |")


def test_the_sentences_follow_the_numbers():
    text = " ".join(what_it_shows(results(), k=10, num_classes=6))
    assert "right on 35.0% of the 24 test videos (chance 16.7%)" in text
    assert "55.0 points above dense" in text
    assert "The best selector at K = 10 is visual, at 60.0%, +25.0 points against dense" in text
    assert "closes 50% of the gap" in text
    assert "Not better than dense here: audio." in text
    assert "already beats dense" in text                      # random 40% > dense 35%
    assert "in 20.0% of all clips; in 70.0% of the clips visual chose" in text
    assert "8.0x faster than dense" in text and "2.0x faster than dense" in text


def test_when_every_selector_loses_the_sentences_say_so():
    text = " ".join(what_it_shows(results(visual=0.2, audio=0.1), k=10))
    assert "The best selector at K = 10 is visual, at 20.0%, -15.0 points against dense" in text
    assert "Not better than dense here: visual, audio." in text
    assert "Every selector beats dense" not in text


def test_a_selectors_own_recognition_is_not_called_the_best_selector():
    r = results()
    r["rows"].append(row("ltl own", 10, 0.95, cheap=1.0, own="ltl"))   # classifies no clip: not a choice of clips
    text = " ".join(what_it_shows(r, k=10))
    assert "The best selector at K = 10 is visual, at 60.0%" in text and "ltl own" not in text


def test_a_selector_slower_than_dense_is_called_slower():
    r = results()
    r["timing"] = [timed("dense", None, 1.0), timed("visual", 10, 2.5)]
    text = " ".join(what_it_shows(r, k=10))
    assert "takes 2.50 s per video, 2.5x as long as dense" in text and "0.4x faster" not in text


def test_the_tables_command_writes_the_summary_into_the_docs(tmp_path, capsys):
    import json

    from scsampler.reports.tables import main

    path = tmp_path / "results.json"
    path.write_text(json.dumps(results()))
    doc = tmp_path / "doc.md"
    main([str(path), "--summary", "--classes", "6", "--docs", str(doc), "--tag", "demo"])
    text = doc.read_text()
    assert "<!-- demo:begin -->" in text and "| visual | 10 | 60.0 |" in text and "(chance 16.7%)" in text
    assert not (tmp_path / "results.md").exists()      # the summary does not rewrite the run's own report
