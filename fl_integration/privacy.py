"""DP options of the federated layer, thin wrappers over ``dp/``: which noise, where, and its ε.

With DP on, every client's weight is 1 (an unweighted mean of clipped updates, as in DP-FedAvg):
example counts are per-client data that the noise does not cover.

The ε reported is against the aggregation server, for ``dp``'s replace-one relation, with no
amplification by subsampling: the server chooses and sees who takes part. Under distributed DP
it also covers clients colluding with the server, as long as each released sum holds the honest
noise shares its round was calibrated for; that assumption is recorded next to the ε.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

import dp
from secagg.csprng import RandomSource


@dataclass(frozen=True, kw_only=True)
class LocalDP:
    """Each client clips its update to L2 norm ``l2_clip`` and adds Gaussian noise making it
    (``epsilon``, ``delta``)-LDP per round before anything leaves it (trusts nobody)."""

    epsilon: float = 8.0
    delta: float = 1e-5
    l2_clip: float = 1.0

    def __post_init__(self) -> None:
        for name in ("epsilon", "delta", "l2_clip"):
            value = getattr(self, name)
            if not (isinstance(value, int | float) and math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not self.delta < 1:
            raise ValueError(f"delta must be in (0, 1), got {self.delta!r}")

    @property
    def sigma(self) -> float:
        """Per-coordinate noise standard deviation (analytic Gaussian, replace-one)."""
        return dp.local_sigma(self.epsilon, self.delta, self.l2_clip)

    @property
    def linf_bound(self) -> float:
        """Encoder clip for a privatized update: the L2 clip plus 6 sigma of noise.

        Clipping noisy values is post-processing (no privacy cost); past 6 sigma it is rare."""
        return self.l2_clip + 6.0 * self.sigma

    def privatize(self, update: np.ndarray, rng: RandomSource | None = None) -> np.ndarray:
        """The client-side step: clip and noise ``update`` (CSPRNG noise from ``dp``)."""
        noisy, _ = dp.privatize_update(update, l2_clip=self.l2_clip, sigma=self.sigma, rng=rng)
        return noisy

    def event(self) -> dp.GaussianEvent:
        """One round for one client: sigma over the replace-one sensitivity, no amplification."""
        return dp.GaussianEvent(noise_multiplier=self.sigma / dp.l2_sensitivity(self.l2_clip))


@dataclass(frozen=True, kw_only=True)
class DistributedDP:
    """Each client adds a share of discrete noise to its integer-encoded update; only the secure
    sum is revealed, and the honest shares it is guaranteed to hold have noise of std
    ``noise_multiplier * l2_clip`` by themselves (``dp.plan_distributed``)."""

    noise_multiplier: float = 0.5
    l2_clip: float = 1.0
    delta: float = 1e-5
    mechanism: str = "gaussian"
    bits: int | None = None
    rotate: bool = True

    def __post_init__(self) -> None:
        if self.mechanism not in dp.distributed.MECHANISMS:
            raise ValueError(f"mechanism must be one of {dp.distributed.MECHANISMS}")
        if not (self.noise_multiplier > 0 and self.l2_clip > 0 and 0 < self.delta < 1):
            raise ValueError("need noise_multiplier > 0, l2_clip > 0 and 0 < delta < 1")

    def codec(self, *, dimension: int, n_clients: int, n_min: int,
              colluders: int | None = None) -> DistributedCodec:
        """This round's plan for ``n_clients`` sampled; ``n_min`` is the number of honest noise
        shares the aggregation guarantees in the sum (its minimum survivors minus ``colluders``,
        its bound on clients colluding with the server, recorded when given)."""
        plan = dp.plan_distributed(
            dimension=dimension, l2_clip=self.l2_clip, noise_multiplier=self.noise_multiplier,
            n_clients=n_clients, n_min=n_min, mechanism=self.mechanism, bits=self.bits,
            rotate=self.rotate,
        )
        _check_colluders(colluders, n_clients - plan.n_min)
        return DistributedCodec(plan, colluders=colluders)


def _check_colluders(colluders: int | None, most: int) -> None:
    """Honest shares and colluders are disjoint among the sampled clients: colluders <= most."""
    if colluders is not None and (isinstance(colluders, bool) or not isinstance(colluders, int)
                                  or not 0 <= colluders <= most):
        raise ValueError(f"colluders must be None or an int in [0, {most}] (sampled clients "
                         f"minus honest shares), got {colluders!r}")


@dataclass(frozen=True)
class DistributedCodec:
    """A distributed-DP plan as a ``Codec``: clip, rotate, round, noise -> signed ints mod 2^b.

    The rotation seed is public randomness shared by the round (not a secret: it only spreads
    the signal over coordinates), fresh per round. ``colluders`` is the aggregation's stated bound
    on clients colluding with the server (None: not stated); ``plan.n_min`` the honest shares."""

    plan: dp.DistributedPlan
    rotation_seed: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    colluders: int | None = field(default=None, kw_only=True)

    @property
    def bits(self) -> int:
        """Modulus bits b the plan's sum fits in."""
        return self.plan.bits

    @property
    def length(self) -> int:
        """Integers per client (padded to a power of two when rotating)."""
        return self.plan.length

    def encode(self, update: np.ndarray, weight: float, rng: RandomSource | None = None
               ) -> np.ndarray:
        """The client's noisy integer vector embedded in Z_{2^b} (its weight is 1 under DP)."""
        from secagg.encoding import embed_signed  # noqa: PLC0415 - secure paths only

        del weight
        ints = dp.encode_client(update, self.plan, rotation_seed=self.rotation_seed, rng=rng)
        return embed_signed(ints, self.plan.bits)

    def decode(self, total: np.ndarray, count: int) -> tuple[np.ndarray, float]:
        """(noisy Σ clipped updates, count) from the sum mod 2^b."""
        return dp.decode_sum(total, self.plan, rotation_seed=self.rotation_seed), float(count)

    def mean_bound(self, count: int, total_weight: float) -> float:
        """Rounding error of the mean per coordinate (< 1 integer unit per client); noise apart."""
        return count / (self.plan.scale * total_weight) if total_weight > 0 else math.inf


DPConfig = LocalDP | DistributedDP


@dataclass
class PrivacyTracker:
    """The ε spent so far against the server (no amplification): one ledger entry per round that
    released something. ``honest_shares`` is the fewest honest noise shares any recorded round
    was calibrated for, ``colluders`` the most colluding clients any round stated (None: none
    stated, or local DP); the ε holds while every round kept its honest shares."""

    config: DPConfig
    ledger: dp.PrivacyLedger = field(default_factory=dp.PrivacyLedger)
    honest_shares: int | None = None
    colluders: int | None = None
    _curves: dict[object, np.ndarray] = field(default_factory=dict, repr=False)

    def record(self, event: object, *, honest_shares: int | None = None,
               colluders: int | None = None) -> float:
        """Add one round's event (its RDP curve cached: rounds repeat) and the round's honest
        shares and colluders under distributed DP; return ε at the δ."""
        curve = self._curves.get(event)
        if curve is None:
            curve = self._curves[event] = self._curve(event)
        self.ledger.record(_Curve(curve))  # type: ignore[arg-type]
        self.honest_shares = _fold(min, self.honest_shares, honest_shares)
        self.colluders = _fold(max, self.colluders, colluders)
        return self.epsilon()

    def _curve(self, event: object) -> np.ndarray:
        return np.asarray(event.rdp(self.ledger.orders))  # type: ignore[attr-defined]

    def epsilon(self) -> float:
        """ε so far (0 before any round)."""
        return self.ledger.epsilon(self.config.delta) if self.ledger.rounds else 0.0


def _fold(pick: Callable[[int, int], int], old: int | None, new: int | None) -> int | None:
    """``pick(old, new)``, or whichever of the two is not None."""
    if old is None or new is None:
        return new if old is None else old
    return pick(old, new)


@dataclass(frozen=True)
class _Curve:
    """An event whose RDP curve is already known (what ``PrivacyLedger.record`` asks for)."""

    curve: np.ndarray

    def rdp(self, orders: object) -> np.ndarray:
        return self.curve
