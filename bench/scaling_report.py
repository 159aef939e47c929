"""``summary.md`` for ``python -m bench scaling``: tables, fitted growth exponents, references."""

from __future__ import annotations

from typing import Any

import numpy as np

EXPECTED = {
    "secagg": ("client ~ n: every client agrees keys with, Shamir-shares to and masks against "
               "all n-1 others; server ~ n^2 with dropouts (each dropped client's masks are "
               "regenerated for each of its ~n surviving neighbours)"),
    "secagg+": ("client ~ log n: a client only deals with its k = O(log n) neighbours (k is the "
                "k column); server ~ n log n"),
    "lightsecagg": ("client ~ n: a client Lagrange-encodes its mask into n coded sub-masks of "
                    "m/(U-T) values (~ n·m multiply-adds, U-T growing with n), seals one to "
                    "each other client and opens n-1; server ~ n to n^2: it relays n(n-1) "
                    "sealed sub-masks (~ n·m values) and decodes the survivors' mask sum from U "
                    "replies in one step (~ n·m), whatever the dropouts"),
    "paillier": ("client ~ flat: one encryption of the vector (slots widen by log2 n bits); "
                 "server ~ n multiplications; key holder ~ flat, one decryption of the sum"),
}


def slope(xs, ys) -> float:
    """Least-squares slope of log(y) vs log(x) (nan with fewer than two distinct x)."""
    if len(set(xs)) < 2:
        return float("nan")
    return float(np.polyfit(np.log(xs), np.log(ys), 1)[0])


def _ms(x) -> str:
    return "" if x is None else f"{x * 1e3:.2f}"


def _ratio(x) -> str:
    return "" if x is None else f"{x:.2f}"


def _masking_table(rows) -> list[str]:
    out = ["| protocol | n | dim | dropout | k | t | server s | client mean s | client max s "
           "| up B/client | down B/client | mask/AES | Shamir split ms | Shamir recon ms |",
           "|" + "---|" * 14]
    for r in rows:
        out.append(
            f"| {r['protocol']} | {r['n']} | {r['dim']} | {r['dropout']} | {r['k']} | {r['t']} | "
            f"{r['server_s']:.3f} | {r['client_mean_s']:.4f} | {r['client_max_s']:.4f} | "
            f"{r['bytes_up_per_client']:.0f} | {r['bytes_down_per_client']:.0f} | "
            f"{_ratio(r.get('mask_to_aes_ratio'))} | {_ms(r.get('shamir_split_s'))} | "
            f"{_ms(r.get('shamir_reconstruct_s'))} |")
    if any(r["protocol"] == "lightsecagg" for r in rows):
        out += ["", "LightSecAgg rows: k = n - 1 (every client deals a coded sub-mask to every "
                "other), t = U (the replies that decode the survivors' mask sum; T, the "
                "colluders a mask is hidden from, is the parameter helper's, "
                "`protocols.lightsecagg.find_parameters`). It has no pairwise masks and no "
                "Shamir shares, so those columns are empty; its inputs are 31 - log2(n) bits "
                "wide at most (GF(2^31 - 1)), SecAgg's 32. Its dropouts go silent after "
                "share_masks, the same point of the round (before the masked input)."]
    return out


def _paillier_table(rows) -> list[str]:
    out = ["| n | dim | dropout | senders | encrypted for real | client offline s "
           "| client online s | client encrypt mean s | client encrypt max s | server add s "
           "| key holder decrypt s | up B/client | down B/client | ciphertexts/client |",
           "|" + "---|" * 14]
    for r in rows:
        out.append(
            f"| {r['n']} | {r['dim']} | {r['dropout']} | {r['included']} | "
            f"{r['paillier_encrypted_clients']} | {r['paillier_offline_s']:.3g} | "
            f"{r['paillier_online_s']:.3g} | {r['client_mean_s']:.3g} | "
            f"{r['client_max_s']:.3g} | {r['server_s']:.3g} | {r['keyholder_s']:.3g} | "
            f"{r['bytes_up_per_client']:.0f} | {r['bytes_down_per_client']:.0f} | "
            f"{r['paillier_ciphertexts']} |")
    return out


def _slopes(rows) -> list[str]:
    out = ["| protocol | dim | dropout | n range | k range | client slope | server slope "
           "| key holder slope |", "|" + "---|" * 8]
    for key in sorted({(r["protocol"], r["dim"], r["dropout"]) for r in rows}):
        sel = [r for r in rows if (r["protocol"], r["dim"], r["dropout"]) == key]
        ns = [r["n"] for r in sel]
        fit = {c: slope(ns, [max(r[c], 1e-9) for r in sel])
               for c in ("client_mean_s", "server_s", "keyholder_s") if sel[0].get(c) is not None}
        kh = f"{fit['keyholder_s']:.2f}" if "keyholder_s" in fit else ""
        ks = [r["k"] for r in sel if r.get("k") is not None]
        krange = f"{min(ks)}..{max(ks)}" if ks else ""
        out.append(f"| {key[0]} | {key[1]} | {key[2]} | {min(ns)}..{max(ns)} | {krange} | "
                   f"{fit['client_mean_s']:.2f} | {fit['server_s']:.2f} | {kh} |")
    return out


def _measured(protocol: str, rows) -> str:
    """The fitted exponents of one protocol, in words, over every (dim, dropout) series."""
    fits: dict[str, list[float]] = {"client": [], "server": []}
    for key in sorted({(r["dim"], r["dropout"]) for r in rows if r["protocol"] == protocol}):
        sel = [r for r in rows if r["protocol"] == protocol and (r["dim"], r["dropout"]) == key]
        for role, col in (("client", "client_mean_s"), ("server", "server_s")):
            fit = slope([r["n"] for r in sel], [max(r[col], 1e-9) for r in sel])
            if fit == fit:  # not nan
                fits[role].append(fit)
    if not fits["client"]:
        return "Measured: one n only, no fit."
    ns = sorted({r["n"] for r in rows if r["protocol"] == protocol})
    return (f"Measured over n = {ns[0]}..{ns[-1]}: client ~ n^{min(fits['client']):.2f}.."
            f"n^{max(fits['client']):.2f}, server ~ n^{min(fits['server']):.2f}.."
            f"n^{max(fits['server']):.2f}.")


def _primitive_lines(rows) -> list[str]:
    sel = [r for r in rows if r.get("mask_to_aes_ratio") is not None]
    if not sel:
        return []
    seen, out = set(), []
    for r in sel:
        key = (r["k"], r["t"], r["dim"])
        if key in seen:
            continue
        seen.add(key)
        out.append(
            f"| {r['protocol']} | {r['n']} | {r['dim']} | {r['mask_seeds']} | "
            f"{r['mask_s'] * 1e3:.2f} | {r['aes_s'] * 1e3:.2f} | {r['mask_to_aes_ratio']:.2f} | "
            f"{r['aes_gb_per_s']:.2f} | {r['shamir_points']} | {r['t']} | "
            f"{_ms(r['shamir_split_s'])} | {_ms(r['shamir_reconstruct_s'])} |")
    ratios = [r["mask_to_aes_ratio"] for r in sel]
    return [
        "## Per-client primitives (same process, same run)", "",
        "Mask expansion = `secagg.masking.accumulate_masks` adding a client's k+1 masks (k "
        "pairwise + its self mask) of `dim` 32-bit values; raw AES = AES-128-CTR keystream of the "
        "same bytes through `cryptography` (`update_into` a preallocated buffer), best of several "
        "alternating repeats. Target (docs/performance.md): ratio <= 2. Shamir split = one client sharing its "
        "two 32-byte secrets (s_sk, b_u) to its k neighbours and itself at the round's t; Shamir "
        "recon = the server rebuilding one client's secret from t shares (the same work for a "
        "survivor's b_u and a dropped client's s_sk).", "",
        f"Mask/AES ratio over this run: {min(ratios):.2f} .. {max(ratios):.2f} "
        f"(median {float(np.median(ratios)):.2f}).", "",
        "| protocol | n | dim | masks | mask ms | raw AES ms | ratio | AES GB/s | Shamir parties "
        "| t | split ms | recon ms |", "|" + "---|" * 12, *out, ""]


def summarize(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The Markdown report of one run."""
    lines = [
        "# Cost against client count", "",
        f"Command: `{meta['command']}` ({meta['date']}, whole run {meta['wall_s']:.0f} s wall).",
        "", f"Machine: {meta['machine_line']}.", "",
        "Times are wall seconds of one process on a shared machine; SecAgg/SecAgg+ figures are "
        "whole-round sums per party from `protocols.simulate_round`; dropouts go silent after "
        "share_keys (before sending the masked input). A SecAgg client's masking and the "
        f"server's unmasking run on {meta['mask_workers']} worker thread(s) here "
        "(`secagg.masking.default_workers()`), so their wall seconds may use more than one "
        "core; the mask/AES ratio below compares single-threaded `accumulate_masks` with "
        "single-threaded AES.", ""]
    masking = [r for r in rows if r["protocol"] != "paillier"]
    paillier = [r for r in rows if r["protocol"] == "paillier"]
    if masking:
        names = [n for n in ("SecAgg", "SecAgg+", "LightSecAgg")
                 if any(r["protocol"] == n.lower() for r in masking)]
        title = " and ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        lines += [f"## {title}", "", *_masking_table(masking), ""]
    if paillier:
        lines += _paillier_section(paillier, meta)
    lines += ["## Growth with n (least-squares slope of log seconds vs log n)", "",
              *_slopes(rows), "", "Expected shapes, in words:"]
    lines += [f"- **{p}**: {EXPECTED[p]}. {_measured(p, rows)}"
              for p in EXPECTED if any(r["protocol"] == p for r in rows)]
    lines += ["", "A slope fitted over a short n range also carries fixed per-round costs "
              "(key generation, the vector itself), so it sits between the fixed-cost 0 and the "
              "asymptotic exponent.", ""]
    lines += _primitive_lines(rows)
    ref = meta["reference"]
    lines += ["## Reference (not measured here)", "",
              f"- {ref['label']}: 0.85 s per client and 62 s server at n = 500 clients x 100K "
              "values, 10% dropout; ~180 s server at n = 1,000. Shown as labelled stars on "
              "time_vs_n.png; compare only at the same vector length.", ""]
    if meta["skipped"]:
        lines += ["## Skipped points", ""]
        lines += [f"- {s['protocol']} n={s['n']} dim={s['dim']} dropout={s['dropout']}: "
                  f"{s['reason']}" for s in meta["skipped"]]
        lines.append("")
    lines += ["Figures: time_vs_n.png, bytes_vs_n.png, stages.png; every row: results.csv and "
              "results.jsonl (with per-stage figures); run facts: run.json."]
    return "\n".join(lines)


def _paillier_section(rows, meta) -> list[str]:
    keygen = meta.get("keygen_s")
    sample = meta["paillier_sample"]
    per_ct = float(np.mean([r["client_mean_s"] / r["paillier_ciphertexts"] for r in rows]))
    return [
        f"## Paillier (packed, {meta['paillier_key_bits']}-bit key)", "",
        "Roles: clients encrypt; the server validates and multiplies ciphertexts (add); the key "
        "holder (the decryptor, a party separate from the server) decrypts the one aggregate. "
        "Dropouts never send and are not in the sum. One key pair for the whole run "
        f"(generation {keygen:.2f} s, not in any row). A client's encryption is split as "
        "`PaillierClient` splits it: offline, `precompute()` draws the random factors r^n mod "
        "n^2 before the input exists; online, `encrypt()` packs and multiplies. Client encrypt "
        "mean/max are the two together.", "",
        f"**Sampled, not extrapolated:** per point only the first {sample} sending clients "
        "really encrypt (\"encrypted for real\"); client encrypt mean/max are over those. Every "
        "other sender's message carries one of those ciphertext sets re-encoded under its own id, "
        "so the server's add and the key holder's decryption are measured in full over all "
        "senders, and the decrypted sum is checked against the inputs the ciphertexts carry. "
        f"Encryption measured here: {per_ct * 1e3:.3g} ms per ciphertext (gmpy2: "
        f"{'yes' if meta['machine']['gmpy2'] else 'no'}). Paillier is not in the default "
        "protocol set (`--protocol secagg,secagg+,paillier` adds it) and runs at 10% dropout "
        "only unless `--dropout` says otherwise (dropouts change only how many messages the "
        "server adds).", "",
        *_paillier_table(rows), ""]
