"""The MTA-STS policy fetch: HTTPS through vedette's resolver, the served chain kept for judging.

The TLS connection verifies nothing by itself (``CERT_NONE``): the chain the policy host sends
is captured (``probe.transport.peer_chain_der``) and judged afterwards by
:func:`vedette.mailauth.mtasts.judge_policy_host` with vedette's own chain building, against
the same roots as ``vedette scan`` (Mozilla's, plus ``--ca``), so that a bad certificate is a
clear finding ("senders ignore this policy") rather than a connection error. Everything else
is :func:`vedette.http_fetch.https_fetch`'s discipline: one deadline, 64 KiB, no redirect, no
proxy from the environment.
"""

from __future__ import annotations

import ssl
from typing import Any

from vedette.http_fetch import FetchError, https_fetch
from vedette.mailauth.mtasts import MAX_POLICY_BYTES, PolicyFetch, PolicyFetcher
from vedette.probe.transport import peer_chain_der

__all__ = ["policy_context", "policy_fetcher"]


def policy_context() -> ssl.SSLContext:
    """A client context like a sender's HTTPS client (TLS 1.2 or later, ALPN http/1.1) that
    completes the handshake whatever the certificate, so that the chain can be judged. No CA
    file is loaded (it verifies nothing by itself): making it costs no disk read."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_alpn_protocols(["http/1.1"])
    return ctx


def policy_fetcher(resolver: tuple[str, int] | None, deadline: float) -> PolicyFetcher:
    """A fetch for :func:`vedette.mailauth.mtasts.check_mta_sts` (and the BIMI logo); one
    TLS context for every fetch it makes, so make one a run."""
    context = policy_context()

    async def fetch(url: str) -> PolicyFetch:
        chain: list[bytes] = []

        def keep(ssl_object: Any) -> None:
            chain.extend(peer_chain_der(ssl_object))

        try:
            answer = await https_fetch(
                url,
                max_body=MAX_POLICY_BYTES,
                tls=context,
                on_tls=keep,
                resolver=resolver,
                deadline=deadline,
            )
        except FetchError as exc:
            return PolicyFetch(body=None, error=str(exc), chain_der=tuple(chain))
        return PolicyFetch(
            body=answer.body, chain_der=tuple(chain), content_type=answer.content_type
        )

    return fetch
