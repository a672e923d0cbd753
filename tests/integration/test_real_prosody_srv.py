"""XMPP targets name a domain: SRV lookup through vedette's resolver, and ``--xmpp-domain``.

A real Prosody serving ``chat.realtest.test`` listens on free ports of 127.0.0.46; a dnsmasq on
loopback publishes the domain's SRV records (``_xmpp-client._tcp``, ``_xmpps-client._tcp``,
``_xmpp-server._tcp``) pointing at ``xmpp1.realtest.test``, that server's name. dnsmasq logs
every query, which shows that the answers came from it (``--resolver``), never from the system.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli import run_vedette
from tests.integration.prosody_server import (
    XMPP_DOMAIN,
    ProsodyPki,
    ProsodySpec,
    ProsodyUnavailable,
    RunningDns,
    RunningProsody,
    make_prosody_pki,
    start_dns,
    start_prosody,
)
from tests.tools import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

SERVER_HOST = "xmpp1.realtest.test"
NO_SRV_HOST = "nosrv.realtest.test"
SPEC = ProsodySpec(name="srv", address="127.0.0.46", require_encryption=True, allow_plain=False)
QUICK = ("scan", "--json", "--no-store", "--mode", "quick", "--connect-timeout", "5")


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[RunningProsody, RunningDns, ProsodyPki]]:
    root = tmp_path_factory.mktemp("prosody-srv")
    root.chmod(0o755)
    pki = make_prosody_pki(root / "pki")
    try:
        server = start_prosody(SPEC, pki, root)
    except ProsodyUnavailable as exc:
        unavailable(str(exc))
    try:
        owner = f"{{}}.{XMPP_DOMAIN}"
        dns = start_dns(
            root,
            hosts={SERVER_HOST: SPEC.address, NO_SRV_HOST: SPEC.address},
            srv=[
                (owner.format("_xmpp-client._tcp"), SERVER_HOST, server.c2s_port),
                (owner.format("_xmpps-client._tcp"), SERVER_HOST, server.direct_tls_port),
                (owner.format("_xmpp-server._tcp"), SERVER_HOST, server.s2s_port),
            ],
        )
    except ProsodyUnavailable as exc:
        server.stop()
        unavailable(str(exc))
    try:
        yield server, dns, pki
    finally:
        dns.stop()
        server.stop()


def _scan(*args: str) -> tuple[int, dict[str, Any]]:
    proc = run_vedette(*QUICK, *args, timeout=120)
    return proc.returncode, json.loads(proc.stdout)


def test_a_domain_without_a_port_is_located_through_srv(
    setup: tuple[RunningProsody, RunningDns, ProsodyPki],
) -> None:
    server, dns, pki = setup
    code, doc = _scan(
        f"xmpp://{XMPP_DOMAIN}",
        f"xmpps://{XMPP_DOMAIN}",
        f"xmpp-server://{XMPP_DOMAIN}",
        "--resolver",
        dns.resolver,
        "--ca",
        str(pki.root_pem),
    )
    found = {(e["service"], e["ip"], e["port"]): e for e in doc["endpoints"]}
    assert set(found) == {
        ("xmpp", SPEC.address, server.c2s_port),
        ("xmpps", SPEC.address, server.direct_tls_port),
        ("xmpp-server", SPEC.address, server.s2s_port),
    }
    for endpoint in found.values():
        # The domain stays the name: the stream's to, the SNI, the certificate's name.
        assert endpoint["host"] == XMPP_DOMAIN and endpoint["status"] == "ok", endpoint
        assert endpoint["tls"]["sni"] == XMPP_DOMAIN
    assert not [f for f in doc["findings"] if f["id"].startswith("cert.")], doc["findings"]
    log = dns.log()
    for label in ("_xmpp-client._tcp", "_xmpps-client._tcp", "_xmpp-server._tcp"):
        assert f"query[SRV] {label}.{XMPP_DOMAIN}" in log, log


def test_without_srv_records_the_domain_is_its_own_server_on_the_default_port(
    setup: tuple[RunningProsody, RunningDns, ProsodyPki],
) -> None:
    _, dns, _ = setup
    code, doc = _scan(f"xmpp://{NO_SRV_HOST}", "--resolver", dns.resolver)
    (endpoint,) = doc["endpoints"]
    assert (endpoint["ip"], endpoint["port"]) == (SPEC.address, 5222)
    assert endpoint["failure"]["kind"] == "refused"  # nothing listens on 5222 there
    assert f"query[SRV] _xmpp-client._tcp.{NO_SRV_HOST}" in dns.log()


def test_xmpp_domain_names_the_domain_served_by_another_host(
    setup: tuple[RunningProsody, RunningDns, ProsodyPki],
) -> None:
    server, dns, pki = setup
    target = f"xmpp://{SERVER_HOST}:{server.c2s_port}"
    common = ("--resolver", dns.resolver, "--ca", str(pki.root_pem))
    _, doc = _scan(target, *common)
    (endpoint,) = doc["endpoints"]
    assert f"does not serve '{SERVER_HOST}'" in endpoint["failure"]["detail"]
    _, doc = _scan(target, "--xmpp-domain", XMPP_DOMAIN, *common)
    (endpoint,) = doc["endpoints"]
    assert endpoint["host"] == XMPP_DOMAIN and endpoint["ip"] == SPEC.address
    assert endpoint["status"] == "ok" and endpoint["tls"]["sni"] == XMPP_DOMAIN
    assert endpoint["capabilities_before_tls"] == ["starttls required"]
    assert not [f for f in doc["findings"] if f["id"].startswith("cert.")], doc["findings"]


@pytest.mark.parametrize("domain", ["a'><x/>", "bad domain", "-x.example"])
def test_a_hostile_xmpp_domain_is_a_one_line_error(domain: str) -> None:
    proc = run_vedette("scan", "xmpp://127.0.0.1:1", "--xmpp-domain", domain, "--no-store")
    assert proc.returncode == 2
    assert proc.stderr.startswith("vedette: error: ") and len(proc.stderr.splitlines()) == 1


def _fleet(tmp_path: Path, lines: list[str], *args: str) -> dict[str, Any]:
    tmp_path.mkdir()
    targets = tmp_path / "targets.txt"
    targets.write_text("".join(f"{line}\n" for line in lines))
    out = tmp_path / "report.json"
    db = f"sqlite:///{tmp_path}/fleet.db"
    proc = run_vedette(
        "scan",
        "--targets",
        str(targets),
        "--db",
        db,
        "--quiet",
        "--format",
        "json",
        "-o",
        str(out),
        "--connect-timeout",
        "5",
        *args,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    doc: dict[str, Any] = json.loads(out.read_text())
    return doc


def test_a_fleet_scan_locates_xmpp_domains_through_srv_and_takes_xmpp_domain(
    setup: tuple[RunningProsody, RunningDns, ProsodyPki], tmp_path: Path
) -> None:
    # The same engine as a scan of named targets: SRV records through --resolver for the
    # domains of a target file, and --xmpp-domain for a server named by its own host.
    server, dns, pki = setup
    common = ("--resolver", dns.resolver, "--ca", str(pki.root_pem))
    doc = _fleet(
        tmp_path / "srv", [f"xmpp://{XMPP_DOMAIN}", f"xmpp-server://{XMPP_DOMAIN}"], *common
    )
    found = {(e["service"], e["port"]): e for e in doc["endpoints"]}
    assert set(found) == {("xmpp", server.c2s_port), ("xmpp-server", server.s2s_port)}
    for endpoint in found.values():
        assert endpoint["host"] == XMPP_DOMAIN and endpoint["status"] == "ok", endpoint
    doc = _fleet(
        tmp_path / "domain",
        [f"xmpp://{SERVER_HOST}:{server.c2s_port}"],
        "--xmpp-domain",
        XMPP_DOMAIN,
        *common,
    )
    (endpoint,) = doc["endpoints"]
    assert endpoint["host"] == XMPP_DOMAIN and endpoint["status"] == "ok", endpoint
    assert endpoint["tls"]["sni"] == XMPP_DOMAIN
