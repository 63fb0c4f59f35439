"""benchmarks/compare_runs.py: one row per run, one column per strategy, at one K."""


def rows(**top1):
    out = [{"strategy": s, "k": None if s == "dense" else 10, "top1": v} for s, v in top1.items()]
    out.append({"strategy": "uniform", "k": 5, "top1": 0.99})          # another K: never shown
    out.append({"strategy": "visual", "k": 10, "top1": 0.99, "stride": 4})  # another stride: never shown
    return {"rows": out}


def test_columns_follow_the_runs_and_the_filter(benchmark_script):
    m = benchmark_script("compare_runs")
    runs = [("a", rows(dense=0.5, uniform=0.4, oracle=0.65, visual=0.6)), ("b", rows(dense=0.72, oracle=0.85, empirical=0.3))]
    lines = m.table(runs, 10).splitlines()
    assert lines[0] == "| run | uniform (K=10) | empirical (K=10) | dense | oracle (K=10) | visual (K=10) | oracle - dense |"
    assert lines[2] == "| a | 40.0 |  | 50.0 | 65.0 | 60.0 | +15.0 |"
    assert lines[3] == "| b |  | 30.0 | 72.0 | 85.0 |  | +13.0 |"
    only = m.table(runs, 10, ["dense", "oracle"]).splitlines()
    assert only[0] == "| run | dense | oracle (K=10) | oracle - dense |"
    assert only[3] == "| b | 72.0 | 85.0 | +13.0 |"


def test_same_compares_the_shared_rows_field_by_field(benchmark_script):
    m = benchmark_script("compare_runs")
    old = rows(dense=0.5, uniform=0.4)
    new = rows(dense=0.5, uniform=0.4, oracle=0.7)                  # a strategy the old code lacks: not compared
    assert m.differences(old, new) == (4, [])
    new["rows"][1]["top1"] = 0.41
    new["rows"][0]["map"] = 0.3                                     # a field only the new code writes: not compared
    shared, lines = m.differences(old, new)
    assert shared == 4 and lines == ["('uniform', 10, 1, None): top1 0.4 -> 0.41"]


def test_timing_puts_the_runs_side_by_side(benchmark_script):
    m = benchmark_script("compare_runs")
    def run(dense_s, frames):
        return {"timing": [{"strategy": "dense", "stride": 1, "total_seconds_per_video": dense_s, "frames_decoded_per_video": frames,
                            "clips_decoded_per_video": 99.5},
                           {"strategy": "visual", "stride": 4, "total_seconds_per_video": 9.0, "frames_decoded_per_video": 1.0,
                            "clips_decoded_per_video": 1.0}]}
    lines = m.timing_table([("new", run(4.1, 1590)), ("old", run(4.3, 1590))]).splitlines()
    assert lines[0] == "| strategy | new s / video | old s / video | frames decoded / video | clips decoded / video |"
    assert lines[2:] == ["| dense | 4.100 | 4.300 | 1590.0 / 1590.0 | 99.5 / 99.5 |"]   # stride 4: not shown
    arch = m.timing_table([("new", {"timing_arch": run(9.0, 300)}), ("old", {"timing_arch": run(17.0, 300)})], arch=True)
    assert arch.splitlines()[2] == "| dense | 9.000 | 17.000 | 300.0 / 300.0 | 99.5 / 99.5 |"
