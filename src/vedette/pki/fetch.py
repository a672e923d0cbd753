"""Fetch the certificate chain a server sends, with the scan's target grammar and probe.

``vedette cert inspect TARGET`` and ``vedette cert csr --like TARGET`` need the chain exactly
as a client sees it, STARTTLS included (``imap://``, ``submission://``, ``pop3://``,
``smtp://``). Rather than a second TLS client, the caller passes in the scan engine
(:func:`vedette.scan.scan` with the command's options, see :data:`Observe`): same target
parsing, same resolver (never the C library's), same limits, same SNI. ``pki`` sits below the
engine, so it is handed the engine rather than importing it.

A bare host expands to every mail port, like ``vedette scan``; the first endpoint (in the
scan's port order) that delivered a chain is used, so ``mail.example.com`` alone works when
any TLS port answers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vedette.errors import PkiError
from vedette.model import Endpoint, Observation
from vedette.targets import TargetSpec, parse_target

__all__ = ["FetchedChain", "Observe", "fetch_chain", "looks_like_target"]

#: Probes one parsed target: one observation per endpoint, in the scan's port order.
Observe = Callable[[TargetSpec], Coroutine[Any, Any, Sequence[Observation]]]


@dataclass(frozen=True, slots=True, kw_only=True)
class FetchedChain:
    """The chain as sent (leaf first, DER) and where it came from."""

    endpoint: Endpoint
    chain_der: tuple[bytes, ...]
    tls_version: str


def looks_like_target(text: str) -> bool:
    """A command argument that is not an existing file and reads as a target."""
    if Path(text).exists():
        return False
    if "://" in text:
        return True
    try:
        parse_target(text)
    except Exception:
        return False
    # "server.pem" parses as a host name; a name whose last label is a file extension is
    # far more likely a missing file than a host.
    return text.rsplit(".", 1)[-1].lower() not in _FILE_EXTENSIONS


_FILE_EXTENSIONS = frozenset(
    {"pem", "crt", "cer", "der", "p7b", "p7c", "p12", "pfx", "csr", "req", "key", "txt", "crl"}
)


def fetch_chain(target: str, observe: Observe) -> FetchedChain:
    """Connect to ``target`` through ``observe`` and return the first chain received;
    PkiError when none."""
    spec = parse_target(target)
    observations = asyncio.run(observe(spec))
    failures: list[str] = []
    for obs in observations:
        if obs.tls is not None and obs.tls.chain_der:
            return FetchedChain(
                endpoint=obs.endpoint, chain_der=obs.tls.chain_der, tls_version=obs.tls.version
            )
        why = obs.failure.detail if obs.failure is not None else "no TLS certificate"
        failures.append(f"{obs.endpoint.label}: {why}")
    detail = "; ".join(failures[:3]) or "nothing to connect to"
    raise PkiError(f"{target}: no certificate received ({detail})")
