import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.selectors import av_convex_list, av_convex_score, av_intersect_list, av_union_list, select_strided, strided

COMBOS = [av_convex_score, av_convex_list, av_intersect_list, av_union_list]


def scores(n, seed, nan_share=0.0):
    g = torch.Generator().manual_seed(seed)
    s = torch.rand(n, generator=g)
    if nan_share:
        s[torch.rand(n, generator=g) < nan_share] = float("nan")
    return s


@pytest.mark.parametrize("combo", COMBOS)
@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 300), k=st.integers(-2, 320), seed=st.integers(0, 10_000), nan_share=st.sampled_from([0.0, 0.3, 1.0]))
def test_k_distinct_clips_in_range(combo, n, k, seed, nan_share):
    out = combo(n, k, visual=scores(n, seed), audio=scores(n, seed + 1, nan_share), k_prime=max(0, k - 2))
    assert out.dtype == torch.int64 and out.dim() == 1
    assert len(out) == max(1, min(k, n))
    assert len(set(out.tolist())) == len(out)
    assert 0 <= int(out.min()) and int(out.max()) < n


def test_union_takes_k_prime_visual_then_best_audio():
    visual = torch.tensor([0.9, 0.8, 0.7, 0.1, 0.0, 0.2])
    audio = torch.tensor([0.9, 0.0, 0.1, 0.8, 0.7, 0.2])
    out = av_union_list(6, 4, visual=visual, audio=audio, k_prime=2)
    assert out.tolist() == [0, 1, 3, 4]  # visual top-2, then the audio's best not yet taken (0 is)


def test_intersection_grows_until_k_clips():
    visual = torch.tensor([6.0, 5, 4, 3, 2, 1])
    audio = torch.tensor([1.0, 2, 6, 5, 4, 3])
    # visual ranks 0..5; audio ranks: clip2=0, clip3=1, clip4=2, clip5=3, clip1=4, clip0=5.
    # m=3: visual top {0,1,2}, audio top {2,3,4} -> {2}; m=4: {0..3} & {2,3,4,5} -> {2, 3}.
    assert av_intersect_list(6, 2, visual=visual, audio=audio).tolist() == [2, 3]


def test_convex_list_interpolates_between_the_two_rankings():
    visual, audio = torch.arange(10.0), torch.arange(10.0).flip(0)
    assert av_convex_list(10, 3, visual=visual, audio=audio, alpha=1.0).tolist() == [9, 8, 7]
    assert av_convex_list(10, 3, visual=visual, audio=audio, alpha=0.0).tolist() == [0, 1, 2]


def test_clips_without_audio_fall_back_to_the_visual_score():
    visual = torch.tensor([0.1, 0.9, 0.5])
    audio = torch.full((3,), float("nan"))
    for combo in COMBOS:
        assert combo(3, 2, visual=visual, audio=audio, k_prime=0).tolist() == [1, 2], combo.__name__


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 500), stride=st.integers(1, 40), k=st.integers(1, 30), seed=st.integers(0, 1000))
def test_stride_scores_only_every_nth_clip(n, stride, k, seed):
    scored = strided(n, stride)
    assert len(scored) == math.ceil(n / stride)
    out = select_strided(n, k, stride, scores(len(scored), seed))
    assert all(i % stride == 0 for i in out.tolist())
    assert len(out) == min(k, len(scored))
