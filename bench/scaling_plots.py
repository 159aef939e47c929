"""PNG figures for ``python -m bench scaling``: time and bytes vs clients (log-log), and stages."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

COLORS = {"secagg": "tab:blue", "secagg+": "tab:orange", "lightsecagg": "tab:red",
          "paillier": "tab:green"}
ROLE_LABEL = {"server_s": "server", "keyholder_s": "key holder"}
STAGE_LABEL = {"precompute": "precompute (offline)", "encrypt": "encrypt (online)"}
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


def _plain_number(x: float) -> str:
    return f"{x:g}"


def _bytes(x: float) -> str:
    for unit, size in (("MB", 1e6), ("kB", 1e3)):
        if x >= size:
            return f"{x / size:g} {unit}"
    return f"{x:g} B"


def _loglog(ax, title: str, ylabel: str, ns, fmt=_plain_number) -> None:
    """Log-log axes whose x range is the measured n (with a margin), ticked at those n; y tick
    labels as plain numbers (``fmt``) where matplotlib would label them, not as 6x10^0."""
    from matplotlib.ticker import LogFormatterSciNotation, NullFormatter

    class _Plain(LogFormatterSciNotation):
        def __call__(self, x, pos=None):
            return fmt(x) if super().__call__(x, pos) else ""

    ax.set(xscale="log", yscale="log", xlabel="clients n (log scale)", ylabel=ylabel, title=title)
    lo, hi = min(ns), max(ns)
    ax.set_xlim(lo / 1.15, hi * 1.15)
    ax.set_xticks(sorted(set(ns)), [str(n) for n in sorted(set(ns))])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.yaxis.set_major_formatter(_Plain())
    ax.yaxis.set_minor_formatter(_Plain(labelOnlyBase=False))
    ax.grid(True, which="both", alpha=0.3)


def _legend_below(fig, *axes) -> None:
    """One legend for the figure, under the panels: every labelled line of ``axes``, once."""
    seen: dict[str, Any] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            seen.setdefault(label, handle)
    handles, labels = list(seen.values()), list(seen)
    rows = -(-len(labels) // 3)
    fig.legend(handles, labels, loc="lower center", ncol=3, fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, min(0.45, 0.035 * rows + 0.02), 1, 0.96))


def _references(ax, points: list[tuple[int, float]], what: str, ns: list[int]) -> None:
    """Reference seconds as labelled stars where their n lies within the measured range; an n
    beyond it is drawn as a triangle on the panel's edge at its height, so it cannot stretch the
    x axis and squash the measured lines."""
    lo, hi = min(ns), max(ns)
    for n, secs in points:
        text = f"Bonawitz 2017 {what}: {secs:g} s (n={n}, 1e5 values)"
        if lo <= n <= hi:
            ax.plot([n], [secs], "k*", ms=14, zorder=5)
            right = n > np.sqrt(lo * hi)  # label towards the middle of the axis
            ax.annotate(text, (n, secs), textcoords="offset points", xytext=(-12 if right else 12, 0),
                        ha="right" if right else "left", va="center", fontsize=8)
            continue
        side = 1.0 if n > hi else 0.0
        ax.plot([side], [secs], ">" if n > hi else "<", color="k", ms=10, clip_on=False,
                transform=ax.get_yaxis_transform(), zorder=5)
        arrow = f"{text} →" if n > hi else f"← {text}"
        ax.annotate(arrow, (side, secs), xycoords=ax.get_yaxis_transform(),
                    textcoords="offset points", xytext=(-10 if n > hi else 10, 0),
                    ha="right" if n > hi else "left", va="center", fontsize=8,
                    bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})


def _fit_y(ax, values: list[float]) -> None:
    """Y limits that show the data and ``values`` (edge markers are not autoscaled), with room."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(min([lo, *values]) / 1.6, max([hi, *values]) * 1.6)


def _time_lines(left, right, series) -> None:
    """Client seconds on ``left``, server (and Paillier key holder) seconds on ``right``."""
    dims, drops = sorted({k[1] for k in series}), sorted({k[2] for k in series})
    for key, sel in series.items():
        st = _style(key, dims, drops)
        ns = [r["n"] for r in sel]
        left.plot(ns, [max(r["client_mean_s"], 1e-7) for r in sel], **st)
        right.plot(ns, [max(r["server_s"], 1e-7) for r in sel], **st)
        if key[0] == "paillier":
            right.plot(ns, [max(r["keyholder_s"], 1e-7) for r in sel], color=st["color"],
                       linestyle=st["linestyle"], marker="x", ms=9,
                       label=st["label"] + ": key holder's decryption")
            left.plot(ns, [max(r["paillier_online_s"], 1e-7) for r in sel], color=st["color"],
                      linestyle=st["linestyle"], marker="P", ms=8,
                      label=st["label"] + ": client's online part (encrypt after precompute)")


def time_figure(rows, reference: dict[str, Any], machine: str):
    """The figure of :func:`plot_time` (x axis: the measured n only, references at its edge)."""
    plt = _plt()
    series = _series(rows)
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 8))
    _time_lines(left, right, series)
    ns = [r["n"] for r in rows]
    for ax, idx, what in ((left, 1, "client"), (right, 2, "server")):
        _loglog(ax, "", "seconds (log scale)", ns)
        pts = [(p[0], p[idx]) for p in reference["points"] if p[idx] is not None]
        _fit_y(ax, [secs for _, secs in pts])
        _references(ax, pts, what, ns)
    right.plot([], [], "k*", ms=12, label=reference["label"])
    if any(not min(ns) <= p[0] <= max(ns) for p in reference["points"]):
        right.plot([], [], "k>", ms=9, label="the same, at an n beyond this plot's range")
    paillier = any(k[0] == "paillier" for k in series)
    left.set_title("one client, whole round (mean" + ("; +: Paillier online part)" if paillier
                                                      else ")"))
    right.set_title("server, whole round" + (" (x: Paillier key holder)" if paillier else ""))
    fig.suptitle(f"Round time vs clients — {machine}", fontsize=9)
    _legend_below(fig, left, right)
    return fig


def plot_time(rows, out: Path, reference: dict[str, Any], machine: str) -> None:
    """Client and server (and key-holder) seconds vs n; the Bonawitz references beside them."""
    fig = time_figure(rows, reference, machine)
    fig.savefig(out / "time_vs_n.png", dpi=110)
    _plt().close(fig)


def bytes_figure(rows, bits: int = 32):
    """The figure of :func:`plot_bytes`; the plain vector's line is named in the legend."""
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
            ax.axhline(bits * dim / 8, color="grey", lw=1.5, ls=(0, (6, 2, 1, 2)), zorder=1,
                       label=f"baseline: the plain {bits}-bit vector, {dim:.0e} values"
                       .replace("e+0", "e"))
        _loglog(ax, title, "bytes per client (log scale)", [r["n"] for r in rows], _bytes)
    fig.suptitle("Traffic per client vs clients (whole round)", fontsize=10)
    _legend_below(fig, axes[0])
    return fig


def plot_bytes(rows, out: Path, bits: int = 32) -> None:
    """Bytes each client sends and receives vs n, with the plain vector's size as a baseline."""
    fig = bytes_figure(rows, bits)
    fig.savefig(out / "bytes_vs_n.png", dpi=110)
    _plt().close(fig)


def plot_stages(rows, stages, out: Path) -> None:
    """Per protocol: server/key-holder and client seconds by stage, at one (dim, dropout)."""
    plt = _plt()
    dim = min(r["dim"] for r in rows)
    drop = min({r["dropout"] for r in rows}, key=lambda d: abs(d - 0.1))
    protos = [p for p in COLORS if any(r["protocol"] == p for r in rows)]
    names = list(dict.fromkeys(s for r, st in stages for s in st))
    cmap = plt.get_cmap("tab10")
    colors = {s: cmap(i % 10) for i, s in enumerate(names)}
    fig, axes = plt.subplots(2, len(protos), figsize=(max(5 * len(protos), 6), 8.4),
                             squeeze=False)
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
                           hatch="//" if role == "keyholder_s" else None,
                           label=STAGE_LABEL.get(name, name) + who)
                    bottom += vals
            ax.set_xticks(range(len(sel)), [str(r["n"]) for r, _ in sel])
            who = "server (+ key holder)" if row_i == 0 else "one client (mean)"
            ax.set(xlabel="clients n", ylabel="seconds", title=f"{proto}: {who}")
            ax.margins(y=0.3)
            ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Time by stage at {dim:.0e} values, {drop:.0%} dropout\n".replace("e+0", "e")
                 + "(bars stack the stages; scales differ per panel)", fontsize=10)
    fig.tight_layout()
    fig.savefig(out / "stages.png", dpi=110)
    plt.close(fig)
