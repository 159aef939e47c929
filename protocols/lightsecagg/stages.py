"""The stages of a LightSecAgg round and the one table of transitions between them.

| stage | client sends | server checks, then sends each client |
|---|---|---|
| advertise_keys | c_pk (X25519, for sealing sub-masks) | >= N - D advertisers (U1); every key |
| share_masks | one sealed coded sub-mask per other member of U1 | >= N - D dealers (U2); the sub-masks addressed to each |
| masked_input | y_i = x_i + z_i mod p, and the dealers whose sub-masks did not open | >= N - D (U3, less refused dealers); U3 |
| aggregate_mask | Σ_{i ∈ U3} of the coded sub-masks it holds | >= U + s replies; decodes and checks Σ z_i, returns Σ x_i |
"""

from __future__ import annotations

from enum import Enum

from secagg.errors import OutOfOrder


class Stage(Enum):
    """Where a party is in the round; the value is the stage's name in stats and errors."""

    ADVERTISE_KEYS = "advertise_keys"
    SHARE_MASKS = "share_masks"
    MASKED_INPUT = "masked_input"
    AGGREGATE_MASK = "aggregate_mask"
    DONE = "done"
    ABORTED = "aborted"


#: The stages a round runs, in order (DONE/ABORTED excluded).
STAGES: tuple[Stage, ...] = (
    Stage.ADVERTISE_KEYS, Stage.SHARE_MASKS, Stage.MASKED_INPUT, Stage.AGGREGATE_MASK,
)

#: stage -> the stage that follows it. The only place transitions are decided.
TRANSITIONS: dict[Stage, Stage] = dict(zip(STAGES, (*STAGES[1:], Stage.DONE), strict=True))


def next_stage(stage: Stage) -> Stage:
    """The stage after ``stage``; ``OutOfOrder`` if the table has no such move."""
    try:
        return TRANSITIONS[stage]
    except KeyError:
        raise OutOfOrder(f"no transition out of {stage.value!r}") from None


def require(current: Stage, expected: Stage, action: str) -> None:
    """Raise ``OutOfOrder`` unless ``current`` is the stage ``action`` belongs to."""
    if current is not expected:
        raise OutOfOrder(f"{action} is not allowed in stage {current.value!r}")
