"""The stages of a round and the one table of transitions between them (DESIGN §2.2)."""

from __future__ import annotations

from enum import Enum

from secagg.errors import OutOfOrder


class Stage(Enum):
    """Where a party is in the round; the value is the stage's name in stats and errors."""

    ADVERTISE_KEYS = "advertise_keys"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    CONSISTENCY_CHECK = "consistency_check"
    UNMASKING = "unmasking"
    DONE = "done"
    ABORTED = "aborted"


#: (stage, malicious) -> the stage that follows it. The only place transitions are decided.
TRANSITIONS: dict[tuple[Stage, bool], Stage] = {
    (Stage.ADVERTISE_KEYS, False): Stage.SHARE_KEYS,
    (Stage.ADVERTISE_KEYS, True): Stage.SHARE_KEYS,
    (Stage.SHARE_KEYS, False): Stage.MASKED_INPUT,
    (Stage.SHARE_KEYS, True): Stage.MASKED_INPUT,
    (Stage.MASKED_INPUT, False): Stage.UNMASKING,
    (Stage.MASKED_INPUT, True): Stage.CONSISTENCY_CHECK,
    (Stage.CONSISTENCY_CHECK, True): Stage.UNMASKING,
    (Stage.UNMASKING, False): Stage.DONE,
    (Stage.UNMASKING, True): Stage.DONE,
}


def next_stage(stage: Stage, malicious: bool) -> Stage:
    """The stage after ``stage``; ``OutOfOrder`` if the table has no such move."""
    try:
        return TRANSITIONS[(stage, malicious)]
    except KeyError:
        raise OutOfOrder(f"no transition out of {stage.value!r} (malicious={malicious})") from None


def stages_of(malicious: bool) -> tuple[Stage, ...]:
    """The stages a round runs, in order, for this mode (DONE/ABORTED excluded)."""
    out = [Stage.ADVERTISE_KEYS]
    while (nxt := TRANSITIONS[(out[-1], malicious)]) is not Stage.DONE:
        out.append(nxt)
    return tuple(out)


def require(current: Stage, expected: Stage, action: str) -> None:
    """Raise ``OutOfOrder`` unless ``current`` is the stage ``action`` belongs to."""
    if current is not expected:
        raise OutOfOrder(f"{action} is not allowed in stage {current.value!r}")
