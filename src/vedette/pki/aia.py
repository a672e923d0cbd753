"""Download a missing issuer from a certificate's AIA caIssuers URL (only when asked).

RFC 5280 4.2.2.1: caIssuers points to an ``http://`` (or ``ldap://``) location holding a DER
certificate or a "certs-only" PKCS#7 (.p7c). Browsers fetch it silently; most mail clients do
not, which is why an incomplete chain breaks Outlook or an iPhone while the web site works.

The fetch is :func:`vedette.http_fetch.http_fetch`, the one HTTP client of the certificate
tools (shared with OCSP): ``http`` only (caIssuers over HTTPS would need the chain it is
fetching), the name through vedette's resolver (``--resolver``), never the C library; one
deadline for the whole fetch; the body capped at :data:`MAX_BODY`; no redirect followed (a
caIssuers URL that redirects is itself a misconfiguration worth seeing).
"""

from __future__ import annotations

import asyncio

from cryptography import x509

from vedette.errors import PkiError
from vedette.http_fetch import DEADLINE, FetchError, http_fetch
from vedette.pki.formats import read_material

__all__ = ["MAX_BODY", "fetch_issuers", "fetch_issuers_async"]

#: A CA certificate is a few KiB, a .p7c of a few of them not much more.
MAX_BODY = 256 * 1024


def fetch_issuers(
    url: str, *, resolver: tuple[str, int] | None = None, timeout: float = DEADLINE
) -> tuple[x509.Certificate, ...]:
    """The certificates published at ``url``; PkiError with the reason otherwise.

    ``timeout`` bounds the whole fetch (resolution, connection, request and the whole body).
    From code already inside an event loop, await :func:`fetch_issuers_async` instead.
    """
    return asyncio.run(fetch_issuers_async(url, resolver=resolver, timeout=timeout))


async def fetch_issuers_async(
    url: str, *, resolver: tuple[str, int] | None = None, timeout: float = DEADLINE
) -> tuple[x509.Certificate, ...]:
    """:func:`fetch_issuers`, awaitable."""
    try:
        body = await http_fetch(url, max_body=MAX_BODY, resolver=resolver, deadline=timeout)
    except FetchError as exc:
        raise PkiError(f"cannot fetch the issuer: {exc}") from None
    material = read_material(body, source=url)
    if not material.certificates:
        raise PkiError(f"{url}: no certificate in the response")
    return material.certificates
