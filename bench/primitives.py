"""Per-client primitive costs at one round's sizes, measured in this process.

- Mask expansion: ``secagg.masking.accumulate_masks`` adding k+1 signed masks (k pairwise, one
  self mask) of ``dim`` values into one vector, against the raw AES-128-CTR keystream of exactly
  the same bytes (one ``cryptography`` encryptor per key, ``update_into`` a preallocated buffer,
  nothing else). Both are timed alternately, best of several repeats (the machine is shared).
- Shamir: one client's split of its two 32-byte secrets (s_sk and b_u, one ``split_secrets`` call
  each, as ``SecAggClient.share_keys`` does) to its k neighbours and itself at the round's t; and
  the server's reconstruction of one client's secret from t shares (Lagrange weights included).
  That is the same work for a survivor's b_u and a dropped client's s_sk.

Seeds and secrets come from ``os.urandom`` / ``AesCtrRandom``; nothing here uses ``random``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from secagg import masking, prg, shamir
from secagg.csprng import AesCtrRandom

SESSION = b"bench-scaling-session"
#: Stop repeating once one measurement has moved this many keystream bytes in total.
_BYTES_BUDGET = 1 << 28


def best_seconds(fn: Callable[[], object], repeat: int) -> float:
    """Minimum wall seconds of ``repeat`` calls."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def mask_vs_aes(seeds: int, dim: int, bits: int = 32) -> dict[str, float]:
    """Seconds of ``accumulate_masks`` (``seeds`` masks of ``dim`` values) and of raw AES-CTR."""
    dtype = prg.dtype_for_bits(bits)
    nbytes = dim * dtype.itemsize
    seed_list = [os.urandom(prg.SEED_BYTES) for _ in range(seeds)]
    signs = [1 if i % 2 else -1 for i in range(seeds)]
    aes_keys = [os.urandom(16) for _ in range(seeds)]
    zeros = bytes(nbytes)
    buf = bytearray(nbytes + 15)
    acc = np.zeros(dim, dtype=dtype)

    def raw() -> None:
        for key in aes_keys:
            Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update_into(zeros, buf)

    def masked() -> None:
        masking.accumulate_masks(acc, seed_list, signs, SESSION, bits)

    masked()  # numba JIT and caches, untimed
    repeat = int(max(3, min(15, _BYTES_BUDGET // max(1, seeds * nbytes))))
    raw_s = mask_s = float("inf")
    for _ in range(repeat):  # alternate, so a burst of load hits both
        raw_s = min(raw_s, best_seconds(raw, 1))
        mask_s = min(mask_s, best_seconds(masked, 1))
    total = seeds * nbytes
    return {"mask_seeds": seeds, "mask_s": mask_s, "aes_s": raw_s,
            "mask_to_aes_ratio": mask_s / raw_s, "aes_gb_per_s": total / raw_s / 1e9}


def shamir_costs(points: int, threshold: int, repeat: int = 5) -> dict[str, float]:
    """One client's two-secret split to ``points`` parties, and one secret's reconstruction."""
    rng = AesCtrRandom(os.urandom(32))
    xs = list(range(1, points + 1))
    secrets = [os.urandom(32), os.urandom(32)]

    def split() -> dict[int, bytes]:
        first = shamir.split_secrets(secrets[:1], threshold, xs, rng)
        shamir.split_secrets(secrets[1:], threshold, xs, rng)
        return first

    shares = split()  # numba JIT, untimed
    job = [(x, shares[x]) for x in xs[-threshold:]]
    if shamir.reconstruct_secrets(job, threshold, 1) != secrets[:1]:
        raise AssertionError("Shamir reconstruction returned the wrong secret")
    return {
        "shamir_points": points,
        "shamir_split_s": best_seconds(split, repeat),
        "shamir_reconstruct_s": best_seconds(
            lambda: shamir.reconstruct_secrets(job, threshold, 1), repeat),
    }
