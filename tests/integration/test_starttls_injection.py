"""Bytes a server sends in clear after its STARTTLS go-ahead never count as TLS data.

A server (or a man in the middle, who can write to the clear-text stream but not inside TLS)
answers STARTTLS/STLS with its go-ahead and, in the same TCP segment, before the handshake, a
forged capability reply: AUTH/USER/LOGIN offered. A client that kept those bytes (the
CVE-2011-0411 class, and the "response injection" of Poddebniak et al., NO STARTTLS, USENIX
Security 2021) reads the forged list as the server's capabilities inside TLS, and the real
reply inside TLS is then read as the answer to its next command. vedette must report what the
server said inside TLS only.

The first test drives the probe in-process (SMTP); the others run ``vedette scan --json`` against
a scripted SMTP, IMAP, POP3 and ManageSieve server, quick and full (the full mode's TLS
enumeration does its own STARTTLS on every connection and must not read the injected bytes as a
ServerHello). ManageSieve is the easiest to fool: its server re-issues its capabilities unasked
right after the handshake, so a forged list needs no command to be taken for them.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import ssl
import subprocess
from dataclasses import dataclass

import pytest

from tests.cli import run_vedette
from tests.integration.scripted import ThreadedServer, server_tls_context
from vedette.model import Endpoint, Service, Stage
from vedette.pki.ca import self_signed_server
from vedette.probe import probe_endpoint
from vedette.probe.transport import Connection, scanner_ssl_context


async def _run(tmp_path) -> object:
    issued = self_signed_server(["inject.vedette.test"])
    (tmp_path / "c.pem").write_bytes(issued.cert_pem())
    (tmp_path / "k.pem").write_bytes(issued.key_pem())
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await script(reader, writer)
        finally:
            writer.close()

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 inject.vedette.test ESMTP\r\n")
        await reader.readline()  # EHLO
        writer.write(b"250-inject.vedette.test\r\n250 STARTTLS\r\n")
        await reader.readline()  # STARTTLS
        # The go-ahead and the forged reply in one segment: the client reads both before
        # it starts the handshake.
        writer.write(b"220 go ahead\r\n250-forged\r\n250 AUTH PLAIN LOGIN FORGED\r\n")
        await writer.drain()
        await writer.start_tls(server_ctx)
        await reader.readline()  # EHLO inside TLS
        writer.write(b"250-inject.vedette.test\r\n250 SIZE 1000\r\n")
        await reader.readline()  # QUIT
        writer.write(b"221 bye\r\n")
        await writer.drain()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        return await probe_endpoint(
            Endpoint(host="inject.vedette.test", ip="127.0.0.1", port=port, service=Service.SMTP)
        )
    finally:
        server.close()
        await server.wait_closed()


def test_cleartext_bytes_after_starttls_go_ahead_are_discarded(tmp_path):
    obs = asyncio.run(_run(tmp_path))
    assert obs.failure is None, obs.failure
    assert obs.tls is not None
    after = obs.dialogue.capabilities_after_tls
    assert after == ("250-inject.vedette.test", "250 SIZE 1000")
    assert not any("FORGED" in line for line in after)


async def _transport_case(tmp_path) -> tuple[bytes, int]:
    """A go-ahead read alone, the forged bytes left in the socket reader's buffer (as when
    they exceed one read): ``Connection.start_tls`` must drop them, not hand them to TLS."""
    server_ctx = server_tls_context(tmp_path)
    forged = b"+OK\r\nUSER\r\nINJECTED\r\n.\r\n" * 100

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await reader.readline()  # STLS
            writer.write(b"+OK go\r\n" + forged)
            await writer.drain()
            await writer.start_tls(server_ctx)
            await reader.readline()  # CAPA inside TLS
            writer.write(b"+OK\r\nTOP\r\n.\r\n")
            await writer.drain()
            await reader.read(1)
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = await Connection.connect("127.0.0.1", port, timeout=10)
    try:
        loop = asyncio.get_running_loop()
        await conn.write(b"STLS\r\n", 10, Stage.STARTTLS)
        head = await conn.read(8, loop.time() + 10, Stage.STARTTLS)
        assert head == b"+OK go\r\n"
        # Wait until every forged byte sits in the client's buffer, unread (the kernel's
        # delivery has no event to wait on: poll, bounded by the wait_for of the caller).
        while len(conn._reader._buffer) < len(forged):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        await conn.start_tls(scanner_ssl_context(), None, 10)
        await conn.write(b"CAPA\r\n", 10, Stage.CAPABILITIES_AFTER_TLS)
        inside = b""
        while not inside.endswith(b".\r\n"):
            chunk = await conn.read(65536, loop.time() + 10, Stage.CAPABILITIES_AFTER_TLS)
            assert chunk, inside
            inside += chunk
        return inside, conn.discarded_before_tls
    finally:
        await conn.close()
        server.close()
        await server.wait_closed()


def test_transport_drops_cleartext_left_in_the_read_buffer(tmp_path):
    inside, discarded = asyncio.run(asyncio.wait_for(_transport_case(tmp_path), 60))
    assert inside == b"+OK\r\nTOP\r\n.\r\n"
    assert discarded == len(b"+OK\r\nUSER\r\nINJECTED\r\n.\r\n" * 100)


# ---- the CLI against a scripted server of each protocol ------------------------------------


@dataclass(frozen=True)
class Script:
    """One protocol's words. ``{tag}`` is the client's IMAP tag of the command answered.
    ``caps_verb`` None: the server sends its capabilities unasked, in its greeting and right
    after the TLS handshake (ManageSieve); the forged list then needs no command at all."""

    scheme: str
    greeting: bytes
    caps_verb: bytes | None
    caps_clear: bytes
    starttls_verb: bytes
    go_ahead: bytes
    injected: bytes
    caps_tls: bytes
    quit_verb: bytes
    bye: bytes
    #: the capability reply inside TLS, as ``vedette scan --json`` must report it
    expected_after: list[str]


SCRIPTS = {
    "pop3": Script(
        scheme="pop3",
        greeting=b"+OK scripted POP3 ready\r\n",
        caps_verb=b"CAPA",
        caps_clear=b"+OK\r\nSTLS\r\nTOP\r\n.\r\n",
        starttls_verb=b"STLS",
        go_ahead=b"+OK Begin TLS negotiation\r\n",
        # a second status line, then a whole forged CAPA reply offering USER and SASL PLAIN
        injected=b"+OK injected\r\n+OK\r\nUSER\r\nSASL PLAIN LOGIN\r\nINJECTED\r\n.\r\n",
        caps_tls=b"+OK\r\nTOP\r\nUIDL\r\n.\r\n",
        quit_verb=b"QUIT",
        bye=b"+OK bye\r\n",
        expected_after=["+OK", "TOP", "UIDL"],
    ),
    "imap": Script(
        scheme="imap",
        greeting=b"* OK scripted IMAP ready\r\n",
        caps_verb=b"CAPABILITY",
        caps_clear=b"* CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED\r\n{tag} OK done\r\n",
        starttls_verb=b"STARTTLS",
        go_ahead=b"{tag} OK Begin TLS negotiation now\r\n",
        # the reply the client's next command (a3 CAPABILITY) would get, forged
        injected=b"* CAPABILITY IMAP4rev1 AUTH=PLAIN INJECTED\r\na3 OK injected\r\n",
        caps_tls=b"* CAPABILITY IMAP4rev1 ID\r\n{tag} OK done\r\n",
        quit_verb=b"LOGOUT",
        bye=b"* BYE bye\r\n{tag} OK done\r\n",
        expected_after=["* CAPABILITY IMAP4rev1 ID", "a3 OK done"],
    ),
    "smtp": Script(
        scheme="submission",
        greeting=b"220 scripted ESMTP\r\n",
        caps_verb=b"EHLO",
        caps_clear=b"250-scripted\r\n250 STARTTLS\r\n",
        starttls_verb=b"STARTTLS",
        go_ahead=b"220 2.0.0 go ahead\r\n",
        injected=b"250-forged\r\n250 AUTH PLAIN LOGIN INJECTED\r\n",
        caps_tls=b"250-scripted\r\n250 SIZE 1000\r\n",
        quit_verb=b"QUIT",
        bye=b"221 bye\r\n",
        expected_after=["250-scripted", "250 SIZE 1000"],
    ),
    "sieve": Script(
        scheme="sieve",
        greeting=b'"IMPLEMENTATION" "scripted"\r\n"SASL" ""\r\n"STARTTLS"\r\nOK "ready"\r\n',
        caps_verb=None,
        caps_clear=b"",
        starttls_verb=b"STARTTLS",
        go_ahead=b'OK "Begin TLS negotiation now."\r\n',
        # what the server re-issues inside TLS, forged: a password mechanism offered
        injected=b'"IMPLEMENTATION" "x"\r\n"SASL" "PLAIN LOGIN INJECTED"\r\nOK "injected"\r\n',
        caps_tls=b'"IMPLEMENTATION" "scripted"\r\n"SASL" "PLAIN"\r\nOK "TLS ok"\r\n',
        quit_verb=b"LOGOUT",
        bye=b'OK "Logout completed."\r\n',
        expected_after=['"IMPLEMENTATION" "scripted"', '"SASL" "PLAIN"', 'OK "TLS ok"'],
    ),
}


def injecting_server(script: Script, tls: ssl.SSLContext):
    """A handler that serves ``script``, injecting after every STARTTLS go-ahead."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(script.greeting)
        await writer.drain()
        in_tls = False
        while line := await reader.readline():
            words = line.strip().split()
            tag = words[0] if script.scheme == "imap" and words else b""
            verb = (words[1] if tag else words[0]).upper() if words else b""
            if verb == script.caps_verb:
                writer.write(
                    (script.caps_tls if in_tls else script.caps_clear).replace(b"{tag}", tag)
                )
            elif verb == script.starttls_verb and not in_tls:
                # One write, one segment: the go-ahead and the forged reply arrive together.
                writer.write(script.go_ahead.replace(b"{tag}", tag) + script.injected)
                await writer.drain()
                try:
                    await writer.start_tls(tls)
                except (ssl.SSLError, OSError):
                    return  # the enumeration's hand-built hellos end here
                in_tls = True
                if script.caps_verb is None:
                    writer.write(script.caps_tls)
                    await writer.drain()
                continue
            elif verb == script.quit_verb:
                writer.write(script.bye.replace(b"{tag}", tag))
                await writer.drain()
                return
            else:
                writer.write(b"-ERR unknown\r\n" if script.scheme == "pop3" else b"502 no\r\n")
            await writer.drain()

    return handle


def vedette(*args: str) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, env={"NO_COLOR": "1"})


@pytest.mark.parametrize("mode", ["quick", "full"])
@pytest.mark.parametrize("protocol", sorted(SCRIPTS))
def test_scan_reports_only_what_came_inside_tls(tmp_path, protocol, mode):
    script = SCRIPTS[protocol]
    clean = dataclasses.replace(script, injected=b"")
    tls = server_tls_context(tmp_path)
    with (
        ThreadedServer(injecting_server(script, tls)) as injecting,
        ThreadedServer(injecting_server(clean, tls)) as honest,
    ):
        proc = vedette(
            "scan",
            "--json",
            "--no-store",
            "--mode",
            mode,
            "--read-timeout",
            "10",
            f"{script.scheme}://127.0.0.1:{injecting.port}",
            f"{script.scheme}://127.0.0.1:{honest.port}",
        )
    doc = json.loads(proc.stdout)
    by_port = {ep["port"]: ep for ep in doc["endpoints"]}
    ep, control = by_port[injecting.port], by_port[honest.port]
    assert ep["status"] == "ok", ep["failure"]
    assert ep["tls"] is not None
    assert ep["capabilities_after_tls"] == script.expected_after
    # The same report as for the same server without the injection: same findings.
    assert ep["findings"] == control["findings"]
    assert ep["capabilities_before_tls"] == control["capabilities_before_tls"]
    # Nothing of the forged reply anywhere: not in the capabilities, not in a finding's text.
    assert "INJECTED" not in proc.stdout
    assert "injected" not in proc.stdout
    if mode == "full":
        # The enumeration read real ServerHellos behind the same injection, not the forged text.
        assert ep["tls_scan"] is not None
        assert "TLSv1.2" in ep["tls_scan"]["versions"]
        assert ep["tls_scan"]["versions"] == control["tls_scan"]["versions"]
