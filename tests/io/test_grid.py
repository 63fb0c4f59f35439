from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.io.grid import ClipGrid


def test_default_grid_is_one_second_clips():
    grid = ClipGrid()
    assert grid.clip_duration == 1
    clips = grid.clips("v", Fraction(20))
    assert len(clips) == 20  # exactly 20, not 19: Fraction arithmetic
    assert clips[3].start == 3 and clips[3].end == 4 and clips[3].index == 3


# No deadline: 1 frame at 48 fps over 600 s is 28,800 clips of exact fractions, 0.1-0.3 s on a loaded machine.
@settings(deadline=None)
@given(
    frames=st.integers(1, 64),
    fps=st.integers(1, 60),
    duration=st.fractions(min_value=0, max_value=600),
)
def test_grid_tiles_without_gaps_or_overlap(frames, fps, duration):
    grid = ClipGrid(frames, fps)
    clips = grid.clips("v", duration)
    assert len(clips) == int(duration / grid.clip_duration)
    for a, b in zip(clips, clips[1:]):
        assert a.end == b.start
    if clips:
        assert clips[0].start == 0
        assert clips[-1].end <= duration < clips[-1].end + grid.clip_duration
        mid = (clips[-1].start + clips[-1].end) / 2
        assert grid.index_of(mid) == clips[-1].index


def test_sample_times_are_evenly_spaced_inside_the_clip():
    grid = ClipGrid(16, 16)
    clip = grid.clip("v", 2)
    times = grid.sample_times(clip, 8)
    assert times[0] == 2 and all(t < 3 for t in times)
    assert {b - a for a, b in zip(times, times[1:])} == {Fraction(1, 8)}


def test_bad_grid_is_refused():
    with pytest.raises(ValueError):
        ClipGrid(0, 16)
