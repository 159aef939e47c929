"""Shamir sharing: any t shares reconstruct, t−1 reveal nothing and fail, bad shares raise."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import field, shamir
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


@settings(max_examples=30, deadline=None)
@given(sharings(), st.binary(min_size=32, max_size=32), st.binary(min_size=16, max_size=16))
def test_secret_only_shifts_the_shares(case, other, seed) -> None:
    # With the same coefficient stream, f_B(x) - f_A(x) = B - A for every x: the secret enters the
    # shares only as a constant shift of uniform values, so any t-1 shares of A and of B have the
    # same (uniform) distribution. A coefficient that depended on the secret would break this.
    t, xs, secrets = case
    a = shamir.split_secrets(secrets[:1], t, xs, AesCtrRandom(seed * 2))
    b = shamir.split_secrets([other], t, xs, AesCtrRandom(seed * 2))
    shift = (shamir._to_limbs(other).astype(np.int64) - shamir._to_limbs(secrets[0]).astype(np.int64))
    for x in xs:
        diff = np.frombuffer(b[x], "<u4").astype(np.int64) - np.frombuffer(a[x], "<u4")
        assert ((diff - shift) % shamir.PRIME == 0).all()


def test_two_shares_of_3_of_n_are_jointly_uniform() -> None:
    # t-1 = 2 shares of a fixed secret: the pair (top 2 bits at x=1, top 2 bits at x=2) falls in
    # 16 cells uniformly. Chi-square, 15 dof, 0.999 quantile 37.7: false alarm 1e-3, fixed seed.
    rng = AesCtrRandom(b"j" * 32)
    cells = []
    while len(cells) < 4000:
        s = shamir.split_secrets([b"\x07" * 32], 3, [1, 2, 3], rng)
        cells.extend(((np.frombuffer(s[1], "<u4") >> 29) * 4 + (np.frombuffer(s[2], "<u4") >> 29)).tolist())
    counts = np.bincount(np.array(cells[:4000]), minlength=16)
    assert float(((counts - 250) ** 2 / 250).sum()) < 37.7


@settings(max_examples=30, deadline=None)
@given(sharings().filter(lambda c: c[0] >= 2), st.data())
def test_t_minus_one_shares_do_not_interpolate_to_the_secret(case, data) -> None:
    # Bypass the count check and interpolate at 0 from t-1 shares with the raw kernels: a
    # polynomial of too low a degree would give the secret back; a correct one gives noise.
    t, xs, secrets = case
    shares = shamir.split_secrets(secrets, t, xs)
    subset = data.draw(st.lists(st.sampled_from(xs), min_size=t - 1, max_size=t - 1, unique=True))
    pts = np.array(subset, dtype=np.uint64)
    weights = np.empty(t - 1, dtype=np.uint64)
    field.lagrange_at_zero(pts, weights)
    ys = np.stack([np.frombuffer(shares[x], "<u4").astype(np.uint64) for x in subset])[None]
    out = np.empty((1, ys.shape[2]), dtype=np.uint64)
    field.combine(weights, ys, out)
    truth = np.concatenate([shamir._to_limbs(s) for s in secrets])
    assert (out[0] != truth).any()


@given(st.integers(1, 64), st.integers(1, 5), st.data())
def test_limbs_round_trip_for_any_secret_length(secret_len, t, data) -> None:
    secret = data.draw(st.binary(min_size=secret_len, max_size=secret_len))
    xs = list(range(1, t + 2))
    shares = shamir.split_secrets([secret], t, xs)
    assert len(shares[1]) == shamir.share_size(1, secret_len)
    assert shamir.reconstruct_secrets([(x, shares[x]) for x in xs[1:]], t, 1, secret_len) == [secret]


def test_top_limb_too_wide_means_corrupted_shares() -> None:
    # With t = 1 a share is the limbs themselves; a top limb of 2^16 (< p) cannot come from 32
    # bytes (256 = 8·30 + 16), and a lower limb of 2^30 cannot either.
    for index, value in ((8, 1 << 16), (0, 1 << 30)):
        limbs = np.frombuffer(shamir.split_secrets([b"\x01" * 32], 1, [5])[5], "<u4").copy()
        limbs[index] = value
        with pytest.raises(ShamirError, match="inconsistent"):
            shamir.reconstruct_secrets([(5, limbs.tobytes())], 1, 1)


def test_every_share_is_validated_and_order_does_not_matter() -> None:
    xs = [3, 9, 4, 7, 1]
    shares = shamir.split_secrets([b"q" * 32, b"r" * 32], 3, xs)
    forward = [(x, shares[x]) for x in xs]
    backward = forward[:3][::-1]
    assert shamir.reconstruct_many([forward, backward], 3, 2) == [[b"q" * 32, b"r" * 32]] * 2
    bad = forward[:4] + [(1, b"\xff" * len(shares[1]))]  # unused (beyond t) but invalid
    with pytest.raises(ShamirError, match="field"):
        shamir.reconstruct_many([backward, bad], 3, 2)


class _StuckHigh:
    """A source whose first fill is all ones (every 31-bit draw is p), then a real stream."""

    def __init__(self) -> None:
        self.inner, self.calls = AesCtrRandom(b"r" * 32), 0

    def token_bytes(self, n: int) -> bytes:
        return self.inner.token_bytes(n)

    def fill(self, out: np.ndarray) -> None:
        self.calls += 1
        if self.calls == 1:
            out.view(np.uint8)[:] = 0xFF
        else:
            self.inner.fill(out)


def test_coefficient_draws_of_p_are_rejected() -> None:
    rng = _StuckHigh()
    got = shamir._uniform_field(rng, (4, 5))
    again = np.empty(20, dtype=np.uint32)
    AesCtrRandom(b"r" * 32).fill(again)
    assert rng.calls == 2 and (got < shamir.PRIME).all()
    assert (got.ravel() == (again & np.uint32(shamir.PRIME))).all()


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 8), st.integers(1, 6), st.integers(0, 2**32), st.data())
def test_interpolate_groups_rebuilds_what_reconstruct_many_does(t, groups, seed, data) -> None:
    """Many sharings, each with its own holders (in any order in the share table): the grouped
    kernel and the limb packing give every secret, as reconstruct_many does."""
    rng = AesCtrRandom(seed=seed.to_bytes(5, "big") * 7)
    secrets, jobs = [], []
    for _ in range(groups):
        xs = sorted(data.draw(st.sets(st.integers(1, 2**31 - 2), min_size=t, max_size=t + 3)))
        secret = rng.token_bytes(32)
        shares = shamir.split_secrets([secret], t, xs, rng)
        secrets.append(secret)
        jobs.append([(x, shares[x]) for x in xs])
    rows = [(g, x, share) for g, job in enumerate(jobs) for x, share in job][::-1]  # shuffled
    holders = np.array([x for _, x, _ in rows], dtype=np.int64)
    table = np.frombuffer(b"".join(s for _, _, s in rows), dtype="<u4").reshape(len(rows), -1)
    owner = np.array([g for g, _, _ in rows])
    order = np.lexsort((holders, owner))  # by group, then holder id
    starts = np.searchsorted(owner[order], np.arange(groups)).astype(np.int64)
    limbs = shamir.interpolate_groups(starts, order.astype(np.int64), holders, table, t)
    assert shamir.secrets_from_limbs(limbs) == secrets
    assert [r[0] for r in shamir.reconstruct_many(jobs, t, 1)] == secrets
