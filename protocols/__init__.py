"""protocols: SecAgg and SecAgg+ as sans-IO state machines (DESIGN §2).

``SecAggConfig`` holds a round's parameters, ``SecAggClient`` / ``SecAggServer`` turn bytes into
bytes stage by stage, and ``simulate_round`` runs a whole round in one process.
"""

from secagg.errors import (
    AbortError,
    AuthenticationError,
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
from .params import GraphParameters, find_parameters
from .server import SecAggServer
from .simulate import RoundResult, simulate_round
from .stages import Stage

__all__ = [
    "AbortError",
    "AuthenticationError",
    "GraphParameters",
    "LocalError",
    "MalformedMessage",
    "OutOfOrder",
    "ProtocolViolation",
    "RemoteError",
    "RoundResult",
    "SecAggClient",
    "SecAggConfig",
    "SecAggError",
    "SecAggServer",
    "Stage",
    "WrongSession",
    "find_parameters",
    "simulate_round",
]
