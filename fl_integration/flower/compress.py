"""Compression on the Flower path: one codec for the server and every node, and each node's
error-feedback residual.

The server draws the round's public seed and ships the method (as
:func:`fl_integration.compression.parse` reads it), the seed, the model's size and the widest
word it allows in the ``RoundSetup``; each node rebuilds the same ``RoundCompression`` and codec
from them (:func:`codec_for`) and refuses a setup whose protocol config does not fit that codec.
A node compresses its *update* (trained model minus the model it was sent, clipped to the
setup's ``clip``), as the simulated federation does, so the codec's bounds mean the same on
both paths; the server decodes the sum into the weighted mean update and adds it to the model.

Error feedback (``SignVote``, ``Subsample(error_feedback=True)``): the residual never leaves
the node. It lives in the node's Context between rounds (``FEEDBACK_KEY``); the round's new
residual replaces the old one as soon as the node has answered ``masked_input``, since from then
on its input may be in the sum whether or not the node hears of the round again. (The node
cannot tell whether its input reached the sum: if the server leaves it out, a late reply or an
aborted round, that round's update is lost and the kept residual holds only what the codec left
out of it.)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from flwr.app import ConfigRecord, Context

from fl_integration.compression import Compression, for_round, parse
from fl_integration.compression.codec import CompressedCodec, RoundCompression
from secagg.errors import EncodingError, MalformedMessage, ProtocolViolation

from .records import RoundSetup, _real_vector, _weight_ratio

FEEDBACK_KEY = "secagg_feedback"  # ConfigRecord in the node's Context, across rounds
PENDING = "pending_residual"  # in the round state, until the masked input is answered
_RESIDUAL = "residual"


def codec_for(method: Compression, *, seed: bytes, dimension: int, clip: float,
              num_clients: int, max_weight: float, bits: int) -> CompressedCodec:
    """The round's codec: what the server plans with and every node rebuilds."""
    return _round(method, seed, dimension, clip).codec(
        n_clients=num_clients, max_weight=max_weight, bits=bits)


def _round(method: Compression, seed: bytes, dimension: int, clip: float) -> RoundCompression:
    return for_round(method, seed=seed, dimension=dimension, clip=clip)


def method_of(setup: RoundSetup) -> Compression:
    """The setup's compression method; ``MalformedMessage`` if it does not parse."""
    try:
        method = parse(setup.compression)
    except ValueError:
        raise MalformedMessage("round setup: the compression does not parse") from None
    if method is None:
        raise MalformedMessage("round setup: compression 'none' is sent as no compression")
    return method


def round_codec(setup: RoundSetup) -> tuple[RoundCompression, CompressedCodec]:
    """The node's copy of the round's compression and codec, checked against the protocol
    config: the codec's words must be what the config masks, and fit its modulus."""
    method = method_of(setup)
    rc = _round(method, setup.compression_seed, setup.compression_dimension, setup.clip)
    try:
        codec = rc.codec(n_clients=setup.config.num_clients, max_weight=setup.max_weight,
                         bits=setup.compression_bits)
    except ValueError:
        raise MalformedMessage("round setup: no codec fits the compression parameters") from None
    if codec.length != setup.config.vector_length or codec.bits > setup.config.modulus_bits:
        raise MalformedMessage("round setup: the protocol config does not fit the compression")
    return rc, codec


def encode_update(ctxt: Context, state: ConfigRecord, setup: RoundSetup,
                  received: Sequence[np.ndarray], trained: Sequence[np.ndarray],
                  weight: float) -> np.ndarray:
    """The node's words: its clipped update (plus its residual), compressed; the new residual
    waits in ``state`` until the words are answered (:func:`commit_residual`). ``EncodingError`` for a non-finite or mis-sized
    update or a bad weight, before anything is kept."""
    base, new = _real_vector(received), _real_vector(trained)
    if base.size != setup.compression_dimension or new.size != base.size:
        raise EncodingError("the trained model's size differs from the round's")
    share = _weight_ratio(weight, setup.max_weight)
    update = np.clip(new - base, -setup.clip, setup.clip)
    rc, codec = round_codec(setup)
    if rc.method.error_feedback:
        update = update + _residual(ctxt, update.size)
        state[PENDING] = rc.residual(update).astype(np.float64).tobytes()
    return codec.encode(update, share * setup.max_weight)


def commit_residual(ctxt: Context, state: ConfigRecord) -> None:
    """The masked input answered (from now on it may be in the sum): keep its residual."""
    pending = state.get(PENDING)
    if isinstance(pending, bytes):
        ctxt.state.config_records[FEEDBACK_KEY] = ConfigRecord({_RESIDUAL: pending})
        del state[PENDING]


def _residual(ctxt: Context, size: int) -> np.ndarray:
    """The node's residual; zeros if it has none yet or the model changed size."""
    record = ctxt.state.config_records.get(FEEDBACK_KEY)
    data = None if record is None else record.get(_RESIDUAL)
    if not isinstance(data, bytes) or len(data) != 8 * size:
        return np.zeros(size)
    return np.frombuffer(data, dtype=np.float64).copy()


def decode_mean(codec: CompressedCodec, total: np.ndarray, count: int) -> np.ndarray:
    """The weighted mean update from the sum of ``count`` nodes' words; ``ProtocolViolation``
    if the weights sum to <= 0 (no mean exists: a client sent a bad weight)."""
    vector, weight = codec.decode(total, count)
    if not weight > 0:
        raise ProtocolViolation("the included clients' weights sum to <= 0: no average exists")
    return np.asarray(vector, dtype=np.float64) / weight


def add_mean(current: Sequence[np.ndarray], mean: np.ndarray) -> list[np.ndarray]:
    """``current`` moved by the mean update, cut back into arrays shaped and typed as it."""
    out, start = [], 0
    for ref in current:
        ref = np.asarray(ref)
        step = mean[start : start + ref.size].reshape(ref.shape)
        out.append((ref.astype(np.float64) + step).astype(ref.dtype))
        start += ref.size
    if start != mean.size:
        raise ValueError(f"the mean update has {mean.size} values, the model {start}")
    return out
