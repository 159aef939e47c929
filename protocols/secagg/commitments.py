"""A dealer's commitments to its Shamir shares and to its self-mask seed.

With its share bundles each client sends the server a 16-byte commitment to every share it
dealt (per holder: the share of s_sk, then the share of b_u) and a 32-byte commitment to b_u.
The server checks every reconstruction (b_u against its commitment, s_sk against the advertised
s_pk); when one fails it checks the revealed shares one by one, names the holders whose shares
do not match, and rebuilds from the good ones. A reconstruction that cannot be verified is never
added to the sum. The shares are uniformly random field elements and b_u has 256 bits, so the
commitments reveal nothing the server may not learn.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence

from secagg import commit, labels

from .config import SecAggConfig
from .messages import SHARE_COMMIT_BYTES

KEY_SHARE, MASK_SHARE = 0, 1  # which secret a share belongs to: s_sk or b_u


def share_commitments(
    config: SecAggConfig, dealer: int, holders: Sequence[int],
    key_shares: Mapping[int, bytes], mask_shares: Mapping[int, bytes],
) -> bytes:
    """Per holder in ``holders`` order: commitment to its key share, then to its mask share."""
    one = commit.digester(labels.SHARE_COMMIT, config.session_id, SHARE_COMMIT_BYTES)
    d = dealer.to_bytes(4, "big")
    out = []
    for h in holders:
        dh = d + h.to_bytes(4, "big")
        out.append(one(dh + _KEY_KIND, key_shares[h]))
        out.append(one(dh + _MASK_KIND, mask_shares[h]))
    return b"".join(out)


def share_commitment(config: SecAggConfig, dealer: int, holder: int, kind: int,
                     share: bytes) -> bytes:
    """The dealer's commitment to the share of one secret that ``holder`` holds."""
    return commit.digest(labels.SHARE_COMMIT, config.session_id,
                         _share_context(dealer, holder, kind), share, SHARE_COMMIT_BYTES)


def share_matches(config: SecAggConfig, dealer: int, holders: Sequence[int], commitments: bytes,
                  holder: int, kind: int, share: bytes) -> bool:
    """Whether ``share`` is what ``dealer`` committed to for ``holder``."""
    if holder not in holders:
        return False
    at = (holders.index(holder) * 2 + kind) * SHARE_COMMIT_BYTES
    expected = commitments[at : at + SHARE_COMMIT_BYTES]
    return commit.matches(expected, labels.SHARE_COMMIT, config.session_id,
                          _share_context(dealer, holder, kind), share)


def own_shares_match(config: SecAggConfig, holder: int,
                     dealt: Iterable[tuple[int, bytes, bytes, bytes]]) -> list[bool]:
    """For each ``(dealer, commitments, key_share, mask_share)`` that ``holder`` received, with
    ``commitments`` the dealer's two commitments for ``holder`` (key share, then mask share):
    whether both shares open them. ``share_matches`` for each, with the session checked once;
    constant-time comparisons, and both shares always checked."""
    one = commit.digester(labels.SHARE_COMMIT, config.session_id, SHARE_COMMIT_BYTES)
    h = holder.to_bytes(4, "big")
    out = []
    for dealer, commits, key, mask in dealt:
        dh = dealer.to_bytes(4, "big") + h
        key_ok = hmac.compare_digest(one(dh + _KEY_KIND, key), commits[:SHARE_COMMIT_BYTES])
        mask_ok = hmac.compare_digest(one(dh + _MASK_KIND, mask),
                                      commits[SHARE_COMMIT_BYTES : 2 * SHARE_COMMIT_BYTES])
        out.append(key_ok and mask_ok)
    return out


def _share_context(dealer: int, holder: int, kind: int) -> bytes:
    return dealer.to_bytes(4, "big") + holder.to_bytes(4, "big") + bytes((kind,))


_KEY_KIND, _MASK_KIND = bytes((KEY_SHARE,)), bytes((MASK_SHARE,))


def seed_commitment(config: SecAggConfig, dealer: int, seed: bytes) -> bytes:
    """The dealer's commitment to its self-mask seed b_u."""
    return commit.digest(labels.SELF_SEED_COMMIT, config.session_id,
                         dealer.to_bytes(4, "big"), seed)


def seed_matches(config: SecAggConfig, dealer: int, expected: bytes, seed: bytes) -> bool:
    """Whether a reconstructed b_u is the one the dealer committed to."""
    return commit.matches(expected, labels.SELF_SEED_COMMIT, config.session_id,
                          dealer.to_bytes(4, "big"), seed)
