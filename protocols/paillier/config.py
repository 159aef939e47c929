"""``PaillierConfig``: the public parameters of one Paillier aggregation, validated once."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from secagg.errors import ConfigError

from .packing import SlotLayout

MIN_KEY_BITS, DEFAULT_KEY_BITS, MAX_KEY_BITS = 2048, 3072, 16384
MIN_TEST_KEY_BITS = 128
MIN_SESSION_ID_BYTES, MAX_SESSION_ID_BYTES = 16, 1024
MAX_CLIENT_ID = 2**31 - 2


@dataclass(frozen=True, kw_only=True)
class PaillierConfig:
    """One round: who may send, the vector shape, the key size; ``ValueError`` names the culprit.

    ``value_bits`` v: clients send signed integers in [-2^(v-1), 2^(v-1)). ``min_clients``: the
    decryptor refuses a sum of fewer inputs (at least 2, the default, so one input is never
    decrypted alone; a round therefore names at least 2 clients).
    ``allow_insecure_key_size`` is for tests only: it lets ``key_bits`` go below 2048 (down to
    128), which anyone can factor. ``EncodingError`` (a ``ValueError``) if the slots could overflow.
    """

    client_ids: tuple[int, ...]
    vector_length: int
    value_bits: int = 32
    key_bits: int = DEFAULT_KEY_BITS
    min_clients: int = None  # type: ignore[assignment]  # left out: 2
    session_id: bytes = field(default_factory=lambda: os.urandom(32), repr=False)
    allow_insecure_key_size: bool = False
    layout: SlotLayout = field(init=False, repr=False, compare=False)
    """The slot layout (slot width, slots per ciphertext) these parameters give."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "client_ids", _check_ids(self.client_ids))
        _check_int("vector_length", self.vector_length, 1, 2**32 - 1)
        lo = MIN_TEST_KEY_BITS if self.allow_insecure_key_size is True else MIN_KEY_BITS
        _check_int("key_bits", self.key_bits, lo, MAX_KEY_BITS)
        if self.key_bits % 16:
            raise ConfigError(f"key_bits must be a multiple of 16, got {self.key_bits}")
        if self.min_clients is None:
            object.__setattr__(self, "min_clients", 2)
        _check_int("min_clients", self.min_clients, 2, self.num_clients)
        if not isinstance(self.session_id, bytes) or not (
            MIN_SESSION_ID_BYTES <= len(self.session_id) <= MAX_SESSION_ID_BYTES
        ):
            raise ConfigError(
                f"session_id must be {MIN_SESSION_ID_BYTES}..{MAX_SESSION_ID_BYTES} bytes"
            )
        _check_int("value_bits", self.value_bits, 1, 64)
        object.__setattr__(self, "layout", SlotLayout.for_params(
            key_bits=self.key_bits, value_bits=self.value_bits, max_summands=self.num_clients
        ))

    @property
    def num_clients(self) -> int:
        """n: the most inputs one sum can hold."""
        return len(self.client_ids)

    @property
    def key_bytes(self) -> int:
        """Bytes of the modulus n on the wire."""
        return self.key_bits // 8

    @property
    def num_ciphertexts(self) -> int:
        """Ciphertexts one client sends."""
        return self.layout.num_plaintexts(self.vector_length)


def _check_ids(client_ids: object) -> tuple[int, ...]:
    try:
        given: tuple[object, ...] = tuple(client_ids)  # type: ignore[arg-type]
    except TypeError:
        raise ConfigError("client_ids must be a sequence of ints") from None
    ids: list[int] = []
    for cid in given:
        if isinstance(cid, bool) or not isinstance(cid, int) or not 1 <= cid <= MAX_CLIENT_ID:
            raise ConfigError(f"client_ids must be ints in [1, {MAX_CLIENT_ID}], got {cid!r}")
        ids.append(cid)
    if len(set(ids)) != len(ids):
        raise ConfigError("client_ids must be distinct")
    if len(ids) < 2:
        raise ConfigError("client_ids must name at least 2 clients: one input is never "
                         "decrypted alone")
    return tuple(sorted(ids))


def _check_int(name: str, value: object, lo: int, hi: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(f"{name} must be an int in [{lo}, {hi}], got {value!r}")
