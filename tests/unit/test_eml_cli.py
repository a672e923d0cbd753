"""``vedette eml`` as a user runs it: the terminal lines, the JSON schema, the exit status.
DNS is FakeDns in place of the DnsClient the command builds (no packet is sent)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.eml_helpers import Key, message, sign
from tests.unit.fake_dns import FakeDns
from vedette import cli
from vedette.mailauth import dnsclient

KEY = Key()
ZONE = [
    KEY.zone_line("s1", "example.com"),
    'example.com. TXT "v=spf1 ip4:192.0.2.0/24 -all"',
    '_dmarc.example.com. TXT "v=DMARC1; p=quarantine"',
]


@pytest.fixture(autouse=True)
def fake_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dnsclient, "DnsClient", lambda *a, **k: FakeDns(ZONE))


def run(tmp_path: Path, raw: bytes, *args: str) -> int:
    path = tmp_path / "m.eml"
    path.write_bytes(raw)
    return cli.main(["eml", str(path), *args])


def test_terminal_report_and_exit_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = sign(message(), KEY, "example.com", "s1")
    assert run(tmp_path, raw, "--client-ip", "192.0.2.9") == 0
    out = capsys.readouterr().out
    assert "DKIM #1 d=example.com s=s1: pass" in out
    assert "SPF example.com for 192.0.2.9 from --client-ip: pass" in out
    assert "DMARC: pass" in out


def test_json_keeps_the_dns_answers_and_exit_1_on_dmarc_fail(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = sign(message(), KEY, "example.com", "s1").replace(b"quarterly", b"monthly")
    assert run(tmp_path, raw, "--client-ip", "198.51.100.1", "--format", "json") == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "vedette.eml/1"
    assert doc["dkim"][0]["why"].startswith("body hash mismatch")
    assert (doc["dmarc"]["result"], doc["dmarc"]["policy"]) == ("fail", "quarantine")
    asked = {(a["name"], a["type"]) for a in doc["dns"]}
    assert ("s1._domainkey.example.com", "TXT") in asked
    assert ("_dmarc.example.com", "TXT") in asked


def test_bad_arguments_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(tmp_path, message(), "--client-ip", "not-an-ip") == 2
    assert run(tmp_path, message(), "--as-of", "yesterday") == 2
    err = capsys.readouterr().err
    assert "--as-of" in err and "Traceback" not in err
