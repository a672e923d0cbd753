"""S/MIME sign and verify, pure parts: what an administrator sees for each kind of message.

Certificates come from vedette's own CA code (``CertificateAuthority.issue_smime``); the
verdicts are checked against independent implementations (openssl, gpgsm) in
tests/integration/test_smime_interop.py.
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedette.cli import main
from vedette.pki.ca import CertificateAuthority, Issued
from vedette.smime import SmimeError, cms, mime
from vedette.smime.asn1 import MAX_NESTING, definite
from vedette.smime.verify import Verdict, verify_signed
from vedette.x509.legacy_algorithms import silence_input_warnings

NOW = datetime.now(UTC)


@pytest.fixture(scope="module", autouse=True)
def _clock_starts_when_the_tests_run() -> None:
    """NOW is when this module's tests start, not when pytest imported it: in the whole suite
    collection comes many minutes before these run, and the certificates the fixtures issue
    then would not yet be valid at an import-time NOW."""
    global NOW
    NOW = datetime.now(UTC)


MESSAGE = (
    b"From: Alice Martin <alice@example.org>\n"
    b"To: bob@example.org\n"
    b"Subject: quarterly figures\n"
    b"\n"
    b"Hello Bob,\n"
    b"the figures are attached.\n"
)


@pytest.fixture(scope="module")
def pki() -> dict[str, CertificateAuthority]:
    root = CertificateAuthority.create_root("Unit Root", key_spec="rsa:2048")
    inter = root.issue_intermediate("Unit S/MIME CA", key_spec="rsa:2048")
    other = CertificateAuthority.create_root("Other Root")
    return {"root": root, "inter": inter, "other": other}


@pytest.fixture(scope="module")
def alice(pki: dict[str, CertificateAuthority]) -> Issued:
    return pki["inter"].issue_smime("alice@example.org")


def der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def sign_message(
    issued: Issued,
    chain: tuple[x509.Certificate, ...],
    *,
    message: bytes = MESSAGE,
    opaque: bool = False,
    pss: bool = False,
    digest: str = "sha256",
) -> bytes:
    outer, entity, _ = mime.prepare_entity(message)
    blob = cms.sign(
        entity,
        cert=issued.cert,
        key=issued.key,
        chain=chain,
        digest=digest,
        pss=pss,
        signing_time=NOW,
        detached=not opaque,
    )
    if opaque:
        return mime.build_opaque(outer, blob)
    signer_digest = "sha512" if isinstance(issued.key, ed25519.Ed25519PrivateKey) else digest
    return mime.build_signed(outer, entity, cms.micalg(signer_digest), blob)


def check(
    message: bytes, anchors: tuple[x509.Certificate, ...], *, at: datetime | None = None
) -> Verdict:
    parsed = mime.parse_signed(message)
    return verify_signed(
        cms.parse_signed_data(parsed.cms),
        content=parsed.content,
        anchors=tuple(der(c) for c in anchors),
        from_addresses=parsed.from_addresses,
        at=at or NOW + timedelta(seconds=1),
        form=parsed.form,
        micalg_param=parsed.micalg,
    )


def ids(verdict: Verdict) -> set[str]:
    return {p.id for s in verdict.signers for p in s.problems} | {p.id for p in verdict.problems}


@pytest.mark.parametrize(
    ("key_spec", "opaque", "pss"),
    [
        ("rsa:2048", False, False),
        ("rsa:2048", True, False),
        ("rsa:2048", False, True),
        ("ec:p256", False, False),
        ("ec:p384", True, False),
        ("ed25519", False, False),
    ],
)
def test_a_signed_message_verifies_with_its_issuing_ca(
    pki: dict[str, CertificateAuthority], key_spec: str, opaque: bool, pss: bool
) -> None:
    signer = pki["inter"].issue_smime("alice@example.org", key_spec=key_spec)
    message = sign_message(signer, (pki["inter"].cert,), opaque=opaque, pss=pss)
    verdict = check(message, (pki["root"].cert,))
    assert verdict.valid, [p.title for s in verdict.signers for p in s.problems]
    (s,) = verdict.signers
    assert s.signature_valid and s.digest_matches and s.trusted
    assert s.addresses == ("alice@example.org",)
    assert s.chain == ("CN=alice@example.org", "CN=Unit S/MIME CA", "CN=Unit Root")
    assert s.signing_time == NOW.replace(microsecond=0)
    assert s.capabilities[:1] == ("aes256-cbc",)
    assert verdict.form == ("opaque" if opaque else "detached")


def test_the_signer_is_named_by_the_issuer_as_encoded_in_its_certificate(
    pki: dict[str, CertificateAuthority], alice: Issued
) -> None:
    # the issuer field of the TBSCertificate, as other implementations copy it
    assert cms.cert_issuer_der(alice.cert) == alice.cert.issuer.public_bytes()
    assert cms.cert_issuer_der(pki["inter"].cert) == pki["root"].cert.subject.public_bytes()


def test_the_outer_headers_stay_outside_and_micalg_names_the_digest(alice: Issued) -> None:
    message = sign_message(alice, (), digest="sha384")
    head, _, body = message.partition(b"\r\n\r\n")
    assert b"From: Alice Martin <alice@example.org>\r\n" in head
    assert b"micalg=sha-384" in head and b"multipart/signed" in head
    parsed = mime.parse_signed(message)
    assert parsed.content is not None
    assert parsed.content.startswith(b"Content-Type: text/plain; charset=us-ascii\r\n\r\nHello")
    assert b"Subject:" not in parsed.content


def test_line_endings_do_not_matter_lf_storage_still_verifies(
    pki: dict[str, CertificateAuthority], alice: Issued
) -> None:
    # A maildir stores LF; the signature is over the CRLF form (RFC 8551 3.1.1).
    message = sign_message(alice, (pki["inter"].cert,)).replace(b"\r\n", b"\n")
    assert check(message, (pki["root"].cert,)).valid


def test_an_8bit_body_is_quoted_printable_before_signing(
    pki: dict[str, CertificateAuthority], alice: Issued
) -> None:
    text = "From: alice@example.org\n\nBonjour, ça va ? Déjà signé.\n".encode()
    outer, entity, notes = mime.prepare_entity(text)
    assert b"Content-Transfer-Encoding: quoted-printable" in entity
    assert all(b < 128 for b in entity)
    assert any("quoted-printable" in n for n in notes)
    assert check(sign_message(alice, (pki["inter"].cert,), message=text), (pki["root"].cert,)).valid


def test_a_changed_body_is_tampered(pki: dict[str, CertificateAuthority], alice: Issued) -> None:
    for opaque in (False, True):
        message = sign_message(alice, (pki["inter"].cert,), opaque=opaque)
        if opaque:
            parsed = mime.parse_signed(message)
            blob = parsed.cms.replace(b"figures are", b"figures ARE")
            message = mime.build_opaque([], blob)
        else:
            message = message.replace(b"figures are", b"figures ARE")
        verdict = check(message, (pki["root"].cert,))
        assert not verdict.valid
        assert "smime.tampered" in ids(verdict)
        assert verdict.signers[0].digest_matches is False


def twin(issued: Issued, ca: CertificateAuthority) -> x509.Certificate:
    """A certificate with the same issuer, serial and names as ``issued`` but another key (a
    swapped certificate; the interop tests use it too)."""
    from vedette.pki.ca import new_key

    cert = issued.cert
    key = new_key("ec:p256")
    builder = (
        x509.CertificateBuilder()
        .subject_name(cert.subject)
        .issuer_name(cert.issuer)
        .public_key(key.public_key())
        .serial_number(cert.serial_number)
        .not_valid_before(cert.not_valid_before_utc)
        .not_valid_after(cert.not_valid_after_utc)
    )
    for ext in cert.extensions:
        if isinstance(ext.value, x509.SubjectKeyIdentifier):
            builder = builder.add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), ext.critical
            )
        else:
            builder = builder.add_extension(ext.value, ext.critical)
    assert isinstance(ca.issued.key, type(ca.issued.key))
    return builder.sign(ca.issued.key, hashes.SHA256())  # type: ignore[arg-type]


def test_a_swapped_certificate_is_named_as_such(
    pki: dict[str, CertificateAuthority], alice: Issued
) -> None:
    message = sign_message(alice, (pki["inter"].cert,))
    swapped_cert = twin(alice, pki["inter"])
    assert len(der(swapped_cert)) == len(der(alice.cert))  # RSA CA, P-256 keys: the same length
    parsed = mime.parse_signed(message)
    swapped_cms = parsed.cms.replace(der(alice.cert), der(swapped_cert))
    assert swapped_cms != parsed.cms
    assert parsed.content is not None
    outer, _, _ = mime.prepare_entity(MESSAGE)
    swapped = mime.build_signed(outer, parsed.content, "sha-256", swapped_cms)
    verdict = check(swapped, (pki["root"].cert,))
    assert not verdict.valid
    assert "smime.certificate-mismatch" in ids(verdict)
    assert "smime.tampered" not in ids(verdict)
    (s,) = verdict.signers
    assert s.digest_matches is True and s.signature_valid is False


def test_no_ca_given_and_another_ca_are_untrusted(
    pki: dict[str, CertificateAuthority], alice: Issued
) -> None:
    message = sign_message(alice, (pki["inter"].cert,))
    for anchors in ((), (pki["other"].cert,)):
        verdict = check(message, anchors)
        assert not verdict.valid
        assert ids(verdict) == {"smime.untrusted-issuer"}
    # the issuing CA alone is enough: it is what the administrator trusts for S/MIME
    assert check(message, (pki["inter"].cert,)).valid


def test_expired_now_and_expired_at_signing_are_told_apart(
    pki: dict[str, CertificateAuthority],
) -> None:
    old = pki["inter"].issue_smime(
        "alice@example.org", not_before=NOW - timedelta(days=400), days=30
    )
    verdict = check(sign_message(old, (pki["inter"].cert,)), (pki["root"].cert,))
    assert {"smime.expired", "smime.expired-at-signing"} <= ids(verdict)
    assert not verdict.valid
    # a valid certificate, judged two years later: expired now, fine at signing time
    later = NOW + timedelta(days=800)
    verdict = check(
        sign_message(pki["inter"].issue_smime("alice@example.org"), (pki["inter"].cert,)),
        (pki["root"].cert,),
        at=later,
    )
    assert "smime.expired" in ids(verdict)
    assert "smime.expired-at-signing" not in ids(verdict)


def test_wrong_eku_and_key_usage(pki: dict[str, CertificateAuthority]) -> None:
    server_eku = pki["inter"].issue_smime(
        "alice@example.org", eku=(ExtendedKeyUsageOID.SERVER_AUTH,)
    )
    verdict = check(sign_message(server_eku, (pki["inter"].cert,)), (pki["root"].cert,))
    assert ids(verdict) == {"smime.wrong-eku"}
    no_eku = pki["inter"].issue_smime("alice@example.org", eku=None)
    assert check(sign_message(no_eku, (pki["inter"].cert,)), (pki["root"].cert,)).valid
    enc_only = pki["inter"].issue_smime(
        "alice@example.org", key_spec="rsa:2048", digital_signature=False
    )
    verdict = check(sign_message(enc_only, (pki["inter"].cert,)), (pki["root"].cert,))
    assert ids(verdict) == {"smime.key-usage"}


def test_the_sender_must_be_the_certificates_address(
    pki: dict[str, CertificateAuthority], alice: Issued
) -> None:
    forged = MESSAGE.replace(b"alice@example.org", b"ceo@example.org")
    verdict = check(sign_message(alice, (pki["inter"].cert,), message=forged), (pki["root"].cert,))
    assert ids(verdict) == {"smime.address-mismatch"}
    assert "ceo@example.org" in verdict.signers[0].problems[0].title
    legacy = pki["inter"].issue_smime("alice@example.org", address_in="subject")
    verdict = check(sign_message(legacy, (pki["inter"].cert,)), (pki["root"].cert,))
    assert verdict.valid
    assert ids(verdict) == {"smime.address-in-subject-only"}


# --- hostile input -------------------------------------------------------------------------------


def test_deep_nesting_and_stray_bytes_are_one_line_errors() -> None:
    deep = b"\x30\x80" * (MAX_NESTING + 5) + b"\x00\x00" * (MAX_NESTING + 5)
    with pytest.raises(SmimeError, match="nested more than"):
        definite(deep, "the CMS structure")
    with pytest.raises(SmimeError, match="stray"):
        definite(b"\x05\x00\x05\x00", "the CMS structure")
    with pytest.raises(SmimeError, match="truncated"):
        cms.parse_signed_data(b"\x30\x82\xff\xff\x06")


def test_ber_is_put_in_definite_form_and_der_is_left_as_it_is() -> None:
    # SEQUENCE (indefinite) { constructed OCTET STRING (indefinite) { "ab", "cd" }, NULL }
    ber = b"\x30\x80" + b"\x24\x80\x04\x02ab\x04\x02cd\x00\x00" + b"\x05\x00" + b"\x00\x00"
    assert definite(ber, "x") == b"\x30\x08\x04\x04abcd\x05\x00"
    der = b"\x30\x08\x04\x04abcd\x05\x00"
    assert definite(der, "x") is der  # nothing copied
    with pytest.raises(SmimeError, match="holds another type"):
        definite(b"\x24\x80\x02\x01\x01\x00\x00", "x")


def test_an_encrypted_message_is_not_taken_for_a_signed_one() -> None:
    enveloped = (
        b"From: a@example.org\r\nContent-Type: application/pkcs7-mime; "
        b"smime-type=enveloped-data\r\nContent-Transfer-Encoding: base64\r\n\r\nMIIB\r\n"
    )
    with pytest.raises(SmimeError, match="decrypt it first"):
        mime.parse_signed(enveloped)


def _parse_all(data: bytes) -> None:
    # As under the CLI: cryptography's notices on a certificate's own defects are filtered.
    with warnings.catch_warnings():
        silence_input_warnings()
        _parse_all_inner(data)


def _parse_all_inner(data: bytes) -> None:
    try:
        parsed = mime.parse_signed(data)
        sd = cms.parse_signed_data(parsed.cms)
        verify_signed(
            sd,
            content=parsed.content,
            anchors=(),
            from_addresses=parsed.from_addresses,
            at=NOW,
            form=parsed.form,
        )
    except SmimeError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2048))
def test_garbage_never_crashes_the_reader(data: bytes) -> None:
    _parse_all(data)
    _parse_all(b"\x30" + data)


@pytest.fixture(scope="module")
def opaque_blob(alice: Issued) -> bytes:
    _, entity, _ = mime.prepare_entity(MESSAGE)
    return cms.sign(entity, cert=alice.cert, key=alice.key, signing_time=NOW, detached=False)


@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_a_damaged_signature_is_an_error_or_a_verdict_never_a_crash(
    opaque_blob: bytes, data: st.DataObject
) -> None:
    blob = opaque_blob
    damaged = bytearray(blob)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    _parse_all(bytes(damaged[:cut]))
    _parse_all(bytes(damaged))


@pytest.fixture(scope="module")
def detached_message(alice: Issued) -> bytes:
    return sign_message(alice, ())


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_a_damaged_message_is_an_error_or_a_verdict_never_a_crash(
    detached_message: bytes, data: st.DataObject
) -> None:
    message = bytearray(detached_message)
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(message)))
        cut = data.draw(st.integers(0, 40))
        insert = data.draw(st.sampled_from([b"", b"\r\n", b"--", b"\n\n", b"=", b"\x80", b";"]))
        message[at : at + cut] = insert
    _parse_all(bytes(message))


# --- the command line ----------------------------------------------------------------------------


def test_cli_sign_then_verify_and_exit_statuses(
    tmp_path: Path,
    pki: dict[str, CertificateAuthority],
    alice: Issued,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "alice.pem").write_bytes(alice.cert_pem() + pki["inter"].issued.cert_pem())
    (tmp_path / "alice.key").write_bytes(alice.key_pem(b"secret phrase"))
    (tmp_path / "pass").write_text("secret phrase\n")
    (tmp_path / "root.pem").write_bytes(pki["root"].issued.cert_pem())
    (tmp_path / "in.eml").write_bytes(MESSAGE)
    out = tmp_path / "signed.eml"
    assert (
        main(
            [
                "smime",
                "sign",
                str(tmp_path / "in.eml"),
                "--cert",
                str(tmp_path / "alice.pem"),
                "--key",
                str(tmp_path / "alice.key"),
                "--passin",
                f"file:{tmp_path / 'pass'}",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    assert "signed by CN=alice@example.org, 2 certificate(s)" in capsys.readouterr().out
    verify = ["smime", "verify", str(out), "--ca", str(tmp_path / "root.pem")]
    assert main(verify) == 0
    assert "VALID" in capsys.readouterr().out
    assert main([*verify, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "vedette.smime.verify" and doc["version"] == 1
    assert doc["valid"] is True and doc["signers"][0]["trusted"] is True
    out.write_bytes(out.read_bytes().replace(b"Hello Bob", b"Hello Eve"))
    assert main([*verify, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert [p["id"] for p in doc["signers"][0]["problems"]] == ["smime.tampered"]
    (tmp_path / "junk.eml").write_bytes(b"\x30\x03\x02\x01")
    assert main(["smime", "verify", str(tmp_path / "junk.eml")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("vedette: error: ") and err.count("\n") == 1
    assert main([*verify, "--as-of", "not-a-date"]) == 2


def test_a_certificate_loop_in_the_message_ends_as_untrusted(
    pki: dict[str, CertificateAuthority],
) -> None:
    # two CAs that issued each other, and a signer under one of them: a loop to nowhere
    from vedette.pki.ca import new_key

    names = {n: x509.Name.from_rfc4514_string(f"CN=Loop {n}") for n in "AB"}
    keys = {n: new_key("ec:p256") for n in "AB"}

    def ca_cert(subject: str, issuer: str) -> x509.Certificate:
        return (
            x509.CertificateBuilder()
            .subject_name(names[subject])
            .issuer_name(names[issuer])
            .public_key(keys[subject].public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(keys[issuer], hashes.SHA256())  # type: ignore[arg-type]
        )

    looped = CertificateAuthority(issued=Issued(cert=ca_cert("A", "B"), key=keys["A"]), parent=None)
    signer = looped.issue_smime("alice@example.org")
    message = sign_message(signer, (looped.cert, ca_cert("B", "A")))
    verdict = check(message, (pki["root"].cert,))
    assert ids(verdict) == {"smime.untrusted-issuer"}
    assert verdict.signers[0].signature_valid is True
