"""benchmarks/ray_throughput.py: the table it generates from its JSON file, and the comparison with the
local records (the timing itself is not a test: it runs on a quiet machine)."""

import json
import math

import pytest


@pytest.fixture(scope="module")
def throughput(benchmark_script):
    return benchmark_script("ray_throughput")


def _run(config: str, wall: float, videos: int = 72, failed: int = 0, diff: float | None = None) -> dict:
    row = {"config": config, "command": [], "wall_seconds": wall, "videos": videos, "failed": failed,
           "videos_per_minute": 60 * videos / wall, "load_start": 0.5, "load_end": 1.25,
           "seconds_per_video": {"cheap_stage": 0.75, "classifier_stage": 1.15}, "results": "x.jsonl"}
    if diff is not None:
        row["max_difference_from_local"] = diff
    return row


RESULTS = {"data": "/tmp/small", "cpus": 2, "gpus": 0, "torch_threads": 2, "date": "2026-01-01", "machine": "x86_64",
           "runs": [_run("local", 209.9), _run("1,1", 111.9, diff=3e-8), _run("2,2", 137.3, failed=1, diff=0.0),
                    _run("1,2", 144.0, diff=math.inf)]}


def test_table_has_a_row_per_run_from_the_json(throughput):
    table = throughput.table(RESULTS)
    assert "| local | one process, torch on 2 threads | 209.9 | 72 | 20.6 | 0.5 / 1.2 | 0.75 / 1.15 |  |" in table
    assert "| ray | 1 + 1 | 111.9 | 72 | 38.6 | 0.5 / 1.2 | 0.75 / 1.15 | equal to 3e-08 |" in table
    assert "| ray | 2 + 2 (4 processes on 2 cores) | 137.3 | 72 (1 failed) | 31.5 |" in table and "| equal |" in table
    assert "| ray | 1 + 2 (3 processes on 2 cores) |" in table and table.count("| differ |") == 1
    assert "Machine: 2 cores, no GPU, x86_64" in table


def test_render_only_puts_the_command_and_table_between_the_markers(throughput, tmp_path):
    out, doc = tmp_path / "r.json", tmp_path / "doc.md"
    out.write_text(json.dumps(RESULTS))
    doc.write_text("# B\n\nbefore\n<!-- ray-throughput:begin -->\nold\n<!-- ray-throughput:end -->\nafter\n")
    throughput.main(["--render-only", "--out", str(out), "--doc", str(doc)])
    text = doc.read_text()
    block = text.split("<!-- ray-throughput:begin -->\n")[1].split("<!-- ray-throughput:end -->")[0]
    assert block.startswith(f"```sh\npython benchmarks/ray_throughput.py --data /tmp/small --out {out}\n```\n\n| engine |")
    assert "old" not in text and text.startswith("# B\n\nbefore\n") and text.endswith("-->\nafter\n")


def test_records_are_compared_with_the_local_ones_timings_aside(throughput):
    a = {"video": "v", "seconds": {"cheap": 1.0}, "top5": [{"label": "x", "prob": 0.5}], "k": 10}
    assert throughput.distance(a, {**a, "seconds": {"cheap": 9.0}}) == 0.0
    assert throughput.distance(a, {**a, "top5": [{"label": "x", "prob": 0.5 + 1e-8}]}) == pytest.approx(1e-8)
    assert throughput.distance(a, {**a, "top5": [{"label": "y", "prob": 0.5}]}) == math.inf
    assert throughput.distance(a, {**a, "k": 3}) == math.inf
