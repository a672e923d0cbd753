"""vedette against a real OpenLDAP slapd on loopback, checked against OpenLDAP's own clients.

Each case starts its own slapd (``tests/integration/slapd_server.py``) and scans it through the
CLI as a user would. The independent truth on the same server is ``ldapwhoami`` (does a
simple bind as a random, non-existent DN get 49 invalidCredentials or 13
confidentialityRequired without TLS?) and ``ldapsearch -ZZ`` (does StartTLS succeed?).
"""

from __future__ import annotations

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.cli import run_vedette
from tests.integration.slapd_server import RunningSlapd, SlapdSpec, SlapdTls, running_slapd
from tests.tools import require_program
from vedette.pki import CertificateAuthority

pytestmark = pytest.mark.realserver

HOST = "ldap.vedette.test"
SUFFIX = "dc=example,dc=com"
USERS = """dn: ou=people,dc=example,dc=com
objectClass: organizationalUnit
ou: people

dn: uid=alice,ou=people,dc=example,dc=com
objectClass: inetOrgPerson
uid: alice
cn: Alice
sn: Liddell
userPassword: wonderland-7
"""


@dataclass(frozen=True, slots=True)
class Pki:
    root: Path
    tls: SlapdTls


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    d = tmp_path_factory.mktemp("ldap-pki")
    root = CertificateAuthority.create_root("Vedette LDAP Test Root")
    issuing = root.issue_intermediate("Vedette LDAP Test Issuing")
    # The IP address too, so that OpenLDAP's clients verify the certificate on 127.0.0.1
    # without resolving the test name through the system resolver.
    leaf = issuing.issue_server([HOST, "127.0.0.1"])
    (d / "root.pem").write_bytes(root.issued.cert_pem())
    (d / "chain.pem").write_bytes(leaf.cert_pem() + issuing.chain_pem())
    (d / "key.pem").write_bytes(leaf.key_pem())
    (d / "key.pem").chmod(0o600)
    return Pki(
        root=d / "root.pem",
        tls=SlapdTls(chain=d / "chain.pem", key=d / "key.pem", ca=d / "root.pem"),
    )


def scan(scheme: str, port: int, pki: Pki, *extra: str) -> tuple[int, dict[str, Any]]:
    """``vedette scan scheme://HOST:port --json``; the exit status and the one endpoint."""
    proc = run_vedette(
        "scan",
        f"{scheme}://{HOST}:{port}",
        "--resolve",
        f"{HOST}:{port}:127.0.0.1",
        "--ca",
        str(pki.root),
        "--json",
        "--no-store",
        "--connect-timeout",
        "5",
        "--read-timeout",
        "10",
        *extra,
    )
    return proc.returncode, endpoint_of(json.loads(proc.stdout))


def endpoint_of(doc: dict[str, Any]) -> dict[str, Any]:
    """The document's one endpoint, with its findings (id -> finding) under ``found``."""
    (endpoint,) = doc["endpoints"]
    found = {f["id"]: f for f in doc["findings"] if f["port"] == endpoint["port"]}
    assert set(found) == set(endpoint["findings"])
    return {**endpoint, "found": found}


def findings(endpoint: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = endpoint["found"]
    return found


def openldap(program: str, *argv: str, pki: Pki) -> subprocess.CompletedProcess[str]:
    """One of OpenLDAP's clients; its exit status is the LDAP result code."""
    path = require_program(program)
    env = {"LDAPTLS_CACERT": str(pki.root), "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [path, "-x", *argv],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
        check=False,
    )


def random_bind(server: RunningSlapd, pki: Pki, *tls: str) -> int:
    """``ldapwhoami`` as a random DN that does not exist, with a random password."""
    dn = f"cn=whoami-{secrets.token_hex(8)},{SUFFIX}"
    return openldap(
        "ldapwhoami", *tls, "-H", server.url, "-D", dn, "-w", secrets.token_hex(16), pki=pki
    ).returncode


def bind_line(endpoint: dict[str, Any]) -> str:
    (line,) = [x for x in endpoint["capabilities_before_tls"] if x.startswith("simple bind as a")]
    return str(line)


@pytest.mark.parametrize(
    ("security", "code"),
    [
        ((), 49),  # Debian's default: simple binds are checked in clear
        (("olcSecurity: simple_bind=128",), 13),
        (("olcSecurity: tls=1",), 13),
    ],
    ids=["default", "simple_bind=128", "tls=1"],
)
def test_simple_bind_before_tls_matches_ldapwhoami(
    tmp_path: Path, pki: Pki, security: tuple[str, ...], code: int
) -> None:
    spec = SlapdSpec(
        suffix=SUFFIX, entries_ldif=USERS, tls=pki.tls, security=security, debug="stats"
    )
    with running_slapd(spec, tmp_path / "slapd") as server:
        status, ep = scan("ldap", server.ldap_port, pki)
        log = server.log()
        # The independent truth on the same server: OpenLDAP's clients.
        clear_code = random_bind(server, pki)
        starttls = openldap(
            "ldapsearch",
            "-ZZ",
            "-H",
            server.url,
            "-b",
            "",
            "-s",
            "base",
            "supportedExtension",
            pki=pki,
        )
        tls_code = random_bind(server, pki, "-ZZ")
        unauthenticated = openldap(
            "ldapwhoami", "-H", server.url, "-D", f"cn=nobody,{SUFFIX}", "-w", "", pki=pki
        )
    assert clear_code == code
    if security == ("olcSecurity: tls=1",):
        # Nothing but StartTLS is answered in clear, the rootDSE included; without a naming
        # context vedette does not probe (slapd answers 49 to a DN outside its contexts).
        assert ep["capabilities_before_tls"][0].startswith("rootDSE search: 13 ")
        assert bind_line(ep).endswith(": not tried (no naming context in the rootDSE)")
    else:
        assert bind_line(ep).startswith(f"simple bind as a non-existent DN: {code} ")
    # Inside TLS the same bind is checked (and fails) whatever the policy.
    assert tls_code == 49
    # Both see StartTLS succeed, and vedette then reads the rootDSE inside TLS.
    assert starttls.returncode == 0 and "1.3.6.1.4.1.1466.20037" in starttls.stdout
    assert ep["starttls_reply"] == ["StartTLS: 0 success"]
    assert ep["failure"] is None and ep["tls"] is not None
    assert f"namingContexts: {SUFFIX}" in ep["capabilities_after_tls"]
    # slapd offers SASL PLAIN only inside TLS (its default sasl-secprops noplain).
    assert "supportedSASLMechanisms: PLAIN" in ep["capabilities_after_tls"]
    assert "supportedSASLMechanisms: PLAIN" not in (ep["capabilities_before_tls"] or [])
    # Full mode enumerated TLS on the connection upgraded with StartTLS...
    assert ep["tls_scan"] is not None and "TLSv1.3" in ep["tls_scan"]["versions"]
    assert log.count("EXT oid=1.3.6.1.4.1.1466.20037") > 10
    # ...but the bind probe ran once for the whole scan, not on every re-dial: each one is a
    # failed logon in the server's log.
    probes = log.count('BIND dn="cn=vedette-probe-')
    assert probes == (0 if security == ("olcSecurity: tls=1",) else 1)
    # The certificate chains to the given root and matches the name.
    assert not [f for f in findings(ep) if f.startswith("cert.")], findings(ep)
    found = findings(ep)
    if code == 49:
        assert found["tls.plaintext-auth"]["severity"] == "high"
        assert "SIMPLE BIND" in found["tls.plaintext-auth"]["detail"]
        fix = found["tls.plaintext-auth"]["remediation"]
        assert "olcSecurity: simple_bind=128" in fix and "Dovecot" not in fix
        assert status == 1  # a high finding: exit 1 by default
    else:
        assert "tls.plaintext-auth" not in found
    # RFC 4513 5.1.2: a name with an empty password is an unauthenticated bind, refused by
    # default (53) whatever the TLS policy: it would tell nothing about passwords in clear,
    # which is why vedette's probe always sends a random non-empty password.
    assert unauthenticated.returncode == 53


def resumed_by_openssl(port: int, tmp_path: Path) -> bool:
    """``openssl s_client``: does a second connection resume the first one's TLS 1.2 session?"""
    openssl = require_program("openssl")
    session = tmp_path / "session.pem"
    runs = []
    for option in ("-sess_out", "-sess_in"):
        runs.append(
            subprocess.run(
                [openssl, "s_client", "-connect", f"127.0.0.1:{port}", "-tls1_2", option, session],
                input=b"",
                capture_output=True,
                timeout=30,
                check=False,
            )
        )
    return b"Reused, TLSv1.2" in runs[1].stdout


def test_ldaps_reads_the_root_dse_inside_tls_only(tmp_path: Path, pki: Pki) -> None:
    spec = SlapdSpec(suffix=SUFFIX, tls=pki.tls)
    with running_slapd(spec, tmp_path / "slapd") as server:
        assert server.ldaps_port is not None
        status, ep = scan("ldaps", server.ldaps_port, pki)
        ldapsearch = openldap(
            "ldapsearch", "-H", server.ldaps_url, "-b", "", "-s", "base", "namingContexts", pki=pki
        )
        resumed = resumed_by_openssl(server.ldaps_port, tmp_path)
    # vedette's resumption verdict agrees with openssl's on the same server (Debian's slapd,
    # built with GnuTLS, resumes nothing; vedette's TLS 1.3 ticket wait ends at the answer to
    # its rootDSE ping instead of timing out).
    assert ("tls.no-resumption" in findings(ep)) is (not resumed)
    assert ldapsearch.returncode == 0 and SUFFIX in ldapsearch.stdout
    assert ep["service"] == "ldaps" and ep["failure"] is None
    assert ep["capabilities_before_tls"] is None and ep["starttls_reply"] is None
    assert f"namingContexts: {SUFFIX}" in ep["capabilities_after_tls"]
    assert ep["tls"]["chain"][0]["subject"] == f"CN={HOST}"
    assert "tls.plaintext-auth" not in findings(ep)
    assert not [f for f in findings(ep) if f.startswith("cert.")]


def test_slapd_without_tls_is_tls_none_and_passwords_in_clear(tmp_path: Path, pki: Pki) -> None:
    spec = SlapdSpec(suffix=SUFFIX)
    with running_slapd(spec, tmp_path / "slapd") as server:
        status, ep = scan("ldap", server.ldap_port, pki, "--mode", "quick")
        starttls = openldap("ldapsearch", "-ZZ", "-H", server.url, "-b", "", "-s", "base", pki=pki)
    assert starttls.returncode != 0  # ldapsearch -ZZ cannot start TLS either
    assert ep["tls"] is None
    (reply,) = ep["starttls_reply"]
    assert reply.startswith("StartTLS: ") and not reply.startswith("StartTLS: 0 ")
    found = findings(ep)
    assert "tls.none" in found
    assert "StartTLS (extended operation 1.3.6.1.4.1.1466.20037)" in found["tls.none"]["detail"]
    assert found["tls.plaintext-auth"]["severity"] == "critical"
    assert status == 1


def test_fleet_scan_of_an_ldap_target_stores_the_endpoint(tmp_path: Path, pki: Pki) -> None:
    spec = SlapdSpec(suffix=SUFFIX, tls=pki.tls)
    targets = tmp_path / "targets.txt"
    db = f"sqlite:///{tmp_path / 'fleet.db'}"
    with running_slapd(spec, tmp_path / "slapd") as server:
        targets.write_text(f"ldap://{HOST}:{server.ldap_port}\n")
        proc = run_vedette(
            "scan",
            "--targets",
            str(targets),
            "--resolve",
            f"{HOST}:{server.ldap_port}:127.0.0.1",
            "--ca",
            str(pki.root),
            "--db",
            db,
            "--quiet",
        )
    assert proc.returncode == 0, proc.stderr
    report = run_vedette("report", "last", "--json", "--db", db, "--ca", str(pki.root))
    ep = endpoint_of(json.loads(report.stdout))
    assert (ep["service"], ep["port"], ep["ip"]) == ("ldap", server.ldap_port, "127.0.0.1")
    assert ep["starttls_reply"] == ["StartTLS: 0 success"]
    assert bind_line(ep) == "simple bind as a non-existent DN: 49 invalidCredentials"
    assert "tls.plaintext-auth" in findings(ep)


def test_the_fixture_serves_its_entries_with_debian_access_rules(tmp_path: Path, pki: Pki) -> None:
    # The fixture is meant for reuse (S/MIME lookups, AD-like directories): its LDIF entries
    # are there, a real user binds over StartTLS, and passwords are not readable.
    spec = SlapdSpec(suffix=SUFFIX, entries_ldif=USERS, tls=pki.tls)
    alice = f"uid=alice,ou=people,{SUFFIX}"
    with running_slapd(spec, tmp_path / "slapd") as server:
        whoami = openldap(
            "ldapwhoami", "-ZZ", "-H", server.url, "-D", alice, "-w", "wonderland-7", pki=pki
        )
        search = openldap(
            "ldapsearch",
            "-H",
            server.url,
            "-b",
            SUFFIX,
            "(uid=alice)",
            "cn",
            "userPassword",
            pki=pki,
        )
    assert whoami.returncode == 0 and f"dn:{alice}" in whoami.stdout
    assert search.returncode == 0 and "cn: Alice" in search.stdout
    assert "userPassword:" not in search.stdout  # asked for, not returned
