"""``python -m bench scaling --protocol ...,lightsecagg``: LightSecAgg beside SecAgg and SecAgg+."""

import json

import pytest

from bench.scaling import PROTOCOLS, _parser, main, parse_args

PNG = b"\x89PNG\r\n\x1a\n"
TINY = ["--clients", "5,8", "--dim", "100", "--dropout", "0,0.2"]


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("scaling-lightsecagg")
    assert main(["--protocol", "secagg,secagg+,lightsecagg", *TINY, "--out", str(out)]) == 0
    rows = [json.loads(line) for line in (out / "results.jsonl").read_text().splitlines()]
    return out, rows


def test_lightsecagg_rows_sit_beside_secagg_and_secagg_plus(tiny_run):
    out, rows = tiny_run
    assert {r["protocol"] for r in rows} == {"secagg", "secagg+", "lightsecagg"}
    lsa = [r for r in rows if r["protocol"] == "lightsecagg"]
    assert len(lsa) == 4
    for r in lsa:  # the sum was checked against the inputs inside the run
        assert r["included"] == r["n"] - int(r["dropout"] * r["n"])
        assert r["k"] == r["n"] - 1 and 2 <= r["t"] < r["n"]
        assert r["server_s"] > 0 and r["client_max_s"] >= r["client_mean_s"] > 0
        assert r["bytes_up_per_client"] > 0 and r["wall_s"] >= r["server_s"]
        assert set(r["stages"]) == {"advertise_keys", "share_masks", "masked_input",
                                    "aggregate_mask"}
        assert "mask_to_aes_ratio" not in r  # no pairwise masks to compare with AES
    for name in ("time_vs_n.png", "bytes_vs_n.png", "stages.png"):
        assert (out / name).read_bytes()[:8] == PNG


def test_the_summary_tables_and_growth_name_lightsecagg(tiny_run):
    text = (tiny_run[0] / "summary.md").read_text()
    assert "## SecAgg, SecAgg+ and LightSecAgg" in text
    assert "| lightsecagg | 8 | 100 | 0.2 |" in text
    assert "**lightsecagg**" in text and "LightSecAgg rows: k = n - 1" in text


def test_the_flag_takes_lightsecagg_and_refuses_a_point_without_a_config(capsys):
    assert "lightsecagg" in PROTOCOLS and "lightsecagg" in _parser().format_help()
    assert parse_args(["--protocol", "lightsecagg"]).protocol == ["lightsecagg"]
    assert "lightsecagg" in parse_args(["--protocol", "all"]).protocol
    with pytest.raises(SystemExit):
        parse_args(["--protocol", "lightsecagg", "--clients", "3"])
    assert "lightsecagg at n=3" in capsys.readouterr().err
