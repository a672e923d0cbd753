"""Builders for the values tests feed vedette: endpoints, observations and certificates.

A test names what matters to it by keyword and takes the rest from a default, so that
``observed_tls(chain, endpoint=endpoint_for(Service.IMAPS))`` reads as what it is instead of
a dozen lines of ``Observation(...)``.

Observations (:mod:`vedette.model`):

* :func:`endpoint_for`: a service on a host, address and port (the service's default port);
* :func:`dialogue_of`, :func:`tls_session`, :func:`failure_of`: the parts of an observation;
* :func:`observed`: an observation of an endpoint with any of those parts;
* :func:`observed_tls`: an observation whose TLS session carries a chain (SNI: the host);
* :func:`observed_failure`: an observation of a probe that stopped short.

Certificates (with cryptography alone, not vedette's CA):

* :func:`certificate`: one certificate with chosen names, validity, key type, signature hash
  and extensions, signed by an issuer (:class:`Made`) or self-signed;
* :func:`chain`: root -> intermediate -> leaf, the way a public or private CA issues them;
* :func:`signer`: a vedette :class:`~vedette.pki.CertificateAuthority` as an issuer here.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from vedette.model import (
    Defence,
    DialogueObservation,
    Endpoint,
    Failure,
    FailureKind,
    Observation,
    Service,
    Stage,
    TlsObservation,
    TlsScan,
)
from vedette.pki import CertificateAuthority
from vedette.pki.ca import new_key

__all__ = [
    "HOST",
    "IP",
    "SERVER_AUTH",
    "T0",
    "Chain",
    "Made",
    "SignatureHash",
    "certificate",
    "chain",
    "dialogue_of",
    "endpoint_for",
    "failure_of",
    "name",
    "observed",
    "observed_failure",
    "observed_tls",
    "signer",
    "tls_session",
]

HOST = "mail.example.test"
IP = "192.0.2.1"
#: The default probe time: fixed, so stored and rendered observations compare equal.
T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH

#: The hashes cryptography signs certificates with (SHA-1 needs ``resign_sha1``).
SignatureHash = (
    hashes.SHA224
    | hashes.SHA256
    | hashes.SHA384
    | hashes.SHA512
    | hashes.SHA3_224
    | hashes.SHA3_256
    | hashes.SHA3_384
    | hashes.SHA3_512
)

# --- observations -------------------------------------------------------------------------------


def endpoint_for(
    service: Service = Service.IMAPS,
    *,
    host: str | None = HOST,
    ip: str | None = IP,
    port: int | None = None,
) -> Endpoint:
    """``service`` on ``host`` (``None``: a bare-IP target) at ``ip``, on ``port`` or the
    service's default port."""
    return Endpoint(
        host=host, ip=ip, port=service.default_port if port is None else port, service=service
    )


def dialogue_of(
    *greeting: str,
    before: Sequence[str] | None = None,
    starttls: Sequence[str] | None = None,
    after: Sequence[str] | None = None,
) -> DialogueObservation:
    """The server's greeting lines, then its capabilities before TLS, its STARTTLS reply and
    its capabilities inside TLS (``None``: not reached)."""
    return DialogueObservation(
        greeting=greeting,
        capabilities_before_tls=None if before is None else tuple(before),
        starttls_reply=None if starttls is None else tuple(starttls),
        capabilities_after_tls=None if after is None else tuple(after),
    )


def tls_session(
    chain: Sequence[bytes] = (),
    *,
    version: str = "TLSv1.3",
    cipher: str = "TLS_AES_128_GCM_SHA256",
    sni: str | None = None,
) -> TlsObservation:
    """A negotiated session whose server sent ``chain`` (DER, leaf first)."""
    return TlsObservation(version=version, cipher=cipher, sni=sni, chain_der=tuple(chain))


def failure_of(
    kind: FailureKind, *, stage: Stage = Stage.CONNECT, detail: str | None = None
) -> Failure:
    """Why a probe stopped short; the detail defaults to the kind's name."""
    return Failure(kind=kind, stage=stage, detail=kind.value if detail is None else detail)


def observed(
    endpoint: Endpoint | None = None,
    *,
    at: datetime = T0,
    duration_s: float = 0.1,
    dialogue: DialogueObservation | None = None,
    tls: TlsObservation | None = None,
    failure: Failure | None = None,
    connections: int = 1,
    tls_scan: TlsScan | None = None,
    defences: Sequence[Defence] = (),
) -> Observation:
    """One probe of ``endpoint`` (default :func:`endpoint_for`'s) started ``at``."""
    return Observation(
        endpoint=endpoint_for() if endpoint is None else endpoint,
        started_at=at,
        duration_s=duration_s,
        dialogue=dialogue,
        tls=tls,
        failure=failure,
        connections=connections,
        tls_scan=tls_scan,
        defences=tuple(defences),
    )


_HOST_SNI = "the endpoint's host"


def observed_tls(
    chain: Sequence[bytes],
    *,
    endpoint: Endpoint | None = None,
    version: str = "TLSv1.3",
    cipher: str = "TLS_AES_128_GCM_SHA256",
    sni: str | None = _HOST_SNI,
    **parts: Any,
) -> Observation:
    """A probe that reached TLS and received ``chain``; the SNI is the endpoint's host unless
    given. ``parts`` are :func:`observed`'s other keywords."""
    ep = endpoint_for() if endpoint is None else endpoint
    session = tls_session(
        chain, version=version, cipher=cipher, sni=ep.host if sni is _HOST_SNI else sni
    )
    return observed(ep, tls=session, **parts)


def observed_failure(
    kind: FailureKind,
    *,
    endpoint: Endpoint | None = None,
    stage: Stage = Stage.CONNECT,
    detail: str | None = None,
    **parts: Any,
) -> Observation:
    """A probe that stopped short with ``kind`` at ``stage``. ``parts`` are :func:`observed`'s
    other keywords."""
    return observed(endpoint, failure=failure_of(kind, stage=stage, detail=detail), **parts)


# --- certificates -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Made:
    """A certificate and its private key: what can issue the next one."""

    cert: x509.Certificate
    key: Any

    @property
    def der(self) -> bytes:
        return self.cert.public_bytes(Encoding.DER)

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(Encoding.PEM)

    def key_pem(self) -> bytes:
        return bytes(
            self.key.private_bytes(
                Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )


def signer(ca: CertificateAuthority) -> Made:
    """A vedette CA as an issuer for :func:`certificate`."""
    return Made(cert=ca.cert, key=ca.issued.key)


def name(cn: str | None) -> x509.Name:
    """``CN=cn``; the empty name for ``None``."""
    return x509.Name([] if cn is None else [x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _general_name(text: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(text))
    except ValueError:
        return x509.DNSName(text)


def certificate(
    subject: str | None,
    *,
    issuer: Made | None = None,
    issuer_name: str | None = None,
    key: Any = None,
    key_type: str = "ec:p256",
    not_before: datetime | None = None,
    days: float = 90,
    not_after: datetime | None = None,
    names: Sequence[str] = (),
    ca: bool | None = None,
    path_length: int | None = None,
    constraints_critical: bool = True,
    key_ids: bool = False,
    key_usage: bool = False,
    eku: Sequence[x509.ObjectIdentifier] = (),
    ca_issuers: Sequence[str] = (),
    ocsp: Sequence[str] = (),
    extensions: Sequence[tuple[x509.ExtensionType, bool]] = (),
    hash_alg: SignatureHash | None = None,
    serial: int | None = None,
) -> Made:
    """A certificate for ``CN=subject`` (no CN for ``None``), nothing in it but what is asked.

    Args:
        issuer: what signs it; self-signed with its own key when ``None``.
        issuer_name: the issuer CN written in it, when it must differ from the signer's
            subject (a chain that only looks issued, for display tests).
        key: its key pair; a new ``key_type`` key (:func:`vedette.pki.ca.new_key`) when
            ``None``.
        not_before: start of validity, default a day ago; ``not_after`` or ``days`` later.
        names: subjectAltName entries: IP addresses as such, anything else a DNS name.
        ca: basicConstraints ``cA`` (``constraints_critical``, with ``path_length``); no
            basicConstraints at all when ``None``.
        key_ids: subject and authority key identifiers.
        key_usage: keyCertSign and cRLSign for a CA, digitalSignature otherwise (critical).
        eku: extendedKeyUsage purposes, e.g. ``(SERVER_AUTH,)``; none when empty.
        ca_issuers, ocsp: authorityInformationAccess URLs.
        extensions: more (extension, critical) pairs, added last.
        hash_alg: signature hash, SHA-256 by default.
        serial: serial number, random by default.
    """
    key = new_key(key_type) if key is None else key
    start = datetime.now(UTC) - timedelta(days=1) if not_before is None else not_before
    end = start + timedelta(days=days) if not_after is None else not_after
    sign_key = key if issuer is None else issuer.key
    if issuer_name is not None:
        issued_by = name(issuer_name)
    else:
        issued_by = name(subject) if issuer is None else issuer.cert.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(issued_by)
        .public_key(key.public_key())
        .serial_number(secrets.randbits(120) | 1 if serial is None else serial)
        .not_valid_before(start)
        .not_valid_after(end)
    )
    if ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=ca, path_length=path_length), critical=constraints_critical
        )
    if key_ids:
        builder = builder.add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        ).add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(sign_key.public_key()),
            critical=False,
        )
    if key_usage:
        usage = (
            x509.KeyUsage(False, False, False, False, False, True, True, False, False)
            if ca
            else x509.KeyUsage(True, False, False, False, False, False, False, False, False)
        )
        builder = builder.add_extension(usage, critical=True)
    if eku:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(eku)), critical=False)
    if names:
        sans = [_general_name(n) for n in names]
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    access = [
        *(
            x509.AccessDescription(
                AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
            )
            for u in ca_issuers
        ),
        *(
            x509.AccessDescription(
                AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
            )
            for u in ocsp
        ),
    ]
    if access:
        builder = builder.add_extension(x509.AuthorityInformationAccess(access), critical=False)
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    cert = builder.sign(sign_key, hashes.SHA256() if hash_alg is None else hash_alg)
    return Made(cert=cert, key=key)


@dataclass(frozen=True)
class Chain:
    """Root, intermediate and leaf (each with its key)."""

    root: Made
    intermediate: Made
    leaf: Made

    @property
    def sent(self) -> tuple[x509.Certificate, ...]:
        """What a server sends: the leaf, then the intermediate."""
        return (self.leaf.cert, self.intermediate.cert)

    @property
    def sent_der(self) -> tuple[bytes, ...]:
        return (self.leaf.der, self.intermediate.der)


def chain(
    names: Sequence[str] = (HOST,),
    *,
    root: str = "Test Root",
    intermediate: str = "Test Issuing CA",
    key_type: str = "ec:p256",
    leaf_key_type: str | None = None,
    hash_alg: SignatureHash | None = None,
    leaf_hash: SignatureHash | None = None,
    not_before: datetime | None = None,
    days: float = 90,
    ca_days: float = 3650,
    eku: Sequence[x509.ObjectIdentifier] = (SERVER_AUTH,),
    aia_base: str | None = None,
) -> Chain:
    """``CN=root`` -> ``CN=intermediate`` -> a leaf for ``names`` (its CN is the first).

    The CAs carry basicConstraints, key identifiers and key usage as a CA's would, the leaf
    serverAuth (``eku``) and its names. ``key_type`` and ``hash_alg`` apply to all three
    unless ``leaf_key_type``/``leaf_hash`` say otherwise; the leaf is valid ``days`` from
    ``not_before`` (default a day ago). With ``aia_base`` the leaf names
    ``{aia_base}/inter.cer`` and the intermediate ``{aia_base}/root.cer`` as caIssuers.
    """
    start = datetime.now(UTC) - timedelta(days=1) if not_before is None else not_before
    ca_kw: dict[str, Any] = {
        "ca": True,
        "key_ids": True,
        "key_usage": True,
        "key_type": key_type,
        "hash_alg": hash_alg,
        "not_before": start,
        "days": ca_days,
    }
    top = certificate(root, **ca_kw)
    mid = certificate(
        intermediate,
        issuer=top,
        ca_issuers=(f"{aia_base}/root.cer",) if aia_base else (),
        **ca_kw,
    )
    leaf = certificate(
        names[0],
        issuer=mid,
        names=names,
        ca=False,
        key_ids=True,
        key_usage=True,
        eku=eku,
        key_type=leaf_key_type or key_type,
        hash_alg=leaf_hash or hash_alg,
        not_before=start,
        days=days,
        ca_issuers=(f"{aia_base}/inter.cer",) if aia_base else (),
    )
    return Chain(root=top, intermediate=mid, leaf=leaf)
