"""Revocation, opt-in (``--check-revocation``): ask the CA's OCSP responder about the leaf.

Split the usual way: building the OCSP request and judging the response are pure functions
(:func:`ocsp_request`, :func:`judge_ocsp`); :func:`check_revocation` is the only I/O, a single
HTTP POST per certificate with a deadline and a size bound (the shared
:mod:`vedette.http_fetch` client, as for AIA), to the ``http://`` URL the
certificate itself names in its Authority Information Access (RFC 6960 appendix A.1; OCSP over
HTTPS would need a chain of its own). Nothing here runs unless the user asks: revocation
checking sends the certificate's serial to a third party, and tests only ever talk to a
responder they start on loopback.

What clients do with revocation varies (Chrome uses CRLSets, not OCSP; most mail clients soft-
fail when the responder is unreachable), so the result is reported as a fact about the
certificate, in the matrix's notes, not as a per-client verdict.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from cryptography.x509.oid import AuthorityInformationAccessOID

from vedette.http_fetch import DEADLINE, FetchError, http_fetch
from vedette.x509.legacy_algorithms import public_key_of

__all__ = ["RevocationResult", "check_revocation", "judge_ocsp", "ocsp_request", "ocsp_url"]

#: OCSP responses are small (a few KiB); anything larger is refused.
MAX_RESPONSE = 256 * 1024


@dataclass(frozen=True, slots=True, kw_only=True)
class RevocationResult:
    """What the responder said.

    Attributes:
        status: ``good``, ``revoked``, ``unknown`` (the responder does not know the
            certificate) or ``error`` (no answer, a malformed or unsigned one).
        detail: one line for the report.
        url: the responder asked.
    """

    status: str
    detail: str
    url: str | None = None


def ocsp_url(cert: x509.Certificate) -> str | None:
    """The first ``http://`` OCSP URL of the certificate's AIA, ``None`` without one."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except (x509.ExtensionNotFound, ValueError):
        return None
    for d in aia:
        if d.access_method == AuthorityInformationAccessOID.OCSP and isinstance(
            d.access_location, x509.UniformResourceIdentifier
        ):
            url = d.access_location.value
            if url.lower().startswith("http://"):
                return url
    return None


def ocsp_request(cert: x509.Certificate, issuer: x509.Certificate) -> bytes:
    """DER OCSPRequest for ``cert`` (CertID with SHA-1, as RFC 5019 profiles it)."""
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA1())  # noqa: S303
    return builder.build().public_bytes(serialization.Encoding.DER)


def judge_ocsp(
    response_der: bytes, cert: x509.Certificate, issuer: x509.Certificate, now: datetime
) -> RevocationResult:
    """The status in an OCSP response, after checking it is about ``cert`` and signed by the
    issuer (or by a responder certificate the issuer delegated to, RFC 6960 4.2.2.2)."""
    try:
        resp = ocsp.load_der_ocsp_response(response_der)
    except ValueError as exc:
        return RevocationResult(status="error", detail=f"malformed OCSP response ({exc})")
    if resp.response_status is not ocsp.OCSPResponseStatus.SUCCESSFUL:
        return RevocationResult(
            status="error", detail=f"responder said {resp.response_status.name}"
        )
    if resp.serial_number != cert.serial_number:
        return RevocationResult(status="error", detail="the response is about another certificate")
    signer = issuer
    for candidate in resp.certificates:
        if candidate.subject != issuer.subject and candidate.issuer == issuer.subject:
            signer = candidate  # a delegated responder, itself signed by the issuer
            try:
                candidate.verify_directly_issued_by(issuer)
            except Exception:  # any failure (bad signature, odd key): not a trusted responder
                return RevocationResult(status="error", detail="untrusted responder certificate")
    try:
        key = public_key_of(signer)
        hash_alg = resp.signature_hash_algorithm
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        if isinstance(key, rsa.RSAPublicKey) and hash_alg is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, padding.PKCS1v15(), hash_alg)
        elif isinstance(key, ec.EllipticCurvePublicKey) and hash_alg is not None:
            key.verify(resp.signature, resp.tbs_response_bytes, ec.ECDSA(hash_alg))
        else:
            return RevocationResult(status="error", detail="unsupported responder key")
    except Exception:  # InvalidSignature and friends: the answer is not trusted
        return RevocationResult(status="error", detail="the response signature does not verify")
    next_update = resp.next_update_utc
    if next_update is not None and next_update < now:
        return RevocationResult(status="error", detail="the response is stale (nextUpdate passed)")
    status = resp.certificate_status
    if status is ocsp.OCSPCertStatus.GOOD:
        return RevocationResult(status="good", detail="not revoked (OCSP)")
    if status is ocsp.OCSPCertStatus.REVOKED:
        when = resp.revocation_time_utc
        reason = resp.revocation_reason
        text = f"REVOKED on {when:%Y-%m-%d}" if when is not None else "REVOKED"
        if reason is not None:
            text += f" ({reason.value})"
        return RevocationResult(status="revoked", detail=text)
    return RevocationResult(status="unknown", detail="the responder does not know this certificate")


def check_revocation(
    leaf: x509.Certificate,
    issuer: x509.Certificate,
    now: datetime,
    *,
    resolver: tuple[str, int] | None = None,
    timeout: float = DEADLINE,
) -> RevocationResult:
    """Ask the leaf's OCSP responder: one POST, ``timeout`` seconds for the whole exchange and
    at most :data:`MAX_RESPONSE` bytes.

    Through :func:`vedette.http_fetch.http_fetch`: the responder's name goes through vedette's
    resolver (``resolver``, never the system's) and the request to the address it returns,
    with the name in the Host header; no proxy from the environment, no redirect.
    """
    url = ocsp_url(leaf)
    if url is None:
        return RevocationResult(status="error", detail="the certificate names no http OCSP URL")
    try:
        body = asyncio.run(
            http_fetch(
                url,
                method="POST",
                body=ocsp_request(leaf, issuer),
                content_type="application/ocsp-request",
                max_body=MAX_RESPONSE,
                resolver=resolver,
                deadline=timeout,
            )
        )
    except FetchError as exc:
        return RevocationResult(status="error", detail=f"no answer from {exc}", url=url)
    result = judge_ocsp(body, leaf, issuer, now)
    return RevocationResult(status=result.status, detail=result.detail, url=url)
