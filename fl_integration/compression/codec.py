"""One round of compression: the public transform, the client's residual, and the ``Codec``.

A server and its clients build the same :class:`RoundCompression` from public parameters (the
method, the round seed, the model's dimension and the update bound) and from it the same
``Codec`` for the round's client count; the codec turns a client's (update, weight) into the
integers the secure sum adds and the sum back into (Σ w_i u_i, Σ w_i), as
:class:`fl_integration.quantization.Codec` says.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from dp.clipping import clip_l2
from dp.errors import DPError
from fl_integration.privacy import _check_colluders
from secagg.csprng import RandomSource
from secagg.errors import ConfigError

from . import seeds
from .quantize import Quantize
from .signvote import SignVote
from .sketch import CountSketch
from .stages import FixedStage, LevelStage, NoisyStage, VoteStage

if TYPE_CHECKING:
    from fl_integration.privacy import DistributedDP

    from . import Compression

MAX_WORD = 62  # packed words stay exact in int64 arithmetic


class Transform(Protocol):
    """A public linear map from a d-vector to the ``length`` values a client sends."""

    @property
    def dimension(self) -> int: ...

    @property
    def length(self) -> int: ...

    @property
    def gain(self) -> float: ...

    def ranges(self) -> np.ndarray: ...

    def forward(self, v: np.ndarray) -> np.ndarray: ...

    def inverse(self, z: np.ndarray) -> np.ndarray: ...


@runtime_checkable
class Sends(Protocol):
    """A transform that can say what one client's compact vector contributes (error feedback
    needs it: a sketch cannot)."""

    def sent(self, z: np.ndarray) -> np.ndarray: ...


class _Identity:
    """No map (distributed DP's plan rotates on its own)."""

    def __init__(self, dimension: int) -> None:
        self.dimension = self.length = dimension
        self.gain = 1.0

    def ranges(self) -> np.ndarray:
        return np.full(self.length, np.inf)

    def forward(self, v: np.ndarray) -> np.ndarray:
        return np.asarray(v, dtype=np.float64)

    def inverse(self, z: np.ndarray) -> np.ndarray:
        return np.asarray(z, dtype=np.float64)

    sent = inverse


@dataclass(frozen=True, eq=False)
class CompressedCodec:
    """A ``Codec``: the round's transform, then an integer stage (levels, votes, DP noise or
    full fixed-point). ``plan``/``colluders`` are the DP plan's, under distributed DP."""

    transform: Transform
    stage: Any
    clip_compact: bool = False  # clip z itself to the ranges (error feedback sends exactly that)

    @property
    def bits(self) -> int:
        """Modulus bits b of the secure sum (a packed word)."""
        return self.stage.bits

    @property
    def length(self) -> int:
        """Integers (words) per client."""
        return self.stage.length

    @property
    def plan(self) -> Any:
        """The distributed-DP plan (only under distributed DP)."""
        return self.stage.plan

    @property
    def colluders(self) -> int | None:
        """The colluders the DP plan assumed (only under distributed DP)."""
        return self.stage.colluders

    def encode(self, update: np.ndarray, weight: float, rng: RandomSource | None = None
               ) -> np.ndarray:
        """The client's words for ``update`` (its error-feedback residual already added)."""
        z = self.transform.forward(update)
        if self.clip_compact:
            bound = self.transform.ranges()
            z = np.clip(z, -bound, bound)
        return self.stage.encode(z, weight, rng)

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """(Σ w_i u_i estimate, Σ w_i) from the sum of ``count`` clients' words."""
        compact, weight = self.stage.decode(total, count)
        return self.transform.inverse(compact), weight

    def mean_bound(self, count: int, total_weight: float) -> float:
        """Worst-case error per coordinate of the mean that the integers add (rounding); what
        the method leaves out on purpose (unsent coordinates, sketch collisions, the sign) and
        DP noise apart."""
        if total_weight <= 0:
            return math.inf
        return self.stage.error(count) / total_weight * self.transform.gain


@dataclass(frozen=True, eq=False)
class RoundCompression:
    """What every party of one round derives from (method, seed, dimension, bound): the public
    transform, the client's error-feedback step and the codec for the round's client count.

    ``clip`` is the L∞ bound of an update (``FedAvgConfig.clip``, or ``LocalDP.linf_bound``);
    ``dp`` the ``DistributedDP`` config when the sum is noised."""

    method: Compression
    seed: bytes = field(repr=False)
    dimension: int
    clip: float
    dp: DistributedDP | None = None

    @cached_property
    def transform(self) -> Transform:
        """The round's public map (rotation, subsample or sketch)."""
        if self.dp is not None and isinstance(self.method, Quantize):  # the DP plan rotates
            return self.method.dp_transform(self.seed, self.dimension) or _Identity(self.dimension)
        return self.method.transform(self.seed, self.dimension, self.clip)

    def clips(self, update: np.ndarray, share: float) -> bool:
        """Client side: would the codec clip this update, weighted by ``share`` = w / max_weight
        (a rotated value beyond ``Quantize.bound``)? Error feedback keeps what a clip removes,
        so it never clips; under distributed DP the plan's L2 clip is what counts."""
        if self.dp is not None or self.method.error_feedback:
            return False
        transform = self.transform
        return bool(np.any(np.abs(transform.forward(update)) * share > transform.ranges()))

    def residual(self, update: np.ndarray) -> np.ndarray:
        """Client side, error feedback: what of ``update`` (residual included) this round's
        message leaves out, kept within the method's bound for the next round."""
        transform, method = self.transform, self.method
        if not isinstance(transform, Sends) or isinstance(method, Quantize | CountSketch):
            raise ConfigError(f"compression={method.label()} keeps no residual")
        z = transform.forward(update)
        if self.dp is not None:  # the plan clips the compact vector in L2
            rest = update - transform.sent(clip_l2(z, self.dp.l2_clip)[0])
            return clip_l2(rest, self.dp.l2_clip)[0]
        rest = update - transform.sent(method.compact_sent(z, self.clip))
        bound = method.residual_bound(self.clip)
        return np.clip(rest, -bound, bound)

    def codec(self, *, n_clients: int, max_weight: float, bits: int, max_bits: int | None = None,
              n_min: int | None = None, colluders: int | None = None) -> CompressedCodec:
        """The round's codec for ``n_clients`` (sums never wrap: widths from :mod:`.packing`),
        in words of at most ``min(bits, max_bits)`` bits."""
        widest = min(bits, bits if max_bits is None else max_bits)
        word = min(widest, MAX_WORD)
        transform = self.transform
        if self.dp is not None:
            return CompressedCodec(transform, self._noisy(transform, n_clients, n_min, colluders,
                                                          word))
        method = self.method
        stage: VoteStage | FixedStage | LevelStage
        if isinstance(method, SignVote):
            stage = VoteStage.fit(transform.length, method.step_for(self.clip),
                                  n_clients=n_clients, max_word=word)
        elif method.level_bits is None:
            stage = FixedStage.fit(transform.length, float(transform.ranges().max()),
                                   bits=widest, n_clients=n_clients, max_weight=max_weight)
        else:
            stage = LevelStage.fit(transform.ranges(), method.level_bits, n_clients=n_clients,
                                   max_weight=max_weight, max_word=word)
        # the stages clip the weighted values; error feedback clips the value itself, as sent
        return CompressedCodec(transform, stage, clip_compact=method.error_feedback)

    def _noisy(self, transform: Transform, n_clients: int, n_min: int | None, colluders: int | None,
               word: int) -> NoisyStage:
        if n_min is None or self.dp is None:
            raise ConfigError("distributed DP needs n_min, the honest noise shares in each sum")
        _check_colluders(colluders, n_clients - n_min)
        width = None if self.method.level_bits is None else self.method.sum_bits(n_clients)
        try:
            return NoisyStage.fit(transform.length, self.dp, n_clients=n_clients, n_min=n_min,
                                  bits=width, max_word=word, colluders=colluders,
                                  rotation_seed=seeds.derive(self.seed, seeds.DP_ROTATION))
        except DPError as exc:  # no DP plan fits the width
            raise ConfigError(f"compression={self.method.label()} with distributed DP for "
                              f"{n_clients} clients: {exc}") from exc
