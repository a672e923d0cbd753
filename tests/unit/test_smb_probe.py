"""The smb:// probe over scripted connections: six rounds, a hang-up or reset is that round's
refusal, a hostile answer stops the probe with one line, and the smb.* checks read the
stored lines (a Windows XP-like server that speaks only SMB1; a modern one)."""

from __future__ import annotations

import asyncio
import struct
from datetime import UTC, datetime

from tests.unit.mock_stream import RESET, Dialer, MockStream
from tests.unit.test_smb_codec import frame, smb1_response, smb2_response
from vedette.checks import CheckContext, analyse
from vedette.model import Endpoint, FailureKind, Observation, Service
from vedette.probe.limits import Limits
from vedette.probe.runner import probe_endpoint
from vedette.protocols.smb import NT_LM_012, SMB1_DIALECTS, SMB2_DIALECTS

LIMITS = Limits(read_timeout=0.2, connect_timeout=0.3, tls_timeout=0.4, endpoint_timeout=5.0)
NT_LM = SMB1_DIALECTS.index(NT_LM_012)


def answer(dialect: int, security_mode: int) -> MockStream:
    """A server accepting ``dialect`` (3.1.1 with its encryption context, as required)."""
    ctx = [(2, struct.pack("<HH", 1, 2))] if dialect == 0x0311 else None
    return MockStream([frame(smb2_response(dialect, security_mode=security_mode, contexts=ctx))])


def probe(streams: list[MockStream], service: Service = Service.SMB) -> Observation:
    ep = Endpoint(host=None, ip="192.0.2.9", port=service.default_port, service=service)
    dialer = Dialer(*streams)
    obs = asyncio.run(probe_endpoint(ep, limits=LIMITS, connect=dialer))
    assert all(s.closed for s in streams if s.written)
    return obs


def ids(obs: Observation) -> set[str]:
    ctx = CheckContext(now=datetime.now(UTC), trust_roots_der=())
    return {f.id for f in analyse((obs,), ctx)}


def test_only_smb1_server_like_windows_xp() -> None:
    # SMB2 negotiates: hang-up, reset, hang-up...; the SMB1 negotiate: NT LM 0.12.
    streams = [MockStream([]), MockStream([RESET])] + [MockStream([]) for _ in range(3)]
    streams.append(MockStream([frame(smb1_response(NT_LM, security_mode=0x03))]))
    obs = probe(streams)
    assert obs.failure is None and obs.connections == 6
    assert obs.dialogue is not None
    assert (
        obs.dialogue.greeting[-1]
        == "smb1 NT LM 0.12: accepted; signing=disabled; time=2024-01-02T03:04:05Z"
    )
    assert obs.dialogue.greeting[0] == "smb2 3.1.1: refused (connection closed)"
    assert ids(obs) == {"smb.v1-enabled", "smb.only-v1", "smb.signing-not-required"}


def test_modern_server_signing_required_no_finding() -> None:
    ctx = [
        (1, struct.pack("<HHH", 1, 0, 1)),
        (2, struct.pack("<HH", 1, 4)),
        (8, struct.pack("<HH", 1, 2)),
    ]
    streams = [MockStream([frame(smb2_response(0x0311, security_mode=3, contexts=ctx))])]
    streams += [
        MockStream([frame(smb2_response(d.value, security_mode=3))]) for d in SMB2_DIALECTS[1:]
    ]
    streams.append(MockStream([frame(smb1_response(0xFFFF))]))
    obs = probe(streams)
    assert obs.failure is None and obs.dialogue is not None
    first = obs.dialogue.greeting[0]
    assert first.startswith("smb2 3.1.1: accepted; signing=required; guid=6ba7b810-")
    assert "ciphers=AES-256-GCM" in first and "signing-algorithms=AES-GMAC" in first
    assert ids(obs) == set()


def test_signing_enabled_only_is_a_finding_without_v1() -> None:
    streams = [answer(d.value, 1) for d in SMB2_DIALECTS]
    streams.append(MockStream([]))
    obs = probe(streams, Service.NETBIOS_SSN)
    # Port 139: a NetBIOS session request first; an SMB answer instead of the session's
    # positive response is not the NetBIOS session service.
    assert obs.failure is not None and obs.failure.kind is FailureKind.NOT_PROTOCOL
    assert "\n" not in obs.failure.detail
    assert streams[0].written[0][0] == 0x81
    obs = probe([answer(d.value, 1) for d in SMB2_DIALECTS] + [MockStream([])])
    assert ids(obs) == {"smb.signing-not-required"}


def test_hostile_answer_in_a_later_round_is_one_failure_line_and_keeps_earlier_rounds() -> None:
    streams = [
        MockStream([frame(smb2_response(0x0311, contexts=[(2, struct.pack("<HH", 1, 2))]))]),
        MockStream([b"\x00\xff\xff\xff"]),
    ]
    obs = probe(streams)
    assert obs.failure is not None and obs.failure.kind is FailureKind.TOO_LARGE
    assert obs.connections == 2
    assert obs.dialogue is not None and obs.dialogue.greeting[0].startswith("smb2 3.1.1: accepted")
