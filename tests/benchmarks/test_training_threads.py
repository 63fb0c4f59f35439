"""benchmarks/training_threads.py: the same training on the same thread count repeats bit for bit,
and the script says so (a tiny network, one epoch)."""

import json


def test_the_run_on_the_first_thread_count_again_is_identical(benchmark_script, tmp_path):
    script = benchmark_script("training_threads")
    out = tmp_path / "threads.json"
    assert script.main(["--model", "classifier_tiny", "--epochs", "1", "--threads", "1,2", "--out", str(out)]) == 0
    rows = json.loads(out.read_text())["rows"]
    assert [(r["threads"], r["against_threads"]) for r in rows] == [(2, 1), (1, 1)]
    assert rows[1]["identical"] and rows[1]["max_abs_difference"] == 0
