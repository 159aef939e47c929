"""The in-process driver: stats, byte counts, the sans-IO respond() loop, warm-up."""

from __future__ import annotations

import numpy as np
import pytest

from protocols.lightsecagg import LightSecAggClient, Stage, codec, simulate_round, warm_up
from secagg.errors import EncodingError, OutOfOrder

from .helpers import config, expected_sum, random_inputs


def test_stats_have_secaggs_figures_and_the_submask_price() -> None:
    cfg = config(10, 6, 2, vector_length=1000)
    inputs = random_inputs(cfg, 3)
    result = simulate_round(cfg, inputs, {"masked_input": [10]})
    stats = result.stats
    for key in ("server_s", "client_mean_s", "client_max_s", "bytes_up_per_client",
                "bytes_down_per_client", "submask_bytes_up_per_client"):
        assert stats[key] >= 0, key
    assert set(stats["stages"]) == {"advertise_keys", "share_masks", "masked_input",
                                    "aggregate_mask"}
    # masked input: m values at 31 bits; sub-masks: N - 1 sealed rows of L = ⌈m / (U − T)⌉
    assert stats["stages"]["masked_input"]["bytes_up_per_client"] > (1000 * 31 // 8) * 9 / 10
    per_row = codec.sealed_submask_size(cfg)
    assert stats["submask_bytes_up_per_client"] >= 9 * per_row
    assert per_row >= codec.packed_field_size(250)
    np.testing.assert_array_equal(result.sum, expected_sum(inputs, result.included))


def test_respond_drives_a_client_through_every_stage() -> None:
    cfg = config(5, 3, 1)
    c = LightSecAggClient(cfg, 2)
    assert c.stage is Stage.ADVERTISE_KEYS and not c.wants_input
    with pytest.raises(ValueError):
        LightSecAggClient(cfg, 99)
    c.respond()
    with pytest.raises(OutOfOrder):
        c.respond()
    with pytest.raises(TypeError):
        __import__("copy").deepcopy(c)
    assert "LightSecAggClient(id=2" in repr(c)


def test_inputs_must_fit_the_width_that_cannot_wrap() -> None:
    cfg = config(5, 3, 1, input_bits=8)
    inputs = random_inputs(cfg, 1)
    inputs[3] = inputs[3].copy()
    inputs[3][0] = 256
    with pytest.raises(EncodingError, match="2\\^8"):
        simulate_round(cfg, inputs)
    inputs[3] = inputs[3].astype(np.float64)
    with pytest.raises(EncodingError, match="integers"):
        simulate_round(cfg, inputs)


def test_unknown_stage_names_and_missing_inputs_are_refused() -> None:
    cfg = config(5, 3, 1)
    with pytest.raises(ValueError, match="unknown stage"):
        simulate_round(cfg, random_inputs(cfg, 1), {"unmasking": [1]})
    with pytest.raises(ValueError, match="inputs missing"):
        simulate_round(cfg, {1: np.zeros(23, dtype=np.uint32)})


def test_warm_up_runs() -> None:
    warm_up()


def test_float_encoding_carries_over_through_the_exact_sum() -> None:
    """FixedPointEncoder.for_round fits b = input_bits and N; the exact sum mod 2^b decodes."""
    from secagg.csprng import AesCtrRandom
    from secagg.encoding import FixedPointEncoder

    cfg = config(12, 7, 3, vector_length=500)
    enc = FixedPointEncoder.for_round(cfg, clip=1.0)
    assert enc.bits == cfg.input_bits and enc.max_summands == 12
    rng = AesCtrRandom(b"f" * 32)
    floats = {u: np.linspace(-1, 1, 500) * (u % 3 - 1) for u in cfg.client_ids}
    inputs = {u: enc.encode(x, rng, config=cfg) for u, x in floats.items()}
    result = simulate_round(cfg, inputs, {"masked_input": [5]})
    got = enc.decode_sum(cfg.wrap(result.sum), len(result.included), config=cfg)
    want = sum(floats[u] for u in result.included)
    assert np.abs(got - want).max() <= len(result.included) / enc.scale
