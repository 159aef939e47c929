"""Drive one SecAgg/SecAgg+ round through the sans-IO parties with simulated stage deadlines.

The federated layer owns the clock (deadlines are the caller's): for every
stage each live client whose message the ``RoundPlan`` delivers in time sends it, then the
server's ``close_stage()`` fires as the deadline would. Dropped, late or locally aborting clients
simply never send again. Only bytes and timings are recorded here; the crypto is in ``protocols``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.lightsecagg import STAGES as LIGHTSECAGG_STAGES
from protocols.lightsecagg import LightSecAggClient, LightSecAggConfig, LightSecAggServer
from protocols.secagg.client import SecAggClient
from protocols.secagg.config import SecAggConfig
from protocols.secagg.server import SecAggServer
from protocols.secagg.stages import flow_of, stages_of
from secagg.csprng import RandomSource
from secagg.errors import AbortError
from secagg.keys import SigningKeyPair

from .simulation import RoundPlan

InputFn = Callable[[int], np.ndarray]  # client id -> its encoded vector, made when first needed


@dataclass
class _StageMeter:
    server_s: float = 0.0
    client_s: dict[int, float] = field(default_factory=dict)
    up: int = 0
    down: int = 0
    sent: int = 0
    simulated_s: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "server_s": self.server_s,
            "client_max_s": max(self.client_s.values(), default=0.0),
            "seconds": self.server_s + max(self.client_s.values(), default=0.0),
            "simulated_s": self.simulated_s,
            "bytes_up": self.up, "bytes_down": self.down, "sent": self.sent,
        }


@dataclass(frozen=True)
class SecureRoundOutput:
    """The unmasked sum mod 2^b, U3, and per-stage seconds and bytes."""

    total: np.ndarray
    included: frozenset[int]
    stats: dict[str, Any]


def run_secure_round(config: SecAggConfig | LightSecAggConfig, inputs: InputFn, plan: RoundPlan,
                     rng: RandomSource | None = None) -> SecureRoundOutput:
    """One round among ``config.client_ids`` under ``plan`` (SecAgg, SecAgg+ or LightSecAgg,
    by the config's type); ``AbortError`` if a stage gets fewer answers than it needs."""
    server, clients, stages = _parties(config, rng)
    meters: dict[str, _StageMeter] = {}
    pending: dict[int, bytes | None] = dict.fromkeys(config.client_ids)
    try:
        for stage in stages:
            meter = meters[stage.value] = _StageMeter()
            senders = _collect(stage, clients, server, pending, inputs, plan, meter)
            meter.simulated_s = plan.stage_seconds(stage.value, senders)
            pending = dict(_timed(meter, server.close_stage))
            meter.down = sum(len(m) for m in pending.values() if m is not None)
        total = _timed(meters[stages[-1].value], server.result)
    except AbortError as exc:
        exc.stats = _summary(meters)  # type: ignore[attr-defined]  # what the round cost so far
        raise
    return SecureRoundOutput(total, server.included, _summary(meters))


def _collect(stage: Any, clients: dict[int, Any], server: Any,
             pending: dict[int, bytes | None], inputs: InputFn, plan: RoundPlan,
             meter: _StageMeter) -> list[int]:
    """Every live, punctual client sends its stage message; returns who did."""
    senders = []
    for cid in sorted(pending):
        if not plan.sends(stage.value, cid):
            continue  # silent or late: the deadline closes the stage without it
        vector = inputs(cid) if clients[cid].wants_input else None
        start = time.perf_counter()
        try:
            reply = clients[cid].respond(pending[cid], vector)
        except AbortError:
            continue  # the client saw too few live neighbours and quits, as a real one would
        finally:
            meter.client_s[cid] = time.perf_counter() - start
        meter.up += len(reply)
        _timed(meter, server.receive, cid, reply)
        senders.append(cid)
    meter.sent = len(senders)
    return senders


def _parties(config: SecAggConfig | LightSecAggConfig, rng: RandomSource | None
             ) -> tuple[Any, dict[int, Any], tuple[Any, ...]]:
    """The server, the clients and the stages; in malicious mode each client gets a signing key
    (the PKI)."""
    if isinstance(config, LightSecAggConfig):
        clients = {c: LightSecAggClient(config, c, rng=rng) for c in config.client_ids}
        return LightSecAggServer(config), clients, LIGHTSECAGG_STAGES
    signing: dict[int, SigningKeyPair | None] = dict.fromkeys(config.client_ids)
    verify: dict[int, bytes] | None = None
    if config.malicious:
        signing = {c: SigningKeyPair.generate(rng) for c in config.client_ids}
        verify = {c: k.verify_key_bytes for c, k in signing.items()}  # type: ignore[union-attr]
    parties = {c: SecAggClient(config, c, signing[c], verify, rng=rng) for c in config.client_ids}
    return SecAggServer(config, verify), parties, stages_of(flow_of(config))


def _timed(meter: _StageMeter, fn: Callable[..., Any], *args: Any) -> Any:
    start = time.perf_counter()
    try:
        return fn(*args)
    finally:
        meter.server_s += time.perf_counter() - start


def _summary(meters: Mapping[str, _StageMeter]) -> dict[str, Any]:
    stages = {name: m.as_dict() for name, m in meters.items()}
    return {
        "stages": stages,
        "seconds": sum(s["seconds"] for s in stages.values()),
        "server_s": sum(s["server_s"] for s in stages.values()),
        "simulated_s": sum(s["simulated_s"] for s in stages.values()),
        "bytes_up": sum(s["bytes_up"] for s in stages.values()),
        "bytes_down": sum(s["bytes_down"] for s in stages.values()),
    }
