"""Build the chain a server must send, in order, from the files given and what vedette knows.

The administrator has a leaf (from the CA's e-mail, the AD CS web page, the appliance) and a
folder of "intermediate" files of unknown order and relevance. The bundle is: the leaf, then
the certificate that issued it, then the one that issued that, up to but **not including** the
root (RFC 5246 7.4.2 / RFC 8446 4.4.2: the root may be omitted, and clients ignore it).

Path building is :func:`vedette.x509.chain.analyse_chain` over ``[leaf, *pool]`` with the trust
anchors (Mozilla's roots and the user's ``--ca`` roots), so the order is decided by names, key
identifiers and verified signatures — never by file names or the order of the files. Pool
certificates that are not on the path (an old cross-sign, another customer's intermediate) are
left out and reported.

When no issuer of the last certificate is in the pool, the result says which issuer (DN) is
missing and where the certificate says it can be downloaded (its AIA caIssuers URL); fetching
happens only when asked (``--fetch``, see :mod:`vedette.pki.aia`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import AuthorityInformationAccessOID

from vedette.x509.chain import analyse_chain, is_self_signed

__all__ = ["BundleResult", "build_bundle", "ca_issuers_urls"]


@dataclass(frozen=True, slots=True, kw_only=True)
class BundleResult:
    """The chain for a server and what is known about its end.

    Attributes:
        chain: leaf first, then intermediates in issuing order; no root.
        root: the root the path ends at (an anchor, or a self-signed certificate from the
            pool), ``None`` when the path is incomplete.
        trusted: the root is one of the trust anchors given.
        missing_issuer: the issuer DN that is in none of the files, when incomplete.
        fetch_urls: caIssuers URLs of the last certificate of the chain, when incomplete.
        unused: pool certificates not on the path.
    """

    chain: tuple[x509.Certificate, ...]
    root: x509.Certificate | None
    trusted: bool
    missing_issuer: x509.Name | None
    fetch_urls: tuple[str, ...]
    unused: tuple[x509.Certificate, ...]

    @property
    def complete(self) -> bool:
        return self.root is not None


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def ca_issuers_urls(cert: x509.Certificate) -> tuple[str, ...]:
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return ()
    return tuple(
        str(d.access_location.value)
        for d in aia
        if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
        and isinstance(d.access_location, x509.UniformResourceIdentifier)
    )


def build_bundle(
    leaf: x509.Certificate,
    pool: Sequence[x509.Certificate],
    anchors_der: Sequence[bytes],
) -> BundleResult:
    """The ordered chain from ``leaf`` over ``pool`` towards ``anchors_der``."""
    leaf_der = _der(leaf)
    unique: list[x509.Certificate] = []
    seen = {leaf_der}
    for cert in pool:
        der = _der(cert)
        if der not in seen:
            seen.add(der)
            unique.append(cert)
    analysis = analyse_chain([leaf_der, *(_der(c) for c in unique)], tuple(anchors_der))
    path = list(analysis.path)
    root: x509.Certificate | None = None
    trusted = analysis.anchor_der is not None
    if trusted:
        root = path.pop()  # the anchor ends the path
        if path and _der(path[-1]) == _der(root):
            path.pop()
    elif analysis.missing_issuer is None and path and is_self_signed(path[-1]):
        root = path.pop() if len(path) > 1 else None  # a self-signed leaf has no chain
    on_path = {_der(c) for c in path}
    if root is not None:
        on_path.add(_der(root))
    unused = tuple(c for c in unique if _der(c) not in on_path)
    fetch: tuple[str, ...] = ()
    if analysis.missing_issuer is not None and path:
        fetch = ca_issuers_urls(path[-1])
    return BundleResult(
        chain=tuple(path),
        root=root,
        trusted=trusted,
        missing_issuer=analysis.missing_issuer,
        fetch_urls=fetch,
        unused=unused,
    )
