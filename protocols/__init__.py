"""protocols: SecAgg and SecAgg+ as sans-IO state machines.

``SecAggConfig`` holds a round's parameters, ``SecAggClient`` / ``SecAggServer`` turn bytes into
bytes stage by stage, and ``simulate_round`` runs a whole round in one process. The packed
Paillier alternative (``PaillierClient`` / ``PaillierServer`` / ``PaillierDecryptor``) has the
same shape.
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

from .client import SecAggClient
from .config import SecAggConfig
from .paillier import (
    PaillierClient,
    PaillierConfig,
    PaillierDecryptor,
    PaillierKeyPair,
    PaillierResult,
    PaillierServer,
    aggregate_paillier,
)
from .params import GraphParameters, find_parameters
from .server import SecAggServer
from .simulate import RoundResult, simulate_round, warm_up
from .stages import Flow, Stage, flow_of, stages_of

__all__ = [
    "AbortError",
    "AuthenticationError",
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
    "WrongSession",
    "aggregate_paillier",
    "find_parameters",
    "flow_of",
    "simulate_round",
    "stages_of",
    "warm_up",
]
