"""Parameter finder for SecAgg+: the neighbour degree k and Shamir threshold t for n clients.

Reasoning (Bell et al., CCS 2020, §4; the same rule as Google's production finder). Clients sit
on a random Harary graph H_{k,n}; each client's k neighbours are, marginally, a uniformly random
k-subset of the population, so the number of corrupt (resp. surviving) neighbours of one client is
hypergeometric: ``A ~ Hypergeom(n, ⌈γn⌉, k)`` and ``S ~ Hypergeom(n, n - ⌈δn⌉, k)`` for a
corruption rate γ and a dropout rate δ, planning for the worst-case number of bad clients
(Google floors γn and δn; we round up, which only matters for small n, where flooring would
plan for no bad client at all). Three events
must be unlikely, each bounded by a union bound over the n clients:

1. *Disconnection* (privacy, probability ≤ 2^-(σ+1)): after removing corrupt and dropped clients
   the honest survivors must stay connected, or the server learns a partial sum. Cutting a Harary
   graph needs two runs of k/2 consecutive removed clients; a pair of runs is removed with
   probability at most ``B!/(B-k)! · (n-k)!/n!`` (B = ⌈γn⌉ + ⌈δn⌉ removed clients), and there
   are ``n(n-k-1)/2`` pairs of places.
2. *Share leakage* (privacy, ≤ 2^-(σ+1)): no client may have t corrupt neighbours, who together
   would rebuild its secrets: ``n · P[A ≥ t] ≤ 2^-(σ+1)``.
3. *Too few shares* (correctness, ≤ 2^-η): every client keeps t surviving neighbours so its
   secrets can be rebuilt: ``n · P[S < t] ≤ 2^-η``.

The finder takes the smallest even k (Harary graphs of even degree are regular for every n) for
which some t meets 1-3, and the smallest such t (cheapest reconstruction). Against a malicious
server, which can show half the honest neighbours "alive" and half "dropped", t must also exceed
half of the neighbourhood plus the corrupt neighbours, ``2t > k + a`` with a the bound from 2.
Defaults σ = 40, η = 20 give k = 30, t = 17 for n = 1000 at γ = δ = 5 %, semi-honest — the figure
of Google's production finder. When no sparse degree works (small n), the complete graph is
returned with k = n - 1 and the t that meets 2 and 3 on it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

SECURITY_BITS = 40
CORRECTNESS_BITS = 20
_EPS = 1e-14  # rates like 0.05 * 1000 must floor to 50, not 49


@dataclass(frozen=True, slots=True)
class GraphParameters:
    """The finder's answer: degree k (n - 1 means the complete graph) and threshold t."""

    num_clients: int
    degree: int
    threshold: int

    @property
    def complete(self) -> bool:
        """True when every client neighbours every other (plain SecAgg)."""
        return self.degree >= self.num_clients - 1


def find_parameters(
    num_clients: int,
    *,
    dropout: float = 0.05,
    corrupt: float = 0.05,
    malicious: bool = False,
    security_bits: int = SECURITY_BITS,
    correctness_bits: int = CORRECTNESS_BITS,
) -> GraphParameters:
    """Pick (k, t) for ``num_clients`` at the given dropout and corruption rates (see module doc)."""
    _check_rates(num_clients, dropout, corrupt, malicious)
    n = num_clients
    corrupt_max = _worst_count(corrupt, n)
    dropout_max = _worst_count(dropout, n)
    survive_min = n - dropout_max
    log_sec = -(security_bits + 1) * math.log(2)
    for k in range(2, n - 1, 2):
        if log_disconnect_bound(n, k, corrupt_max + dropout_max) >= log_sec:
            continue
        t = _threshold(n, k, corrupt_max, survive_min, malicious, security_bits, correctness_bits)
        if t is not None:
            return GraphParameters(n, k, t)
    t = _threshold(n, n - 1, corrupt_max, survive_min, malicious, security_bits, correctness_bits)
    if t is None:
        raise ValueError(
            f"no (k, t) meets security 2^-{security_bits} and failure 2^-{correctness_bits} for "
            f"num_clients={n}, dropout={dropout}, corrupt={corrupt}: lower the rates"
        )
    return GraphParameters(n, n - 1, t)


def log_disconnect_bound(n: int, k: int, removed: int) -> float:
    """Natural log of the union bound on the survivors of a random H_{k,n} being disconnected."""
    if k > removed:
        return -math.inf
    pairs = math.log(n) + math.log(max(n - k - 1, 1)) - math.log(2)
    runs = (
        math.lgamma(removed + 1)
        - math.lgamma(removed - k + 1)
        + math.lgamma(n - k + 1)
        - math.lgamma(n + 1)
    )
    return pairs + runs


def hypergeom_log_pmf(population: int, successes: int, draws: int, x: int) -> float:
    """log P[X = x] for X ~ Hypergeom(population, successes, draws); -inf outside the support."""
    if x < max(0, draws - (population - successes)) or x > min(draws, successes):
        return -math.inf
    return (
        _log_comb(successes, x)
        + _log_comb(population - successes, draws - x)
        - _log_comb(population, draws)
    )


def hypergeom_tail(population: int, successes: int, draws: int, lo: int, hi: int) -> float:
    """P[lo <= X <= hi], summed term by term so tiny tails keep their precision."""
    logs = [hypergeom_log_pmf(population, successes, draws, x) for x in range(lo, hi + 1)]
    logs = [v for v in logs if v > -math.inf]
    if not logs:
        return 0.0
    top = max(logs)
    return math.exp(top) * math.fsum(math.exp(v - top) for v in logs)


def _threshold(
    n: int, k: int, corrupt_max: int, survive_min: int, malicious: bool, sec: int, corr: int
) -> int | None:
    leak_budget = 2.0 ** -(sec + 1) / n
    fail_budget = 2.0**-corr / n
    # a: the corrupt neighbours a client has, except with probability leak_budget.
    a = next(x for x in range(k + 1) if hypergeom_tail(n, corrupt_max, k, x + 1, k) <= leak_budget)
    t = max(a + 1, 2)
    if malicious:
        t = max(t, (k + a) // 2 + 1, (k + 1) // 2 + 1)
    if t > k or hypergeom_tail(n, survive_min, k, 0, t - 1) > fail_budget:
        return None
    return t


def _worst_count(rate: float, n: int) -> int:
    """Bad clients to plan for: ⌈rate·n⌉ (Google floors; ceil keeps small n honest)."""
    return min(n, math.ceil(max(rate * n - _EPS * n, 0.0)))


def _log_comb(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def _check_rates(n: int, dropout: float, corrupt: float, malicious: bool) -> None:
    if not isinstance(n, int) or n < 3:
        raise ValueError(f"num_clients must be an int >= 3, got {n!r}")
    for name, rate in (("dropout", dropout), ("corrupt", corrupt)):
        if not 0 <= rate < 1:
            raise ValueError(f"{name} must be in [0, 1), got {rate!r}")
    budget = corrupt + (2 * dropout if malicious else dropout)
    if budget > 0.9:
        rule = "corrupt + 2*dropout" if malicious else "corrupt + dropout"
        raise ValueError(f"{rule} must be <= 0.9 for any (k, t) to exist, got {budget:.3f}")
