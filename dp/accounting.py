"""Privacy accounting: wrappers over Google's ``dp-accounting`` plus our own RDP for the
distributed discrete Gaussian (Kairouz, Liu, Steinke 2021) and Skellam (Agarwal, Kairouz, Liu
2021), and a :class:`PrivacyLedger` that the FL layer feeds once per round.

Sensitivities and noise multipliers are those of the replace-one relation (:mod:`dp.neighbours`).
``sampling_probability`` < 1 is the exception: Poisson amplification is an add/remove-one
theorem that holds only against a party that never learns who was sampled.

``dp-accounting`` is imported lazily (extra ``secagg[dp]``): our own RDP formulas, the RDP to
(epsilon, delta) conversion and the ledger for distributed events work without it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import DPError

# The same orders as dp_accounting.rdp.DEFAULT_RDP_ORDERS, so results agree with it.
DEFAULT_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024]
)


def _dpa() -> Any:
    """The ``dp_accounting`` module, or an ImportError telling how to install it."""
    try:
        import dp_accounting
        import dp_accounting.pld  # noqa: F401
        import dp_accounting.rdp  # noqa: F401
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            "this accounting function needs Google's dp-accounting: pip install 'secagg[dp]'"
        ) from exc
    return dp_accounting


def rdp_to_epsilon(orders: Sequence[float], rdp: Sequence[float], delta: float) -> tuple[float, float]:
    """(epsilon, best order) from an RDP curve (Canonne-Kamath-Steinke 2020, Prop. 12).

    Same conversion as ``dp_accounting.rdp.compute_epsilon``, in pure Python.
    """
    _check_delta(delta)
    best, best_order = math.inf, float("nan")
    for a, r in zip(orders, rdp, strict=True):
        if r < 0 or delta**2 + math.expm1(-r) > 0:
            eps = 0.0
        elif a > 1.01:
            eps = r + math.log1p(-1 / a) - math.log(delta * a) / (a - 1)
        else:
            eps = math.inf
        if eps < best:
            best, best_order = eps, float(a)
    return max(0.0, best), best_order


def _check_positive(**kw: float) -> None:
    for name, v in kw.items():
        if isinstance(v, bool) or not (isinstance(v, int | float) and math.isfinite(v) and v > 0):
            raise DPError(f"{name} must be a positive finite number, got {v!r}")


def _check_delta(delta: float) -> None:
    if isinstance(delta, bool) or not isinstance(delta, int | float) or not 0 < delta < 1:
        raise DPError(f"delta must be in (0, 1), got {delta!r}")


def _check_count(name: str, v: int) -> None:
    if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 1:
        raise DPError(f"{name} must be an int >= 1, got {v!r}")


def gaussian_rdp(orders: Sequence[float], noise_multiplier: float) -> np.ndarray:
    """RDP of the Gaussian mechanism: alpha / (2 z^2) with z = sigma / sensitivity."""
    _check_positive(noise_multiplier=noise_multiplier)
    return np.asarray(orders, dtype=np.float64) / (2.0 * noise_multiplier**2)


def ddg_tau(sigma: float, num_clients: int) -> float:
    """KLS 2021 Thm. 1: tau = 10 sum_{k=1}^{n-1} exp(-2 pi^2 sigma^2 k/(k+1)), per-client sigma."""
    return 10.0 * sum(
        math.exp(-2.0 * math.pi**2 * sigma**2 * k / (k + 1)) for k in range(1, num_clients)
    )


def ddg_rdp(
    orders: Sequence[float], *, l2_sensitivity: float, sigma: float, num_clients: int, dimension: int
) -> np.ndarray:
    """RDP of the sum of ``num_clients`` discrete Gaussians N_Z(0, sigma^2)^d (integer units).

    KLS 2021, Thm. 1 / Prop. 14 (the L2-only form): with s = Delta2 / (sqrt(n) sigma),
    eps(alpha) = min(alpha s^2 / 2 + tau d, alpha/2 (s + sqrt(d) tau)^2). sigma >= 1/2 required.
    """
    _check_positive(l2_sensitivity=l2_sensitivity, sigma=sigma)
    if sigma < 0.5:
        raise DPError(f"sigma must be >= 1/2 (KLS 2021, Thm. 1), got {sigma!r}")
    _check_count("num_clients", num_clients)
    _check_count("dimension", dimension)
    a = np.asarray(orders, dtype=np.float64)
    s = l2_sensitivity / (math.sqrt(num_clients) * sigma)
    tau = ddg_tau(sigma, num_clients)
    return np.minimum(a * s * s / 2 + tau * dimension, a / 2 * (s + math.sqrt(dimension) * tau) ** 2)


def skellam_rdp(
    orders: Sequence[float], *, l2_sensitivity: float, mu: float, l1_sensitivity: float | None = None
) -> np.ndarray:
    """RDP of adding Poisson(mu) - Poisson(mu) noise per coordinate (variance 2 mu), AKL 2021 Thm. 3.5:

    eps(alpha) = alpha D2^2/(4 mu) + min(((2 alpha - 1) D2^2 + 6 D1)/(16 mu^2), 3 D1/(4 mu)).
    ``l1_sensitivity`` defaults to D2^2 (valid for integer vectors: |x|_1 <= |x|_2^2).
    """
    _check_positive(l2_sensitivity=l2_sensitivity, mu=mu)
    if l1_sensitivity is not None:
        _check_positive(l1_sensitivity=l1_sensitivity)
    d1 = l2_sensitivity**2 if l1_sensitivity is None else l1_sensitivity
    a = np.asarray(orders, dtype=np.float64)
    d2 = l2_sensitivity**2
    extra = np.minimum(((2 * a - 1) * d2 + 6 * d1) / (16 * mu**2), 3 * d1 / (4 * mu))
    return a * d2 / (4 * mu) + extra


def _integer_orders(orders: Sequence[float]) -> list[int]:
    """max(2, ceil(order)) for each order; DPError unless every order is finite and > 1."""
    out = []
    for order in orders:
        if not (isinstance(order, int | float | np.integer | np.floating) and math.isfinite(order)
                and order > 1):
            raise DPError(f"RDP orders must be finite numbers > 1, got {order!r}")
        out.append(max(2, math.ceil(order)))
    return out


def _check_probability(q: float, name: str = "sampling_probability") -> float:
    if isinstance(q, bool) or not isinstance(q, int | float) or not 0 < q <= 1:
        raise DPError(f"{name} must be in (0, 1], got {q!r}")
    return float(q)


def _zhu_wang_log_sum(alpha: int, q: float, eps: np.ndarray, log_fact: np.ndarray) -> float:
    """log of the bracket in :func:`subsampled_rdp` at integer ``alpha``, all in log space.

    ``eps[j]`` is the unsampled RDP at order j. Every term is formed as a logarithm (no power of
    1 - q or q is evaluated directly), so nothing underflows to log(0) for q near 1 or large alpha.
    """
    log_q, log_p = math.log(q), math.log1p(-q)
    terms = [(alpha - 1) * log_p + math.log1p((alpha - 1) * q),
             math.log(alpha * (alpha - 1) / 2) + 2 * log_q + (alpha - 2) * log_p + eps[2]]
    if alpha >= 3:
        j = np.arange(3, alpha + 1)
        log_comb = log_fact[alpha] - log_fact[j] - log_fact[alpha - j]
        terms.extend(math.log(3) + (j - 1) * eps[j] + log_comb + (alpha - j) * log_p + j * log_q)
    t = np.asarray(terms, dtype=np.float64)
    m = float(t.max())
    if not math.isfinite(m):
        return m
    return m + math.log(float(np.exp(t - m).sum()))


def subsampled_rdp(orders: Sequence[float], q: float, rdp_of: Any) -> np.ndarray:
    """Poisson-subsampled RDP for any mechanism (Zhu & Wang 2019, Thm. 6, general upper bound):

    (a-1) eps'(a) <= log[(1-q)^(a-1) (a q - q + 1) + C(a,2) q^2 (1-q)^(a-2) e^eps(2)
                         + 3 sum_{j>=3} C(a,j) q^j (1-q)^(a-j) e^((j-1) eps(j))],

    evaluated in log space for every q in (0, 1] (q = 1 is the unsampled curve).
    ``rdp_of(alpha)`` gives the unsampled RDP at integer alpha, and is called once per integer
    order. Non-integer orders are evaluated at ceil(alpha) (RDP is non-decreasing in alpha, so
    this is an upper bound). The result is also capped by the unsampled RDP.
    """
    q = _check_probability(q)
    ints = _integer_orders(orders)
    if not ints:
        return np.zeros(0, dtype=np.float64)
    top = max(ints)
    eps = np.full(top + 1, np.nan)
    for j in (range(2, top + 1) if q < 1 else sorted(set(ints))):
        eps[j] = float(rdp_of(j))
    if q == 1:
        return np.asarray([eps[a] for a in ints], dtype=np.float64)
    log_fact = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, top + 1, dtype=np.float64)))])
    cache: dict[int, float] = {}
    for a in set(ints):
        cache[a] = min(_zhu_wang_log_sum(a, q, eps, log_fact) / (a - 1), eps[a])
    return np.asarray([cache[a] for a in ints], dtype=np.float64)


# --- dp-accounting wrappers -------------------------------------------------------------------


def _epsilon(event: Any, delta: float, method: str, relation: str = "add_remove") -> float:
    _check_delta(delta)
    dpa = _dpa()
    rel = {
        "add_remove": dpa.NeighboringRelation.ADD_OR_REMOVE_ONE,
        "replace_one": dpa.NeighboringRelation.REPLACE_ONE,
    }[relation]
    if method == "rdp":
        acc = dpa.rdp.RdpAccountant(neighboring_relation=rel)
    elif method == "pld":
        acc = dpa.pld.PLDAccountant(neighboring_relation=rel)
    else:
        raise DPError(f"method must be 'rdp' or 'pld', got {method!r}")
    acc.compose(event)
    return float(acc.get_epsilon(delta))


def _sampled(event: Any, sampling_probability: float, steps: int) -> Any:
    _check_probability(sampling_probability)
    _check_count("steps", steps)
    dpa = _dpa()
    if sampling_probability < 1:
        event = dpa.PoissonSampledDpEvent(sampling_probability, event)
    return dpa.SelfComposedDpEvent(event, steps) if steps > 1 else event


def gaussian_epsilon(
    noise_multiplier: float,
    delta: float,
    *,
    sampling_probability: float = 1.0,
    steps: int = 1,
    method: str = "rdp",
) -> float:
    """epsilon of ``steps`` Gaussian mechanisms, noise_multiplier = sigma / replace-one sensitivity
    (dp-accounting, RDP or PLD); ``sampling_probability`` < 1 is Poisson amplification, an
    add/remove-one bound."""
    _check_positive(noise_multiplier=noise_multiplier)
    event = _sampled(_dpa().GaussianDpEvent(noise_multiplier), sampling_probability, steps)
    return _epsilon(event, delta, method)


def laplace_epsilon(
    noise_multiplier: float, delta: float, *, steps: int = 1, method: str = "pld"
) -> float:
    """epsilon of ``steps`` Laplace mechanisms, scale = noise_multiplier * (replace-one) L1
    sensitivity."""
    _check_positive(noise_multiplier=noise_multiplier)
    event = _sampled(_dpa().LaplaceDpEvent(noise_multiplier), 1.0, steps)
    return _epsilon(event, delta, method)


def randomized_response_epsilon(
    noise_parameter: float, num_buckets: int, delta: float, *, steps: int = 1, method: str = "pld"
) -> float:
    """epsilon of k-ary randomized response (REPLACE_ONE): with probability ``noise_parameter`` the
    output is uniform over ``num_buckets``, otherwise the true bucket."""
    _check_probability(noise_parameter, "noise_parameter")
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, int) or num_buckets < 2:
        raise DPError(f"num_buckets must be an int >= 2, got {num_buckets!r}")
    event = _sampled(_dpa().RandomizedResponseDpEvent(noise_parameter, num_buckets), 1.0, steps)
    return _epsilon(event, delta, method, relation="replace_one")


# --- events and the ledger ----------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class GaussianEvent:
    """Gaussian mechanism, noise multiplier sigma / replace-one L2 sensitivity (2 clip); optional
    Poisson amplification (``sampling_probability`` < 1: add/remove-one, see the module doc)."""

    noise_multiplier: float
    sampling_probability: float = 1.0

    def __post_init__(self) -> None:
        _check_positive(noise_multiplier=self.noise_multiplier)
        _check_probability(self.sampling_probability)

    def rdp(self, orders: Sequence[float]) -> np.ndarray:
        """RDP curve at ``orders`` (dp-accounting)."""
        dpa = _dpa()
        acc = dpa.rdp.RdpAccountant(orders=list(orders))
        acc.compose(_sampled(dpa.GaussianDpEvent(self.noise_multiplier), self.sampling_probability, 1))
        return acc.rdp


@dataclass(frozen=True, kw_only=True)
class LaplaceEvent:
    """Laplace mechanism, scale / L1 sensitivity."""

    noise_multiplier: float

    def __post_init__(self) -> None:
        _check_positive(noise_multiplier=self.noise_multiplier)

    def rdp(self, orders: Sequence[float]) -> np.ndarray:
        """RDP curve at ``orders`` (dp-accounting)."""
        dpa = _dpa()
        acc = dpa.rdp.RdpAccountant(orders=list(orders))
        acc.compose(dpa.LaplaceDpEvent(self.noise_multiplier))
        return acc.rdp


@dataclass(frozen=True, kw_only=True)
class DistributedDiscreteGaussianEvent:
    """Noise of ``num_clients`` shares N_Z(0, sigma^2) per coordinate unknown to the adversary
    (the honest shares), integer units; ``l2_sensitivity`` is replace-one (:mod:`dp.neighbours`).

    ``sampling_probability`` < 1 is not covered by that relation (see the module doc): the
    distributed planner never sets it.
    """

    l2_sensitivity: float
    sigma: float
    num_clients: int
    dimension: int
    sampling_probability: float = 1.0

    def __post_init__(self) -> None:
        self.rdp([2])  # validates every field now (DPError naming it), not at the first record
        _check_probability(self.sampling_probability)

    def rdp(self, orders: Sequence[float]) -> np.ndarray:
        """RDP curve at ``orders`` (KLS 2021; Zhu-Wang for sampling)."""
        return _sampled_curve(orders, self.sampling_probability, lambda a: ddg_rdp(
            a, l2_sensitivity=self.l2_sensitivity, sigma=self.sigma,
            num_clients=self.num_clients, dimension=self.dimension))


@dataclass(frozen=True, kw_only=True)
class SkellamEvent:
    """Skellam noise Poisson(mu) - Poisson(mu) per coordinate, mu summed over the honest shares
    only; replace-one sensitivities (:mod:`dp.neighbours`); ``sampling_probability`` as for the
    distributed discrete Gaussian event.
    """

    l2_sensitivity: float
    mu: float
    l1_sensitivity: float | None = None
    sampling_probability: float = 1.0

    def __post_init__(self) -> None:
        self.rdp([2])  # validates every field now (DPError naming it), not at the first record
        _check_probability(self.sampling_probability)

    def rdp(self, orders: Sequence[float]) -> np.ndarray:
        """RDP curve at ``orders`` (AKL 2021; Zhu-Wang for sampling)."""
        return _sampled_curve(orders, self.sampling_probability, lambda a: skellam_rdp(
            a, l2_sensitivity=self.l2_sensitivity, mu=self.mu,
            l1_sensitivity=self.l1_sensitivity))


def _sampled_curve(orders: Sequence[float], q: float, curve: Any) -> np.ndarray:
    """``curve`` (unsampled RDP of an order array) Poisson-subsampled at rate q, capped by
    ``curve`` itself; it is evaluated once, at every integer order the Zhu-Wang bound needs."""
    _check_probability(q)
    if q == 1:
        return np.asarray(curve(np.asarray(orders, dtype=np.float64)), dtype=np.float64)
    ints = _integer_orders(orders)
    table = np.asarray(curve(np.arange(2, max(ints, default=2) + 1, dtype=np.float64)))
    sampled = subsampled_rdp(orders, q, lambda a: table[a - 2])
    # at a fractional order the bound above is taken at ceil(order); never exceed no sampling
    return np.minimum(sampled, curve(np.asarray(orders, dtype=np.float64)))


Event = GaussianEvent | LaplaceEvent | DistributedDiscreteGaussianEvent | SkellamEvent


@dataclass
class PrivacyLedger:
    """Running RDP total over the rounds; ``epsilon(delta)`` converts it (RDP composition).

    The FL layer calls ``record(event)`` once per round (or with ``steps``) and reports
    ``spent(delta)``. The result holds for the relation of the recorded events: replace-one
    (:mod:`dp.neighbours`) unless one of them was Poisson-subsampled.
    """

    orders: tuple[float, ...] = DEFAULT_ORDERS
    _rdp: np.ndarray = field(init=False, repr=False)
    rounds: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        if not self.orders or min(self.orders) <= 1:
            raise DPError("orders must be non-empty and all > 1")
        self._rdp = np.zeros(len(self.orders), dtype=np.float64)

    def record(self, event: Event, steps: int = 1) -> None:
        """Add ``steps`` repetitions of ``event``; the ledger is unchanged if the event is invalid."""
        if not isinstance(steps, int) or steps < 1:
            raise DPError(f"steps must be a positive int, got {steps!r}")
        curve = np.asarray(event.rdp(self.orders), dtype=np.float64)
        if curve.shape != self._rdp.shape or np.isnan(curve).any():
            raise DPError("event produced an invalid RDP curve")
        self._rdp = self._rdp + steps * curve
        self.rounds += steps

    def epsilon(self, delta: float) -> float:
        """epsilon such that everything recorded so far is (epsilon, delta)-DP."""
        return rdp_to_epsilon(self.orders, list(self._rdp), delta)[0]

    def spent(self, delta: float) -> tuple[float, float]:
        """(epsilon, delta) so far."""
        return self.epsilon(delta), delta

    @property
    def rdp(self) -> np.ndarray:
        """A copy of the composed RDP curve."""
        return self._rdp.copy()
