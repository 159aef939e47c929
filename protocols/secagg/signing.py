"""Malicious mode's signatures: what a client signs, and the PKI of verify keys.

Every signed payload starts with the session id; the signature label adds purpose and version
(:func:`secagg.keys.SigningKeyPair.sign`), so a signature never verifies in another round or
for another purpose.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping

import nacl.signing
import numpy as np

from secagg import keys

from .config import SecAggConfig


def advertise_payload(
    config: SecAggConfig, client_id: int, c_pk: bytes, s_pk: bytes, graph_commitment: bytes = b""
) -> bytes:
    """What a client signs in stage 0: (session, id, c_pk, s_pk, graph-nonce commitment)."""
    return (_session_prefix(config) + struct.pack(">I", client_id) + c_pk + s_pk
            + graph_commitment)


def consistency_payload(config: SecAggConfig, alive: tuple[int, ...], graph: bytes) -> bytes:
    """What a client signs in the consistency check: (session, graph seed, sorted U3).

    ``graph`` is the seed the signer built its neighbour graph from, so signers agree on both
    the survivors and the graph."""
    ids = np.asarray(sorted(alive), dtype=">u4").tobytes()
    return (_session_prefix(config) + len(graph).to_bytes(2, "big") + graph
            + struct.pack(">I", len(alive)) + ids)


def _session_prefix(config: SecAggConfig) -> bytes:
    return len(config.session_id).to_bytes(2, "big") + config.session_id


def as_signing_key(key: object) -> keys.SigningKeyPair:
    """Accept a ``SigningKeyPair`` or a ``nacl.signing.SigningKey``."""
    if isinstance(key, keys.SigningKeyPair):
        return key
    if isinstance(key, nacl.signing.SigningKey):
        return keys.SigningKeyPair(key)
    if key is None:
        raise ValueError("malicious mode needs this client's signing_key (its Ed25519 key)")
    raise ValueError("signing_key must be a nacl.signing.SigningKey or SigningKeyPair")


def check_verify_keys(
    config: SecAggConfig, verify_keys: Mapping[int, bytes] | None
) -> dict[int, bytes]:
    """The PKI of malicious mode: a 32-byte Ed25519 verify key for every client id."""
    if not config.malicious:
        return {}
    if verify_keys is None:
        raise ValueError("malicious mode needs verify_keys for every client")
    out = {}
    for cid in config.client_ids:
        vk = verify_keys.get(cid)
        vk = bytes(vk) if isinstance(vk, (bytes, nacl.signing.VerifyKey)) else vk
        if not isinstance(vk, bytes) or len(vk) != keys.KEY_BYTES:
            raise ValueError(f"verify_keys[{cid}] must be a 32-byte Ed25519 verify key")
        out[cid] = vk
    return out
