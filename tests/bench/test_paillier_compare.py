"""``python -m bench paillier``: runs (a 2-client warm-up config used to crash it), splits the
client's encryption into offline and online, and can time phe without gmpy2."""

from phe import util as phe_util

from bench.paillier_compare import main


def test_quick_run_reports_offline_and_online_encryption(capsys):
    main(["--quick", "--no-secagg"])
    out = capsys.readouterr().out
    assert "gmpy2: True" in out
    for n in (10, 50):
        assert f"n={n} m=1000" in out
    assert out.count("= offline (precompute)") == 2 and out.count("+ online (encrypt)") == 2


def test_without_gmpy2_times_the_fallback_and_restores_phe(capsys):
    assert phe_util.HAVE_GMP
    main(["--quick", "--no-secagg", "--without-gmpy2", "--subset", "4"])
    assert "gmpy2: False" in capsys.readouterr().out
    assert phe_util.HAVE_GMP  # the flag does not leak out of the command


def test_offline_and_online_make_up_the_client():
    from bench.paillier_compare import _values, packed
    from protocols.paillier import PaillierConfig, PaillierKeyPair

    config = PaillierConfig(client_ids=(1, 2, 3), vector_length=300, key_bits=512,
                            allow_insecure_key_size=True)
    row = packed(config, PaillierKeyPair.generate(512), _values(300))
    assert row["offline_s"] > 0 and row["online_s"] > 0
    assert row["encrypt_s"] == row["offline_s"] + row["online_s"]
