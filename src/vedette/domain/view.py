"""The one view: what a sending MTA does with each MX, given DANE, MTA-STS and the served chain.

A port-25 certificate problem matters only to a sender that insists on a valid certificate:

* under an MTA-STS ``enforce`` policy that lists the MX, name, date and trust problems stop
  senders honouring it (Gmail, Exchange Online): the finding rises to high;
* with a matching DANE-EE (``3 x x``) TLSA record, names and dates are irrelevant to DANE
  senders (Postfix, Exim with DANE): the finding drops to info for them;
* with neither, TLS on port 25 is opportunistic and the finding keeps the scan's weight, saying
  that it matters once DANE or MTA-STS is published.

An MX whose certificate matches neither its TLSA records nor the MTA-STS policy is *one* finding
with one fix, in place of the DANE and MTA-STS findings it stands for.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vedette.mailauth.mtasts import MtaStsResult, StsMode
from vedette.mailauth.mx import MxResult
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.model import Finding, Observation, ScanReport, Severity

__all__ = ["DEPENDS_ON_AUTH", "MxView", "ResolvedFinding", "SenderOutcome", "View", "one_view"]

#: Port-25 certificate findings whose weight depends on DANE / MTA-STS.
DEPENDS_ON_AUTH = frozenset(
    {
        "cert.name-mismatch",
        "cert.expired",
        "cert.not-yet-valid",
        "cert.self-signed",
        "cert.untrusted",
        "cert.unknown-root",
        "cert.chain-incomplete",
        "cert.expiring-soon",
    }
)
#: Of those, the ones that make an MTA-STS sender refuse the MX (RFC 8461 4.2).
_STS_FATAL = DEPENDS_ON_AUTH - {"cert.expiring-soon"}
#: DANE findings (helper A's ids) that say no TLSA record matches the served chain.
DANE_MISMATCH_IDS = frozenset({"domain.dane-no-match"})

CERT_REJECTED = domain_check(
    "domain.mx-certificate-rejected",
    "An MX's certificate matches neither its TLSA records nor the MTA-STS policy",
    Severity.HIGH,
    "Serve on this MX a certificate from a public CA that names the MX host, then publish the "
    "TLSA '3 1 1' record of its key (keep the old record until the switch is done): both DANE "
    "and MTA-STS senders then deliver.",
    references=("RFC 7672 3.1", "RFC 8461 4.2"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SenderOutcome:
    """What one kind of sender does with one MX: ``delivers`` True/False, ``None`` when the
    sender falls back (no policy of its kind applies)."""

    profile: str
    delivers: bool | None
    reason: str

    def to_json(self) -> dict[str, Any]:
        return {"profile": self.profile, "delivers": self.delivers, "reason": self.reason}


@dataclass(frozen=True, slots=True, kw_only=True)
class MxView:
    host: str
    preference: int
    addresses: tuple[str, ...]
    tls: str  # "tls", "no-starttls", "unreachable", "not-scanned"
    certificate_names: tuple[str, ...] | None
    dane: str  # unchecked | none | no-tls | match | dane-ee-match | mismatch
    mta_sts: str  # none | testing | enforce-ok | enforce-fails | not-listed
    senders: tuple[SenderOutcome, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "preference": self.preference,
            "addresses": list(self.addresses),
            "tls": self.tls,
            "certificate_names": (
                None if self.certificate_names is None else list(self.certificate_names)
            ),
            "dane": self.dane,
            "mta_sts": self.mta_sts,
            "senders": [s.to_json() for s in self.senders],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ResolvedFinding:
    """A scan finding on an MX, with the weight DANE/MTA-STS give it and why."""

    finding: Finding
    severity: Severity
    note: str


@dataclass(frozen=True, slots=True, kw_only=True)
class View:
    findings: tuple[DomainFinding, ...]
    resolved: tuple[ResolvedFinding, ...]
    mx: tuple[MxView, ...]


def _dane_state(result: Any, tls: str) -> str:
    """``unchecked``, ``none`` (DANE does not apply: no usable, DNSSEC-secure TLSA record),
    ``no-tls`` (it applies, and the MX offered no STARTTLS), ``match`` (a usable record matches
    every chain served), ``dane-ee-match`` (a ``3 x x`` record does) or ``mismatch``, from a
    DANE result (``mailauth.dane.DaneResult``: ``applies``, ``dane_match`` by address,
    ``dane_ee_match``)."""
    if result is None:
        return "unchecked"
    if not getattr(result, "applies", False):
        return "none"
    if getattr(result, "dane_ee_match", False):
        return "dane-ee-match"
    matches: Mapping[str, bool] = getattr(result, "dane_match", None) or {}
    if not matches:
        return "no-tls" if tls == "no-starttls" else "mismatch"
    return "match" if all(matches.values()) else "mismatch"


def _tls_state(observations: list[Observation]) -> str:
    if not observations:
        return "not-scanned"
    if any(o.tls is not None for o in observations):
        return "tls"
    if any(o.dialogue is not None and o.dialogue.greeting for o in observations):
        return "no-starttls"
    return "unreachable"


def _sts_state(sts: MtaStsResult | None, host: str, fatal: list[Finding]) -> tuple[str, str]:
    """(state, the reason when it fails)."""
    if sts is None or sts.mode is None or sts.mode is StsMode.NONE:
        return "none", ""
    check = next((m for m in sts.mx if m.name == host), None)
    if sts.mode is StsMode.TESTING:
        return "testing", ""
    if check is None or check.pattern is None:
        return "not-listed", f"{host} is not in the policy"
    if check.cert_matches is False:
        return "enforce-fails", f"the certificate lacks {host}"
    if fatal:
        return "enforce-fails", f"the certificate fails: {fatal[0].title.lower()}"
    if check.cert_matches is None:
        return "enforce-fails", f"{host} served no certificate on port 25"
    return "enforce-ok", ""


_DANE_PROFILE = "DANE senders (Postfix, Exim with DANE)"
_STS_PROFILE = "MTA-STS senders (Gmail, Exchange Online)"
_OPEN_PROFILE = "Opportunistic senders"
#: What each kind of sender does, by DANE state, MTA-STS state and TLS state.
_DANE_SAYS: dict[str, tuple[bool | None, str]] = {
    "unchecked": (None, "DANE not checked"),
    "none": (None, "no DNSSEC-signed TLSA record: they fall back to opportunistic TLS"),
    "mismatch": (False, "Postfix with DANE will defer: no TLSA matches the served chain"),
    "no-tls": (
        False,
        "Postfix with DANE will defer: TLSA records are published and the MX offers no STARTTLS",
    ),
    "match": (True, "deliver: a TLSA record matches the served chain"),
    "dane-ee-match": (True, "deliver: a DANE-EE record matches the served key"),
}
_STS_SAYS: dict[str, tuple[bool | None, str]] = {
    "none": (None, "no MTA-STS policy applies"),
    "testing": (True, "testing mode: failures are reported, mail is delivered"),
    "enforce-ok": (True, "deliver: listed in the enforced policy, certificate valid"),
}
_OPEN_SAYS: dict[str, tuple[bool | None, str]] = {
    "tls": (True, "deliver over TLS, whatever the certificate"),
    "no-starttls": (True, "deliver in clear text: no TLS was offered"),
    "unreachable": (False, "cannot connect to port 25"),
    "not-scanned": (False, "not scanned"),
}


def _senders(tls: str, dane: str, sts_state: str, sts_reason: str) -> tuple[SenderOutcome, ...]:
    refused = (False, f"Exchange Online will not deliver: MTA-STS enforce and {sts_reason}")
    says = (
        (_DANE_PROFILE, _DANE_SAYS[dane]),
        (_STS_PROFILE, _STS_SAYS.get(sts_state, refused)),
        (_OPEN_PROFILE, _OPEN_SAYS[tls]),
    )
    return tuple(SenderOutcome(profile=p, delivers=d, reason=r) for p, (d, r) in says)


def _resolve(f: Finding, *, enforced: bool, dane_ee: bool) -> ResolvedFinding:
    if f.id not in DEPENDS_ON_AUTH:
        return ResolvedFinding(finding=f, severity=f.severity, note="")
    if enforced:
        note = (
            "matters: the MTA-STS policy is enforced, senders honouring it will not deliver "
            "to this MX"
        )
        if dane_ee:
            note += " (DANE senders are unaffected: a DANE-EE record matches)"
        severity = max(f.severity, Severity.HIGH) if f.id in _STS_FATAL else f.severity
        return ResolvedFinding(finding=f, severity=severity, note=note)
    if dane_ee:
        return ResolvedFinding(
            finding=f,
            severity=Severity.INFO,
            note="irrelevant to DANE senders: a matching DANE-EE (3 x x) TLSA record pins the key",
        )
    return ResolvedFinding(
        finding=f,
        severity=f.severity,
        note="opportunistic TLS only (no MTA-STS enforce, no DANE): senders deliver anyway; it "
        "matters once either is published",
    )


def _host_of(subject: str) -> str:
    """The host a finding is about: DANE says ``mx.example.org (192.0.2.1)`` per address."""
    return subject.split(" (", 1)[0]


def one_view(
    mx: MxResult,
    outcomes: Mapping[str, Any],
    scan: ScanReport,
    cert_names: Mapping[str, tuple[str, ...]],
) -> View:
    """Tie the rules and the scan together for each MX (see the module docstring)."""
    sts: MtaStsResult | None = outcomes.get("mta_sts")
    dane_by_host: Mapping[str, Any] = getattr(outcomes.get("dane"), "results", {}) or {}
    dane_known = "dane" in outcomes
    drop: set[tuple[str, str]] = set()
    merged: list[DomainFinding] = []
    views: list[MxView] = []
    resolved: list[ResolvedFinding] = []
    names = set(mx.names)
    for host in mx.hosts:
        observed = [
            o for o in scan.observations if o.endpoint.host == host.name and o.endpoint.port == 25
        ]
        on25 = [f for f in scan.findings if f.endpoint.host == host.name and f.endpoint.port == 25]
        fatal = [f for f in on25 if f.id in _STS_FATAL and f.id != "cert.name-mismatch"]
        tls = _tls_state(observed)
        dane = _dane_state(dane_by_host.get(host.name), tls) if dane_known else "unchecked"
        sts_state, sts_reason = _sts_state(sts, host.name, fatal)
        views.append(
            MxView(
                host=host.name,
                preference=host.preference,
                addresses=host.addresses,
                tls=tls,
                certificate_names=cert_names.get(host.name),
                dane=dane,
                mta_sts=sts_state,
                senders=_senders(tls, dane, sts_state, sts_reason),
            )
        )
        if dane == "mismatch" and sts_state == "enforce-fails":
            drop |= {(i, host.name) for i in DANE_MISMATCH_IDS}
            drop.add(("domain.mta-sts-mx-certificate-name", host.name))
            # DANE says which record would match the served key: the one fix keeps it.
            dane_said = [
                f.detail
                for f in getattr(dane_by_host.get(host.name), "findings", ())
                if f.id in DANE_MISMATCH_IDS
            ]
            merged.append(
                CERT_REJECTED.hit(
                    host.name,
                    f"DANE senders defer (no TLSA record matches the served chain) and MTA-STS "
                    f"senders refuse it ({sts_reason})"
                    + "".join(f"; DANE: {d}" for d in dane_said[:2]),
                )
            )
        enforced = sts_state in ("enforce-ok", "enforce-fails")
        rejected = dane == "mismatch" and sts_state == "enforce-fails"
        for f in on25:
            if rejected and f.id in DEPENDS_ON_AUTH:
                resolved.append(
                    ResolvedFinding(
                        finding=f, severity=Severity.INFO, note=f"part of {CERT_REJECTED.id}"
                    )
                )
                continue
            if f.id == "cert.name-mismatch":
                # Said once: the scan's finding, weighed by the policy, stands for MTA-STS's.
                drop.add(("domain.mta-sts-mx-certificate-name", host.name))
            resolved.append(_resolve(f, enforced=enforced, dane_ee=dane == "dane-ee-match"))
    resolved.extend(
        ResolvedFinding(finding=f, severity=f.severity, note="")
        for f in scan.findings
        if not (f.endpoint.host in names and f.endpoint.port == 25)
    )
    findings: list[DomainFinding] = list(mx.findings)
    for outcome in outcomes.values():
        findings.extend(f for f in outcome.findings if (f.id, _host_of(f.subject)) not in drop)
    findings.extend(merged)
    findings.sort(key=lambda f: -f.severity)
    resolved.sort(key=lambda r: -r.severity)
    return View(findings=tuple(findings), resolved=tuple(resolved), mx=tuple(views))
