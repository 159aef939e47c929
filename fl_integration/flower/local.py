"""``LocalGrid``: Flower's ``Grid`` interface delivering every message to a ``ClientApp`` in
this process — Flower's in-process message path without a SuperLink or Ray.

For tests and benchmarks of Flower apps (ours and Flower's own SecAgg+ alike): the ClientApp,
its mods, the workflows, ``Message``s and records are Flower's real code; only the transport
is in-process. Messages and each node's Context cross a protobuf round trip, as on Flower's
wire and in SuperNode's per-message subprocesses, so no Python object survives between
messages. ``silent(partition_id, message)`` picks nodes that never reply (dropouts); an
exception in the ClientApp becomes an error reply, as in Flower's engines.

``concurrent=True`` delivers the messages of one push at once, in threads, each with its own
copy of its node's Context as it was when the push began, and stores each copy back when its
message is done (last writer wins): the way Flower's simulation workers and the deployment
runtime handle a node that gets several messages together.

``node_config`` adds keys to each node's node config (by partition id), e.g. malicious mode's
``secagg-signing-key``; ``LocalGrid.node_id(partition_id)`` is the Flower node id of a node.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from uuid import uuid4

from flwr.app import Context, Error, Message, RecordDict
from flwr.clientapp import ClientApp
from flwr.common.constant import SUPERLINK_NODE_ID
from flwr.common.serde import (
    context_from_proto,
    context_to_proto,
    message_from_proto,
    message_to_proto,
)
from flwr.serverapp.grid import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

Silent = Callable[[int, Message], bool]


def _never(pid: int, msg: Message) -> bool:
    return False


class LocalGrid(Grid):
    """In-process Grid over ``num_nodes`` SuperNodes running ``client_app``.

    ``wait_for_silent``: when False, a silent node's missing reply ends the wait at once (as a
    timeout that has just expired), so benchmarks do not sleep. ``client_seconds`` sums the
    time each node spent in its ClientApp (per node id). ``concurrent``: see the module doc.
    """

    def __init__(
        self,
        client_app: ClientApp,
        num_nodes: int,
        *,
        silent: Silent = _never,
        wait_for_silent: bool = True,
        run_config: dict | None = None,
        concurrent: bool = False,
        node_config: Mapping[int, Mapping[str, int | float | str]] | None = None,
    ) -> None:
        self.app, self.silent, self.wait_for_silent = client_app, silent, wait_for_silent
        self.concurrent = concurrent
        self._lock = threading.Lock()
        self.pushed = 0
        self.contexts = {
            self.node_id(pid): Context(
                run_id=1, node_id=self.node_id(pid),
                node_config={"partition-id": pid, "num-partitions": num_nodes,
                             **(node_config or {}).get(pid, {})},
                state=RecordDict(), run_config=dict(run_config or {}),
            )
            for pid in range(num_nodes)
        }
        self.client_seconds: dict[int, float] = dict.fromkeys(self.contexts, 0.0)
        self._replies: dict[str, Message] = {}
        self._silenced: set[str] = set()
        self._run = Run.create_empty(run_id=1)
        # What Flower's own in-process entry point (start_grid) sets before a ServerApp runs.
        TaskIdentity.task_id, TaskIdentity.run_id = 1, 1
        TaskIdentity.node_id = SUPERLINK_NODE_ID

    @staticmethod
    def node_id(pid: int) -> int:
        """The Flower node id of the node with partition id ``pid``."""
        return 7919 * (pid + 1) + 12345  # not 0..n-1, so no code may confuse ids and indices

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(self, content, message_type, dst_node_id, group_id, ttl=None) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self.contexts)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        batch = list(messages)
        for msg in batch:
            msg.metadata.__dict__["_message_id"] = uuid4().hex  # as Flower's InMemoryGrid does
        self.pushed += len(batch)
        if self.concurrent and len(batch) > 1:
            loaded = [(msg, self._load(msg)) for msg in batch]  # all copies before any runs
            with ThreadPoolExecutor(max_workers=len(batch)) as pool:
                list(pool.map(lambda pair: self._deliver(*pair), loaded))
        else:
            for msg in batch:
                self._deliver(msg, self._load(msg))
        return [msg.metadata.message_id for msg in batch]

    def _load(self, msg: Message) -> Context:
        """The node's Context as a worker picks the message up: a copy off the wire."""
        return context_from_proto(context_to_proto(self.contexts[msg.metadata.dst_node_id]))

    def _deliver(self, msg: Message, context: Context) -> None:
        if self.silent(int(context.node_config["partition-id"]), msg):
            with self._lock:
                self._silenced.add(msg.metadata.message_id)
            return
        start = time.perf_counter()
        msg = _wire(msg)
        try:
            reply = self.app(msg, context)
        except Exception as exc:  # noqa: BLE001 - Flower's engines turn this into an error reply
            reply = Message(Error(code=0, reason=repr(exc)), reply_to=msg)
        else:
            with self._lock:
                self.contexts[context.node_id] = context  # last writer wins, as in Flower
        with self._lock:
            self.client_seconds[context.node_id] += time.perf_counter() - start
            self._replies[msg.metadata.message_id] = _wire(reply)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return [self._replies.pop(i) for i in list(message_ids) if i in self._replies]

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        pending = set(self.push_messages(messages))
        if not self.wait_for_silent:
            pending -= self._silenced
        end = time.monotonic() + (timeout or 0.0)
        out: list[Message] = []
        while True:
            got = list(self.pull_messages(pending))
            out += got
            pending -= {m.metadata.reply_to_message_id for m in got}
            if not pending or (timeout is not None and time.monotonic() >= end):
                return out
            time.sleep(0.005)


def _wire(msg: Message) -> Message:
    """The message as the other side gets it: through Flower's protobuf serialization."""
    return message_from_proto(message_to_proto(msg))
