"""Issue 10 on the PKI commands: name constraints both sides, an index that detects hand edits,
escaped file data, lint profiles chosen from the chain, keys for Lync/Skype.

Every certificate a constrained CA (or another tool holding its key) can mint is judged by an
independent verifier, ``openssl verify``, not only by vedette.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.builders import Made, certificate, endpoint_for, observed_tls
from tests.integration.test_pki_cli import _bad, openssl, vedette


@pytest.fixture
def work(tmp_path: Path) -> Path:
    return tmp_path


# --- keys for Lync / Skype for Business -------------------------------------------------------


@pytest.mark.parametrize("family", ["lync", "skype"])
def test_lync_and_skype_get_rsa_2048_and_the_reason(work: Path, family: str):
    out = vedette("key", "new", "--clients", family, "--out", "k.pem", cwd=work).stdout
    assert "RSA 2048" in out
    assert "CryptoAPI" in out and "wizard" in out
    text = openssl("pkey", "-in", "k.pem", "-noout", "-text", cwd=work).stdout
    assert "Private-Key: (2048 bit" in text
    out = vedette(
        "cert", "csr", "--cn", "sip.uc.test", "--clients", family, "--new-key", "s.key",
        "--out", "s.csr", cwd=work,
    ).stdout  # fmt: skip
    assert "RSA 2048" in out and "CryptoAPI" in out
    req = openssl("req", "-in", "s.csr", "-noout", "-text", cwd=work).stdout
    assert "Public-Key: (2048 bit)" in req
    # Clients without that constraint keep the ECDSA default, and say nothing.
    out = vedette("key", "new", "--clients", "ios", "--out", "e.pem", cwd=work).stdout
    assert "EC P-256" in out and "why" not in out


# --- name constraints: every name type, on both sides ----------------------------------------


def _csr(work: Path, name: str, cn: str | None, sans: list[x509.GeneralName]) -> Path:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    attrs = [] if cn is None else [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    from cryptography.hazmat.primitives import hashes

    path = work / f"{name}.csr"
    path.write_bytes(builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path


def _mint(work: Path, ca: Path, name: str, cn: str | None, sans: list[x509.GeneralName]) -> Path:
    """A leaf signed with the CA's key by another tool (no check of vedette's in the way)."""
    from datetime import UTC, datetime, timedelta

    from cryptography.hazmat.primitives.asymmetric import ec

    issuer = x509.load_pem_x509_certificate((ca / "intermediate.pem").read_bytes())
    issuer_key = serialization.load_pem_private_key(
        (ca / "intermediate-key.pem").read_bytes(), None
    )
    assert isinstance(issuer_key, ec.EllipticCurvePrivateKey)
    san = x509.SubjectAlternativeName(sans)
    leaf = certificate(
        cn,
        issuer=Made(cert=issuer, key=issuer_key),
        not_before=datetime.now(UTC) - timedelta(minutes=5),
        days=30,
        ca=False,
        extensions=[(san, False)] if sans else (),
    )
    path = work / f"{name}.pem"
    path.write_bytes(leaf.pem)
    return path


def _openssl_accepts(work: Path, ca: Path, leaf: Path) -> bool:
    proc = openssl(
        "verify", "-CAfile", ca / "root.pem", "-untrusted", ca / "intermediate.pem", leaf,
        cwd=work, ok=False,
    )  # fmt: skip
    return proc.returncode == 0


def _constrained_ca(work: Path, *permits: str) -> Path:
    args = [a for d in permits for a in ("--permit", d)]
    vedette(
        "ca", "init", "ca", "--name", "Constrained Root", "--intermediate",
        "--key-type", "ec:p256", *args, cwd=work,
    )  # fmt: skip
    return work / "ca"


def _ip(text: str) -> x509.IPAddress:
    import ipaddress

    return x509.IPAddress(ipaddress.ip_address(text))


OUTSIDE = {
    "ip4": ("www.example.test", [x509.DNSName("www.example.test"), _ip("127.0.0.1")], "server"),
    "ip6": ("www.example.test", [x509.DNSName("www.example.test"), _ip("::1")], "server"),
    "email": ("www.example.test", [x509.DNSName("www.example.test"),
                                   x509.RFC822Name("a@evil.com")], "server"),
    "uri": ("www.example.test", [x509.DNSName("www.example.test"),
                                 x509.UniformResourceIdentifier("https://evil.com/")], "server"),
    "smime": ("Alice", [x509.RFC822Name("alice@evil.com")], "smime"),
    "cn-no-dns-san": ("mail.evil.com", [x509.RFC822Name("alice@example.test")], "smime"),
}  # fmt: skip
INSIDE = {
    "dns": ("www.example.test", [x509.DNSName("www.example.test")], "server"),
    "apex": ("example.test", [x509.DNSName("example.test")], "server"),
    "email-apex": ("Alice", [x509.RFC822Name("alice@example.test")], "smime"),
    "email-sub": ("Bob", [x509.RFC822Name("bob@eu.example.test")], "smime"),
    "uri": ("www.example.test", [x509.DNSName("www.example.test"),
                                 x509.UniformResourceIdentifier("https://www.example.test/x")],
            "server"),
}  # fmt: skip


def test_permit_constrains_every_name_type_in_vedette_and_in_openssl(work: Path):
    ca = _constrained_ca(work, "example.test")
    root = x509.load_pem_x509_certificate((ca / "root.pem").read_bytes())
    nc = root.extensions.get_extension_for_class(x509.NameConstraints)
    assert nc.critical
    for label, (cn, sans, profile) in OUTSIDE.items():
        csr = _csr(work, label, cn, sans)
        proc = vedette(
            "ca", "sign", csr, "--ca-dir", ca, "--profile", profile, "--out", f"{label}.out",
            cwd=work, ok=False,
        )  # fmt: skip
        _bad(proc, "outside the CA's name constraints")
        assert not (work / f"{label}.out").exists()
        minted = _mint(work, ca, f"minted-{label}", cn, sans)
        assert not _openssl_accepts(work, ca, minted), label
    for label, (cn, sans, profile) in INSIDE.items():
        csr = _csr(work, f"ok-{label}", cn, sans)
        vedette(
            "ca", "sign", csr, "--ca-dir", ca, "--profile", profile, "--leaf-only",
            "--out", f"ok-{label}.pem", cwd=work,
        )  # fmt: skip
        assert _openssl_accepts(work, ca, work / f"ok-{label}.pem"), label


def test_cn_must_be_a_dns_san_and_inside_the_constraints(work: Path):
    ca = _constrained_ca(work, "example.test")
    # A host-name CN outside the constraints beside an inside DNS SAN: OpenSSL looks at the CN
    # only when there is no DNS SAN, so vedette is the one that must refuse it.
    csr = _csr(work, "cn", "mail.evil.com", [x509.DNSName("www.example.test")])
    _bad(
        vedette("ca", "sign", csr, "--ca-dir", ca, "--out", "cn.pem", cwd=work, ok=False),
        "mail.evil.com",
    )
    # Inside the constraints but not among the DNS names: refused too.
    csr = _csr(work, "cn2", "other.example.test", [x509.DNSName("www.example.test")])
    _bad(
        vedette("ca", "sign", csr, "--ca-dir", ca, "--out", "cn2.pem", cwd=work, ok=False),
        "not among the certificate's DNS names",
    )


def test_permitted_ip_network(work: Path):
    for permits, words in (
        (["192.0.2.0/24"], "give the domains"),
        (["example.test", "192.0.2.1/24"], "not a network"),
    ):
        args = [a for d in permits for a in ("--permit", d)]
        proc = vedette("ca", "init", "bad", "--name", "R", *args, cwd=work, ok=False)
        _bad(proc, words)
        assert not (work / "bad" / "ca.json").exists()
    ca = _constrained_ca(work, "example.test", "192.0.2.0/24")
    ok = _csr(work, "ok", "www.example.test", [x509.DNSName("www.example.test"), _ip("192.0.2.7")])
    vedette("ca", "sign", ok, "--ca-dir", ca, "--leaf-only", "--out", "ok.pem", cwd=work)
    assert _openssl_accepts(work, ca, work / "ok.pem")
    for label, addr in (("v4", "198.51.100.1"), ("v6", "2001:db8::1")):
        sans = [x509.DNSName("www.example.test"), _ip(addr)]
        csr = _csr(work, label, "www.example.test", sans)
        _bad(
            vedette("ca", "sign", csr, "--ca-dir", ca, "--out", "x.pem", cwd=work, ok=False),
            f"IP:{addr}",
        )
        assert not _openssl_accepts(work, ca, _mint(work, ca, label, "www.example.test", sans))


# --- escaping: a request's names never reach the terminal raw ---------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J\x00"


@pytest.mark.parametrize(
    ("cn", "sans"),
    [
        ("www.example.test", [x509.UniformResourceIdentifier(f"https://evil{HOSTILE}.com/")]),
        ("www.example.test", [x509.DNSName(f"evil{HOSTILE}.example.test")]),
        (f"mail{HOSTILE}.evil.com", [x509.DNSName("www.example.test")]),
        ("www.example.test", [x509.RFC822Name(f"a{HOSTILE}@evil.com")]),
    ],
    ids=["uri", "dns", "cn", "email"],
)
def test_sign_errors_escape_control_bytes_from_the_request(work: Path, cn, sans):
    ca = _constrained_ca(work, "example.test")
    csr = _csr(work, "hostile", cn, [x509.DNSName("www.example.test"), *sans])
    proc = vedette("ca", "sign", csr, "--ca-dir", ca, "--out", "h.pem", cwd=work, ok=False)
    _bad(proc)
    for byte in ("\x1b", "\x07", "\x00"):
        assert byte not in proc.stderr
    assert "\\x1b" in proc.stderr
    assert not (work / "h.pem").exists()


# --- the CA directory refuses hand edits --------------------------------------------------------


def _issue_two_revoke_one(work: Path) -> tuple[Path, str, str]:
    vedette("ca", "init", "ca", "--name", "Index Root", "--key-type", "ec:p256", cwd=work)
    ca = work / "ca"
    serials = []
    for host in ("a.example.test", "b.example.test"):
        csr = _csr(work, host, host, [x509.DNSName(host)])
        vedette("ca", "sign", csr, "--ca-dir", ca, "--out", f"{host}.pem", cwd=work)
        cert = x509.load_pem_x509_certificate((work / f"{host}.pem").read_bytes())
        serials.append(format(cert.serial_number, "x"))
    vedette("ca", "revoke", serials[0], "--ca-dir", ca, "--reason", "keyCompromise", cwd=work)
    return ca, serials[0], serials[1]


def _edit_index(ca: Path, change) -> None:
    index = ca / "index.json"
    doc = json.loads(index.read_text())
    change(doc)
    index.write_text(json.dumps(doc, indent=2) + "\n")


def _crl_serials(work: Path, ca: Path) -> str:
    return openssl("crl", "-in", ca / "crl.pem", "-noout", "-text", cwd=work).stdout.upper()


def test_revocation_removed_by_hand_is_refused_not_undone(work: Path):
    ca, revoked, _ = _issue_two_revoke_one(work)
    assert revoked.upper() in _crl_serials(work, ca).replace(":", "")
    key = ca / "index-mac.key"
    assert key.stat().st_mode & 0o777 == 0o600

    def unrevoke(doc):
        for e in doc["certificates"]:
            if e["serial"] == revoked:
                e["revoked_at"] = e["reason"] = None

    saved = (ca / "index.json").read_text()
    _edit_index(ca, unrevoke)
    for action in (["crl"], ["list"], ["list", "--json"]):
        proc = vedette("ca", *action, "--ca-dir", ca, cwd=work, ok=False)
        _bad(proc, "index.json", "integrity")
        assert "valid" not in proc.stdout
    # The CRL was not republished without the serial.
    assert revoked.upper() in _crl_serials(work, ca).replace(":", "")
    (ca / "index.json").write_text(saved)
    assert "revoked (keyCompromise)" in vedette("ca", "list", "--ca-dir", ca, cwd=work).stdout


def test_rolled_back_index_is_caught_by_the_last_crl(work: Path):
    vedette("ca", "init", "ca", "--name", "Rollback Root", "--key-type", "ec:p256", cwd=work)
    ca = work / "ca"
    csr = _csr(work, "r", "r.example.test", [x509.DNSName("r.example.test")])
    vedette("ca", "sign", csr, "--ca-dir", ca, "--out", "r.pem", cwd=work)
    vedette("ca", "crl", "--ca-dir", ca, cwd=work)
    sealed_before = (ca / "index.json").read_text()  # a genuine, sealed index
    vedette("ca", "revoke", "r.pem", "--ca-dir", ca, cwd=work)
    (ca / "index.json").write_text(sealed_before)
    for action in ("list", "crl"):
        _bad(vedette("ca", action, "--ca-dir", ca, cwd=work, ok=False), "older than")


def test_forged_subject_or_names_in_the_index_are_refused(work: Path):
    ca, _, good = _issue_two_revoke_one(work)

    def forge_subject(doc):
        doc["certificates"][1]["subject"] = "CN=forged"

    def forge_names(doc):
        doc["certificates"][1]["names"] = ["DNS:forged.example.test"]

    saved = (ca / "index.json").read_text()
    for forge in (forge_subject, forge_names):
        (ca / "index.json").write_text(saved)
        _edit_index(ca, forge)
        proc = vedette("ca", "list", "--ca-dir", ca, cwd=work, ok=False)
        _bad(proc, "index.json")
        assert "forged" not in proc.stdout
    # Even with the seal removed and re-sealing attempted, the entry is checked against the
    # certificate it describes.
    (ca / "index.json").write_text(saved)
    _edit_index(ca, lambda doc: (forge_names(doc), doc.pop("mac")))
    _bad(vedette("ca", "seal", "--ca-dir", ca, cwd=work, ok=False), f"serial {good}")


def test_index_from_an_older_vedette_is_sealed_once_after_checks(work: Path):
    ca, revoked, good = _issue_two_revoke_one(work)
    # What an older vedette left: no seal, no key.
    _edit_index(ca, lambda doc: doc.pop("mac"))
    (ca / "index-mac.key").unlink()
    proc = vedette("ca", "list", "--ca-dir", ca, cwd=work, ok=False)
    _bad(proc, "not sealed", "vedette ca seal --ca-dir")
    csr = _csr(work, "c", "c.example.test", [x509.DNSName("c.example.test")])
    _bad(
        vedette("ca", "sign", csr, "--ca-dir", ca, "--out", "c.pem", cwd=work, ok=False),
        "not sealed",
    )
    # A revocation removed by hand before the upgrade: the last CRL still lists it.
    saved = (ca / "index.json").read_text()

    def unrevoke(doc):
        for e in doc["certificates"]:
            if e["serial"] == revoked:
                e["revoked_at"] = e["reason"] = None

    _edit_index(ca, unrevoke)
    _bad(vedette("ca", "seal", "--ca-dir", ca, cwd=work, ok=False), revoked, "crl.pem")
    (ca / "index.json").write_text(saved)
    out = vedette("ca", "seal", "--ca-dir", ca, cwd=work).stdout
    assert "sealed" in out and revoked in out and good in out
    assert (ca / "index-mac.key").stat().st_mode & 0o777 == 0o600
    listed = vedette("ca", "list", "--ca-dir", ca, cwd=work).stdout
    assert "revoked (keyCompromise)" in listed
    _bad(vedette("ca", "seal", "--ca-dir", ca, cwd=work, ok=False), "already sealed")


# --- cert lint chooses the profile from the chain; ca sign's defaults raise no finding -------


@pytest.mark.parametrize("intermediate", [False, True], ids=["root-only", "intermediate"])
def test_ca_sign_defaults_lint_clean_as_internal(work: Path, intermediate: bool):
    extra = ["--intermediate"] if intermediate else []
    vedette("ca", "init", "ca", "--name", "Lint Root", *extra, cwd=work)
    ca = work / "ca"
    vedette(
        "cert", "csr", "--cn", "mail.corp.test", "--san", "autodiscover.corp.test",
        "--new-key", "m.key", "--out", "m.csr", cwd=work,
    )  # fmt: skip
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "fullchain.pem", cwd=work)
    proc = vedette("cert", "lint", "fullchain.pem", cwd=work, ok=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "profile internal" in proc.stdout
    assert "ERROR" not in proc.stdout
    proc = vedette("cert", "lint", "fullchain.pem", "--ca", ca / "root.pem", "--json", cwd=work)
    doc = json.loads(proc.stdout)
    assert doc["profile"] == "internal" and "private root" in doc["profile_reason"]
    assert not [r for r in doc["results"] if r["level"] == "error"]
    # The CA certificates themselves lint with the CA profile.
    for name in ["root.pem", *(["intermediate.pem"] if intermediate else [])]:
        proc = vedette("cert", "lint", ca / name, cwd=work)
        assert "profile ca" in proc.stdout and "ERROR" not in proc.stdout, proc.stdout


def test_ca_sign_default_lifetime_raises_no_scan_finding(work: Path):
    from datetime import UTC, datetime

    from vedette.checks import CheckContext, analyse
    from vedette.model import Service

    vedette("ca", "init", "ca", "--name", "Scan Root", "--intermediate", cwd=work)
    ca = work / "ca"
    vedette(
        "cert", "csr", "--cn", "mail.corp.test", "--new-key", "m.key", "--out", "m.csr", cwd=work
    )
    vedette("ca", "sign", "m.csr", "--ca-dir", ca, "--out", "fullchain.pem", cwd=work)
    # A scan of a server sending this chain, with --ca root.pem, says nothing about it.
    chain = x509.load_pem_x509_certificates((work / "fullchain.pem").read_bytes())
    der = tuple(c.public_bytes(serialization.Encoding.DER) for c in chain)
    root = x509.load_pem_x509_certificate((ca / "root.pem").read_bytes())
    root_der = root.public_bytes(serialization.Encoding.DER)
    now = datetime.now(UTC)
    obs = observed_tls(
        der,
        endpoint=endpoint_for(Service.IMAPS, host="mail.corp.test", ip="127.0.0.1"),
        at=now,
    )
    ctx = CheckContext(now=now, extra_roots_der=(root_der,), trust_roots_der=(root_der,))
    cert_findings = [f.id for f in analyse([obs], ctx) if f.id.startswith("cert.")]
    assert cert_findings == [], cert_findings


def test_lint_of_a_ca_certificate_flags_ca_rules(work: Path):
    from datetime import UTC, datetime

    sloppy = certificate(
        "Sloppy CA",
        not_before=datetime.now(UTC),
        days=3650,
        ca=True,
        constraints_critical=False,
        serial=12345678901234567890,
    )
    cert = sloppy.cert
    (work / "sloppy.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    proc = vedette("cert", "lint", "sloppy.pem", "--json", cwd=work, ok=False)
    doc = json.loads(proc.stdout)
    assert proc.returncode == 1 and doc["profile"] == "ca"
    rules = {r["rule"] for r in doc["results"] if r["level"] == "error"}
    assert {"ca-basic-constraints-critical", "ca-key-usage", "ca-ski-missing"} <= rules
    assert "leaf-is-ca" not in rules and "san-missing" not in rules
