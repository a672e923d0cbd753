"""The small CA: what the lab mints must be what it claims (chains verify, SHA-1 is SHA-1...)."""

from __future__ import annotations

import ipaddress
import subprocess
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, SignatureAlgorithmOID

from tests.tools import require_program
from vedette.pki import CertificateAuthority, Issued, new_key, self_signed_server

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def root() -> CertificateAuthority:
    return CertificateAuthority.create_root("Vedette Test Root", organization="Vedette Lab")


@pytest.fixture(scope="module")
def inter(root: CertificateAuthority) -> CertificateAuthority:
    return root.issue_intermediate("Vedette Test Intermediate")


@pytest.mark.parametrize(
    ("spec", "kind", "size"),
    [
        ("rsa:1024", rsa.RSAPrivateKey, 1024),
        ("rsa:2048", rsa.RSAPrivateKey, 2048),
        ("ec:p256", ec.EllipticCurvePrivateKey, 256),
        ("ec:p384", ec.EllipticCurvePrivateKey, 384),
        ("ed25519", ed25519.Ed25519PrivateKey, None),
    ],
)
def test_new_key_specs(spec: str, kind: type, size: int | None) -> None:
    key = new_key(spec)
    assert isinstance(key, kind)
    if size is not None:
        assert key.key_size == size  # type: ignore[union-attr]


@pytest.mark.parametrize("spec", ["rsa:512", "rsa:8192", "rsa", "ec:p192", "dsa:1024", "", "ed448"])
def test_new_key_rejects_unknown_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="key spec"):
        new_key(spec)


def test_chain_verifies_link_by_link(root: CertificateAuthority, inter: CertificateAuthority):
    leaf = inter.issue_server(["mail.example.test"])
    leaf.cert.verify_directly_issued_by(inter.cert)
    inter.cert.verify_directly_issued_by(root.cert)
    root.cert.verify_directly_issued_by(root.cert)
    assert inter.parent is root
    assert inter.root is root


def test_chain_pem_is_intermediates_leaf_side_first(root: CertificateAuthority):
    i1 = root.issue_intermediate("I1", path_length=1)
    i2 = i1.issue_intermediate("I2")
    certs = x509.load_pem_x509_certificates(i2.chain_pem())
    assert [c.subject for c in certs] == [i2.cert.subject, i1.cert.subject]
    assert root.chain_pem() == b""


def test_extensions_of_ca_and_server(root: CertificateAuthority, inter: CertificateAuthority):
    bc = inter.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert bc.value.ca
    assert bc.value.path_length == 0
    ku = inter.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign
    assert ku.crl_sign
    aki = inter.cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = root.cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest

    leaf = inter.issue_server(["mail.example.test"], key_spec="rsa:2048")
    bc = leaf.cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical
    assert not bc.value.ca
    ku = leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.digital_signature
    assert ku.key_encipherment  # RSA key transport
    assert not ku.key_cert_sign
    eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH in eku
    ec_leaf = inter.issue_server(["mail.example.test"])
    assert not ec_leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value.key_encipherment


def test_serials_are_random_and_fit_20_octets(inter: CertificateAuthority):
    serials = {inter.issue_server(["a.example.test"]).cert.serial_number for _ in range(5)}
    assert len(serials) == 5
    assert all(0 < s < 2**159 for s in serials)
    assert max(s.bit_length() for s in serials) > 64


def test_sans_dns_and_ip(inter: CertificateAuthority):
    leaf = inter.issue_server(["mail.example.test", "127.0.0.1", "::1"])
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["mail.example.test"]
    assert san.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]
    cn = leaf.cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    assert cn == "mail.example.test"


@pytest.mark.parametrize("key_spec", ["rsa:2048", "ec:p256"])
def test_sha1_signature_is_really_sha1(root: CertificateAuthority, key_spec: str):
    ca = root.issue_intermediate("SHA-1 issuer", key_spec=key_spec)
    leaf = ca.issue_server(["old.example.test"], hash_alg="sha1")
    assert isinstance(leaf.cert.signature_hash_algorithm, hashes.SHA1)
    assert leaf.cert.signature_algorithm_oid in (
        SignatureAlgorithmOID.RSA_WITH_SHA1,
        SignatureAlgorithmOID.ECDSA_WITH_SHA1,
    )
    # The signature is a real SHA-1 signature over the TBS bytes, by the issuer's key.
    pub = ca.cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        pub.verify(
            leaf.cert.signature,
            leaf.cert.tbs_certificate_bytes,
            padding.PKCS1v15(),
            hashes.SHA1(),
        )
    else:
        assert isinstance(pub, ec.EllipticCurvePublicKey)
        pub.verify(leaf.cert.signature, leaf.cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))
    # The extensions survived the re-signing.
    san = leaf.cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["old.example.test"]


def test_sha1_with_ed25519_is_refused():
    ca = CertificateAuthority.create_root("Ed root", key_spec="ed25519")
    with pytest.raises(ValueError, match="SHA-1"):
        ca.issue_server(["x.example.test"], hash_alg="sha1")
    leaf = ca.issue_server(["x.example.test"])
    leaf.cert.verify_directly_issued_by(ca.cert)


@pytest.mark.parametrize("alg", ["sha384", "sha512"])
def test_other_hashes(root: CertificateAuthority, alg: str):
    leaf = root.issue_server(["x.example.test"], hash_alg=alg)
    assert leaf.cert.signature_hash_algorithm is not None
    assert leaf.cert.signature_hash_algorithm.name == alg


def test_bad_hash_is_refused(root: CertificateAuthority):
    with pytest.raises(ValueError, match="hash"):
        root.issue_server(["x.example.test"], hash_alg="md5")


def test_expired_is_expired(inter: CertificateAuthority):
    start = datetime.now(UTC) - timedelta(days=400)
    leaf = inter.issue_server(["x.example.test"], not_before=start, days=30)
    assert leaf.cert.not_valid_after_utc < datetime.now(UTC)
    assert leaf.cert.not_valid_before_utc == start.replace(microsecond=0)


def test_naive_datetime_is_refused(root: CertificateAuthority):
    with pytest.raises(ValueError, match="timezone"):
        root.issue_server(["x"], not_before=datetime(2020, 1, 1))


def test_default_validity_starts_just_before_now(inter: CertificateAuthority):
    leaf = inter.issue_server(["x.example.test"], days=90)
    now = datetime.now(UTC)
    assert now - timedelta(minutes=10) < leaf.cert.not_valid_before_utc <= now
    assert leaf.cert.not_valid_after_utc - leaf.cert.not_valid_before_utc == timedelta(days=90)


def test_wrong_key_usage_and_no_server_auth(inter: CertificateAuthority):
    leaf = inter.issue_server(["x.example.test"], key_usage="wrong", server_auth_eku=False)
    ku = leaf.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ku.key_cert_sign
    assert not ku.digital_signature
    eku = leaf.cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert ExtendedKeyUsageOID.SERVER_AUTH not in eku


def test_self_signed_server():
    ss = self_signed_server(["gw.example.test"], key_spec="rsa:2048")
    assert ss.cert.issuer == ss.cert.subject
    ss.cert.verify_directly_issued_by(ss.cert)
    assert not ss.cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_key_pem_plain_and_encrypted(inter: CertificateAuthority):
    leaf = inter.issue_server(["x.example.test"])
    plain = leaf.key_pem()
    assert plain.startswith(b"-----BEGIN PRIVATE KEY-----")
    enc = leaf.key_pem(b"s3cret")
    assert enc.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    with pytest.raises((TypeError, ValueError)):
        serialization.load_pem_private_key(enc, password=b"wrong")
    back = serialization.load_pem_private_key(enc, password=b"s3cret")
    assert back.public_key() == leaf.key.public_key()
    assert isinstance(leaf, Issued)


def test_results_are_immutable(inter: CertificateAuthority):
    leaf = inter.issue_server(["x.example.test"])
    with pytest.raises(AttributeError):
        leaf.cert = leaf.cert  # type: ignore[misc]


@pytest.mark.parametrize("hash_alg", ["sha256", "sha1"])
def test_openssl_verifies_chain_against_root(
    tmp_path: Path, root: CertificateAuthority, inter: CertificateAuthority, hash_alg: str
):
    require_program("openssl")
    leaf = inter.issue_server(["mail.example.test", "127.0.0.1"], hash_alg=hash_alg)
    (tmp_path / "root.pem").write_bytes(root.issued.cert_pem())
    (tmp_path / "chain.pem").write_bytes(inter.chain_pem())
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem())
    res = subprocess.run(
        [
            "openssl",
            "verify",
            # auth_level 0 so OpenSSL's security level does not refuse the SHA-1 leaf itself:
            # this test is about the signature being valid, not acceptable.
            "-auth_level",
            "0",
            "-purpose",
            "sslserver",
            "-CAfile",
            str(tmp_path / "root.pem"),
            "-untrusted",
            str(tmp_path / "chain.pem"),
            str(tmp_path / "leaf.pem"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    assert "leaf.pem: OK" in res.stdout


def test_openssl_rejects_expired(tmp_path: Path, root: CertificateAuthority):
    require_program("openssl")
    leaf = root.issue_server(
        ["x.example.test"], not_before=datetime.now(UTC) - timedelta(days=100), days=10
    )
    (tmp_path / "root.pem").write_bytes(root.issued.cert_pem())
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_pem())
    res = subprocess.run(
        ["openssl", "verify", "-CAfile", str(tmp_path / "root.pem"), str(tmp_path / "leaf.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode != 0
    assert "expired" in (res.stdout + res.stderr)
