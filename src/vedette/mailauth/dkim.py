"""DKIM key records (RFC 6376 3.6.1, RFC 8301, RFC 8463) at selectors given or commonly used.

A domain's DKIM keys live at ``<selector>._domainkey.<domain>``, and selectors cannot be
listed: a check can only ask the ones it is told, or try the ones providers use
(:data:`COMMON_SELECTORS`). Absence at the common selectors therefore proves nothing, and the
report says so.

Each key record is parsed with dkimpy's tag parser (``dkim.util.parse_tag_value``) and RSA key
parser (``dkim.crypto.parse_public_key``, both SubjectPublicKeyInfo and bare RSAPublicKey as
DKIM allows); Ed25519 keys (RFC 8463) are read with ``cryptography``. Reported: ``v=`` other
than DKIM1, ``k=`` rsa/ed25519 or unknown, empty ``p=`` (revoked), RSA under 1024 bits (fail,
RFC 8301 3.2) or under 2048 (warn), ``t=y`` (testing), ``t=s`` (strict: no subdomain ``i=``),
``h=`` allowing only sha1 (RFC 8301 3.1), ``s=`` not covering email, syntax, and a selector
that is a CNAME (shown with its target: Microsoft 365's ``selector1``/``selector2``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.mailauth.tags import findings_json, printable, status_words
from vedette.model import Severity

#: Selectors tried when none is given, with who uses them (from each provider's setup guide).
COMMON_SELECTORS: tuple[tuple[str, str], ...] = (
    # Microsoft 365 / Exchange Online: CNAMEs to selectorN-<domain>._domainkey.<tenant>
    # .onmicrosoft.com (learn.microsoft.com, "How to use DKIM for email in your custom domain").
    ("selector1", "Microsoft 365"),
    ("selector2", "Microsoft 365"),
    # Google Workspace: default selector "google" (support.google.com/a/answer/174124).
    ("google", "Google Workspace"),
    # Mailchimp: k1 (CNAME to dkim.mcsv.net); Mandrill: mandrill.
    ("k1", "Mailchimp"),
    ("mandrill", "Mandrill"),
    # Twilio SendGrid automated security: s1/s2 CNAMEs.
    ("s1", "SendGrid"),
    ("s2", "SendGrid"),
    # Fastmail: fm1, fm2, fm3 CNAMEs.
    ("fm1", "Fastmail"),
    ("fm2", "Fastmail"),
    ("fm3", "Fastmail"),
    # Proton Mail: protonmail, protonmail2, protonmail3 CNAMEs.
    ("protonmail", "Proton Mail"),
    ("protonmail2", "Proton Mail"),
    ("protonmail3", "Proton Mail"),
    # Zendesk: zendesk1/zendesk2 CNAMEs.
    ("zendesk1", "Zendesk"),
    ("zendesk2", "Zendesk"),
    # cPanel/Plesk and many self-hosted setups (OpenDKIM, rspamd examples).
    ("default", "cPanel, Plesk, self-hosted"),
    ("dkim", "self-hosted (rspamd default)"),
    ("mail", "self-hosted"),
)

_RFC = "RFC 6376 3.6.1"
NOT_FOUND = domain_check(
    "domain.dkim-selector-missing",
    "No DKIM key at a selector you named",
    Severity.MEDIUM,
    "Publish the key (TXT v=DKIM1; k=...; p=...) at SELECTOR._domainkey.DOMAIN, or correct the "
    "selector name (it is the s= of the DKIM-Signature header).",
    references=(_RFC,),
)
NONE_FOUND = domain_check(
    "domain.dkim-none-found",
    "No DKIM key at any commonly used selector (selectors cannot be listed)",
    Severity.LOW,
    "Give the selectors your mail is signed with (the s= of a DKIM-Signature header) so they "
    "can be checked; if the domain's mail is not signed, enable DKIM signing.",
    references=(_RFC,),
)
LOOKUP_FAILED = domain_check(
    "domain.dkim-dns-failure",
    "A DKIM selector could not be read (DNS failure): receivers answer temperror",
    Severity.MEDIUM,
    "Check the authoritative servers of the name in the detail (and the CNAME target).",
    references=("RFC 6376 6.1.2",),
)
MULTIPLE = domain_check(
    "domain.dkim-multiple-records",
    "A DKIM selector has more than one TXT record: verification is unpredictable",
    Severity.MEDIUM,
    "Keep one key record per selector; publish a new key under a new selector.",
    references=("RFC 6376 3.6.2.2",),
)
SYNTAX = domain_check(
    "domain.dkim-syntax",
    "The DKIM key record is malformed: signatures made with it fail",
    Severity.HIGH,
    "Republish the record as your signer prints it (v=DKIM1; k=rsa; p=BASE64), in one TXT "
    "record (long keys split into strings of at most 255 characters).",
    references=(_RFC,),
)
REVOKED = domain_check(
    "domain.dkim-revoked",
    "The DKIM key is revoked (empty p=)",
    Severity.INFO,
    "Nothing to do if the selector is retired; if mail is still signed with it, publish the key "
    "again or sign with another selector.",
    references=(_RFC,),
)
RSA_WEAK = domain_check(
    "domain.dkim-rsa-too-short",
    "The DKIM RSA key is shorter than 1024 bits: receivers ignore its signatures",
    Severity.HIGH,
    "Generate a 2048-bit RSA key, publish it under a new selector and sign with it.",
    references=("RFC 8301 3.2",),
)
RSA_SHORT = domain_check(
    "domain.dkim-rsa-short",
    "The DKIM RSA key is shorter than 2048 bits",
    Severity.LOW,
    "Move to a 2048-bit RSA key under a new selector (RFC 8301 recommends at least 2048).",
    references=("RFC 8301 3.2",),
)
TESTING = domain_check(
    "domain.dkim-testing",
    "The DKIM key is in testing mode (t=y): receivers may ignore failures",
    Severity.LOW,
    "Remove t=y once signing works.",
    references=(_RFC,),
)
STRICT = domain_check(
    "domain.dkim-strict",
    "The DKIM key forbids subdomain identities (t=s)",
    Severity.INFO,
    "Nothing to do unless mail is signed with an i= in a subdomain: then remove s from t=.",
    references=(_RFC,),
)
SHA1_ONLY = domain_check(
    "domain.dkim-sha1-only",
    "The DKIM key allows only SHA-1 (h=sha1): receivers reject SHA-1 signatures",
    Severity.HIGH,
    "Remove h= (or set h=sha256) and sign with rsa-sha256.",
    references=("RFC 8301 3.1",),
)
NOT_EMAIL = domain_check(
    "domain.dkim-not-for-email",
    "The DKIM key's service type (s=) does not cover email",
    Severity.MEDIUM,
    "Remove s= or set s=email (or s=*).",
    references=(_RFC,),
)


@dataclass(frozen=True, slots=True)
class DkimKey:
    """What one selector holds. ``status``: ``found``, ``absent`` or ``failed``; ``cname``:
    the CNAME chain's last target (empty when the selector is not an alias); ``key_type``:
    ``rsa``, ``ed25519`` or what ``k=`` says; ``bits``: the key size (None when unparsed)."""

    selector: str
    name: str
    status: str
    provider: str = ""
    cname: str = ""
    record: str = ""
    key_type: str = ""
    bits: int | None = None
    revoked: bool = False
    testing: bool = False
    strict: bool = False
    hashes: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {
            "selector": self.selector,
            "name": self.name,
            "status": self.status,
            "provider": self.provider,
            "cname": self.cname,
            "record": self.record,
            "key_type": self.key_type,
            "bits": self.bits,
            "revoked": self.revoked,
            "testing": self.testing,
            "strict": self.strict,
            "hashes": list(self.hashes),
            "errors": list(self.errors),
        }


@dataclass(frozen=True, slots=True)
class DkimResult:
    """DKIM for one domain: ``keys`` per selector asked (found or not); ``common``: the
    selectors were the common list, not given."""

    domain: str
    common: bool
    keys: tuple[DkimKey, ...]
    findings: tuple[DomainFinding, ...]

    @property
    def found(self) -> tuple[DkimKey, ...]:
        return tuple(k for k in self.keys if k.status == "found")

    def to_json(self) -> dict[str, object]:
        return {
            "domain": self.domain,
            "selectors_from": "common list" if self.common else "given",
            "keys": [k.to_json() for k in self.keys],
            "findings": findings_json(self.findings),
        }


@dataclass(frozen=True, slots=True)
class ParsedKey:
    key_type: str
    bits: int | None
    revoked: bool
    testing: bool
    strict: bool
    hashes: tuple[str, ...]
    services: tuple[str, ...]
    errors: tuple[str, ...]


def parse_key_record(text: str) -> ParsedKey:
    """Parse a DKIM key record (pure; never raises). ``errors`` says what is malformed."""
    import dkim.crypto  # type: ignore[import-untyped]
    import dkim.util  # type: ignore[import-untyped]

    errors: list[str] = []
    try:
        tags = {
            k.decode("ascii", "replace").lower(): v.decode("ascii", "replace")
            for k, v in dkim.util.parse_tag_value(text.encode("ascii", "replace")).items()
        }
    except dkim.util.InvalidTagValueList as exc:
        return ParsedKey("", None, False, False, False, (), (), (f"not a tag list: {exc}",))
    except Exception as exc:  # dkimpy's parser on hostile input: still a malformed record
        return ParsedKey("", None, False, False, False, (), (), (f"not a tag list: {exc!r}",))
    version = tags.get("v")
    if version is not None and version != "DKIM1":
        errors.append(f"v={printable(version, 20)!r} (must be DKIM1)")
    key_type = tags.get("k", "rsa").lower()
    flags = tuple(f.strip().lower() for f in tags.get("t", "").split(":") if f.strip())
    hashes = tuple(h.strip().lower() for h in tags.get("h", "").split(":") if h.strip())
    services = tuple(s.strip().lower() for s in tags.get("s", "*").split(":") if s.strip())
    if "p" not in tags:
        errors.append("no p= tag (the public key)")
        return ParsedKey(
            key_type, None, False, "y" in flags, "s" in flags, hashes, services, tuple(errors)
        )
    data = "".join(tags["p"].split())
    if not data:
        return ParsedKey(key_type, None, True, "y" in flags, "s" in flags, hashes, services, ())
    try:
        der = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        errors.append("p= is not base64")
        der = b""
    bits: int | None = None
    if der and key_type == "rsa":
        try:
            bits = int(dkim.crypto.parse_public_key(der)["modulus"]).bit_length()
        except Exception:
            errors.append("p= is not an RSA public key")
    elif der and key_type == "ed25519":
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

        try:
            Ed25519PublicKey.from_public_bytes(der)
            bits = 256
        except ValueError:
            errors.append("p= is not a 32-byte Ed25519 public key")
    elif key_type not in ("rsa", "ed25519"):
        errors.append(f"k={printable(key_type, 20)!r} is not rsa or ed25519")
    return ParsedKey(
        key_type, bits, False, "y" in flags, "s" in flags, hashes, services, tuple(errors)
    )


async def _one(
    lookup: Lookup, domain: str, selector: str, provider: str, given: bool
) -> tuple[DkimKey, list[DomainFinding]]:
    name = f"{selector}._domainkey.{domain}"
    answer: DnsAnswer = await lookup.query(name, "TXT")
    cname = answer.cnames[-1] if answer.cnames else ""
    via = f" (CNAME to {cname})" if cname else ""
    findings: list[DomainFinding] = []
    if answer.status.is_failure:
        findings.append(LOOKUP_FAILED.hit(name, status_words(answer) + via))
        return DkimKey(selector, name, "failed", provider, cname), findings
    texts = answer.texts()
    if not texts:
        if given:
            findings.append(NOT_FOUND.hit(name, status_words(answer) + via))
        return DkimKey(selector, name, "absent", provider, cname), findings
    if len(texts) > 1:
        findings.append(MULTIPLE.hit(name, f"{len(texts)} TXT records{via}", evidence=texts))
    record = texts[0]
    parsed = parse_key_record(record)
    for error in parsed.errors:
        findings.append(SYNTAX.hit(name, error + via, evidence=(record,)))
    if parsed.revoked:
        findings.append(REVOKED.hit(name, "p= is empty" + via))
    if parsed.key_type == "rsa" and parsed.bits is not None:
        if parsed.bits < 1024:
            findings.append(RSA_WEAK.hit(name, f"RSA {parsed.bits} bits{via}"))
        elif parsed.bits < 2048:
            findings.append(RSA_SHORT.hit(name, f"RSA {parsed.bits} bits{via}"))
    if parsed.testing:
        findings.append(TESTING.hit(name, "t=y" + via))
    if parsed.strict:
        findings.append(STRICT.hit(name, "t=s" + via))
    if parsed.hashes and "sha256" not in parsed.hashes:
        findings.append(SHA1_ONLY.hit(name, f"h={':'.join(parsed.hashes)}{via}"))
    if not ({"*", "email"} & set(parsed.services)):
        findings.append(NOT_EMAIL.hit(name, f"s={':'.join(parsed.services)}{via}"))
    key = DkimKey(
        selector=selector,
        name=name,
        status="found",
        provider=provider,
        cname=cname,
        record=record,
        key_type=parsed.key_type,
        bits=parsed.bits,
        revoked=parsed.revoked,
        testing=parsed.testing,
        strict=parsed.strict,
        hashes=parsed.hashes,
        errors=parsed.errors,
    )
    return key, findings


async def check_dkim(lookup: Lookup, domain: str, selectors: Sequence[str] | None) -> DkimResult:
    """Check the DKIM keys of ``domain`` at ``selectors`` (None: :data:`COMMON_SELECTORS`)."""
    domain = domain.lower().rstrip(".")
    given = selectors is not None
    wanted = (
        [(s.strip().lower().rstrip("."), "") for s in selectors if s.strip()]
        if selectors is not None
        else list(COMMON_SELECTORS)
    )
    if not given:
        # RFC 8020: NXDOMAIN at _domainkey.<domain> means no name below it exists, so no
        # selector can hold a key; one question instead of one per common selector (a name
        # with selectors below it answers NOERROR without data, as an empty non-terminal).
        parent = await lookup.query(f"_domainkey.{domain}", "TXT")
        if parent.status is DnsStatus.NXDOMAIN:
            finding = NONE_FOUND.hit(
                domain,
                f"_domainkey.{domain} does not exist (NXDOMAIN), so no selector under it does",
            )
            return DkimResult(domain, True, (), (finding,))
    results = await asyncio.gather(*(_one(lookup, domain, s, p, given) for s, p in wanted))
    keys = tuple(k for k, _ in results)
    findings = [f for _, fs in results for f in fs]
    if not given and all(k.status == "absent" for k in keys):
        findings.append(
            NONE_FOUND.hit(
                domain,
                f"asked {len(keys)} selectors ({', '.join(s for s, _ in wanted)}); none has a key",
            )
        )
    return DkimResult(domain, not given, keys, tuple(findings))
