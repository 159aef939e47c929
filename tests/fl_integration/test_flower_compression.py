"""Compression over Flower: ``SecAggWorkflow(compression=...)`` against the simulated FL layer.

The same clients (each moves the model by a fixed shift, weighted by its example count) train
on Flower's in-process message path (``LocalGrid``) and in ``run_fedavg``, with the round seed
pinned to the same value on both. SignVote is deterministic: both paths give the same model,
error feedback included, round after round. Quantize rounds stochastically on each client:
both paths lie within the codec's stated bound of exact FedAvg, hence within twice it of each
other.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
pytest.importorskip("flwr")

from flwr.app import Context, RecordDict  # noqa: E402
from flwr.client import ClientApp, NumPyClient  # noqa: E402
from flwr.common import ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.server import LegacyContext, ServerConfig  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.workflow import DefaultWorkflow  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

import fl_integration.fedavg as fedavg_module  # noqa: E402
import fl_integration.flower.workflow as workflow_module  # noqa: E402
from fl_integration.compression import Quantize, SignVote  # noqa: E402
from fl_integration.compression.parse import parse, unparse  # noqa: E402
from fl_integration.fedavg import FedAvgConfig, run_fedavg  # noqa: E402
from fl_integration.flower import SecAggWorkflow, secagg_mod  # noqa: E402
from fl_integration.flower.compress import FEEDBACK_KEY  # noqa: E402
from fl_integration.flower.local import LocalGrid  # noqa: E402
from fl_integration.flower.records import RoundSetup  # noqa: E402
from fl_integration.simulation import Simulation  # noqa: E402
from secagg.errors import MalformedMessage  # noqa: E402

from .conftest import expected_step, initial, make_shift_clients  # noqa: E402

N, DIM, CLIP, MAX_WEIGHT = 6, 20, 0.5, 50.0  # example counts are 5..50
SEED = bytes(range(32))


@pytest.fixture(autouse=True)
def _pinned(tmp_path, monkeypatch):
    """A fresh guard directory; the same public round seed on both paths."""
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "secagg-state"))
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID
    monkeypatch.setattr(workflow_module, "round_seed", lambda rng=None: SEED)
    monkeypatch.setattr(fedavg_module, "round_seed", lambda rng=None: SEED)


class Shifting(NumPyClient):
    """``ShiftClient`` of the FL layer's tests, as a Flower client."""

    def __init__(self, client) -> None:
        self.client = client

    def fit(self, parameters, config):
        return self.client.fit(parameters, config)


class Keeping(FedAvg):
    """FedAvg that keeps each round's aggregate."""

    def __init__(self) -> None:
        super().__init__(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=N,
                         min_available_clients=N,
                         initial_parameters=ndarrays_to_parameters(initial(DIM)))
        self.rounds: dict[int, np.ndarray] = {}

    def aggregate_fit(self, server_round, results, failures):
        params, metrics = super().aggregate_fit(server_round, results, failures)
        self.rounds[server_round] = np.concatenate(
            [a.ravel() for a in parameters_to_ndarrays(params)])
        return params, metrics


def flower(compression, rounds=1, **kw):
    clients = make_shift_clients(N, DIM, seed=3)
    app = ClientApp(client_fn=lambda ctx: Shifting(
        clients[int(ctx.node_config["partition-id"])]).to_client(), mods=[secagg_mod])
    workflow = SecAggWorkflow(compression=compression, clipping_range=CLIP,
                              max_weight=MAX_WEIGHT, **kw)
    strategy = Keeping()
    grid = LocalGrid(app, N)
    legacy = LegacyContext(context=Context(run_id=1, node_id=0, node_config={},
                                           state=RecordDict(), run_config={}),
                           config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)
    return strategy.rounds, grid, workflow


def simulated(compression, rounds=1, aggregator="secagg"):
    clients = make_shift_clients(N, DIM, seed=3)
    config = FedAvgConfig(aggregator=aggregator, rounds=rounds, clip=CLIP, max_weight=MAX_WEIGHT,
                          compression=compression, simulation=Simulation(clients_per_round=N))
    result = run_fedavg(clients, initial(DIM), config)
    return np.concatenate([np.ravel(p) for p in result.parameters])


def bound(workflow, protocol_n=N) -> float:
    """The codec's stated worst-case error per coordinate of the mean, for all N clients."""
    nodes = [LocalGrid.node_id(p) for p in range(protocol_n)]
    _, codec, _ = workflow.plan_compressed(nodes, DIM, SEED)
    weight = sum(c.examples for c in make_shift_clients(N, DIM, seed=3))
    return codec.mean_bound(N, weight)


def test_signvote_with_error_feedback_matches_the_simulated_layer_round_after_round():
    method = SignVote(step=0.05)
    got, grid, _ = flower(method, rounds=3)
    want = simulated(method, rounds=3)
    np.testing.assert_allclose(got[3], want, rtol=0, atol=1e-12)
    assert not np.allclose(got[2], got[3])  # the votes moved the model every round
    for context in grid.contexts.values():  # every node kept its residual in its Context
        assert FEEDBACK_KEY in context.state.config_records


@pytest.mark.parametrize("protocol", ["secagg", "lightsecagg"])
def test_quantize_matches_the_simulated_layer_within_the_stated_bound(protocol):
    method = Quantize(bits=8)
    got, _, workflow = flower(method, protocol=protocol)
    aggregator = "secagg" if protocol == "secagg" else "lightsecagg"
    want = simulated(method, aggregator=aggregator)
    exact = expected_step(make_shift_clients(N, DIM, seed=3), range(1, N + 1))
    err = bound(workflow)
    assert err < 0.05  # a bound that says something at this size
    assert np.max(np.abs(got[1] - exact)) <= err + 1e-9
    assert np.max(np.abs(got[1] - want)) <= 2 * err + 1e-9


def test_compression_as_text_and_its_setup_are_bound_to_the_session():
    workflow = SecAggWorkflow(compression="quantize:bits=4", clipping_range=CLIP)
    assert workflow.compression == Quantize(bits=4)
    assert parse(unparse(SignVote(step=0.1, fraction=0.5))) == SignVote(step=0.1, fraction=0.5)
    nodes = [LocalGrid.node_id(p) for p in range(N)]
    config, codec, extra = workflow.plan_compressed(nodes, DIM, SEED)
    assert config.vector_length == codec.length < DIM + 1
    setup = RoundSetup.sealed(client_id=1, config=config, clip=CLIP, scale=1.0,
                              max_weight=1000.0, nodes=tuple(nodes), fit_digest=bytes(32),
                              **extra)
    assert RoundSetup.from_record(setup.to_record()) == setup
    for key, value in (("compression_seed", bytes(32)), ("compression", "quantize:bits=3"),
                       ("compression_dimension", DIM + 1)):
        with pytest.raises(MalformedMessage, match="commit"):
            RoundSetup.from_record({**setup.to_record(), key: value})
    with pytest.raises(ValueError, match="unknown compression"):
        SecAggWorkflow(compression="zip")
