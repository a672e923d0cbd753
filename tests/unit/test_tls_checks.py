"""tls.* findings from a TlsScan, role-weighted; the TlsScan in the store, JSON and terminal."""

from __future__ import annotations

import hashlib
import io
import json
from datetime import UTC, datetime

import pytest
from rich.console import Console

from tests.builders import endpoint_for, observed_tls
from vedette.checks import CheckContext, analyse
from vedette.errors import StoreError
from vedette.model import Observation, ScanReport, Service, Severity
from vedette.report.json import report_to_json
from vedette.report.terminal import render_terminal
from vedette.store.codec import observation_from_dict, observation_to_dict
from vedette.tls.registry import SSL2, SSL3, TLS10, TLS11, TLS12, TLS13
from vedette.tls.result import ClientCertRequest, TlsScan, VersionSuites

NOW = datetime(2026, 3, 1, tzinfo=UTC)
ECDHE_GCM, RSA_GCM, RSA_3DES, RC4_MD5, EXP_RC4, ADH_AES, NULL_SHA = (
    0xC02F, 0x009C, 0x000A, 0x0004, 0x0003, 0x0034, 0x0002,
)  # fmt: skip


def obs(scan: TlsScan | None, service: Service = Service.SUBMISSION) -> Observation:
    return observed_tls(
        (),
        endpoint=endpoint_for(service, host="mail.example.test", ip="192.0.2.1"),
        version="TLSv1.2",
        cipher="X",
        sni=None,
        at=NOW,
        tls_scan=scan,
    )


def tls_findings(o: Observation) -> dict[str, Severity]:
    found = analyse([o], CheckContext(now=NOW))
    return {f.id: f.severity for f in found if f.id.startswith("tls.")}


LEGACY = TlsScan(
    versions=(SSL2, SSL3, TLS10, TLS11),
    suites=(
        VersionSuites(version=SSL2, suites=(0x010080,)),
        VersionSuites(version=SSL3, suites=(RC4_MD5, EXP_RC4), server_order=True),
        VersionSuites(version=TLS10, suites=(RSA_3DES, ADH_AES, NULL_SHA), server_order=True),
        VersionSuites(version=TLS11, suites=(RSA_3DES,)),
    ),
    dh_bits=(768,),
    secure_renegotiation=False,
    fallback_scsv=False,
    compression=True,
    client_cert_request=ClientCertRequest(ca_count=300, ca_bytes=40_000),
    connections=12,
)


def test_a_legacy_server_gets_every_finding_weighed_for_users():
    assert tls_findings(obs(LEGACY)) == {
        "tls.sslv2": Severity.CRITICAL,
        "tls.sslv3": Severity.HIGH,
        "tls.tls10": Severity.MEDIUM,
        "tls.tls11": Severity.MEDIUM,
        "tls.no-tls12": Severity.HIGH,
        "tls.no-tls13": Severity.LOW,
        "tls.export-suites": Severity.HIGH,
        "tls.null-suites": Severity.MEDIUM,
        "tls.anon-suites": Severity.MEDIUM,
        "tls.rc4-suites": Severity.HIGH,
        "tls.3des-suites": Severity.MEDIUM,
        "tls.weak-dh": Severity.HIGH,  # under 1024 bits on a user-facing port
        "tls.weak-suite-preferred": Severity.HIGH,
        "tls.no-fallback-scsv": Severity.LOW,
        "tls.insecure-renegotiation": Severity.MEDIUM,
        "tls.compression": Severity.MEDIUM,
        "tls.client-cert-ca-list-oversized": Severity.MEDIUM,
    }


def test_static_rsa_only_has_no_forward_secrecy():
    scan = TlsScan(
        versions=(TLS12,),
        suites=(VersionSuites(version=TLS12, suites=(RSA_GCM,)),),
        secure_renegotiation=True,
    )
    assert tls_findings(obs(scan)) == {
        "tls.no-forward-secrecy": Severity.MEDIUM,
        "tls.no-tls13": Severity.LOW,
    }


def test_port_25_weighs_less():
    found = tls_findings(obs(LEGACY, Service.SMTP))
    assert found["tls.tls10"] == Severity.INFO
    assert found["tls.anon-suites"] == Severity.INFO
    assert found["tls.sslv3"] == Severity.LOW
    assert found["tls.weak-dh"] == Severity.LOW


MODERN = TlsScan(
    versions=(TLS12, TLS13),
    suites=(
        VersionSuites(version=TLS12, suites=(ECDHE_GCM, RSA_GCM), server_order=True),
        VersionSuites(version=TLS13, suites=(0x1301,)),
    ),
    groups=(0x11EC, 0x001D),
    dh_bits=(),
    secure_renegotiation=True,
    fallback_scsv=True,
    compression=False,
    leaf_certificates=(b"leaf-der",),
    leaf_without_sni=b"default-der",
    connections=14,
)


def test_a_modern_server_is_clean_and_quick_mode_is_silent():
    assert tls_findings(obs(MODERN)) == {}
    assert tls_findings(obs(None)) == {}


def test_incomplete_scans_claim_no_absence():
    o = obs(
        TlsScan(
            versions=(TLS10,),
            suites=(VersionSuites(version=TLS10, suites=(RSA_GCM,)),),
            incomplete=True,
            incomplete_reason="TLS 1.2 suites: 421 too many connections",
        )
    )
    assert set(tls_findings(o)) == {"tls.tls10"}


def test_tls_scan_round_trips_through_the_store_and_old_rows_load():
    for scan in (LEGACY, MODERN):
        o = obs(scan)
        assert observation_from_dict(json.loads(json.dumps(observation_to_dict(o)))) == o
    old = observation_to_dict(obs(None))
    assert "tls_scan" not in old  # rows written before the field existed look like this
    assert observation_from_dict(old).tls_scan is None
    bad = observation_to_dict(obs(MODERN))
    bad["tls_scan"]["versions"] = ["TLSv1.2"]
    with pytest.raises(StoreError, match=r"tls_scan\.versions\[0\]"):
        observation_from_dict(bad)


def _report(o: Observation) -> ScanReport:
    return ScanReport(
        scan_id=None,
        targets=("mail.example.test",),
        started_at=NOW,
        finished_at=NOW,
        analysed_at=NOW,
        observations=(o,),
        findings=analyse([o], CheckContext(now=NOW)),
    )


def test_json_and_terminal_show_the_enumeration():
    doc = report_to_json(_report(obs(MODERN)))
    section = doc["endpoints"][0]["tls_scan"]
    assert section["versions"] == ["TLSv1.2", "TLSv1.3"]
    assert section["suites"][0] == {
        "version": "TLSv1.2",
        "server_order": True,
        "suites": [
            {"code": ECDHE_GCM, "name": "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"},
            {"code": RSA_GCM, "name": "TLS_RSA_WITH_AES_128_GCM_SHA256"},
        ],
    }
    assert section["groups"][0] == {"code": 0x11EC, "name": "X25519_ML_KEM_768"}
    assert section["connections"] == 14 and section["incomplete"] is False
    assert section["leaf_without_sni_sha256"] == hashlib.sha256(b"default-der").hexdigest()
    out = io.StringIO()
    render_terminal(
        _report(obs(MODERN)), Console(file=out, width=120, color_system=None), verbose=True
    )
    text = out.getvalue()
    assert "Versions:" in text and "TLSv1.2, TLSv1.3" in text
    assert "2 suite(s), server order: TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" in text
    assert "14 connection(s)" in text
    assert "Without SNI:" in text and "another certificate" in text


def test_tls_scan_stored_before_resumption_was_probed_still_loads() -> None:
    from vedette.store._tls_codec import tls_scan_from_dict, tls_scan_to_dict
    from vedette.tls.result import TlsScan

    stored = tls_scan_to_dict(TlsScan(versions=(0x0303,), resumption=True))
    assert tls_scan_from_dict(stored).resumption is True
    del stored["resumption"]
    assert tls_scan_from_dict(stored).resumption is None
