"""``python -m vedette.lab``: start the lab, print its servers, serve until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path

from vedette.lab._mailbox import DEMO_PASSWORD, DEMO_USER
from vedette.lab.scenarios import Lab


def _describe(lab: Lab) -> str:
    out = [f"vedette lab: {len(lab.servers)} servers for {lab.host} on {lab.bind}", ""]
    width = max(len(s.name) for s in lab.servers)
    for s in lab.servers:
        expected = ", ".join(sorted(s.expected_findings)) or "no findings"
        out.append(f"  {s.name:<{width}}  {s.target:<38} {expected}")
        out.append(f"  {'':<{width}}  {s.description}")
    first = lab.server("imaps-good")
    out += [
        "",
        f"lab root CA (pass it with --ca): {lab.root_ca_path}",
        f"account: {DEMO_USER} / {DEMO_PASSWORD}",
        f"{lab.host} is not in DNS: give clients the address, e.g.",
        f"  curl --resolve {lab.host}:{first.port}:{first.ip} --cacert {lab.root_ca_path} \\",
        f"       -u {DEMO_USER}:{DEMO_PASSWORD} '{first.curl_url}/INBOX;MAILINDEX=1'",
        "",
        "Serving until Ctrl-C.",
    ]
    return "\n".join(out)


async def _serve(workdir: Path | None) -> None:
    async with Lab(workdir=workdir) as lab:
        print(_describe(lab), flush=True)
        await asyncio.Event().wait()  # until cancelled by Ctrl-C


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m vedette.lab",
        description="Run vedette's demo mail servers on 127.0.0.1 until interrupted.",
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        default=None,
        help="directory to write the lab root CA to (default: a private temporary directory)",
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(args.workdir))
    return 0


if __name__ == "__main__":
    sys.exit(main())
