"""Key types: X25519 mask agreement, Box encryption keys and Ed25519 signing keys.

Keys are small opaque objects built by classmethods and used by one verb, as in
``cryptography``. None of them pickles or prints its secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import NoReturn

import nacl.bindings
import nacl.exceptions
import nacl.public
import nacl.signing
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from . import kdf, labels
from .csprng import RandomSource, resolve
from .errors import AuthenticationError, ProtocolViolation

KEY_BYTES = 32
SIGNATURE_BYTES = 64


class _Secret:
    """Mixin: secret-holding objects refuse to be pickled or copied by reduction."""

    __slots__ = ()

    def __reduce__(self) -> NoReturn:
        raise TypeError(f"{type(self).__name__} holds a secret key and cannot be pickled")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(public={self.public_hex()[:16]}…)"

    def public_hex(self) -> str:  # pragma: no cover - overridden
        raise NotImplementedError


class MaskKeyPair(_Secret):
    """X25519 key pair (s_sk, s_pk) whose agreements seed the pairwise masks."""

    __slots__ = ("_sk", "public_bytes")

    def __init__(self, sk: X25519PrivateKey) -> None:
        self._sk = sk
        self.public_bytes: bytes = sk.public_key().public_bytes_raw()

    @classmethod
    def generate(cls, rng: RandomSource | None = None) -> MaskKeyPair:
        """A fresh key pair from the CSPRNG (``rng`` for reproducible tests)."""
        return cls.from_private_bytes(resolve(rng).token_bytes(KEY_BYTES))

    @classmethod
    def from_private_bytes(cls, data: bytes) -> MaskKeyPair:
        """Rebuild a key pair from its 32 private bytes (e.g. after Shamir reconstruction)."""
        if len(data) != KEY_BYTES:
            raise ValueError(f"X25519 private key must be {KEY_BYTES} bytes")
        return cls(X25519PrivateKey.from_private_bytes(bytes(data)))

    def private_bytes(self) -> bytes:
        """The 32 raw private bytes, for secret sharing s_sk among neighbours."""
        return self._sk.private_bytes(Encoding.Raw, PrivateFormat.Raw, NoEncryption())

    def exchange(self, peer_public: bytes) -> bytes:
        """Raw X25519 shared secret; a low-order peer key is a protocol violation."""
        if len(peer_public) != KEY_BYTES:
            raise ProtocolViolation("mask-agreement public key must be 32 bytes")
        try:
            return self._sk.exchange(X25519PublicKey.from_public_bytes(bytes(peer_public)))
        except ValueError as exc:  # all-zero shared secret: small-order point
            raise ProtocolViolation("peer mask-agreement key is a low-order point") from exc

    def public_hex(self) -> str:
        return self.public_bytes.hex()


def check_public_point(public: bytes) -> None:
    """Refuse a 32-byte X25519 public key that is not canonical or has small order
    (ProtocolViolation).

    Canonical: the little-endian u-coordinate is below p = 2^255 - 19 (so bit 255 is clear);
    X25519 would accept other encodings of the same point, and a key that can be written two
    ways cannot be compared with the one rebuilt from its shares. Small order: X25519 clamps
    every scalar to a multiple of the cofactor 8, so a product with *any* scalar is the all-zero
    point exactly when the peer point has small order; libsodium refuses that product. The
    scalar here is public and fixed: this is a check, not a key agreement.
    """
    if len(public) != KEY_BYTES:
        raise ProtocolViolation(f"X25519 public key must be {KEY_BYTES} bytes")
    if int.from_bytes(public, "little") >= _FIELD_P:
        raise ProtocolViolation("X25519 public key is not in canonical form")
    try:
        nacl.bindings.crypto_scalarmult(_CHECK_SCALAR, public)
    except nacl.exceptions.RuntimeError as exc:
        raise ProtocolViolation("X25519 public key is a low-order point") from exc


_CHECK_SCALAR = bytes([9]) + bytes(31)
_FIELD_P = 2**255 - 19


def pairwise_seed(
    private: MaskKeyPair, peer_public: bytes, session_id: bytes, self_id: int, peer_id: int
) -> bytes:
    """s_uv: HKDF of the X25519 agreement, bound to label, version, session and (min, max) ids.

    Symmetric: both ends derive the same seed, since the context orders the pair.
    """
    if self_id == peer_id:
        raise ValueError("a party has no pairwise seed with itself")
    shared = private.exchange(peer_public)
    return kdf.derive(shared, labels.PAIRWISE_SEED, session_id, kdf.pair_context(self_id, peer_id))


def pairwise_seeds(
    private: MaskKeyPair,
    self_id: int,
    peers: Iterable[tuple[int, bytes]],
    session_id: bytes,
) -> list[bytes]:
    """:func:`pairwise_seed` with each ``(peer_id, peer_public_bytes)``, the same seeds.

    For many peers, and for threads: the agreement runs in libsodium's ``crypto_scalarmult``
    (the same RFC 7748 X25519), which releases the GIL, so worker threads derive seeds in
    parallel; the KDF prefix is built once.
    """
    prefix = kdf.info_prefix(labels.PAIRWISE_SEED, session_id)
    scalar = private.private_bytes()
    scalarmult, hkdf, pair = nacl.bindings.crypto_scalarmult, kdf.hkdf_sha256, kdf.pair_context
    out = []
    for peer_id, peer_public in peers:
        if self_id == peer_id:
            raise ValueError("a party has no pairwise seed with itself")
        if not isinstance(peer_public, bytes) or len(peer_public) != KEY_BYTES:
            raise ProtocolViolation("mask-agreement public key must be 32 bytes")
        try:
            shared = scalarmult(scalar, peer_public)
        except nacl.exceptions.RuntimeError as exc:  # libsodium refuses small-order points
            raise ProtocolViolation("peer mask-agreement key is a low-order point") from exc
        out.append(hkdf(shared, prefix + pair(self_id, peer_id), 32))
    return out


class BoxKeyPair(_Secret):
    """Curve25519 key pair (c_sk, c_pk) for ``nacl.public.Box`` encryption of share bundles."""

    __slots__ = ("_sk", "public_bytes")

    def __init__(self, sk: nacl.public.PrivateKey) -> None:
        self._sk = sk
        self.public_bytes: bytes = bytes(sk.public_key)

    @classmethod
    def generate(cls, rng: RandomSource | None = None) -> BoxKeyPair:
        """A fresh key pair from the CSPRNG."""
        return cls(nacl.public.PrivateKey(resolve(rng).token_bytes(KEY_BYTES)))

    def box(self, peer_public: bytes) -> nacl.public.Box:
        """The authenticated-encryption channel to one peer."""
        if len(peer_public) != KEY_BYTES:
            raise ProtocolViolation("encryption public key must be 32 bytes")
        try:
            return nacl.public.Box(self._sk, nacl.public.PublicKey(peer_public))
        except nacl.exceptions.RuntimeError as exc:  # libsodium refuses small-order points
            raise ProtocolViolation("peer encryption key is a low-order point") from exc

    def shared_key(self, peer_public: bytes) -> bytes:
        """``self.box(peer_public).shared_key()``: the Box's precomputed key (libsodium's
        ``crypto_box_beforenm``), with the same checks, without building the Box objects."""
        if len(peer_public) != KEY_BYTES:
            raise ProtocolViolation("encryption public key must be 32 bytes")
        if not isinstance(peer_public, bytes):  # as nacl.public.PublicKey refuses it
            raise nacl.exceptions.TypeError("PublicKey must be created from 32 bytes")
        try:
            return nacl.bindings.crypto_box_beforenm(peer_public, bytes(self._sk))
        except nacl.exceptions.RuntimeError as exc:  # libsodium refuses small-order points
            raise ProtocolViolation("peer encryption key is a low-order point") from exc

    def boxes(self, peer_publics: Sequence[bytes], *, workers: int = 1) -> list[nacl.public.Box]:
        """:meth:`box` for many peers, on ``workers`` threads (libsodium releases the GIL)."""
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be an integer >= 1, got {workers!r}")
        if workers == 1 or len(peer_publics) < 2 * workers:
            return [self.box(pk) for pk in peer_publics]
        step = -(-len(peer_publics) // workers)
        parts = [peer_publics[i : i + step] for i in range(0, len(peer_publics), step)]
        with ThreadPoolExecutor(max_workers=len(parts) - 1, thread_name_prefix="secagg-box") as pool:
            futures = [pool.submit(lambda p: [self.box(pk) for pk in p], p) for p in parts[1:]]
            out = [self.box(pk) for pk in parts[0]]  # the calling thread takes the first part
            for f in futures:
                out += f.result()
        return out

    def public_hex(self) -> str:
        return self.public_bytes.hex()


class SigningKeyPair(_Secret):
    """Ed25519 signing key (malicious-server mode); signs label-prefixed messages only."""

    __slots__ = ("_sk", "verify_key_bytes")

    def __init__(self, sk: nacl.signing.SigningKey) -> None:
        self._sk = sk
        self.verify_key_bytes: bytes = bytes(sk.verify_key)

    @classmethod
    def generate(cls, rng: RandomSource | None = None) -> SigningKeyPair:
        """A fresh signing key from the CSPRNG."""
        return cls(nacl.signing.SigningKey(resolve(rng).token_bytes(KEY_BYTES)))

    @classmethod
    def from_private_bytes(cls, seed: bytes) -> SigningKeyPair:
        """The key of a 32-byte Ed25519 seed (what :meth:`private_bytes` returns), for a key
        kept in a file on the device."""
        if not isinstance(seed, bytes) or len(seed) != KEY_BYTES:
            raise ValueError(f"an Ed25519 seed is {KEY_BYTES} bytes")
        return cls(nacl.signing.SigningKey(seed))

    def private_bytes(self) -> bytes:
        """The 32-byte seed: store it as you would any private key (never send it)."""
        return bytes(self._sk)

    def sign(self, label: bytes, message: bytes) -> bytes:
        """A 64-byte signature over ``label ‖ version ‖ message``."""
        return self._sk.sign(_signed_bytes(label, message)).signature

    def public_hex(self) -> str:
        return self.verify_key_bytes.hex()


def verify_signature(verify_key: bytes, label: bytes, message: bytes, signature: bytes) -> None:
    """Check an Ed25519 signature made by :meth:`SigningKeyPair.sign`; raise if it fails."""
    if len(verify_key) != KEY_BYTES or len(signature) != SIGNATURE_BYTES:
        raise AuthenticationError("signature does not verify")
    try:
        nacl.signing.VerifyKey(verify_key).verify(_signed_bytes(label, message), signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError) as exc:
        raise AuthenticationError("signature does not verify") from exc


def _signed_bytes(label: bytes, message: bytes) -> bytes:
    if label not in labels.ALL:
        raise ValueError(f"unknown signature label {label!r}: add it to secagg.labels")
    return len(label).to_bytes(2, "big") + label + labels.VERSION.to_bytes(2, "big") + message
