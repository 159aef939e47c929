"""Versioned domain-separation labels for every KDF and signature, in one place.

Each label names its purpose and the wire version; a derivation also binds the session id and
the ordered party ids (see :mod:`secagg.kdf`), so no key, seed or signature is reused across
purposes, versions or rounds.
"""

from __future__ import annotations

from typing import Final

#: Wire and key-derivation version. Bump it when any derivation or encoding changes.
VERSION: Final[int] = 2

PAIRWISE_SEED: Final[bytes] = b"secagg/v2/pairwise-seed"
"""HKDF info label: X25519 shared secret -> 32-byte pairwise mask seed s_uv."""

PRG_KEY: Final[bytes] = b"secagg/v2/prg-key"
"""HKDF info label: 32-byte seed -> AES-128-CTR key of the mask PRG."""

CSPRNG_KEY: Final[bytes] = b"secagg/v2/csprng-key"
"""HKDF info label: seed -> AES-128-CTR key of the general-purpose random source."""

GRAPH_SHUFFLE: Final[bytes] = b"secagg/v2/graph-shuffle"
"""HKDF info label: session id -> key of the shuffle that places clients on the Harary graph."""

SHARE_BUNDLE: Final[bytes] = b"secagg/v2/share-bundle"
"""Associated header of a Box-encrypted share bundle (sender, recipient, session)."""

ADVERTISE_SIG: Final[bytes] = b"secagg/v2/sig/advertise-keys"
"""Ed25519 signature context: (version, session, id, c_pk, s_pk)."""

CONSISTENCY_SIG: Final[bytes] = b"secagg/v2/sig/consistency-check"
"""Ed25519 signature context: (session, sorted U3)."""

PAILLIER_KEY: Final[bytes] = b"secagg/v2/paillier"
"""Label binding Paillier messages to a session."""

GRAPH_COMMIT: Final[bytes] = b"secagg/v2/commit/graph-nonce"
"""Commitment (SHA-256) to a client's graph-seed nonce, sent before any nonce is revealed."""

GRAPH_COMMITMENTS: Final[bytes] = b"secagg/v2/commit/graph-commitments"
"""Digest (SHA-256) of every client's graph-seed commitment, as the server announces it."""

GRAPH_SEED: Final[bytes] = b"secagg/v2/graph-seed"
"""Digest (SHA-256) of every revealed nonce: the seed of the malicious-mode SecAgg+ graph."""

SHARE_COMMIT: Final[bytes] = b"secagg/v2/commit/share"
"""Commitment (SHA-256, 16 bytes) of a dealer to one holder's Shamir share."""

SELF_SEED_COMMIT: Final[bytes] = b"secagg/v2/commit/self-mask-seed"
"""Commitment (SHA-256) of a client to its self-mask seed b_u, checked after reconstruction."""

LIGHTSECAGG_MASK: Final[bytes] = b"secagg/v2/lightsecagg/mask"
"""HKDF info label: a LightSecAgg client's 32-byte seed -> AES-128-CTR key of its mask and
padding pieces (uniform GF(2^31 - 1) elements, :mod:`secagg.field_prg`)."""

LIGHTSECAGG_SUBMASK: Final[bytes] = b"secagg/v2/lightsecagg/sub-mask"
"""Tag that opens the payload of a sealed LightSecAgg coded sub-mask (sealed like a share bundle)."""

COMPRESSION_ROTATION: Final[bytes] = b"secagg/v2/compression/rotation"
"""HKDF info label: public round seed -> key of a compression rotation's random signs."""

COMPRESSION_SUBSAMPLE: Final[bytes] = b"secagg/v2/compression/subsample"
"""HKDF info label: public round seed -> key of the coordinates every client keeps."""

COMPRESSION_SKETCH: Final[bytes] = b"secagg/v2/compression/sketch"
"""HKDF info label: public round seed -> key of a count sketch's buckets and signs."""

COMPRESSION_DP_ROTATION: Final[bytes] = b"secagg/v2/compression/dp-rotation"
"""HKDF info label: public round seed -> the distributed-DP rotation seed of a compressed round."""

# --- hash labels (SHA-256 prefixes, not key derivations; so not in ALL) ---

FLOWER_FIT_INS: Final[bytes] = b"secagg/v2/flower/fit-ins"
"""SHA-256 prefix: a Flower round's model and fit config, bound into its session id."""

GROUP_ASSIGNMENT: Final[bytes] = b"secagg/v2/fl/group-assignment"
"""SHA-256 prefix: public round seed and client id -> the client's place in grouped aggregation."""

ALL: Final[tuple[bytes, ...]] = (
    PAIRWISE_SEED,
    PRG_KEY,
    CSPRNG_KEY,
    GRAPH_SHUFFLE,
    SHARE_BUNDLE,
    ADVERTISE_SIG,
    CONSISTENCY_SIG,
    PAILLIER_KEY,
    GRAPH_COMMIT,
    GRAPH_COMMITMENTS,
    GRAPH_SEED,
    SHARE_COMMIT,
    SELF_SEED_COMMIT,
    LIGHTSECAGG_MASK,
    LIGHTSECAGG_SUBMASK,
    COMPRESSION_ROTATION,
    COMPRESSION_SUBSAMPLE,
    COMPRESSION_SKETCH,
    COMPRESSION_DP_ROTATION,
)
