"""S/MIME against independent implementations: OpenSSL (``openssl smime``/``openssl cms``)
and GnuPG's ``gpgsm``, both ways.

* What ``vedette smime sign`` writes (RSA PKCS#1 v1.5, RSASSA-PSS, ECDSA; detached
  multipart/signed and opaque) verifies with ``openssl smime -verify``, ``openssl cms -verify
  -purpose smimesign`` and ``gpgsm --verify`` against the issuing root; a changed body fails
  in every one of them.
* What ``openssl cms -sign`` and ``openssl smime -sign`` write (detached and opaque, RSA and
  EC, SHA-256 and SHA-1, issuerAndSerialNumber and subjectKeyIdentifier signer identifiers,
  no signed attributes) gets vedette's verdict, and each broken variant its own verdict, on
  which OpenSSL agrees where it has an opinion (it does not compare the From address).

Certificates come from vedette's CA code (``CertificateAuthority.issue_smime``).
"""

from __future__ import annotations

import base64
import email
import json
import re
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID

from tests.tools import require_program
from tests.unit.test_smime import twin
from vedette import cli
from vedette.pki.ca import CertificateAuthority, Issued

MESSAGE = (
    b"From: Alice Martin <alice@example.org>\n"
    b"To: bob@example.org\n"
    b"Subject: interop\n"
    b"\n"
    b"Hello Bob,\n"
    b"signed for the interop tests.\n"
)


class Lab:
    def __init__(self, root: Path) -> None:
        self.dir = root
        self.root = CertificateAuthority.create_root("Interop Root", key_spec="rsa:2048")
        self.inter = self.root.issue_intermediate("Interop S/MIME CA", key_spec="rsa:2048")
        self.write("root.pem", self.root.issued.cert_pem())
        self.write("inter.pem", self.inter.issued.cert_pem())
        self.users: dict[str, Issued] = {}

    def write(self, name: str, data: bytes) -> Path:
        path = self.dir / name
        path.write_bytes(data)
        return path

    def user(self, name: str, **kwargs: object) -> tuple[Path, Path]:
        """(certificate PEM, key PEM) of an S/MIME user, issued once per name."""
        if name not in self.users:
            address = str(kwargs.pop("address", "alice@example.org"))
            self.users[name] = self.inter.issue_smime(address, **kwargs)  # type: ignore[arg-type]
        issued = self.users[name]
        return (
            self.write(f"{name}.pem", issued.cert_pem()),
            self.write(f"{name}.key", issued.key_pem()),
        )


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Lab:
    require_program("openssl")
    return Lab(tmp_path_factory.mktemp("smime"))


def run(*args: str | Path, ok: bool | None = True) -> subprocess.CompletedProcess[bytes]:
    proc = subprocess.run([str(a) for a in args], capture_output=True, timeout=60, check=False)
    if ok is not None:
        assert (proc.returncode == 0) == ok, (args, proc.stdout[-2000:], proc.stderr[-2000:])
    return proc


def vedette(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    capsys.readouterr()
    code = cli.main([str(a) for a in args])
    out = capsys.readouterr()
    return code, out.out, out.err


def verdict(capsys: pytest.CaptureFixture[str], path: Path, lab: Lab) -> tuple[int, set[str]]:
    code, out, err = vedette(
        capsys, "smime", "verify", path, "--ca", lab.dir / "root.pem", "--json"
    )
    assert code in (0, 1), err
    doc = json.loads(out)
    assert doc["valid"] is (code == 0)
    found = {p["id"] for s in doc["signers"] for p in s["problems"]}
    return code, found | {p["id"] for p in doc["problems"]}


def vedette_sign(
    capsys: pytest.CaptureFixture[str], lab: Lab, user: str, out: str, *extra: str, **kw: object
) -> Path:
    cert, key = lab.user(user, **kw)
    source = lab.write("message.eml", MESSAGE)
    target = lab.dir / out
    code, _, err = vedette(
        capsys, "smime", "sign", source, "--cert", cert, "--key", key,
        "--chain", lab.dir / "inter.pem", "--out", target, "--force", *extra,
    )  # fmt: skip
    assert code == 0, err
    return target


SIGN_CASES = [
    ("rsa", {"key_spec": "rsa:2048"}, ()),
    ("rsa", {"key_spec": "rsa:2048"}, ("--opaque",)),
    ("rsa", {"key_spec": "rsa:2048"}, ("--pss",)),
    ("ec", {"key_spec": "ec:p256"}, ()),
    ("ec", {"key_spec": "ec:p256"}, ("--opaque", "--digest", "sha384")),
]


@pytest.mark.parametrize(("user", "kw", "extra"), SIGN_CASES)
def test_openssl_verifies_what_vedette_signs(
    lab: Lab,
    capsys: pytest.CaptureFixture[str],
    user: str,
    kw: dict[str, object],
    extra: tuple[str, ...],
) -> None:
    signed = vedette_sign(capsys, lab, user, f"v-{user}{''.join(extra)}.eml", *extra, **kw)
    root = lab.dir / "root.pem"
    # OpenSSL's PKCS#7 code (openssl smime) has no RSASSA-PSS; its CMS code has
    tools = [["cms", "-purpose", "smimesign"]] + ([] if "--pss" in extra else [["smime"]])
    for tool in tools:
        proc = run("openssl", *tool[:1], "-verify", "-in", signed, "-CAfile", root, *tool[1:])
        assert b"Hello Bob" in proc.stdout
    if "--opaque" not in extra:  # the detached form carries micalg; the header names the digest
        digest = "sha-384" if "sha384" in extra else "sha-256"
        assert f"micalg={digest}".encode() in signed.read_bytes()
    assert verdict(capsys, signed, lab) == (0, set())
    tampered = lab.write("tampered.eml", signed.read_bytes().replace(b"Hello Bob", b"Hello Eve"))
    if "--opaque" not in extra:
        run("openssl", "smime", "-verify", "-in", tampered, "-CAfile", root, ok=False)
        assert verdict(capsys, tampered, lab) == (1, {"smime.tampered"})


# --- gpgsm ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gpgsm_home(lab: Lab) -> Iterator[Path]:
    require_program("gpgsm")
    home = lab.dir / "gnupg"
    home.mkdir(mode=0o700)
    (home / "gpgsm.conf").write_text("disable-crl-checks\n")
    fingerprint = lab.root.cert.fingerprint(hashes.SHA1()).hex(":").upper()
    (home / "trustlist.txt").write_text(f"{fingerprint} S\n")
    run(
        "gpgsm",
        "--homedir",
        home,
        "--batch",
        "--import",
        lab.dir / "root.pem",
        lab.dir / "inter.pem",
    )
    yield home
    # gpgsm started a gpg-agent for this home directory: stop that one (and only it)
    subprocess.run(["gpgconf", "--homedir", str(home), "--kill", "all"], check=False, timeout=30)


def _split(signed: Path) -> tuple[bytes, bytes | None]:
    """(the CMS, the signed content or ``None`` for opaque) with Python's email package, an
    implementation independent of vedette's MIME reader."""
    raw = signed.read_bytes()
    msg = email.message_from_bytes(raw)
    if msg.get_content_type() != "multipart/signed":
        return msg.get_payload(decode=True), None  # type: ignore[return-value]
    boundary = msg.get_boundary()
    assert boundary is not None
    parts = raw.split(b"\r\n--" + boundary.encode())
    content = parts[1].split(b"\r\n", 1)[1]  # after the first delimiter line
    signature = msg.get_payload()[1].get_payload(decode=True)  # type: ignore[index, union-attr]
    return signature, content


@pytest.mark.parametrize(("user", "kw", "extra"), [c for c in SIGN_CASES if "--pss" not in c[2]])
def test_gpgsm_verifies_what_vedette_signs(
    lab: Lab,
    gpgsm_home: Path,
    capsys: pytest.CaptureFixture[str],
    user: str,
    kw: dict[str, object],
    extra: tuple[str, ...],
) -> None:
    signed = vedette_sign(capsys, lab, user, f"g-{user}{''.join(extra)}.eml", *extra, **kw)
    cms_der, content = _split(signed)
    sig = lab.write("g.p7s", cms_der)
    args: list[str | Path] = ["gpgsm", "--homedir", gpgsm_home, "--batch", "--status-fd", "1"]
    if content is None:
        proc = run(*args, "--verify", sig)
    else:
        proc = run(*args, "--verify", sig, lab.write("g.content", content))
    status = proc.stdout.decode()
    assert "[GNUPG:] GOODSIG" in status and "[GNUPG:] VALIDSIG" in status, status
    assert "TRUST_FULLY" in status or "TRUST_ULTIMATE" in status, status
    if content is not None:
        proc = run(
            *args, "--verify", sig, lab.write("g.bad", content.replace(b"Bob", b"Eve")), ok=None
        )
        assert "[GNUPG:] BADSIG" in proc.stdout.decode()


# --- OpenSSL signs, vedette verifies -------------------------------------------------------------


def openssl_sign(
    lab: Lab,
    user: str,
    out: str,
    *args: str,
    kw: dict[str, object] | None = None,
    tool: str = "cms",
) -> Path:
    cert, key = lab.user(user, **(kw or {}))
    body = lab.write("body.txt", b"Content-Type: text/plain\r\n\r\nHello from OpenSSL\r\n")
    target = lab.dir / out
    run(
        "openssl", tool, "-sign", "-in", body, "-signer", cert, "-inkey", key,
        "-certfile", lab.dir / "inter.pem", "-from", "alice@example.org", "-to",
        "bob@example.org", "-subject", "from openssl", "-out", target, *args,
    )  # fmt: skip
    return target


@pytest.mark.parametrize(
    ("user", "kw", "args"),
    [
        ("rsa", {"key_spec": "rsa:2048"}, ()),
        ("rsa", {"key_spec": "rsa:2048"}, ("-nodetach",)),
        ("ec", {"key_spec": "ec:p256"}, ()),
        ("ec", {"key_spec": "ec:p256"}, ("-nodetach", "-md", "sha512")),
        ("rsa", {"key_spec": "rsa:2048"}, ("-keyid",)),
        ("rsa", {"key_spec": "rsa:2048"}, ("-noattr",)),
        ("rsa", {"key_spec": "rsa:2048"}, ("-keyopt", "rsa_padding_mode:pss")),
    ],
)
def test_vedette_verifies_what_openssl_cms_signs(
    lab: Lab,
    capsys: pytest.CaptureFixture[str],
    user: str,
    kw: dict[str, object],
    args: tuple[str, ...],
) -> None:
    signed = openssl_sign(lab, user, "o.eml", *args, kw=kw)
    assert verdict(capsys, signed, lab) == (0, set())
    if "-nodetach" not in args:
        tampered = lab.write(
            "o-t.eml", signed.read_bytes().replace(b"from OpenSSL", b"from 0penSSL")
        )
        run("openssl", "cms", "-verify", "-in", tampered, "-CAfile", lab.dir / "root.pem", ok=False)
        assert verdict(capsys, tampered, lab) == (1, {"smime.tampered"})


def test_openssl_smime_sign_is_read_too(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    signed = openssl_sign(lab, "rsa", "os.eml", tool="smime", kw={"key_spec": "rsa:2048"})
    assert verdict(capsys, signed, lab) == (0, set())


def test_sha1_is_a_weak_digest_even_where_openssl_accepts_it(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    for user in ("rsa", "ec"):
        signed = openssl_sign(
            lab,
            user,
            "sha1.eml",
            "-md",
            "sha1",
            kw={"key_spec": f"{user}:2048" if user == "rsa" else "ec:p256"},
        )
        run("openssl", "cms", "-verify", "-in", signed, "-CAfile", lab.dir / "root.pem")
        assert b'micalg="sha1"' in signed.read_bytes() or b"micalg=sha1" in signed.read_bytes()
        assert verdict(capsys, signed, lab) == (1, {"smime.weak-digest"})


def test_a_swapped_certificate_fails_in_openssl_and_is_named_by_vedette(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = openssl_sign(lab, "ec", "swap.eml", "-nodetach", kw={"key_spec": "ec:p256"})
    original = lab.users["ec"].cert.public_bytes(Encoding.DER)
    other = twin(lab.users["ec"], lab.inter).public_bytes(Encoding.DER)
    assert len(other) == len(original)
    head, _, body = signed.read_bytes().partition(b"\n\n")
    blob = base64.b64decode(b"".join(body.split()))
    assert original in blob
    swapped_blob = blob.replace(original, other)
    swapped = lab.write("swapped.eml", head + b"\n\n" + base64.encodebytes(swapped_blob))
    run("openssl", "cms", "-verify", "-in", swapped, "-CAfile", lab.dir / "root.pem", ok=False)
    assert verdict(capsys, swapped, lab) == (1, {"smime.certificate-mismatch"})


def test_unfit_signers_get_their_own_verdicts(lab: Lab, capsys: pytest.CaptureFixture[str]) -> None:
    root = lab.dir / "root.pem"
    now = datetime.now(UTC)
    # expired: OpenSSL refuses too
    signed = openssl_sign(
        lab, "expired", "exp.eml",
        kw={"key_spec": "ec:p256", "not_before": now - timedelta(days=60), "days": 30},
    )  # fmt: skip
    proc = run("openssl", "cms", "-verify", "-in", signed, "-CAfile", root, ok=False)
    assert b"expired" in proc.stderr
    code, found = verdict(capsys, signed, lab)
    assert code == 1 and {"smime.expired", "smime.expired-at-signing"} <= found
    # a TLS server EKU: OpenSSL refuses it for S/MIME signing as well
    signed = openssl_sign(
        lab, "server-eku", "eku.eml",
        kw={"key_spec": "ec:p256", "eku": (ExtendedKeyUsageOID.SERVER_AUTH,)},
    )  # fmt: skip
    run(
        "openssl",
        "cms",
        "-verify",
        "-in",
        signed,
        "-CAfile",
        root,
        "-purpose",
        "smimesign",
        ok=False,
    )
    assert verdict(capsys, signed, lab) == (1, {"smime.wrong-eku"})
    # another person's certificate: OpenSSL does not compare the From field; vedette does
    signed = openssl_sign(
        lab, "mallory", "from.eml", kw={"key_spec": "ec:p256", "address": "mallory@example.net"}
    )
    run("openssl", "cms", "-verify", "-in", signed, "-CAfile", root)
    assert verdict(capsys, signed, lab) == (1, {"smime.address-mismatch"})
    # no issuing CA given
    code, out, _ = vedette(capsys, "smime", "verify", signed)
    assert code == 1 and "smime.untrusted-issuer" in out


def test_unreadable_input_exits_2_with_one_line(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    signed = openssl_sign(lab, "rsa", "cut.eml", kw={"key_spec": "rsa:2048"})
    data = signed.read_bytes()
    cut = lab.write("cut.eml", data[: len(data) * 2 // 3])
    code, _, err = vedette(capsys, "smime", "verify", cut, "--ca", lab.dir / "root.pem")
    assert code == 2 and err.count("\n") == 1, err
    assert re.match(r"vedette: error: .*(boundary|base64|truncated)", err), err


def test_a_windows_p12_signs_and_raw_cms_files_are_read(
    lab: Lab, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = lab.user("rsa", key_spec="rsa:2048")
    secret = lab.write("p12-pass", b"import password\n")
    p12 = lab.dir / "alice.p12"
    run(
        "openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-certfile",
        lab.dir / "inter.pem", "-passout", f"file:{secret}", "-out", p12,
    )  # fmt: skip
    source = lab.write("message.eml", MESSAGE)
    out = lab.dir / "p12-signed.eml"
    code, _, err = vedette(
        capsys, "smime", "sign", source, "--cert", p12, "--passin", f"file:{secret}",
        "--out", out, "--force",
    )  # fmt: skip
    assert code == 0, err
    run("openssl", "cms", "-verify", "-in", out, "-CAfile", lab.dir / "root.pem")
    assert verdict(capsys, out, lab) == (0, set())
    # openssl cms -sign -outform DER|PEM: no MIME, so no From to compare (a warning)
    body = lab.write("raw.txt", b"Content-Type: text/plain\r\n\r\nraw CMS\r\n")
    for form in ("DER", "PEM"):
        raw = lab.dir / f"raw.{form.lower()}"
        run(
            "openssl", "cms", "-sign", "-in", body, "-signer", cert, "-inkey", key,
            "-certfile", lab.dir / "inter.pem", "-nodetach", "-outform", form, "-out", raw,
        )  # fmt: skip
        assert verdict(capsys, raw, lab) == (0, {"smime.no-from"})


# --- gpgsm signs and encrypts, vedette reads; vedette encrypts, gpgsm decrypts ----------------

GPG_PASSPHRASE = b"gpgsm test passphrase"


@pytest.fixture(scope="module")
def gpgsm_with_key(lab: Lab, gpgsm_home: Path) -> Path:
    """gpgsm's home with the RSA user's key imported (from a PKCS#12 in the legacy
    SHA1-3DES form: gpgsm 2.2 reads no PBES2)."""
    cert, key = lab.user("rsa", key_spec="rsa:2048")
    p12 = lab.dir / "gpgsm-import.p12"
    secret = lab.write("gpg-pass", GPG_PASSPHRASE + b"\n")
    run(
        "openssl", "pkcs12", "-export", "-in", cert, "-inkey", key, "-out", p12,
        "-passout", f"file:{secret}", "-keypbe", "PBE-SHA1-3DES", "-certpbe",
        "PBE-SHA1-3DES", "-macalg", "sha1",
    )  # fmt: skip
    (gpgsm_home / "gpg-agent.conf").write_text("allow-loopback-pinentry\n")
    gpgsm_secret(gpgsm_home, "--import", p12)
    return gpgsm_home


def _fpr(lab: Lab) -> str:
    """The RSA user's certificate by SHA-1 fingerprint: several alice@example.org
    certificates reach gpgsm's keybox (verification imports them), the name is ambiguous."""
    return lab.users["rsa"].cert.fingerprint(hashes.SHA1()).hex().upper()


def gpgsm_secret(home: Path, *args: str | Path) -> subprocess.CompletedProcess[bytes]:
    """gpgsm with the passphrase given on standard input (loopback pinentry)."""
    proc = subprocess.run(
        ["gpgsm", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
         "--passphrase-fd", "0", *[str(a) for a in args]],
        input=GPG_PASSPHRASE + b"\n", capture_output=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, (args, proc.stderr[-2000:])
    return proc


def test_vedette_verifies_what_gpgsm_signs(
    lab: Lab, gpgsm_with_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    entity = b"Content-Type: text/plain\r\n\r\nSigned by gpgsm.\r\n"
    content = lab.write("gpgsm-content.txt", entity)
    # opaque, DER and PEM ("SIGNED MESSAGE")
    for extra in ((), ("--armor",)):
        out = lab.dir / "gpgsm-opaque.p7m"
        out.unlink(missing_ok=True)
        gpgsm_secret(gpgsm_with_key, "--sign", *extra, "-u", _fpr(lab), "-o", out, content)
        assert verdict(capsys, out, lab) == (0, {"smime.no-from"})
    # detached, put in a multipart/signed by the test (gpgsm writes the CMS only)
    sig = lab.dir / "gpgsm.p7s"
    sig.unlink(missing_ok=True)
    gpgsm_secret(gpgsm_with_key, "--sign", "--detach-sign", "-u", _fpr(lab), "-o", sig, content)
    boundary = b"gpgsm-test-boundary"
    message = (
        b"From: alice@example.org\r\nMIME-Version: 1.0\r\nContent-Type: multipart/signed; "
        b'protocol="application/pkcs7-signature"; micalg=sha-256; boundary="' + boundary
        + b'"\r\n\r\n--' + boundary + b"\r\n" + entity + b"\r\n--" + boundary
        + b"\r\nContent-Type: application/pkcs7-signature\r\nContent-Transfer-Encoding: base64"
        + b"\r\n\r\n" + base64.encodebytes(sig.read_bytes()) + b"\r\n--" + boundary + b"--\r\n"
    )  # fmt: skip
    signed = lab.write("gpgsm-signed.eml", message)
    assert verdict(capsys, signed, lab) == (0, set())
    tampered = lab.write("gpgsm-tampered.eml", message.replace(b"by gpgsm", b"by gpgSM"))
    assert verdict(capsys, tampered, lab) == (1, {"smime.tampered"})


def test_gpgsm_and_vedette_decrypt_each_other(
    lab: Lab, gpgsm_with_key: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert, key = lab.user("rsa", key_spec="rsa:2048")
    body = lab.write("gpgsm-plain.txt", b"Content-Type: text/plain\r\n\r\nfor gpgsm\r\n")
    enc = lab.dir / "gpgsm-enc.der"
    enc.unlink(missing_ok=True)
    run("gpgsm", "--homedir", gpgsm_with_key, "--batch", "--encrypt", "-r",
        _fpr(lab), "-o", enc, body)  # fmt: skip
    out = lab.dir / "gpgsm-dec.eml"
    code, _, err = vedette(
        capsys, "smime", "decrypt", enc, "--key", key, "--cert", cert, "--out", out, "--force"
    )
    assert code == 0, err
    assert out.read_bytes().endswith(b"\r\n\r\nfor gpgsm\r\n")
    # vedette's default form (AES-256-CBC, RSA PKCS#1 v1.5) is what gpgsm 2.2 reads
    source = lab.write("to-gpgsm.eml", MESSAGE)
    mail = lab.dir / "to-gpgsm-enc.eml"
    code, _, err = vedette(
        capsys, "smime", "encrypt", source, "--to", cert, "--out", mail, "--force"
    )
    assert code == 0, err
    blob = email.message_from_bytes(mail.read_bytes()).get_payload(decode=True)
    assert isinstance(blob, bytes)
    der = lab.write("to-gpgsm.der", blob)
    plain = gpgsm_secret(gpgsm_with_key, "--decrypt", der).stdout
    assert plain.endswith(b"\r\n\r\nHello Bob,\r\nsigned for the interop tests.\r\n")
