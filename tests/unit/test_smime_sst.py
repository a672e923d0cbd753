"""``vedette smime sst``: the issuing CAs of the users given, written as a ``.sst``; and
``vedette cert inspect FILE.sst`` showing every element's properties."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from tests.unit.test_sst import GOLDEN_RICH
from vedette.cli import main
from vedette.pki import sst
from vedette.pki.ca import CertificateAuthority
from vedette.smime.issuing import issuing_set


@pytest.fixture(scope="module")
def pki() -> dict[str, CertificateAuthority]:
    root = CertificateAuthority.create_root("Sst Root")
    inter = root.issue_intermediate("Sst S/MIME CA")
    other = CertificateAuthority.create_root("Partner Root")
    return {"root": root, "inter": inter, "other": other}


def _write(path: Path, *certs: x509.Certificate, der: bool = False) -> Path:
    if der:
        path.write_bytes(certs[0].public_bytes(Encoding.DER))
    else:
        path.write_bytes(b"".join(c.public_bytes(Encoding.PEM) for c in certs))
    return path


def _thumb(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex().upper()


def test_only_the_issuers_go_in_deduplicated_root_first(
    pki: dict[str, CertificateAuthority], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, inter, other = pki["root"].cert, pki["inter"].cert, pki["other"].cert
    alice = pki["inter"].issue_smime("alice@example.org").cert
    bob = pki["other"].issue_smime("bob@partner.example").cert
    folder = tmp_path / "cas"
    folder.mkdir()
    _write(folder / "inter.cer", inter, der=True)
    _write(folder / "root.pem", root)
    (folder / "README.txt").write_text("not a certificate\n")
    chain = _write(tmp_path / "alice-chain.pem", alice, inter)  # the intermediate twice
    p7b = tmp_path / "bob.p7b"
    from vedette.pki.convert import to_p7b

    p7b.write_bytes(to_p7b([bob, other]))
    out = tmp_path / "chainOfTrust.sst"
    assert main(["smime", "sst", "--out", str(out), str(chain), str(p7b), str(folder)]) == 0
    text = capsys.readouterr()
    store = sst.parse_sst(out.read_bytes())
    assert sorted(map(_thumb, store.certificates)) == sorted(map(_thumb, (root, inter, other)))
    assert store.certificates.index(root) < store.certificates.index(inter)
    assert all(c.properties == () for c in store.contexts)  # hashes=False
    assert _thumb(inter) in text.out and "issues CN=alice@example.org" in text.out
    assert "user certificate(s) given: not in the store" in text.out
    assert "skipped" in text.err and "README.txt" in text.err


def test_a_store_of_one_certificate_is_written(
    pki: dict[str, CertificateAuthority], tmp_path: Path
) -> None:
    other = pki["other"].cert
    bob = pki["other"].issue_smime("bob@partner.example").cert
    out = tmp_path / "one.sst"
    args = ["smime", "sst", "--out", str(out)]
    assert main([*args, str(_write(tmp_path / "b.pem", bob, other))]) == 0
    assert sst.certificates_from_sst(out.read_bytes()) == (other,)


def test_a_chain_short_of_its_root_is_named_and_nothing_written(
    pki: dict[str, CertificateAuthority], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = pki["inter"].issue_smime("alice@example.org").cert
    src = _write(tmp_path / "a.pem", alice, pki["inter"].cert)
    out = tmp_path / "c.sst"
    assert main(["smime", "sst", "--out", str(out), str(src)]) == 1
    text = capsys.readouterr().out
    assert "the path of CN=alice@example.org stops at CN=Sst S/MIME CA" in text
    assert "CN=Sst Root is in none of the inputs" in text
    assert not out.exists()
    assert main(["smime", "sst", "--out", str(out), "--allow-incomplete", str(src)]) == 0
    assert sst.certificates_from_sst(out.read_bytes()) == (pki["inter"].cert,)


def test_users_without_any_ca_and_an_existing_output(
    pki: dict[str, CertificateAuthority], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = _write(tmp_path / "a.pem", pki["inter"].issue_smime("alice@example.org").cert)
    out = tmp_path / "c.sst"
    assert main(["smime", "sst", "--out", str(out), str(alice)]) == 2
    assert "no CA certificate among the inputs" in capsys.readouterr().err
    out.write_bytes(b"keep")
    root = _write(tmp_path / "r.pem", pki["root"].cert)
    assert main(["smime", "sst", "--out", str(out), str(root)]) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep"
    assert main(["smime", "sst", "--out", str(out), "--force", str(root)]) == 0
    assert sst.certificates_from_sst(out.read_bytes()) == (pki["root"].cert,)


def test_a_self_signed_user_certificate_is_incomplete(
    pki: dict[str, CertificateAuthority],
) -> None:
    from tests.unit.test_sst import self_signed

    leafy = self_signed("lonely@example.org", 7)
    result = issuing_set([leafy, pki["root"].cert])
    assert [g.cert for g in result.incomplete] == [leafy]
    assert "self-signed" in result.incomplete[0].why


def test_cert_inspect_shows_every_property_of_a_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "rich.sst"
    path.write_bytes(GOLDEN_RICH)
    assert main(["cert", "inspect", str(path)]) == 0
    out = capsys.readouterr().out
    assert "0x0b CERT_FRIENDLY_NAME_PROP_ID: 'Racine été'" in out
    assert "unknown property 0x7777" in out
    assert "0x09 CERT_ENHKEY_USAGE_PROP_ID" in out


def test_a_pkcs12_with_its_chain_and_an_sst_as_inputs(
    pki: dict[str, CertificateAuthority],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vedette.pki.convert import to_p12

    alice = pki["inter"].issue_smime("alice@example.org")
    p12 = tmp_path / "alice.p12"
    p12.write_bytes(
        to_p12(key=alice.key, cert=alice.cert, chain=[pki["inter"].cert], password=b"s3cret")
    )
    old = tmp_path / "old.sst"  # an earlier store holding the root
    old.write_bytes(sst.write_sst([pki["root"].cert]))
    out = tmp_path / "new.sst"
    monkeypatch.setenv("P12_PASS", "s3cret")
    args = ["smime", "sst", "--out", str(out), str(p12), str(old)]
    assert main([*args, "--passin", "env:P12_PASS"]) == 0
    assert sst.certificates_from_sst(out.read_bytes()) == (pki["root"].cert, pki["inter"].cert)
    capsys.readouterr()
    out.unlink()
    monkeypatch.setenv("P12_PASS", "wrong")
    assert main([*args, "--passin", "env:P12_PASS"]) == 2
    err = capsys.readouterr().err
    assert "alice.p12" in err and len(err.strip().splitlines()) == 1
    assert not out.exists()
