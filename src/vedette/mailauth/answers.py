"""DNS answers as the mail-domain rules see them, and the one interface they read DNS through.

A :class:`DnsAnswer` is what one question got: the records (dnspython rdata, the library of the
field), or a status that says plainly why there are none (NXDOMAIN, no data, a server failure,
a timeout...), and the DNSSEC standing of the answer (:class:`Security`). Rules never see a
dnspython exception: a lookup that fails is an answer with a status, so that "SPF include does
not resolve" and "the DNS server timed out" are told apart in the report.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    import dns.rdata


class DnsStatus(enum.StrEnum):
    """Why an answer has (or lacks) records."""

    OK = "ok"  # records present
    NODATA = "nodata"  # the name exists, no record of this type (RFC 2308)
    NXDOMAIN = "nxdomain"  # the name does not exist
    SERVFAIL = "servfail"  # the server failed (a validating resolver also says so for bogus data)
    REFUSED = "refused"
    TIMEOUT = "timeout"
    ERROR = "error"  # anything else: malformed answer, too large, CNAME loop...

    @property
    def is_failure(self) -> bool:
        """True when the answer says nothing about the records (the lookup itself failed)."""
        return self not in (DnsStatus.OK, DnsStatus.NODATA, DnsStatus.NXDOMAIN)


class Security(enum.StrEnum):
    """DNSSEC standing of an answer (RFC 4033 section 5)."""

    SECURE = "secure"  # validated from a trust anchor (or AD from a trusted validating resolver)
    INSECURE = "insecure"  # provably unsigned (no DS at a delegation), or AD not set
    BOGUS = "bogus"  # signed but the signatures or the chain do not validate
    UNKNOWN = "unknown"  # not checked (no trust anchor, no --trust-ad), or the walk failed


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    """One question's answer.

    Attributes:
        name: the name asked (lower case, no final dot).
        rdtype: the type asked (``"TXT"``, ``"MX"``...).
        status: see :class:`DnsStatus`.
        records: the rdata of the answer's final RRset (after CNAMEs), in the server's order.
        security: DNSSEC standing of this answer.
        cnames: the CNAME chain followed, as names (lower case, no final dot), first to last.
        detail: for failures, one line saying what happened (never raw server text).
    """

    name: str
    rdtype: str
    status: DnsStatus
    records: tuple[dns.rdata.Rdata, ...] = ()
    security: Security = Security.UNKNOWN
    cnames: tuple[str, ...] = ()
    detail: str = ""

    def texts(self) -> tuple[str, ...]:
        """TXT records, each as its character-strings joined (RFC 7208 3.3), decoded as
        ASCII with undecodable bytes replaced; ``()`` for other types."""
        out: list[str] = []
        for rd in self.records:
            strings: Sequence[bytes] | None = getattr(rd, "strings", None)
            if strings is not None:
                out.append(b"".join(strings).decode("ascii", errors="replace"))
        return tuple(out)


class Lookup(Protocol):
    """Where mail-domain rules read DNS. Implementations bound the time and size of each query
    and never raise for DNS failures: they return a :class:`DnsAnswer` with a status."""

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        """Ask ``rdtype`` for ``name`` (absolute or not; no search list is applied)."""
        ...
