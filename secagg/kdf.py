"""HKDF-SHA256 with the library's mandatory context: label, version and session id.

``info = label ‖ version ‖ len(session) ‖ session ‖ context`` (lengths as 2-byte big-endian), so
two derivations that differ in purpose, version, session or context never collide.
"""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from . import labels
from .memo import PublicMemo

MIN_SESSION_ID_BYTES = 16

#: ``label ‖ version ‖ len(session) ‖ session`` per checked (label, session): public bytes, built
#: (and validated) once per round instead of once per derivation. Bounded: cleared when full.
_PREFIXES_MAX = 256
_PREFIXES: PublicMemo[bytes] = PublicMemo(_PREFIXES_MAX)
#: SHA-256 is stateless as an HKDF parameter: one instance serves every derivation.
_SHA256 = hashes.SHA256()


def info_prefix(label: bytes, session_id: bytes) -> bytes:
    """``build_info(label, session_id)``: the part of every ``info`` before the context."""
    return _PREFIXES.get((label, session_id), lambda: _build_prefix(label, session_id))


def _build_prefix(label: bytes, session_id: bytes) -> bytes:
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
        )
    )


def build_info(label: bytes, session_id: bytes, context: bytes = b"") -> bytes:
    """Return the HKDF ``info`` string that binds label, version, session and context."""
    prefix = info_prefix(label, session_id)
    return prefix + context if context else prefix


def derive(
    ikm: bytes, label: bytes, session_id: bytes, context: bytes = b"", length: int = 32
) -> bytes:
    """Derive ``length`` bytes from ``ikm`` with HKDF-SHA256, bound to label/version/session."""
    return hkdf_sha256(ikm, build_info(label, session_id, context), length)


def hkdf_sha256(ikm: bytes, info: bytes, length: int, salt: bytes | None = None) -> bytes:
    """Raw RFC 5869 HKDF-SHA256 (lower layer: use :func:`derive`, which adds the context)."""
    return HKDF(algorithm=_SHA256, length=length, salt=salt, info=info).derive(ikm)


def pair_context(u: int, v: int) -> bytes:
    """Encode the ordered pair (min, max) of party ids as KDF context."""
    lo, hi = min(u, v), max(u, v)
    return lo.to_bytes(8, "big") + hi.to_bytes(8, "big")
