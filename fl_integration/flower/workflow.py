"""Server side: ``SecAggWorkflow``, the fit workflow that drives ``SecAggServer`` over a Grid.

Used exactly like Flower's ``SecAggPlusWorkflow``: ``DefaultWorkflow(fit_workflow=...)`` in a
``ServerApp`` with a ``LegacyContext``. Each stage sends our wire bytes, waits for replies up
to ``timeout`` seconds (a node that has not answered by then is a dropout) and calls
``close_stage()``. Parameters that could overflow the sum are refused before any message.
"""

from __future__ import annotations

import math
import secrets
from dataclasses import dataclass, field
from logging import ERROR, INFO, WARNING
from typing import cast

import flwr.compat.common.recorddict_compat as compat
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import FitRes, log, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp.grid import Grid

from protocols import SecAggConfig, SecAggServer
from secagg.encoding import FixedPointEncoder
from secagg.errors import AbortError, MalformedMessage, SecAggError

from .records import (
    ADVERTISE_KEYS,
    MASKED_INPUT,
    PAYLOAD,
    RECORD_KEY,
    STAGE,
    STAGES,
    RoundSetup,
    encoder_clip,
    unpack_average,
    vector_length,
)


@dataclass
class _Round:
    """What one fit round keeps while its stages run."""

    number: int
    node_to_id: dict[int, int]  # Flower node id -> our client id (1..n)
    proxies: dict[int, ClientProxy]
    fitins: dict[int, RecordDict]
    setup: RoundSetup  # with client_id 0; each node gets its own id
    server: SecAggServer
    fitres: dict[int, FitRes] = field(default_factory=dict)

    @property
    def id_to_node(self) -> dict[int, int]:
        return {cid: nid for nid, cid in self.node_to_id.items()}


class SecAggWorkflow:
    """Fit workflow running our SecAgg (complete graph) or SecAgg+ (sparse graph) round.

    Arguments follow Flower's ``SecAggPlusWorkflow`` so an app switches with one import line:
    ``num_shares`` is the number of shares of each secret (the client's neighbours plus
    itself; ``None`` lets ``SecAggConfig.for_secagg_plus`` pick it, >= the number of sampled
    clients or a float of 1.0 gives the complete graph); ``reconstruction_threshold`` is t
    (int, or a fraction of ``num_shares``; ``None``: the protocol's default).
    ``quantization_range`` (values per ``2 * clipping_range``) fixes the encoder's scale; left
    ``None``, the largest scale that cannot overflow is chosen. ``modulus_range`` is 2**bits.
    ``timeout``: seconds each stage waits for replies (``None``: wait for all).
    ``on_abort``: ``"raise"`` re-raises ``AbortError`` (too few clients left to finish the
    round); ``"skip"`` logs it and keeps the previous model.
    """

    def __init__(
        self,
        num_shares: int | float | None = None,
        reconstruction_threshold: int | float | None = None,
        *,
        max_weight: float = 1000.0,
        clipping_range: float = 8.0,
        quantization_range: int | None = None,
        modulus_range: int = 2**32,
        timeout: float | None = None,
        on_abort: str = "raise",
    ) -> None:
        if modulus_range <= 0 or modulus_range & (modulus_range - 1):
            raise ValueError("modulus_range must be a power of two, 2**8 to 2**64")
        if on_abort not in ("raise", "skip"):
            raise ValueError("on_abort must be 'raise' or 'skip'")
        if max_weight <= 0 or clipping_range <= 0:
            raise ValueError("max_weight and clipping_range must be > 0")
        self.num_shares = num_shares
        self.reconstruction_threshold = reconstruction_threshold
        self.max_weight = float(max_weight)
        self.clipping_range = float(clipping_range)
        self.quantization_range = quantization_range
        self.modulus_bits = modulus_range.bit_length() - 1
        self.timeout = timeout
        self.on_abort = on_abort

    # -- planning: everything that can be refused is refused here, before any message ------

    def plan(self, num_clients: int, length: int) -> tuple[SecAggConfig, FixedPointEncoder]:
        """The round's protocol config and encoder for ``num_clients`` x ``length`` values;
        raises ``ValueError``/``EncodingError`` naming the parameter to change."""
        ids = list(range(1, num_clients + 1))
        session = secrets.token_bytes(32)
        config = self._config(ids, length, session)
        clip = encoder_clip(self.clipping_range)
        if self.quantization_range is None:
            encoder = FixedPointEncoder.fit(self.modulus_bits, clip, max_summands=num_clients)
        else:
            scale = (self.quantization_range - 1) / (2 * self.clipping_range)
            encoder = FixedPointEncoder(
                bits=self.modulus_bits, clip=clip, scale=scale, max_summands=num_clients
            )
        return config, encoder

    def _config(self, ids: list[int], length: int, session: bytes) -> SecAggConfig:
        n = len(ids)
        common = {"modulus_bits": self.modulus_bits, "session_id": session}
        if self.num_shares is None:
            auto = SecAggConfig.for_secagg_plus(ids, length, **common)
            if self.reconstruction_threshold is None:
                return auto
            neighbors = auto.neighbors
            shares = (neighbors or n - 1) + 1
        else:
            shares = self._shares(n)
            neighbors = None if shares >= n else shares - 1
        return SecAggConfig(
            client_ids=ids, vector_length=length, threshold=self._threshold(shares),
            neighbors=neighbors, **common,
        )

    def _shares(self, n: int) -> int:
        value = self.num_shares
        if isinstance(value, float):
            if not 0 < value <= 1:
                raise ValueError("num_shares as a float is a fraction of the clients, in (0, 1]")
            return max(2, round(value * n))
        if not isinstance(value, int) or value < 2:
            raise ValueError("num_shares must be an int >= 2 or a fraction in (0, 1]")
        return value

    def _threshold(self, shares: int) -> int | None:
        t = self.reconstruction_threshold
        if isinstance(t, float):
            if not 0 < t <= 1:
                raise ValueError("reconstruction_threshold as a float must be in (0, 1]")
            return max(2, math.ceil(t * shares))
        return t

    # -- the round ---------------------------------------------------------------------------

    def __call__(self, grid: Grid, context: Context) -> None:
        """Run one fit round (called by ``DefaultWorkflow`` for every round)."""
        if not isinstance(context, LegacyContext):
            raise TypeError(f"Expect a LegacyContext, but get {type(context).__name__}.")
        rnd = self._start(context)
        if rnd is None:
            return
        try:
            total = self._run_stages(grid, rnd)
        except AbortError as exc:
            if self.on_abort == "raise":
                raise
            log(ERROR, "Secure aggregation aborted, model unchanged: %s", exc)
            return
        self._finish(context, rnd, total)

    def _start(self, context: LegacyContext) -> _Round | None:
        cfg = context.state.config_records[MAIN_CONFIGS_RECORD]
        number = cast(int, cfg[WorkflowKey.CURRENT_ROUND])
        params = compat.arrayrecord_to_parameters(
            context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True
        )
        sampled = context.strategy.configure_fit(number, params, context.client_manager)
        if not sampled:
            log(INFO, "configure_fit: no clients selected, cancel")
            return None
        nodes = sorted(proxy.node_id for proxy, _ in sampled)
        length = vector_length(parameters_to_ndarrays(params))
        config, encoder = self.plan(len(nodes), length)  # refuses before any message
        log(INFO, "secagg: %d clients, %d values, %s, t=%d", len(nodes), length,
            f"k={config.neighbors}" if config.neighbors else "complete graph", config.threshold)
        setup = RoundSetup(
            client_id=0, client_ids=config.client_ids, threshold=config.threshold,
            vector_length=length, modulus_bits=config.modulus_bits,
            neighbors=config.neighbors or 0, session_id=config.session_id,
            clip=self.clipping_range, scale=float(encoder.scale), max_weight=self.max_weight,
        )
        return _Round(
            number=number,
            node_to_id={nid: i + 1 for i, nid in enumerate(nodes)},
            proxies={proxy.node_id: proxy for proxy, _ in sampled},
            fitins={p.node_id: compat.fitins_to_recorddict(ins, True) for p, ins in sampled},
            setup=setup,
            server=SecAggServer(config),
        )

    def _run_stages(self, grid: Grid, rnd: _Round) -> object:
        outgoing: dict[int, bytes] = dict.fromkeys(rnd.node_to_id.values(), b"")
        for stage in STAGES:
            outgoing = self._exchange(grid, rnd, stage, outgoing)
        return rnd.server.result()

    def _exchange(
        self, grid: Grid, rnd: _Round, stage: str, outgoing: dict[int, bytes]
    ) -> dict[int, bytes]:
        """Send one stage's messages, feed what comes back in time, close the stage."""
        to_node = rnd.id_to_node
        messages = [self._message(rnd, stage, to_node[cid], data) for cid, data in outgoing.items()]
        replies = list(grid.send_and_receive(messages, timeout=self.timeout))
        for reply in replies:
            self._receive(rnd, stage, reply)
        log(INFO, "secagg round %d: %s: %d asked, %d replied", rnd.number, stage,
            len(messages), len(replies))
        return rnd.server.close_stage()

    def _message(self, rnd: _Round, stage: str, node: int, data: bytes) -> Message:
        record = ConfigRecord({STAGE: stage, PAYLOAD: data})
        if stage == ADVERTISE_KEYS:
            setup = rnd.setup.to_record()
            setup["client_id"] = rnd.node_to_id[node]
            record = ConfigRecord({STAGE: stage, PAYLOAD: data, **setup})
        content = rnd.fitins[node] if stage == MASKED_INPUT else RecordDict()
        content.config_records[RECORD_KEY] = record
        return Message(content=content, dst_node_id=node, message_type=MessageType.TRAIN,
                       group_id=str(rnd.number))

    def _receive(self, rnd: _Round, stage: str, reply: Message) -> None:
        node = reply.metadata.src_node_id
        if reply.has_error() or node not in rnd.node_to_id:
            log(WARNING, "secagg: node %s dropped at %s: %s", node, stage,
                reply.error.reason if reply.has_error() else "unknown node")
            return
        try:
            payload, fitres = _parse_reply(reply, stage)
            rnd.server.receive(rnd.node_to_id[node], payload)
        except SecAggError as exc:  # a bad reply is that client's dropout, not the round's end
            log(WARNING, "secagg: node %s rejected at %s: %s", node, stage, exc)
            return
        if fitres is not None:
            rnd.fitres[node] = fitres

    def _finish(self, context: LegacyContext, rnd: _Round, total: object) -> None:
        """Decode the sum, hand the average to the strategy as Flower's workflow does."""
        included = rnd.server.included
        encoder = rnd.setup.encoder()
        params_record = context.state.array_records[MAIN_PARAMS_RECORD]
        current = parameters_to_ndarrays(compat.arrayrecord_to_parameters(params_record, True))
        average = unpack_average(encoder.decode_sum(total, count=len(included)), current)
        parameters = ndarrays_to_parameters(average)
        to_node = rnd.id_to_node
        results = []
        for cid in sorted(included):
            fitres = rnd.fitres[to_node[cid]]
            fitres.parameters = parameters
            results.append((rnd.proxies[to_node[cid]], fitres))
        log(INFO, "aggregate_fit: %d clients included, %d dropped",
            len(included), len(rnd.node_to_id) - len(included))
        aggregated, metrics = context.strategy.aggregate_fit(rnd.number, results, [])
        if aggregated:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
                aggregated, True
            )
            context.history.add_metrics_distributed_fit(server_round=rnd.number, metrics=metrics)


def _parse_reply(reply: Message, stage: str) -> tuple[bytes, FitRes | None]:
    """Payload (and, for masked inputs, the training result) of a reply, read in full before
    the server sees anything, so a reply missing either is refused whole."""
    record = reply.content.config_records.get(RECORD_KEY)
    if record is None or record.get(STAGE) != stage:
        raise MalformedMessage(f"reply is not a {stage} message")
    payload = record.get(PAYLOAD)
    if not isinstance(payload, bytes):
        raise MalformedMessage(f"{stage} reply without a bytes payload")
    if stage != MASKED_INPUT:
        return payload, None
    try:
        return payload, compat.recorddict_to_fitres(reply.content, True)
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedMessage(f"{stage} reply without a readable training result: {exc!r}") \
            from exc
