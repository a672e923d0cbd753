"""The JSONL report: one JSON object per endpoint, one per line (``jq``, log pipelines).

Each line carries the CSV report's fields (same names, same values), the findings in full, and
the stored observation itself (``vedette.store.codec`` format, with the certificate chain in
base64 DER), so a consumer can redo any analysis. ``ensure_ascii``: server text arrives as
``\\uXXXX`` escapes, never as raw control or bidi characters, and never breaks a line.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from vedette.report.rows import CSV_COLUMNS, EndpointRecord
from vedette.store.codec import observation_to_dict

__all__ = ["record_to_json", "write_jsonl"]


def record_to_json(record: EndpointRecord, scan_id: int) -> dict[str, Any]:
    doc: dict[str, Any] = {"scan_id": scan_id}
    doc.update(zip(CSV_COLUMNS, record.csv_values(), strict=True))
    doc["port"] = record.port
    doc["findings"] = [
        {
            "id": f.id,
            "severity": f.severity.label,
            "title": f.title,
            "detail": f.detail,
            "evidence": list(f.evidence),
        }
        for f in record.findings
    ]
    doc["observation"] = observation_to_dict(record.observation)
    return doc


def write_jsonl(records: Iterable[EndpointRecord], scan_id: int, out: TextIO) -> int:
    count = 0
    for record in records:
        out.write(json.dumps(record_to_json(record, scan_id), ensure_ascii=True) + "\n")
        count += 1
    return count
