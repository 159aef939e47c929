"""What the ServerApp writes to its output directory (run config ``output-dir``), for whoever
runs the federation: ``deploy.py``, the deployment test, the side-by-side measurement.

JSON lines, appended and flushed as they happen:

- ``events.jsonl``: every batch of messages the ServerApp sends (``send``: round, stage,
  messages, bytes) and of replies it gets back (``receive``: round, replies, errors, bytes).
  ``deploy.py`` watches it to kill a SuperNode at a chosen stage.
- ``fit.jsonl``: per fit round, wall seconds of the whole secure round, bytes sent and received,
  the sampled and the surviving (aggregated) node ids, and the aggregated parameters.
- ``evaluate.jsonl``: per evaluation, the nodes that answered, loss and accuracy.
- ``summary.json``: written when the run ends normally.

Bytes are those of the messages' content (each ``RecordDict`` in Flower's protobuf encoding,
as the ServerApp hands it to the SuperLink or gets it back), counted on the server side; the
message headers, the HTTP and TLS framing are not included, and neither is the SuperLink's
traffic with the nodes (the same content again).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from pathlib import Path

from flwr.app import Message
from flwr.common import parameters_to_ndarrays
from flwr.common.serde import recorddict_to_proto
from flwr.server.strategy import Strategy
from flwr.serverapp.grid import Grid


class Recorder:
    """Appends JSON lines to files in one directory."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)

    def write(self, name: str, **fields: object) -> None:
        line = json.dumps({"time": time.time(), **fields})
        with open(self.directory / f"{name}.jsonl", "a") as f:
            f.write(line + "\n")

    def finish(self, **fields: object) -> None:
        (self.directory / "summary.json").write_text(json.dumps(fields))


def content_bytes(message: Message) -> int:
    """Size of a message's content in Flower's encoding (0 for an error reply)."""
    return recorddict_to_proto(message.content).ByteSize() if message.has_content() else 0


def _stage(message: Message) -> str:
    """Our or Flower's secure-aggregation stage (both keep it under "stage" in a config
    record), else the message type."""
    if message.has_content():
        for record in message.content.config_records.values():
            stage = record.get("stage")
            if isinstance(stage, str):
                return stage
    return message.metadata.message_type


class RecordingGrid(Grid):
    """A Grid that passes everything to Flower's, counts content bytes both ways and notes
    every batch (our workflow pushes and pulls itself; Flower's workflows call
    ``send_and_receive``). A wait without a deadline (Flower's evaluation has none) gets
    ``deadline`` seconds, so a node that is gone for good cannot hold the run."""

    def __init__(self, grid: Grid, recorder: Recorder | None, deadline: float) -> None:
        self._grid, self._recorder, self.deadline = grid, recorder, deadline
        self.sent = self.received = 0

    def send_and_receive(self, messages: Iterable[Message], *,
                         timeout: float | None = None) -> Iterable[Message]:
        batch = list(messages)
        self._sending(batch)
        replies = list(self._grid.send_and_receive(
            batch, timeout=self.deadline if timeout is None else timeout))
        self._received(replies)
        return replies

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        batch = list(messages)
        self._sending(batch)
        return self._grid.push_messages(batch)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        replies = list(self._grid.pull_messages(message_ids))
        self._received(replies)
        return replies

    def _sending(self, batch: list[Message]) -> None:
        if not batch:
            return
        size = sum(content_bytes(m) for m in batch)
        self.sent += size
        self._note(event="send", round=batch[0].metadata.group_id, stage=_stage(batch[0]),
                   messages=len(batch), bytes=size)

    def _received(self, replies: list[Message]) -> None:
        if not replies:
            return
        size = sum(content_bytes(m) for m in replies)
        self.received += size
        self._note(event="receive", round=replies[0].metadata.group_id, replies=len(replies),
                   errors=sum(m.has_error() for m in replies), bytes=size)

    def _note(self, **fields: object) -> None:
        if self._recorder is not None:
            self._recorder.write("events", **fields)

    # The rest is Flower's grid as it is.
    def set_run(self, run) -> None:  # noqa: ANN001
        self._grid.set_run(run)

    @property
    def run(self):  # noqa: ANN201
        return self._grid.run

    def create_message(self, *args, **kwargs) -> Message:
        return self._grid.create_message(*args, **kwargs)

    def get_node_ids(self) -> Iterable[int]:
        return self._grid.get_node_ids()


class RecordingStrategy(Strategy):
    """Any strategy, noting which nodes each round sampled and aggregated, the aggregate, and
    each evaluation."""

    def __init__(self, strategy: Strategy, recorder: Recorder) -> None:
        self._strategy, self._recorder = strategy, recorder
        self.sampled: list[int] = []
        self.survivors: list[int] = []
        self.aggregate: list[list[float]] = []

    def initialize_parameters(self, client_manager):  # noqa: ANN001, ANN201
        return self._strategy.initialize_parameters(client_manager)

    def configure_fit(self, server_round, parameters, client_manager):  # noqa: ANN001, ANN201
        out = self._strategy.configure_fit(server_round, parameters, client_manager)
        self.sampled = sorted(proxy.node_id for proxy, _ in out)
        self.survivors, self.aggregate = [], []
        return out

    def aggregate_fit(self, server_round, results, failures):  # noqa: ANN001, ANN201
        params, metrics = self._strategy.aggregate_fit(server_round, results, failures)
        self.survivors = sorted(proxy.node_id for proxy, _ in results)
        if params is not None:
            self.aggregate = [a.ravel().tolist() for a in parameters_to_ndarrays(params)]
        return params, metrics

    def configure_evaluate(self, server_round, parameters, client_manager):  # noqa: ANN001, ANN201
        return self._strategy.configure_evaluate(server_round, parameters, client_manager)

    def aggregate_evaluate(self, server_round, results, failures):  # noqa: ANN001, ANN201
        loss, metrics = self._strategy.aggregate_evaluate(server_round, results, failures)
        self._recorder.write("evaluate", round=server_round,
                             nodes=sorted(proxy.node_id for proxy, _ in results),
                             failures=len(failures), loss=loss, **(metrics or {}))
        return loss, metrics

    def evaluate(self, server_round, parameters):  # noqa: ANN001, ANN201
        return self._strategy.evaluate(server_round, parameters)


class TimedFit:
    """A fit workflow (ours or Flower's), timed; writes one ``fit.jsonl`` line per round."""

    def __init__(self, workflow, grid: RecordingGrid, strategy: RecordingStrategy,
                 recorder: Recorder) -> None:
        self._workflow, self._grid, self._strategy = workflow, grid, strategy
        self._recorder, self.round = recorder, 0

    def __call__(self, grid: Grid, context) -> None:  # noqa: ANN001
        self.round += 1
        sent, received = self._grid.sent, self._grid.received
        start = time.perf_counter()
        self._workflow(grid, context)
        self._recorder.write(
            "fit", round=self.round, seconds=time.perf_counter() - start,
            bytes_sent=self._grid.sent - sent, bytes_received=self._grid.received - received,
            sampled=self._strategy.sampled, survivors=self._strategy.survivors,
            parameters=self._strategy.aggregate,
        )
