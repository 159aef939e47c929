"""Parameter finder for SecAgg+: the neighbour degree k and Shamir threshold t for n clients.

Reasoning (Bell et al., CCS 2020, §4; the same rule as Google's production finder). Clients sit
on a random Harary graph H_{k,n}; each client's k neighbours are, marginally, a uniformly random
k-subset of the population, so the number of corrupt (resp. surviving) neighbours of one client is
hypergeometric: ``A ~ Hypergeom(n, C, k)`` and ``S ~ Hypergeom(n, n - D, k)`` for the budgets
C = ⌈γn⌉ corrupt clients and D = ⌈δn⌉ dropouts at rates γ and δ (Google floors γn and δn; we
round up, which only matters for small n, where flooring would plan for no bad client at all).
Three events must be unlikely, each bounded by a union bound over the n clients:

1. *Disconnection* (privacy, probability ≤ 2^-(σ+1)): after removing corrupt and dropped clients
   the honest survivors must stay connected, or the server learns a partial sum. Cutting a Harary
   graph needs two runs of k/2 consecutive removed clients; a pair of runs is removed with
   probability at most ``B!/(B-k)! · (n-k)!/n!`` (B = C + D removed clients), and there are
   ``n(n-k-1)/2`` pairs of places.
2. *Share leakage* (privacy, ≤ 2^-(σ+1)): no client may have t corrupt neighbours, who together
   would rebuild its secrets. ``a``, the corrupt neighbours any one client has except with
   probability 2^-(σ+1)/n, must be below t.
3. *Too few shares* (correctness, ≤ 2^-η): every client keeps t surviving neighbours so its
   secrets can be rebuilt: ``n · P[S < t] ≤ 2^-η``.

Against a malicious server, which can show some honest holders of a client's shares that client
"alive" and the others "dropped", t must also exceed half of the neighbourhood N[u] (k + 1
members, the client itself included) plus the corrupt neighbours, who reveal both kinds:
``2t > k + 1 + a``. Then no split of the honest holders yields t shares of both kinds.

The bounds hold for *at most* D dropouts and C corrupt clients, placed independently of the
graph: the protocol enforces D at run time (server and clients abort a round with more dropouts,
and a client with fewer than t surviving neighbours refuses to unmask), and the graph is fixed
by randomness the server cannot choose (see :mod:`protocols.secagg.graph`).

The finder takes the smallest even k (Harary graphs of even degree are regular for every n) for
which some t meets 1-3, and the smallest such t (cheapest reconstruction). Defaults σ = 40,
η = 20 give k = 30, t = 17 for n = 1000 at γ = δ = 5 %, semi-honest — the figure of Google's
production finder.

Small n: below ``min_sparse_clients`` (100 by default) the finder returns the complete graph
with SecAgg's threshold ⌊2n/3⌋ + 1 (moved only as far as the rates require). There a sparse
graph buys little — the complete graph costs each client at most 99 mask expansions, a few
milliseconds at 100,000 values — and tolerates only C colluders (one at n = 20 and γ = 5 %,
where the sparse choice would be k = 4, t = 2: two colluding neighbours would reveal a client),
while the complete graph tolerates t - 1 of them. The complete graph is also the answer when no
sparse degree meets 1-3. See ``docs/parameters.md`` for the table of choices.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from protocols.checks import worst_count
from secagg.errors import ConfigError

SECURITY_BITS = 40
CORRECTNESS_BITS = 20
MIN_SPARSE_CLIENTS = 100


@dataclass(frozen=True, slots=True)
class GraphParameters:
    """The finder's answer: degree k (n - 1 means the complete graph), threshold t, and the
    budgets they were planned for: dropouts D, corrupt clients C, corrupt neighbours a."""

    num_clients: int
    degree: int
    threshold: int
    max_dropouts: int
    max_corrupt: int
    corrupt_neighbors: int

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
    min_sparse_clients: int = MIN_SPARSE_CLIENTS,
) -> GraphParameters:
    """Pick (k, t) for ``num_clients`` at the given dropout and corruption rates (see module doc)."""
    _check_rates(num_clients, dropout, corrupt, malicious)
    n = num_clients
    drops, bad = worst_count(dropout, n), worst_count(corrupt, n)
    if n >= min_sparse_clients:
        for k in range(2, n - 1, 2):
            t = sparse_threshold(n, k, drops, bad, malicious, security_bits, correctness_bits)
            if t is not None:
                a = corrupt_neighbor_bound(n, k, bad, security_bits)
                return GraphParameters(n, k, t, drops, bad, a)
    return complete_parameters(n, drops, bad, malicious)


def complete_parameters(n: int, drops: int, bad: int, malicious: bool) -> GraphParameters:
    """The complete graph's t: SecAgg's ⌊2n/3⌋ + 1, moved into the range the budgets allow.

    t must exceed the colluders (t > C; in malicious mode 2t > n + C), leave room for the
    dropouts (t <= n - D), and leave two honest inputs in every sum (n - D - C >= 2, that is
    C <= t - 2 once D = n - t). The budgets recorded are everything that t tolerates."""
    low = max(bad + 2, (n + bad) // 2 + 1 if malicious else 2)
    high = n - drops
    if low > high:
        raise ConfigError(
            f"no threshold tolerates {drops} dropouts and {bad} corrupt clients among {n} "
            f"(needs {low} <= t <= {high}): lower the rates"
        )
    t = min(max((2 * n) // 3 + 1, low), high)
    tolerated = min(t - 2, 2 * t - n - 1) if malicious else t - 2
    return GraphParameters(n, n - 1, t, n - t, tolerated, tolerated)


def sparse_threshold(
    n: int, k: int, drops: int, bad: int, malicious: bool,
    security_bits: int = SECURITY_BITS, correctness_bits: int = CORRECTNESS_BITS,
) -> int | None:
    """The smallest t that meets events 1-3 (and the malicious rule) for degree k, or None."""
    if log_disconnect_bound(n, k, drops + bad) >= -(security_bits + 1) * math.log(2):
        return None
    a = corrupt_neighbor_bound(n, k, bad, security_bits)
    t = max(a + 1, 2)
    if malicious:
        t = max(t, (k + 1 + a) // 2 + 1)
    if t > k or hypergeom_tail(n, n - drops, k, 0, t - 1) > 2.0**-correctness_bits / n:
        return None
    return t


def check_sparse(
    n: int, k: int, t: int, drops: int, bad: int, malicious: bool,
    security_bits: int = SECURITY_BITS, correctness_bits: int = CORRECTNESS_BITS,
) -> int:
    """Refuse a hand-picked sparse (k, t) that voids the guarantee for these budgets; return a.

    Raises ``ValueError`` naming the event that fails (see the module doc)."""
    budgets = f"n={n}, k={k}, t={t}, max_dropouts={drops}, max_corrupt={bad}"
    if k % 2 and n % 2:
        raise ConfigError(f"an odd degree needs an even number of clients: with both odd one "
                         f"client gets k + 1 neighbours, which the bounds do not cover; choose "
                         f"an even k ({budgets})")
    if n - drops - bad < 2:
        raise ConfigError(f"max_dropouts + max_corrupt must leave two honest inputs in every sum "
                         f"({budgets})")
    if t > k:
        raise ConfigError(f"threshold must be at most the degree k={k} on a sparse graph ({budgets})")
    if log_disconnect_bound(n, k, drops + bad) >= -(security_bits + 1) * math.log(2):
        raise ConfigError(f"the honest survivors may be cut apart with probability above "
                         f"2^-{security_bits + 1}: raise k ({budgets})")
    a = corrupt_neighbor_bound(n, k, bad, security_bits)
    if t <= a:
        raise ConfigError(f"a client may have {a} corrupt neighbours, who could rebuild its "
                         f"secrets: t must exceed {a} ({budgets})")
    if malicious and 2 * t <= k + 1 + a:
        raise ConfigError(f"malicious mode needs 2t > k + 1 + a = {k + 1 + a} (a = {a} corrupt "
                         f"neighbours): raise t ({budgets})")
    if hypergeom_tail(n, n - drops, k, 0, t - 1) > 2.0**-correctness_bits / n:
        raise ConfigError(f"a client may keep fewer than t surviving neighbours with probability "
                         f"above 2^-{correctness_bits}: lower t or raise k ({budgets})")
    return a


def corrupt_neighbor_bound(n: int, k: int, bad: int, security_bits: int = SECURITY_BITS) -> int:
    """a: the corrupt neighbours one client has, except with probability 2^-(σ+1)/n."""
    budget = 2.0 ** -(security_bits + 1) / n
    pmf = [math.exp(hypergeom_log_pmf(n, bad, k, x)) for x in range(k + 1)]
    tail = 0.0  # P[A >= x + 1], summed from the top so tiny tails keep their precision
    for x in range(k, -1, -1):
        if tail > budget:
            return x + 1
        tail += pmf[x]
    return 0


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


def _log_comb(n: int, r: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(r + 1) - math.lgamma(n - r + 1)


def _check_rates(n: int, dropout: float, corrupt: float, malicious: bool) -> None:
    if not isinstance(n, int) or n < 3:
        raise ConfigError(f"num_clients must be an int >= 3, got {n!r}")
    for name, rate in (("dropout", dropout), ("corrupt", corrupt)):
        if not 0 <= rate < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {rate!r}")
    budget = corrupt + (2 * dropout if malicious else dropout)
    if budget > 0.9:
        rule = "corrupt + 2*dropout" if malicious else "corrupt + dropout"
        raise ConfigError(f"{rule} must be <= 0.9 for any (k, t) to exist, got {budget:.3f}")
