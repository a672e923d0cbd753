"""The one view: port-25 findings weighed by MTA-STS and DANE, sender outcomes, one finding."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from vedette.domain.view import one_view
from vedette.mailauth.mtasts import MtaStsResult, StsMode, StsMxCheck, StsPolicy, StsRecord
from vedette.mailauth.mx import MxHost, MxResult, MxStatus
from vedette.mailauth.registry import DomainFinding
from vedette.model import (
    Endpoint,
    Finding,
    Observation,
    ScanReport,
    Service,
    Severity,
    TlsObservation,
)

NOW = datetime(2026, 12, 1, tzinfo=UTC)
MX = MxResult(
    domain="example.com",
    status=MxStatus.OK,
    hosts=(MxHost(name="mx1.example.com", preference=10, addresses=("192.0.2.1",)),),
)
EP = Endpoint(host="mx1.example.com", ip="192.0.2.1", port=25, service=Service.SMTP)


def _scan(*ids: str) -> ScanReport:
    obs = Observation(
        endpoint=EP,
        started_at=NOW,
        duration_s=0.1,
        tls=TlsObservation(version="TLSv1.3", cipher="X", sni=EP.host, chain_der=(b"x",)),
    )
    findings = tuple(
        Finding(id=i, severity=Severity.MEDIUM, title=i, detail="", remediation="", endpoint=EP)
        for i in ids
    )
    return ScanReport(
        scan_id=None,
        targets=(),
        started_at=NOW,
        finished_at=NOW,
        analysed_at=NOW,
        observations=(obs,),
        findings=findings,
    )


def _sts(mode: StsMode, *, cert_ok: bool) -> MtaStsResult:
    finding = DomainFinding(
        id="domain.mta-sts-mx-certificate-name",
        severity=Severity.HIGH,
        title="t",
        subject="mx1.example.com",
        detail="",
        remediation="",
    )
    return MtaStsResult(
        domain="example.com",
        record=StsRecord(id="1", text="v=STSv1; id=1"),
        record_status="present",
        policy_url="https://mta-sts.example.com/.well-known/mta-sts.txt",
        fetched=True,
        policy=StsPolicy(version="STSv1", mode=mode, max_age=604800, mx=("mx1.example.com",)),
        policy_host_ok=True,
        mx=(
            StsMxCheck(
                name="mx1.example.com",
                pattern="mx1.example.com",
                cert_names=("mx1.example.com",) if cert_ok else ("other.example.com",),
                cert_matches=cert_ok,
            ),
        ),
        findings=() if cert_ok else (finding,),
    )


@dataclass(frozen=True)
class _Dane:
    """A stand-in with the attributes the view reads of ``mailauth.dane.DaneResult``."""

    dane_ee_match: bool
    matched: bool
    applies: bool = True
    findings: tuple[DomainFinding, ...] = ()

    @property
    def dane_match(self) -> dict[str, bool]:
        return {"192.0.2.1": self.matched}

    def to_json(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class _PerName:
    results: dict[str, _Dane]

    @property
    def findings(self) -> tuple[DomainFinding, ...]:
        return tuple(f for r in self.results.values() for f in r.findings)


def _severity(view: Any, ident: str) -> Severity:
    return next(r.severity for r in view.resolved if r.finding.id == ident)


def test_enforce_raises_port_25_certificate_findings() -> None:
    view = one_view(MX, {"mta_sts": _sts(StsMode.ENFORCE, cert_ok=False)}, _scan(
        "cert.name-mismatch", "cert.weak-rsa-key"), {})  # fmt: skip
    assert _severity(view, "cert.name-mismatch") is Severity.HIGH
    assert _severity(view, "cert.weak-rsa-key") is Severity.MEDIUM  # not about the name/trust
    # Said once: the scan's mismatch stands for the MTA-STS rule's finding on the same MX.
    assert [f.id for f in view.findings] == []
    (mx,) = view.mx
    assert mx.mta_sts == "enforce-fails"
    sts = next(s for s in mx.senders if "MTA-STS" in s.profile)
    assert sts.delivers is False and "lacks mx1.example.com" in sts.reason


def test_dane_ee_drops_them_to_info_and_nothing_keeps_the_scan_weight() -> None:
    dane = {"dane": _PerName({"mx1.example.com": _Dane(dane_ee_match=True, matched=True)})}
    view = one_view(MX, dane, _scan("cert.expired"), {})
    assert _severity(view, "cert.expired") is Severity.INFO
    assert "DANE-EE" in next(r.note for r in view.resolved)
    plain = one_view(MX, {}, _scan("cert.expired"), {})
    assert _severity(plain, "cert.expired") is Severity.MEDIUM
    assert "opportunistic" in plain.resolved[0].note
    assert plain.mx[0].senders[-1].delivers is True


def test_neither_tlsa_nor_policy_matches_is_one_finding() -> None:
    outcomes = {
        "mta_sts": _sts(StsMode.ENFORCE, cert_ok=False),
        "dane": _PerName({"mx1.example.com": _Dane(dane_ee_match=False, matched=False)}),
    }
    view = one_view(MX, outcomes, _scan("cert.name-mismatch"), {})
    assert [f.id for f in view.findings] == ["domain.mx-certificate-rejected"]
    assert _severity(view, "cert.name-mismatch") is Severity.INFO
    dane_sender = view.mx[0].senders[0]
    assert dane_sender.delivers is False and "will defer" in dane_sender.reason


def test_testing_mode_does_not_raise() -> None:
    view = one_view(MX, {"mta_sts": _sts(StsMode.TESTING, cert_ok=True)}, _scan(
        "cert.name-mismatch"), {})  # fmt: skip
    assert _severity(view, "cert.name-mismatch") is Severity.MEDIUM
    assert view.mx[0].mta_sts == "testing"


def test_dane_states_from_the_dane_result() -> None:
    def dane_view(result: _Dane) -> Any:
        return one_view(MX, {"dane": _PerName({"mx1.example.com": result})}, _scan(), {}).mx[0]

    assert dane_view(_Dane(dane_ee_match=False, matched=True)).dane == "match"
    # Published but not DNSSEC-secure, or only unusable records: DANE does not apply.
    unsigned = dane_view(_Dane(dane_ee_match=False, matched=False, applies=False))
    assert unsigned.dane == "none" and unsigned.senders[0].delivers is None
    mismatch = dane_view(_Dane(dane_ee_match=False, matched=False))
    assert mismatch.dane == "mismatch"
    assert mismatch.senders[0].reason == (
        "Postfix with DANE will defer: no TLSA matches the served chain"
    )


def test_the_one_finding_replaces_dane_s_per_address_finding_and_keeps_its_record() -> None:
    no_match = DomainFinding(
        id="domain.dane-no-match",
        severity=Severity.HIGH,
        title="No TLSA record matches",
        subject="mx1.example.com (192.0.2.1)",  # DANE speaks per address
        detail="publish 3 1 1 abcd",
        remediation="",
    )
    dane = _Dane(dane_ee_match=False, matched=False, findings=(no_match,))
    outcomes = {"mta_sts": _sts(StsMode.ENFORCE, cert_ok=False), "dane": _PerName({
        "mx1.example.com": dane})}  # fmt: skip
    view = one_view(MX, outcomes, _scan("cert.name-mismatch"), {})
    (merged,) = view.findings
    assert merged.id == "domain.mx-certificate-rejected" and "3 1 1 abcd" in merged.detail
