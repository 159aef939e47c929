"""The demo's command line: tiny runs write the plot and the summary; bad flags and a missing
extra fail with a message."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from fl_integration import datasets, demo
from fl_integration.history import History, RoundRecord

ROOT = Path(__file__).resolve().parents[2]


def test_tiny_demo_writes_plot_and_summary(tmp_path, capsys):
    code = demo.main(["--clients", "10", "--rounds", "2", "--per-round", "6",
                      "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^final accuracy: \d+\.\d\d% \(plain FedAvg: \d+\.\d\d%\)$", out, re.M), out
    png = tmp_path / "fedavg.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot: {png}" in out


@pytest.mark.parametrize("flags, message", [
    (["--aggregator", "rot13"], "invalid choice: 'rot13'"),
    (["--dp", "global"], "invalid choice: 'global'"),
    (["--clients", "0"], "expected a positive integer, got 0"),
    (["--dropout", "1.5"], "expected a number in [0, 1), got 1.5"),
    (["--rounds", "many"], "expected a positive integer, got 'many'"),
])
def test_bad_flags_exit_nonzero_with_a_message(flags, message, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(flags)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_module_entry_point_reports_bad_flag():
    proc = subprocess.run([sys.executable, "-m", "fl_integration.demo", "--clients", "-3"],
                          cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "usage: python -m fl_integration.demo" in proc.stderr
    assert "--clients: expected a positive integer, got -3" in proc.stderr


TINY = ["--clients", "10", "--rounds", "2", "--per-round", "6"]


def test_summary_puts_the_plain_cost_beside_the_secure_one_and_reports_clipping(tmp_path, capsys):
    assert demo.main([*TINY, "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^secure aggregation: .* s compute, .* MB sent and received", out, re.M)
    assert re.search(r"^plain FedAvg aggregation: \d+\.\d\d s compute, \d+\.\d\d MB", out, re.M)
    assert re.search(r"^clip at ±1\.0 per coordinate: changed \d+\.\d% of the updates per "
                     r"round \(\d+\.\d% at most\)$", out, re.M), out


def test_without_a_terminal_no_progress_bar_interleaves_with_the_round_lines(tmp_path, capsys):
    """Captured output is not a TTY: the bar (which redraws with \\r) stays off, and every
    per-round line, with its clipped fraction, is whole on stdout."""
    assert demo.main([*TINY, "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "\r" not in captured.err and "it/s" not in captured.err
    lines = [line for line in captured.out.splitlines() if line.startswith("[")]
    assert len(lines) == 4  # 2 rounds of secagg+, 2 of plain
    assert all(re.search(r"clipped +\d+%", line) for line in lines), lines


@pytest.mark.parametrize("hidden", [("sklearn",), ("tqdm", "matplotlib")])
def test_a_missing_demo_extra_says_what_to_install(hidden, monkeypatch, capsys):
    for module in hidden:
        monkeypatch.setitem(sys.modules, module, None)  # makes the import fail as if absent
    with pytest.raises(SystemExit) as exc:
        demo.main(TINY)
    message = str(exc.value.code)
    assert "pip install 'secagg[demo]'" in message and "make demo" in message
    for module in hidden:
        assert demo.DEMO_EXTRA[module] in message


def test_the_library_functions_name_the_extra_too(monkeypatch):
    for module in ("sklearn", "sklearn.datasets", "matplotlib", "matplotlib.pyplot"):
        monkeypatch.setitem(sys.modules, module, None)
    with pytest.raises(ImportError, match=r"scikit-learn: pip install 'secagg\[demo\]'"):
        datasets.load_digits_split()
    with pytest.raises(ImportError, match=r"matplotlib: pip install 'secagg\[demo\]'"):
        demo.plot({"plain FedAvg": History()}, Path("unused.png"), "title")


def _history(secure: bool, dp: bool) -> History:
    records = [RoundRecord(round=r, sampled=(1, 2), survivors=(1, 2), accuracy=0.5 + r / 10,
                           seconds=0.1 if secure else 1e-4, bytes_up=3000 if secure else 1000,
                           quantization_bound=1e-8, epsilon=float(r) if dp else None,
                           delta=1e-5 if dp else None, stats={"bits": 32} if secure else {})
               for r in (1, 2, 3)]
    return History(records)


@pytest.mark.parametrize("with_dp", [False, True])
def test_the_figure_shows_accuracy_cost_against_plain_and_epsilon_with_dp(with_dp):
    runs = {"secagg+": _history(True, False), "plain FedAvg": _history(False, False)}
    if with_dp:
        runs["secagg+ + local DP"] = _history(True, True)
    fig = demo.figure(runs, "title")
    axes = {ax.get_title(): ax for ax in fig.axes}
    expected = {"test accuracy", "aggregation compute per round", "aggregation traffic per round"}
    assert set(axes) == expected | ({"privacy against the server"} if with_dp else set())
    for ax in axes.values():
        assert ax.get_xlabel() == "round" and ax.get_ylabel()
    assert axes["aggregation compute per round"].get_ylabel() == "seconds (log scale)"
    traffic = [t.get_text() for t in axes["aggregation traffic per round"].get_legend().get_texts()]
    assert "secagg+: 0.01 MB in all (3.0× plain)" in traffic  # 9 kB against 3 kB
    accuracy_legend = axes["test accuracy"].get_legend().get_title().get_text()
    assert "overlap" in accuracy_legend and "1.0e-08" in accuracy_legend
    if with_dp:
        eps = axes["privacy against the server"].get_legend().get_texts()[0].get_text()
        assert eps == "secagg+ + local DP: ε=3.00 at δ=1e-05"
    demo._extra("matplotlib.pyplot").close(fig)


def test_a_dp_run_reports_epsilon_and_how_often_its_l2_clip_bit(tmp_path, capsys):
    assert demo.main([*TINY, "--dp", "local", "--out", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"^with local DP: final accuracy .*, epsilon = \d+\.\d\d at delta = 1e-5", out,
                     re.M), out
    assert re.search(r"^with local DP, L2 clip at 1\.0: changed \d+\.\d% of the updates", out, re.M)


def test_async_mode_plots_accuracy_against_simulated_time_and_reports_the_speedup(tmp_path,
                                                                                  capsys):
    code = demo.main(["--mode", "async", "--clients", "12", "--rounds", "2", "--per-round", "6",
                      "--buffer-size", "3", "--spares", "1", "--out", str(tmp_path), "--quiet"])
    out = capsys.readouterr().out
    assert code == 0
    assert re.search(r"^latency model: training log-normal, median 10 s, sigma 1\.12", out, re.M)
    assert re.search(r"^time to the sync run's final accuracy \d+\.\d\d%: async secagg\+ "
                     r"FedBuff (\d+\.\d\dx faster|not reached)", out, re.M), out
    assert re.search(r"^final accuracy after \d+ simulated s: sync secagg\+ \d+\.\d\d%, "
                     r"async secagg\+ \d+\.\d\d%, async plain \d+\.\d\d%$", out, re.M), out
    assert re.search(r"CPU per buffer \d+\.\d{3} s mean", out), out
    png = tmp_path / "fedbuff.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"plot: {png}" in out
    assert not (tmp_path / "fedavg.png").exists()


@pytest.mark.parametrize("flags, message", [
    (["--mode", "later"], "invalid choice: 'later'"),
    (["--mode", "async", "--buffer-size", "2"], "--buffer-size must be >= 3"),
    (["--mode", "async", "--spares", "-1"], "expected an integer >= 0, got -1"),
    (["--mode", "async", "--clients", "10", "--buffer-size", "8", "--spares", "3"],
     "must be at most --clients (10)"),
])
def test_async_mode_refuses_bad_flags(flags, message, capsys):
    with pytest.raises(SystemExit) as exc:
        demo.main(flags)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err
