"""``LightSecAggServer``: the aggregator's side of a LightSecAgg round, sans-IO.

``receive`` validates a message completely before recording it, so bad data raises a typed error
and changes nothing. ``close_stage`` ends a stage with whatever arrived — the caller's deadline —
and returns the next stage's message per client, or raises ``AbortError`` and moves to
``Stage.ABORTED``: when more clients dropped than the round was planned for (fewer than N − D
at any stage up to the masked input), or fewer than U + s replies came.

Masked inputs are summed as they arrive. At the end the server decodes the survivors' mask sum
from U replies in one step and checks it against every further reply
(:mod:`protocols.lightsecagg.coding`): if any reply disagrees, the round aborts and names the
replies that disagree (``disagreeing``), so no wrong sum comes out while at most
(replies − U) of them are wrong. The cost of decoding is U·m multiply-adds plus U·L per
further reply, whatever the number of dropouts.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from typing import Any

import numpy as np

from protocols.checks import check_sender, reporters_by_dealer
from secagg import keys
from secagg.errors import AbortError, OutOfOrder, ProtocolViolation
from secagg.field import PRIME

from . import codec, coding
from .config import LightSecAggConfig
from .messages import (
    AdvertiseKey,
    AggregateReply,
    MaskedInput,
    PackedShareMasks,
    PublicKeys,
    ShareMasks,
    Survivors,
)
from .stages import Stage, next_stage

_P = np.uint32(PRIME)

_EXPECTED: dict[Stage, type] = {
    Stage.ADVERTISE_KEYS: AdvertiseKey,
    Stage.SHARE_MASKS: ShareMasks,
    Stage.MASKED_INPUT: MaskedInput,
    Stage.AGGREGATE_MASK: AggregateReply,
}
#: Stages whose survivors count against the dropout budget (later dropouts change no sum).
_BUDGETED = (Stage.ADVERTISE_KEYS, Stage.SHARE_MASKS, Stage.MASKED_INPUT)


class LightSecAggServer:
    """The aggregator of one round: ``receive`` messages, ``close_stage`` at each deadline."""

    def __init__(self, config: LightSecAggConfig) -> None:
        self.config = config
        self._all_ids = frozenset(config.client_ids)
        self._stage = Stage.ADVERTISE_KEYS
        self._inbox: dict[int, object] = {}
        self._keys: dict[int, bytes] = {}  # U1: id -> c_pk
        self._public_keys: set[bytes] = set()  # every key advertised (all distinct)
        self._dealt: dict[int, PackedShareMasks] = {}  # U2: dealer -> its sealed sub-masks
        self._alive: tuple[int, ...] = ()  # U3
        self._refused: dict[int, frozenset[int]] = {}  # reporter -> dealers it refused
        self._sum: np.ndarray | None = None
        self._result: np.ndarray | None = None
        self._disagreeing: frozenset[int] = frozenset()

    @property
    def stage(self) -> Stage:
        """The stage whose messages the server is collecting."""
        return self._stage

    @property
    def expected(self) -> frozenset[int]:
        """The clients whose message of this stage may still come."""
        if self._stage not in _EXPECTED:
            return frozenset()
        return frozenset(self._senders() - self._inbox.keys())

    @property
    def included(self) -> frozenset[int]:
        """U3: the clients whose inputs are in the sum (empty until masked inputs are closed)."""
        return frozenset(self._alive)

    @property
    def disagreeing(self) -> frozenset[int]:
        """After an abort on a bad reply: the replies beyond the first U (by id) that disagree
        with what those U predict. One of the first U may be the wrong one instead, so this
        names where the code broke, not who broke it."""
        return self._disagreeing

    @property
    def reported(self) -> dict[int, frozenset[int]]:
        """Dealers left out of U3 because a holder could not open their sub-mask, and who."""
        return reporters_by_dealer(self._refused)

    def result(self) -> np.ndarray:
        """Σ_{i ∈ U3} x_i as exact integers (uint64; below p), once the round is done."""
        if self._result is None:
            raise OutOfOrder(f"no result in stage {self._stage.value!r}")
        return self._result.copy()

    # --- receiving ----------------------------------------------------------------------------

    def receive(self, client_id: int, data: bytes) -> None:
        """Validate one client's message for the current stage and record it."""
        stage = self._stage
        check_sender(stage, stage in _EXPECTED, client_id,
                     self._senders() if stage in _EXPECTED else frozenset(), self._inbox)
        message: Any
        if stage is Stage.SHARE_MASKS:
            message = codec.decode_packed_share_masks(data, self.config)
        else:
            message = codec.decode(data, self.config, _EXPECTED[stage])
        if message.sender != client_id:
            raise ProtocolViolation("message sender does not match the connection's client id")
        _CHECKS[stage](self, message)
        if stage is Stage.MASKED_INPUT:
            self._add(message.vector)
        self._inbox[client_id] = message

    def _senders(self) -> AbstractSet[int]:
        """Who may send in this stage: everyone, then U1, U2, U3."""
        stage = self._stage
        if stage is Stage.ADVERTISE_KEYS:
            return self._all_ids
        if stage is Stage.SHARE_MASKS:
            return self._keys.keys()
        if stage is Stage.MASKED_INPUT:
            return self._dealt.keys()
        return frozenset(self._alive)

    def _check_advertise(self, m: AdvertiseKey) -> None:
        """A key every honest client will accept: a point of large order, not seen before."""
        if m.c_pk in self._public_keys:
            raise ProtocolViolation(f"client {m.sender} advertised a key that is not fresh")
        keys.check_public_point(m.c_pk)
        self._public_keys.add(m.c_pk)  # last: nothing above changed state

    def _check_share_masks(self, m: PackedShareMasks) -> None:
        want = self._keys.keys() - {m.sender}
        if set(m.recipients) != want:
            raise ProtocolViolation("sealed sub-masks must go to exactly the other advertisers")

    def _check_masked(self, m: MaskedInput) -> None:
        if not set(m.refused) <= self._dealt.keys() - {m.sender}:
            raise ProtocolViolation("refused dealers that did not deal to this client")

    def _check_reply(self, m: AggregateReply) -> None:
        """The codec checked length and range; nothing else can be checked alone."""

    def _add(self, vector: np.ndarray) -> None:
        if self._sum is None:
            self._sum = np.zeros(self.config.vector_length, dtype=np.uint32)
        _add_mod(self._sum, vector)

    # --- closing stages -----------------------------------------------------------------------

    def close_stage(self) -> dict[int, bytes]:
        """End the current stage with what arrived; the next stage's message per client."""
        stage = self._stage
        if stage not in _EXPECTED:
            raise OutOfOrder(f"stage {stage.value!r} cannot be closed")
        self._require_enough(stage)
        inbox, self._inbox = self._inbox, {}
        try:
            out = _CLOSERS[stage](self, inbox)
        except BaseException:  # the round cannot go on from a half-closed stage
            self._stage = Stage.ABORTED
            raise
        self._stage = next_stage(stage)
        return out

    def _require_enough(self, stage: Stage) -> None:
        got, cfg = len(self._inbox), self.config
        if stage in _BUDGETED:
            needed, detail = cfg.min_survivors, f"at most {cfg.max_dropouts} dropouts planned"
        else:
            needed, detail = cfg.min_replies, (f"U = {cfg.U} replies decode the mask sum and "
                                               f"{cfg.spare_replies} more check it")
        if got < needed:
            self._stage = Stage.ABORTED
            raise AbortError(stage.value, needed, got, detail)

    def _close_advertise(self, inbox: dict[int, AdvertiseKey]) -> dict[int, bytes]:
        self._keys = {u: m.c_pk for u, m in sorted(inbox.items())}
        msg = codec.encode(PublicKeys(tuple(self._keys.items())), self.config)
        return dict.fromkeys(self._keys, msg)

    def _close_share_masks(self, inbox: dict[int, PackedShareMasks]) -> dict[int, bytes]:
        """Forward to each dealer v in U2 the sub-masks the other dealers sealed to it, cut as
        views out of each dealer's ciphertexts and copied once, into v's message."""
        self._dealt = dict(sorted(inbox.items()))
        col = {v: j for j, v in enumerate(sorted(self._keys))}
        size = codec.sealed_submask_size(self.config)
        views = {u: memoryview(m.ciphertexts) for u, m in self._dealt.items()}
        ids = np.array(list(self._dealt), dtype=np.int64)
        out = {}
        for r, v in enumerate(self._dealt):
            parts = []
            for u in self._dealt:
                if u != v:  # u sealed to U1 less itself, in id order
                    at = (col[v] - (col[v] > col[u])) * size
                    parts.append(views[u][at : at + size])
            out[v] = codec.encode_submasks_raw(v, np.delete(ids, r), parts, self.config)
        return out

    def _close_masked(self, inbox: dict[int, MaskedInput]) -> dict[int, bytes]:
        """U3: who sent a masked input, less every dealer some holder refused (its sub-mask is
        missing from that holder's reply: it counts as dropped, its input is taken back out)."""
        self._refused = {u: frozenset(m.refused) for u, m in inbox.items() if m.refused}
        excluded = frozenset().union(*self._refused.values()) & inbox.keys()
        assert self._sum is not None
        for v in excluded:
            _sub_mod(self._sum, inbox[v].vector)
        self._alive = tuple(sorted(inbox.keys() - excluded))
        needed = self.config.min_survivors
        if len(self._alive) < needed:
            raise AbortError(Stage.MASKED_INPUT.value, needed, len(self._alive),
                             f"{len(excluded)} left out for sub-masks their holders refused: "
                             f"{sorted(excluded)[:5]}")
        msg = codec.encode(Survivors(self._alive), self.config)
        return dict.fromkeys(self._alive, msg)

    def _close_aggregate(self, inbox: dict[int, AggregateReply]) -> dict[int, bytes]:
        replies = {u: m.vector for u, m in inbox.items()}
        mask_sum = self._decode_checked(replies)
        assert self._sum is not None
        total = self._sum.copy()
        _sub_mod(total, mask_sum)
        self._check_range(total)
        self._result = total.astype(np.uint64)
        return {}

    def _decode_checked(self, replies: dict[int, np.ndarray]) -> np.ndarray:
        """Σ z_i, from replies that all lie on one code word; a disagreement aborts."""
        mask_sum, wrong = coding.decode(self.config, replies)
        if wrong:
            first = sorted(replies)[: self.config.U]
            self._disagreeing = frozenset(wrong)
            raise AbortError(Stage.AGGREGATE_MASK.value, self.config.min_replies,
                             len(replies) - len(wrong),
                             f"replies that agree: clients {list(wrong)[:5]} disagree with the "
                             f"code word of clients {first[:5]}{'...' if len(first) > 5 else ''}"
                             "; some reply is wrong and the sum is withheld")
        return mask_sum

    def _check_range(self, total: np.ndarray) -> None:
        """A true sum of |U3| inputs below 2^b is at most |U3|·(2^b − 1): a last guard."""
        top = len(self._alive) * ((1 << self.config.input_bits) - 1)
        if total.size and int(total.max()) > top:
            raise AbortError(Stage.AGGREGATE_MASK.value, self.config.min_replies,
                             len(self._alive), "the decoded sum is out of the inputs' range; "
                             "the sum is withheld")


def _add_mod(acc: np.ndarray, v: np.ndarray) -> None:
    """acc = acc + v mod p, in place (uint32, both below p < 2^31, so the sum cannot wrap).
    acc − p wraps to a huge value when acc < p, so the minimum of the two is the reduced value:
    no branch, no mask array."""
    np.add(acc, v, out=acc)
    np.minimum(acc, acc - _P, out=acc)


def _sub_mod(acc: np.ndarray, v: np.ndarray) -> None:
    """acc = acc − v mod p, in place."""
    _add_mod(acc, _P - v)


_CHECKS: dict[Stage, Callable[..., None]] = {
    Stage.ADVERTISE_KEYS: LightSecAggServer._check_advertise,
    Stage.SHARE_MASKS: LightSecAggServer._check_share_masks,
    Stage.MASKED_INPUT: LightSecAggServer._check_masked,
    Stage.AGGREGATE_MASK: LightSecAggServer._check_reply,
}
_CLOSERS: dict[Stage, Callable[..., dict[int, bytes]]] = {
    Stage.ADVERTISE_KEYS: LightSecAggServer._close_advertise,
    Stage.SHARE_MASKS: LightSecAggServer._close_share_masks,
    Stage.MASKED_INPUT: LightSecAggServer._close_masked,
    Stage.AGGREGATE_MASK: LightSecAggServer._close_aggregate,
}
