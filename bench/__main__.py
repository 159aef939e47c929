"""``python -m bench <command> [options]``: one entry point for the benchmarks.

Each command's module is imported only when chosen (Flower's is heavy) and its ``main(argv)``
gets the remaining arguments (a module without one would run as ``__main__`` through
:func:`runpy.run_module`, with ``sys.argv`` set).
"""

from __future__ import annotations

import importlib
import runpy
import sys

#: command -> (module, has main(argv), one-line description)
COMMANDS = {
    "scaling": ("bench.scaling", True, "round cost vs client count (secagg, secagg+; paillier on request)"),
    "targets": ("bench.targets", True, "the performance targets (--quick: smoke run, --out DIR)"),
    "flower": ("bench.flower_compare", True, "the same round through Flower's SecAgg+ and ours"),
    "paillier": ("bench.paillier_compare", True, "packed vs unpacked Paillier, beside SecAgg+"),
    "parameters": ("bench.parameters", True, "the parameter finder's (k, t) and budgets per n"),
    "lightsecagg": ("bench.lightsecagg", True, "LightSecAgg beside SecAgg and SecAgg+ by dropout"),
    "compression": ("bench.compression", True, "compression under the mask: bytes and accuracy"),
    "groups": ("bench.groups", True, "grouped secure aggregation: groups/s by worker count"),
    "readme": ("bench.readme", True, "rewrite the README's tables from docs/perf (--check)"),
}


def usage() -> str:
    """The usage message listing every command."""
    width = max(map(len, COMMANDS))
    lines = ["usage: python -m bench <command> [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {desc}" for name, (_, _, desc) in COMMANDS.items()]
    lines += ["", "python -m bench <command> --help shows a command's options."]
    return "\n".join(lines)


def dispatch(argv: list[str]) -> int:
    """Run ``argv[0]`` with the rest of ``argv``; 2 and the usage on stderr for anything else."""
    if argv and argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if not argv or argv[0] not in COMMANDS:
        what = f"unknown command {argv[0]!r}\n" if argv else "no command given\n"
        print(what + usage(), file=sys.stderr)
        return 2
    module, has_main, _ = COMMANDS[argv[0]]
    saved = sys.argv
    sys.argv = [f"python -m bench {argv[0]}", *argv[1:]]  # argparse's prog in their usage lines
    try:
        if has_main:
            return int(importlib.import_module(module).main(argv[1:]) or 0)
        runpy.run_module(module, run_name="__main__", alter_sys=True)
        return 0
    finally:
        sys.argv = saved


if __name__ == "__main__":
    sys.exit(dispatch(sys.argv[1:]))
