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
import contextlib
import json
import sqlite3
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import IO, TYPE_CHECKING, Any

from vedette import __version__
from vedette.model import Severity
from vedette.probe.defence import describe
from vedette.report._certinfo import CertificateInfo, describe_certificate
from vedette.report._tls_section import tls_scan_json
from vedette.report.clients_section import matrix_to_json

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from vedette.model import ClientMatrix, Finding, Observation, ScanReport, TlsObservation

__all__ = ["JSON_SCHEMA", "JsonStream", "ScanHead", "json_stream", "report_to_json"]

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


# --- the same document, streamed -------------------------------------------------------------

#: The three arrays that end the document, in its order, after the frame.
_ARRAYS = ("endpoints", "findings", "clients")


def _item(value: Any) -> str:
    # One array item as ``json.dumps(doc, indent=2)`` lays it out at depth 2.
    return "    " + json.dumps(value, indent=2).replace("\n", "\n    ")


def _sort_key(f: Finding) -> tuple[int, bytes, bytes, bytes]:
    # ``checks.analyse``'s order (severity, endpoint label, id, detail) as SQLite compares
    # BLOBs: byte by byte, and UTF-8 bytes (surrogates passed through) sort as code points do.
    def raw(text: str) -> bytes:
        return text.encode("utf-8", "surrogatepass")

    return -f.severity, raw(f.endpoint.label), raw(f.id), raw(f.detail)


class JsonStream:
    """The ``vedette.scan/1`` document of a scan too large to hold, written in one pass.

    ``add`` takes the scan chunk by chunk (observations with their findings, and the chunk's
    client matrices); ``write`` writes the document that ``report_to_json`` would have made of
    the whole scan, byte for byte: the frame with the summary counted on the way, then the
    endpoints and matrices copied from spools (memory up to ``_SPOOL``, then a temporary file)
    and the findings read back in the report's order from a temporary SQLite database, which
    sorts them on disk. Memory holds one chunk, never the scan.
    """

    def __init__(self, endpoints: IO[str], clients: IO[str], findings: sqlite3.Connection) -> None:
        self._endpoints = endpoints
        self._clients = clients
        self._findings = findings
        self._findings.execute(
            "CREATE TABLE f (sev INTEGER, label BLOB, id BLOB, detail BLOB, n INTEGER, doc TEXT)"
        )
        self._counts = {"endpoints": 0, "findings": 0, "clients": 0}
        self.scanned = 0
        self.unreachable = 0
        self.by_severity = {s.label: 0 for s in sorted(Severity, reverse=True)}

    @property
    def endpoints(self) -> int:
        return self._counts["endpoints"]

    def _put(self, spool: IO[str], slot: str, value: Any) -> None:
        spool.write((",\n" if self._counts[slot] else "") + _item(value))
        self._counts[slot] += 1

    def add(
        self,
        rows: Sequence[tuple[Observation, Sequence[Finding]]],
        matrices: Sequence[ClientMatrix],
    ) -> None:
        for obs, found in rows:
            self._put(self._endpoints, "endpoints", _endpoint(obs, [f.id for f in found]))
            self.scanned += obs.scanned
            self.unreachable += not obs.reachable
        batch = []
        for _, found in rows:
            for f in found:
                self.by_severity[f.severity.label] += 1
                n = self._counts["findings"]
                self._counts["findings"] += 1
                batch.append((*_sort_key(f), n, _item(_finding(f))))
        self._findings.executemany("INSERT INTO f VALUES (?, ?, ?, ?, ?, ?)", batch)
        for m in matrices:
            self._put(self._clients, "clients", matrix_to_json(m))

    def write(self, head: ScanHead, out: IO[str]) -> None:
        """The whole document to ``out`` (``head``: the scan's own fields)."""
        frame = {
            "schema": JSON_SCHEMA,
            "vedette_version": __version__,
            "scan_id": head.scan_id,
            "targets": list(head.targets),
            "started_at": _iso(head.started_at),
            "finished_at": _iso(head.finished_at),
            "analysed_at": _iso(head.analysed_at),
            "summary": {
                "endpoints": self._counts["endpoints"],
                "scanned": self.scanned,
                "unreachable": self.unreachable,
                "findings": self.by_severity,
            },
        }
        # The frame as json.dumps lays it out, without its closing "\n}": the arrays follow,
        # laid out as json.dumps lays out the last keys of an object.
        out.write(json.dumps(frame, indent=2).removesuffix("\n}"))
        for name in _ARRAYS:
            out.write(f',\n  "{name}": ')
            if not self._counts[name]:
                out.write("[]")
                continue
            out.write("[\n")
            if name == "findings":
                rows = self._findings.execute(
                    "SELECT doc FROM f ORDER BY sev, label, id, detail, n"
                )
                for i, (doc,) in enumerate(rows):
                    out.write((",\n" if i else "") + doc)
            else:
                spool = self._endpoints if name == "endpoints" else self._clients
                spool.seek(0)
                while chunk := spool.read(_SPOOL):
                    out.write(chunk)
            out.write("\n  ]")
        out.write("\n}\n")


@contextlib.contextmanager
def json_stream() -> Iterator[JsonStream]:
    """A ``JsonStream`` with its spools, removed when the block ends."""
    with (
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+", encoding="utf-8") as endpoints,
        tempfile.SpooledTemporaryFile(_SPOOL, mode="w+", encoding="utf-8") as clients,
        # "": a private temporary database on disk, deleted when closed.
        contextlib.closing(sqlite3.connect("")) as findings,
    ):
        yield JsonStream(endpoints, clients, findings)


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanHead:
    """What the document says of the scan itself (``ScanReport`` without its contents)."""

    scan_id: int | None
    targets: tuple[str, ...]
    started_at: datetime
    finished_at: datetime
    analysed_at: datetime


_SPOOL = 1 << 20
