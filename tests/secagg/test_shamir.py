"""Shamir sharing: any t shares reconstruct, t−1 reveal nothing and fail, bad shares raise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import shamir
from secagg.csprng import AesCtrRandom
from secagg.errors import ShamirError


@st.composite
def sharings(draw):
    n = draw(st.integers(2, 60))
    t = draw(st.integers(1, n))
    xs = draw(st.lists(st.integers(1, shamir.PRIME - 1), min_size=n, max_size=n, unique=True))
    count = draw(st.integers(1, 3))
    secrets = [draw(st.binary(min_size=32, max_size=32)) for _ in range(count)]
    return t, xs, secrets


@settings(max_examples=80, deadline=None)
@given(sharings(), st.data())
def test_any_t_subset_reconstructs(case, data) -> None:
    t, xs, secrets = case
    shares = shamir.split_secrets(secrets, t, xs)
    assert {len(b) for b in shares.values()} == {shamir.share_size(len(secrets))}
    subset = data.draw(st.lists(st.sampled_from(xs), min_size=t, max_size=len(xs), unique=True))
    assert shamir.reconstruct_secrets([(x, shares[x]) for x in subset], t, len(secrets)) == secrets


@settings(max_examples=40, deadline=None)
@given(sharings().filter(lambda c: c[0] >= 2), st.data())
def test_t_minus_one_shares_raise(case, data) -> None:
    t, xs, secrets = case
    shares = shamir.split_secrets(secrets, t, xs)
    subset = data.draw(st.lists(st.sampled_from(xs), min_size=t - 1, max_size=t - 1, unique=True))
    with pytest.raises(ShamirError, match=f"at least {t}"):
        shamir.reconstruct_secrets([(x, shares[x]) for x in subset], t, len(secrets))


def test_t_minus_one_shares_are_independent_of_the_secret() -> None:
    # One share of a 2-of-n sharing is s + a·x with a uniform: it must look uniform whatever s
    # is. Chi-square on the top 4 bits of 4000 share limbs, 15 dof; 37.7 is the 0.999 quantile,
    # so a correct sharing fails with probability 1e-3 (the seed is fixed: deterministic).
    rng = AesCtrRandom(b"i" * 32)
    for secret in (b"\x00" * 32, b"\xff" * 32):
        tops = []
        for _ in range(4000 // 9 + 1):
            blob = shamir.split_secrets([secret], 2, [1, 2], rng)[1]
            tops.extend((np.frombuffer(blob, "<u4") >> 27).tolist())
        counts = np.bincount(np.array(tops[:4000]), minlength=16)
        expected = 4000 / 16
        assert float(((counts - expected) ** 2 / expected).sum()) < 37.7


def test_seeded_sharing_is_reproducible() -> None:
    a = shamir.split_secrets([b"k" * 32], 3, [1, 2, 3], AesCtrRandom(b"s" * 32))
    b = shamir.split_secrets([b"k" * 32], 3, [1, 2, 3], AesCtrRandom(b"s" * 32))
    assert a == b and a != shamir.split_secrets([b"k" * 32], 3, [1, 2, 3])


def _shares():
    return shamir.split_secrets([b"z" * 32], 3, [1, 2, 3, 4])


@pytest.mark.parametrize("mutate, message", [
    (lambda s: [(1, s[1]), (1, s[1]), (2, s[2])], "duplicate"),
    (lambda s: [(0, s[1]), (2, s[2]), (3, s[3])], "x-coordinates"),
    (lambda s: [(shamir.PRIME, s[1]), (2, s[2]), (3, s[3])], "x-coordinates"),
    (lambda s: [(1, s[1][:-1]), (2, s[2]), (3, s[3])], "bytes"),
    (lambda s: [(1, b"\xff" * len(s[1])), (2, s[2]), (3, s[3])], "field"),
])
def test_invalid_shares_raise(mutate, message) -> None:
    with pytest.raises(ShamirError, match=message):
        shamir.reconstruct_secrets(mutate(_shares()), 3, 1)


def test_corrupted_share_is_detected_or_changes_the_secret() -> None:
    s = _shares()
    bad = bytearray(s[1])
    bad[0] ^= 1
    try:
        got = shamir.reconstruct_secrets([(1, bytes(bad)), (2, s[2]), (3, s[3])], 3, 1)
    except ShamirError:
        return
    assert got != [b"z" * 32]


def test_reconstruct_many_matches_one_by_one() -> None:
    xs = list(range(1, 11))
    jobs, secrets = [], []
    for i in range(6):
        secret = bytes([i]) * 32
        shares = shamir.split_secrets([secret], 4, xs)
        subset = xs[:4] if i % 2 else xs[3:8]
        jobs.append([(x, shares[x]) for x in subset])
        secrets.append([secret])
    assert shamir.reconstruct_many(jobs, 4, 1) == secrets


def test_split_validates_arguments() -> None:
    with pytest.raises(ShamirError):
        shamir.split_secrets([b"a" * 32], 4, [1, 2, 3])
    with pytest.raises(ShamirError):
        shamir.split_secrets([b"a" * 32, b"b" * 31], 2, [1, 2, 3])
    with pytest.raises(ShamirError):
        shamir.split_secrets([b"a" * 32], 2, [1, 1, 3])
