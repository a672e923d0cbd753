"""The fixed cost of one `vedette scan`: start-up before the first connection, and analysis and
report after the last one.

What it does: starts the demo lab (``vedette.lab``, Python servers on 127.0.0.1) and a relay in
front of its ``imaps-good`` server that timestamps every connection it accepts and closes; then
runs ``vedette scan imaps://lab.vedette.test:PORT --ip RELAY --ca ROOT --no-store`` (full mode,
the default for a named target) ``--runs`` times and reports, per run:

* **start-up**: from just before the process is spawned to the relay's first accept
  (interpreter, imports, argument parsing, the plan, the engine's first connect);
* **network**: from the first accept to the last connection's close;
* **analysis + report**: from the last close to the process's exit (the checks, the client
  matrix, the terminal report, interpreter shutdown).

With ``--before SRC`` the same is measured for another tree's ``src/`` (e.g. a worktree of the
commit before a change) in alternation, run for run, and the medians are compared. Only
loopback is used.

    .venv/bin/python -m benchmarks.startup --runs 7 [--before /path/to/other/src]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.relay import Relay
from vedette.lab import LabThread

RELAY_IP = "127.0.0.3"


def measure(relay: Relay, argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    relay.reset()
    t0 = time.monotonic()
    proc = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    t_end = time.monotonic()
    if proc.returncode not in (0, 1) or not relay.opened:
        raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    time.sleep(0.05)  # the relay's last close is recorded on its own thread
    return relay.opened[0] - t0, max(relay.closed) - relay.opened[0], t_end - max(relay.closed)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--before", metavar="SRC", help="another tree's src/ to compare with")
    args = p.parse_args()
    trees: dict[str, dict[str, str]] = {"this tree": dict(os.environ)}
    if args.before:
        trees["before"] = {**os.environ, "PYTHONPATH": args.before}
    with tempfile.TemporaryDirectory() as work, LabThread(workdir=Path(work)) as lt:
        server = lt.lab.server("imaps-good")
        with Relay((RELAY_IP, 0), ("127.0.0.1", server.port)) as relay:
            argv = [sys.executable, "-m", "vedette", "scan", "--no-store", "--ip", RELAY_IP,
                    "--ca", str(lt.lab.root_ca_path),
                    f"imaps://lab.vedette.test:{relay.port}"]  # fmt: skip
            results: dict[str, list[tuple[float, float, float]]] = {t: [] for t in trees}
            for env in trees.values():  # warm the page cache and the byte-code
                measure(relay, argv, env)
            for _ in range(args.runs):
                for name, env in trees.items():
                    results[name].append(measure(relay, argv, env))
    print(f"{'tree':10} {'start-up s':>11} {'network s':>10} {'analysis+report s':>18}  (medians "
          f"of {args.runs}, load {os.getloadavg()[0]:.2f})")  # fmt: skip
    for name, rows in results.items():
        start, net, after = (statistics.median(col) for col in zip(*rows, strict=True))
        print(f"{name:10} {start:11.3f} {net:10.3f} {after:18.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
