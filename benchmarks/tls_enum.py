"""TLS enumeration benchmark: vedette against sslyze, testssl.sh and nmap on the same endpoint.

What it does, in one go:

1. starts a real Dovecot (IMAP, STARTTLS on 143) on 127.0.0.16 with the settings below, and a
   connection-counting TCP relay on 127.0.0.2:143 in front of it (every tool scans the relay,
   so every tool's connections are counted the same way; port 143 is kept so that nmap
   chooses STARTTLS by itself);
2. gets the ground truth with ``openssl s_client -starttls imap``, one version and one suite
   at a time, straight to Dovecot;
3. runs each tool once, in turn, and prints wall time, connections, peak memory (the largest
   resident set of the tool's process tree: testssl.sh's many openssl children are not
   summed) and whether the accepted suites per version equal the ground truth.

Server settings (fixed; Dovecot's process model alone changes timings several-fold): Debian
12's Dovecot 2.3 with its default TLS settings (``ssl_min_protocol = TLSv1.2``, default cipher
list), an ECDSA P-256 leaf plus intermediate, and ``service_count = 0`` on imap-login (one
long-lived login process, no fork per connection). See ``tests/integration/realservers.py``.

Run as root on Debian 12, from the repository root, with the tools installed::

    apt-get install nmap testssl.sh sslscan
    python3 -m venv /tmp/bench && /tmp/bench/bin/pip install sslyze
    SSLYZE=/tmp/bench/bin/sslyze .venv/bin/python -m benchmarks.tls_enum

A tool that is missing is reported as such and skipped. Only loopback is used; nmap runs with
``-n`` and testssl.sh with ``--nodns none``, so no name is resolved.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from tests.integration.realservers import (
    WORK_ROOT,
    DovecotSpec,
    make_pki,
    session_lock,
    start_dovecot,
)
from tests.integration.tls_truth import Truth

from benchmarks.relay import Relay
from vedette.tls.registry import registry

SERVER_IP, RELAY_IP, PORT = "127.0.0.16", "127.0.0.2", 143
VERSIONS = {
    0x0300: "SSLv3",
    0x0301: "TLSv1.0",
    0x0302: "TLSv1.1",
    0x0303: "TLSv1.2",
    0x0304: "TLSv1.3",
}
NAME_TO_CODE = {s.name: c for c, s in registry().suites.items()}
NAME_TO_CODE.update({s.openssl: c for c, s in registry().suites.items() if s.openssl})


ENGINE_CHILD = """
import asyncio, json, resource, sys, time
from vedette.model import Endpoint, Service
from vedette.probe.enumerate import enumerate_endpoint
ep = Endpoint(host="mail.realtest.test", ip=sys.argv[1], port=int(sys.argv[2]),
              service=Service.IMAP)
t0 = time.monotonic()
scan = asyncio.run(enumerate_endpoint(ep))
elapsed = time.monotonic() - t0
print(json.dumps({"elapsed": elapsed, "rss_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "sets": {vs.version: list(vs.suites) for vs in scan.suites}}))
"""


def run_measured(
    argv: list[str], env: dict[str, str] | None = None
) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Wall time, peak RSS (KiB) of the process tree's largest member, and the result."""
    probe = (
        "import resource, subprocess, sys, json;"
        "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
        "print(json.dumps([resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss,"
        " p.returncode, p.stdout[-200000:], p.stderr[-5000:]]))"
    )
    t0 = time.monotonic()
    outer = subprocess.run(
        [sys.executable, "-c", probe, *argv], capture_output=True, text=True, check=True, env=env
    )
    elapsed = time.monotonic() - t0
    rss, rc, out, err = json.loads(outer.stdout)
    return elapsed, rss, subprocess.CompletedProcess(argv, rc, out, err)


def vedette_sets(out: str) -> dict[int, set[int]]:
    doc = json.loads(out)
    scan = doc["endpoints"][0]["tls_scan"] or {}
    by_name = {n: c for c, n in VERSIONS.items()}
    return {
        by_name[vs["version"]]: {s["code"] for s in vs["suites"]}
        for vs in scan.get("suites", [])
        if vs["version"] in by_name
    }


def sslyze_sets(path: Path) -> dict[int, set[int]]:
    doc = json.loads(path.read_text())
    result = doc["server_scan_results"][0]["scan_result"]
    keys = {
        0x0300: "ssl_3_0_cipher_suites",
        0x0301: "tls_1_0_cipher_suites",
        0x0302: "tls_1_1_cipher_suites",
        0x0303: "tls_1_2_cipher_suites",
        0x0304: "tls_1_3_cipher_suites",
    }
    out: dict[int, set[int]] = {}
    for v, key in keys.items():
        accepted = ((result.get(key) or {}).get("result") or {}).get("accepted_cipher_suites", [])
        codes = {NAME_TO_CODE.get(a["cipher_suite"]["name"], -1) for a in accepted}
        if codes:
            out[v] = codes
    return out


def testssl_sets(path: Path) -> dict[int, set[int]]:
    ids = {"ssl3": 0x0300, "tls1": 0x0301, "tls1_1": 0x0302, "tls1_2": 0x0303, "tls1_3": 0x0304}
    out: dict[int, set[int]] = {}
    for item in json.loads(path.read_text()):
        m = re.fullmatch(r"cipher-(ssl3|tls1|tls1_1|tls1_2|tls1_3)_x([0-9a-fA-F]+)", item["id"])
        if m and "not offered" not in item.get("finding", ""):
            out.setdefault(ids[m.group(1)], set()).add(int(m.group(2), 16))
    return out


def nmap_sets(xml: str) -> dict[int, set[int]]:
    by_name = {"SSLv3": 0x0300, "TLSv1.0": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303,
               "TLSv1.3": 0x0304}  # fmt: skip
    out: dict[int, set[int]] = {}
    root = ET.fromstring(xml)  # noqa: S314 - nmap's own report, on loopback
    for table in root.iter("table"):
        v = by_name.get(table.get("key", ""))
        if v is None:
            continue
        for elem in table.iter("elem"):
            if elem.get("key") == "name" and elem.text:
                # nmap names TLS 1.3 suites TLS_AKE_WITH_AES_128_GCM_SHA256 and the like.
                name = elem.text.replace("TLS_AKE_WITH_", "TLS_")
                out.setdefault(v, set()).add(NAME_TO_CODE.get(name, -1))
    return out


def sslscan_sets(out: str) -> dict[int, set[int]]:
    by_name = {"SSLv3": 0x0300, "TLSv1.0": 0x0301, "TLSv1.1": 0x0302, "TLSv1.2": 0x0303,
               "TLSv1.3": 0x0304}  # fmt: skip
    root = ET.fromstring(out[out.index("<?xml") :])  # noqa: S314 - sslscan's own report
    result: dict[int, set[int]] = {}
    for c in root.iter("cipher"):
        v = by_name.get(c.get("sslversion", ""))
        if v is not None and c.get("status") in ("accepted", "preferred"):
            result.setdefault(v, set()).add(int(c.get("id", "-1"), 16))
    return result


def compare(got: dict[int, set[int]], truth: dict[int, set[int]]) -> str:
    if got == truth:
        return "identical"
    diffs = []
    for v in sorted(set(got) | set(truth)):
        missing = len(truth.get(v, set()) - got.get(v, set()))
        extra = len(got.get(v, set()) - truth.get(v, set()))
        if missing or extra:
            diffs.append(f"{VERSIONS.get(v, hex(v))}: {missing} missing, {extra} extra")
    return "; ".join(diffs)


def main() -> int:
    import argparse

    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument(
        "--slow",
        action="store_true",
        help="Dovecot as Debian ships it (service_count = 1: a login process forked for every "
        "connection, about 10 ms a handshake) instead of its high-performance mode",
    )
    p.add_argument(
        "--tools",
        default="vedette,sslyze,testssl.sh,nmap,sslscan",
        help="comma-separated tools to run (the engine row always runs)",
    )
    p.add_argument(
        "--before",
        metavar="SRC",
        help="also run `vedette scan` from another tree's src/ (e.g. a worktree of the commit "
        "before a change), alternating with this one",
    )
    p.add_argument(
        "--rtt",
        type=float,
        default=0.0,
        metavar="MS",
        help="milliseconds of round-trip time the relay adds (a distant server)",
    )
    p.add_argument("--per-host", type=int, help="--per-host for the vedette CLI rows")
    p.add_argument("--runs", type=int, default=1, help="runs of each vedette CLI row (best kept)")
    args = p.parse_args()
    with session_lock():
        pki = make_pki(WORK_ROOT / "pki")
        spec = DovecotSpec(
            name="bench",
            address=SERVER_IP,
            imap=True,
            ssl="yes",
            chain_pem=pki.chain_pem,
            key_pem=pki.key_pem,
            service_count=1 if args.slow else 0,
        )
        server = start_dovecot(spec)
        try:
            return _bench(
                set(args.tools.split(",")),
                args.before,
                max(1, args.runs),
                args.rtt / 1000,
                args.per_host,
            )
        finally:
            server.stop()


def _bench(
    wanted: set[str], before_src: str | None, runs: int, rtt: float, per_host: int | None
) -> int:
    t = Truth(PORT, ip=SERVER_IP, starttls="imap")
    t0 = time.monotonic()
    truth = {v: t.suites(v) for v in sorted(t.versions())}
    print(f"ground truth (s_client, one item at a time): {time.monotonic() - t0:.1f} s, "
          + ", ".join(f"{VERSIONS[v]} {len(s)}" for v, s in truth.items()))  # fmt: skip
    tmp = Path(tempfile.mkdtemp(prefix="vedette-bench-"))
    rows = []
    tools = {
        "vedette": [sys.executable, "-m", "vedette", "scan", "--no-store", "--json",
                    "--mode", "full", "--ip", RELAY_IP, f"imap://mail.realtest.test:{PORT}"],
        "vedette before": [sys.executable, "-m", "vedette", "scan", "--no-store", "--json",
                           "--mode", "full", "--ip", RELAY_IP,
                           f"imap://mail.realtest.test:{PORT}"],
        "sslyze": [os.environ.get("SSLYZE") or shutil.which("sslyze") or "sslyze",
                   "--starttls", "imap", "--sslv2", "--sslv3", "--tlsv1", "--tlsv1_1",
                   "--tlsv1_2", "--tlsv1_3", "--elliptic_curves", "--quiet",
                   "--json_out", str(tmp / "sslyze.json"), f"{RELAY_IP}:{PORT}"],
        "testssl.sh": [shutil.which("testssl.sh") or shutil.which("testssl") or "testssl",
                       "--starttls", "imap", "-p", "-E", "--nodns", "none", "--quiet",
                       "--warnings", "off", "--color", "0", "--jsonfile",
                       str(tmp / "testssl.json"), f"{RELAY_IP}:{PORT}"],
        "nmap": ["nmap", "-n", "-Pn", "-p", str(PORT), "--script", "ssl-enum-ciphers",
                 "-oX", "-", RELAY_IP],
        "sslscan": ["sslscan", "--starttls-imap", "--no-colour", "--xml=-",
                    f"{RELAY_IP}:{PORT}"],
    }  # fmt: skip
    if per_host:
        for name in ("vedette", "vedette before"):
            tools[name] += ["--per-host", str(per_host)]
    with Relay((RELAY_IP, PORT), (SERVER_IP, PORT), rtt=rtt) as relay:
        # The engine alone: what a full enumeration of one endpoint costs once vedette is
        # running (the CLI row adds interpreter start-up, imports, the quick handshake,
        # certificate analysis and the report). It runs in a child process of its own — in
        # this one it would share the relay's interpreter lock — that imports everything
        # first, then times ``enumerate_endpoint`` and prints the elapsed time and the sets.
        before = relay.count
        child = subprocess.run(
            [sys.executable, "-c", ENGINE_CHILD, RELAY_IP, str(PORT)],
            capture_output=True, text=True, timeout=120, check=True,
        )  # fmt: skip
        report = json.loads(child.stdout)
        got = {int(v): set(codes) for v, codes in report["sets"].items()}
        rows.append(
            ("vedette engine", report["elapsed"], relay.count - before, report["rss_kb"],
             compare(got, truth))
        )  # fmt: skip
        time.sleep(1)
        if before_src:
            wanted.add("vedette before")
        for name, argv in tools.items():
            if name not in wanted:
                continue
            if not (Path(argv[0]).exists() or shutil.which(argv[0])):
                rows.append((name, None, None, None, "not installed"))
                continue
            env = None
            if name == "vedette before":
                env = {**os.environ, "PYTHONPATH": str(before_src)}
            best: tuple[float, int, subprocess.CompletedProcess[str], int] | None = None
            for _ in range(runs if name.startswith("vedette") else 1):
                count = relay.count
                elapsed, rss, proc = run_measured(argv, env)
                if best is None or elapsed < best[0]:
                    best = (elapsed, rss, proc, relay.count - count)
                time.sleep(0.5)
            assert best is not None
            elapsed, rss, proc, conns = best
            try:
                if name.startswith("vedette"):
                    got = vedette_sets(proc.stdout)
                elif name == "sslyze":
                    got = sslyze_sets(tmp / "sslyze.json")
                elif name == "testssl.sh":
                    got = testssl_sets(tmp / "testssl.json")
                elif name == "nmap":
                    got = nmap_sets(proc.stdout)
                else:
                    got = sslscan_sets(proc.stdout)
                verdict = compare(got, truth)
            except (OSError, ValueError, KeyError, IndexError, ET.ParseError) as exc:
                verdict = f"unreadable output ({type(exc).__name__}: {exc})"
            rows.append((name, elapsed, conns, rss, verdict))
            time.sleep(1)  # let Dovecot's login processes settle between tools
    shutil.rmtree(tmp, ignore_errors=True)
    engine, cli = rows[0][1], rows[1][1]
    print(
        f"\n{'tool':15} {'wall s':>8} {'/engine':>8} {'/CLI':>6} {'conns':>6} {'peak MB':>8}  sets"
    )
    for name, elapsed, conns, rss, verdict in rows:
        if elapsed is None:
            print(f"{name:15} {'-':>8} {'-':>8} {'-':>6} {'-':>6} {'-':>8}  {verdict}")
            continue
        r1 = f"{elapsed / engine:.1f}" if engine else "-"
        r2 = f"{elapsed / cli:.1f}" if cli else "-"
        print(f"{name:15} {elapsed:8.2f} {r1:>8} {r2:>6} {conns:6d} {rss / 1024:8.1f}  {verdict}")
    print("\npeak MB of 'vedette engine' is its child process, imports included.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
