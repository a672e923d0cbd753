"""``vedette smime sst`` and ``smime exo`` end to end, checked by other implementations.

The store ``smime sst`` writes is read back by Wine's crypt32 through the ``sstutil.exe``
program of ``test_sst_wine.py`` (its ``wine`` fixture and listing parser are reused, not
copied): the file-store reader (``CertOpenStore(CERT_STORE_PROV_FILENAME)``, which drops a
store that starts with a property: why ``smime sst`` writes none) and the per-element reader.
The certificates that ``smime exo`` embeds in its PowerShell are decoded from the script's
base64 and read by OpenSSL, whose SHA-256 must be the one the script's verification step
expects. PowerShell itself is not installable here; the script's quoting is checked by the
unit tests (tests/unit/test_smime_exo.py).
"""

from __future__ import annotations

import base64
import re
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding

from tests.cli import run_vedette
from tests.integration.test_sst_wine import Wine, parse_listing, windows_path
from tests.integration.test_sst_wine import wine as wine  # the shared fixture
from tests.tools import require_program
from vedette.pki import sst
from vedette.pki.ca import CertificateAuthority, Issued


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, object]]:
    """A company's set-up as the note has it: its own CA (root + issuing CA) for two users,
    a partner's one-level CA for an external contact; files in every format."""
    work = tmp_path_factory.mktemp("company")
    root = CertificateAuthority.create_root("Company Root", key_spec="rsa:2048")
    inter = root.issue_intermediate("Company S/MIME CA", key_spec="rsa:2048")
    partner = CertificateAuthority.create_root("Partner Root")
    alice = inter.issue_smime("alice@example.org", key_spec="rsa:2048")
    carol = inter.issue_smime("carol@example.org")
    bob = partner.issue_smime("bob@partner.example")
    (work / "cas").mkdir()
    (work / "cas" / "root.cer").write_bytes(root.cert.public_bytes(Encoding.DER))
    (work / "cas" / "inter.pem").write_bytes(inter.cert.public_bytes(Encoding.PEM))
    (work / "alice.cer").write_bytes(alice.cert.public_bytes(Encoding.DER))
    (work / "carol.pem").write_bytes(carol.cert.public_bytes(Encoding.PEM))
    (work / "bob.pem").write_bytes(
        bob.cert.public_bytes(Encoding.PEM) + partner.cert.public_bytes(Encoding.PEM)
    )
    (work / "people.csv").write_text(
        "address,certificate-file,kind,display-name\n"
        "alice@example.org,alice.cer,internal,Alice Martin\n"
        "carol@example.org,carol.pem,internal,\n"
        "bob@partner.example,bob.pem,external,\"Bob 'Partner' $(calc) `n\"\n",
        encoding="utf-8",
    )
    return work, {
        "cas": (root.cert, inter.cert, partner.cert),
        "users": {
            "alice@example.org": alice,
            "carol@example.org": carol,
            "bob@partner.example": bob,
        },
    }


def _sha1(cert: object) -> str:
    return cert.fingerprint(hashes.SHA1()).hex()  # type: ignore[attr-defined]


def test_wine_reads_the_store_smime_sst_writes(wine: Wine, company) -> None:
    work, pki = company
    out = work / "chainOfTrust.sst"
    proc = run_vedette(
        "smime",
        "sst",
        "--out",
        out,
        work / "alice.cer",
        work / "carol.pem",
        work / "bob.pem",
        work / "cas",
        "--force",
    )
    assert proc.returncode == 0, proc.stderr
    expected = sorted(_sha1(c) for c in pki["cas"])
    for c in pki["cas"]:
        assert _sha1(c).upper() in proc.stdout  # the SHA-1 thumbprint reported
    for reader in ("list", "elements"):
        certs, crls = parse_listing(wine.run(reader, windows_path(out)))
        assert sorted(c.sha1 for c in certs) == expected, reader
        assert crls == 0
    assert sorted(_sha1(c) for c in sst.certificates_from_sst(out.read_bytes())) == expected
    inspect = run_vedette("cert", "inspect", out)
    assert inspect.returncode == 0, inspect.stderr
    assert "3 certificate(s), 0 CRL(s), 0 CTL(s)" in inspect.stdout


def test_the_script_embeds_each_users_der_as_openssl_reads_it(company) -> None:
    openssl = require_program("openssl")
    work, pki = company
    store = work / "chainOfTrust.sst"
    run_vedette("smime", "sst", "--out", store, work / "cas", work / "bob.pem", "--force")
    script = work / "setup.ps1"
    proc = run_vedette(
        "smime",
        "exo",
        work / "people.csv",
        "--sst",
        store,
        "--out",
        script,
        "--admin",
        "admin@example.org",
        "--force",
    )
    assert proc.returncode == 0, proc.stderr
    text = script.read_text(encoding="utf-8")
    for cmdlet in (
        "Connect-ExchangeOnline",
        "Set-SmimeConfig",
        "Set-Mailbox",
        "New-MailContact",
        "Set-MailContact",
        "Get-Mailbox",
        "Get-MailContact",
    ):
        assert re.search(rf"^\s*(try \{{ )?{cmdlet}\b|& \$e\.Cmdlet", text, re.M), cmdlet
    blobs = re.findall(r"\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]+)'\)", text)
    assert base64.b64decode(blobs[0]) == store.read_bytes()
    users: dict[str, Issued] = pki["users"]  # type: ignore[assignment]
    identities = re.findall(r"^(?:Set-Mailbox|Set-MailContact) -Identity '([^']+)'", text, re.M)
    assert identities == list(users)
    for address, blob in zip(identities, blobs[1:], strict=True):
        der = base64.b64decode(blob)
        assert der == users[address].cert.public_bytes(Encoding.DER)
        done = subprocess.run(
            [
                openssl,
                "x509",
                "-inform",
                "DER",
                "-noout",
                "-fingerprint",
                "-sha256",
                "-ext",
                "subjectAltName",
            ],
            input=der,
            capture_output=True,
            check=True,
            timeout=30,
        )
        listing = done.stdout.decode()
        digest = listing.split("=", 1)[1].splitlines()[0].replace(":", "").strip()
        assert f"Identity = '{address}'; Sha256 = '{digest}'" in text
        assert f"email:{address}" in listing
        assert f"SHA-256 {digest}" in proc.stdout
