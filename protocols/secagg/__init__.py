"""SecAgg (Bonawitz et al., CCS 2017) and SecAgg+ (Bell et al., CCS 2020) as one sans-IO state
machine: the complete graph is SecAgg, a sparse neighbour graph (``neighbors=k``) is SecAgg+.

``SecAggConfig`` holds a round's parameters and budgets (:mod:`.config`, chosen by
:func:`find_parameters` in :mod:`.params`), ``SecAggClient`` / ``SecAggServer`` turn bytes into
bytes stage by stage (:mod:`.stages` has the transition table, :mod:`.codec` the wire format),
and ``simulate_round`` runs a whole round in one process. ``SECURITY.md`` states what holds.
"""

from protocols.metering import RoundResult

from .client import SecAggClient
from .config import SecAggConfig
from .params import GraphParameters, find_parameters
from .server import SecAggServer
from .simulate import simulate_round, warm_up
from .stages import Flow, Stage, flow_of, stages_of

__all__ = [
    "Flow",
    "GraphParameters",
    "RoundResult",
    "SecAggClient",
    "SecAggConfig",
    "SecAggServer",
    "Stage",
    "find_parameters",
    "flow_of",
    "simulate_round",
    "stages_of",
    "warm_up",
]
