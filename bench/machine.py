"""What a benchmark ran on: CPU model, cores, Python, and the big-integer backend ``phe`` uses."""

from __future__ import annotations

import importlib
import os
import platform
from pathlib import Path


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The first ``model name`` in /proc/cpuinfo, or ``platform.processor()`` where there is none."""
    try:
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def have_gmpy2() -> bool:
    """True when gmpy2 imports, i.e. when ``phe`` does its modular exponentiations through GMP."""
    try:
        importlib.import_module("gmpy2")
    except ImportError:
        return False
    return True


def machine_info() -> dict[str, object]:
    """Machine facts worth printing beside any timing."""
    import cryptography
    import numpy as np

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "usable_cores": usable,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cryptography": cryptography.__version__,
        "gmpy2": have_gmpy2(),
    }


def machine_line(info: dict[str, object]) -> str:
    """One line for a report."""
    gmp = "yes (phe uses GMP)" if info["gmpy2"] else "no (phe falls back to Python's pow)"
    return (f"{info['cpu']}, {info['cores']} cores ({info['usable_cores']} usable), "
            f"Python {info['python']}, numpy {info['numpy']}, cryptography {info['cryptography']}, "
            f"gmpy2 importable: {gmp}")
