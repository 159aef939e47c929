"""Malicious mode's PKI step, as files: one Ed25519 signing key per client, and a directory of
every client's verify key.

This stands in for enrolment. In a real deployment each device makes its own key pair (ideally
in a secure element), the signing key never leaves it, and its verify key is registered with an
authority the clients trust — not the aggregation server — which publishes the directory of
verify keys, signed or pinned. The server only ever reads the directory: a server holding the
clients' signing keys, or handing out the verify keys, could speak for clients it made up.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterable
from pathlib import Path

import nacl.signing

DIRECTORY = "verify_keys.json"  # {"<client id>": "<verify key, hex>"}


def key_path(pki_dir: Path, client_id: int) -> Path:
    """The file holding one client's signing key (its secret)."""
    return Path(pki_dir) / f"client-{client_id}.key"


def enroll(pki_dir: Path, client_ids: Iterable[int]) -> None:
    """Make a signing key per client (mode 0600, never overwritten) and publish the directory."""
    pki_dir = Path(pki_dir)
    pki_dir.mkdir(parents=True, exist_ok=True)
    directory = {}
    for cid in client_ids:
        key = nacl.signing.SigningKey.generate()  # 32 bytes from the OS CSPRNG
        fd = os.open(key_path(pki_dir, cid), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(bytes(key).hex())
        directory[str(cid)] = bytes(key.verify_key).hex()
    (pki_dir / DIRECTORY).write_text(json.dumps(directory, indent=1) + "\n")


def load_signing_key(pki_dir: Path, client_id: int) -> nacl.signing.SigningKey:
    """One client's signing key; only that client reads its file."""
    return nacl.signing.SigningKey(bytes.fromhex(key_path(pki_dir, client_id).read_text()))


def load_verify_keys(pki_dir: Path) -> dict[int, bytes]:
    """The directory: every enrolled client's 32-byte verify key, by id."""
    directory = json.loads((Path(pki_dir) / DIRECTORY).read_text())
    return {int(cid): bytes.fromhex(vk) for cid, vk in directory.items()}


def main(argv: list[str] | None = None) -> int:
    """``python pki.py --dir keys --clients 6``: enrol clients 1..n into a fresh directory."""
    parser = argparse.ArgumentParser(description="Enrol clients 1..n: the PKI step of "
                                                 "malicious mode (see README.md).")
    parser.add_argument("--dir", type=Path, required=True, help="where the keys go")
    parser.add_argument("--clients", type=int, required=True, help="n")
    args = parser.parse_args(argv)
    enroll(args.dir, range(1, args.clients + 1))
    print(f"signing keys: {args.dir}/client-<id>.key (one per client, mode 0600); "
          f"verify keys: {args.dir / DIRECTORY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
