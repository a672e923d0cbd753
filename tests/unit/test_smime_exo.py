"""``vedette smime exo``: the Exchange Online PowerShell, checked as text.

PowerShell is not installable here (no pwsh package among the Debian sources this project
uses), so the quoting is checked with the winstore tests' tokenizer of PowerShell's
single-quoted strings (``tests.unit.test_winstore.ps_single_quoted``), written from its
language specification (about_Quoting_Rules: inside '...' nothing expands
and a quote is written twice; the tokenizer's IsSingleQuote counts U+2018..U+201B as quotes):
each hostile value must come back whole as ONE literal, followed by exactly the text vedette
wrote after it.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import ExtendedKeyUsageOID
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_winstore import ps_single_quoted
from vedette.cli import main
from vedette.pki.ca import CertificateAuthority, Issued
from vedette.pki.winstore.powershell import ps_quote
from vedette.smime import SmimeError
from vedette.smime.exo import Recipient, Row, parse_rows, script

QUOTES = "'\u2018\u2019\u201a\u201b"
HOSTILE = [
    "O'Brien",
    "Bob'; Remove-Mailbox -Identity ceo@example.org -Confirm:$false; '",
    "$(Invoke-Expression 'calc')",
    "`$env:USERNAME` `n tick",
    "\u2018typographic\u2019 \u201aquotes\u201b",
    '"double" and ${x}',
    "@(1,2) & | ; #>",
]


@pytest.fixture(scope="module")
def ca() -> CertificateAuthority:
    return CertificateAuthority.create_root("Exo Root").issue_intermediate("Exo S/MIME CA")


@pytest.fixture(scope="module")
def alice(ca: CertificateAuthority) -> Issued:
    return ca.issue_smime("alice@example.org")


@pytest.fixture(scope="module")
def bob(ca: CertificateAuthority) -> Issued:
    return ca.issue_smime("bob@partner.example")


def _script(alice: Issued, bob: Issued, name: str, **kw: object) -> str:
    rows = [
        Recipient(
            row=Row(
                line=2, address="alice@example.org", certificate_file="a", kind="internal", name=""
            ),
            certificate=alice.cert,
        ),
        Recipient(
            row=Row(
                line=3,
                address="bob@partner.example",
                certificate_file="b",
                kind="external",
                name=name,
            ),
            certificate=bob.cert,
        ),
    ]
    return script(rows, quote=ps_quote, **kw)  # type: ignore[arg-type]


def _contact_line(text: str) -> str:
    (line,) = [x for x in text.splitlines() if x.lstrip().startswith("New-MailContact")]
    return line


@pytest.mark.parametrize("name", HOSTILE)
def test_a_hostile_display_name_stays_one_literal(alice: Issued, bob: Issued, name: str) -> None:
    line = _contact_line(_script(alice, bob, name))
    head = "    New-MailContact -Name "
    assert line.startswith(head)
    value, rest = ps_single_quoted(line[len(head) :])
    assert value == name
    assert rest == " -ExternalEmailAddress 'bob@partner.example' | Out-Null"


@settings(max_examples=300, deadline=None)
@given(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cf", "Zl", "Zp", "Cs"),
            whitelist_characters=QUOTES + '$`()"',
        ),
        min_size=1,
        max_size=64,
    )
)
def test_any_printable_name_round_trips(name: str) -> None:
    literal = ps_quote(name)
    assert ps_single_quoted(literal + " -Next") == (name, " -Next")


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "x\x00", "tab\there", "bidi\u202e", "ls\u2028"])
def test_control_characters_are_refused(alice: Issued, bob: Issued, bad: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        _script(alice, bob, bad)


def test_the_script_has_the_cmdlets_and_each_users_der(alice: Issued, bob: Issued) -> None:
    sst = b"\x00\x00\x00\x00CERT" + bytes(12)
    text = _script(alice, bob, "Bob", sst=sst, admin="admin@example.org")
    lines = text.splitlines()
    assert lines[0] == "#Requires -Version 7.0"
    assert "Connect-ExchangeOnline -UserPrincipalName 'admin@example.org'" in lines
    assert "Set-SmimeConfig -SMIMECertificateIssuingCA $issuingCA" in lines
    assert "Set-Mailbox -Identity 'alice@example.org' -UserCertificate $certs" in lines
    assert "Set-MailContact -Identity 'bob@partner.example' -UserCertificate $certs" in lines
    blobs = re.findall(r"\[Convert\]::FromBase64String\('([A-Za-z0-9+/=]*)'\)", text)
    assert [base64.b64decode(b) for b in blobs] == [
        sst,
        alice.cert.public_bytes(Encoding.DER),
        bob.cert.public_bytes(Encoding.DER),
    ]
    for who in (alice, bob):
        digest = hashlib.sha256(who.cert.public_bytes(Encoding.DER)).hexdigest().upper()
        assert f"Sha256 = '{digest}'" in text
    assert "UserSMimeCertificate" not in text
    other = _script(alice, bob, "Bob", smime_attribute=True)
    assert "Set-Mailbox -Identity 'alice@example.org' -UserSMimeCertificate $certs" in other
    assert "Set-SmimeConfig" not in other.replace("# 1. No .sst given: Set-SmimeConfig", "")


@pytest.mark.parametrize(
    ("csv", "message"),
    [
        ('alice@example.org,a.cer,internal,"Al\nice"\n', "line 1: control character U+000A"),
        ("alice@example.org,a.cer,boss,Alice\n", "line 1: kind 'boss'"),
        ("not-an-address,a.cer,internal\n", "is not an e-mail address"),
        ("bob@partner.example,b.cer,external\n", "line 1: an external contact needs a display"),
        (
            "a@x.org,a.cer,internal\nA@x.org,b.cer,internal\n",
            "line 2: A@x.org is already on line 1",
        ),
        ('a@x.org,a.cer,internal,"' + "x" * 65 + '"\n', "65 characters"),
        ("address,certificate-file,kind\n", "no recipient"),
        ('a@x.org,"unterminated\n', "line"),
    ],
)
def test_bad_rows_are_one_line_errors(csv: str, message: str) -> None:
    with pytest.raises(SmimeError, match=re.escape(message)) as info:
        parse_rows(csv)
    assert "\n" not in str(info.value)


def test_header_comments_and_blank_lines(alice: Issued) -> None:
    rows = parse_rows(
        "address,certificate-file,kind,display-name\n# a comment\n\n"
        "alice@example.org, alice.cer ,INTERNAL\n"
    )
    assert [(r.line, r.address, r.certificate_file, r.kind) for r in rows] == [
        (4, "alice@example.org", "alice.cer", "internal")
    ]


def _files(tmp_path: Path, ca: CertificateAuthority, alice: Issued, bob_cert: Issued) -> Path:
    (tmp_path / "alice.cer").write_bytes(alice.cert.public_bytes(Encoding.DER))
    (tmp_path / "bob.pem").write_bytes(
        bob_cert.cert.public_bytes(Encoding.PEM) + ca.cert.public_bytes(Encoding.PEM)
    )
    csv = tmp_path / "people.csv"
    csv.write_text(
        "address,certificate-file,kind,display-name\n"
        "alice@example.org,alice.cer,internal,Alice\n"
        "bob@partner.example,bob.pem,external,\"Bob 'Partner' $(calc)\"\n",
        encoding="utf-8",
    )
    return csv


def test_the_command_writes_the_script(
    tmp_path: Path,
    ca: CertificateAuthority,
    alice: Issued,
    bob: Issued,
    capsys: pytest.CaptureFixture[str],
) -> None:
    csv = _files(tmp_path, ca, alice, bob)
    out = tmp_path / "setup.ps1"
    assert main(["smime", "exo", str(csv), "--out", str(out)]) == 0
    text = out.read_text(encoding="utf-8")
    assert "New-MailContact -Name 'Bob ''Partner'' $(calc)'" in text
    digest = hashlib.sha256(alice.cert.public_bytes(Encoding.DER)).hexdigest().upper()
    assert f"internal alice@example.org: SHA-256 {digest}" in capsys.readouterr().out


def test_unfit_certificates_are_refused(
    tmp_path: Path, ca: CertificateAuthority, alice: Issued, capsys: pytest.CaptureFixture[str]
) -> None:
    server_eku = ca.issue_smime("bob@partner.example", eku=(ExtendedKeyUsageOID.SERVER_AUTH,))
    csv = _files(tmp_path, ca, alice, server_eku)
    out = tmp_path / "setup.ps1"
    assert main(["smime", "exo", str(csv), "--out", str(out)]) == 1
    assert "the certificate is not for e-mail" in capsys.readouterr().out
    assert not out.exists()
    wrong = ca.issue_smime("carol@partner.example")
    csv = _files(tmp_path, ca, alice, wrong)
    assert main(["smime", "exo", str(csv), "--out", str(out)]) == 1
    assert "is not the certificate's address" in capsys.readouterr().out
    later = (datetime.now(UTC) + timedelta(days=800)).date().isoformat()
    csv = _files(tmp_path, ca, alice, ca.issue_smime("bob@partner.example"))
    assert main(["smime", "exo", str(csv), "--out", str(out), "--as-of", later]) == 1
    assert "expired" in capsys.readouterr().out


def test_a_newline_in_the_csv_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    csv = tmp_path / "evil.csv"
    csv.write_text('a@x.org,a.cer,external,"Evil\n; Remove-Mailbox x"\n', encoding="utf-8")
    assert main(["smime", "exo", str(csv), "--out", str(tmp_path / "s.ps1")]) == 2
    err = capsys.readouterr().err
    assert "control character U+000A in the display name" in err
    assert len(err.strip().splitlines()) == 1


def test_a_recipient_whose_issuer_is_not_in_the_store_is_refused(
    tmp_path: Path,
    ca: CertificateAuthority,
    alice: Issued,
    bob: Issued,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vedette.pki import sst

    csv = _files(tmp_path, ca, alice, bob)
    out = tmp_path / "setup.ps1"
    store = tmp_path / "other.sst"
    store.write_bytes(sst.write_sst([CertificateAuthority.create_root("Other").cert]))
    assert main(["smime", "exo", str(csv), "--sst", str(store), "--out", str(out)]) == 1
    text = capsys.readouterr().out
    assert "alice@example.org: FAIL: its issuer CN=Exo S/MIME CA is not in" in text
    assert not out.exists()
    store.write_bytes(sst.write_sst([ca.cert], hashes=False))
    assert main(["smime", "exo", str(csv), "--sst", str(store), "--out", str(out)]) == 0
    assert "Set-SmimeConfig -SMIMECertificateIssuingCA $issuingCA" in out.read_text()
