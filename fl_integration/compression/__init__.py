"""Compression that works under the mask: fewer or narrower integers per client, same sum.

Every aggregator sums integer vectors mod 2^b, so a codec whose vectors are shorter (shared
subsampling, a count sketch) or narrower (few-level quantization, sign votes, packed several to
a word) saves real bytes on the wire, and the masks still cancel because every client of a
round uses the same public map, expanded from one round seed. ``FedAvgConfig(compression=...)``
takes one of:

- :class:`Quantize` ``(bits=q)``: rotation + unbiased q-bit stochastic rounding.
- :class:`Subsample` ``(fraction=p)``: the same random coordinates for every client.
- :class:`CountSketch` ``(width=w, depth=r)``: a linear sketch, decoded by the server.
- :class:`SignVote` ``()``: signs at ⌈log2(n+1)⌉ + 1 bits; the server learns vote counts.

No configuration can wrap: every width is the smallest that holds the sum of n clients' values
(:mod:`.packing`), and one that the aggregation cannot carry is refused. With
``DistributedDP``, ``Quantize`` and ``Subsample`` and ``CountSketch`` run the DP plan on their
compact vector (its accounting is the plan's own, at the width the method asks for);
``SignVote`` is refused (:func:`check_compression` says why). A server and its clients build
the same :class:`RoundCompression` with :func:`for_round` from public parameters, and the
round's codec from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from secagg.errors import ConfigError

from .feedback import ErrorFeedback
from .parse import SYNTAX, parse
from .quantize import Quantize
from .seeds import round_seed
from .signvote import SignVote
from .sketch import CountSketch
from .subsample import Subsample

if TYPE_CHECKING:
    from fl_integration.privacy import DistributedDP

    from .codec import RoundCompression

Compression = Quantize | Subsample | CountSketch | SignVote
METHODS = (Quantize, Subsample, CountSketch, SignVote)

SIGNVOTE_DP = (
    "SignVote cannot be combined with distributed DP: a vote vector's L2 sensitivity is "
    "2·√d votes, so noise that hides one client's votes has a spread of about √d votes per "
    "coordinate and the sum no longer fits the ⌈log2(n+1)⌉ + 1 bits that make voting cheap, "
    "and dp/ has no accounting for noised vote counts; the only accountable route (the DP plan "
    "on scaled signs) sends the plan's rotated, noised integers, not votes. Use Quantize, "
    "Subsample or CountSketch with DistributedDP, or SignVote with LocalDP or no DP")


def check_compression(compression: object, dp: object, bits: int, clients: int) -> None:
    """Refuse (``ConfigError``) a compression that is not one of ours, cannot be accounted under
    ``dp``, or whose sums over ``clients`` clients need more than ``bits`` bits."""
    if compression is None:
        return
    if not isinstance(compression, METHODS):
        raise ConfigError(f"compression must be None, Quantize(...), Subsample(...), "
                          f"CountSketch(...) or SignVote(...), got {compression!r}")
    from fl_integration.privacy import DistributedDP  # noqa: PLC0415 - fedavg imports us first

    if isinstance(dp, DistributedDP):
        if isinstance(compression, SignVote):
            raise ConfigError(SIGNVOTE_DP)
        if dp.bits is not None:
            raise ConfigError(f"DistributedDP.bits must be left out with compression: "
                              f"{compression.label()} sets the width (got bits={dp.bits})")
    need = compression.sum_bits(clients)
    if need is not None and need > bits:
        raise ConfigError(f"compression={compression.label()} needs {need}-bit sums for {clients} "
                          f"clients per round, more than bits={bits}: lower "
                          f"{type(compression).__name__}.bits or raise bits")


def for_round(compression: Compression, *, seed: bytes, dimension: int, clip: float,
              dp: DistributedDP | None = None) -> RoundCompression:
    """The round's public compression, the same for the server and every client given the same
    (method, 32-byte public ``seed``, ``dimension``, L∞ ``clip``, ``dp``)."""
    from .codec import RoundCompression  # noqa: PLC0415 - loads dp and the encoders on use

    return RoundCompression(compression, seed, dimension, clip, dp)


__all__ = [
    "SYNTAX", "Compression", "CountSketch", "ErrorFeedback", "Quantize", "SignVote",
    "Subsample", "check_compression", "for_round", "parse", "round_seed",
]
