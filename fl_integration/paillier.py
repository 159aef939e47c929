"""The Paillier backend: the same encoded vectors, summed under additively homomorphic encryption.

Trust model (see ``protocols.paillier``): a separate key holder decrypts only the sum; a server
colluding with it would learn every input. One key pair is made on first use and reused across
rounds (the protocol binds every message to the round's session); each round is a new session.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np

from protocols.checks import worst_count
from protocols.paillier import PaillierConfig, PaillierKeyPair, aggregate_paillier
from secagg.encoding import unembed_signed
from secagg.errors import AbortError

from .aggregators import AggregateResult, RoundContext, default_threshold
from .simulation import STAGES


@dataclass
class PaillierAggregator:
    """Packed Paillier aggregation of the codec's integers (``key_bits`` < 2048 only in tests)."""

    key_bits: int = 3072
    corrupt: float = 0.05  # clients that may collude with the key holder (the DP accounting)
    allow_insecure_key_size: bool = False  # tests only: small keys anyone can factor
    name: str = field(default="paillier", init=False)
    stages: tuple[str, ...] = field(default=STAGES, init=False)  # dropouts map as for SecAgg
    _keypair: PaillierKeyPair | None = field(default=None, init=False, repr=False)

    def aggregate(self, updates: Mapping[int, np.ndarray], weights: Mapping[int, float],
                  ctx: RoundContext) -> AggregateResult:
        """Clients whose input arrives in time encrypt; the key holder decrypts the sum only."""
        n = len(ctx.plan.sampled)
        if n < 2:
            raise AbortError("encrypt", 2, n, "one input is never decrypted alone")
        n_min = default_threshold(n)
        # the key holder sees only sums of >= n_min inputs, colluders' among them
        colluders = min(n_min - 2, worst_count(self.corrupt, n))
        codec = ctx.make_codec(n, n_min - colluders, colluders=colluders)
        config = PaillierConfig(
            client_ids=ctx.plan.sampled, vector_length=codec.length, value_bits=codec.bits,
            key_bits=self.key_bits, allow_insecure_key_size=self.allow_insecure_key_size,
            min_clients=n_min if ctx.integer_only else 2,
        )
        if self._keypair is None:
            self._keypair = PaillierKeyPair.generate(self.key_bits, ctx.rng)
        senders = sorted(ctx.plan.input_survivors() & updates.keys())
        vectors = {c: unembed_signed(codec.encode(updates[c], weights[c], ctx.rng), codec.bits)
                   for c in senders}
        out = aggregate_paillier(vectors, config, keypair=self._keypair, rng=ctx.rng,
                                 clock=time.perf_counter)
        mask = np.uint64((1 << codec.bits) - 1) if codec.bits < 64 else np.uint64(2**64 - 1)
        total = out.sum.astype(np.int64).view(np.uint64) & mask  # back to Z_{2^b} for the codec
        vec, weight = codec.decode(total, len(out.included))
        bound = codec.mean_bound(len(out.included), weight)
        return AggregateResult(vec, weight, out.included, _stats(out.stats, len(senders), n, bound))


def _stats(s: Mapping[str, float], senders: int, sampled: int, bound: float) -> dict:
    seconds = s["server_s"] + s["decryptor_s"] + s["client_max_s"]
    return {
        "seconds": seconds, "server_s": s["server_s"], "decryptor_s": s["decryptor_s"],
        "client_max_s": s["client_max_s"],
        "bytes_up": int(s["bytes_up_per_client"] * senders),
        "bytes_down": int(s["bytes_down_per_client"] * sampled + s["bytes_to_decryptor"]),
        "quantization_bound": bound,
        "stages": {"masked_input": {"seconds": seconds}},
    }
