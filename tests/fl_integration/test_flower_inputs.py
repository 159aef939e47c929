"""What one node's numbers can do to a Flower round, and what a failure tells the server.

Break 7: the server must not trust client-side numbers (a decoded weight sum <= 0, a reported
``num_examples``). Break 10: errors that cross the wire carry no data, and a count above
``max_weight`` is clipped on the node, not refused with the count in the message. Break 12:
non-finite and non-real updates are refused on the node (that node drops out), never clipped
into the average.
"""

from __future__ import annotations

import logging
import os
import re
import warnings

import numpy as np
import pytest

os.environ.setdefault("FLWR_TELEMETRY_ENABLED", "0")
pytest.importorskip("flwr")

from flwr.app import Context  # noqa: E402
from flwr.client import ClientApp  # noqa: E402
from flwr.common.constant import SUPERLINK_NODE_ID  # noqa: E402
from flwr.supercore.task_identity import TaskIdentity  # noqa: E402

import fl_integration.flower.mod as mod  # noqa: E402
from fl_integration.flower import SecAggWorkflow, secagg_mod  # noqa: E402
from fl_integration.flower.records import RECORD_KEY, STAGE, pack_update  # noqa: E402
from secagg.errors import EncodingError, ProtocolViolation  # noqa: E402

from . import test_flower  # noqa: E402
from .test_flower import SHAPES, Trainer, assert_close, fedavg, run_local, update  # noqa: E402

SECRET = 424242  # a number only node 1 knows


@pytest.fixture(autouse=True)
def _state_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SECAGG_STATE_DIR", str(tmp_path / "secagg-state"))
    TaskIdentity.task_id, TaskIdentity.run_id, TaskIdentity.node_id = 1, 1, SUPERLINK_NODE_ID


class Listening(SecAggWorkflow):
    """Keeps the text of every error reply, as a curious server would."""

    def __init__(self, **kw) -> None:
        super().__init__(**kw)
        self.reasons: list[str] = []

    def _receive(self, rnd, stage, reply):
        if reply.has_error():
            self.reasons.append(reply.error.reason)
        super()._receive(rnd, stage, reply)


def scripted_app(script) -> ClientApp:
    """Nodes whose fit is ``script(pid, arrays, weight) -> (arrays, weight)`` over Trainer's."""

    class Scripted(Trainer):
        def fit(self, parameters, config):
            arrays, weight, metrics = super().fit(parameters, config)
            return *script(self.pid, arrays, weight), metrics

    def client_fn(context: Context):
        return Scripted(int(context.node_config["partition-id"]), set()).to_client()

    return ClientApp(client_fn=client_fn, mods=[secagg_mod])


def run_app(app, workflow, n, monkeypatch):
    """``run_local`` of test_flower with ``app`` as every node's ClientApp."""
    monkeypatch.setattr(test_flower, "make_client_app", lambda drop=(): app)
    return run_local(workflow, n)


# -- break 7: numbers the server must not trust ------------------------------------------------


def _negative_weight(monkeypatch):
    """Every node puts weight -1 under the mask (a sum <= 0 no honest round produces)."""
    honest = mod.pack_update

    def lying(*args, **kwargs):
        vector = honest(*args, **kwargs)
        vector[-1] = -1.0
        return vector

    monkeypatch.setattr(mod, "pack_update", lying)


def test_a_weight_sum_below_zero_skips_the_round_with_on_abort_skip(monkeypatch):
    _negative_weight(monkeypatch)
    strategy, _ = run_local(SecAggWorkflow(on_abort="skip"), 4)
    assert not strategy.rounds  # the ServerApp lives on; the model is unchanged


def test_a_weight_sum_below_zero_is_a_protocol_violation(monkeypatch):
    _negative_weight(monkeypatch)
    with pytest.raises(ProtocolViolation, match="weights sum"):
        run_local(SecAggWorkflow(), 4)


def _report(count: int):
    def mod_(msg, ctxt, call_next):
        """Outer mod of node 0: its masked_input reply reports ``count`` examples."""
        reply = call_next(msg, ctxt)
        record = msg.content.config_records.get(RECORD_KEY, {})
        if ctxt.node_config["partition-id"] == 0 and record.get(STAGE) == "masked_input":
            reply.content.metric_records["fitres.num_examples"]["num_examples"] = count
        return reply

    return mod_


def test_a_reported_num_examples_cannot_move_the_aggregate(monkeypatch):
    """Node 0 reports -3 examples: with the others' 1 the total of 4 is 0, and Flower's FedAvg
    divides by it. The strategy now gets num_examples 1 from every node, whatever it said."""
    def client_fn(context: Context):
        return Trainer(int(context.node_config["partition-id"]), set()).to_client()

    app = ClientApp(client_fn=client_fn, mods=[_report(-3), secagg_mod])
    workflow = SecAggWorkflow(max_weight=100.0)
    strategy, _ = run_app(app, workflow, 4, monkeypatch)
    assert_close(strategy.rounds[1], fedavg([0, 1, 2, 3], 1), workflow, 4, [0, 1, 2, 3])


# -- break 10: nothing of a node's data in what crosses the wire ------------------------------


def test_a_failed_stage_sends_no_data_and_the_log_names_the_node(monkeypatch, caplog):
    def script(pid, arrays, weight):
        if pid == 1:
            raise RuntimeError(f"ran out of memory at example {SECRET}")
        return arrays, weight

    workflow = Listening(max_weight=100.0)
    with caplog.at_level(logging.INFO):
        strategy, grid = run_app(scripted_app(script), workflow, 5, monkeypatch)
    assert len(workflow.reasons) == 1 and "LocalError" in workflow.reasons[0]
    assert str(SECRET) not in workflow.reasons[0] and str(SECRET) not in caplog.text
    node = grid.node_id(1)
    assert re.search(rf"client 2 \(node {node}\) dropped at masked_input", caplog.text)
    assert_close(strategy.rounds[1], fedavg([0, 2, 3, 4], 1), workflow, 5, [0, 2, 3, 4])


def test_a_count_above_max_weight_is_clipped_on_the_node(monkeypatch, caplog):
    """Node 1 has 1234 examples and the bound is 25: it takes part with weight 25 and says
    nothing; the others (10, 20, 30, 40 -> 10, 20, 25, 25) are clipped alike."""
    counts = {0: 10, 1: 1234, 2: 20, 3: 30, 4: 40}
    workflow = Listening(max_weight=25.0)
    with caplog.at_level(logging.INFO):
        strategy, _ = run_app(scripted_app(lambda p, a, w: (a, counts[p])), workflow, 5,
                              monkeypatch)
    assert not workflow.reasons and "1234" not in caplog.text
    clipped = {p: min(c, 25) for p, c in counts.items()}
    for i in range(len(SHAPES)):
        want = sum(clipped[p] * update(p, 1)[i].astype(np.float64) for p in counts)
        np.testing.assert_allclose(strategy.rounds[1][i], want / sum(clipped.values()),
                                   atol=1e-5)


# -- break 12: non-finite and non-real updates ----------------------------------------------


BAD = {"inf": np.inf, "-inf": -np.inf, "nan": np.nan, "complex": 1j}


@pytest.mark.parametrize("kind", list(BAD))
def test_a_non_finite_or_complex_update_is_that_nodes_dropout(kind, monkeypatch):
    """Clipping turned inf into the bound and a cast dropped the imaginary part, so a
    diverged node was averaged in; now it is refused on the node and drops out."""
    def script(pid, arrays, weight):
        if pid == 3:
            arrays = [a + BAD[kind] if i == 0 else a for i, a in enumerate(arrays)]
        return arrays, weight

    workflow = Listening(max_weight=100.0)
    strategy, _ = run_app(scripted_app(script), workflow, 5, monkeypatch)
    assert len(workflow.reasons) == 1 and "LocalError" in workflow.reasons[0]
    assert_close(strategy.rounds[1], fedavg([0, 1, 2, 4], 1), workflow, 5, [0, 1, 2, 4])


@pytest.mark.parametrize("value", [np.inf, -np.inf, np.nan])
def test_pack_update_refuses_non_finite_values(value):
    with pytest.raises(EncodingError, match="finite"):
        pack_update([np.zeros(2), np.array([1.0, value])], 5, clip=8.0, max_weight=10.0)


def test_pack_update_refuses_complex_and_object_values_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way to the refusal
        for array in (np.array([1 + 2j, 3]), np.array([1.0, None], dtype=object)):
            with pytest.raises(EncodingError, match="real"):
                pack_update([array], 5, clip=8.0, max_weight=10.0)


@pytest.mark.parametrize("count", [-1, np.nan, np.inf, "7", True])
def test_pack_update_refuses_a_weight_that_is_not_a_count(count):
    with pytest.raises(EncodingError, match="weight"):
        pack_update([np.zeros(2)], count, clip=8.0, max_weight=10.0)
