"""The Lagrange coding kernels against their big-int references, and the coding laws."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import mds
from secagg.field import PRIME

elements = st.integers(0, PRIME - 1)


def _arr(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.uint64)


@st.composite
def point_sets(draw: st.DrawFn, max_src: int = 12, max_dst: int = 8):
    """Distinct source points, and destination points that may hit them (the unit-row case)."""
    src = draw(st.lists(elements, min_size=1, max_size=max_src, unique=True))
    dst = draw(st.lists(elements | st.sampled_from(src), min_size=0, max_size=max_dst))
    return _arr(src), _arr(dst)


@given(point_sets())
@settings(max_examples=200, deadline=None)
def test_lagrange_matrix_matches_reference(points) -> None:
    src, dst = points
    out = np.empty((dst.size, src.size), dtype=np.uint64)
    mds.lagrange_matrix(src, dst, out)
    np.testing.assert_array_equal(out, mds._reference_lagrange_matrix(src, dst))


@given(st.integers(1, 6), st.integers(1, 6), st.integers(1, 9), st.data())
@settings(max_examples=200, deadline=None)
def test_matmul_matches_reference(n_out: int, k: int, width: int, data) -> None:
    mat = _arr(data.draw(st.lists(elements, min_size=n_out * k, max_size=n_out * k)))
    rows = _arr(data.draw(st.lists(elements, min_size=k * width, max_size=k * width)))
    mat, rows = mat.reshape(n_out, k), rows.reshape(k, width)
    out = np.empty((n_out, width), dtype=np.uint64)
    mds.matmul(mat, rows, out)
    np.testing.assert_array_equal(out, mds._reference_matmul(mat, rows))


def test_extremes_do_not_overflow() -> None:
    """Every entry p - 1 (the largest products) over a long inner dimension."""
    mat = np.full((3, 300), PRIME - 1, dtype=np.uint64)
    rows = np.full((300, 5), PRIME - 1, dtype=np.uint64)
    out = np.empty((3, 5), dtype=np.uint64)
    mds.matmul(mat, rows, out)
    assert (out == (300 * (PRIME - 1) ** 2) % PRIME).all()


@given(st.integers(1, 10), st.integers(0, 5), st.integers(1, 7), st.data())
@settings(max_examples=150, deadline=None)
def test_any_k_code_rows_decode_the_message(k: int, extra: int, width: int, data) -> None:
    """encode at k + extra points, decode from any k of them: the message comes back."""
    points = data.draw(st.lists(elements, min_size=2 * k + extra, max_size=2 * k + extra,
                                unique=True))
    beta, alpha = _arr(points[:k]), _arr(points[k:])
    msg = _arr(data.draw(st.lists(elements, min_size=k * width, max_size=k * width)))
    msg = msg.reshape(k, width)
    enc = np.empty((alpha.size, k), dtype=np.uint64)
    mds.lagrange_matrix(beta, alpha, enc)
    code = np.empty((alpha.size, width), dtype=np.uint64)
    mds.matmul(enc, msg, code)
    pick = sorted(data.draw(st.permutations(range(alpha.size)))[:k])
    dec = np.empty((k, k), dtype=np.uint64)
    mds.lagrange_matrix(alpha[pick], beta, dec)
    back = np.empty((k, width), dtype=np.uint64)
    mds.matmul(dec, code[pick], back)
    np.testing.assert_array_equal(back, msg)
