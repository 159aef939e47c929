"""``SecAggServer``: the aggregator's side of a SecAgg / SecAgg+ round, sans-IO.

``receive`` validates a message completely before recording it, so bad data raises a typed error
and changes nothing (a second message from the same client is a ``ProtocolViolation``).
``close_stage`` ends a stage with whatever arrived — the caller's deadline — and returns the next
stage's message per client, or raises ``AbortError`` and moves to ``Stage.ABORTED``: when fewer
than t answered, when more clients dropped than the round was planned for, or (SecAgg+) when a
survivor would have fewer than t surviving neighbours or the survivors split the graph.
Masked inputs are summed as they arrive and not kept: a vector waits in a bounded window
(:data:`PENDING_BYTES`) until every neighbour that could refuse its sender has sent, so that a
refusal can still take it out; only when the window is full of vectors still waiting is the
oldest folded early, and a refusal of a folded sender then leaves the reporter out instead (see
:meth:`SecAggServer._take_masked`). At the end
the server rebuilds and verifies the secrets (:mod:`protocols.secagg.recovery`) and removes the self masks of U3 and the pairwise masks between
dropped clients and their surviving neighbours, regenerating them through the fused kernel as
jobs (one per dropped client, self seeds in batches) that ``secagg.masking`` spreads over worker
threads; the state machine itself stays single-threaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from itertools import chain

import numpy as np

from protocols.checks import check_sender, reporters_by_dealer
from secagg import keys, labels
from secagg.errors import AbortError, OutOfOrder, ProtocolViolation
from secagg.masking import MaskJob, accumulate_mask_jobs, fixed_job, pairwise_job
from secagg.prg import dtype_for_bits

from . import codec
from .commitments import KEY_SHARE, MASK_SHARE, seed_matches
from .config import SecAggConfig
from .graph import build_graph, commitments_digest, graph_seed, nonce_commitment
from .messages import (
    SHARE_COMMIT_BYTES,
    AdvertiseKeys,
    ConsistencySignature,
    KeyEntry,
    KeyList,
    MaskedInput,
    PackedShareKeys,
    SeedCommitments,
    SeedReveal,
    ShareKeys,
    Signatures,
    Survivors,
    UnmaskShares,
)
from .recovery import Recovery, group_shares
from .signing import advertise_payload, check_verify_keys, consistency_payload
from .stages import Stage, flow_of, next_stage

#: Bytes of masked vectors held back from the sum at most (the oldest is folded in beyond it):
#: the server's memory for masked inputs is this plus one vector, whatever n is.
PENDING_BYTES = 256 << 20
#: Self-mask seeds per unmasking job (a dropped client's pairwise masks are one job each).
SELF_SEED_BATCH = 64
#: Senders whose share bundles are routed per batch of array operations.
_ROUTE_BATCH = 1024

_EXPECTED = {
    Stage.ADVERTISE_KEYS: AdvertiseKeys,
    Stage.REVEAL_SEED: SeedReveal,
    Stage.SHARE_KEYS: ShareKeys,
    Stage.MASKED_INPUT: MaskedInput,
    Stage.CONSISTENCY_CHECK: ConsistencySignature,
    Stage.UNMASKING: UnmaskShares,
}
#: Stages whose survivors count against the dropout budget (later dropouts change no sum).
_BUDGETED = (Stage.ADVERTISE_KEYS, Stage.SHARE_KEYS, Stage.MASKED_INPUT)


class SecAggServer:
    """The aggregator of one round: ``receive`` messages, ``close_stage`` at each deadline."""

    def __init__(
        self,
        config: SecAggConfig,
        verify_keys: Mapping[int, bytes] | None = None,
        *,
        pending_vectors: int | None = None,
    ) -> None:
        """``pending_vectors``: masked vectors held back from the sum at most (default: as many
        as fit in :data:`PENDING_BYTES`); see :meth:`_take_masked`."""
        self.config = config
        itemsize = np.dtype(dtype_for_bits(config.modulus_bits)).itemsize
        if pending_vectors is None:
            pending_vectors = max(4, PENDING_BYTES // (config.vector_length * itemsize))
        if isinstance(pending_vectors, bool) or not isinstance(pending_vectors, int) \
                or pending_vectors < 0:
            raise ValueError(f"pending_vectors must be an int >= 0, got {pending_vectors!r}")
        self._pending_limit = pending_vectors
        self._pending: dict[int, np.ndarray] = {}  # arrived, not yet in the sum (oldest first)
        self._waiting: dict[int, int] = {}  # pending sender -> its neighbours yet to send
        self._ready: dict[int, None] = {}  # pending senders no neighbour can refuse any more
        self._folded: set[int] = set()  # senders whose vectors are in the sum
        self._excluded: set[int] = set()  # left out of U3 for refused shares
        self._verify_keys = check_verify_keys(config, verify_keys)
        self._flow = flow_of(config)
        self._seed = config.session_id  # the graph seed; malicious SecAgg+ fixes it later
        self._graph = build_graph(config)
        self._all_ids = frozenset(config.client_ids)
        self._stage = Stage.ADVERTISE_KEYS
        self._inbox: dict[int, object] = {}
        self._keys: dict[int, AdvertiseKeys] = {}  # U1
        self._public_keys: set[bytes] = set()  # every key advertised so far (all distinct)
        self._silent: frozenset[int] = frozenset()  # clients not in U1
        self._bundles: dict[int, PackedShareKeys] = {}  # U2
        self._alive: tuple[int, ...] = ()  # U3
        self._dead: tuple[int, ...] = ()  # U2 \ U3
        self._alive_set: frozenset[int] = frozenset()
        self._dead_set: frozenset[int] = frozenset()
        self._signatures: dict[int, bytes] = {}  # U4
        self._refused: dict[int, frozenset[int]] = {}  # reporter -> dealers it refused
        self._holders_of_dead: dict[int, tuple[int, ...]] = {}  # dead v -> _accepted(v), sorted
        self._dead_of: dict[int, tuple[int, ...]] = {}  # u in U3 -> its dead neighbours (SecAgg+)
        self._sum: np.ndarray | None = None
        self._result: np.ndarray | None = None
        self._bad_holders: frozenset[int] = frozenset()

    @property
    def stage(self) -> Stage:
        """The stage whose messages the server is collecting."""
        return self._stage

    @property
    def expected(self) -> frozenset[int]:
        """The clients whose message of this stage may still come (a transport closes the stage
        when this is empty, or at its deadline)."""
        if self._stage not in _EXPECTED:
            return frozenset()
        return frozenset(self._senders() - self._inbox.keys())

    @property
    def included(self) -> frozenset[int]:
        """U3: the clients whose inputs are in the sum (empty until masked inputs are closed)."""
        return frozenset(self._alive)

    @property
    def misbehaving(self) -> frozenset[int]:
        """Clients that revealed a share not matching its dealer's commitment (routed around).
        Holders check what they were dealt against the same commitments before they mask, so
        a mismatch at unmasking is the holder's doing."""
        return self._bad_holders

    @property
    def reported(self) -> dict[int, frozenset[int]]:
        """Dealers whose shares neighbours refused, and who refused them. The dealer is left
        out of U3, or the reporter when the dealer's vector was already in the sum (see
        :meth:`_take_masked`); a report is one client's word: a reporter may lie, which only
        costs the round one input."""
        return reporters_by_dealer(self._refused)

    def result(self) -> np.ndarray:
        """Σ_{u ∈ U3} x_u mod 2^b, once unmasking is closed."""
        if self._result is None:
            raise OutOfOrder(f"no result in stage {self._stage.value!r}")
        return self._result.copy()

    # --- receiving ----------------------------------------------------------------------------

    def receive(self, client_id: int, data: bytes) -> None:
        """Validate one client's message for the current stage and record it."""
        stage = self._stage
        check_sender(stage, stage in _EXPECTED, client_id,
                     self._senders() if stage in _EXPECTED else frozenset(), self._inbox)
        message: PackedShareKeys | codec.PackedUnmaskShares
        if stage is Stage.SHARE_KEYS:
            message = codec.decode_packed_share_keys(data, self.config)
        elif stage is Stage.UNMASKING:
            message = codec.decode_packed_unmask_shares(data, self.config)
        else:
            message = codec.decode(data, self.config, _EXPECTED[stage])
        if message.sender != client_id:
            raise ProtocolViolation("message sender does not match the connection's client id")
        _CHECKS[stage](self, message)
        if stage is Stage.MASKED_INPUT:  # keep the refusals, not the vector
            self._inbox[client_id] = self._take_masked(message)  # type: ignore[arg-type]
            return
        self._inbox[client_id] = message

    def _senders(self) -> AbstractSet[int]:
        """Who may send in this stage: everyone, then U1, U2, U3 and (malicious) U4."""
        stage = self._stage
        if stage is Stage.ADVERTISE_KEYS:
            return self._all_ids
        if stage in (Stage.REVEAL_SEED, Stage.SHARE_KEYS):
            return self._keys.keys()
        if stage is Stage.MASKED_INPUT:
            return self._bundles.keys()
        if stage is Stage.CONSISTENCY_CHECK or not self.config.malicious:
            return self._alive_set
        return self._signatures.keys()

    def _check_advertise(self, m: AdvertiseKeys) -> None:
        """Signature (malicious mode), then keys every honest client will accept: points of
        large order, distinct from each other and from every key advertised before. One client
        with a low-order or copied key would otherwise make every honest client refuse the key
        list and abort the round; refused here, it is just a client that did not advertise."""
        if self.config.malicious:
            payload = advertise_payload(self.config, m.sender, m.c_pk, m.s_pk, m.graph_commitment)
            keys.verify_signature(
                self._verify_keys[m.sender], labels.ADVERTISE_SIG, payload, m.signature
            )
        if m.c_pk == m.s_pk or {m.c_pk, m.s_pk} & self._public_keys:
            raise ProtocolViolation(f"client {m.sender} advertised a key that is not fresh")
        keys.check_public_point(m.c_pk)
        keys.check_public_point(m.s_pk)
        self._public_keys.update((m.c_pk, m.s_pk))  # last: nothing above changed state

    def _check_reveal(self, m: SeedReveal) -> None:
        want = self._keys[m.sender].graph_commitment
        if nonce_commitment(self.config, m.sender, m.nonce) != want:
            raise ProtocolViolation(f"client {m.sender}'s nonce does not open its commitment")

    def _check_share_keys(self, m: PackedShareKeys) -> None:
        """The recipients (strictly increasing, so distinct) are exactly the sender's
        neighbours that advertised keys."""
        want = self._graph.neighbors(m.sender)
        if self._silent:  # clients that did not advertise (usually none)
            want = want - self._silent
        if len(m.recipients) != len(want) or not want.issuperset(m.recipients):
            raise ProtocolViolation("share bundles must go to exactly the live neighbours")

    def _check_masked(self, m: MaskedInput) -> None:
        """The codec checked length, width and range; refused dealers must be live neighbours
        that dealt to the sender."""
        if m.refused and not set(m.refused) <= self._bundles.keys() & self._graph.neighbors(
                m.sender):
            raise ProtocolViolation("refused dealers that did not deal to this client")

    def _check_consistency(self, m: ConsistencySignature) -> None:
        payload = consistency_payload(self.config, self._alive, self._seed)
        keys.verify_signature(
            self._verify_keys[m.sender], labels.CONSISTENCY_SIG, payload, m.signature
        )

    def _check_unmask(self, m: codec.PackedUnmaskShares) -> None:
        """Shares of b_v for exactly the survivors of the sender's closed neighbourhood and of
        s_sk_v for exactly its dead, less those it refused (the ids arrive strictly increasing,
        so comparing sorted lists compares the sets)."""
        alive, dead = self._alive_set, self._dead_set
        refused = self._refused.get(m.sender, frozenset())
        want_mask, want_key = [], []
        for v in (*self._graph.neighbors(m.sender), m.sender):
            if v in alive:
                want_mask.append(v)
            elif v in dead and v not in refused:
                want_key.append(v)
        want_mask.sort()
        want_key.sort()
        if list(m.mask_ids) != want_mask or list(m.key_ids) != want_key:
            raise ProtocolViolation("unmask shares do not match the survivor set")

    def _accepted(self, v: int) -> frozenset[int]:
        """v's surviving neighbours that took v's shares (and so masked with v)."""
        return frozenset(u for u in self._graph.neighbors(v) & self._alive_set
                         if v not in self._refused.get(u, ()))

    def _take_masked(self, m: MaskedInput) -> tuple[int, ...]:
        """Queue y_u for the sum and apply u's refusals; returns them.

        A refused dealer v is left out of U3 (its masks with the reporter do not match). While
        y_v has not been folded into the sum (v has not sent, or y_v is still in the window)
        that is done by never adding it. Once folded it cannot be taken back out, so the
        reporter is left out instead: it did not mask with v, and as a dropped client its
        pairwise masks with the neighbours that accepted it are removed through its
        reconstructed key. Either way no pair that disagrees on its mask is in U3 together.

        A vector is folded once all of its sender's neighbours in U2 have sent (none can refuse
        it any more), or at the end of the stage; only when the window is full of vectors still
        waiting is the oldest folded early. So a report costs the round one input unless a
        dealer, helped by clients that fill the window, gets its vector folded first: then its
        honest neighbours' reports leave them out instead (at most its k neighbours, counted
        as dropouts, so beyond the budget the round aborts); ``reported`` names the dealer."""
        u = m.sender
        for v in m.refused:
            if v in self._folded:
                self._excluded.add(u)
            else:
                self._excluded.add(v)
                self._drop_pending(v)
        # One pass over u's neighbours: a pending neighbour's vector waits for one report
        # fewer now that u has sent; a neighbour in U2 that has not sent yet is one u waits for
        # (pending vectors are a subset of those that sent).
        senders, inbox, waiting, ready = self._senders(), self._inbox, self._waiting, self._ready
        left = 0
        for v in self._graph.neighbors(u):
            if v in inbox:
                if v in waiting:
                    waiting[v] -= 1
                    if not waiting[v]:
                        ready[v] = None
            elif v in senders:
                left += 1
        if u not in self._excluded:
            self._pending[u] = m.vector
            waiting[u] = left
            if not left:
                ready[u] = None
            while len(self._pending) > self._pending_limit:
                self._fold(next(iter(ready), next(iter(self._pending))))
        return tuple(m.refused)

    def _drop_pending(self, v: int) -> None:
        self._pending.pop(v, None)
        self._waiting.pop(v, None)
        self._ready.pop(v, None)

    def _fold(self, u: int) -> None:
        bits = self.config.modulus_bits
        if self._sum is None:
            self._sum = np.zeros(self.config.vector_length, dtype=dtype_for_bits(bits))
        vector = self._pending[u]
        self._drop_pending(u)
        np.add(self._sum, vector, out=self._sum)  # wraps mod 2^32 / 2^64
        if bits not in (32, 64):
            np.bitwise_and(self._sum, self._sum.dtype.type((1 << bits) - 1), out=self._sum)
        self._folded.add(u)

    # --- closing stages -----------------------------------------------------------------------

    def close_stage(self) -> dict[int, bytes]:
        """End the current stage with what arrived; the next stage's message per client."""
        stage = self._stage
        if stage not in _EXPECTED:
            raise OutOfOrder(f"stage {stage.value!r} cannot be closed")
        self._require_enough(stage)
        inbox, self._inbox = self._inbox, {}
        try:
            out = _CLOSERS[stage](self, inbox)
        except BaseException:  # the round cannot go on from a half-closed stage
            self._stage = Stage.ABORTED
            raise
        self._stage = next_stage(stage, self._flow)
        return out

    def _require_enough(self, stage: Stage) -> None:
        """t answers; every committed nonce at reveal_seed; n - D at the budgeted stages."""
        got, cfg = len(self._inbox), self.config
        needed, detail = cfg.t, ""
        if stage is Stage.REVEAL_SEED:
            needed, detail = len(self._keys), "every client that committed must reveal"
        elif stage in _BUDGETED and cfg.min_survivors > cfg.t:
            needed, detail = cfg.min_survivors, f"at most {cfg.max_dropouts} dropouts planned"
        if got < needed:
            self._stage = Stage.ABORTED
            raise AbortError(stage.value, needed, got, detail)

    def _close_advertise(self, inbox: dict[int, AdvertiseKeys]) -> dict[int, bytes]:
        self._keys = dict(inbox)
        self._silent = self._all_ids - self._keys.keys()
        if not self.config.graph_from_clients:
            return self._key_lists(())
        commitments = {u: m.graph_commitment for u, m in self._keys.items()}
        msg = codec.encode(SeedCommitments(commitments_digest(self.config, commitments)),
                           self.config)
        return dict.fromkeys(self._keys, msg)

    def _close_reveal(self, inbox: dict[int, SeedReveal]) -> dict[int, bytes]:
        nonces = {u: m.nonce for u, m in inbox.items()}
        self._seed = graph_seed(self.config, nonces)
        self._graph = build_graph(self.config, self._seed)
        return self._key_lists(tuple(sorted(nonces.items())))

    def _key_lists(self, nonces: tuple[tuple[int, bytes], ...]) -> dict[int, bytes]:
        """Each advertiser gets the keys of its live closed neighbourhood (and the nonces)."""
        entries = {
            u: KeyEntry(u, m.c_pk, m.s_pk, m.signature) for u, m in sorted(self._keys.items())
        }
        if self._graph.complete:
            shared = codec.encode(KeyList(tuple(entries.values()), nonces), self.config)
            return dict.fromkeys(entries, shared)
        members = {}
        for u in entries:  # N[u] among the advertisers, one neighbourhood lookup per client
            ids = [v for v in self._graph.neighbors(u) if v in entries]
            ids.append(u)
            ids.sort()
            members[u] = ids
        return codec.encode_key_lists(entries, members, nonces, self.config)

    def _close_share_keys(self, inbox: dict[int, PackedShareKeys]) -> dict[int, bytes]:
        """Forward to each v in U2 the bundles addressed to it, sorted by sender."""
        self._bundles = dict(inbox)
        if not self._graph.complete:
            return self._route_sparse()
        routed = self._route_dense()
        self._bundles = {u: m.without_ciphertexts() for u, m in self._bundles.items()}
        return {
            v: codec.encode_bundles_raw(v, senders, blobs, self.config)
            for v, (senders, blobs) in routed.items()
        }

    def _route_dense(self) -> dict[int, tuple[np.ndarray, bytes]]:
        """Complete graph: a (sender, recipient) grid of routed bundles, read out by column."""
        size = codec.routed_bundle_size(self.config)
        u1 = sorted(self._keys)
        u2 = sorted(self._bundles)
        col = {v: j for j, v in enumerate(u1)}
        grid = np.zeros((len(u2), len(u1), size), dtype=np.uint8)
        for i, u in enumerate(u2):
            rows = self._bundles[u].routed_rows()
            p = col[u]  # u sends to every other member of U1, in id order
            grid[i, :p] = rows[:p]
            grid[i, p + 1 :] = rows[p:]
        ids = np.array(u2, dtype=np.int64)
        out = {}
        for r, v in enumerate(u2):
            c = col[v]
            out[v] = (np.delete(ids, r), grid[:r, c].tobytes() + grid[r + 1 :, c].tobytes())
        return out

    def _route_sparse(self) -> dict[int, bytes]:
        """Sparse graph: every routed bundle (ciphertext, then the dealer's commitments to the
        recipient's shares, as :meth:`PackedShareKeys.routed_rows`) written once, straight to
        its place in one array in (recipient, sender) order: one copy of the n·k ciphertexts,
        made by array operations over batches of senders while each sender's own copy is
        dropped. Each recipient's message is then its slice. Bundles to clients of U1 that did
        not share keys are not forwarded."""
        size, ct = codec.routed_bundle_size(self.config), codec.bundle_size(self.config)
        per = 2 * SHARE_COMMIT_BYTES  # a holder's two share commitments
        senders = sorted(self._bundles)
        counts = np.array([len(self._bundles[u].recipients) for u in senders], dtype=np.int64)
        total = int(counts.sum())
        r_ids = np.fromiter(chain.from_iterable(self._bundles[u].recipients for u in senders),
                            dtype=np.int64, count=total)
        s_ids = np.repeat(np.array(senders, dtype=np.int64), counts)
        u2 = np.array(senders, dtype=np.int64)
        kept = np.flatnonzero(np.isin(r_ids, u2))
        order = kept[np.argsort(r_ids[kept], kind="stable")]  # senders stay in id order
        place = np.full(total, -1, dtype=np.int64)
        place[order] = np.arange(order.size)
        first = np.cumsum(counts) - counts  # each sender's first entry
        # an entry's commitments among its sender's holders (the sender is one of them)
        held_at = np.arange(total) - np.repeat(first, counts) + (r_ids > s_ids)
        rows = np.empty((order.size, size), dtype=np.uint8)
        for lo in range(0, len(senders), _ROUTE_BATCH):
            hi = min(lo + _ROUTE_BATCH, len(senders))
            batch = [self._bundles[u] for u in senders[lo:hi]]
            a, b = int(first[lo]), int(first[hi - 1] + counts[hi - 1])
            cts = np.frombuffer(b"".join(m.ciphertexts for m in batch), np.uint8).reshape(-1, ct)
            commits = np.frombuffer(b"".join(m.share_commitments for m in batch),
                                    np.uint8).reshape(-1, per)
            # sender i of the batch dealt count_i + 1 commitment pairs
            own = counts[lo:hi] + 1
            at = np.repeat(np.cumsum(own) - own, counts[lo:hi]) + held_at[a:b]
            to = place[a:b]
            if not (to >= 0).all():
                keep = to >= 0
                to, cts, at = to[keep], cts[keep], at[keep]
            rows[to, :ct] = cts
            rows[to, ct:] = commits[at]
            for u, m in zip(senders[lo:hi], batch, strict=True):
                self._bundles[u] = m.without_ciphertexts()  # forwarded: the server needs no more
        bounds = np.searchsorted(r_ids[order], np.append(u2, u2[-1] + 1))
        return codec.encode_bundles_routed(u2, bounds, s_ids[order], rows, self.config)

    def _close_masked(self, inbox: dict[int, tuple[int, ...]]) -> dict[int, bytes]:
        """U3: who sent a masked input, less those left out for refused shares (their masks
        do not match: they count as dropped; see :meth:`_take_masked`)."""
        self._refused = {u: frozenset(refused) for u, refused in inbox.items() if refused}
        for u in list(self._pending):
            self._fold(u)
        if self._sum is None:
            self._sum = np.zeros(self.config.vector_length,
                                 dtype=dtype_for_bits(self.config.modulus_bits))
        excluded = self._excluded & inbox.keys()
        self._set_survivors(sorted(inbox.keys() - excluded))
        needed = max(self.config.t, self.config.min_survivors)
        if len(self._alive) < needed:
            raise AbortError(Stage.MASKED_INPUT.value, needed, len(self._alive),
                             f"{len(excluded)} left out for shares their neighbours refused: "
                             f"{sorted(excluded)[:5]}")
        self._check_survivor_graph()
        if self._graph.complete:
            return dict.fromkeys(self._alive, codec.encode(Survivors(self._alive, self._dead),
                                                           self.config))
        return codec.encode_survivors_each(self._alive, self._dead_of, self.config)

    def _set_survivors(self, alive: list[int]) -> None:
        self._alive = tuple(alive)
        self._alive_set = frozenset(alive)
        self._dead = tuple(sorted(self._bundles.keys() - self._alive_set))
        self._dead_set = frozenset(self._dead)

    def _check_survivor_graph(self) -> None:
        """Stop here, before any client reveals a share, if some secret could not be rebuilt
        (a dropped client with fewer than t surviving holders of its key), or (SecAgg+) a
        survivor has fewer than t surviving neighbours or U3 is split (its clients would
        refuse to unmask anyway). Keeps each dropped client's surviving holders for unmasking
        and (SecAgg+) each survivor's dead neighbours, all a client is sent of the dead, found
        in the same pass: one neighbourhood lookup per client."""
        t = self.config.t
        holders_of: dict[int, tuple[int, ...]] = {}
        for v in self._dead:
            holders = self._accepted(v)
            if holders and len(holders) < t:
                refused = sorted(self.reported.get(v, ()))
                raise AbortError(Stage.MASKED_INPUT.value, t, len(holders),
                                 f"surviving holders of client {v}'s key; refused by {refused}")
            holders_of[v] = tuple(sorted(holders))
        self._holders_of_dead = holders_of
        if self._graph.complete:
            return
        alive, dead = self._alive_set, self._dead_set
        dead_of: dict[int, tuple[int, ...]] = {}
        self._dead_of = dead_of
        for u in self._alive:
            nbrs = self._graph.neighbors(u)
            live = len(nbrs & alive)
            if live < t:
                raise AbortError(Stage.MASKED_INPUT.value, t, live,
                                 f"surviving neighbours of client {u}")
            dead_of[u] = tuple(sorted(nbrs & dead))
        parts = self._graph.components(self._alive_set)
        if len(parts) > 1:
            raise AbortError(Stage.MASKED_INPUT.value, len(self._alive),
                             max(len(p) for p in parts), "the survivors split the neighbour "
                             "graph; largest connected part")

    def _close_consistency(self, inbox: dict[int, ConsistencySignature]) -> dict[int, bytes]:
        """Each signer gets U3, its dead neighbours and the signatures of its closed
        neighbourhood: the only ones it counts (all of them in SecAgg)."""
        self._signatures = {u: m.signature for u, m in inbox.items()}
        if self._graph.complete:
            sigs = tuple(sorted(self._signatures.items()))
            msg = codec.encode(Signatures(self._alive, self._dead, sigs), self.config)
            return dict.fromkeys(self._signatures, msg)
        signers = sorted(self._signatures)
        near = {u: tuple((v, self._signatures[v]) for v in sorted([*self._graph.neighbors(u), u])
                         if v in self._signatures) for u in signers}
        return codec.encode_signatures_each(self._alive, {u: self._dead_of[u] for u in signers},
                                            near, self.config)

    def _close_unmask(self, inbox: dict[int, codec.PackedUnmaskShares]) -> dict[int, bytes]:
        self_seeds, dead_keys = self._reconstruct(inbox)
        assert self._sum is not None
        self._result = accumulate_mask_jobs(
            self._sum, self._unmask_jobs(self_seeds, dead_keys), self.config.session_id,
            self.config.modulus_bits,
        )
        return {}

    def _unmask_jobs(
        self, self_seeds: dict[int, bytes], dead_keys: dict[int, keys.MaskKeyPair]
    ) -> list[MaskJob]:
        """Mask batches to subtract: U3's self masks, and per dropped v its pairwise masks.

        A dropped v's job derives s_vu for its surviving neighbours u when a worker runs it, so
        the worker threads' X25519 (libsodium, GIL released) and AES run side by side.
        """
        seeds = list(self_seeds.values())
        batches = [seeds[j : j + SELF_SEED_BATCH] for j in range(0, len(seeds), SELF_SEED_BATCH)]
        jobs = [fixed_job(batch, [-1] * len(batch)) for batch in batches]
        session = self.config.session_id
        for v, key in dead_keys.items():
            # v's own δ_vu = -δ_uv: adding v's side of each pair cancels what u added.
            peers = [(u, self._keys[u].s_pk) for u in self._holders_of_dead[v]]
            jobs.append(pairwise_job(key, v, peers, session))
        return jobs

    def _reconstruct(
        self, inbox: dict[int, codec.PackedUnmaskShares]
    ) -> tuple[dict[int, bytes], dict[int, keys.MaskKeyPair]]:
        """Rebuild and verify b_u for u in U3 and s_sk_v for dropped v with surviving
        neighbours (see :mod:`protocols.secagg.recovery`)."""
        needed_dead = [v for v in self._dead if self._holders_of_dead[v]]
        pairs: dict[int, keys.MaskKeyPair] = {}

        def key_ok(v: int, sk: bytes) -> bool:
            pairs[v] = keys.MaskKeyPair.from_private_bytes(sk)
            return pairs[v].public_bytes == self._keys[v].s_pk

        def seed_ok(u: int, seed: bytes) -> bool:
            return seed_matches(self.config, u, self._bundles[u].seed_commitment, seed)

        seeds_rec = Recovery(self.config, MASK_SHARE, self._bundles, seed_ok)
        keys_rec = Recovery(self.config, KEY_SHARE, self._bundles, key_ok)
        holders = sorted(inbox)  # Recovery takes each owner's shares by holder id
        try:
            seeds = seeds_rec.rebuild(group_shares(self._alive, (
                (w, inbox[w].mask_id_bytes, inbox[w].mask_shares) for w in holders)))
            sks = keys_rec.rebuild(group_shares(needed_dead, (
                (w, inbox[w].key_id_bytes, inbox[w].key_shares) for w in holders)))
        finally:
            self._bad_holders = frozenset(seeds_rec.bad_holders | keys_rec.bad_holders)
        return seeds, {v: pairs[v] for v in sks}


_CHECKS: dict[Stage, Callable[..., None]] = {
    Stage.ADVERTISE_KEYS: SecAggServer._check_advertise,
    Stage.REVEAL_SEED: SecAggServer._check_reveal,
    Stage.SHARE_KEYS: SecAggServer._check_share_keys,
    Stage.MASKED_INPUT: SecAggServer._check_masked,
    Stage.CONSISTENCY_CHECK: SecAggServer._check_consistency,
    Stage.UNMASKING: SecAggServer._check_unmask,
}
_CLOSERS: dict[Stage, Callable[..., dict[int, bytes]]] = {
    Stage.ADVERTISE_KEYS: SecAggServer._close_advertise,
    Stage.REVEAL_SEED: SecAggServer._close_reveal,
    Stage.SHARE_KEYS: SecAggServer._close_share_keys,
    Stage.MASKED_INPUT: SecAggServer._close_masked,
    Stage.CONSISTENCY_CHECK: SecAggServer._close_consistency,
    Stage.UNMASKING: SecAggServer._close_unmask,
}
