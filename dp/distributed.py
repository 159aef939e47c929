"""Distributed DP for secure aggregation: the planner, the client encoder and the server decoder.

Each of n clients clips its update to L2 norm c, optionally rotates it (randomized Hadamard,
shared per-round seed), scales by gamma, rounds to integers with conditional randomized rounding
(KLS 2021, Sec. 4: redraw until the L2 norm is <= the inflated bound), then adds discrete
Gaussian (KLS 2021) or Skellam (AKL 2021) noise whose sum over any n_min *honest* shares alone has
standard deviation ``noise_multiplier * c`` in the original units. The int64 vector goes to secure
aggregation, which embeds it in Z_{2^b} as two's complement (``secagg.encoding.embed_signed``);
the server's sum mod 2^b is decoded here with the same convention (values >= 2^(b-1) are
negative), divided by gamma and un-rotated.

Neighbouring relation: replace one client's update (:mod:`dp.neighbours`), the participants
fixed. A rounded vector has L2 norm <= l2_bound, so the sensitivity is 2 l2_bound (L2) and
min((2 l2_bound)^2, sqrt(d) 2 l2_bound) (L1, integer vectors). Who takes part is not hidden:
the server chooses and sees it, so no amplification by subsampling is claimed.

Honest shares: the server may collude with clients, who know and subtract their own noise
shares. ``n_min`` is therefore the number of *honest* noise shares the secure aggregation
guarantees in every sum it releases (its minimum number of survivors minus its bound on
colluding clients), and the noise is calibrated so that those shares alone reach the target.
The ε of :meth:`DistributedPlan.event` holds against the server and its colluders as long as
that guarantee does; a round with fewer honest shares must abort, not release.

The rotation seed must be fresh for each round and independent of the data (the FL layer
derives it from the round's session); the wrap-around bound below holds over its randomness.

Wrap-around: ``bits`` is chosen so that, by a union bound over the coordinates, the probability
that some coordinate of the true integer sum leaves [-2^(b-1), 2^(b-1)) is <= ``wrap_probability``
(half for the signal, half for the noise; see :func:`_sum_bound`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from . import rotation, samplers
from .accounting import DistributedDiscreteGaussianEvent, SkellamEvent
from .clipping import clip_l2
from .errors import DPError
from .neighbours import integer_l1_sensitivity, l2_sensitivity
from .rng import RandomSource, resolve, uniform01

MECHANISMS = ("gaussian", "skellam")
_MAX_ROUNDING_TRIES = 1000


@dataclass(frozen=True, kw_only=True)
class DistributedPlan:
    """Everything clients and server agree on for one distributed-DP aggregation.

    ``n_min`` is the number of honest noise shares every released sum holds; ``scale`` is gamma
    (integer units per original unit); ``l2_bound`` the inflated L2 norm bound of a rounded client
    vector (integer units); ``client_variance`` each client's noise variance per coordinate
    (integer units); ``bits`` the modulus exponent of the secure aggregation.
    """

    mechanism: str
    dimension: int
    padded_dimension: int
    rotate: bool
    l2_clip: float
    noise_multiplier: float
    n_clients: int
    n_min: int
    scale: float
    beta: float
    l2_bound: float
    client_variance: float
    bits: int
    wrap_probability: float

    @property
    def client_sigma(self) -> float:
        """Per-client noise standard deviation per coordinate, integer units."""
        return math.sqrt(self.client_variance)

    @property
    def length(self) -> int:
        """Length of the integer vectors exchanged (padded when rotating)."""
        return self.padded_dimension if self.rotate else self.dimension

    def event(self) -> DistributedDiscreteGaussianEvent | SkellamEvent:
        """One round's accounting event: replace-one sensitivity, only the n_min honest noise
        shares counted as hidden, no subsampling amplification (the server knows who took part)."""
        l2 = l2_sensitivity(self.l2_bound)
        if self.mechanism == "gaussian":
            return DistributedDiscreteGaussianEvent(
                l2_sensitivity=l2, sigma=self.client_sigma, num_clients=self.n_min,
                dimension=self.length)
        return SkellamEvent(l2_sensitivity=l2, mu=self.n_min * self.client_variance / 2,
                            l1_sensitivity=integer_l1_sensitivity(self.l2_bound, self.length))


def inflated_l2_bound(clip_scaled: float, dimension: int, beta: float) -> float:
    """KLS 2021 Thm. 1: norm bound after (conditional) randomized rounding, integer units.

    min(c + sqrt(d), sqrt(c^2 + d/4 + sqrt(2 ln(1/beta)) (c + sqrt(d)/2))) with c = gamma * clip;
    beta = 0 means plain rounding (only the first, deterministic bound).
    """
    plain = clip_scaled + math.sqrt(dimension)
    if beta <= 0:
        return plain
    cond = clip_scaled**2 + dimension / 4 + math.sqrt(2 * math.log(1 / beta)) * (
        clip_scaled + math.sqrt(dimension) / 2)
    return min(plain, math.sqrt(cond))


def _noise_tail(plan_mech: str, n: int, variance: float, log_term: float) -> float:
    """t with P(|noise sum| > t) <= exp(-log_term) * 2 per coordinate, n clients' shares."""
    total = n * variance
    if plan_mech == "gaussian":  # sum of discrete Gaussians is (n sigma^2)-subgaussian (CKS)
        return math.sqrt(2 * total * log_term)
    # Skellam(M, M), M = total/2: Bernstein with variance 2M = total and jumps of size 1
    return log_term / 3 + math.sqrt(log_term**2 / 9 + 2 * total * log_term)


def _sum_bound(*, mechanism: str, n: int, clip_scaled: float, l2_bound: float, length: int,
               rotate: bool, variance: float, wrap_probability: float) -> float:
    """A bound T with P(some |coordinate of the integer sum| > T) <= wrap_probability.

    Signal: with rotation, each coordinate of H D (sum x_i) is (n c)^2/length-subgaussian over D,
    plus at most n from rounding; without, |sum| <= n * l2_bound deterministically. Noise: the
    tail of :func:`_noise_tail`. Each side gets wrap_probability/2 spread over ``length``.
    """
    log_term = math.log(4 * length / wrap_probability)
    if rotate:
        signal = n * clip_scaled * math.sqrt(2 * log_term / length) + n
        signal = min(signal, n * l2_bound)
    else:
        signal = n * l2_bound
    return signal + _noise_tail(mechanism, n, variance, log_term)


def _bits_for(bound: float) -> int:
    """Smallest b with bound <= 2^(b-1) - 1 (two's complement range)."""
    return int(math.ceil(bound)).bit_length() + 1


def _make(scale: float, *, mechanism, dimension, l2_clip, noise_multiplier, n_clients, n_min,
          rotate, beta, wrap_probability, min_bits) -> DistributedPlan:
    length = rotation.padded_dimension(dimension) if rotate else dimension
    clip_scaled = l2_clip * scale
    variance = (noise_multiplier * clip_scaled) ** 2 / n_min
    l2_bound = inflated_l2_bound(clip_scaled, length, beta)
    bound = _sum_bound(mechanism=mechanism, n=n_clients, clip_scaled=clip_scaled, l2_bound=l2_bound,
                       length=length, rotate=rotate, variance=_sampled_variance(mechanism, variance),
                       wrap_probability=wrap_probability)
    return DistributedPlan(
        mechanism=mechanism, dimension=dimension, padded_dimension=rotation.padded_dimension(dimension),
        rotate=rotate, l2_clip=l2_clip, noise_multiplier=noise_multiplier, n_clients=n_clients,
        n_min=n_min, scale=scale, beta=beta, l2_bound=l2_bound, client_variance=variance,
        bits=max(min_bits, _bits_for(bound)), wrap_probability=wrap_probability)


def _check_plan_args(mechanism, dimension, l2_clip, noise_multiplier, n_clients, n_min, beta,
                     wrap_probability) -> None:
    if mechanism not in MECHANISMS:
        raise DPError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}")
    if not isinstance(dimension, int) or dimension < 1:
        raise DPError(f"dimension must be an int >= 1, got {dimension!r}")
    for name, v in (("l2_clip", l2_clip), ("noise_multiplier", noise_multiplier)):
        if not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise DPError(f"{name} must be a positive finite number, got {v!r}")
    if not (isinstance(n_min, int) and isinstance(n_clients, int) and 1 <= n_min <= n_clients):
        raise DPError(f"need integers 1 <= n_min (honest noise shares) <= n_clients, got "
                      f"n_min={n_min!r}, n_clients={n_clients!r}")
    if not (isinstance(beta, int | float) and 0 <= beta < 1):
        raise DPError(f"beta must be in [0, 1), got {beta!r}")
    if not (isinstance(wrap_probability, int | float) and 0 < wrap_probability < 1):
        raise DPError(f"wrap_probability must be in (0, 1), got {wrap_probability!r}")


def plan_distributed(*, dimension: int, l2_clip: float, noise_multiplier: float, n_clients: int,
                     n_min: int, mechanism: str = "gaussian", bits: int | None = None,
                     scale: float | None = None, rotate: bool = True, beta: float = math.exp(-0.5),
                     wrap_probability: float = 1e-9, rounding_slack: float = 0.01,
                     min_bits: int = 8) -> DistributedPlan:
    """Choose scale gamma, inflated norm bound, per-client noise and modulus bits.

    ``n_min`` is the number of honest noise shares each released sum is guaranteed to hold (not
    just survivors: colluding clients' shares do not count). Target: those n_min shares alone have
    std ``noise_multiplier * l2_clip``; all ``n_clients`` shares together set the modulus. The
    replace-one sensitivity is 2 l2_clip (more after rounding), so in dp-accounting's terms the
    noise multiplier is at most ``noise_multiplier / 2``.
    ``scale`` given: use it. ``bits`` given: the largest gamma whose plan fits in ``bits``.
    Neither: the smallest gamma with l2_bound <= (1 + rounding_slack) gamma c (rounding costs at
    most that much extra sensitivity) and per-client sigma >= 1; bits follow, at least
    ``min_bits`` (secagg's moduli start at 2^8; a larger modulus is always safe).
    """
    _check_plan_args(mechanism, dimension, l2_clip, noise_multiplier, n_clients, n_min, beta,
                     wrap_probability)
    kw = dict(mechanism=mechanism, dimension=dimension, l2_clip=l2_clip,
              noise_multiplier=noise_multiplier, n_clients=n_clients, n_min=n_min, rotate=rotate,
              beta=beta, wrap_probability=wrap_probability, min_bits=min_bits)
    if not isinstance(min_bits, int) or not 2 <= min_bits <= 62:
        raise DPError(f"min_bits must be an int in [2, 62], got {min_bits!r}")
    if scale is not None:
        plan = _make(float(scale), **kw)
    elif bits is not None:
        plan = _largest_scale_for_bits(bits, kw)
    else:
        plan = _scale_for_slack(rounding_slack, kw)
    _check_feasible(plan, bits)
    return plan


def _largest_scale_for_bits(bits: int, kw: dict) -> DistributedPlan:
    lo, hi = 1e-9 / kw["l2_clip"], 1e-9 / kw["l2_clip"]
    if _make(lo, **kw).bits > bits:
        raise DPError(f"{bits} bits cannot hold this aggregation at any scale: raise bits")
    while _make(hi, **kw).bits <= bits:
        lo, hi = hi, hi * 2
    for _ in range(100):
        mid = (lo + hi) / 2
        if _make(mid, **kw).bits <= bits:
            lo = mid
        else:
            hi = mid
    return _make(lo, **kw)


def _scale_for_slack(slack: float, kw: dict) -> DistributedPlan:
    if not slack > 0:
        raise DPError("rounding_slack must be > 0")
    lo, hi = 1e-9 / kw["l2_clip"], 1.0 / kw["l2_clip"]

    def good(g: float) -> bool:
        p = _make(g, **kw)
        return p.l2_bound <= (1 + slack) * g * kw["l2_clip"] and p.client_variance >= 1.0

    while not good(hi):
        lo, hi = hi, hi * 2
    for _ in range(100):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if good(mid) else (mid, hi)
    return _make(hi, **kw)


def _check_feasible(plan: DistributedPlan, bits: int | None) -> None:
    if plan.bits > 62 or (bits is not None and plan.bits > bits):
        raise DPError(f"plan needs {plan.bits} bits: lower the scale or raise bits (max 62)")
    if plan.client_sigma < 0.5:
        raise DPError("per-client sigma below 1/2 integer unit: raise the scale or the noise")
    if plan.mechanism == "gaussian":  # the samplers' parameter bounds, checked at plan time
        samplers.gaussian_params(_noise_parameter(plan))
    else:
        samplers._poisson_tables(_noise_parameter(plan), "mu")


def _noise_parameter(plan: DistributedPlan) -> Fraction:
    """sigma^2 (Gaussian) or mu = sigma^2/2 (Skellam) as the rational the sampler uses, rounded
    up so that the sampled noise is never below what the accounting assumed."""
    return _noise_rational(plan.mechanism, plan.client_variance)


def _noise_rational(mechanism: str, variance: float) -> Fraction:
    if mechanism == "gaussian":
        return samplers.sigma2_at_least(variance)
    return samplers.at_least(variance / 2, 1 << 16, "mu")


def _sampled_variance(mechanism: str, variance: float) -> float:
    """The variance parameter the sampler will really use (>= ``variance``), for the tail bound."""
    if not variance > 0:
        return variance
    f = _noise_rational(mechanism, variance)
    return float(f) * (1 if mechanism == "gaussian" else 2)


def _conditional_round(y: np.ndarray, bound: float, rng: RandomSource) -> np.ndarray:
    """Unbiased randomized rounding, redrawn until the L2 norm is <= bound (KLS 2021)."""
    floor = np.floor(y)
    frac = y - floor
    for _ in range(_MAX_ROUNDING_TRIES):
        r = floor + (uniform01(rng, y.size) < frac)
        if float(np.linalg.norm(r)) <= bound:
            return r.astype(np.int64)
    raise DPError("conditional rounding failed repeatedly: beta is too small for this vector")


def encode_client(update: np.ndarray, plan: DistributedPlan, *, rotation_seed: bytes | None = None,
                  rng: RandomSource | None = None) -> np.ndarray:
    """Clip, rotate, scale, round and noise one client's update: int64 vector of ``plan.length``.

    The FL layer embeds it with ``secagg.encoding.embed_signed(v, plan.bits)``.
    """
    v = np.asarray(update, dtype=np.float64)
    if v.shape != (plan.dimension,):
        raise DPError(f"update must have shape ({plan.dimension},), got {v.shape}")
    src = resolve(rng)
    clipped, _ = clip_l2(v, plan.l2_clip)
    if plan.rotate:
        if rotation_seed is None:
            raise DPError("this plan rotates: pass the round's shared 32-byte rotation_seed")
        clipped = rotation.rotate(clipped, rotation_seed)
    rounded = _conditional_round(clipped * plan.scale, plan.l2_bound, src)
    return rounded + client_noise(plan, rng=src)


def client_noise(plan: DistributedPlan, *, rng: RandomSource | None = None) -> np.ndarray:
    """One client's integer noise share (length ``plan.length``)."""
    if plan.mechanism == "gaussian":
        return samplers.discrete_gaussian(_noise_parameter(plan), plan.length, rng=rng)
    return samplers.skellam(_noise_parameter(plan), plan.length, rng=rng)


def to_signed(aggregate: np.ndarray, bits: int) -> np.ndarray:
    """Two's complement view of values mod 2^bits: [0, 2^bits) -> [-2^(bits-1), 2^(bits-1)).

    Idempotent on values already in the signed range (same convention as secagg's unembed).
    """
    if isinstance(bits, bool) or not isinstance(bits, int) or not 1 <= bits <= 63:
        raise DPError(f"bits must be an int in [1, 63], got {bits!r}")
    a = np.asarray(aggregate)
    if not np.issubdtype(a.dtype, np.integer):
        raise DPError("aggregate must be an integer array")
    mask = np.uint64((1 << bits) - 1)
    u = a.astype(np.int64).view(np.uint64) & mask if a.dtype != np.uint64 else a & mask
    s = u.astype(np.int64)
    return np.where(s >= 1 << (bits - 1), s - (1 << bits), s)


def decode_sum(aggregate: np.ndarray, plan: DistributedPlan, *,
               rotation_seed: bytes | None = None) -> np.ndarray:
    """Float sum of the clients' (clipped, noised) updates from the aggregate mod 2^bits.

    Any modulus 2^B with B >= plan.bits may have been used by the aggregation (for instance
    ``secagg.encoding.embed_signed(v, B)``, B >= 8): 2^bits divides 2^B, so reducing here is
    consistent.
    """
    s = to_signed(aggregate, plan.bits)
    if s.shape != (plan.length,):
        raise DPError(f"aggregate must have shape ({plan.length},), got {s.shape}")
    y = s.astype(np.float64) / plan.scale
    if plan.rotate:
        if rotation_seed is None:
            raise DPError("this plan rotates: pass the round's shared 32-byte rotation_seed")
        return rotation.unrotate(y, rotation_seed, plan.dimension)
    return y


def decode_mean(aggregate: np.ndarray, plan: DistributedPlan, count: int, *,
                rotation_seed: bytes | None = None) -> np.ndarray:
    """Float mean over ``count`` surviving clients."""
    if not isinstance(count, int) or count < 1:
        raise DPError("count must be a positive int")
    return decode_sum(aggregate, plan, rotation_seed=rotation_seed) / count
