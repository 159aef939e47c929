"""t-of-n Shamir secret sharing of many 32-byte secrets at once over GF(2^31 − 1).

Safe layer: :func:`split_secrets` gives every party one fixed-size blob holding its share of
every secret; :func:`reconstruct_secrets` and the batched :func:`reconstruct_many` interpolate at
0 from any ``threshold`` shares. Fewer than ``threshold`` shares reveal nothing and cannot
reconstruct. The field and the limb split are explained in :mod:`secagg.field`.

Blob layout: for each secret in order, its limbs (least significant 30 bits first), each a
little-endian uint32 below p; ``share_size`` bytes in all. ``threshold = 1`` is accepted (a
degree-0 polynomial: every share *is* the secret) because it is valid Shamir; the protocols
enforce their own minimum. Reconstruction uses exactly ``threshold`` shares — the first ones
given — after validating every share it was handed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numba import njit

from . import field
from .csprng import RandomSource, resolve
from .errors import ShamirError

PRIME = field.PRIME
LIMB_BITS = 30
_LIMB_MASK = (1 << LIMB_BITS) - 1
_WIRE = np.dtype("<u4")


def limbs_per_secret(secret_len: int = 32) -> int:
    """Field elements that carry one secret of ``secret_len`` bytes."""
    return -(-secret_len * 8 // LIMB_BITS)


def share_size(num_secrets: int, secret_len: int = 32) -> int:
    """Bytes of one party's share blob for ``num_secrets`` secrets."""
    if num_secrets < 1 or secret_len < 1:
        raise ShamirError(f"need num_secrets >= 1 and secret_len >= 1, got {num_secrets}, {secret_len}")
    return num_secrets * limbs_per_secret(secret_len) * _WIRE.itemsize


def split_secrets(
    secrets: Sequence[bytes], threshold: int, xs: Sequence[int], rng: RandomSource | None = None
) -> dict[int, bytes]:
    """Share every secret t-of-len(xs); return each party's blob keyed by its x-coordinate."""
    points = _check_points(xs)
    secret_len = _check_secrets(secrets)
    if not 1 <= threshold <= len(points):
        raise ShamirError(f"threshold must be in [1, {len(points)}], got {threshold}")
    limbs = np.concatenate([_to_limbs(s) for s in secrets])
    coeffs = np.empty((limbs.size, threshold), dtype=np.uint64)
    coeffs[:, 0] = limbs
    coeffs[:, 1:] = _uniform_field(resolve(rng), (limbs.size, threshold - 1))
    out = np.empty((points.size, limbs.size), dtype=np.uint64)
    field.eval_polys(coeffs, points, out)
    wire = out.astype(_WIRE)
    assert share_size(len(secrets), secret_len) == wire.shape[1] * _WIRE.itemsize
    return {int(x): wire[i].tobytes() for i, x in enumerate(points)}


def reconstruct_secrets(
    shares: Sequence[tuple[int, bytes]], threshold: int, num_secrets: int, secret_len: int = 32
) -> list[bytes]:
    """Interpolate every secret from the first ``threshold`` of ``shares`` (all are validated)."""
    return reconstruct_many([shares], threshold, num_secrets, secret_len)[0]


def reconstruct_many(
    jobs: Sequence[Sequence[tuple[int, bytes]]],
    threshold: int,
    num_secrets: int,
    secret_len: int = 32,
) -> list[list[bytes]]:
    """Reconstruct many independent sharings; Lagrange weights are computed once per x-set.

    Every job is validated before any is interpolated, so a bad share anywhere raises
    :class:`ShamirError` and nothing is returned.
    """
    if threshold < 1:
        raise ShamirError(f"threshold must be at least 1, got {threshold}")
    size = share_size(num_secrets, secret_len)
    parsed = [_parse_job(job, threshold, size) for job in jobs]
    results: list[list[bytes]] = [[] for _ in jobs]
    groups: dict[bytes, list[int]] = {}
    for idx, (xs, _) in enumerate(parsed):
        groups.setdefault(xs.tobytes(), []).append(idx)
    for members in groups.values():
        weights = np.empty(threshold, dtype=np.uint64)
        field.lagrange_at_zero(parsed[members[0]][0], weights)
        ys = np.stack([parsed[i][1] for i in members])
        out = np.empty((len(members), ys.shape[2]), dtype=np.uint64)
        field.combine(weights, ys, out)
        for row, idx in zip(out, members, strict=True):
            results[idx] = _from_limbs(row, num_secrets, secret_len)
    return results


def interpolate_groups(starts: np.ndarray, order: np.ndarray, holders: np.ndarray,
                       shares: np.ndarray, threshold: int) -> np.ndarray:
    """Per group r, f(0) limb by limb from its first ``threshold`` shares: rows ``shares[j]``
    for j in ``order[starts[r] : starts[r] + threshold]``, at x = ``holders[j]``.

    For many sharings that each have their own x-set (a SecAgg+ server's owners), where
    :func:`reconstruct_many` would find no Lagrange weights to share. The caller has checked
    what :func:`reconstruct_many` checks (x distinct in [1, p), limbs < p, enough shares);
    :func:`secrets_from_limbs` turns the rows into secrets.
    """
    out = np.empty((starts.shape[0], shares.shape[1]), dtype=np.uint64)
    _interpolate(starts, order, holders, shares, threshold, out)
    return out


@njit(cache=True)
def _interpolate(starts, order, holders, shares, t, out):  # pragma: no cover - compiled
    xs = np.empty(t, dtype=np.uint64)
    weights = np.empty(t, dtype=np.uint64)
    for r in range(starts.shape[0]):
        first = starts[r]
        for i in range(t):
            xs[i] = np.uint64(holders[order[first + i]])
        field.lagrange_at_zero(xs, weights)
        for limb in range(shares.shape[1]):
            acc = np.uint64(0)
            for i in range(t):
                acc = field.muladd(weights[i], np.uint64(shares[order[first + i], limb]), acc)
            out[r, limb] = acc


def secrets_from_limbs(limbs: np.ndarray, secret_len: int = 32) -> list[bytes | None]:
    """Per row of interpolated limbs (one secret each), the secret as :func:`reconstruct_many`
    would return it, or None where a limb is too wide for its slot (inconsistent shares)."""
    if secret_len % 8 or limbs.shape[1] != limbs_per_secret(secret_len):
        raise ValueError("secret_len must be a multiple of 8 and match the limbs per row")
    count = limbs.shape[1]
    top_bits = 8 * secret_len - LIMB_BITS * (count - 1)
    bad = (limbs[:, :-1] >> np.uint64(LIMB_BITS)).any(axis=1) \
        | (limbs[:, -1] >> np.uint64(top_bits)).astype(bool)
    words = np.zeros((limbs.shape[0], secret_len // 8), dtype=np.uint64)  # little-endian
    for i in range(count):  # limb i holds bits [30 i, 30 i + 30) of the secret
        word, off = divmod(LIMB_BITS * i, 64)
        words[:, word] |= limbs[:, i] << np.uint64(off)
        if off + LIMB_BITS > 64 and word + 1 < words.shape[1]:
            words[:, word + 1] |= limbs[:, i] >> np.uint64(64 - off)
    raw = np.ascontiguousarray(words.astype("<u8").view(np.uint8)[:, ::-1]).tobytes()
    return [None if b else raw[i * secret_len : (i + 1) * secret_len]
            for i, b in enumerate(bad.tolist())]


def _parse_job(job: Sequence[tuple[int, bytes]], threshold: int, size: int):
    """Validate every share of one job; return the first ``threshold`` (xs, ys), sorted by x.

    Sorting makes the x-set a canonical key, so jobs answered by the same parties share one set
    of Lagrange weights whatever order their shares arrived in.
    """
    job = list(job)
    if len(job) < threshold:
        raise ShamirError(f"need at least {threshold} shares to reconstruct, got {len(job)}")
    xs, blobs = zip(*job, strict=True)
    points = _check_points(xs)
    if (sizes := set(map(len, blobs))) != {size}:
        raise ShamirError(f"share blob must be {size} bytes, got sizes {sorted(sizes)}")
    ys = np.frombuffer(b"".join(blobs), dtype=_WIRE).reshape(len(blobs), -1)
    if (ys >= PRIME).any():
        raise ShamirError("share value outside the field (limb >= p)")
    used = points[:threshold]
    order = np.argsort(used, kind="stable")
    return used[order], ys[:threshold][order].astype(np.uint64)


def _check_points(xs: Sequence[int]) -> np.ndarray:
    """Party x-coordinates as uint64: integers, distinct, in [1, p)."""
    arr = np.asarray(list(xs))
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ShamirError(f"x-coordinates must be integers in [1, {PRIME})")
    if arr.size and not (arr.min() >= 1 and arr.max() < PRIME):
        raise ShamirError(f"x-coordinates must lie in [1, {PRIME})")
    if np.unique(arr).size != arr.size:
        raise ShamirError("duplicate x-coordinate")
    return arr.astype(np.uint64)


def _check_secrets(secrets: Sequence[bytes]) -> int:
    if not secrets:
        raise ShamirError("nothing to share")
    if not all(isinstance(s, bytes | bytearray | memoryview) for s in secrets):
        raise ShamirError("secrets must be bytes")
    lengths = {len(s) for s in secrets}
    if len(lengths) != 1 or 0 in lengths:
        raise ShamirError("all secrets must be non-empty and of one length")
    return lengths.pop()


def _to_limbs(secret: bytes) -> np.ndarray:
    """Big-endian secret -> limbs of LIMB_BITS bits, least significant first (each < 2^30 < p)."""
    value = int.from_bytes(secret, "big")
    n = limbs_per_secret(len(secret))
    return np.array([(value >> (LIMB_BITS * i)) & _LIMB_MASK for i in range(n)], dtype=np.uint64)


def _from_limbs(row: np.ndarray, num_secrets: int, secret_len: int) -> list[bytes]:
    """Inverse of :func:`_to_limbs`; a limb too wide for its slot means inconsistent shares."""
    n = limbs_per_secret(secret_len)
    top_bits = secret_len * 8 - LIMB_BITS * (n - 1)
    out = []
    for s in range(num_secrets):
        limbs = [int(v) for v in row[s * n : (s + 1) * n]]
        if any(v > _LIMB_MASK for v in limbs[:-1]) or limbs[-1] >> top_bits:
            raise ShamirError("shares are inconsistent: a reconstructed limb is out of range")
        value = sum(v << (LIMB_BITS * i) for i, v in enumerate(limbs))
        out.append(value.to_bytes(secret_len, "big"))
    return out


def _uniform_field(rng: RandomSource, shape: tuple[int, int]) -> np.ndarray:
    """Uniform elements of GF(p) by rejection: 31 CSPRNG bits are uniform on [0, 2^31) = [0, p];
    the one value p (probability 2^-31 per draw) is redrawn, leaving exactly uniform [0, p)."""
    draws = np.empty(shape, dtype=np.uint32)
    rng.fill(draws)
    draws &= np.uint32(PRIME)
    while (bad := draws == PRIME).any():
        fresh = np.empty(int(bad.sum()), dtype=np.uint32)
        rng.fill(fresh)
        draws[bad] = fresh & np.uint32(PRIME)
    return draws.astype(np.uint64)
