"""``python -m bench scaling`` end to end with tiny settings: outputs parse and flags are checked."""

import csv
import io
import json
import subprocess
import sys

import pytest

from bench.scaling import FIELDS, _parser, main, parse_args

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--clients", "5,8", "--dim", "100", "--dropout", "0,0.2", "--paillier-key-bits", "128"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scaling")
    with pytest.warns(UserWarning, match="factored"):
        code = main(["--protocol", "secagg,secagg+,paillier", *TINY, "--out", str(out)])
    assert code == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return out, rows


def test_every_protocol_and_point_is_written(tiny_run):
    out, rows = tiny_run
    assert len(rows) == 12
    assert {r["protocol"] for r in rows} == {"secagg", "secagg+", "paillier"}
    with open(out / "results.csv") as f:
        table = list(csv.DictReader(f))
    assert len(table) == 12 and list(table[0]) == FIELDS
    for name in ("time_vs_n.png", "bytes_vs_n.png", "stages.png"):
        assert (out / name).read_bytes()[:8] == PNG
    meta = json.loads((out / "run.json").read_text())
    assert isinstance(meta["machine"]["gmpy2"], bool) and meta["skipped"] == []


@pytest.mark.parametrize("protocol", ["secagg", "secagg+", "paillier"])
def test_round_figures_are_sensible(tiny_run, protocol):
    for r in (r for r in tiny_run[1] if r["protocol"] == protocol):
        assert r["server_s"] > 0 and r["client_mean_s"] > 0
        assert r["client_max_s"] >= r["client_mean_s"]
        assert r["included"] == r["n"] - int(r["dropout"] * r["n"])
        assert r["wall_s"] >= r["server_s"]


@pytest.mark.parametrize("protocol", ["secagg", "secagg+"])
def test_masking_rows_carry_mask_ratio_and_shamir_costs(tiny_run, protocol):
    for r in (r for r in tiny_run[1] if r["protocol"] == protocol):
        assert r["bytes_up_per_client"] >= 100 * 4  # at least the 32-bit masked vector
        assert "masked_input" in r["stages"]
        assert r["mask_seeds"] == r["k"] + 1 and 2 <= r["t"] <= r["k"] + 1
        assert r["mask_to_aes_ratio"] > 0 and r["aes_s"] > 0 and r["aes_gb_per_s"] > 0
        assert r["mask_to_aes_ratio"] == pytest.approx(r["mask_s"] / r["aes_s"])
        assert r["shamir_points"] == r["k"] + 1
        assert r["shamir_split_s"] > 0 and r["shamir_reconstruct_s"] > 0
        assert "keyholder_s" not in r and "paillier_key_bits" not in r


def test_paillier_rows_carry_roles_and_sampling(tiny_run):
    for r in (r for r in tiny_run[1] if r["protocol"] == "paillier"):
        assert r["keyholder_s"] > 0 and r["paillier_key_bits"] == 128
        assert r["paillier_encrypted_clients"] == min(2, r["included"])
        assert r["bytes_up_per_client"] > r["paillier_ciphertexts"] * 2 * 128 / 8
        assert set(r["stages"]) == {"precompute", "encrypt", "add", "decrypt"}
        assert "mask_to_aes_ratio" not in r
        # offline (precompute) and online (encrypt) are reported apart and make up the client
        assert r["paillier_offline_s"] > 0 and r["paillier_online_s"] > 0
        assert r["client_mean_s"] == pytest.approx(r["paillier_offline_s"] + r["paillier_online_s"])
        assert r["stages"]["precompute"]["client_mean_s"] == r["paillier_offline_s"]
    assert "client offline s | client online s" in (tiny_run[0] / "summary.md").read_text()


def test_summary_keeps_slopes_reference_machine_and_sampling(tiny_run):
    text = (tiny_run[0] / "summary.md").read_text()
    for needle in ("client slope", "client ~ log n", "client ~ n:", "Bonawitz et al. 2017",
                   "other hardware", "0.85 s", "62 s", "Machine:", "Python", "gmpy2",
                   "Mask/AES ratio", "key holder", "Sampled, not extrapolated"):
        assert needle in text, needle


def test_points_over_the_memory_cap_are_skipped_with_a_reason(tmp_path, capsys):
    argv = ["--protocol", "secagg+", "--clients", "5", "--dim", "100,1000000",
            "--dropout", "0", "--max-mem-gib", "0.3", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert "skipping secagg+ n=5 dim=1000000" in capsys.readouterr().out
    rows = (tmp_path / "results.jsonl").read_text().splitlines()
    assert [json.loads(r)["dim"] for r in rows] == [100]
    assert "Skipped points" in (tmp_path / "summary.md").read_text()


@pytest.mark.parametrize("flags, msg", [
    (["--clients", "a,b"], "comma list"),
    (["--dropout", "0.9"], "--dropout"),
    (["--clients", "2"], "--clients"),
    (["--paillier-key-bits", "100"], "--paillier-key-bits"),
    (["--paillier-sample", "0"], "--paillier-sample"),
    (["--max-mem-gib", "0"], "--max-mem-gib"),
])
def test_bad_flags_exit_2_with_message(flags, msg, capsys):
    with pytest.raises(SystemExit) as exc:
        main(flags)
    assert exc.value.code == 2
    assert msg in capsys.readouterr().err


def test_bad_flag_through_the_command_line_exits_nonzero():
    p = subprocess.run([sys.executable, "-m", "bench", "scaling", "--protocol", "nope"],
                       capture_output=True, text=True)
    assert p.returncode != 0
    assert "unknown protocol" in p.stderr


def test_full_dry_run_reaches_2000_clients_and_skips_what_cannot_fit(capsys):
    assert main(["--full", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would run secagg+ n=2000 dim=1000000" in out
    assert "would run secagg n=1000 dim=1000000" in out
    assert "skipping secagg n=2000 dim=1000000 dropout=0.1: needs ~" in out
    assert "paillier" not in out  # not in the default protocol set
    assert main(["--full", "--dry-run", "--protocol", "secagg,secagg+,paillier"]) == 0
    out = capsys.readouterr().out
    assert "would run paillier n=1000 dim=10000 dropout=0.1" in out
    assert "paillier n=50 dim=100000" not in out


def test_paillier_is_left_out_by_default_and_the_help_says_how_to_add_it(capsys):
    assert parse_args([]).protocol == ["secagg", "secagg+"]
    assert parse_args(["--protocol", "all"]).protocol == [
        "secagg", "secagg+", "lightsecagg", "paillier"]
    assert parse_args(["--protocol", "paillier"]).protocol == ["paillier"]
    help_text = " ".join(_parser().format_help().split())
    assert "default: secagg,secagg+" in help_text
    assert "--protocol secagg,secagg+,paillier" in help_text
    assert main(["--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would run secagg+ n=200 dim=10000 dropout=0.3" in out and "paillier" not in out


def test_every_option_has_help_text():
    actions = [a for a in _parser()._actions if a.option_strings]
    assert len(actions) >= 12
    for action in actions:
        assert action.help and len(action.help) > 10, action.option_strings
    text = _parser().format_help()
    assert "``" not in text and ":mod:" not in text  # no raw reST in --help


ONE_POINT = ["--protocol", "secagg", "--clients", "5", "--dim", "100", "--dropout", "0,0.2"]


def test_progress_lines_and_where_the_files_went_when_not_a_terminal(tmp_path, capsys):
    assert main([*ONE_POINT, "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    lines = out.splitlines()
    assert f"2 points; writing to {tmp_path.resolve()}" in lines
    progress = [ln for ln in lines if ln.startswith("[")]
    assert [ln.split(":")[0] for ln in progress] == [
        "[1/2] secagg n=5 dim=100 dropout=0.0", "[2/2] secagg n=5 dim=100 dropout=0.2"]
    assert lines[-1] == (f"wrote 7 files to {tmp_path.resolve()}/: bytes_vs_n.png, results.csv, "
                         "results.jsonl, run.json, stages.png, summary.md, time_vs_n.png")
    assert "\r" not in out + err  # no bar redrawing itself into a log


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_terminal_gets_a_bar_naming_the_current_point(tmp_path, capsys, monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    assert main([*ONE_POINT, "--out", str(tmp_path)]) == 0
    bar = term.getvalue()
    assert "scaling: 100%" in bar and "2/2" in bar
    assert "secagg n=5 dim=100 dropout=0.2" in bar
    out = capsys.readouterr().out
    assert "[1/2]" not in out and f"wrote 7 files to {tmp_path.resolve()}/" in out
