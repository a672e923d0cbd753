"""Hostile or careless ``vedette scan`` arguments: one clear line on stderr, exit 2.

Every case here is refused while the arguments are parsed, before any socket is opened, so the
command runs in-process. What is asserted is what a user sees: the exit status, exactly one
line on stderr naming the culprit, no traceback, no terminal control character echoed back, and
a line of readable length even for a 10,000-character argument.
"""

from __future__ import annotations

import pytest

from vedette.cli import main

LONG_HOST = "a" * 10_000
LONG_NUMBER = "1" * 5_000
#: A target the options cases share: refused before any connection to it is tried.
T = "127.0.0.1:1"
#: Pins x.test to loopback, so that no case could ever ask DNS about it.
PIN = ["--ip", "127.0.0.1"]

CASES: list[tuple[str, list[str], str]] = [
    # (id, argv, a word the error line must contain)
    ("escape-in-host", ["scan", "mail\x1b[2J\x1b]0;pwned\x07.example"], "invalid host name"),
    ("nul-in-host", ["scan", "mail\x00.example"], "invalid host name"),
    ("crlf-in-target", ["scan", "imaps://mail\r\nX.example:993"], "invalid host name"),
    ("bidi-in-host", ["scan", "a\u202eb.example"], "invalid host name"),
    ("10000-char-host", ["scan", LONG_HOST], "10000 characters"),
    ("10000-char-host-scheme", ["scan", f"imaps://{LONG_HOST}:993"], "10000 characters"),
    ("10000-char-brackets", ["scan", f"[{LONG_HOST}]:993"], "IPv6"),
    ("empty-target", ["scan", ""], "empty target"),
    ("no-host", ["scan", ":25"], "no host"),
    ("scheme-only", ["scan", "imaps://"], "no host"),
    ("unknown-scheme", ["scan", "ftp://mail.example"], "unknown scheme"),
    ("unclosed-bracket", ["scan", "[::1"], "unclosed"),
    ("ipv4-in-brackets", ["scan", "[127.0.0.1]:25"], "IPv6"),
    ("port-0-and-70000", ["scan", "--ports", "0,70000", "127.0.0.1"], "--ports"),
    ("ports-only-commas", ["scan", "--ports", ",,,", "127.0.0.1"], "--ports"),
    ("ports-superscript", ["scan", "--ports", "\u00b2", "127.0.0.1"], "--ports"),
    ("ports-5000-digits", ["scan", "--ports", LONG_NUMBER, "127.0.0.1"], "--ports"),
    ("target-port-superscript", ["scan", "127.0.0.1:\u00b2"], "bad port"),
    ("target-port-arabic-digits", ["scan", "127.0.0.1:\u0669\u0669\u0663"], "bad port"),
    ("target-port-5000-digits", ["scan", f"127.0.0.1:{LONG_NUMBER}"], "bad port"),
    ("target-port-99999", ["scan", "127.0.0.1:99999"], "bad port"),
    ("service-nonsense", ["scan", "--service", "nonsense", T], "--service"),
    ("concurrency-0", ["scan", "--concurrency", "0", T], "--concurrency"),
    ("concurrency-negative", ["scan", "--concurrency", "-1", T], "--concurrency"),
    ("concurrency-arabic", ["scan", "--concurrency", "\u0663", T], "--concurrency"),
    ("concurrency-huge", ["scan", "--concurrency", LONG_NUMBER, T], "--concurrency"),
    ("per-host-negative", ["scan", "--per-host", "-3", T], "--per-host"),
    ("connect-timeout-negative", ["scan", "--connect-timeout", "-1", T], "--connect"),
    ("read-timeout-nan", ["scan", "--read-timeout", "nan", T], "--read-timeout"),
    ("read-timeout-overflow", ["scan", "--read-timeout", "1e999", T], "--read-timeout"),
    ("endpoint-timeout-inf", ["scan", "--endpoint-timeout", "inf", T], "--endpoint"),
    ("timeout-huge", ["scan", "--connect-timeout", LONG_NUMBER, T], "--connect"),
    ("resolve-garbage", ["scan", "--resolve", "nonsense", *PIN, "x.test"], "--resolve"),
    (
        "resolve-port-superscript",
        ["scan", "--resolve", "x.test:\u00b2:127.0.0.1", *PIN, "x.test"],
        "--resolve",
    ),
    (
        "resolve-port-huge",
        ["scan", "--resolve", f"x.test:{LONG_NUMBER}:127.0.0.1", *PIN, "x.test"],
        "--resolve",
    ),
    (
        "resolve-escape-address",
        ["scan", "--resolve", "x.test:1:\x1b[31mred", *PIN, "x.test"],
        "--resolve",
    ),
    ("resolver-port-superscript", ["scan", "--resolver", "127.0.0.1:\u00b2", T], "--resolver"),
    ("resolver-v6-port-superscript", ["scan", "--resolver", "[::1]:\u00b2", T], "--resolver"),
    ("resolver-port-huge", ["scan", "--resolver", f"127.0.0.1:{LONG_NUMBER}", T], "--resolver"),
    ("resolver-escape", ["scan", "--resolver", "\x1b]0;pwned\x07", T], "--resolver"),
    ("ip-garbage", ["scan", "--ip", "not-an-ip", "x.test"], "--ip"),
    ("mode-bogus", ["scan", "--mode", "bogus", T], "--mode"),
]


@pytest.mark.parametrize(("argv", "word"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_scan_argument_is_one_clean_line_and_exit_2(
    argv: list[str], word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    try:
        status = main([*argv, "--no-store"])
    except SystemExit as exc:  # argparse's own refusals
        status = exc.code
    out, err = capsys.readouterr()
    assert status == 2, err
    assert out == ""
    lines = err.splitlines()
    assert len(lines) == 1, err
    line = lines[0]
    assert line.startswith("vedette: error: "), line
    assert word in line
    # Nothing that acts on a terminal, and a readable length whatever the argument's.
    assert line.isprintable(), repr(line)
    assert len(line) <= 400, f"{len(line)} characters"


@pytest.mark.parametrize("port", ["\u00b2", "\u0669\u0669", LONG_NUMBER])
def test_a_cidr_sweep_port_is_checked_like_any_port(
    port: str, tmp_path, capsys: pytest.CaptureFixture[str]
) -> None:
    # A CIDR makes a fleet scan: its grammar is the sweep's own (a superscript port was a
    # traceback there, Arabic-Indic digits a port). Refused before any target is spooled.
    status = main(["scan", "--db", f"sqlite:///{tmp_path / 'v.db'}", f"127.0.0.0/30:{port}"])
    line = capsys.readouterr().err.splitlines()
    assert status == 2 and len(line) == 1, line
    assert "bad port" in line[0] and line[0].isprintable() and len(line[0]) <= 400
