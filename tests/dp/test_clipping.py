"""Clipping bounds the norm, reports whether it acted, and leaves small vectors alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from dp.clipping import clip_l2, clip_linf
from dp.errors import DPError

vectors = arrays(np.float64, st.integers(1, 50), elements=st.floats(-1e6, 1e6))


@given(vectors, st.floats(1e-3, 1e3))
@settings(max_examples=200, deadline=None)
def test_clip_l2(x, bound):
    y, clipped = clip_l2(x, bound)
    assert np.linalg.norm(y) <= bound
    assert clipped == (np.linalg.norm(x) > bound)
    if not clipped:
        assert np.array_equal(x, y)
    else:  # same direction
        assert np.allclose(y * np.linalg.norm(x) / np.linalg.norm(y), x, rtol=1e-9, atol=1e-9)


@given(vectors, st.floats(1e-3, 1e3))
@settings(max_examples=200, deadline=None)
def test_clip_linf(x, bound):
    y, clipped = clip_linf(x, bound)
    assert np.abs(y).max() <= bound
    assert clipped == bool((np.abs(x) > bound).any())
    inside = np.abs(x) <= bound
    assert np.array_equal(y[inside], x[inside])


def test_clip_does_not_modify_input():
    x = np.array([3.0, 4.0])
    clip_l2(x, 1.0)
    clip_linf(x, 1.0)
    assert x.tolist() == [3.0, 4.0]


@pytest.mark.parametrize("bad", [0.0, -1.0, float("inf"), float("nan")])
def test_bad_bound(bad):
    with pytest.raises(DPError):
        clip_l2(np.ones(3), bad)
    with pytest.raises(DPError):
        clip_linf(np.ones(3), bad)


def test_bad_vector():
    with pytest.raises(DPError):
        clip_l2(np.array([1.0, np.nan]), 1.0)
    with pytest.raises(DPError):
        clip_l2(np.ones((2, 2)), 1.0)
