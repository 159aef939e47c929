"""``LightSecAggClient``: one client's side of a LightSecAgg round, sans-IO.

Bytes in, bytes out; the caller owns transport and deadlines. Every check happens before any
state changes, so a bad message raises a typed error and leaves the client where it was. The
client answers the aggregate-mask request once (two replies for different survivor sets would
hand the server the difference of two mask sums), and refuses to answer at all when the round
has more dropouts than its config was planned for or when the survivor set names a client whose
sub-mask it does not hold.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from protocols.peers import PeerBoxes as _PeerBoxes
from secagg import encryption, keys, labels
from secagg.csprng import RandomSource, resolve
from secagg.errors import (
    AbortError,
    AuthenticationError,
    EncodingError,
    OutOfOrder,
    ProtocolViolation,
)
from secagg.field import PRIME

from . import codec, coding
from .config import LightSecAggConfig
from .messages import (
    AdvertiseKey,
    AggregateReply,
    MaskedInput,
    PublicKeys,
    ShareMasks,
    SubMasks,
    Survivors,
)
from .stages import Stage, next_stage, require

_P = np.uint32(PRIME)


@dataclass(slots=True, repr=False)
class _Secrets:
    """What a client holds: its Box key, its mask and the coded sub-masks dealt to it (its own
    included; uint32, as every element is below 2^31). Never printed; the key refuses to be
    pickled."""

    box: _PeerBoxes
    mask: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.uint32))
    held: dict[int, np.ndarray] = field(default_factory=dict)


class LightSecAggClient:
    """One client of a round: call the stage methods in order with the server's messages."""

    def __init__(
        self, config: LightSecAggConfig, client_id: int, *, rng: RandomSource | None = None
    ) -> None:
        if type(client_id) is not int or client_id not in config.client_ids:
            raise ValueError(f"client_id {client_id!r} is not in config.client_ids")
        self.config = config
        self.client_id = client_id
        self._rng = resolve(rng)
        self._stage = Stage.ADVERTISE_KEYS
        self._secrets: _Secrets | None = None
        self._peers: dict[int, bytes] = {}  # U1 less this client: id -> c_pk
        self._refused: frozenset[int] = frozenset()

    @property
    def stage(self) -> Stage:
        """The stage whose method the client expects next."""
        return self._stage

    @property
    def wants_input(self) -> bool:
        """Whether the next :meth:`respond` needs the input vector (the masked-input stage)."""
        return self._stage is Stage.MASKED_INPUT

    def respond(self, message: bytes | None = None, vector: np.ndarray | None = None) -> bytes:
        """The reply to the server's next message, whatever the stage (see SecAgg's)."""
        stage = self._stage
        if stage is Stage.ADVERTISE_KEYS:
            return self.advertise_keys()
        if message is None:
            raise OutOfOrder(f"stage {stage.value!r} needs the server's message")
        if stage is Stage.SHARE_MASKS:
            return self.share_masks(message)
        if stage is Stage.MASKED_INPUT:
            if vector is None:
                raise OutOfOrder("the masked-input stage needs the input vector")
            return self.masked_input(message, vector)
        if stage is Stage.AGGREGATE_MASK:
            return self.aggregate_mask(message)
        raise OutOfOrder(f"no reply is due in stage {stage.value!r}")

    def __repr__(self) -> str:
        return f"LightSecAggClient(id={self.client_id}, stage={self._stage.value})"

    def __reduce__(self):  # noqa: D105 - holds secret keys
        raise TypeError("LightSecAggClient holds secret keys and cannot be pickled")

    def _advance(self) -> None:
        self._stage = next_stage(self._stage)

    def _check_budget(self, stage: Stage, live: int, what: str) -> None:
        """More dropouts than planned: refuse to go on."""
        if live < self.config.min_survivors:
            raise AbortError(stage.value, self.config.min_survivors, live,
                             f"{what}; at most {self.config.max_dropouts} dropouts planned")

    # --- advertise_keys -----------------------------------------------------------------------

    def advertise_keys(self) -> bytes:
        """Make a fresh Box key pair and advertise its public half."""
        require(self._stage, Stage.ADVERTISE_KEYS, "advertise_keys")
        secrets = _Secrets(_PeerBoxes(keys.BoxKeyPair.generate(self._rng)))
        out = codec.encode(AdvertiseKey(self.client_id, secrets.box.public_bytes), self.config)
        self._secrets = secrets
        self._advance()
        return out

    # --- share_masks --------------------------------------------------------------------------

    def share_masks(self, msg: bytes) -> bytes:
        """Check U1's keys, draw the mask and padding, encode them, and seal sub-mask j to j."""
        require(self._stage, Stage.SHARE_MASKS, "share_masks")
        listed = codec.decode(msg, self.config, PublicKeys)
        peers = self._check_keys(listed)
        secrets = self._secrets
        assert secrets is not None
        pieces = coding.mask_pieces(self.config, self.client_id,
                                    self._rng.token_bytes(coding.SEED_BYTES))
        members = sorted([*peers, self.client_id])
        coded = coding.encode(self.config, pieces, members)
        secrets.box.prefetch([peers[v] for v in sorted(peers)])
        rows = dict(zip(members, coded, strict=True))
        sealed = tuple((v, self._seal(peers[v], v, rows[v])) for v in sorted(peers))
        out = codec.encode(ShareMasks(self.client_id, sealed), self.config)
        secrets.mask = coding.mask_of(self.config, pieces)
        secrets.held = {self.client_id: rows[self.client_id].astype(np.uint32)}
        self._peers = peers
        self._advance()
        return out

    def _check_keys(self, listed: PublicKeys) -> dict[int, bytes]:
        secrets = self._secrets
        assert secrets is not None
        given = dict(listed.keys)
        if given.get(self.client_id) != secrets.box.public_bytes:
            raise ProtocolViolation("own key missing or altered in the key list")
        if len(set(given.values())) != len(given):
            raise ProtocolViolation("advertised public keys are not distinct")
        self._check_budget(Stage.ADVERTISE_KEYS, len(given), "clients that advertised keys")
        return {v: pk for v, pk in given.items() if v != self.client_id}

    def _seal(self, peer_public: bytes, v: int, row: np.ndarray) -> bytes:
        secrets = self._secrets
        assert secrets is not None
        payload = labels.LIGHTSECAGG_SUBMASK + codec.pack_field(row)
        return encryption.seal_bundle(
            secrets.box,  # type: ignore[arg-type]
            peer_public, self.client_id, v, self.config.session_id, payload, self._rng,
        )

    # --- masked_input -------------------------------------------------------------------------

    def masked_input(self, msg: bytes, vector: np.ndarray) -> bytes:
        """Open the sub-masks dealt to this client, then send y_i = x_i + z_i mod p."""
        require(self._stage, Stage.MASKED_INPUT, "masked_input")
        x = self._check_vector(vector)
        dealt = codec.decode(msg, self.config, SubMasks)
        held, refused = self._open_all(dealt)
        secrets = self._secrets
        assert secrets is not None
        y = x + secrets.mask
        np.minimum(y, y - _P, out=y)  # y − p wraps to a huge value unless y >= p
        out = codec.encode(MaskedInput(self.client_id, y, tuple(sorted(refused))), self.config)
        secrets.held.update(held)
        self._refused = frozenset(refused)
        self._advance()
        return out

    def _check_vector(self, vector: np.ndarray) -> np.ndarray:
        cfg = self.config
        arr = np.asarray(vector)
        if arr.ndim != 1 or arr.shape[0] != cfg.vector_length:
            raise EncodingError(f"input must be a vector of length {cfg.vector_length}")
        if arr.dtype.kind not in "ui":
            raise EncodingError("input must hold integers in [0, 2^b): encode floats first")
        if arr.size and (int(arr.min()) < 0 or int(arr.max()) >> cfg.input_bits):
            raise EncodingError(f"input values must lie in [0, 2^{cfg.input_bits}) "
                                f"(input_bits: their sum over {cfg.num_clients} clients must "
                                "stay below p = 2^31 - 1)")
        return np.array(arr, dtype=np.uint32, order="C", copy=True)  # b <= 30

    def _open_all(self, dealt: SubMasks) -> tuple[dict[int, np.ndarray], set[int]]:
        """The sub-masks each dealer sealed to this client, and the dealers whose sub-mask does
        not open or is not L field elements (refused: the server leaves them out of U3)."""
        if dealt.recipient != self.client_id:
            raise ProtocolViolation("sub-masks addressed to another client")
        held: dict[int, np.ndarray] = {}
        refused: set[int] = set()
        for v, blob in dealt.sealed:
            if v not in self._peers:
                raise ProtocolViolation(f"sub-mask from {v}, who did not advertise a key")
            row = self._open_one(v, blob)
            if row is None:
                refused.add(v)
            else:
                held[v] = row.astype(np.uint32)  # elements < 2^31: half the memory
        self._check_budget(Stage.SHARE_MASKS, len(held) + 1, "clients whose sub-masks arrived")
        return held, refused

    def _open_one(self, v: int, blob: bytes) -> np.ndarray | None:
        secrets = self._secrets
        assert secrets is not None
        try:
            payload = encryption.open_bundle(
                secrets.box,  # type: ignore[arg-type]
                self._peers[v], v, self.client_id, self.config.session_id, blob,
            )
        except AuthenticationError:
            return None
        tag = labels.LIGHTSECAGG_SUBMASK
        if len(payload) != codec.submask_payload_size(self.config) or not payload.startswith(tag):
            return None
        try:
            return codec.unpack_field(payload[len(tag) :], self.config.piece_length, "sub-mask")
        except ValueError:  # MalformedMessage: a value >= p, or padding bits set
            return None

    # --- aggregate_mask -----------------------------------------------------------------------

    def aggregate_mask(self, msg: bytes) -> bytes:
        """Return the sum of the coded sub-masks this client holds from the survivors U3."""
        require(self._stage, Stage.AGGREGATE_MASK, "aggregate_mask")
        survivors = codec.decode(msg, self.config, Survivors)
        alive = self._check_survivors(survivors.alive)
        secrets = self._secrets
        assert secrets is not None
        total = np.sum(np.stack([secrets.held[v] for v in alive]), axis=0, dtype=np.uint64)
        reply = (total % np.uint64(PRIME)).astype(np.uint32)
        out = codec.encode(AggregateReply(self.client_id, reply), self.config)
        self._advance()
        return out

    def _check_survivors(self, alive: tuple[int, ...]) -> tuple[int, ...]:
        secrets = self._secrets
        assert secrets is not None
        if self.client_id not in alive:
            raise ProtocolViolation("this client is not in the survivor set it was sent")
        if set(alive) & self._refused:
            raise ProtocolViolation("a dealer whose sub-mask this client refused is in U3")
        unknown = set(alive) - secrets.held.keys()
        if unknown:
            raise ProtocolViolation(f"clients {sorted(unknown)[:3]} dealt no sub-mask to us")
        self._check_budget(Stage.MASKED_INPUT, len(alive), "survivors")
        return alive
