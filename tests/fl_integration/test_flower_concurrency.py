"""A node answers each stage once even when Flower delivers copies of it concurrently (break 9).

Flower does not serialise a node's messages: each worker loads the node's stored Context when
it picks a message up and stores it back when done. A curious server that pushes three
``masked_input`` messages to one node at once (global models 0, +1e6, -1e6) would get three
masked inputs under the same masks, and with them the node's update and weight; two ``unmask``
requests with different survivor sets would get both kinds of share of a neighbour. Here the
server does exactly that, on Flower's simulation engine (Ray) and on ``LocalGrid`` in
concurrent mode (every copy gets the Context as it was before any ran, deterministically).

Since the round setup commits to the model and fit config, copies with other models are
refused before the guard is reached (test_flower_binding.py), so the masked_input copies here
carry the committed model: it is the guard that must refuse all but one.
"""

from __future__ import annotations

import os
import time

import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
pytest.importorskip("flwr")

import flwr.compat.common.recorddict_compat as compat  # noqa: E402
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict  # noqa: E402
from flwr.client import ClientApp  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.server import LegacyContext, ServerApp, ServerConfig  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from fl_integration.flower import SecAggWorkflow, secagg_mod  # noqa: E402
from fl_integration.flower.local import LocalGrid  # noqa: E402
from fl_integration.flower.records import PAYLOAD, RECORD_KEY, STAGE  # noqa: E402
from protocols.secagg import codec  # noqa: E402
from protocols.secagg.messages import Survivors  # noqa: E402

from .test_flower import Recording, Trainer, assert_close, fedavg  # noqa: E402

COPIES = 3


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "secagg-state"))
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID


class Sleepy(Trainer):
    """Trainer that first sleeps as long as the server's config says (0 by default)."""

    def fit(self, parameters, config):
        time.sleep(float(config.get("sleep", 0.0)))
        return super().fit(parameters, config)


def client_app() -> ClientApp:
    def client_fn(context: Context):
        return Sleepy(int(context.node_config["partition-id"]), set()).to_client()

    return ClientApp(client_fn=client_fn, mods=[secagg_mod])


class Repeating(SecAggWorkflow):
    """A curious server: pushes several messages of ``stage`` to a node in one go.

    masked_input: node 1 gets three copies of its message (the committed model and config;
    with a ``sleep`` in the config, the copies overlap); the first answer goes on.
    unmask: every node but the last gets the true survivor set and one that calls the last
    node dropped (asking for the other kind of its share); the round is then abandoned.
    ``answers[node]`` counts the replies that were not errors."""

    def __init__(self, stage: str, **kw) -> None:
        super().__init__(**kw)
        self.stage = stage
        self.answers: dict[int, int] = {}
        self.refusals: list[str] = []

    def _exchange(self, grid, rnd, stage, outgoing):
        if stage != self.stage:
            return super()._exchange(grid, rnd, stage, outgoing)
        copies = self._masked_copies if stage == "masked_input" else self._unmask_copies
        messages = [m for cid, data in outgoing.items() for m in copies(rnd, cid, data)]
        first: dict[int, Message] = {}
        for reply in grid.send_and_receive(messages, timeout=self.timeout):
            node = reply.metadata.src_node_id
            if reply.has_error():
                self.refusals.append(reply.error.reason)
                continue
            self.answers[node] = self.answers.get(node, 0) + 1
            first.setdefault(node, reply)
        if stage == "masked_input":
            for reply in first.values():
                self._receive(rnd, stage, reply)
        return rnd.server.close_stage()

    def _masked_copies(self, rnd, cid: int, data: bytes) -> list[Message]:
        if cid != 1:
            return [self._message(rnd, "masked_input", rnd.id_to_node[cid], data)]
        fitins = compat.recorddict_to_fitins(rnd.fitins[rnd.id_to_node[cid]], keep_input=True)
        return [self._raw(rnd, "masked_input", cid, data,
                          compat.fitins_to_recorddict(fitins, keep_input=True))
                for _ in range(COPIES)]

    def _unmask_copies(self, rnd, cid: int, data: bytes) -> list[Message]:
        config = rnd.server.config
        true = codec.decode(data, config, Survivors)
        victim = max(true.alive)
        if cid == victim:
            return [self._raw(rnd, "unmask", cid, data, RecordDict())]
        lie = Survivors(tuple(c for c in true.alive if c != victim),
                        tuple(sorted({*true.dead, victim})))
        return [self._raw(rnd, "unmask", cid, payload, RecordDict())
                for payload in (data, codec.encode(lie, config))]

    @staticmethod
    def _raw(rnd, stage: str, cid: int, payload: bytes, content: RecordDict) -> Message:
        content.config_records[RECORD_KEY] = ConfigRecord({STAGE: stage, PAYLOAD: payload})
        return Message(content=content, dst_node_id=rnd.id_to_node[cid],
                       message_type=MessageType.TRAIN, group_id=str(rnd.number))


def run_concurrent(workflow, n: int) -> Recording:
    strategy = Recording(n)
    grid = LocalGrid(client_app(), n, concurrent=True)
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=1), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    return strategy


def test_three_concurrent_masked_inputs_get_one_answer():
    workflow = Repeating("masked_input", max_weight=100.0)
    strategy = run_concurrent(workflow, 5)
    assert sorted(workflow.answers.values()) == [1] * 5, workflow.answers
    assert len(workflow.refusals) == 2 and all("refused" in r for r in workflow.refusals)
    assert_close(strategy.rounds[1], fedavg(list(range(5)), 1), workflow, 5, list(range(5)))


def test_two_concurrent_unmask_requests_get_one_answer():
    """Answering both would reveal the mask share and the key share of the last node."""
    workflow = Repeating("unmask", on_abort="skip")
    run_concurrent(workflow, 5)
    assert sorted(workflow.answers.values()) == [1] * 5, workflow.answers
    assert len(workflow.refusals) == 4


def test_flower_simulation_concurrent_masked_inputs_get_one_answer():
    """Flower's simulation engine, 4 SuperNodes and 3 Ray workers: node 1's three copies run
    at the same time (each trains 1.5 s), so each loads a Context that has not answered."""
    from flwr.simulation import run_simulation

    workflow = Repeating("masked_input", max_weight=100.0)
    strategy = Recording(4)
    strategy.on_fit_config_fn = lambda r: {"round": r, "sleep": 1.5}  # committed, for all
    errors: list[BaseException] = []
    server_app = ServerApp()

    @server_app.main()
    def main(grid, context):
        legacy = LegacyContext(context=context, config=ServerConfig(num_rounds=1),
                               strategy=strategy)
        try:
            DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
        except BaseException as exc:  # surfaced to the test thread below
            errors.append(exc)
            raise

    start = time.perf_counter()
    run_simulation(server_app=server_app, client_app=client_app(), num_supernodes=4,
                   backend_config={"client_resources": {"num_cpus": 1},
                                   "init_args": {"num_cpus": 3}})
    wall = time.perf_counter() - start
    assert not errors, errors
    assert sorted(workflow.answers.values()) == [1] * 4, (workflow.answers, workflow.refusals)
    assert len(workflow.refusals) == 2 and all("refused" in r for r in workflow.refusals)
    assert_close(strategy.rounds[1], fedavg([0, 1, 2, 3], 1), workflow, 4, [0, 1, 2, 3])
    print(f"Flower simulation, 4 nodes, 3 concurrent masked inputs: {wall:.1f} s")
