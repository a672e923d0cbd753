"""SMTP TLS Reporting (RFC 8460): the ``_smtp._tls`` TXT record and its report destinations.

A sending MTA that applies MTA-STS or DANE reports TLS failures to the addresses this record
names (``rua=mailto:...`` or ``rua=https://...``), so that a broken certificate on an MX is
noticed before mail is lost. RFC 8460 3: records not starting with ``v=TLSRPTv1`` are ignored;
if the number left is not one, senders act as if there were none.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass

from vedette.mailauth.answers import Lookup
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.mailauth.tags import findings_json, parse_tag_list, printable, status_words
from vedette.model import Severity

_REF = ("RFC 8460 3",)
MISSING = domain_check(
    "domain.tlsrpt-missing",
    "No TLS-RPT record: senders cannot tell you when TLS to your MX fails",
    Severity.LOW,
    'Publish TXT at _smtp._tls.DOMAIN: "v=TLSRPTv1; rua=mailto:tls-reports@DOMAIN".',
    references=_REF,
)
DUPLICATE = domain_check(
    "domain.tlsrpt-duplicate",
    "More than one TLS-RPT record: senders ignore them all",
    Severity.MEDIUM,
    "Keep one TXT record starting with v=TLSRPTv1 (list several destinations in its rua=).",
    references=_REF,
)
SYNTAX = domain_check(
    "domain.tlsrpt-syntax",
    "The TLS-RPT record has a syntax error: senders ignore it",
    Severity.MEDIUM,
    'Write it as "v=TLSRPTv1; rua=URI[,URI]" (RFC 8460 3).',
    references=_REF,
)
BAD_URI = domain_check(
    "domain.tlsrpt-bad-destination",
    "A TLS-RPT destination is not a mailto: address or an https: URL",
    Severity.MEDIUM,
    "Use rua=mailto:user@host or rua=https://host/path (plain http is not allowed).",
    references=_REF,
)
LOOKUP_FAILED = domain_check(
    "domain.tlsrpt-dns-failure",
    "The TLS-RPT record could not be read (DNS failure)",
    Severity.LOW,
    "Check the authoritative servers of the name in the detail: they must answer TXT queries.",
    references=_REF,
)

_V = re.compile(r"v=TLSRPTv1\s*(;|\Z)")
_MAILBOX = re.compile(r"[^@\s]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9-]+)+\Z")


@dataclass(frozen=True, slots=True)
class TlsRptResult:
    """TLS-RPT for one domain: ``record`` (the single one, or None), ``destinations`` (the
    URIs that are usable)."""

    domain: str
    record: str | None
    destinations: tuple[str, ...]
    findings: tuple[DomainFinding, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "record": self.record,
            "destinations": list(self.destinations),
            "findings": findings_json(self.findings),
        }


def destination_problem(uri: str) -> str | None:
    """Why ``uri`` is not a TLS-RPT destination (RFC 8460 3), or None when it is one."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return "not a URI"
    scheme = parts.scheme.lower()
    if scheme == "mailto":
        return None if _MAILBOX.match(urllib.parse.unquote(parts.path)) else "not user@host"
    if scheme == "https":
        return None if parts.hostname else "no host"
    if scheme == "http":
        return "plain http (reports must go over https)"
    return f"scheme {printable(scheme, 20)!r} (only mailto: and https: are defined)"


def parse_tlsrpt(record: str, subject: str) -> tuple[tuple[str, ...], list[DomainFinding]]:
    """The usable destinations of one record, and what is wrong with it (pure)."""
    findings: list[DomainFinding] = []
    parsed = parse_tag_list(record)
    for error in parsed.errors:
        findings.append(SYNTAX.hit(subject, error, evidence=(record,)))
    if parsed.tags.get("v") != "TLSRPTv1":
        findings.append(SYNTAX.hit(subject, "the record does not start with v=TLSRPTv1"))
    rua = parsed.tags.get("rua")
    if rua is None:
        findings.append(SYNTAX.hit(subject, "no rua= tag: no destination for reports"))
        return (), findings
    good: list[str] = []
    for part in rua.split(","):
        uri = part.strip()
        problem = destination_problem(uri) if uri else "empty destination"
        if problem is None:
            good.append(uri)
        else:
            findings.append(BAD_URI.hit(subject, f"'{printable(uri, 80)}': {problem}"))
    return tuple(good), findings


async def check_tlsrpt(lookup: Lookup, domain: str) -> TlsRptResult:
    """Read and check ``_smtp._tls.<domain>``."""
    domain = domain.lower().rstrip(".")
    name = f"_smtp._tls.{domain}"
    answer = await lookup.query(name, "TXT")
    if answer.status.is_failure:
        return TlsRptResult(domain, None, (), (LOOKUP_FAILED.hit(name, status_words(answer)),))
    records = tuple(t for t in answer.texts() if _V.match(t))
    if not records:
        why = status_words(answer) if not answer.records else "no record starts with v=TLSRPTv1"
        return TlsRptResult(domain, None, (), (MISSING.hit(domain, why),))
    if len(records) > 1:
        finding = DUPLICATE.hit(name, f"{len(records)} records", evidence=records)
        return TlsRptResult(domain, None, (), (finding,))
    destinations, findings = parse_tlsrpt(records[0], name)
    return TlsRptResult(domain, records[0], destinations, tuple(findings))
