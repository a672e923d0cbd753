"""Name resolution through a real DNS server (dnsmasq on loopback) and a name with two nodes.

``nodes.realtest.test`` has two A records, 127.0.0.31 and 127.0.0.32: two Dovecot nodes, the
second serving a certificate for another name, as after a renewal deployed to one node only.
vedette must ask the DNS server it is given (``--resolver``), scan *every* address, and say
that the nodes differ. dnsmasq logs each query, which proves the answer came from it and not
from the system resolver.
"""

from __future__ import annotations

import dns.resolver

from tests.integration.realservers import (
    MAIL_HOST,
    NODES_HOST,
    Pki,
    RunningServer,
    run_scan,
)

N1, N2 = "127.0.0.31", "127.0.0.32"


def _resolver(server: RunningServer) -> str:
    return f"{server.address}:{server.ports[0]}"


def test_server_dnsmasq_answers_both_node_addresses(dns_server: RunningServer) -> None:
    resolver = dns.resolver.Resolver(configure=False)  # never /etc/resolv.conf
    resolver.nameservers = [dns_server.address]
    resolver.port = dns_server.ports[0]
    answer = resolver.resolve(NODES_HOST, "A", lifetime=5)
    assert sorted(r.to_text() for r in answer) == [N1, N2]


def test_scan_every_address_of_a_name_and_report_the_difference(
    dns_server: RunningServer,
    dovecot_nodes: tuple[RunningServer, RunningServer],
    realtest_pki: Pki,
) -> None:
    run = run_scan(
        "--resolver", _resolver(dns_server), f"imaps://{NODES_HOST}", ca=realtest_pki.root_pem
    )
    assert f"query[A] {NODES_HOST}" in dns_server.log()
    assert sorted(e["ip"] for e in run.document["endpoints"]) == [N1, N2], run
    good, wrong = run.endpoint(N1, 993), run.endpoint(N2, 993)
    for endpoint in (good, wrong):
        assert endpoint["host"] == NODES_HOST
        assert endpoint["status"] == "ok", run
        assert endpoint["tls"]["sni"] == NODES_HOST
    assert "cert.name-mismatch" in run.finding_ids(N2, 993), run
    assert "cert.name-mismatch" not in run.finding_ids(N1, 993), run
    assert "other.realtest.test" in wrong["tls"]["chain"][0]["subject"]
    inconsistent = [f for f in run.document["findings"] if f["id"] == "endpoint.inconsistent"]
    assert len(inconsistent) == 1, run
    assert "certificate" in inconsistent[0]["detail"]
    evidence = "\n".join(inconsistent[0]["evidence"])
    assert N1 in evidence
    assert N2 in evidence
    assert run.returncode == 1, run


def test_scan_through_the_resolver_of_a_consistent_name(
    dns_server: RunningServer, dovecot_d3: RunningServer, realtest_pki: Pki
) -> None:
    run = run_scan(
        "--resolver", _resolver(dns_server), f"imaps://{MAIL_HOST}", ca=realtest_pki.root_pem
    )
    assert [e["ip"] for e in run.document["endpoints"]] == ["127.0.0.13"], run
    assert run.endpoint("127.0.0.13", 993)["status"] == "ok"
    assert "endpoint.inconsistent" not in run.finding_ids(), run
    assert run.returncode == 0, run


def test_scan_a_name_the_resolver_does_not_know(
    dns_server: RunningServer, realtest_pki: Pki
) -> None:
    run = run_scan(
        "--resolver",
        _resolver(dns_server),
        "imaps://absent.realtest.test",
        ca=realtest_pki.root_pem,
    )
    assert "query[A] absent.realtest.test" in dns_server.log()
    assert not [e for e in run.document["endpoints"] if e["status"] == "ok"], run
    assert run.returncode == 2, run
