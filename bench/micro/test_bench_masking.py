"""Mask expansion and accumulation of k+1 masks against raw AES-128-CTR of the same bytes.

Target (docs/performance.md): building y_u for k neighbours costs <= 2x the raw keystream, measured in the
same run. Raw = one AES-CTR ``update_into`` per key into a preallocated buffer (what a caller gets
from ``cryptography`` with no masking at all). Ratios use min times (the machine is shared).
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from bench.micro.conftest import RATIOS
from bench.primitives import best_seconds
from secagg import masking, prg

M = 10**6
BITS = 32
SESSION = b"bench-session-00"
WORD = prg.dtype_for_bits(BITS).itemsize


def _raw_keystream(keys: list[bytes], buf: bytearray, zeros: bytes) -> None:
    for key in keys:
        Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update_into(zeros, buf)


def _raw_for(nkeys: int) -> tuple[float, Callable[[], None]]:
    keys = [os.urandom(16) for _ in range(nkeys)]
    zeros = bytes(M * WORD)
    buf = bytearray(M * WORD + 15)

    def run() -> None:
        _raw_keystream(keys, buf, zeros)

    return best_seconds(run, 15), run


def _record(benchmark, name: str, raw: float, nbytes: int) -> None:
    secs = benchmark.stats.stats.min
    benchmark.extra_info.update(
        raw_aes_seconds=raw, ratio_to_raw_aes=secs / raw, raw_aes_gb_per_s=nbytes / raw / 1e9
    )
    RATIOS.append((name, secs, raw))
    print(f"\n{name}: {secs * 1e3:.2f} ms, raw AES {raw * 1e3:.2f} ms, ratio {secs / raw:.2f}")


def test_raw_aes_ctr_keystream(benchmark) -> None:
    raw, run = _raw_for(1)
    benchmark(run)
    gbps = M * WORD / benchmark.stats.stats.min / 1e9
    benchmark.extra_info["gb_per_s"] = gbps
    RATIOS.append((f"raw AES-128-CTR 4 MB ({gbps:.2f} GB/s)", benchmark.stats.stats.min, raw))


def test_expand_mask(benchmark) -> None:
    raw, _ = _raw_for(1)
    seed = os.urandom(32)
    out = np.empty(M, dtype=prg.dtype_for_bits(BITS))
    benchmark.pedantic(prg.expand_mask, args=(seed, SESSION, M, BITS, out), rounds=200,
                       warmup_rounds=5)
    _record(benchmark, "expand_mask m=1e6 b=32", raw, M * WORD)


@pytest.mark.parametrize("k", [10, 30])
def test_accumulate_k_plus_1_masks(benchmark, k: int) -> None:
    raw, _ = _raw_for(k + 1)
    seeds = [os.urandom(32) for _ in range(k + 1)]
    signs = [1 if i % 2 else -1 for i in range(k + 1)]
    acc = np.zeros(M, dtype=prg.dtype_for_bits(BITS))
    benchmark.pedantic(masking.accumulate_masks, args=(acc, seeds, signs, SESSION, BITS),
                       rounds=15, warmup_rounds=2)
    _record(benchmark, f"accumulate {k + 1} masks m=1e6 b=32", raw, (k + 1) * M * WORD)
