"""The HTML report in a real browser: Debian's chromium, driven by Playwright.

One stored full-mode scan of the built-in lab servers and of a hostile SMTP server (markup in
its banner and certificate names; OpenSSL through Python's ``ssl``, accepting TLS 1.0 and
anonymous suites), reported with ``vedette report --format html``. The page is opened at
1400 px and 800 px and its DOM is checked against the JSON report of the same scan:
each endpoint's client matrix, fixes and ``Run:`` commands, and accepted versions are
there; the hostile text is text; nothing scrolls sideways at 800 px and no label is cut.

Screenshots at both widths are kept as artefacts: in the directory the test prints, and
under ``$VEDETTE_ARTIFACTS/html-report/`` when that variable is set.
"""

from __future__ import annotations

import json
import os
import shutil
import ssl
import warnings
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_vedette
from tests.integration.scripted import SmtpFront, ThreadedServer
from tests.integration.test_lab_support import IP, within
from tests.tools import unavailable
from vedette.lab import LabThread
from vedette.pki.ca import CertificateAuthority

CHROMIUM = "/usr/bin/chromium"
HOSTILE_HOST = "tls.vedette.test"
#: In the banner: an element and a script that would show up in the DOM if inserted as markup.
BANNER_MARKUP = '<b id="injected">bold</b><script id="injected-script">document.title="owned"'
#: In the certificate names (subject and issuer).
CERT_MARKUP = '<img id="injected-img" src=x onerror="document.title=1">'
WIDTHS = (1400, 800)


def _hostile_tls(directory: Path) -> ssl.SSLContext:
    root = CertificateAuthority.create_root("hostile root", organization=CERT_MARKUP)
    leaf = root.issue_server([HOSTILE_HOST], common_name=CERT_MARKUP)
    (directory / "leaf.pem").write_bytes(leaf.cert_pem())
    (directory / "leaf.key").write_bytes(leaf.key_pem())
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(directory / "leaf.pem", directory / "leaf.key")
    with warnings.catch_warnings():  # deprecated, as it should be: the point of the server
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    return ctx


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[test]')")
    if not os.access(CHROMIUM, os.X_OK):
        unavailable(f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_playwright() as p:
        args = ["--no-sandbox"] if os.geteuid() == 0 else []
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The scan stored, its HTML report and JSON report."""
    tmp = tmp_path_factory.mktemp("html-report")
    db = f"sqlite:///{tmp / 'v.db'}"
    front = SmtpFront(_hostile_tls(tmp), greeting=f"220 {BANNER_MARKUP} ESMTP\r\n".encode())
    with within(120), LabThread() as lt, ThreadedServer(front.serve) as hostile:
        lab = lt.lab
        targets = [s.target for s in lab.servers]
        targets.append(f"smtp://{HOSTILE_HOST}:{hostile.port}")
        scan = run_vedette(
            "scan", "--mode", "full", "--db", db, "--ip", IP,
            "--ca", str(lab.root_ca_path), *targets, timeout=120,
        )  # fmt: skip
        assert scan.returncode in (0, 1), scan.stderr
        lab_ports = {s.name: s.port for s in lab.servers}
    page = tmp / "report.html"
    report = run_vedette("report", "last", "--db", db, "--format", "html", "-o", str(page))
    assert report.returncode == 0, report.stderr
    as_json = run_vedette("report", "last", "--db", db, "--json")
    assert as_json.returncode in (0, 1), as_json.stderr
    return {
        "dir": tmp,
        "page": page,
        "doc": json.loads(as_json.stdout),
        "lab_ports": lab_ports,
        "hostile_port": hostile.port,
    }


@pytest.fixture(scope="module")
def pages(browser: Any, stored: dict[str, Any]) -> Iterator[dict[int, Any]]:
    """The report open at each width; screenshots kept."""
    shots = stored["dir"] / "screenshots"
    shots.mkdir(exist_ok=True)
    opened = {}
    for width in WIDTHS:
        page = browser.new_page(viewport={"width": width, "height": 1000})
        page.goto(stored["page"].as_uri())
        page.screenshot(path=str(shots / f"report-{width}px.png"), full_page=True)
        page.screenshot(path=str(shots / f"report-{width}px-top.png"))
        opened[width] = page
    print(f"\nHTML report and screenshots: {stored['dir']}")
    artifacts = os.environ.get("VEDETTE_ARTIFACTS")
    if artifacts:
        target = Path(artifacts) / "html-report"
        shutil.copytree(shots, target, dirs_exist_ok=True)
        shutil.copy2(stored["page"], target / "report.html")
        print(f"copied to {target}")
    yield opened
    for page in opened.values():
        page.close()


def _section(page: Any, label: str) -> Any:
    found = page.locator(f'section.ep[data-endpoint="{label}"]')
    assert found.count() == 1, label
    return found


def _chart(page: Any, title: str) -> dict[str, int]:
    rows = page.eval_on_selector_all(
        ".chart",
        """(charts, title) => {
            const chart = charts.find(c => c.querySelector('h2').textContent === title);
            if (!chart) return null;
            return [...chart.querySelectorAll('tr')].map(
                tr => [tr.querySelector('.label').textContent, tr.querySelector('.n').textContent]);
        }""",
        title,
    )
    assert rows is not None, title
    return {label: int(n) for label, n in rows}


def test_no_sideways_scroll_and_no_cut_label(pages: dict[int, Any]) -> None:
    for width, page in pages.items():
        assert page.evaluate("document.documentElement.scrollWidth") <= width
        cut = page.evaluate(
            """() => [...document.querySelectorAll(
                    'th, td, dt, dd, h1, h2, h3, h4, p, li, code, .badge')]
                .filter(el => el.clientWidth > 0 && el.scrollWidth > el.clientWidth + 1)
                .map(el => el.tagName + ' ' + el.className + ': ' + el.textContent.slice(0, 80))"""
        )
        assert cut == [], (width, cut)
        # Every chart label is whole: the full issuer names are there, no ellipsis.
        labels = page.eval_on_selector_all(".bars .label", "els => els.map(e => e.textContent)")
        assert labels and not any(label.endswith("…") for label in labels)


def test_the_page_is_self_contained_and_hostile_text_stays_text(
    pages: dict[int, Any], stored: dict[str, Any]
) -> None:
    page = pages[800]
    injected = page.evaluate(
        """() => document.querySelectorAll(
            '#injected, #injected-script, #injected-img, script, img, iframe, object, embed'
        ).length"""
    )
    assert injected == 0
    assert page.title().startswith("vedette scan")
    label = f"smtp://{HOSTILE_HOST}:{stored['hostile_port']} ({IP})"
    section = _section(page, label)
    banner = section.locator("dt:text-is('Banner') + dd").inner_text()
    assert BANNER_MARKUP in banner
    certificate = section.locator("dt:text-is('Certificate') + dd").inner_text()
    assert CERT_MARKUP in certificate.replace("\\", "")  # RFC 4514 escapes, then text
    # The client matrix quotes certificate names: as text there too.
    matrix = section.locator(".matrix tr.warning").inner_text()
    assert CERT_MARKUP in matrix
    csp = page.locator('meta[http-equiv="Content-Security-Policy"]').get_attribute("content")
    assert "default-src 'none'" in csp


def test_each_endpoint_shows_its_client_matrix_as_the_json_report_does(
    pages: dict[int, Any], stored: dict[str, Any]
) -> None:
    page = pages[1400]
    doc = stored["doc"]
    assert doc["clients"]
    for matrix in doc["clients"]:
        section = _section(page, matrix["endpoint"])
        failing = sorted({v["family"] for v in matrix["verdicts"] if v["outcome"] == "fails"})
        shown = sorted(section.locator(".matrix tr.fails th").all_inner_texts())
        assert shown == failing, matrix["endpoint"]
        for v in matrix["verdicts"]:
            if v["outcome"] == "fails":
                row = section.locator(".matrix tr.fails").filter(
                    has=page.locator(f"th:text-is('{v['family']}')")
                )
                text = row.inner_text()
                assert v["name"] in text
                for r in v["reasons"]:
                    if r["outcome"] == "fails":
                        assert r["text"] in text
        glance = page.locator("table.glance tr").filter(has_text=matrix["endpoint"])
        assert glance.locator(".failing").inner_text() == ", ".join(
            dict.fromkeys(v["family"] for v in matrix["verdicts"] if v["outcome"] == "fails")
        )
    # The expired certificate fails every client, and says why.
    expired = next(
        m for m in doc["clients"] if f":{stored['lab_ports']['smtps-expired']} " in m["endpoint"]
    )
    section = _section(page, expired["endpoint"])
    assert "expired" in section.locator(".matrix tr.fails").first.inner_text()


def test_each_finding_shows_its_fix_and_run_commands(
    pages: dict[int, Any], stored: dict[str, Any]
) -> None:
    page = pages[800]
    findings = stored["doc"]["findings"]
    assert any(f["fix_commands"] for f in findings)
    by_endpoint: dict[str, list[dict[str, Any]]] = {}
    for f in findings:
        by_endpoint.setdefault(f["endpoint"], []).append(f)
    for label, found in by_endpoint.items():
        section = _section(page, label)
        blocks = section.locator(".finding")
        assert blocks.count() == len(found), label
        text = " ".join(blocks.all_inner_texts())
        for f in found:
            assert f["id"] in text
            assert f"Fix: {f['remediation']}" in text
            for command in f["fix_commands"]:
                assert f"Run: {command}" in text
    runs = page.locator(".finding .run code").all_inner_texts()
    assert sorted(runs) == sorted(c for f in findings for c in f["fix_commands"])


def test_accepted_versions_per_endpoint_and_counted_in_the_chart(
    pages: dict[int, Any], stored: dict[str, Any]
) -> None:
    page = pages[1400]
    endpoints = stored["doc"]["endpoints"]
    expected: Counter[str] = Counter()
    for ep in endpoints:
        scan = ep["tls_scan"]
        if scan is None:
            continue
        expected.update(set(scan["versions"]))
        accepted = _section(page, ep["label"]).locator("dd.accepted").inner_text()
        shown = [part.split(" (")[0] for part in accepted.split(", ")]
        assert shown == scan["versions"], ep["label"]
    assert _chart(page, "TLS versions accepted (endpoints)") == dict(expected)
    # The hostile server still takes TLS 1.0 (and anonymous suites) though it negotiates
    # TLS 1.3: the accepted-versions chart shows it, the negotiated one cannot.
    assert expected["TLSv1.0"] >= 1
    # Only the servers whose best is TLS 1.0 (the lab's pop3s-tls10-only) negotiate it; the
    # hostile server is counted in the accepted chart alone.
    negotiated = _chart(page, "TLS version negotiated")
    best_is_tls10 = sum(1 for ep in endpoints if ep["tls"] and ep["tls"]["version"] == "TLSv1")
    assert negotiated.get("TLSv1.0", 0) == best_is_tls10 < expected["TLSv1.0"]
    assert "TLSv1" not in negotiated  # named as in the accepted chart
    hostile = _section(page, f"smtp://{HOSTILE_HOST}:{stored['hostile_port']} ({IP})")
    assert "TLSv1.0" in hostile.locator("dd.accepted").inner_text()
    assert "_anon_" in hostile.locator("dd.weak").inner_text()  # anonymous suites, at SECLEVEL 0
