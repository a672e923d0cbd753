"""The terminal report's opening table, its compact client counts, and how lines wrap.

Hand-made ScanReports (certificates minted here, client matrices built from verdicts), rendered
through rich as a terminal would print them at a given width.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console
from rich.text import Text

from vedette.checks import load_checks, registry
from vedette.model import (
    ClientMatrix,
    ClientOutcome,
    ClientReason,
    ClientVerdict,
    DialogueObservation,
    Endpoint,
    Finding,
    Observation,
    ScanReport,
    Service,
    Severity,
    TlsObservation,
)
from vedette.report.lines import MIN_BODY, put, wrap_lines
from vedette.report.terminal import render_terminal, short_fix

NOW = datetime(2026, 3, 1, 10, 0, tzinfo=UTC)

SUB = Endpoint(host="mail.example.test", ip="192.0.2.10", port=587, service=Service.SUBMISSION)
IMAPS = Endpoint(host="mail.example.test", ip="192.0.2.10", port=993, service=Service.IMAPS)
POP = Endpoint(host="mail.example.test", ip="192.0.2.10", port=110, service=Service.POP3)


def _cert(cn: str, not_after: datetime) -> bytes:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Example Issuing CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - timedelta(days=30))
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(Encoding.DER)


GOOD = _cert("mail.example.test", NOW + timedelta(days=91, hours=1))
OTHER = _cert("www.example.net", NOW + timedelta(days=10, hours=1))


def _tls(chain: bytes, version: str = "TLSv1.3") -> TlsObservation:
    return TlsObservation(
        version=version,
        cipher="TLS_AES_256_GCM_SHA384",
        sni="mail.example.test",
        chain_der=(chain,),
    )


SUBMISSION = Observation(
    endpoint=SUB,
    started_at=NOW,
    duration_s=0.3,
    dialogue=DialogueObservation(
        greeting=("220 mail.example.test ESMTP",),
        capabilities_before_tls=("250-mail.example.test", "250-STARTTLS", "250 AUTH PLAIN LOGIN"),
    ),
    tls=_tls(GOOD),
)
IMAPS_OBS = Observation(
    endpoint=IMAPS,
    started_at=NOW,
    duration_s=0.2,
    dialogue=DialogueObservation(greeting=("* OK ready",)),
    tls=_tls(OTHER, "TLSv1"),
)
POP_OBS = Observation(
    endpoint=POP,
    started_at=NOW,
    duration_s=0.1,
    dialogue=DialogueObservation(
        greeting=("+OK ready",), capabilities_before_tls=("+OK", "USER", ".")
    ),
)

REMEDIATION = (
    "Refuse authentication before TLS: Dovecot `disable_plaintext_auth = yes` (2.3); Postfix "
    "`smtpd_tls_auth_only = yes`. Better still, move users to implicit TLS."
)
FINDINGS = (
    Finding(
        id="tls.plaintext-auth",
        severity=Severity.HIGH,
        title="Passwords are accepted before TLS",
        detail="offered before TLS: LOGIN, PLAIN",
        remediation=REMEDIATION,
        endpoint=SUB,
        fix_commands=("vedette cert csr --like submission://mail.example.test:587 --out x.csr",),
    ),
    Finding(
        id="tls.no-tls12",
        severity=Severity.HIGH,
        title="TLS 1.2 is not supported",
        detail="the best version accepted is TLSv1.0",
        remediation="Upgrade the TLS library (OpenSSL 1.0.1 or later) and enable TLS 1.2.",
        endpoint=IMAPS,
    ),
    Finding(
        id="tls.tls10",
        severity=Severity.MEDIUM,
        title="TLS 1.0 is accepted",
        detail="TLSv1.0 accepted",
        remediation="Disable it.",
        endpoint=IMAPS,
    ),
)


def _verdict(profile: str, family: str, outcome: ClientOutcome, why: str = "") -> ClientVerdict:
    reasons = (ClientReason(code="tls.version", outcome=outcome, text=why, fix="f"),) if why else ()
    return ClientVerdict(
        profile=profile, name=f"{profile} client", family=family, outcome=outcome, reasons=reasons
    )


FAILS, WORKS = ClientOutcome.FAILS, ClientOutcome.WORKS
MATRICES = (
    ClientMatrix(
        endpoint=SUB,
        as_of=NOW,
        verdicts=(
            _verdict("lync-2013", "lync", FAILS, "no common TLS version"),
            _verdict("outlook-2010", "outlook", FAILS, "no common TLS version"),
            _verdict("outlook-2013", "outlook", FAILS, "no common TLS version"),
            _verdict("ios-current", "ios", WORKS),
        ),
    ),
    ClientMatrix(
        endpoint=IMAPS,
        as_of=NOW,
        verdicts=(
            _verdict("ios-current", "ios", FAILS, "the client needs TLS 1.2"),
            _verdict("chrome", "browser", FAILS, "the client needs TLS 1.2"),
        ),
    ),
)


def _report(**kw: object) -> ScanReport:
    fields: dict[str, object] = {
        "scan_id": 3,
        "targets": ("mail.example.test",),
        "started_at": NOW,
        "finished_at": NOW,
        "analysed_at": NOW,
        "observations": (SUBMISSION, IMAPS_OBS, POP_OBS),
        "findings": FINDINGS,
        "clients": MATRICES,
    }
    fields.update(kw)
    return ScanReport(**fields)  # type: ignore[arg-type]


def _render(report: ScanReport, width: int = 80, *, verbose: bool = False) -> list[str]:
    out = StringIO()
    render_terminal(report, Console(file=out, width=width, color_system=None), verbose=verbose)
    return out.getvalue().splitlines()


def _row(lines: list[str], start: str) -> list[str]:
    (row,) = [ln for ln in lines[:8] if ln.startswith(start)]
    return row.split()


def test_the_report_opens_with_one_line_per_endpoint():
    lines = _render(_report(), 100)
    assert lines[0] == "Scan 3: 3 endpoints, 3 scanned · findings: 2 high, 1 medium"
    assert lines[2].split()[:5] == ["endpoint", "login", "TLS", "cert", "worst"]
    # Password before TLS, TLS 1.3, 91 days left, the worst finding, the failing families.
    assert _row(lines, "submission:587") == [
        "submission:587",
        "clear",
        "1.3",
        "91d",
        "tls.plaintext-auth",
        "lync,outlook",
    ]
    # Implicit TLS; the certificate is named only when it is not the endpoint's own name; the
    # worst finding is the most severe; every client fails.
    assert _row(lines, "imaps:993") == [
        "imaps:993", "TLS", "1.0", "10d", "www.example.net", "tls.no-tls12", "all"
    ]  # fmt: skip
    assert _row(lines, "pop3:110") == ["pop3:110", "clear", "none", "-", "-", "-"]
    # Then the details, host by host.
    assert lines[7] == "mail.example.test"
    # At 80 columns the certificate's name gives way first.
    narrow = _render(_report(), 80)
    assert _row(narrow, "imaps:993")[3:] == ["10d", "www.example.…", "tls.no-tls12", "all"]


def test_the_table_fits_the_width_and_says_what_it_cut():
    long = Endpoint(
        host="a-very-long-mail-host-name.departement.example.test",
        ip="192.0.2.20",
        port=993,
        service=Service.IMAPS,
    )
    obs = Observation(endpoint=long, started_at=NOW, duration_s=0.1, tls=_tls(GOOD))
    many = ClientMatrix(
        endpoint=long,
        as_of=NOW,
        verdicts=(
            *(
                _verdict(f"p{i}", fam, FAILS, "x")
                for i, fam in enumerate(["android", "java", "outlook", "lync", "skype", "teams"])
            ),
            _verdict("ok", "ios", WORKS),
        ),
    )
    report = _report(observations=(SUBMISSION, obs), findings=(), clients=(MATRICES[0], many))
    for width in (60, 80, 100):
        lines = _render(report, width)
        table = lines[2:5]
        assert all(len(ln) <= width for ln in table), table
        row = table[2]
        assert row.startswith("a-very-long")
        # The families that did not fit are counted, never silently dropped.
        if width < 100:
            assert re.search(r"\+\d+$", row), row


def test_client_lists_are_counts_by_family_unless_verbose():
    lines = _render(_report())
    text = "\n".join(lines)
    assert "Clients:          3 fail: lync 1, outlook 2 (of 4)" in text
    assert "- 3 clients: no common TLS version" in text
    assert "Clients:          all 2 fail" in text
    assert "lync-2013 client" not in text
    verbose = "\n".join(_render(_report(), verbose=True))
    assert "lync-2013 client" in verbose and "outlook-2010 client" in verbose


def test_every_finding_keeps_its_id_one_line_fix_and_run_command():
    lines = _render(_report())
    text = "\n".join(lines)
    for f in FINDINGS:
        assert f" {f.id} " in text
    assert "      Fix: Refuse authentication before TLS." in lines
    assert "      Fix: Upgrade the TLS library and enable TLS 1.2." in lines
    run = "      Run: " + FINDINGS[0].fix_commands[0]
    assert run in lines  # whole, on one line, even past the width
    # -v gives the whole remediation.
    verbose = " ".join(" ".join(_render(_report(), verbose=True)).split())
    assert "Better still, move users to implicit TLS." in verbose


@pytest.mark.parametrize("width", [40, 80, 120])
def test_no_trailing_spaces_and_hanging_indents(width: int):
    for verbose in (False, True):
        lines = _render(_report(), width, verbose=verbose)
        assert not [ln for ln in lines if ln != ln.rstrip()]
        fix = [i for i, ln in enumerate(lines) if ln.startswith("      Fix: Refuse")]
        if width == 40:
            # The fix wraps under its text, not under "Fix:".
            (i,) = fix
            assert lines[i + 1].startswith(" " * 11) and lines[i + 1][11] != " "


def test_short_fix_is_one_sentence_for_every_registered_check():
    load_checks()
    assert short_fix(REMEDIATION) == "Refuse authentication before TLS."
    assert short_fix("Disable it: Postfix `a = b`, Dovecot `c = d`; on Windows, IIS Crypto.") == (
        "Disable it: Postfix `a = b`, Dovecot `c = d`."
    )
    for check in registry.all_checks():
        fix = short_fix(check.remediation)
        assert fix.endswith("."), (check.id, fix)
        assert "(" not in fix and ". " not in fix.replace("e.g. ", ""), (check.id, fix)
        assert len(fix) <= len(" ".join(check.remediation.split())), check.id


def test_put_returns_the_lines_it_printed():
    out = StringIO()
    console = Console(file=out, width=30, color_system=None)
    n = put(console, ("Label: ", "bold"), "one two three four five six seven", indent=2, hang=7)
    lines = out.getvalue().splitlines()
    assert n == len(lines) == 2
    assert lines == ["  Label: one two three four", "         five six seven"]


_WORDS = st.text(
    alphabet=st.characters(codec="utf-8", categories=("L", "N", "P")), min_size=1, max_size=25
)


@settings(max_examples=200, deadline=None)
@given(
    words=st.lists(_WORDS, min_size=1, max_size=30),
    width=st.integers(min_value=2, max_value=120),
    hang=st.integers(min_value=0, max_value=40),
)
def test_wrapping_keeps_every_word_and_the_hanging_indent(
    words: list[str], width: int, hang: int
) -> None:
    text = " ".join(words)
    lines = wrap_lines(Text(text), width, hang=hang)
    plain = [ln.plain for ln in lines]
    assert all(p == p.rstrip() for p in plain)
    assert all(ln.cell_len <= width for ln in lines)
    if len(plain) > 1 and width - hang >= MIN_BODY:
        assert all(p.startswith(" " * hang) for p in plain[1:])
    # Nothing is lost: the words come back in order (a word longer than the width is folded).
    assert "".join("".join(p.split()) for p in plain) == "".join(text.split())
