"""Authenticated encryption of share bundles between two clients, relayed by the server.

A bundle is ``nacl.public.Box`` (XSalsa20-Poly1305) over ``header ‖ payload``, as ``nonce ‖
ciphertext`` (the format of ``Box.encrypt``). The header binds label, version, session, sender
and recipient; it is checked on decrypt, so a bundle replayed to another recipient, from another
sender or in another session is rejected like a forged one.
"""

from __future__ import annotations

import hmac

import nacl.bindings
import nacl.exceptions
import nacl.public

from . import labels
from .csprng import RandomSource, resolve
from .errors import AuthenticationError
from .keys import BoxKeyPair
from .memo import PublicMemo

NONCE_BYTES = nacl.public.Box.NONCE_SIZE
OVERHEAD_BYTES = NONCE_BYTES + (nacl.bindings.crypto_box_ZEROBYTES - nacl.bindings.crypto_box_BOXZEROBYTES)  # Poly1305 tag: 16


def bundle_header(sender_id: int, recipient_id: int, session_id: bytes) -> bytes:
    """The bytes every bundle plaintext starts with: who to whom, in which session."""
    return (
        _session_header(session_id) + sender_id.to_bytes(8, "big") + recipient_id.to_bytes(8, "big")
    )


#: ``label ‖ version ‖ len(session) ‖ session`` per session: public bytes. Bounded.
_SESSION_HEADERS_MAX = 256
_SESSION_HEADERS: PublicMemo[bytes] = PublicMemo(_SESSION_HEADERS_MAX)


def _session_header(session_id: bytes) -> bytes:
    """The session part of :func:`bundle_header`, built once per session."""
    return _SESSION_HEADERS.get((session_id,), lambda: _build_session_header(session_id))


def _build_session_header(session_id: bytes) -> bytes:
    return b"".join(
        (
            labels.SHARE_BUNDLE,
            labels.VERSION.to_bytes(2, "big"),
            len(session_id).to_bytes(2, "big"),
            session_id,
        )
    )


def sealed_size(payload_len: int, session_id: bytes) -> int:
    """Ciphertext length of a bundle with a payload of ``payload_len`` bytes."""
    return OVERHEAD_BYTES + len(bundle_header(0, 0, session_id)) + payload_len


def seal_bundle(
    sender: BoxKeyPair,
    recipient_public: bytes,
    sender_id: int,
    recipient_id: int,
    session_id: bytes,
    payload: bytes,
    rng: RandomSource | None = None,
) -> bytes:
    """Encrypt ``payload`` from ``sender_id`` to ``recipient_id`` in this session.

    ``nonce ‖ crypto_box_easy_afternm(header ‖ payload)`` on the Box's precomputed key: what
    ``Box.encrypt`` returns, without its encoder and message-object overhead."""
    nonce = resolve(rng).token_bytes(NONCE_BYTES)
    plaintext = bundle_header(sender_id, recipient_id, session_id) + payload
    key = sender.shared_key(recipient_public)
    return nonce + nacl.bindings.crypto_box_easy_afternm(plaintext, nonce, key)


def open_bundle(
    recipient: BoxKeyPair,
    sender_public: bytes,
    sender_id: int,
    recipient_id: int,
    session_id: bytes,
    ciphertext: bytes,
) -> bytes:
    """Decrypt and check a bundle; any mismatch raises the same :class:`AuthenticationError`.

    ``crypto_box_open_easy_afternm`` on the Box's precomputed key, as ``Box.decrypt`` does."""
    try:
        key = recipient.shared_key(sender_public)
        blob = bytes(ciphertext)
        if len(blob) < NONCE_BYTES:
            raise nacl.exceptions.ValueError("bundle shorter than its nonce")
        plaintext = nacl.bindings.crypto_box_open_easy_afternm(
            blob[NONCE_BYTES:], blob[:NONCE_BYTES], key
        )
    except (nacl.exceptions.CryptoError, nacl.exceptions.ValueError, TypeError) as exc:
        raise AuthenticationError("share bundle does not authenticate") from exc
    header = bundle_header(sender_id, recipient_id, session_id)
    if len(plaintext) < len(header) or not hmac.compare_digest(plaintext[: len(header)], header):
        raise AuthenticationError("share bundle does not authenticate")
    return plaintext[len(header) :]
