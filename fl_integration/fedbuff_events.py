"""FedBuff's event loop on a simulated clock: cohorts form as clients download, set up while
they train, and close as buffers; each buffer is one run of the aggregator (the real protocol).

Events are (time, order, kind): a member's masked input *arrives*, a member goes *silent*, a
buffer's *deadline* fires, a buffer's model is *published*. The server publishes buffers one at
a time in closing order. Simulation choices (who downloads next, who drops, latencies) come from
NumPy's seeded generators, as in :mod:`.simulation`; the crypto draws from ``config.rng``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from secagg.errors import AbortError, EncodingError

from .aggregators import Aggregator, RoundContext
from .client import Client, Parameters
from .fedavg import EvaluateFn, _fill, _fill_costs, _Run
from .fedbuff import MIN_BUFFER_SIZE, BufferRecord, FedBuffConfig, FedBuffResult
from .fedbuff_latency import network_latencies
from .history import History
from .params import flatten, unflatten
from .privacy import DistributedDP
from .simulation import RoundPlan

if TYPE_CHECKING:
    from .quantization import Codec

log = logging.getLogger(__name__)
INPUT = "masked_input"  # the first stage that needs the update; everything before is setup
_PICK, _DROP = 5, 1  # stream tags of the seeded draws


@dataclass
class _Member:
    """One client's job: the version it downloaded and when its training ends."""

    cid: int
    version: int
    job: int
    train_end: float
    state: str = "training"  # -> arrived | straggler | silent | discarded
    busy: bool = True  # still computing: counts against the concurrency
    staleness: int = 0


@dataclass
class _Cohort:
    """K + spares clients that run one secure aggregation, and what happened to them."""

    index: int
    members: dict[int, _Member] = field(default_factory=dict)
    sealed_at: float = 0.0
    drops: dict[str, set[int]] = field(default_factory=dict)  # stage -> silent before it
    latency: dict[str, dict[int, float]] = field(default_factory=dict)
    arrived: list[int] = field(default_factory=list)
    closed: bool = False

    def outstanding(self) -> int:
        return sum(m.state == "training" for m in self.members.values())


class Scheduler:
    """The server's view of the federation plus the simulated devices, driven by events."""

    def __init__(self, clients: list[Client], config: FedBuffConfig, aggregator: Aggregator,
                 evaluate_fn: EvaluateFn | None,
                 on_buffer: Callable[[BufferRecord], None] | None) -> None:
        self.config, self.aggregator, self.on_buffer = config, aggregator, on_buffer
        # FedAvg's client-side steps (update, clip, weight), codecs and privacy ledger
        self.run_ = _Run(clients, config.fedavg_config(aggregator), aggregator, evaluate_fn)
        self.clients = clients
        self.sim = config.simulation
        self.deadline = _fixed(self.sim.deadline)  # of the setup and unmasking stages
        self.stages = tuple(aggregator.stages)
        self.setup = self.stages[:self.stages.index(INPUT)]
        self.events: list[tuple[float, int, str, tuple[Any, ...]]] = []
        self.order = itertools.count()
        self.now = 0.0
        self.idle = list(range(1, len(clients) + 1))
        self.pick = np.random.default_rng([self.sim.seed, 0, _PICK])
        self.jobs = dict.fromkeys(self.idle, 0)
        self.version = 0
        self.models: dict[int, np.ndarray] = {}
        self.open = _Cohort(1)
        self.cohorts = 1
        self.live: dict[int, _Cohort] = {}  # sealed, not yet closed
        self.training = 0  # clients computing right now (at most config.concurrency)
        self.pending = 0  # buffers closed and not yet published
        self.last_publish = 0.0
        self.history = History()

    def run(self, initial: Parameters) -> FedBuffResult:
        """Dispatch, then handle events in time order until enough buffers or time ran out."""
        flat, self.spec = flatten(initial)
        self.models[0], self.dim = flat, flat.size
        self._dispatch()
        limit = self.config.time_limit
        while self.events and len(self.history) < self.config.buffers:
            at, _, kind, args = heapq.heappop(self.events)
            if limit is not None and at > limit:
                break
            self.now = at
            getattr(self, f"_on_{kind}")(*args)
            self._dispatch()
        return FedBuffResult(unflatten(self.models[self.version], self.spec), self.history)

    def _push(self, at: float, kind: str, *args: Any) -> None:
        heapq.heappush(self.events, (at, next(self.order), kind, args))

    # -- devices ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Free clients download the current model until ``concurrency`` are training (a
        client that finished and waits for its cohort's setup or its upload does not count)."""
        assert self.config.concurrency is not None
        while self.idle and self.training < self.config.concurrency:
            cid = self.idle.pop(int(self.pick.integers(len(self.idle))))
            self.jobs[cid] += 1
            end = self.now + self.config.training.seconds(self.sim.seed, cid, self.jobs[cid])
            member = self.open.members[cid] = _Member(cid, self.version, self.jobs[cid], end)
            self.training += 1
            self._push(end, "trained", member)
            if len(self.open.members) == self.config.cohort_size:
                self.live[self.open.index] = self.open
                self._seal(self.open)
                self.cohorts += 1
                self.open = _Cohort(self.cohorts)

    def _seal(self, cohort: _Cohort) -> None:
        """The cohort is full: its setup stages run now, while its members train; each member's
        masked input is due when both its training and the setup are done."""
        cohort.sealed_at = self.now
        ids = sorted(cohort.members)
        cohort.latency = network_latencies(self.sim, cohort.index, ids, self.stages)
        cohort.drops = self._draw_dropouts(cohort.index, ids)
        for stage in self.stages:  # a message past the stage deadline counts as silent
            if stage != INPUT and self.deadline is not None:
                cohort.drops[stage] |= {c for c in ids if cohort.latency[stage][c] > self.deadline}
        live, setup_s = self._stages_time(cohort, self.setup, set(ids))
        ready = self.now + setup_s
        for cid, member in cohort.members.items():
            due = max(member.train_end, ready) + cohort.latency[INPUT][cid]
            if cid not in live:  # silent during setup: frees its device when training ends
                self._push(max(member.train_end, self.now), "silent", cohort, cid)
            elif cid in cohort.drops[INPUT]:
                self._push(due, "silent", cohort, cid)
            else:
                self._push(due, "arrive", cohort, cid)
        if self.config.buffer_deadline is not None:
            self._push(ready + self.config.buffer_deadline, "deadline", cohort)

    def _draw_dropouts(self, index: int, ids: list[int]) -> dict[str, set[int]]:
        """Each member goes silent with the simulation's rate, before a uniform stage."""
        rng = np.random.default_rng([self.sim.seed, index, _DROP])
        drops = rng.random(len(ids)) < self.sim.dropout
        where = rng.integers(0, len(self.stages), size=len(ids))
        out: dict[str, set[int]] = {s: set() for s in self.stages}
        for cid, dropped, stage_ix in zip(ids, drops, where, strict=True):
            if dropped:
                out[self.stages[stage_ix]].add(cid)
        return out

    def _stages_time(self, cohort: _Cohort, stages: Sequence[str], expected: set[int]
                     ) -> tuple[set[int], float]:
        """Who answers ``stages`` in turn, and how long they take: a stage ends at its last
        expected message, or at the deadline when one never comes (silent, or too late: that
        was made a dropout of the stage at the seal)."""
        deadline = self.deadline
        total = 0.0
        for stage in stages:
            times = cohort.latency[stage]
            senders = expected - cohort.drops[stage]
            if senders != expected and deadline is not None:
                total += deadline
            else:
                total += max((times[c] for c in senders), default=0.0)
            expected = senders
        return expected, total

    def _free(self, cid: int) -> None:
        self.idle.append(cid)

    # -- events -------------------------------------------------------------------------------

    def _on_arrive(self, cohort: _Cohort, cid: int) -> None:
        """A masked input is due: measure its staleness against the published version."""
        member = cohort.members[cid]
        if member.state != "training":
            return  # cancelled at the close: it never sent
        self._free(cid)
        member.staleness = self.version - member.version
        if member.staleness > self.config.max_staleness:
            member.state = "discarded"
        else:
            member.state = "arrived"
            cohort.arrived.append(cid)
        if len(cohort.arrived) >= self.config.buffer_size or not cohort.outstanding():
            self._close(cohort)

    def _on_trained(self, member: _Member) -> None:
        self._stop(member)

    def _stop(self, member: _Member) -> None:
        """The member's computation ended (finished or cancelled): a training slot is free."""
        if member.busy:
            member.busy = False
            self.training -= 1

    def _on_silent(self, cohort: _Cohort, cid: int) -> None:
        member = cohort.members[cid]
        if member.state != "training":
            return
        member.state = "silent"
        self._free(cid)
        if not cohort.outstanding():
            self._close(cohort)

    def _on_deadline(self, cohort: _Cohort) -> None:
        self._close(cohort)

    def _on_publish(self, record: BufferRecord, step: np.ndarray, plan: RoundPlan) -> None:
        """The unmasked buffer moves the model: a new version everyone can download."""
        self.pending -= 1
        self.version += 1
        self.models[self.version] = self.models[self.version - 1] + step
        record.version, record.time = self.version, self.now
        self._finish(record, plan)
        self._prune()

    # -- buffers ------------------------------------------------------------------------------

    def _close(self, cohort: _Cohort) -> None:
        """Stop taking masked inputs: stragglers are cancelled, too-stale inputs left out, and
        the buffer's secure aggregation runs with the rest."""
        if cohort.closed:
            return
        cohort.closed = True
        self.live.pop(cohort.index, None)
        base = self.version + self.pending  # the version this buffer's step will apply to
        record = BufferRecord(round=0, sampled=tuple(sorted(cohort.members)), base_version=base)
        for member in cohort.members.values():
            if member.state == "training":
                member.state = "straggler"
                self._stop(member)
                self._free(member.cid)
            elif member.state == "arrived" and base - member.version > self.config.max_staleness:
                member.state = "discarded"
        self._describe(record, cohort)
        plan = self._plan(cohort)
        updates, weights = self._updates(record, cohort, plan)
        if len(updates) < MIN_BUFFER_SIZE:  # a member would learn the others' sum from the step
            record.skipped = (f"{len(updates)} update(s) arrived; a buffer releases at least "
                              f"{MIN_BUFFER_SIZE}")
            self._skip(record, plan)
            return
        self._aggregate(record, cohort, plan, updates, weights)

    def _describe(self, record: BufferRecord, cohort: _Cohort) -> None:
        members = cohort.members.values()
        record.stragglers = tuple(sorted(m.cid for m in members if m.state == "straggler"))
        record.discarded = tuple(sorted(m.cid for m in members if m.state == "discarded"))
        record.dropouts = tuple(sorted(set().union(*cohort.drops.values())))

    def _plan(self, cohort: _Cohort) -> RoundPlan:
        """The buffer as a round plan: whoever did not deliver a fresh enough masked input is a
        dropout of the masked-input stage (its setup messages were sent)."""
        drops = {s: set(v) for s, v in cohort.drops.items()}
        left_out = {c for c, m in cohort.members.items() if m.state != "arrived"}
        earlier = set().union(*(drops[s] for s in self.setup))
        drops[INPUT] |= left_out - earlier
        return RoundPlan(round=cohort.index, sampled=tuple(sorted(cohort.members)),
                         stages=self.stages, dropouts={s: frozenset(v) for s, v in drops.items()},
                         latency=cohort.latency, deadline=None)

    def _updates(self, record: BufferRecord, cohort: _Cohort, plan: RoundPlan
                 ) -> tuple[dict[int, np.ndarray], dict[int, float]]:
        """Client-side, for the members that delivered: train on the downloaded version, clip
        (and privatize) as FedAvg does, then scale by s(τ). A refused update is a dropout."""
        updates, weights, clipped = {}, {}, 0
        for cid in sorted(plan.input_survivors()):
            member = cohort.members[cid]
            base = self.models[member.version]
            fit_config = {"round": member.job, "version": member.version,
                          **self.config.fit_config}
            params = [p.copy() for p in unflatten(base, self.spec)]
            new, n_examples, _ = self.clients[cid - 1].fit(params, fit_config)
            try:
                update, was_clipped = self.run_._prepare(new, base)
                weights[cid] = self.run_._weight(n_examples)
            except EncodingError as exc:
                log.warning("buffer %d: client %d refused, counted as a dropout: %s",
                            cohort.index, cid, exc)
                plan.dropouts[INPUT] = plan.dropouts[INPUT] | {cid}
                continue
            updates[cid] = self.config.weight(member.staleness) * update
            clipped += was_clipped
            record.versions[cid], record.staleness[cid] = member.version, member.staleness
        record.stale = sum(t > 0 for t in record.staleness.values())
        self.run_._note_clipping(record, clipped, len(updates))
        return updates, weights

    def _aggregate(self, record: BufferRecord, cohort: _Cohort, plan: RoundPlan,
                   updates: dict[int, np.ndarray], weights: dict[int, float]) -> None:
        """One secure aggregation; its unmasking runs, then the step is published in order."""
        made: list[Codec] = []
        ctx = RoundContext(cohort.index, plan, self.run_._codec_factory(self.dim, made),
                           integer_only=isinstance(self.config.dp, DistributedDP),
                           rng=self.config.rng)
        cpu = time.process_time()
        try:
            result = self.aggregator.aggregate(updates, weights, ctx)
        except AbortError as exc:
            record.cpu_seconds = time.process_time() - cpu
            record.skipped = f"aborted at {exc}"
            _fill_costs(record, getattr(exc, "stats", {}))
            log.warning("buffer %d skipped, model unchanged: %s", cohort.index, exc)
            self.run_._account(record, made)
            self._skip(record, plan)
            return
        record.cpu_seconds = time.process_time() - cpu
        _fill(record, result)
        self.run_._account(record, made)
        record.staleness = {c: record.staleness[c] for c in record.survivors}
        record.versions = {c: record.versions[c] for c in record.survivors}
        record.stale = sum(t > 0 for t in record.staleness.values())
        _, unmask_s = self._stages_time(cohort, self.stages[self.stages.index(INPUT) + 1:],
                                        set(result.survivors))
        at = max(self.now + unmask_s, self.last_publish)
        self.last_publish = at
        self.pending += 1
        step = self.config.server_lr * result.sum_vector / result.total_weight
        record.simulated_seconds = at - cohort.sealed_at
        self._push(at, "publish", record, step, plan)

    def _skip(self, record: BufferRecord, plan: RoundPlan) -> None:
        """A buffer that released nothing: no survivors, the model unchanged."""
        record.versions, record.staleness, record.stale = {}, {}, 0
        record.time, record.version = self.now, self.version
        self._finish(record, plan)

    def _finish(self, record: BufferRecord, plan: RoundPlan) -> None:
        """Number, evaluate and report the buffer."""
        record.round = len(self.history) + 1
        self.run_._evaluate(record, self.models[record.version], self.spec, plan)
        self.history.append(record)
        if self.on_buffer is not None:
            self.on_buffer(record)

    def _prune(self) -> None:
        """Forget model versions no member still training or waiting in a buffer needs."""
        keep = {self.version} | {m.version for m in self.open.members.values()}
        for cohort in self.live.values():
            keep |= {m.version for m in cohort.members.values()}
        for v in [v for v in self.models if v not in keep]:
            del self.models[v]


def _fixed(deadline: object) -> float | None:
    """The simulation's stage deadline in seconds (FedBuffConfig refuses adaptive ones)."""
    return None if deadline is None else float(deadline)  # type: ignore[arg-type]
