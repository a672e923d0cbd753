"""``scan --intermediates DIR`` and ``scan --fetch``: CA certificates known besides the chains.

A chain that stops at an issuer vedette does not know is either a correct chain under a root
vedette was not given (an unknown root) or a chain missing an intermediate. What the server
sent only allows a guess (see :class:`vedette.x509.chain.ChainEnd`); these two options let
vedette *name* the missing certificate:

* ``--intermediates FILE|DIR`` (repeatable): CA certificates the user has, PEM or DER, as for
  ``--ca`` and ``cert bundle --intermediates``;
* ``--fetch``: for each chain that stops at an unknown issuer, download that issuer from the
  ``caIssuers`` URL of the last certificate (RFC 5280 4.2.2.1), as ``cert bundle --fetch``
  does, through :func:`vedette.pki.aia.fetch_issuers` (vedette's resolver, a deadline, a size
  bound, ``http`` only). Off by default: it contacts the CA's web server, which learns which
  certificate is looked at. At most :data:`MAX_FETCHES` URLs per scan, :data:`MAX_ROUNDS` levels
  up; a URL that fails is said on stderr and the scan goes on.

Both happen here, in the command, after the probes and before the checks: the checks stay
pure and see the certificates in ``CheckContext.intermediates_der``. They are stored with the
scan (``intermediates_der_hex``), so ``vedette report`` gives the same diagnosis offline.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vedette.errors import VedetteError

if TYPE_CHECKING:
    # Imported where used: `vedette scan --help` loads neither cryptography nor rich.
    from vedette.model import Observation

__all__ = ["MAX_FETCHES", "MAX_ROUNDS", "add_issuer_arguments", "fetch_missing_issuers"]

#: Distinct caIssuers URLs one scan downloads, and how many levels up it follows them.
MAX_FETCHES = 16
MAX_ROUNDS = 4


def add_issuer_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--intermediates",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="CA certificates you have (PEM/DER files, or a directory of them): a missing "
        "intermediate among them is named; repeatable",
    )
    p.add_argument(
        "--fetch",
        action="store_true",
        help="when a chain stops at an unknown issuer, download that issuer from the URL the "
        "certificate gives (AIA caIssuers, http), to tell a missing intermediate from an "
        "unknown root; contacts the CA's web server",
    )


def fetch_missing_issuers(
    observations: Sequence[Observation],
    anchors: tuple[bytes, ...],
    known: tuple[bytes, ...],
    *,
    resolver: tuple[str, int] | None,
    timeout: float,
    note: Callable[[str], None],
) -> tuple[bytes, ...]:
    """The issuers downloaded for the chains that stop at an unknown issuer (DER, new ones)."""
    from http.client import HTTPException

    from cryptography.hazmat.primitives.serialization import Encoding

    from vedette.pki.aia import fetch_issuers
    from vedette.pki.bundle import ca_issuers_urls
    from vedette.report.escape import safe_text
    from vedette.x509.chain import ChainEnd, analyse_chain, describe, is_self_signed

    wanted = (ChainEnd.UNKNOWN_ROOT, ChainEnd.MISSING_INTERMEDIATE)

    fetched: list[bytes] = []
    tried: set[str] = set()
    chains = {o.tls.chain_der for o in observations if o.tls is not None and o.tls.chain_der}
    for _ in range(MAX_ROUNDS):
        todo: dict[str, str] = {}
        for chain_der in chains:
            a = analyse_chain(chain_der, anchors, known + tuple(fetched))
            if a.end not in wanted or a.supplied_anchor_der is not None:
                continue
            top = a.supplied_path[-1] if a.supplied_path else a.path[-1]
            if a.supplied_path and is_self_signed(top):
                continue  # the issuer is known now: a root
            for url in ca_issuers_urls(top)[:1]:
                if url not in tried and len(tried) + len(todo) < MAX_FETCHES:
                    todo.setdefault(url, describe(top.subject))
        if not todo:
            break
        for url, subject in todo.items():
            tried.add(url)
            note(f"fetching the issuer of {safe_text(subject)} from {safe_text(url)} (--fetch)")
            try:
                certs = fetch_issuers(url, resolver=resolver, timeout=timeout)
            except (VedetteError, OSError, ValueError, HTTPException) as exc:
                # A download is hostile input too: whatever goes wrong is one line, and the
                # diagnosis falls back on what the server sent.
                note(f"warning: {safe_text(str(exc))}")
                continue
            for cert in certs:
                der = cert.public_bytes(Encoding.DER)
                if der not in fetched and der not in known:
                    fetched.append(der)
    return tuple(fetched)
