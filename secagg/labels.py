"""Versioned domain-separation labels for every KDF and signature, in one place.

Each label names its purpose and the wire version; a derivation also binds the session id and
the ordered party ids (see :mod:`secagg.kdf`), so no key, seed or signature is reused across
purposes, versions or rounds.
"""

from __future__ import annotations

from typing import Final

#: Wire and key-derivation version. Bump it when any derivation or encoding changes.
VERSION: Final[int] = 1

PAIRWISE_SEED: Final[bytes] = b"secagg/v1/pairwise-seed"
"""HKDF info label: X25519 shared secret -> 32-byte pairwise mask seed s_uv."""

PRG_KEY: Final[bytes] = b"secagg/v1/prg-key"
"""HKDF info label: 32-byte seed -> AES-128-CTR key of the mask PRG."""

CSPRNG_KEY: Final[bytes] = b"secagg/v1/csprng-key"
"""HKDF info label: seed -> AES-128-CTR key of the general-purpose random source."""

GRAPH_SHUFFLE: Final[bytes] = b"secagg/v1/graph-shuffle"
"""HKDF info label: session id -> key of the shuffle that places clients on the Harary graph."""

SHARE_BUNDLE: Final[bytes] = b"secagg/v1/share-bundle"
"""Associated header of a Box-encrypted share bundle (sender, recipient, session)."""

ADVERTISE_SIG: Final[bytes] = b"secagg/v1/sig/advertise-keys"
"""Ed25519 signature context: (version, session, id, c_pk, s_pk)."""

CONSISTENCY_SIG: Final[bytes] = b"secagg/v1/sig/consistency-check"
"""Ed25519 signature context: (session, sorted U3)."""

PAILLIER_KEY: Final[bytes] = b"secagg/v1/paillier"
"""Label binding Paillier messages to a session."""

ALL: Final[tuple[bytes, ...]] = (
    PAIRWISE_SEED,
    PRG_KEY,
    CSPRNG_KEY,
    GRAPH_SHUFFLE,
    SHARE_BUNDLE,
    ADVERTISE_SIG,
    CONSISTENCY_SIG,
    PAILLIER_KEY,
)
