"""Certificate signing requests (PKCS#10): from names, or mirroring a certificate in service.

Renewal is the common case: the certificate on ``mail.example.com:993`` expires and the new
one must carry the same subject and the same names (``mail``, ``autodiscover``, ``imap``,
``smtp``...). Appliance wizards make the administrator retype them, and one forgotten name is
a ``cert.name-mismatch`` on the next Monday. :func:`names_like` copies them from the
certificate itself (read from a file, or fetched from the server by the command), so the CSR
carries *exactly* the old names, plus any added with ``--san``.

Names. A name given on the command line is an IP address when it parses as one, else a DNS
name (lower-cased, IDNA A-labels, one leading ``*.`` wildcard label allowed); ``email:``,
``URI:``, ``DNS:`` and ``IP:`` prefixes say so explicitly. The CA/Browser Forum requires the CN
of a server certificate to be one of its SANs (BR 7.1.4.3), and current clients ignore the CN
anyway, so a CN that is a host name is also put in the SAN list (first) when missing.

The CSR carries the subject and a subjectAltName extension; usages and lifetimes are the CA's
decision (``vedette ca sign --profile``), as in AD CS templates. A product preset (``cert csr
--for skype-server``) also asks for its EKUs: an extendedKeyUsage in the requested extensions
(PKCS#9 extensionRequest), as ``certreq`` does from an INF's ``[EnhancedKeyUsageExtension]``,
so that a CA which copies requested extensions (AD CS with a template that allows it, a
public CA's order form, ``openssl ca -copy_extensions``) sees what the product needs.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from vedette.errors import PkiError, UsageError
from vedette.pki.ca import _HASHES as _HASH
from vedette.pki.ca import PrivateKey
from vedette.x509.names import name_text as name_text

__all__ = [
    "build_csr",
    "general_name",
    "merge_names",
    "name_text",
    "names_like",
    "parse_subject",
    "verify_csr",
]

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")


def _dns(name: str) -> str:
    raw = name.strip().rstrip(".")
    wildcard = raw.startswith("*.")
    body = raw[2:] if wildcard else raw
    try:
        body = body.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UsageError(f"invalid DNS name {name!r}") from None
    labels = body.split(".")
    if not body or len(body) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UsageError(f"invalid DNS name {name!r}")
    return ("*." if wildcard else "") + body


def general_name(text: str) -> x509.GeneralName:
    """A SAN from ``--san`` text: ``DNS:``/``IP:``/``email:``/``URI:`` prefix or guessed."""
    kind, sep, value = text.partition(":")
    k = kind.strip().lower()
    if sep and k in ("dns", "ip", "email", "uri"):
        if k == "dns":
            return x509.DNSName(_dns(value))
        if k == "ip":
            try:
                return x509.IPAddress(ipaddress.ip_address(value.strip().strip("[]")))
            except ValueError:
                raise UsageError(f"invalid IP address {value!r}") from None
        if k == "email":
            if not _EMAIL.match(value.strip()):
                raise UsageError(f"invalid e-mail address {value!r}")
            return x509.RFC822Name(value.strip())
        return x509.UniformResourceIdentifier(value.strip())
    try:
        return x509.IPAddress(ipaddress.ip_address(text.strip().strip("[]")))
    except ValueError:
        pass
    if _EMAIL.match(text.strip()):
        return x509.RFC822Name(text.strip())
    return x509.DNSName(_dns(text))


def parse_subject(
    *,
    subject: str | None = None,
    cn: str | None = None,
    org: str | None = None,
    ou: str | None = None,
    country: str | None = None,
    state: str | None = None,
    locality: str | None = None,
) -> x509.Name:
    """A subject from an RFC 4514 string (``CN=mail.example.com,O=Example``) or the parts."""
    if subject is not None:
        if any(v is not None for v in (cn, org, ou, country, state, locality)):
            raise UsageError("--subject cannot be combined with --cn/--org/--ou/--country...")
        try:
            return x509.Name.from_rfc4514_string(subject)
        except ValueError as exc:
            raise UsageError(f"--subject {subject!r}: {exc}") from None
    attrs: list[x509.NameAttribute[str]] = []
    for oid, value in (
        (NameOID.COUNTRY_NAME, country),
        (NameOID.STATE_OR_PROVINCE_NAME, state),
        (NameOID.LOCALITY_NAME, locality),
        (NameOID.ORGANIZATION_NAME, org),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, ou),
        (NameOID.COMMON_NAME, cn),
    ):
        if value is None:
            continue
        if oid == NameOID.COUNTRY_NAME and (len(value) != 2 or not value.isalpha()):
            raise UsageError(f"--country {value!r}: a two-letter ISO 3166 code, e.g. FR")
        if not value or len(value) > 64:
            raise UsageError(f"subject attribute {value!r} must be 1 to 64 characters")
        try:
            attrs.append(x509.NameAttribute(oid, value))
        except ValueError as exc:
            raise UsageError(str(exc)) from None
    return x509.Name(attrs)


def names_like(cert: x509.Certificate) -> tuple[x509.Name, tuple[x509.GeneralName, ...]]:
    """The subject and subjectAltNames of ``cert``, to be requested again."""
    try:
        subject = cert.subject
        list(subject)  # force parsing: cryptography is lazy
    except ValueError as exc:
        raise PkiError(f"the certificate's subject does not parse: {exc}") from None
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names: tuple[x509.GeneralName, ...] = tuple(san)
    except x509.ExtensionNotFound:
        names = ()
    except ValueError as exc:
        raise PkiError(f"the certificate's subjectAltName does not parse: {exc}") from None
    return subject, names


def _cn(subject: x509.Name) -> str | None:
    for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
        if isinstance(attr.value, str):
            return attr.value
    return None


def merge_names(
    subject: x509.Name, *groups: Sequence[x509.GeneralName]
) -> tuple[x509.GeneralName, ...]:
    """SANs in order, duplicates dropped; a host-name CN not among them goes first."""
    out: list[x509.GeneralName] = []
    for group in groups:
        for name in group:
            if name not in out:
                out.append(name)
    cn = _cn(subject)
    if cn is not None:
        try:
            cn_name = general_name(cn)
        except UsageError:
            cn_name = None  # a CN like "Exchange Server 2016" is not a host name
        if isinstance(cn_name, x509.DNSName | x509.IPAddress) and cn_name not in out:
            out.insert(0, cn_name)
    return tuple(out)


def build_csr(
    key: PrivateKey,
    subject: x509.Name,
    names: Sequence[x509.GeneralName],
    *,
    hash_alg: str = "sha256",
    ekus: Sequence[x509.ObjectIdentifier] = (),
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request signed by ``key`` for ``subject`` and ``names``, asking for the
    extended key usages ``ekus`` when given (non-critical, in the order given)."""
    if not names and _cn(subject) is None:
        raise UsageError("a request needs a name: give --cn, --san or --like")
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(list(names)), critical=False)
    if ekus:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(dict.fromkeys(ekus))),
                                        critical=False)  # fmt: skip
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return builder.sign(key, None)
    return builder.sign(key, _HASH[hash_alg]())


def verify_csr(csr: x509.CertificateSigningRequest, source: str) -> None:
    """PkiError unless the request's self-signature verifies (proof of key possession)."""
    try:
        ok = csr.is_signature_valid
    except Exception as exc:  # unsupported algorithm, malformed key
        raise PkiError(f"{source}: the request's signature cannot be checked: {exc}") from None
    if not ok:
        raise PkiError(
            f"{source}: the request's signature does not verify (altered after signing, or damaged)"
        )
