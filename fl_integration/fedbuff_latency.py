"""Simulated time for buffered asynchronous FL: heavy-tailed training times, and the clock of a
synchronous round under the same model, so sync and async runs can be compared on one axis.

Like :mod:`.simulation`, these draws use NumPy's seeded ``Generator`` on purpose: they are
simulation (how long a device trains), not secrets, and a seed makes every run see the same
devices. Anything secret comes from the protocols' CSPRNG.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from secagg.errors import ConfigError

from .simulation import LatencyFn, RoundPlan, Simulation

_SPEED, _JITTER, _NETWORK = 3, 4, 2  # stream tags of the seeded draws


@dataclass(frozen=True, kw_only=True)
class TrainingTime:
    """Seconds of local training: a persistent speed per device times a per-job jitter, both
    log-normal, so the whole is log-normal with sigma ``sqrt(speed_sigma² + jitter_sigma²)``
    (heavy-tailed: at the defaults, sigma 1.12 and the slowest of 25 devices about 10× the
    median)."""

    median: float = 10.0
    speed_sigma: float = 1.0
    jitter_sigma: float = 0.5

    def __post_init__(self) -> None:
        for name in ("median", "speed_sigma", "jitter_sigma"):
            value = getattr(self, name)
            low_ok = value > 0 if name == "median" else value >= 0
            if isinstance(value, bool) or not isinstance(value, int | float) or not (
                    math.isfinite(value) and low_ok):
                allowed = "> 0" if name == "median" else ">= 0"
                raise ConfigError(f"{name} must be a finite number {allowed}, got {value!r}")

    @property
    def sigma(self) -> float:
        """The log-normal sigma of one training time."""
        return math.hypot(self.speed_sigma, self.jitter_sigma)

    def quantile(self, q: float) -> float:
        """The ``q``-quantile of one training time (over devices and jobs)."""
        from statistics import NormalDist  # noqa: PLC0415 - only the demo asks

        return self.median * math.exp(self.sigma * NormalDist().inv_cdf(q))

    def seconds(self, seed: int, client_id: int, job: int) -> float:
        """How long ``client_id`` trains on its ``job``-th download (same seed, same answer)."""
        speed = np.random.default_rng([seed, client_id, _SPEED]).standard_normal()
        jitter = np.random.default_rng([seed, client_id, job, _JITTER]).standard_normal()
        return float(self.median * math.exp(self.speed_sigma * speed + self.jitter_sigma * jitter))


def network_latencies(sim: Simulation, key: int, members: Sequence[int],
                      stages: Sequence[str]) -> dict[str, dict[int, float]]:
    """Message delivery seconds per (stage, member) of instance ``key`` (a round, or a cohort):
    ``sim.latency`` if given, else :class:`.Simulation`'s log-normal (``latency_median``,
    ``latency_sigma``), drawn per (key, member, stage) so that sync and async runs share it."""
    if sim.latency is not None:
        return {s: {c: float(sim.latency(key, c, s)) for c in members} for s in stages}
    return {s: {c: _network(sim, key, c, s) for c in members} for s in stages}


def _network(sim: Simulation, key: int, client_id: int, stage: str) -> float:
    rng = np.random.default_rng([sim.seed, key, client_id, zlib.crc32(stage.encode()), _NETWORK])
    return float(sim.latency_median * math.exp(sim.latency_sigma * rng.standard_normal()))


def sync_latency(training: TrainingTime, sim: Simulation, stage_deadline: float) -> LatencyFn:
    """A :class:`.Simulation` ``latency`` for synchronous rounds under the same model: the
    masked input arrives after training plus its upload; any other message after its network
    delay, or never (``inf``) when that delay is past ``stage_deadline``, so the short deadline
    of the network stages drops it as :func:`sync_round_seconds` charges it."""
    def latency(round_no: int, client_id: int, stage: str) -> float:
        net = _network(sim, round_no, client_id, stage)
        if stage == "masked_input":
            return training.seconds(sim.seed, client_id, round_no) + net
        return net if net <= stage_deadline else math.inf
    return latency


def sync_round_seconds(plan: RoundPlan, *, stage_deadline: float, input_deadline: float) -> float:
    """Simulated seconds of one synchronous round: each stage lasts until its last expected
    message, or its whole deadline when one of them never comes (the server cannot tell a
    silent client from a slow one). Setup and unmasking wait ``stage_deadline``; the masked
    input, which includes training, waits ``input_deadline``. Only the clients still in the
    round are expected at a stage: those that answered the one before."""
    expected = set(plan.sampled)
    total = 0.0
    for stage in plan.stages:
        senders = {c for c in expected if plan.sends(stage, c)}
        deadline = input_deadline if stage == "masked_input" else stage_deadline
        if senders != expected:
            total += deadline
        else:
            total += max((plan.latency[stage][c] for c in senders), default=0.0)
        expected = senders  # the server knows who answered: it waits for no one else
    return total
