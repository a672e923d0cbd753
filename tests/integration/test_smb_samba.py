"""The smb:// probe against real Samba, compared with Samba's own client.

Three smbd instances (tests/integration/realservers.py ``start_samba``), each with its own
configuration: SMB1 allowed (``server min protocol = NT1``), SMB2 and later only, and SMB 3.1.1
only with signing mandatory. For every dialect, vedette's verdict (accepted or refused) must
be what ``smbclient //ADDRESS/share -c exit`` finds when pinned to that dialect
(``client min protocol`` = ``client max protocol``): smbclient either connects as guest
(negotiation succeeded) or prints ``protocol negotiation failed``. Nothing authenticates on
vedette's side.

Run under the shared lock:
    flock /tmp/vedette-it.lock .venv/bin/python -m pytest tests/integration/test_smb_samba.py -q
"""

from __future__ import annotations

import json
import subprocess
from typing import TYPE_CHECKING, Any

import pytest

from tests.cli import run_vedette
from tests.integration.realservers import RunningServer, ServerUnavailable, start_samba
from tests.tools import require_program, unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator

#: vedette's dialect labels and Samba's names for them (smb.conf "client min protocol").
SAMBA_NAMES = {
    "smb1": "NT1",
    "2.0.2": "SMB2_02",
    "2.1": "SMB2_10",
    "3.0": "SMB3_00",
    "3.0.2": "SMB3_02",
    "3.1.1": "SMB3_11",
}


def _samba(name: str, **kwargs: Any) -> Iterator[RunningServer]:
    try:
        server = start_samba(name, **kwargs)
    except ServerUnavailable as exc:
        unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def smb1_server() -> Iterator[RunningServer]:
    yield from _samba("nt1", min_protocol="NT1")


@pytest.fixture(scope="module")
def smb2_server() -> Iterator[RunningServer]:
    yield from _samba("smb2", min_protocol="SMB2_02")


@pytest.fixture(scope="module")
def smb311_signed_server() -> Iterator[RunningServer]:
    yield from _samba("smb311", min_protocol="SMB3_11", signing="mandatory")


def smbclient_accepts(server: RunningServer, dialect: str) -> bool:
    """Samba's client, pinned to one dialect: did the negotiation succeed?"""
    smbclient = require_program("smbclient")
    name = SAMBA_NAMES[dialect]
    proc = subprocess.run(
        [
            smbclient,
            # A share, not -L: -L on SMB1 goes on to ask for the workgroup's browse list.
            f"//{server.address}/share",
            "-c",
            "exit",
            "-p",
            str(server.ports[0]),
            "-N",
            f"--option=client min protocol={name}",
            f"--option=client max protocol={name}",
            "--option=name resolve order=host",
        ],
        capture_output=True,
        text=True,
        timeout=15,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    out = proc.stdout + proc.stderr
    return "protocol negotiation failed" not in out


def scan(target: str) -> dict[str, Any]:
    proc = run_vedette("scan", target, "--json")
    assert proc.returncode in (0, 1), proc.stderr
    report: dict[str, Any] = json.loads(proc.stdout)
    (endpoint,) = report["endpoints"]
    # The endpoint lists finding ids; the findings themselves are the report's.
    endpoint["finding_objects"] = report["findings"]
    return endpoint


def verdicts(endpoint: dict[str, Any]) -> dict[str, bool]:
    """Per dialect label, accepted or not, from the endpoint's stored lines."""
    out: dict[str, bool] = {}
    for line in endpoint["greeting"]:
        head, _, rest = line.partition(": ")
        family, _, dialect = head.partition(" ")
        key = "smb1" if family == "smb1" else dialect
        out[key] = rest.startswith("accepted")
    return out


def finding_ids(endpoint: dict[str, Any]) -> set[str]:
    return set(endpoint["findings"])


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("smb1_server", {"smb1", "2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"}),
        ("smb2_server", {"2.0.2", "2.1", "3.0", "3.0.2", "3.1.1"}),
        ("smb311_signed_server", {"3.1.1"}),
    ],
)
def test_dialects_match_samba_client(
    fixture: str, expected: set[str], request: pytest.FixtureRequest
) -> None:
    server: RunningServer = request.getfixturevalue(fixture)
    endpoint = scan(f"smb://{server.address}:{server.ports[0]}")
    assert endpoint["failure"] is None
    assert endpoint["connections"] == 6
    seen = verdicts(endpoint)
    assert set(seen) == set(SAMBA_NAMES)
    assert {d for d, ok in seen.items() if ok} == expected
    client = {d: smbclient_accepts(server, d) for d in SAMBA_NAMES}
    assert seen == client


def test_smb1_server_findings(smb1_server: RunningServer) -> None:
    endpoint = scan(f"smb://{smb1_server.address}:{smb1_server.ports[0]}")
    assert finding_ids(endpoint) == {"smb.v1-enabled", "smb.signing-not-required"}
    v1 = next(f for f in endpoint["finding_objects"] if f["id"] == "smb.v1-enabled")
    assert v1["severity"] == "high"
    assert "NT LM 0.12" in v1["detail"]


def test_smb2_only_server_has_no_v1_finding(smb2_server: RunningServer) -> None:
    endpoint = scan(f"smb://{smb2_server.address}:{smb2_server.ports[0]}")
    assert finding_ids(endpoint) == {"smb.signing-not-required"}


def test_signing_mandatory_and_311_contexts(smb311_signed_server: RunningServer) -> None:
    server = smb311_signed_server
    endpoint = scan(f"smb://{server.address}:{server.ports[0]}")
    assert finding_ids(endpoint) == set()
    (line,) = [g for g in endpoint["greeting"] if g.startswith("smb2 3.1.1: accepted")]
    assert "signing=required" in line
    assert "preauth=SHA-512" in line
    # Samba chooses one cipher and one signing algorithm among those offered.
    assert "ciphers=AES-" in line and "signing-algorithms=" in line
    assert "guid=" in line and "time=" in line


def test_port_139_style_netbios_session_first(smb1_server: RunningServer) -> None:
    # smbd answers a NetBIOS session request on any of its ports: netbios-ssn:// sends one.
    endpoint = scan(f"netbios-ssn://{smb1_server.address}:{smb1_server.ports[0]}")
    assert endpoint["failure"] is None
    assert verdicts(endpoint)["smb1"] is True
    assert "smb.v1-enabled" in finding_ids(endpoint)


def test_terminal_report_names_the_finding(smb1_server: RunningServer) -> None:
    proc = run_vedette("scan", f"smb://{smb1_server.address}:{smb1_server.ports[0]}")
    assert "smb.v1-enabled" in proc.stdout
    assert "NT LM 0.12" in proc.stdout
