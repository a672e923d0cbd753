"""The certificate chain as a server sent it: parsing, order, and a path to a trust anchor.

Theory of operation
===================

What TLS says. In TLS 1.2 (RFC 5246 section 7.4.2) the server's ``Certificate`` message is
"the sender's certificate first, each following certificate MUST directly certify the one
preceding it", and the root "MAY be omitted". TLS 1.3 (RFC 8446 section 4.4.2) keeps the leaf
first but relaxes the rest to a SHOULD and asks clients to cope with extra certificates and any
order. Clients differ in how well they cope: browsers build paths and fetch missing
intermediates (AIA), while many mail clients, phones and MTAs take the list more or less as
sent and fail on a missing intermediate. So vedette reports the list as sent, and separately
whether a path exists at all.

What is computed here (pure, no I/O, no clock):

* **Parsing, tolerant.** Each DER blob is parsed on its own; one that does not parse is kept as
  an :class:`SentCert` with ``cert=None`` and the parser's message, and the rest goes on. The
  leaf is the *first* entry; if it does not parse there is no leaf to judge.
* **Order.** For each adjacent pair ``(sent[i], sent[i+1])`` the second should have issued the
  first, unless the first is a self-signed root (nothing legitimately follows the root).
* **Roots sent.** A self-signed CA certificate after the leaf is a root the client must already
  have; sending it is harmless but wasted bytes (and a hint that the bundle was assembled by
  hand).
* **Path building.** From the leaf, repeatedly look for the issuer of the current certificate:
  first among the trust anchors (so the shortest path wins, which is how a cross-signed
  intermediate to an expired old root, e.g. AddTrust in 2020, is stepped over), then among the
  certificates sent. A candidate issuer must carry the issuer's *name* (RFC 5280 section 4.1.2.4
  name chaining), must have a subject key identifier equal to the child's authority key
  identifier when both are present (several CA certificates may share a name: re-keyed or
  cross-signed CAs), and must verify the child's signature. Sent certificates are used at most
  once per path (loop guard) and the depth is bounded by :data:`MAX_DEPTH`. A certificate that
  *is* a trust anchor (same subject and public key; e.g. a ``--ca`` root also sent by the
  server, or a pinned self-signed leaf) ends the path at once.
* **Result.** Either the path reached an anchor, or it stopped: at a self-signed certificate
  that is not an anchor (untrusted root), or at a certificate whose issuer is neither sent nor
  an anchor (incomplete chain: ``missing_issuer`` names the issuer DN).

Signatures. ``Certificate.verify_directly_issued_by`` is the tool, but cryptography 50 refuses
SHA-1 and MD5 signatures there ("Unsupported signature algorithm"), and old chains (StartCom,
2010) are exactly what vedette must still be able to build to say *why* they fail. So
:func:`signed_by` falls back to verifying ``tbs_certificate_bytes`` with the issuer's public key
and the child's own signature parameters, which the low-level primitives still allow.

Nothing here decides trust policy (dates, key sizes, distrust): that is the checks' job.
"""

from __future__ import annotations

import functools
import itertools
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.utils import CryptographyDeprecationWarning

from vedette.x509.legacy_algorithms import (
    public_key_of,
    uses_legacy_key,
    verify_legacy_signature,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "MAX_DEPTH",
    "ChainAnalysis",
    "SentCert",
    "analyse_chain",
    "describe",
    "is_ca",
    "is_self_signed",
    "load_der",
    "signed_by",
]

#: Longest path (leaf included) the builder will try; real chains have 2 to 4 certificates.
MAX_DEPTH = 8


@dataclass(frozen=True, slots=True, kw_only=True)
class SentCert:
    """One entry of the server's certificate list.

    Attributes:
        index: position in the list as sent, 0 for the leaf.
        der: the bytes as sent.
        cert: the parsed certificate, ``None`` when it does not parse.
        error: the parser's message when ``cert`` is ``None``.
    """

    index: int
    der: bytes
    cert: x509.Certificate | None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ChainAnalysis:
    """What the sent chain looks like and where it leads.

    Attributes:
        sent: every entry as sent, parsed or not.
        leaf: the first entry when it parses, else ``None`` (nothing to judge).
        leaf_self_signed: the leaf names itself as issuer and its signature verifies with its
            own key (no CA issued it).
        order_problems: human sentences, one per adjacent pair out of order; empty when the
            sent order is right.
        roots_sent: indexes (> 0) of self-signed CA certificates included in the list.
        path: the certification path built from the leaf: sent certificates, then the anchor
            when one was reached (the anchor is the last element). Empty without a leaf.
        path_indexes: for each element of ``path``, its index in ``sent``, or ``None`` for the
            anchor taken from the trust store.
        anchor_der: DER of the trust anchor reached, ``None`` when no path reached one.
        missing_issuer: the issuer DN of the last certificate of ``path`` when that issuer was
            neither sent nor an anchor (an incomplete chain); ``None`` when a path was found or
            when the path ends at a self-signed certificate.
        unused: indexes of parsed sent certificates that are not on ``path``.
    """

    sent: tuple[SentCert, ...]
    leaf: x509.Certificate | None
    leaf_self_signed: bool
    order_problems: tuple[str, ...]
    roots_sent: tuple[int, ...]
    path: tuple[x509.Certificate, ...]
    path_indexes: tuple[int | None, ...]
    anchor_der: bytes | None
    missing_issuer: x509.Name | None
    unused: tuple[int, ...]

    @property
    def unparseable(self) -> tuple[SentCert, ...]:
        return tuple(s for s in self.sent if s.cert is None)

    @property
    def trusted(self) -> bool:
        return self.anchor_der is not None

    @property
    def sent_path(self) -> tuple[x509.Certificate, ...]:
        """The path without the anchor from the trust store: what the server is answerable for."""
        return tuple(c for c, i in zip(self.path, self.path_indexes, strict=True) if i is not None)


def load_der(der: bytes) -> x509.Certificate:
    """``x509.load_der_x509_certificate`` without cryptography's deprecation warnings.

    cryptography warns (``CryptographyDeprecationWarning``) on certificates that break RFC 5280
    in ways it still tolerates, e.g. a negative serial number; at least one root in Mozilla's
    store has one. Those certificates are what vedette is here to look at, so the warning is
    noise (and an error under ``-W error``). Raises ``ValueError`` when the DER does not parse.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CryptographyDeprecationWarning)
        return x509.load_der_x509_certificate(der)


def describe(name: x509.Name) -> str:
    """An RFC 4514 string for a DN, falling back to a marker when it cannot be rendered."""
    try:
        text = name.rfc4514_string()
    except ValueError:  # pragma: no cover - malformed attribute values
        return "<unprintable name>"
    return text or "<empty name>"


def _spki(cert: x509.Certificate) -> bytes | None:
    try:
        return public_key_of(cert).public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    except (ValueError, UnsupportedAlgorithm):
        return None


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def _aki(cert: x509.Certificate) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except (x509.ExtensionNotFound, ValueError):
        return None
    return ext.value.key_identifier


def is_ca(cert: x509.Certificate) -> bool:
    """``basicConstraints`` says CA:TRUE (an absent or unreadable extension is not a CA)."""
    try:
        return cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except (x509.ExtensionNotFound, ValueError):
        return False


def signed_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    """True when ``issuer`` names ``child``'s issuer and its key verifies ``child``'s signature.

    Never raises: any failure (wrong name, bad signature, unsupported key or algorithm) is
    ``False``.
    """
    if child.issuer != issuer.subject:
        return False
    if uses_legacy_key(issuer):
        # DSA: cryptography 51 warns on the X.509 path; the legacy module handles it once.
        return verify_legacy_signature(child, issuer)
    try:
        child.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return False
    except (ValueError, TypeError, UnsupportedAlgorithm):
        # Unsupported here (SHA-1/MD5 in cryptography 50, or a mismatched key type): verify
        # the raw signature with the low-level API, which still accepts legacy hashes.
        return verify_legacy_signature(child, issuer)
    return True


def is_self_signed(cert: x509.Certificate) -> bool:
    """Subject equals issuer and the certificate's own key verifies its signature."""
    return signed_by(cert, cert)


def _key_ids_compatible(child: x509.Certificate, candidate: x509.Certificate) -> bool:
    # RFC 5280 4.2.1.1: the AKI keyIdentifier of a child equals the SKI of its issuer. When
    # either side lacks the extension, the name and signature decide alone.
    aki, ski = _aki(child), _ski(candidate)
    return aki is None or ski is None or aki == ski


@dataclass(frozen=True, slots=True)
class _Anchor:
    der: bytes
    cert: x509.Certificate
    spki: bytes | None


class _AnchorIndex:
    """Trust anchors indexed by subject DN (``x509.Name`` is hashable)."""

    def __init__(self, anchors_der: tuple[bytes, ...]) -> None:
        self.by_subject: dict[x509.Name, list[_Anchor]] = {}
        self.identities: set[tuple[x509.Name, bytes]] = set()
        self.der_of_identity: dict[tuple[x509.Name, bytes], bytes] = {}
        for der in anchors_der:
            try:
                cert = load_der(der)
                subject = cert.subject
            except ValueError:
                continue  # loaders validate user input; a bad store entry is just skipped
            anchor = _Anchor(der, cert, _spki(cert))
            self.by_subject.setdefault(subject, []).append(anchor)
            if anchor.spki is not None:
                self.identities.add((subject, anchor.spki))
                self.der_of_identity.setdefault((subject, anchor.spki), der)

    def anchor_der_for(self, cert: x509.Certificate) -> bytes | None:
        """The anchor that *is* ``cert`` (same subject and key), if any."""
        spki = _spki(cert)
        if spki is None:
            return None
        return self.der_of_identity.get((cert.subject, spki))

    def issuers_of(self, cert: x509.Certificate) -> Iterable[_Anchor]:
        for anchor in self.by_subject.get(cert.issuer, ()):
            if _key_ids_compatible(cert, anchor.cert) and signed_by(cert, anchor.cert):
                yield anchor


@functools.lru_cache(maxsize=8)
def _index(anchors_der: tuple[bytes, ...]) -> _AnchorIndex:
    # Parsing ~150 Mozilla roots costs a few milliseconds; a scan analyses thousands of
    # observations against the same tuple, so keep the last few indexes.
    return _AnchorIndex(anchors_der)


def parse_sent(chain_der: Sequence[bytes]) -> tuple[SentCert, ...]:
    """Parse each entry on its own; one that fails is kept with its error message."""
    out: list[SentCert] = []
    for i, der in enumerate(chain_der):
        try:
            cert = load_der(der)
            # Force the lazily-decoded parts the analysis relies on, so a malformed name or
            # date is reported as unparseable here instead of raising later in a check.
            _ = (cert.subject, cert.issuer, cert.not_valid_before_utc, cert.not_valid_after_utc)
        except ValueError as exc:
            out.append(SentCert(index=i, der=der, cert=None, error=_short(str(exc))))
            continue
        out.append(SentCert(index=i, der=der, cert=cert))
    return tuple(out)


def _short(message: str) -> str:
    first = message.splitlines()[0] if message else "unparseable"
    return first if len(first) <= 200 else first[:197] + "..."


def analyse_chain(chain_der: Sequence[bytes], anchors_der: Sequence[bytes] = ()) -> ChainAnalysis:
    """Parse ``chain_der`` (leaf first, as sent) and build a path to one of ``anchors_der``."""
    sent = parse_sent(chain_der)
    index = _index(tuple(anchors_der))
    parsed = [s for s in sent if s.cert is not None]
    leaf = sent[0].cert if sent else None

    self_signed = {s.index: is_self_signed(s.cert) for s in parsed if s.cert is not None}

    order: list[str] = []
    for a, b in itertools.pairwise(sent):
        if a.cert is None or b.cert is None or self_signed[a.index]:
            continue  # unparseable entries are reported on their own; nothing follows a root
        if not signed_by(a.cert, b.cert):
            order.append(
                f"certificate #{b.index + 1} ({describe(b.cert.subject)}) did not issue "
                f"certificate #{a.index + 1} ({describe(a.cert.subject)})"
            )
    if sent and sent[0].cert is not None and is_ca(sent[0].cert):
        leaves = [s for s in parsed[1:] if s.cert is not None and not is_ca(s.cert)]
        if leaves:
            order.insert(
                0,
                f"the first certificate is a CA ({describe(sent[0].cert.subject)}); the server "
                f"certificate {describe(leaves[0].cert.subject)} "  # type: ignore[union-attr]
                f"is #{leaves[0].index + 1}",
            )

    roots = tuple(
        s.index
        for s in parsed
        if s.index > 0 and s.cert is not None and self_signed[s.index] and is_ca(s.cert)
    )

    path: list[x509.Certificate] = []
    path_idx: list[int | None] = []
    anchor_der: bytes | None = None
    missing: x509.Name | None = None
    if leaf is not None:
        path, path_idx, anchor_der, missing = _build(leaf, parsed, index, self_signed)

    used = {i for i in path_idx if i is not None}
    return ChainAnalysis(
        sent=sent,
        leaf=leaf,
        leaf_self_signed=bool(leaf is not None and self_signed.get(0, False)),
        order_problems=tuple(order),
        roots_sent=roots,
        path=tuple(path),
        path_indexes=tuple(path_idx),
        anchor_der=anchor_der,
        missing_issuer=missing,
        unused=tuple(s.index for s in parsed if s.index not in used),
    )


def _build(
    leaf: x509.Certificate,
    parsed: Sequence[SentCert],
    index: _AnchorIndex,
    self_signed: dict[int, bool],
) -> tuple[list[x509.Certificate], list[int | None], bytes | None, x509.Name | None]:
    """Depth-first search for a path from the leaf to an anchor.

    Returns (path, indexes, anchor DER, missing issuer). When no anchor is reached, the
    longest partial path found is returned, so the report can name where it stops.
    """
    best: tuple[list[x509.Certificate], list[int | None]] = ([leaf], [0])

    def dfs(
        path: list[x509.Certificate], idx: list[int | None]
    ) -> tuple[list[x509.Certificate], list[int | None], bytes] | None:
        nonlocal best
        if len(path) > len(best[0]):
            best = (list(path), list(idx))
        cur = path[-1]
        # The current certificate is itself an anchor: done (a pinned leaf, or a root that
        # the server also sent).
        own = index.anchor_der_for(cur)
        if own is not None:
            return path, idx, own
        if len(path) >= MAX_DEPTH:
            return None
        anchor = next(iter(index.issuers_of(cur)), None)
        if anchor is not None:
            return [*path, anchor.cert], [*idx, None], anchor.der
        last_index = idx[-1]
        if last_index is not None and self_signed.get(last_index, False):
            return None  # a self-signed certificate that is not an anchor: the path ends here
        for cand in parsed:
            if cand.index in idx or cand.cert is None:
                continue  # each sent certificate at most once: guards against loops
            if cur.issuer != cand.cert.subject or not _key_ids_compatible(cur, cand.cert):
                continue
            if not signed_by(cur, cand.cert):
                continue
            found = dfs([*path, cand.cert], [*idx, cand.index])
            if found is not None:
                return found
        return None

    found = dfs([leaf], [0])
    if found is not None:
        return found[0], found[1], found[2], None
    path, idx = best
    last = idx[-1]
    ends_self_signed = last is not None and self_signed.get(last, False)
    return path, idx, None, None if ends_self_signed else path[-1].issuer
