"""The one HTTP client of the certificate tools: plain ``http://``, bounded, one line on error.

Two places fetch from a CA's web server, both only when the user asks: a missing issuer from a
certificate's AIA caIssuers URL (``cert bundle --fetch``, :mod:`vedette.pki.aia`) and the leaf's
OCSP responder (``cert clients --check-revocation``, :mod:`vedette.trust.revocation`). Both go
through :func:`http_fetch`, built on httpx, with one discipline:

* **http only.** caIssuers and OCSP are published over plain HTTP (RFC 5280 4.2.2.1, RFC 6960
  A.1): fetching them over HTTPS would need the very chain being fetched. Other schemes are
  refused with a clear message. The one HTTPS fetch, the MTA-STS policy (RFC 8461 3.3), goes
  through :func:`https_fetch`: same discipline, the TLS context given by the caller (which
  verifies nothing and judges the served chain itself, with vedette's own checks).
* **vedette's resolver.** The name goes through :class:`vedette.resolve.Resolver` (dnspython,
  ``--resolver``), never the C library; the request goes to the address it returns, with the
  name in the ``Host`` header. No proxy from the environment is used.
* **One deadline for the whole fetch** (:data:`DEADLINE`, 10 s by default): name resolution,
  connect, request, headers and the whole body. httpx's own timeouts bound each read, so a
  server that trickles one byte a second would pass them forever; the deadline does not.
* **Bounded sizes.** The body stops being read past the caller's bound (a ``Content-Length``
  over it is refused before reading); the response head (status line and headers) is bounded by
  httpcore at 100 KiB (:data:`MAX_HEAD`). The number of headers is not limited separately.
* **No redirect followed** (a caIssuers or OCSP URL that redirects is itself a
  misconfiguration worth seeing), no retry, no content decoding (``Accept-Encoding: identity``).
* **Every failure is one** :class:`FetchError` with one line that names the URL. Server text
  is not echoed except inside ``repr`` (so no raw control byte); callers that print still pass
  it through ``safe_text``.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vedette.errors import VedetteError
from vedette.resolve import Resolver

if TYPE_CHECKING:
    import ssl

    import httpx

__all__ = ["DEADLINE", "MAX_HEAD", "FetchError", "HttpsAnswer", "http_fetch", "https_fetch"]

#: Seconds for the whole fetch, from name resolution to the last byte of the body.
DEADLINE = 10.0
#: The response head (status line and headers) httpcore accepts, in bytes.
MAX_HEAD = 100 * 1024
#: Longest piece of a protocol error quoted in a message.
_QUOTE = 160


class FetchError(VedetteError):
    """An HTTP fetch that gave no usable answer; the message is one line naming the URL."""


def _host_header(host: str, port: int | None) -> str:
    shown = f"[{host}]" if ":" in host else host
    return shown if port is None else f"{shown}:{port}"


def _size(n: int) -> str:
    return f"{n // 1024} KiB" if n % 1024 == 0 else f"{n} bytes"


async def _resolve(host: str, resolver: tuple[str, int] | None, deadline: float) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    addresses = await Resolver(resolver, timeout=min(5.0, deadline)).resolve(host)
    return addresses[0]


async def _fetch(
    url: str,
    *,
    method: str,
    body: bytes | None,
    content_type: str | None,
    resolver: tuple[str, int] | None,
    deadline: float,
    max_body: int,
    tls: ssl.SSLContext | None = None,
    on_tls: Callable[[Any], None] | None = None,
) -> tuple[bytes, str | None]:
    import httpx

    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        raise FetchError("bad port in the URL") from None
    host = parts.hostname or ""
    address = await _resolve(host, resolver, deadline)
    raw_path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    scheme, default_port = ("https", 443) if tls is not None else ("http", 80)
    target = httpx.URL(
        scheme=scheme, host=address, port=port or default_port, raw_path=raw_path.encode()
    )
    headers = {
        "Host": _host_header(host, port),
        "User-Agent": "vedette",
        "Accept-Encoding": "identity",
        "Connection": "close",
    }
    if content_type is not None:
        headers["Content-Type"] = content_type
    # With TLS, the name (not the address connected to) is the SNI; the context given decides
    # what is verified (the MTA-STS fetch verifies nothing itself and judges the chain after).
    transport = (
        httpx.AsyncHTTPTransport(retries=0)
        if tls is None
        else httpx.AsyncHTTPTransport(retries=0, verify=tls, http2=False)
    )
    extensions = {"sni_hostname": host} if tls is not None else {}
    async with (
        httpx.AsyncClient(
            transport=transport, trust_env=False, follow_redirects=False, timeout=deadline
        ) as client,
        client.stream(
            method, target, headers=headers, content=body, extensions=extensions
        ) as response,
    ):
        if on_tls is not None:
            stream = response.extensions.get("network_stream")
            ssl_object = None if stream is None else stream.get_extra_info("ssl_object")
            if ssl_object is not None:
                on_tls(ssl_object)
        _check_status(response)
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_body:
            raise FetchError(f"the answer is {declared} bytes, more than {_size(max_body)}")
        received = bytearray()
        async for chunk in response.aiter_raw():
            received += chunk
            if len(received) > max_body:
                raise FetchError(f"the answer is larger than {_size(max_body)}")
        return bytes(received), response.headers.get("Content-Type")


def _check_status(response: httpx.Response) -> None:
    code = response.status_code
    if code == 200:
        return
    try:
        phrase = f" ({HTTPStatus(code).phrase})"
    except ValueError:
        phrase = ""  # not a code anybody registered: the server's own phrase is not echoed
    if 300 <= code < 400:
        raise FetchError(f"HTTP {code}{phrase}; redirects are not followed")
    raise FetchError(f"HTTP {code}{phrase}")


def _protocol_error(exc: Exception) -> str:
    text = str(exc)
    if "Receive buffer too long" in text:  # h11 at httpcore's bound on the head
        return f"the response headers are larger than {_size(MAX_HEAD)}"
    quoted = text if len(text) <= _QUOTE else text[:_QUOTE] + "..."
    return f"not a valid HTTP/1.1 answer ({quoted})"


def _printable(text: str) -> str:
    """``text`` with every non-printable character as its Python escape: the URL comes from a
    certificate and the server's bytes from the server (h11 quotes them with ``repr`` already;
    this keeps every message inert whatever its source)."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in text)


async def http_fetch(
    url: str,
    *,
    max_body: int,
    method: str = "GET",
    body: bytes | None = None,
    content_type: str | None = None,
    resolver: tuple[str, int] | None = None,
    deadline: float = DEADLINE,
) -> bytes:
    """The body of a ``200`` answer to ``method url``, at most ``max_body`` bytes, within
    ``deadline`` seconds in all; :class:`FetchError` with one line otherwise.

    ``resolver`` is vedette's ``--resolver`` (``None``: the nameservers of /etc/resolv.conf,
    asked by dnspython); an address in the URL is used as it is. A coroutine, so that code
    already inside an event loop (a scan) can await it; others ``asyncio.run`` it.
    """
    received, _ = await _guarded(
        url,
        "http",
        deadline,
        method=method,
        body=body,
        content_type=content_type,
        resolver=resolver,
        max_body=max_body,
    )
    return received


@dataclass(frozen=True, slots=True)
class HttpsAnswer:
    """A ``200`` answer over HTTPS: its body and its Content-Type header (``None``: absent)."""

    body: bytes
    content_type: str | None


async def https_fetch(
    url: str,
    *,
    max_body: int,
    tls: ssl.SSLContext,
    on_tls: Callable[[Any], None] | None = None,
    resolver: tuple[str, int] | None = None,
    deadline: float = DEADLINE,
) -> HttpsAnswer:
    """``GET url`` over HTTPS with the same discipline as :func:`http_fetch` (vedette's
    resolver, one deadline, bounded body, no redirect, no environment proxy, one-line
    :class:`FetchError`). ``tls`` is the client context (the caller decides what it verifies;
    the name is sent as SNI); ``on_tls`` gets the ``ssl.SSLObject`` once the answer's head is
    read, before its status is judged, so that a caller can keep the chain even of a 404."""
    received, media = await _guarded(
        url,
        "https",
        deadline,
        method="GET",
        body=None,
        content_type=None,
        resolver=resolver,
        max_body=max_body,
        tls=tls,
        on_tls=on_tls,
    )
    return HttpsAnswer(received, media)


async def _guarded(
    url: str, scheme: str, deadline: float, **kwargs: Any
) -> tuple[bytes, str | None]:
    """``_fetch`` within ``deadline``, every failure one :class:`FetchError` naming the URL."""
    shown = _printable(url)
    try:
        parts = urlsplit(url)
    except ValueError:
        raise FetchError(f"{shown}: not a URL") from None
    if parts.scheme.lower() != scheme or not parts.hostname:
        refused = "no https, ldap or file" if scheme == "http" else "no http, ldap or file"
        raise FetchError(f"{shown}: only {scheme}:// URLs are fetched ({refused})")
    if not parts.hostname.isascii() or not parts.hostname.isprintable() or " " in parts.hostname:
        raise FetchError(f"{shown}: not a host name vedette fetches from")
    import ssl

    import httpx

    try:
        async with asyncio.timeout(deadline):
            return await _fetch(url, deadline=deadline, **kwargs)
    except FetchError as exc:
        reason = str(exc)
    except (TimeoutError, httpx.TimeoutException):
        reason = f"no complete answer within {deadline:g} s"
    except httpx.RemoteProtocolError as exc:
        reason = _protocol_error(exc)
    except httpx.ConnectError as exc:
        reason = f"cannot connect: {exc}"
    except httpx.HTTPError as exc:  # any other transport failure (reset, closed early...)
        reason = f"{type(exc).__name__}: {exc}"
    except (httpx.InvalidURL, ValueError) as exc:
        reason = f"not a usable URL ({exc})"
    except ssl.SSLError as exc:
        reason = f"TLS handshake failed: {exc}"
    except OSError as exc:
        reason = str(exc)
    except VedetteError as exc:  # ResolveError, from vedette's resolver
        reason = f"cannot resolve {parts.hostname}: {exc}"
    raise FetchError(f"{shown}: {_printable(reason)}")
