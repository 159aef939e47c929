"""``python -m bench <command>``: dispatch to a bench command (only ``scaling`` for now)."""

import sys

from bench.scaling import main

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "scaling":
        sys.exit("usage: python -m bench scaling [options]  (see --help)")
    sys.exit(main(sys.argv[2:]))
