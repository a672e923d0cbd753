"""Where a passphrase comes from: a file, an environment variable, a prompt — never argv.

A passphrase on the command line is visible to every user of the machine (``ps``,
``/proc/PID/cmdline``) and lands in shell history, so vedette has no ``pass:`` source at all,
unlike ``openssl -passin pass:...``. The sources use OpenSSL's spelling so that they read
familiar:

    file:PATH    the first line of PATH (the trailing newline is not part of it)
    env:NAME     the value of environment variable NAME
    fd:N         the first line read from an open file descriptor (e.g. a pipe)
    prompt       ask on the terminal (twice when a new secret is being set)

An empty passphrase is refused: it encrypts nothing while looking as if it did.
"""

from __future__ import annotations

import getpass
import os
import sys
from dataclasses import dataclass
from pathlib import Path

from vedette.errors import PkiError, UsageError

__all__ = ["PassSource", "parse_source", "read_passphrase"]

_MAX = 4096


@dataclass(frozen=True, slots=True, kw_only=True)
class PassSource:
    """A parsed passphrase source.

    Attributes:
        kind: ``file``, ``env``, ``fd`` or ``prompt``.
        value: the path, variable name or descriptor number; empty for ``prompt``.
    """

    kind: str
    value: str = ""

    def describe(self) -> str:
        return "prompt" if self.kind == "prompt" else f"{self.kind}:{self.value}"


def parse_source(text: str) -> PassSource:
    """Parse ``file:PATH``, ``env:NAME``, ``fd:N`` or ``prompt``; UsageError otherwise."""
    kind, sep, value = text.partition(":")
    if text == "prompt":
        return PassSource(kind="prompt")
    if kind == "pass" and sep:
        raise UsageError(
            "a passphrase on the command line is visible in ps and shell history; "
            "use file:PATH, env:NAME, fd:N or prompt"
        )
    if kind in ("file", "env") and sep and value:
        return PassSource(kind=kind, value=value)
    if kind == "fd" and sep and value.isdigit():
        return PassSource(kind="fd", value=value)
    raise UsageError(f"bad passphrase source {text!r} (expected file:PATH, env:NAME, fd:N, prompt)")


def _first_line(data: bytes) -> bytes:
    return data.split(b"\n", 1)[0].rstrip(b"\r")


def read_passphrase(source: PassSource, *, purpose: str, confirm: bool = False) -> bytes:
    """The passphrase from ``source`` as bytes (UTF-8 for prompts); PkiError when unusable.

    ``purpose`` completes the prompt ("Passphrase for {purpose}: "). ``confirm`` asks twice
    at a prompt, for a secret being set.
    """
    if source.kind == "file":
        try:
            with Path(source.value).open("rb") as f:
                secret = _first_line(f.read(_MAX))
        except OSError as exc:
            raise PkiError(
                f"cannot read passphrase file {source.value}: {exc.strerror or exc}"
            ) from None
    elif source.kind == "env":
        value = os.environ.get(source.value)
        if value is None:
            raise PkiError(f"environment variable {source.value} is not set (passphrase source)")
        secret = value.encode("utf-8")
    elif source.kind == "fd":
        try:
            secret = _first_line(os.read(int(source.value), _MAX))
        except OSError as exc:
            raise PkiError(f"cannot read passphrase from fd {source.value}: {exc}") from None
    else:
        secret = _prompt(purpose, confirm=confirm)
    if not secret:
        raise PkiError(f"empty passphrase from {source.describe()}")
    return secret


def _prompt(purpose: str, *, confirm: bool) -> bytes:
    if not sys.stdin.isatty():
        raise PkiError(
            f"a passphrase for {purpose} is needed but there is no terminal to ask on; "
            "use file:PATH, env:NAME or fd:N"
        )
    try:
        first = getpass.getpass(f"Passphrase for {purpose}: ")
        if confirm and getpass.getpass(f"Passphrase for {purpose} (again): ") != first:
            raise PkiError("the two passphrases differ")
    except EOFError:
        raise PkiError("no passphrase given") from None
    return first.encode("utf-8")
