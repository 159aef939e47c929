"""Client side: ``secagg_mod``, a Flower mod that answers our workflow's messages.

Flower may run each message of a node in a fresh process (SuperNode's subprocess isolation),
so nothing of the protocol may live in memory between stages. The node keeps in its Context a
32-byte round seed (drawn from the OS CSPRNG) and the server messages it has seen; each stage
rebuilds its ``SecAggClient`` from them, drawing all its randomness from AES-CTR keyed by the
seed, so the rebuilt client is the same client. Flower's own mod keeps its raw private keys in
the same Context; ours keeps one seed and drops it when the round ends.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat

from protocols import SecAggClient
from secagg.csprng import AesCtrRandom
from secagg.errors import MalformedMessage, OutOfOrder, ProtocolViolation

from .records import (
    ADVERTISE_KEYS,
    MASKED_INPUT,
    PAYLOAD,
    RECORD_KEY,
    SHARE_KEYS,
    STAGE,
    STAGES,
    STATE_KEY,
    UNMASK,
    RoundSetup,
    pack_update,
)

CallNext = Callable[[Message, Context], Message]
_SEED = "seed"
_SETUP = "setup."
_SEEN = "seen."  # server message that opened each stage, replayed to rebuild the client


def secagg_mod(msg: Message, ctxt: Context, call_next: CallNext) -> Message:
    """Answer one stage of our secure aggregation; other message types pass through."""
    if msg.metadata.message_type != MessageType.TRAIN:
        return call_next(msg, ctxt)
    record = msg.content.config_records.get(RECORD_KEY)
    if record is None:
        raise ProtocolViolation(
            "secagg_mod got a train message without secure-aggregation instructions; "
            "refusing to send a plaintext update (is the server using SecAggWorkflow?)"
        )
    stage = record.get(STAGE)
    if stage not in _HANDLERS:
        raise MalformedMessage(f"unknown secure-aggregation stage {stage!r}")
    content, payload = _HANDLERS[stage](msg, ctxt, call_next, record)
    content.config_records[RECORD_KEY] = ConfigRecord({STAGE: stage, PAYLOAD: payload})
    return Message(content, reply_to=msg)


def _advertise(msg: Message, ctxt: Context, _next: CallNext, record: ConfigRecord):
    """Stage 0: a fresh round — new seed, new setup, nothing kept from earlier rounds."""
    setup = RoundSetup.from_record(record)
    state = ConfigRecord({_SEED: secrets.token_bytes(32)})
    for key, value in setup.to_record().items():
        state[_SETUP + key] = value
    ctxt.state.config_records[STATE_KEY] = state
    return RecordDict(), _rebuild(state, ADVERTISE_KEYS).advertise_keys()


def _share_keys(msg: Message, ctxt: Context, _next: CallNext, record: ConfigRecord):
    state = _state(ctxt)
    payload = _payload(record)
    out = _rebuild(state, SHARE_KEYS).share_keys(payload)
    state[_SEEN + SHARE_KEYS] = payload
    return RecordDict(), out


def _masked_input(msg: Message, ctxt: Context, call_next: CallNext, record: ConfigRecord):
    """Stage 2: train (the rest of the ClientApp), then upload only the masked encoding."""
    state = _state(ctxt)
    payload = _payload(record)
    client = _rebuild(state, MASKED_INPUT)
    setup = _setup(state)
    reply = call_next(msg, ctxt)
    content = reply.content
    fitres = compat.recorddict_to_fitres(content, keep_input=True)
    vector = pack_update(
        parameters_to_ndarrays(fitres.parameters), fitres.num_examples, setup.clip,
        setup.max_weight,
    )
    if vector.size != setup.vector_length:
        raise ValueError(
            f"the trained model has {vector.size - 1} values, the round expects "
            f"{setup.vector_length - 1}"
        )
    out = client.masked_input(payload, setup.encoder().encode(vector))
    for arrays in content.array_records.values():
        arrays.clear()  # the plaintext update never leaves the node
    state[_SEEN + MASKED_INPUT] = payload
    return content, out


def _unmask(msg: Message, ctxt: Context, _next: CallNext, record: ConfigRecord):
    """Last stage: reveal the shares the survivor set calls for, then forget the round."""
    state = _state(ctxt)
    out = _rebuild(state, UNMASK).unmask(_payload(record))
    del ctxt.state.config_records[STATE_KEY]
    return RecordDict(), out


_HANDLERS = {
    ADVERTISE_KEYS: _advertise,
    SHARE_KEYS: _share_keys,
    MASKED_INPUT: _masked_input,
    UNMASK: _unmask,
}


def _rebuild(state: ConfigRecord, stage: str) -> SecAggClient:
    """The round's client, brought to just before ``stage`` by replaying what it saw."""
    setup = _setup(state)
    client = SecAggClient(
        setup.protocol_config(), setup.client_id, rng=AesCtrRandom(seed=state[_SEED])
    )
    if stage == ADVERTISE_KEYS:
        return client
    client.advertise_keys()
    for done in STAGES[1 : STAGES.index(stage)]:
        seen = state.get(_SEEN + done)
        if seen is None:
            raise OutOfOrder(f"stage {stage} before {done}")
        if done == MASKED_INPUT:  # replayed only for the shares it stores; upload discarded
            client.masked_input(seen, setup.encoder().encode(np.zeros(setup.vector_length)))
        else:
            getattr(client, done)(seen)
    return client


def _state(ctxt: Context) -> ConfigRecord:
    state = ctxt.state.config_records.get(STATE_KEY)
    if state is None or _SEED not in state:
        raise OutOfOrder("secure-aggregation stage before this node's setup")
    return state


def _setup(state: ConfigRecord) -> RoundSetup:
    n = len(_SETUP)
    return RoundSetup.from_record({k[n:]: v for k, v in state.items() if k.startswith(_SETUP)})


def _payload(record: ConfigRecord) -> bytes:
    payload = record.get(PAYLOAD)
    if not isinstance(payload, bytes):
        raise MalformedMessage("secure-aggregation message without a bytes payload")
    return payload
