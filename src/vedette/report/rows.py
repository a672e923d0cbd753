"""One flat record per stored endpoint: what the CSV, JSONL, HTML and aggregate reports show.

Reports come from the store, never from the network. ``endpoint_records`` reads a scan in
batches (``Store.iter_rows``) and analyses it chunk by chunk, cutting only between targets
(the observations of one target are stored together, and every group check works within one
name), so a report over millions of endpoints runs in flat memory.

The values are plain text as the server sent it; each output format escapes for itself.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from vedette.checks import CheckContext, analyse
from vedette.model import Finding, Observation, TlsMode
from vedette.protocols.registry import (
    has_capabilities,
    parse_capabilities,
    plaintext_password_mechanisms,
)
from vedette.store.db import Store, StoredRow

__all__ = [
    "CSV_COLUMNS",
    "EndpointRecord",
    "analysed_chunks",
    "endpoint_records",
    "record_for",
]

#: The CSV report's columns, in order (documented in the README; never reorder, only append).
CSV_COLUMNS: tuple[str, ...] = (
    "timestamp",
    "ip",
    "port",
    "protocol",
    "hostname",
    "ptr",
    "tls_offered",
    "tls_required_before_auth",
    "auth_before_tls",
    "banner",
    "tls_version",
    "tls_cipher",
    "cert_subject",
    "cert_issuer",
    "cert_not_after",
    "cert_self_signed",
    "cert_name_match",
    "status",
    "findings",
    "depth",
    "severity",
    "tls_versions_accepted",
)

_CHUNK = 500


@dataclass(frozen=True, slots=True, kw_only=True)
class EndpointRecord:
    """One endpoint of a stored scan, flattened. Text fields are server-controlled unless
    noted; ``yes``/``no``/``unknown``/``N/A`` are vedette's words."""

    timestamp: datetime
    ip: str
    port: int
    protocol: str
    hostname: str
    ptr: str
    tls_offered: str
    tls_required_before_auth: str
    auth_before_tls: str
    banner: str
    tls_version: str
    tls_cipher: str
    cert_subject: str
    cert_issuer: str
    cert_not_after: str
    cert_self_signed: str
    cert_name_match: str
    status: str
    findings: tuple[Finding, ...]
    depth: str
    severity: str
    tls_versions_accepted: str
    observation: Observation

    def csv_values(self) -> tuple[str, ...]:
        values = {
            "timestamp": self.timestamp.isoformat(),
            "port": str(self.port),
            "findings": " ".join(sorted({f.id for f in self.findings})),
        }
        return tuple(values[c] if c in values else str(getattr(self, c)) for c in CSV_COLUMNS)


def _tls_offered(obs: Observation) -> str:
    ep = obs.endpoint
    if obs.tls is not None:
        return "yes"
    if ep.service.tls_mode is TlsMode.IMPLICIT:
        # The handshake is the first thing said: a server that answered at all but not in TLS
        # does not offer it; one that never answered is unknown.
        return "no" if obs.scanned else "unknown"
    d = obs.dialogue
    proto = ep.service.protocol
    if has_capabilities(proto) and d is not None and d.capabilities_before_tls is not None:
        caps = parse_capabilities(proto, d.capabilities_before_tls, d.greeting)
        # Advertised is offered (even if the handshake then failed); vedette sending STARTTLS
        # to a server that did not advertise it and was refused is not.
        return "yes" if caps.starttls else "no"
    return "unknown"


def _auth_before_tls(obs: Observation) -> tuple[str, str]:
    """(tls_required_before_auth, auth mechanisms offered before TLS)."""
    ep = obs.endpoint
    if ep.service.tls_mode is TlsMode.IMPLICIT:
        # TLS comes first by construction, once there is a server to speak to.
        return ("yes" if obs.scanned else "unknown"), ""
    d = obs.dialogue
    proto = ep.service.protocol
    if not has_capabilities(proto) or d is None or d.capabilities_before_tls is None:
        return "unknown", ""
    caps = parse_capabilities(proto, d.capabilities_before_tls, d.greeting)
    cleartext = plaintext_password_mechanisms(ep.service.protocol, caps)
    offered = sorted(cleartext | caps.sasl)
    return ("no" if cleartext else "yes"), " ".join(offered)


def _certificate(obs: Observation) -> tuple[str, str, str, str, str]:
    """subject, issuer, not_after, self_signed, name_match of the leaf."""
    if obs.tls is None or not obs.tls.chain_der:
        return "", "", "", "", ""
    from vedette.x509.chain import describe, is_self_signed, load_der
    from vedette.x509.names import match_certificate

    try:
        cert = load_der(obs.tls.chain_der[0])
    except ValueError:
        return "<unparseable certificate>", "", "", "", ""
    subject = describe(cert.subject)
    issuer = describe(cert.issuer)
    try:
        not_after = cert.not_valid_after_utc.isoformat()
    except ValueError:
        not_after = ""
    try:
        self_signed = "yes" if is_self_signed(cert) else "no"
    except ValueError:
        self_signed = "unknown"
    host = obs.endpoint.host
    if host is None:
        match = "N/A"  # a bare IP target: no name to match
    else:
        try:
            match = "yes" if match_certificate(cert, host).matched else "no"
        except ValueError:
            match = "unknown"
    return subject, issuer, not_after, self_signed, match


def _depth(obs: Observation) -> str:
    """``full`` when the endpoint was enumerated, ``quick`` when it reached TLS without an
    enumeration, empty when it never reached TLS (depth says nothing then). A fleet scan's
    rows carry their pass instead."""
    if obs.tls_scan is not None:
        return "clients" if obs.tls_scan.partial else "full"
    return "quick" if obs.tls is not None else ""


def _versions_accepted(obs: Observation) -> str:
    """The versions the enumeration saw accepted, oldest first (empty without one)."""
    from vedette.tls.registry import version_name

    if obs.tls_scan is None:
        return ""
    return " ".join(version_name(v) for v in obs.tls_scan.versions)


def record_for(
    obs: Observation, findings: Sequence[Finding], *, ptr: str | None, depth: str | None
) -> EndpointRecord:
    ep = obs.endpoint
    subject, issuer, not_after, self_signed, name_match = _certificate(obs)
    required, mechanisms = _auth_before_tls(obs)
    return EndpointRecord(
        timestamp=obs.started_at,
        ip=ep.ip or "",
        port=ep.port,
        protocol=ep.service.value,
        hostname=ep.host or "",
        ptr=ptr or "",
        tls_offered=_tls_offered(obs),
        tls_required_before_auth=required,
        auth_before_tls=mechanisms,
        banner=" | ".join(obs.dialogue.greeting) if obs.dialogue else "",
        tls_version=obs.tls.version if obs.tls else "",
        tls_cipher=obs.tls.cipher if obs.tls else "",
        cert_subject=subject,
        cert_issuer=issuer,
        cert_not_after=not_after,
        cert_self_signed=self_signed,
        cert_name_match=name_match,
        status="ok" if obs.failure is None else obs.failure.kind.value,
        findings=tuple(findings),
        depth=depth or _depth(obs),
        severity=max(f.severity for f in findings).label if findings else "",
        tls_versions_accepted=_versions_accepted(obs),
        observation=obs,
    )


def _analysed_findings(
    chunk: list[StoredRow], ctx: CheckContext
) -> list[tuple[StoredRow, tuple[Finding, ...]]]:
    # Each pass (quick, full) is analysed on its own: a deep re-scan's findings belong to it.
    by_depth: dict[str | None, list[StoredRow]] = {}
    for row in chunk:
        by_depth.setdefault(row.depth, []).append(row)
    findings: dict[tuple[str | None, int], list[Finding]] = {}
    for depth, rows in by_depth.items():
        index = {row.observation.endpoint: row.seq for row in rows}
        for f in analyse([r.observation for r in rows], ctx):
            seq = index.get(f.endpoint)
            if seq is not None:
                findings.setdefault((depth, seq), []).append(f)
    return [(row, tuple(findings.get((row.depth, row.seq), ()))) for row in chunk]


def _analysed(chunk: list[StoredRow], ctx: CheckContext) -> Iterator[EndpointRecord]:
    for row, found in _analysed_findings(chunk, ctx):
        yield record_for(row.observation, found, ptr=row.ptr, depth=row.depth)


def analysed_chunks(
    store: Store, scan_id: int, ctx: CheckContext
) -> Iterator[list[tuple[StoredRow, tuple[Finding, ...]]]]:
    """A stored scan in storage order, in analysed chunks of about ``_CHUNK`` rows: each
    row with its findings (most severe first). A chunk is cut only between the targets of a
    fleet scan (every group check works within one name); a plain scan, one host or a
    domain, is one chunk."""
    chunk: list[StoredRow] = []
    for row in store.iter_rows(scan_id):
        if (
            len(chunk) >= _CHUNK
            and row.target_id is not None
            and row.target_id != chunk[-1].target_id
        ):
            yield _analysed_findings(chunk, ctx)
            chunk = []
        chunk.append(row)
    if chunk:
        yield _analysed_findings(chunk, ctx)


def endpoint_records(store: Store, scan_id: int, ctx: CheckContext) -> Iterator[EndpointRecord]:
    """Every endpoint of a stored scan with its findings, in storage order."""
    for chunk in analysed_chunks(store, scan_id, ctx):
        for row, found in chunk:
            yield record_for(row.observation, found, ptr=row.ptr, depth=row.depth)
