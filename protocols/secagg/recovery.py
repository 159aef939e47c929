"""The server's recovery of secrets from revealed shares, checked before anything is unmasked.

Every secret rebuilt at unmasking is verified: b_u against the commitment its dealer sent with
its share bundles, s_sk_v against the public key v advertised. The first t shares (by holder id)
are tried first; a secret that fails is rebuilt from the shares that match their dealer's
per-share commitments, and the holders whose shares do not match are named. Fewer than t good
shares, or good shares that still rebuild a wrong secret (a dealer that dealt inconsistent
shares), abort the round with the culprits named: an unverified secret never reaches the sum.

The revealed shares of a round (n·k of them) are regrouped by owner with array operations
(:func:`group_shares`) and every owner's first try is interpolated by one compiled loop
(:func:`secagg.shamir.interpolate_groups`): each owner has its own holder set in a SecAgg+ graph, so there
are no shared Lagrange weights to batch by, and a Python step per owner cost more than the
arithmetic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from secagg import shamir
from secagg.errors import AbortError, ShamirError

from .commitments import share_matches
from .config import SecAggConfig
from .messages import PackedShareKeys
from .stages import Stage

Shares = list[tuple[int, bytes]]  # (holder, share), sorted by holder

_SECRET_BYTES = 32
_LIMBS = shamir.limbs_per_secret(_SECRET_BYTES)
_SHARE_BYTES = shamir.share_size(1, _SECRET_BYTES)
_TOP_BITS = 8 * _SECRET_BYTES - shamir.LIMB_BITS * (_LIMBS - 1)  # bits the last limb carries


@dataclass(frozen=True)
class Held:
    """Every revealed share of one kind of secret, grouped by owner: owner ``owners[i]``'s
    shares are ``holders[order[j]]`` and ``shares[order[j]]`` for j in ``starts[i] :
    starts[i] + counts[i]``, in holder id order."""

    owners: tuple[int, ...]
    counts: np.ndarray  # int64, per owner
    starts: np.ndarray  # int64, per owner
    order: np.ndarray  # int64: the shares by owner, then holder
    holders: np.ndarray  # int64, per share
    shares: np.ndarray  # uint32 limbs, one row per share

    def of(self, i: int) -> Shares:
        """Owner ``owners[i]``'s shares as (holder, share bytes) pairs, by holder id."""
        rows = self.order[int(self.starts[i]) : int(self.starts[i] + self.counts[i])]
        return [(int(self.holders[j]), self.shares[j].tobytes()) for j in rows.tolist()]


def group_shares(owners: Sequence[int], revealed: Iterable[tuple[int, bytes, bytes]]) -> Held:
    """Regroup what holders revealed by owner. ``revealed``: per holder, in holder id order,
    ``(holder, owner ids as big-endian u32, their shares back to back)``; shares of owners not
    in ``owners`` are left out."""
    hold: list[int] = []
    counts: list[int] = []
    ids: list[bytes] = []
    blobs: list[bytes] = []
    for who, owner_ids, blob in revealed:
        if len(blob) * 4 != len(owner_ids) * _SHARE_BYTES:
            raise ValueError("one share of one secret per owner id")
        hold.append(who)
        counts.append(len(owner_ids) // 4)
        ids.append(owner_ids)
        blobs.append(blob)
    owner = np.frombuffer(b"".join(ids), dtype=">u4").astype(np.int64)
    holder = np.repeat(np.asarray(hold, dtype=np.int64), counts)
    shares = np.frombuffer(b"".join(blobs), dtype="<u4").reshape(owner.size, _LIMBS)
    want = np.asarray(owners, dtype=np.int64)
    if want.size:
        # U3 and the dead come sorted: then no sorter is needed
        sorter = None if np.all(want[1:] > want[:-1]) else np.argsort(want, kind="stable")
        pos = np.minimum(np.searchsorted(want, owner, sorter=sorter), want.size - 1)
        if sorter is not None:
            pos = sorter[pos]
        keep = np.flatnonzero(want[pos] == owner)
        index = pos[keep]  # each kept share's owner, as a place in ``owners``
    else:
        keep = index = np.zeros(0, dtype=np.int64)
    order = keep[np.argsort(index, kind="stable")]  # by owner; holders stay in id order
    per_owner = np.bincount(index, minlength=want.size).astype(np.int64)
    starts = np.concatenate(([0], np.cumsum(per_owner)[:-1])).astype(np.int64)
    return Held(tuple(owners), per_owner, starts, order, holder, shares)


@dataclass
class Recovery:
    """One kind of secret (``kind``: 0 s_sk, 1 b_u) for many owners; ``bad_holders`` collects
    who revealed a share that does not match its dealer's commitment."""

    config: SecAggConfig
    kind: int
    dealt: Mapping[int, PackedShareKeys]
    verify: Callable[[int, bytes], bool]
    bad_holders: set[int] = field(default_factory=set)

    def rebuild(self, held: Held) -> dict[int, bytes]:
        """Every owner's verified secret, or ``AbortError`` naming whom it could not trust."""
        t = self.config.t
        short = np.flatnonzero(held.counts < t)
        if short.size:
            i = int(short[0])
            raise AbortError(Stage.UNMASKING.value, t, int(held.counts[i]),
                             f"shares of client {held.owners[i]}'s secret")
        got = {}
        for i, (v, secret) in enumerate(zip(held.owners, _first_try(held, t), strict=True)):
            if secret is None or not self.verify(v, secret):
                secret = self._repair(v, held.of(i))
            got[v] = secret
        return got

    def _repair(self, owner: int, held: Shares) -> bytes:
        """Rebuild one secret from the shares that open its dealer's commitments."""
        t = self.config.t
        dealt = self.dealt[owner]
        holders = dealt.holders()
        good = [(h, s) for h, s in held if share_matches(
            self.config, owner, holders, dealt.share_commitments, h, self.kind, s)]
        bad = sorted({h for h, _ in held} - {h for h, _ in good})
        self.bad_holders.update(bad)
        if len(good) < t:
            raise AbortError(Stage.UNMASKING.value, t, len(good),
                             f"good shares of client {owner}'s secret; clients {bad} revealed "
                             "shares that do not match the dealer's commitments")
        secret = _one(good[:t], t)
        if secret is None or not self.verify(owner, secret):
            raise AbortError(Stage.UNMASKING.value, t, len(good),
                             f"client {owner} dealt shares that do not rebuild the secret it "
                             "committed to")
        return secret


def _first_try(held: Held, t: int) -> list[bytes | None]:
    """Every owner's secret from its first t shares (by holder id), as ``shamir`` would
    rebuild it; None where the shares are inconsistent (a limb out of range)."""
    if not held.owners:
        return []
    limbs = shamir.interpolate_groups(held.starts, held.order, held.holders, held.shares, t)
    return shamir.secrets_from_limbs(limbs, _SECRET_BYTES)


def _one(shares: Sequence[tuple[int, bytes]], t: int) -> bytes | None:
    try:
        return shamir.reconstruct_secrets(shares, t, 1)[0]
    except ShamirError:
        return None
