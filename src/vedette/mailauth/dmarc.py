"""DMARC (RFC 9989, "DMARCbis"): the policy that applies to a domain, found by the DNS tree walk.

DMARCbis replaces RFC 7489's public suffix list with a walk up the DNS (RFC 9989 4.10): ask
``_dmarc.<domain>``, then at most 4 labels, then one label fewer at a time, stopping at a record
that carries ``psd=n`` (this is an organisational domain) or ``psd=y`` (a public suffix domain).
The first record found is the policy record (:func:`check_dmarc` asks the author domain first,
then walks); the organisational domain is the ``psd=n`` domain, the one below a ``psd=y`` one,
or else the highest domain with a record, or else the domain itself.

Reported: no record, duplicate records (all discarded), syntax, the policy that applies (``p``,
or ``sp``/``np`` for a subdomain inheriting its organisational domain's record), ``t=y``
(testing), ``pct``/``rf``/``ri`` (removed by RFC 9989), alignment modes, ``rua``/``ruf`` and
the authorisation that an external report destination must publish
(``<domain>._report._dmarc.<destination>`` TXT ``v=DMARC1``, RFC 9990 3/RFC 7489 7.1), and what
``p=reject`` does to forwarded and list mail.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.mailauth.tags import findings_json, parse_tag_list, printable, status_words
from vedette.model import Severity

_RFC = "RFC 9989"
MISSING = domain_check(
    "domain.dmarc-missing",
    "No DMARC record: receivers apply no policy to mail forged in this domain's name",
    Severity.HIGH,
    'Publish a TXT record at _dmarc.DOMAIN: "v=DMARC1; p=none; rua=mailto:ADDRESS" to '
    "collect reports, then move to p=quarantine and p=reject.",
    references=(f"{_RFC} 4.7",),
)
DUPLICATE = domain_check(
    "domain.dmarc-duplicate",
    "More than one DMARC record at one name: receivers discard them all",
    Severity.HIGH,
    "Keep exactly one TXT record starting with v=DMARC1 at the name.",
    references=(f"{_RFC} 4.10",),
)
SYNTAX = domain_check(
    "domain.dmarc-syntax",
    "The DMARC record has a syntax error",
    Severity.MEDIUM,
    "Correct the tag named in the detail (RFC 9989 4.7 lists the tags and their values).",
    references=(f"{_RFC} 4.7",),
)
POLICY_NONE = domain_check(
    "domain.dmarc-policy-none",
    "DMARC policy is none: forged mail is reported but still delivered",
    Severity.MEDIUM,
    "Once the reports show every legitimate sender aligned, move to p=quarantine, then p=reject.",
    references=(f"{_RFC} 4.7",),
)
NO_POLICY = domain_check(
    "domain.dmarc-no-policy",
    "The DMARC record has no valid p= tag: receivers treat it as p=none",
    Severity.MEDIUM,
    "Add p=none, p=quarantine or p=reject to the record.",
    references=(f"{_RFC} 4.7",),
)
TESTING = domain_check(
    "domain.dmarc-testing",
    "DMARC t=y (testing): receivers apply one step less than the policy says",
    Severity.LOW,
    "Remove t=y once the reports show no legitimate mail failing.",
    references=(f"{_RFC} 4.7",),
)
OBSOLETE = domain_check(
    "domain.dmarc-obsolete-tag",
    "The DMARC record uses a tag that RFC 9989 removed",
    Severity.LOW,
    "Remove the tag; for pct<100 use t=y while testing, and p=... when done.",
    references=(f"{_RFC} Appendix C",),
)
SUBDOMAIN_WEAKER = domain_check(
    "domain.dmarc-subdomain-weaker",
    "DMARC protects subdomains less than the domain (sp or np weaker than p)",
    Severity.LOW,
    "Set sp= (and np= for names that do not exist) to the same policy as p=, unless "
    "subdomains send mail that is not yet aligned.",
    references=(f"{_RFC} 4.7",),
)
NO_RUA = domain_check(
    "domain.dmarc-no-reports",
    "DMARC asks for no aggregate reports (no rua=)",
    Severity.LOW,
    "Add rua=mailto:ADDRESS so that you see who sends mail in your name.",
    references=("RFC 9990",),
)
BAD_URI = domain_check(
    "domain.dmarc-bad-report-uri",
    "A DMARC report address is not a usable mailto: URI",
    Severity.MEDIUM,
    "Write each destination as mailto:user@host, separated by commas.",
    references=(f"{_RFC} 4.7", "RFC 9990"),
)
EXTERNAL_UNAUTHORISED = domain_check(
    "domain.dmarc-external-destination-unauthorised",
    "An external DMARC report destination has not agreed to receive this domain's reports",
    Severity.MEDIUM,
    'Ask the destination\'s owner to publish TXT "v=DMARC1" at '
    "DOMAIN._report._dmarc.DESTINATION (or send reports to an address in your own domain).",
    references=("RFC 9990 3", "RFC 7489 7.1"),
)
FORWARDING = domain_check(
    "domain.dmarc-forwarding",
    "DMARC enforcement: forwarded and mailing-list mail can fail",
    Severity.INFO,
    "Nothing to fix in DNS: sign all mail with DKIM (a signature survives plain forwarding); "
    "list operators should rewrite From or ARC-seal, and receivers trust ARC from known "
    "forwarders.",
    references=(f"{_RFC} 7.4", "RFC 8617"),
)
LOOKUP_FAILED = domain_check(
    "domain.dmarc-dns-failure",
    "The DMARC record could not be read (DNS failure)",
    Severity.MEDIUM,
    "Check the authoritative servers of the name in the detail: they must answer TXT queries.",
    references=(f"{_RFC} 4.10",),
)

_POLICIES = ("none", "quarantine", "reject")
_V_FIRST = re.compile(r"v\s*=\s*DMARC1\s*(;|\Z)")
#: Tags RFC 9989 knows, with the values each accepts (None: free text checked elsewhere).
_VALUES: Mapping[str, tuple[str, ...] | None] = {
    "v": None,
    "p": _POLICIES,
    "sp": _POLICIES,
    "np": _POLICIES,
    "adkim": ("r", "s"),
    "aspf": ("r", "s"),
    "psd": ("y", "n", "u"),
    "t": ("y", "n"),
    "fo": None,
    "rua": None,
    "ruf": None,
}
_OBSOLETE = ("pct", "rf", "ri")
_MAILTO = re.compile(r"mailto:([^@\s,;!]+)@([A-Za-z0-9.-]+)(![0-9]+[kmgt]?)?\Z", re.IGNORECASE)
MAX_LABELS = 4  # RFC 9989 4.10 step 5: a longer name is cut to 4 labels for the walk


@dataclass(frozen=True, slots=True)
class DmarcRecord:
    """A parsed DMARC record. ``policy`` is ``p`` (None when absent or invalid); ``sp`` and
    ``np`` default as RFC 9989 says (``sp`` to ``p``, ``np`` to ``sp``); ``errors`` and
    ``obsolete`` list what the parse found wrong."""

    text: str
    tags: Mapping[str, str]
    policy: str | None
    sp: str | None
    np: str | None
    adkim: str
    aspf: str
    psd: str
    testing: bool
    rua: tuple[str, ...]
    ruf: tuple[str, ...]
    errors: tuple[str, ...]
    obsolete: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "text": self.text,
            "p": self.policy,
            "sp": self.sp,
            "np": self.np,
            "adkim": self.adkim,
            "aspf": self.aspf,
            "psd": self.psd,
            "t": "y" if self.testing else "n",
            "rua": list(self.rua),
            "ruf": list(self.ruf),
            "errors": list(self.errors),
            "obsolete": list(self.obsolete),
        }


def is_dmarc_record(text: str) -> bool:
    """RFC 9989 4.10 step 2: a record is one whose first tag is ``v=DMARC1``."""
    return _V_FIRST.match(text) is not None


def parse_dmarc(text: str) -> DmarcRecord:
    """Parse one DMARC record (pure; never raises)."""
    parsed = parse_tag_list(text)
    tags = parsed.tags
    errors = list(parsed.errors)
    if not is_dmarc_record(text):
        errors.append("the record does not start with v=DMARC1")
    obsolete = tuple(f"{k}={printable(tags[k], 20)}" for k in _OBSOLETE if k in tags)
    for key, value in tags.items():
        if key in _OBSOLETE:
            continue
        if key not in _VALUES:
            errors.append(f"unknown tag '{printable(key, 20)}'")
            continue
        allowed = _VALUES[key]
        if allowed is not None and value.lower() not in allowed:
            errors.append(f"{key}={printable(value, 30)!r} is not one of {', '.join(allowed)}")

    def choice(key: str) -> str | None:
        value = tags.get(key, "").lower()
        allowed = _VALUES[key] or ()
        return value if value in allowed else None

    policy = choice("p")
    sp = choice("sp") or policy
    np = choice("np") or sp
    rua, rua_errors = _uris(tags.get("rua", ""), "rua")
    ruf, ruf_errors = _uris(tags.get("ruf", ""), "ruf")
    errors += rua_errors + ruf_errors
    return DmarcRecord(
        text=text,
        tags=tags,
        policy=policy,
        sp=sp,
        np=np,
        adkim=choice("adkim") or "r",
        aspf=choice("aspf") or "r",
        psd=choice("psd") or "u",
        testing=choice("t") == "y",
        rua=rua,
        ruf=ruf,
        errors=tuple(errors),
        obsolete=obsolete,
    )


def _uris(value: str, tag: str) -> tuple[tuple[str, ...], list[str]]:
    uris: list[str] = []
    errors: list[str] = []
    for part in value.split(","):
        uri = part.strip()
        if not uri:
            continue
        if _MAILTO.match(uri):
            uris.append(uri)
        else:
            errors.append(f"{tag}: '{printable(uri, 60)}' is not mailto:user@host")
    return tuple(uris), errors


def report_host(uri: str) -> str | None:
    """The host of a ``mailto:`` report URI (lower case), or None."""
    m = _MAILTO.match(uri)
    return m.group(2).lower().rstrip(".") if m else None


def walk_targets(domain: str) -> tuple[str, ...]:
    """The names the RFC 9989 4.10 tree walk asks after ``domain`` itself: at most 4 labels,
    then one label fewer each time, down to the top-level label."""
    labels = [label for label in domain.lower().rstrip(".").split(".") if label]
    out: list[str] = []
    count = min(len(labels) - 1, MAX_LABELS)
    while count >= 1:
        out.append(".".join(labels[-count:]))
        count -= 1
    return tuple(out)


@dataclass(frozen=True, slots=True)
class DmarcResult:
    """DMARC for one domain.

    ``record``: the policy record (parsed) and ``policy_domain`` where it was found (the domain
    itself or a parent found by the tree walk); ``org_domain``: the organisational domain;
    ``applied``: the policy a receiver applies to mail from the domain itself (``p``; ``sp``
    when the record is inherited; ``np`` when it is inherited and the domain does not exist);
    ``authorised``: per external report destination host, whether it publishes the
    authorisation; ``walk``: the ``_dmarc`` names the tree walk asked, in order."""

    domain: str
    record: DmarcRecord | None
    policy_domain: str | None
    org_domain: str
    applied: str | None
    walk: tuple[str, ...]
    authorised: Mapping[str, bool]
    findings: tuple[DomainFinding, ...]

    @property
    def enforcing(self) -> bool:
        """quarantine or reject, not in testing mode (what BIMI requires)."""
        return (
            self.record is not None
            and self.applied in ("quarantine", "reject")
            and not self.record.testing
        )

    def to_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "record": self.record.to_json() if self.record else None,
            "policy_domain": self.policy_domain,
            "org_domain": self.org_domain,
            "applied_policy": self.applied,
            "enforcing": self.enforcing,
            "walk": list(self.walk),
            "external_destinations": dict(self.authorised),
            "findings": findings_json(self.findings),
        }


@dataclass
class _Found:
    name: str
    records: tuple[str, ...]
    answer: DnsAnswer


async def _ask(lookup: Lookup, name: str) -> _Found:
    answer = await lookup.query(f"_dmarc.{name}", "TXT")
    return _Found(name, tuple(t for t in answer.texts() if is_dmarc_record(t)), answer)


@dataclass
class _State:
    findings: list[DomainFinding] = field(default_factory=list)
    asked: list[str] = field(default_factory=list)


async def check_dmarc(lookup: Lookup, domain: str) -> DmarcResult:
    """The DMARC policy that applies to ``domain``, its organisational domain, and findings."""
    domain = domain.lower().rstrip(".")
    state = _State()
    found: list[_Found] = []
    policy: _Found | None = None
    org: str | None = None
    psd_parent: str | None = None
    for name in (domain, *walk_targets(domain)):
        step = await _ask(lookup, name)
        state.asked.append(f"_dmarc.{name}")
        found.append(step)
        if step.answer.status.is_failure:
            state.findings.append(LOOKUP_FAILED.hit(f"_dmarc.{name}", status_words(step.answer)))
            break
        if len(step.records) > 1:
            state.findings.append(
                DUPLICATE.hit(
                    f"_dmarc.{name}",
                    f"{len(step.records)} records starting with v=DMARC1",
                    evidence=step.records,
                )
            )
        if len(step.records) == 1:
            if policy is None:
                policy = step
            psd = parse_dmarc(step.records[0]).psd
            if psd == "n":
                org = name
                break
            if psd == "y" and name != domain:
                # The organisational domain is the one just below the public suffix domain.
                below = name.count(".") + 2
                psd_parent = ".".join(domain.split(".")[-below:])
                break
    if org is None:
        if psd_parent is not None:
            org = psd_parent
        else:
            with_record = [f.name for f in found if len(f.records) == 1]
            org = with_record[-1] if with_record else domain

    findings = state.findings
    record: DmarcRecord | None = None
    applied: str | None = None
    authorised: dict[str, bool] = {}
    if policy is None:
        if not any(f.answer.status.is_failure for f in found):
            where = ", ".join(f"_dmarc.{f.name}" for f in found)
            findings.append(MISSING.hit(domain, f"no single v=DMARC1 record at {where}"))
    else:
        record = parse_dmarc(policy.records[0])
        subject = f"_dmarc.{policy.name}"
        inherited = policy.name != domain
        applied = (record.sp if inherited else record.policy) or "none"
        if inherited and await _does_not_exist(lookup, domain):
            applied = record.np or "none"  # RFC 9989 4.7: np= for non-existent subdomains
        for error in record.errors:
            findings.append(SYNTAX.hit(subject, error, evidence=(record.text,)))
        if record.policy is None:
            findings.append(NO_POLICY.hit(subject, "p= is missing or invalid"))
        elif applied == "none":
            findings.append(
                POLICY_NONE.hit(
                    subject,
                    "p=none" if not inherited else f"sp=none inherited from {policy.name}",
                )
            )
        if record.testing:
            findings.append(TESTING.hit(subject, "t=y"))
        for tag in record.obsolete:
            findings.append(OBSOLETE.hit(subject, f"{tag} (RFC 9989 removed it)"))
        strength = {None: 0, "none": 0, "quarantine": 1, "reject": 2}
        if record.policy and (
            strength[record.sp] < strength[record.policy]
            or strength[record.np] < strength[record.policy]
        ):
            findings.append(
                SUBDOMAIN_WEAKER.hit(subject, f"p={record.policy}, sp={record.sp}, np={record.np}")
            )
        if not record.rua:
            findings.append(NO_RUA.hit(subject, "no rua= tag"))
        for error in record.errors:
            if error.startswith(("rua:", "ruf:")):
                findings.append(BAD_URI.hit(subject, error))
        authorised = await _destinations(lookup, policy.name, org, record, findings, state)
        if applied in ("quarantine", "reject") and not record.testing:
            findings.append(
                FORWARDING.hit(
                    domain,
                    f"p={applied}: mail that a forwarder or mailing list alters (subject tag, "
                    "footer) loses its DKIM signature and comes from the forwarder's address, so "
                    f"it fails DMARC and is {'rejected' if applied == 'reject' else 'quarantined'}"
                    " by receivers that do not trust the forwarder's ARC seal",
                )
            )
    return DmarcResult(
        domain=domain,
        record=record,
        policy_domain=policy.name if policy else None,
        org_domain=org,
        applied=applied,
        walk=tuple(state.asked),
        authorised=authorised,
        findings=tuple(findings),
    )


async def _does_not_exist(lookup: Lookup, domain: str) -> bool:
    """RFC 9989 3.2.9: a non-existent domain has NXDOMAIN for A, AAAA and MX."""
    for rdtype in ("A", "AAAA", "MX"):
        answer = await lookup.query(domain, rdtype)
        if answer.status is not DnsStatus.NXDOMAIN:
            return False
    return True


def _within(host: str, domain: str) -> bool:
    return host == domain or host.endswith("." + domain)


async def _destinations(
    lookup: Lookup,
    policy_domain: str,
    org: str,
    record: DmarcRecord,
    findings: list[DomainFinding],
    state: _State,
) -> dict[str, bool]:
    """For each report destination outside the organisational domain, whether it publishes
    ``<policy domain>._report._dmarc.<host>`` TXT ``v=DMARC1``."""
    out: dict[str, bool] = {}
    for uri in (*record.rua, *record.ruf):
        host = report_host(uri)
        if host is None or host in out or _within(host, org) or _within(host, policy_domain):
            continue
        name = f"{policy_domain}._report._dmarc.{host}"
        answer = await lookup.query(name, "TXT")
        ok = any(is_dmarc_record(t) for t in answer.texts())
        out[host] = ok
        if not ok:
            why = (
                f"the lookup failed ({status_words(answer)})"
                if answer.status.is_failure
                else status_words(answer)
                if not answer.records
                else f"{name} has no v=DMARC1 record"
            )
            findings.append(
                EXTERNAL_UNAUTHORISED.hit(
                    f"_dmarc.{policy_domain}", f"{uri}: {why}; receivers will not send reports"
                )
            )
    return out
