"""Malicious mode's PKI over Flower: each node's Ed25519 signing key, and the verify-key file.

Malicious mode needs every client to know every other client's Ed25519 verify key from a
source the server does not control (SECURITY.md). Over Flower the identity of a client is its
**Flower node id**; the secagg client ids 1..n are assigned per round by the workflow, which
sends each node the roster (client id -> node id, bound into the session id, see
:mod:`.records`). So the keys are distributed as one file mapping node ids to verify keys,
given out of band to the ServerApp (run config) and to every SuperNode (node config, never the
run config: the run's submitter writes that):

- a node's signing key: a PEM (PKCS#8) Ed25519 private key, e.g. ``openssl genpkey -algorithm
  ed25519 -out node.key``, readable by its owner only; node config ``secagg-signing-key``;
- the verify-key file: JSON ``{"<node id>": "<64 hex digits>", ...}``; node config
  ``secagg-verify-keys``. ``python -m fl_integration.flower.keytool verify-key node.key``
  prints a key's verify key for it.

A node with a signing key refuses rounds that are not in malicious mode (a server could
otherwise downgrade it to the semi-honest protocol).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Mapping
from pathlib import Path

import nacl.signing
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from secagg.errors import LocalError

SIGNING_KEY_KEY = "secagg-signing-key"  # node config: path of this node's signing key
VERIFY_KEYS_KEY = "secagg-verify-keys"  # node config: path of the verify-key file
_VERIFY_KEY_BYTES = 32


def load_signing_key(path: str | os.PathLike) -> nacl.signing.SigningKey:
    """The node's Ed25519 signing key from a PEM file that only its owner may read."""
    path = Path(path)
    try:
        info = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise LocalError(f"cannot read the signing key {path}: {exc.strerror}") from None
    if hasattr(os, "getuid") and (info.st_uid != os.getuid()
                                  or info.st_mode & (stat.S_IRWXG | stat.S_IRWXO)):
        raise LocalError(f"the signing key {path} must belong to this user and be readable by "
                         "no one else (chmod 600)")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError):
        raise LocalError(f"{path} is not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise LocalError(f"{path} is not an Ed25519 key")
    return nacl.signing.SigningKey(key.private_bytes_raw())


def verify_key_of(signing_key: nacl.signing.SigningKey) -> bytes:
    """The 32-byte verify key that goes into the verify-key file."""
    return bytes(signing_key.verify_key)


def write_signing_key(path: str | os.PathLike) -> bytes:
    """Generate a signing key into ``path`` (mode 0600, refusing to overwrite); returns its
    verify key. For local federations and tests; a real node can use ``openssl genpkey``."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    return key.public_key().public_bytes_raw()


def load_verify_keys(path: str | os.PathLike) -> dict[int, bytes]:
    """Node id -> 32-byte verify key, from the JSON verify-key file; ``LocalError`` naming
    the first bad entry."""
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise LocalError(f"cannot read the verify-key file {path}: {exc}") from None
    if not isinstance(raw, dict):
        raise LocalError(f"{path}: expected an object mapping node ids to verify keys")
    out: dict[int, bytes] = {}
    for node, hexkey in raw.items():
        try:
            node_id, key = int(node), bytes.fromhex(hexkey)
        except (TypeError, ValueError):
            raise LocalError(f"{path}: entry {node!r} is not a node id and a hex key") from None
        if not 0 <= node_id < 2**64 or len(key) != _VERIFY_KEY_BYTES:
            raise LocalError(f"{path}: entry {node!r} needs a 64-bit node id and a 32-byte key")
        out[node_id] = key
    if len(set(out.values())) != len(out):
        raise LocalError(f"{path}: two nodes share a verify key")
    return out


def write_verify_keys(path: str | os.PathLike, keys: Mapping[int, bytes]) -> None:
    """Write the verify-key file (node ids in order, keys in hex)."""
    body = {str(node): bytes(keys[node]).hex() for node in sorted(keys)}
    Path(path).write_text(json.dumps(body, indent=1) + "\n")
