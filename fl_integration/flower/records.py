"""What our Flower messages carry: record keys, the round setup, and the weighted update vector.

Every message of ours holds one ``ConfigRecord`` under ``RECORD_KEY`` with the stage name and
the opaque wire bytes of ``SecAggClient``/``SecAggServer``; the setup message adds the round's
parameters (``RoundSetup``), from which client and server build the same config and encoder.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields

import numpy as np

from protocols import SecAggConfig
from secagg.encoding import FixedPointEncoder
from secagg.errors import MalformedMessage

RECORD_KEY = "secagg"  # ConfigRecord in every message, both ways
STATE_KEY = "secagg_state"  # ConfigRecord in the ClientApp's Context between stages
STAGE = "stage"
PAYLOAD = "payload"

ADVERTISE_KEYS = "advertise_keys"
SHARE_KEYS = "share_keys"
MASKED_INPUT = "masked_input"
CONSISTENCY_CHECK = "consistency_check"
UNMASK = "unmask"
STAGES = (ADVERTISE_KEYS, SHARE_KEYS, MASKED_INPUT, UNMASK)


@dataclass(frozen=True, slots=True, kw_only=True)
class RoundSetup:
    """One round's parameters as the server sends them to one client (ids are 1..n)."""

    client_id: int
    client_ids: tuple[int, ...]
    threshold: int
    vector_length: int
    modulus_bits: int
    neighbors: int  # 0: complete graph (SecAgg)
    session_id: bytes
    clip: float  # parameters are clipped to [-clip, clip] before weighting
    scale: float  # fixed-point scale of the encoder
    max_weight: float  # a client's weight (num_examples) is divided by this, so it is <= 1

    def to_record(self) -> dict[str, int | float | bytes | list[int]]:
        """Flat ConfigRecord values (tuples become lists, as Flower's records require)."""
        out: dict[str, int | float | bytes | list[int]] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> RoundSetup:
        """Parse and type-check; anything missing or of the wrong type is MalformedMessage."""
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name not in record:
                raise MalformedMessage(f"round setup lacks {f.name!r}")
            values[f.name] = _checked(f.name, record[f.name])
        setup = cls(**values)  # type: ignore[arg-type]
        if setup.client_id not in setup.client_ids:
            raise MalformedMessage("round setup names a client id outside the client list")
        return setup

    def protocol_config(self) -> SecAggConfig:
        """The sans-IO protocol's config; its own checks refuse unsafe parameters."""
        return SecAggConfig(
            client_ids=self.client_ids,
            threshold=self.threshold,
            vector_length=self.vector_length,
            modulus_bits=self.modulus_bits,
            neighbors=self.neighbors or None,
            session_id=self.session_id,
        )

    def encoder(self) -> FixedPointEncoder:
        """The encoder both sides use; it refuses a scale at which the sum could overflow."""
        return FixedPointEncoder(
            bits=self.modulus_bits,
            clip=encoder_clip(self.clip),
            scale=self.scale,
            max_summands=len(self.client_ids),
        )


_TYPES: dict[str, type] = {
    "client_id": int, "threshold": int, "vector_length": int, "modulus_bits": int,
    "neighbors": int, "session_id": bytes, "clip": float, "scale": float, "max_weight": float,
}


def _checked(name: str, value: object) -> object:
    if name == "client_ids":
        if not isinstance(value, list) or not all(type(v) is int for v in value):
            raise MalformedMessage("round setup: client_ids must be a list of int")
        return tuple(value)
    if type(value) is not _TYPES[name]:
        raise MalformedMessage(f"round setup: {name} must be {_TYPES[name].__name__}")
    return value


def encoder_clip(clip: float) -> float:
    """Encoder bound: weighted parameters stay within clip, the weight itself within 1."""
    return max(float(clip), 1.0)


def pack_update(
    arrays: Sequence[np.ndarray], weight: float, clip: float, max_weight: float
) -> np.ndarray:
    """[a*x_1, ..., a*x_m, a] with x clipped and a = weight / max_weight: the weight rides
    under the mask as the last coordinate, so the server learns only sums of both."""
    if not 0 <= weight <= max_weight:
        raise ValueError(
            f"client weight (num_examples) {weight} is outside [0, max_weight={max_weight}]: "
            "raise max_weight in the workflow"
        )
    flat = np.concatenate([np.ravel(np.asarray(x, dtype=np.float64)) for x in arrays] or [[]])
    np.clip(flat, -clip, clip, out=flat)
    ratio = weight / max_weight
    return np.append(flat * ratio, ratio)


def unpack_average(
    total: np.ndarray, like: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Weighted average from the decoded sum, cut back into arrays shaped and typed as ``like``."""
    weight = float(total[-1])
    if weight <= 0:
        raise ValueError("the included clients' weights sum to zero: no average exists")
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
