"""A fake :class:`vedette.mailauth.answers.Lookup` for unit tests of the mail-domain rules.

Built from master-file lines with absolute owner names::

    dns = FakeDns([
        'example.com. MX 10 mx1.example.com.',
        'example.com. TXT "v=spf1 mx -all"',
        'alias.example.com. CNAME example.com.',
    ], failures={("broken.example.com", "TXT"): DnsStatus.SERVFAIL}, secure={"example.com"})
    answer = await dns.query("example.com", "TXT")

Names are matched case-insensitively, without the final dot. A name that owns no record at all
is NXDOMAIN, one that owns records of other types is NODATA, CNAMEs are followed (a loop gives
ERROR). ``secure`` lists the names whose answers are SECURE (others are INSECURE), ``bogus``
the names whose answers are BOGUS. ``asked`` records every question, in order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import dns.rdata
import dns.rdataclass
import dns.rdatatype
import dns.tokenizer

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Security

MAX_CNAMES = 8


def _key(name: str) -> str:
    return name.lower().rstrip(".")


class FakeDns:
    def __init__(
        self,
        lines: Iterable[str],
        *,
        failures: Mapping[tuple[str, str], DnsStatus] | None = None,
        secure: Iterable[str] = (),
        bogus: Iterable[str] = (),
    ) -> None:
        self.records: dict[tuple[str, str], list[dns.rdata.Rdata]] = {}
        self.owners: set[str] = set()
        for line in lines:
            owner, rdtype, rest = line.split(None, 2)
            rd = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.from_text(rdtype), rest, origin=None
            )
            self.records.setdefault((_key(owner), rdtype.upper()), []).append(rd)
            self.owners.add(_key(owner))
        self.failures = {(_key(n), t.upper()): s for (n, t), s in (failures or {}).items()}
        self.secure = {_key(n) for n in secure}
        self.bogus = {_key(n) for n in bogus}
        self.asked: list[tuple[str, str]] = []

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        asked = _key(name)
        rdtype = rdtype.upper()
        self.asked.append((asked, rdtype))
        current, cnames = asked, []
        while True:
            if (current, rdtype) in self.failures:
                status = self.failures[(current, rdtype)]
                return DnsAnswer(asked, rdtype, status, cnames=tuple(cnames), detail=str(status))
            if current in self.bogus:
                return DnsAnswer(
                    asked,
                    rdtype,
                    DnsStatus.SERVFAIL,
                    security=Security.BOGUS,
                    cnames=tuple(cnames),
                    detail="DNSSEC validation failed",
                )
            security = Security.SECURE if current in self.secure else Security.INSECURE
            found = self.records.get((current, rdtype))
            if found:
                return DnsAnswer(asked, rdtype, DnsStatus.OK, tuple(found), security, tuple(cnames))
            alias = self.records.get((current, "CNAME"))
            if alias and rdtype != "CNAME":
                target = _key(alias[0].to_text())
                if target in cnames or len(cnames) >= MAX_CNAMES or target == asked:
                    return DnsAnswer(
                        asked,
                        rdtype,
                        DnsStatus.ERROR,
                        cnames=tuple(cnames),
                        detail="CNAME loop",
                    )
                cnames.append(target)
                current = target
                continue
            status = DnsStatus.NODATA if current in self.owners else DnsStatus.NXDOMAIN
            return DnsAnswer(asked, rdtype, status, (), security, tuple(cnames))
