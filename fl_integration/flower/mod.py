"""Client side: ``secagg_mod``, a Flower mod that answers our workflow's messages.

Flower may run each message of a node in a fresh process (SuperNode's subprocess isolation),
so nothing of the protocol may live in memory between stages. The node keeps in its Context a
32-byte round seed (drawn from the OS CSPRNG), the round setup and the server messages it has
seen; each stage rebuilds its ``SecAggClient`` from them, drawing all its randomness from
AES-CTR keyed by the seed, so the rebuilt client is the same client. Flower's own mod keeps its
raw private keys in the same Context; ours keeps one seed, drops it when the node answers the
round's last stage, and hides it from the rest of the ClientApp at every message (its training
and every message it passes through). A round that ends early for the node (it was dropped, it
refused a stage, the round aborted) leaves the seed in the Context until the node's next
``advertise_keys`` replaces it: the node has no clock to tell an aborted round from a slow one,
and Flower's runtimes differ on whether a Context survives a stage that raised.

Because a rebuilt client has the same keys, masks and share polynomials, a stage must never be
answered twice: answering ``masked_input`` twice would hand the server the difference of two
inputs under the same masks, and ``unmask`` for two survivor sets both kinds of share. The
Context cannot guard this (Flower delivers a node's messages concurrently, each with its own
copy of the Context), so every stage first claims (session, stage) in the node-local
``StageGuard`` (:mod:`.guard`), atomically, before anything is computed; a second claim is
refused (``OutOfOrder``). The Context still refuses skipped stages. The state is hidden from
the rest of the ClientApp while it trains, and the reply carries no plaintext weight.

The node answers whatever stages the round's config calls for (``stages_for``): four in the
semi-honest mode, plus ``consistency_check`` in malicious mode and ``reveal_seed`` in
malicious SecAgg+; LightSecAgg's four (``advertise_keys``, ``share_masks``, ``masked_input``,
``aggregate_mask``) when the setup carries a LightSecAgg config. LightSecAgg is semi-honest only:
a node with a signing key refuses it, and it holds the node's floors (``secagg-min-clients``,
and ``secagg-corrupt-fraction`` of the round's clients as the collusion budget), since the
server picks the cohort. With compression in the setup the node uploads its compressed update
(:mod:`.compress`) instead of the fixed-point encoding of its model. Every setup names the
Flower node of each client id (the roster) and commits to the model and fit config of the
round (``fit_digest``), and the session id commits to all of the setup but the client id
(:meth:`RoundSetup.sealed`); the node refuses a setup that gives its client id to another
node, and a ``masked_input`` whose model or config is not the committed one, before it trains
(``ProtocolViolation``; its round state stays as it was). Malicious mode
takes the node's Ed25519 signing key and the federation's verify-key file from the node config
(:mod:`.identity`); a node that has a signing key refuses semi-honest rounds.

Errors that cross the wire carry no data: Flower sends ``str(exception)`` to the server, so a
failed stage raises a fresh error with a fixed text. Failures the server's messages caused
keep their class (``OutOfOrder``, ``MalformedMessage``, ``WrongSession``,
``AuthenticationError``, ``ProtocolViolation``, ``AbortError`` with the counts the server sent);
every failure of the node itself (its training, an update refused by ``pack_update``) is one
``LocalError`` whose text is the same whatever the cause. The cause stays chained on the node,
where Flower logs it.
"""

from __future__ import annotations

import hmac
import math
import secrets
from collections.abc import Callable

import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import Parameters, parameters_to_ndarrays
from flwr.compat.common import recorddict_compat as compat
from nacl.signing import SigningKey

from protocols import SecAggClient
from protocols.lightsecagg import LightSecAggClient, LightSecAggConfig
from secagg.csprng import AesCtrRandom
from secagg.errors import (
    AbortError,
    AuthenticationError,
    LocalError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    SecAggError,
    WrongSession,
)

from . import compress
from .guard import StageGuard
from .identity import (
    SIGNING_KEY_KEY,
    VERIFY_KEYS_KEY,
    load_signing_key,
    load_verify_keys,
    verify_key_of,
)
from .records import (
    ADVERTISE_KEYS,
    AGGREGATE_MASK,
    CONSISTENCY_CHECK,
    FIT_DIGEST_BYTES,
    MASKED_INPUT,
    PAYLOAD,
    RECORD_KEY,
    REVEAL_SEED,
    SHARE_KEYS,
    SHARE_MASKS,
    STAGE,
    STATE_KEY,
    UNMASK,
    ProtocolConfig,
    RoundSetup,
    fit_digest,
    pack_update,
    stages_for,
)

CallNext = Callable[[Message, Context], Message]
MIN_CLIENTS_KEY = "secagg-min-clients"  # node config, malicious mode and LightSecAgg
CORRUPT_FRACTION_KEY = "secagg-corrupt-fraction"  # node config, malicious mode and LightSecAgg
DEFAULT_MIN_CLIENTS = 3
DEFAULT_CORRUPT_FRACTION = 0.05
_SEED = "seed"
_SETUP = "setup."
_SEEN = "seen."  # server message that opened each stage, replayed to rebuild the client
_DONE = "done"  # index in the round's stages (stages_for) of the last stage answered
_TOKEN = "token"  # the guard's token of this session's record (a stale state cannot claim)
_SERVER_FAULTS: dict[type[SecAggError], str] = {  # checked in order: subclasses first
    OutOfOrder: "already answered, or not reached yet",
    MalformedMessage: "the server's message does not decode or its setup is unsafe",
    WrongSession: "the message belongs to another session",
    AuthenticationError: "a ciphertext or signature did not verify",
    ProtocolViolation: "the server's message contradicts the protocol",
}


def secagg_mod(msg: Message, ctxt: Context, call_next: CallNext) -> Message:
    """Answer one stage of our secure aggregation; other message types pass through."""
    if msg.metadata.message_type != MessageType.TRAIN:
        return _without_state(msg, ctxt, call_next)
    record = msg.content.config_records.get(RECORD_KEY)
    if record is None:
        raise ProtocolViolation(
            "secagg_mod got a train message without secure-aggregation instructions; "
            "refusing to send a plaintext update (is the server using SecAggWorkflow?)"
        )
    stage = record.get(STAGE)
    if stage not in _HANDLERS:
        raise MalformedMessage("unknown secure-aggregation stage")
    try:
        content, payload = _HANDLERS[stage](msg, ctxt, call_next, record)
    except Exception as exc:  # noqa: BLE001 - every failure leaves as a data-free error
        raise _wire_error(stage, exc) from exc
    content.config_records[RECORD_KEY] = ConfigRecord({STAGE: stage, PAYLOAD: payload})
    return Message(content, reply_to=msg)


def _wire_error(stage: str, exc: Exception) -> SecAggError:
    """The error the server may see for a failed ``stage``: a class and a fixed text."""
    if isinstance(exc, AbortError):
        return AbortError(exc.stage, exc.needed, exc.received)
    for cls, why in _SERVER_FAULTS.items():
        if isinstance(exc, cls):
            return cls(f"{stage} refused: {why}")
    return LocalError(f"{stage}: this node could not take part (the reason stays on the node)")


def _advertise(msg: Message, ctxt: Context, _next: CallNext, record: ConfigRecord):
    """Stage 0: a fresh round — new seed, new setup, nothing kept from earlier rounds. The
    setup is checked (roster, mode, keys) before the session is claimed."""
    setup = RoundSetup.from_record(record)
    _identity(ctxt, setup)
    token = _guard(ctxt).open_session(setup.config.session_id)
    state = ConfigRecord({_SEED: secrets.token_bytes(32), _DONE: 0, _TOKEN: token})
    for key, value in setup.to_record().items():
        state[_SETUP + key] = value
    out = _rebuild(ctxt, state, ADVERTISE_KEYS).respond()
    ctxt.state.config_records[STATE_KEY] = state
    return RecordDict(), out


def _step(msg: Message, ctxt: Context, _next: CallNext, record: ConfigRecord):
    """A stage between setup and masking, or the consistency check: the protocol's answer."""
    stage = str(record.get(STAGE))  # one of _HANDLERS: secagg_mod checked
    state, _ = _claim(ctxt, stage)
    payload = _payload(record)
    out = _rebuild(ctxt, state, stage).respond(payload)
    _answered(state, stage, payload)
    return RecordDict(), out


def _masked_input(msg: Message, ctxt: Context, call_next: CallNext, record: ConfigRecord):
    """Check that the model and fit config are the ones the session committed to, train (the
    rest of the ClientApp), then upload only the masked encoding. The input is then sent, so
    an error-feedback residual is kept now (the node cannot see whether it reaches the sum)."""
    _check_fit(msg, _setup(_state(ctxt)))  # before the claim: a refusal changes nothing
    state, setup = _claim(ctxt, MASKED_INPUT)
    payload = _payload(record)
    client = _rebuild(ctxt, state, MASKED_INPUT)
    received = parameters_to_ndarrays(compat.recorddict_to_fitins(msg.content, True).parameters)
    reply = _without_state(msg, ctxt, call_next)
    fitres = compat.recorddict_to_fitres(reply.content, keep_input=True)
    trained = parameters_to_ndarrays(fitres.parameters)
    if setup.compression:
        words = compress.encode_update(ctxt, state, setup, received, trained,
                                       fitres.num_examples)
    else:
        vector = pack_update(trained, fitres.num_examples, setup.clip, setup.max_weight)
        if vector.size != setup.vector_length:
            raise ValueError("the trained model's size differs from the round's")
        words = setup.encoder().encode(vector)
    out = client.respond(payload, words)
    _answered(state, MASKED_INPUT, payload)
    compress.commit_residual(ctxt, state)
    # The plaintext update and weight never leave the node: both travel under the mask.
    # Metrics are the user's own plaintext choice and are passed on as Flower does.
    fitres.parameters = Parameters(tensors=[], tensor_type="")
    fitres.num_examples = 1
    return compat.fitres_to_recorddict(fitres, keep_input=False), out


def _unmask(msg: Message, ctxt: Context, _next: CallNext, record: ConfigRecord):
    """Last stage (SecAgg's unmask, LightSecAgg's aggregate_mask): answer for the survivor
    set, then forget the round (its seed with it)."""
    stage = str(record.get(STAGE))  # one of _HANDLERS: secagg_mod checked
    state, _ = _claim(ctxt, stage)
    out = _rebuild(ctxt, state, stage).respond(_payload(record))
    del ctxt.state.config_records[STATE_KEY]
    return RecordDict(), out


_HANDLERS = {
    ADVERTISE_KEYS: _advertise,
    REVEAL_SEED: _step,
    SHARE_KEYS: _step,
    SHARE_MASKS: _step,
    MASKED_INPUT: _masked_input,
    CONSISTENCY_CHECK: _step,
    UNMASK: _unmask,
    AGGREGATE_MASK: _unmask,
}


def _claim(ctxt: Context, stage: str) -> tuple[ConfigRecord, RoundSetup]:
    """The round state, after refusing a skipped stage (Context) and claiming ``stage`` of
    this session in the node-local guard, before anything is computed."""
    state = _state(ctxt)
    setup = _setup(state)
    _expect(state, stages_for(setup.config), stage)
    token = state.get(_TOKEN)
    _guard(ctxt).claim(setup.config.session_id, stage, token if isinstance(token, bytes) else b"")
    return state, setup


def _guard(ctxt: Context) -> StageGuard:
    return StageGuard.for_node(ctxt.node_id, ctxt.node_config)


def _expect(state: ConfigRecord, stages: tuple[str, ...], stage: str) -> None:
    """Refuse any stage but the one after the last answered (no repeats, no skips)."""
    done = state.get(_DONE)
    if not isinstance(done, int) or stage not in stages or stages.index(stage) != done + 1:
        last = stages[done] if isinstance(done, int) and 0 <= done < len(stages) else "?"
        raise OutOfOrder(f"stage {stage} refused: the last stage this node answered is {last}")


def _answered(state: ConfigRecord, stage: str, seen: bytes) -> None:
    """Record in one write the server message of ``stage`` and that it has been answered."""
    state[_SEEN + stage] = seen
    state[_DONE] = stages_for(_setup(state).config).index(stage)


def _without_state(msg: Message, ctxt: Context, call_next: CallNext) -> Message:
    """Run the rest of the ClientApp with the round state (the seed) out of its sight, then
    put it back."""
    state = ctxt.state.config_records.pop(STATE_KEY, None)
    try:
        return call_next(msg, ctxt)
    finally:
        if state is not None:
            ctxt.state.config_records[STATE_KEY] = state


def _check_fit(msg: Message, setup: RoundSetup) -> None:
    """Refuse a model or fit config other than the one the round's session committed to: two
    nodes of one session train from one model, or no update of theirs is summed."""
    if not hmac.compare_digest(fit_digest(msg.content), setup.fit_digest):
        raise ProtocolViolation("the model or fit config is not the one the round committed to")


def _rebuild(ctxt: Context, state: ConfigRecord, stage: str
             ) -> SecAggClient | LightSecAggClient:
    """The round's client, brought to just before ``stage`` by replaying what it saw."""
    setup, config = _setup(state), _setup(state).config
    signing_key, verify_keys = _identity(ctxt, setup)
    seed = state.get(_SEED)
    if not isinstance(seed, bytes):
        raise OutOfOrder("secure-aggregation stage before this node's setup")
    rng = AesCtrRandom(seed=seed)
    client: SecAggClient | LightSecAggClient
    if isinstance(config, LightSecAggConfig):
        client = LightSecAggClient(config, setup.client_id, rng=rng)
    else:
        client = SecAggClient(config, setup.client_id, signing_key, verify_keys, rng=rng)
    if stage == ADVERTISE_KEYS:
        return client
    client.respond()
    stages = stages_for(setup.config)
    for done in stages[1 : stages.index(stage)]:
        seen = state.get(_SEEN + done)
        if not isinstance(seen, bytes):
            raise OutOfOrder(f"stage {stage} before {done}")
        # masked_input is replayed only for the shares it stores; the upload is discarded
        vector = np.zeros(setup.vector_length, dtype=np.uint32) if client.wants_input else None
        client.respond(seen, vector)
    return client


def _identity(ctxt: Context, setup: RoundSetup
              ) -> tuple[SigningKey | None, dict[int, bytes] | None]:
    """This node's signing key and the round's verify keys by client id (malicious mode), after
    checking the roster: this node holds its client id, a node with a signing key takes part
    in malicious rounds only, and every node of the roster is in the node's own verify-key
    file (node config, never the server's word)."""
    if not setup.nodes:
        raise MalformedMessage("round setup without a roster")
    if len(setup.fit_digest) != FIT_DIGEST_BYTES:
        raise MalformedMessage("round setup without a commitment to the model")
    if setup.node_of(setup.client_id) != ctxt.node_id:
        raise ProtocolViolation("the roster gives this node's client id to another node")
    key_path = ctxt.node_config.get(SIGNING_KEY_KEY)
    config = setup.config
    if isinstance(config, LightSecAggConfig) or not config.malicious:
        if key_path:
            raise ProtocolViolation("this node takes part in malicious-mode rounds only")
        if isinstance(config, LightSecAggConfig):
            _check_policy(ctxt, config, config.num_clients)
        return None, None
    keys_path = ctxt.node_config.get(VERIFY_KEYS_KEY)
    if not key_path or not keys_path:
        raise LocalError(f"a malicious-mode round needs the node config keys {SIGNING_KEY_KEY} "
                         f"and {VERIFY_KEYS_KEY}")
    signing_key = load_signing_key(str(key_path))
    known = load_verify_keys(str(keys_path))
    if known.get(ctxt.node_id) != verify_key_of(signing_key):
        raise LocalError("the verify-key file does not hold this node's key under its node id")
    if any(node not in known for node in setup.nodes):
        raise ProtocolViolation("the roster names a node outside this node's verify-key file")
    _check_policy(ctxt, setup.config, len(known))
    return signing_key, {cid: known[setup.node_of(cid)] for cid in setup.config.client_ids}


def _check_policy(ctxt: Context, config: ProtocolConfig, federation: int) -> None:
    """Malicious mode and LightSecAgg: the server picks the cohort and the budgets, so the node
    holds its own floors (node config): at least ``secagg-min-clients`` clients, and a
    collusion budget of at least ``secagg-corrupt-fraction`` of the federation (malicious
    mode: its verify-key file; LightSecAgg, which has none: the round's clients). Otherwise a
    server could run a round of the victim and its colluders, planned for no colluder."""
    least = ctxt.node_config.get(MIN_CLIENTS_KEY, DEFAULT_MIN_CLIENTS)
    fraction = ctxt.node_config.get(CORRUPT_FRACTION_KEY, DEFAULT_CORRUPT_FRACTION)
    if isinstance(least, bool) or not isinstance(least, int) or isinstance(fraction, bool) \
            or not isinstance(fraction, int | float) or not 0 <= fraction < 1:
        raise LocalError(f"node config {MIN_CLIENTS_KEY} must be an int and "
                         f"{CORRUPT_FRACTION_KEY} a number in [0, 1)")
    if config.num_clients < least:
        raise ProtocolViolation("the round is smaller than this node's floor")
    if config.max_corrupt < math.ceil(fraction * federation - 1e-9):
        raise ProtocolViolation("the round plans for fewer colluders than this node assumes")


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
