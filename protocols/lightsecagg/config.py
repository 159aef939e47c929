"""``LightSecAggConfig``: the parameters every party of one LightSecAgg round shares.

The field is GF(p), p = 2^31 - 1 (:mod:`secagg.field`). Why this one and not a larger prime:
a product of two elements fits exactly in 64 bits, so the coding kernels are one native multiply
and two folds per term (a 2^61 - 1 field would need 128-bit products, about 3x the work, and
twice the bytes on the wire for every coded sub-mask). The price is headroom for the inputs.

Inputs are integers in [0, 2^b), b = ``input_bits``, and the config refuses a b for which the sum
over N clients could wrap: N·(2^b - 1) < p. The server then returns the *exact* integer sum (no
reduction ever happens), which is the SecAgg sum mod 2^b once reduced mod 2^b. So the float
encoding carries over unchanged: encode with ``FixedPointEncoder.for_round(config, clip)`` into
Z_{2^b} (two's complement; ``modulus_bits`` is b here), run the round, and ``decode_sum`` the
result mod 2^b (:meth:`LightSecAggConfig.wrap`). The
encoder's own overflow check (N·(clip·scale + 1) < 2^(b-1)) then covers the signed sum, and
this config's check covers the field. At N = 200 that leaves b = 23 bits per input; SecAgg's
Z_{2^32} leaves 32 - 1 - log2(N). Rounds that need more headroom than 31 - log2(N) bits belong
on SecAgg.

Budgets, as SecAgg's (``SECURITY.md``): D (``max_dropouts``) clients may fail to reach the
masked-input stage, C (``max_corrupt``) may collude with the server. The config requires
C <= T < U (T padding pieces hide a mask from any T coded sub-masks), U + s <= N - D (the
survivors can send the U + s replies the server needs: U to decode, s spare to check the
decoding), and N - D - C >= 2 honest inputs in every sum. Left out, D is everything U tolerates
(N - U - s) and C is T (or less, to keep two honest inputs). ``for_rates`` asks
:func:`protocols.lightsecagg.params.find_parameters` for all of them.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from protocols.checks import check_ids, check_int, check_session
from secagg.errors import ConfigError
from secagg.field import PRIME

from .params import DEFAULT_SPARE_REPLIES, find_parameters

MAX_INPUT_BITS = 30  # N >= 2 clients: 2·(2^30 - 1) < p


@dataclass(frozen=True, kw_only=True)
class LightSecAggConfig:
    """One round's public parameters; construction raises ``ConfigError`` naming the culprit."""

    client_ids: tuple[int, ...]
    vector_length: int
    recovery_threshold: int
    privacy_threshold: int
    # left out (None), each of these three is chosen in __post_init__: an int from then on
    max_dropouts: int = None  # type: ignore[assignment]
    max_corrupt: int = None  # type: ignore[assignment]
    input_bits: int = None  # type: ignore[assignment]
    spare_replies: int = DEFAULT_SPARE_REPLIES
    session_id: bytes = field(default_factory=lambda: os.urandom(32), repr=False)

    def __post_init__(self) -> None:
        ids = check_ids(self.client_ids)
        object.__setattr__(self, "client_ids", ids)
        n = len(ids)
        check_int("vector_length", self.vector_length, 1, 2**32)
        check_int("spare_replies", self.spare_replies, 1, n - 1)
        check_int("recovery_threshold", self.recovery_threshold, 2, n - self.spare_replies)
        check_int("privacy_threshold", self.privacy_threshold, 1, self.recovery_threshold - 1)
        self._check_budgets()
        self._check_input_bits()
        check_session(self.session_id)

    def _check_budgets(self) -> None:
        n, u, t, s = self.num_clients, self.U, self.T, self.spare_replies
        if self.max_dropouts is None:
            object.__setattr__(self, "max_dropouts", n - u - s)
        check_int("max_dropouts", self.max_dropouts, 0, n - u - s)
        most = min(t, n - self.max_dropouts - 2)
        if most < 1:
            raise ConfigError(f"max_dropouts={self.max_dropouts} leaves fewer than two honest "
                              f"inputs in a sum of {n - self.max_dropouts}: lower it")
        if self.max_corrupt is None:
            object.__setattr__(self, "max_corrupt", most)
        check_int("max_corrupt", self.max_corrupt, 0, most)

    def _check_input_bits(self) -> None:
        n = self.num_clients
        widest = max_input_bits(n)
        if self.input_bits is None:
            object.__setattr__(self, "input_bits", widest)
        if widest < 1:
            raise ConfigError(f"{n} clients leave no room for inputs below p = 2^31 - 1")
        check_int("input_bits", self.input_bits, 1, widest)

    @property
    def U(self) -> int:
        """U: the replies that decode the survivors' mask sum (``recovery_threshold``)."""
        return self.recovery_threshold

    @property
    def T(self) -> int:
        """T: the padding pieces, the colluders an honest mask is hidden from (``privacy_threshold``)."""
        return self.privacy_threshold

    @property
    def num_clients(self) -> int:
        """N: how many clients the round starts with."""
        return len(self.client_ids)

    @property
    def pieces(self) -> int:
        """U − T: the pieces a mask is cut into."""
        return self.U - self.T

    @property
    def piece_length(self) -> int:
        """L = ⌈m / (U − T)⌉: field elements per piece, per coded sub-mask and per reply."""
        return -(-self.vector_length // self.pieces)

    @property
    def min_survivors(self) -> int:
        """N − D: the fewest clients whose masked inputs a round may complete with."""
        return self.num_clients - self.max_dropouts

    @property
    def min_replies(self) -> int:
        """U + s: replies the server needs to decode and check the survivors' mask sum."""
        return self.U + self.spare_replies

    @property
    def min_honest_inputs(self) -> int:
        """N − D − C: the fewest honest inputs in any sum the round releases (at least 2)."""
        return self.min_survivors - self.max_corrupt

    @property
    def modulus(self) -> int:
        """p: the field the masked vectors live in."""
        return PRIME

    @property
    def modulus_bits(self) -> int:
        """b (``input_bits``): the inputs are elements of Z_{2^b}, so
        ``FixedPointEncoder.for_round(config, clip)`` builds the encoder that fits this round."""
        return self.input_bits

    def wrap(self, total: np.ndarray) -> np.ndarray:
        """The exact sum the server returns, mod 2^b: what SecAgg would return for the same
        inputs, ready for ``FixedPointEncoder.decode_sum``."""
        arr = np.asarray(total, dtype=np.uint64)
        return (arr & np.uint64((1 << self.input_bits) - 1)).astype(np.uint32)  # b <= 30

    def to_bytes(self) -> bytes:
        """The config's versioned wire encoding, for a server to ship the round to its clients."""
        from .codec import encode_config  # noqa: PLC0415 - codec imports this module

        return encode_config(self)

    @classmethod
    def from_bytes(cls, data: bytes) -> LightSecAggConfig:
        """Parse and validate a config; anything malformed or unsafe is ``MalformedMessage``."""
        from .codec import decode_config  # noqa: PLC0415 - codec imports this module

        return decode_config(data)

    @classmethod
    def for_rates(
        cls,
        client_ids: Sequence[int],
        vector_length: int,
        *,
        dropout: float = 0.1,
        corrupt: float = 0.05,
        **other_fields: Any,
    ) -> LightSecAggConfig:
        """A config whose (U, T) and budgets the helper picks for these rates."""
        for name in ("recovery_threshold", "privacy_threshold", "max_dropouts", "max_corrupt"):
            if name in other_fields:
                raise ConfigError(f"{name} is chosen by the parameter helper; do not pass it")
        ids = check_ids(client_ids)
        spare = other_fields.pop("spare_replies", DEFAULT_SPARE_REPLIES)
        params = find_parameters(len(ids), dropout=dropout, corrupt=corrupt, spare_replies=spare)
        return cls(
            client_ids=ids, vector_length=vector_length,
            recovery_threshold=params.recovery_threshold,
            privacy_threshold=params.privacy_threshold, max_dropouts=params.max_dropouts,
            max_corrupt=params.max_corrupt, spare_replies=spare, **other_fields,
        )


def max_input_bits(num_clients: int) -> int:
    """The widest b with N·(2^b − 1) < p: inputs whose sum over N clients cannot wrap."""
    b = 0
    while b < MAX_INPUT_BITS and num_clients * ((1 << (b + 1)) - 1) < PRIME:
        b += 1
    return b
