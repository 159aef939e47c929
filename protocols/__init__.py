"""protocols: secure aggregation as sans-IO state machines, one subpackage per protocol.

- :mod:`protocols.secagg`: SecAgg and SecAgg+ (Bonawitz et al. 2017, Bell et al. 2020).
  ``SecAggConfig`` holds a round's parameters, ``SecAggClient`` / ``SecAggServer`` turn bytes
  into bytes stage by stage, and ``simulate_round`` runs a whole round in one process; the
  names are re-exported here.
- :mod:`protocols.lightsecagg`: LightSecAgg (So et al. 2022), one-shot recovery of the
  survivors' aggregate mask, same shape.
- :mod:`protocols.paillier`: the packed Paillier alternative (``PaillierClient`` /
  ``PaillierServer`` / ``PaillierDecryptor``), also re-exported here.

What they share lives here once: :mod:`protocols.wire` (the framing of every codec),
:mod:`protocols.checks` (id, byte-string and config checks), :mod:`protocols.metering` (the
in-process drivers' meters and ``RoundResult``), :mod:`protocols.peers` (per-peer key
agreement) and :mod:`protocols.pool` (``ClientPool``: a simulated round's clients in worker
processes, ``simulate_round(..., pool=pool)``). The state machines do no I/O and keep no time;
only the simulation drivers' meters and pool do.
"""

from secagg.errors import (
    AbortError,
    AuthenticationError,
    ConfigError,
    LocalError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    RemoteError,
    SecAggError,
    WrongSession,
)

from .paillier import (
    PaillierClient,
    PaillierConfig,
    PaillierDecryptor,
    PaillierKeyPair,
    PaillierResult,
    PaillierServer,
    aggregate_paillier,
)
from .pool import ClientPool, WorkerError
from .secagg import (
    Flow,
    GraphParameters,
    RoundResult,
    SecAggClient,
    SecAggConfig,
    SecAggServer,
    Stage,
    find_parameters,
    flow_of,
    simulate_round,
    stages_of,
    warm_up,
)

__all__ = [
    "AbortError",
    "AuthenticationError",
    "ClientPool",
    "ConfigError",
    "Flow",
    "GraphParameters",
    "LocalError",
    "MalformedMessage",
    "OutOfOrder",
    "PaillierClient",
    "PaillierConfig",
    "PaillierDecryptor",
    "PaillierKeyPair",
    "PaillierResult",
    "PaillierServer",
    "ProtocolViolation",
    "RemoteError",
    "RoundResult",
    "SecAggClient",
    "SecAggConfig",
    "SecAggError",
    "SecAggServer",
    "Stage",
    "WorkerError",
    "WrongSession",
    "aggregate_paillier",
    "find_parameters",
    "flow_of",
    "simulate_round",
    "stages_of",
    "warm_up",
]
