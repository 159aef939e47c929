"""Masked inputs of all-zero vectors look uniform: the server sees nothing but noise.

Chi-square goodness of fit against the uniform law on Z_256 (b = 8), over the pooled masked
vectors of every client, plus each client's own vector. False-alarm rate: each test rejects
a truly uniform sample with probability ALPHA = 1e-4 (with a fixed seed the run is deterministic,
so this is the chance the chosen seed is unlucky, not a flake rate).
"""

from __future__ import annotations

import numpy as np
from scipy.stats import chisquare

from protocols.secagg import codec
from protocols.secagg.messages import MaskedInput

from .helpers import Round, config

ALPHA = 1e-4


def _masked_vectors(n: int, m: int, **kw: object) -> dict[int, np.ndarray]:
    cfg = config(n, vector_length=m, modulus_bits=8, **kw)
    r = Round(cfg, seed=b"u" * 32)
    r.inputs = {u: np.zeros(m, dtype=np.uint32) for u in cfg.client_ids}
    r.stage()
    r.stage()
    replies = r.replies()
    return {u: codec.decode(y, cfg, MaskedInput).vector for u, y in replies.items()}


def _p_uniform(values: np.ndarray) -> float:
    counts = np.bincount(values.astype(np.int64), minlength=256)
    return float(chisquare(counts).pvalue)


def test_masked_zero_inputs_are_uniform() -> None:
    vectors = _masked_vectors(6, 20_000, threshold=4)
    pooled = np.concatenate(list(vectors.values()))
    assert _p_uniform(pooled) > ALPHA
    for v in vectors.values():
        assert _p_uniform(v) > ALPHA
    # and not the same noise twice: pairs of clients differ almost everywhere
    a, b = vectors[1], vectors[2]
    assert np.mean(a == b) < 0.01


def test_sparse_graph_masks_are_uniform_too() -> None:
    vectors = _masked_vectors(10, 20_000, neighbors=3, threshold=2)
    assert _p_uniform(np.concatenate(list(vectors.values()))) > ALPHA


def test_the_chi_square_check_has_power() -> None:
    """The check is not vacuous: a sample that misses six of the 256 values fails it."""
    biased = np.arange(20_000 * 6) % 250  # never hits 250..255
    assert _p_uniform(biased) < ALPHA
