"""What our Flower messages carry: record keys, the round setup, and the weighted update vector.

Every message of ours holds one ``ConfigRecord`` under ``RECORD_KEY`` with the stage name and
the opaque wire bytes of the protocol's client and server (SecAgg/SecAgg+ or LightSecAgg); the
setup message adds the round's ``RoundSetup``: the protocol config in its own versioned encoding
(``SecAggConfig.to_bytes`` or ``LightSecAggConfig.to_bytes``; the magic says which protocol),
so client and server use the identical config, the encoding parameters, the round's public
compression parameters if any, the Flower node that holds each client id (the roster) and the
digest of the model and fit config the node will train from (:func:`fit_digest`). Every field
of the setup but the node's own client id is bound into the session id
(:meth:`RoundSetup.sealed`), which every key, signature and mask of the round binds: two nodes
shown different rosters, configs, clipping ranges, scales, weight bounds, compression or models
are in two different sessions, and in malicious mode their signatures do not count for each
other. The node checks the model and fit config it gets at ``masked_input`` against the digest
before it trains.

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
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
from flwr.app import ArrayRecord, ConfigRecord, MetricRecord, RecordDict

from protocols import SecAggConfig
from protocols.lightsecagg import STAGES as LIGHTSECAGG_STAGES
from protocols.lightsecagg import LightSecAggConfig
from protocols.lightsecagg.codec import MAGIC as LIGHTSECAGG_MAGIC
from protocols.secagg.codec import config_fields
from protocols.secagg.stages import Stage, flow_of, stages_of
from secagg import labels
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
# Hash labels binding a round's setup (all of it but the client id) into the session id, one
# per protocol. They belong with secagg.labels; they live here because only this adapter has
# round setups. (They were .../flower/roster while only the roster and config were bound.)
SETUP_LABEL = b"secagg/v2/flower/round-setup"
LIGHTSECAGG_SETUP_LABEL = b"secagg/v2/flower/round-setup/lightsecagg"
_NONCE_BYTES = 32
FIT_DIGEST_BYTES = 32
_UNBOUND = frozenset({"client_id"})  # the one setup field that differs between the nodes
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


def _setup_digest(nonce: bytes, values: Mapping[str, object]) -> bytes:
    """The hash a session id commits to: the nonce and every field of a round setup but
    ``client_id``, each under its name. It walks the dataclass's fields, so a field added later
    is bound unless it is named in ``_UNBOUND``, and one of a type with no encoding here fails
    loudly instead of going unbound."""
    config = values["config"]
    label = LIGHTSECAGG_SETUP_LABEL if isinstance(config, LightSecAggConfig) else SETUP_LABEL
    parts = [_prefixed(label), nonce]
    for f in fields(RoundSetup):
        if f.name not in _UNBOUND:
            parts += [_prefixed(f.name.encode()), _prefixed(_field_bytes(f.name, values[f.name]))]
    return hashlib.sha256(b"".join(parts)).digest()


def _field_bytes(name: str, value: object) -> bytes:
    """One setup field as bound into the session id (the type is fixed per field)."""
    if name == "config":
        if isinstance(value, LightSecAggConfig):
            return _lightsecagg_fields(value)
        if isinstance(value, SecAggConfig):
            return config_fields(value)
    elif name == "nodes" and isinstance(value, tuple):
        return _encode_nodes(value)
    elif isinstance(value, float):
        return struct.pack(">d", value)
    elif isinstance(value, int) and not isinstance(value, bool):
        return value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True)
    elif isinstance(value, str):
        return value.encode()
    elif isinstance(value, bytes):
        return value
    raise TypeError(f"RoundSetup.{name}: no session binding for {type(value).__name__}")


def _prefixed(data: bytes) -> bytes:
    return len(data).to_bytes(8, "big") + data


def _lightsecagg_fields(config: LightSecAggConfig) -> bytes:
    """Every parameter of a LightSecAgg config but its session id: its wire encoding with the
    session cut out (magic, version, type, then the length-prefixed session, then the rest)."""
    data = config.to_bytes()
    head = len(LIGHTSECAGG_MAGIC) + 2
    return data[head + 2 + int.from_bytes(data[head : head + 2], "big") :]


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
    the encoding parameters, the roster (``nodes[i]`` is the Flower node id of client id
    ``config.client_ids[i]``) and ``fit_digest``, the :func:`fit_digest` of the model and fit
    config every node of the round gets at ``masked_input``. With a roster, the session id must
    commit to every field but ``client_id`` (:meth:`sealed` builds such a setup). ``nodes`` and
    ``fit_digest`` may be empty only where no Flower node takes part (tests of the value type);
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
    fit_digest: bytes = b""  # fit_digest() of the masked_input message's model and config
    compression: str = ""
    compression_seed: bytes = field(default=b"", repr=False)
    compression_dimension: int = 0
    compression_bits: int = 0

    def __post_init__(self) -> None:
        if self.client_id not in self.config.client_ids:
            raise ValueError("client_id must be one of config.client_ids")
        for name in ("clip", "scale", "max_weight"):
            value = getattr(self, name)
            if not (isinstance(value, float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a finite float > 0")
        if self.fit_digest and len(self.fit_digest) != FIT_DIGEST_BYTES:
            raise ValueError(f"fit_digest must be {FIT_DIGEST_BYTES} bytes (or empty)")
        if self.compression:
            self._check_compression()
        else:
            self.encoder()  # refuses a scale at which the sum could overflow
        if self.nodes:
            self._check_roster()
            self._check_session()

    @classmethod
    def sealed(cls, *, nonce: bytes | None = None, **values: Any) -> RoundSetup:
        """The setup of ``values`` (the fields), its config's session id replaced by a fresh one
        that commits to every field but ``client_id``: 32 random bytes (``nonce``, in tests)
        and their hash with all those fields (:func:`_setup_digest`). The server seals once
        per round; each node's copy differs in ``client_id`` alone."""
        nonce = secrets.token_bytes(_NONCE_BYTES) if nonce is None else nonce
        if len(nonce) != _NONCE_BYTES:
            raise ValueError(f"nonce must be {_NONCE_BYTES} bytes")
        nodes = tuple(values.pop("nodes", ()))
        draft = cls(**values)  # every other field checked, the defaults filled in
        digest = _setup_digest(nonce, {**_values(draft), "nodes": nodes})
        config = dataclasses.replace(draft.config, session_id=nonce + digest)
        return dataclasses.replace(draft, config=config, nodes=nodes)

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

    def _check_session(self) -> None:
        session = self.config.session_id
        nonce, digest = session[:_NONCE_BYTES], session[_NONCE_BYTES:]
        if not hmac.compare_digest(digest, _setup_digest(nonce, _values(self))):
            raise ValueError("the session id does not commit to this roster and config (every "
                             "field of the round setup but client_id)")

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
            "nodes": _encode_nodes(self.nodes), "fit_digest": self.fit_digest,
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
    "nodes": bytes, "fit_digest": bytes, "compression": str, "compression_seed": bytes,
    "compression_dimension": int, "compression_bits": int,
}
_OPTIONAL = frozenset({"compression", "compression_seed", "compression_dimension",
                       "compression_bits"})
_SEED_BYTES = 32


def _values(setup: RoundSetup) -> dict[str, object]:
    return {f.name: getattr(setup, f.name) for f in fields(setup)}


def fit_digest(content: RecordDict) -> bytes:
    """SHA-256 (domain-separated) of everything a ``masked_input`` message carries for the
    ClientApp: every record but ours, so the model and fit config of its ``FitIns`` and
    anything else the server put beside them, in a canonical encoding of the exact arrays and
    values. The server commits to it in the round setup; the node checks it before training."""
    parts = [_prefixed(labels.FLOWER_FIT_INS)]
    for name in sorted(k for k in content.keys() if k != RECORD_KEY):
        parts += [_prefixed(name.encode()), _record_bytes(content[name])]
    return hashlib.sha256(b"".join(parts)).digest()


def _record_bytes(record: object) -> bytes:
    """One record, tagged by its kind. An ArrayRecord keeps its order (the model's), a
    Config- or MetricRecord is sorted by key."""
    if isinstance(record, ArrayRecord):
        items = [_prefixed(key.encode()) + _array_bytes(array) for key, array in record.items()]
        return b"A" + _prefixed(b"".join(items))
    if isinstance(record, ConfigRecord | MetricRecord):
        tag = b"C" if isinstance(record, ConfigRecord) else b"M"
        items = [_prefixed(key.encode()) + _scalar_bytes(record[key]) for key in sorted(record)]
        return tag + _prefixed(b"".join(items))
    raise MalformedMessage("a record of a kind this node cannot commit to")


def _array_bytes(array: Any) -> bytes:
    shape = b"".join(int(d).to_bytes(8, "big") for d in array.shape)
    return (_prefixed(str(array.dtype).encode()) + _prefixed(shape)
            + _prefixed(str(array.stype).encode()) + _prefixed(bytes(array.data)))


def _scalar_bytes(value: object) -> bytes:
    """A config or metric value with its type: bool, int, float, str, bytes or a list."""
    if isinstance(value, list):
        return b"l" + _prefixed(b"".join(_scalar_bytes(v) for v in value))
    if isinstance(value, bool):
        return b"b" + bytes([value])
    if isinstance(value, int):
        return b"i" + _prefixed(value.to_bytes(value.bit_length() // 8 + 1, "big", signed=True))
    if isinstance(value, float):
        return b"f" + struct.pack(">d", value)
    if isinstance(value, str):
        return b"s" + _prefixed(value.encode())
    if isinstance(value, bytes):
        return b"y" + _prefixed(bytes(value))
    raise MalformedMessage("a record value of a type this node cannot commit to")


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
