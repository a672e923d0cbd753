"""Reports over a stored scan whose server sent hostile text everywhere it could: greeting,
capabilities and certificate names. CSV cells stay inert, HTML shows the text as text."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from tests.builders import dialogue_of, endpoint_for, observed_tls
from vedette.checks import CheckContext
from vedette.model import Observation, Service
from vedette.pki.ca import CertificateAuthority
from vedette.report.csv import write_csv
from vedette.report.html import write_html
from vedette.report.jsonl import write_jsonl
from vedette.report.rows import CSV_COLUMNS, endpoint_records
from vedette.store.db import Store, TargetResult

NOW = datetime.now(UTC)
MARKUP = "<img src=x onerror=alert(1)>"
FORMULA = '=HYPERLINK("http://evil.test","click")'


def _hostile_observation() -> Observation:
    root = CertificateAuthority.create_root(f"{FORMULA} root", organization=MARKUP)
    leaf = root.issue_server(["mail.example.test"], common_name=f"{MARKUP}\u202e")
    der = leaf.cert.public_bytes(Encoding.DER)
    return observed_tls(
        (der,),
        endpoint=endpoint_for(Service.IMAP, host="mail.example.test", ip="192.0.2.1"),
        at=NOW,
        duration_s=0.2,
        dialogue=dialogue_of(
            f"* OK {MARKUP} \x1b]0;owned\x07",
            "-cmd|' /C calc'!A0",
            before=("* CAPABILITY IMAP4rev1 STARTTLS AUTH=PLAIN", "a OK"),
            starttls=("b OK begin TLS",),
            after=("* CAPABILITY IMAP4rev1 AUTH=PLAIN", "c OK"),
        ),
    )


def _stored(tmp_path: Path) -> tuple[Store, int]:
    store = Store.open(f"sqlite:///{tmp_path / 'v.db'}")
    scan_id = store.begin_fleet_scan([f"{MARKUP}"], {}, NOW, "quick")
    store.spool_targets(scan_id, [("imap://mail.example.test:143", "192.0.2.1", 1)])
    (pending,) = store.pending_targets(scan_id, after=None, limit=1)
    store.record_results(
        scan_id,
        [
            TargetResult(
                target_id=pending.target_id,
                observations=(_hostile_observation(),),
                ptr=f"{FORMULA}.ptr.test",
            )
        ],
    )
    return store, scan_id


def _ctx() -> CheckContext:
    return CheckContext(now=NOW, trust_roots_der=(), extra_roots_der=())


def test_csv_cells_from_a_hostile_server_are_inert(tmp_path: Path) -> None:
    store, scan_id = _stored(tmp_path)
    with store:
        out = io.StringIO()
        assert write_csv(endpoint_records(store, scan_id, _ctx()), out) == 1
    text = out.getvalue()
    assert text.count("\r\n") == 2  # header and one row: no line break from the server
    header, row = list(csv.reader(io.StringIO(text)))
    assert tuple(header) == CSV_COLUMNS
    cells = dict(zip(header, row, strict=True))
    for cell in row:
        assert cell[:1] not in ("=", "+", "-", "@", "\t", "\r"), cell
    assert cells["ptr"] == f"'{FORMULA}.ptr.test"
    assert cells["banner"].startswith("* OK <img") and "\\x1b]0;owned\\x07" in cells["banner"]
    assert "\u202e" not in cells["cert_subject"] and "\\u202e" in cells["cert_subject"]
    # RFC 4514 rendering puts the attribute name first: the formula is not at the cell start.
    assert cells["cert_issuer"].startswith("CN==HYPERLINK(")
    assert cells["tls_required_before_auth"] == "no"
    assert cells["auth_before_tls"] == "LOGIN PLAIN"
    assert "tls.plaintext-auth" in cells["findings"].split()


def test_html_from_a_hostile_server_is_text(tmp_path: Path) -> None:
    store, scan_id = _stored(tmp_path)
    with store:
        out = io.StringIO()
        write_html(store, scan_id, endpoint_records(store, scan_id, _ctx()), out, analysed_at=NOW)
    page = out.getvalue()
    assert "<img" not in page
    assert page.count("&lt;img src=x onerror=alert(1)&gt;") == 2  # the targets, the banner
    assert "\\&lt;img src=x onerror=alert(1)\\&gt;" in page  # the subject (RFC 4514 escaped)
    assert "\x1b" not in page and "\u202e" not in page
    assert "<script" not in page and "src=" not in page.replace("src=x", "")
    assert "default-src 'none'" in page


def test_jsonl_is_ascii_and_keeps_the_raw_text(tmp_path: Path) -> None:
    store, scan_id = _stored(tmp_path)
    with store:
        out = io.StringIO()
        write_jsonl(endpoint_records(store, scan_id, _ctx()), scan_id, out)
    (line,) = out.getvalue().splitlines()
    assert line.isascii()
    doc = json.loads(line)
    assert doc["ptr"] == f"{FORMULA}.ptr.test"  # JSON consumers get the value as sent
    assert doc["observation"]["dialogue"]["greeting"][0] == f"* OK {MARKUP} \x1b]0;owned\x07"
    assert {f["id"] for f in doc["findings"]} >= {"tls.plaintext-auth"}
