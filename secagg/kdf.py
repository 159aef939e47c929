"""HKDF-SHA256 with the library's mandatory context: label, version and session id.

``info = label ‖ version ‖ len(session) ‖ session ‖ context`` (lengths as 2-byte big-endian), so
two derivations that differ in purpose, version, session or context never collide.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import labels

MIN_SESSION_ID_BYTES = 16


def build_info(label: bytes, session_id: bytes, context: bytes = b"") -> bytes:
    """Return the HKDF ``info`` string that binds label, version, session and context."""
    if label not in labels.ALL:
        raise ValueError(f"unknown KDF label {label!r}: add it to secagg.labels")
    if len(session_id) < MIN_SESSION_ID_BYTES:
        raise ValueError(f"session_id must be at least {MIN_SESSION_ID_BYTES} bytes")
    return b"".join(
        (
            len(label).to_bytes(2, "big"),
            label,
            labels.VERSION.to_bytes(2, "big"),
            len(session_id).to_bytes(2, "big"),
            session_id,
            context,
        )
    )


def derive(
    ikm: bytes, label: bytes, session_id: bytes, context: bytes = b"", length: int = 32
) -> bytes:
    """Derive ``length`` bytes from ``ikm`` with HKDF-SHA256, bound to label/version/session."""
    return hkdf_sha256(ikm, build_info(label, session_id, context), length)


def hkdf_sha256(ikm: bytes, info: bytes, length: int, salt: bytes | None = None) -> bytes:
    """Raw RFC 5869 HKDF-SHA256 (lower layer: use :func:`derive`, which adds the context)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def pair_context(u: int, v: int) -> bytes:
    """Encode the ordered pair (min, max) of party ids as KDF context."""
    lo, hi = min(u, v), max(u, v)
    return lo.to_bytes(8, "big") + hi.to_bytes(8, "big")
