"""PNG figures for ``python -m bench scaling``: time and bytes vs clients (log-log), and stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

COLORS = {"secagg": "tab:blue", "secagg+": "tab:orange", "paillier": "tab:green"}
ROLE_LABEL = {"server_s": "server", "keyholder_s": "key holder"}
_STYLES = ["-", "--", ":", "-."]
_MARKERS = ["o", "s", "^", "D"]


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(rows: list[dict[str, Any]]) -> dict[tuple, list[dict[str, Any]]]:
    """Rows grouped by (protocol, dim, dropout), sorted by n, repeats averaged."""
    out: dict[tuple, list[dict[str, Any]]] = {}
    for key in sorted({(r["protocol"], r["dim"], r["dropout"]) for r in rows}):
        sel = [r for r in rows if (r["protocol"], r["dim"], r["dropout"]) == key]
        out[key] = [_mean_row([r for r in sel if r["n"] == n]) for n in sorted({r["n"] for r in sel})]
    return out


def _mean_row(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = dict(rows[0])
    for k, v in rows[0].items():
        if isinstance(v, float):
            out[k] = float(np.mean([r[k] for r in rows]))
    return out


def _style(key: tuple, dims: list[int], drops: list[float]) -> dict[str, Any]:
    proto, dim, drop = key
    return {"color": COLORS.get(proto, "black"), "linestyle": _STYLES[drops.index(drop) % 4],
            "marker": _MARKERS[dims.index(dim) % 4],
            "label": f"{proto}, {dim:.0e} values, {drop:.0%} dropout".replace("e+0", "e")}


def _loglog(ax, title: str, ylabel: str, ns) -> None:
    from matplotlib.ticker import NullFormatter

    ax.set(xscale="log", yscale="log", xlabel="clients n (log scale)", ylabel=ylabel, title=title)
    ax.set_xticks(sorted(set(ns)), [str(n) for n in sorted(set(ns))])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.grid(True, which="both", alpha=0.3)


def _legend_below(fig, ax) -> None:
    """One legend for the figure, under the panels, from ``ax`` (the panel with every series)."""
    handles, labels = ax.get_legend_handles_labels()
    rows = -(-len(labels) // 3)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, min(0.45, 0.035 * rows + 0.02), 1, 0.96))


def plot_time(rows, out: Path, reference: dict[str, Any], machine: str) -> None:
    """Client and server (and key-holder) seconds vs n, with the labelled Bonawitz markers."""
    plt = _plt()
    series = _series(rows)
    dims, drops = sorted({k[1] for k in series}), sorted({k[2] for k in series})
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 8))
    for key, sel in series.items():
        st = _style(key, dims, drops)
        ns = [r["n"] for r in sel]
        left.plot(ns, [max(r["client_mean_s"], 1e-7) for r in sel], **st)
        right.plot(ns, [max(r["server_s"], 1e-7) for r in sel], **st)
        if key[0] == "paillier":
            right.plot(ns, [max(r["keyholder_s"], 1e-7) for r in sel], color=st["color"],
                       linestyle=st["linestyle"], marker="x", ms=9,
                       label=st["label"] + ": key holder's decryption")
    ns = [r["n"] for r in rows] + [p[0] for p in reference["points"]]
    for ax, idx, what in ((left, 1, "client"), (right, 2, "server")):
        for n, *vals in reference["points"]:
            if vals[idx - 1] is None:
                continue
            ax.plot([n], [vals[idx - 1]], "k*", ms=14)
            left_side = n > np.sqrt(min(ns) * max(ns))  # label towards the middle of the axis
            ax.annotate(f"Bonawitz 2017 {what}: {vals[idx - 1]:g} s (n={n}, 1e5 values)",
                        (n, vals[idx - 1]), textcoords="offset points",
                        xytext=(-12 if left_side else 12, 0), ha="right" if left_side else "left",
                        va="center", fontsize=8)
        ax.plot([], [], "k*", ms=12, label=reference["label"])
    _loglog(left, "one client, whole round (mean)", "seconds (log scale)", ns)
    _loglog(right, "server, whole round (x: Paillier key holder)",
            "seconds (log scale)", ns)
    fig.suptitle(f"Round time vs clients — {machine}", fontsize=9)
    _legend_below(fig, right)
    fig.savefig(out / "time_vs_n.png", dpi=110)
    plt.close(fig)


def plot_bytes(rows, out: Path, bits: int = 32) -> None:
    """Bytes each client sends and receives vs n, with the plain vector's size as a baseline."""
    plt = _plt()
    series = _series(rows)
    dims, drops = sorted({k[1] for k in series}), sorted({k[2] for k in series})
    fig, axes = plt.subplots(1, 2, figsize=(14, 7.5))
    for ax, col, title in zip(axes, ("bytes_up_per_client", "bytes_down_per_client"),
                              ("sent by one client (mean)", "received by one client (mean)"),
                              strict=True):
        for key, sel in series.items():
            ax.plot([r["n"] for r in sel], [max(r[col], 1.0) for r in sel],
                    **_style(key, dims, drops))
        for dim in dims if col == "bytes_up_per_client" else ():
            ax.axhline(bits * dim / 8, color="grey", lw=1, ls="-.")
            ax.text(0.01, bits * dim / 8, f" plain {bits}-bit vector, {dim:.0e} values"
                    .replace("e+0", "e"), transform=ax.get_yaxis_transform(), fontsize=8,
                    color="dimgrey", va="bottom")
        _loglog(ax, title, "bytes per client (log scale)", [r["n"] for r in rows])
    fig.suptitle("Traffic per client vs clients (whole round)", fontsize=10)
    _legend_below(fig, axes[0])
    fig.savefig(out / "bytes_vs_n.png", dpi=110)
    plt.close(fig)


def plot_stages(rows, stages, out: Path) -> None:
    """Per protocol: server/key-holder and client seconds by stage, at one (dim, dropout)."""
    plt = _plt()
    dim = min(r["dim"] for r in rows)
    drop = min({r["dropout"] for r in rows}, key=lambda d: abs(d - 0.1))
    protos = [p for p in COLORS if any(r["protocol"] == p for r in rows)]
    names = list(dict.fromkeys(s for r, st in stages for s in st))
    cmap = plt.get_cmap("tab10")
    colors = {s: cmap(i % 10) for i, s in enumerate(names)}
    fig, axes = plt.subplots(2, len(protos), figsize=(5 * len(protos), 8), squeeze=False)
    for col, proto in enumerate(protos):
        sel = sorted([(r, st) for r, st in stages if r["protocol"] == proto and r["dim"] == dim
                      and r["dropout"] == drop and r.get("repeat", 0) == 0], key=lambda x: x[0]["n"])
        for row_i, roles in enumerate((("server_s", "keyholder_s"), ("client_mean_s",))):
            ax = axes[row_i][col]
            bottom = np.zeros(len(sel))
            for name in names:
                for role in roles:
                    vals = np.array([st.get(name, {}).get(role, 0.0) for _, st in sel])
                    if not vals.any():
                        continue
                    who = f" ({ROLE_LABEL[role]})" if role == "keyholder_s" else ""
                    ax.bar(range(len(sel)), vals, bottom=bottom, color=colors[name],
                           hatch="//" if role == "keyholder_s" else None, label=name + who)
                    bottom += vals
            ax.set_xticks(range(len(sel)), [str(r["n"]) for r, _ in sel])
            who = "server (+ key holder)" if row_i == 0 else "one client (mean)"
            ax.set(xlabel="clients n", ylabel="seconds", title=f"{proto}: {who}")
            ax.margins(y=0.3)
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Time by stage at {dim:.0e} values, {drop:.0%} dropout "
                 "(bars stack the stages; scales differ per panel)".replace("e+0", "e"), fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "stages.png", dpi=110)
    plt.close(fig)
