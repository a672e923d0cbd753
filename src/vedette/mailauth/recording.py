"""DNS answers kept as observations: record them during a check, replay them later.

vedette stores what it observed and recomputes findings (DESIGN.md "What lasts is stored"). For
a mail domain, what was observed is the DNS answers every rule read. :class:`RecordingLookup`
wraps the real client and keeps each answer; :func:`answers_to_json` /
:func:`answers_from_json` turn them into plain JSON and back (records in presentation format,
which dnspython parses again); :class:`ReplayLookup` answers from that list, so the rules run
again over a stored domain check, under a newer vedette, without sending a packet. A question
the stored check never asked is answered ``error`` ("not recorded"), never sent.

The JSON is bounded when read back: at most :data:`MAX_ANSWERS` answers and
:data:`MAX_RECORDS` records an answer; anything malformed is a :class:`ValueError` with one line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup, Security

#: Most answers one stored domain check may hold (a 30-include SPF tree, 20 DKIM selectors
#: and every MX's TLSA records stay far below).
MAX_ANSWERS = 2000
#: Most records one stored answer may hold.
MAX_RECORDS = 500


def _key(name: str, rdtype: str) -> tuple[str, str]:
    return name.lower().rstrip("."), rdtype.upper()


class RecordingLookup:
    """A :class:`Lookup` that keeps every answer the wrapped lookup gave, first ask first."""

    def __init__(self, inner: Lookup) -> None:
        self._inner = inner
        self._answers: dict[tuple[str, str], DnsAnswer] = {}

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        answer = await self._inner.query(name, rdtype)
        self._answers.setdefault(_key(name, rdtype), answer)
        return answer

    @property
    def answers(self) -> tuple[DnsAnswer, ...]:
        return tuple(self._answers.values())


class ReplayLookup:
    """A :class:`Lookup` over recorded answers; never sends a query."""

    def __init__(self, answers: Iterable[DnsAnswer]) -> None:
        self._answers = {_key(a.name, a.rdtype): a for a in answers}
        self.missing: list[tuple[str, str]] = []

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        key = _key(name, rdtype)
        found = self._answers.get(key)
        if found is None:
            self.missing.append(key)
            return DnsAnswer(
                key[0], key[1], DnsStatus.ERROR, detail=f"{key[0]} {key[1]}: not recorded"
            )
        return found


def answers_to_json(answers: Sequence[DnsAnswer]) -> list[dict[str, Any]]:
    """Plain JSON: records in presentation format (TXT keeps its quoted strings)."""
    return [
        {
            "name": a.name,
            "type": a.rdtype,
            "status": a.status.value,
            "security": a.security.value,
            "records": [rd.to_text() for rd in a.records],
            "cnames": list(a.cnames),
            "detail": a.detail,
        }
        for a in answers
    ]


def answers_from_json(data: object) -> tuple[DnsAnswer, ...]:
    """The answers :func:`answers_to_json` wrote; ValueError on anything else."""
    import dns.exception
    import dns.rdata
    import dns.rdataclass
    import dns.rdatatype

    if not isinstance(data, list):
        raise ValueError("stored DNS answers: not a list")
    if len(data) > MAX_ANSWERS:
        raise ValueError(f"stored DNS answers: more than {MAX_ANSWERS}")
    out: list[DnsAnswer] = []
    for i, item in enumerate(data):
        where = f"stored DNS answer {i + 1}"
        if not isinstance(item, dict):
            raise ValueError(f"{where}: not an object")
        try:
            name, rdtype = item["name"], item["type"]
            status, security = DnsStatus(item["status"]), Security(item["security"])
            texts, cnames, detail = item["records"], item["cnames"], item["detail"]
        except (KeyError, ValueError, TypeError) as exc:
            raise ValueError(f"{where}: missing or bad field ({exc})") from None
        if not (isinstance(name, str) and isinstance(rdtype, str) and isinstance(detail, str)):
            raise ValueError(f"{where}: name, type and detail must be strings")
        if not isinstance(texts, list) or len(texts) > MAX_RECORDS:
            raise ValueError(f"{where}: records must be a list of at most {MAX_RECORDS}")
        if not isinstance(cnames, list) or not all(isinstance(c, str) for c in cnames):
            raise ValueError(f"{where}: cnames must be a list of names")
        try:
            kind = dns.rdatatype.from_text(rdtype)
            records = tuple(dns.rdata.from_text(dns.rdataclass.IN, kind, text) for text in texts)
        except (dns.exception.DNSException, ValueError, TypeError, AttributeError) as exc:
            raise ValueError(f"{where}: a record does not parse ({exc})") from None
        out.append(
            DnsAnswer(name, rdtype.upper(), status, records, security, tuple(cnames), detail)
        )
    return tuple(out)
