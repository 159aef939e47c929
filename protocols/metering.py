"""What every protocol's in-process driver shares: the round's result and its meters.

``RoundResult`` is what ``simulate_round`` returns for every protocol; ``Meter`` collects seconds
and bytes per (stage, party) with ``time.perf_counter``, the only clock in ``protocols``.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol

import numpy as np

from secagg.errors import AbortError


@dataclass(frozen=True)
class RoundResult:
    """The outcome of a simulated round: the sum mod 2^b, U3, and time/bytes figures."""

    sum: np.ndarray
    included: frozenset[int]
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass
class Meter:
    """Seconds and bytes per (stage, party)."""

    server_s: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    client_s: dict[str, dict[int, float]] = field(default_factory=lambda: defaultdict(dict))
    up: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))
    down: dict[str, dict[int, int]] = field(default_factory=lambda: defaultdict(dict))

    def record(self, name: str, u: int, down: int, reply: bytes | None, secs: float) -> None:
        """Client u's seconds and bytes in stage ``name`` (a silent reply sends 0 bytes)."""
        self.down[name][u] = down
        self.client_s[name][u] = secs
        self.up[name][u] = 0 if reply is None else len(reply)


def timed(bucket: dict[str, float], name: str, fn: Any, *args: Any) -> Any:
    """Run ``fn(*args)``, adding its seconds to ``bucket[name]``."""
    start = time.perf_counter()
    try:
        return fn(*args)
    finally:
        bucket[name] += time.perf_counter() - start


def figures(server_s: float, secs: list[float], up: list[int], down: list[int]) -> dict[str, float]:
    """Server seconds, client mean/max seconds and mean bytes per client, of one round."""
    return {
        "server_s": server_s,
        "client_mean_s": float(np.mean(secs)) if secs else 0.0,
        "client_max_s": max(secs, default=0.0),
        "bytes_up_per_client": float(np.mean(up)) if up else 0.0,
        "bytes_down_per_client": float(np.mean(down)) if down else 0.0,
    }


def round_stats(meter: Meter, stage_names: Iterable[str]) -> dict[str, Any]:
    """A round's figures: per stage (``stats["stages"]``) and whole-round per client, summed
    over the stages each client ran."""
    stages: dict[str, dict[str, float]] = {}
    total_s: dict[int, float] = defaultdict(float)
    total_up: dict[int, int] = defaultdict(int)
    total_down: dict[int, int] = defaultdict(int)
    for name in stage_names:
        secs, up, down = meter.client_s[name], meter.up[name], meter.down[name]
        stages[name] = figures(
            meter.server_s[name], list(secs.values()), list(up.values()), list(down.values())
        )
        for u, s in secs.items():
            total_s[u] += s
            total_up[u] += up[u]
            total_down[u] += down[u]
    ids = sorted(total_s)
    stats: dict[str, Any] = figures(
        sum(meter.server_s.values()),
        [total_s[u] for u in ids],
        [total_up[u] for u in ids],
        [total_down[u] for u in ids],
    )
    stats["stages"] = stages
    return stats


class Responder(Protocol):
    """A client state machine as the drivers run it."""

    @property
    def client_id(self) -> int: ...

    def respond(self, message: bytes | None = None,
                vector: np.ndarray | None = None) -> bytes: ...


def respond_timed(client: Responder, msg: bytes | None, x: np.ndarray | None
                  ) -> tuple[bytes | None, float]:
    """A client's reply to ``msg`` and the seconds it took; a client that hits an
    ``AbortError`` of its own goes silent (None), as a real one would."""
    start = time.perf_counter()
    try:
        reply = client.respond(msg, x)
    except AbortError:
        reply = None  # this client gives up: to the server it has dropped out
    return reply, time.perf_counter() - start


def run_client(client: Responder, name: str, msg: bytes | None, x: np.ndarray | None,
               meter: Meter) -> bytes | None:
    """One client's reply to ``msg`` in stage ``name`` (see :func:`respond_timed`), timed and
    metered."""
    reply, secs = respond_timed(client, msg, x)
    meter.record(name, client.client_id, 0 if msg is None else len(msg), reply, secs)
    return reply


def check_dropouts(dropouts: Mapping[Any, Collection[int]], names: Collection[str]
                   ) -> dict[str, set[int]]:
    """A driver's dropout schedule by stage name (stage enums or their names as keys);
    ``ValueError`` for a stage the round does not have."""
    out: dict[str, set[int]] = {}
    for key, ids in dropouts.items():
        name = key.value if isinstance(key, Enum) else key
        if name not in names:
            raise ValueError(f"unknown stage {key!r} in dropouts; stages are {sorted(names)}")
        out[name] = set(ids)
    return out
