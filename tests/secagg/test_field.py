"""GF(2^31−1) numba kernels against big-int references on random inputs."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import field

elements = st.integers(0, field.PRIME - 1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(elements, min_size=1, max_size=12), min_size=1, max_size=5).filter(
    lambda rows: len({len(r) for r in rows}) == 1),
    st.lists(st.integers(1, field.PRIME - 1), min_size=1, max_size=10))
def test_eval_polys_matches_reference(coeffs, xs) -> None:
    c, x = np.array(coeffs, dtype=np.uint64), np.array(xs, dtype=np.uint64)
    out = np.empty((len(xs), len(coeffs)), dtype=np.uint64)
    field.eval_polys(c, x, out)
    assert (out == field._reference_eval_polys(c, x)).all()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, field.PRIME - 1), min_size=1, max_size=30, unique=True),
       st.integers(1, 4), st.data())
def test_lagrange_and_combine_match_reference(xs, jobs, data) -> None:
    x = np.array(xs, dtype=np.uint64)
    weights = np.empty(len(xs), dtype=np.uint64)
    field.lagrange_at_zero(x, weights)
    assert (weights == field._reference_lagrange_at_zero(x)).all()
    ys = np.array(data.draw(st.lists(st.lists(st.lists(elements, min_size=3, max_size=3),
                  min_size=len(xs), max_size=len(xs)), min_size=jobs, max_size=jobs)), dtype=np.uint64)
    out = np.empty((jobs, 3), dtype=np.uint64)
    field.combine(weights, ys, out)
    assert (out == field._reference_combine(weights, ys)).all()


@given(elements, elements)
def test_mulmod_addmod_are_exact(a: int, b: int) -> None:
    assert int(field.mulmod(np.uint64(a), np.uint64(b))) == a * b % field.PRIME
    assert int(field.addmod(np.uint64(a), np.uint64(b))) == (a + b) % field.PRIME


@given(elements, elements, elements)
def test_muladd_is_exact_including_the_top_of_the_field(a: int, b: int, c: int) -> None:
    top = field.PRIME - 1
    for x, y, z in ((a, b, c), (top, top, top), (top, top, 0), (0, 0, top)):
        assert int(field.muladd(np.uint64(x), np.uint64(y), np.uint64(z))) == (x * y + z) % field.PRIME


@given(st.integers(1, field.PRIME - 1))
def test_fermat_inverse(a: int) -> None:
    inv = int(field.powmod(np.uint64(a), field.PRIME - 2))
    assert inv == pow(a, -1, field.PRIME) and a * inv % field.PRIME == 1


def test_lagrange_weights_interpolate_a_known_polynomial() -> None:
    # f(x) = 5 + 3x + 7x^2 at x = 1, 2, p-1: the weighted sum of f(x_i) must be f(0) = 5.
    xs = np.array([1, 2, field.PRIME - 1], dtype=np.uint64)
    ys = np.array([[[(5 + 3 * int(x) + 7 * int(x) ** 2) % field.PRIME] for x in xs]], dtype=np.uint64)
    w = np.empty(3, dtype=np.uint64)
    field.lagrange_at_zero(xs, w)
    out = np.empty((1, 1), dtype=np.uint64)
    field.combine(w, ys, out)
    assert int(out[0, 0]) == 5
