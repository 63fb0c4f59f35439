"""benchmarks/fuzz_ingest.py: a short run of each pass, and the comparison of the scoring pass with
the cache pass (the suite's own fuzzing is tests/features/test_ingest_fuzz.py)."""


def test_a_short_run_of_the_scoring_pass_compared_with_the_cache_pass(benchmark_script, tmp_path):
    fuzz = benchmark_script("fuzz_ingest")
    results = fuzz.run(30, seed=3, limit=30.0, keep=tmp_path / "keep", pass_="scoring", compare=True)
    assert results["pass"] == "scoring" and results["compared_with_cache_pass"]
    assert sum(sum(c.values()) for c in results["counts"].values()) == 30
    assert results["bugs"] == [] and results["differ_from_cache_pass"] == []
    assert "scoring pass" in fuzz.table(results) and "Outcome other than the cache pass's: 0 files." in fuzz.table(results)
    plain = fuzz.run(5, seed=3, limit=30.0, keep=tmp_path / "keep", pass_="cache")
    assert "compared_with_cache_pass" not in plain and "cache pass" in fuzz.table(plain)
