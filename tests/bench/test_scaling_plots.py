"""The scaling figures: references do not squash the data; the baseline's label sits in the legend."""

import pytest

from bench.scaling import BONAWITZ
from bench.scaling_plots import bytes_figure, time_figure

plt = pytest.importorskip("matplotlib.pyplot")


def _rows(ns=(50, 100, 200), protocols=("secagg", "secagg+", "paillier")):
    rows = []
    for p in protocols:
        for i, n in enumerate(ns):
            rows.append({"protocol": p, "n": n, "dim": 10_000, "dropout": 0.1, "repeat": 0,
                         "server_s": 0.1 * (i + 1), "client_mean_s": 0.01 * (i + 1),
                         "keyholder_s": 1.0, "paillier_online_s": 0.005,
                         "bytes_up_per_client": 40_000.0 + 1000 * i,
                         "bytes_down_per_client": 3000.0 * (i + 1)})
    return rows


def _legend_labels(fig) -> list[str]:
    return [t.get_text() for legend in fig.legends for t in legend.get_texts()]


def test_references_beyond_the_measured_n_do_not_stretch_the_x_axis():
    fig = time_figure(_rows(), BONAWITZ, "test machine")
    try:
        for ax in fig.axes:
            lo, hi = ax.get_xlim()
            assert 40 <= lo < 50 and 200 < hi <= 250  # the data fills the width
        texts = [t.get_text() for ax in fig.axes for t in ax.texts]
        assert any("62 s (n=500" in t and "\u2192" in t for t in texts)  # at the edge, named
        assert any("180 s (n=1000" in t for t in texts)
        right = fig.axes[1]
        assert right.get_ylim()[1] > 180  # the reference's height is shown
        labels = _legend_labels(fig)
        assert "the same, at an n beyond this plot's range" in labels
        assert any("online part" in lbl for lbl in labels)  # Paillier's online encryption
    finally:
        plt.close(fig)


def test_references_within_the_measured_n_are_stars_at_their_n():
    fig = time_figure(_rows(ns=(200, 500, 1000), protocols=("secagg",)), BONAWITZ, "m")
    try:
        stars = [ln for ln in fig.axes[1].lines if ln.get_marker() == "*" and len(ln.get_xdata())]
        assert sorted(float(ln.get_xdata()[0]) for ln in stars) == [500.0, 1000.0]
        assert "the same, at an n beyond this plot's range" not in _legend_labels(fig)
    finally:
        plt.close(fig)


def test_the_plain_vector_baseline_is_named_in_the_legend_not_on_its_line():
    fig = bytes_figure(_rows())
    try:
        assert not any(ax.texts for ax in fig.axes)  # no label drawn over the lines
        assert "baseline: the plain 32-bit vector, 1e4 values" in _legend_labels(fig)
    finally:
        plt.close(fig)
