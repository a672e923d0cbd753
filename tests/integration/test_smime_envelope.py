"""S/MIME encryption against OpenSSL (``openssl cms``/``openssl smime``), both ways.

* What ``vedette smime encrypt`` writes (AES-256-CBC or AES-256-GCM AuthEnvelopedData; RSA
  PKCS#1 v1.5 or RSA-OAEP) is decrypted by ``openssl cms -decrypt``, for every recipient.
* What ``openssl cms -encrypt`` writes (AES-128/256-CBC, AES-256-GCM, OAEP with SHA-1 and
  SHA-256, several recipients) and ``openssl smime -encrypt`` (3DES by default) is decrypted
  by ``vedette smime decrypt``; the wrong key gets the one error, and OpenSSL refuses too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.integration.test_smime_interop import run, vedette
from tests.tools import require_program
from vedette.pki.ca import CertificateAuthority
from vedette.smime.envelope import CANNOT_DECRYPT

MESSAGE = b"From: alice@example.org\nTo: bob@example.org\nSubject: s\n\nThe secret is 42.\n"
ENTITY_END = b"\r\n\r\nThe secret is 42.\r\n"


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Path:
    require_program("openssl")
    d = tmp_path_factory.mktemp("smime-envelope")
    ca = CertificateAuthority.create_root("Envelope Root", key_spec="rsa:2048")
    for name in ("bob", "carol", "eve"):
        issued = ca.issue_smime(f"{name}@example.org", key_spec="rsa:2048")
        (d / f"{name}.pem").write_bytes(issued.cert_pem())
        (d / f"{name}.key").write_bytes(issued.key_pem())
    (d / "in.eml").write_bytes(MESSAGE)
    (d / "body.txt").write_bytes(b"Content-Type: text/plain\r\n\r\nThe secret is 42.\r\n")
    return d


@pytest.mark.parametrize(
    "options",
    [(), ("--oaep",), ("--cipher", "aes256-gcm"), ("--cipher", "aes256-gcm", "--oaep")],
)
def test_openssl_decrypts_what_vedette_encrypts(
    lab: Path, capsys: pytest.CaptureFixture[str], options: tuple[str, ...]
) -> None:
    enc = lab / "v-enc.eml"
    code, _, err = vedette(
        capsys, "smime", "encrypt", lab / "in.eml", "--to", lab / "bob.pem", "--to",
        lab / "carol.pem", "--out", enc, "--force", *options,
    )  # fmt: skip
    assert code == 0, err
    kind = b"authEnveloped-data" if "aes256-gcm" in options else b"enveloped-data"
    assert b"smime-type=" + kind in enc.read_bytes()
    printed = run("openssl", "cms", "-cmsout", "-print", "-in", enc).stdout
    assert (b"rsaesOaep" in printed) == ("--oaep" in options)
    assert (b"aes-256-gcm" in printed) == ("aes256-gcm" in options)
    for name in ("bob", "carol"):
        out = run(
            "openssl", "cms", "-decrypt", "-in", enc, "-recip", lab / f"{name}.pem",
            "-inkey", lab / f"{name}.key",
        ).stdout  # fmt: skip
        assert out.endswith(ENTITY_END)
    run("openssl", "cms", "-decrypt", "-in", enc, "-recip", lab / "eve.pem", "-inkey",
        lab / "eve.key", ok=False)  # fmt: skip


@pytest.mark.parametrize(
    "options",
    [
        ("-aes256",),
        ("-aes128",),
        ("-aes-256-gcm",),
        ("-aes256", "-keyopt", "rsa_padding_mode:oaep"),
        ("-aes256", "-keyopt", "rsa_padding_mode:oaep", "-keyopt", "rsa_oaep_md:sha256"),
    ],
)
def test_vedette_decrypts_what_openssl_cms_encrypts(
    lab: Path, capsys: pytest.CaptureFixture[str], options: tuple[str, ...]
) -> None:
    enc = lab / "o-enc.eml"
    run(
        "openssl", "cms", "-encrypt", "-in", lab / "body.txt", *options[:1], "-recip",
        lab / "bob.pem", *options[1:], "-recip", lab / "carol.pem", *options[1:],
        "-from", "alice@example.org", "-subject", "s", "-out", enc,
    )  # fmt: skip
    out = lab / "o-dec.eml"
    for name in ("bob", "carol"):
        code, text, err = vedette(
            capsys, "smime", "decrypt", enc, "--key", lab / f"{name}.key", "--cert",
            lab / f"{name}.pem", "--out", out, "--force",
        )  # fmt: skip
        assert code == 0, err
        assert out.read_bytes().endswith(ENTITY_END)
        assert "2 recipient(s)" in text
    code, _, err = vedette(
        capsys, "smime", "decrypt", enc, "--key", lab / "eve.key", "--cert", lab / "eve.pem"
    )
    assert code == 2 and "not encrypted to this certificate" in err


def test_openssl_smime_3des_and_the_wrong_key(
    lab: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    enc = lab / "o-3des.eml"
    run("openssl", "smime", "-encrypt", "-des3", "-in", lab / "body.txt", "-out", enc,
        lab / "bob.pem")  # fmt: skip
    code, text, err = vedette(capsys, "smime", "decrypt", enc, "--key", lab / "bob.key")
    assert code == 0 and "des-ede3-cbc" in text and "legacy cipher" in err
    # one recipient and the wrong key: tried, and the one answer (OpenSSL refuses as well)
    code, _, err = vedette(capsys, "smime", "decrypt", enc, "--key", lab / "eve.key")
    assert code == 2 and err == f"vedette: error: {CANNOT_DECRYPT}\n"
    run("openssl", "smime", "-decrypt", "-in", enc, "-inkey", lab / "eve.key", ok=False)


@pytest.fixture(scope="module")
def dora(lab: Path) -> tuple[Path, Path]:
    """An EC (P-256) recipient."""
    ca = CertificateAuthority.create_root("EC Envelope Root")
    issued = ca.issue_smime("dora@example.org", key_spec="ec:p256")
    (lab / "dora.pem").write_bytes(issued.cert_pem())
    (lab / "dora.key").write_bytes(issued.key_pem())
    return lab / "dora.pem", lab / "dora.key"


@pytest.mark.parametrize("cipher", ["aes256-cbc", "aes256-gcm"])
def test_ec_recipients_both_ways_with_openssl(
    lab: Path, dora: tuple[Path, Path], capsys: pytest.CaptureFixture[str], cipher: str
) -> None:
    cert, key = dora
    enc = lab / "v-ec.eml"
    code, text, err = vedette(
        capsys, "smime", "encrypt", lab / "in.eml", "--to", cert, "--to", lab / "bob.pem",
        "--cipher", cipher, "--out", enc, "--force",
    )  # fmt: skip
    assert code == 0, err
    assert "ECDH (RFC 5753)" in text
    printed = run("openssl", "cms", "-cmsout", "-print", "-in", enc).stdout
    assert b"d.kari" in printed and b"id-aes256-wrap" in printed
    out = run("openssl", "cms", "-decrypt", "-in", enc, "-recip", cert, "-inkey", key).stdout
    assert out.endswith(ENTITY_END)
    # and back: OpenSSL's own ECDH (its default X9.63 KDF is SHA-1) to vedette
    oenc = lab / "o-ec.eml"
    openssl_cipher = "-aes-256-gcm" if cipher == "aes256-gcm" else "-aes256"
    run("openssl", "cms", "-encrypt", openssl_cipher, "-in", lab / "body.txt", "-out", oenc,
        cert)  # fmt: skip
    code, text, err = vedette(capsys, "smime", "decrypt", oenc, "--key", key)
    assert code == 0, err
    code, _, err = vedette(capsys, "smime", "decrypt", oenc, "--key", key, "--out",
                           lab / "o-ec-dec.eml", "--force")  # fmt: skip
    assert (lab / "o-ec-dec.eml").read_bytes().endswith(ENTITY_END)
