"""Packed Paillier vs one ciphertext per value, and side by side with SecAgg+.

For each n: one client's encryption, split as the client can split it (offline: the random
factors r^n mod n^2, ``PaillierClient.precompute``, before the input exists; online: pack,
multiply, wire bytes, ``PaillierClient.encrypt``), the server adding n clients' messages
(validation + multiplication mod n^2), and the decryption of the sum. Costs:

- Packed: measured in full through the protocol objects. The server gets the one measured
  client's ciphertexts under n distinct sender ids (re-encoded, not re-encrypted): multiplying
  mod n^2 costs the same whatever the ciphertexts hold, and encrypting 100 clients would take
  minutes without changing the server's figure.
- Unpacked (one ciphertext per value, the same offset-binary value, same validation): measured
  on the first ``subset`` values and extrapolated linearly to m (every value costs the same
  exponentiation or multiplication), so the figures are marked "extrapolated".
- SecAgg+ (the finder's (k, t)) and SecAgg (complete graph): ``protocols.simulate_round``, same
  n, m and 32-bit values, no dropouts, wall seconds; skipped (with the reason) if not importable.

Paillier figures are CPU seconds of this process (``time.process_time``): the work is one thread
of big-integer arithmetic, and CPU time keeps other engineers' jobs on the shared 2-core machine
out of the figure (wall time is what ``--wall`` reports). SecAgg+ figures come from
``simulate_round``'s own stats. Run: ``.venv/bin/python -m bench paillier`` (``--quick``
for a smoke run). Whether ``phe`` uses gmpy2 (a dependency) is printed; ``--without-gmpy2``
times ``phe``'s pure-Python fallback, what an install without gmpy2 would get.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

import numpy as np
from phe import util as phe_util

from protocols.paillier import (
    PaillierClient,
    PaillierConfig,
    PaillierDecryptor,
    PaillierKeyPair,
    PaillierServer,
)
from protocols.paillier import codec as codec
from protocols.paillier import keys as keys
from secagg.csprng import AesCtrRandom

VALUE_BITS = 32
_clock = time.process_time


def _values(m: int, seed: bytes = b"paillier-bench") -> np.ndarray:
    raw = np.empty(m, dtype=np.uint32)
    AesCtrRandom(seed.ljust(32, b"\0")).fill(raw)
    return raw.view(np.int32).astype(np.int64)


def _timed(fn, *args):
    t0 = _clock()
    out = fn(*args)
    return out, _clock() - t0


def packed(config: PaillierConfig, keypair: PaillierKeyPair, x: np.ndarray) -> dict[str, float]:
    """Seconds of one client's encryption, the server's n additions, and the decryption."""
    rng = AesCtrRandom(b"packed".ljust(32, b"\0"))
    dec = PaillierDecryptor(config, keypair)
    client = PaillierClient(config, config.client_ids[0], dec.public_key)
    _, offline_s = _timed(client.precompute, None, rng)
    msg, online_s = _timed(client.encrypt, x, rng)
    n2 = keypair.n**2
    one = codec.decode_input(msg, config, dec._key_id, n2)
    msgs = {c: codec.encode_input(codec.EncryptedInput(c, one.key_id, one.ciphertexts), config)
            for c in config.client_ids}
    server = PaillierServer(config, dec.public_key)
    t0 = _clock()
    for c, data in msgs.items():
        server.receive(c, data)
    agg = server.aggregate()
    add_s = _clock() - t0
    total, dec_s = _timed(dec.decrypt, agg)
    assert np.array_equal(total, config.num_clients * x), "packed sum is wrong"
    return {"offline_s": offline_s, "online_s": online_s, "encrypt_s": offline_s + online_s,
            "server_add_s": add_s, "decrypt_s": dec_s, "ciphertexts": config.num_ciphertexts,
            "upload_bytes": len(msg)}


def unpacked(config: PaillierConfig, keypair: PaillierKeyPair, x: np.ndarray,
             subset: int) -> dict[str, float]:
    """One ciphertext per value, measured on ``subset`` values and scaled to the full length."""
    rng = AesCtrRandom(b"unpacked".ljust(32, b"\0"))
    public, private = keypair._public, keypair._private
    bias, n, n2 = 1 << (VALUE_BITS - 1), keypair.n, keypair.n**2
    plains = [int(v) + bias for v in x[:subset]]
    cts, enc_s = _timed(keys.encrypt, public, plains, rng)
    t0 = _clock()
    acc = [1] * subset
    for _ in range(config.num_clients):
        codec.check_units(tuple(cts), n)
        keys.add_into(acc, cts, n2)
    add_s = _clock() - t0
    sums, dec_s = _timed(lambda: [private.raw_decrypt(c) for c in acc])
    count = config.num_clients
    assert [s - count * bias for s in sums] == [count * int(v) for v in x[:subset]]
    scale = config.vector_length / subset
    return {"encrypt_s": enc_s * scale, "server_add_s": add_s * scale,
            "decrypt_s": dec_s * scale, "ciphertexts": config.vector_length,
            "upload_bytes": config.vector_length * 2 * config.key_bytes}


def secagg(n: int, m: int, plus: bool = True) -> dict[str, Any]:
    """SecAgg+ (or SecAgg) on the same workload through ``simulate_round``, or why it was skipped."""
    try:
        from protocols import SecAggConfig, simulate_round
    except ImportError as exc:  # the SecAgg stack may be mid-integration
        return {"skipped": f"{type(exc).__name__}: {exc}"}
    ids = tuple(range(1, n + 1))
    config = (SecAggConfig.for_secagg_plus(ids, m, modulus_bits=32) if plus
              else SecAggConfig(client_ids=ids, vector_length=m, modulus_bits=32))
    inputs = {u: _values(m, b"sa%d" % u).astype(np.uint32) for u in config.client_ids}
    t0 = time.perf_counter()
    res = simulate_round(config, inputs)
    wall = time.perf_counter() - t0
    want = np.sum(np.stack(list(inputs.values())), axis=0, dtype=np.uint64).astype(np.uint32)
    assert np.array_equal(res.sum.astype(np.uint32), want), "SecAgg sum is wrong"
    s = res.stats
    return {"k": config.degree, "t": config.threshold, "wall_s": wall, "server_s": s["server_s"],
            "client_mean_s": s["client_mean_s"], "upload_bytes": s["bytes_up_per_client"]}


def compare(clients=(10, 50, 100), m: int = 10_000, key_bits: int = 3072, subset: int = 40,
            with_secagg: bool = True, progress=print) -> list[dict[str, Any]]:
    """One row per n with packed, unpacked (extrapolated) and SecAgg+ figures and the speedups."""
    keypair, keygen_s = _timed(PaillierKeyPair.generate, key_bits)
    progress(f"keygen {key_bits} bits: {keygen_s:.2f} s "
             f"(gmpy2: {phe_util.HAVE_GMP})")
    x = _values(m)
    PaillierConfig(client_ids=(1, 2), vector_length=1).layout.pack(x[:1])  # numba JIT, untimed
    if with_secagg:
        secagg(5, 64)  # numba JIT of the SecAgg kernels, untimed
    rows = []
    for n in clients:
        config = PaillierConfig(client_ids=tuple(range(1, n + 1)), vector_length=m,
                                value_bits=VALUE_BITS, key_bits=key_bits,
                                allow_insecure_key_size=key_bits < 2048)
        row: dict[str, Any] = {"n": n, "m": m, "slots": config.layout.slots,
                               "slot_bits": config.layout.slot_bits}
        row["packed"] = packed(config, keypair, x)
        row["unpacked"] = unpacked(config, keypair, x, min(subset, m))
        row["speedup"] = {k: row["unpacked"][k] / row["packed"][k]
                          for k in ("encrypt_s", "server_add_s", "decrypt_s")}
        if with_secagg:
            row["secagg_plus"] = secagg(n, m, plus=True)
            row["secagg"] = secagg(n, m, plus=False)
        progress(_format(row))
        rows.append(row)
    return rows


def _format(row: dict[str, Any]) -> str:
    p, u, s = row["packed"], row["unpacked"], row["speedup"]
    lines = [
        f"n={row['n']} m={row['m']}: {row['slots']} slots of {row['slot_bits']} bits, "
        f"{p['ciphertexts']} ciphertexts/client ({p['upload_bytes'] / 1e3:.0f} kB up)",
        f"  packed   : client encrypt {p['encrypt_s']:8.2f} s  server add {p['server_add_s']:8.3f} s"
        f"  decrypt {p['decrypt_s']:8.3f} s",
        f"             = offline (precompute) {p['offline_s']:.2f} s"
        f" + online (encrypt) {p['online_s']:.3f} s",
        f"  unpacked : client encrypt {u['encrypt_s']:8.1f} s  server add {u['server_add_s']:8.2f} s"
        f"  decrypt {u['decrypt_s']:8.1f} s  (extrapolated, {u['upload_bytes'] / 1e6:.1f} MB up)",
        f"  speedup  : encrypt {s['encrypt_s']:.0f}x  server add {s['server_add_s']:.0f}x  "
        f"decrypt {s['decrypt_s']:.0f}x",
    ]
    for key, name in (("secagg_plus", "SecAgg+"), ("secagg", "SecAgg")):
        sa = row.get(key)
        if sa is None:
            continue
        if "skipped" in sa:
            lines.append(f"  {name:<9}: skipped ({sa['skipped']})")
        else:
            lines.append(
                f"  {name:<9}: k={sa['k']} t={sa['t']} whole round {sa['wall_s']:.2f} s  server "
                f"{sa['server_s']:.3f} s  client {sa['client_mean_s']:.4f} s  "
                f"{sa['upload_bytes'] / 1e3:.0f} kB up"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Command line: the default workload, or ``--quick`` (small key, short vector)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1024-bit key, m=1000, n in {10, 50}")
    ap.add_argument("--clients", type=int, nargs="+", default=[10, 50, 100],
                    help="client counts n, space separated (default: 10 50 100)")
    ap.add_argument("--m", type=int, default=10_000, help="values per client (default 10000)")
    ap.add_argument("--key-bits", type=int, default=3072,
                    help="Paillier modulus bits (default 3072; below 2048 only for smoke runs)")
    ap.add_argument("--subset", type=int, default=40,
                    help="values measured unpacked, then scaled to m (default 40)")
    ap.add_argument("--no-secagg", action="store_true",
                    help="leave out the SecAgg and SecAgg+ rounds beside Paillier")
    ap.add_argument("--wall", action="store_true", help="time Paillier by wall clock, not CPU")
    ap.add_argument("--without-gmpy2", action="store_true",
                    help="make phe use its pure-Python fallback (an install without gmpy2)")
    args = ap.parse_args(argv)
    if args.quick:
        args.key_bits, args.m, args.clients, args.subset = 1024, 1000, [10, 50], 20
    global _clock
    saved = _clock, phe_util.HAVE_GMP
    if args.without_gmpy2:
        phe_util.HAVE_GMP = False  # phe reads the flag on every powmod/mulmod/invert
    if args.wall:
        _clock = time.perf_counter
    try:
        compare(tuple(args.clients), args.m, args.key_bits, args.subset, not args.no_secagg)
    finally:
        _clock, phe_util.HAVE_GMP = saved


if __name__ == "__main__":
    main()
