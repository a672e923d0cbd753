"""What the DNS-record rules (DKIM, DMARC, TLS-RPT, BIMI) share: tag=value lists and JSON.

DKIM key records (RFC 6376 3.2), DMARC (RFC 9989 4.7), TLS-RPT (RFC 8460 3) and BIMI records
are all ``tag=value`` lists separated by ``;``. :func:`parse_tag_list` splits one without
raising: it returns the tags and the syntax problems it saw, in plain words, so that each rule
reports a broken record as a finding rather than failing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vedette.mailauth.answers import DnsAnswer, DnsStatus
from vedette.mailauth.registry import DomainFinding

_TAG_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
#: Longest record text a rule reads (a DNS TXT RRset can hold 64 KiB; none of these needs it).
MAX_RECORD = 16_384


@dataclass(frozen=True, slots=True)
class TagList:
    """A parsed tag list: tags in order (first occurrence wins), and problems seen."""

    tags: Mapping[str, str]
    errors: tuple[str, ...]


def parse_tag_list(text: str) -> TagList:
    """Split ``tag=value; tag=value`` (RFC 6376 3.2). Tag names are case-sensitive there but
    lower-cased here (DMARC and BIMI say they are case-insensitive; DKIM names are lower case
    in practice); values are stripped of surrounding whitespace. Never raises."""
    tags: dict[str, str] = {}
    errors: list[str] = []
    if len(text) > MAX_RECORD:
        return TagList({}, (f"record is {len(text)} characters long (limit {MAX_RECORD})",))
    parts = text.split(";")
    if parts and parts[-1].strip() == "":
        parts = parts[:-1]  # a final ';' is allowed
    for part in parts:
        if not part.strip():
            errors.append("empty tag (two ';' in a row)")
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep:
            errors.append(f"'{_short(part.strip())}' is not tag=value")
            continue
        if not _TAG_NAME.match(name):
            errors.append(f"'{_short(name)}' is not a valid tag name")
            continue
        key = name.lower()
        if key in tags:
            errors.append(f"tag '{key}' appears twice")
            continue
        tags[key] = value.strip()
    return TagList(tags, tuple(errors))


def _short(text: str, limit: int = 40) -> str:
    text = "".join(c if c.isprintable() else "?" for c in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def printable(text: str, limit: int = 200) -> str:
    """``text`` with control characters replaced and cut to ``limit`` characters."""
    return _short(text, limit)


def records_with_prefix(answer: DnsAnswer, prefix: str) -> tuple[str, ...]:
    """The TXT strings of ``answer`` that start with ``prefix`` (case-insensitive), as a
    record-discovery step does (DMARC, TLS-RPT, BIMI: other TXT records are ignored)."""
    low = prefix.lower()
    return tuple(t for t in answer.texts() if t.lower().startswith(low))


def lookup_failed(answer: DnsAnswer) -> bool:
    """True when the answer says nothing about the records (SERVFAIL, timeout...)."""
    return answer.status.is_failure


def status_words(answer: DnsAnswer) -> str:
    """How an answer without records reads in a finding."""
    if answer.status is DnsStatus.NXDOMAIN:
        return f"{answer.name} does not exist (NXDOMAIN)"
    if answer.status is DnsStatus.NODATA:
        return f"{answer.name} has no {answer.rdtype} record"
    return answer.detail or f"{answer.name} {answer.rdtype}: {answer.status.value}"


def findings_json(findings: Sequence[DomainFinding]) -> list[dict[str, object]]:
    return [f.to_json() for f in findings]
