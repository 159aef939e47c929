"""Wire format of the Paillier protocol: ``magic ‖ version ‖ type ‖ len(session) ‖ session ‖ fields``.

Big integers travel as fixed-width big-endian (n in ``key_bits/8`` bytes, ciphertexts in twice
that); every field has an explicit u32 length or count. Decoding checks magic, version and type
(``MalformedMessage``), the session (``WrongSession``), then every length, id and range (a
ciphertext must lie in [1, n^2)) before anything is built; trailing bytes are an error. Messages
name the key they were made under by a session-bound key id, so a ciphertext under another key
or for another round is refused by name (``ProtocolViolation``) rather than summed into garbage.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass

from secagg import labels
from secagg.errors import MalformedMessage, ProtocolViolation, WrongSession

from .config import PaillierConfig
from .keys import KEY_ID_BYTES, SMALL_PRIMES_PRODUCT

MAGIC = b"SAPL"
PUBLIC_KEY, ENCRYPTED_INPUT, ENCRYPTED_SUM = 0x41, 0x42, 0x43
_U32 = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class PublicKeyMessage:
    """Decryptor -> everyone: the modulus n (g = n + 1)."""

    n: int


@dataclass(frozen=True, slots=True)
class EncryptedInput:
    """Client -> server: one client's packed, encrypted vector."""

    sender: int
    key_id: bytes
    ciphertexts: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class EncryptedSum:
    """Server -> decryptor: the product of the included clients' ciphertexts."""

    key_id: bytes
    included: tuple[int, ...]
    ciphertexts: tuple[int, ...]


def _header(code: int, config: PaillierConfig) -> bytes:
    sid = config.session_id
    return MAGIC + bytes((labels.VERSION, code)) + len(sid).to_bytes(2, "big") + sid


def _ints(values: tuple[int, ...], width: int) -> bytes:
    return _U32.pack(len(values)) + b"".join(v.to_bytes(width, "big") for v in values)


def encode_public_key(msg: PublicKeyMessage, config: PaillierConfig) -> bytes:
    """Wire bytes of the public key."""
    return _header(PUBLIC_KEY, config) + _U32.pack(config.key_bytes) + msg.n.to_bytes(
        config.key_bytes, "big"
    )


def encode_input(msg: EncryptedInput, config: PaillierConfig) -> bytes:
    """Wire bytes of one client's encrypted vector."""
    return b"".join((
        _header(ENCRYPTED_INPUT, config), _U32.pack(msg.sender), _U32.pack(KEY_ID_BYTES),
        msg.key_id, _U32.pack(config.vector_length), _ints(msg.ciphertexts, 2 * config.key_bytes),
    ))


def encode_sum(msg: EncryptedSum, config: PaillierConfig) -> bytes:
    """Wire bytes of the aggregate sent to the decryptor."""
    ids = _U32.pack(len(msg.included)) + b"".join(_U32.pack(c) for c in msg.included)
    return b"".join((
        _header(ENCRYPTED_SUM, config), _U32.pack(KEY_ID_BYTES), msg.key_id,
        _U32.pack(config.vector_length), ids, _ints(msg.ciphertexts, 2 * config.key_bytes),
    ))


class _Reader:
    __slots__ = ("data", "pos")

    def __init__(self, data: bytes, code: int, config: PaillierConfig) -> None:
        if not isinstance(data, bytes | bytearray | memoryview):
            raise MalformedMessage("a message must be bytes")
        self.data, self.pos = bytes(data), 0
        if self.take(4) != MAGIC:
            raise MalformedMessage("not a Paillier protocol message (bad magic)")
        version, got = self.take(2)
        if version != labels.VERSION:
            raise MalformedMessage(f"wire version {version}, expected {labels.VERSION}")
        if got != code:
            raise MalformedMessage(f"message type 0x{got:02x}, expected 0x{code:02x}")
        if self.take(int.from_bytes(self.take(2), "big")) != config.session_id:
            raise WrongSession("message belongs to another session")

    def take(self, n: int) -> bytes:
        end = self.pos + n
        if end > len(self.data):
            raise MalformedMessage("message is truncated")
        out, self.pos = self.data[self.pos : end], end
        return out

    def u32(self) -> int:
        return _U32.unpack(self.take(4))[0]

    def expect(self, value: int, what: str) -> None:
        got = self.u32()
        if got != value:
            raise MalformedMessage(f"{what} is {got}, expected {value}")

    def key_id(self, expected: bytes) -> bytes:
        self.expect(KEY_ID_BYTES, "key id length")
        got = self.take(KEY_ID_BYTES)
        if got != expected:
            raise ProtocolViolation("message made under another public key or session")
        return got

    def ciphertexts(self, config: PaillierConfig, nsquare: int) -> tuple[int, ...]:
        self.expect(config.num_ciphertexts, "ciphertext count")
        width = 2 * config.key_bytes
        raw = self.take(width * config.num_ciphertexts)
        out = tuple(int.from_bytes(raw[i : i + width], "big") for i in range(0, len(raw), width))
        if any(not 1 <= c < nsquare for c in out):
            raise MalformedMessage("ciphertext outside [1, n^2)")
        return out

    def end(self) -> None:
        if self.pos != len(self.data):
            raise MalformedMessage(f"{len(self.data) - self.pos} trailing bytes")


def decode_public_key(data: bytes, config: PaillierConfig) -> PublicKeyMessage:
    """Parse and sanity-check a public key: exactly ``key_bits`` bits, odd, no small factor."""
    r = _Reader(data, PUBLIC_KEY, config)
    r.expect(config.key_bytes, "modulus length")
    n = int.from_bytes(r.take(config.key_bytes), "big")
    r.end()
    if n.bit_length() != config.key_bits or math.gcd(n, SMALL_PRIMES_PRODUCT) != 1:
        raise MalformedMessage(f"not a {config.key_bits}-bit Paillier modulus")
    return PublicKeyMessage(n)


def decode_input(data: bytes, config: PaillierConfig, key: bytes, nsquare: int) -> EncryptedInput:
    """Parse one client's message under the key named ``key``; sender must be a known client."""
    r = _Reader(data, ENCRYPTED_INPUT, config)
    sender = r.u32()
    if sender not in config.client_ids:
        raise MalformedMessage(f"unknown client id {sender}")
    kid = r.key_id(key)
    r.expect(config.vector_length, "vector length")
    cts = r.ciphertexts(config, nsquare)
    r.end()
    return EncryptedInput(sender, kid, cts)


def decode_sum(data: bytes, config: PaillierConfig, key: bytes, nsquare: int) -> EncryptedSum:
    """Parse the aggregate: known, strictly increasing client ids, then the ciphertexts."""
    r = _Reader(data, ENCRYPTED_SUM, config)
    kid = r.key_id(key)
    r.expect(config.vector_length, "vector length")
    count = r.u32()
    if count > config.num_clients:
        raise MalformedMessage(f"{count} included clients, at most {config.num_clients} exist")
    ids = tuple(r.u32() for _ in range(count))
    ordered = all(a < b for a, b in zip(ids, ids[1:], strict=False))
    if not ordered or any(c not in config.client_ids for c in ids):
        raise MalformedMessage("included ids must be known clients, strictly increasing")
    cts = r.ciphertexts(config, nsquare)
    r.end()
    return EncryptedSum(kid, ids, cts)


def check_units(ciphertexts: tuple[int, ...], n: int) -> None:
    """Every ciphertext is a unit mod n^2 (gcd(c, n) == 1); else ProtocolViolation."""
    if any(math.gcd(c, n) != 1 for c in ciphertexts):
        raise ProtocolViolation("ciphertext is not a unit mod n^2")

