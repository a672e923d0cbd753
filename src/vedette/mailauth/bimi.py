"""BIMI: the ``<selector>._bimi`` record and the SVG Tiny Portable/Secure profile of the logo.

A mailbox provider shows a domain's logo only when the domain enforces DMARC (quarantine or
reject, not in testing mode: BIMI draft-brand-indicators-for-message-identification 4.2), it
publishes ``v=BIMI1; l=<https SVG URL>; a=<https PEM URL of a Verified Mark Certificate>``,
and the logo is SVG Tiny PS (draft-svg-tiny-ps-abrotman): ``baseProfile="tiny-ps"``,
``version="1.2"``, a ``<title>``, no scripts, animation, raster images, external references,
or ``x``/``y`` on the root element. The record is looked up at the domain, then at its
organisational domain (found by the DMARC check, whose result this module reuses).

:func:`check_svg_tiny_ps` is pure: the logo is fetched by the caller. It parses with expat
directly, refusing any document type declaration, so that no entity is ever expanded (no
"billion laughs", no external entity): ``defusedxml`` is not needed.
"""

from __future__ import annotations

import re
import urllib.parse
import xml.parsers.expat
from dataclasses import dataclass, field

from vedette.mailauth.answers import Lookup
from vedette.mailauth.dmarc import DmarcResult, check_dmarc
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.mailauth.tags import findings_json, parse_tag_list, printable, status_words
from vedette.model import Severity

_DRAFT = "draft-brand-indicators-for-message-identification"
_PS = "draft-svg-tiny-ps-abrotman"
MISSING = domain_check(
    "domain.bimi-missing",
    "No BIMI record: mailbox providers show no logo for this domain",
    Severity.INFO,
    'To show a logo, publish TXT at default._bimi.DOMAIN: "v=BIMI1; l=https://.../logo.svg; '
    'a=https://.../vmc.pem" (most providers require a Verified Mark Certificate).',
    references=(_DRAFT,),
)
DECLINED = domain_check(
    "domain.bimi-declined",
    "The domain declines BIMI (empty l= and a=)",
    Severity.INFO,
    "Nothing to do unless you want a logo shown.",
    references=(_DRAFT,),
)
DUPLICATE = domain_check(
    "domain.bimi-duplicate",
    "More than one BIMI record at one name: providers ignore them",
    Severity.MEDIUM,
    "Keep one TXT record starting with v=BIMI1.",
    references=(_DRAFT,),
)
SYNTAX = domain_check(
    "domain.bimi-syntax",
    "The BIMI record has a syntax error",
    Severity.MEDIUM,
    'Write it as "v=BIMI1; l=https://HOST/logo.svg; a=https://HOST/vmc.pem".',
    references=(_DRAFT,),
)
NO_CERTIFICATE = domain_check(
    "domain.bimi-no-mark-certificate",
    "The BIMI record has no mark certificate (a=): Gmail and Apple Mail show no logo",
    Severity.LOW,
    "Obtain a Verified Mark Certificate (or Common Mark Certificate) and publish its URL in a=.",
    references=(_DRAFT,),
)
DMARC_NOT_ENFORCING = domain_check(
    "domain.bimi-dmarc-not-enforcing",
    "BIMI needs DMARC enforcement: no logo is shown with this DMARC policy",
    Severity.MEDIUM,
    "Move DMARC to p=quarantine or p=reject (and sp= not none), without t=y.",
    references=(_DRAFT, "RFC 9989"),
)
LOOKUP_FAILED = domain_check(
    "domain.bimi-dns-failure",
    "The BIMI record could not be read (DNS failure)",
    Severity.LOW,
    "Check the authoritative servers of the name in the detail: they must answer TXT queries.",
    references=(_DRAFT,),
)
SVG_UNREADABLE = domain_check(
    "domain.bimi-svg-unreadable",
    "The BIMI logo is not a readable SVG document",
    Severity.MEDIUM,
    "Export the logo as SVG Tiny 1.2 Portable/Secure (the BIMI group publishes a converter "
    "and a validator) and publish that file.",
    references=(_PS,),
)
SVG_PROFILE = domain_check(
    "domain.bimi-svg-not-tiny-ps",
    "The BIMI logo breaks the SVG Tiny PS profile: providers refuse it",
    Severity.MEDIUM,
    "Fix what the detail names (or re-export as SVG Tiny PS) and check it with a BIMI validator.",
    references=(_PS,),
)

_V = re.compile(r"v\s*=\s*BIMI1\s*(;|\Z)")
SVG_NS = "http://www.w3.org/2000/svg"
XLINK_NS = "http://www.w3.org/1999/xlink"
MAX_SVG = 32 * 1024  # BIMI: the logo SHOULD be at most 32 KiB
MAX_PARSE = 1024 * 1024  # never parse more than this
MAX_DEPTH = 64
#: Elements SVG Tiny 1.2 PS allows (its RelaxNG schema); anything else is outside the profile.
ALLOWED = frozenset(
    {
        "svg",
        "g",
        "defs",
        "title",
        "desc",
        "path",
        "rect",
        "circle",
        "ellipse",
        "line",
        "polyline",
        "polygon",
        "text",
        "tspan",
        "textArea",
        "tbreak",
        "linearGradient",
        "radialGradient",
        "stop",
        "solidColor",
        "use",
    }
)
FORBIDDEN = {
    "script": "scripts are not allowed",
    "handler": "event handlers are not allowed",
    "animate": "animation is not allowed",
    "animateColor": "animation is not allowed",
    "animateMotion": "animation is not allowed",
    "animateTransform": "animation is not allowed",
    "set": "animation is not allowed",
    "image": "raster or external images are not allowed",
    "foreignObject": "foreign content is not allowed",
    "a": "links are not allowed",
    "video": "media is not allowed",
    "audio": "media is not allowed",
    "animation": "animation is not allowed",
    "discard": "animation is not allowed",
    "prefetch": "external references are not allowed",
}


@dataclass(frozen=True, slots=True)
class BimiResult:
    """BIMI for one domain: ``record`` and where it was found (``record_name``), the logo and
    mark certificate URLs, and whether DMARC enforcement lets a logo show."""

    domain: str
    selector: str
    record: str | None
    record_name: str | None
    logo_url: str | None
    certificate_url: str | None
    dmarc_enforcing: bool
    findings: tuple[DomainFinding, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "selector": self.selector,
            "record": self.record,
            "record_name": self.record_name,
            "logo_url": self.logo_url,
            "certificate_url": self.certificate_url,
            "dmarc_enforcing": self.dmarc_enforcing,
            "findings": findings_json(self.findings),
        }


def _https_url(value: str) -> bool:
    try:
        parts = urllib.parse.urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(parts.hostname)


async def check_bimi(
    lookup: Lookup, domain: str, selector: str = "default", *, dmarc: DmarcResult | None = None
) -> BimiResult:
    """Read the BIMI record of ``domain`` (then its organisational domain) and check it with
    the DMARC result (``dmarc``: reuse one already computed; None: computed here)."""
    domain = domain.lower().rstrip(".")
    if dmarc is None:
        dmarc = await check_dmarc(lookup, domain)
    findings: list[DomainFinding] = []
    names = [f"{selector}._bimi.{domain}"]
    if dmarc.org_domain != domain:
        names.append(f"{selector}._bimi.{dmarc.org_domain}")
    record: str | None = None
    record_name: str | None = None
    for name in names:
        answer = await lookup.query(name, "TXT")
        if answer.status.is_failure:
            findings.append(LOOKUP_FAILED.hit(name, status_words(answer)))
            break
        records = [t for t in answer.texts() if _V.match(t)]
        if len(records) > 1:
            findings.append(DUPLICATE.hit(name, f"{len(records)} records", evidence=tuple(records)))
            break
        if records:
            record, record_name = records[0], name
            break
    result = BimiResult(domain, selector, None, None, None, None, dmarc.enforcing, ())
    if record is None or record_name is None:
        if not findings:
            findings.append(MISSING.hit(domain, f"no v=BIMI1 record at {', '.join(names)}"))
        return _with(result, findings)
    parsed = parse_tag_list(record)
    for error in parsed.errors:
        findings.append(SYNTAX.hit(record_name, error, evidence=(record,)))
    for key in parsed.tags:
        if key not in ("v", "l", "a", "avp"):
            findings.append(SYNTAX.hit(record_name, f"unknown tag '{printable(key, 20)}'"))
    logo = parsed.tags.get("l", "")
    cert = parsed.tags.get("a", "")
    if not logo and not cert:
        findings.append(DECLINED.hit(record_name, "l= and a= are empty"))
        return _with(result, findings, record, record_name)
    for tag, url in (("l", logo), ("a", cert)):
        if url and not _https_url(url):
            findings.append(
                SYNTAX.hit(record_name, f"{tag}={printable(url, 80)!r} is not an https URL")
            )
    if not cert:
        findings.append(NO_CERTIFICATE.hit(record_name, "a= is absent or empty"))
    gaps = await dmarc_gaps(lookup, dmarc)
    for gap in gaps:
        findings.append(DMARC_NOT_ENFORCING.hit(domain, gap))
    result = BimiResult(domain, selector, None, None, None, None, not gaps, ())
    return _with(result, findings, record, record_name, logo or None, cert or None)


async def dmarc_gaps(lookup: Lookup, dmarc: DmarcResult) -> list[str]:
    """Why the DMARC policy does not let a BIMI logo show (empty: it does). As BIMI
    receivers check it: the domain's policy is quarantine or reject without t=y and without a
    ``pct`` below 100 (still read by receivers of RFC 7489), and the organisational domain's own
    policy and subdomain policy are not none."""
    if dmarc.record is None:
        return [f"{dmarc.domain} has no DMARC record"]
    gaps: list[str] = []
    where = dmarc.policy_domain or dmarc.domain
    if dmarc.applied not in ("quarantine", "reject"):
        gaps.append(f"DMARC policy for {dmarc.domain} is {dmarc.applied} (record at {where})")
    if dmarc.record.testing:
        gaps.append(f"the DMARC record at {where} has t=y (testing)")
    pct = dmarc.record.tags.get("pct")
    if pct is not None and pct.strip() != "100":
        gaps.append(f"the DMARC record at {where} has pct={printable(pct, 10)}")
    org = dmarc
    if dmarc.org_domain not in (dmarc.policy_domain, dmarc.domain):
        org = await check_dmarc(lookup, dmarc.org_domain)
    if org is not dmarc and org.record is not None:
        if org.record.policy in (None, "none"):
            gaps.append(f"the organisational domain {org.domain} has p={org.record.policy}")
        elif org.record.sp == "none":
            gaps.append(f"the organisational domain {org.domain} has sp=none")
    return gaps


def _with(
    base: BimiResult,
    findings: list[DomainFinding],
    record: str | None = None,
    record_name: str | None = None,
    logo: str | None = None,
    cert: str | None = None,
) -> BimiResult:
    return BimiResult(
        base.domain,
        base.selector,
        record,
        record_name,
        logo,
        cert,
        base.dmarc_enforcing,
        tuple(findings),
    )


# --- SVG Tiny PS -------------------------------------------------------------------------------


class _Refused(Exception):
    """The document declares a DTD or entities (never expanded: refused)."""


@dataclass
class _Svg:
    problems: list[str] = field(default_factory=list)
    depth: int = 0
    root: bool = True
    root_ok: bool = False
    title_depth: int | None = None
    title_text: str = ""
    has_title: bool = False
    seen: set[str] = field(default_factory=set)

    def problem(self, text: str) -> None:
        if text not in self.seen:
            self.seen.add(text)
            self.problems.append(text)

    def start(self, name: str, attrs: dict[str, str]) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(f"elements nested more than {MAX_DEPTH} deep")
        ns, _, local = name.rpartition(" ")
        if self.root:
            self.root = False
            self._root(ns, local, attrs)
            return
        if ns != SVG_NS:
            self.problem(f"element '{printable(local, 30)}' from another namespace (editor data?)")
        elif local in FORBIDDEN:
            self.problem(f"<{local}>: {FORBIDDEN[local]}")
        elif local not in ALLOWED:
            self.problem(f"<{printable(local, 30)}> is not an SVG Tiny PS element")
        if ns == SVG_NS and local == "title" and self.depth == 2:
            self.title_depth = self.depth
            self.has_title = True
        self._attributes(local, attrs)

    def _root(self, ns: str, local: str, attrs: dict[str, str]) -> None:
        if ns != SVG_NS or local != "svg":
            self.problem(f"the root element is not <svg> in the SVG namespace ({local!r})")
            return
        self.root_ok = True
        if attrs.get("baseProfile") != "tiny-ps":
            self.problem(
                f"baseProfile is {printable(attrs.get('baseProfile', 'missing'), 20)!r}, "
                "not 'tiny-ps'"
            )
        if attrs.get("version") != "1.2":
            self.problem(
                f"version is {printable(attrs.get('version', 'missing'), 20)!r}, not '1.2'"
            )
        for attr in ("x", "y"):
            if attr in attrs:
                self.problem(f"the root <svg> has {attr}= (not allowed)")
        box = attrs.get("viewBox", "").replace(",", " ").split()
        if len(box) == 4:
            try:
                width, height = float(box[2]), float(box[3])
                if width != height:
                    self.problem(f"the viewBox is not square ({box[2]} x {box[3]})")
            except ValueError:
                self.problem("the viewBox is not four numbers")
        self._attributes("svg", attrs)

    def _attributes(self, element: str, attrs: dict[str, str]) -> None:
        for key, value in attrs.items():
            _, _, local = key.rpartition(" ")
            if local.lower().startswith("on"):
                self.problem(f"<{element}> has an event attribute '{printable(local, 30)}'")
            if local == "href" and not value.startswith("#"):
                self.problem(f"<{element}> refers to something outside the file")
            if "url(" in value and not re.search(r"url\(\s*#", value):
                self.problem(f"<{element}> refers to something outside the file")

    def end(self, name: str) -> None:
        if self.title_depth is not None and self.depth == self.title_depth:
            self.title_depth = None
        self.depth -= 1

    def text(self, data: str) -> None:
        if self.title_depth is not None:
            self.title_text += data


def check_svg_tiny_ps(data: bytes, subject: str = "BIMI logo") -> tuple[DomainFinding, ...]:
    """Check a logo against the SVG Tiny PS profile (pure; never raises)."""
    if len(data) > MAX_PARSE:
        return (SVG_UNREADABLE.hit(subject, f"{len(data)} bytes (refused above {MAX_PARSE})"),)
    state = _Svg()
    parser = xml.parsers.expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)

    def refuse(*_args: object) -> None:
        raise _Refused("the document has a DOCTYPE or entity declaration (refused, never expanded)")

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse  # type: ignore[assignment]
    parser.StartElementHandler = state.start
    parser.EndElementHandler = state.end
    parser.CharacterDataHandler = state.text
    try:
        parser.Parse(data, True)
    except _Refused as exc:
        return (SVG_UNREADABLE.hit(subject, str(exc)),)
    except xml.parsers.expat.ExpatError as exc:
        return (SVG_UNREADABLE.hit(subject, f"not well-formed XML: {exc}"),)
    except (ValueError, RecursionError, MemoryError) as exc:
        return (SVG_UNREADABLE.hit(subject, f"not readable: {type(exc).__name__}"),)
    if state.root:
        return (SVG_UNREADABLE.hit(subject, "no root element"),)
    problems = list(state.problems)
    if state.root_ok and not state.has_title:
        problems.append("no <title> element under <svg> (the brand name)")
    elif state.root_ok and not state.title_text.strip():
        problems.append("the <title> is empty")
    if len(data) > MAX_SVG:
        problems.append(f"the file is {len(data)} bytes; BIMI asks for at most {MAX_SVG}")
    return tuple(SVG_PROFILE.hit(subject, p) for p in problems)
