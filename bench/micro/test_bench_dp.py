"""dp samplers: exact discrete Gaussian and Skellam samples per second, and the noise step of a
10^6-parameter update (`make bench`). Issue 4 target: >= 10^6 discrete Gaussian samples/s for
sigma up to 10^4 on one core. Samples/s are printed from min times; on a shared machine add
``--benchmark-timer time.process_time`` to measure one core's CPU time instead of wall time.

Skellam is exact with O(1) expected work per draw after an O(sqrt(mu)) table (dp/_poisson.py);
the table is cached per mu, so the first (warm-up) call per sigma builds it outside the timing.
"""

from __future__ import annotations

import numpy as np
import pytest

from dp import distributed, samplers
from dp.rng import AesCtrSource

M = 10**6
SIGMAS = [1, 100, 10**4]
RATES: list[tuple[str, int, float]] = []


def _rate(benchmark, name: str, m: int) -> None:
    RATES.append((name, m, m / benchmark.stats.stats.min))


@pytest.fixture(scope="module", autouse=True)
def _report():
    yield
    print("\n--- dp samples per second (min time) ---")
    for name, m, rate in RATES:
        print(f"{name:<44} m={m:>8}  {rate:12,.0f} samples/s")


@pytest.fixture(scope="module", autouse=True)
def _warm():
    src = AesCtrSource(b"w" * 32)
    samplers.discrete_gaussian(4, 10, rng=src)  # numba compile (cached on disk)
    samplers.skellam(2, 10, rng=src)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_discrete_gaussian(benchmark, sigma):
    src = AesCtrSource(b"g" * 32)
    out = benchmark.pedantic(samplers.discrete_gaussian, args=(sigma * sigma, M),
                             kwargs={"rng": src}, rounds=3, iterations=1)
    assert out.size == M
    _rate(benchmark, f"discrete_gaussian sigma={sigma}", M)


@pytest.mark.parametrize("sigma", SIGMAS)
def test_skellam(benchmark, sigma):
    src = AesCtrSource(b"s" * 32)
    mu = sigma * sigma / 2  # variance 2 mu = sigma^2
    samplers.skellam(mu, 10, rng=src)  # build the cached table
    out = benchmark.pedantic(samplers.skellam, args=(mu, M), kwargs={"rng": src}, rounds=3,
                             iterations=1)
    assert out.size == M
    _rate(benchmark, f"skellam sigma={sigma}", M)


def test_noise_step_of_a_1e6_update(benchmark):
    """Distributed DP client step for d = 10^6: clip, rotate, scale, round, add discrete Gaussian."""
    plan = distributed.plan_distributed(dimension=M, l2_clip=1.0, noise_multiplier=1.0,
                                        n_clients=100, n_min=80)
    x = np.linspace(-1, 1, M)
    src = AesCtrSource(b"n" * 32)
    seed = b"r" * 32
    out = benchmark.pedantic(distributed.encode_client, args=(x, plan),
                             kwargs={"rotation_seed": seed, "rng": src}, rounds=3, iterations=1)
    assert out.size == plan.length
    _rate(benchmark, f"encode_client d=1e6 (sigma_int={plan.client_sigma:.0f})", plan.length)


def test_discrete_gaussian_noise_only_1e6(benchmark):
    """The noise draw alone for the same plan (per-client sigma in integer units)."""
    plan = distributed.plan_distributed(dimension=M, l2_clip=1.0, noise_multiplier=1.0,
                                        n_clients=100, n_min=80)
    src = AesCtrSource(b"o" * 32)
    benchmark.pedantic(distributed.client_noise, args=(plan,), kwargs={"rng": src}, rounds=3,
                       iterations=1)
    _rate(benchmark, "client_noise d=1e6", plan.length)
