"""What our Flower messages carry: record keys, the round setup, and the weighted update vector.

Every message of ours holds one ``ConfigRecord`` under ``RECORD_KEY`` with the stage name and
the opaque wire bytes of the protocol's client and server (SecAgg/SecAgg+ or LightSecAgg); the
setup message adds the round's ``RoundSetup``: the protocol config in its own versioned encoding
(``SecAggConfig.to_bytes`` or ``LightSecAggConfig.to_bytes``; the magic says which protocol),
so client and server use the identical config, the encoding parameters, the round's public
compression parameters if any, and the Flower node that holds each client id. That list (the
roster), the config and the compression parameters are bound into the session id, which every
key, signature and mask of the round binds: two nodes shown different rosters, parameters or
compression are in two different sessions, and in malicious mode their signatures do not count
for each other.

A node's weight (its ``num_examples``) above the server's ``max_weight`` is clipped to it on
the node, as FedAvg's path does, never refused: a refusal would tell the server that the count
is above the bound it picked, and a server that moves the bound from round to round would learn
the count. For the same reason the node accepts any finite ``max_weight`` > 0: with clipping its
observable behaviour no longer depends on its count, and a bound that is too small or too large
only costs accuracy (uniform weights, or a weight lost in quantization), which the server could
cause anyway by leaving the node out. What the server learns stays the sum of the included
nodes' clipped weights, which weighted averaging reveals by design. Non-finite, complex or
non-numeric parameters, and a weight that is not a finite number >= 0, are refused with
``EncodingError`` before clipping could hide them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import math
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields

import numpy as np

from protocols import SecAggConfig
from protocols.lightsecagg import STAGES as LIGHTSECAGG_STAGES
from protocols.lightsecagg import LightSecAggConfig
from protocols.lightsecagg.codec import MAGIC as LIGHTSECAGG_MAGIC
from protocols.secagg.codec import config_fields
from protocols.secagg.stages import Stage, flow_of, stages_of
from secagg.encoding import FixedPointEncoder
from secagg.errors import EncodingError, MalformedMessage, ProtocolViolation

RECORD_KEY = "secagg"  # ConfigRecord in every message, both ways
STATE_KEY = "secagg_state"  # ConfigRecord in the ClientApp's Context between stages
STAGE = "stage"
PAYLOAD = "payload"

ADVERTISE_KEYS = "advertise_keys"
SHARE_KEYS = "share_keys"
REVEAL_SEED = "reveal_seed"
MASKED_INPUT = "masked_input"
CONSISTENCY_CHECK = "consistency_check"
UNMASK = "unmask"
SHARE_MASKS = "share_masks"  # LightSecAgg
AGGREGATE_MASK = "aggregate_mask"  # LightSecAgg
STAGES = (ADVERTISE_KEYS, SHARE_KEYS, MASKED_INPUT, UNMASK)  # a semi-honest round's
FINAL_STAGES = (UNMASK, AGGREGATE_MASK)  # answering one ends the node's round
_WIRE_NAMES = {
    Stage.ADVERTISE_KEYS: ADVERTISE_KEYS, Stage.REVEAL_SEED: REVEAL_SEED,
    Stage.SHARE_KEYS: SHARE_KEYS, Stage.MASKED_INPUT: MASKED_INPUT,
    Stage.CONSISTENCY_CHECK: CONSISTENCY_CHECK, Stage.UNMASKING: UNMASK,
}
# Hash labels binding the roster into the session id, one per protocol. They belong with
# secagg.labels; they live here because only this adapter has rosters.
ROSTER_LABEL = b"secagg/v2/flower/roster"
LIGHTSECAGG_ROSTER_LABEL = b"secagg/v2/flower/roster/lightsecagg"
_NONCE_BYTES = 32
_NODE_ID_BYTES = 8  # Flower node ids are unsigned 64-bit


ProtocolConfig = SecAggConfig | LightSecAggConfig


def stages_for(config: ProtocolConfig) -> tuple[str, ...]:
    """The wire names of the stages a round with this config runs, in order. SecAgg: four when
    semi-honest, plus ``consistency_check`` in malicious mode, plus ``reveal_seed`` in
    malicious SecAgg+ (the protocol's own table, :func:`protocols.secagg.stages.stages_of`).
    LightSecAgg: ``advertise_keys``, ``share_masks``, ``masked_input``, ``aggregate_mask``."""
    if isinstance(config, LightSecAggConfig):
        return tuple(s.value for s in LIGHTSECAGG_STAGES)
    return tuple(_WIRE_NAMES[s] for s in stages_of(flow_of(config)))


def roster_session(nodes: Sequence[int], config: ProtocolConfig,
                   nonce: bytes | None = None, extra: bytes = b"") -> ProtocolConfig:
    """``config`` with a fresh session id that commits to the roster and to every parameter:
    32 random bytes and the hash of them with the node of every client id (in client-id
    order), the config's other fields and ``extra`` (the round's compression parameters,
    :func:`compression_fields`). Two nodes shown different rosters, thresholds, budgets or
    compression are in different sessions, and every key, mask and signature binds it."""
    nonce = secrets.token_bytes(_NONCE_BYTES) if nonce is None else nonce
    digest = _roster_digest(nonce, nodes, config, extra)
    return dataclasses.replace(config, session_id=nonce + digest)


def _roster_digest(nonce: bytes, nodes: Sequence[int], config: ProtocolConfig,
                   extra: bytes = b"") -> bytes:
    count = len(nodes).to_bytes(4, "big")
    if isinstance(config, LightSecAggConfig):
        label, fields_ = LIGHTSECAGG_ROSTER_LABEL, _lightsecagg_fields(config)
    else:
        label, fields_ = ROSTER_LABEL, config_fields(config)
    return hashlib.sha256(len(label).to_bytes(2, "big") + label + nonce + count
                          + _encode_nodes(nodes) + fields_ + extra).digest()


def _lightsecagg_fields(config: LightSecAggConfig) -> bytes:
    """Every parameter of a LightSecAgg config but its session id: its wire encoding with the
    session cut out (magic, version, type, then the length-prefixed session, then the rest)."""
    data = config.to_bytes()
    head = len(LIGHTSECAGG_MAGIC) + 2
    return data[head + 2 + int.from_bytes(data[head : head + 2], "big") :]


def compression_fields(text: str, seed: bytes, dimension: int, bits: int) -> bytes:
    """The round's compression parameters as bound into the session id; empty without any
    (so a round without compression keeps the digest it always had)."""
    if not text:
        return b""
    name = text.encode()
    return (b"compression" + len(name).to_bytes(2, "big") + name + len(seed).to_bytes(2, "big")
            + seed + dimension.to_bytes(8, "big") + bits.to_bytes(2, "big"))


def _encode_nodes(nodes: Sequence[int]) -> bytes:
    return b"".join(int(n).to_bytes(_NODE_ID_BYTES, "big") for n in nodes)


def _decode_nodes(data: bytes) -> tuple[int, ...]:
    if len(data) % _NODE_ID_BYTES:
        raise MalformedMessage("round setup: the roster is not a whole number of node ids")
    return tuple(int.from_bytes(data[i : i + _NODE_ID_BYTES], "big")
                 for i in range(0, len(data), _NODE_ID_BYTES))


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundSetup:
    """One round's parameters as the server sends them to one client: its id, the protocol
    config (on the wire as ``SecAggConfig.to_bytes()`` or ``LightSecAggConfig.to_bytes()``),
    the encoding parameters and the roster: ``nodes[i]`` is the Flower node id of client id
    ``config.client_ids[i]``, and the session id commits to it (:func:`roster_session`).
    ``nodes`` may be empty only where no Flower node takes part (tests of the value type);
    ``secagg_mod`` refuses such a setup.

    With compression, ``compression`` is the method as :func:`fl_integration.compression.parse`
    reads it, ``compression_seed`` the round's public seed, ``compression_dimension`` the
    model's size and ``compression_bits`` the widest word the server allowed: every node
    rebuilds the server's codec from them (:mod:`.compress`), and ``scale`` is unused."""

    client_id: int
    config: ProtocolConfig
    clip: float  # parameters (updates, with compression) are clipped to [-clip, clip]
    scale: float  # fixed-point scale of the encoder
    max_weight: float  # a client's weight (num_examples) is clipped to this and divided by it
    nodes: tuple[int, ...] = field(default=())
    compression: str = ""
    compression_seed: bytes = field(default=b"", repr=False)
    compression_dimension: int = 0
    compression_bits: int = 0

    def __post_init__(self) -> None:
        if self.client_id not in self.config.client_ids:
            raise ValueError("client_id must be one of config.client_ids")
        if self.nodes:
            self._check_roster()
        for name in ("clip", "scale", "max_weight"):
            value = getattr(self, name)
            if not (isinstance(value, float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite float > 0")
        if self.compression:
            self._check_compression()
        else:
            self.encoder()  # refuses a scale at which the sum could overflow

    def _check_compression(self) -> None:
        if len(self.compression_seed) != _SEED_BYTES:
            raise ValueError(f"compression_seed must be {_SEED_BYTES} bytes")
        if not 1 <= self.compression_dimension < 2**32:
            raise ValueError("compression_dimension must be in [1, 2^32)")
        if not 2 <= self.compression_bits <= 64:
            raise ValueError("compression_bits must be in [2, 64]")

    def _check_roster(self) -> None:
        nodes = self.nodes
        if len(nodes) != self.config.num_clients or len(set(nodes)) != len(nodes):
            raise ValueError("nodes must name one distinct Flower node per client id")
        if not all(type(n) is int and 0 <= n < 2 ** (8 * _NODE_ID_BYTES) for n in nodes):
            raise ValueError("nodes must be unsigned 64-bit Flower node ids")
        session = self.config.session_id
        nonce, digest = session[:_NONCE_BYTES], session[_NONCE_BYTES:]
        want = _roster_digest(nonce, nodes, self.config, self.compression_fields())
        if not hmac.compare_digest(digest, want):
            raise ValueError("the session id does not commit to this roster and config")

    def compression_fields(self) -> bytes:
        """The compression parameters as the session id binds them (empty without)."""
        return compression_fields(self.compression, self.compression_seed,
                                  self.compression_dimension, self.compression_bits)

    @property
    def lightsecagg(self) -> bool:
        """Whether the round runs LightSecAgg (else SecAgg/SecAgg+)."""
        return isinstance(self.config, LightSecAggConfig)

    def node_of(self, client_id: int) -> int:
        """The Flower node id holding ``client_id`` in this round."""
        return self.nodes[self.config.client_ids.index(client_id)]

    @property
    def vector_length(self) -> int:
        """Values each client uploads: the parameters and the weight coordinate (with
        compression: the codec's words)."""
        return self.config.vector_length

    def to_record(self) -> dict[str, int | float | bytes | str]:
        """Flat ConfigRecord values; the config travels in its own wire encoding."""
        out: dict[str, int | float | bytes | str] = {
            "client_id": self.client_id, "config": self.config.to_bytes(), "clip": self.clip,
            "scale": self.scale, "max_weight": self.max_weight,
            "nodes": _encode_nodes(self.nodes),
        }
        if self.compression:
            out.update(compression=self.compression, compression_seed=self.compression_seed,
                       compression_dimension=self.compression_dimension,
                       compression_bits=self.compression_bits)
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> RoundSetup:
        """Parse and validate; anything missing, mistyped or unsafe is ``MalformedMessage``.
        The compression fields are optional (absent: a round without compression)."""
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in record:
                if f.name in _OPTIONAL:
                    continue
                raise MalformedMessage(f"round setup lacks {f.name!r}")
            value = record[f.name]
            if type(value) is not _TYPES[f.name]:
                raise MalformedMessage(f"round setup: {f.name} must be {_TYPES[f.name].__name__}")
            values[f.name] = value
        values["config"] = _decode_config(values["config"])  # type: ignore[arg-type]
        values["nodes"] = _decode_nodes(values["nodes"])  # type: ignore[arg-type]
        try:
            return cls(**values)  # type: ignore[arg-type]
        except ValueError as exc:  # EncodingError included
            raise MalformedMessage(f"round setup refused: {exc}") from None

    def encoder(self) -> FixedPointEncoder:
        """The encoder both sides use; it refuses a scale at which the sum could overflow.
        LightSecAgg's inputs are ``input_bits`` wide (its ``modulus_bits``)."""
        return FixedPointEncoder(
            bits=self.config.modulus_bits,
            clip=encoder_clip(self.clip),
            scale=self.scale,
            max_summands=self.config.num_clients,
        )


_TYPES: dict[str, type] = {
    "client_id": int, "config": bytes, "clip": float, "scale": float, "max_weight": float,
    "nodes": bytes, "compression": str, "compression_seed": bytes,
    "compression_dimension": int, "compression_bits": int,
}
_OPTIONAL = frozenset({"compression", "compression_seed", "compression_dimension",
                       "compression_bits"})
_SEED_BYTES = 32


def _decode_config(data: bytes) -> ProtocolConfig:
    """The config in either protocol's encoding, told apart by its magic."""
    if data.startswith(LIGHTSECAGG_MAGIC):
        return LightSecAggConfig.from_bytes(data)
    return SecAggConfig.from_bytes(data)


def encoder_clip(clip: float) -> float:
    """Encoder bound: weighted parameters stay within clip, the weight itself within 1."""
    return max(float(clip), 1.0)


def pack_update(
    arrays: Sequence[np.ndarray], weight: float, clip: float, max_weight: float
) -> np.ndarray:
    """[a*x_1, ..., a*x_m, a] with x clipped and a = min(weight, max_weight) / max_weight: the
    weight rides under the mask as the last coordinate, so the server learns only sums of both.

    Raises ``EncodingError`` (naming no value) for parameters that are not finite real numbers
    and for a weight that is not a finite number >= 0."""
    flat = _real_vector(arrays)
    ratio = _weight_ratio(weight, max_weight)
    np.clip(flat, -clip, clip, out=flat)
    return np.append(flat * ratio, ratio)


def _real_vector(arrays: Sequence[np.ndarray]) -> np.ndarray:
    """The parameters as one float64 vector, refused if any value is not a finite real number."""
    parts = []
    for x in arrays:
        array = np.asarray(x)
        if array.dtype.kind not in "biuf":
            raise EncodingError("model parameters must be real numbers (not complex or objects)")
        parts.append(np.ravel(array).astype(np.float64))
    flat = np.concatenate(parts) if parts else np.zeros(0)
    if not np.isfinite(flat).all():
        raise EncodingError("model parameters must be finite (the update holds NaN or inf)")
    return flat


def _weight_ratio(weight: float, max_weight: float) -> float:
    """min(weight, max_weight) / max_weight, for a weight that is a finite number >= 0."""
    if isinstance(weight, bool) or not isinstance(weight, int | float | np.integer | np.floating) \
            or not math.isfinite(weight) or weight < 0:
        raise EncodingError("a client's weight (num_examples) must be a finite number >= 0")
    return min(float(weight), max_weight) / max_weight


def unpack_average(
    total: np.ndarray, like: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Weighted average from the decoded sum, cut back into arrays shaped and typed as ``like``.

    Honest weights are >= 0, so a weight sum <= 0 means a client sent a bad weight (or every
    included client had no examples): ``ProtocolViolation``, and no average."""
    weight = float(total[-1])
    if not weight > 0:
        raise ProtocolViolation("the included clients' weights sum to <= 0: no average exists")
    flat = np.asarray(total[:-1], dtype=np.float64) / weight
    out, start = [], 0
    for ref in like:
        ref = np.asarray(ref)
        out.append(flat[start : start + ref.size].reshape(ref.shape).astype(ref.dtype))
        start += ref.size
    if start != flat.size:
        raise ValueError(f"aggregate has {flat.size} values, the model {start}")
    return out


def vector_length(like: Sequence[np.ndarray]) -> int:
    """Values per client: every parameter plus the weight coordinate."""
    return sum(int(np.asarray(x).size) for x in like) + 1
