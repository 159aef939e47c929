"""Safe combined mask operations: add many signed PRG masks into one vector mod 2^b, in place.

The work is fused per chunk of the vector: for each seed, AES-CTR writes the keystream chunk into
one reused buffer (L2-sized) and a numba kernel adds or subtracts it into ``acc``. Memory stays
O(len(acc)) whatever the number of seeds, and no full-length temporary is ever made.
:func:`accumulate_mask_jobs` spreads many batches of masks over threads (AES-CTR and the kernel
release the GIL), at the cost of one full-length vector per thread.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import numpy as np

from . import kdf, kernels, keys, labels, prg

T = TypeVar("T")
R = TypeVar("R")

#: A deferred batch of masks: called (in a worker thread) it returns ``(seeds, signs)``.
MaskJob = Callable[[], tuple[Sequence[bytes], Sequence[int]]]

#: Keystream bytes per chunk. 128 KiB: the buffer, the acc chunk and the zero source stay in a
#: 512 KiB L2, and update_into's per-call cost is amortised. Tuned with
#: bench/micro/test_bench_masking.py (32-64 KiB chunks measured slower, 256 KiB no faster).
CHUNK_BYTES = 1 << 17
#: Most threads :func:`accumulate_mask_jobs` starts by default (each holds a full-length vector).
MAX_WORKERS = 8


def accumulate_masks(
    acc: np.ndarray,
    seeds: Sequence[bytes],
    signs: Sequence[int],
    session_id: bytes,
    bits: int,
    start: int = 0,
) -> np.ndarray:
    """In place: ``acc[i] += sum_j signs[j] * PRG(seeds[j], session)[start + i]  mod 2^bits``.

    ``acc`` must be a C-contiguous vector of ``dtype_for_bits(bits)``; its result is reduced to
    [0, 2^bits). Returns ``acc``. Nothing is modified if an argument is rejected.
    """
    dtype = _check_acc(acc, bits)
    sign_list = _check_seeds_signs(seeds, signs)
    if start < 0:
        raise ValueError("start must be >= 0")
    streams = prg.open_streams(prg.prg_keys(seeds, session_id), start, dtype.itemsize)
    mask = dtype.type(prg.value_mask(bits))
    reduce = bits < 8 * dtype.itemsize
    chunk = _chunk_values(acc.shape[0], dtype.itemsize)
    # update_into needs 15 bytes of room past the data: give the one reused buffer 16 extra bytes
    # so every keystream chunk lands in place, block-aligned, with no tail copy.
    raw = np.empty(chunk * dtype.itemsize + prg.BLOCK_BYTES, dtype=np.uint8)
    zeros = _zero_source(chunk * dtype.itemsize)
    pairs = list(zip(streams, sign_list, strict=True))
    add = kernels.accumulate_words
    for lo in range(0, acc.shape[0], chunk):
        part = acc[lo : lo + chunk]
        nbytes = part.shape[0] * dtype.itemsize
        src = zeros[:nbytes].data
        words = raw[:nbytes].view(dtype)
        out = raw.data
        for enc, sign in pairs:
            enc.update_into(src, out)
            add(part, words, sign)
        if reduce:
            kernels.mask_inplace(part, mask)
    return acc


_ZERO_SOURCE = np.zeros(0, dtype=np.uint8)


def _zero_source(nbytes: int) -> np.ndarray:
    """At least ``nbytes`` read-only zero bytes (the CTR input: output = keystream), made once
    per process rather than once per call: a fresh 128 KiB buffer costs page faults each time."""
    global _ZERO_SOURCE
    zeros = _ZERO_SOURCE
    if zeros.shape[0] < nbytes:
        zeros = np.zeros(max(nbytes, CHUNK_BYTES), dtype=np.uint8)
        zeros.flags.writeable = False
        _ZERO_SOURCE = zeros
    return zeros


def accumulate_mask_jobs(
    acc: np.ndarray,
    jobs: Sequence[MaskJob],
    session_id: bytes,
    bits: int,
    *,
    workers: int | None = None,
) -> np.ndarray:
    """In place: add to ``acc`` the masks of every job, each job returning ``(seeds, signs)``.

    Jobs run on ``workers`` threads, each thread into its own zeroed vector, and those vectors are
    added to ``acc`` at the end, so ``acc`` is untouched if a job or argument raises. A job
    derives its seeds when called, in its thread; libsodium's X25519, AES-CTR and the numba
    kernel release the GIL, so only short Python steps (HKDF, cipher setup) serialize. Same
    result as one :func:`accumulate_masks` over all the seeds, for any number of workers
    (default: one per CPU this process may use, at most :data:`MAX_WORKERS`).
    """
    dtype = _check_acc(acc, bits)
    if workers is None:
        workers = default_workers()
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
    prg.value_mask(bits)
    kdf.build_info(labels.PRG_KEY, session_id)  # a bad session id raises before any job runs
    queue = iter(jobs)
    lock = threading.Lock()

    def run() -> np.ndarray:
        local = np.zeros(acc.shape[0], dtype=dtype)
        while True:
            with lock:
                job = next(queue, None)
            if job is None:
                return local
            seeds, signs = job()
            accumulate_masks(local, seeds, signs, session_id, bits)

    helpers = min(workers, len(jobs)) - 1  # the calling thread is one of the workers
    if helpers < 1:
        partials = [run()]
    else:
        pool = _shared_pool()
        futures = [pool.submit(run) for _ in range(helpers)]
        try:
            partials = [run()]
        finally:  # a raising job stops the others: no job is left to run
            with lock:
                queue = iter(())
        partials += [f.result() for f in futures]
    for local in partials:
        kernels.accumulate_words(acc, local, 1)
    if bits < 8 * dtype.itemsize:
        kernels.mask_inplace(acc, dtype.type(prg.value_mask(bits)))
    return acc


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _shared_pool() -> ThreadPoolExecutor:
    """The helper threads, started once per process and reused by every call: a round makes
    a call per client, and starting threads per call cost more than the masks at m = 10^4.
    Pool threads only run jobs (never wait on the pool), and every caller drains its own job
    queue itself, so calls from many threads at once cannot deadlock."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=MAX_WORKERS - 1,
                                       thread_name_prefix="secagg-mask")
        return _POOL


def parallel_map(
    fn: Callable[[T], R], items: Sequence[T], *, workers: int | None = None,
    min_per_thread: int = 2,
) -> list[R]:
    """``[fn(x) for x in items]`` spread over the mask threads (for work that releases the GIL,
    such as libsodium's X25519); the calling thread takes the first part. Exceptions propagate.

    At most ``workers`` threads (default: :func:`default_workers`), each with at least
    ``min_per_thread`` items: a thread's hand-off and GIL traffic cost tens of microseconds, so
    a few small items run faster inline."""
    workers = default_workers() if workers is None else workers
    workers = min(workers, len(items) // max(1, min_per_thread))
    if workers < 2:
        return [fn(x) for x in items]
    step = -(-len(items) // workers)
    parts = [items[i : i + step] for i in range(0, len(items), step)]
    pool = _shared_pool()
    futures = [pool.submit(lambda p: [fn(x) for x in p], p) for p in parts[1:]]
    out = [fn(x) for x in parts[0]]
    for f in futures:
        out += f.result()
    return out


def fixed_job(seeds: Sequence[bytes], signs: Sequence[int]) -> MaskJob:
    """A job whose seeds are already known (e.g. reconstructed self-mask seeds)."""
    return lambda: (seeds, signs)


def pairwise_job(
    private: keys.MaskKeyPair,
    self_id: int,
    peers: Sequence[tuple[int, bytes]],
    session_id: bytes,
) -> MaskJob:
    """A job of the signed pairwise masks δ·PRG(s_uv) of ``self_id`` with each ``(v, s_pk_v)``.

    δ = +1 if ``self_id < v`` else -1. The seeds are derived when the job runs,
    in its worker thread (:func:`secagg.keys.pairwise_seeds` releases the GIL).
    """
    signs = [1 if self_id < v else -1 for v, _ in peers]
    return lambda: (keys.pairwise_seeds(private, self_id, peers, session_id), signs)


def default_workers() -> int:
    """Threads :func:`accumulate_mask_jobs` uses by default: the usable CPUs, capped (looked up
    once per process: :func:`usable_cpus`) and by :func:`limit_threads`."""
    return max(1, min(MAX_WORKERS, _THREAD_LIMIT, usable_cpus()))


_THREAD_LIMIT = MAX_WORKERS


def limit_threads(count: int) -> None:
    """Use at most ``count`` mask threads in this process from now on: for a process that
    shares the machine with others doing the same work (``protocols.pool``'s workers)."""
    global _THREAD_LIMIT
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer >= 1, got {count!r}")
    _THREAD_LIMIT = count


@functools.cache
def usable_cpus() -> int:
    """The CPUs this process may run on, when first asked (``usable_cpus.cache_clear()`` to
    look again, e.g. after changing the affinity)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def _chunk_values(n: int, itemsize: int) -> int:
    """Values per chunk: at most CHUNK_BYTES, and equal-sized so no chunk is a ragged sliver."""
    most = max(1, CHUNK_BYTES // itemsize)
    pieces = max(1, -(-n // most))
    return max(1, -(-n // pieces))


def add_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``(a + b) mod 2^bits`` as a new vector of ``dtype_for_bits(bits)``."""
    out = np.empty_like(_check_pair(a, b, bits))
    kernels.add_mod_into(a, b, out, out.dtype.type(prg.value_mask(bits)))
    return out


def sub_mod(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """``(a - b) mod 2^bits`` as a new vector of ``dtype_for_bits(bits)``."""
    out = np.empty_like(_check_pair(a, b, bits))
    kernels.sub_mod_into(a, b, out, out.dtype.type(prg.value_mask(bits)))
    return out


def _check_acc(acc: np.ndarray, bits: int) -> np.dtype:
    dtype = prg.dtype_for_bits(bits)
    if not isinstance(acc, np.ndarray) or acc.dtype != dtype:
        got = getattr(acc, "dtype", type(acc).__name__)
        raise TypeError(f"acc must be a numpy array of {dtype} for bits={bits}, got {got}")
    if acc.ndim != 1 or not acc.flags.c_contiguous or not acc.flags.writeable:
        raise ValueError("acc must be a writeable C-contiguous 1-D array")
    return dtype


def _check_seeds_signs(seeds: Sequence[bytes], signs: Sequence[int]) -> list[int]:
    if len(seeds) != len(signs):
        raise ValueError(f"{len(seeds)} seeds but {len(signs)} signs")
    for s in seeds:
        if not isinstance(s, (bytes, bytearray)) or len(s) != prg.SEED_BYTES:
            raise ValueError(f"every mask seed must be {prg.SEED_BYTES} bytes")
    out = []
    for g in signs:
        if isinstance(g, bool) or g not in (1, -1):
            raise ValueError(f"signs must be +1 or -1, got {g!r}")
        out.append(int(g))
    return out


def _check_pair(a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    dtype = prg.dtype_for_bits(bits)
    for name, x in (("a", a), ("b", b)):
        if not isinstance(x, np.ndarray) or x.dtype != dtype or x.ndim != 1:
            raise TypeError(f"{name} must be a 1-D numpy array of {dtype} for bits={bits}")
    if a.shape != b.shape:
        raise ValueError(f"shape mismatch: {a.shape} vs {b.shape}")
    return a
