"""Our SecAgg/SecAgg+ inside real Flower apps: ``secagg_mod`` + ``SecAggWorkflow``.

One test runs Flower's simulation engine (``run_simulation``, Ray) end to end. The others go
through Flower's in-process message path: Flower's own ``ClientApp`` (with its mods),
``DefaultWorkflow``, ``LegacyContext``, ``FedAvg`` and ``Message``s, delivered by
``fl_integration.flower.local.LocalGrid`` — an implementation of Flower's abstract ``Grid``
that hands each message to the ClientApp in this process instead of through a SuperLink. Nothing of Flower is mocked. Flower's clients here are NumPyClients whose update
does not depend on the incoming model, so the plain FedAvg aggregate is known exactly.
"""

from __future__ import annotations

import os
import time
from uuid import uuid4

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")  # no phoning home from tests
flwr = pytest.importorskip("flwr")

from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict  # noqa: E402
from flwr.client import ClientApp, NumPyClient  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.server import LegacyContext, ServerApp, ServerConfig  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from fl_integration.flower import SecAggWorkflow, secagg_mod  # noqa: E402
from fl_integration.flower.local import LocalGrid  # noqa: E402
from fl_integration.flower.records import RECORD_KEY, STAGE, STATE_KEY  # noqa: E402
from secagg.errors import AbortError, EncodingError, ProtocolViolation  # noqa: E402

SHAPES = [(3, 4), (5,)]


def update(pid: int, rnd: int) -> list[np.ndarray]:
    """Client pid's trained model in round rnd (independent of the global model)."""
    out, k = [], 0
    for shape in SHAPES:
        size = int(np.prod(shape))
        vals = np.sin(np.arange(k, k + size) * (pid + 1.3) + rnd) * (pid + 1)
        out.append(vals.reshape(shape).astype(np.float32))
        k += size
    return out


def weight(pid: int) -> int:
    return 10 * (pid + 1)


def fedavg(pids: list[int], rnd: int) -> list[np.ndarray]:
    """Plain FedAvg of the given clients' updates (float64)."""
    total = sum(weight(p) for p in pids)
    return [
        sum(weight(p) * update(p, rnd)[i].astype(np.float64) for p in pids) / total
        for i in range(len(SHAPES))
    ]


class Trainer(NumPyClient):
    """Returns update(pid, round); raises (drops out) where the test says."""

    def __init__(self, pid: int, drop: set[tuple[int, int]]) -> None:
        self.pid, self.drop = pid, drop

    def fit(self, parameters, config):
        rnd = int(config["round"])
        if (self.pid, rnd) in self.drop:
            raise RuntimeError(f"client {self.pid} drops out in round {rnd}")
        return update(self.pid, rnd), weight(self.pid), {}


def make_client_app(drop: set[tuple[int, int]] = frozenset()) -> ClientApp:
    def client_fn(context: Context):
        return Trainer(int(context.node_config["partition-id"]), set(drop)).to_client()

    return ClientApp(client_fn=client_fn, mods=[secagg_mod])


class Recording(FedAvg):
    """FedAvg that keeps each round's aggregate, so the test can compare it."""

    def __init__(self, num_clients: int) -> None:
        super().__init__(
            fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=num_clients,
            min_available_clients=num_clients, on_fit_config_fn=lambda r: {"round": r},
            initial_parameters=ndarrays_to_parameters([np.zeros(s, np.float32) for s in SHAPES]),
        )
        self.rounds: dict[int, list[np.ndarray]] = {}

    def aggregate_fit(self, server_round, results, failures):
        params, metrics = super().aggregate_fit(server_round, results, failures)
        self.rounds[server_round] = parameters_to_ndarrays(params)
        return params, metrics


def assert_close(got, want, workflow: SecAggWorkflow, n: int, pids: list[int]) -> None:
    """Within the quantization bound. Stochastic rounding moves each encoded coordinate by
    < 1/scale, so the weighted sum N and the weight sum D of the included clients are each off
    by < e = len(pids)/scale, and N/D by < e (1 + |N/D|) / (D - e); plus float32 rounding."""
    _, encoder = workflow.plan(n, sum(int(np.prod(s)) for s in SHAPES) + 1)
    weights = sum(weight(p) for p in pids) / workflow.max_weight
    err = len(pids) / encoder.scale
    for g, w in zip(got, want, strict=True):
        bound = err * (1 + np.abs(w)) / (weights - err) + 1e-6 * (1 + np.abs(w))
        assert np.all(np.abs(g.astype(np.float64) - w) <= bound), np.max(np.abs(g - w))


# -- Flower's simulation engine ---------------------------------------------------------------


def test_flower_simulation_two_rounds_with_a_dropout():
    """6 Flower SuperNodes under Ray, 2 rounds; client 2 drops after sharing keys in round 1.

    k = 3, t = 2: a sparse graph that tolerates one dropout and one colluder (k = 2 cannot: one
    dropout leaves its neighbours fewer than t surviving neighbours; and an odd k needs an even
    n, or one client gets k + 1 neighbours: the config refuses both)."""
    from flwr.simulation import run_simulation

    workflow = SecAggWorkflow(num_shares=4, reconstruction_threshold=2, max_weight=100.0)
    strategy = Recording(6)
    errors: list[BaseException] = []
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context):
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=2),
                               strategy=strategy)
        try:
            DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
        except BaseException as exc:  # surfaced to the test thread below
            errors.append(exc)
            raise

    start = time.perf_counter()
    run_simulation(server_app=server_app, client_app=make_client_app({(2, 1)}),
                   num_supernodes=6, backend_config={"client_resources": {"num_cpus": 1}})
    wall = time.perf_counter() - start
    assert not errors, errors
    assert sorted(strategy.rounds) == [1, 2]
    first, second = [0, 1, 3, 4, 5], [0, 1, 2, 3, 4, 5]
    assert_close(strategy.rounds[1], fedavg(first, 1), workflow, 6, first)
    assert_close(strategy.rounds[2], fedavg(second, 2), workflow, 6, second)
    print(f"Flower simulation, 6 nodes x 2 rounds: {wall:.1f} s")


# -- Flower's in-process message path ---------------------------------------------------------


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    """Each test's nodes record their answered stages in a fresh directory of their own."""
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "secagg-state"))


@pytest.fixture(autouse=True)
def _server_identity():
    """What Flower's own in-process entry point (``start_grid``) sets before a ServerApp runs."""
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID


def at(pid: int, stage: str):
    """``silent`` for LocalGrid: node ``pid`` never answers our ``stage`` message."""

    def silent(p: int, msg: Message) -> bool:
        return p == pid and msg.content.config_records.get(RECORD_KEY, {}).get(STAGE) == stage

    return silent


def run_local(workflow, num_nodes, *, drop=frozenset(), silent=None, rounds=1):
    strategy = Recording(num_nodes)
    grid = LocalGrid(make_client_app(drop), num_nodes, **({"silent": silent} if silent else {}))
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    return strategy, grid


@pytest.mark.parametrize("num_shares", [4, 5, 6])
def test_even_num_shares_and_even_neighbour_counts(num_shares):
    """Flower's SecAgg+ breaks on an even num_shares (4, 6); ours takes k = 3, 4, 5 alike.
    (No dropouts here, so no dropout budget: k = 3, t = 3 cannot tolerate one at n = 8.)"""
    workflow = SecAggWorkflow(num_shares=num_shares, reconstruction_threshold=3, max_weight=100.0,
                              dropout_rate=0.0)
    strategy, _ = run_local(workflow, 8)
    assert_close(strategy.rounds[1], fedavg(list(range(8)), 1), workflow, 8, list(range(8)))


def test_dropout_during_key_sharing_completes():
    """Flower aborts the round when a client vanishes during share_keys; ours goes on."""
    workflow = SecAggWorkflow(num_shares=5, reconstruction_threshold=3, max_weight=100.0,
                              timeout=0.5)
    strategy, _ = run_local(workflow, 7, silent=at(4, "share_keys"))
    survivors = [p for p in range(7) if p != 4]
    assert_close(strategy.rounds[1], fedavg(survivors, 1), workflow, 7, survivors)


def test_timeout_and_error_dropouts_after_masking_keys():
    """One node silent at masked_input (timeout), one failing training: both are dropouts."""
    workflow = SecAggWorkflow(reconstruction_threshold=3, max_weight=100.0, timeout=0.5)
    strategy, _ = run_local(workflow, 7, drop={(1, 1)},
                            silent=at(5, "masked_input"))
    assert_close(strategy.rounds[1], fedavg([0, 2, 3, 4, 6], 1), workflow, 7, [0, 2, 3, 4, 6])


def test_overflowing_sum_is_refused_before_the_round():
    """Flower's own parameters at 2^24: 5 x 2^22 overflows. Flower warns and returns a wrong
    aggregate; ours raises EncodingError before a single message leaves the server."""
    workflow = SecAggWorkflow(quantization_range=2**22, modulus_range=2**24)
    with pytest.raises(EncodingError):
        workflow.plan(5, 10)
    strategy = Recording(5)
    grid = LocalGrid(make_client_app(), 5)
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=1), strategy=strategy)
    with pytest.raises(EncodingError):
        DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    assert grid.pushed == 0 and not strategy.rounds


def test_too_many_dropouts_abort_with_the_stage_named():
    workflow = SecAggWorkflow(num_shares=5, reconstruction_threshold=4, timeout=0.3)
    with pytest.raises(AbortError, match="share_keys|masked_input"):
        run_local(workflow, 5, silent=lambda p, m: p < 2 and at(p, "share_keys")(p, m))


def test_on_abort_skip_keeps_the_model_and_training_goes_on():
    workflow = SecAggWorkflow(num_shares=5, reconstruction_threshold=4, timeout=0.3,
                              on_abort="skip")
    strategy, _ = run_local(workflow, 5, silent=lambda p, m: p < 2 and at(p, "share_keys")(p, m))
    assert not strategy.rounds  # no aggregate: the round was dropped, not faked


def test_nodes_forget_the_round_seed_when_the_round_ends():
    workflow = SecAggWorkflow(num_shares=3, reconstruction_threshold=2, dropout_rate=0.0)
    _, grid = run_local(workflow, 4)
    for context in grid.contexts.values():
        assert STATE_KEY not in context.state.config_records


def test_default_budgets_tolerate_losing_a_node():
    """Node 2 dies after advertising its keys (a killed SuperNode); the defaults plan for it."""
    workflow = SecAggWorkflow(max_weight=100.0, timeout=0.3)
    dead = lambda p, m: p == 2 and not at(p, "advertise_keys")(p, m)  # noqa: E731
    strategy, _ = run_local(workflow, 5, silent=dead)
    assert_close(strategy.rounds[1], fedavg([0, 1, 3, 4], 1), workflow, 5, [0, 1, 3, 4])
    for n in (4, 5, 10, 50, 100, 1000):
        config, _ = SecAggWorkflow().plan(n, 10)
        assert config.max_dropouts >= max(1, n // 10) and config.max_corrupt >= 1


def test_budgets_reach_the_config_and_unsafe_choices_are_refused():
    config, _ = SecAggWorkflow(dropout_rate=0.2, corrupt_rate=0.1).plan(200, 10)
    assert (config.max_dropouts, config.max_corrupt) == (40, 20) and config.neighbors
    config, _ = SecAggWorkflow(num_shares=5, reconstruction_threshold=3).plan(10, 10)
    assert (config.neighbors, config.t, config.max_dropouts, config.max_corrupt) == (4, 3, 1, 1)
    with pytest.raises(ValueError, match="fewer than t surviving neighbours.*dropout_rate"):
        SecAggWorkflow(num_shares=4, reconstruction_threshold=3).plan(8, 10)
    with pytest.raises(ValueError, match="max_dropouts"):  # t = n tolerates no dropout
        SecAggWorkflow(num_shares=5, reconstruction_threshold=5).plan(5, 10)
    with pytest.raises(ValueError, match="lower the rates.*dropout_rate"):
        SecAggWorkflow().plan(3, 10)
    config, _ = SecAggWorkflow(corrupt_rate=0.0).plan(3, 10)
    assert (config.t, config.max_dropouts, config.max_corrupt) == (2, 1, 0)


def test_mod_refuses_a_plaintext_training_request():
    """A train message without our instructions would make the node send its update in clear."""
    app = make_client_app()
    msg = Message(RecordDict({"x": ConfigRecord({"a": 1})}), 5, MessageType.TRAIN, group_id="1")
    msg.metadata.__dict__["_message_id"] = uuid4().hex
    context = Context(run_id=1, node_id=5, node_config={"partition-id": 0}, state=RecordDict(),
                      run_config={})
    with pytest.raises(ProtocolViolation, match="plaintext"):
        app(msg, context)


class Replaying(SecAggWorkflow):
    """A curious server: after each of share_keys and masked_input it sends that stage's
    messages to every node again (a second masked input under the same masks would give it the
    difference of two inputs; a second share_keys, both kinds of share). It keeps every reply."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.replayed: list[Message] = []
        self.masked_replies: list[Message] = []

    def _exchange(self, grid, rnd, stage, outgoing):
        out = super()._exchange(grid, rnd, stage, outgoing)
        if stage in ("share_keys", "masked_input"):
            again = [self._message(rnd, stage, rnd.id_to_node[cid], data)
                     for cid, data in outgoing.items()]
            self.replayed += list(grid.send_and_receive(again, timeout=1.0))
        return out

    def _receive(self, rnd, stage, reply):
        if stage == "masked_input":
            self.masked_replies.append(reply)
        super()._receive(rnd, stage, reply)


def test_nodes_never_answer_a_stage_twice():
    workflow = Replaying(num_shares=4, reconstruction_threshold=3, max_weight=100.0,
                         dropout_rate=0.0)
    strategy, _ = run_local(workflow, 6)
    assert len(workflow.replayed) == 12
    for reply in workflow.replayed:
        assert reply.has_error() and "OutOfOrder" in reply.error.reason, reply.error.reason
    assert_close(strategy.rounds[1], fedavg(list(range(6)), 1), workflow, 6, list(range(6)))


def test_masked_reply_carries_no_plaintext_update_or_weight():
    workflow = Replaying(num_shares=4, reconstruction_threshold=3, max_weight=100.0,
                         dropout_rate=0.0)
    run_local(workflow, 6)  # k = 3 needs an even number of clients
    assert len(workflow.masked_replies) == 6
    for reply in workflow.masked_replies:
        content = reply.content
        assert content.metric_records["fitres.num_examples"]["num_examples"] == 1
        sent = [a.data for arrays in content.array_records.values() for a in arrays.values()]
        assert sum(len(d) for d in sent) == 0  # Flower's placeholder for "no parameters" only


def _strip_training_result(msg, ctxt, call_next):
    """Outer mod of node 2: its masked_input reply loses the training-result records."""
    reply = call_next(msg, ctxt)
    record = msg.content.config_records.get(RECORD_KEY, {})
    if ctxt.node_config["partition-id"] == 2 and record.get(STAGE) == "masked_input":
        del reply.content.metric_records["fitres.num_examples"]
    return reply


def test_a_reply_without_training_result_is_that_nodes_dropout():
    """Refused before the server adds its masked input, so the sum stays the survivors'."""
    def client_fn(context: Context):
        return Trainer(int(context.node_config["partition-id"]), set()).to_client()

    app = ClientApp(client_fn=client_fn, mods=[_strip_training_result, secagg_mod])
    workflow = SecAggWorkflow(num_shares=5, reconstruction_threshold=3, max_weight=100.0)
    strategy = Recording(6)
    grid = LocalGrid(app, 6)
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=1), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    survivors = [0, 1, 3, 4, 5]
    assert_close(strategy.rounds[1], fedavg(survivors, 1), workflow, 6, survivors)


# -- conversions ------------------------------------------------------------------------------


@given(st.lists(st.tuples(st.floats(-5, 5), st.integers(0, 100)), min_size=1, max_size=6))
@settings(max_examples=50, deadline=None)
def test_packed_updates_sum_to_the_weighted_average(clients):
    """Summing pack_update vectors and unpacking gives FedAvg of the clipped updates (the law
    the mask preserves)."""
    from fl_integration.flower.records import pack_update, unpack_average

    like = [np.zeros((2, 2), np.float64), np.zeros(3, np.float64)]
    if sum(w for _, w in clients) == 0:
        clients = [*clients, (1.0, 1)]
    arrays = [[np.full((2, 2), v), np.arange(3) * v] for v, _ in clients]
    total = sum(pack_update(a, w, clip=8.0, max_weight=100.0) for a, (_, w) in zip(arrays, clients, strict=True))
    got = unpack_average(total, like)
    wsum = sum(w for _, w in clients)
    for i in range(2):
        want = sum(
            w * np.clip(a[i], -8, 8) for a, (_, w) in zip(arrays, clients, strict=True)
        ) / wsum
        assert np.allclose(got[i], want)


def test_weight_above_max_weight_is_clipped_by_the_client():
    """A count above the server's bound is clipped on the node (FedAvg's rule), never refused:
    a refusal, and its text, told the server the count (break 10)."""
    from fl_integration.flower.records import pack_update

    got = pack_update([np.ones(3)], 1001, clip=8.0, max_weight=1000.0)
    np.testing.assert_array_equal(got, [1.0, 1.0, 1.0, 1.0])
    np.testing.assert_array_equal(pack_update([np.ones(2)], 250, clip=8.0, max_weight=1000.0),
                                  [0.25, 0.25, 0.25])


def test_round_setup_rejects_malformed_records():
    from fl_integration.flower.records import RoundSetup
    from protocols import SecAggConfig
    from secagg.errors import MalformedMessage

    config = SecAggConfig(client_ids=(1, 2, 3), vector_length=4)
    good = RoundSetup(client_id=2, config=config, clip=8.0, scale=1e3, max_weight=10.0)
    assert RoundSetup.from_record(ConfigRecord(good.to_record())) == good
    for key, bad in (("config", b"x" * 40), ("config", "x"), ("client_id", 9),
                     ("client_id", True), ("max_weight", float("nan")), ("max_weight", 0.0),
                     ("clip", float("inf")), ("scale", -1.0), ("scale", 1e30)):
        with pytest.raises(MalformedMessage):
            RoundSetup.from_record({**good.to_record(), key: bad})
    record = good.to_record()
    del record["scale"]
    with pytest.raises(MalformedMessage):
        RoundSetup.from_record(record)
