"""Malicious mode over Flower: signed keys, the consistency check and the roster.

The real ``secagg_mod`` and ``SecAggWorkflow`` (or a subclass that deviates), Flower's
``ClientApp``, ``DefaultWorkflow`` and ``Message``s, delivered in process by ``LocalGrid``. Every
node holds an Ed25519 signing key (node config ``secagg-signing-key``) and the federation's
verify-key file (``secagg-verify-keys``), which maps Flower node ids to verify keys; the server
gets the same file.
"""

from __future__ import annotations

import dataclasses
import os
from collections import Counter

import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
pytest.importorskip("flwr")

from flwr.app import ConfigRecord, Context, Message, RecordDict  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.server import LegacyContext, ServerConfig  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

import fl_integration.flower.mod as mod  # noqa: E402
from fl_integration.flower import SecAggWorkflow  # noqa: E402
from fl_integration.flower.identity import (  # noqa: E402
    SIGNING_KEY_KEY,
    VERIFY_KEYS_KEY,
    write_signing_key,
    write_verify_keys,
)
from fl_integration.flower.local import LocalGrid  # noqa: E402
from fl_integration.flower.records import (  # noqa: E402
    CONSISTENCY_CHECK,
    RECORD_KEY,
    STAGE,
    UNMASK,
    RoundSetup,
)
from protocols import SecAggConfig  # noqa: E402
from protocols.secagg import codec  # noqa: E402
from protocols.secagg.messages import ConsistencySignature, Signatures, Survivors  # noqa: E402
from secagg.errors import LocalError, MalformedMessage, ProtocolViolation  # noqa: E402

from .test_flower import Recording, assert_close, fedavg, make_client_app  # noqa: E402


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "secagg-state"))
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID


@pytest.fixture
def pki(tmp_path):
    """``pki(n)``: a signing key per node and the verify-key file; returns (node_config, file)."""

    def make(n: int, *, keyless: frozenset[int] = frozenset()):
        keys, config = {}, {}
        for pid in range(n):
            path = tmp_path / f"node-{pid}.key"
            vk = write_signing_key(path)
            if pid not in keyless:
                keys[LocalGrid.node_id(pid)] = vk
            config[pid] = {SIGNING_KEY_KEY: str(path)}
        file = tmp_path / "verify-keys.json"
        write_verify_keys(file, keys)
        for pid in config:
            config[pid][VERIFY_KEYS_KEY] = str(file)
        return config, file

    return make


class Counting(LocalGrid):
    """Counts the stages sent, by name."""

    def __init__(self, *args, **kw) -> None:
        super().__init__(*args, **kw)
        self.stages: Counter[str] = Counter()

    def push_messages(self, messages):
        messages = list(messages)
        for m in messages:
            self.stages[m.content.config_records[RECORD_KEY][STAGE]] += 1
        return super().push_messages(messages)


def run(workflow, n, node_config, *, silent=None, rounds=1):
    strategy = Recording(n)
    grid = Counting(make_client_app(), n, node_config=node_config,
                    **({"silent": silent} if silent else {}))
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    return strategy, grid


def silent_at(pid: int, stage: str):
    def silent(p: int, msg: Message) -> bool:
        return p == pid and msg.content.config_records[RECORD_KEY][STAGE] == stage

    return silent


def test_malicious_round_runs_five_stages_and_sums_right(pki):
    """Complete graph, 5 nodes, one of which drops after masking: the consistency check runs
    as a fifth message and the aggregate is FedAvg over the four survivors."""
    config, file = pki(5)
    workflow = SecAggWorkflow(num_shares=5, reconstruction_threshold=4, max_weight=100.0,
                              timeout=0.5, malicious=True, verify_keys=file)
    strategy, grid = run(workflow, 5, config, silent=silent_at(3, CONSISTENCY_CHECK))
    assert grid.stages == {"advertise_keys": 5, "share_keys": 5, "masked_input": 5,
                           "consistency_check": 5, "unmask": 4}
    everyone = list(range(5))  # node 3 masked its input: it is in the sum
    assert_close(strategy.rounds[1], fedavg(everyone, 1), workflow, 5, everyone)


def test_malicious_secagg_plus_runs_the_graph_seed_stage(pki):
    """Sparse graph (k = 5 of 8) in malicious mode: the clients fix the graph with
    ``reveal_seed``, a sixth message, and the round still sums right over two rounds."""
    config, file = pki(8)
    workflow = SecAggWorkflow(num_shares=6, reconstruction_threshold=4, max_weight=100.0,
                              malicious=True, verify_keys=file)
    strategy, grid = run(workflow, 8, config, rounds=2)
    assert grid.stages["reveal_seed"] == 16 and grid.stages["consistency_check"] == 16
    everyone = list(range(8))
    for rnd in (1, 2):
        assert_close(strategy.rounds[rnd], fedavg(everyone, rnd), workflow, 8, everyone)


def test_nodes_outside_the_pki_are_left_out(pki, caplog):
    config, file = pki(6, keyless=frozenset({5}))
    workflow = SecAggWorkflow(num_shares=5, reconstruction_threshold=4, max_weight=100.0,
                              malicious=True, verify_keys=file)
    strategy, grid = run(workflow, 6, config)
    assert grid.stages["advertise_keys"] == 5
    assert str(LocalGrid.node_id(5)) in caplog.text
    assert_close(strategy.rounds[1], fedavg(list(range(5)), 1), workflow, 5, list(range(5)))


class SplitView(SecAggWorkflow):
    """A deviating server: it shows node ``target`` a survivor set without ``victim`` (so that
    the target would reveal the victim's mask key) while the others see the true one (and reveal
    the victim's self-mask seed). It hands the target every signature it collected but the
    victim's (whom the lie calls dead)."""

    def __init__(self, target: int, victim: int, **kw) -> None:
        super().__init__(**kw)
        self.target, self.victim = target, victim  # client ids
        self.signatures: dict[int, bytes] = {}
        self.lie: Survivors | None = None
        self.refusal: str | None = None

    def _exchange(self, grid, rnd, stage, outgoing):
        config = rnd.setup.config
        if stage == CONSISTENCY_CHECK:
            truth = codec.decode(outgoing[self.target], config, Survivors)
            self.lie = Survivors(tuple(c for c in truth.alive if c != self.victim),
                                 tuple(sorted((*truth.dead, self.victim))))
            outgoing = {**outgoing, self.target: codec.encode(self.lie, config)}
        if stage == UNMASK:
            assert self.lie is not None
            sigs = tuple((c, s) for c, s in sorted(self.signatures.items()) if c != self.victim)
            request = Signatures(self.lie.alive, self.lie.dead, sigs)
            outgoing = {**outgoing, self.target: codec.encode(request, config)}
        return super()._exchange(grid, rnd, stage, outgoing)

    def _receive(self, rnd, stage, reply):
        cid = rnd.node_to_id[reply.metadata.src_node_id]
        if stage == CONSISTENCY_CHECK and not reply.has_error():
            payload = reply.content.config_records[RECORD_KEY]["payload"]
            message = codec.decode(payload, rnd.setup.config, ConsistencySignature)
            self.signatures[cid] = message.signature
        if stage == UNMASK and cid == self.target:
            self.refusal = reply.error.reason if reply.has_error() else None
            assert reply.has_error(), "the target revealed shares for a survivor set no one else signed"
            return
        super()._receive(rnd, stage, reply)


def test_a_tampered_survivor_set_is_refused_by_the_node(pki):
    """Node 1 is told client 2 dropped, the rest that it survived. Node 1 signs what it saw,
    but its unmask request cannot carry t signatures on that set: it reveals nothing. The
    honest nodes reveal as usual and the round completes without node 1's shares."""
    config, file = pki(5)
    workflow = SplitView(target=1, victim=2, num_shares=5, reconstruction_threshold=4,
                         max_weight=100.0, malicious=True, verify_keys=file)
    strategy, grid = run(workflow, 5, config)
    assert workflow.refusal is not None and "AuthenticationError" in workflow.refusal
    everyone = list(range(5))
    assert_close(strategy.rounds[1], fedavg(everyone, 1), workflow, 5, everyone)


def _setup_message(setup: RoundSetup, node: int) -> Message:
    content = RecordDict()
    content.config_records[RECORD_KEY] = ConfigRecord(
        {STAGE: "advertise_keys", "payload": b"", **setup.to_record()})
    return Message(content=content, dst_node_id=node, message_type="train", group_id="1")


def _node_context(pid: int, node_config: dict) -> Context:
    return Context(run_id=1, node_id=LocalGrid.node_id(pid),
                   node_config={"partition-id": pid, "num-partitions": 4, **node_config},
                   state=RecordDict(), run_config={})


def _setup(nodes, *, malicious=True, client_id=1) -> RoundSetup:
    cfg = SecAggConfig(client_ids=(1, 2, 3, 4), vector_length=4, threshold=3,
                       malicious=malicious)
    return RoundSetup.sealed(client_id=client_id, config=cfg, clip=8.0, scale=1e3,
                             max_weight=10.0, nodes=tuple(nodes), fit_digest=bytes(32))


def _answer(setup: RoundSetup, pid: int, node_config: dict):
    ctxt = _node_context(pid, node_config)
    return mod.secagg_mod(_setup_message(setup, ctxt.node_id), ctxt, lambda m, c: m)


def test_nodes_refuse_rosters_that_misplace_them_or_name_strangers(pki):
    config, _ = pki(5, keyless=frozenset({4}))
    nodes = [LocalGrid.node_id(p) for p in range(4)]
    assert _answer(_setup(nodes), 0, config[0]).content.config_records[RECORD_KEY]["payload"]
    swapped = [nodes[1], nodes[0], *nodes[2:]]  # node 0's client id given to node 1
    with pytest.raises(ProtocolViolation):
        _answer(_setup(swapped), 0, config[0])
    stranger = [*nodes[:3], LocalGrid.node_id(4)]  # a node the PKI does not know
    with pytest.raises(ProtocolViolation):
        _answer(_setup(stranger), 0, config[0])


def test_a_node_with_a_signing_key_refuses_a_semi_honest_round(pki):
    """A server cannot downgrade a node of a malicious-mode federation."""
    config, _ = pki(4)
    nodes = [LocalGrid.node_id(p) for p in range(4)]
    with pytest.raises(ProtocolViolation):
        _answer(_setup(nodes, malicious=False), 0, config[0])


def test_the_roster_is_bound_to_the_session():
    """Two nodes shown different rosters cannot share a session id: a setup whose session does
    not commit to its roster is refused before any key is made."""
    nodes = [LocalGrid.node_id(p) for p in range(4)]
    good = _setup(nodes)
    other = {**good.to_record(), "nodes": _setup(nodes[::-1]).to_record()["nodes"]}
    with pytest.raises(MalformedMessage):
        RoundSetup.from_record(other)


def test_a_malicious_round_needs_the_nodes_keys(pki):
    nodes = [LocalGrid.node_id(p) for p in range(4)]
    ctxt = _node_context(0, {})
    with pytest.raises(LocalError):
        mod.secagg_mod(_setup_message(_setup(nodes), ctxt.node_id), ctxt, lambda m, c: m)


def test_key_files_are_checked(tmp_path):
    """The signing key must be an Ed25519 PEM only its owner can read; the verify-key file must
    name 64-bit node ids and 32-byte keys, no key twice."""
    from fl_integration.flower.identity import load_signing_key, load_verify_keys, verify_key_of

    key = tmp_path / "node.key"
    vk = write_signing_key(key)
    assert verify_key_of(load_signing_key(key)) == vk
    key.chmod(0o644)
    with pytest.raises(LocalError, match="chmod 600"):
        load_signing_key(key)
    with pytest.raises(FileExistsError):
        write_signing_key(key)  # never overwrites a key
    file = tmp_path / "keys.json"
    write_verify_keys(file, {7: vk, 2**64 - 1: bytes(32)})
    assert load_verify_keys(file) == {7: vk, 2**64 - 1: bytes(32)}
    for bad in ('{"7": "abcd"}', '{"-1": "' + "00" * 32 + '"}', '{"x": "' + "00" * 32 + '"}',
                '{"1": "' + "00" * 32 + '", "2": "' + "00" * 32 + '"}', "[]", "{"):
        file.write_text(bad)
        with pytest.raises(LocalError):
            load_verify_keys(file)


def test_a_malicious_workflow_needs_its_pki(tmp_path):
    with pytest.raises(ValueError, match="verify_keys"):
        SecAggWorkflow(malicious=True)
    with pytest.raises(ValueError, match="malicious=True"):
        SecAggWorkflow(verify_keys={1: bytes(32)})
    (tmp_path / "keys.json").write_text("{")
    with pytest.raises(ValueError, match="verify-key file"):
        SecAggWorkflow(malicious=True, verify_keys=tmp_path / "keys.json")


def test_the_whole_config_is_bound_to_the_session():
    """The second review: one session id with a different threshold or collusion budget for
    different nodes. The session commits to every parameter, so a changed one is refused."""
    nodes = [LocalGrid.node_id(p) for p in range(4)]
    good = _setup(nodes)
    lowered = dataclasses.replace(good.config, threshold=4, max_dropouts=0, max_corrupt=0)
    with pytest.raises(ValueError, match="roster and config"):
        RoundSetup(client_id=1, config=lowered, clip=8.0, scale=1e3, max_weight=10.0,
                   nodes=tuple(nodes), fit_digest=good.fit_digest)


def test_a_malicious_round_below_the_nodes_floors_is_refused(pki):
    """The second review: a server sampled only the victim and a colluder, planned for no
    colluder (n = 2, C = 0), and learned the victim's update from the sum. A node holds its own
    floors: a least round size and a collusion budget of a fraction of its federation."""
    config, _ = pki(5)
    nodes = [LocalGrid.node_id(p) for p in range(4)]
    planned_for_none = SecAggConfig(
        client_ids=(1, 2, 3, 4), vector_length=4, threshold=4, max_dropouts=0, max_corrupt=0,
        malicious=True)
    setup = RoundSetup.sealed(client_id=1, config=planned_for_none, clip=8.0, scale=1e3,
                              max_weight=10.0, nodes=tuple(nodes), fit_digest=bytes(32))
    with pytest.raises(ProtocolViolation) as err:  # the reason stays on the node
        _answer(setup, 0, config[0])
    assert "fewer colluders" in str(err.value.__cause__)
    with pytest.raises(ProtocolViolation) as err:
        _answer(_setup(nodes), 0, {**config[0], "secagg-min-clients": 5})
    assert "smaller than this node's floor" in str(err.value.__cause__)
    assert _answer(_setup(nodes), 0, config[0])  # C = 1 >= 5% of a 5-node federation
