"""Windows certificate stores (issue 18): certutil text, findings, PowerShell quoting.

The certutil samples below follow real output (see ``vedette.pki.winstore.certutil`` for
the sources): the English one from certificate.fyicenter.com/699, the French one from
saltstack/salt#55024. PowerShell is not installable here, so the quoting is checked against a
tokenizer of PowerShell's single-quoted strings written from the language specification
(section 2.3.5.2: a verbatim string; each of the single-quote characters, doubled, stands for
itself; nothing else is special).
"""

from __future__ import annotations

import contextlib
import hashlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from vedette.checks.tls_protocols import CA_LIST_LIMIT
from vedette.errors import PkiError, UsageError
from vedette.model import Severity
from vedette.pki.winstore.analyse import check_stores
from vedette.pki.winstore.certutil import CertutilTextError, decode_text, parse_certutil
from vedette.pki.winstore.inputs import (
    SST_MAGIC,
    Export,
    from_der,
    parse_store_option,
    read_export,
    store_from_name,
)
from vedette.pki.winstore.powershell import export_script, ps_quote
from vedette.trust import trust_data

NOW = datetime(2026, 12, 1, tzinfo=UTC)

# English, as printed by certutil -store -user TestStore (fyicenter sample, one entry).
ENGLISH = """TestStore
================ Certificate 0 ================
Serial Number: b3f33360411e2b8045cd75cf9588a23d
Issuer: CN=FYIcenter Root CA
 NotBefore: 7/1/2012 10:34 PM
 NotAfter: 12/31/2039 6:59 PM
Subject: CN=FYIcenter Root CA
Signature matches Public Key
Root Certificate: Subject matches Issuer
Template:
Cert Hash(sha1): 32 c6 b7 33 0f 30 64 41 f9 16 95 0d d5 65 a7 30 9c 50 b9 c2
  Key Container = JoeSoft
  Unique container name: 7b90a71bfc56f2582e916a51aed6df9a_e4c0ab3c-2930-4330-b979-2488d6d8e2d2
  Provider = Microsoft Strong Cryptographic Provider
Private key is NOT exportable
Signature test passed
CertUtil: -store command completed successfully.
"""

# French, two entries as printed on a French Windows 10 (salt#55024).
FRENCH = """Root "Autorités de certification racines de confiance"
================ Certificat 11 ================
Numéro de série : 4a19d2388c82591ca55d735f155ddca3
Émetteur: OU=NO LIABILITY ACCEPTED, (c)97 VeriSign, Inc., OU=VeriSign Time Stamping Service Root, OU=VeriSign, Inc., O=VeriSign Trust Network
 NotBefore : 12/05/1997 02:00
 NotAfter : 08/01/2004 01:59
Objet: OU=NO LIABILITY ACCEPTED, (c)97 VeriSign, Inc., OU=VeriSign Time Stamping Service Root, OU=VeriSign, Inc., O=VeriSign Trust Network
La signature correspond à la clé publique
Certificat racine : le sujet correspond à l’émetteur
Hach. cert. (sha1) : 18f7c1fcc3090203fd5baa2f861a754976c8dd25
Aucune information sur le fournisseur de clé
Impossible de trouver le certificat et la clé privée pour le déchiffrement.

================ Certificat 12 ================
Numéro de série : 56eb088834c470a74bd07ea1f2037266
Émetteur: CN=Microsoft Intune Root Certification Authority
 NotBefore : 12/07/2017 02:00
 NotAfter : 12/07/2022 02:00
Objet: CN=Microsoft Intune Root Certification Authority
Version de l’autorité de certification: V0.0
La signature correspond à la clé publique
Certificat racine : le sujet correspond à l’émetteur
Hach. cert. (sha1) : 245c97df7514e7cf2df8be72ae957b9e04741e85
Aucune information sur le fournisseur de clé
"""  # noqa: E501


# --- certutil text ------------------------------------------------------------------------


def test_english_entry_fields() -> None:
    (e,) = parse_certutil(ENGLISH)
    assert e.language == "en"
    assert e.serial == "b3f33360411e2b8045cd75cf9588a23d"
    assert e.subject == e.issuer == "CN=FYIcenter Root CA"
    assert e.not_before == datetime(2012, 7, 1, 22, 34, tzinfo=UTC)
    assert e.not_after == datetime(2039, 12, 31, 18, 59, tzinfo=UTC)
    assert e.sha1 == "32c6b7330f306441f916950dd565a7309c50b9c2"
    assert e.root_line and e.signature_ok
    assert e.has_key is True
    assert e.provider == "Microsoft Strong Cryptographic Provider"


def test_french_entries_fields() -> None:
    first, second = parse_certutil(FRENCH)
    assert (first.index, first.language) == (11, "fr")
    assert first.subject is not None and first.subject.startswith("OU=NO LIABILITY ACCEPTED")
    # Day first in French: 12/05/1997 is the 12th of May.
    assert first.not_before == datetime(1997, 5, 12, 2, 0, tzinfo=UTC)
    assert first.not_after == datetime(2004, 1, 8, 1, 59, tzinfo=UTC)
    assert first.sha1 == "18f7c1fcc3090203fd5baa2f861a754976c8dd25"
    assert first.has_key is False and first.root_line
    assert second.not_after == datetime(2022, 7, 12, 2, 0, tzinfo=UTC)


def test_utf16_and_cp850_text_decode() -> None:
    assert decode_text(FRENCH.encode("utf-16")) == FRENCH
    assert decode_text(FRENCH.replace("’", "'").encode("cp850")) == FRENCH.replace("’", "'")


def test_french_expired_root_windows_needs_is_not_proposed_for_removal(tmp_path: Path) -> None:
    (tmp_path / "root.txt").write_text(FRENCH, encoding="utf-8")
    export = read_export(tmp_path / "root.txt")
    assert (export.store, export.location, export.format) == ("Root", "LocalMachine", "certutil")
    report = check_stores([export], now=NOW, trust=None, ca_list_limit=CA_LIST_LIMIT)
    expired = [f for f in report.findings if f.id == "store.expired"]
    # The VeriSign time-stamping root is on Microsoft's "required" list (KB 293781); the
    # Intune root is not.
    assert len(expired) == 1
    assert [c.subject for c in expired[0].certificates] == [
        "CN=Microsoft Intune Root Certification Authority"
    ]
    assert any("certutil -store text carries no certificate bytes" in n for n in report.notes)
    (ca_list,) = report.ca_lists
    assert ca_list.estimated and ca_list.count == 2


@pytest.mark.parametrize(
    "text",
    [
        "",
        "hello\nworld\n",
        "================ Certificate 0 ================\n",
        "================ Certificate 0 ================\nCert Hash(sha1): 12 34\n",
        "================ Certificat 0 ================\nObjet: CN=a\x1b]0;x\x07\n",
    ],
)
def test_absurd_certutil_text_is_one_error(text: str) -> None:
    with pytest.raises(CertutilTextError):
        parse_certutil(text)


_LABELS = st.sampled_from(
    [
        "================ Certificate 0 ================",
        "================ Certificat 7 ================",
        "Serial Number: ",
        "Numéro de série : ",
        "Issuer: ",
        "Émetteur: ",
        "Subject: ",
        "Objet: ",
        " NotBefore: ",
        " NotAfter : ",
        "Cert Hash(sha1): ",
        "Hach. cert. (sha1) : ",
        "  Key Container = ",
        "  Fournisseur = ",
        "Aucune information sur le fournisseur de clé",
        "Root Certificate: Subject matches Issuer",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_LABELS, st.text(max_size=60)), max_size=30))
def test_certutil_parser_never_crashes_on_garbage(lines: list[tuple[str, str]]) -> None:
    text = "\n".join(label + value for label, value in lines)
    try:
        entries = parse_certutil(text)
    except CertutilTextError:
        return
    for e in entries:
        assert e.subject is not None or e.sha1 is not None
        assert e.sha1 is None or len(e.sha1) == 40


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_certutil_reader_never_crashes_on_bytes(tmp_path_factory: pytest.TempPathFactory,
                                                data: bytes) -> None:  # fmt: skip
    path = tmp_path_factory.mktemp("garbage") / "Root.txt"
    path.write_bytes(b"================ Certificate 0 ================\n" + data)
    with contextlib.suppress(PkiError, UsageError):
        read_export(path)


# --- PowerShell quoting ---------------------------------------------------------------------

_QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_single_quoted(source: str) -> tuple[str, str]:
    """PowerShell's verbatim string: (value, rest of the line after the closing quote)."""
    assert source[0] in _QUOTES
    out = []
    i = 1
    while i < len(source):
        ch = source[i]
        if ch in _QUOTES:
            if i + 1 < len(source) and source[i + 1] in _QUOTES:
                out.append(ch)
                i += 2
                continue
            return "".join(out), source[i + 1 :]
        out.append(ch)
        i += 1
    raise AssertionError("unterminated string")


HOSTILE = [
    "CN=it's",
    "CN=a'; Remove-Item -Recurse C:\\ ; '",
    "CN=$(Invoke-Expression calc)",
    "CN=`$env:PATH` ${x}",
    "CN=\u2019; calc; \u2018",
    "CN=\u201a\u201b''",
    '"; calc; "',
]


@pytest.mark.parametrize("value", HOSTILE)
def test_ps_quote_round_trips_and_leaves_nothing_after(value: str) -> None:
    parsed, rest = ps_single_quoted(ps_quote(value))
    assert parsed == value
    assert rest == ""


@pytest.mark.parametrize(
    "value", ["a\nRemove-Item x", "a\rb", "a\x1b[2J", "a\u2028b", "a\u202eb", "a\x85b", "a\x00"]
)
def test_ps_quote_refuses_control_characters(value: str) -> None:
    with pytest.raises(ValueError, match="control character"):
        ps_quote(value)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=80))
def test_ps_quote_round_trips_any_text(value: str) -> None:
    try:
        quoted = ps_quote(value)
    except ValueError:
        return
    assert ps_single_quoted(quoted) == (value, "")


def test_export_script_backs_up_before_exporting_and_quotes_the_folder() -> None:
    script = export_script("C:\\it's $(here)")
    assert "$out = 'C:\\it''s $(here)'" in script
    for store in ("Root", "CA", "My"):
        assert store in script
    assert script.index("-Type SST") < script.index("-Type P7B")
    assert "certutil -user -store My" in script and "certutil -store My" in script
    with pytest.raises(ValueError):
        export_script("C:\\x\nRemove-Item C:\\")


# --- certificates and findings --------------------------------------------------------------

_KEY = ec.generate_private_key(ec.SECP256R1())


def _name(cn: str, org: str = "Lab") -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, cn),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


def make_cert(
    subject: x509.Name,
    *,
    issuer: x509.Name | None = None,
    key: ec.EllipticCurvePrivateKey | None = None,
    issuer_key: ec.EllipticCurvePrivateKey | None = None,
    ca: bool = True,
    serial: int = 1,
    not_after: datetime = NOW + timedelta(days=365),
    dns: tuple[str, ...] = (),
    eku: tuple[x509.ObjectIdentifier, ...] = (),
) -> x509.Certificate:
    key = key or _KEY
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(NOW - timedelta(days=400))
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if dns:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(d) for d in dns]), critical=False
        )
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def export_of(store: str, *certs: x509.Certificate, location: str = "LocalMachine") -> Export:
    return Export(
        path=f"{location}-{store}.p7b",
        location=location,
        store=store,
        format="pkcs7",
        certificates=tuple(from_der(c, location, store, f"{store}.p7b") for c in certs),
    )


def ids(exports: list[Export], **kw: object) -> list[str]:
    report = check_stores(exports, now=NOW, trust=None, ca_list_limit=CA_LIST_LIMIT, **kw)  # type: ignore[arg-type]
    return sorted(f.id for f in report.findings)


def test_misplaced_roots_and_intermediates() -> None:
    root = make_cert(_name("Root A"))
    inter = make_cert(_name("Issuing A"), issuer=root.subject, serial=2)
    report = check_stores(
        [export_of("Root", root, inter), export_of("CA", root)],
        now=NOW, trust=None, ca_list_limit=CA_LIST_LIMIT,
    )  # fmt: skip
    by_id = {f.id: f for f in report.findings}
    assert set(by_id) == {"store.non-root-in-root", "store.root-in-intermediate"}
    fix = "\n".join(by_id["store.non-root-in-root"].fix)
    thumb = hashlib.sha1(inter.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    # The backup export comes before the move.
    assert fix.index(
        f"Export-Certificate -Cert (Get-Item -LiteralPath 'Cert:\\LocalMachine\\Root\\{thumb}')"
    ) < fix.index(
        f"Move-Item -LiteralPath 'Cert:\\LocalMachine\\Root\\{thumb}' -Destination 'Cert:\\LocalMachine\\CA'"  # noqa: E501
    )


def test_end_entity_in_root_is_removed_not_moved() -> None:
    root = make_cert(_name("Root A"))
    leaf = make_cert(_name("mail.example.test"), issuer=root.subject, ca=False, serial=9)
    report = check_stores(
        [export_of("Root", root, leaf)], now=NOW, trust=None, ca_list_limit=CA_LIST_LIMIT
    )
    (f,) = report.findings
    assert any(line.startswith("Remove-Item") for line in f.fix)
    assert not any(line.startswith("Move-Item") for line in f.fix)


def test_duplicate_roots_same_key_and_same_subject() -> None:
    other_key = ec.generate_private_key(ec.SECP256R1())
    a = make_cert(_name("Root A"), serial=1)
    a_again = make_cert(_name("Root A renamed"), serial=2)  # same key, other subject
    b = make_cert(_name("Root B"), serial=5, key=other_key)
    b_new = make_cert(_name("Root B"), serial=5, key=ec.generate_private_key(ec.SECP256R1()),
                      not_after=NOW + timedelta(days=4000))  # fmt: skip
    report = check_stores([export_of("Root", a, a_again, b, b_new)], now=NOW, trust=None,
                          ca_list_limit=CA_LIST_LIMIT)  # fmt: skip
    dups = sorted((f for f in report.findings if f.id == "store.duplicate-root"),
                  key=lambda f: f.severity)  # fmt: skip
    assert [f.severity for f in dups] == [Severity.LOW, Severity.MEDIUM]
    assert "the same subject and serial number" in dups[0].detail
    assert "the same key, other serial numbers" in dups[1].detail
    # The newest of the same-subject pair is kept; the older is removed.
    old_thumb = hashlib.sha1(b.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert any(line.startswith("Remove-Item") and old_thumb in line for line in dups[0].fix)


def test_expired_certificates_by_date() -> None:
    root = make_cert(_name("Root A"), not_after=NOW - timedelta(days=1))
    assert ids([export_of("Root", root)]) == ["store.expired"]
    later = make_cert(_name("Root A"), not_after=NOW + timedelta(days=1))
    assert ids([export_of("Root", later)]) == []


def test_distrusted_root_from_the_trust_timeline() -> None:
    data = trust_data()
    today = datetime.now(UTC).date()
    removed = {fp: e for e in data.events if e.mechanism == "removed" and e.effective <= today
               for fp in e.roots}  # fmt: skip
    ders = [d for d in data.roots_der if hashlib.sha256(d).hexdigest() in removed]
    assert ders, "the trust data has no removed root any more: pick another"
    cert = x509.load_der_x509_certificate(ders[0])
    report = check_stores([export_of("Root", cert)], now=datetime.now(UTC), trust=data,
                          ca_list_limit=CA_LIST_LIMIT)  # fmt: skip
    (f,) = [f for f in report.findings if f.id == "store.distrusted"]
    assert removed[hashlib.sha256(ders[0]).hexdigest()].ca in f.detail
    assert f.severity >= Severity.MEDIUM
    # From certutil text (thumbprint only), the same root is found through its SHA-1.
    sha1 = hashlib.sha1(ders[0]).hexdigest()
    text = ("Root\n================ Certificate 0 ================\n"
            f"Subject: CN=x\nIssuer: CN=x\nCert Hash(sha1): {sha1}\n")  # fmt: skip
    entries = parse_certutil(text)
    from vedette.pki.winstore.inputs import from_text

    exp = Export(path="t", location="LocalMachine", store="Root", format="certutil",
                 certificates=(from_text(entries[0], "LocalMachine", "Root", "t#0"),))  # fmt: skip
    report = check_stores([exp], now=datetime.now(UTC), trust=data, ca_list_limit=CA_LIST_LIMIT)
    assert [f.id for f in report.findings] == ["store.distrusted"]


def test_several_certificates_for_one_name_and_purpose() -> None:
    root = make_cert(_name("Root A"))
    server = (ExtendedKeyUsageOID.SERVER_AUTH,)
    old = make_cert(_name("pool.example.test"), issuer=root.subject, ca=False, serial=3,
                    dns=("pool.example.test",), eku=server)  # fmt: skip
    new = make_cert(_name("pool.example.test"), issuer=root.subject, ca=False, serial=4,
                    dns=("pool.example.test",), eku=server,
                    not_after=NOW + timedelta(days=700))  # fmt: skip
    client_auth = (ExtendedKeyUsageOID.CLIENT_AUTH,)
    client = make_cert(_name("pool.example.test"), issuer=root.subject, ca=False, serial=5,
                       dns=("pool.example.test",), eku=client_auth)  # fmt: skip
    report = check_stores([export_of("My", old, new, client)], now=NOW, trust=None,
                          ca_list_limit=CA_LIST_LIMIT)  # fmt: skip
    (f,) = [f for f in report.findings if f.id == "store.several-for-same-name"]
    assert "(server)" in f.title and len(f.certificates) == 2
    new_thumb = hashlib.sha1(new.public_bytes(serialization.Encoding.DER)).hexdigest().upper()
    assert not any(new_thumb in line for line in f.fix if not line.startswith("#"))


def test_ca_list_size_uses_the_schannel_limit_of_the_tls_check() -> None:
    long_org = "O" * 60
    roots = [make_cert(_name(f"Root {i:03d} " + "x" * 50, long_org), serial=i + 1)
             for i in range(120)]  # fmt: skip
    report = check_stores([export_of("Root", *roots)], now=NOW, trust=None,
                          ca_list_limit=CA_LIST_LIMIT)  # fmt: skip
    (cl,) = report.ca_lists
    assert cl.count == 120 and not cl.estimated
    assert cl.bytes == sum(2 + len(r.subject.public_bytes()) for r in roots)
    assert cl.bytes > CA_LIST_LIMIT
    assert "store.ca-list-oversized" in {f.id for f in report.findings}
    fewer = check_stores([export_of("Root", *roots[:60])], now=NOW, trust=None,
                         ca_list_limit=CA_LIST_LIMIT)  # fmt: skip
    assert "store.ca-list-oversized" not in {f.id for f in fewer.findings}


def test_hostile_subject_never_becomes_code() -> None:
    root = make_cert(_name("Root A"))
    for cn in [*HOSTILE, "evil\nRemove-Item -Recurse C:\\"]:
        inter = make_cert(_name(cn), issuer=root.subject, serial=7)
        report = check_stores([export_of("Root", root, inter)], now=NOW, trust=None,
                              ca_list_limit=CA_LIST_LIMIT)  # fmt: skip
        (f,) = report.findings
        for line in f.fix:
            if line.startswith("#"):
                # A comment: one line, the subject only inside a closed literal.
                assert "\n" not in line and "\r" not in line
                if "'" in line or "\u2019" in line:
                    start = line.index(": ") + 2
                    if line[start:].startswith("("):
                        continue
                    value, rest = ps_single_quoted(line[start:])
                    assert value == f.certificates[0].subject
                    assert rest == ""
            else:
                assert cn not in line
        if "\n" in cn:
            assert any("subject with control characters, not shown" in line for line in f.fix)


def test_store_names_from_files_and_options() -> None:
    assert store_from_name("LocalMachine-Root") == ("LocalMachine", "Root")
    assert store_from_name("CurrentUser_My.certutil") == ("CurrentUser", "My")
    assert store_from_name("Intermediate Certification Authorities") == (None, "CA")
    assert store_from_name("Personnel") == (None, "My")
    assert parse_store_option("CurrentUser\\My=x.txt")[:2] == ("CurrentUser", "My")
    assert parse_store_option("Root=a=b.p7b")[1:] == ("Root", Path("a=b.p7b"))
    with pytest.raises(UsageError):
        parse_store_option("Root")
    with pytest.raises(UsageError):
        parse_store_option("Somewhere\\My=x")


def test_bad_exports_are_one_line_errors(tmp_path: Path) -> None:
    root = make_cert(_name("Root A"))
    p7b = pkcs7.serialize_certificates([root], serialization.Encoding.DER)
    (tmp_path / "Root.p7b").write_bytes(p7b[: len(p7b) // 2])
    (tmp_path / "CA.p7b").write_bytes(b"\x30\x82garbage" * 10)
    (tmp_path / "My.sst").write_bytes(SST_MAGIC + b"\x01\x00\x00\x00")
    (tmp_path / "unknown.p7b").write_bytes(p7b)
    for name in ("Root.p7b", "CA.p7b", "My.sst"):
        with pytest.raises(PkiError) as info:
            read_export(tmp_path / name)
        assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="which store"):
        read_export(tmp_path / "unknown.p7b")
    assert read_export(tmp_path / "unknown.p7b", store="Root").store == "Root"


def test_folder_per_store(tmp_path: Path) -> None:
    folder = tmp_path / "CurrentUser" / "Root"
    folder.mkdir(parents=True)
    root = make_cert(_name("Root A"))
    (folder / "a.cer").write_bytes(root.public_bytes(serialization.Encoding.DER))
    (folder / "b.pem").write_bytes(root.public_bytes(serialization.Encoding.PEM))
    export = read_export(folder)
    assert (export.location, export.store, len(export.certificates)) == ("CurrentUser", "Root", 1)


def test_certutil_key_state_joins_the_p7b_by_thumbprint() -> None:
    leaf = make_cert(_name("pool.example.test"), ca=False, serial=3, issuer=_name("Root A"),
                     dns=("pool.example.test",))  # fmt: skip
    sha1 = hashlib.sha1(leaf.public_bytes(serialization.Encoding.DER)).hexdigest()
    text = ("My\n================ Certificate 0 ================\n"
            f"Subject: CN=pool.example.test, O=Lab\nCert Hash(sha1): {sha1}\n"
            "No key provider information\n")  # fmt: skip
    from vedette.pki.winstore.inputs import from_text

    (entry,) = parse_certutil(text)
    exports = [
        export_of("My", leaf),
        Export(path="my.txt", location="LocalMachine", store="My", format="certutil",
               certificates=(from_text(entry, "LocalMachine", "My", "my.txt#0"),)),
    ]  # fmt: skip
    report = check_stores(exports, now=NOW, trust=None, ca_list_limit=CA_LIST_LIMIT)
    assert len(report.certificates) == 1
    (f,) = report.findings
    assert f.id == "store.no-private-key"
    assert f"certutil -repairstore My {sha1.upper()}" in f.fix


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=600), st.integers(min_value=0, max_value=2000))
def test_any_bytes_as_a_store_export_give_a_one_line_error_or_certificates(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, cut: int
) -> None:
    root = make_cert(_name("Root A"))
    p7b = pkcs7.serialize_certificates([root], serialization.Encoding.DER)
    path = tmp_path_factory.mktemp("p7b") / "Root.p7b"
    # Random bytes, or a real .p7b cut short and followed by them.
    path.write_bytes(data if cut % 2 else p7b[: cut % len(p7b)] + data)
    try:
        export = read_export(path)
    except (PkiError, UsageError) as exc:
        assert "\n" not in str(exc)
        return
    assert export.certificates
