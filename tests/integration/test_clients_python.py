"""The two Python profiles against real Python clients (issue 13).

Each server is OpenSSL's s_server with one problem (tests/integration/test_clients_scan.py
builds them), or offering TLS 1.0 only. Two real clients connect with this machine's python3
(the one running the tests) and with Debian's /usr/bin/python3, both on Debian 12's OpenSSL 3:

* ``python-verifying``: ``ssl.create_default_context()`` with the test root (what requests,
  httpx and careful scripts do);
* ``python-stdlib-mail``: ``imaplib.IMAP4_SSL`` without ``ssl_context``, which takes
  ``ssl._create_stdlib_context()`` = an unverified context.

vedette's verdict must be the real client's outcome: works (or "works, but does not check the
certificate") when it connects, fails when it does not.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_clients_scan import HOST, _build, s_server, scan, verdicts
from tests.tools import unavailable

CLIENT = r"""
import imaplib, socket, ssl, sys
host, port, root, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
try:
    if mode == "verifying":
        ctx = ssl.create_default_context(cafile=root)
        with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                print("OK", s.version())
    else:
        # imaplib with no ssl_context: the handshake is all it does before reading a
        # greeting, which s_server -www never sends; the connection itself is the verdict.
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        ctx = ssl._create_stdlib_context()
        with ctx.wrap_socket(sock, server_hostname=host) as s:
            print("OK", s.version())
except (ssl.SSLError, OSError) as exc:
    print("FAIL", exc)
    sys.exit(1)
"""

PYTHONS = [sys.executable, "/usr/bin/python3"]


def _run(python: str, port: int, tmp: Path, mode: str) -> bool:
    if not Path(python).exists():
        unavailable(f"{python} is not installed")
    proc = subprocess.run(
        [python, "-c", CLIENT, HOST, str(port), str(tmp / "root.pem"), mode],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 0


def test_imaplib_uses_the_unverified_context():
    # The fact python-stdlib-mail rests on, read from the real standard library.
    for python in PYTHONS:
        if not Path(python).exists():
            unavailable(f"{python} is not installed")
        probe = (
            "import ssl, inspect, imaplib, smtplib, poplib\n"
            "assert ssl._create_stdlib_context is ssl._create_unverified_context\n"
            "for m in (imaplib, smtplib, poplib):\n"
            "    assert '_create_stdlib_context' in inspect.getsource(m), m\n"
        )
        subprocess.run([python, "-c", probe], check=True, timeout=30)


@pytest.mark.parametrize(
    ("problem", "flags"),
    [
        ("clean", ("-tls1_2",)),
        ("clean", ("-tls1",)),
        ("sha1", ("-tls1_2",)),
        ("rsa1024", ("-tls1_2",)),
        ("missing-intermediate", ("-tls1_2",)),
        ("wrong-name", ("-tls1_2",)),
    ],
)
def test_python_profiles_agree_with_real_python(tmp_path, problem, flags):
    _build(tmp_path, "clean" if problem == "wrong-name" else problem)
    host = "other.vedette.test" if problem == "wrong-name" else HOST
    with s_server(tmp_path, *flags) as port:
        doc = scan(port, tmp_path, "--clients", "python-verifying,python-stdlib-mail",
                   mode="full")  # fmt: skip
        real = {}
        for python in PYTHONS:
            for mode in ("verifying", "stdlib-mail"):
                if problem == "wrong-name":
                    real[(python, mode)] = _run_named(python, port, tmp_path, mode, host)
                else:
                    real[(python, mode)] = _run(python, port, tmp_path, mode)
    vs = verdicts(doc)
    if problem == "wrong-name":
        # The scan named HOST; judge the other name offline from the same chain.
        vs = _judge_name(tmp_path, host)
    for python in PYTHONS:
        for mode in ("verifying", "stdlib-mail"):
            v = vs[f"python-{mode}"]
            assert v["outcome"] in ("works", "warning", "fails"), v
            simulated = v["outcome"] != "fails"
            assert simulated == real[(python, mode)], (python, mode, problem, v)
            if v["outcome"] == "warning":
                assert mode == "stdlib-mail"
                assert all(
                    r["text"].startswith("works, but does not check the certificate")
                    for r in v["reasons"]
                )


def _run_named(python: str, port: int, tmp: Path, mode: str, host: str) -> bool:
    if not Path(python).exists():
        unavailable(f"{python} is not installed")
    proc = subprocess.run(
        [python, "-c", CLIENT, host, str(port), str(tmp / "root.pem"), mode],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return proc.returncode == 0


def _judge_name(tmp: Path, host: str) -> dict[str, dict]:
    import json

    chain = tmp / "chain.pem"
    chain.write_bytes((tmp / "leaf.pem").read_bytes() + (tmp / "extra.pem").read_bytes())
    proc = subprocess.run(
        [sys.executable, "-m", "vedette", "cert", "clients", str(chain), "--host", host,
         "--ca", str(tmp / "root.pem"), "--clients", "python-verifying,python-stdlib-mail",
         "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert "Traceback" not in proc.stderr, proc.stderr
    return {v["profile"]: v for v in json.loads(proc.stdout)["verdicts"]}


def test_python_certifi_is_still_accepted(tmp_path):
    _build(tmp_path, "clean")
    with s_server(tmp_path, "-tls1_2") as port:
        doc = scan(port, tmp_path, "--clients", "python-certifi")
    assert set(verdicts(doc)) == {"python-verifying"}
