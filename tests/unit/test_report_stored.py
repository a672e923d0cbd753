"""``vedette report`` over a stored scan: streamed text and JSON, ``-o``, scan ids, read-only
opening, the date of the analysis, and ``report diff`` of a full and a quick scan.

Scans are written straight into a SQLite store through the store's API (no network). The
in-memory report of before (``load_scan`` + ``make_report`` + ``report_to_json`` /
``render_terminal``) is kept here as the oracle the streamed output must equal.
"""

from __future__ import annotations

import json
import os
import tracemalloc
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from tests.builders import certificate, dialogue_of, endpoint_for, observed_failure, observed_tls
from vedette import analysis
from vedette.cli import main
from vedette.commands._cert_clients import options_from_stored
from vedette.errors import StoreError
from vedette.model import (
    FailureKind,
    Observation,
    ScanReport,
    Service,
)
from vedette.report.json import report_to_json
from vedette.report.terminal import OVERVIEW_LIMIT, render_terminal
from vedette.store.db import Store, TargetResult
from vedette.tls.result import TlsScan

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
AT = datetime(2026, 3, 2, tzinfo=UTC)


def _cert(cn: str, not_before: datetime, not_after: datetime, issuer: str | None = None) -> bytes:
    return certificate(
        cn,
        issuer_name=issuer,
        not_before=not_before,
        not_after=not_after,
        names=(cn,),
        serial=0x5EED,
    ).der


LEAF = _cert("mail.example.test", T0 - timedelta(days=30), T0 + timedelta(days=20), "Example CA")
EXPIRED_2025 = _cert(
    "old.example.test", datetime(2024, 1, 1, tzinfo=UTC), datetime(2025, 1, 1, tzinfo=UTC)
)


def _tls_obs(host: str, ip: str, chain: tuple[bytes, ...], **kw: Any) -> Observation:
    return observed_tls(
        chain,
        endpoint=endpoint_for(Service.SUBMISSION, host=host, ip=ip),
        version="TLSv1.2",
        cipher="ECDHE-RSA-AES128-GCM-SHA256",
        at=T0,
        duration_s=0.3,
        dialogue=dialogue_of(
            f"220 {host} ESMTP \x1b[31mred",
            before=(f"250-{host}", "250-STARTTLS", "250 AUTH PLAIN LOGIN"),
            starttls=("220 Ready",),
            after=(f"250-{host}", "250 AUTH PLAIN"),
        ),
        **kw,
    )


def _failed(host: str | None, ip: str, port: int, kind: FailureKind) -> Observation:
    return observed_failure(
        kind,
        endpoint=endpoint_for(Service.IMAP, host=host, ip=ip, port=port),
        detail=f"{kind.value} by {ip}",
        at=T0,
        duration_s=0.01,
        dialogue=dialogue_of("* OK " + "x" * 200),
    )


def _plain_scan(url: str, observations: list[Observation]) -> int:
    with Store.open(url) as store:
        # A target that looks like the document's own layout must stay a string in it.
        targets = ["mail.example.test", '\x00endpoints\x00",\n  "findings": [\n\udc80']
        scan = store.begin_scan(targets, {}, T0)
        store.add_observations(scan, observations)
        store.finish_scan(scan, T0 + timedelta(seconds=5))
    return scan


def _fleet_scan(url: str, targets: list[list[Observation]], depth: str = "quick") -> int:
    with Store.open(url) as store:
        scan = store.begin_fleet_scan(["fleet.txt"], {}, T0, "quick")
        store.spool_targets(scan, ((f"t{i}", "", i) for i in range(len(targets))))
        pending = store.pending_targets(scan, after=None, limit=len(targets) + 1)
        ids = {p.target: p.target_id for p in pending}
        results = [
            TargetResult(target_id=ids[f"t{i}"], observations=tuple(obs), depth=depth)
            for i, obs in enumerate(targets)
        ]
        for i in range(0, len(results), 2000):
            store.record_results(scan, results[i : i + 2000])
        store.finish_fleet_scan(scan, T0 + timedelta(minutes=5))
    return scan


def _oracle(url: str, scan_id: int, at: datetime) -> ScanReport:
    """The report as the former in-memory code made it."""
    with Store.open(url) as store:
        stored = store.load_scan(scan_id)
    extra = tuple(bytes.fromhex(h) for h in stored.options.get("ca_roots_der_hex", []))
    return analysis.make_report(
        scan_id=scan_id,
        targets=stored.targets,
        started=stored.started_at,
        finished=stored.finished_at or stored.started_at,
        observations=stored.observations,
        ctx=analysis.context(at, extra, options_from_stored({})),
    )


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'v.db'}"


def _observations() -> list[Observation]:
    return [
        _tls_obs("mail.example.test", "192.0.2.10", (LEAF,)),
        _failed("mail.example.test", "192.0.2.10", 143, FailureKind.TIMEOUT),
        _tls_obs("old.example.test", "192.0.2.11", (EXPIRED_2025,)),
        _failed(None, "192.0.2.12", 993, FailureKind.REFUSED),
    ]


# --- §3.9: the streamed report is the in-memory report -------------------------------------


def test_streamed_json_and_text_equal_the_in_memory_report(
    url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    scan = _plain_scan(url, _observations())
    oracle = _oracle(url, scan, AT)
    assert oracle.findings and oracle.clients  # the document has all its parts
    assert main(["report", str(scan), "--db", url, "--json", "--at", AT.isoformat()]) == 1
    out = capsys.readouterr().out
    assert out == json.dumps(report_to_json(oracle), indent=2) + "\n"

    assert main(["report", str(scan), "--db", url, "--at", AT.isoformat(), "-v"]) == 1
    text = capsys.readouterr().out
    expected = StringIO()
    render_terminal(oracle, Console(file=expected, highlight=False, soft_wrap=False), verbose=True)
    assert text == expected.getvalue()
    assert "\x1b" not in text  # the server's escape sequence stays inert

    # On a colour terminal, the same colours.
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.setenv("TERM", "xterm-256color")
    main(["report", str(scan), "--db", url, "--at", AT.isoformat()])
    coloured = capsys.readouterr().out
    expected = StringIO()
    render_terminal(oracle, Console(file=expected, highlight=False, soft_wrap=False))
    assert coloured == expected.getvalue() and "\x1b[1;31m" in coloured


def test_streamed_json_of_a_fleet_scan_read_in_chunks(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1,400 endpoints over 700 targets: the report reads it in several chunks, and the
    # findings must still come out in the whole report's order.
    targets = [
        [
            _failed(f"h{i:04d}.example.test", f"198.51.{i // 250}.{i % 250}", port, kind)
            for port, kind in ((143, FailureKind.REFUSED), (993, FailureKind.TIMEOUT))
        ]
        for i in range(690)
    ]
    targets += [
        [_tls_obs(f"tls{i}.example.test", f"203.0.113.{i}", (LEAF if i % 2 else EXPIRED_2025,))]
        for i in range(10)
    ]
    scan = _fleet_scan(url, targets)
    oracle = report_to_json(_oracle(url, scan, AT))
    assert main(["report", str(scan), "--db", url, "--json", "--at", AT.isoformat()]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc == oracle
    assert doc["summary"]["endpoints"] == 1390


def test_report_memory_does_not_grow_with_the_scan(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    n = 6_000
    greeting = dialogue_of("* OK " + "x" * 2000)
    targets = [
        [
            replace(
                _failed(f"h{i:05d}.example.test", f"10.0.{i >> 8}.{i & 255}", 143, kind),
                dialogue=greeting,
            )
        ]
        for i, kind in zip(range(n), [FailureKind.REFUSED, FailureKind.TIMEOUT] * n, strict=False)
    ]
    scan = _fleet_scan(url, targets)

    def peak_of(*args: str) -> int:
        tracemalloc.start()
        try:
            assert main(["report", str(scan), "--db", url, *args]) == 0
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    # Holding the scan (the former code) peaked at 93 MB here: 6,000 observations, their
    # findings, the whole document and its text. The streamed report holds one chunk of 500.
    out = tmp_path / "r.json"
    peak = peak_of("--json", "-o", str(out))
    assert peak < 40 * 1024 * 1024, peak
    doc = json.loads(out.read_text())
    assert doc["summary"]["endpoints"] == n and len(doc["findings"]) >= n

    # The text report through the same pipeline (rich's rendering, 3 ms an endpoint, is
    # replaced by one line an endpoint to keep this test short; its output is checked above).
    def one_line_each(
        report: ScanReport, console: Console, *, verbose: bool = False, notes_seen: object = None
    ) -> list:
        for obs in report.observations:
            console.print(obs.endpoint.label, markup=False, highlight=False)
        return []

    monkeypatch.setattr("vedette.report.terminal.render_hosts", one_line_each)
    text = tmp_path / "r.txt"
    assert peak_of("-o", str(text)) < 40 * 1024 * 1024
    lines = text.read_text().splitlines()
    assert lines[0].startswith(f"Scan {scan}: {n} endpoints")
    # The opening table stops at OVERVIEW_LIMIT rows, and says how many it left out.
    assert lines[2].startswith("endpoint ")
    assert lines[3 + OVERVIEW_LIMIT] == f"… and {n - OVERVIEW_LIMIT} more endpoints below"
    assert len(lines) == 4 + OVERVIEW_LIMIT + n


# --- §3.13: -o writes every format, atomically ----------------------------------------------


@pytest.mark.parametrize("fmt", ["text", "json", "csv", "jsonl", "html", "summary"])
def test_output_file_gets_every_format(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    scan = _plain_scan(url, _observations())
    out = tmp_path / f"report.{fmt}"
    out.write_text("the previous report\n")
    main(["report", str(scan), "--db", url, "--format", fmt, "-o", str(out)])
    assert capsys.readouterr().out == ""
    text = out.read_text()
    assert "the previous report" not in text
    assert ("endpoints 4" if fmt == "summary" else "192.0.2.11") in text
    assert oct(out.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["v.db", out.name])
    if fmt == "json":
        assert json.loads(text)["scan_id"] == scan


def test_output_file_for_diff_and_list(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _plain_scan(url, _observations())
    _plain_scan(url, _observations()[:2])
    for args, name in (
        (["report", "diff", "1", "2"], "diff.txt"),
        (["report", "diff", "1", "2", "--json"], "diff.json"),
        (["report", "--list"], "list.txt"),
    ):
        out = tmp_path / name
        assert main([*args, "--db", url, "-o", str(out)]) == 0
        assert capsys.readouterr().out == ""
        assert "192.0.2.1" in out.read_text() or name == "list.txt"
    assert json.loads((tmp_path / "diff.json").read_text())["to_scan"] == 2
    assert (tmp_path / "diff.txt").read_text().startswith("scan 1 -> scan 2\n")
    listing = (tmp_path / "list.txt").read_text()
    assert listing.startswith("2\t")
    assert listing.count("\n") == 2 and "\\x00endpoints\\x00" in listing and "\\udc80" in listing
    # A diff has no CSV form: refused, not printed as text in place of the CSV asked for.
    assert main(["report", "diff", "1", "2", "--db", url, "--format", "csv", "-o", "x.csv"]) == 2
    assert "not supported" in capsys.readouterr().err
    # Nor is "--at scan", which has no one date for two scans (it was silently "now").
    assert main(["report", "diff", "1", "2", "--db", url, "--at", "scan"]) == 2
    assert "give a date" in capsys.readouterr().err


def test_a_failed_report_leaves_the_previous_file(
    url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _plain_scan(url, _observations())
    out = tmp_path / "report.json"
    out.write_text("previous\n")
    assert main(["report", "7", "--db", url, "--json", "-o", str(out)]) == 2  # no scan 7
    assert out.read_text() == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report.json", "v.db"]
    missing = tmp_path / "no-such-dir" / "r.json"
    assert main(["report", "1", "--db", url, "--json", "-o", str(missing)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 2 and "no-such-dir" in err


# --- §3.11: scan ids beyond 64 bits ---------------------------------------------------------

HUGE = "99999999999999999999999"


@pytest.mark.parametrize(
    "args",
    [
        ["report", HUGE],
        ["report", str(1 << 63)],
        ["report", "0"],
        ["report", "diff", "1", HUGE],
        ["report", "diff", HUGE, "1"],
        ["scan", "--resume", HUGE],
    ],
)
def test_scan_ids_out_of_range_are_one_line_usage_errors(
    url: str, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    _plain_scan(url, _observations())
    with pytest.raises(SystemExit) if args[0] == "scan" else _no_raise():
        assert main([*args, "--db", url]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "2**63-1" in err, err


class _no_raise:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


def test_the_store_refuses_ids_beyond_64_bits(url: str) -> None:
    _plain_scan(url, _observations())
    with Store.open(url) as store:
        for method in (store.load_scan, store.scan_summary, store.fleet_scan, store.scan_options):
            with pytest.raises(StoreError, match="no scan with id"):
                method(int(HUGE))
        with pytest.raises(StoreError, match="no scan with id"):
            list(store.iter_rows(1 << 63))
    assert main(["report", str((1 << 63) - 1), "--db", url]) == 2


# --- §3.14: reading never creates a database ------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["report", "last"],
        ["report", "--list"],
        ["report", "1", "--format", "csv"],
        ["report", "diff", "1", "2"],
        ["scan", "--resume", "1"],
    ],
)
def test_reading_a_mistyped_db_path_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    path = tmp_path / "mistyped.db"
    assert main([*args, "--db", f"sqlite:///{path}"]) == 2
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err
    assert err == f"vedette: error: no vedette database at {path}\n"


def test_reading_an_empty_file_does_not_make_it_a_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    assert main(["report", "--list", "--db", f"sqlite:///{path}"]) == 2
    assert path.stat().st_size == 0
    assert main(["report", "--list", "--db", f"sqlite:///{path}"]) == 2


# --- §2: one date for the whole analysis ----------------------------------------------------


def _expired_ids(capsys: pytest.CaptureFixture[str], *args: str) -> set[str]:
    main(["report", *args])
    doc = json.loads(capsys.readouterr().out)
    return {f["id"] for f in doc["findings"] if f["endpoint"].startswith("submission://old.")}


def test_as_of_moves_certificate_dates_with_the_matrix(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    scan = _plain_scan(url, _observations())
    base = [str(scan), "--db", url, "--json"]
    assert "cert.expired" in _expired_ids(capsys, *base)  # today: expired in 2025
    assert "cert.expired" not in _expired_ids(capsys, *base, "--as-of", "2024-06-01")
    assert "cert.expired" not in _expired_ids(capsys, *base, "--at", "2024-06-01")
    assert "cert.not-yet-valid" in _expired_ids(capsys, *base, "--as-of", "2023-06-01")
    main(["report", *base, "--as-of", "2024-06-01"])
    doc = json.loads(capsys.readouterr().out)
    assert doc["analysed_at"].startswith("2024-06-01")
    assert {m["as_of"][:10] for m in doc["clients"]} == {"2024-06-01"}
    # The two options name the same date: both at once is a usage error, not a silent pick.
    assert main(["report", *base, "--as-of", "2024-06-01", "--at", "scan"]) == 2
    assert "give one" in capsys.readouterr().err


def test_the_as_of_stored_with_a_scan_is_its_analysis_date(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with Store.open(url) as store:
        scan = store.begin_scan(["x"], {"clients": {"as_of": "2024-06-01"}}, T0)
        store.add_observations(scan, _observations())
        store.finish_scan(scan, T0)
    assert "cert.expired" not in _expired_ids(capsys, str(scan), "--db", url, "--json")
    assert "cert.expired" in _expired_ids(capsys, str(scan), "--db", url, "--json", "--at", "now")
    for extra, expired in (([], False), (["--at", "now"], True)):
        main(["report", str(scan), "--db", url, "--format", "csv", *extra])
        row = next(r for r in capsys.readouterr().out.splitlines() if "old.example.test" in r)
        assert ("cert.expired" in row) is expired


# --- §2: report diff of a full and a quick scan ---------------------------------------------


def test_diff_of_a_full_then_a_quick_scan_resolves_nothing_it_did_not_check(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    enumerated = TlsScan(versions=(0x0303,), resumption=False)
    full = _tls_obs("mail.example.test", "192.0.2.10", (LEAF,), tls_scan=enumerated)
    quick = _tls_obs("mail.example.test", "192.0.2.10", (LEAF,))
    _plain_scan(url, [full])
    _plain_scan(url, [quick])
    _plain_scan(url, [full])
    assert main(["report", "1", "--db", url, "--json"]) in (0, 1)
    assert "tls.no-resumption" in capsys.readouterr().out  # the full scan found it

    assert main(["report", "diff", "1", "2", "--db", url]) == 0
    text = capsys.readouterr().out
    assert "resolved:" not in text
    assert "1 endpoint(s) probed at a different depth in each scan" in text.splitlines()[1]
    assert text.endswith("0 new, 0 gone, 0 changed; 0 regression(s) (a finding added or worse)\n")

    assert main(["report", "diff", "2", "1", "--db", url, "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["changed"] == [] and doc["endpoints_enumerated_in_one_scan"] == 1

    # Two full scans are compared whole: the same finding on both sides is no change.
    assert main(["report", "diff", "1", "3", "--db", url]) == 0
    assert capsys.readouterr().out == (
        "scan 1 -> scan 3\n0 new, 0 gone, 0 changed; 0 regression(s) (a finding added or worse)\n"
    )


def test_diff_says_not_checked_beside_a_real_change(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    enumerated = TlsScan(versions=(0x0303,), resumption=False)
    _plain_scan(url, [_tls_obs("mail.example.test", "192.0.2.10", (LEAF,), tls_scan=enumerated)])
    _plain_scan(url, [_tls_obs("mail.example.test", "192.0.2.10", (EXPIRED_2025,))])
    assert main(["report", "diff", "1", "2", "--db", url]) == 1  # findings added: a regression
    line = capsys.readouterr().out.splitlines()[2]
    assert line.startswith("~ submission://mail.example.test")
    # The full scan's enumeration found TLS 1.3 and resumption missing; the quick one did
    # not look: neither is resolved.
    assert "not checked in scan 2 (quick): tls.no-resumption, tls.no-tls13" in line
    assert "resolved: cert.chain-incomplete;" in line  # a real change is still one
    assert "tls.no-resumption" not in line.split("not checked")[0]
    assert main(["report", "diff", "1", "2", "--db", url, "--json"]) == 1
    item = json.loads(capsys.readouterr().out)["changed"][0]
    assert item["findings_not_checked"] == ["tls.no-resumption", "tls.no-tls13"]
    assert item["findings_resolved"] == ["cert.chain-incomplete"]


def test_plain_report_has_no_leftover_temporary_files(url: str, tmp_path: Path) -> None:
    _plain_scan(url, _observations())
    before = set(os.listdir(tmp_path))
    main(["report", "1", "--db", url, "--json", "-o", str(tmp_path / "a.json")])
    assert set(os.listdir(tmp_path)) - before == {"a.json"}


SOON = _cert("mail.example.test", T0 - timedelta(days=30), T0 + timedelta(days=2), "Example CA")


def test_diff_exit_status_is_a_regression_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Scan 2 still takes TLS 1.0 again and its certificate now expires in two days: the same
    # check (cert.expiring-soon) at a higher severity is a regression, like a new finding.
    url = f"sqlite:///{tmp_path / 'v.db'}"
    before = TlsScan(versions=(0x0303, 0x0304), resumption=True)
    after = TlsScan(versions=(0x0301, 0x0303, 0x0304), resumption=True)
    _plain_scan(url, [_tls_obs("mail.example.test", "192.0.2.10", (LEAF,), tls_scan=before)])
    _plain_scan(url, [_tls_obs("mail.example.test", "192.0.2.10", (SOON,), tls_scan=after)])
    at = ["--at", T0.isoformat()]
    assert main(["report", "diff", "1", "2", "--db", url, *at]) == 1
    line = capsys.readouterr().out.splitlines()[1]
    assert "worse: cert.expiring-soon" in line
    assert "TLS versions accepted TLSv1.2 TLSv1.3 -> TLSv1.0 TLSv1.2 TLSv1.3" in line
    assert main(["report", "diff", "1", "2", "--db", url, "--json", *at]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["regressions"] == 1
    (item,) = doc["changed"]
    assert item["findings_worse"] == ["cert.expiring-soon"]
    assert item["tls_versions_accepted"] == ["TLSv1.2 TLSv1.3", "TLSv1.0 TLSv1.2 TLSv1.3"]
    # The other way round everything got better: exit 0, nothing called worse.
    assert main(["report", "diff", "2", "1", "--db", url, *at]) == 0
    out = capsys.readouterr().out
    assert "worse:" not in out and out.endswith("0 regression(s) (a finding added or worse)\n")
    # A scan compared with itself: no change at all.
    assert main(["report", "diff", "1", "1", "--db", url, *at]) == 0


def test_diff_of_a_full_and_a_clients_mode_scan_compares_no_enumeration_finding(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 13: --mode clients asks two questions; what it did not ask (resumption, the
    # fallback SCSV...) is "not checked", never "resolved".
    from vedette.tls.plan import Answered, clients_scan
    from vedette.tls.server import ServerAnswer

    enumerated = TlsScan(versions=(0x0303,), resumption=False)
    refusal = Answered(ServerAnswer(alert=(2, 70)))
    partial = clients_scan((0x0303, 0xC02F), (refusal, refusal), connections=2)
    _plain_scan(url, [_tls_obs("mail.example.test", "192.0.2.10", (LEAF,), tls_scan=enumerated)])
    _plain_scan(url, [_tls_obs("mail.example.test", "192.0.2.10", (LEAF,), tls_scan=partial)])
    assert main(["report", "diff", "1", "2", "--db", url]) == 0
    out = capsys.readouterr().out
    assert "resolved:" not in out and "0 changed" in out
    assert "1 endpoint(s) probed at a different depth in each scan" in out
