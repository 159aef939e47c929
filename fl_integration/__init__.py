"""fl_integration: the thin federated layer. It converts parameters and drives the protocols.

``run_fedavg(clients, initial, FedAvgConfig(aggregator="secagg+", clip=1.0))`` trains with
FedAvg; ``aggregator`` is one of "plain" | "secagg" | "secagg+" | "paillier", ``clip`` the L∞
bound on an update, or ``dp`` in its place: ``LocalDP(...)`` or ``DistributedDP(...)``;
``compression`` is None or ``Quantize``/``Subsample``/``CountSketch``/``SignVote`` (:mod:`.compression`). The crypto lives in ``secagg``/``protocols`` and is
loaded when a secure backend is first used. Server optimizers (``FedAvgM``, ``FedAdam``,
``FedYogi``, ``FedAdagrad``), FedProx, SCAFFOLD and ``AdaptiveDeadline``: docs/fl-policies.md.
The Flower adapter is ``fl_integration.flower``.
"""

from .aggregators import (
    AGGREGATORS,
    AggregateResult,
    Aggregator,
    PlainAggregator,
    RoundContext,
    SecAggAggregator,
    make_aggregator,
)
from .client import Client
from .compression import CountSketch, Quantize, SignVote, Subsample
from .deadlines import AdaptiveDeadline
from .fedavg import FedAvgConfig, FedAvgResult, run_fedavg
from .fedbuff import FedBuffConfig, run_fedbuff
from .grouped_aggregator import GroupedAggregator
from .history import History, RoundRecord
from .params import ParamSpec, flatten, unflatten
from .privacy import DistributedDP, LocalDP
from .server_opt import FedAdagrad, FedAdam, FedAvg, FedAvgM, FedYogi, ServerOptimizer
from .simulation import RoundPlan, Simulation, plan_round

__all__ = [
    "AGGREGATORS",
    "AdaptiveDeadline",
    "AggregateResult",
    "Aggregator",
    "Client",
    "CountSketch",
    "DistributedDP",
    "FedAdagrad",
    "FedAdam",
    "FedAvg",
    "FedAvgConfig",
    "FedAvgM",
    "FedAvgResult",
    "FedBuffConfig",
    "FedYogi",
    "GroupedAggregator",
    "History",
    "LocalDP",
    "ParamSpec",
    "PlainAggregator",
    "Quantize",
    "RoundContext",
    "RoundPlan",
    "RoundRecord",
    "SecAggAggregator",
    "ServerOptimizer",
    "SignVote",
    "Simulation",
    "Subsample",
    "flatten",
    "make_aggregator",
    "plan_round",
    "run_fedavg",
    "run_fedbuff",
    "unflatten",
]
