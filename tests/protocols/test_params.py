"""The SecAgg+ parameter finder: its (k, t) meet the stated bounds, checked independently.

The tail probabilities are recomputed with scipy.stats.hypergeom (not the finder's own code),
the disconnection bound with exact binomial ratios; k is checked minimal, t minimal, and the
figures track Google's production finder (k=30, t=17 at n=1000, 5 % / 5 %).
"""

from __future__ import annotations

import math
from fractions import Fraction

import pytest
from scipy.stats import hypergeom

from protocols.params import find_parameters

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
    ks = [find_parameters(n).degree for n in (50, 100, 200, 500, 1000, 2000, 5000)]
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
    assert 2 * t > k + a and 2 * t > k + 1
    assert n * hypergeom(n, n - _bad(0.05, n), k).cdf(t - 1) <= 2.0**-CORR


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
