import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scsampler.selectors import fit_position_prior, get_strategy, list_strategies, select_topk, select_uniform

L = st.integers(1, 400)
K = st.integers(-3, 500)


def call(name, n, k, seed=0):
    g = torch.Generator().manual_seed(seed)
    scores = torch.linspace(0, 1, n).flip(0) if n else None
    prior = torch.tensor([0.1, 0.5, 0.2, 0.2])
    return get_strategy(name)(n, k, scores=scores, generator=g, prior=prior)


@pytest.mark.parametrize("name", ["topk", "oracle", "random", "uniform", "front", "center", "end", "empirical"])
@settings(max_examples=60, deadline=None)
@given(n=L, k=K)
def test_length_uniqueness_range(name, n, k):
    out = call(name, n, k)
    assert out.dtype == torch.int64 and out.dim() == 1
    assert len(out) == max(1, min(k, n))
    assert len(set(out.tolist())) == len(out)
    assert 0 <= int(out.min()) and int(out.max()) < n


@pytest.mark.parametrize("name", ["topk", "front", "empirical"])
@settings(max_examples=40, deadline=None)
@given(n=L, k=st.integers(1, 399))
def test_ranking_strategies_are_monotone_in_k(name, n, k):
    small, big = call(name, n, k), call(name, n, k + 1)
    assert set(small.tolist()) <= set(big.tolist())


@settings(max_examples=80, deadline=None)
@given(scores=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=200), k=st.integers(1, 50))
def test_topk_picks_the_highest_scores_best_first(scores, k):
    s = torch.tensor(scores, dtype=torch.float64)
    out = select_topk(len(scores), k, scores=s)
    chosen = s[out]
    rest = torch.ones(len(scores), dtype=torch.bool)
    rest[out] = False
    assert torch.all(chosen[:-1] >= chosen[1:])  # best first
    if rest.any():
        assert chosen.min() >= s[rest].max()


def test_exact_answers_on_hand_made_scores():
    s = torch.tensor([0.1, 0.9, 0.3, 0.9, 0.5])
    assert select_topk(5, 3, scores=s).tolist() == [1, 3, 4]  # tie -> earlier clip first
    assert get_strategy("oracle")(5, 2, scores=s).tolist() == [1, 3]
    assert get_strategy("dense")(5, 2).tolist() == [0, 1, 2, 3, 4]
    assert get_strategy("front")(10, 3).tolist() == [0, 1, 2]
    assert get_strategy("end")(10, 3).tolist() == [7, 8, 9]
    assert get_strategy("center")(10, 4).tolist() == [3, 4, 5, 6]


@settings(max_examples=80, deadline=None)
@given(n=st.integers(2, 500), k=st.integers(2, 500))
def test_uniform_includes_first_and_last_clip_evenly(n, k):
    out = select_uniform(n, k)
    assert out[0] == 0 and out[-1] == n - 1
    gaps = (out[1:] - out[:-1]).tolist()
    assert min(gaps) >= 1 and max(gaps) - min(gaps) <= 1


def test_uniform_exact():
    assert select_uniform(10, 4).tolist() == [0, 3, 6, 9]
    assert select_uniform(3, 10).tolist() == [0, 1, 2]


def test_random_is_reproducible_and_varies_with_seed():
    a, b, c = call("random", 100, 10, 1), call("random", 100, 10, 1), call("random", 100, 10, 2)
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert a.tolist() == sorted(a.tolist())


def test_empirical_follows_the_prior():
    # Training oracles always chose clips in the last fifth of the videos.
    prior = fit_position_prior([(50, torch.arange(40, 50)), (100, torch.arange(85, 95))], bins=10)
    assert prior.sum().item() == pytest.approx(1.0)
    assert prior[8:].sum() == pytest.approx(1.0)
    out = get_strategy("empirical")(30, 5, prior=prior)
    assert all(i >= 24 for i in out.tolist())


def test_unknown_strategy_and_bad_input():
    with pytest.raises(KeyError, match="unknown selection strategy"):
        get_strategy("nope")
    with pytest.raises(ValueError):
        select_topk(3, 1, scores=torch.zeros(4))
    with pytest.raises(ValueError):
        select_uniform(0, 3)
    assert {"random", "uniform", "empirical", "front", "center", "end", "dense", "oracle"} <= set(list_strategies())
