"""What the round's session id binds over Flower: the third review's attacks, as regressions.

F1: the server showed each node different encoding parameters (``clip``, ``scale``,
``max_weight``) within one session, so that every node but a victim contributed ~0 and the
"average" was the victim's model. F2: it sent the victim the real model and every other node a
model of +1e6, whose updates clip to a known constant. F3: a node that missed the last stage
lost its error-feedback residual although its input was in the sum. Every attack runs through
the real ``SecAggWorkflow``, ``secagg_mod`` and ``LocalGrid``, as the review's scripts did, and
must now fail: the nodes refuse, the round aborts, and no aggregate is released.
"""

from __future__ import annotations

import dataclasses
import os
from dataclasses import fields

import numpy as np
import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
pytest.importorskip("flwr")

import flwr.compat.common.recorddict_compat as compat  # noqa: E402
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict  # noqa: E402
from flwr.client import ClientApp, NumPyClient  # noqa: E402
from flwr.common import FitIns, ndarrays_to_parameters  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.common.serde import (  # noqa: E402
    context_from_proto,
    context_to_proto,
    message_from_proto,
    message_to_proto,
)
from flwr.server import LegacyContext, ServerConfig  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from fl_integration.flower import SecAggWorkflow, secagg_mod  # noqa: E402
from fl_integration.flower.compress import FEEDBACK_KEY  # noqa: E402
from fl_integration.flower.identity import (  # noqa: E402
    SIGNING_KEY_KEY,
    VERIFY_KEYS_KEY,
    write_signing_key,
    write_verify_keys,
)
from fl_integration.flower.local import LocalGrid  # noqa: E402
from fl_integration.flower.records import (  # noqa: E402
    ADVERTISE_KEYS,
    MASKED_INPUT,
    PAYLOAD,
    RECORD_KEY,
    STAGE,
    STATE_KEY,
    RoundSetup,
    _encode_nodes,
    _setup_digest,
    fit_digest,
)
from protocols import SecAggConfig, SecAggServer  # noqa: E402
from secagg.errors import AbortError, MalformedMessage, ProtocolViolation  # noqa: E402

from .test_flower import SHAPES, Recording, assert_close, fedavg, make_client_app  # noqa: E402

N, VICTIM = 5, 2  # five nodes; the victim's partition id
CLIP = 8.0


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "secagg-state"))
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID


def victim_node() -> int:
    return LocalGrid.node_id(VICTIM)


def pki(tmp_path, n: int = N):
    """A signing key per node and the verify-key file: (node_config, file)."""
    keys, config = {}, {}
    for pid in range(n):
        path = tmp_path / f"node-{pid}.key"
        keys[LocalGrid.node_id(pid)] = write_signing_key(path)
        config[pid] = {SIGNING_KEY_KEY: str(path)}
    file = tmp_path / "verify-keys.json"
    write_verify_keys(file, keys)
    for pid in config:
        config[pid][VERIFY_KEYS_KEY] = str(file)
    return config, file


def run(workflow, *, n: int = N, node_config=None, app=None, rounds: int = 1,
        grid_cls=LocalGrid, **grid_kw):
    """One federation of ``n`` nodes through DefaultWorkflow; (strategy, grid), or the error
    the workflow raised as ``workflow.raised``."""
    strategy = Recording(n)
    grid = grid_cls(app or make_client_app(), n, node_config=node_config, **grid_kw)
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    return strategy, grid


class Watching(SecAggWorkflow):
    """Notes every error reply: (stage, node, reason)."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.refusals: list[tuple[str, int, str]] = []

    def _receive(self, rnd, stage, reply):
        if reply.has_error():
            self.refusals.append((stage, reply.metadata.src_node_id, reply.error.reason))
        super()._receive(rnd, stage, reply)

    def refused_at(self, stage: str) -> set[int]:
        return {node for st, node, _ in self.refusals if st == stage}


def _workflow(cls, mode: str, tmp_path, **kw):
    """(workflow, node_config) of a malicious (PKI), LightSecAgg, semi-honest or compressed
    round, as the review's scripts ran them."""
    if mode == "malicious":
        node_config, file = pki(tmp_path)
        return cls(num_shares=N, reconstruction_threshold=4, malicious=True, verify_keys=file,
                   **kw), node_config
    if mode == "lightsecagg":
        return cls(protocol="lightsecagg", **kw), None
    if mode == "compress":
        return cls(compression="quantize:bits=8", **kw), None
    return cls(**kw), None


# -- F1: encoding parameters ------------------------------------------------------------------


class Skewing(Watching):
    """The review's F1 server: one session, but the victim gets max_weight 1 (its weight share
    is 1) and every other node 1e300 (theirs round to 0); or, for ``clip``, the others a clip
    that makes their parameters ~0."""

    def __init__(self, knob: str, attacked: str, **kw) -> None:
        super().__init__(**kw)
        self.knob, self.mode = knob, attacked

    def _message(self, rnd, stage, node, data):
        msg = super()._message(rnd, stage, node, data)
        if stage == ADVERTISE_KEYS:
            record = msg.content.config_records[RECORD_KEY]
            victim = node == victim_node()
            if self.knob == "max_weight":
                record["max_weight"] = 1.0 if victim else 1e300
            else:
                record["clip"] = CLIP if victim else (1e300 if self.mode == "compress" else 1e-300)
            msg.content.config_records[RECORD_KEY] = ConfigRecord(dict(record.items()))
        return msg


@pytest.mark.parametrize("mode, knob", [
    ("malicious", "max_weight"), ("malicious", "clip"), ("lightsecagg", "max_weight"),
    ("semihonest", "max_weight"), ("semihonest", "clip"), ("compress", "clip"),
])
def test_f1_nodes_shown_other_encoding_parameters_refuse_and_the_round_aborts(
        mode, knob, tmp_path):
    workflow, node_config = _workflow(Skewing, mode, tmp_path, max_weight=100.0,
                                      clipping_range=CLIP, knob=knob, attacked=mode)
    strategy = Recording(N)
    with pytest.raises(AbortError, match="advertise_keys"):
        strategy, _ = run(workflow, node_config=node_config)
    assert strategy.rounds == {}  # nothing released, the victim's model least of all
    others = {LocalGrid.node_id(p) for p in range(N) if p != VICTIM}
    assert others <= workflow.refused_at(ADVERTISE_KEYS)
    assert all("MalformedMessage" in reason for _, _, reason in workflow.refusals)


class Resealing(Watching):
    """A server that knows the fix: it seals one setup for the victim (max_weight 1) and another
    for everyone else (1e300), each session valid on its own. The two are different sessions,
    so in malicious mode the victim's signed keys count in neither the others' round nor its."""

    def _start(self, context):
        rnd = super()._start(context)
        values = {f.name: getattr(rnd.setup, f.name) for f in fields(RoundSetup)}
        self.victim_setup = RoundSetup.sealed(**{**values, "max_weight": 1.0})
        rnd.setup = RoundSetup.sealed(**{**values, "max_weight": 1e300})
        self.others_session = rnd.setup.config.session_id
        keys = {cid: self.verify_keys[rnd.setup.node_of(cid)]
                for cid in rnd.setup.config.client_ids}
        rnd.server = SecAggServer(rnd.setup.config, keys)
        return rnd

    def _message(self, rnd, stage, node, data):
        msg = super()._message(rnd, stage, node, data)
        if stage == ADVERTISE_KEYS and node == victim_node():
            setup = dataclasses.replace(self.victim_setup, client_id=rnd.node_to_id[node])
            msg.content.config_records[RECORD_KEY] = ConfigRecord(
                {STAGE: stage, PAYLOAD: data, **setup.to_record()})
        return msg


def test_f1_a_resealed_setup_is_another_session_and_releases_nothing(tmp_path):
    node_config, file = pki(tmp_path)
    workflow = Resealing(num_shares=N, reconstruction_threshold=4, malicious=True,
                         verify_keys=file, max_weight=100.0)
    strategy = Recording(N)
    with pytest.raises((AbortError, ProtocolViolation)):
        strategy, _ = run(workflow, node_config=node_config)
    assert strategy.rounds == {}
    assert workflow.victim_setup.config.session_id != workflow.others_session


def _full_setup() -> RoundSetup:
    """A setup with every field away from its default, compression included."""
    nodes = tuple(LocalGrid.node_id(p) for p in range(4))
    config = SecAggConfig(client_ids=(1, 2, 3, 4), vector_length=6, threshold=3,
                          malicious=True)
    return RoundSetup.sealed(
        client_id=2, config=config, clip=8.0, scale=1.0, max_weight=100.0, nodes=nodes,
        fit_digest=bytes(range(32)), compression="quantize:bits=4",
        compression_seed=bytes(range(32, 64)), compression_dimension=5, compression_bits=16,
        nonce=bytes(32))


def _changed(name: str, value: object) -> object:
    """Another value of a setup field, of its type."""
    if isinstance(value, SecAggConfig):
        return dataclasses.replace(value, vector_length=value.vector_length + 1)
    if isinstance(value, tuple):
        return value[::-1]
    if isinstance(value, float):
        return value * 2
    if isinstance(value, int):
        return value + 1
    if isinstance(value, str):
        return value + "0"
    if isinstance(value, bytes):
        return bytes([value[0] ^ 1]) + value[1:]
    pytest.fail(f"RoundSetup.{name} is of a type this test cannot change: teach it, and check "
                "that records._field_bytes binds it")


def test_every_setup_field_but_the_client_id_changes_the_session_digest():
    """Iterates over the dataclass, so a field added later is covered (or fails here)."""
    setup = _full_setup()
    values = {f.name: getattr(setup, f.name) for f in fields(RoundSetup)}
    nonce = setup.config.session_id[:32]
    digest = _setup_digest(nonce, values)
    assert setup.config.session_id[32:] == digest
    for f in fields(RoundSetup):
        changed = _setup_digest(nonce, {**values, f.name: _changed(f.name, values[f.name])})
        if f.name == "client_id":
            assert changed == digest  # the one field that differs between the nodes
        else:
            assert changed != digest, f.name


def test_every_setup_field_but_the_client_id_is_refused_when_changed_on_the_wire():
    setup = _full_setup()
    record = setup.to_record()
    assert RoundSetup.from_record(record) == setup
    for f in fields(RoundSetup):
        value = _changed(f.name, getattr(setup, f.name))
        if f.name == "config":
            value = value.to_bytes()  # same session id, another parameter
        elif f.name == "nodes":
            value = _encode_nodes(value)
        if f.name == "client_id":
            assert RoundSetup.from_record({**record, f.name: 3}).client_id == 3
            continue
        with pytest.raises(MalformedMessage):
            RoundSetup.from_record({**record, f.name: value})


def test_a_field_of_a_type_without_a_binding_fails_loudly():
    values = {f.name: getattr(_full_setup(), f.name) for f in fields(RoundSetup)}
    with pytest.raises(TypeError, match="no session binding"):
        _setup_digest(bytes(32), {**values, "clip": [8.0]})


# -- F2: the model and fit config ------------------------------------------------------------


class Realistic(NumPyClient):
    """Trains as a node does: the model it got plus a private step."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def fit(self, parameters, config):
        return [p + d for p, d in zip(parameters, delta(self.pid), strict=True)], \
            10 * (self.pid + 1), {}


def delta(pid: int) -> list[np.ndarray]:
    return [np.full(s, 0.1 * (pid + 1) * (-1) ** pid, np.float32) for s in SHAPES]


def realistic_app() -> ClientApp:
    def client_fn(context: Context):
        return Realistic(int(context.node_config["partition-id"])).to_client()

    return ClientApp(client_fn=client_fn, mods=[secagg_mod])


def poisoned(content: RecordDict, value: float = 1e6) -> RecordDict:
    """The same FitIns with every parameter set to ``value``."""
    ins = compat.recorddict_to_fitins(content, keep_input=True)
    model = [np.full(s, value, np.float32) for s in SHAPES]
    return compat.fitins_to_recorddict(FitIns(ndarrays_to_parameters(model), ins.config), True)


class InconsistentModel(Watching):
    """The review's F2 server: one consistent setup, but every node but the victim gets a model
    of +1e6 (their clipped models are exactly +clip: the sum is the victim's plus a constant)."""

    def _start(self, context):
        rnd = super()._start(context)
        for node in rnd.fitins:
            if node != victim_node():
                rnd.fitins[node] = poisoned(rnd.fitins[node])
        return rnd


@pytest.mark.parametrize("mode", ["malicious", "lightsecagg"])
def test_f2_nodes_sent_another_model_refuse_before_training_and_the_round_aborts(
        mode, tmp_path):
    workflow, node_config = _workflow(InconsistentModel, mode, tmp_path, max_weight=1.0,
                                      clipping_range=CLIP)
    strategy = Recording(N)
    with pytest.raises(AbortError, match="masked_input"):
        strategy, _ = run(workflow, node_config=node_config, app=realistic_app())
    assert strategy.rounds == {}
    others = {LocalGrid.node_id(p) for p in range(N) if p != VICTIM}
    assert workflow.refused_at(MASKED_INPUT) == others
    assert all("ProtocolViolation" in r for st, _, r in workflow.refusals if st == MASKED_INPUT)


class Probing(SecAggWorkflow):
    """Before the real masked_input, hands the victim's mod (its Context as stored) messages
    whose model, config or extra records differ from the committed ones, and checks that each
    is refused with the Context unchanged and the ClientApp never run. The round then goes on,
    the victim included."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.probed = 0

    def _exchange(self, grid, rnd, stage, outgoing):
        if stage == MASKED_INPUT:
            node = victim_node()
            content = rnd.fitins[node]
            ins = compat.recorddict_to_fitins(content, keep_input=True)
            other_config = compat.fitins_to_recorddict(
                FitIns(ins.parameters, {**ins.config, "round": 99}), True)
            extra = compat.fitins_to_recorddict(ins, True)
            extra["extra"] = ConfigRecord({"lr": 10.0})
            for bad in (poisoned(content), poisoned(content, 1e-3), other_config, extra):
                self._probe(grid, rnd, node, outgoing[rnd.node_to_id[node]], bad)
        return super()._exchange(grid, rnd, stage, outgoing)

    def _probe(self, grid, rnd, node, payload, content) -> None:
        assert fit_digest(content) != rnd.setup.fit_digest
        content.config_records[RECORD_KEY] = ConfigRecord({STAGE: MASKED_INPUT, PAYLOAD: payload})
        msg = Message(content=content, dst_node_id=node, message_type=MessageType.TRAIN,
                      group_id=str(rnd.number))
        msg = message_from_proto(message_to_proto(msg))
        ctxt = context_from_proto(context_to_proto(grid.contexts[node]))
        before = context_to_proto(ctxt)
        trained = []
        with pytest.raises(ProtocolViolation, match="masked_input refused") as err:
            secagg_mod(msg, ctxt, lambda m, c: trained.append(m))
        assert "not the one the round committed to" in str(err.value.__cause__)
        assert not trained
        assert context_to_proto(ctxt) == before
        self.probed += 1


def test_a_node_refuses_a_masked_input_that_differs_from_the_commitment_state_unchanged():
    workflow = Probing(max_weight=100.0)
    strategy, _ = run(workflow)
    assert workflow.probed == 4
    everyone = list(range(N))  # the refusals claimed nothing: the victim's real answer counts
    assert_close(strategy.rounds[1], fedavg(everyone, 1), workflow, N, everyone)


class PerNodeConfig(Recording):
    def configure_fit(self, server_round, parameters, client_manager):
        pairs = super().configure_fit(server_round, parameters, client_manager)
        return [(proxy, FitIns(ins.parameters, {**ins.config, "node": proxy.node_id}))
                for proxy, ins in pairs]


def test_the_workflow_refuses_a_strategy_that_gives_nodes_different_fitins():
    strategy = PerNodeConfig(N)
    grid = LocalGrid(make_client_app(), N)
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=1), strategy=strategy)
    with pytest.raises(ValueError, match="same model and fit config"):
        DefaultWorkflow(fit_workflow=SecAggWorkflow())(grid, legacy)
    assert grid.pushed == 0  # refused before any message


# -- F3: the error-feedback residual ---------------------------------------------------------


class Snapshots(LocalGrid):
    """Node 0's residual as each round begins."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.residuals: dict[str, bytes | None] = {}

    def push_messages(self, messages):
        messages = list(messages)
        if messages[0].content.config_records[RECORD_KEY][STAGE] == ADVERTISE_KEYS:
            record = self.contexts[self.node_id(0)].state.config_records.get(FEEDBACK_KEY)
            self.residuals[messages[0].metadata.group_id] = (
                None if record is None else bytes(record["residual"]))
        return super().push_messages(messages)


def test_f3_a_node_that_misses_the_last_stage_keeps_the_residual_of_its_summed_input():
    def silent(pid: int, msg: Message) -> bool:  # node 0 misses round 2's unmask
        record = msg.content.config_records.get(RECORD_KEY, {})
        return pid == 0 and record.get(STAGE) == "unmask" and msg.metadata.group_id == "2"

    workflow = Watching(max_weight=100.0, timeout=1.0,
                        compression="subsample:fraction=0.5,error_feedback=true")
    strategy, grid = run(workflow, n=6, rounds=3, grid_cls=Snapshots, silent=silent)
    assert sorted(strategy.rounds) == [1, 2, 3]  # node 0's round-2 input was in the sum
    before_2, before_3 = grid.residuals["2"], grid.residuals["3"]
    assert before_2 is not None and np.any(np.frombuffer(before_2) != 0)
    assert before_3 is not None and before_3 != before_2  # round 2's residual, not round 1's


# -- the round seed ----------------------------------------------------------------------------


def test_the_round_state_is_hidden_from_the_clientapp_at_pass_through_messages():
    state = ConfigRecord({"seed": bytes(32)})
    ctxt = Context(run_id=1, node_id=LocalGrid.node_id(0), node_config={},
                   state=RecordDict({STATE_KEY: state}), run_config={})
    seen = []

    def app(msg, context):
        seen.append(STATE_KEY in context.state.config_records)
        return Message(RecordDict(), reply_to=msg)

    for kind in (MessageType.EVALUATE, MessageType.QUERY):
        msg = message_from_proto(message_to_proto(Message(
            content=RecordDict(), dst_node_id=ctxt.node_id, message_type=kind, group_id="1")))
        secagg_mod(msg, ctxt, app)
    assert seen == [False, False]
    assert ctxt.state.config_records[STATE_KEY]["seed"] == bytes(32)  # back after the call
