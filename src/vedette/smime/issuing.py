"""The issuing CAs of S/MIME users: what goes into Exchange's ``SMIMECertificateIssuingCA``.

Exchange Online has no preinstalled CA for S/MIME: ``Set-SmimeConfig
-SMIMECertificateIssuingCA`` takes a serialized store (``.sst``) of the CAs that issue the
certificates of the users and contacts. That list holds CA certificates only (roots and
intermediates); a user's own certificate goes to its mailbox or contact (``UserCertificate``).

:func:`issuing_set` takes every certificate given (users, contacts, CAs, in any order, any
number of copies) and builds, for each certificate that is not a self-signed root, its path
over the CA certificates given (:func:`vedette.x509.chain.analyse_chain`: names, key
identifiers, verified signatures, bounded). Every CA on a path goes in, each with why; CA
certificates given that are on no user's path go in too (the administrator gave them), with
that said. A path that does not reach a self-signed root among the certificates given is
*incomplete*, named with the issuer it misses.

Pure: certificates in, a frozen result out; no file, no network (``--fetch`` is the command's).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from vedette.smime.asn1 import SmimeError
from vedette.x509.chain import ChainEnd, analyse_chain, describe, is_ca, is_self_signed

__all__ = ["MAX_CERTIFICATES", "Incomplete", "IssuingCA", "IssuingSet", "issuing_set"]

#: Most distinct certificates one set is built from (an organisation's users and their CAs).
MAX_CERTIFICATES = 5000


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuingCA:
    """A CA certificate that goes into the store, and why (one sentence each)."""

    cert: x509.Certificate
    root: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Incomplete:
    """A certificate whose path stops before a self-signed root among those given.

    Attributes:
        cert: the user's (or the CA's) certificate.
        last: the last certificate of the path built (``cert`` itself when no issuer is given).
        missing_issuer: the issuer DN nobody gave, ``None`` for a self-signed user certificate.
        why: one sentence.
    """

    cert: x509.Certificate
    last: x509.Certificate
    missing_issuer: x509.Name | None
    why: str


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuingSet:
    """The CAs for the store (roots first, then intermediates, each once) and the users."""

    cas: tuple[IssuingCA, ...]
    users: tuple[x509.Certificate, ...]
    incomplete: tuple[Incomplete, ...]

    @property
    def complete(self) -> bool:
        return not self.incomplete


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(Encoding.DER)


def _label(cert: x509.Certificate) -> str:
    return describe(cert.subject) or "(empty subject)"


def issuing_set(certificates: Sequence[x509.Certificate]) -> IssuingSet:
    """The issuing CAs of every certificate given (see the module doc)."""
    unique: dict[bytes, x509.Certificate] = {}
    for cert in certificates:
        unique.setdefault(_der(cert), cert)
        if len(unique) > MAX_CERTIFICATES:
            raise SmimeError(f"more than {MAX_CERTIFICATES} distinct certificates given")
    cas = {der: cert for der, cert in unique.items() if is_ca(cert)}
    users = [cert for der, cert in unique.items() if der not in cas]
    reasons: dict[bytes, list[str]] = {}
    depth: dict[bytes, int] = {}  # distance from the root, for the order of the store
    incomplete: list[Incomplete] = []

    def walk(cert: x509.Certificate, label: str) -> None:
        own = _der(cert)
        pool = [der for der in cas if der != own]
        analysis = analyse_chain([own, *pool])
        path = analysis.path
        for level, ca in enumerate(path):
            der = _der(ca)
            depth[der] = max(depth.get(der, 0), len(path) - 1 - level)
            if level == 0:
                continue
            why = f"issues {label}" if level == 1 else f"on the path of {label}"
            if why not in reasons.setdefault(der, []):
                reasons[der].append(why)
        if analysis.end is ChainEnd.SELF_SIGNED_LEAF:
            incomplete.append(
                Incomplete(
                    cert=cert,
                    last=cert,
                    missing_issuer=None,
                    why=f"{label} is self-signed: no CA issues it, so no issuing CA can "
                    "vouch for it",
                )
            )
        elif analysis.missing_issuer is not None or analysis.end in (
            ChainEnd.TOO_LONG,
            ChainEnd.ABUSIVE,
        ):
            last = path[-1] if path else cert
            missing = analysis.missing_issuer
            incomplete.append(
                Incomplete(
                    cert=cert,
                    last=last,
                    missing_issuer=missing,
                    why=f"the path of {label} stops at {_label(last)}: its issuer "
                    f"{describe(missing) if missing is not None else '(path cut)'} is in "
                    "none of the inputs",
                )
            )

    for user in users:
        walk(user, _label(user))
    for der, ca in cas.items():
        if is_self_signed(ca):
            depth.setdefault(der, 0)
            continue
        if der not in reasons:
            walk(ca, _label(ca))
    out: list[IssuingCA] = []
    for der, ca in cas.items():
        why = reasons.get(der) or [
            "given as a CA certificate; it issues none of the user certificates given"
            if users
            else "given as a CA certificate"
        ]
        out.append(IssuingCA(cert=ca, root=is_self_signed(ca), reasons=tuple(why)))
    out.sort(key=lambda entry: depth.get(_der(entry.cert), 1))
    return IssuingSet(cas=tuple(out), users=tuple(users), incomplete=tuple(incomplete))
