"""Server side: ``SecAggWorkflow``, the fit workflow that drives ``SecAggServer`` (or
``LightSecAggServer``) over a Grid.

Used exactly like Flower's ``SecAggPlusWorkflow``: ``DefaultWorkflow(fit_workflow=...)`` in a
``ServerApp`` with a ``LegacyContext``. Each stage sends our wire bytes, waits for replies up
to ``timeout`` seconds (a node that has not answered by then is a dropout) and calls
``close_stage()``. Parameters that could overflow the sum are refused before any message.
"""

from __future__ import annotations

import math
import os
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from logging import ERROR, INFO, WARNING
from typing import Any, cast

import flwr.compat.common.recorddict_compat as compat
import numpy as np
from flwr.app import ConfigRecord, Context, Message, MessageType, RecordDict
from flwr.common import (
    FitRes,
    Parameters,
    log,
    ndarrays_to_parameters,
    parameters_to_ndarrays,
)
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey
from flwr.serverapp.grid import Grid

from fl_integration.compression import Compression, check_compression, parse, round_seed
from fl_integration.compression.parse import unparse
from protocols import SecAggConfig, SecAggServer
from protocols.lightsecagg import LightSecAggConfig, LightSecAggServer, max_input_bits
from protocols.secagg.params import worst_count
from secagg.encoding import FixedPointEncoder
from secagg.errors import AbortError, MalformedMessage, ProtocolViolation, SecAggError

from . import compress
from .identity import load_verify_keys
from .records import (
    ADVERTISE_KEYS,
    MASKED_INPUT,
    PAYLOAD,
    RECORD_KEY,
    STAGE,
    ProtocolConfig,
    RoundSetup,
    encoder_clip,
    fit_digest,
    stages_for,
    unpack_average,
    vector_length,
)

POLL_INTERVAL = 0.5  # seconds between two pulls of a stage's replies (Flower's grid: 3)
PROTOCOLS = ("secagg", "lightsecagg")


@dataclass
class _Round:
    """What one fit round keeps while its stages run."""

    number: int
    node_to_id: dict[int, int]  # Flower node id -> our client id (1..n)
    proxies: dict[int, ClientProxy]
    fitins: dict[int, RecordDict]
    setup: RoundSetup  # for client 1; each node gets a copy with its own id
    server: SecAggServer | LightSecAggServer
    codec: Any = None  # the round's compression codec, if any
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
    ``dropout_rate`` and ``corrupt_rate`` are the budgets the round's guarantee holds for: at
    most ⌈rate·n⌉ sampled nodes may drop out (a killed SuperNode is a dropout; a round with
    more aborts) and the privacy holds against up to ⌈corrupt_rate·n⌉ nodes colluding with
    the server. The defaults, 10 % and 5 %, tolerate losing one node in any federation of 4 or
    more (the complete graph below 100 nodes tolerates n - t); 3 nodes cannot both tolerate a
    dropout and a colluder, so there set one rate to 0. With ``num_shares`` or
    ``reconstruction_threshold`` fixed by hand, the budgets go to the config as
    ``max_dropouts``/``max_corrupt`` (complete graph: all the dropouts t tolerates, at least
    the planned ones), and the config refuses a (k, t) that voids the guarantee, saying why.
    ``max_weight`` bounds a node's weight (``num_examples``); a larger count is clipped to it
    on the node. ``quantization_range`` (values per ``2 * clipping_range``) fixes the
    encoder's scale; left ``None``, the largest scale that cannot overflow is chosen.
    ``modulus_range`` is 2**bits. ``timeout``: seconds each stage waits for replies (``None``:
    wait for all). ``on_abort``: ``"raise"`` re-raises ``AbortError`` (too few clients left to
    finish the round) and ``ProtocolViolation`` (the decoded sum has no valid average: a client
    sent a bad weight); ``"skip"`` logs either and keeps the previous model.

    ``malicious=True`` runs the protocol's malicious mode (signed keys, the consistency check;
    on a sparse graph also the clients' graph seed), against a server that may deviate.
    ``verify_keys`` is then the PKI: Flower node id -> Ed25519 verify key, as a mapping or
    the path of a verify-key file (:mod:`.identity`); every SuperNode holds its signing key
    and the same file in its node config. Sampled nodes without a key are left out of the
    round. The threshold must exceed half of each neighbourhood (the config says which t).

    ``protocol="lightsecagg"`` runs LightSecAgg instead (one-shot recovery of the survivors'
    aggregate mask; ``protocols.lightsecagg``): its (U, T) and budgets come from
    ``dropout_rate`` and ``corrupt_rate`` (leave ``num_shares`` and
    ``reconstruction_threshold`` out), it needs 4 nodes or more, and its sum lives in
    GF(2^31 - 1), so inputs get at most 31 - log2(n) bits (fewer than ``modulus_range``'s
    when that is wider). It is semi-honest only: ``malicious=True`` is refused.

    ``compression`` (``Quantize(bits=4)``, ``SignVote()``, ... or their text,
    ``"quantize:bits=4"``, see :func:`fl_integration.compression.parse`) makes every node send
    its compressed update (trained model minus the model it got, clipped to
    ``clipping_range``) instead of its model: the round's public seed, the method and the
    model's size travel in the round setup, and the server adds the decoded mean update to the
    model. ``quantization_range`` does not apply then (the method sets the levels).
    """

    def __init__(
        self,
        num_shares: int | float | None = None,
        reconstruction_threshold: int | float | None = None,
        *,
        dropout_rate: float = 0.1,
        corrupt_rate: float = 0.05,
        max_weight: float = 1000.0,
        clipping_range: float = 8.0,
        quantization_range: int | None = None,
        modulus_range: int = 2**32,
        timeout: float | None = None,
        on_abort: str = "raise",
        malicious: bool = False,
        verify_keys: Mapping[int, bytes] | str | os.PathLike | None = None,
        protocol: str = "secagg",
        compression: Compression | str | None = None,
    ) -> None:
        if modulus_range <= 0 or modulus_range & (modulus_range - 1):
            raise ValueError("modulus_range must be a power of two, 2**8 to 2**64")
        if on_abort not in ("raise", "skip"):
            raise ValueError("on_abort must be 'raise' or 'skip'")
        if not (math.isfinite(max_weight) and math.isfinite(clipping_range)
                and max_weight > 0 and clipping_range > 0):
            raise ValueError("max_weight and clipping_range must be finite and > 0")
        for name, rate in (("dropout_rate", dropout_rate), ("corrupt_rate", corrupt_rate)):
            if not 0 <= rate < 1:
                raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
        self.num_shares = num_shares
        self.reconstruction_threshold = reconstruction_threshold
        self.dropout_rate, self.corrupt_rate = float(dropout_rate), float(corrupt_rate)
        self.max_weight = float(max_weight)
        self.clipping_range = float(clipping_range)
        self.quantization_range = quantization_range
        self.modulus_bits = modulus_range.bit_length() - 1
        self.timeout = timeout
        self.on_abort = on_abort
        self.malicious = bool(malicious)
        self.protocol = _protocol(protocol, self)  # first: lightsecagg + malicious says why
        self.verify_keys = _pki(malicious, verify_keys)
        self.compression = _compression(compression, self.modulus_bits)

    # -- planning: everything that can be refused is refused here, before any message ------

    def plan(self, num_clients: int, length: int) -> tuple[ProtocolConfig, FixedPointEncoder]:
        """The round's protocol config and encoder for ``num_clients`` x ``length`` values;
        raises ``ValueError``/``EncodingError`` naming the parameter to change. The config's
        session id is a placeholder: the round's ``RoundSetup.sealed`` replaces it with one
        that commits to the whole setup."""
        ids = list(range(1, num_clients + 1))
        bits = self._widest(num_clients)
        config = self._config(ids, length, secrets.token_bytes(32), bits)
        clip = encoder_clip(self.clipping_range)
        if self.quantization_range is None:
            encoder = FixedPointEncoder.fit(config.modulus_bits, clip, max_summands=num_clients)
        else:
            scale = (self.quantization_range - 1) / (2 * self.clipping_range)
            encoder = FixedPointEncoder(
                bits=config.modulus_bits, clip=clip, scale=scale, max_summands=num_clients
            )
        return config, encoder

    def plan_compressed(self, nodes: Sequence[int], dimension: int, seed: bytes | None = None
                        ) -> tuple[ProtocolConfig, Any, dict[str, Any]]:
        """With compression: the round's protocol config (its session id a placeholder, as
        :meth:`plan`'s), codec, and the compression fields of its ``RoundSetup``, for
        ``len(nodes)`` nodes, a model of ``dimension`` values and a fresh public seed (``seed``
        in tests)."""
        assert self.compression is not None
        n, seed = len(nodes), round_seed() if seed is None else seed
        bits = self._widest(n)
        try:
            check_compression(self.compression, None, bits, n)
            codec = compress.codec_for(
                self.compression, seed=seed, dimension=dimension, clip=self.clipping_range,
                num_clients=n, max_weight=self.max_weight, bits=bits)
        except ValueError as exc:
            raise ValueError(f"{exc} (SecAggWorkflow compression at {n} clients)") from None
        text = unparse(self.compression)
        extra = {"compression": text, "compression_seed": seed,
                 "compression_dimension": dimension, "compression_bits": bits}
        # a word narrower than 8 bits still decodes from a sum mod 2^8 (the codec masks down)
        width = codec.bits if self.protocol == "lightsecagg" else max(8, codec.bits)
        config = self._config(list(range(1, n + 1)), codec.length, secrets.token_bytes(32),
                              width)
        return config, codec, extra

    def _widest(self, num_clients: int) -> int:
        """The widest input the round's sum carries: ``modulus_range``'s bits, and for
        LightSecAgg no more than its field leaves for this many clients."""
        if self.protocol == "lightsecagg":
            return min(self.modulus_bits, max_input_bits(num_clients))
        return self.modulus_bits

    def _config(self, ids: list[int], length: int, session: bytes, bits: int
                ) -> ProtocolConfig:
        """The finder's config, or the hand-picked graph and threshold with the budgets;
        LightSecAgg's from its parameter helper."""
        if self.protocol == "lightsecagg":
            return self._lightsecagg(ids, length, session, bits)
        common = {"modulus_bits": bits, "session_id": session,
                  "malicious": self.malicious}
        if self.num_shares is None:
            auto = self._finder(ids, length, common)
            if self.reconstruction_threshold is None:
                return auto
            shares = auto.degree + 1
        else:
            shares = self._shares(len(ids))
        return self._hand_picked(ids, length, shares, common)

    def _hand_picked(self, ids: list[int], length: int, shares: int, common: dict
                     ) -> SecAggConfig:
        """The config for ``shares`` and the user's threshold; its refusal names our inputs."""
        n, t = len(ids), self._threshold(shares)
        complete = shares >= n
        if complete and t is None:
            t = (2 * n) // 3 + 1  # the config's own default, needed for the budget below
        budgets = self._budgets(n, complete, t)
        chosen: dict[str, Any] = {"threshold": t, **budgets, **common}
        try:
            return SecAggConfig(client_ids=tuple(ids), vector_length=length,
                                neighbors=None if complete else shares - 1, **chosen)
        except ValueError as exc:
            raise ValueError(
                f"{exc} (SecAggWorkflow at {n} clients: {shares} shares, threshold {t}, "
                f"budgets {budgets} from dropout_rate={self.dropout_rate}, "
                f"corrupt_rate={self.corrupt_rate})"
            ) from None

    def _lightsecagg(self, ids: list[int], length: int, session: bytes, bits: int
                     ) -> LightSecAggConfig:
        """LightSecAgg's config at this workflow's rates; its refusal names them."""
        try:
            return LightSecAggConfig.for_rates(ids, length, dropout=self.dropout_rate,
                                               corrupt=self.corrupt_rate, input_bits=bits,
                                               session_id=session)
        except ValueError as exc:
            raise ValueError(f"{exc} (SecAggWorkflow protocol='lightsecagg' at {len(ids)} "
                             f"clients, dropout_rate={self.dropout_rate}, "
                             f"corrupt_rate={self.corrupt_rate})") from None

    def _finder(self, ids: list[int], length: int, common: dict) -> SecAggConfig:
        """The parameter finder's config at this workflow's rates; its refusal names them."""
        try:
            return SecAggConfig.for_secagg_plus(
                ids, length, dropout=self.dropout_rate, corrupt=self.corrupt_rate, **common
            )
        except ValueError as exc:
            raise ValueError(f"{exc} (SecAggWorkflow dropout_rate={self.dropout_rate}, "
                             f"corrupt_rate={self.corrupt_rate})") from None

    def _budgets(self, n: int, complete: bool, t: int | None) -> dict[str, int]:
        """max_dropouts and max_corrupt for a hand-picked graph: the planned counts. On the
        complete graph as many dropouts as t tolerates while every sum keeps two honest inputs
        (n - D - C >= 2), and at least the planned ones (else the config refuses t)."""
        drops, bad = worst_count(self.dropout_rate, n), worst_count(self.corrupt_rate, n)
        if complete and t is not None:
            drops = max(drops, min(n - t, n - bad - 2))
        return {"max_dropouts": drops, "max_corrupt": bad}

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
            average = self._average(context, rnd, self._run_stages(grid, rnd))
        except (AbortError, ProtocolViolation) as exc:
            if self.on_abort == "raise":
                raise
            log(ERROR, "Secure aggregation aborted, model unchanged: %s", exc)
            return
        self._finish(context, rnd, average)

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
        nodes = self._with_keys(sorted(proxy.node_id for proxy, _ in sampled))
        length = vector_length(parameters_to_ndarrays(params))
        fitins = {p.node_id: compat.fitins_to_recorddict(ins, True) for p, ins in sampled}
        digest = _one_fit_digest(sampled, fitins, nodes)
        setup, codec = self._setup(nodes, length, digest)  # refuses before any message
        _log_plan(setup)
        config: ProtocolConfig = setup.config
        server: SecAggServer | LightSecAggServer
        if isinstance(config, LightSecAggConfig):
            server = LightSecAggServer(config)
        else:
            keys = None
            if self.malicious:
                keys = {cid: self.verify_keys[setup.node_of(cid)] for cid in config.client_ids}
            server = SecAggServer(config, keys)
        return _Round(
            number=number,
            node_to_id={nid: i + 1 for i, nid in enumerate(nodes)},
            proxies={proxy.node_id: proxy for proxy, _ in sampled},
            fitins=fitins,
            setup=setup,
            server=server,
            codec=codec,
        )

    def _setup(self, nodes: list[int], length: int, fit: bytes) -> tuple[RoundSetup, Any]:
        """The round's setup (for client 1), its session sealed over every field but the
        client id, and its compression codec (or None). ``fit``: the model's
        :func:`fit_digest`."""
        common: dict[str, Any] = {"clip": self.clipping_range, "max_weight": self.max_weight,
                                  "nodes": tuple(nodes), "fit_digest": fit}
        if self.compression is None:
            config, encoder = self.plan(len(nodes), length)
            setup = RoundSetup.sealed(client_id=config.client_ids[0], config=config,
                                      scale=float(encoder.scale), **common)
            return setup, None
        config, codec, extra = self.plan_compressed(nodes, length - 1)  # no weight coordinate
        return RoundSetup.sealed(client_id=config.client_ids[0], config=config, scale=1.0,
                                 **common, **extra), codec

    def _with_keys(self, nodes: list[int]) -> list[int]:
        """In malicious mode, the sampled nodes the PKI knows (the others cannot sign)."""
        if not self.malicious:
            return nodes
        unknown = [n for n in nodes if n not in self.verify_keys]
        if unknown:
            log(WARNING, "secagg: nodes %s have no verify key and are left out of the round",
                ", ".join(map(str, unknown)))
        return [n for n in nodes if n in self.verify_keys]

    def _run_stages(self, grid: Grid, rnd: _Round) -> np.ndarray:
        outgoing: dict[int, bytes] = dict.fromkeys(rnd.node_to_id.values(), b"")
        for stage in stages_for(rnd.setup.config):
            outgoing = self._exchange(grid, rnd, stage, outgoing)
        return rnd.server.result()

    def _exchange(
        self, grid: Grid, rnd: _Round, stage: str, outgoing: dict[int, bytes]
    ) -> dict[int, bytes]:
        """Send one stage's messages, feed what comes back in time, close the stage."""
        to_node = rnd.id_to_node
        messages = [self._message(rnd, stage, to_node[cid], data) for cid, data in outgoing.items()]
        replies = self._send_and_receive(grid, messages)
        for reply in replies:
            self._receive(rnd, stage, reply)
        silent = set(outgoing) - {rnd.node_to_id.get(r.metadata.src_node_id) for r in replies}
        for cid in sorted(silent):
            log(WARNING, "secagg: client %d (node %d) dropped at %s: no reply in time", cid,
                to_node[cid], stage)
        log(INFO, "secagg round %d: %s: %d asked, %d replied", rnd.number, stage,
            len(messages), len(replies))
        return rnd.server.close_stage()

    def _send_and_receive(self, grid: Grid, messages: list[Message]) -> list[Message]:
        """Push one stage and pull its replies every ``POLL_INTERVAL`` seconds until all are in
        or ``timeout`` has passed. (Flower's deployment grid sleeps 3 s between pulls; a round
        is several stages in a row, each of which would wait for that.)"""
        pending = set(grid.push_messages(messages))
        end = None if self.timeout is None else time.monotonic() + self.timeout
        replies: list[Message] = []
        while True:
            got = list(grid.pull_messages(pending))
            replies += got
            pending -= {reply.metadata.reply_to_message_id for reply in got}
            if not pending or (end is not None and time.monotonic() >= end):
                return replies
            time.sleep(POLL_INTERVAL)

    def _message(self, rnd: _Round, stage: str, node: int, data: bytes) -> Message:
        record = ConfigRecord({STAGE: stage, PAYLOAD: data})
        if stage == ADVERTISE_KEYS:
            setup = replace(rnd.setup, client_id=rnd.node_to_id[node]).to_record()
            record = ConfigRecord({STAGE: stage, PAYLOAD: data, **setup})
        content = rnd.fitins[node] if stage == MASKED_INPUT else RecordDict()
        content.config_records[RECORD_KEY] = record
        return Message(content=content, dst_node_id=node, message_type=MessageType.TRAIN,
                       group_id=str(rnd.number))

    def _receive(self, rnd: _Round, stage: str, reply: Message) -> None:
        node = reply.metadata.src_node_id
        cid = rnd.node_to_id.get(node)
        if cid is None:
            log(WARNING, "secagg: reply at %s from node %s, which is not in this round", stage,
                node)
            return
        if reply.has_error():
            log(WARNING, "secagg: client %d (node %d) dropped at %s: %s", cid, node, stage,
                reply.error.reason)
            return
        try:
            payload, fitres = _parse_reply(reply, stage)
            rnd.server.receive(cid, payload)
        except SecAggError as exc:  # a bad reply is that client's dropout, not the round's end
            log(WARNING, "secagg: client %d (node %d) rejected at %s: %s", cid, node, stage, exc)
            return
        if fitres is not None:
            rnd.fitres[node] = fitres

    def _average(self, context: LegacyContext, rnd: _Round, total: np.ndarray) -> Parameters:
        """Decode the sum into the weighted average (with compression: the current model plus
        the mean update); ``ProtocolViolation`` if it has none. LightSecAgg's exact sum is
        first reduced mod 2^b, to the SecAgg sum the decoders read."""
        config = rnd.setup.config
        if isinstance(config, LightSecAggConfig):
            total = config.wrap(total)
        params_record = context.state.array_records[MAIN_PARAMS_RECORD]
        current = parameters_to_ndarrays(compat.arrayrecord_to_parameters(params_record, True))
        count = len(rnd.server.included)
        if rnd.codec is not None:
            mean = compress.decode_mean(rnd.codec, total, count)
            return ndarrays_to_parameters(compress.add_mean(current, mean))
        decoded = rnd.setup.encoder().decode_sum(total, count=count)
        return ndarrays_to_parameters(unpack_average(decoded, current))

    def _finish(self, context: LegacyContext, rnd: _Round, parameters: Parameters) -> None:
        """Hand the average to the strategy as Flower's workflow does. Every result carries it
        with num_examples 1, whatever the node reported, so no reported number can move it."""
        included = rnd.server.included
        to_node = rnd.id_to_node
        results = []
        for cid in sorted(included):
            fitres = rnd.fitres[to_node[cid]]
            fitres.parameters, fitres.num_examples = parameters, 1
            results.append((rnd.proxies[to_node[cid]], fitres))
        log(INFO, "aggregate_fit: %d clients included, %d dropped",
            len(included), len(rnd.node_to_id) - len(included))
        aggregated, metrics = context.strategy.aggregate_fit(rnd.number, results, [])
        if aggregated:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
                aggregated, True
            )
            context.history.add_metrics_distributed_fit(server_round=rnd.number, metrics=metrics)


def _one_fit_digest(sampled: Sequence[tuple[ClientProxy, Any]],
                    fitins: Mapping[int, RecordDict], nodes: Sequence[int]) -> bytes:
    """The one :func:`fit_digest` of what the round's nodes will train from. Secure
    aggregation sums updates of one model under one config, and every node checks the model it
    gets against the digest in its setup, so a strategy that gives nodes different ``FitIns``
    is refused before any message. (Hashed once per distinct ``FitIns`` object: strategies
    hand every node the same one.)"""
    ins_of = {proxy.node_id: ins for proxy, ins in sampled}
    one_each = {id(ins_of[node]): node for node in nodes}  # a node of each distinct FitIns
    digests = {fit_digest(fitins[node]) for node in one_each.values()}
    if len(digests) > 1:
        raise ValueError("secure aggregation needs every node of a round to get the same model "
                         "and fit config; the strategy's configure_fit gave them different FitIns")
    return digests.pop() if digests else b""  # no node: the config refuses the round


def _log_plan(setup: RoundSetup) -> None:
    config = setup.config
    n, length = config.num_clients, config.vector_length
    packed = f", compression {setup.compression}" if setup.compression else ""
    if isinstance(config, LightSecAggConfig):
        log(INFO, "lightsecagg: %d clients, %d values of %d bits, U=%d, T=%d, up to %d "
            "dropouts, %d colluders%s", n, length, config.input_bits, config.U, config.T,
            config.max_dropouts, config.max_corrupt, packed)
        return
    log(INFO, "secagg: %d clients, %d values, %s, t=%d, up to %d dropouts, %d colluders%s%s",
        n, length, f"k={config.neighbors}" if config.neighbors else "complete graph",
        config.threshold, config.max_dropouts, config.max_corrupt,
        ", malicious mode" if config.malicious else "", packed)


def _protocol(protocol: object, workflow: SecAggWorkflow) -> str:
    """The protocol's name, refused with the reason where the other options contradict it."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"protocol must be one of {', '.join(map(repr, PROTOCOLS))}, "
                         f"got {protocol!r}")
    if protocol == "lightsecagg":
        if workflow.malicious:
            raise ValueError("protocol='lightsecagg' has no malicious mode (it holds against a "
                             "semi-honest server only); use protocol='secagg' with "
                             "malicious=True against a server that may deviate")
        if workflow.num_shares is not None or workflow.reconstruction_threshold is not None:
            raise ValueError("protocol='lightsecagg' picks U and T from dropout_rate and "
                             "corrupt_rate: leave num_shares and reconstruction_threshold out")
    return str(protocol)


def _compression(compression: object, bits: int) -> Compression | None:
    """The compression method, from an object or its text (``ValueError`` naming the syntax)."""
    if isinstance(compression, str):
        compression = parse(compression)
    check_compression(compression, None, bits, 2)
    return cast("Compression | None", compression)


def _pki(malicious: bool, verify_keys: object) -> dict[int, bytes]:
    """The verify keys by Flower node id (malicious mode), from a mapping or a file."""
    if not malicious:
        if verify_keys is not None:
            raise ValueError("verify_keys are for malicious=True")
        return {}
    if verify_keys is None:
        raise ValueError("malicious=True needs verify_keys: Flower node id -> Ed25519 verify "
                         "key, or the path of a verify-key file")
    if isinstance(verify_keys, str | os.PathLike):
        try:
            return load_verify_keys(verify_keys)
        except SecAggError as exc:
            raise ValueError(str(exc)) from None
    given = cast("Mapping[int, bytes]", verify_keys)
    out = {int(node): bytes(key) for node, key in dict(given).items()}
    if any(len(key) != 32 for key in out.values()):
        raise ValueError("verify_keys must be 32-byte Ed25519 verify keys")
    return out


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
