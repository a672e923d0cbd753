"""The ceiling: a minimal asyncio client that only connects, completes a TLS handshake and reads
the banner line, on every endpoint of a targets file (``imaps://IP:PORT`` lines). Used by
``fleet_bench.py`` to measure what the servers allow, in the same run as vedette."""

from __future__ import annotations

import asyncio
import resource
import ssl
import sys
from pathlib import Path


async def one(ip: str, port: int, ctx: ssl.SSLContext, sem: asyncio.Semaphore) -> bool:
    async with sem:
        try:
            async with asyncio.timeout(20):
                reader, writer = await asyncio.open_connection(ip, port, ssl=ctx)
                line = await reader.readline()
                writer.close()
                return line.startswith(b"* OK")
        except (OSError, TimeoutError, ssl.SSLError):
            return False


def read_targets(path: str) -> list[tuple[str, int]]:
    targets = []
    for line in Path(path).read_text(encoding="ascii").splitlines():
        ip, port = line.split("://", 1)[1].strip().rsplit(":", 1)
        targets.append((ip, int(port)))
    return targets


async def main(targets: list[tuple[str, int]], concurrency: int) -> int:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    sem = asyncio.Semaphore(concurrency)
    results = await asyncio.gather(*(one(ip, port, ctx, sem) for ip, port in targets))
    ok = sum(results)
    print(f"{ok} of {len(results)} ok")
    return 0 if ok == len(results) else 1


if __name__ == "__main__":
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    raise SystemExit(asyncio.run(main(read_targets(sys.argv[1]), int(sys.argv[2]))))
