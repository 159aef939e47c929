"""The mask code of a LightSecAgg round: evaluation points, encoding, decoding with a check.

A client's mask z_i (m field elements, zero-padded to (U − T)·L) is cut into U − T pieces of L
elements; T more pieces are uniformly random padding. The U pieces are the values of a
polynomial f_i of degree < U at the points β_1..β_U, and client j's coded sub-mask is f_i(α_j).
Points: α_j = j + 1 for the j-th client of ``config.client_ids`` and β_k = N + 1 + k, all
distinct and below p.

Privacy (the linear algebra the tests check): the coded sub-masks at any T points α_S are
``W_S,data · z + W_S,pad · padding`` with W = :func:`encoding_matrix`. W_S,pad is T×T and
invertible whenever the α and β are distinct (a nonzero padding it sent to zero would make a
nonzero polynomial of degree < U vanish at the U − T data points β and the T points α_S), so for
any z the T sub-masks are uniform: T colluders learn nothing about z_i.

Decoding: the survivors' replies are F(α_j), F = Σ_{i∈U3} f_i, a polynomial of degree < U. The
first U replies (by client id) give F at the data points (Σ z_i); every further reply must equal
what those U predict at its own point. With U + e replies any e or fewer wrong ones are caught
for certain (a degree < U polynomial through the U + e points would agree with F on U of them,
and so be F), whatever the wrong values are; e + 1 coordinated wrong replies could pass. With
exactly U replies nothing is checkable, which is why the server asks for U + s (s >= 1).

Detect, do not correct: leaving out the one reply whose removal makes the rest agree would turn
a wrong reply into a finished round, but it gives up part of the guarantee: with U + e replies,
e wrong ones placed well make the removal of an *honest* reply leave a consistent and wrong set
(``tests/protocols/lightsecagg/test_adversarial.py`` has such a case), so a correcting decoder
is only safe against fewer wrong replies than a detecting one. A round with a disagreeing reply
aborts instead, naming the replies that disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from secagg import field_prg, labels, mds

from .config import LightSecAggConfig

SEED_BYTES = 32


def alpha(config: LightSecAggConfig, ids: Sequence[int]) -> np.ndarray:
    """The evaluation points α of these clients (their coded sub-masks' points)."""
    where = {cid: j for j, cid in enumerate(config.client_ids)}
    return np.array([where[cid] + 1 for cid in ids], dtype=np.uint64)


def beta(config: LightSecAggConfig) -> np.ndarray:
    """The U points β the pieces sit at: the U − T data pieces first, then the T padding."""
    n = config.num_clients
    return np.arange(n + 1, n + 1 + config.U, dtype=np.uint64)


def encoding_matrix(config: LightSecAggConfig, ids: Sequence[int]) -> np.ndarray:
    """W (len(ids) × U): row j maps the U pieces to client ids[j]'s coded sub-mask."""
    points = alpha(config, ids)
    out = np.empty((points.size, config.U), dtype=np.uint64)
    mds.lagrange_matrix(beta(config), points, out)
    return out


def mask_pieces(config: LightSecAggConfig, client_id: int, seed: bytes) -> np.ndarray:
    """The U × L pieces (U − T of mask, T of padding), uniform field elements from AES-CTR
    keyed by HKDF of a fresh 32-byte CSPRNG seed, bound to session and client."""
    key = field_prg.field_key(seed, labels.LIGHTSECAGG_MASK, config.session_id,
                              client_id.to_bytes(4, "big"))
    size = config.U * config.piece_length
    return field_prg.expand_field(key, size).reshape(config.U, config.piece_length)


def mask_of(config: LightSecAggConfig, pieces: np.ndarray) -> np.ndarray:
    """z_i: the first m elements of the data pieces (uint32, as the wire carries them)."""
    return pieces[: config.pieces].reshape(-1)[: config.vector_length].astype(np.uint32)


def encode(config: LightSecAggConfig, pieces: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """The coded sub-masks (len(ids) × L) of these pieces for these clients."""
    out = np.empty((len(ids), config.piece_length), dtype=np.uint64)
    mds.matmul(encoding_matrix(config, ids), pieces, out)
    return out


def decode(
    config: LightSecAggConfig, replies: Mapping[int, np.ndarray]
) -> tuple[np.ndarray, tuple[int, ...]]:
    """Σ z_i (m elements) from the first U replies by id, and the ids of the further replies
    that disagree with them (empty: every reply lies on one polynomial of degree < U)."""
    ids = sorted(replies)
    base, extra = ids[: config.U], ids[config.U :]
    targets = np.concatenate([beta(config)[: config.pieces], alpha(config, extra)])
    weights = np.empty((targets.size, config.U), dtype=np.uint64)
    mds.lagrange_matrix(alpha(config, base), targets, weights)
    out = np.empty((targets.size, config.piece_length), dtype=np.uint64)
    mds.matmul(weights, np.stack([replies[v] for v in base]).astype(np.uint64), out)
    predicted = out[config.pieces :]
    wrong = tuple(v for v, row in zip(extra, predicted, strict=True)
                  if not np.array_equal(row, replies[v]))
    return mask_of(config, out[: config.pieces]), wrong
