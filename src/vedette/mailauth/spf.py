"""SPF (RFC 7208): the domain's record, its DNS-lookup cost, and check_host() per address.

Two passes over the record tree, both through vedette's :class:`Lookup`:

* a **walk** of the whole tree (every ``include`` and ``redirect`` followed), which lists the
  terms that cost a DNS lookup as RFC 7208 4.6.4 counts them (``include``, ``a``, ``mx``,
  ``ptr``, ``exists`` and ``redirect``; not ``ip4``/``ip6``/``all``/``exp``), the void lookups
  (a query those terms make that returns NXDOMAIN or no records), syntax errors, ``ptr``,
  includes that do not resolve, and ``+all``/``?all``/no ``all``. The walk counts the worst
  case: the path check_host() takes for an address that matches nothing, the path that decides
  whether mail from an unknown host is refused;
* **check_host()** by pyspf for each MX address and each sending address given: the result a
  receiver would compute (pass, fail, softfail, neutral, none, permerror, temperror).

Why pyspf rather than checkdmarc's SPF code: checkdmarc lints the record (it counts lookups)
but does not implement check_host(), so it cannot say whether an address passes, and it brings
dependencies vedette does not otherwise need. pyspf is a complete RFC 7208 check_host() (macros,
the lookup and void-lookup limits, CNAMEs), the implementation behind pyspf-milter and
postfix-policyd-spf-python, and it resolves through one module-global hook (``spf.DNSLookup``)
that vedette replaces (see :func:`_pyspf_lookup`).

pyspf is synchronous: it runs in a worker thread, and each of its DNS questions is sent to the
asyncio Lookup on the event loop (:class:`_Bridge`), bounded by the check's deadline. Outside a
check the hook refuses (a TempError), so pyspf can never reach the system resolver.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

import spf  # type: ignore[import-untyped]

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.mailauth.tags import findings_json, printable, status_words
from vedette.model import Severity

_T = TypeVar("_T")

MISSING = domain_check(
    "domain.spf-missing",
    "The domain publishes no SPF record",
    Severity.MEDIUM,
    'Publish one TXT record "v=spf1 ... -all" at the domain listing the hosts that send its '
    'mail (for a domain that sends no mail: "v=spf1 -all").',
    references=("RFC 7208 4.5",),
)
DUPLICATE = domain_check(
    "domain.spf-duplicate",
    "More than one SPF record: receivers treat SPF as broken (permerror)",
    Severity.HIGH,
    "Merge the SPF records into one TXT record starting with v=spf1.",
    references=("RFC 7208 4.5",),
)
SYNTAX = domain_check(
    "domain.spf-syntax",
    "The SPF record has a syntax error: receivers treat SPF as broken (permerror)",
    Severity.HIGH,
    "Correct the term named in the detail (RFC 7208 section 12 gives the grammar).",
    references=("RFC 7208 4.6", "RFC 7208 12"),
)
PLUS_ALL = domain_check(
    "domain.spf-plus-all",
    "SPF ends in +all: every host on the internet may send as this domain",
    Severity.CRITICAL,
    "Replace +all with -all (or ~all while you check that all senders are listed).",
    references=("RFC 7208 5.1",),
)
NEUTRAL_ALL = domain_check(
    "domain.spf-neutral-all",
    "SPF ends in ?all: the record says nothing about hosts it does not list",
    Severity.MEDIUM,
    "End the record with -all (or ~all) once every sending host is listed.",
    references=("RFC 7208 5.1", "RFC 7208 8.2"),
)
NO_ALL = domain_check(
    "domain.spf-no-all",
    "SPF has no all and no redirect: unlisted hosts get neutral",
    Severity.LOW,
    "End the record with -all (or ~all).",
    references=("RFC 7208 4.7",),
)
AFTER_ALL = domain_check(
    "domain.spf-terms-after-all",
    "SPF has terms after all: receivers never evaluate them",
    Severity.LOW,
    "Move the terms before all (all must be the last mechanism).",
    references=("RFC 7208 5.1",),
)
TOO_MANY_LOOKUPS = domain_check(
    "domain.spf-too-many-lookups",
    "SPF needs more than 10 DNS lookups: receivers stop with permerror",
    Severity.HIGH,
    "Remove includes you no longer use, replace a and mx terms by ip4/ip6 ranges, or split "
    "senders onto subdomains, until the tree needs at most 10 lookups.",
    references=("RFC 7208 4.6.4",),
)
TOO_MANY_VOID = domain_check(
    "domain.spf-too-many-void-lookups",
    "SPF has more than 2 lookups that find nothing: receivers stop with permerror",
    Severity.HIGH,
    "Remove the terms that point at names without records (listed in the detail).",
    references=("RFC 7208 4.6.4",),
)
VOID_LOOKUP = domain_check(
    "domain.spf-void-lookup",
    "An SPF term points at a name that has no records",
    Severity.LOW,
    "Remove the term or publish the records it expects.",
    references=("RFC 7208 4.6.4",),
)
INCLUDE_BROKEN = domain_check(
    "domain.spf-include-unresolved",
    "An SPF include or redirect points at a domain without a usable SPF record",
    Severity.HIGH,
    "Fix the name (a typo, a provider that moved its record) or remove the include.",
    references=("RFC 7208 5.2", "RFC 7208 6.1"),
)
INCLUDE_LOOP = domain_check(
    "domain.spf-include-loop",
    "SPF includes loop back on themselves",
    Severity.HIGH,
    "Remove the include that points back at a record already in the chain.",
    references=("RFC 7208 5.2",),
)
PTR = domain_check(
    "domain.spf-ptr",
    "SPF uses the ptr mechanism (slow, unreliable, and ignored by some receivers)",
    Severity.LOW,
    "Replace ptr by ip4/ip6 ranges or a/mx terms for the sending hosts.",
    references=("RFC 7208 5.5",),
)
TOO_MANY_MX = domain_check(
    "domain.spf-too-many-mx",
    "An SPF mx term names a domain with more than 10 MX hosts: receivers stop with permerror",
    Severity.HIGH,
    "Replace the mx term by ip4/ip6 ranges of the sending hosts.",
    references=("RFC 7208 4.6.4",),
)
LOOKUP_FAILED = domain_check(
    "domain.spf-dns-failure",
    "The SPF record could not be read (DNS failure): receivers answer temperror",
    Severity.MEDIUM,
    "Check the authoritative servers of the name in the detail: they must answer TXT queries.",
    references=("RFC 7208 4.4",),
)
SENDER_FAILS = domain_check(
    "domain.spf-sender-not-allowed",
    "A sending address you gave does not pass SPF",
    Severity.HIGH,
    "Add the address (ip4:/ip6:) or its provider's include to the SPF record.",
    references=("RFC 7208 2.6",),
)
MX_FAILS = domain_check(
    "domain.spf-mx-not-allowed",
    "An MX address does not pass SPF (mail it sends as the domain will fail SPF)",
    Severity.INFO,
    "If this MX also sends the domain's mail, add 'mx' or its ip4:/ip6: range to the record.",
    references=("RFC 7208 5.4",),
)

#: RFC 7208 4.6.4: at most 10 terms that cause DNS queries, at most 2 void lookups.
MAX_LOOKUPS = 10
MAX_VOID = 2
MAX_MX_NAMES = 10
#: The walk stops following the tree after this many DNS-costing terms (a hostile tree must
#: not make vedette ask thousands of questions); the count then says "more than".
WALK_LIMIT = 60
WALK_DEPTH = 20

_DNS_TERMS = ("include", "a", "mx", "ptr", "exists")


@dataclass(frozen=True, slots=True)
class SpfTerm:
    """One term of the tree that costs a DNS lookup (RFC 7208 4.6.4).

    ``record``: the domain whose record holds the term; ``kind``: include, a, mx, ptr, exists or
    redirect; ``target``: the name it queries (empty when it depends on the sender: macros,
    ptr); ``void``: the query found nothing (NXDOMAIN or no records); ``status``: that query's
    DNS status (``""`` when not queried)."""

    record: str
    term: str
    kind: str
    target: str
    void: bool = False
    status: str = ""

    def to_json(self) -> dict[str, object]:
        return {
            "record": self.record,
            "term": self.term,
            "kind": self.kind,
            "target": self.target,
            "void": self.void,
            "status": self.status,
        }


@dataclass(frozen=True, slots=True)
class SpfVerdict:
    """check_host() for one address: ``source`` is ``"mx"`` (with ``host``) or ``"sender"``."""

    address: str
    source: str
    host: str
    result: str
    explanation: str

    def to_json(self) -> dict[str, object]:
        return {
            "address": self.address,
            "source": self.source,
            "host": self.host,
            "result": self.result,
            "explanation": self.explanation,
        }


@dataclass(frozen=True, slots=True)
class SpfResult:
    """What the SPF check found for one domain.

    ``records``: every TXT record at the domain starting with ``v=spf1`` (0: none, 2+:
    permerror); ``lookups``: the terms that cost a DNS lookup over the whole tree
    (``lookup_count`` = their number, ``truncated`` when the walk stopped at
    :data:`WALK_LIMIT`); ``void_lookups``: how many found nothing; ``verdicts``: check_host()
    per address; ``asked``: every DNS question the check sent (all through the Lookup)."""

    domain: str
    records: tuple[str, ...]
    lookups: tuple[SpfTerm, ...]
    void_lookups: int
    truncated: bool
    all_qualifier: str
    verdicts: tuple[SpfVerdict, ...]
    findings: tuple[DomainFinding, ...]
    asked: tuple[tuple[str, str], ...] = field(default=(), repr=False)

    @property
    def record(self) -> str | None:
        """The one record, when there is exactly one."""
        return self.records[0] if len(self.records) == 1 else None

    @property
    def lookup_count(self) -> int:
        return len(self.lookups)

    def to_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "records": list(self.records),
            "lookup_count": self.lookup_count,
            "lookup_count_truncated": self.truncated,
            "lookups": [t.to_json() for t in self.lookups],
            "void_lookups": self.void_lookups,
            "all": self.all_qualifier,
            "verdicts": [v.to_json() for v in self.verdicts],
            "findings": findings_json(self.findings),
        }


# --- the bridge between pyspf (a worker thread) and the asyncio Lookup -------------------------


class _Bridge:
    """Sends a worker thread's DNS questions to the Lookup on the event loop."""

    def __init__(self, lookup: Lookup, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        self.lookup = lookup
        self.loop = loop
        self.deadline = deadline
        self.asked: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def ask(self, name: str, rdtype: str) -> DnsAnswer:
        name = name.lower().rstrip(".")
        with self._lock:
            self.asked.append((name, rdtype))
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return DnsAnswer(
                name, rdtype, DnsStatus.TIMEOUT, detail="the SPF check ran out of time"
            )
        future = asyncio.run_coroutine_threadsafe(self.lookup.query(name, rdtype), self.loop)
        try:
            return future.result(timeout=remaining)
        except concurrent.futures.TimeoutError:
            future.cancel()
            return DnsAnswer(
                name, rdtype, DnsStatus.TIMEOUT, detail="the SPF check ran out of time"
            )
        except Exception as exc:  # a Lookup must not raise; if one does, it is a DNS error here
            return DnsAnswer(name, rdtype, DnsStatus.ERROR, detail=f"lookup failed: {exc}")


_current = threading.local()


def _pyspf_lookup(
    name: str, qtype: str, tcpfallback: object = True, timeout: object = None
) -> list[tuple[tuple[str, str], object]]:
    """pyspf's DNS hook (``spf.DNSLookup``): answers from the Lookup of the running check, in
    pyspf's own format (what its dnspython driver returns); refuses outside a check."""
    bridge: _Bridge | None = getattr(_current, "bridge", None)
    if bridge is None:
        raise spf.TempError("DNS: vedette gives pyspf no resolver outside check_spf")
    answer = bridge.ask(str(name), str(qtype))
    if answer.status.is_failure:
        raise spf.TempError(f"DNS {answer.detail or answer.status.value}")
    key = (answer.name, str(qtype))
    out: list[tuple[tuple[str, str], object]] = []
    for rd in answer.records:
        value: object
        if qtype in ("A", "AAAA"):
            value = rd.address  # type: ignore[attr-defined]
        elif qtype == "MX":
            value = (rd.preference, rd.exchange.to_text(omit_final_dot=True))  # type: ignore[attr-defined]
        elif qtype == "PTR":
            value = rd.target.to_text(omit_final_dot=True)  # type: ignore[attr-defined]
        elif qtype in ("TXT", "SPF"):
            value = tuple(rd.strings)  # type: ignore[attr-defined]
        else:
            continue
        out.append((key, value))
    return out


spf.DNSLookup = _pyspf_lookup


def _in_thread(bridge: _Bridge, work: Callable[[], _T]) -> _T:
    _current.bridge = bridge
    try:
        return work()
    finally:
        _current.bridge = None


# --- the walk ---------------------------------------------------------------------------------


def spf_records(texts: Iterable[str]) -> tuple[str, ...]:
    """The TXT strings that are SPF records: ``v=spf1`` alone or followed by a space."""
    return tuple(t for t in texts if t.lower() == "v=spf1" or t.lower().startswith("v=spf1 "))


@dataclass
class _Walk:
    domain: str
    ask: Callable[[str, str], DnsAnswer]
    terms: list[SpfTerm] = field(default_factory=list)
    findings: list[DomainFinding] = field(default_factory=list)
    truncated: bool = False
    all_qualifier: str = ""

    def record_at(self, name: str, answer: DnsAnswer, via: str, parent: str) -> str | None:
        """The one SPF record in ``answer`` (the TXT of an include or redirect target), or None
        (with a finding)."""
        if answer.status.is_failure:
            self.findings.append(
                INCLUDE_BROKEN.hit(
                    parent,
                    f"{via}: the TXT lookup failed ({status_words(answer)}); receivers answer "
                    "temperror",
                    severity=Severity.MEDIUM,
                )
            )
            return None
        records = spf_records(answer.texts())
        if not records:
            why = status_words(answer) if not answer.records else f"{name} has no SPF record"
            self.findings.append(INCLUDE_BROKEN.hit(parent, f"{via}: {why}"))
            return None
        if len(records) > 1:
            self.findings.append(
                DUPLICATE.hit(name, f"{via}: {len(records)} SPF records", evidence=records)
            )
            return None
        return records[0]

    def walk(self, name: str, record: str, chain: tuple[str, ...], top: bool) -> None:
        if len(chain) > WALK_DEPTH:
            self.truncated = True
            return
        query = spf.query(i="192.0.2.1", s=f"postmaster@{name}", h=name, strict=True)
        query.d = name
        words = [w for w in record.split(" ")[1:] if w]
        mechanisms: list[tuple[str, str, str]] = []  # (raw term, kind, target)
        redirect: str | None = None
        has_all = False
        ignored: list[str] = []
        for word in words:
            modifier = spf.RE_MODIFIER.split(word)[1:]
            if len(modifier) == 2:
                mod = modifier[0].lower()
                if mod == "redirect":
                    if redirect is not None:
                        self._syntax(name, word, "redirect= appears more than once")
                        continue
                    redirect = modifier[1]
                    if not redirect.strip():
                        self._syntax(name, word, "redirect= has no domain")
                        redirect = None
                continue
            try:
                raw, kind, target, _cidr, qualifier = query.validate_mechanism(word)
            except (spf.PermError, spf.TempError) as exc:
                self._syntax(name, word, str(exc))
                continue
            except Exception as exc:  # pyspf has rough edges on odd input: still a syntax error
                self._syntax(name, word, f"not understood ({type(exc).__name__})")
                continue
            if has_all:  # RFC 7208 5.1: nothing after all is evaluated (or costs a lookup)
                ignored.append(word)
                continue
            if kind == "all":
                has_all = True
                if top:
                    self.all_qualifier = {"pass": "+", "fail": "-", "softfail": "~"}.get(
                        qualifier, "?"
                    )
                if qualifier == "pass":
                    self.findings.append(
                        PLUS_ALL.hit(
                            name,
                            f"'{printable(word)}' in the record of {name}"
                            + ("" if top else f" (reached through {' -> '.join(chain)})"),
                            evidence=(record,),
                        )
                    )
            if kind in _DNS_TERMS:
                mechanisms.append((raw, kind, target if "%" not in word else ""))
        if ignored:
            self.findings.append(
                AFTER_ALL.hit(
                    name, f"after all in the record of {name}: {printable(' '.join(ignored))}"
                )
            )
        if top and not has_all:
            self.all_qualifier = ""
            if redirect is None:
                self.findings.append(NO_ALL.hit(name, "the record has neither all nor redirect"))
        if top and self.all_qualifier == "?":
            self.findings.append(
                NEUTRAL_ALL.hit(name, "the record ends in ?all", evidence=(record,))
            )
        for raw, kind, target in mechanisms:
            answer = self._cost(name, raw, kind, target)
            if answer is None:
                return
            if kind == "include" and target:
                if target in chain:
                    self.findings.append(
                        INCLUDE_LOOP.hit(name, f"include:{target} in {' -> '.join(chain)}")
                    )
                    continue
                sub = self.record_at(
                    target, answer, f"include:{target} in the record of {name}", name
                )
                if sub is not None:
                    self.walk(target, sub, (*chain, target), top=False)
        if redirect is not None and not has_all:
            # RFC 7208 6.1: redirect is used only when no mechanism matched and there is no all.
            target = redirect.lower().rstrip(".") if "%" not in redirect else ""
            answer = self._cost(name, f"redirect={redirect}", "redirect", target)
            if answer is None or not target:
                return
            if target in chain:
                self.findings.append(
                    INCLUDE_LOOP.hit(name, f"redirect={target} in {' -> '.join(chain)}")
                )
                return
            sub = self.record_at(target, answer, f"redirect={target} in the record of {name}", name)
            if sub is not None:
                self.walk(target, sub, (*chain, target), top=top)

    def _syntax(self, name: str, word: str, why: str) -> None:
        self.findings.append(
            SYNTAX.hit(name, f"'{printable(word)}' in the record of {name}: {printable(why)}")
        )

    def _cost(self, name: str, raw: str, kind: str, target: str) -> DnsAnswer | None:
        """Count one DNS-costing term and ask what it asks; its answer (an empty one when it
        depends on the sender), or None when the walk stops."""
        if len(self.terms) >= WALK_LIMIT:
            self.truncated = True
            return None
        if kind == "ptr":
            self.findings.append(PTR.hit(name, f"'{printable(raw)}' in the record of {name}"))
        if kind == "ptr" or not target:  # depends on the sender (ptr, macros): not followed
            self.terms.append(SpfTerm(name, raw, kind, ""))
            return DnsAnswer(target, "", DnsStatus.NODATA)
        rdtype = {"include": "TXT", "redirect": "TXT", "mx": "MX"}.get(kind, "A")
        answer = self.ask(target, rdtype)
        if kind == "a" and answer.status is DnsStatus.NODATA:
            # An IPv6-only host: the A query of an IPv4 sender is void, the AAAA query of an
            # IPv6 sender is not. The walk calls the term void only when both are.
            answer = self.ask(target, "AAAA")
        void = answer.status in (DnsStatus.NXDOMAIN, DnsStatus.NODATA)
        self.terms.append(SpfTerm(name, raw, kind, target, void, answer.status.value))
        if void and kind not in ("include", "redirect"):
            self.findings.append(
                VOID_LOOKUP.hit(name, f"'{printable(raw)}': {status_words(answer)}")
            )
        if kind == "mx" and len(answer.records) > MAX_MX_NAMES:
            self.findings.append(
                TOO_MANY_MX.hit(name, f"'{printable(raw)}': {len(answer.records)} MX hosts")
            )
        return answer


# --- the entry point --------------------------------------------------------------------------


def _addresses(
    mx_addresses: Iterable[str] | Mapping[str, Iterable[str]],
) -> list[tuple[str, str]]:
    if isinstance(mx_addresses, Mapping):
        return [(str(a), str(host)) for host, addrs in mx_addresses.items() for a in addrs]
    return [(str(a), "") for a in mx_addresses]


async def check_spf(
    lookup: Lookup,
    domain: str,
    *,
    sending_ips: Iterable[str] = (),
    mx_addresses: Iterable[str] | Mapping[str, Iterable[str]] = (),
    timeout: float = 20.0,
) -> SpfResult:
    """Check the SPF of ``domain``: the record, the lookup tree, check_host() per address.

    ``mx_addresses``: the MX addresses (a sequence, or a mapping MX host -> addresses);
    ``sending_ips``: addresses that send the domain's mail. ``timeout``: the whole check's
    deadline (RFC 7208 4.6.4 suggests 20 s for an evaluation); each question also has the
    Lookup's own deadline. Never raises for DNS or record problems.
    """
    domain = domain.lower().rstrip(".")
    loop = asyncio.get_running_loop()
    bridge = _Bridge(lookup, loop, time.monotonic() + timeout)
    findings: list[DomainFinding] = []

    top = await lookup.query(domain, "TXT")
    bridge.asked.append((domain, "TXT"))
    records = spf_records(top.texts())
    walk = _Walk(domain, bridge.ask)
    if top.status.is_failure:
        findings.append(LOOKUP_FAILED.hit(domain, status_words(top)))
    elif not records:
        findings.append(
            MISSING.hit(
                domain,
                status_words(top)
                if not top.records
                else f"{domain} has TXT records, none starting with v=spf1",
            )
        )
    elif len(records) > 1:
        findings.append(
            DUPLICATE.hit(domain, f"{len(records)} SPF records at {domain}", evidence=records)
        )
    else:
        record = records[0]

        def run_walk() -> None:
            walk.walk(domain, record, (domain,), top=True)

        await asyncio.to_thread(_in_thread, bridge, run_walk)
        findings.extend(walk.findings)
        count = len(walk.terms)
        if count > MAX_LOOKUPS:
            costly = ", ".join(f"{t.term} ({t.record})" for t in walk.terms)
            more = "more than " if walk.truncated else ""
            findings.append(
                TOO_MANY_LOOKUPS.hit(domain, f"{more}{count} lookups: {printable(costly, 2000)}")
            )
        voids = [t for t in walk.terms if t.void]
        if len(voids) > MAX_VOID:
            findings.append(
                TOO_MANY_VOID.hit(
                    domain,
                    f"{len(voids)} void lookups: "
                    + ", ".join(f"{t.term} ({t.record}: {t.status})" for t in voids),
                )
            )

    verdicts: list[SpfVerdict] = []
    wanted = [(ip, "sender", "") for ip in sending_ips] + [
        (ip, "mx", host) for ip, host in _addresses(mx_addresses)
    ]
    if wanted and not top.status.is_failure:
        checked = await asyncio.gather(
            *(asyncio.to_thread(_in_thread, bridge, _Evaluate(domain, ip)) for ip, _, _ in wanted)
        )
        for (ip, source, host), (result, explanation) in zip(wanted, checked, strict=True):
            verdict = SpfVerdict(ip, source, host, result, explanation)
            verdicts.append(verdict)
            if result == "pass":
                continue
            about = f"{ip}: {result}" + (f" ({explanation})" if explanation else "")
            if source == "sender":
                findings.append(SENDER_FAILS.hit(domain, about))
            else:
                findings.append(MX_FAILS.hit(host or domain, about))

    return SpfResult(
        domain=domain,
        records=records,
        lookups=tuple(walk.terms),
        void_lookups=sum(1 for t in walk.terms if t.void),
        truncated=walk.truncated,
        all_qualifier=walk.all_qualifier,
        verdicts=tuple(verdicts),
        findings=tuple(findings),
        asked=tuple(bridge.asked),
    )


class _Evaluate:
    """check_host() by pyspf for one address (run in a worker thread under the bridge)."""

    def __init__(self, domain: str, ip: str) -> None:
        self.domain = domain
        self.ip = ip

    def __call__(self) -> tuple[str, str]:
        try:
            ipaddress.ip_address(self.ip)
        except ValueError:
            return "invalid", f"{printable(self.ip)} is not an IP address"
        try:
            query = spf.query(i=self.ip, s=f"postmaster@{self.domain}", h=self.domain, strict=True)
            result, _code, explanation = query.check()
        except Exception as exc:  # pyspf raising past check() is a bug there: say so, go on
            return "permerror", f"pyspf failed: {type(exc).__name__}"
        return str(result), str(explanation)
