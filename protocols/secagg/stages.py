"""The stages of a round and the one table of transitions between them.

Which stages a round runs depends on its flow: semi-honest rounds run four, malicious rounds add
the signed consistency check, and malicious SecAgg+ rounds also add ``reveal_seed``, where the
clients open the commitments that fix the neighbour graph (see :mod:`protocols.secagg.graph`).
"""

from __future__ import annotations

from enum import Enum
from typing import TYPE_CHECKING

from secagg.errors import OutOfOrder

if TYPE_CHECKING:
    from .config import SecAggConfig


class Stage(Enum):
    """Where a party is in the round; the value is the stage's name in stats and errors, and
    the name of the client method that answers it."""

    ADVERTISE_KEYS = "advertise_keys"
    REVEAL_SEED = "reveal_seed"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    CONSISTENCY_CHECK = "consistency_check"
    UNMASK = "unmask"
    UNMASKING = "unmask"  # the same stage (its name before 0.2)
    DONE = "done"
    ABORTED = "aborted"


class Flow(Enum):
    """The shape of a round: which stages it runs."""

    SEMI_HONEST = "semi-honest"
    MALICIOUS = "malicious"
    MALICIOUS_SPARSE = "malicious-sparse"  # graph seeded by the clients' commit-and-reveal


_SEQUENCES: dict[Flow, tuple[Stage, ...]] = {
    Flow.SEMI_HONEST: (Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT,
                       Stage.UNMASKING),
    Flow.MALICIOUS: (Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT,
                     Stage.CONSISTENCY_CHECK, Stage.UNMASKING),
    Flow.MALICIOUS_SPARSE: (Stage.ADVERTISE_KEYS, Stage.REVEAL_SEED, Stage.SHARE_KEYS,
                            Stage.MASKED_INPUT, Stage.CONSISTENCY_CHECK, Stage.UNMASKING),
}

#: (stage, flow) -> the stage that follows it. The only place transitions are decided.
TRANSITIONS: dict[tuple[Stage, Flow], Stage] = {
    (stage, flow): nxt
    for flow, seq in _SEQUENCES.items()
    for stage, nxt in zip(seq, (*seq[1:], Stage.DONE), strict=True)
}


def flow_of(config: SecAggConfig) -> Flow:
    """The flow a config's rounds follow."""
    if config.graph_from_clients:
        return Flow.MALICIOUS_SPARSE
    return Flow.MALICIOUS if config.malicious else Flow.SEMI_HONEST


def next_stage(stage: Stage, flow: Flow) -> Stage:
    """The stage after ``stage``; ``OutOfOrder`` if the table has no such move."""
    try:
        return TRANSITIONS[(stage, flow)]
    except KeyError:
        raise OutOfOrder(f"no transition out of {stage.value!r} ({flow.value} round)") from None


def stages_of(flow: Flow) -> tuple[Stage, ...]:
    """The stages a round runs, in order, for this flow (DONE/ABORTED excluded)."""
    return _SEQUENCES[flow]


def require(current: Stage, expected: Stage, action: str) -> None:
    """Raise ``OutOfOrder`` unless ``current`` is the stage ``action`` belongs to."""
    if current is not expected:
        raise OutOfOrder(f"{action} is not allowed in stage {current.value!r}")
