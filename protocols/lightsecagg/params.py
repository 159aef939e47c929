"""Parameter helper for LightSecAgg: (U, T) for N clients at given dropout and collusion rates.

The rule, and why (So et al., MLSys 2022, §4; our budgets are SecAgg's, see ``SECURITY.md``):

- Budgets first. D = ⌈δN⌉ clients may fail to reach the masked-input stage and C = ⌈γN⌉ may
  collude with the server (rounded up, as :func:`protocols.checks.worst_count` does, so a small
  round still plans for one bad client).
- T = max(C, 1). T padding pieces make any T coded sub-masks of an honest client jointly uniform
  (:mod:`protocols.lightsecagg.coding`), so T must cover every colluder. A larger T buys no
  guarantee the budget asks for and costs U − T data pieces: smaller pieces mean more of them,
  so every client uploads N·m/(U − T) elements of coded sub-masks.
- U = N − D − s, s the spare replies (1 by default). The server needs U + s replies: U decode the
  survivors' mask sum, the s more check the decoding (with exactly U replies a wrong one cannot
  be detected, and the round aborts rather than guess). So U + s ≤ N − D, and the largest such U
  makes the pieces smallest.
- Refused: U ≤ T (no data piece left: the code would carry only padding), and budgets that leave
  fewer than two honest inputs in a sum (N − D − C < 2).

At γ = 5 % (T = ⌈γN⌉) and s = 1; the last column is the coded sub-mask upload per client in
units of the vector, N/(U − T) (each of the N sub-masks is m/(U − T) elements):

| N | dropout | U | T | D | C | sub-masks / vector |
|---|---|---|---|---|---|---|
| 10 | 10 % | 8 | 1 | 1 | 1 | 1.43 |
| 10 | 50 % | 4 | 1 | 5 | 1 | 3.33 |
| 200 | 10 % | 179 | 10 | 20 | 10 | 1.18 |
| 200 | 30 % | 139 | 10 | 60 | 10 | 1.55 |
| 200 | 50 % | 99 | 10 | 100 | 10 | 2.25 |
| 1000 | 50 % | 499 | 50 | 500 | 50 | 2.23 |

A round with more dropouts than D aborts, as SecAgg's does: U is only reached inside the budget.
Server cost grows with U (decoding is U·m multiply-adds) but not with how many clients dropped:
that is LightSecAgg's point. The clients pay instead: encoding is N·U·m/(U − T) multiply-adds.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.checks import worst_count
from secagg.errors import ConfigError

DEFAULT_SPARE_REPLIES = 1


@dataclass(frozen=True, slots=True)
class LightSecAggParameters:
    """The helper's answer: U, T, and the budgets D, C and spare replies s they were planned for."""

    num_clients: int
    recovery_threshold: int
    privacy_threshold: int
    max_dropouts: int
    max_corrupt: int
    spare_replies: int

    @property
    def pieces(self) -> int:
        """U − T: how many pieces each client's mask is cut into."""
        return self.recovery_threshold - self.privacy_threshold


def find_parameters(
    num_clients: int,
    *,
    dropout: float = 0.1,
    corrupt: float = 0.05,
    spare_replies: int = DEFAULT_SPARE_REPLIES,
) -> LightSecAggParameters:
    """Pick (U, T) for ``num_clients`` at these dropout and collusion rates (see module doc)."""
    if isinstance(num_clients, bool) or not isinstance(num_clients, int) or num_clients < 3:
        raise ConfigError(f"num_clients must be an int >= 3, got {num_clients!r}")
    for name, rate in (("dropout", dropout), ("corrupt", corrupt)):
        if not 0 <= rate < 1:
            raise ConfigError(f"{name} must be in [0, 1), got {rate!r}")
    if isinstance(spare_replies, bool) or not isinstance(spare_replies, int) or spare_replies < 1:
        raise ConfigError(f"spare_replies must be an int >= 1, got {spare_replies!r}")
    n = num_clients
    drops, bad = worst_count(dropout, n), worst_count(corrupt, n)
    t = max(bad, 1)
    u = n - drops - spare_replies
    if u <= t:
        raise ConfigError(
            f"no (U, T) fits {n} clients with {drops} dropouts, {bad} colluders and "
            f"{spare_replies} spare replies: needs T = {t} < U = {u}; lower the rates"
        )
    if n - drops - bad < 2:
        raise ConfigError(f"{drops} dropouts and {bad} colluders leave fewer than two honest "
                          f"inputs in a sum of {n - drops}: lower the rates")
    return LightSecAggParameters(n, u, t, drops, bad, spare_replies)
