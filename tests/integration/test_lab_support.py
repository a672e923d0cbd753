"""Helpers shared by the lab's integration tests (this module holds no tests itself).

The lab's servers answer to ``lab.vedette.test``, a name that is never resolved: the standard
library clients below connect to the pinned address and still send the name as SNI and check
the certificate against it, exactly as a client that had resolved the name would.
"""

from __future__ import annotations

import imaplib
import os
import poplib
import shutil
import smtplib
import socket
import ssl
import time
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import pytest

from vedette.lab import LAB_HOST

if TYPE_CHECKING:
    from collections.abc import Iterator

    from vedette.lab import Lab

IP = "127.0.0.1"
CURL = "/usr/bin/curl"


def trusting(lab: Lab) -> ssl.SSLContext:
    """A client context that trusts only the lab root and checks the host name."""
    return ssl.create_default_context(cafile=str(lab.root_ca_path))


def insecure() -> ssl.SSLContext:
    """A client context that accepts any certificate (for the broken-certificate servers)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class IMAP(imaplib.IMAP4):
    def _create_socket(self, timeout: float | None) -> socket.socket:
        return socket.create_connection((IP, self.port), timeout)


class IMAPS(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout: float | None) -> socket.socket:
        sock = socket.create_connection((IP, self.port), timeout)
        return self.ssl_context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[no-any-return]


class POP3(poplib.POP3):
    def _create_socket(self, timeout: float) -> socket.socket:
        return socket.create_connection((IP, self.port), timeout)


class POP3S(poplib.POP3_SSL):
    def _create_socket(self, timeout: float) -> socket.socket:
        sock = socket.create_connection((IP, self.port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[no-any-return]


class SMTP(smtplib.SMTP):
    def __init__(self, port: int, **kw: Any) -> None:
        super().__init__(LAB_HOST, port, local_hostname="client.vedette.test", timeout=10, **kw)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return socket.create_connection((IP, port), timeout)


class SMTPS(smtplib.SMTP_SSL):
    def __init__(self, port: int, context: ssl.SSLContext) -> None:
        super().__init__(
            LAB_HOST, port, local_hostname="client.vedette.test", timeout=10, context=context
        )

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        sock = socket.create_connection((IP, port), timeout)
        return self.context.wrap_socket(sock, server_hostname=self._host)  # type: ignore[no-any-return]


@contextmanager
def within(seconds: float) -> Iterator[None]:
    """Hang detector: fail when the block's wall time reaches ``seconds``.

    Not a speed test (speed goals live in benchmarks/): every bound in the suite is at least 3x
    the block's quiet time, most 10x or more, so that a loaded CI machine does not fail a test
    that works. Quiet times measured on 2026-12-06 (2 cores): lab start-up 2.2 s (bound 60),
    a scenario scan 0.4-0.9 s (30-60), idle-timeout and handshake-deadline checks 0.5 s (10),
    single client exchanges under 0.06 s (10-15).
    """
    t0 = time.monotonic()
    yield
    elapsed = time.monotonic() - t0
    assert elapsed < seconds, f"took {elapsed:.2f} s, bound {seconds} s"


def need_curl() -> str:
    """The curl binary; a missing curl fails the test in CI and skips it elsewhere."""
    if shutil.which(CURL) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{CURL} is missing (install Debian's curl package)")
        pytest.skip(f"{CURL} is not installed (apt-get install curl)")
    return CURL


class Raw:
    """A bare line-oriented client, for what the standard clients will not send."""

    def __init__(self, port: int, *, tls: ssl.SSLContext | None = None, timeout: float = 10):
        sock = socket.create_connection((IP, port), timeout)
        self.sock: socket.socket = (
            tls.wrap_socket(sock, server_hostname=LAB_HOST) if tls is not None else sock
        )
        self.buf = b""

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"closed; pending {self.buf!r}")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def until(self, prefix: bytes) -> list[bytes]:
        """Lines up to and including the first starting with ``prefix``."""
        out = []
        while True:
            out.append(self.line())
            if out[-1].startswith(prefix):
                return out

    def starttls(self, ctx: ssl.SSLContext) -> None:
        assert self.buf == b"", "bytes after the STARTTLS reply must not exist"
        self.sock = ctx.wrap_socket(self.sock, server_hostname=LAB_HOST)

    def read_to_eof(self, limit: float = 10) -> bytes:
        """Everything until the server closes; fails if it keeps the connection past ``limit``."""
        self.sock.settimeout(limit)
        data = self.buf
        while True:
            try:
                chunk = self.sock.recv(65536)
            except ConnectionResetError:
                return data
            if not chunk:
                return data
            data += chunk

    def close(self) -> None:
        self.sock.close()
