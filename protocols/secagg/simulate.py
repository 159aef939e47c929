"""``simulate_round``: every party of one round in this process, timed and metered.

Each party's work per stage is timed and each client's bytes counted by
:mod:`protocols.metering` (the one module of ``protocols`` that reads a clock). A client that
hits an ``AbortError`` of its own (too few live neighbours) goes silent, as a real one would.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping

import numpy as np

from protocols.metering import Meter as _Meter
from protocols.metering import RoundResult, check_dropouts, respond_timed, round_stats
from protocols.metering import timed as _timed
from protocols.pool import ClientPool
from secagg.csprng import RandomSource
from secagg.keys import SigningKeyPair

from .client import SecAggClient
from .config import SecAggConfig
from .server import SecAggServer
from .stages import Stage, flow_of, stages_of


def simulate_round(
    config: SecAggConfig,
    inputs: Mapping[int, np.ndarray] | Callable[[int], np.ndarray],
    dropouts: Mapping[str, Collection[int]] | None = None,
    *,
    rng: RandomSource | None = None,
    progress: Callable[[str, int, int], None] | None = None,
    pool: ClientPool | None = None,
) -> RoundResult:
    """Run one round; ``dropouts[stage]`` go silent before sending that stage's message.

    ``inputs`` maps each client to its vector, or is a function of the client id called when
    that client masks (so a large round never holds more than one input: the caller checks
    the sum by calling it again for ``RoundResult.included``). The driver streams: a client is
    made when the round starts, each server message is dropped once delivered, and a client is
    dropped when it is done or silent, so memory beyond the server is O(n·k) and one vector.

    ``pool`` runs the clients in its worker processes (the server stays here and gets their
    replies as they come; this process makes each vector and sends it with the masked-input
    message); ``rng`` must then be None (each worker draws from its own CSPRNG). Client seconds
    are measured in the workers, as without a pool.

    ``progress(stage, done, total)``, if given, is called about every 2 % of a stage's clients
    and once when the stage closes (``done == total``).

    Returns the sum of U3's inputs, or raises ``AbortError`` when a stage gets fewer than t.
    Stats: per stage, means over the clients that ran that stage; for the whole round, means
    over every client that ran any stage (a client's seconds and bytes summed over stages).
    """
    drop = check_dropouts(dropouts or {}, {s.value for s in stages_of(flow_of(config))})
    if not callable(inputs):
        missing = set(config.client_ids) - set(inputs)
        if missing:
            raise ValueError(f"inputs missing for clients {sorted(missing)[:5]}")
    runner = _InProcess(config, inputs, rng) if pool is None else _Pooled(config, inputs, rng, pool)
    server = SecAggServer(config, runner.verify_keys)
    meter = _Meter()
    pending: dict[int, bytes | None] = dict.fromkeys(config.client_ids)
    for stage in stages_of(flow_of(config)):
        name = stage.value
        silent = drop.get(name, set())
        tasks = [(u, pending[u]) for u in sorted(pending) if u not in silent]
        every, done = max(1, len(pending) // 50), 0
        for u, reply, secs in runner.run(name, tasks):
            msg = pending.pop(u)
            meter.record(name, u, 0 if msg is None else len(msg), reply, secs)
            if reply is not None:
                _timed(meter.server_s, name, server.receive, u, reply)
            done += 1
            if progress is not None and done % every == 0 and done < len(tasks):
                progress(name, done, len(tasks))
        out = _timed(meter.server_s, name, server.close_stage)
        if progress is not None:
            progress(name, len(tasks), len(tasks))
        pending = dict(out)
    result = _timed(meter.server_s, Stage.UNMASKING.value, server.result)
    return RoundResult(result, server.included, round_stats(meter, [s.value for s in stages_of(flow_of(config))]))


class _InProcess:
    """Every client in this process, run one after another; the vector is made outside the
    client's clock, and a client is dropped once it is silent or done."""

    def __init__(self, config: SecAggConfig,
                 inputs: Mapping[int, np.ndarray] | Callable[[int], np.ndarray],
                 rng: RandomSource | None) -> None:
        signing: dict[int, SigningKeyPair | None] = dict.fromkeys(config.client_ids)
        self.verify_keys: dict[int, bytes] | None = None
        if config.malicious:
            signing = {u: SigningKeyPair.generate(rng) for u in config.client_ids}
            self.verify_keys = {u: k.verify_key_bytes for u, k in signing.items()}  # type: ignore[union-attr]
        self._clients = {u: SecAggClient(config, u, signing[u], self.verify_keys, rng=rng)
                         for u in config.client_ids}
        self._input = inputs if callable(inputs) else inputs.__getitem__

    def run(self, name: str, tasks: list[tuple[int, bytes | None]]
            ) -> Iterator[tuple[int, bytes | None, float]]:
        addressed = {u for u, _ in tasks}
        for u in self._clients.keys() - addressed:  # silent or done: never addressed again
            del self._clients[u]
        for u, msg in tasks:
            client = self._clients[u]
            x = self._input(u) if client.wants_input else None
            reply, secs = respond_timed(client, msg, x)
            yield u, reply, secs


class _Pooled:
    """The clients in a :class:`ClientPool`'s workers; the driver makes each vector and sends it
    with that client's masked-input message."""

    def __init__(self, config: SecAggConfig,
                 inputs: Mapping[int, np.ndarray] | Callable[[int], np.ndarray],
                 rng: RandomSource | None, pool: ClientPool) -> None:
        if rng is not None:
            raise ValueError("a pool's clients draw from their workers' CSPRNG: pass rng=None")
        self._pool = pool
        self._input = inputs if callable(inputs) else inputs.__getitem__
        pool.open_round("secagg", config)
        self.verify_keys = pool.verify_keys

    def run(self, name: str, tasks: list[tuple[int, bytes | None]]
            ) -> Iterator[tuple[int, bytes | None, float]]:
        masking = name == Stage.MASKED_INPUT.value
        return self._pool.run_stage(tasks, self._input if masking else None)


def warm_up(modulus_bits: int = 32) -> None:
    """Load every compiled kernel a client or server calls, at this width, by one tiny round.

    numba loads each kernel on first use (tenths of a second, more on a busy machine or with a
    stale cache); a fresh process that pays it inside a stage can miss the stage's deadline.
    Call this at start-up, before the round's clock runs."""
    config = SecAggConfig(client_ids=(1, 2, 3, 4), vector_length=4, modulus_bits=modulus_bits)
    inputs = {u: np.zeros(4, dtype=np.uint64) for u in config.client_ids}
    simulate_round(config, inputs, {"masked_input": [4]})
