"""The TLS enumeration (``Observation.tls_scan``) in the JSON document and on the terminal.

Kept apart from ``report.json`` and ``report.terminal``, which call in here: codes are shown
with their registry names, unknown codes as ``0x…``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

from vedette.model import Defence
from vedette.probe.defence import describe
from vedette.report.escape import safe_text
from vedette.tls.registry import (
    SSL2,
    group_name,
    registry,
    sigalg_name,
    suite,
    suite_name,
    version_name,
)
from vedette.tls.result import TlsScan, staple_info

_FLAGS = (
    ("secure_renegotiation", "secure renegotiation"),
    ("fallback_scsv", "fallback SCSV"),
    ("compression", "compression"),
    ("session_ticket", "session tickets"),
    ("ocsp_stapling", "OCSP status_request ack (≤1.2)"),
    ("heartbeat", "heartbeat"),
    ("extended_master_secret", "extended master secret"),
    ("encrypt_then_mac", "encrypt-then-MAC"),
    ("resumption", "session resumption (TLS 1.2)"),
    ("resumption_tls13", "session resumption (TLS 1.3)"),
)


def _staple_json(scan: TlsScan) -> dict[str, Any] | None:
    """The stapled OCSP response: what it says, and its hash (the DER stays in the store)."""
    if scan.ocsp_response is None:
        return None
    info = staple_info(scan.ocsp_response)
    return {
        "sha256": hashlib.sha256(scan.ocsp_response).hexdigest(),
        "response_status": None if info is None else info.response_status,
        "cert_status": None if info is None else info.cert_status,
        "produced_at": None
        if info is None or info.produced_at is None
        else info.produced_at.isoformat(),
        "next_update": None
        if info is None or info.next_update is None
        else info.next_update.isoformat(),
    }


def _stapling_text(scan: TlsScan) -> str | None:
    """E.g. ``TLS 1.3 good, next update 2026-11-30 00:00 UTC; TLS 1.2 none``."""
    if scan.ocsp_staple_tls12 is None and scan.ocsp_staple_tls13 is None:
        return None
    info = None if scan.ocsp_response is None else staple_info(scan.ocsp_response)
    what = "stapled" if info is None else info.summary()
    parts = [
        f"{label} {what if stapled else 'none'}"
        for label, stapled in (
            ("TLS 1.3", scan.ocsp_staple_tls13),
            ("TLS 1.2", scan.ocsp_staple_tls12),
        )
        if stapled is not None
    ]
    return "; ".join(parts)


def accepted_versions(scan: TlsScan) -> list[str]:
    """The versions the enumeration saw accepted, oldest first (``TLSv1.0`` … ``TLSv1.3``)."""
    return [version_name(v) for v in scan.versions]


def negotiated_version_name(version: str) -> str:
    """A negotiated version as the enumeration names it (Python's ``TLSv1`` is ``TLSv1.0``)."""
    return "TLSv1.0" if version == "TLSv1" else version


def weak_suites(scan: TlsScan) -> list[tuple[str, str, str]]:
    """(version, suite, why) for every accepted suite with a known flaw (``CipherSuite.
    weakness``); every SSLv2 cipher kind counts, SSLv2 being broken whatever the cipher."""
    found: list[tuple[str, str, str]] = []
    for vs in scan.suites:
        version = version_name(vs.version)
        for code in vs.suites:
            if vs.version == SSL2:
                found.append((version, _ssl2_name(code), "SSLv2"))
                continue
            info = suite(code)
            why = None if info is None else info.weakness
            if why is not None:
                found.append((version, suite_name(code), why))
    return found


def _named(codes: tuple[int, ...], namer: Callable[[int], str]) -> list[dict[str, Any]]:
    return [{"code": c, "name": namer(c)} for c in codes]


def _ssl2_name(code: int) -> str:
    return registry().ssl2_kinds.get(code, f"0x{code:06X}")


def tls_scan_json(scan: TlsScan | None) -> dict[str, Any] | None:
    """The ``tls_scan`` object of an endpoint in ``vedette.scan/1`` (docs/json-schema.md)."""
    if scan is None:
        return None
    out: dict[str, Any] = {
        "versions": [version_name(v) for v in scan.versions],
        "suites": [
            {
                "version": version_name(vs.version),
                "server_order": vs.server_order,
                "suites": _named(vs.suites, _ssl2_name if vs.version == SSL2 else suite_name),
            }
            for vs in scan.suites
        ],
        "groups": _named(scan.groups, group_name),
        "groups_tls12": _named(scan.groups_tls12, group_name),
        "dh_bits": list(scan.dh_bits),
        "sigalgs": _named(scan.sigalgs, sigalg_name),
        "sigalgs_tls13": _named(scan.sigalgs_tls13, sigalg_name),
        "ocsp_staple_tls12": scan.ocsp_staple_tls12,
        "ocsp_staple_tls13": scan.ocsp_staple_tls13,
        "ocsp_staple": _staple_json(scan),
    }
    for key, _ in _FLAGS:
        out[key] = getattr(scan, key)
    cr = scan.client_cert_request
    out["client_cert_request"] = (
        None if cr is None else {"ca_count": cr.ca_count, "ca_bytes": cr.ca_bytes}
    )
    out["leaf_certificates_sha256"] = [
        hashlib.sha256(der).hexdigest() for der in scan.leaf_certificates
    ]
    out["leaf_without_sni_sha256"] = (
        None if scan.leaf_without_sni is None else hashlib.sha256(scan.leaf_without_sni).hexdigest()
    )
    out["tested_versions"] = [version_name(v) for v in scan.tested_versions]
    out["connections"] = scan.connections
    out["incomplete"] = scan.incomplete
    out["incomplete_reason"] = scan.incomplete_reason
    return out


Field = Callable[..., None]


def render_tls_scan(
    field: Field,
    scan: TlsScan | None,
    *,
    verbose: bool,
    defences: tuple[Defence, ...] = (),
    brief: bool = False,
    versions: bool = True,
) -> None:
    """A few lines under the endpoint: versions, suites per version, groups, DH, features.

    ``field(console_label, value, style=...)`` is the terminal reporter's one-line printer
    (it escapes and wraps); it is passed in so that this module prints nothing by itself.
    ``brief`` (the default report, without ``-v``) prints only the accepted versions (unless
    ``versions`` is False: the caller showed them) and an incomplete enumeration; what is
    weak among the rest is a finding.
    """
    if scan is None:
        return
    if scan.versions:
        if versions or not brief:
            field("Versions", ", ".join(version_name(v) for v in scan.versions))
    else:
        field("Versions", "none accepted a hand-built hello", style="yellow")
    if brief:
        if scan.incomplete:
            _incomplete(field, scan, verbose=verbose, defences=defences)
        return
    for vs in scan.suites:
        namer = _ssl2_name if vs.version == SSL2 else suite_name
        names = [namer(c) for c in vs.suites]
        order = {True: "server order", False: "client order", None: "order unknown"}
        shown = names if verbose else names[:3]
        more = "" if len(shown) == len(names) else f" … (+{len(names) - len(shown)})"
        field(
            version_name(vs.version),
            f"{len(names)} suite(s), {order[vs.server_order]}: {', '.join(shown)}{more}",
        )
    if scan.groups:
        field("Groups (1.3)", ", ".join(group_name(g) for g in scan.groups))
    if scan.groups_tls12:
        field("Curves (≤1.2)", ", ".join(group_name(g) for g in scan.groups_tls12))
    if scan.dh_bits:
        field("DH", ", ".join(f"{b} bits" for b in scan.dh_bits))
    if scan.sigalgs:
        field("Sigalgs (≤1.2)", ", ".join(sigalg_name(a) for a in scan.sigalgs))
    if scan.sigalgs_tls13:
        field("Sigalgs (1.3)", ", ".join(sigalg_name(a) for a in scan.sigalgs_tls13))
    stapling = _stapling_text(scan)
    if stapling is not None:
        field("OCSP stapled", stapling)
    features = [
        f"{label} {'yes' if value else 'no'}"
        for key, label in _FLAGS
        if (value := getattr(scan, key)) is not None
    ]
    if features:
        field("Features", ", ".join(features))
    cr = scan.client_cert_request
    if cr is not None:
        field("Client cert", f"requested, {cr.ca_count} CA name(s) in {cr.ca_bytes} bytes")
    if scan.leaf_without_sni is not None and scan.leaf_certificates:
        same = scan.leaf_without_sni in scan.leaf_certificates
        field("Without SNI", "the same certificate" if same else "another certificate")
    if scan.incomplete:
        _incomplete(field, scan, verbose=verbose, defences=defences)
    else:
        field("Enumeration", f"{scan.connections} connection(s)")


def _incomplete(
    field: Field, scan: TlsScan, *, verbose: bool, defences: tuple[Defence, ...]
) -> None:
    refused = ", ".join(version_name(v) for v in sorted(scan.refused_versions())) or "none"
    if scan.partial and not defences:
        # Not a failure: --mode clients asks two questions only.
        field(
            "Clients probe",
            f"{scan.connections} connection(s) after the handshake (--mode clients, not an "
            f"enumeration); refused: {refused}",
        )
        return
    # Say who stopped the enumeration when a defence was seen: what is missing from the
    # sets above was not seen refused.
    why = "; ".join(describe(d) for d in defences) or scan.incomplete_reason or "unknown"
    if defences and verbose and scan.incomplete_reason:
        why += f" [{scan.incomplete_reason}]"
    text = f"{scan.connections} connection(s), INCOMPLETE: {why}"
    field(
        "Enumeration",
        safe_text(f"{text}; suites not seen may still be accepted"),
        style="yellow",
    )
