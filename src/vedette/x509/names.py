"""Does a certificate name the host a client connected to? (RFC 6125, RFC 9525, CA/B Forum.)

The rules vedette applies are the ones today's clients enforce, which are stricter than what
RFC 6125 (2011) still tolerated:

* **SAN only.** Names come from the subjectAltName extension: ``dNSName`` entries for a host
  name, ``iPAddress`` entries for an IP address. The subject Common Name is *ignored*, even
  when the certificate has no SAN at all (RFC 9525 section 6.3 removed the CN fallback; Chrome
  since 58, Firefox since 48 for publicly-trusted certificates, Apple and Go since 2019/2020 do
  the same; CA/B Forum BR 7.1.2.7.x require the SAN). A CN-only certificate is therefore a
  mismatch; :class:`NameMatch.common_names` lets the report say "the name is only in the CN".
* **Wildcards** only as the entire left-most label (``*.example.com``), matching exactly one
  non-empty label: ``*.example.com`` matches ``mail.example.com`` but neither
  ``example.com`` nor ``a.b.example.com``. Partial-label wildcards (``f*.example.com``,
  ``*mail.example.com``) are refused, as browsers and the CA/B Forum do (RFC 6125 section
  6.4.3 allowed them as a MAY). A wildcard whose remainder is a public suffix (``*.com``,
  ``*.co.uk``) never matches; vedette does not ship the Public Suffix List, so the rule is "at
  least two labels after the wildcard, and those two labels are not a well-known two-label
  suffix" (:data:`_TWO_LABEL_SUFFIXES`).
* **Case-insensitive**, and a single **trailing dot** (``mail.example.com.``, the absolute
  form) is ignored on both sides.
* **IDNA.** Certificates carry A-labels (``xn--...``, IA5String); a host given with Unicode
  labels is converted to A-labels with Python's ``idna`` codec (IDNA 2003; the common
  names compare the same under IDNA 2008) before comparing.
* **IP addresses** (IPv4 or IPv6, any textual form) match ``iPAddress`` entries by value,
  never a ``dNSName`` that spells the address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.x509.oid import NameOID

__all__ = ["NameMatch", "dns_name_matches", "match_certificate", "normalize_host"]

# Two-label public suffixes common enough to meet in mail certificates. A wildcard directly
# above one of them would cover every registrant below it.
_TWO_LABEL_SUFFIXES = frozenset(
    {
        "co.uk", "org.uk", "ac.uk", "gov.uk", "me.uk", "ltd.uk", "plc.uk", "net.uk",
        "com.au", "net.au", "org.au", "edu.au", "gov.au",
        "co.jp", "ne.jp", "or.jp", "ac.jp", "go.jp",
        "co.nz", "org.nz", "net.nz",
        "com.br", "net.br", "org.br", "gov.br",
        "com.cn", "net.cn", "org.cn", "gov.cn",
        "co.in", "net.in", "org.in", "gov.in",
        "co.za", "org.za", "gov.za",
        "com.mx", "com.ar", "com.tr", "com.tw", "com.hk", "com.sg", "com.my",
        "co.kr", "or.kr", "co.il", "org.il", "ac.il", "co.id", "or.id",
        "com.pl", "net.pl", "org.pl", "co.at", "or.at", "gv.at",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class NameMatch:
    """The outcome of matching one target against one certificate.

    Attributes:
        target: the host or address as given.
        matched: the certificate is valid for ``target``.
        matched_by: the SAN entry that matched (``*.example.com``, ``192.0.2.1``), or ``None``.
        dns_names: the certificate's dNSName SAN entries, as written.
        ip_addresses: the certificate's iPAddress SAN entries, as text.
        common_names: the subject CN values (informational: never used for matching).
        has_san: the certificate has a subjectAltName extension.
    """

    target: str
    matched: bool
    matched_by: str | None
    dns_names: tuple[str, ...]
    ip_addresses: tuple[str, ...]
    common_names: tuple[str, ...]
    has_san: bool

    def describe(self) -> str:
        """One sentence for a report: what was tried against what the certificate names."""
        if self.matched:
            return f"{self.target} matches {self.matched_by}"
        names = [*self.dns_names, *self.ip_addresses]
        if names:
            listed = ", ".join(names[:20]) + (
                f" (+{len(names) - 20} more)" if len(names) > 20 else ""
            )
            text = f"{self.target} is not among the certificate's names: {listed}"
        elif self.has_san:
            text = f"{self.target}: the certificate's subjectAltName has no DNS name or IP address"
        else:
            text = f"{self.target}: the certificate has no subjectAltName extension"
        if not names and self.common_names:
            cn = ", ".join(self.common_names)
            text += (
                f"; the subject CN ({cn}) is ignored by current clients, which only read "
                "subjectAltName"
            )
        return text


def normalize_host(host: str) -> str:
    """Lower-case, without one trailing dot, Unicode labels converted to A-labels.

    Raises ``ValueError`` for a name that cannot be IDNA-encoded (empty labels, overlong).
    """
    h = host.strip()
    if h.endswith("."):
        h = h[:-1]
    if not h:
        raise ValueError("empty host name")
    if not h.isascii():
        try:
            h = h.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise ValueError(f"cannot IDNA-encode {host!r}: {exc}") from None
    return h.lower()


def _suffix_too_broad(rest: list[str]) -> bool:
    if len(rest) < 2:
        return True
    return len(rest) == 2 and ".".join(rest) in _TWO_LABEL_SUFFIXES


def dns_name_matches(pattern: str, host: str) -> bool:
    """Whether the SAN dNSName ``pattern`` covers ``host`` under the rules of this module."""
    try:
        pat = normalize_host(pattern)
        name = normalize_host(host)
    except ValueError:
        return False
    p_labels = pat.split(".")
    h_labels = name.split(".")
    if any(not label for label in p_labels) or any(not label for label in h_labels):
        return False  # empty labels ("a..b") never match
    if "*" not in pat:
        return pat == name
    first, rest = p_labels[0], p_labels[1:]
    if first != "*" or any("*" in label for label in rest):
        return False  # partial-label or non-left-most wildcards are refused
    if _suffix_too_broad(rest):
        return False
    if len(h_labels) != len(p_labels):
        return False  # the wildcard stands for exactly one label
    return h_labels[1:] == rest


def _ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    t = text.strip()
    if t.startswith("[") and t.endswith("]"):
        t = t[1:-1]
    try:
        return ipaddress.ip_address(t)
    except ValueError:
        return None


def match_certificate(cert: x509.Certificate, target: str) -> NameMatch:
    """Match ``target`` (a host name or an IP address) against ``cert``'s SAN."""
    dns: tuple[str, ...] = ()
    ips: tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, ...] = ()
    has_san = False
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        pass  # a malformed extension names nothing a client would accept
    else:
        has_san = True
        dns = tuple(san.get_values_for_type(x509.DNSName))
        ips = tuple(
            ip
            for ip in san.get_values_for_type(x509.IPAddress)
            if isinstance(ip, (ipaddress.IPv4Address, ipaddress.IPv6Address))
        )
    try:
        cns = tuple(str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME))
    except ValueError:
        cns = ()

    matched_by: str | None = None
    addr = _ip(target)
    if addr is not None:
        matched_by = next((str(ip) for ip in ips if ip == addr), None)
    else:
        matched_by = next((d for d in dns if dns_name_matches(d, target)), None)
    return NameMatch(
        target=target,
        matched=matched_by is not None,
        matched_by=matched_by,
        dns_names=dns,
        ip_addresses=tuple(str(ip) for ip in ips),
        common_names=cns,
        has_san=has_san,
    )


def name_text(name: x509.GeneralName) -> str:
    """``DNS:x``, ``IP:x``, ``email:x``, ``URI:x`` (OpenSSL's spelling)."""
    if isinstance(name, x509.DNSName):
        return f"DNS:{name.value}"
    if isinstance(name, x509.IPAddress):
        return f"IP:{name.value}"
    if isinstance(name, x509.RFC822Name):
        return f"email:{name.value}"
    if isinstance(name, x509.UniformResourceIdentifier):
        return f"URI:{name.value}"
    if isinstance(name, x509.DirectoryName):
        return f"DirName:{name.value.rfc4514_string()}"
    if isinstance(name, x509.RegisteredID):
        return f"RID:{name.value.dotted_string}"
    if isinstance(name, x509.OtherName):
        return f"othername:{name.type_id.dotted_string}"
    return repr(name)
