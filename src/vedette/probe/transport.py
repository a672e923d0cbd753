"""TCP and TLS on asyncio streams, with every OS and TLS error mapped to a ``Failure``.

Theory of operation
-------------------
One ``Connection`` wraps an asyncio stream pair. ``connect()`` opens TCP only; TLS, whether
implicit (993, 995, 465, 443, 5061) or after STARTTLS, is always started on the open stream
with ``StreamWriter.start_tls``, so a refused TCP connection and a failed handshake are told
apart, and so the same code serves both modes.

vedette never *verifies* during the handshake: ``CERT_NONE`` and no hostname check, with the
cipher list opened to ``ALL:@SECLEVEL=0`` and TLS 1.0 allowed, so that a server with an expired,
SHA-1 or self-signed certificate, or only legacy TLS, still completes a handshake and its chain
can be judged by ``vedette.x509`` against every rule and trust store, offline.

The whole chain as sent
-----------------------
Python 3.11's public ``ssl`` API returns only the leaf (``getpeercert``). OpenSSL keeps the full
list the server sent (``SSL_get_peer_cert_chain``) for every version, TLS 1.3 included, and
CPython exposes it as ``_ssl._SSLSocket.get_unverified_chain()`` since 3.10, made public on
``SSLObject`` in 3.13. vedette reads it from there: it is the chain exactly as sent, in order,
after decryption, which no ClientHello-level parser can give for TLS 1.3 (its Certificate message
is encrypted). If a future Python drops the private name, ``peer_chain_der`` falls back to the
public method and finally to the leaf alone; a unit test pins that the full chain comes back.

Errors are mapped here, at the edge (style guide §7): ``ProbeFailed`` carries a
``model.Failure`` and never escapes the probe runner.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
import ssl
import warnings
from typing import Any

from vedette.model import Failure, FailureKind, Stage
from vedette.probe.limits import Release, admit_connection

_LEGACY_SERVER_CONNECT = getattr(ssl, "OP_LEGACY_SERVER_CONNECT", 0x4)

# Memory per connection. asyncio's TLS layer (``asyncio.sslproto.SSLProtocol``) allocates a
# read buffer of ``max_size`` bytes (256 KiB) for every TLS connection, written once in full,
# so 5,000 connections in flight cost 1.3 GB in buffers alone. A TLS record carries at most
# 16 KiB of plaintext and vedette reads replies of a few KiB, so 16 KiB loses nothing but a
# few extra loop iterations on bulk data, which a scanner never receives. ``max_size`` is a
# documented-in-source class attribute read at each protocol's construction; setting it here
# affects every TLS connection of the process, which is vedette's own.
_SSL_READ_BUFFER = 16 * 1024
_sslproto = getattr(asyncio, "sslproto", None)
if _sslproto is not None and getattr(_sslproto.SSLProtocol, "max_size", 0) > _SSL_READ_BUFFER:
    _sslproto.SSLProtocol.max_size = _SSL_READ_BUFFER
# ``_ssl.ENCODING_DER``: the argument of ``_ssl.Certificate.public_bytes`` for DER output.
_ENCODING_DER: int = getattr(getattr(ssl, "_ssl", None), "ENCODING_DER", 2)


class ProbeFailed(Exception):
    """Internal to the probe layer: the probe stops with ``failure``."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.detail)
        self.failure = failure


def fail(kind: FailureKind, stage: Stage, detail: str) -> ProbeFailed:
    return ProbeFailed(Failure(kind=kind, stage=stage, detail=detail))


def scanner_ssl_context() -> ssl.SSLContext:
    """A client context that completes handshakes with as many servers as OpenSSL allows."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    # TLS 1.0 is deprecated in Python's ssl module (a DeprecationWarning) and may be missing
    # from the OpenSSL build; a scanner must still offer it to learn that a server needs it.
    with warnings.catch_warnings(), contextlib.suppress(ValueError, ssl.SSLError):
        warnings.simplefilter("ignore", DeprecationWarning)
        ctx.minimum_version = ssl.TLSVersion.TLSv1
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.options |= _LEGACY_SERVER_CONNECT
    return ctx


def peer_chain_der(ssl_object: Any) -> tuple[bytes, ...]:
    """The certificates the server sent, leaf first, as DER (see the module docstring)."""
    for owner in (getattr(ssl_object, "_sslobj", None), ssl_object):
        getter = getattr(owner, "get_unverified_chain", None)
        if getter is None:
            continue
        chain = getter() or []
        out: list[bytes] = []
        for cert in chain:
            der = cert.public_bytes(_ENCODING_DER) if hasattr(cert, "public_bytes") else cert
            out.append(bytes(der))
        return tuple(out)
    leaf = ssl_object.getpeercert(binary_form=True)
    return (leaf,) if leaf else ()


def _os_failure(exc: OSError, stage: Stage, where: str) -> ProbeFailed:
    if isinstance(exc, ConnectionRefusedError):
        return fail(FailureKind.REFUSED, stage, f"connection refused by {where}")
    if isinstance(exc, ConnectionResetError | BrokenPipeError | ConnectionAbortedError):
        return fail(FailureKind.CLOSED, stage, f"{where} reset the connection")
    if isinstance(exc, socket.gaierror):
        return fail(FailureKind.RESOLVE, stage, f"cannot resolve {where}: {exc.strerror}")
    if exc.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH, errno.EADDRNOTAVAIL, errno.ENETDOWN):
        return fail(FailureKind.UNREACHABLE, stage, f"{where} unreachable: {exc.strerror}")
    if exc.errno == errno.ETIMEDOUT:
        return fail(FailureKind.TIMEOUT, stage, f"{where}: connection timed out")
    return fail(FailureKind.UNREACHABLE, stage, f"{where}: {exc.strerror or exc}")


def _tls_failure(exc: BaseException) -> ProbeFailed:
    text = str(exc)
    reason = getattr(exc, "reason", None)
    if reason in ("WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "RECORD_LAYER_FAILURE") or (
        "wrong version number" in text
    ):
        detail = "the server answered the TLS ClientHello with something that is not TLS"
    elif reason:
        detail = f"TLS handshake failed: {reason.lower().replace('_', ' ')}"
    else:
        detail = f"TLS handshake failed: {text or type(exc).__name__}"
    return fail(FailureKind.TLS_ERROR, Stage.TLS_HANDSHAKE, detail)


class Connection:
    """One TCP connection, optionally upgraded to TLS, with bounded reads."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, where: str
    ) -> None:
        self._reader = reader
        self._writer = writer
        self.where = where
        self.tls_version: str | None = None
        self.tls_cipher: str | None = None
        self.chain_der: tuple[bytes, ...] = ()
        self.discarded_before_tls = 0
        #: bytes read since the last write: what a tarpit trickled into a late reply.
        self.received_since_write = 0
        #: the server sent something (a reply, a handshake): the scan may open more at once
        self.answered = False
        self._release: Release | None = None  # the scan's slot on the address

    @classmethod
    async def connect(cls, ip: str, port: int, *, timeout: float) -> Connection:
        where = f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        # The scan's --per-host slot and --rate token, outside the connect timeout.
        release = await admit_connection(ip)
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(ip, port, limit=1 << 20)
        except TimeoutError:
            release(False)
            raise fail(
                FailureKind.TIMEOUT, Stage.CONNECT, f"no answer from {where} within {timeout:g} s"
            ) from None
        except OSError as exc:
            release(False)
            raise _os_failure(exc, Stage.CONNECT, where) from exc
        except BaseException:
            release(False)
            raise
        conn = cls(reader, writer, where)
        conn._release = release
        return conn

    async def read(self, max_bytes: int, deadline: float, stage: Stage) -> bytes:
        """At most ``max_bytes``; ``b""`` at EOF; a TIMEOUT failure past ``deadline``."""
        try:
            async with asyncio.timeout_at(deadline):
                data = await self._reader.read(max_bytes)
            self.received_since_write += len(data)
            if data:
                self.answered = True
            return data
        except TimeoutError:
            raise fail(
                FailureKind.TIMEOUT, stage, f"{self.where} sent no complete reply in time"
            ) from None
        except ssl.SSLError as exc:
            raise fail(FailureKind.CLOSED, stage, f"TLS error while reading: {exc}") from exc
        except OSError as exc:
            raise _os_failure(exc, stage, self.where) from exc

    async def write(self, data: bytes, timeout: float, stage: Stage) -> None:
        self.received_since_write = 0
        try:
            self._writer.write(data)
            async with asyncio.timeout(timeout):
                await self._writer.drain()
        except TimeoutError:
            raise fail(FailureKind.TIMEOUT, stage, f"{self.where} stopped reading") from None
        except OSError as exc:
            raise _os_failure(exc, stage, self.where) from exc

    async def start_tls(self, ctx: ssl.SSLContext, sni: str | None, timeout: float) -> None:
        """Run the handshake on this connection and record version, suite and chain."""
        # STARTTLS injection (CVE-2011-0411 class): bytes the server sent in clear after its
        # go-ahead sit in the StreamReader's buffer, and StreamWriter.start_tls keeps that
        # buffer, so the first read "inside TLS" would return them. They were never protected:
        # drop them. (StreamReader has no public way to drain without waiting.)
        buffered = getattr(self._reader, "_buffer", None)
        if isinstance(buffered, bytearray) and buffered:
            self.discarded_before_tls += len(buffered)
            buffered.clear()
        try:
            async with asyncio.timeout(timeout):
                await self._writer.start_tls(
                    ctx, server_hostname=sni, ssl_handshake_timeout=timeout
                )
        except TimeoutError:
            raise fail(
                FailureKind.TIMEOUT,
                Stage.TLS_HANDSHAKE,
                f"TLS handshake with {self.where} did not finish within {timeout:g} s",
            ) from None
        except ssl.SSLError as exc:
            raise _tls_failure(exc) from exc
        except (ConnectionError, EOFError) as exc:
            raise fail(
                FailureKind.TLS_ERROR,
                Stage.TLS_HANDSHAKE,
                f"{self.where} closed the connection during the TLS handshake",
            ) from exc
        except OSError as exc:
            raise _os_failure(exc, Stage.TLS_HANDSHAKE, self.where) from exc
        sslobj = self._writer.get_extra_info("ssl_object")
        if sslobj is None:  # pragma: no cover - start_tls always sets it
            raise fail(FailureKind.TLS_ERROR, Stage.TLS_HANDSHAKE, "no TLS session after handshake")
        self.answered = True
        self.tls_version = sslobj.version()
        cipher = sslobj.cipher()
        self.tls_cipher = cipher[0] if cipher else None
        self.chain_der = peer_chain_der(sslobj)

    async def close(self) -> None:
        """Close without waiting on a peer that does not answer the TLS close_notify; the
        scan's per-host slot is given back once the socket is gone."""
        try:
            self._writer.close()
            try:
                async with asyncio.timeout(1.0):
                    await self._writer.wait_closed()
            except (TimeoutError, OSError, ssl.SSLError):
                transport = self._writer.transport
                transport.abort()
        finally:
            if self._release is not None:
                release, self._release = self._release, None
                release(self.answered)
