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
  once per path (loop guard). A certificate that *is* a trust anchor (same subject and public
  key; e.g. a ``--ca`` root also sent by the server, or a pinned self-signed leaf) ends the path
  at once.
* **Bounded work.** A server chooses what it sends, and a list built to make path building
  explode is an attack on every client that connects (issue 10: 7 levels of 8 look-alike CA
  certificates is 8**7 paths for a naive depth-first search). The search is bounded,
  deterministically (no clock in pure code): at most :data:`MAX_DEPTH` certificates on a path
  (anchor included: Firefox's mozilla::pkix accepts at most 6 intermediates, 8 certificates in
  all), at most :data:`MAX_CANDIDATES` distinct candidate issuers per certificate, and at most
  :data:`MAX_SIGNATURE_CHECKS` signature verifications and :data:`MAX_PATH_STEPS` certificates
  put on a path per search (Go's verifier gives up after 100 signature checks). A certificate
  that led nowhere from some depth is not tried again from that depth or deeper, so an honest
  list costs a handful of verifications however it is ordered.
* **Certificates given besides the chain.** ``supplied_der`` (``--intermediates`` files,
  issuers downloaded from a certificate's AIA caIssuers URL with ``--fetch``) never make a
  chain trusted: a client only has what the server sends. When the path built from the sent
  certificates stops at a missing issuer, a second search continues it over the sent and the
  supplied certificates, to *name* what is missing.
* **Result**, :attr:`ChainAnalysis.end`, one cause per chain:

  - ``ANCHOR``: the path reached a trust anchor;
  - ``SELF_SIGNED_LEAF``: the leaf signs itself;
  - ``UNTRUSTED_ROOT``: the path ends at a self-signed certificate the server sent, which is no
    anchor;
  - ``UNKNOWN_ROOT``: the path ends at a CA certificate the server sent whose issuer is neither
    sent nor an anchor. That is how a correct chain under a private root looks when the root is
    not known (leaf + intermediate, root not sent, as it should not be); or the supplied
    certificates show that the issuer is a self-signed root;
  - ``MISSING_INTERMEDIATE``: the leaf alone (or a non-CA certificate) ends the path and its
    issuer is unknown: an intermediate is probably missing; or the supplied certificates
    contain the missing intermediate, which is then named (``supplied_missing``);
  - ``TOO_LONG``: the path was cut at :data:`MAX_DEPTH` although its last certificate has an
    issuer among the certificates sent or the anchors: a chain too long for clients;
  - ``ABUSIVE``: the list went past the bounds (``abusive`` says how) and no path to an anchor
    was found; when one was found anyway, ``end`` is ``ANCHOR`` and ``abusive`` still says it.

  ``missing_issuer`` keeps naming the issuer DN of the last certificate of ``path`` whenever the
  path stops short of an anchor for want of it (or was cut), as the bundle builder expects.

Signatures. ``Certificate.verify_directly_issued_by`` is the tool, but cryptography 50 refuses
SHA-1 and MD5 signatures there ("Unsupported signature algorithm"), and old chains (StartCom,
2010) are exactly what vedette must still be able to build to say *why* they fail. So
:func:`signed_by` falls back to verifying ``tbs_certificate_bytes`` with the issuer's public key
and the child's own signature parameters, which the low-level primitives still allow.

Nothing here decides trust policy (dates, key sizes, distrust): that is the checks' job.
"""

from __future__ import annotations

import enum
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
    "MAX_CANDIDATES",
    "MAX_DEPTH",
    "MAX_PATH_STEPS",
    "MAX_SIGNATURE_CHECKS",
    "ChainAnalysis",
    "ChainEnd",
    "SentCert",
    "analyse_chain",
    "describe",
    "is_ca",
    "is_self_signed",
    "load_der",
    "signed_by",
]

#: Longest path, leaf and anchor included (mozilla::pkix: 6 intermediates at most); real chains
#: have 2 to 4 certificates.
MAX_DEPTH = 8
#: Distinct certificates sent that may have issued one certificate (its issuer's name, matching
#: key identifiers) that the builder tries; honest lists have one or two (a cross-sign).
MAX_CANDIDATES = 4
#: Signature verifications one path search may make (Go's crypto/x509 stops at 100).
MAX_SIGNATURE_CHECKS = 200
#: Certificates put on a path by one search, backtracking included.
MAX_PATH_STEPS = 400


class ChainEnd(enum.Enum):
    """Where the path built from the leaf ends: one cause per chain (see the module doc)."""

    NO_LEAF = "no-leaf"
    ANCHOR = "anchor"
    SELF_SIGNED_LEAF = "self-signed-leaf"
    UNTRUSTED_ROOT = "untrusted-root"
    UNKNOWN_ROOT = "unknown-root"
    MISSING_INTERMEDIATE = "missing-intermediate"
    TOO_LONG = "too-long"
    ABUSIVE = "abusive"


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
        missing_issuer: the issuer DN of the last certificate of ``path`` when no anchor was
            reached from it: its issuer was neither sent nor an anchor, or the path was cut (see
            ``end``, which says which); ``None`` when a path was found or when the path ends at
            a self-signed certificate.
        unused: indexes of parsed sent certificates that are not on ``path``.
        end: where the path ends, one cause (:class:`ChainEnd`).
        too_long: the path was cut at :data:`MAX_DEPTH` while its last certificate has an
            issuer among the certificates sent or the anchors.
        abusive: why path building was cut short (the candidates or work bounds were hit),
            ``None`` for an honest list.
        supplied_path: when the path stops at a missing issuer, its continuation found with the
            supplied certificates (and the sent ones): the missing issuer first, then upwards;
            the anchor, if one is reached, is not included.
        supplied_anchor_der: the anchor that ``supplied_path`` reaches, if any.
        supplied_missing: the CA certificates of ``supplied_path`` that the server did not send
            and should (every one but a self-signed root): the missing intermediates, named.
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
    end: ChainEnd = ChainEnd.NO_LEAF
    too_long: bool = False
    abusive: str | None = None
    supplied_path: tuple[x509.Certificate, ...] = ()
    supplied_anchor_der: bytes | None = None
    supplied_missing: tuple[x509.Certificate, ...] = ()

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


class _Anchor:
    """A trust anchor, parsed once per process (see ``_anchor``); its key is read on demand."""

    __slots__ = ("_spki", "cert", "der", "subject")

    _UNSET = b""

    def __init__(self, der: bytes, cert: x509.Certificate) -> None:
        self.der = der
        self.cert = cert
        self.subject = cert.subject
        self._spki: bytes | None = self._UNSET

    @property
    def spki(self) -> bytes | None:
        if self._spki == self._UNSET:
            self._spki = _spki(self.cert)
        return self._spki


@functools.lru_cache(maxsize=8192)
def _anchor(der: bytes) -> _Anchor | None:
    # The anchor sets of one run overlap (Mozilla's roots, the union of every client's store,
    # the user's --ca): each root is parsed once, whichever set it comes in.
    try:
        cert = load_der(der)
        return _Anchor(der, cert)
    except ValueError:
        return None  # loaders validate user input; a bad store entry is just skipped


def anchor_certificate(der: bytes) -> x509.Certificate:
    """A root store's certificate, parsed once per process (raises ``ValueError`` when it
    does not parse): root stores are read again and again, by the chain analysis, the
    distrust pre-check and the loaders."""
    anchor = _anchor(der)
    if anchor is None:
        raise ValueError("the certificate does not parse")
    return anchor.cert


class _AnchorIndex:
    """Trust anchors indexed by subject DN (``x509.Name`` is hashable)."""

    def __init__(self, anchors_der: tuple[bytes, ...]) -> None:
        self.by_subject: dict[x509.Name, list[_Anchor]] = {}
        for der in anchors_der:
            anchor = _anchor(der)
            if anchor is not None:
                self.by_subject.setdefault(anchor.subject, []).append(anchor)

    def anchor_der_for(self, cert: x509.Certificate) -> bytes | None:
        """The anchor that *is* ``cert`` (same subject and key), if any."""
        same_name = self.by_subject.get(cert.subject, ())
        if not same_name:
            return None
        spki = _spki(cert)
        if spki is None:
            return None
        for anchor in same_name:
            if anchor.spki == spki:
                return anchor.der
        return None

    def candidates(self, cert: x509.Certificate) -> Iterable[_Anchor]:
        """Anchors that may have issued ``cert`` (name and key identifiers; not verified)."""
        for anchor in self.by_subject.get(cert.issuer, ()):
            if _key_ids_compatible(cert, anchor.cert):
                yield anchor


@functools.lru_cache(maxsize=8)
def _index(anchors_der: tuple[bytes, ...]) -> _AnchorIndex:
    # A scan analyses thousands of observations against the same tuple: keep the last few.
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


@functools.lru_cache(maxsize=8)
def _parse_supplied(supplied_der: tuple[bytes, ...]) -> tuple[tuple[bytes, x509.Certificate], ...]:
    # The same --intermediates pool is given with every chain of a scan: parse it once.
    out: list[tuple[bytes, x509.Certificate]] = []
    for s in parse_sent(supplied_der):
        if s.cert is not None:
            out.append((s.der, s.cert))
    return tuple(out)


def analyse_chain(
    chain_der: Sequence[bytes],
    anchors_der: Sequence[bytes] = (),
    supplied_der: Sequence[bytes] = (),
) -> ChainAnalysis:
    """Parse ``chain_der`` (leaf first, as sent) and build a path to one of ``anchors_der``.

    ``supplied_der``: certificates known besides the chain (``--intermediates`` files, issuers
    downloaded with ``--fetch``). They never complete the chain, only name what is missing.
    """
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
    leaf_self_signed = bool(leaf is not None and self_signed.get(0, False))
    if leaf is None:
        return ChainAnalysis(
            sent=sent,
            leaf=None,
            leaf_self_signed=False,
            order_problems=tuple(order),
            roots_sent=roots,
            path=(),
            path_indexes=(),
            anchor_der=None,
            missing_issuer=None,
            unused=tuple(s.index for s in parsed),
        )

    nodes = [(s.der, s.cert) for s in sent]
    search = _Search(index, nodes, self_signed)
    found = search.run([0])
    positions = found if found is not None else search.best
    path = [search.cert(i) for i in positions]
    path_idx: list[int | None] = list(positions)
    anchor_der = search.anchor_der if found is not None else None
    if found is not None and search.anchor_cert is not None:
        path.append(search.anchor_cert)
        path_idx.append(None)
    last = positions[-1]
    missing = None if found is not None or self_signed.get(last, False) else path[-1].issuer

    supplied_path: tuple[x509.Certificate, ...] = ()
    supplied_anchor: bytes | None = None
    supplied_missing: tuple[x509.Certificate, ...] = ()
    if missing is not None and supplied_der and not search.too_long and search.abusive is None:
        sent_der = {s.der for s in sent}
        extra = [pair for pair in _parse_supplied(tuple(supplied_der)) if pair[0] not in sent_der]
        second = _Search(index, [*nodes, *extra], dict(self_signed))
        found2 = second.run(list(positions))
        further = (found2 if found2 is not None else second.best)[len(positions) :]
        supplied_path = tuple(second.cert(j) for j in further)
        supplied_anchor = second.anchor_der if found2 is not None else None
        supplied_missing = tuple(
            second.cert(j) for j in further if j >= len(nodes) and not second.is_self_signed(j)
        )

    if found is not None:
        end = ChainEnd.ANCHOR
    elif search.abusive is not None:
        end = ChainEnd.ABUSIVE
    elif search.too_long:
        end = ChainEnd.TOO_LONG
    elif leaf_self_signed:
        end = ChainEnd.SELF_SIGNED_LEAF
    elif missing is None:
        end = ChainEnd.UNTRUSTED_ROOT
    elif supplied_missing:
        end = ChainEnd.MISSING_INTERMEDIATE
    elif supplied_path or (last > 0 and is_ca(path[-1])):
        # What was sent ends at a CA whose issuer is in no store (or the supplied certificates
        # show that issuer to be a self-signed root): an unknown root, not a missing link.
        end = ChainEnd.UNKNOWN_ROOT
    else:
        end = ChainEnd.MISSING_INTERMEDIATE

    used = {i for i in path_idx if i is not None}
    return ChainAnalysis(
        sent=sent,
        leaf=leaf,
        leaf_self_signed=leaf_self_signed,
        order_problems=tuple(order),
        roots_sent=roots,
        path=tuple(path),
        path_indexes=tuple(path_idx),
        anchor_der=anchor_der,
        missing_issuer=missing,
        unused=tuple(s.index for s in parsed if s.index not in used),
        end=end,
        too_long=search.too_long,
        abusive=search.abusive,
        supplied_path=supplied_path,
        supplied_anchor_der=supplied_anchor,
        supplied_missing=supplied_missing,
    )


class _Search:
    """One depth-first search for a path to an anchor, bounded (see "Bounded work" above).

    Nodes are ``(der, cert)`` pairs addressed by position (the sent list's indexes first);
    identical DER is one candidate. ``run`` returns the positions of a path that ends at an
    anchor (``anchor_der``; ``anchor_cert`` when the anchor is not itself on the path), or
    ``None``; ``best`` is then the longest path tried, so the report can say where it stops.
    """

    def __init__(
        self,
        index: _AnchorIndex,
        nodes: Sequence[tuple[bytes, x509.Certificate | None]],
        self_signed: dict[int, bool],
    ) -> None:
        self.index = index
        self.nodes = nodes
        self._self_signed = self_signed
        self.by_name: dict[x509.Name, list[int]] = {}
        seen: set[bytes] = set()
        for i, (der, cert) in enumerate(nodes):
            if cert is not None and der not in seen:
                seen.add(der)
                self.by_name.setdefault(cert.subject, []).append(i)
        self.signatures = MAX_SIGNATURE_CHECKS
        self.steps = MAX_PATH_STEPS
        self.exhausted = False
        self.abusive: str | None = None
        self.too_long = False
        self.best: list[int] = []
        self.anchor_der: bytes | None = None
        self.anchor_cert: x509.Certificate | None = None
        self._dead: dict[int, int] = {}  # position -> shallowest depth it led nowhere from
        self._anchors: dict[int, _Anchor | None] = {}
        self._issuers: dict[int, list[int]] = {}

    def cert(self, i: int) -> x509.Certificate:
        cert = self.nodes[i][1]
        assert cert is not None  # only parsed certificates are ever put on a path
        return cert

    def is_self_signed(self, i: int) -> bool:
        if i not in self._self_signed:
            cert = self.cert(i)
            self._self_signed[i] = self._verify(cert, cert)
        return self._self_signed[i]

    def _stop(self, why: str) -> None:
        self.exhausted = True
        if self.abusive is None:
            self.abusive = why

    def _verify(self, child: x509.Certificate, issuer: x509.Certificate) -> bool:
        if child.issuer != issuer.subject:
            return False  # no signature to check: not a candidate at all
        if self.signatures <= 0:
            self._stop(f"more than {MAX_SIGNATURE_CHECKS} signature checks")
            return False
        self.signatures -= 1
        return signed_by(child, issuer)

    def _anchor_of(self, i: int) -> _Anchor | None:
        if i not in self._anchors:
            cert = self.cert(i)
            self._anchors[i] = next(
                (a for a in self.index.candidates(cert) if self._verify(cert, a.cert)), None
            )
        return self._anchors[i]

    def _issuers_of(self, i: int) -> list[int]:
        found = self._issuers.get(i)
        if found is None:
            cert = self.cert(i)
            names = [
                j
                for j in self.by_name.get(cert.issuer, ())
                if j != i and _key_ids_compatible(cert, self.cert(j))
            ]
            if len(names) > MAX_CANDIDATES and self.abusive is None:
                self.abusive = (
                    f"{len(names)} different certificates sent could each have issued "
                    f"{describe(cert.subject)} (same name and key identifier); clients try "
                    "them one by one, and every combination across levels"
                )
            found = [j for j in names[:MAX_CANDIDATES] if self._verify(cert, self.cert(j))]
            self._issuers[i] = found
        return found

    def run(self, start: list[int]) -> list[int] | None:
        self.best = list(start)
        return self._dfs(list(start))[0]

    def _dfs(self, path: list[int]) -> tuple[list[int] | None, bool]:
        """(a path to an anchor or ``None``, whether that failure depends on what is already
        on ``path``: a loop guard or a bound was hit, so it must not be remembered)."""
        if len(path) > len(self.best):
            self.best = list(path)
        i = path[-1]
        own = self.index.anchor_der_for(self.cert(i))
        if own is not None:
            self.anchor_der = own
            return path, False
        if self.exhausted:
            return None, True
        self.steps -= 1
        if self.steps < 0:
            self._stop(f"more than {MAX_PATH_STEPS} certificates tried on paths")
            return None, True
        anchor = self._anchor_of(i)
        ends = self.is_self_signed(i)
        issuers = [] if ends else self._issuers_of(i)
        if len(path) >= MAX_DEPTH:
            if anchor is not None or issuers:
                self.too_long = True
            return None, False
        if anchor is not None:
            self.anchor_der, self.anchor_cert = anchor.der, anchor.cert
            return path, False
        depends = False
        depth = len(path) + 1
        for j in issuers:
            if j in path:
                depends = True  # each certificate at most once per path: guards against loops
                continue
            if self._dead.get(j, MAX_DEPTH + 1) <= depth:
                continue  # led nowhere from this depth or a shallower one already
            found, loop = self._dfs([*path, j])
            if found is not None:
                return found, False
            if self.exhausted:
                return None, True
            if loop:
                depends = True
            else:
                self._dead[j] = min(self._dead.get(j, MAX_DEPTH + 1), depth)
        return None, depends
