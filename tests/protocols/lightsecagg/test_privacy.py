"""The linear algebra of LightSecAgg's privacy, checked on the encoding matrix itself.

T colluders hold T coded sub-masks of an honest client i: ``V = W_S,data · z_i + W_S,pad · n_i``
with n_i the T uniform padding pieces. When the T×T block W_S,pad is invertible, V is uniform
whatever z_i is (n_i ↦ V is a bijection for each z_i). We check that block for every T-subset
of clients, exhaustively for small N; that any U rows decode (the code is MDS); that T + 1
colluders *do* learn something (so the check has power); statistically, that T sub-masks of
structured masks look uniform; and that the protocol's clients hold exactly these code rows.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import chisquare

from protocols.lightsecagg import LightSecAggConfig, Stage, codec, coding
from protocols.lightsecagg.messages import MaskedInput
from secagg import field_prg
from secagg.field import PRIME

from .helpers import Round, config

ALPHA = 1e-4


def _rank(rows: np.ndarray) -> int:
    """Rank over GF(p) by Gaussian elimination with Python integers (independent of kernels)."""
    m = [[int(v) % PRIME for v in row] for row in rows]
    rank, cols = 0, len(m[0]) if m else 0
    for c in range(cols):
        pivot = next((r for r in range(rank, len(m)) if m[r][c]), None)
        if pivot is None:
            continue
        m[rank], m[pivot] = m[pivot], m[rank]
        inv = pow(m[rank][c], PRIME - 2, PRIME)
        m[rank] = [v * inv % PRIME for v in m[rank]]
        for r in range(len(m)):
            if r != rank and m[r][c]:
                f = m[r][c]
                m[r] = [(a - f * b) % PRIME for a, b in zip(m[r], m[rank], strict=True)]
        rank += 1
    return rank


def _shapes(max_n: int):
    for n in range(3, max_n + 1):
        for u in range(2, n):
            for t in range(1, u):
                yield n, u, t


@pytest.mark.parametrize("n", range(3, 9))
def test_every_t_subset_sees_an_invertible_padding_block(n: int) -> None:
    for _, u, t in (s for s in _shapes(n) if s[0] == n):
        cfg = config(n, u, t)
        w = coding.encoding_matrix(cfg, cfg.client_ids)
        pad = w[:, cfg.pieces :]
        for subset in itertools.combinations(range(n), t):
            assert _rank(pad[list(subset)]) == t, (n, u, t, subset)


@pytest.mark.parametrize("n", range(3, 9))
def test_any_u_coded_rows_decode(n: int) -> None:
    for _, u, t in (s for s in _shapes(n) if s[0] == n):
        cfg = config(n, u, t)
        w = coding.encoding_matrix(cfg, cfg.client_ids)
        for subset in itertools.combinations(range(n), u):
            assert _rank(w[list(subset)]) == u, (n, u, t, subset)


def test_larger_rounds_sampled_subsets() -> None:
    """N = 40: random T-subsets (and the worst-looking ones: the first and last T points)."""
    cfg = config(40, 30, 12)
    w = coding.encoding_matrix(cfg, cfg.client_ids)
    pad = w[:, cfg.pieces :]
    picks = [list(range(12)), list(range(28, 40))]
    gen = np.random.default_rng(3)
    picks += [sorted(gen.choice(40, 12, replace=False).tolist()) for _ in range(30)]
    for subset in picks:
        assert _rank(pad[subset]) == 12


def test_t_plus_one_colluders_learn_a_function_of_the_mask() -> None:
    """Power: with T + 1 sub-masks a combination c cancels the padding (c·W_pad = 0) but not the
    data (c·W_data ≠ 0), so the same mask gives the same c·V whatever the padding."""
    cfg = config(8, 6, 2, vector_length=20)
    rows = [0, 3, 5]  # T + 1 colluders
    w = coding.encoding_matrix(cfg, [cfg.client_ids[r] for r in rows])
    pad = [[int(v) for v in row] for row in w[:, cfg.pieces :]]
    # the left null vector of a 3x2 matrix: cross product of its columns
    a, b = [r[0] for r in pad], [r[1] for r in pad]
    c = [(a[1] * b[2] - a[2] * b[1]) % PRIME, (a[2] * b[0] - a[0] * b[2]) % PRIME,
         (a[0] * b[1] - a[1] * b[0]) % PRIME]
    assert any(c)
    mask = field_prg.expand_field(b"m" * 16, cfg.pieces * cfg.piece_length)
    seen = []
    for key in (b"p" * 16, b"q" * 16):
        padding = field_prg.expand_field(key, cfg.T * cfg.piece_length)
        pieces = np.concatenate([mask, padding]).reshape(cfg.U, cfg.piece_length)
        v = coding.encode(cfg, pieces, [cfg.client_ids[r] for r in rows])
        seen.append([sum(ci * int(x) for ci, x in zip(c, col, strict=True)) % PRIME
                     for col in v.T])
    assert seen[0] == seen[1] and any(seen[0])


def _colluders_view(cfg: LightSecAggConfig, mask: np.ndarray, trials: int,
                    rows: list[int]) -> np.ndarray:
    out = []
    for i in range(trials):
        padding = field_prg.expand_field(i.to_bytes(16, "big"), cfg.T * cfg.piece_length)
        pieces = np.concatenate([mask, padding]).reshape(cfg.U, cfg.piece_length)
        out.append(coding.encode(cfg, pieces, [cfg.client_ids[r] for r in rows]))
    return np.concatenate([v.reshape(-1) for v in out])


def _p_uniform(values: np.ndarray) -> float:
    return float(chisquare(np.bincount((values >> np.uint64(23)).astype(np.int64),
                                       minlength=256)).pvalue)


@pytest.mark.parametrize("which", ["zeros", "ones", "ramp"])
def test_t_sub_masks_of_structured_masks_look_uniform(which: str) -> None:
    """Chi-square on the top 8 bits of T colluders' sub-masks, for masks far from uniform."""
    cfg = config(10, 7, 3, vector_length=400)
    size = cfg.pieces * cfg.piece_length
    mask = {"zeros": np.zeros(size, dtype=np.uint64),
            "ones": np.ones(size, dtype=np.uint64),
            "ramp": np.arange(size, dtype=np.uint64)}[which]
    view = _colluders_view(cfg, mask, 60, [1, 4, 8])
    assert _p_uniform(view) > ALPHA
    # and the same statistic catches a view that is not uniform (T + 1 rows of a zero mask
    # contain the padding-free combination; a raw zero mask is the blatant case)
    assert _p_uniform(np.zeros(view.size, dtype=np.uint64)) < ALPHA


def test_protocol_clients_hold_rows_of_the_checked_code() -> None:
    """What the clients decrypt is W·pieces of the dealer: any U of them decode its mask, and
    every other one is what those U predict."""
    cfg = config(9, 5, 2, vector_length=31)
    r = Round(cfg)
    r.to(Stage.MASKED_INPUT)
    r.replies()  # every client opens what it was dealt
    dealer = 4
    held = {u: r.clients[u]._secrets.held[dealer] for u in cfg.client_ids}
    mask, wrong = coding.decode(cfg, held)
    assert wrong == ()
    np.testing.assert_array_equal(mask, r.clients[dealer]._secrets.mask)


def test_masked_zero_inputs_look_uniform() -> None:
    cfg = config(6, 4, 2, vector_length=20_000)
    r = Round(cfg, seed=b"u" * 32)
    r.inputs = {u: np.zeros(cfg.vector_length, dtype=np.uint32) for u in cfg.client_ids}
    r.to(Stage.MASKED_INPUT)
    ys = [codec.decode(y, cfg, MaskedInput).vector for y in r.replies().values()]
    assert _p_uniform(np.concatenate(ys)) > ALPHA
    assert np.mean(ys[0] == ys[1]) < 0.01
