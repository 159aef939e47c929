"""The server's recovery of secrets from revealed shares, checked before anything is unmasked.

Every secret rebuilt at unmasking is verified: b_u against the commitment its dealer sent with
its share bundles, s_sk_v against the public key v advertised. The first t shares (by holder id,
so equal holder sets share Lagrange weights) are tried first; a secret that fails is rebuilt
from the shares that match their dealer's per-share commitments, and the holders whose shares
do not match are named. Fewer than t good shares, or good shares that still rebuild a wrong
secret (a dealer that dealt inconsistent shares), abort the round with the culprits named: an
unverified secret never reaches the sum.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from secagg import shamir
from secagg.errors import AbortError, ShamirError

from .commitments import share_matches
from .config import SecAggConfig
from .messages import PackedShareKeys
from .stages import Stage

Shares = list[tuple[int, bytes]]  # (holder, share), sorted by holder


@dataclass
class Recovery:
    """One kind of secret (``kind``: 0 s_sk, 1 b_u) for many owners; ``bad_holders`` collects
    who revealed a share that does not match its dealer's commitment."""

    config: SecAggConfig
    kind: int
    dealt: Mapping[int, PackedShareKeys]
    verify: Callable[[int, bytes], bool]
    bad_holders: set[int] = field(default_factory=set)

    def rebuild(self, shares: Mapping[int, Shares]) -> dict[int, bytes]:
        """Every owner's verified secret, or ``AbortError`` naming whom it could not trust."""
        t = self.config.t
        for v, held in shares.items():
            if len(held) < t:
                raise AbortError(Stage.UNMASKING.value, t, len(held),
                                 f"shares of client {v}'s secret")
        got = _first_try({v: held[:t] for v, held in shares.items()}, t)
        for v, secret in got.items():
            if secret is None or not self.verify(v, secret):
                got[v] = self._repair(v, shares[v])
        return got  # type: ignore[return-value]

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


def _first_try(jobs: Mapping[int, Shares], t: int) -> dict[int, bytes | None]:
    """Batched reconstruction; a batch that fails on inconsistent shares is redone one by one."""
    owners = list(jobs)
    try:
        out = shamir.reconstruct_many([jobs[v] for v in owners], t, 1)
        return {v: row[0] for v, row in zip(owners, out, strict=True)}
    except ShamirError:
        return {v: _one(jobs[v], t) for v in owners}


def _one(shares: Sequence[tuple[int, bytes]], t: int) -> bytes | None:
    try:
        return shamir.reconstruct_secrets(shares, t, 1)[0]
    except ShamirError:
        return None
