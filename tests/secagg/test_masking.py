"""Mask accumulation and mod-2^b arithmetic: numba kernels against the pure-NumPy references."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from secagg import kernels, keys, masking, prg
from secagg.errors import ProtocolViolation

SESSION = b"mask-test-sessio"
BITS = st.integers(8, 64)
SEEDS = st.binary(min_size=32, max_size=32)
SIGNS = st.sampled_from([1, -1])


@contextmanager
def small_chunks(nbytes: int) -> Iterator[None]:
    """Force many chunks (and a ragged last one) so chunk boundaries are exercised."""
    old = masking.CHUNK_BYTES
    masking.CHUNK_BYTES = nbytes
    try:
        yield
    finally:
        masking.CHUNK_BYTES = old


@st.composite
def vectors(draw, bits: int, min_size: int = 0, max_size: int = 400) -> np.ndarray:
    n = draw(st.integers(min_size, max_size))
    dtype = prg.dtype_for_bits(bits)
    return draw(arrays(dtype, n, elements=st.integers(0, 2**bits - 1)))


@st.composite
def vector_pairs(draw) -> tuple[int, np.ndarray, np.ndarray]:
    bits = draw(BITS)
    a = draw(vectors(bits))
    b = draw(arrays(a.dtype, a.shape[0], elements=st.integers(0, 2**bits - 1)))
    return bits, a, b


@given(st.sampled_from([np.uint32, np.uint64]), st.integers(0, 500), SIGNS, st.data())
@settings(deadline=None)  # the first call may load or compile the numba kernel
def test_accumulate_kernel_equals_reference(dtype, n: int, sign: int, data) -> None:
    top = np.iinfo(dtype).max
    acc = data.draw(arrays(dtype, n, elements=st.integers(0, top)))
    words = data.draw(arrays(dtype, n, elements=st.integers(0, top)))
    expected = kernels._reference_accumulate(acc, words, sign)
    kernels.accumulate_words(acc, words, sign)
    assert np.array_equal(acc, expected)


@given(vector_pairs())
@settings(deadline=None)
def test_add_sub_mod_equal_reference(case) -> None:
    bits, a, b = case
    s, d = masking.add_mod(a, b, bits), masking.sub_mod(a, b, bits)
    assert s.dtype == a.dtype and np.array_equal(s, kernels._reference_add_mod(a, b, bits))
    assert np.array_equal(d, kernels._reference_sub_mod(a, b, bits))
    assert np.array_equal(masking.add_mod(d, b, bits), a)  # the group law


@given(BITS, st.lists(st.tuples(SEEDS, SIGNS), max_size=5), st.integers(0, 300),
       st.integers(0, 100), st.sampled_from([16, 48, 1 << 17]), st.data())
@settings(max_examples=60, deadline=None)
def test_accumulate_masks_equals_reference(bits, pairs, n, start, chunk_bytes, data) -> None:
    acc = data.draw(vectors(bits, n, n))
    seeds, signs = [p[0] for p in pairs], [p[1] for p in pairs]
    masks = [prg.expand_mask(s, SESSION, n, bits, start=start) for s in seeds]
    expected = kernels._reference_accumulate_masks(acc, masks, signs, bits)
    with small_chunks(chunk_bytes):
        out = masking.accumulate_masks(acc, seeds, signs, SESSION, bits, start=start)
    assert out is acc
    assert np.array_equal(acc, expected)


@given(BITS, st.lists(st.tuples(SEEDS, SIGNS), min_size=1, max_size=4),
       st.lists(st.integers(0, 200), max_size=4))
@settings(max_examples=40, deadline=None)
def test_chunked_with_start_offsets_equals_whole(bits, pairs, cut_lengths) -> None:
    seeds, signs = [p[0] for p in pairs], [p[1] for p in pairs]
    n = sum(cut_lengths) + 7
    whole = np.zeros(n, dtype=prg.dtype_for_bits(bits))
    masking.accumulate_masks(whole, seeds, signs, SESSION, bits)
    pieces = np.zeros_like(whole)
    lo = 0
    for length in [*cut_lengths, 7]:
        masking.accumulate_masks(pieces[lo : lo + length], seeds, signs, SESSION, bits, start=lo)
        lo += length
    assert np.array_equal(pieces, whole)


@given(BITS, st.lists(st.tuples(SEEDS, SIGNS), max_size=6), st.integers(1, 500))
@settings(max_examples=40, deadline=None)
def test_result_in_range_and_opposite_signs_cancel(bits, pairs, n) -> None:
    seeds, signs = [p[0] for p in pairs], [p[1] for p in pairs]
    acc = prg.expand_mask(b"\x01" * 32, SESSION, n, bits)
    original = acc.copy()
    masking.accumulate_masks(acc, seeds, signs, SESSION, bits)
    if bits < 64:
        assert int(acc.max()) < 2**bits
    masking.accumulate_masks(acc, seeds, [-s for s in signs], SESSION, bits)
    assert np.array_equal(acc, original)


def test_large_vector_across_many_default_chunks() -> None:
    n = 3 * (masking.CHUNK_BYTES // 4) + 123
    seeds = [bytes([i]) * 32 for i in range(3)]
    acc = np.zeros(n, dtype=np.uint32)
    masking.accumulate_masks(acc, seeds, [1, -1, 1], SESSION, 24)
    masks = [prg.expand_mask(s, SESSION, n, 24).astype(np.int64) for s in seeds]
    assert np.array_equal(acc, (masks[0] - masks[1] + masks[2]) % 2**24)


def _args(**over):
    base = dict(acc=np.zeros(10, dtype=np.uint32), seeds=[b"\x01" * 32, b"\x02" * 32],
                signs=[1, -1], session_id=SESSION, bits=32)
    base.update(over)
    return base


@pytest.mark.parametrize(
    ("over", "exc"),
    [
        (dict(acc=np.zeros(10, dtype=np.uint64)), TypeError),
        (dict(acc=np.zeros(10, dtype=np.int32)), TypeError),
        (dict(acc=[0] * 10), TypeError),
        (dict(acc=np.zeros((2, 5), dtype=np.uint32)), ValueError),
        (dict(acc=np.zeros(20, dtype=np.uint32)[::2]), ValueError),
        (dict(signs=[1, 0]), ValueError),
        (dict(signs=[1, 2]), ValueError),
        (dict(signs=[True, -1]), ValueError),
        (dict(signs=[1]), ValueError),
        (dict(seeds=[b"\x01" * 32, b"\x02" * 31]), ValueError),
        (dict(seeds=[b"\x01" * 32, "x" * 32]), ValueError),
        (dict(bits=7), ValueError),
        (dict(session_id=b"short"), ValueError),
    ],
)
def test_bad_arguments_raise_and_leave_acc_unchanged(over, exc) -> None:
    args = _args(**over)
    before = np.array(args["acc"], copy=True)
    with pytest.raises(exc):
        masking.accumulate_masks(**args)
    assert np.array_equal(np.asarray(args["acc"]), before)
    with pytest.raises(ValueError):
        masking.accumulate_masks(**_args(), start=-1)


def test_add_sub_mod_reject_mismatched_inputs() -> None:
    a = np.zeros(4, dtype=np.uint32)
    with pytest.raises(TypeError):
        masking.add_mod(a, np.zeros(4, dtype=np.uint64), 32)
    with pytest.raises(ValueError):
        masking.sub_mod(a, np.zeros(5, dtype=np.uint32), 32)
    with pytest.raises(TypeError):
        masking.add_mod(a, a, 40)


# --- jobs on worker threads ------------------------------------------------------------------


@given(BITS, st.lists(st.lists(st.tuples(SEEDS, SIGNS), max_size=4), max_size=6),
       st.integers(0, 300), st.sampled_from([1, 2, 3]), st.data())
@settings(max_examples=40, deadline=None)
def test_mask_jobs_on_any_number_of_threads_equal_one_accumulation(
    bits, batches, n, workers, data
) -> None:
    acc = data.draw(vectors(bits, n, n))
    seeds = [s for batch in batches for s, _ in batch]
    signs = [g for batch in batches for _, g in batch]
    expected = masking.accumulate_masks(acc.copy(), seeds, signs, SESSION, bits)
    jobs = [masking.fixed_job([s for s, _ in b], [g for _, g in b]) for b in batches]
    with small_chunks(48):
        out = masking.accumulate_mask_jobs(acc, jobs, SESSION, bits, workers=workers)
    assert out is acc
    assert np.array_equal(acc, expected)


def test_pairwise_job_adds_the_signed_pairwise_masks() -> None:
    me, peers = keys.MaskKeyPair.generate(), [keys.MaskKeyPair.generate() for _ in range(3)]
    ids = [2, 5, 9]  # self id 5: +1 towards the larger id, -1 towards the smaller
    pairs = [(v, p.public_bytes) for v, p in zip(ids, peers, strict=True) if v != 5]
    seeds, signs = masking.pairwise_job(me, 5, pairs, SESSION)()
    assert signs == [-1, 1]
    assert seeds == [keys.pairwise_seed(me, pk, SESSION, 5, v) for v, pk in pairs]


def test_a_raising_job_leaves_acc_unchanged_on_any_number_of_threads() -> None:
    def bad() -> tuple[list[bytes], list[int]]:
        raise ProtocolViolation("peer key is bad")

    for workers in (1, 2, 3):
        acc = np.arange(10, dtype=np.uint32)
        jobs = [masking.fixed_job([b"\x01" * 32], [1]), bad, masking.fixed_job([b"\x02" * 32], [1])]
        with pytest.raises(ProtocolViolation):
            masking.accumulate_mask_jobs(acc, jobs, SESSION, 32, workers=workers)
        assert np.array_equal(acc, np.arange(10, dtype=np.uint32))


@pytest.mark.parametrize(
    ("over", "exc"),
    [
        (dict(workers=0), ValueError),
        (dict(workers=True), ValueError),
        (dict(bits=7), ValueError),
        (dict(session_id=b"short"), ValueError),
        (dict(acc=np.zeros(10, dtype=np.uint64)), TypeError),
    ],
)
def test_mask_jobs_reject_bad_arguments_before_running_any_job(over, exc) -> None:
    ran = []
    args = dict(acc=np.zeros(10, dtype=np.uint32), jobs=[lambda: ran.append(1) or ([], [])],
                session_id=SESSION, bits=32)
    args.update(over)
    with pytest.raises(exc):
        masking.accumulate_mask_jobs(**args)
    assert not ran


def test_default_workers_is_at_least_one_and_capped() -> None:
    assert 1 <= masking.default_workers() <= masking.MAX_WORKERS
    acc = np.zeros(5, dtype=np.uint32)
    assert masking.accumulate_mask_jobs(acc, [], SESSION, 32) is acc  # no jobs: nothing added
    assert not acc.any()
