"""LightSecAgg over Flower: ``SecAggWorkflow(protocol="lightsecagg")`` and ``secagg_mod``.

Flower's in-process message path, as in ``test_flower``: Flower's ``ClientApp``,
``DefaultWorkflow``, ``FedAvg`` and ``Message``s, delivered by ``LocalGrid``. The clients'
updates do not depend on the model, so plain FedAvg over the survivors is known exactly.
"""

from __future__ import annotations

import dataclasses
import os

import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
pytest.importorskip("flwr")

from flwr.app import Context, Message, RecordDict  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.server import LegacyContext, ServerConfig  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

from fl_integration.flower import SecAggWorkflow  # noqa: E402
from fl_integration.flower.local import LocalGrid  # noqa: E402
from fl_integration.flower.records import (  # noqa: E402
    RECORD_KEY,
    STAGE,
    RoundSetup,
    stages_for,
)
from protocols.lightsecagg import LightSecAggConfig  # noqa: E402
from secagg.errors import MalformedMessage  # noqa: E402

from .test_flower import Recording, assert_close, fedavg, make_client_app  # noqa: E402

LENGTH = 12 + 5 + 1  # the values of SHAPES and the weight coordinate


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "secagg-state"))
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID


def lsa(**kw) -> SecAggWorkflow:
    return SecAggWorkflow(protocol="lightsecagg", max_weight=100.0, **kw)


def silent_at(pid: int, stage: str, rnd: int):
    """Node ``pid`` never answers our ``stage`` message of round ``rnd``."""

    def silent(p: int, msg: Message) -> bool:
        record = msg.content.config_records.get(RECORD_KEY, {})
        return p == pid and record.get(STAGE) == stage and msg.metadata.group_id == str(rnd)

    return silent


def run(workflow, n, *, silent=None, drop=frozenset(), rounds=1, node_config=None):
    strategy = Recording(n)
    grid = LocalGrid(make_client_app(drop), n, node_config=node_config,
                     **({"silent": silent} if silent else {}))
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    return strategy, grid


def test_rounds_equal_fedavg_over_the_survivors_with_dropouts_mid_round():
    """Round 1: node 3 goes silent at masked_input (its input is out). Round 2: node 1's
    training fails (out), node 4 goes silent at aggregate_mask (its input is in: the other
    survivors' replies still decode the mask sum). Two dropouts in a round of 7: planned for
    with dropout_rate=0.25 (U = 4, and U + 1 replies check the decoding)."""
    workflow = lsa(timeout=0.5, dropout_rate=0.25)
    silent = [silent_at(3, "masked_input", 1), silent_at(4, "aggregate_mask", 2)]
    strategy, _ = run(workflow, 7, rounds=2, drop={(1, 2)},
                      silent=lambda p, m: any(s(p, m) for s in silent))
    first, second = [0, 1, 2, 4, 5, 6], [0, 2, 3, 4, 5, 6]
    assert_close(strategy.rounds[1], fedavg(first, 1), workflow, 7, first)
    assert_close(strategy.rounds[2], fedavg(second, 2), workflow, 7, second)


def test_the_plan_is_lightsecaggs_and_fits_its_field():
    config, encoder = lsa().plan(6, LENGTH)
    assert isinstance(config, LightSecAggConfig)
    assert stages_for(config) == ("advertise_keys", "share_masks", "masked_input",
                                  "aggregate_mask")
    assert config.input_bits <= 28 and encoder.bits == config.input_bits
    assert (config.max_dropouts, config.max_corrupt) == (1, 1)
    wide, _ = lsa(modulus_range=2**16).plan(6, LENGTH)
    assert wide.input_bits == 16  # a narrower modulus_range is kept


def test_malicious_mode_and_hand_picked_shares_are_refused():
    with pytest.raises(ValueError, match="no malicious mode"):
        SecAggWorkflow(protocol="lightsecagg", malicious=True, verify_keys={1: bytes(32)})
    with pytest.raises(ValueError, match="leave num_shares"):
        SecAggWorkflow(num_shares=4, protocol="lightsecagg")
    with pytest.raises(ValueError, match="protocol must be"):
        SecAggWorkflow(protocol="lightsecagg+")
    with pytest.raises(ValueError, match="lower the rates.*lightsecagg"):
        lsa().plan(3, LENGTH)


def test_the_setup_binds_the_session_to_config_and_roster():
    nodes = [LocalGrid.node_id(p) for p in range(5)]
    config, encoder = lsa().plan(5, LENGTH)
    setup = RoundSetup.sealed(client_id=2, config=config, clip=8.0, scale=float(encoder.scale),
                              max_weight=100.0, nodes=tuple(nodes), fit_digest=bytes(32))
    assert RoundSetup.from_record(setup.to_record()) == setup
    swapped = {**setup.to_record(), "nodes": setup.to_record()["nodes"][8:16]
               + setup.to_record()["nodes"][:8] + setup.to_record()["nodes"][16:]}
    with pytest.raises(MalformedMessage, match="commit"):
        RoundSetup.from_record(swapped)
    fewer = dataclasses.replace(config, max_corrupt=config.max_corrupt - 1)
    with pytest.raises(MalformedMessage, match="commit"):
        RoundSetup.from_record({**setup.to_record(), "config": fewer.to_bytes()})


def test_a_node_refuses_a_round_below_its_floor():
    """Node 0 wants 6 clients at least: it drops out of a round of 5, which goes on without it."""
    workflow = lsa(timeout=0.5)
    strategy, _ = run(workflow, 5, node_config={0: {"secagg-min-clients": 6}})
    assert_close(strategy.rounds[1], fedavg([1, 2, 3, 4], 1), workflow, 5, [1, 2, 3, 4])


class Replaying(SecAggWorkflow):
    """A curious server: after share_masks, masked_input and aggregate_mask it sends that stage's
    messages to every node again; in round 2 it first shows node 0 its round-1 share_masks
    message (another session). It keeps every reply to those."""

    def __init__(self, **kw) -> None:
        super().__init__(protocol="lightsecagg", max_weight=100.0, **kw)
        self.replayed: list[Message] = []
        self.stale: list[Message] = []
        self.kept: dict[str, Message] = {}

    def _exchange(self, grid, rnd, stage, outgoing):
        if stage == "share_masks" and rnd.number == 2:
            self.stale += list(grid.send_and_receive([self.kept[stage]], timeout=1.0))
        out = super()._exchange(grid, rnd, stage, outgoing)
        if rnd.number == 1 and stage != "advertise_keys":
            again = [self._message(rnd, stage, rnd.id_to_node[cid], data)
                     for cid, data in outgoing.items()]
            self.kept.setdefault(stage, self._message(rnd, stage, rnd.id_to_node[1],
                                                      outgoing[1]))
            self.replayed += list(grid.send_and_receive(again, timeout=1.0))
        return out


def test_replayed_and_other_session_stage_messages_are_refused():
    workflow = Replaying(timeout=0.5)
    strategy, _ = run(workflow, 5, rounds=2)
    assert len(workflow.replayed) == 15  # 3 stages x 5 nodes
    for reply in workflow.replayed:
        assert reply.has_error() and "OutOfOrder" in reply.error.reason, reply.error.reason
    (stale,) = workflow.stale
    assert stale.has_error() and "WrongSession" in stale.error.reason, stale.error.reason
    everyone = list(range(5))
    assert_close(strategy.rounds[1], fedavg(everyone, 1), workflow, 5, everyone)
    # the stale message spent node 0's share_masks claim: it drops out, the round goes on
    assert_close(strategy.rounds[2], fedavg(everyone[1:], 2), workflow, 5, everyone[1:])
