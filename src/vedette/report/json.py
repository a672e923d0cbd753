"""The machine-readable report: one JSON document per scan, schema ``vedette.scan/1``.

Every field is documented in ``docs/json-schema.md``; change the two together, and bump
``JSON_SCHEMA`` for anything but an added field. The output is for programs, so server data is
kept exactly as received (``json.dumps`` escapes what JSON needs); terminal escaping is the
terminal reporter's business, never applied here.

The document is built from plain ``dict``/``list``/``str``/``int``/``float``/``None`` values, so
``json.dumps(report_to_json(r))`` always succeeds (with the default ``ensure_ascii=True`` even
lone surrogates survive as ``\\udXXX`` escapes).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from vedette._version import __version__
from vedette.model import Severity
from vedette.probe.defence import describe
from vedette.report._certinfo import CertificateInfo, describe_certificate
from vedette.report._clients_section import matrix_to_json
from vedette.report._tls_section import tls_scan_json

if TYPE_CHECKING:
    from vedette.model import Finding, Observation, ScanReport, TlsObservation

__all__ = ["JSON_SCHEMA", "report_to_json"]

#: The ``"schema"`` value of every document this module writes.
JSON_SCHEMA = "vedette.scan/1"


def _iso(value: datetime | None) -> str | None:
    # Model times are UTC; a naive one (a caller's bug) is taken as UTC rather than lost.
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat()


def _lines(lines: tuple[str, ...] | None) -> list[str] | None:
    return None if lines is None else list(lines)


def _certificate(der: bytes) -> dict[str, Any]:
    info = describe_certificate(der)
    if not isinstance(info, CertificateInfo):
        return {"error": info.error, "der_b64": base64.b64encode(der).decode("ascii")}
    return {
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial,
        "not_before": _iso(info.not_before),
        "not_after": _iso(info.not_after),
        "sha256": info.sha256,
        "signature_algorithm": info.signature_algorithm,
        "key": info.key,
        "sans": list(info.sans),
        "pem": info.pem,
    }


def _tls(tls: TlsObservation | None) -> dict[str, Any] | None:
    if tls is None:
        return None
    return {
        "version": tls.version,
        "cipher": tls.cipher,
        "sni": tls.sni,
        "chain": [_certificate(der) for der in tls.chain_der],
    }


def _endpoint(obs: Observation, finding_ids: list[str]) -> dict[str, Any]:
    ep = obs.endpoint
    dialogue = obs.dialogue
    failure = obs.failure
    return {
        "label": ep.label,
        "host": ep.host,
        "ip": ep.ip,
        "port": ep.port,
        "service": ep.service.value,
        "protocol": ep.service.protocol.value,
        "tls_mode": ep.service.tls_mode.value,
        "role": ep.service.role.value,
        "status": "ok" if failure is None else failure.kind.value,
        "failure": None
        if failure is None
        else {"kind": failure.kind.value, "stage": failure.stage.value, "detail": failure.detail},
        "duration_s": obs.duration_s,
        "connections": obs.connections,
        "defences": [
            {
                "kind": d.kind.value,
                "evidence": d.evidence,
                "after": d.after,
                "hits": d.hits,
                "summary": describe(d),
            }
            for d in obs.defences
        ],
        "greeting": [] if dialogue is None else list(dialogue.greeting),
        "capabilities_before_tls": None
        if dialogue is None
        else _lines(dialogue.capabilities_before_tls),
        "starttls_reply": None if dialogue is None else _lines(dialogue.starttls_reply),
        "capabilities_after_tls": None
        if dialogue is None
        else _lines(dialogue.capabilities_after_tls),
        "tls": _tls(obs.tls),
        "tls_scan": tls_scan_json(obs.tls_scan),
        "findings": finding_ids,
    }


def _finding(f: Finding) -> dict[str, Any]:
    ep = f.endpoint
    return {
        "id": f.id,
        "severity": f.severity.label,
        "title": f.title,
        "detail": f.detail,
        "remediation": f.remediation,
        "endpoint": ep.label,
        "host": ep.host,
        "ip": ep.ip,
        "port": ep.port,
        "service": ep.service.value,
        "evidence": list(f.evidence),
        "references": list(f.references),
        "fix_commands": list(f.fix_commands),
    }


def report_to_json(report: ScanReport) -> dict[str, Any]:
    """The ``vedette.scan/1`` document for ``report`` (see ``docs/json-schema.md``)."""
    ids_by_endpoint: dict[object, list[str]] = {}
    for f in report.findings:
        ids_by_endpoint.setdefault(f.endpoint, []).append(f.id)
    by_severity = {s.label: 0 for s in sorted(Severity, reverse=True)}
    for f in report.findings:
        by_severity[f.severity.label] += 1
    return {
        "schema": JSON_SCHEMA,
        "vedette_version": __version__,
        "scan_id": report.scan_id,
        "targets": list(report.targets),
        "started_at": _iso(report.started_at),
        "finished_at": _iso(report.finished_at),
        "analysed_at": _iso(report.analysed_at),
        "summary": {
            "endpoints": len(report.observations),
            "scanned": sum(1 for o in report.observations if o.scanned),
            "unreachable": sum(1 for o in report.observations if not o.reachable),
            "findings": by_severity,
        },
        "endpoints": [
            _endpoint(o, list(ids_by_endpoint.get(o.endpoint, ()))) for o in report.observations
        ],
        "findings": [_finding(f) for f in report.findings],
        "clients": [matrix_to_json(m) for m in report.clients],
    }
