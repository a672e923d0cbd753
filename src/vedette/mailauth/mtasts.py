"""MTA-STS (RFC 8461): the ``_mta-sts`` TXT record, the HTTPS policy, and what senders do with it.

A domain publishes ``_mta-sts.DOMAIN TXT "v=STSv1; id=..."`` and serves its policy at
``https://mta-sts.DOMAIN/.well-known/mta-sts.txt``::

    version: STSv1
    mode: enforce
    mx: mail.example.com
    mx: *.example.net
    max_age: 604800

A sender honouring an ``enforce`` policy delivers only to an MX whose name matches one of the
``mx`` patterns *and* whose certificate is valid for that name and chains to a trusted root; a
``testing`` policy only reports (TLS-RPT). A policy fetched over a certificate that does not
validate is ignored by senders (RFC 8461 3.3), so the policy host's chain is judged here too.

Pure parts (sans-I/O, property-tested): :func:`parse_sts_record`, :func:`parse_policy`,
:func:`mx_pattern_matches`, :func:`judge_policy_host`. :func:`check_mta_sts` reads DNS through a
:class:`~vedette.mailauth.answers.Lookup` and the policy through a ``fetch`` callable given by
the caller (vedette's bounded HTTPS fetch, or a fake in tests), so nothing here opens a socket.
"""

from __future__ import annotations

import base64
import binascii
import enum
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vedette.mailauth.answers import DnsStatus, Lookup, Security
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.model import Severity

__all__ = [
    "MAX_POLICY_BYTES",
    "MtaStsResult",
    "PolicyFetch",
    "StsMode",
    "StsMxCheck",
    "StsPolicy",
    "StsRecord",
    "check_mta_sts",
    "judge_policy_host",
    "mx_pattern_matches",
    "parse_policy",
    "parse_sts_record",
    "policy_url",
]

#: The largest policy senders read (RFC 8461 3.3 suggests 64 KiB).
MAX_POLICY_BYTES = 64 * 1024
#: ``max_age`` upper bound (RFC 8461 3.2: about one year).
MAX_AGE_LIMIT = 31_557_600
#: Below this ``max_age`` (one day) a cached policy protects little between fetches.
SHORT_MAX_AGE = 86_400

TXT_MISSING = domain_check(
    "domain.mta-sts-missing",
    "No MTA-STS policy: senders deliver over TLS only if it happens to work",
    Severity.LOW,
    "Publish an MTA-STS policy (a '_mta-sts' TXT record 'v=STSv1; id=YYYYMMDD01' and the policy "
    "at https://mta-sts.DOMAIN/.well-known/mta-sts.txt, mode testing first, then enforce), or "
    "DANE TLSA records if the zone is signed.",
    references=("RFC 8461",),
)
TXT_INVALID = domain_check(
    "domain.mta-sts-record-invalid",
    "The MTA-STS TXT record is not valid: senders ignore the policy",
    Severity.HIGH,
    "Publish exactly one '_mta-sts' TXT record of the form 'v=STSv1; id=20240101T000000' (id: 1 "
    "to 32 letters or digits; change it whenever the policy changes).",
    references=("RFC 8461 3.1",),
)
TXT_LOOKUP_FAILED = domain_check(
    "domain.mta-sts-record-lookup-failed",
    "The MTA-STS TXT lookup failed",
    Severity.MEDIUM,
    "Make the domain's DNS servers answer TXT queries for '_mta-sts.DOMAIN' (senders that "
    "cannot read it use a cached policy or none).",
    references=("RFC 8461 3.1",),
)
FETCH_FAILED = domain_check(
    "domain.mta-sts-policy-unreachable",
    "The MTA-STS policy cannot be fetched: senders ignore it",
    Severity.HIGH,
    "Serve the policy at https://mta-sts.DOMAIN/.well-known/mta-sts.txt with status 200, as "
    "text/plain, without redirect, under 64 KiB, and make the name resolve.",
    references=("RFC 8461 3.3",),
)
POLICY_HOST_CERT = domain_check(
    "domain.mta-sts-policy-certificate",
    "The MTA-STS policy host's certificate is not valid: senders ignore the policy",
    Severity.HIGH,
    "Give mta-sts.DOMAIN a certificate from a public CA that names it, is in date, and is sent "
    "with its intermediate certificates (e.g. `vedette cert request mta-sts.DOMAIN`).",
    references=("RFC 8461 3.3",),
)
POLICY_INVALID = domain_check(
    "domain.mta-sts-policy-invalid",
    "The MTA-STS policy is not valid: senders ignore it",
    Severity.HIGH,
    "Write the policy as lines 'version: STSv1', 'mode: enforce|testing|none', 'max_age: "
    "SECONDS' (up to 31557600) and one 'mx: NAME' line per mail server (a leading '*.' "
    "allowed).",
    references=("RFC 8461 3.2",),
)
CONTENT_TYPE = domain_check(
    "domain.mta-sts-content-type",
    "The MTA-STS policy is not served as text/plain",
    Severity.LOW,
    "Serve /.well-known/mta-sts.txt with 'Content-Type: text/plain' (some senders refuse "
    "other types).",
    references=("RFC 8461 3.2",),
)
MODE_TESTING = domain_check(
    "domain.mta-sts-testing",
    "MTA-STS is in testing mode: senders report failures but still deliver without TLS",
    Severity.LOW,
    "Once the TLS reports (TLS-RPT) show no failures, set 'mode: enforce' and change the id in "
    "the '_mta-sts' TXT record.",
    references=("RFC 8461 5",),
)
MODE_NONE = domain_check(
    "domain.mta-sts-none",
    "The MTA-STS policy is switched off (mode none)",
    Severity.INFO,
    "Nothing to do if this is a deliberate withdrawal; otherwise set 'mode: testing' or "
    "'enforce' and change the id in the '_mta-sts' TXT record.",
    references=("RFC 8461 5",),
)
SHORT_AGE = domain_check(
    "domain.mta-sts-short-max-age",
    "The MTA-STS policy is cached for less than a day",
    Severity.LOW,
    "Set max_age to a week or more (604800; up to 31557600): between fetches an attacker who "
    "blocks the policy fetch can strip TLS.",
    references=("RFC 8461 3.2", "RFC 8461 10.2"),
)
MX_NOT_COVERED = domain_check(
    "domain.mta-sts-mx-not-listed",
    "An MX is not listed in the MTA-STS policy",
    Severity.HIGH,
    "Add an 'mx:' line for this MX to the policy (or a '*.' pattern that covers it) and change "
    "the id in the '_mta-sts' TXT record: senders honouring the policy will not deliver to it.",
    references=("RFC 8461 4.1",),
)
PATTERN_UNUSED = domain_check(
    "domain.mta-sts-pattern-unused",
    "An 'mx' pattern of the MTA-STS policy matches no MX",
    Severity.INFO,
    "Remove the stale 'mx:' line (or add the MX it was meant for), and change the id in the "
    "'_mta-sts' TXT record.",
    references=("RFC 8461 4.1",),
)
MX_CERT_NAME = domain_check(
    "domain.mta-sts-mx-certificate-name",
    "An MX's certificate does not name it: senders honouring MTA-STS will not deliver",
    Severity.HIGH,
    "Give the MX a certificate whose subjectAltName includes its MX host name (e.g. `vedette "
    "cert request MX-NAME`), or list in the MX record the name the certificate carries.",
    references=("RFC 8461 4.1",),
)


class StsMode(enum.StrEnum):
    ENFORCE = "enforce"
    TESTING = "testing"
    NONE = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class StsRecord:
    """A valid ``_mta-sts`` TXT record: its ``id`` and the text as published."""

    id: str
    text: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StsPolicy:
    """A parsed policy (valid or not: ``problems`` says why senders would refuse it)."""

    version: str | None
    mode: StsMode | None
    max_age: int | None
    mx: tuple[str, ...]
    problems: tuple[str, ...] = ()

    @property
    def valid(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "mode": None if self.mode is None else str(self.mode),
            "max_age": self.max_age,
            "mx": list(self.mx),
            "problems": list(self.problems),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PolicyFetch:
    """What a fetch of the policy URL got.

    Attributes:
        body: the body of a 200 answer, ``None`` when the fetch failed.
        error: one line saying why it failed (``""`` when it did not).
        chain_der: the certificates the policy host sent (leaf first), even on failure when the
            TLS handshake completed; ``()`` when none was seen.
        content_type: the Content-Type header, ``None`` when absent or not fetched.
    """

    body: bytes | None
    error: str = ""
    chain_der: tuple[bytes, ...] = ()
    content_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (what was observed, kept so the rule can run again without a packet):
        the body as text when it is UTF-8, else as base64; the chain as base64 DER."""
        text: str | None = None
        raw: str | None = None
        if self.body is not None:
            try:
                text = self.body.decode("utf-8")
            except UnicodeDecodeError:
                raw = base64.b64encode(self.body).decode("ascii")
        return {
            "status": "failed" if self.body is None else "ok",
            "error": self.error,
            "content_type": self.content_type,
            "body": text,
            "body_b64": raw,
            "chain_der_b64": [base64.b64encode(d).decode("ascii") for d in self.chain_der],
        }

    @classmethod
    def from_json(cls, data: object) -> PolicyFetch:
        """The inverse of :meth:`to_json`; ``ValueError`` (one line) on anything malformed or
        over the bounds (the body at most :data:`MAX_POLICY_BYTES`, ten certificates)."""
        if not isinstance(data, dict):
            raise ValueError("a stored MTA-STS fetch is not an object")
        try:
            body: bytes | None = None
            if data.get("status") == "ok":
                if isinstance(data.get("body"), str):
                    body = data["body"].encode("utf-8")
                else:
                    body = base64.b64decode(str(data.get("body_b64")), validate=True)
            chain = data.get("chain_der_b64") or []
            if not isinstance(chain, list) or len(chain) > 10:
                raise ValueError("its chain is not a list of at most 10 certificates")
            ctype = data.get("content_type")
            fetched = cls(
                body=body,
                error=str(data.get("error") or ""),
                chain_der=tuple(base64.b64decode(str(c), validate=True) for c in chain),
                content_type=None if ctype is None else str(ctype),
            )
        except (binascii.Error, UnicodeEncodeError) as exc:
            raise ValueError(f"a stored MTA-STS fetch is damaged: {exc}") from None
        if body is not None and len(body) > MAX_POLICY_BYTES:
            raise ValueError("a stored MTA-STS policy is larger than 64 KiB")
        return fetched


#: Fetches a URL (the caller bounds time and size, and never follows redirects).
PolicyFetcher = Callable[[str], Awaitable[PolicyFetch]]


@dataclass(frozen=True, slots=True, kw_only=True)
class StsMxCheck:
    """One MX against the policy.

    Attributes:
        name: the MX host.
        pattern: the policy pattern it matches, ``None`` when none does.
        cert_names: the DNS names on the certificate it served on port 25 (``None``: no
            certificate was seen, not checked).
        cert_matches: the certificate is valid for the MX name (``None``: not checked).
    """

    name: str
    pattern: str | None
    cert_names: tuple[str, ...] | None
    cert_matches: bool | None

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "pattern": self.pattern,
            "certificate_names": None if self.cert_names is None else list(self.cert_names),
            "certificate_matches": self.cert_matches,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class MtaStsResult:
    """MTA-STS for one domain.

    Attributes:
        domain: the policy domain.
        record: the valid TXT record, ``None`` when there is none usable.
        record_status: ``present``, ``absent``, ``invalid``, or a lookup failure status.
        policy_url: where the policy is fetched from.
        fetched: the policy was fetched (a 200 answer within the bounds).
        fetch_error: why it was not.
        policy: the parsed policy (``None`` when not fetched).
        policy_host_ok: the policy host's certificate is valid (``None``: not judged).
        mx: each MX against the policy (empty without a valid policy).
        fetch: what the policy fetch observed (kept, with the DNS answers, to run again).
        security: DNSSEC standing of the TXT answer.
        findings: what is wrong (or notable).
    """

    domain: str
    record: StsRecord | None
    record_status: str
    policy_url: str
    fetched: bool = False
    fetch_error: str = ""
    policy: StsPolicy | None = None
    policy_host_ok: bool | None = None
    mx: tuple[StsMxCheck, ...] = ()
    fetch: PolicyFetch | None = None
    security: Security = Security.UNKNOWN
    findings: tuple[DomainFinding, ...] = field(default=())

    @property
    def mode(self) -> StsMode | None:
        """The mode senders apply: ``None`` when they apply no policy at all."""
        if self.record is None or self.policy is None or not self.policy.valid:
            return None
        if self.policy_host_ok is False:
            return None
        return self.policy.mode

    @property
    def enforced(self) -> bool:
        """Senders honouring MTA-STS insist on a valid certificate for a listed MX."""
        return self.mode is StsMode.ENFORCE

    def to_json(self) -> dict[str, Any]:
        return {
            "domain": self.domain,
            "record_status": self.record_status,
            "id": None if self.record is None else self.record.id,
            "policy_url": self.policy_url,
            "fetched": self.fetched,
            "fetch_error": self.fetch_error,
            "policy_host_certificate_valid": self.policy_host_ok,
            "policy": None if self.policy is None else self.policy.to_json(),
            "mode_applied": None if self.mode is None else str(self.mode),
            "mx": [m.to_json() for m in self.mx],
            "fetch": None if self.fetch is None else self.fetch.to_json(),
            "dnssec": str(self.security),
        }


# --- the TXT record (RFC 8461 3.1) ---------------------------------------------------------------

_WSP = "[ \t]*"
_VERSION = re.compile(rf"^v{_WSP}={_WSP}STSv1{_WSP}(;|$)")
_FIELD = re.compile(
    rf"^{_WSP}([A-Za-z0-9][A-Za-z0-9_.-]{{0,31}}){_WSP}={_WSP}([\x21-\x3a\x3c\x3e-\x7e]+){_WSP}$"
)
_ID = re.compile(r"^[A-Za-z0-9]{1,32}$")


def parse_sts_record(texts: Sequence[str]) -> tuple[StsRecord | None, str]:
    """The one ``v=STSv1`` record among a name's TXT strings, or ``(None, why)``.

    ``why`` is ``""`` when no record starts with ``v=STSv1`` (no policy), else the reason the
    record is unusable (several records, a bad field, no ``id``)."""
    candidates = [t for t in texts if _VERSION.match(t)]
    if not candidates:
        near = [t for t in texts if t.lower().replace(" ", "").startswith("v=sts")]
        if near:
            return None, f"the record {near[0]!r} does not start with exactly 'v=STSv1'"
        return None, ""
    if len(candidates) > 1:
        return None, f"{len(candidates)} records start with v=STSv1; senders need exactly one"
    text = candidates[0]
    parts = text.split(";")
    fields: dict[str, str] = {}
    for raw in parts[1:]:
        if not raw.strip(" \t"):
            continue  # the optional final delimiter, or an empty field
        m = _FIELD.match(raw)
        if m is None:
            return None, f"the field {raw.strip()!r} is not 'name=value'"
        fields.setdefault(m.group(1), m.group(2))
    ident = fields.get("id")
    if ident is None:
        return None, "the record has no 'id=' field"
    if not _ID.match(ident):
        return None, f"the id {ident!r} is not 1 to 32 letters or digits"
    return StsRecord(id=ident, text=text), ""


# --- the policy (RFC 8461 3.2) -------------------------------------------------------------------

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def _valid_pattern(pattern: str) -> bool:
    name = pattern[2:] if pattern.startswith("*.") else pattern
    labels = name.rstrip(".").split(".")
    return len(name) <= 253 and len(labels) >= 2 and all(_LABEL.match(x) for x in labels)


def parse_policy(body: bytes) -> StsPolicy:
    """Parse a policy body (lines ending in CRLF, or LF as senders accept); never raises."""
    problems: list[str] = []
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        text = body.decode("utf-8", errors="replace")
        problems.append("the policy is not UTF-8 text")
    values: dict[str, str] = {}
    mx: list[str] = []
    for number, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        line = line.strip(" \t\r")
        if not line:
            continue
        key, sep, value = line.partition(":")
        key, value = key.strip(" \t"), value.strip(" \t")
        if not sep or not key:
            problems.append(f"line {number} is not 'key: value': {line[:80]!r}")
            continue
        if key == "mx":
            pattern = value.lower()
            if _valid_pattern(pattern):
                mx.append(pattern.rstrip("."))
            else:
                problems.append(f"line {number}: {value[:80]!r} is not a host name or '*.' pattern")
        elif key in ("version", "mode", "max_age"):
            if key in values:
                problems.append(f"line {number}: '{key}' is given twice")
            else:
                values[key] = value
        # other keys: extensions, ignored by senders (RFC 8461 3.2)
    version = values.get("version")
    if version is None:
        problems.append("no 'version' line")
    elif version != "STSv1":
        problems.append(f"version is {version[:40]!r}, not STSv1")
    mode: StsMode | None = None
    if "mode" not in values:
        problems.append("no 'mode' line")
    else:
        try:
            mode = StsMode(values["mode"])
        except ValueError:
            problems.append(f"mode {values['mode'][:40]!r} is not enforce, testing or none")
    max_age: int | None = None
    if "max_age" not in values:
        problems.append("no 'max_age' line")
    else:
        raw = values["max_age"]
        if raw.isascii() and raw.isdigit() and len(raw) <= 10:
            max_age = int(raw)
            if max_age > MAX_AGE_LIMIT:
                problems.append(f"max_age {max_age} is above {MAX_AGE_LIMIT} (a year)")
        else:
            problems.append(f"max_age {raw[:40]!r} is not a number of seconds")
    if mode in (StsMode.ENFORCE, StsMode.TESTING) and not mx:
        problems.append(f"mode {mode} needs at least one 'mx' line")
    return StsPolicy(
        version=version,
        mode=mode,
        max_age=max_age,
        mx=tuple(dict.fromkeys(mx)),
        problems=tuple(problems),
    )


def mx_pattern_matches(pattern: str, host: str) -> bool:
    """RFC 8461 4.1: ``host`` equals ``pattern``, or ``pattern`` is ``*.REST`` and ``host`` is
    one label followed by ``.REST`` (the wildcard covers exactly the leftmost label)."""
    p = pattern.lower().rstrip(".")
    h = host.lower().rstrip(".")
    if not p or not h:
        return False
    if p.startswith("*."):
        label, dot, rest = h.partition(".")
        return bool(label) and bool(dot) and rest == p[2:]
    return p == h


def policy_url(domain: str) -> str:
    return f"https://mta-sts.{domain}/.well-known/mta-sts.txt"


def _cert_name_matches(names: Sequence[str], host: str) -> bool:
    from vedette.x509 import dns_name_matches

    return any(dns_name_matches(n, host) for n in names)


def judge_policy_host(
    chain_der: Sequence[bytes], host: str, roots_der: Sequence[bytes], now: datetime
) -> list[str]:
    """Why senders would refuse the policy host's certificate (empty: they accept it): the
    chain must lead to a trusted root, the leaf name ``host`` and be in date."""
    from vedette.x509 import analyse_chain, match_certificate

    if not chain_der:
        return ["the server sent no certificate"]
    analysis = analyse_chain(chain_der, roots_der)
    if analysis.leaf is None:
        return ["the certificate does not parse"]
    reasons: list[str] = []
    if not analysis.trusted:
        if analysis.leaf_self_signed:
            reasons.append("the certificate is self-signed")
        elif analysis.missing_issuer is not None:
            reasons.append(
                "the chain does not lead to a trusted root (issuer not sent or unknown: "
                f"{analysis.missing_issuer.rfc4514_string()})"
            )
        else:
            reasons.append("the chain does not lead to a trusted root")
    match = match_certificate(analysis.leaf, host)
    if not match.matched:
        reasons.append(match.describe())
    when = now if now.tzinfo else now.replace(tzinfo=UTC)
    if analysis.leaf.not_valid_after_utc < when:
        reasons.append(f"the certificate expired on {analysis.leaf.not_valid_after_utc:%Y-%m-%d}")
    elif analysis.leaf.not_valid_before_utc > when:
        reasons.append(
            f"the certificate is not valid before {analysis.leaf.not_valid_before_utc:%Y-%m-%d}"
        )
    return reasons


def _media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


async def check_mta_sts(
    lookup: Lookup,
    domain: str,
    mx_hosts: Sequence[str],
    mx_cert_names: Mapping[str, Sequence[str]],
    fetch: PolicyFetcher | None = None,
    *,
    roots_der: Sequence[bytes] | None = None,
    now: datetime | None = None,
) -> MtaStsResult:
    """MTA-STS of ``domain``, matched against its MX hosts and their certificates' names.

    ``mx_cert_names`` maps an MX host to the DNS names of the certificate it served on port 25
    (an MX absent from it was not reached: its certificate is not judged). ``fetch`` gets the
    policy (``None``: the policy is not fetched and this says so). ``roots_der`` are the trust
    anchors the policy host's chain is judged against (``None``: not judged), at ``now``.
    """
    domain = domain.lower().rstrip(".")
    url = policy_url(domain)
    answer = await lookup.query(f"_mta-sts.{domain}", "TXT")
    base: dict[str, Any] = {"domain": domain, "policy_url": url, "security": answer.security}
    subject = f"_mta-sts.{domain}"
    if answer.status.is_failure:
        detail = answer.detail or str(answer.status)
        return MtaStsResult(
            record=None,
            record_status=str(answer.status),
            findings=(TXT_LOOKUP_FAILED.hit(subject, detail),),
            **base,
        )
    texts = answer.texts() if answer.status is DnsStatus.OK else ()
    record, why = parse_sts_record(texts)
    if record is None:
        if not why:
            return MtaStsResult(
                record=None,
                record_status="absent",
                findings=(TXT_MISSING.hit(domain, f"{subject} has no v=STSv1 TXT record"),),
                **base,
            )
        return MtaStsResult(
            record=None,
            record_status="invalid",
            findings=(TXT_INVALID.hit(subject, why, evidence=texts[:4]),),
            **base,
        )
    base["record"] = record
    base["record_status"] = "present"
    if fetch is None:
        return MtaStsResult(fetch_error="the policy was not fetched", **base)
    got = await fetch(url)
    findings: list[DomainFinding] = []
    host = f"mta-sts.{domain}"
    host_ok: bool | None = None
    if got.chain_der and roots_der is not None:
        reasons = judge_policy_host(got.chain_der, host, roots_der, now or datetime.now(UTC))
        host_ok = not reasons
        if reasons:
            findings.append(POLICY_HOST_CERT.hit(host, "; ".join(reasons)))
    if got.body is None:
        findings.append(FETCH_FAILED.hit(host, got.error or "no answer"))
        return MtaStsResult(
            fetch_error=got.error,
            policy_host_ok=host_ok,
            fetch=got,
            findings=tuple(findings),
            **base,
        )
    if _media_type(got.content_type) != "text/plain":
        findings.append(
            CONTENT_TYPE.hit(host, f"Content-Type: {got.content_type or '(none)'}"[:200])
        )
    policy = parse_policy(got.body)
    checks: list[StsMxCheck] = []
    if not policy.valid:
        findings.append(POLICY_INVALID.hit(host, "; ".join(policy.problems)[:1000]))
    else:
        findings.extend(_mode_findings(domain, policy))
        checks = _match(domain, policy, mx_hosts, mx_cert_names, findings)
    return MtaStsResult(
        fetched=True,
        policy=policy,
        policy_host_ok=host_ok,
        mx=tuple(checks),
        fetch=got,
        findings=tuple(findings),
        **base,
    )


def _mode_findings(domain: str, policy: StsPolicy) -> list[DomainFinding]:
    out: list[DomainFinding] = []
    if policy.mode is StsMode.TESTING:
        out.append(MODE_TESTING.hit(domain, "mode: testing"))
    elif policy.mode is StsMode.NONE:
        out.append(MODE_NONE.hit(domain, "mode: none"))
    if policy.max_age is not None and policy.max_age < SHORT_MAX_AGE:
        out.append(SHORT_AGE.hit(domain, f"max_age: {policy.max_age} seconds"))
    return out


def _match(
    domain: str,
    policy: StsPolicy,
    mx_hosts: Sequence[str],
    mx_cert_names: Mapping[str, Sequence[str]],
    findings: list[DomainFinding],
) -> list[StsMxCheck]:
    enforce = policy.mode is StsMode.ENFORCE
    applies = policy.mode in (StsMode.ENFORCE, StsMode.TESTING)
    # Failures under "testing" are reported by senders, not acted on.
    weight = None if enforce else Severity.MEDIUM
    checks: list[StsMxCheck] = []
    used: set[str] = set()
    for name in mx_hosts:
        pattern = next((p for p in policy.mx if mx_pattern_matches(p, name)), None)
        if pattern is not None:
            used.add(pattern)
        names = mx_cert_names.get(name)
        cert_names = None if names is None else tuple(names)
        cert_ok = None if cert_names is None else _cert_name_matches(cert_names, name)
        checks.append(
            StsMxCheck(name=name, pattern=pattern, cert_names=cert_names, cert_matches=cert_ok)
        )
        if not applies:
            continue
        if pattern is None:
            findings.append(
                MX_NOT_COVERED.hit(
                    name,
                    f"{name} matches none of the policy's mx patterns: {', '.join(policy.mx)}",
                    severity=weight,
                )
            )
        if cert_ok is False and cert_names is not None:
            listed = ", ".join(cert_names[:10]) or "(no DNS name)"
            findings.append(
                MX_CERT_NAME.hit(
                    name,
                    f"the certificate {name} serves on port 25 names {listed}",
                    severity=weight,
                )
            )
    for pattern in policy.mx:
        if pattern not in used and mx_hosts:
            findings.append(
                PATTERN_UNUSED.hit(domain, f"'mx: {pattern}' matches none of {', '.join(mx_hosts)}")
            )
    return checks
