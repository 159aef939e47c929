"""Flower adapter: our SecAgg / SecAgg+ or LightSecAgg inside a Flower app, one line away.

``secagg_mod`` (client mod) and ``SecAggWorkflow`` (server workflow) stand where Flower's
``secaggplus_mod`` and ``SecAggPlusWorkflow`` stand; the aliases of the same names make the
switch a one-line import change. Needs the ``flower`` extra: ``pip install 'secagg[flower]'``.
The rest of the library never imports this package, so it works without Flower.

Each node records the stages it has answered in a node-local directory (``StageGuard``, see
:mod:`.guard` for where it lives: node config ``secagg-state-dir``, ``SECAGG_STATE_DIR``, or
``~/.local/state/secagg/flower``), so that no stage is answered twice, even concurrently.

Malicious mode (``SecAggWorkflow(malicious=True, verify_keys=...)``) needs every node's Ed25519
signing key and the federation's verify-key file in its node config (``secagg-signing-key``,
``secagg-verify-keys``); :mod:`.identity` reads and writes both.

``SecAggWorkflow(protocol="lightsecagg")`` runs LightSecAgg (semi-honest only) with the same
mod; ``SecAggWorkflow(compression=...)`` makes the nodes send compressed updates
(:mod:`.compress`).
"""

from __future__ import annotations

try:
    import flwr  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "fl_integration.flower needs Flower: pip install 'secagg[flower]'"
    ) from exc

from .guard import StageGuard
from .mod import secagg_mod
from .records import RoundSetup
from .workflow import SecAggWorkflow

# Flower's names, so `from fl_integration.flower import secaggplus_mod` is the whole switch.
secaggplus_mod = secagg_mod
SecAggPlusWorkflow = SecAggWorkflow

__all__ = [
    "RoundSetup",
    "SecAggPlusWorkflow",
    "SecAggWorkflow",
    "StageGuard",
    "secagg_mod",
    "secaggplus_mod",
]
