"""Shared helpers for the LightSecAgg tests: configs, inputs, expected sums, a manual driver."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from protocols.lightsecagg import LightSecAggClient, LightSecAggConfig, LightSecAggServer, Stage
from secagg.csprng import AesCtrRandom

SESSION = b"lsa-test-session-0123"


def config(n: int, u: int, t: int, **kw: object) -> LightSecAggConfig:
    base: dict[str, object] = {"client_ids": range(1, n + 1), "vector_length": 23,
                               "session_id": SESSION}
    base.update(kw)
    return LightSecAggConfig(recovery_threshold=u, privacy_threshold=t, **base)  # type: ignore[arg-type]


def random_inputs(cfg: LightSecAggConfig, seed: int) -> dict[int, np.ndarray]:
    """Inputs anywhere in [0, 2^b), the extremes included (test data: numpy's generator)."""
    gen = np.random.default_rng(seed)
    hi = (1 << cfg.input_bits) - 1
    out = {u: gen.integers(0, hi, cfg.vector_length, dtype=np.uint64, endpoint=True)
           for u in cfg.client_ids}
    first = cfg.client_ids[0]
    out[first][:1] = hi  # the worst case for wrapping: every client at the top
    return out


def expected_sum(inputs: dict[int, np.ndarray], ids: Iterable[int]) -> np.ndarray:
    """Σ x_u with Python integers (obviously right, never reduced)."""
    total = sum((inputs[u].astype(object) for u in ids), np.zeros(1, dtype=object))
    return np.array(total, dtype=np.uint64)


class Round:
    """Drives server and clients by hand so a test can tamper with any message."""

    def __init__(self, cfg: LightSecAggConfig, seed: bytes = b"r" * 32) -> None:
        self.config = cfg
        self.rng = AesCtrRandom(seed=seed)
        self.server = LightSecAggServer(cfg)
        self.clients = {u: LightSecAggClient(cfg, u, rng=self.rng) for u in cfg.client_ids}
        self.inputs = random_inputs(cfg, 7)
        self.to_clients: dict[int, bytes | None] = dict.fromkeys(cfg.client_ids)

    def client_step(self, u: int, msg: bytes | None = None) -> bytes:
        msg = self.to_clients[u] if msg is None else msg
        return self.clients[u].respond(msg, self.inputs[u])

    def replies(self, ids: Iterable[int] | None = None) -> dict[int, bytes]:
        ids = sorted(self.to_clients) if ids is None else ids
        return {u: self.client_step(u) for u in ids}

    def deliver(self, replies: dict[int, bytes]) -> None:
        for u, data in replies.items():
            self.server.receive(u, data)

    def close(self) -> dict[int, bytes]:
        self.to_clients = dict(self.server.close_stage())
        return self.to_clients

    def stage(self, ids: Iterable[int] | None = None) -> dict[int, bytes]:
        self.deliver(self.replies(ids))
        return self.close()

    def to(self, stage: Stage) -> None:
        while self.server.stage is not stage:
            self.stage()

    def finish(self) -> np.ndarray:
        while self.server.stage not in (Stage.DONE, Stage.ABORTED):
            self.stage()
        return self.server.result()

    def check(self) -> None:
        got = self.finish()
        np.testing.assert_array_equal(got, expected_sum(self.inputs, self.server.included))
