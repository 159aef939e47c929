"""Who shares a secure-aggregation instance: the public, seeded split of a cohort into groups.

Grouped (hierarchical) aggregation runs one secure-aggregation instance per group and adds the
group sums, so the server learns every group's sum: the group, not the cohort, is the privacy
unit. The split is therefore a public function of the sorted cohort and a public round seed
that the server must not be able to choose: a server free to pick the groups could put one
honest client with clients it controls, and their inputs subtracted from the group sum would
leave the honest input bare. Sizes are balanced (they differ by at most one) and never below
``min_group_size``; a cohort that cannot meet that is refused. See docs/grouped.md.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from secagg import labels
from secagg.errors import ConfigError

from .simulation import RoundPlan

#: Domain separation of the public shuffle (not a secret: anyone can recompute the groups).
GROUP_LABEL = labels.GROUP_ASSIGNMENT


def round_seed(public_seed: bytes, round_no: int) -> bytes:
    """The grouping seed of one round: SHA-256 of the label, the run's public seed and the round."""
    if not isinstance(public_seed, bytes):
        raise ConfigError(f"seed must be bytes (a public value), got {type(public_seed).__name__}")
    return hashlib.sha256(GROUP_LABEL + b"/round" + len(public_seed).to_bytes(4, "big")
                          + public_seed + round_no.to_bytes(8, "big")).digest()


def group_count(n_clients: int, min_group_size: int, groups: int | None = None) -> int:
    """How many groups ``n_clients`` make: as many as keep every group at least
    ``min_group_size`` (or exactly ``groups``); ``ConfigError`` naming the sizes if none can."""
    _check_size("min_group_size", min_group_size)
    if n_clients < min_group_size:
        raise ConfigError(f"a cohort of {n_clients} clients cannot form one group of at least "
                          f"min_group_size={min_group_size}")
    if groups is None:
        return n_clients // min_group_size
    _check_size("groups", groups, low=1)
    if n_clients // groups < min_group_size:
        raise ConfigError(f"{n_clients} clients in {groups} groups leave a group of "
                          f"{n_clients // groups} < min_group_size={min_group_size}; use at most "
                          f"{n_clients // min_group_size} groups")
    return groups


def group_sizes(n_clients: int, min_group_size: int, groups: int | None = None) -> list[int]:
    """Balanced sizes, largest first: every one ≥ ``min_group_size``, differing by at most 1."""
    count = group_count(n_clients, min_group_size, groups)
    base, extra = divmod(n_clients, count)
    return [base + 1] * extra + [base] * (count - extra)


def split_groups(client_ids: Sequence[int], *, min_group_size: int, seed: bytes,
                 groups: int | None = None) -> tuple[tuple[int, ...], ...]:
    """The cohort's groups (each sorted): the ids ordered by SHA-256(label, seed, id), then cut
    into :func:`group_sizes`. The same ids and seed give the same groups, on any machine."""
    ids = sorted(set(client_ids))
    if len(ids) != len(client_ids):
        raise ConfigError("client_ids must be distinct")
    if not isinstance(seed, bytes) or len(seed) < 16:
        raise ConfigError("seed must be >= 16 public bytes the server cannot choose "
                          "(e.g. round_seed(beacon_value, round))")
    prefix = hashlib.sha256(GROUP_LABEL + len(seed).to_bytes(4, "big") + seed)
    def key(cid: int) -> bytes:
        h = prefix.copy()
        h.update(cid.to_bytes(8, "big"))
        return h.digest()
    order = sorted(ids, key=key)
    out, start = [], 0
    for size in group_sizes(len(ids), min_group_size, groups):
        out.append(tuple(sorted(order[start : start + size])))
        start += size
    return tuple(out)


def restrict_plan(plan: RoundPlan, members: Sequence[int]) -> RoundPlan:
    """``plan`` seen by one group: its members sampled, their dropouts and latencies."""
    keep = frozenset(members)
    return RoundPlan(
        round=plan.round, sampled=tuple(sorted(keep)), stages=plan.stages,
        dropouts={s: frozenset(d & keep) for s, d in plan.dropouts.items()},
        latency={s: {c: lat[c] for c in sorted(keep) if c in lat} for s, lat in plan.latency.items()},
        deadline=plan.deadline,
        deadlines=None if plan.deadlines is None else dict(plan.deadlines),
    )


def group_corrupt_rate(corrupt: float, n_clients: int, group_size: int, groups: int, *,
                       failure: float = 2.0 ** -30) -> float:
    """The corruption rate to plan each group for, when at most ``corrupt·n_clients`` (rounded
    up) of the cohort collude and the split is uniform given who they are: the smallest rate
    whose count no group exceeds, except with probability ``failure`` (hypergeometric tail,
    union bound over the groups). A group drawn at random holds the cohort's rate only on
    average; about half the groups hold more, so planning each for the cohort's rate is not
    enough."""
    if not 0.0 <= corrupt < 1.0:
        raise ConfigError(f"corrupt must be in [0, 1), got {corrupt!r}")
    if not 0.0 < failure < 1.0:
        raise ConfigError(f"failure must be in (0, 1), got {failure!r}")
    bad = math.ceil(corrupt * n_clients - 1e-9)
    top = min(bad, group_size)
    above = 0.0  # P(X > count), built from the top down
    for count in range(top, -1, -1):
        if groups * above > failure:
            return min(count + 1, top) / group_size
        above += _hypergeom_pmf(n_clients, bad, group_size, count)
    return 0.0


def _hypergeom_pmf(total: int, marked: int, draws: int, x: int) -> float:
    """P(X = x) for X ~ Hypergeometric(total, marked, draws), through log-gamma."""
    if draws - x > total - marked:
        return 0.0
    return math.exp(_log_choose(marked, x) + _log_choose(total - marked, draws - x)
                    - _log_choose(total, draws))


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def _check_size(name: str, value: object, low: int = 2) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ConfigError(f"{name} must be an int >= {low}, got {value!r}")


__all__ = ["GROUP_LABEL", "group_corrupt_rate", "group_count", "group_sizes", "restrict_plan", "round_seed",
           "split_groups"]
