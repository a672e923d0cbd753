"""The verdict on a signed message: is it intact, who signed it, and is that signer fit?

For each SignerInfo, in this order (pure: the time of the check is given, never read):

1. **The signer's certificate**: among those carried, the one the signer identifier names
   (issuer and serial number, or subject key identifier). None: ``smime.signer-certificate-
   missing``.
2. **The body**: the digest of the content (the canonical first part of a multipart/signed,
   or the encapsulated content) against the signed messageDigest attribute. A difference is
   ``smime.tampered``: the text or an attachment changed after signing (a gateway adding a
   disclaimer, a relay re-encoding the body, or a forgery).
3. **The signature** over the signed attributes (their encoding as carried, then in DER) with
   the certificate's key. It fails while the digest matches: ``smime.certificate-mismatch``,
   the certificate carried is not the one whose key signed (a swapped certificate); when
   another certificate carried does verify it, it is named.
4. **The digest algorithm**: SHA-1 and MD5 are ``smime.weak-digest`` (collisions are
   practical; RFC 8551 2.1 says SHA-1 is only for reading old messages, MD5 not at all), even
   when the signature verifies.
5. **The chain** to the CAs given (``--ca``): the issuing CAs an administrator trusts for
   S/MIME, the notion of Exchange's ``SMIMECertificateIssuingCA``. No store of public roots is
   used (certifi's roots are for server authentication). Built with
   :func:`vedette.x509.chain.analyse_chain` (bounded). No path: ``smime.untrusted-issuer``.
6. **Validity** of every certificate of the path at the time of the check (``smime.expired``,
   ``smime.not-yet-valid``), and of the signer's certificate at the signing time it claims
   (``smime.expired-at-signing``).
7. **Key usage and EKU** (RFC 8550 4.4): a keyUsage without digitalSignature and
   nonRepudiation is ``smime.key-usage``; an EKU without emailProtection (or
   anyExtendedKeyUsage) is ``smime.wrong-eku``.
8. **The From address** against the certificate's rfc822Name entries (RFC 8550 3):
   ``smime.address-mismatch``; the address only in the subject's emailAddress is a warning
   (``smime.address-in-subject-only``), since RFC 8550 wants it in the subjectAltName.

Every problem has an id, one line saying what, a sentence saying why, and the fix. The
message is valid when it has a signer and no signer has a problem of severity ``fail``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vedette.smime.cms import (
    DIGESTS,
    SignedData,
    SignerInfo,
    cert_issuer_der,
    check_signature,
    digest_bytes,
    micalg,
)
from vedette.x509.chain import ChainEnd, analyse_chain, describe, load_der
from vedette.x509.legacy_algorithms import public_key_of

__all__ = ["Problem", "SignerVerdict", "Verdict", "recipient_problems", "verify_signed"]

Severity = Literal["fail", "warning"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Problem:
    """One finding on a signer or the message.

    Attributes:
        id: stable identifier (``smime.tampered``...).
        severity: ``fail`` (the signature or the signer is not acceptable) or ``warning``.
        title: what, one line.
        detail: why it matters, in plain words.
        fix: what to do.
    """

    id: str
    severity: Severity
    title: str
    detail: str
    fix: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SignerVerdict:
    """What was found for one signer.

    Attributes:
        index: 1 for the first signer.
        subject, issuer, serial: of the signer's certificate (``None`` when it is missing).
        addresses: the rfc822Name entries of its subjectAltName.
        subject_email: the emailAddress attributes of its subject.
        digest: the digest algorithm's name, or its OID.
        signature_algorithm: ``RSA PKCS#1 v1.5``, ``ECDSA``...
        signing_time: the signingTime attribute, ``None`` when absent.
        digest_matches, signature_valid: ``None`` when not checked (no certificate, or an
            unsupported algorithm).
        chain: subjects from the signer's certificate up to the CA given that ends the path.
        trusted: the path reached one of the CAs given.
        problems: failures and warnings, in the order of the checks.
    """

    index: int
    subject: str | None
    issuer: str | None
    serial: str | None
    addresses: tuple[str, ...]
    subject_email: tuple[str, ...]
    digest: str
    signature_algorithm: str
    signing_time: datetime | None
    capabilities: tuple[str, ...]
    digest_matches: bool | None
    signature_valid: bool | None
    chain: tuple[str, ...]
    trusted: bool
    problems: tuple[Problem, ...]

    @property
    def valid(self) -> bool:
        return not any(p.severity == "fail" for p in self.problems)


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The verdict on a message.

    Attributes:
        form: ``detached``, ``opaque`` or ``cms``.
        checked_at: the time validity was judged at.
        from_addresses: the From addresses of the message.
        signers: one verdict per signer.
        problems: message-level findings (no signer, micalg disagreeing).
    """

    form: str
    checked_at: datetime
    from_addresses: tuple[str, ...]
    signers: tuple[SignerVerdict, ...]
    problems: tuple[Problem, ...] = field(default=())

    @property
    def valid(self) -> bool:
        return (
            bool(self.signers)
            and all(s.valid for s in self.signers)
            and not any(p.severity == "fail" for p in self.problems)
        )


#: What cryptography raises on a damaged certificate field, parsed lazily.
_CERT_ERRORS = (
    ValueError,
    UnsupportedAlgorithm,
    x509.InvalidVersion,
    x509.DuplicateExtension,
    x509.UnsupportedGeneralNameType,
)


def _p(id_: str, severity: Severity, title: str, detail: str, fix: str) -> Problem:
    return Problem(id=id_, severity=severity, title=title, detail=detail, fix=fix)


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except (x509.ExtensionNotFound, ValueError):
        return None


def _key(cert: x509.Certificate) -> object:
    """The certificate's public key, ``None`` when cryptography cannot load it."""
    try:
        return public_key_of(cert)
    except (ValueError, UnsupportedAlgorithm):
        return None


def _find_cert(signer: SignerInfo, certs: list[tuple[bytes, x509.Certificate]]) -> int | None:
    for i, (_, cert) in enumerate(certs):
        if signer.subject_key_id is not None:
            if _ski(cert) == signer.subject_key_id:
                return i
        elif cert.serial_number == signer.serial and signer.issuer_der in (
            cert_issuer_der(cert),
            cert.issuer.public_bytes(),
        ):
            return i
    return None


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


def _emails(cert: x509.Certificate) -> tuple[tuple[str, ...], tuple[str, ...]]:
    san = _ext(cert, x509.SubjectAlternativeName)
    in_san = (
        tuple(a.lower() for a in san.get_values_for_type(x509.RFC822Name))
        if isinstance(san, x509.SubjectAlternativeName)
        else ()
    )
    subject = tuple(
        str(a.value).lower() for a in cert.subject.get_attributes_for_oid(NameOID.EMAIL_ADDRESS)
    )
    return in_san, subject


def _validity(cert: x509.Certificate, at: datetime, label: str) -> Problem | None:
    if at > cert.not_valid_after_utc:
        return _p(
            "smime.expired",
            "fail",
            f"{label} expired on {cert.not_valid_after_utc:%Y-%m-%d}",
            f"judged at {at:%Y-%m-%d %H:%M} UTC: an expired certificate proves nothing any more "
            "(OpenSSL refuses it as well)",
            "renew the certificate and sign again; to check an old message as of the day it "
            "was signed, use --as-of DATE",
        )
    if at < cert.not_valid_before_utc:
        return _p(
            "smime.not-yet-valid",
            "fail",
            f"{label} is not valid before {cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC",
            f"judged at {at:%Y-%m-%d %H:%M} UTC (a clock ahead when the certificate was "
            "issued, or a check with --as-of before its issue)",
            "check the clocks of the CA and of this machine, or wait for the start date",
        )
    return None


def _usage(cert: x509.Certificate) -> list[Problem]:
    out: list[Problem] = []
    ku = _ext(cert, x509.KeyUsage)
    if isinstance(ku, x509.KeyUsage) and not (ku.digital_signature or ku.content_commitment):
        out.append(
            _p(
                "smime.key-usage",
                "fail",
                "the certificate's key usage does not allow signing",
                "its keyUsage has neither digitalSignature nor nonRepudiation (RFC 8550 4.4.2): "
                "it is an encryption-only certificate, and clients refuse signatures made with it",
                "sign with the user's signing certificate, or have one issued with "
                "digitalSignature (vedette ca sign --profile smime)",
            )
        )
    eku = _ext(cert, x509.ExtendedKeyUsage)
    if isinstance(eku, x509.ExtendedKeyUsage):
        allowed = {ExtendedKeyUsageOID.EMAIL_PROTECTION, ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE}
        if not allowed & set(eku):
            names = ", ".join(getattr(o, "_name", o.dotted_string) for o in eku) or "none"
            out.append(
                _p(
                    "smime.wrong-eku",
                    "fail",
                    f"the certificate is not for e-mail: its extended key usage is {names}",
                    "RFC 8550 4.4.4: with an extendedKeyUsage extension, S/MIME needs "
                    "emailProtection; OpenSSL's S/MIME signer check refuses it too",
                    "have a certificate issued with the emailProtection EKU (the AD CS 'User' "
                    "template; vedette ca sign --profile smime)",
                )
            )
    return out


def _address(
    from_addresses: tuple[str, ...], in_san: tuple[str, ...], in_subject: tuple[str, ...]
) -> Problem | None:
    if not from_addresses:
        return _p(
            "smime.no-from",
            "warning",
            "no From address to compare with the certificate",
            "a raw CMS file carries no message headers",
            "verify the whole message (.eml) to have its sender checked",
        )
    if any(a in in_san for a in from_addresses):
        return None
    if any(a in in_subject for a in from_addresses):
        return _p(
            "smime.address-in-subject-only",
            "warning",
            "the sender's address is only in the certificate's subject (emailAddress)",
            "RFC 8550 3 wants it as an rfc822Name in the subjectAltName; the subject form is "
            "a legacy of CAs from before RFC 2632 (1999)",
            "have the next certificate issued with the address in the subjectAltName "
            "(vedette cert csr --email ADDRESS)",
        )
    names = ", ".join(in_san + in_subject) or "no e-mail address"
    return _p(
        "smime.address-mismatch",
        "fail",
        f"the sender {', '.join(from_addresses)} is not the certificate's address ({names})",
        "the message was signed with someone else's certificate, or the From field was "
        "changed: the reader cannot tell that the sender wrote it",
        "sign with the certificate issued to the sender's address",
    )


def _chain_problem(end: ChainEnd, anchors: bool, missing: str | None) -> Problem:
    if not anchors:
        return _p(
            "smime.untrusted-issuer",
            "fail",
            "no issuing CA given: the signer's certificate cannot be trusted",
            "S/MIME trust is the issuing CAs you accept (Exchange's SMIMECertificateIssuingCA); "
            "vedette uses no public root store for e-mail",
            "give the issuing CA (and its root) with --ca FILE|DIR",
        )
    if end is ChainEnd.SELF_SIGNED_LEAF:
        detail = "the signer's certificate is self-signed: no CA vouches for it"
        fix = "use a certificate from your CA (or give this one with --ca, if you trust it)"
    elif end in (ChainEnd.TOO_LONG, ChainEnd.ABUSIVE):
        detail = "the certificate list is too long or built to exhaust path building"
        fix = "the sender must attach a normal chain"
    else:
        detail = (
            f"the path stops at {missing}, which is not among the CAs given"
            if missing
            else "the path ends at a root that is not among the CAs given"
        )
        fix = "give the CA that issued the signer's certificate with --ca (if you trust it)"
    return _p(
        "smime.untrusted-issuer",
        "fail",
        "the signer's certificate is not issued by a CA given",
        detail,
        fix,
    )


def _signer_verdict(
    signer: SignerInfo,
    sd: SignedData,
    content: bytes,
    certs: list[tuple[bytes, x509.Certificate]],
    anchors: tuple[bytes, ...],
    from_addresses: tuple[str, ...],
    at: datetime,
) -> SignerVerdict:
    problems: list[Problem] = []
    digest = signer.digest or signer.digest_oid
    position = _find_cert(signer, certs)
    if position is None:
        problems.append(
            _p(
                "smime.signer-certificate-missing",
                "fail",
                "the signer's certificate is not in the message",
                "without it the signature cannot be checked; S/MIME senders attach it "
                "(RFC 8551 2.4.1 'SHOULD')",
                "ask the sender to sign again with their certificate attached",
            )
        )
        return SignerVerdict(
            index=signer.index, digest=digest, signature_algorithm=signer.signature_name,
            signing_time=signer.signing_time, capabilities=signer.capabilities, subject=None,
            issuer=None, serial=None, addresses=(), subject_email=(), digest_matches=None,
            signature_valid=None, chain=(), trusted=False, problems=tuple(problems),
        )  # fmt: skip
    der, cert = certs[position]
    in_san, in_subject = _emails(cert)
    digest_ok: bool | None = None
    sig_ok: bool | None = None
    if signer.digest is None:
        problems.append(
            _p(
                "smime.unsupported-algorithm",
                "fail",
                f"unknown digest algorithm {signer.digest_oid}",
                "vedette cannot compute this digest",
                "sign with SHA-256",
            )
        )
    else:
        actual = digest_bytes(signer.digest, content)
        if signer.signed_attrs is None:
            data = content
            if sd.content_type != "1.2.840.113549.1.7.1":
                problems.append(
                    _p(
                        "smime.malformed",
                        "fail",
                        "no signed attributes over content that is not plain data",
                        "RFC 5652 5.3 requires signed attributes then",
                        "sign with a standard S/MIME client",
                    )
                )
        else:
            data = signer.signed_attrs
            digest_ok = signer.message_digest == actual
            if signer.content_type != sd.content_type:
                problems.append(
                    _p(
                        "smime.malformed",
                        "fail",
                        "the signed contentType attribute does not match the content",
                        "RFC 5652 11.1: the content could be passed off as another type",
                        "sign with a standard S/MIME client",
                    )
                )
        outcome, why = check_signature(signer, _key(cert), data)
        if outcome == "invalid" and signer.signed_attrs_der not in (None, signer.signed_attrs):
            assert signer.signed_attrs_der is not None
            outcome, why = check_signature(signer, _key(cert), signer.signed_attrs_der)
        if outcome == "unsupported":
            problems.append(
                _p("smime.unsupported-algorithm", "fail", f"unsupported {why}",
                   "vedette cannot check this signature", "sign with RSA or ECDSA and SHA-256")
            )  # fmt: skip
        else:
            sig_ok = outcome == "valid"
        if signer.signed_attrs is None and sig_ok is False:
            digest_ok = None
            problems.append(
                _p(
                    "smime.tampered",
                    "fail",
                    "the signature does not match the message (no signed attributes)",
                    "the body was changed after signing, or it was signed with another key",
                    "ask the sender for the original message",
                )
            )
        elif digest_ok is False:
            problems.append(
                _p(
                    "smime.tampered",
                    "fail",
                    "the message was changed after it was signed",
                    "the digest of the body differs from the one the signer signed: the text "
                    "or an attachment was altered (a gateway adding a footer, a relay "
                    "re-encoding the body, or a forgery)",
                    "find what rewrites the message on its way (disclaimers, antivirus "
                    "gateways); sign after such rewriting, or exempt signed mail from it",
                )
            )
        elif sig_ok is False:
            other = next(
                (
                    c
                    for i, (_, c) in enumerate(certs)
                    if i != position and check_signature(signer, _key(c), data)[0] == "valid"
                ),
                None,
            )
            named = f"; it was made by the key of {describe(other.subject)}" if other else ""
            problems.append(
                _p(
                    "smime.certificate-mismatch",
                    "fail",
                    "the signature does not match the certificate carried (a swapped "
                    "certificate)" + named,
                    f"the body is intact, but {why} with the key of the certificate the signer "
                    "names: the certificate was replaced, or the signed attributes altered",
                    "treat the message as forged; ask the sender to sign again",
                )
            )
        if signer.digest in ("sha1", "md5"):
            problems.append(
                _p(
                    "smime.weak-digest",
                    "fail",
                    f"signed with {'SHA-1' if signer.digest == 'sha1' else 'MD5'}, a broken digest",
                    "collisions are practical: a signature over a SHA-1 or MD5 digest can be "
                    "moved to another message; RFC 8551 2.1 keeps SHA-1 only to read old mail",
                    "configure the sender's client to sign with SHA-256 (Outlook: Trust Center, "
                    "Email Security, Settings, Hash Algorithm)",
                )
            )
    # the chain to the CAs given
    others = [d for i, (d, _) in enumerate(certs) if i != position]
    analysis = analyse_chain([der, *others], anchors)
    chain = tuple(describe(c.subject) for c in analysis.path)
    trusted = analysis.trusted
    if not trusted:
        missing = describe(analysis.missing_issuer) if analysis.missing_issuer else None
        problems.append(_chain_problem(analysis.end, bool(anchors), missing))
    # validity: now (or --as-of) for the path; at signing time for the signer
    for n, c in enumerate(analysis.path or (cert,)):
        label = (
            "the signer's certificate" if n == 0 else f"the CA certificate {describe(c.subject)}"
        )
        found = _validity(c, at, label)
        if found is not None:
            problems.append(found)
    if signer.signing_time is not None:
        t = signer.signing_time
        if not cert.not_valid_before_utc <= t <= cert.not_valid_after_utc:
            problems.append(
                _p(
                    "smime.expired-at-signing",
                    "fail",
                    f"signed on {t:%Y-%m-%d %H:%M} UTC, outside the certificate's validity "
                    f"({cert.not_valid_before_utc:%Y-%m-%d} to "
                    f"{cert.not_valid_after_utc:%Y-%m-%d})",
                    "the signer used a certificate that was not valid when signing (or the "
                    "signer's clock was wrong)",
                    "renew the certificate, check the sender's clock, and sign again",
                )
            )
        if t > at:
            problems.append(
                _p("smime.signing-time-future", "warning",
                   f"the signing time {t:%Y-%m-%d %H:%M} UTC is after the time of the check",
                   "the signer's clock is ahead, or --as-of is before the message",
                   "check the sender's clock")
            )  # fmt: skip
    problems.extend(_usage(cert))
    found_addr = _address(from_addresses, in_san, in_subject)
    if found_addr is not None:
        problems.append(found_addr)
    return SignerVerdict(
        index=signer.index,
        digest=digest,
        signature_algorithm=signer.signature_name,
        signing_time=signer.signing_time,
        capabilities=signer.capabilities,
        subject=describe(cert.subject),
        issuer=describe(cert.issuer),
        serial=f"{cert.serial_number:x}",
        addresses=in_san,
        subject_email=in_subject,
        digest_matches=digest_ok,
        signature_valid=sig_ok,
        chain=chain,
        trusted=trusted,
        problems=tuple(problems),
    )


def verify_signed(
    sd: SignedData,
    *,
    content: bytes | None,
    anchors: tuple[bytes, ...],
    from_addresses: tuple[str, ...],
    at: datetime,
    form: str,
    micalg_param: str | None = None,
) -> Verdict:
    """The verdict on ``sd``. ``content``: the detached content (``None`` for an opaque
    message, whose content is inside); ``anchors``: DER of the CAs given; ``at``: the time
    validity is judged at (aware)."""
    problems: list[Problem] = []
    body = content if content is not None else sd.content
    if body is None:
        from vedette.smime.asn1 import SmimeError

        raise SmimeError("a detached signature without its content (give the whole message)")
    certs: list[tuple[bytes, x509.Certificate]] = []
    for der in sd.certificates:
        try:
            cert = load_der(der)
            # cryptography parses these lazily: a damaged field fails here, not later
            _ = (cert.subject, cert.issuer, cert.extensions, cert.serial_number)
            _ = (cert.not_valid_before_utc, cert.not_valid_after_utc)
            certs.append((der, cert))
        except _CERT_ERRORS:
            problems.append(
                _p("smime.bad-certificate", "warning", "a certificate carried does not parse",
                   "it is ignored", "ask the sender to check their client's certificate")
            )  # fmt: skip
    if not sd.signers:
        problems.append(
            _p("smime.no-signer", "fail", "the SignedData has no signer",
               "there is no signature to check (a certificate-only .p7b?)",
               "verify a signed message")
        )  # fmt: skip
    signers = tuple(
        _signer_verdict(s, sd, body, certs, anchors, from_addresses, at) for s in sd.signers
    )
    if micalg_param is not None and sd.signers:
        expected = {
            micalg(s.digest) for s in sd.signers if s.digest in {v[0] for v in DIGESTS.values()}
        }
        if (
            expected
            and micalg_param not in expected
            and micalg_param not in {e.replace("-", "") for e in expected}
        ):
            problems.append(
                _p("smime.micalg-mismatch", "warning",
                   f"the micalg parameter says {micalg_param}, the signature uses "
                   f"{', '.join(sorted(expected))}",
                   "RFC 8551 3.5.3.2: some clients check it and fail", "fix the signing client")
            )  # fmt: skip
    return Verdict(
        form=form,
        checked_at=at,
        from_addresses=from_addresses,
        signers=signers,
        problems=tuple(problems),
    )


def recipient_problems(cert: x509.Certificate, address: str, at: datetime) -> tuple[Problem, ...]:
    """Whether ``cert`` is fit to be ``address``'s S/MIME certificate in a directory (Exchange's
    ``UserCertificate``): valid at ``at``, an EKU allowing emailProtection (RFC 8550 4.4.4),
    the address as an rfc822Name (RFC 8550 3; only in the subject is a warning), and a key
    usage that lets senders encrypt to it (keyEncipherment for RSA, keyAgreement for EC; a
    warning: the certificate still verifies signatures). The same checks and ids as
    :func:`verify_signed`, so a ``smime exo`` refusal reads like a ``smime verify`` one."""
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        out: list[Problem] = []
        validity = _validity(cert, at, "the certificate")
        if validity is not None:
            out.append(validity)
        out.extend(p for p in _usage(cert) if p.id == "smime.wrong-eku")
        in_san, in_subject = _emails(cert)
        mismatch = _address((address.lower(),), in_san, in_subject)
        if mismatch is not None:
            out.append(mismatch)
        ku = _ext(cert, x509.KeyUsage)
        if isinstance(ku, x509.KeyUsage):
            is_ec = isinstance(_key(cert), ec.EllipticCurvePublicKey)
            needed = "keyAgreement" if is_ec else "keyEncipherment"
            if not (ku.key_agreement if is_ec else ku.key_encipherment):
                out.append(
                    _p(
                        "smime.key-usage-encryption",
                        "warning",
                        f"the certificate's key usage has no {needed}: nobody can encrypt to it",
                        "RFC 8550 4.4.2: a certificate others encrypt to needs "
                        f"{needed}; this one only verifies signatures",
                        "publish the user's encryption certificate too, or have one issued with "
                        f"{needed} (vedette ca sign --profile smime)",
                    )
                )
    except _CERT_ERRORS as exc:
        return (
            _p(
                "smime.certificate-unreadable",
                "fail",
                "a field of the certificate does not parse",
                " ".join(str(exc).split())[:200],
                "have the certificate issued again",
            ),
        )
    return tuple(out)
