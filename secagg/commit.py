"""Hash commitments bound to a label, the wire version, the session and a context.

``digest = SHA-256(info ‖ len(data) ‖ data)`` with ``info`` the same label/version/session/context
string HKDF derivations use (:func:`secagg.kdf.build_info`), so a commitment made for one purpose,
round or party never verifies for another. A commitment to a secret of 128 bits or more hides it
(SHA-256 as a random oracle) and binds the committer; ``size`` below 32 truncates the digest
where only second-preimage resistance is needed (a third party must not find another opening).

``info`` is ``prefix ‖ context`` with a prefix fixed per (label, session): the SHA-256 state
after the prefix is computed once and copied per commitment (the same digest, byte for byte).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from . import kdf
from .memo import PublicMemo

#: SHA-256 state after ``kdf.info_prefix(label, session)``, per (label, session): public bytes
#: only; copied, never updated in place. Bounded: cleared when full.
_STATES_MAX = 256
_STATES: PublicMemo[Any] = PublicMemo(_STATES_MAX)


def _state(label: bytes, session_id: bytes) -> Any:
    """The SHA-256 object that has absorbed ``kdf.info_prefix(label, session_id)`` (shared:
    callers ``.copy()`` it)."""
    return _STATES.get((label, session_id),
                       lambda: hashlib.sha256(kdf.info_prefix(label, session_id)))


def _check_size(size: int) -> None:
    if not 16 <= size <= 32:
        raise ValueError(f"commitment size must be 16..32 bytes, got {size}")


def digest(label: bytes, session_id: bytes, context: bytes, data: bytes, size: int = 32) -> bytes:
    """The commitment to ``data`` (``size`` bytes, at most 32)."""
    _check_size(size)
    h = _state(label, session_id).copy()
    h.update(context)
    h.update(len(data).to_bytes(4, "big"))
    h.update(data)
    return h.digest()[:size]


def digester(label: bytes, session_id: bytes, size: int = 32) -> Callable[[bytes, bytes], bytes]:
    """``lambda context, data: digest(label, session_id, context, data, size)``, with label,
    session and size checked once: for the many commitments of one party in one round."""
    _check_size(size)
    base = _state(label, session_id)

    def one(context: bytes, data: bytes) -> bytes:
        h = base.copy()
        h.update(context)
        h.update(len(data).to_bytes(4, "big"))
        h.update(data)
        return h.digest()[:size]

    return one


def matches(
    expected: bytes, label: bytes, session_id: bytes, context: bytes, data: bytes
) -> bool:
    """Whether ``data`` opens ``expected`` (constant-time comparison)."""
    got = digest(label, session_id, context, data, len(expected))
    return hmac.compare_digest(got, expected)
