"""The PKI toolkit's pure parts: formats, names, client rules, profiles, CA directory, bundle,
lint, fix commands, passphrase sources."""

from __future__ import annotations

import base64
import contextlib
import json
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vedette.errors import PkiError, UsageError
from vedette.model import Endpoint, Service
from vedette.pki import CertificateAuthority, self_signed_server
from vedette.pki.bundle import build_bundle
from vedette.pki.cadir import CaDir, CaSettings, init_ca
from vedette.pki.clients import default_key_type, parse_clients, signature_hash
from vedette.pki.convert import to_p7b, to_p12, to_pem
from vedette.pki.csr import build_csr, general_name, merge_names, names_like, parse_subject
from vedette.pki.fixes import bundle_command, renewal_commands
from vedette.pki.formats import read_material
from vedette.pki.issue import issue_from_csr
from vedette.pki.keys import generate_key, key_to_pem, load_private_key
from vedette.pki.lint import lint_certificate
from vedette.pki.passphrase import PassSource, parse_source, read_passphrase

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def pki() -> tuple[CertificateAuthority, CertificateAuthority]:
    root = CertificateAuthority.create_root("Unit Root", organization="Vedette")
    return root, root.issue_intermediate("Unit Issuing CA")


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


# --- formats ---------------------------------------------------------------------------------


def test_pem_bundle_with_text_around_and_a_key(pki):
    _root, inter = pki
    leaf = inter.issue_server(["mail.example.test"])
    data = (
        b"Bag Attributes\n    friendlyName: x\nsubject=/CN=mail\n"
        + leaf.cert_pem()
        + b"some text\n"
        + inter.issued.cert_pem()
        + leaf.key_pem()
    )
    m = read_material(data, source="bundle.pem")
    assert m.format == "pem"
    assert [c.subject for c in m.certificates] == [leaf.cert.subject, inter.cert.subject]
    assert len(m.keys) == 1


def test_trusted_certificate_label_with_aux_data(pki):
    root, _inter = pki
    der = _der(root.cert) + bytes.fromhex("3006300406022b06")  # X509_AUX-like trailer
    body = base64.encodebytes(der)
    data = b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body + b"-----END TRUSTED CERTIFICATE-----\n"
    m = read_material(data, source="t.pem")
    assert m.certificates == (root.cert,)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_text_with_or_without_bom(pki, encoding):
    root, _ = pki
    m = read_material(_pem(root.cert).decode().encode(encoding), source="u.cer")
    assert m.certificates == (root.cert,)
    assert m.format.endswith("+utf16")


def test_headerless_base64_and_der_and_p7b(pki):
    root, inter = pki
    bare = base64.encodebytes(_der(inter.cert))
    assert read_material(bare, source="b.txt").certificates == (inter.cert,)
    assert read_material(_der(inter.cert), source="c.cer").format == "der"
    # A DER-sorted PKCS#7 comes back leaf first.
    leaf = inter.issue_server(["a.example.test"])
    m = read_material(to_p7b([root.cert, leaf.cert, inter.cert]), source="x.p7b")
    assert m.format == "pkcs7"
    assert m.certificates == (leaf.cert, inter.cert, root.cert)


def test_pkcs12_password_paths(pki):
    _root, inter = pki
    leaf = inter.issue_server(["p12.example.test"])
    for legacy in (False, True):
        data = to_p12(
            key=leaf.key, cert=leaf.cert, chain=[inter.cert], password=b"pw", legacy=legacy
        )
        with pytest.raises(PkiError, match="protected by a password"):
            read_material(data, source="x.pfx")
        with pytest.raises(PkiError, match="wrong password"):
            read_material(data, source="x.pfx", password=lambda: b"nope")
        m = read_material(data, source="x.pfx", password=lambda: b"pw")
        assert m.certificates == (leaf.cert, inter.cert)
        assert len(m.keys) == 1


def test_pkcs12_refuses_a_foreign_key(pki):
    _root, inter = pki
    leaf = inter.issue_server(["p12.example.test"])
    with pytest.raises(PkiError, match="does not match"):
        to_p12(key=generate_key("ec:p256"), cert=leaf.cert, chain=[], password=b"pw")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x01garbage", "neither PEM text nor DER"),
        (b"-----BEGIN CERTIFICATE-----\nMIIB", "without a matching END"),
        (b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n", "does not decode"),
        (b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", "not a valid"),
        (b"-----BEGIN FOO-----\nAAAA\n-----END FOO-----\n", "no certificate, key"),
        (b"\x30\x82\x10\x00\x02\x01", "truncated"),
    ],
)
def test_bad_files_are_pki_errors(data, message):
    with pytest.raises(PkiError, match=message):
        read_material(data, source="bad")


def test_random_bytes_never_escape_as_other_exceptions():
    rng = random.Random(5)
    for _ in range(300):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        if rng.random() < 0.3:
            blob = b"\x30" + blob
        with contextlib.suppress(PkiError):
            read_material(blob, source="fuzz")


def test_encrypted_key_errors():
    key = generate_key("ec:p256")
    pem = key_to_pem(key, b"secret")
    with pytest.raises(PkiError, match="encrypted"):
        load_private_key(pem, None, source="k")
    with pytest.raises(PkiError, match="wrong passphrase"):
        load_private_key(pem, b"wrong", source="k")
    assert load_private_key(pem, b"secret", source="k").private_numbers() == key.private_numbers()


# --- names and requests ----------------------------------------------------------------------


def test_general_name_forms():
    assert general_name("Mail.Example.TEST") == x509.DNSName("mail.example.test")
    assert general_name("*.example.test") == x509.DNSName("*.example.test")
    assert isinstance(general_name("2001:db8::1"), x509.IPAddress)
    assert general_name("alice@example.test") == x509.RFC822Name("alice@example.test")
    assert general_name("URI:https://x.example.test/") == x509.UniformResourceIdentifier(
        "https://x.example.test/"
    )
    assert general_name("bücher.example") == x509.DNSName("xn--bcher-kva.example")
    for bad in ("bad name", "-x.example", "a..b", "IP:300.1.1.1", "email:nobody"):
        with pytest.raises(UsageError):
            general_name(bad)


def test_csr_like_copies_subject_and_names_and_adds_cn_first(pki):
    _root, inter = pki
    old = inter.issue_server(
        ["autodiscover.example.test", "192.0.2.5"], common_name="mail.example.test"
    )
    subject, names = names_like(old.cert)
    merged = merge_names(subject, names, [general_name("new.example.test")])
    assert [str(n.value) for n in merged] == [
        "mail.example.test",
        "autodiscover.example.test",
        "192.0.2.5",
        "new.example.test",
    ]
    key = generate_key("ec:p256")
    csr = build_csr(key, subject, merged)
    assert csr.is_signature_valid
    assert csr.subject == old.cert.subject


def test_subject_parts_and_rfc4514():
    name = parse_subject(cn="mail.example.test", org="Example", country="FR")
    assert name.rfc4514_string() == "CN=mail.example.test,O=Example,C=FR"
    assert parse_subject(subject="CN=x,O=y").rfc4514_string() == "CN=x,O=y"
    with pytest.raises(UsageError):
        parse_subject(country="France")
    with pytest.raises(UsageError):
        parse_subject(subject="CN=x", cn="y")


# --- client rules ----------------------------------------------------------------------------


def test_client_rules_come_from_the_client_profiles():
    everyone = parse_clients(None)
    assert everyone and not any(p.opportunistic for p in everyone)  # MTAs only when asked
    # Java 6 and Android 2.3 have no ECDSA: with every client in play the key is RSA.
    assert default_key_type(everyone) == "rsa:2048"
    assert default_key_type(parse_clients("ios,outlook-win11")) == "ec:p256"
    assert default_key_type(parse_clients(["java-6"])) == "rsa:2048"
    assert signature_hash(everyone) == "sha256"
    assert signature_hash(parse_clients("ios,android"), "sha512") == "sha512"
    with pytest.raises(UsageError, match="SEC_E_ALGORITHM_MISMATCH") as err:
        signature_hash(parse_clients(["ios", "lync"]), "sha512")
    assert "lync-2013-win7" in str(err.value)
    assert signature_hash(parse_clients("lync"), "sha384") == "sha384"
    with pytest.raises(UsageError, match="unknown client"):
        parse_clients("lync2031")


# --- issuing profiles ------------------------------------------------------------------------


def _csr(names: list[str], cn: str | None = None) -> x509.CertificateSigningRequest:
    key = generate_key("ec:p256")
    subject = parse_subject(cn=cn) if cn else x509.Name([])
    return build_csr(key, subject, [general_name(n) for n in names])


def test_profiles(pki):
    _root, inter = pki
    kw = {"issuer": inter.cert, "issuer_key": inter.issued.key, "now": NOW, "days": 30}
    server = issue_from_csr(csr=_csr(["mail.example.test"]), profile="server", **kw)
    eku = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    assert (server.not_valid_after_utc - server.not_valid_before_utc) == timedelta(
        days=30
    ) - timedelta(seconds=1)
    with pytest.raises(PkiError, match="subjectAltName"):
        issue_from_csr(csr=_csr([], cn="Just A Name"), profile="server", **kw)
    smime = issue_from_csr(csr=_csr(["alice@example.test"]), profile="smime", **kw)
    ku = smime.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature and ku.key_agreement and not ku.key_encipherment
    ocsp = issue_from_csr(csr=_csr([], cn="OCSP"), profile="ocsp", **kw)
    ocsp.extensions.get_extension_for_class(x509.OCSPNoCheck)
    with pytest.raises(PkiError, match="outlive"):
        issue_from_csr(csr=_csr(["x.example.test"]), profile="server", **{**kw, "days": 36500})


# --- CA directory ----------------------------------------------------------------------------


def _ca(tmp_path: Path) -> Path:
    init_ca(
        tmp_path / "ca",
        name="Dir Root",
        org=None,
        key_type="ec:p256",
        intermediate=False,
        root_days=3650,
        intermediate_days=1825,
        permitted_dns=(),
        settings=CaSettings(),
        passphrase=None,
        now=NOW,
    )
    return tmp_path / "ca"


def _sign(path: Path, names: list[str]) -> x509.Certificate:
    with CaDir.locked(path):
        ca = CaDir.open(path)
        key = ca.issuer_key(lambda: None)
        return ca.sign(
            _csr(names), key=key, profile="server", days=30, hash_alg="sha256", names=None, now=NOW
        )


def test_cadir_serials_unique_and_index_consistent(tmp_path):
    path = _ca(tmp_path)
    certs = [_sign(path, [f"h{i}.example.test"]) for i in range(5)]
    index = json.loads((path / "index.json").read_text())
    assert sorted(int(e["serial"], 16) for e in index["certificates"]) == sorted(
        c.serial_number for c in certs
    )
    assert len({c.serial_number for c in certs}) == 5
    assert all(c.serial_number.bit_length() > 64 for c in certs)


def test_cadir_refuses_foreign_or_missing_issued_files(tmp_path):
    path = _ca(tmp_path)
    cert = _sign(path, ["a.example.test"])
    stranger = self_signed_server(["b.example.test"]).cert
    foreign = path / "issued" / f"{stranger.serial_number:x}.pem"
    foreign.write_bytes(_pem(stranger))
    with pytest.raises(PkiError, match="not a certificate issued by this CA"):
        CaDir.open(path)
    foreign.unlink()
    (path / "issued" / f"{cert.serial_number:x}.pem").unlink()
    with pytest.raises(PkiError, match="missing"):
        CaDir.open(path)


def test_cadir_lock_is_exclusive(tmp_path):
    path = _ca(tmp_path)
    with (
        CaDir.locked(path),
        pytest.raises(PkiError, match="another vedette process"),
        CaDir.locked(path),
    ):
        pass


def test_init_refuses_non_empty_directory(tmp_path):
    (tmp_path / "ca").mkdir()
    (tmp_path / "ca" / "x").write_text("x")
    with pytest.raises(PkiError, match="not an empty directory"):
        _ca(tmp_path)


# --- bundle ----------------------------------------------------------------------------------


def test_bundle_orders_a_shuffled_pool_and_skips_strangers(pki):
    root, inter = pki
    sub = inter  # leaf <- inter <- root
    leaf = sub.issue_server(["mail.example.test"])
    stranger = CertificateAuthority.create_root("Other Root").issue_intermediate("Other CA")
    pool = [stranger.cert, root.cert, inter.cert]
    result = build_bundle(leaf.cert, pool, [_der(root.cert)])
    assert result.chain == (leaf.cert, inter.cert)
    assert result.root == root.cert and result.trusted
    assert result.unused == (stranger.cert,)
    # Untrusted root found in the pool: complete, not trusted, root not in the chain.
    result = build_bundle(leaf.cert, [root.cert, inter.cert], [])
    assert result.chain == (leaf.cert, inter.cert) and result.root == root.cert
    assert not result.trusted
    # Missing intermediate: says which issuer.
    result = build_bundle(leaf.cert, [root.cert], [_der(root.cert)])
    assert not result.complete
    assert result.missing_issuer == inter.cert.subject
    assert to_pem(result.chain) == leaf.cert_pem()


# --- lint ------------------------------------------------------------------------------------


def test_lint_good_and_bad(pki):
    _root, inter = pki
    good = issue_from_csr(
        csr=_csr(["mail.example.com"], cn="mail.example.com"),
        issuer=inter.cert,
        issuer_key=inter.issued.key,
        profile="server",
        now=datetime.now(UTC),
        days=90,
    )
    rules = {r.rule for r in lint_certificate(good, "server")}
    assert not {r.rule for r in lint_certificate(good, "server") if r.level == "error"}
    assert "revocation-info" in rules  # no CRL/OCSP configured: a warning
    assert not [r for r in lint_certificate(good, "internal") if r.level == "error"]
    bad = inter.issue_server(
        ["mail.corp", "under_score.example.com", "a.*.example.com"],
        common_name="other.example.com",
        days=900,
        server_auth_eku=False,
    ).cert
    errors = {r.rule for r in lint_certificate(bad, "server") if r.level == "error"}
    assert {
        "cn-not-in-san",
        "internal-name",
        "dns-underscore",
        "wildcard-placement",
        "eku-server-auth",
        "validity-public",
        "validity-apple",
    } <= errors
    smime_errors = {r.rule for r in lint_certificate(good, "smime") if r.level == "error"}
    assert {"smime-email-missing", "smime-eku"} <= smime_errors


# --- fix commands ----------------------------------------------------------------------------


def test_fix_commands_are_filled_in_and_quoted():
    ep = Endpoint(host="mail.example.test", ip="192.0.2.10", port=993, service=Service.IMAPS)
    (csr,) = renewal_commands(ep, add_name=True)
    assert csr == (
        "vedette cert csr --like imaps://mail.example.test:993 --ip 192.0.2.10 "
        "--san mail.example.test --new-key mail.example.test.key --out mail.example.test.csr"
    )
    v6 = Endpoint(host=None, ip="2001:db8::1", port=587, service=Service.SUBMISSION)
    (cmd,) = bundle_command(v6, fetchable=True)
    assert cmd == (
        "vedette cert bundle 'submission://[2001:db8::1]:587' --fetch "
        "--out 2001_db8__1-fullchain.pem"
    )
    (cmd,) = bundle_command(ep, fetchable=False, complete=True)
    assert cmd == (
        "vedette cert bundle imaps://mail.example.test:993 --ip 192.0.2.10 "
        "--out mail.example.test-fullchain.pem"
    )


# --- passphrases -----------------------------------------------------------------------------


def test_passphrase_sources(tmp_path, monkeypatch):
    with pytest.raises(UsageError, match="visible in ps"):
        parse_source("pass:hunter2")
    with pytest.raises(UsageError):
        parse_source("file:")
    (tmp_path / "p").write_bytes(b"first line\r\nsecond\n")
    assert read_passphrase(parse_source(f"file:{tmp_path / 'p'}"), purpose="x") == b"first line"
    monkeypatch.setenv("VEDETTE_TEST_PW", "from env")
    assert read_passphrase(parse_source("env:VEDETTE_TEST_PW"), purpose="x") == b"from env"
    monkeypatch.setenv("VEDETTE_TEST_PW", "")
    with pytest.raises(PkiError, match="empty"):
        read_passphrase(PassSource(kind="env", value="VEDETTE_TEST_PW"), purpose="x")
    with pytest.raises(PkiError, match="not set"):
        read_passphrase(PassSource(kind="env", value="VEDETTE_NOT_SET_X"), purpose="x")


def test_cn_attribute_kept_from_like(pki):
    _root, inter = pki
    old = inter.issue_server(["mail.example.test"])
    subject, _ = names_like(old.cert)
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "mail.example.test"


def test_cadir_ignores_temporary_files_left_by_a_crash(tmp_path):
    path = _ca(tmp_path)
    _sign(path, ["a.example.test"])
    # What a crash between mkstemp and rename leaves: dot-named temporaries.
    (path / "issued" / ".123abc.pem.x1y2.tmp").write_bytes(b"-----BEGIN CERTIFICATE-----\nMII")
    (path / ".index.json.q9.tmp").write_text("{")
    with CaDir.locked(path):
        ca = CaDir.open(path)
    assert len(ca.entries) == 1 and ca.recovered == ()


def test_cadir_crash_between_certificate_and_index_loses_nothing(tmp_path, monkeypatch):
    path = _ca(tmp_path)
    _sign(path, ["a.example.test"])

    def crash(self: CaDir) -> None:
        raise OSError("power lost")  # the index rewrite never happens

    monkeypatch.setattr(CaDir, "_write_index", crash)
    with pytest.raises(OSError, match="power lost"):
        _sign(path, ["b.example.test"])
    monkeypatch.undo()
    on_disk = sorted(p.name for p in (path / "issued").iterdir())
    assert len(on_disk) == 2  # the certificate was durable before the index
    with CaDir.locked(path):
        ca = CaDir.open(path)
    assert len(ca.recovered) == 1
    assert {e.names for e in ca.entries} == {("DNS:a.example.test",), ("DNS:b.example.test",)}
    index = json.loads((path / "index.json").read_text())
    assert len(index["certificates"]) == 2  # written back at once


def test_cadir_refuses_a_replaced_issued_file(tmp_path):
    path = _ca(tmp_path)
    a = _sign(path, ["a.example.test"])
    b = _sign(path, ["b.example.test"])
    (path / "issued" / f"{a.serial_number:x}.pem").write_bytes(_pem(b))
    with pytest.raises(PkiError, match="replaced or edited by hand"):
        CaDir.open(path)
