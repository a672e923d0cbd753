"""Download a missing issuer from a certificate's AIA caIssuers URL (only when asked).

RFC 5280 4.2.2.1: caIssuers points to an ``http://`` (or ``ldap://``) location holding a DER
certificate or a "certs-only" PKCS#7 (.p7c). Browsers fetch it silently; most mail clients do
not, which is why an incomplete chain breaks Outlook or an iPhone while the web site works.

I/O discipline, as in the probe: the host name goes through vedette's resolver (dnspython,
``--resolver``), never the C library; the connection is made to the address with the name in
the ``Host`` header; one connect/read timeout; the body is capped at :data:`MAX_BODY`; no
redirects are followed (a caIssuers URL that redirects is itself a misconfiguration worth
seeing). Only ``http`` is fetched: caIssuers over HTTPS would need the chain it is fetching.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
from urllib.parse import urlsplit

from cryptography import x509

from vedette.errors import PkiError
from vedette.pki.formats import read_material
from vedette.resolve import Resolver

__all__ = ["MAX_BODY", "fetch_issuers"]

MAX_BODY = 256 * 1024


def _address(host: str, resolver: tuple[str, int] | None, timeout: float) -> str:
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    addresses = asyncio.run(Resolver(resolver, timeout=timeout).resolve(host))
    return addresses[0]


def fetch_issuers(
    url: str, *, resolver: tuple[str, int] | None = None, timeout: float = 10.0
) -> tuple[x509.Certificate, ...]:
    """The certificates published at ``url``; PkiError with the reason otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise PkiError(f"{url}: only http:// caIssuers URLs are fetched")
    try:
        ip = _address(parts.hostname, resolver, timeout)
    except Exception as exc:
        raise PkiError(f"{url}: cannot resolve {parts.hostname}: {exc}") from None
    conn = http.client.HTTPConnection(ip, parts.port or 80, timeout=timeout)
    try:
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        conn.request("GET", path, headers={"Host": parts.netloc, "User-Agent": "vedette"})
        resp = conn.getresponse()
        if resp.status != 200:
            raise PkiError(f"{url}: HTTP {resp.status} {resp.reason}")
        body = resp.read(MAX_BODY + 1)
    except OSError as exc:
        raise PkiError(f"{url}: {exc}") from None
    finally:
        conn.close()
    if len(body) > MAX_BODY:
        raise PkiError(f"{url}: more than {MAX_BODY // 1024} KiB, not a certificate")
    material = read_material(body, source=url)
    if not material.certificates:
        raise PkiError(f"{url}: no certificate in the response")
    return material.certificates
