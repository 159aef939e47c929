"""Packed Paillier aggregation: exact signed sums, refusals, and typed errors on bad bytes.

Keys here are 256-512 bits through ``allow_insecure_key_size`` (test-only) so the suite stays fast;
the arithmetic and the wire format are the same at 3072 bits.
"""

from __future__ import annotations

import pickle
from functools import cache

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.paillier import (
    PaillierClient,
    PaillierConfig,
    PaillierDecryptor,
    PaillierKeyPair,
    PaillierServer,
    aggregate_paillier,
)
from protocols.paillier import codec as codec
from secagg.csprng import AesCtrRandom
from secagg.encoding import FixedPointEncoder, embed_signed, unembed_signed
from secagg.errors import (
    AbortError,
    EncodingError,
    MalformedMessage,
    OutOfOrder,
    ProtocolViolation,
    WrongSession,
)

SESSION = b"paillier-test-session-0"


def _rng(tag: bytes = b"t") -> AesCtrRandom:
    return AesCtrRandom(seed=(tag * 32)[:32])


@cache
def _keypair(bits: int, tag: bytes = b"k") -> PaillierKeyPair:
    return PaillierKeyPair.generate(bits, _rng(tag))


def _config(n: int = 4, length: int = 20, bits: int = 256, **kw) -> PaillierConfig:
    kw.setdefault("session_id", SESSION)
    return PaillierConfig(
        client_ids=tuple(range(1, n + 1)), vector_length=length, key_bits=bits,
        allow_insecure_key_size=True, **kw,
    )


def _values(rng: np.random.Generator, v: int, shape: int) -> np.ndarray:
    return rng.integers(-(2 ** (v - 1)), 2 ** (v - 1), size=shape, dtype=np.int64)


# --- correctness ----------------------------------------------------------------------------


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(2, 9),
    length=st.integers(1, 120),
    v=st.sampled_from([8, 13, 32, 59]),
    bits=st.sampled_from([256, 512]),
    seed=st.integers(0, 2**32 - 1),
    data=st.data(),
)
def test_sum_is_exact_for_any_subset(n, length, v, bits, seed, data) -> None:
    config = _config(n, length, bits, value_bits=v, min_clients=2,
                     session_id=seed.to_bytes(4, "big") * 4)
    gen = np.random.default_rng(seed)
    senders = data.draw(st.sets(st.sampled_from(config.client_ids), min_size=2))
    vectors = {c: _values(gen, v, length) for c in senders}
    res = aggregate_paillier(vectors, config, keypair=_keypair(bits), rng=_rng(b"%d" % seed))
    expected = np.sum(np.stack(list(vectors.values())), axis=0, dtype=np.int64)
    assert res.sum.dtype == np.int64 and np.array_equal(res.sum, expected)
    assert res.included == frozenset(senders)


@pytest.mark.parametrize("extreme", ["min", "max"])
@pytest.mark.parametrize(("n", "v"), [(8, 55), (16, 47), (5, 16), (64, 8)])
def test_largest_values_the_layout_allows(extreme: str, n: int, v: int) -> None:
    config = _config(n, 11, 512, value_bits=v)
    value = -(2 ** (v - 1)) if extreme == "min" else 2 ** (v - 1) - 1
    vectors = {c: np.full(11, value, dtype=np.int64) for c in config.client_ids}
    res = aggregate_paillier(vectors, config, keypair=_keypair(512))
    assert res.sum.tolist() == [n * value] * 11


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 300), v=st.integers(8, 40), length=st.integers(1, 60),
       count=st.integers(1, 300), seed=st.integers(0, 2**32 - 1))
def test_packing_is_additive_without_carries(n, v, length, count, seed) -> None:
    """Plain integer sums of packed vectors unpack to the exact sums (the law encryption keeps)."""
    from protocols.paillier.packing import SlotLayout

    layout = SlotLayout.for_params(key_bits=2048, value_bits=v, max_summands=n)
    assert layout.slots * layout.slot_bits <= 2047
    count = min(count, n)
    gen = np.random.default_rng(seed)
    vecs = [_values(gen, v, length) for _ in range(count)]
    vecs[0][: min(length, 3)] = 2 ** (v - 1) - 1  # extremes in the mix
    packed = [layout.pack(x) for x in vecs]
    summed = [sum(col) for col in zip(*packed, strict=True)]
    assert all(p < 2**2047 for p in summed)
    out = layout.unpack_sum(summed, length, count)
    assert np.array_equal(out, np.sum(vecs, axis=0))


def test_encryption_is_randomised_and_keygen_deterministic() -> None:
    config = _config()
    dec = PaillierDecryptor(config, _keypair(256))
    a = PaillierClient(config, 1, dec.public_key).encrypt(np.zeros(20, np.int64), _rng(b"a"))
    b = PaillierClient(config, 1, dec.public_key).encrypt(np.zeros(20, np.int64), _rng(b"b"))
    assert a != b
    assert PaillierKeyPair.generate(256, _rng(b"z")).n == PaillierKeyPair.generate(256, _rng(b"z")).n
    kp = PaillierKeyPair.generate(512, _rng(b"q"))
    assert kp.n.bit_length() == 512 and pow(2, kp.n - 1, kp.n) != 1  # composite, exact size
    assert "private" in repr(kp) and str(kp.n) not in repr(kp)
    with pytest.raises(TypeError):
        pickle.dumps(kp)


# --- parameters refused ---------------------------------------------------------------------


def test_key_sizes() -> None:
    assert PaillierConfig(client_ids=(1, 2), vector_length=1).key_bits == 3072
    with pytest.raises(ValueError, match="key_bits"):
        PaillierConfig(client_ids=(1, 2), vector_length=1, key_bits=1024)
    with pytest.raises(ValueError, match="key_bits"):
        PaillierConfig(client_ids=(1, 2), vector_length=1, key_bits=1024,
                       allow_insecure_key_size=1)  # only the literal True unlocks it
    assert _config(bits=1024).key_bits == 1024


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"value_bits": 62, "n": 4}, "slot"),  # 62 + 2 > 63 bits
        ({"value_bits": 60, "n": 9}, "slot"),
        ({"value_bits": 7}, "value_bits"),
    ],
)
def test_overflowing_parameters_are_refused(kw: dict, match: str) -> None:
    n, bits = kw.pop("n", 4), kw.pop("bits", 256)
    with pytest.raises(EncodingError, match=match):
        _config(n, bits=bits, **kw)


def test_key_too_small_for_one_slot() -> None:
    from protocols.paillier.packing import SlotLayout

    with pytest.raises(EncodingError, match="key_bits"):
        SlotLayout.for_params(key_bits=60, value_bits=60, max_summands=2)


def test_values_outside_the_layout_are_refused_and_client_stays_usable() -> None:
    config = _config(value_bits=16)
    client = PaillierClient(config, 1, PaillierDecryptor(config, _keypair(256)).public_key)
    for bad in (np.full(20, 2**15), np.full(20, -(2**15) - 1), np.zeros(19, np.int64),
                np.zeros(20, np.float64)):
        with pytest.raises(EncodingError):
            client.encrypt(bad)
    client.encrypt(np.full(20, 2**15 - 1))
    with pytest.raises(OutOfOrder):
        client.encrypt(np.zeros(20, np.int64))


def test_bad_config_fields() -> None:
    for kw in ({"client_ids": ()}, {"client_ids": (1, 1)}, {"client_ids": (0,)},
               {"vector_length": 0}, {"session_id": b"short"}, {"min_clients": 5},
               {"min_clients": 1}, {"client_ids": (1,)}):
        base = {"client_ids": (1, 2, 3, 4), "vector_length": 3} | kw
        with pytest.raises(ValueError):
            PaillierConfig(**base)


# --- bad messages -----------------------------------------------------------------------------


class _Round:
    """A small round: decryptor, server, and the honest messages of clients 1..4."""

    def __init__(self, length: int = 20, bits: int = 256, **kw) -> None:
        self.config = _config(4, length, bits, **kw)
        self.dec = PaillierDecryptor(self.config, _keypair(bits))
        self.server = PaillierServer(self.config, self.dec.public_key)
        self.vectors = {c: np.arange(length, dtype=np.int64) * c - 7 for c in (1, 2, 3, 4)}
        self.msgs = {
            c: PaillierClient(self.config, c, self.dec.public_key).encrypt(x, _rng(bytes([c])))
            for c, x in self.vectors.items()
        }

    def finish(self, senders=(1, 2, 3, 4)) -> None:
        for c in senders:
            if c not in self.server.included:
                self.server.receive(c, self.msgs[c])
        out = self.dec.decrypt(self.server.aggregate())
        assert np.array_equal(out, sum(self.vectors[c] for c in senders))


def _with_ciphertext(config: PaillierConfig, msg: bytes, index: int, value: int) -> bytes:
    width = 2 * config.key_bytes
    start = len(msg) - width * (config.num_ciphertexts - index)
    return msg[:start] + value.to_bytes(width, "big") + msg[start + width :]


def test_malformed_bytes_are_refused_and_state_unchanged() -> None:
    r = _Round()
    good = r.msgs[1]
    cases = [
        (b"XXXX" + good[4:], MalformedMessage),
        (good[:4] + b"\x09" + good[5:], MalformedMessage),  # version
        (r.dec.public_key, MalformedMessage),  # wrong message type
        (good[:-1], MalformedMessage),
        (good + b"\x00", MalformedMessage),
        (_with_ciphertext(r.config, good, 0, 0), MalformedMessage),
        (_with_ciphertext(r.config, good, 0, r.dec._keys.n ** 2), MalformedMessage),
        (_with_ciphertext(r.config, good, 0, r.dec._keys.n), ProtocolViolation),  # not a unit
    ]
    for data, err in cases:
        with pytest.raises(err):
            r.server.receive(1, data)
        assert r.server.included == frozenset()
    r.finish()


def test_wrong_session_sender_and_duplicates() -> None:
    r = _Round()
    other = _config(4, 20, session_id=b"another-session-id")
    foreign = PaillierClient(other, 1, PaillierDecryptor(other, _keypair(256)).public_key)
    with pytest.raises(WrongSession):
        r.server.receive(1, foreign.encrypt(np.zeros(20, np.int64)))
    with pytest.raises(ProtocolViolation):
        r.server.receive(2, r.msgs[1])  # sender in the message is 1
    r.server.receive(1, r.msgs[1])
    with pytest.raises(ProtocolViolation):
        r.server.receive(1, r.msgs[1])  # replay
    with pytest.raises(ProtocolViolation):
        r.server.receive(1, PaillierClient(r.config, 1, r.dec.public_key).encrypt(
            np.zeros(20, np.int64)))  # fresh duplicate
    assert r.server.included == {1}
    r.finish()


def test_foreign_key_is_refused_by_name() -> None:
    r = _Round()
    other = PaillierDecryptor(r.config, _keypair(256, b"other"))
    msg = PaillierClient(r.config, 3, other.public_key).encrypt(r.vectors[3])
    with pytest.raises(ProtocolViolation, match="another public key"):
        r.server.receive(3, msg)
    with pytest.raises(MalformedMessage):
        PaillierServer(r.config, r.dec.public_key[:-1])
    key = r.dec.public_key
    for bad_n in (r.dec._keys.n - 1, r.dec._keys.n * 3 % 2**255, r.dec._keys.n >> 1):
        with pytest.raises(MalformedMessage):  # even, small factor, or too short
            PaillierClient(r.config, 1, key[: -r.config.key_bytes] + bad_n.to_bytes(32, "big"))
    r.finish()


def test_forged_key_id_garbage_is_caught_at_decryption() -> None:
    """A ciphertext under another key, relabelled with our key id, decrypts to out-of-slot bits.

    Detection is best-effort (it needs spare plaintext bits): here the last plaintext uses one
    slot of ~a quarter of the key, so garbage passes with probability about 2^-190.
    """
    r = _Round(length=1, bits=256, value_bits=16)
    assert r.config.layout.slot_bits * 1 < 64
    other = PaillierDecryptor(r.config, _keypair(256, b"other"))
    alien = PaillierClient(r.config, 3, other.public_key).encrypt(r.vectors[3][:1])
    ct = codec.decode_input(alien, r.config, other._key_id, other._keys.n ** 2).ciphertexts[0]
    forged = _with_ciphertext(r.config, r.msgs[3], 0, ct % r.dec._keys.n ** 2)
    for c in (1, 2):
        r.server.receive(c, r.msgs[c])
    r.server.receive(3, forged)
    with pytest.raises(ProtocolViolation, match="outside its slots"):
        r.dec.decrypt(r.server.aggregate())
    with pytest.raises(OutOfOrder):  # spent: no second try, no oracle
        r.dec.decrypt(b"")


def test_too_few_inputs_and_single_decryption() -> None:
    r = _Round(min_clients=3)
    r.server.receive(1, r.msgs[1])
    r.server.receive(2, r.msgs[2])
    with pytest.raises(AbortError) as info:
        r.server.aggregate()
    assert (info.value.needed, info.value.received) == (3, 2)
    # A server that lies about the count is refused by the decryptor.
    lone = codec.EncryptedSum(r.dec._key_id, (1, 2),
                              codec.decode_input(r.msgs[1], r.config, r.dec._key_id,
                                                 r.dec._keys.n ** 2).ciphertexts)
    with pytest.raises(ProtocolViolation):
        r.dec.decrypt(codec.encode_sum(lone, r.config))
    r.finish((1, 2, 3))
    with pytest.raises(OutOfOrder):
        r.server.receive(4, r.msgs[4])
    with pytest.raises(OutOfOrder):
        r.server.aggregate()
    assert r.dec.included == {1, 2, 3}


def test_dropouts_are_free() -> None:
    config = _config(6, 30, min_clients=2)
    gen = np.random.default_rng(3)
    vectors = {c: _values(gen, 32, 30) for c in (2, 5)}  # four of six never send
    res = aggregate_paillier(vectors, config, keypair=_keypair(256))
    assert np.array_equal(res.sum, vectors[2] + vectors[5]) and res.included == {2, 5}
    assert res.stats["ciphertexts_per_client"] == config.num_ciphertexts
    assert res.stats["bytes_up_per_client"] > 30 * 4


def test_float_path_through_the_fixed_point_encoder() -> None:
    enc = FixedPointEncoder.fit(32, clip=1.0, max_summands=5)
    config = _config(5, 40, 512, value_bits=32)
    gen = np.random.default_rng(9)
    floats = {c: gen.uniform(-1, 1, 40) for c in config.client_ids}
    vectors = {c: unembed_signed(enc.encode(x, _rng(bytes([c]))), 32) for c, x in floats.items()}
    res = aggregate_paillier(vectors, config, keypair=_keypair(512))
    total = enc.decode_sum(embed_signed(res.sum, 32), len(res.included))
    assert np.allclose(total, sum(floats.values()), atol=5 / enc.scale)


def test_production_keys_come_from_openssl_and_decrypt() -> None:
    from protocols.paillier import keys as paillier_keys

    public, private = paillier_keys.generate_keypair(2048)
    assert public.n.bit_length() == 2048 and private.p * private.q == public.n
    assert private.p != private.q
    assert private.raw_decrypt(public.raw_encrypt(12345)) == 12345


def test_a_lone_input_is_never_decrypted() -> None:
    """Break 13 of the review: a one-client config defaulted min_clients to 1, and the key holder
    decrypted that client's vector alone. One client, or min_clients = 1, is now refused."""
    with pytest.raises(ValueError, match="at least 2 clients"):
        PaillierConfig(client_ids=(7,), vector_length=3)
    with pytest.raises(ValueError, match="min_clients"):
        PaillierConfig(client_ids=(1, 2, 3), vector_length=3, min_clients=1)
    assert PaillierConfig(client_ids=(1, 2), vector_length=3).min_clients == 2


# --- offline/online encryption ------------------------------------------------------------------


def test_precomputed_factors_give_the_ciphertexts_phe_gives_for_the_same_r() -> None:
    """precompute + encrypt, the one-call encrypt and phe's raw_encrypt(m, r) agree bit for bit."""
    from protocols.paillier import keys as keys

    config = _config(4, 200, 512)
    dec = PaillierDecryptor(config, _keypair(512))
    x = _values(np.random.default_rng(1), 32, 200)
    ahead = PaillierClient(config, 1, dec.public_key)
    assert ahead.missing == config.num_ciphertexts and ahead.precomputed == 0
    assert ahead.precompute(rng=_rng(b"r")) == 0 and ahead.precomputed == config.num_ciphertexts
    inline = PaillierClient(config, 1, dec.public_key).encrypt(x, _rng(b"r"))
    assert ahead.encrypt(x, _rng(b"unused")) == inline
    public = dec._keys._public
    cts = keys.encrypt(public, config.layout.pack(x), _rng(b"r"))  # phe computes r^n itself
    assert codec.decode_input(inline, config, dec._key_id, dec._keys.n ** 2).ciphertexts == tuple(cts)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(chunks=st.lists(st.lists(st.integers(0, 3), max_size=4), min_size=4, max_size=4),
       seed=st.integers(0, 2**32 - 1))
def test_any_mix_of_precomputed_and_online_factors_sums_exactly(chunks, seed) -> None:
    config = _config(4, 150, 256, value_bits=20)  # 11 ciphertexts per client
    dec = PaillierDecryptor(config, _keypair(256))
    server = PaillierServer(config, dec.public_key)
    gen = np.random.default_rng(seed)
    vectors = {c: _values(gen, 20, 150) for c in config.client_ids}
    for c, sizes in zip(config.client_ids, chunks, strict=True):
        client = PaillierClient(config, c, dec.public_key)
        for size in sizes:  # precompute in chunks, as a caller owning time would
            client.precompute(min(size, client.missing), _rng(bytes([c, size])))
        server.receive(c, client.encrypt(vectors[c], _rng(bytes([c]))))
    assert np.array_equal(dec.decrypt(server.aggregate()), sum(vectors.values()))


def test_each_factor_serves_one_ciphertext_and_is_discarded(monkeypatch) -> None:
    from protocols.paillier import keys as keys

    config = _config(4, 200, 256)
    dec = PaillierDecryptor(config, _keypair(256))
    client = PaillierClient(config, 2, dec.public_key)
    k = config.num_ciphertexts
    assert k >= 4
    assert client.precompute(k - 2, _rng(b"p")) == 2  # two left to draw online
    pool = list(client._obfuscators)
    used: list[int] = []
    real = keys.encrypt_with
    monkeypatch.setattr(keys, "encrypt_with", lambda pub, m, r_n: used.append(r_n) or real(pub, m, r_n))
    with pytest.raises(EncodingError):  # a refused input consumes nothing
        client.encrypt(np.zeros(199, np.int64))
    assert client.precomputed == k - 2 and used == []
    msg = client.encrypt(np.arange(200, dtype=np.int64), _rng(b"o"))
    assert used[: k - 2] == pool  # precomputed first, in order
    assert len(used) == k and len(set(used)) == k  # every ciphertext has its own factor
    assert client.precomputed == 0 and client.missing == 0 and not client._obfuscators
    with pytest.raises(OutOfOrder):
        client.precompute(1)
    with pytest.raises(OutOfOrder):
        client.encrypt(np.zeros(200, np.int64))
    server = PaillierServer(config, dec.public_key)
    server.receive(2, msg)


def test_precompute_refuses_more_factors_than_encrypt_needs() -> None:
    from secagg.errors import ConfigError

    config = _config(4, 20, 256)
    client = PaillierClient(config, 1, PaillierDecryptor(config, _keypair(256)).public_key)
    need = config.num_ciphertexts
    for bad in (need + 1, -1, 1.0, True):
        with pytest.raises(ConfigError, match="count"):
            client.precompute(bad)
    assert client.precompute(0) == need and client.precompute() == 0
    assert client.precompute() == 0  # nothing missing: a no-op
    with pytest.raises(ConfigError, match=r"\[0, 0\]"):
        client.precompute(1)


def test_a_client_with_factors_neither_pickles_nor_prints_them() -> None:
    config = _config(4, 20, 256)
    client = PaillierClient(config, 3, PaillierDecryptor(config, _keypair(256)).public_key)
    client.precompute(rng=_rng())
    assert repr(client) == f"PaillierClient(id=3, precomputed={config.num_ciphertexts})"
    assert str(client._obfuscators[0]) not in repr(client)
    with pytest.raises(TypeError, match="pickled"):
        pickle.dumps(client)


def test_aggregate_reports_offline_and_online_client_seconds() -> None:
    ticks = iter(range(10_000))
    config = _config(3, 20, 256)
    vectors = {c: np.full(20, c, np.int64) for c in config.client_ids}
    res = aggregate_paillier(vectors, config, keypair=_keypair(256),
                             clock=lambda: float(next(ticks)))
    s = res.stats
    assert s["client_offline_mean_s"] > 0 and s["client_online_mean_s"] > 0
    assert s["client_mean_s"] == pytest.approx(s["client_offline_mean_s"] + s["client_online_mean_s"])
    assert res.sum.tolist() == [6] * 20


def test_gmpy2_is_a_dependency_and_phe_uses_it() -> None:
    """The fast path is the default path: phe does its exponentiations through GMP."""
    import re
    from pathlib import Path

    from phe import util

    pyproject = (Path(__file__).parents[2] / "pyproject.toml").read_text()
    deps = re.search(r"^dependencies = \[(.*?)\]", pyproject, re.S | re.M).group(1)
    assert re.search(r'"gmpy2[>=<~!]', deps), deps
    assert util.HAVE_GMP
