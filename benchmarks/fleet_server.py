"""A loopback fleet of IMAPS servers for the fleet benchmark (``fleet_bench.py``).

Server settings (documented, the same for every endpoint):

* ``ADDRESSES`` loopback addresses 127.42.X.Y, each with ``PORTS_PER_ADDRESS`` listeners on
  ports 20993, 20994, ... (implicit TLS, like IMAPS on 993);
* TLS: OpenSSL through Python's ``ssl`` module, TLS 1.2 and 1.3, the default cipher list, one
  ECDSA P-256 certificate for ``fleet.bench.test`` issued by an intermediate of a private root
  (vedette's own CA code), full chain sent, session tickets off (every handshake is full);
* the IMAP dialogue: ``* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready`` greeting, answers to
  ``CAPABILITY``, ``LOGOUT`` and ``NOOP``, ``BAD`` to anything else; lines of at most 8 KiB,
  a 20 s idle timeout;
* ``--workers`` server processes (``SO_REUSEPORT`` on every listener), so the servers are not
  the bottleneck of a two-core machine more than they must be.

Run: ``python benchmarks/fleet_server.py --endpoints 1000 --root-out root.pem`` and wait for
``READY`` on standard output; stop with SIGTERM. Never binds anything but 127.42.0.0/16.
"""

from __future__ import annotations

import argparse
import asyncio
import ipaddress
import multiprocessing
import os
import resource
import signal
import ssl
import sys
import tempfile
from pathlib import Path

BASE = ipaddress.IPv4Address("127.42.0.1")
FIRST_PORT = 20993


def endpoints(
    count: int, ports_per_address: int, base: ipaddress.IPv4Address = BASE
) -> list[tuple[str, int]]:
    out = []
    for i in range(count):
        address = str(base + i // ports_per_address)
        out.append((address, FIRST_PORT + i % ports_per_address))
    return out


def raise_nofile() -> int:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        writer.write(b"* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] fleet bench ready\r\n")
        while True:
            line = await asyncio.wait_for(reader.readline(), 20)
            if not line or len(line) > 8192:
                break
            parts = line.decode("latin-1").strip().split(" ", 2)
            tag = parts[0] if parts else "*"
            command = parts[1].upper() if len(parts) > 1 else ""
            if command == "CAPABILITY":
                writer.write(b"* CAPABILITY IMAP4rev1 AUTH=PLAIN\r\n" + tag.encode() + b" OK\r\n")
            elif command == "LOGOUT":
                writer.write(b"* BYE\r\n" + tag.encode() + b" OK\r\n")
                await writer.drain()
                break
            elif command == "NOOP":
                writer.write(tag.encode() + b" OK\r\n")
            else:
                writer.write(tag.encode() + b" BAD unknown command\r\n")
            await writer.drain()
    except (OSError, TimeoutError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


def _serve(eps: list[tuple[str, int]], chain: str, key: str, ready: multiprocessing.Event) -> None:
    raise_nofile()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.options |= ssl.OP_NO_TICKET
    ctx.num_tickets = 0
    ctx.load_cert_chain(chain, key)

    async def main() -> None:
        servers = [
            await asyncio.start_server(
                _client,
                host,
                port,
                ssl=ctx,
                reuse_port=True,
                backlog=1024,
                ssl_handshake_timeout=20,
            )
            for host, port in eps
        ]
        ready.set()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        for s in servers:
            s.close()

    asyncio.run(main())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--ports-per-address", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--root-out", type=Path, required=True)
    parser.add_argument("--base", type=ipaddress.IPv4Address, default=BASE)
    args = parser.parse_args()
    from vedette.pki.ca import CertificateAuthority

    root = CertificateAuthority.create_root("fleet bench root", organization="vedette bench")
    inter = root.issue_intermediate("fleet bench intermediate")
    leaf = inter.issue_server(["fleet.bench.test"])
    workdir = Path(tempfile.mkdtemp(prefix="vedette-bench-"))
    chain = workdir / "chain.pem"
    chain.write_bytes(leaf.cert_pem() + inter.chain_pem())
    key = workdir / "key.pem"
    key.touch(0o600)
    key.write_bytes(leaf.key_pem())
    args.root_out.write_bytes(root.issued.cert_pem())
    if not args.base.is_loopback:
        parser.error("--base must be a loopback address (127.0.0.0/8)")
    eps = endpoints(args.endpoints, args.ports_per_address, args.base)
    events = [multiprocessing.Event() for _ in range(args.workers)]
    procs = [
        multiprocessing.Process(target=_serve, args=(eps, str(chain), str(key), ev), daemon=True)
        for ev in events
    ]
    for p in procs:
        p.start()
    for ev in events:
        if not ev.wait(60):
            print("servers did not start", file=sys.stderr)
            return 1
    # Wait for SIGTERM or SIGINT (blocked, then taken synchronously: no handler races).
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    print("READY", flush=True)
    signal.sigwait({signal.SIGTERM, signal.SIGINT})
    for p in procs:
        if p.pid is not None:
            os.kill(p.pid, signal.SIGTERM)
    for p in procs:
        p.join(10)
    for f in (chain, key):
        f.unlink()
    workdir.rmdir()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
