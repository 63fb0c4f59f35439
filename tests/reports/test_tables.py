from scsampler.reports.tables import replace_block


def test_replace_block_keeps_the_hand_written_text(tmp_path):
    doc = tmp_path / "doc.md"
    replace_block(doc, "t", "first", "## Table")
    doc.write_text("intro\n" + doc.read_text() + "outro\n")
    replace_block(doc, "t", "second", "## Table")
    text = doc.read_text()
    assert text.startswith("intro\n") and text.endswith("outro\n")
    assert "second" in text and "first" not in text and text.count("<!-- t:begin -->") == 1


def _results(with_arch=True):
    def row(strategy, k, top1, cheap=0.0, stride=None):
        return {"strategy": strategy, "k": k, "top1": top1, "cheap_gflops_per_video": cheap, "stride": stride}

    def timed(strategy, total, share=None, stride=1, clips=10.0):
        return {"strategy": strategy, "k": None if strategy == "dense" else 10, "stride": stride, "total_seconds_per_video": total,
                "cheap_share": share, "clips_decoded_per_video": clips}

    timing = [timed("dense", 100.0, clips=100.0), timed("audio", 10.0, 0.05), timed("visual", 14.0, 0.2),
              timed("visual", 11.0, 0.08, stride=4)]
    results = {"mean_clips_per_video": 100.0, "classifier": {"name": "small", "gflops_per_clip": 4.0},
               "config": {"k_primes": [8]}, "timing": timing, "timing_arch": None,
               "rows": [row("dense", None, 0.5), row("uniform", 10, 0.4), row("oracle", 10, 0.8),
                        row("audio", 10, 0.62, cheap=2.0, stride=1), row("visual", 10, 0.53, cheap=200.0, stride=1),
                        row("visual", 10, 0.7, cheap=50.0, stride=4), row("audio", 5, 0.9, cheap=2.0, stride=1)]}
    if with_arch:
        results["timing_arch"] = {"classifier": {"name": "big", "gflops_per_clip": 80.0}, "timing": timing}
    return results


def test_targets_table_checks_each_sampler_against_every_target():
    from scsampler.reports.tables import targets_table

    text = targets_table(_results(), k=10)
    assert "timed with big (80.0 GFLOPs per clip), a speed-up of at least 8.0x" in text
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines() if line.startswith("| ") and "top-1" not in line}
    assert set(rows) == {"audio", "visual", "visual stride 4"}          # K=5 and the baselines are not rows
    # audio: +12 points, 55% of the gap, 10x, 5%, 2 / 100 / 80 = 0.03% of the big classifier's FLOPs
    assert rows["audio"] == "| audio | 62.0 | +12.0 | 55% | 10.0x | 5.0 | 0.03 | none |"
    assert rows["visual"].endswith("| accuracy, gap, speed, cheap share, FLOPs |")
    assert rows["visual stride 4"].endswith("| none |")
    # without the user-size timing, the small classifier's timing and FLOPs are the yardstick
    small = targets_table(_results(with_arch=False), k=10)
    assert "timed with small" in small and "| audio | 62.0 | +12.0 | 55% | 10.0x | 5.0 | 0.50 | none |" in small


def test_targets_table_says_what_it_lacks():
    from scsampler.reports.tables import targets_table

    results = _results()
    results["rows"] = [r for r in results["rows"] if r["strategy"] != "oracle"]
    assert targets_table(results, k=10).startswith("(targets need")


def test_the_accuracy_table_has_an_map_column_when_the_run_has_it():
    from scsampler.reports.tables import accuracy_table

    def row(strategy, k, top1, **extra):
        return {"strategy": strategy, "k": k, "top1": top1, "top5": 1.0, "clips_per_video": 2.0,
                "classifier_gflops_per_video": 1.0, "salient_fraction_of_chosen": 0.5, **extra}

    old = accuracy_table({"rows": [row("dense", None, 0.5), row("uniform", 2, 0.25)]})  # a results.json of before mAP
    assert "mAP" not in old and old.splitlines()[2] == "| dense | all | 50.0 | 100.0 | 2.0 | 1.0 | 50.0 |"
    new = accuracy_table({"rows": [row("dense", None, 0.5, map=0.625), row("uniform", 2, 0.25, map=0.5)]})
    head, rule, dense, uniform = new.splitlines()
    assert head.startswith("| strategy | K | top-1 % | top-5 % | mAP % | clips / video |")
    assert rule.count("|") == head.count("|") and dense == "| dense | all | 50.0 | 100.0 | 62.5 | 2.0 | 1.0 | 50.0 |"


def test_side_by_side_puts_each_run_in_a_column_and_cites_the_paper(tmp_path, capsys):
    import json

    from scsampler.reports.tables import main

    def row(strategy, k, top1, **extra):
        return {"strategy": strategy, "k": k, "top1": top1, **extra}

    a = {"test_videos": 72, "rows": [row("dense", None, 0.5), row("uniform", 10, 0.25), row("uniform", 8, 0.125),
                                     row("ltl", 10, 0.75, stride=5), row("random", 10, 0.5, top1_std_over_trials=0.03)]}
    b = {"test_videos": 70, "rows": [row("dense", None, 0.625), row("uniform", 10, 0.375)]}
    (tmp_path / "a.json").write_text(json.dumps(a))
    (tmp_path / "b.json").write_text(json.dumps(b))
    main([str(tmp_path / "a.json"), "--name", "trimmed", "--beside", f"tuned={tmp_path / 'b.json'}", "--k", "10",
          "--paper", "uniform=64.8", "--paper", "ltl stride 5=70.3", "--paper-title", "ActivityNet"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "| strategy | trimmed top-1 % | tuned top-1 % | ActivityNet |"
    assert lines[2] == "| dense | 50.0 | 62.5 |  |"
    assert lines[3] == "| uniform | 25.0 | 37.5 | 64.8 |"                 # K=10 only: the K=8 row is left out
    assert lines[4] == "| ltl stride 5 | 75.0 |  | 70.3 |" and lines[5] == "| random | 50.0 ± 3.0 |  |  |"
    assert "trimmed 72, tuned 70" in lines[-1]
    assert not (tmp_path / "results.md").exists()                       # a comparison writes no run's report
