"""``python -m fl_integration.flower.keytool``: a node's signing key for malicious mode.

    python -m fl_integration.flower.keytool generate node.key    # a new key, mode 0600
    python -m fl_integration.flower.keytool verify-key node.key  # its verify key, in hex

Both print the verify key (64 hex digits). It goes into the federation's verify-key file under
the node's Flower node id (see :mod:`fl_integration.flower.identity`).
"""

from __future__ import annotations

import sys

from .identity import load_signing_key, verify_key_of, write_signing_key


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("verify-key", "generate"):
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    if argv[0] == "generate":
        print(write_signing_key(argv[1]).hex())
    else:
        print(verify_key_of(load_signing_key(argv[1])).hex())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
