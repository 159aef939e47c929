"""``SecAggClient``: one client's side of a SecAgg / SecAgg+ round, sans-IO.

Bytes in, bytes out; the caller owns transport and deadlines. Every check happens before any
state changes, so a bad message raises a typed error and leaves the client where it was. The
client reveals, per neighbour, at most one kind of share, and only once: the stage table moves
it past unmasking after the first accepted request. It refuses to reveal anything when the
round has more dropouts than its config was planned for, when it has fewer than t surviving
neighbours (SecAgg+), or when the survivors split the neighbour graph.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import nacl.signing
import numpy as np

from protocols.peers import PeerBoxes as _PeerBoxes
from protocols.wire import IdSet, known_ids
from secagg import encryption, keys, labels, masking, shamir
from secagg.csprng import RandomSource, resolve
from secagg.errors import (
    AbortError,
    AuthenticationError,
    EncodingError,
    OutOfOrder,
    ProtocolViolation,
)
from secagg.masking import accumulate_mask_jobs, fixed_job, pairwise_job
from secagg.prg import dtype_for_bits

from . import codec
from .commitments import own_shares_match, seed_commitment, share_commitments
from .config import SecAggConfig
from .graph import (
    GRAPH_NONCE_BYTES,
    NeighborGraph,
    build_graph,
    commitments_digest,
    graph_seed,
    nonce_commitment,
    survivor_component,
)
from .messages import (
    SHARE_COMMIT_BYTES,
    AdvertiseKeys,
    Bundles,
    ConsistencySignature,
    KeyEntry,
    KeyList,
    MaskedInput,
    SeedCommitments,
    SeedReveal,
    ShareKeys,
    Signatures,
    Survivors,
    UnmaskShares,
)
from .signing import advertise_payload, as_signing_key, check_verify_keys, consistency_payload
from .stages import Stage, flow_of, next_stage, require

SEED_BYTES = 32
#: Most neighbours per masking job: jobs are spread over the mask threads (secagg.masking).
PEER_BATCH = 32

__all__ = [
    "SecAggClient", "advertise_payload", "as_signing_key", "check_verify_keys",
    "consistency_payload",
]


@dataclass(slots=True, repr=False)
class _Secrets:
    """What a client holds after stage 0/1; never printed, never pickled (the keys refuse).
    ``box`` (one X25519 agreement per neighbour) is dropped once the bundles are opened."""

    box: _PeerBoxes | None
    mask: keys.MaskKeyPair
    graph_nonce: bytes = b""
    self_seed: bytes = b""
    own_key_share: bytes = b""
    own_mask_share: bytes = b""


class SecAggClient:
    """One client of a round: call the stage methods in order with the server's messages."""

    def __init__(
        self,
        config: SecAggConfig,
        client_id: int,
        signing_key: keys.SigningKeyPair | nacl.signing.SigningKey | None = None,
        verify_keys: Mapping[int, bytes] | None = None,
        *,
        rng: RandomSource | None = None,
    ) -> None:
        if type(client_id) is not int or client_id not in known_ids(config):
            raise ValueError(f"client_id {client_id!r} is not in config.client_ids")
        self.config = config
        self.client_id = client_id
        self._signer = as_signing_key(signing_key) if config.malicious else None
        self._verify_keys = check_verify_keys(config, verify_keys)
        self._rng = resolve(rng)
        self._flow = flow_of(config)
        self._graph_seed = config.session_id  # malicious SecAgg+: fixed in share_keys
        self._commitments_digest = b""
        self._graph: NeighborGraph | None = None
        self._neighbors: frozenset[int] = frozenset()
        if not config.graph_from_clients:
            self._set_graph(build_graph(config))
        self._stage = Stage.ADVERTISE_KEYS
        self._secrets: _Secrets | None = None
        self._peers: dict[int, KeyEntry] = {}  # U1 ∩ N(u): advertised keys
        self._shares: dict[int, tuple[bytes, bytes]] = {}  # U2 ∩ N(u): (s_sk share, b share)
        self._refused: frozenset[int] = frozenset()  # neighbours whose shares were unusable
        self._signed: tuple[tuple[int, ...], tuple[int, ...]] | None = None

    @property
    def stage(self) -> Stage:
        """The stage whose method the client expects next."""
        return self._stage

    @property
    def wants_input(self) -> bool:
        """Whether the next :meth:`respond` needs the input vector (the masked-input stage)."""
        return self._stage is Stage.MASKED_INPUT

    def respond(self, message: bytes | None = None, vector: np.ndarray | None = None) -> bytes:
        """The reply to the server's next message, whatever the stage: one call for a transport
        that does not track stages. The first call takes no message; the masked-input stage
        takes ``vector`` (see :attr:`wants_input`). Same typed errors as the stage methods."""
        stage = self._stage
        if stage is Stage.ADVERTISE_KEYS:
            return self.advertise_keys()
        if message is None:
            raise OutOfOrder(f"stage {stage.value!r} needs the server's message")
        if stage is Stage.MASKED_INPUT:
            if vector is None:
                raise OutOfOrder("the masked-input stage needs the input vector")
            return self.masked_input(message, vector)
        step = _STEPS.get(stage)
        if step is None:
            raise OutOfOrder(f"no reply is due in stage {stage.value!r}")
        return step(self, message)

    def __repr__(self) -> str:
        return f"SecAggClient(id={self.client_id}, stage={self._stage.value})"

    def __reduce__(self):  # noqa: D105 - holds secret keys
        raise TypeError("SecAggClient holds secret keys and cannot be pickled")

    def _advance(self) -> None:
        self._stage = next_stage(self._stage, self._flow)

    def _set_graph(self, graph: NeighborGraph) -> None:
        self._graph = graph
        self._neighbors = graph.neighbors(self.client_id)

    def _abort(self, stage: Stage, received: int, detail: str) -> AbortError:
        return AbortError(stage.value, self.config.t, received, detail)

    def _check_enough(self, stage: Stage, live_neighbors: int, what: str) -> None:
        """SecAgg+ needs t live neighbours (at most a < t of them corrupt, so one is honest);
        SecAgg counts the client itself towards t, as Bonawitz et al. do."""
        have = live_neighbors if not self.config.complete else live_neighbors + 1
        if have < self.config.t:
            raise self._abort(stage, have, what)

    def _check_budget(self, stage: Stage, live: int) -> None:
        """More dropouts than planned void the finder's bounds: refuse to go on."""
        if live < self.config.min_survivors:
            raise AbortError(stage.value, self.config.min_survivors, live,
                             f"more than the {self.config.max_dropouts} dropouts the round was "
                             "planned for")

    # --- stage 0 ------------------------------------------------------------------------------

    def advertise_keys(self) -> bytes:
        """Make fresh c and s key pairs and advertise their public halves (signed if malicious;
        with a commitment to a graph-seed nonce in malicious SecAgg+)."""
        require(self._stage, Stage.ADVERTISE_KEYS, "advertise_keys")
        box = _PeerBoxes(keys.BoxKeyPair.generate(self._rng))
        secrets = _Secrets(box, keys.MaskKeyPair.generate(self._rng))
        c_pk, s_pk = box.public_bytes, secrets.mask.public_bytes
        commitment = b""
        if self.config.graph_from_clients:
            secrets.graph_nonce = self._rng.token_bytes(GRAPH_NONCE_BYTES)
            commitment = nonce_commitment(self.config, self.client_id, secrets.graph_nonce)
        sig = b""
        if self._signer is not None:
            payload = advertise_payload(self.config, self.client_id, c_pk, s_pk, commitment)
            sig = self._signer.sign(labels.ADVERTISE_SIG, payload)
        msg = AdvertiseKeys(self.client_id, c_pk, s_pk, sig, commitment)
        out = codec.encode(msg, self.config)
        self._secrets = secrets
        self._advance()
        return out

    # --- malicious SecAgg+: the graph seed ----------------------------------------------------

    def reveal_seed(self, msg: bytes) -> bytes:
        """Record the digest of every nonce commitment, then reveal this client's nonce."""
        require(self._stage, Stage.REVEAL_SEED, "reveal_seed")
        announced = codec.decode(msg, self.config, SeedCommitments)
        assert self._secrets is not None
        out = codec.encode(SeedReveal(self.client_id, self._secrets.graph_nonce), self.config)
        self._commitments_digest = announced.digest
        self._advance()
        return out

    def _fix_graph(self, nonces: tuple[tuple[int, bytes], ...]) -> tuple[bytes, NeighborGraph]:
        """The revealed nonces must open the commitments announced before this client revealed,
        and include its own: then the graph is uniformly random whatever the server did."""
        assert self._secrets is not None
        revealed = dict(nonces)
        if revealed.get(self.client_id) != self._secrets.graph_nonce:
            raise ProtocolViolation("this client's graph nonce is missing or altered")
        commitments = {v: nonce_commitment(self.config, v, r) for v, r in revealed.items()}
        if commitments_digest(self.config, commitments) != self._commitments_digest:
            raise ProtocolViolation("revealed graph nonces do not open the announced commitments")
        seed = graph_seed(self.config, revealed)
        return seed, build_graph(self.config, seed)

    # --- stage 1 ------------------------------------------------------------------------------

    def share_keys(self, msg: bytes) -> bytes:
        """Check the neighbours' keys, then Shamir-share s_sk and b_u to them, sealed per peer,
        with a commitment to every share and to b_u."""
        require(self._stage, Stage.SHARE_KEYS, "share_keys")
        key_list = codec.decode(msg, self.config, KeyList)
        seed, graph = self._graph_seed, self._graph
        if self.config.graph_from_clients:
            seed, graph = self._fix_graph(key_list.nonces)
        assert graph is not None
        peers = self._check_key_list(key_list, graph)
        secrets = self._secrets
        assert secrets is not None
        self_seed = self._rng.token_bytes(SEED_BYTES)
        xs = sorted([*peers, self.client_id])
        t = self.config.t
        key_shares = shamir.split_secrets([secrets.mask.private_bytes()], t, xs, self._rng)
        mask_shares = shamir.split_secrets([self_seed], t, xs, self._rng)
        box = secrets.box
        assert box is not None
        box.prefetch([peers[v].c_pk for v in sorted(peers)])  # X25519s on the threads
        bundles = tuple(
            (v, self._seal(peers[v].c_pk, v, key_shares[v] + mask_shares[v]))
            for v in sorted(peers)
        )
        commitments = share_commitments(self.config, self.client_id, xs, key_shares, mask_shares)
        reply = ShareKeys(self.client_id, bundles, commitments,
                          seed_commitment(self.config, self.client_id, self_seed))
        out = codec.encode(reply, self.config)
        secrets.self_seed = self_seed
        secrets.own_key_share = key_shares[self.client_id]
        secrets.own_mask_share = mask_shares[self.client_id]
        self._graph_seed = seed
        self._set_graph(graph)
        self._peers = peers
        self._advance()
        return out

    def _seal(self, peer_public: bytes, v: int, payload: bytes) -> bytes:
        secrets = self._secrets
        assert secrets is not None and secrets.box is not None
        return encryption.seal_bundle(
            secrets.box,  # type: ignore[arg-type]
            peer_public, self.client_id, v, self.config.session_id, payload, self._rng,
        )

    def _check_key_list(self, key_list: KeyList, graph: NeighborGraph) -> dict[int, KeyEntry]:
        secrets = self._secrets
        assert secrets is not None and secrets.box is not None
        mine = [e for e in key_list.entries if e.client_id == self.client_id]
        if len(mine) != 1 or (mine[0].c_pk, mine[0].s_pk) != (
            secrets.box.public_bytes, secrets.mask.public_bytes
        ):
            raise ProtocolViolation("own keys missing or altered in the key list")
        neighbors = graph.neighbors(self.client_id)
        peers = {e.client_id: e for e in key_list.entries if e.client_id != self.client_id}
        strangers = set(peers) - neighbors
        if strangers:
            raise ProtocolViolation(f"key list names non-neighbours {sorted(strangers)[:3]}")
        publics = [k for e in key_list.entries for k in (e.c_pk, e.s_pk)]
        if len(set(publics)) != len(publics):
            raise ProtocolViolation("advertised public keys are not distinct")
        self._check_advertisers(key_list, neighbors)
        self._check_enough(Stage.ADVERTISE_KEYS, len(peers), "live neighbours")
        return peers

    def _check_advertisers(self, key_list: KeyList, neighbors: frozenset[int]) -> None:
        """Signatures (malicious mode), and the advertisers against the budget where this client
        can see them all (the complete graph; malicious SecAgg+ through the revealed nonces)."""
        nonces = dict(key_list.nonces)
        if self.config.graph_from_clients:
            listed = {e.client_id for e in key_list.entries}
            if listed != (neighbors | {self.client_id}) & nonces.keys():
                raise ProtocolViolation("key list differs from the neighbours who advertised")
            self._check_budget(Stage.ADVERTISE_KEYS, len(nonces))
        elif self.config.complete:
            self._check_budget(Stage.ADVERTISE_KEYS, len(key_list.entries))
        if not self.config.malicious:
            return
        for e in key_list.entries:
            commitment = b""
            if self.config.graph_from_clients:
                commitment = nonce_commitment(self.config, e.client_id, nonces[e.client_id])
            payload = advertise_payload(self.config, e.client_id, e.c_pk, e.s_pk, commitment)
            keys.verify_signature(
                self._verify_keys[e.client_id], labels.ADVERTISE_SIG, payload, e.signature
            )

    # --- stage 2 ------------------------------------------------------------------------------

    def masked_input(self, msg: bytes, vector: np.ndarray) -> bytes:
        """Open the neighbours' share bundles, then send y_u = x_u + PRG(b_u) + Σ ±PRG(s_uv)."""
        require(self._stage, Stage.MASKED_INPUT, "masked_input")
        x = self._check_vector(vector)
        bundles = codec.decode(msg, self.config, Bundles)
        shares, refused = self._open_bundles(bundles)
        secrets = self._secrets
        assert secrets is not None
        session, u = self.config.session_id, self.client_id
        peers = [(v, self._peers[v].s_pk) for v in sorted(shares)]
        batches = _batches(peers, x.shape[0])
        jobs = [fixed_job([secrets.self_seed], [1])] + [
            pairwise_job(secrets.mask, u, batch, session) for batch in batches
        ]
        # at most one thread per pairwise batch: the self mask alone is not worth a thread
        workers = max(1, min(masking.default_workers(), len(batches)))
        y = accumulate_mask_jobs(x, jobs, session, self.config.modulus_bits, workers=workers)
        out = codec.encode(MaskedInput(u, y, tuple(sorted(refused))), self.config)
        self._shares = shares
        self._refused = frozenset(refused)
        self._peers = {}  # keys and Boxes are not needed past this stage: O(k) state less
        secrets.box = None
        self._advance()
        return out

    def _check_vector(self, vector: np.ndarray) -> np.ndarray:
        cfg = self.config
        arr = np.asarray(vector)
        if arr.ndim != 1 or arr.shape[0] != cfg.vector_length:
            raise EncodingError(f"input must be a vector of length {cfg.vector_length}")
        kind = arr.dtype.kind
        if kind not in "ui":
            raise EncodingError("input must hold integers in [0, 2^b): encode floats first")
        # unsigned values are never negative; and a dtype of at most b bits cannot overflow 2^b
        if arr.size and (
            (kind == "i" and int(arr.min()) < 0)
            or (8 * arr.dtype.itemsize - (kind == "i") > cfg.modulus_bits
                and int(arr.max()) >> cfg.modulus_bits)
        ):
            raise EncodingError(f"input values must lie in [0, 2^{cfg.modulus_bits})")
        return np.array(arr, dtype=dtype_for_bits(cfg.modulus_bits), order="C", copy=True)

    def _open_bundles(self, bundles: Bundles) -> tuple[dict[int, tuple[bytes, bytes]], set[int]]:
        """The shares each live neighbour dealt this client, and the neighbours whose bundle
        does not open, or whose shares are not field elements or not what they committed to
        (refused: no mask with them, and the server leaves them out of the sum)."""
        if bundles.recipient != self.client_id:
            raise ProtocolViolation("share bundles addressed to another client")
        shares: dict[int, tuple[bytes, bytes]] = {}
        refused: set[int] = set()
        opened: dict[int, tuple[bytes, bytes]] = {}  # dealer -> (payload, commitments)
        for v, blob in bundles.bundles:
            if v not in self._peers:
                raise ProtocolViolation(f"bundle from {v}, who is not a live neighbour")
            got = self._open_one(v, blob)
            if got is None:
                refused.add(v)
            else:
                opened[v] = got
        size = codec.share_blob_size()
        fields: list[bool] = []
        if opened:  # every limb of every share a field element: one array test for all dealers
            limbs = np.frombuffer(b"".join(p for p, _ in opened.values()), dtype="<u4")
            ok = np.asarray((limbs < shamir.PRIME).reshape(len(opened), -1).all(axis=1))
            fields = ok.tolist()
        dealt = [(v, commits, payload[:size], payload[size:])
                 for v, (payload, commits) in opened.items()]
        # each share against the commitment its dealer sent the server (constant-time compare)
        committed = own_shares_match(self.config, self.client_id, dealt)
        for (v, _, key, mask), in_field, good in zip(dealt, fields, committed, strict=True):
            if in_field and good:
                shares[v] = (key, mask)
            else:
                refused.add(v)
        self._check_enough(Stage.SHARE_KEYS, len(shares), "neighbours who shared keys")
        return shares, refused

    def _open_one(self, v: int, blob: bytes) -> tuple[bytes, bytes] | None:
        """(the two shares dealer v sealed, its commitments to them), or None if the bundle
        does not open or is not two shares long (then v dealt something unusable)."""
        secrets = self._secrets
        assert secrets is not None and secrets.box is not None
        cut = len(blob) - 2 * SHARE_COMMIT_BYTES
        try:
            payload = encryption.open_bundle(
                secrets.box,  # type: ignore[arg-type]
                self._peers[v].c_pk, v, self.client_id, self.config.session_id, blob[:cut],
            )
        except AuthenticationError:
            return None
        if len(payload) != 2 * codec.share_blob_size():
            return None
        return payload, blob[cut:]

    # --- stage 3 (malicious) --------------------------------------------------------------------

    def consistency_check(self, msg: bytes) -> bytes:
        """Sign the U3 the server announced (and the graph seed), after checking U3 against what
        this client saw."""
        require(self._stage, Stage.CONSISTENCY_CHECK, "consistency_check")
        survivors = codec.decode(msg, self.config, Survivors)
        self._check_survivors(survivors.alive, survivors.dead)
        assert self._signer is not None
        payload = consistency_payload(self.config, survivors.alive, self._graph_seed)
        sig = self._signer.sign(labels.CONSISTENCY_SIG, payload)
        out = codec.encode(ConsistencySignature(self.client_id, sig), self.config)
        self._signed = (survivors.alive, survivors.dead)
        self._advance()
        return out

    # --- stage 4 ------------------------------------------------------------------------------

    def unmask(self, msg: bytes) -> bytes:
        """Reveal b-shares of surviving neighbours and s_sk-shares of dropped ones, never both."""
        require(self._stage, Stage.UNMASKING, "unmask")
        request: Signatures | Survivors
        if self.config.malicious:
            request = codec.decode(msg, self.config, Signatures)
            self._check_signatures(request)
        else:
            request = codec.decode(msg, self.config, Survivors)
        alive_nbrs, dead_nbrs = self._check_survivors(request.alive, request.dead)
        secrets = self._secrets
        assert secrets is not None
        mask_shares = {self.client_id: secrets.own_mask_share}
        mask_shares.update({v: self._shares[v][1] for v in alive_nbrs})
        key_shares = tuple((v, self._shares[v][0]) for v in sorted(dead_nbrs))
        reply = UnmaskShares(self.client_id, tuple(sorted(mask_shares.items())), key_shares)
        out = codec.encode(reply, self.config)
        self._advance()
        return out

    def _check_survivors(
        self, alive: tuple[int, ...], dead: tuple[int, ...]
    ) -> tuple[set[int], set[int]]:
        """U3 and U2 \\ U3 must agree with what this client saw and stay within the round's
        budgets; returns this client's neighbours in each."""
        alive_ids = alive if isinstance(alive, IdSet) else IdSet(alive)  # hashed membership
        dead_set = set(dead)  # O(k): the server sends only the dead among our neighbours
        both = [v for v in dead_set if v in alive_ids]
        if both:
            raise ProtocolViolation(f"clients {sorted(both)[:3]} are named both alive and dead")
        if self.client_id not in alive_ids:
            raise ProtocolViolation("this client is not in the survivor set it was sent")
        alive_nbrs = {v for v in self._neighbors if v in alive_ids}
        dead_nbrs = dead_set & self._neighbors
        sharers = set(self._shares)
        unknown = (alive_nbrs | dead_nbrs) - sharers - self._refused
        if unknown:
            raise ProtocolViolation(f"neighbours {sorted(unknown)[:3]} never shared keys with us")
        if alive_nbrs & self._refused:
            raise ProtocolViolation("a neighbour whose shares this client refused is in U3")
        missing = sharers - alive_nbrs - dead_nbrs
        if missing:
            raise ProtocolViolation(f"neighbours {sorted(missing)[:3]} are neither alive nor dead")
        dead_nbrs -= self._refused  # no share of theirs to reveal
        self._check_budget(Stage.MASKED_INPUT, len(alive_ids))
        self._check_enough(Stage.MASKED_INPUT, len(alive_nbrs), "surviving neighbours")
        part = survivor_component(self.config, alive_ids, self.client_id, self._graph_seed)
        if len(part) < len(alive_ids):  # unmasking would reveal the sum of each part
            raise AbortError(Stage.MASKED_INPUT.value, len(alive_ids), len(part),
                             "the survivors split the neighbour graph; survivors connected "
                             "to this client")
        return alive_nbrs, dead_nbrs

    def _check_signatures(self, request: Signatures) -> None:
        """Malicious mode: the same U3 we signed, and >= t valid neighbour signatures on it."""
        if self._signed != (request.alive, request.dead):
            raise ProtocolViolation("unmask request differs from the survivor set we signed")
        alive = request.alive if isinstance(request.alive, IdSet) else IdSet(request.alive)
        payload = consistency_payload(self.config, request.alive, self._graph_seed)
        closed = self._neighbors | {self.client_id}
        count = 0
        for signer, sig in request.signatures:
            if signer not in alive:
                raise ProtocolViolation(f"signature from {signer}, who is not in U3")
            keys.verify_signature(self._verify_keys[signer], labels.CONSISTENCY_SIG, payload, sig)
            count += signer in closed
        if count < self.config.t:
            raise self._abort(Stage.CONSISTENCY_CHECK, count, "valid signatures on U3")


def _batches(peers: list[tuple[int, bytes]], values: int) -> list[list[tuple[int, bytes]]]:
    """``peers`` in near-equal masking jobs of at most :data:`PEER_BATCH`: one per mask thread
    when each gets enough work to pay for its hand-off (:data:`_MIN_JOB_US`), else one job run
    inline. Equal jobs split the X25519s evenly (32 + 10 kept one thread waiting on the other).
    """
    if not peers:
        return []
    per_peer = _AGREEMENT_US + values * _VALUE_US
    useful = int(len(peers) * per_peer // _MIN_JOB_US)
    count = min(len(peers), max(1, min(masking.default_workers(), useful),
                                -(-len(peers) // PEER_BATCH)))
    size, extra = divmod(len(peers), count)
    out, at = [], 0
    for i in range(count):
        step = size + (i < extra)
        out.append(peers[at : at + step])
        at += step
    return out


#: Rough single-core costs, only to decide whether masking jobs are worth threads: one X25519
#: agreement, and one mask value (AES-CTR keystream and the add), in microseconds.
_AGREEMENT_US, _VALUE_US = 35.0, 0.001
#: Least work per thread that pays for a thread hand-off and its GIL traffic (measured: 40
#: agreements at m = 10^4 on two threads, 20 % faster than one on an idle core).
_MIN_JOB_US = 250.0


_STEPS = {
    Stage.REVEAL_SEED: SecAggClient.reveal_seed,
    Stage.SHARE_KEYS: SecAggClient.share_keys,
    Stage.CONSISTENCY_CHECK: SecAggClient.consistency_check,
    Stage.UNMASKING: SecAggClient.unmask,
}
