"""``simulate_round``: every party of one round in this process, timed and metered.

Each party's work per stage is timed and each client's bytes counted by
:mod:`protocols.metering` (the one module of ``protocols`` that reads a clock). A client that
hits an ``AbortError`` of its own (too few live neighbours) goes silent, as a real one would.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping

import numpy as np

from protocols.metering import Meter as _Meter
from protocols.metering import RoundResult, check_dropouts, round_stats, run_client
from protocols.metering import timed as _timed
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
) -> RoundResult:
    """Run one round; ``dropouts[stage]`` go silent before sending that stage's message.

    ``inputs`` maps each client to its vector, or is a function of the client id called when
    that client masks (so a large round never holds more than one input: the caller checks
    the sum by calling it again for ``RoundResult.included``). The driver streams: a client is
    made when the round starts, each server message is dropped once delivered, and a client is
    dropped when it is done or silent, so memory beyond the server is O(n·k) and one vector.

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
    input_of = inputs if callable(inputs) else inputs.__getitem__
    server, clients = _make_parties(config, rng)
    meter = _Meter()
    pending: dict[int, bytes | None] = dict.fromkeys(config.client_ids)
    for stage in stages_of(flow_of(config)):
        name = stage.value
        silent = drop.get(name, set())
        order = sorted(pending)
        every = max(1, len(order) // 50)
        for i, u in enumerate(order):
            msg = pending.pop(u)
            client = clients.pop(u) if u in silent else clients[u]
            if progress is not None and i % every == 0:
                progress(name, i, len(order))
            if u in silent:
                continue
            x = input_of(u) if client.wants_input else None  # made outside the client's clock
            reply = run_client(client, name, msg, x, meter)
            if reply is not None:
                _timed(meter.server_s, name, server.receive, u, reply)
        out = _timed(meter.server_s, name, server.close_stage)
        if progress is not None:
            progress(name, len(order), len(order))
        for u in clients.keys() - out.keys():  # done, or given up: never addressed again
            del clients[u]
        pending = dict(out)
    result = _timed(meter.server_s, Stage.UNMASKING.value, server.result)
    return RoundResult(result, server.included, round_stats(meter, [s.value for s in stages_of(flow_of(config))]))


def _make_parties(
    config: SecAggConfig, rng: RandomSource | None
) -> tuple[SecAggServer, dict[int, SecAggClient]]:
    signing: dict[int, SigningKeyPair | None] = dict.fromkeys(config.client_ids)
    verify = None
    if config.malicious:
        signing = {u: SigningKeyPair.generate(rng) for u in config.client_ids}
        verify = {u: k.verify_key_bytes for u, k in signing.items()}  # type: ignore[union-attr]
    clients = {
        u: SecAggClient(config, u, signing[u], verify, rng=rng) for u in config.client_ids
    }
    return SecAggServer(config, verify), clients


def warm_up(modulus_bits: int = 32) -> None:
    """Load every compiled kernel a client or server calls, at this width, by one tiny round.

    numba loads each kernel on first use (tenths of a second, more on a busy machine or with a
    stale cache); a fresh process that pays it inside a stage can miss the stage's deadline.
    Call this at start-up, before the round's clock runs."""
    config = SecAggConfig(client_ids=(1, 2, 3, 4), vector_length=4, modulus_bits=modulus_bits)
    inputs = {u: np.zeros(4, dtype=np.uint64) for u in config.client_ids}
    simulate_round(config, inputs, {"masked_input": [4]})
