"""Hash commitments bound to a label, the wire version, the session and a context.

``digest = SHA-256(info ‖ len(data) ‖ data)`` with ``info`` the same label/version/session/context
string HKDF derivations use (:func:`secagg.kdf.build_info`), so a commitment made for one purpose,
round or party never verifies for another. A commitment to a secret of 128 bits or more hides it
(SHA-256 as a random oracle) and binds the committer; ``size`` below 32 truncates the digest
where only second-preimage resistance is needed (a third party must not find another opening).
"""

from __future__ import annotations

import hashlib
import hmac

from . import kdf


def digest(label: bytes, session_id: bytes, context: bytes, data: bytes, size: int = 32) -> bytes:
    """The commitment to ``data`` (``size`` bytes, at most 32)."""
    if not 16 <= size <= 32:
        raise ValueError(f"commitment size must be 16..32 bytes, got {size}")
    h = hashlib.sha256(kdf.build_info(label, session_id, context))
    h.update(len(data).to_bytes(4, "big"))
    h.update(data)
    return h.digest()[:size]


def matches(
    expected: bytes, label: bytes, session_id: bytes, context: bytes, data: bytes
) -> bool:
    """Whether ``data`` opens ``expected`` (constant-time comparison)."""
    got = digest(label, session_id, context, data, len(expected))
    return hmac.compare_digest(got, expected)
