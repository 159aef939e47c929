"""``simulate_round``: every party of one LightSecAgg round in this process, timed and metered.

The meter, the timer and the figures are the ones SecAgg's driver uses
(:mod:`protocols.metering`), so the stats of the two protocols mean the same. A client that hits an ``AbortError`` of its own goes silent, as a real one would.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping

import numpy as np

from protocols.metering import Meter as _Meter
from protocols.metering import RoundResult, check_dropouts, round_stats, run_client
from protocols.metering import timed as _timed
from secagg.csprng import RandomSource

from .client import LightSecAggClient
from .config import LightSecAggConfig
from .server import LightSecAggServer
from .stages import STAGES, Stage

__all__ = ["RoundResult", "simulate_round", "warm_up"]


def simulate_round(
    config: LightSecAggConfig,
    inputs: Mapping[int, np.ndarray],
    dropouts: Mapping[str, Collection[int]] | None = None,
    *,
    rng: RandomSource | None = None,
) -> RoundResult:
    """Run one round; ``dropouts[stage]`` go silent before sending that stage's message.

    Returns the exact integer sum of U3's inputs, or raises ``AbortError``. Stats as SecAgg's
    (``server_s``, ``client_mean_s``, ``client_max_s``, ``bytes_up_per_client``,
    ``bytes_down_per_client``, and ``stages``), plus ``submask_bytes_up_per_client``: the sealed
    coded sub-masks, LightSecAgg's price, inside ``bytes_up_per_client``.
    """
    drop = check_dropouts(dropouts or {}, {s.value for s in STAGES})
    missing = set(config.client_ids) - set(inputs)
    if missing:
        raise ValueError(f"inputs missing for clients {sorted(missing)[:5]}")
    server = LightSecAggServer(config)
    clients = {u: LightSecAggClient(config, u, rng=rng) for u in config.client_ids}
    meter = _Meter()
    pending: dict[int, bytes | None] = dict.fromkeys(config.client_ids)
    for stage in STAGES:
        name = stage.value
        for u in sorted(pending.keys() - drop.get(name, set())):
            reply = run_client(clients[u], name, pending[u], inputs[u], meter)
            if reply is not None:
                _timed(meter.server_s, name, server.receive, u, reply)
        pending = dict(_timed(meter.server_s, name, server.close_stage))
    result = _timed(meter.server_s, Stage.AGGREGATE_MASK.value, server.result)
    stats = round_stats(meter, [stage.value for stage in STAGES])
    stats["submask_bytes_up_per_client"] = stats["stages"][Stage.SHARE_MASKS.value][
        "bytes_up_per_client"]
    return RoundResult(result, server.included, stats)


def warm_up() -> None:
    """Load every compiled kernel a client or server calls, by one tiny round (see SecAgg's)."""
    config = LightSecAggConfig(client_ids=(1, 2, 3, 4, 5), vector_length=4,
                               recovery_threshold=2, privacy_threshold=1)
    inputs = {u: np.zeros(4, dtype=np.uint32) for u in config.client_ids}
    simulate_round(config, inputs, {"masked_input": [5]})
