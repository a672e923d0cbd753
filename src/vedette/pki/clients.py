"""Which key type and signature hash every client in play accepts.

``--clients`` names client families or profile ids exactly as in ``vedette scan`` (``ios``,
``outlook``, ``lync``, ``skype``, ``android``, ``java``, ``thunderbird``, ``mta``…, or
``lync-2013-win7``), resolved by the client simulation's own selector over its profile data
(``vedette/trust/data/profiles.json``; ``vedette cert clients --list``). Without
``--clients`` every profile the scan would judge is in play (all but the MTAs).

Two facts of those profiles drive the PKI toolkit's defaults:

* **SHA-512 signatures.** A profile whose rules say ``sha512_tls12: false`` — SChannel on
  Windows 7 / 8.1 / Server 2012 (R2) before KB2973337, hence Lync 2013 and Skype for Business
  2015 clients and Outlook 2013 there — fails a TLS 1.2 handshake with a SHA-512-signed chain
  (``SEC_E_ALGORITHM_MISMATCH``, the seeds' Lync reports). SHA-256 is accepted by every
  profile and is the default; ``--hash sha512`` is refused while such a profile is in play.
  SHA-384 is not affected by that bug and stays allowed.
* **ECDSA.** A profile whose ClientHello offers neither an ECDSA signature algorithm nor an
  ECDHE_ECDSA suite nor TLS 1.3 (Android 2.3, Java 6) cannot use an ECDSA certificate, so the
  default key becomes RSA 2048 — the one key every client accepts — when one is in play, and
  ECDSA P-256 otherwise.
* **Lync and Skype for Business.** Their servers and clients are the other reason for RSA 2048
  even where the TLS stack could take ECDSA: the products' certificate wizards (the Lync/Skype
  Deployment Wizard, ``Request-CsCertificate``) request RSA keys only, and the legacy CryptoAPI
  (CSP) providers those products still use for their certificates' private keys cannot hold an
  ECDSA key (CNG key storage, where ECDSA lives, is what those products do not take). When a
  ``lync`` or ``skype`` profile is in play the default is RSA 2048, and
  :func:`key_type_reason` says why.
"""

from __future__ import annotations

from collections.abc import Iterable

from vedette.errors import UsageError
from vedette.trust import Profile, trust_data
from vedette.trust.simulate import select_profiles

__all__ = [
    "ECDSA_KEY_TYPE",
    "RSA_KEY_TYPE",
    "default_key_type",
    "key_type_reason",
    "parse_clients",
    "signature_hash",
    "supports_ecdsa",
]

ECDSA_KEY_TYPE = "ec:p256"
RSA_KEY_TYPE = "rsa:2048"

# TLS 1.2 and older ECDHE_ECDSA / ECDH_ECDSA suites (IANA code points).
_ECDSA_SUITES = frozenset(
    {0xC006, 0xC007, 0xC008, 0xC009, 0xC00A, 0xC023, 0xC024, 0xC02B, 0xC02C, 0xCCA9,
     0xC0AC, 0xC0AD, 0xC0AE, 0xC0AF, 0xC048, 0xC049, 0xC05C, 0xC05D, 0xC072, 0xC073}
)  # fmt: skip


def parse_clients(values: str | Iterable[str] | None) -> tuple[Profile, ...]:
    """The profiles in play for ``--clients a,b`` (repeatable); all non-MTA ones when none."""
    parts = [] if values is None else [values] if isinstance(values, str) else list(values)
    names = [n.strip() for part in parts for n in part.split(",") if n.strip()]
    return select_profiles(trust_data().profiles, names, relay=None)


def supports_ecdsa(profile: Profile) -> bool:
    hello = profile.hello
    return (
        "TLSv1.3" in hello.versions
        or any("ecdsa" in s for s in hello.sigalgs)
        or bool(set(hello.suites) & _ECDSA_SUITES)
    )


#: Client families whose products need RSA certificates whatever their TLS stack offers.
RSA_ONLY_FAMILIES = frozenset({"lync", "skype"})


def key_type_reason(profiles: Iterable[Profile]) -> str | None:
    """Why the default key is RSA 2048 for these profiles (``None`` when ECDSA P-256 suits)."""
    chosen = list(profiles)
    uc = sorted({p.family for p in chosen if p.family in RSA_ONLY_FAMILIES})
    if uc:
        return (
            f"RSA 2048 because {'/'.join(uc)} clients are in play: Lync and Skype for Business "
            "keep certificate keys in legacy CryptoAPI providers and their certificate wizards "
            "request RSA keys only"
        )
    no_ecdsa = [p.id for p in chosen if not supports_ecdsa(p)]
    if no_ecdsa:
        shown = ", ".join(no_ecdsa[:4]) + (
            f" and {len(no_ecdsa) - 4} more" if len(no_ecdsa) > 4 else ""
        )
        return f"RSA 2048 because {shown} cannot use ECDSA certificates"
    return None


def default_key_type(profiles: Iterable[Profile]) -> str:
    """ECDSA P-256 when every profile can use it and no Lync/Skype is in play, else RSA 2048."""
    return RSA_KEY_TYPE if key_type_reason(profiles) is not None else ECDSA_KEY_TYPE


def signature_hash(profiles: Iterable[Profile], requested: str | None = None) -> str:
    """``requested`` (``--hash``) or SHA-256; SHA-512 refused for legacy SChannel profiles."""
    if requested is None:
        return "sha256"
    requested = requested.lower()
    if requested not in ("sha256", "sha384", "sha512"):
        raise UsageError(f"unknown hash {requested!r} (expected sha256, sha384 or sha512)")
    legacy = sorted(p.id for p in profiles if not p.rules.sha512_tls12)
    if requested == "sha512" and legacy:
        shown = ", ".join(legacy[:4]) + (f" and {len(legacy) - 4} more" if len(legacy) > 4 else "")
        raise UsageError(
            f"--hash sha512: {shown} (SChannel before KB2973337) fail on SHA-512-signed "
            "chains with SEC_E_ALGORITHM_MISMATCH; use sha256, or leave those clients out "
            "with --clients"
        )
    return requested
