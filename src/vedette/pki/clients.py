"""Which key type and signature hash the clients in play accept.

``--clients`` names client families, as in ``vedette scan``. Until the client-profile data of
the simulation work is in the tree, this module carries the two facts the PKI toolkit needs,
with their sources, keyed by family name:

* **SHA-512 signatures break legacy SChannel.** Windows 7 / Server 2008 R2 and older SChannel
  (and therefore Lync 2013 / Skype for Business 2015 clients and phones on them, Outlook 2010
  on Windows 7) do not offer rsa_pkcs1_sha512 / ecdsa_secp521r1_sha512 in TLS 1.2
  ``signature_algorithms``; a chain signed with SHA-512 then fails with
  ``SEC_E_ALGORITHM_MISMATCH`` (Microsoft KB 2973337; the Lync 2013 reports in vedette's
  seeds). SHA-256 is accepted by every family here, so it is the default, and SHA-384/512 are
  refused when such a family is in play.
* **ECDSA keys need a modern client.** Windows XP / Server 2003, Android before 4.0, Java 6,
  and many appliance MTAs and desk phones have no ECDSA: for them the key must be RSA.

Family names (case-insensitive):

    legacy SChannel (no SHA-512):  lync2013, sfb2015, windows7, windows2008r2, outlook2010,
                                   schannel-legacy, windowsxp, windows2003
    no ECDSA:                      windowsxp, windows2003, android2, java6, appliance-legacy
    modern (everything here):      windows10, windows11, macos, ios, android, thunderbird,
                                   outlook, java8, java11, openssl3, postfix, exim, dovecot

An unknown name is an error, so a typo cannot silently weaken the rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from vedette.errors import UsageError

__all__ = [
    "DEFAULT_KEY_TYPE",
    "LEGACY_SCHANNEL",
    "NO_ECDSA",
    "default_key_type",
    "parse_clients",
    "signature_hash",
]

LEGACY_SCHANNEL = frozenset(
    {
        "lync2013",
        "sfb2015",
        "windows7",
        "windows2008r2",
        "outlook2010",
        "schannel-legacy",
        "windowsxp",
        "windows2003",
    }
)
NO_ECDSA = frozenset({"windowsxp", "windows2003", "android2", "java6", "appliance-legacy"})
MODERN = frozenset(
    {
        "windows10",
        "windows11",
        "macos",
        "ios",
        "android",
        "thunderbird",
        "outlook",
        "java8",
        "java11",
        "openssl3",
        "postfix",
        "exim",
        "dovecot",
    }
)
KNOWN = LEGACY_SCHANNEL | NO_ECDSA | MODERN

#: The key type when no client family is named: P-256 is accepted by every client made
#: after 2011 and is fast; RSA is chosen when a family without ECDSA is named.
DEFAULT_KEY_TYPE = "ec:p256"
RSA_KEY_TYPE = "rsa:3072"


def parse_clients(text: str | Iterable[str] | None) -> frozenset[str]:
    """``--clients a,b`` (repeatable) as a set of known family names; UsageError otherwise."""
    if text is None:
        return frozenset()
    parts = [text] if isinstance(text, str) else list(text)
    names = {n.strip().lower() for part in parts for n in part.split(",") if n.strip()}
    unknown = sorted(names - KNOWN)
    if unknown:
        raise UsageError(
            f"unknown client famil{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)} "
            f"(known: {', '.join(sorted(KNOWN))})"
        )
    return frozenset(names)


def default_key_type(clients: frozenset[str]) -> str:
    """The key type every named client accepts."""
    return RSA_KEY_TYPE if clients & NO_ECDSA else DEFAULT_KEY_TYPE


def signature_hash(clients: frozenset[str], requested: str | None = None) -> str:
    """The signature hash for a certificate these clients must accept.

    ``requested`` (``--hash``) is honoured unless a legacy SChannel family is in play and it
    is not SHA-256, which is a UsageError naming the family.
    """
    if requested is None:
        return "sha256"
    requested = requested.lower()
    if requested not in ("sha256", "sha384", "sha512"):
        raise UsageError(f"unknown hash {requested!r} (expected sha256, sha384 or sha512)")
    legacy = sorted(clients & LEGACY_SCHANNEL)
    if requested != "sha256" and legacy:
        raise UsageError(
            f"--hash {requested}: {', '.join(legacy)} (legacy SChannel) fail on "
            f"{requested.upper()}-signed chains with SEC_E_ALGORITHM_MISMATCH; use sha256"
        )
    return requested
