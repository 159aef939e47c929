"""Randomized Hadamard rotation: orthonormal, invertible, seed-determined, spreads mass."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dp import rotation
from dp.errors import DPError

SEED = b"r" * 32


@given(arrays(np.float64, st.integers(1, 300), elements=st.floats(-1e3, 1e3)))
@settings(max_examples=100, deadline=None)
def test_roundtrip_and_norm(x):
    y = rotation.rotate(x, SEED)
    assert y.size == rotation.padded_dimension(x.size)
    assert np.linalg.norm(y) == pytest.approx(np.linalg.norm(x), rel=1e-9, abs=1e-9)
    assert np.allclose(rotation.unrotate(y, SEED, x.size), x, atol=1e-9)


def test_fwht_matches_dense_hadamard():
    n = 16
    h = np.array([[1.0]])
    while h.shape[0] < n:
        h = np.block([[h, h], [h, -h]])
    x = np.arange(n, dtype=np.float64)
    assert np.allclose(rotation._fwht(x), h @ x / np.sqrt(n))


def test_spreads_a_spike_and_depends_on_seed():
    x = np.zeros(4096)
    x[7] = 1.0
    y = rotation.rotate(x, SEED)
    assert np.allclose(np.abs(y), 1 / 64)
    dense = np.arange(4096.0)  # the output depends on all 4096 signs
    assert not np.allclose(rotation.rotate(dense, SEED), rotation.rotate(dense, b"q" * 32))


def test_bad_seed_and_length():
    with pytest.raises(DPError):
        rotation.rotate(np.ones(3), b"short")
    with pytest.raises(DPError):
        rotation.unrotate(np.ones(3), SEED, 3)
