"""The terminal and JSON reports, built from hand-made ScanReports."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta
from io import StringIO
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding
from rich.console import Console

from tests.builders import (
    certificate,
    dialogue_of,
    endpoint_for,
    observed,
    observed_failure,
    observed_tls,
)
from vedette._version import __version__
from vedette.model import (
    FailureKind,
    Finding,
    Observation,
    ScanReport,
    Service,
    Severity,
    Stage,
)
from vedette.pki.ca import self_signed_server
from vedette.report.json import JSON_SCHEMA, report_to_json
from vedette.report.terminal import render_terminal

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NOW = T0 + timedelta(hours=1)

SUB = endpoint_for(Service.SUBMISSION, host="mail.example.test", ip="192.0.2.10")
POP = endpoint_for(Service.POP3, host="mail.example.test", ip="192.0.2.10")
IMAPS = endpoint_for(Service.IMAPS, host="imap.example.test", ip="192.0.2.11")
BARE = endpoint_for(Service.SMTP, host=None, ip="192.0.2.12")


def _cert(
    cn: str,
    *,
    names: tuple[str, ...] = (),
    issuer_cn: str | None = None,
    not_after: datetime = datetime(2026, 6, 1, tzinfo=UTC),
    rsa_key: bool = False,
) -> bytes:
    return certificate(
        cn,
        issuer_name=issuer_cn,
        key_type="rsa:2048" if rsa_key else "ec:p256",
        not_before=datetime(2025, 12, 1, tzinfo=UTC),
        not_after=not_after,
        names=names,
        serial=0x1234ABCD,
    ).der


LEAF = _cert(
    "mail.example.test",
    names=("mail.example.test", "192.0.2.10"),
    issuer_cn="Example Issuing CA",
)
INTERMEDIATE = _cert("Example Issuing CA", issuer_cn="Example Root", rsa_key=True)


def _report(
    observations: tuple[Observation, ...],
    findings: tuple[Finding, ...] = (),
    scan_id: int | None = 7,
) -> ScanReport:
    return ScanReport(
        scan_id=scan_id,
        targets=("mail.example.test", "imaps://imap.example.test"),
        started_at=T0,
        finished_at=T0 + timedelta(seconds=4),
        analysed_at=NOW,
        observations=observations,
        findings=findings,
    )


def _submission(
    greeting: str = "220 mail.example.test ESMTP Postfix",
    chain: tuple[bytes, ...] = (LEAF, INTERMEDIATE),
) -> Observation:
    return observed_tls(
        chain,
        endpoint=SUB,
        cipher="TLS_AES_256_GCM_SHA384",
        at=T0,
        duration_s=0.42,
        dialogue=dialogue_of(
            greeting,
            before=("250-mail.example.test", "250-STARTTLS", "250 AUTH PLAIN LOGIN"),
            starttls=("220 2.0.0 Ready to start TLS",),
            after=("250-mail.example.test", "250 AUTH PLAIN LOGIN XOAUTH2"),
        ),
    )


POP_TIMEOUT = observed_failure(
    FailureKind.TIMEOUT,
    endpoint=POP,
    stage=Stage.GREETING,
    detail="no greeting within 5.0 s",
    at=T0,
    duration_s=5.0,
)
IMAPS_REFUSED = observed_failure(
    FailureKind.REFUSED, endpoint=IMAPS, detail="connection refused", at=T0, duration_s=0.01
)

PLAINTEXT = Finding(
    id="tls.plaintext-auth",
    severity=Severity.HIGH,
    title="Passwords can be sent before TLS",
    detail="The server offers AUTH PLAIN LOGIN before STARTTLS.",
    remediation="Postfix: set smtpd_tls_auth_only = yes.",
    endpoint=SUB,
    evidence=("250 AUTH PLAIN LOGIN",),
    references=("RFC 8314",),
)
EXPIRING = Finding(
    id="cert.expiring",
    severity=Severity.MEDIUM,
    title="The certificate expires soon",
    detail="It expires on 2026-06-01.",
    remediation="Renew it: vedette cert csr mail.example.test",
    endpoint=SUB,
)
UNREACHABLE = Finding(
    id="reach.refused",
    severity=Severity.INFO,
    title="Nothing listens on this port",
    detail="Connection refused.",
    remediation="Open the port or drop the DNS name.",
    endpoint=IMAPS,
)


def _render(report: ScanReport, *, verbose: bool = False, color: bool = False) -> str:
    out = StringIO()
    console = Console(
        file=out, width=120, force_terminal=color, color_system="truecolor" if color else None
    )
    render_terminal(report, console, verbose=verbose)
    return out.getvalue()


_SGR = re.compile(r"\x1b\[[0-9;]*m")


def _visible(text: str) -> str:
    return _SGR.sub("", text)


# --- JSON --------------------------------------------------------------------------------------

ENDPOINT_KEYS = {
    "tls_scan",
    "defences",
    "label",
    "host",
    "ip",
    "port",
    "service",
    "protocol",
    "tls_mode",
    "role",
    "status",
    "failure",
    "duration_s",
    "connections",
    "greeting",
    "capabilities_before_tls",
    "starttls_reply",
    "capabilities_after_tls",
    "tls",
    "findings",
}
CERT_KEYS = {
    "subject",
    "issuer",
    "serial",
    "not_before",
    "not_after",
    "sha256",
    "signature_algorithm",
    "key",
    "sans",
    "pem",
}
FINDING_KEYS = {
    "id",
    "severity",
    "title",
    "detail",
    "remediation",
    "endpoint",
    "host",
    "ip",
    "port",
    "service",
    "evidence",
    "references",
    "fix_commands",
}


def test_json_document_has_the_documented_shape() -> None:
    report = _report(
        (_submission(), POP_TIMEOUT, IMAPS_REFUSED), (PLAINTEXT, EXPIRING, UNREACHABLE)
    )
    doc = json.loads(json.dumps(report_to_json(report)))
    assert set(doc) == {
        "schema",
        "vedette_version",
        "scan_id",
        "targets",
        "started_at",
        "finished_at",
        "analysed_at",
        "summary",
        "endpoints",
        "findings",
        "clients",
    }
    assert doc["schema"] == JSON_SCHEMA == "vedette.scan/1"
    assert doc["vedette_version"] == __version__
    assert doc["scan_id"] == 7
    assert doc["targets"] == ["mail.example.test", "imaps://imap.example.test"]
    assert doc["started_at"] == "2026-03-01T09:00:00+00:00"
    assert doc["finished_at"] == "2026-03-01T09:00:04+00:00"
    assert doc["analysed_at"] == "2026-03-01T10:00:00+00:00"
    assert doc["summary"] == {
        "endpoints": 3,
        "scanned": 1,
        "unreachable": 1,
        "findings": {"critical": 0, "high": 1, "medium": 1, "low": 0, "info": 1},
    }
    assert [set(e) for e in doc["endpoints"]] == [ENDPOINT_KEYS] * 3
    assert [set(f) for f in doc["findings"]] == [FINDING_KEYS] * 3


def test_json_endpoint_fields() -> None:
    doc = report_to_json(_report((_submission(), POP_TIMEOUT), (PLAINTEXT, EXPIRING)))
    sub, pop = doc["endpoints"]
    assert sub["label"] == "submission://mail.example.test:587 (192.0.2.10)"
    assert (sub["host"], sub["ip"], sub["port"], sub["service"]) == (
        "mail.example.test",
        "192.0.2.10",
        587,
        "submission",
    )
    assert (sub["protocol"], sub["tls_mode"], sub["role"]) == ("smtp", "starttls", "user")
    assert sub["status"] == "ok"
    assert sub["failure"] is None
    assert sub["duration_s"] == 0.42
    assert sub["connections"] == 1
    assert sub["greeting"] == ["220 mail.example.test ESMTP Postfix"]
    assert sub["capabilities_before_tls"][-1] == "250 AUTH PLAIN LOGIN"
    assert sub["starttls_reply"] == ["220 2.0.0 Ready to start TLS"]
    assert sub["findings"] == ["tls.plaintext-auth", "cert.expiring"]
    assert pop["status"] == "timeout"
    assert pop["failure"] == {
        "kind": "timeout",
        "stage": "greeting",
        "detail": "no greeting within 5.0 s",
    }
    # No dialogue at all: no greeting lines, and "not reached" for the rest.
    assert pop["greeting"] == []
    assert pop["capabilities_before_tls"] is None
    assert pop["tls"] is None
    assert pop["findings"] == []


def test_json_tls_and_chain() -> None:
    doc = report_to_json(_report((_submission(chain=(LEAF, INTERMEDIATE, b"\x30\x03junk")),)))
    tls = doc["endpoints"][0]["tls"]
    assert (tls["version"], tls["cipher"], tls["sni"]) == (
        "TLSv1.3",
        "TLS_AES_256_GCM_SHA384",
        "mail.example.test",
    )
    leaf, inter, bad = tls["chain"]
    assert set(leaf) == CERT_KEYS == set(inter)
    assert leaf["subject"] == "CN=mail.example.test"
    assert leaf["issuer"] == "CN=Example Issuing CA"
    assert leaf["serial"] == "1234abcd"
    assert leaf["not_before"] == "2025-12-01T00:00:00+00:00"
    assert leaf["not_after"] == "2026-06-01T00:00:00+00:00"
    assert leaf["signature_algorithm"] == "ecdsa-with-SHA256"
    assert leaf["key"] == "EC secp256r1"
    assert leaf["sans"] == ["DNS:mail.example.test", "IP:192.0.2.10"]
    assert x509.load_pem_x509_certificate(leaf["pem"].encode()).public_bytes(Encoding.DER) == LEAF
    assert leaf["sha256"] == x509.load_der_x509_certificate(LEAF).fingerprint(hashes.SHA256()).hex()
    assert inter["key"] == "RSA 2048"
    assert inter["sans"] == []
    assert set(bad) == {"error", "der_b64"}
    assert base64.b64decode(bad["der_b64"]) == b"\x30\x03junk"
    assert bad["error"]


def test_json_findings_in_report_order_with_endpoint_identity() -> None:
    doc = report_to_json(_report((_submission(), IMAPS_REFUSED), (PLAINTEXT, UNREACHABLE)))
    first, second = doc["findings"]
    assert first == {
        "id": "tls.plaintext-auth",
        "severity": "high",
        "title": "Passwords can be sent before TLS",
        "detail": "The server offers AUTH PLAIN LOGIN before STARTTLS.",
        "remediation": "Postfix: set smtpd_tls_auth_only = yes.",
        "endpoint": "submission://mail.example.test:587 (192.0.2.10)",
        "host": "mail.example.test",
        "ip": "192.0.2.10",
        "port": 587,
        "service": "submission",
        "evidence": ["250 AUTH PLAIN LOGIN"],
        "references": ["RFC 8314"],
        "fix_commands": [],
    }
    assert second["endpoint"] == "imaps://imap.example.test:993 (192.0.2.11)"


def test_json_keeps_server_strings_verbatim() -> None:
    hostile = "220 [bold red]x\x1b[2J\u202e"
    doc = report_to_json(_report((_submission(greeting=hostile),), scan_id=None))
    assert doc["scan_id"] is None
    assert doc["endpoints"][0]["greeting"] == [hostile]
    assert "\\u001b[2J" in json.dumps(doc)


def test_json_self_signed_from_the_pki_module() -> None:
    issued = self_signed_server(["mail.example.test"])
    der = issued.cert.public_bytes(Encoding.DER)
    doc = report_to_json(_report((_submission(chain=(der,)),)))
    leaf = doc["endpoints"][0]["tls"]["chain"][0]
    assert leaf["subject"] == leaf["issuer"]
    assert "DNS:mail.example.test" in leaf["sans"]


# --- terminal ----------------------------------------------------------------------------------


def test_terminal_summary_and_plain_words() -> None:
    text = _render(
        _report((_submission(), POP_TIMEOUT, IMAPS_REFUSED), (PLAINTEXT, EXPIRING, UNREACHABLE)),
        verbose=True,
    )
    lines = text.splitlines()
    assert (
        lines[0]
        == "Scan 7: 3 endpoints, 1 scanned, 1 unreachable · findings: 1 high, 1 medium, 1 info"
    )
    assert "mail.example.test" in lines
    assert "  submission://mail.example.test:587 (192.0.2.10)" in lines
    assert "Status:           reachable" in text
    assert "Greeting:         220 mail.example.test ESMTP Postfix" in text
    assert (
        "TLS before login: no: a password can be sent in clear (LOGIN, PLAIN offered before TLS)"
        in text
    )
    assert "STARTTLS offered: yes" in text
    assert "TLS:              TLSv1.3, TLS_AES_256_GCM_SHA384" in text
    assert "Certificate:      CN=mail.example.test" in text
    assert "issuer:         CN=Example Issuing CA" in text
    assert "expires:        2026-06-01 00:00 UTC (in 91 days)" in text
    assert "names:          DNS:mail.example.test, IP:192.0.2.10" in text
    assert "Status:           timed out waiting for the greeting: no greeting within 5.0 s" in text
    assert "Status:           connection refused while connecting" in text


def test_terminal_findings_sorted_with_fix_lines() -> None:
    # Findings given least severe first still print most severe first under their endpoint.
    text = _render(_report((_submission(), IMAPS_REFUSED), (EXPIRING, UNREACHABLE, PLAINTEXT)))
    high = text.index(" HIGH  tls.plaintext-auth  Passwords can be sent before TLS")
    medium = text.index(" MEDIUM  cert.expiring  The certificate expires soon")
    assert high < medium < text.index("imap.example.test\n")
    assert "Fix: Postfix: set smtpd_tls_auth_only = yes." in text
    assert "Fix: Renew it: vedette cert csr mail.example.test" in text
    assert "Fix: Open the port or drop the DNS name." in text
    assert text.index(" INFO  reach.refused") > text.index("imap.example.test\n")
    # Evidence and references only in verbose mode.
    assert "evidence:" not in text


def test_terminal_no_findings_and_host_grouping() -> None:
    bare = observed(
        BARE, at=T0, dialogue=dialogue_of("220 relay ESMTP", before=("250-relay", "250 SIZE 1000"))
    )
    text = _render(_report((bare,)), verbose=True)
    assert text.splitlines()[0] == "Scan 7: 1 endpoint, 1 scanned · no findings"
    assert "192.0.2.12\n  smtp://192.0.2.12:25\n" in text
    assert "STARTTLS offered: no" in text
    assert "TLS before login: yes: no password login is offered before TLS" in text
    assert "TLS:              not established" in text
    assert "No findings." in text


def test_terminal_implicit_tls_and_imap_logindisabled() -> None:
    imaps = observed_tls(
        (LEAF,),
        endpoint=IMAPS,
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES128-GCM-SHA256",
        at=T0,
        duration_s=0.2,
        dialogue=dialogue_of("* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready"),
    )
    imap = observed(
        endpoint_for(Service.IMAP, host="imap.example.test", ip="192.0.2.11"),
        at=T0,
        duration_s=0.2,
        dialogue=dialogue_of(
            "* OK ready",
            before=("* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED", "a1 OK done"),
        ),
    )
    text = _render(_report((imaps, imap)), verbose=True)
    assert "TLS before login: yes (implicit TLS: encrypted from the first byte)" in text
    assert "TLS before login: yes: no password login is offered before TLS" in text
    # STARTTLS line only for STARTTLS services.
    assert text.count("STARTTLS offered:") == 1


def test_terminal_expired_certificate_and_unreadable_chain() -> None:
    old = _cert("old.example.test", not_after=datetime(2026, 1, 1, tzinfo=UTC))
    text = _render(_report((_submission(chain=(old, b"garbage")),)), verbose=True)
    assert "expires:        2026-01-01 00:00 UTC (expired 59 days ago)" in text
    assert "Chain [1]:        unreadable (" in text
    assert "), 7 bytes" in text


def test_terminal_verbose_shows_capabilities_chain_and_evidence() -> None:
    text = _render(_report((_submission(),), (PLAINTEXT,)), verbose=True)
    assert "Before TLS:       250-mail.example.test\n" in text
    assert "                  250 AUTH PLAIN LOGIN\n" in text
    assert "STARTTLS reply:   220 2.0.0 Ready to start TLS" in text
    assert "After TLS:        250-mail.example.test\n" in text
    assert "250 AUTH PLAIN LOGIN XOAUTH2" in text
    assert "Chain [1]:        CN=Example Issuing CA" in text
    assert "key:            RSA 2048" in text
    assert "evidence: 250 AUTH PLAIN LOGIN" in text
    assert "see: RFC 8314" in text
    plain = _render(_report((_submission(),), (PLAINTEXT,)))
    assert "Before TLS:" not in plain
    assert "Chain [1]" not in plain
    assert "issuer:         CN=Example Issuing CA (2 sent)" in plain


def test_terminal_colours_severity_badges() -> None:
    text = _render(_report((_submission(),), (PLAINTEXT,)), color=True)
    assert "\x1b[" in text  # colours are on
    assert " HIGH " in _visible(text)


# --- escaping ----------------------------------------------------------------------------------

HOSTILE_GREETING = "220 [bold red]pwned[/bold red] \x1b[2J\x1b]0;title\x07 \u202eevil"
HOSTILE_CN = "[blink]mail[/blink] \x1b[31mred"
HOSTILE_SAN = "[link=https://evil.test]click[/link]\x1b]8;;\x07"


def _hostile_report() -> ScanReport:
    der = _cert(HOSTILE_CN, names=(HOSTILE_SAN,))
    obs = observed_tls(
        (der,),
        endpoint=SUB,
        version="TLSv1.3\x1b[8m",
        cipher="[b]X[/b]",
        sni=None,
        at=T0,
        dialogue=dialogue_of(
            HOSTILE_GREETING,
            before=("250-x", "250 STARTTLS \x1b[5m[red]"),
            starttls=("220 [i]go\x1b[0m",),
            after=("250 AUTH PLAIN\x1b[1A",),
        ),
    )
    finding = Finding(
        id="cert.bad-name",
        severity=Severity.CRITICAL,
        title="Name mismatch",
        detail=f"The certificate is for {HOSTILE_CN}",
        remediation="Fix [green]it[/green]",
        endpoint=SUB,
        evidence=(HOSTILE_SAN,),
    )
    failure_obs = observed_failure(
        FailureKind.NOT_PROTOCOL,
        endpoint=POP,
        stage=Stage.GREETING,
        detail="got [bold]HTTP/1.1\x1b[2J",
        at=T0,
    )
    return _report((obs, failure_obs), (finding,))


@pytest.mark.parametrize("verbose", [False, True])
def test_server_data_is_inert_on_a_real_terminal(verbose: bool) -> None:
    text = _render(_hostile_report(), verbose=verbose, color=True)
    # The only escape sequences left are rich's own SGR colour codes: no cursor movement,
    # screen clearing, OSC titles or blinking from the server's bytes.
    leftover = _SGR.sub("", text)
    assert "\x1b" not in leftover
    assert "\x07" not in text
    assert "\x9b" not in text
    assert "\u202e" not in text
    visible = _visible(text)
    # Markup is shown literally, and controls as visible escapes.
    assert "CN=[blink]mail[/blink] \\x1b[31mred" in visible
    assert "The certificate is for [blink]mail[/blink] \\x1b[31mred" in visible
    assert "Fix: Fix [green]it[/green]" in visible
    assert "got [bold]HTTP/1.1\\x1b[2J" in visible
    assert "TLSv1.3\\x1b[8m" in visible
    if verbose:
        assert "220 [bold red]pwned[/bold red] \\x1b[2J\\x1b]0;title\\x07 \\u202eevil" in visible
        assert "TLSv1.3\\x1b[8m, [b]X[/b]" in visible
        assert "DNS:[link=https://evil.test]click[/link]\\x1b]8;;\\x07" in visible
        assert "250 STARTTLS \\x1b[5m[red]" in visible
        assert "220 [i]go\\x1b[0m" in visible
        assert "250 AUTH PLAIN\\x1b[1A" in visible
        assert "evidence: [link=https://evil.test]click[/link]\\x1b]8;;\\x07" in visible


def test_hostile_markup_does_not_style_the_output() -> None:
    # Had "[bold red]" been parsed as markup, rich would emit bold red SGR (1;31) for "pwned".
    out = _render(_hostile_report(), color=True, verbose=True)
    line = next(ln for ln in out.splitlines() if "pwned" in ln)
    assert "\x1b[1;31m" not in line
    assert "[bold red]pwned" in _visible(line)
    # No OSC 8 hyperlink from "[link=...]" markup.
    assert "\x1b]8;" not in out


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_every_json_field_is_documented() -> None:
    from pathlib import Path

    doc_path = Path(__file__).resolve().parents[2] / "docs" / "json-schema.md"
    documented = set(re.findall(r"^\| `([a-z_0-9]+)`", doc_path.read_text(), re.MULTILINE))
    documented |= {"host", "ip", "port", "service"}  # the grouped row of the finding table
    report = _report((_submission(chain=(LEAF, b"junk")), POP_TIMEOUT), (PLAINTEXT, EXPIRING))
    emitted = _keys(report_to_json(report)) - {"critical", "high", "medium", "low", "info"}
    assert emitted <= documented, sorted(emitted - documented)
    assert f"`{JSON_SCHEMA}`" in doc_path.read_text()
