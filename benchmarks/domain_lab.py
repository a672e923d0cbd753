"""The loopback mail-domain estate of the domain benchmark (``domain_bench.py``).

Meant to run inside the network namespace ``domain_bench.py`` creates (only ``lo`` exists
there), so that the DNS server can sit on 127.0.0.1:53, the one port checkdmarc can ask.

What it serves (documented, the same for every tool):

* **DNS**: real Knot (``knotd``), authoritative, unsigned, on 127.0.0.1:53, for ``test.``,
  ``mxhost.test.`` and one zone a domain ``dNNNN.test.``. Tools ask it with RD set; every
  name they need is in one of its zones, so no recursion is involved.
* **Each domain** (``records()``): two MX (three for ``d0000.test``), all named in
  ``mxhost.test``; SPF with an ``include:`` of the provider's record; DMARC ``p=reject``
  with a ``rua``; DKIM ``selector1`` (RSA 2048); MTA-STS TXT and policy (``mode: enforce``);
  TLS-RPT. Every tenth domain has a flaw (``+all``, no DMARC, a ``testing`` policy, a revoked
  DKIM key, an MTA-STS pattern the MX certificate does not match), so the tools report
  something.
* **Three MX hosts** ``mx1..mx3.mxhost.test`` on 127.0.1.1-3 port 25: an asyncio ESMTP server
  with STARTTLS (Python ``ssl``, OpenSSL 3, TLS 1.2-1.3), an ECDSA P-256 certificate for its
  name from a private intermediate (vedette's CA code), full chain sent.
* **The MTA-STS policy host** ``mta-sts.dNNNN.test`` on 127.0.2.1 port 443: HTTPS with a
  certificate for each name chosen by SNI (one key, a certificate a domain), serving
  ``/.well-known/mta-sts.txt``.

``python benchmarks/domain_lab.py --domains 1000 --dir DIR`` writes ``DIR/root.pem`` and
``DIR/domains.txt``, starts everything and prints ``READY``; SIGTERM stops it.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from vedette.pki.ca import CertificateAuthority

DNS = ("127.0.0.1", 53)
MX_ADDRESSES = ("127.0.1.1", "127.0.1.2", "127.0.1.3")
POLICY_ADDRESS = "127.0.2.1"
LINE_MAX = 4096
IDLE = 20.0


def domain_names(count: int) -> list[str]:
    return [f"d{i:04d}.test" for i in range(count)]


def _dkim_key() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode()


def _txt(text: str) -> str:
    # Master-file TXT: strings of at most 255 bytes, quoted.
    parts = [text[i : i + 255] for i in range(0, len(text), 255)] or [""]
    return " ".join(f'"{p}"' for p in parts)


def _flaw(index: int) -> int:
    """0: none; on every tenth domain, in turn: 1 SPF +all, 2 no DMARC, 3 revoked DKIM key,
    4 MTA-STS testing, 5 MTA-STS enforce with a pattern no MX matches."""
    return (index // 10) % 5 + 1 if index % 10 == 9 else 0


def records(index: int, dkim_p: str) -> list[str]:
    """The zone lines (relative to the domain) of domain ``index``; flaws on every tenth."""
    flaw = _flaw(index)
    mx = ["@ 300 MX 10 mx1.mxhost.test.", "@ 300 MX 20 mx2.mxhost.test."]
    if index == 0:
        mx.append("@ 300 MX 30 mx3.mxhost.test.")
    dkim = "v=DKIM1; k=rsa; p=" + ("" if flaw == 3 else dkim_p)  # empty p=: revoked
    spf = "v=spf1 include:_spf.mxhost.test " + ("+all" if flaw == 1 else "-all")
    lines = [
        *mx,
        f"@ 300 TXT {_txt(spf)}",
        f"selector1._domainkey 300 TXT {_txt(dkim)}",
        '_mta-sts 300 TXT "v=STSv1; id=20261207"',
        f"mta-sts 300 A {POLICY_ADDRESS}",
        f'_smtp._tls 300 TXT "v=TLSRPTv1; rua=mailto:tlsrpt@d{index:04d}.test"',
    ]
    if flaw != 2:
        lines.append(f'_dmarc 300 TXT "v=DMARC1; p=reject; rua=mailto:dmarc@d{index:04d}.test"')
    return lines


def policy(index: int) -> bytes:
    flaw = _flaw(index)
    mode = "testing" if flaw == 4 else "enforce"
    pattern = "mail.elsewhere.test" if flaw == 5 else "*.mxhost.test"
    text = f"version: STSv1\r\nmode: {mode}\r\nmx: {pattern}\r\nmax_age: 86400\r\n"
    return text.encode()


def _zone_file(origin: str, lines: list[str]) -> str:
    head = [
        f"$ORIGIN {origin}",
        "$TTL 300",
        "@ 300 SOA ns.mxhost.test. hostmaster.mxhost.test. 1 3600 600 86400 300",
        "@ 300 NS ns.mxhost.test.",
    ]
    return "\n".join([*head, *lines]) + "\n"


def write_zones(directory: Path, count: int) -> list[str]:
    """Zone files for every origin; returns the origins (absolute)."""
    zones = directory / "zones"
    zones.mkdir()
    provider = [
        f"ns 300 A {DNS[0]}",
        *(f"mx{n + 1} 300 A {a}" for n, a in enumerate(MX_ADDRESSES)),
        '_spf 300 TXT "v=spf1 ip4:127.0.1.0/24 -all"',
    ]
    origins = {"test.": [], "mxhost.test.": provider}
    dkim_p = _dkim_key()  # one key for all: generating 1,000 RSA keys would dominate set-up
    for i, name in enumerate(domain_names(count)):
        origins[name + "."] = records(i, dkim_p)
    for origin, lines in origins.items():
        (zones / f"{origin.rstrip('.')}.zone").write_text(_zone_file(origin, lines))
    return list(origins)


def knot_conf(directory: Path, origins: list[str]) -> str:
    return "\n".join(
        [
            "server:",
            f'  rundir: "{directory}"',
            f"  listen: {DNS[0]}@{DNS[1]}",
            "  udp-workers: 2",
            "  tcp-workers: 2",
            "log:",
            f'  - target: "{directory / "knot.log"}"',
            "    any: warning",
            "database:",
            f'  storage: "{directory / "db"}"',
            "control:",
            f'  listen: "{directory / "knot.sock"}"',
            "template:",
            "  - id: default",
            f'    storage: "{directory / "zones"}"',
            '    file: "%s.zone"',
            "    zonefile-sync: -1",
            "    journal-content: none",
            "zone:",
            *(f'  - domain: "{o}"' for o in origins),
        ]
    )


async def _smtp(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, name: str, ctx: ssl.SSLContext
) -> None:
    tls = False
    try:
        writer.write(f"220 {name} ESMTP bench\r\n".encode())
        while True:
            line = await asyncio.wait_for(reader.readline(), IDLE)
            if not line or len(line) > LINE_MAX:
                break
            verb = line.split(b" ", 1)[0].strip().upper()
            if verb in (b"EHLO", b"HELO"):
                ext = ["SIZE 52428800", "PIPELINING", "8BITMIME"]
                ext.append("AUTH PLAIN LOGIN" if tls else "STARTTLS")
                lines = [name, *ext]
                out = "".join(
                    f"250{'-' if k < len(lines) - 1 else ' '}{t}\r\n" for k, t in enumerate(lines)
                )
                writer.write(out.encode())
            elif verb == b"STARTTLS" and not tls:
                writer.write(b"220 2.0.0 ready to start TLS\r\n")
                await writer.drain()
                await writer.start_tls(ctx)
                tls = True
            elif verb == b"QUIT":
                writer.write(b"221 2.0.0 bye\r\n")
                await writer.drain()
                break
            elif verb in (b"NOOP", b"RSET"):
                writer.write(b"250 2.0.0 ok\r\n")
            else:
                writer.write(b"502 5.5.1 not in this benchmark\r\n")
            await writer.drain()
    except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _https(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE)
        request = head.split(b"\r\n", 1)[0].split(b" ")
        host = b""
        for header in head.split(b"\r\n")[1:]:
            if header.lower().startswith(b"host:"):
                host = header.split(b":", 1)[1].strip().split(b":")[0].lower()
        label = host.decode(errors="replace").removeprefix("mta-sts.").removesuffix(".test")
        ok = (
            len(request) == 3
            and request[1] == b"/.well-known/mta-sts.txt"
            and len(label) == 5
            and label[0] == "d"
            and label[1:].isdigit()
        )
        body = policy(int(label[1:])) if ok else b"not found\n"
        status = b"200 OK" if ok else b"404 Not Found"
        writer.write(
            b"HTTP/1.1 "
            + status
            + b"\r\nContent-Type: text/plain\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\nConnection: close\r\n\r\n"
            + body
        )
        await writer.drain()
    except (
        OSError,
        TimeoutError,
        ssl.SSLError,
        asyncio.IncompleteReadError,
        asyncio.LimitOverrunError,
    ):
        pass
    finally:
        writer.close()


def _server_context(pem_chain: bytes, key_pem: bytes, directory: Path, stem: str) -> ssl.SSLContext:
    cert_file, key_file = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert_file.write_bytes(pem_chain)
    key_file.write_bytes(key_pem)
    key_file.chmod(0o600)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_TICKET
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


async def serve(directory: Path, count: int) -> None:
    root = CertificateAuthority.create_root("Domain Bench Root")
    inter = root.issue_intermediate("Domain Bench Issuing CA")
    (directory / "root.pem").write_bytes(root.issued.cert_pem())
    certs = directory / "certs"
    certs.mkdir()
    servers = []
    for n, address in enumerate(MX_ADDRESSES):
        name = f"mx{n + 1}.mxhost.test"
        leaf = inter.issue_server([name])
        ctx = _server_context(leaf.cert_pem() + inter.chain_pem(), leaf.key_pem(), certs, name)

        def handler(
            r: asyncio.StreamReader,
            w: asyncio.StreamWriter,
            name: str = name,
            ctx: ssl.SSLContext = ctx,
        ) -> asyncio.Future[None]:
            return asyncio.ensure_future(_smtp(r, w, name, ctx))

        servers.append(await asyncio.start_server(handler, address, 25, backlog=1024))
    # MTA-STS: one certificate and context a name, chosen by SNI.
    contexts: dict[str, ssl.SSLContext] = {}
    for name in domain_names(count):
        host = f"mta-sts.{name}"
        leaf = inter.issue_server([host])
        contexts[host] = _server_context(
            leaf.cert_pem() + inter.chain_pem(), leaf.key_pem(), certs, host
        )
    default = contexts["mta-sts.d0000.test"]

    def pick(sock: ssl.SSLObject, server_name: str | None, _ctx: ssl.SSLContext) -> None:
        chosen = contexts.get((server_name or "").lower())
        if chosen is not None:
            sock.context = chosen

    default.sni_callback = pick
    servers.append(
        await asyncio.start_server(_https, POLICY_ADDRESS, 443, ssl=default, backlog=1024)
    )
    print("READY", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    await stop.wait()
    for s in servers:
        s.close()


def start_knot(directory: Path, count: int) -> subprocess.Popen[bytes]:
    """Zone files, Knot's configuration, and knotd answering on 127.0.0.1:53."""
    for sub in ("db",):
        (directory / sub).mkdir()
    origins = write_zones(directory, count)
    conf = directory / "knot.conf"
    conf.write_text(knot_conf(directory, origins))
    out = (directory / "knot.stdio").open("wb")
    knot = subprocess.Popen(
        ["knotd", "-c", str(conf)], stdin=subprocess.DEVNULL, stdout=out, stderr=out
    )
    import dns.exception
    import dns.message
    import dns.query

    probe = dns.message.make_query(f"d{count - 1:04d}.test", "MX")
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = dns.query.udp(probe, DNS[0], port=DNS[1], timeout=0.5)
            if answer.answer:
                return knot
        except (OSError, dns.exception.Timeout):
            pass
        if knot.poll() is not None or time.monotonic() > deadline:
            knot.kill()
            raise SystemExit("knotd did not answer: " + (directory / "knot.stdio").read_text())
        time.sleep(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--domains", type=int, default=1000)
    parser.add_argument("--dir", type=Path, required=True)
    args = parser.parse_args()
    if not 1 <= args.domains <= 10000:
        parser.error("--domains: 1 to 10000")
    with socket.socket() as s:  # refuse to run outside a namespace of our own making
        try:
            s.bind(("127.0.0.1", 53))
        except OSError as exc:
            parser.error(f"127.0.0.1:53 is not free ({exc}); run through domain_bench.py")
    (args.dir / "domains.txt").write_text("".join(n + "\n" for n in domain_names(args.domains)))
    knot = start_knot(args.dir, args.domains)
    try:
        asyncio.run(serve(args.dir, args.domains))
    finally:
        knot.terminate()
        knot.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
