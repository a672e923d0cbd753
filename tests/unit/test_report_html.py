"""The HTML report's builder: every server string it shows, in every section added for issue
11 (fixes, ``Run:`` commands, client matrix, accepted versions and weak suites), arrives as
text; the accepted-version counts come from the enumeration (quick-mode endpoints counted
under their negotiated version, and said so)."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

from cryptography.hazmat.primitives.serialization import Encoding

from vedette.model import (
    ClientMatrix,
    ClientOutcome,
    ClientReason,
    ClientVerdict,
    DialogueObservation,
    Endpoint,
    Finding,
    Observation,
    Service,
    Severity,
    TlsObservation,
    TlsScan,
    VersionSuites,
)
from vedette.pki.ca import CertificateAuthority
from vedette.report.aggregate import aggregate, write_summary
from vedette.report.html import write_html
from vedette.report.rows import EndpointRecord, record_for
from vedette.store.db import Store
from vedette.tls.registry import SSL2, TLS10, TLS12, TLS13, suite

NOW = datetime(2026, 12, 1, tzinfo=UTC)
TLS_AES_128 = 0x1301
ECDHE_RSA_AES128_GCM = 0xC02F
RSA_RC4_128_SHA = 0x0005
RSA_3DES = 0x000A
DH_ANON_AES128 = 0x0034
RSA_NULL_SHA = 0x0002
RSA_EXPORT_RC4_40 = 0x0003


def mark(field: str) -> str:
    """A hostile string naming its field: markup, an attribute breaker, ESC and a bidi
    override."""
    return f'<i id="{field}" onclick="x()">{field}</i>"\x1b[2J\u202e'


class Page(HTMLParser):
    """The elements (tag, attributes) and the text of a page, as a browser would parse it."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        return "".join(self.text)


def _chart(page: str, title: str) -> list[tuple[str, int]]:
    """The (label, count) rows of the bar chart titled ``title``."""
    start = page.index(f'<div class="chart"><h2>{title}</h2>')
    chart = page[start : page.index("</div>", start)]
    rows = re.findall(r'class="label">(.*?)</th>.*?class="n">(\d+)<', chart)
    return [(label, int(n)) for label, n in rows]


def _obs(
    host: str,
    port: int,
    *,
    greeting: tuple[str, ...] = ("* OK ready",),
    version: str | None = "TLSv1.3",
    chain: tuple[bytes, ...] = (),
    scan: TlsScan | None = None,
) -> Observation:
    return Observation(
        endpoint=Endpoint(host=host, ip="192.0.2.1", port=port, service=Service.IMAPS),
        started_at=NOW,
        duration_s=0.1,
        dialogue=DialogueObservation(greeting=greeting),
        tls=None
        if version is None
        else TlsObservation(
            version=version, cipher="TLS_AES_128_GCM_SHA256", sni=host, chain_der=chain
        ),
        tls_scan=scan,
    )


def _page(tmp_path: Path, records: list[EndpointRecord], matrices: dict[int, ClientMatrix]) -> str:
    with Store.open(f"sqlite:///{tmp_path / 'v.db'}") as store:
        scan_id = store.begin_scan([mark("target")], {}, NOW)
        out = io.StringIO()
        write_html(
            store,
            scan_id,
            records,
            out,
            analysed_at=NOW,
            matrix_of=lambda obs: matrices.get(obs.endpoint.port),
        )
    return out.getvalue()


def _hostile_record() -> tuple[EndpointRecord, ClientMatrix]:
    root = CertificateAuthority.create_root(mark("issuer-cn"), organization=mark("issuer-o"))
    leaf = root.issue_server(["mail.example.test"], common_name=mark("subject"))
    scan = TlsScan(
        versions=(SSL2, TLS10, TLS12),
        suites=(
            VersionSuites(version=SSL2, suites=(0x010080,)),
            VersionSuites(version=TLS10, suites=(RSA_RC4_128_SHA, RSA_3DES)),
            VersionSuites(
                version=TLS12, suites=(ECDHE_RSA_AES128_GCM, DH_ANON_AES128, RSA_RC4_128_SHA)
            ),
        ),
        incomplete=True,
        incomplete_reason=mark("incomplete-reason"),
    )
    obs = _obs(
        f"{mark('host')}.example.test",
        993,
        greeting=(mark("banner"),),
        version="TLSv1.2",
        chain=(leaf.cert.public_bytes(Encoding.DER),),
        scan=scan,
    )
    finding = Finding(
        id="cert.expired",
        severity=Severity.CRITICAL,
        title=mark("title"),
        detail=mark("detail"),
        remediation=mark("remediation"),
        endpoint=obs.endpoint,
        fix_commands=(mark("run-1"), mark("run-2")),
    )
    matrix = ClientMatrix(
        endpoint=obs.endpoint,
        as_of=NOW,
        verdicts=(
            ClientVerdict(
                profile="p1",
                name=mark("client-name"),
                family=mark("family"),
                outcome=ClientOutcome.FAILS,
                reasons=(
                    ClientReason(
                        code="c",
                        outcome=ClientOutcome.FAILS,
                        text=mark("reason"),
                        fix=mark("reason-fix"),
                    ),
                ),
            ),
            ClientVerdict(
                profile="p2",
                name="Other",
                family="mta",
                outcome=ClientOutcome.UNKNOWN,
                reasons=(
                    ClientReason(
                        code="u", outcome=ClientOutcome.UNKNOWN, text=mark("unknown-reason")
                    ),
                ),
            ),
        ),
        notes=(mark("note"),),
        inventory=(mark("inventory"),),
    )
    record = record_for(obs, (finding,), ptr=mark("ptr"), depth="full")
    return record, matrix


def test_every_server_string_in_the_new_sections_is_text(tmp_path: Path) -> None:
    record, matrix = _hostile_record()
    page = _page(tmp_path, [record], {993: matrix})
    parsed = Page(page)
    # No element or attribute came from the data: no <i>, no onclick, no id it chose.
    assert all(tag != "i" for tag, _ in parsed.tags)
    assert all("onclick" not in attrs for _, attrs in parsed.tags)
    ids = {attrs.get("id") for _, attrs in parsed.tags}
    assert ids <= {None, "ep-0"}
    assert "\x1b" not in page and "\u202e" not in page
    text = parsed.all_text
    shown = '<i id="{0}" onclick="x()">{0}</i>"\\x1b[2J\\u202e'
    for field in (
        "target",
        "banner",
        "ptr",
        "host",
        "title",
        "detail",
        "remediation",
        "run-1",
        "run-2",
        "client-name",
        "family",
        "reason",
        "reason-fix",
        "unknown-reason",
        "note",
        "inventory",
        "incomplete-reason",
    ):
        assert shown.format(field) in text, field
    # Certificate names come RFC 4514-escaped (backslashes before < > "), still as text.
    for field in ("subject", "issuer-cn", "issuer-o"):
        assert f'id=\\"{field}\\"' in text, field
    # The data-endpoint attribute holds the label, quotes escaped: one attribute, intact.
    (section,) = [attrs for tag, attrs in parsed.tags if tag == "section"]
    assert section["data-endpoint"] == record.observation.endpoint.label.replace(
        "\x1b", "\\x1b"
    ).replace("\u202e", "\\u202e")


def test_fixes_runs_matrix_and_accepted_suites_are_shown(tmp_path: Path) -> None:
    record, matrix = _hostile_record()
    text = re.sub(r"\s+", " ", Page(_page(tmp_path, [record], {993: matrix})).all_text)
    assert (
        "Fix: " + mark("remediation").replace("\x1b", "\\x1b").replace("\u202e", "\\u202e") in text
    )
    assert text.count("Run: ") == 2
    assert "1 client: " in text  # the unknown client, counted per reason
    assert "as of 2026-12-01: 1 fail, 1 unknown" in text
    # Accepted versions, with the suite counts, and every weak suite with why.
    assert "SSLv2 (1 cipher kind), TLSv1.0 (2 suites), TLSv1.2 (3 suites)" in text
    assert "enumeration incomplete" in text
    for line in (
        "TLS_RSA_WITH_RC4_128_SHA (RC4): TLSv1.0, TLSv1.2",
        "TLS_RSA_WITH_3DES_EDE_CBC_SHA (3DES): TLSv1.0",
        "TLS_DH_anon_WITH_AES_128_CBC_SHA (anonymous): TLSv1.2",
        "(SSLv2): SSLv2",
    ):
        assert line in text, line
    assert "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256" not in text  # accepted, but not weak


def test_accepted_versions_are_counted_per_endpoint(tmp_path: Path) -> None:
    old = _obs(
        "old.example.test",
        1,
        version="TLSv1.3",
        scan=TlsScan(
            versions=(TLS10, TLS12, TLS13),
            suites=(
                VersionSuites(version=TLS10, suites=(ECDHE_RSA_AES128_GCM,)),
                VersionSuites(version=TLS12, suites=(ECDHE_RSA_AES128_GCM,)),
                VersionSuites(version=TLS13, suites=(TLS_AES_128,)),
            ),
        ),
    )
    modern = _obs(
        "new.example.test",
        2,
        scan=TlsScan(
            versions=(TLS12, TLS13),
            suites=(VersionSuites(version=TLS13, suites=(TLS_AES_128,)),),
        ),
    )
    quick = _obs("quick.example.test", 3, version="TLSv1")  # Python's name for TLS 1.0
    plain = _obs("plain.example.test", 4, version=None)
    records = [record_for(o, (), ptr=None, depth=None) for o in (old, modern, quick, plain)]
    agg = aggregate(records)
    assert dict(agg.by_tls_accepted) == {"TLSv1.0": 2, "TLSv1.2": 2, "TLSv1.3": 2}
    assert agg.accepted_unenumerated == 1
    assert dict(agg.by_tls_version) == {"TLSv1.3": 2, "TLSv1": 1}

    page = _page(tmp_path, records, {})
    assert _chart(page, "TLS versions accepted (endpoints)") == [
        ("TLSv1.0", 2),
        ("TLSv1.2", 2),
        ("TLSv1.3", 2),
    ]
    assert _chart(page, "TLS version negotiated") == [("TLSv1.0", 1), ("TLSv1.3", 2)]
    text = re.sub(r"\s+", " ", Page(page).all_text)
    assert "1 endpoint(s) were not enumerated (quick mode)" in text
    assert "not enumerated (quick scan)" in text

    out = io.StringIO()
    write_summary(agg, out)
    summary = out.getvalue()
    accepted = summary.split("by TLS version accepted:\n")[1].split("\n\n")[0].split("\n")
    assert [line.split() for line in accepted] == [
        ["2", "TLSv1.0"],
        ["2", "TLSv1.2"],
        ["2", "TLSv1.3"],
    ]
    assert "1 endpoint(s) not enumerated (quick mode)" in summary


def test_cipher_suite_weakness_names_the_flaw() -> None:
    expected = {
        RSA_RC4_128_SHA: "RC4",
        RSA_3DES: "3DES",
        DH_ANON_AES128: "anonymous",
        RSA_NULL_SHA: "NULL",
        RSA_EXPORT_RC4_40: "export",
        ECDHE_RSA_AES128_GCM: None,
        TLS_AES_128: None,
    }
    for code, why in expected.items():
        info = suite(code)
        assert info is not None
        assert info.weakness == why, info.name
