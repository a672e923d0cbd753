"""Fleet benchmark: vedette against a minimal TLS client and sslyze, on one loopback fleet.

    python benchmarks/fleet_bench.py --endpoints 1000 --sslyze /path/to/venv/bin/sslyze

starts ``fleet_server.py`` (real TLS IMAPS servers on 127.42.0.0/16), then runs, one after the
other, each as a child process measured with ``wait4`` (CPU seconds user+system, peak RSS):

1. ``minimal``: connect + TLS handshake + banner (``minimal_client.py``): the servers' ceiling;
2. ``vedette quick``: ``vedette scan --targets FILE --mode quick`` into a fresh SQLite store
   (connect, IMAP dialogue, capabilities, one handshake, certificate chain, findings);
3. ``sslyze certinfo``: ``sslyze --certinfo`` on the same targets (certificate only);
4. with ``--full N``: ``vedette scan --mode full`` and sslyze's default full scan on the first
   N endpoints.

Prints endpoints per second, CPU seconds per endpoint, peak memory and the 1-minute load average
when the tool started (the machine may be shared: a load above the core count means the
figures of that row were taken while other work competed for the CPU) per tool, and writes
them as JSON with ``--json-out``. Compare tools within one run only. sslyze is not a vedette
dependency: install it in its own virtual environment (``python3 -m venv /tmp/sslyze &&
/tmp/sslyze/bin/pip install sslyze``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from fleet_server import endpoints, raise_nofile  # noqa: E402


@dataclass
class Result:
    tool: str
    endpoints: int
    wall_s: float
    cpu_s: float
    peak_rss_mb: float
    exit_code: int
    load_1min: float

    @property
    def rate(self) -> float:
        return self.endpoints / self.wall_s if self.wall_s else 0.0

    @property
    def cpu_per_endpoint_ms(self) -> float:
        return 1000 * self.cpu_s / self.endpoints if self.endpoints else 0.0


def measure(tool: str, n: int, argv: list[str], env: dict[str, str] | None = None) -> Result:
    load = os.getloadavg()[0]
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - t0
    code = os.waitstatus_to_exitcode(status)
    proc.returncode = code
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if code != 0:
        print(f"  {tool}: exit {code}: {err.strip()[-500:]}", file=sys.stderr)
    print(f"  {tool}: {wall:.2f} s", flush=True)
    return Result(
        tool=tool,
        endpoints=n,
        wall_s=round(wall, 3),
        cpu_s=round(usage.ru_utime + usage.ru_stime, 3),
        peak_rss_mb=round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        exit_code=code,
        load_1min=round(load, 2),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--endpoints", type=int, default=1000)
    parser.add_argument("--ports-per-address", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=1000)
    parser.add_argument("--server-workers", type=int, default=2)
    parser.add_argument("--full", type=int, default=0, metavar="N")
    parser.add_argument("--sslyze", help="the sslyze executable (skipped when not given)")
    parser.add_argument("--json-out", type=Path)
    parser.add_argument(
        "--runs",
        type=int,
        default=1,
        help="alternate the minimal client and vedette quick N times and keep each one's best",
    )
    parser.add_argument(
        "--before",
        metavar="SRC",
        help="also run vedette quick from another tree's src/ (alternating, best of --runs)",
    )
    args = parser.parse_args()
    # Byte-compile vedette first, as an installation from a wheel would: an editable install
    # under PYTHONDONTWRITEBYTECODE=1 would otherwise recompile it at every start.
    import vedette

    for tree in (Path(vedette.__file__).parent, *([Path(args.before)] if args.before else [])):
        subprocess.run(
            [sys.executable, "-m", "compileall", "-q", str(tree)],
            check=True,
            env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
        )
    limit = raise_nofile()
    print(f"RLIMIT_NOFILE {limit}")
    work = Path(tempfile.mkdtemp(prefix="vedette-fleet-bench-"))
    root = work / "root.pem"
    server = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "fleet_server.py"),
            "--endpoints",
            str(args.endpoints),
            "--ports-per-address",
            str(args.ports_per_address),
            "--workers",
            str(args.server_workers),
            "--root-out",
            str(root),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    results: list[Result] = []
    try:
        assert server.stdout is not None
        if server.stdout.readline().strip() != "READY":
            print("the fleet did not start", file=sys.stderr)
            return 1
        eps = endpoints(args.endpoints, args.ports_per_address)
        targets = work / "targets.txt"
        targets.write_text("".join(f"imaps://{ip}:{port}\n" for ip, port in eps))
        sslyze_targets = work / "sslyze.txt"
        sslyze_targets.write_text("".join(f"{ip}:{port}\n" for ip, port in eps))
        vedette_cli = [sys.executable, "-m", "vedette"]
        per_host = str(args.ports_per_address)

        def vedette_scan(mode: str, file: Path, db: str) -> list[str]:
            return [
                *vedette_cli,
                "scan",
                "--targets",
                str(file),
                "--mode",
                mode,
                "--quiet",
                "--db",
                f"sqlite:///{work / db}",
                "--ca",
                str(root),
                "--concurrency",
                str(args.concurrency),
                "--per-host",
                per_host,
            ]

        n = len(eps)
        minimal = [sys.executable, str(HERE / "minimal_client.py"), str(targets),
                   str(args.concurrency)]  # fmt: skip
        rows: dict[str, tuple[list[str], dict[str, str] | None]] = {
            "minimal client": (minimal, None),
            "vedette quick": (vedette_scan("quick", targets, "quick.db"), None),
        }
        if args.before:
            env = {**os.environ, "PYTHONPATH": args.before}
            rows["vedette quick before"] = (vedette_scan("quick", targets, "before.db"), env)
        best: dict[str, Result] = {}
        order = list(rows)
        for run in range(max(1, args.runs)):
            # Each run starts with another tool: none always follows the same one.
            for tool in order[run % len(order) :] + order[: run % len(order)]:
                argv, env = rows[tool]
                for db in ("quick.db", "before.db"):
                    (work / db).unlink(missing_ok=True)
                r = measure(tool, n, argv, env)
                if tool not in best or r.wall_s < best[tool].wall_s:
                    best[tool] = r
        results.extend(best.values())
        if args.sslyze:
            results.append(
                measure(
                    "sslyze certinfo",
                    n,
                    [args.sslyze, "--certinfo", "--quiet", "--targets_in", str(sslyze_targets)],
                )
            )
        if args.full:
            subset = work / "subset.txt"
            subset.write_text("".join(targets.read_text().splitlines(True)[: args.full]))
            sslyze_subset = work / "sslyze-subset.txt"
            sslyze_subset.write_text(
                "".join(sslyze_targets.read_text().splitlines(True)[: args.full])
            )
            results.append(
                measure("vedette full", args.full, vedette_scan("full", subset, "full.db"))
            )
            if args.sslyze:
                results.append(
                    measure(
                        "sslyze full",
                        args.full,
                        [args.sslyze, "--quiet", "--targets_in", str(sslyze_subset)],
                    )
                )
    finally:
        server.terminate()
        server.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    print(
        f"\n{'tool':<18}{'endpoints':>10}{'wall s':>9}{'ep/s':>9}{'CPU ms/ep':>11}{'peak MB':>9}"
        f"{'load':>7}"
    )
    for r in results:
        print(
            f"{r.tool:<18}{r.endpoints:>10}{r.wall_s:>9.2f}{r.rate:>9.1f}"
            f"{r.cpu_per_endpoint_ms:>11.2f}{r.peak_rss_mb:>9.1f}{r.load_1min:>7.2f}"
            + ("" if r.exit_code == 0 else f"  (exit {r.exit_code})")
        )
    # The goals (#6), as ratios of rates measured in this one run.
    by_tool = {r.tool: r for r in results}
    quick = by_tool.get("vedette quick")
    if quick is not None and "minimal client" in by_tool:
        share = quick.rate / by_tool["minimal client"].rate
        print(f"vedette quick / minimal client: {share:.0%} (goal: at least 80%)")
    before = by_tool.get("vedette quick before")
    if before is not None and "minimal client" in by_tool:
        share = before.rate / by_tool["minimal client"].rate
        print(f"vedette quick before / minimal client: {share:.0%}")
    if quick is not None and "sslyze certinfo" in by_tool:
        times = quick.rate / by_tool["sslyze certinfo"].rate
        print(f"vedette quick / sslyze certinfo: {times:.1f}x (goal: at least 10x)")
    if args.json_out:
        args.json_out.write_text(
            json.dumps([asdict(r) | {"endpoints_per_s": r.rate} for r in results], indent=2) + "\n"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
