"""CAA (RFC 8659): which CAs may issue for the domain, and whether the CAs seen are among them.

A CA checks CAA at issuance, on the *relevant record set* of each name it certifies: the CAA
RRset at the name, else at its parent, and so on up to the top-level domain (RFC 8659 3). An
``issue`` property lists a CA's domain (``issue "letsencrypt.org"``); ``issuewild`` overrides it
for wildcard names; ``issue ";"`` forbids issuance; a property with the critical flag that the
CA does not know forbids issuance too; ``iodef`` says where CAs report refused requests.

Certificates already issued are not revoked when CAA changes, so the finding that matters is
about the future: *the CA that issued the certificate your MX serves today is not authorised by
the CAA now in place, so its renewal will fail*. A certificate's CA is recognised by the
issuer's organisation, through :data:`CAA_DOMAINS` (each CA's CAA identifiers as its CP/CPS
section 4.2.4 and the CCADB "CAA Identifiers" field list them); an issuer not in the table is
reported as unknown, never guessed.
"""

from __future__ import annotations

import re
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vedette.mailauth.answers import DnsAnswer, Lookup
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.mailauth.tags import findings_json, printable, status_words
from vedette.model import Severity

#: Issuer organisation (the O of the issuing CA's name) -> the CAA identifiers that authorise
#: it. Sources: each CA's CP/CPS section 4.2.4 and the CCADB "CAA Identifiers" disclosure.
CAA_DOMAINS: Mapping[str, tuple[str, ...]] = {
    "Let's Encrypt": ("letsencrypt.org",),
    "Internet Security Research Group": ("letsencrypt.org",),
    "DigiCert Inc": (
        "digicert.com",
        "www.digicert.com",
        "thawte.com",
        "geotrust.com",
        "rapidssl.com",
        "symantec.com",
    ),
    "Cloudflare, Inc.": ("digicert.com", "www.digicert.com"),
    "Sectigo Limited": (
        "sectigo.com",
        "comodoca.com",
        "comodo.com",
        "usertrust.com",
        "trust-provider.com",
    ),
    "COMODO CA Limited": ("sectigo.com", "comodoca.com", "comodo.com", "usertrust.com"),
    "The USERTRUST Network": ("sectigo.com", "comodoca.com", "usertrust.com"),
    "ZeroSSL": ("sectigo.com",),
    "GEANT Vereniging": ("sectigo.com",),
    "GlobalSign nv-sa": ("globalsign.com",),
    "Google Trust Services LLC": ("pki.goog",),
    "Google Trust Services": ("pki.goog",),
    "Amazon": ("amazon.com", "amazontrust.com", "awstrust.com", "amazonaws.com"),
    "GoDaddy.com, Inc.": ("godaddy.com",),
    "Starfield Technologies, Inc.": ("starfieldtech.com",),
    "Entrust, Inc.": ("entrust.net", "affirmtrust.com"),
    "Buypass AS-983163327": ("buypass.com", "buypass.no"),
    "SSL Corporation": ("ssl.com",),
    "SSL Corp": ("ssl.com",),
    "Asseco Data Systems S.A.": ("certum.pl", "certum.eu"),
    "Unizeto Technologies S.A.": ("certum.pl",),
    "Actalis S.p.A.": ("actalis.it",),
    "Hellenic Academic and Research Institutions CA": ("harica.gr",),
    "IdenTrust": ("identrust.com",),
    "TrustAsia Technologies, Inc.": ("trustasia.com",),
    "Telia Company AB": ("telia.com", "telia.fi", "telia.se", "trust.telia.com"),
}

_RFC = "RFC 8659"
NONE = domain_check(
    "domain.caa-none",
    "No CAA record: any public CA may issue certificates for the domain",
    Severity.INFO,
    'Publish CAA records naming the CAs you use (e.g. DOMAIN. CAA 0 issue "letsencrypt.org"), '
    'plus an iodef "mailto:..." to hear about refused requests.',
    references=(f"{_RFC} 4",),
)
UNAUTHORISED = domain_check(
    "domain.caa-issuer-not-authorised",
    "The CA of a certificate in use is not allowed by CAA: its renewal will fail",
    Severity.MEDIUM,
    "Add an issue (or issuewild) property for that CA's CAA domain, or move the certificate "
    "to a CA that CAA allows, before it expires.",
    references=(f"{_RFC} 4.2", f"{_RFC} 4.3"),
)
UNKNOWN_ISSUER = domain_check(
    "domain.caa-issuer-unknown",
    "vedette does not know the CAA domain of a certificate's CA",
    Severity.INFO,
    "Look up the CA's CAA identifier (its CP/CPS section 4.2.4) and check that CAA lists it; "
    "a private CA is not bound by CAA.",
    references=(f"{_RFC} 4.2",),
)
CRITICAL_UNKNOWN = domain_check(
    "domain.caa-critical-unknown",
    "A CAA property marked critical is unknown: CAs will refuse to issue",
    Severity.HIGH,
    "Remove the critical flag (128) from the property or remove the property.",
    references=(f"{_RFC} 4.1",),
)
SYNTAX = domain_check(
    "domain.caa-syntax",
    "A CAA issue/issuewild property is malformed: CAs ignore or refuse it",
    Severity.MEDIUM,
    'Write issue properties as "ca.example" or "ca.example; key=value" (or ";" to forbid).',
    references=(f"{_RFC} 4.2",),
)
IODEF = domain_check(
    "domain.caa-iodef-bad",
    "The CAA iodef property is not a mailto: or https: URL",
    Severity.LOW,
    'Write iodef as "mailto:security@DOMAIN" or "https://HOST/path".',
    references=(f"{_RFC} 4.4",),
)
LOOKUP_FAILED = domain_check(
    "domain.caa-dns-failure",
    "The CAA records could not be read (DNS failure): CAs refuse to issue",
    Severity.MEDIUM,
    "Make the authoritative servers answer CAA queries (with records or NOERROR/no data).",
    references=(f"{_RFC} 3",),
)

_KNOWN_TAGS = (
    "issue",
    "issuewild",
    "iodef",
    "issuemail",
    "issuevmc",
    "contactemail",
    "contactphone",
)
_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\Z")
MAX_NAMES = 10  # names per certificate whose CAA set is checked


@dataclass(frozen=True, slots=True)
class CaaProperty:
    flags: int
    tag: str
    value: str

    @property
    def critical(self) -> bool:
        return bool(self.flags & 128)

    def to_json(self) -> dict[str, object]:
        return {"flags": self.flags, "tag": self.tag, "value": self.value}


@dataclass(frozen=True, slots=True)
class IssuerCheck:
    """One certificate seen: its issuer, the CAA domains known for it (``()``: unknown), and
    per name whether the relevant CAA set allows that CA (None: unknown CA)."""

    issuer: str
    caa_domains: tuple[str, ...]
    allowed: Mapping[str, bool | None]

    def to_json(self) -> dict[str, object]:
        return {
            "issuer": self.issuer,
            "caa_domains": list(self.caa_domains),
            "allowed": dict(self.allowed),
        }


@dataclass(frozen=True, slots=True)
class CaaResult:
    """CAA for one domain: ``record_name`` (where the relevant set was found, None: no CAA up
    to the top), its ``properties``, the CAs they allow (``issue``/``issuewild``: CAA domains;
    ``()`` with ``present`` meaning none may issue), and each certificate's check."""

    domain: str
    record_name: str | None
    properties: tuple[CaaProperty, ...]
    issue: tuple[str, ...] | None
    issuewild: tuple[str, ...] | None
    certificates: tuple[IssuerCheck, ...]
    findings: tuple[DomainFinding, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "record_name": self.record_name,
            "properties": [p.to_json() for p in self.properties],
            "issue": list(self.issue) if self.issue is not None else None,
            "issuewild": list(self.issuewild) if self.issuewild is not None else None,
            "certificates": [c.to_json() for c in self.certificates],
            "findings": findings_json(self.findings),
        }


def issuer_domain(value: str) -> tuple[str | None, str | None]:
    """The CA domain of an issue/issuewild value (``""`` when it forbids issuance), and a
    problem if malformed (RFC 8659 4.2)."""
    name = value.split(";", 1)[0].strip()
    if not name:
        return "", None
    labels = name.rstrip(".").split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        return None, f"'{printable(name, 60)}' is not a domain name"
    return name.lower().rstrip("."), None


def _properties(answer: DnsAnswer) -> tuple[CaaProperty, ...]:
    out = []
    for rd in answer.records:
        tag = getattr(rd, "tag", b"")
        value = getattr(rd, "value", b"")
        out.append(
            CaaProperty(
                int(getattr(rd, "flags", 0)),
                tag.decode("ascii", "replace") if isinstance(tag, bytes) else str(tag),
                value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value),
            )
        )
    return tuple(out)


class _Climb:
    """Relevant CAA sets (RFC 8659 3), remembered per name within one check."""

    def __init__(self, lookup: Lookup) -> None:
        self.lookup = lookup
        self.sets: dict[str, tuple[str | None, tuple[CaaProperty, ...], DnsAnswer | None]] = {}

    async def relevant(
        self, name: str
    ) -> tuple[str | None, tuple[CaaProperty, ...], DnsAnswer | None]:
        """(where found, properties, failed answer) for ``name``."""
        name = name.lower().rstrip(".")
        if name.startswith("*."):
            name = name[2:]
        if name not in self.sets:
            labels = name.split(".")
            result: tuple[str | None, tuple[CaaProperty, ...], DnsAnswer | None] = (None, (), None)
            for i in range(len(labels)):
                here = ".".join(labels[i:])
                answer = await self.lookup.query(here, "CAA")
                if answer.status.is_failure:
                    result = (here, (), answer)
                    break
                props = _properties(answer)
                if props:
                    result = (here, props, None)
                    break
            self.sets[name] = result
        return self.sets[name]


def _allowed(props: Sequence[CaaProperty], tag: str) -> tuple[str, ...] | None:
    """CA domains the ``tag`` properties allow; None when there is no such property."""
    values = [p.value for p in props if p.tag.lower() == tag]
    if not values:
        return None
    out = []
    for value in values:
        domain, _problem = issuer_domain(value)
        if domain:
            out.append(domain)
    return tuple(out)


def _issuer_and_names(der: bytes) -> tuple[str, tuple[str, ...]] | None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    try:
        cert = x509.load_der_x509_certificate(der)
        orgs = cert.issuer.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
        cns = cert.issuer.get_attributes_for_oid(NameOID.COMMON_NAME)
        org = str(orgs[0].value) if orgs else (str(cns[0].value) if cns else "")
        try:
            san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
            names = tuple(san.value.get_values_for_type(x509.DNSName))
        except x509.ExtensionNotFound:
            names = ()
    except ValueError:
        return None
    return org, names


async def check_caa(lookup: Lookup, domain: str, issuers_seen: Sequence[bytes]) -> CaaResult:
    """CAA of ``domain`` and of the names of each certificate seen (``issuers_seen``: DER
    certificates, e.g. the leaf each MX served), with whether their CAs are allowed."""
    domain = domain.lower().rstrip(".")
    climb = _Climb(lookup)
    findings: list[DomainFinding] = []
    where, props, failed = await climb.relevant(domain)
    if failed is not None:
        findings.append(LOOKUP_FAILED.hit(failed.name, status_words(failed)))
    elif where is None:
        findings.append(NONE.hit(domain, f"no CAA record at {domain} or any parent"))
    reported: set[str] = set()
    for prop in props:
        subject = where or domain
        key = f"{subject}:{prop.tag}:{prop.value}"
        if key in reported:
            continue
        reported.add(key)
        tag = prop.tag.lower()
        if prop.critical and tag not in _KNOWN_TAGS:
            findings.append(
                CRITICAL_UNKNOWN.hit(subject, f"{prop.flags} {printable(prop.tag, 30)}")
            )
        if tag in ("issue", "issuewild"):
            _domain, problem = issuer_domain(prop.value)
            if problem:
                findings.append(SYNTAX.hit(subject, f"{tag} {problem}"))
        if tag == "iodef":
            parts = urllib.parse.urlsplit(prop.value)
            if parts.scheme.lower() not in ("mailto", "https") or not (parts.path or parts.netloc):
                findings.append(IODEF.hit(subject, f"iodef '{printable(prop.value, 80)}'"))
    checks: list[IssuerCheck] = []
    unknown_reported: set[str] = set()
    for der in issuers_seen:
        parsed = _issuer_and_names(der)
        if parsed is None:
            continue
        org, names = parsed
        known = CAA_DOMAINS.get(org, ())
        allowed: dict[str, bool | None] = {}
        for name in names[:MAX_NAMES] or (domain,):
            at, name_props, name_failed = await climb.relevant(name)
            if name_failed is not None or at is None:
                allowed[name] = True if name_failed is None else None
                continue
            wildcard = name.startswith("*.")
            permitted = _allowed(name_props, "issuewild") if wildcard else None
            if permitted is None:
                permitted = _allowed(name_props, "issue")
            if permitted is None:  # only iodef or other tags: no restriction
                allowed[name] = True
            elif not known:
                allowed[name] = None
            else:
                allowed[name] = any(d in permitted for d in known)
                if not allowed[name]:
                    findings.append(
                        UNAUTHORISED.hit(
                            name,
                            f"certificate issued by {printable(org, 80)} (CAA domains "
                            f"{', '.join(known)}); CAA at {at} allows "
                            + (", ".join(permitted) if permitted else "no CA"),
                        )
                    )
        if not known and org not in unknown_reported:
            unknown_reported.add(org)
            findings.append(
                UNKNOWN_ISSUER.hit(domain, f"issuer organisation {printable(org, 80)!r}")
            )
        checks.append(IssuerCheck(org, known, allowed))
    return CaaResult(
        domain=domain,
        record_name=where if failed is None else None,
        properties=props,
        issue=_allowed(props, "issue"),
        issuewild=_allowed(props, "issuewild"),
        certificates=tuple(checks),
        findings=tuple(findings),
    )
