"""Every error line, whatever command raised it, is one short line with no raw control byte.

``vedette.cli`` writes all of them (argparse's usage errors and every VedetteError), so one
guard there covers options no command validates the length of (``--ehlo``, ``--max-cidr``...).
"""

from __future__ import annotations

import pytest

from vedette.cli import ERROR_LINE_MAX, error_line, main

HOSTILE = "a" * 5000 + "\x1b]0;pwned\x07\x1b[2J\x00\nsecond line"


@pytest.mark.parametrize(
    "argv",
    [
        ["scan", "--no-store", "--ehlo", HOSTILE, "127.0.0.1:1"],
        ["scan", "--no-store", "--max-cidr", "9" * 5000, "127.0.0.1:1"],
        ["scan", "--no-store", "--service", HOSTILE, "127.0.0.1:1"],
        ["report", "--db", "sqlite:////nonexistent/" + HOSTILE, "last"],
        # 5,000 digits: past Python's int() digit limit (a ValueError traceback before)
        ["report", "9" * 5000],
        ["report", "diff", "1", "9" * 5000],
        ["scan", "--resume", "9" * 5000],
        ["scan", "--resume", "\u0663"],  # an Arabic-Indic 3 is not scan 3
    ],
)
def test_error_is_one_bounded_line_without_control_bytes(argv, capsys):
    assert _status(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("vedette: error: ")
    assert err.count("\n") == 1 and err.endswith("\n")
    assert not any(ord(c) < 0x20 or ord(c) == 0x7F for c in err[:-1])
    assert len(err) < ERROR_LINE_MAX + 200


def _status(argv: list[str]) -> object:
    try:
        return main(argv)
    except SystemExit as exc:  # argparse's usage errors
        return exc.code


def test_error_line_keeps_short_messages_and_says_when_it_cuts():
    assert error_line("bad port '0' in --ports") == "bad port '0' in --ports"
    long = error_line("x" * 3000)
    assert long.endswith("(error message cut, 3000 characters)")
    assert len(long) < ERROR_LINE_MAX + 50
    assert "\x1b" not in error_line("\x1b[2J") and "\\x1b" in error_line("\x1b[2J")


def test_pki_notes_are_escaped(capsys):
    from vedette.commands._pki import note

    note("skipped ldap://x/\x1b]0;pwned\x07\x1b[2J")
    err = capsys.readouterr().err
    assert "\x1b" not in err and "\x07" not in err and "\\x1b" in err
