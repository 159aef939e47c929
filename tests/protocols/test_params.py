"""The SecAgg+ parameter finder: its (k, t) meet the stated bounds, checked independently.

The tail probabilities are recomputed with scipy.stats.hypergeom (not the finder's own code),
the disconnection bound with exact binomial ratios; k is checked minimal, t minimal, and the
figures track Google's production finder (k=30, t=17 at n=1000, 5 % / 5 %).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import hypergeom

from protocols.secagg.config import SecAggConfig
from protocols.secagg.params import find_parameters

SEC, CORR = 40, 20


def _bad(rate: float, n: int) -> int:
    return math.ceil(round(rate * n, 9))


def _disconnect_bound(n: int, k: int, removed: int) -> float:
    """n(n-k-1)/2 places for two runs of k removed clients, each run ~ C(B,k)/C(n,k)."""
    if k > removed:
        return 0.0
    ratio = Fraction(math.perm(removed, k), math.perm(n, k))
    return float(Fraction(n * (n - k - 1), 2) * ratio)


def _satisfies(n: int, k: int, t: int, dropout: float, corrupt: float) -> bool:
    corrupt_n, drop_n = _bad(corrupt, n), _bad(dropout, n)
    leak = n * hypergeom(n, corrupt_n, k).sf(t - 1)  # P[A >= t]
    fail = n * hypergeom(n, n - drop_n, k).cdf(t - 1)  # P[S < t]
    return leak <= 2.0 ** -(SEC + 1) and fail <= 2.0**-CORR


CASES = [(n, d, c) for n in (100, 300, 1000, 3000) for d, c in ((0.05, 0.05), (0.1, 0.05), (0.05, 0.1))]


def test_google_reference_point() -> None:
    p = find_parameters(1000, dropout=0.05, corrupt=0.05)
    assert 26 <= p.degree <= 34 and 15 <= p.threshold <= 19  # Google: k=30, t=17
    assert (p.degree, p.threshold) == (30, 17)


@pytest.mark.parametrize(("n", "dropout", "corrupt"), CASES)
def test_choice_meets_the_tail_bounds(n: int, dropout: float, corrupt: float) -> None:
    p = find_parameters(n, dropout=dropout, corrupt=corrupt)
    k, t = p.degree, p.threshold
    assert 2 <= t <= k < n and k % 2 == 0
    assert _satisfies(n, k, t, dropout, corrupt)
    removed = _bad(dropout, n) + _bad(corrupt, n)
    assert _disconnect_bound(n, k, removed) <= 2.0 ** -(SEC + 1)


@pytest.mark.parametrize(("n", "dropout", "corrupt"), CASES)
def test_choice_is_minimal(n: int, dropout: float, corrupt: float) -> None:
    p = find_parameters(n, dropout=dropout, corrupt=corrupt)
    k, t = p.degree, p.threshold
    # t: one less would let t-1 corrupt neighbours rebuild a secret too often (or t=2 floor)
    corrupt_n = _bad(corrupt, n)
    assert t == 2 or n * hypergeom(n, corrupt_n, k).sf(t - 2) > 2.0 ** -(SEC + 1)
    # k: no smaller even degree admits any threshold, or it risks disconnection
    removed = _bad(dropout, n) + _bad(corrupt, n)
    smaller = k - 2
    if smaller >= 2 and _disconnect_bound(n, smaller, removed) <= 2.0 ** -(SEC + 1):
        assert not any(_satisfies(n, smaller, tt, dropout, corrupt) for tt in range(2, smaller + 1))


def test_degree_grows_with_n_dropout_and_corruption() -> None:
    ks = [find_parameters(n).degree for n in (100, 200, 500, 1000, 2000, 5000)]
    assert ks == sorted(ks) and ks[-1] <= 40  # O(log n), not O(n)
    by_drop = [find_parameters(1000, dropout=d).degree for d in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert by_drop == sorted(by_drop) and by_drop[0] < by_drop[-1]
    by_corrupt = [find_parameters(1000, corrupt=c).degree for c in (0.0, 0.05, 0.1, 0.2, 0.3)]
    assert by_corrupt == sorted(by_corrupt) and by_corrupt[0] < by_corrupt[-1]


@pytest.mark.parametrize("n", [100, 1000])
def test_malicious_threshold_beats_half_the_neighbourhood_plus_corrupt(n: int) -> None:
    p = find_parameters(n, malicious=True)
    k, t = p.degree, p.threshold
    a = next(x for x in range(k + 1) if n * hypergeom(n, _bad(0.05, n), k).sf(x) <= 2.0**-41)
    assert 2 * t > k + 1 + a  # |N[u]| = k + 1 members, a of them corrupt
    assert p.corrupt_neighbors == a
    assert n * hypergeom(n, n - _bad(0.05, n), k).cdf(t - 1) <= 2.0**-CORR


RATES = [0.0, 0.01, 0.05, 0.1, 0.2]


@given(n=st.integers(5, 100_000), dropout=st.sampled_from(RATES),
       corrupt=st.sampled_from(RATES), malicious=st.booleans())
@settings(max_examples=150, deadline=None)
def test_every_choice_keeps_the_promises_the_docs_make(n, dropout, corrupt, malicious):
    """For any n and rates on the grid: the budgets are ⌈rate·n⌉ (or, on the complete graph,
    all that t tolerates, which is at least that), malicious mode has 2t > |N[u]| + a, and the
    config built from the answer validates (so server and clients enforce the same budgets).
    Rates no threshold can carry (only at small n) are refused by name."""
    try:
        p = find_parameters(n, dropout=dropout, corrupt=corrupt, malicious=malicious)
    except ValueError as exc:
        assert n < 100 and "lower the rates" in str(exc)
        return
    k, t, a = p.degree, p.threshold, p.corrupt_neighbors
    assert p.max_dropouts >= _bad(dropout, n) and p.max_corrupt >= _bad(corrupt, n)
    if malicious:
        assert 2 * t > k + 1 + a
    if p.complete:
        assert t == n - p.max_dropouts and t >= p.max_corrupt + 1 and k == n - 1
        assert n < 100 or not _any_sparse(n, dropout, corrupt, malicious)
    else:
        assert (p.max_dropouts, p.max_corrupt) == (_bad(dropout, n), _bad(corrupt, n))
        assert a < t <= k and n >= 100
    cfg = SecAggConfig.for_secagg_plus(range(1, n + 1), 1, dropout=dropout, corrupt=corrupt,
                                       malicious=malicious)
    assert (cfg.degree, cfg.t, cfg.max_dropouts, cfg.max_corrupt) == (
        k, t, p.max_dropouts, p.max_corrupt)


def _any_sparse(n: int, dropout: float, corrupt: float, malicious: bool) -> bool:
    try:
        return not find_parameters(n, dropout=dropout, corrupt=corrupt,
                                   malicious=malicious).complete
    except ValueError:
        return False


@pytest.mark.parametrize("n", [10, 50, 100, 300, 500, 2000, 5000])
def test_the_review_boundaries_are_gone(n: int) -> None:
    """Break 1: at these n the old finder returned 2t = k + 1 + a exactly (or 2t <= n + C on the
    complete graph), which a split view with one corrupt client defeats."""
    p = find_parameters(n, malicious=True)
    members = p.degree + 1
    assert 2 * p.threshold > members + p.corrupt_neighbors


def test_small_population_falls_back_to_the_complete_graph() -> None:
    p = find_parameters(5)
    assert p.complete and p.degree == 4 and 2 <= p.threshold <= 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"dropout": 0.5, "corrupt": 0.5}, "0.9"),
        ({"dropout": 0.3, "corrupt": 0.4, "malicious": True}, "2\\*dropout"),
        ({"dropout": -0.1}, "dropout"),
        ({"corrupt": 1.0}, "corrupt"),
    ],
)
def test_impossible_rates_are_refused(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        find_parameters(1000, **kwargs)
