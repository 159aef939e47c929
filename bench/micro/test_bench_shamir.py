"""Shamir over GF(2^31 - 1) at the sizes of one SecAgg round with n = 500, t = 334.

Issue 2 target: one client shares its two 32-byte secrets (b_u and s_sk_u) to 500 parties; the
server reconstructs one secret from 334 shares, and 500 secrets from the same 334 responders
(``reconstruct_many``, Lagrange weights computed once). JIT compilation is warmed up untimed.
"""

from __future__ import annotations

import pytest

from secagg import shamir
from secagg.csprng import AesCtrRandom

N, T = 500, 334
XS = list(range(1, N + 1))


@pytest.fixture(scope="module")
def shares() -> dict[int, bytes]:
    return shamir.split_secrets([b"\x5a" * 32], T, XS, AesCtrRandom(b"bench-shamir".ljust(32, b".")))


def test_share_two_secrets_to_500(benchmark) -> None:
    rng = AesCtrRandom(b"bench-shamir-split".ljust(32, b"."))
    secrets = [bytes(range(32)), bytes(range(32, 64))]
    shamir.split_secrets(secrets, T, XS, rng)  # warm-up: JIT and caches
    out = benchmark(shamir.split_secrets, secrets, T, XS, rng)
    assert len(out) == N and len(out[1]) == shamir.share_size(2)


def test_reconstruct_one_from_334(benchmark, shares) -> None:
    job = [(x, shares[x]) for x in XS[-T:]]
    shamir.reconstruct_secrets(job, T, 1)
    assert benchmark(shamir.reconstruct_secrets, job, T, 1) == [b"\x5a" * 32]


def test_reconstruct_many_500_from_same_334(benchmark, shares) -> None:
    jobs = [[(x, shares[x]) for x in XS[:T]]] * N
    shamir.reconstruct_many(jobs[:1], T, 1)
    out = benchmark(shamir.reconstruct_many, jobs, T, 1)
    assert len(out) == N and out[0] == [b"\x5a" * 32]
