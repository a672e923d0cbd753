"""What Windows services want of a key and its certificate, per product, and ``certreq`` INF files.

The facts live in ``data/windows_presets.json``, each with its sources and a ``verified`` flag
(false when it is vedette's inference, with a note saying from what): the key type, the
provider (a CryptoAPI CSP, or none for products that read CNG keys), the KeySpec, the EKUs,
whether the product requires a CRL distribution point, whether the PFX must use the legacy
encryption (Windows Server 2016 and older), the machine key set and exportability.

``certreq_inf`` writes the INF an administrator runs ``certreq -new`` on, to make the key on
the server itself: without a ``ProviderName``, Windows Server's certreq puts the key in the
Microsoft Software Key Storage Provider (CNG), the Skype for Business failure of field note
003. Pure: the data file is read once, text out.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.x509.oid import NameOID

from vedette.errors import PkiError
from vedette.pki.keys import KEY_TYPES
from vedette.pki.pkcs12 import KEY_USAGE_BYTE, PROVIDERS, KeySpec, parse_keyspec

__all__ = [
    "EKUS",
    "Fact",
    "Preset",
    "Source",
    "certreq_inf",
    "preset",
    "presets",
    "subject_text",
]

DATA = Path(__file__).parent / "data" / "windows_presets.json"

#: EKU names used in the data, with their OIDs.
EKUS = {
    "serverAuth": "1.3.6.1.5.5.7.3.1",
    "clientAuth": "1.3.6.1.5.5.7.3.2",
}
_EKU_TEXT = {"serverAuth": "Server Authentication", "clientAuth": "Client Authentication"}
_FACTS = (
    "key",
    "provider",
    "keyspec",
    "ekus",
    "crl_distribution_point",
    "legacy_pkcs12",
    "machine_keyset",
    "exportable",
)


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    title: str
    url: str
    says: str


@dataclass(frozen=True, slots=True)
class Fact:
    """One fact of a preset: its value, the ids of its sources, whether a source's text says
    it (``verified``), and a note."""

    value: Any
    sources: tuple[str, ...]
    verified: bool
    note: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Preset:
    id: str
    title: str
    key_type: str
    provider: str | None
    keyspec: KeySpec | None
    ekus: tuple[str, ...]
    crl_distribution_point: bool
    legacy_pkcs12: bool
    machine_keyset: bool
    exportable: bool
    facts: dict[str, Fact]
    sources: dict[str, Source]

    def unverified(self) -> list[str]:
        """The names of the facts no source was read saying."""
        return [name for name, fact in self.facts.items() if not fact.verified]


def _load(doc: dict[str, Any]) -> dict[str, Preset]:
    sources = {
        sid: Source(sid, s["title"], s["url"], s["says"]) for sid, s in doc["sources"].items()
    }
    out: dict[str, Preset] = {}
    for pid, entry in doc["presets"].items():
        facts: dict[str, Fact] = {}
        for name in _FACTS:
            raw = entry[name]
            fact = Fact(raw["value"], tuple(raw["sources"]), bool(raw["verified"]), raw.get("note"))
            if any(s not in sources for s in fact.sources):
                raise PkiError(f"{DATA.name}: {pid}.{name}: a source is not in the sources")
            if fact.verified and not fact.sources:
                raise PkiError(f"{DATA.name}: {pid}.{name}: verified, but by no source")
            if not fact.verified and not fact.note:
                raise PkiError(f"{DATA.name}: {pid}.{name}: unverified, without a note saying why")
            facts[name] = fact
        key = facts["key"].value
        provider = facts["provider"].value
        keyspec = facts["keyspec"].value
        ekus = tuple(facts["ekus"].value)
        if key not in KEY_TYPES or (provider is not None and provider not in PROVIDERS):
            raise PkiError(f"{DATA.name}: {pid}: unknown key type or provider")
        if any(e not in EKUS for e in ekus):
            raise PkiError(f"{DATA.name}: {pid}: unknown EKU")
        out[pid] = Preset(
            id=pid,
            title=entry["title"],
            key_type=key,
            provider=provider,
            keyspec=None if keyspec is None else parse_keyspec(keyspec),
            ekus=ekus,
            crl_distribution_point=bool(facts["crl_distribution_point"].value),
            legacy_pkcs12=bool(facts["legacy_pkcs12"].value),
            machine_keyset=bool(facts["machine_keyset"].value),
            exportable=bool(facts["exportable"].value),
            facts=facts,
            sources={s: sources[s] for f in facts.values() for s in f.sources},
        )
    return out


@functools.cache
def presets() -> dict[str, Preset]:
    """Every preset, by id (``skype-server``, ``lync-server``, ``exchange``, ``iis``, ``adfs``)."""
    return _load(json.loads(DATA.read_text(encoding="utf-8")))


def preset(name: str) -> Preset:
    """The preset ``name``; a one-line PkiError listing the known ones otherwise."""
    found = presets().get(name)
    if found is None:
        shown = name if len(name) <= 40 else name[:40] + "..."
        raise PkiError(f"no preset {shown!r}: say one of {', '.join(sorted(presets()))}")
    return found


# --- certreq INF ---------------------------------------------------------------------------------


def _inf_value(text: str, what: str) -> str:
    """``text`` as a quoted INF value (a quote doubled); control characters are refused."""
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
        raise PkiError(f"the {what} holds a control character, which an INF file cannot carry")
    return '"' + text.replace('"', '""') + '"'


#: X.500 keys certreq's Subject (CertStrToName) reads, by attribute OID.
_X500_KEYS = {
    NameOID.COMMON_NAME: "CN",
    NameOID.ORGANIZATION_NAME: "O",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "OU",
    NameOID.COUNTRY_NAME: "C",
    NameOID.STATE_OR_PROVINCE_NAME: "S",
    NameOID.LOCALITY_NAME: "L",
    NameOID.STREET_ADDRESS: "STREET",
    NameOID.EMAIL_ADDRESS: "E",
    NameOID.DOMAIN_COMPONENT: "DC",
    NameOID.SERIAL_NUMBER: "SERIALNUMBER",
}
_X500_SPECIAL = set(',+="\\<>#;')


def subject_text(name: x509.Name) -> str:
    """``name`` in certreq's Subject syntax (most specific first, ``, `` between RDNs), a
    value with a special character in double quotes (a quote doubled)."""
    rdns = []
    for rdn in reversed(name.rdns):
        parts = []
        for attr in rdn:
            key = _X500_KEYS.get(attr.oid)
            if key is None:
                raise PkiError(
                    f"the subject attribute {attr.oid.dotted_string} has no certreq name"
                )
            value = str(attr.value)
            if _X500_SPECIAL & set(value) or value != value.strip():
                value = '"' + value.replace('"', '""') + '"'
            parts.append(f"{key}={value}")
        rdns.append("+".join(parts))
    return ", ".join(rdns)


def _san_entry(name: x509.GeneralName) -> str:
    if isinstance(name, x509.DNSName):
        value, kind = name.value, "dns"
    elif isinstance(name, x509.IPAddress):
        value, kind = str(name.value), "ipaddress"
    elif isinstance(name, x509.RFC822Name):
        value, kind = name.value, "email"
    elif isinstance(name, x509.UniformResourceIdentifier):
        value, kind = name.value, "url"
    else:
        raise PkiError(f"a certreq INF cannot carry the name {name!r}")
    if "&" in value or '"' in value:
        raise PkiError(f"the name {value!r} holds '&' or '\"', which certreq's SAN text cannot")
    return f"{kind}={value}&"


def certreq_inf(
    subject: x509.Name,
    names: Sequence[x509.GeneralName],
    chosen: Preset,
    *,
    hash_alg: str = "sha256",
    friendly_name: str | None = None,
) -> str:
    """A ``certreq -new`` INF (CRLF line ends, as Notepad and certreq expect) for ``subject``
    and ``names`` with the preset's key (RSA only: certreq's KeyLength), provider, KeySpec,
    key set, exportability and EKUs."""
    if not chosen.key_type.startswith("rsa:"):
        raise PkiError(f"preset {chosen.id}: a certreq INF here makes RSA keys only")
    subject_line = subject_text(subject)
    if not subject_line and not names:
        raise PkiError("a request needs a name: give --cn, --san or --like")
    lines = [
        f"; certreq INF written by vedette for {chosen.title} (preset {chosen.id})",
        "; on the server, in an elevated prompt:",
        ";   certreq -new THIS.inf request.csr",
        ";   (submit request.csr to the CA, then) certreq -accept issued.cer",
        "",
        "[Version]",
        'Signature = "$Windows NT$"',
        "",
        "[NewRequest]",
        f"Subject = {_inf_value(subject_line, 'subject')}",
        "KeyAlgorithm = RSA",
        f"KeyLength = {chosen.key_type.removeprefix('rsa:')}",
        f"HashAlgorithm = {hash_alg}",
        f"Exportable = {'TRUE' if chosen.exportable else 'FALSE'}",
        f"MachineKeySet = {'TRUE' if chosen.machine_keyset else 'FALSE'}",
        "RequestType = PKCS10",
    ]
    if chosen.provider is not None:
        provider = PROVIDERS[chosen.provider]
        lines.append(f"ProviderName = {_inf_value(chosen.provider, 'provider')}")
        if provider.type is not None:
            lines.append(f"ProviderType = {provider.type}")
    else:
        lines.append("; no ProviderName: certreq's default, a CNG key storage provider")
    if chosen.keyspec is not None:
        number = 1 if chosen.keyspec == "exchange" else 2
        lines.append(f"KeySpec = {number}  ; {'AT_KEYEXCHANGE' if number == 1 else 'AT_SIGNATURE'}")
        usage = 0xA0 if chosen.keyspec == "exchange" else KEY_USAGE_BYTE["signature"]
        lines.append(
            f"KeyUsage = 0x{usage:02x}  ; "
            + ("digitalSignature, keyEncipherment" if usage == 0xA0 else "digitalSignature")
        )
    if friendly_name:
        lines.append(f"FriendlyName = {_inf_value(friendly_name, 'friendly name')}")
    lines += ["", "[EnhancedKeyUsageExtension]"]
    lines += [f"OID = {EKUS[eku]}  ; {_EKU_TEXT[eku]}" for eku in chosen.ekus]
    if names:
        lines += ["", "[Extensions]", '2.5.29.17 = "{text}"']
        lines += [f'_continue_ = "{_san_entry(name)}"' for name in names]
    return "\r\n".join(lines) + "\r\n"
