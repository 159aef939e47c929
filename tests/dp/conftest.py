"""Shared helpers for dp tests: seeded sources and a chi-square goodness-of-fit check."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from dp.rng import AesCtrSource

# Each distribution test fails with probability ALPHA when the sampler is correct (over seeds);
# the seeds are fixed, so the suite is deterministic.
ALPHA = 1e-4
Z = 4.5  # two-sided normal quantile: false-alarm rate ~6.8e-6 for the mean/variance z-tests


@pytest.fixture
def seeded():
    """A factory of reproducible CSPRNG sources (AES-CTR with a fixed 32-byte seed)."""

    def make(tag: str) -> AesCtrSource:
        return AesCtrSource(tag.encode().ljust(32, b"."))

    return make


def chi_square_pvalue(samples: np.ndarray, pmf) -> float:
    """p-value of Pearson's chi-square for integer samples against ``pmf(support)``; bins with
    expected count < 5 are merged into two tail bins."""
    n = samples.size
    lo, hi = int(samples.min()), int(samples.max())
    support = np.arange(lo - 50, hi + 51)
    expected = pmf(support) * n
    keep = expected >= 5
    idx = np.nonzero(keep)[0]
    a, b = idx[0], idx[-1]
    counts = np.bincount(samples - (lo - 50), minlength=support.size).astype(float)
    obs = np.concatenate([[counts[:a].sum()], counts[a : b + 1], [counts[b + 1 :].sum()]])
    exp = np.concatenate([[expected[:a].sum()], expected[a : b + 1], [expected[b + 1 :].sum()]])
    exp = exp / exp.sum() * n  # pmf mass outside the scanned window is negligible
    mask = exp > 0
    return float(stats.chisquare(obs[mask], exp[mask]).pvalue)


def binned_chi_square_pvalue(samples: np.ndarray, support: np.ndarray, pmf: np.ndarray,
                             bins: int = 100) -> float:
    """p-value of Pearson's chi-square with ~``bins`` bins of equal probability under the exact
    ``pmf`` on the integer ``support`` (sorted, covering all but a negligible mass): for
    distributions too wide for one bin per integer (sigma = 1e4)."""
    cdf = np.cumsum(pmf) / pmf.sum()
    cuts = np.unique(np.searchsorted(cdf, np.arange(1, bins) / bins))
    edges = support[cuts] + 0.5  # bin k holds the integers up to support[cuts[k]]
    expected = np.diff(np.concatenate([[0.0], cdf[cuts], [1.0]])) * samples.size
    observed = np.bincount(np.searchsorted(edges, samples), minlength=edges.size + 1)
    assert expected.min() >= 5
    return float(stats.chisquare(observed, expected).pvalue)
