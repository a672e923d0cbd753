"""Typed loaders for the trust data files (``vedette/trust/data/*``) and a user's profile file.

Everything returned is a frozen value; :func:`trust_data` reads the packaged files once. A user
profile file (``--client-profile FILE``) has the same layout as ``profiles.json`` (``hellos``,
``rule_sets``, ``profiles``; each section optional) and may refer to the packaged hellos and
rule sets by name. Malformed input raises :class:`UsageError` with one line naming the file and
the field, never a traceback.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from vedette.errors import UsageError
from vedette.inputfiles import read_regular_file

__all__ = [
    "PROFILE_ALIASES",
    "DistrustEvent",
    "Hello",
    "InterceptionProduct",
    "Profile",
    "RootInfo",
    "Rules",
    "StoreMembership",
    "TrustData",
    "load_profile_file",
    "trust_data",
    "unverified_facts",
]

DATA_DIR = Path(__file__).parent / "data"

#: TLS SignatureScheme names (RFC 8446 section 4.2.3 and the IANA registry) to code points.
SIGALG_CODES: Mapping[str, int] = MappingProxyType(
    {
        "rsa_pkcs1_md5": 0x0101,
        "rsa_pkcs1_sha1": 0x0201,
        "dsa_sha1": 0x0202,
        "ecdsa_sha1": 0x0203,
        "rsa_pkcs1_sha224": 0x0301,
        "dsa_sha224": 0x0302,
        "ecdsa_sha224": 0x0303,
        "rsa_pkcs1_sha256": 0x0401,
        "dsa_sha256": 0x0402,
        "ecdsa_secp256r1_sha256": 0x0403,
        "rsa_pkcs1_sha384": 0x0501,
        "dsa_sha384": 0x0502,
        "ecdsa_secp384r1_sha384": 0x0503,
        "rsa_pkcs1_sha512": 0x0601,
        "dsa_sha512": 0x0602,
        "ecdsa_secp521r1_sha512": 0x0603,
        "rsa_pss_rsae_sha256": 0x0804,
        "rsa_pss_rsae_sha384": 0x0805,
        "rsa_pss_rsae_sha512": 0x0806,
        "ed25519": 0x0807,
        "ed448": 0x0808,
        "rsa_pss_pss_sha256": 0x0809,
        "rsa_pss_pss_sha384": 0x080A,
        "rsa_pss_pss_sha512": 0x080B,
    }
)

#: Supported-groups names (IANA TLS registry) to code points.
GROUP_CODES: Mapping[str, int] = MappingProxyType(
    {
        "secp256r1": 23,
        "secp384r1": 24,
        "secp521r1": 25,
        "x25519": 29,
        "x448": 30,
        "ffdhe2048": 256,
        "ffdhe3072": 257,
        "ffdhe4096": 258,
        "ffdhe6144": 259,
        "ffdhe8192": 260,
        "x25519_ml_kem_768": 0x11EC,
        "secp256r1_ml_kem_768": 0x11EB,
    }
)

VERSIONS: tuple[str, ...] = ("SSLv3", "TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3")

#: Former profile ids -> the profile that replaced them, so that stored scans, ``--clients``,
#: ``--ca-for`` and inventories naming an old id keep working.
PROFILE_ALIASES: Mapping[str, str] = MappingProxyType({"python-certifi": "python-verifying"})

Interval = tuple[dt.date | None, dt.date | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreMembership:
    """A root in one store.

    Attributes:
        present: ``[from, until)`` date intervals; ``from=None`` means present in the oldest
            snapshot (start not recorded), ``until=None`` present in the newest.
        not_before: Microsoft CTL NotBefore: certificates issued after it are not trusted for
            ``not_before_ekus`` (all EKUs when empty).
        disallowed: Microsoft CTL Disallowed date: the root stops working.
        distrust_after: a Mozilla CCADB "Distrust for TLS After Date" (from cryptodatahub).
    """

    present: tuple[Interval, ...]
    not_before: dt.date | None = None
    not_before_ekus: frozenset[str] = frozenset()
    disallowed: dt.date | None = None
    distrust_after: dt.date | None = None

    def contains(self, when: dt.date, root_not_before: dt.date) -> bool:
        for start, until in self.present:
            # An unrecorded start cannot be earlier than the root itself.
            lower = start if start is not None else root_not_before
            if lower <= when and (until is None or when < until):
                return True
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class RootInfo:
    sha256: str
    subject: str
    not_before: dt.date
    stores: Mapping[str, StoreMembership]


@dataclass(frozen=True, slots=True, kw_only=True)
class DistrustEvent:
    """One entry of the distrust timeline (``distrust.json``); see the file's note."""

    id: str
    ca: str
    platform: str
    roots: frozenset[str]
    mechanism: str  # removed | issued-after | issued-before | sct-after | added
    effective: dt.date
    cutoff: dt.datetime | None
    products: str
    source: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """What a client's ClientHello offers.

    Attributes:
        suites: IANA code points, in the client's order.
        versions: e.g. ``("TLSv1", "TLSv1.2")``.
        groups, sigalgs: IANA names (see ``GROUP_CODES``, ``SIGALG_CODES``).
        sigalgs_cert: the ``signature_algorithms_cert`` extension (RFC 8446 4.2.3), when the
            client sends one; empty: not sent (``sigalgs`` then applies to certificates too).
        reference: the testssl.sh client this hello is checked against, if any.
        reference_differs: field -> why it intentionally differs from the reference.
    """

    id: str
    versions: tuple[str, ...]
    suites: tuple[int, ...]
    groups: tuple[str, ...]
    sigalgs: tuple[str, ...]
    sources: Mapping[str, str]
    sigalgs_cert: tuple[str, ...] = ()
    reference: str | None = None
    reference_differs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Rules:
    """Certificate rules of a client (``rule_sets`` in profiles.json).

    Attributes:
        sha1: SHA-1 signed certificates (leaf, intermediates) are accepted.
        sha1_public_only: the SHA-1 refusal applies only to chains ending at a root of the
            client's own store (Java's ``SHA1 jdkCA``); a private root still gets SHA-1.
        min_rsa: smallest RSA key accepted in the chain.
        cn_fallback: the subject CN is matched when the SAN has no DNS name.
        aia_fetch: a missing intermediate is downloaded from the caIssuers URL.
        sha512_tls12: a SHA-512 signed certificate sent in the chain works under TLS 1.2
            (False for SChannel before KB2973337).
        ct_required_from: leaves from public roots issued on or after this date need SCTs.
        eku_required_from: leaves issued on or after this date need an EKU with serverAuth.
        max_validity: (issued from, max days, only for public roots).
        verify: the client checks the certificate at all (``False``: Python's imaplib,
            smtplib and poplib without a context, which use an unverified context).
        check_name: the client matches the host name (``False``: JavaMail before Angus Mail
            2, whose ``mail.<protocol>.ssl.checkserveridentity`` defaults to false).
        chain_sigalgs: the client refuses a chain with a signature its hello does not list
            (``sigalgs_cert``, else ``sigalgs``): JSSE's algorithm constraints.
    """

    id: str
    sha1: bool
    min_rsa: int
    cn_fallback: bool
    aia_fetch: bool
    sha512_tls12: bool
    sha1_public_only: bool = False
    ct_required_from: dt.date | None = None
    eku_required_from: dt.date | None = None
    max_validity: tuple[tuple[dt.date, int, bool], ...] = ()
    verify: bool = True
    check_name: bool = True
    chain_sigalgs: bool = False
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class Profile:
    """A client: its hello, its trust store as of a date, its certificate rules.

    Attributes:
        platform: whose distrust rules apply (``apple``, ``microsoft``, ``mozilla``,
            ``chrome``, ``android``, ``java``; ``certifi`` = a flat Mozilla bundle, no rules).
        store: the root store (a key of ``RootInfo.stores``).
        released: when this version shipped; it does not exist before.
        store_frozen: the store and the distrust rules stay as of ``released`` (a device
            that is not updated); ``False`` follows the platform's updates.
        opportunistic: an MTA doing opportunistic TLS: untrusted certificates do not fail.
    """

    id: str
    family: str
    name: str
    version: str
    released: dt.date
    platform: str
    store: str
    store_frozen: bool
    hello: Hello
    rules: Rules
    opportunistic: bool = False
    sources: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True, slots=True, kw_only=True)
class InterceptionProduct:
    product: str
    patterns: tuple[str, ...]
    status: str
    source: str


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustData:
    """Everything the simulation consults; tests build variants with ``dataclasses.replace``."""

    roots: Mapping[str, RootInfo]
    roots_der: tuple[bytes, ...]
    events: tuple[DistrustEvent, ...]
    profiles: tuple[Profile, ...]
    interception: tuple[InterceptionProduct, ...]
    store_snapshots: Mapping[str, dt.date]

    def with_root(
        self, der: bytes, stores: tuple[str, ...], *, since: dt.date | None = None
    ) -> TrustData:
        """A copy where the root ``der`` is in ``stores`` from ``since`` (tests, private PKI)."""
        from vedette.x509.chain import describe, load_der

        cert = load_der(der)
        fp = sha256_hex(der)
        member = StoreMembership(present=((since, None),))
        info = RootInfo(
            sha256=fp,
            subject=describe(cert.subject),
            not_before=cert.not_valid_before_utc.date(),
            stores=MappingProxyType(dict.fromkeys(stores, member)),
        )
        return replace(
            self,
            roots=MappingProxyType({**self.roots, fp: info}),
            roots_der=(*self.roots_der, der),
        )

    @property
    def store_names(self) -> frozenset[str]:
        return frozenset(s for r in self.roots.values() for s in r.stores)

    def with_profiles(self, extra: tuple[Profile, ...]) -> TrustData:
        ids = {p.id for p in extra}
        return replace(self, profiles=tuple(p for p in self.profiles if p.id not in ids) + extra)


# --- parsing helpers ---------------------------------------------------------------------------


class _Bad(ValueError):
    pass


def _date(value: object, where: str) -> dt.date:
    if not isinstance(value, str):
        raise _Bad(f"{where}: expected a date YYYY-MM-DD, got {value!r}")
    try:
        return dt.date.fromisoformat(value[:10])
    except ValueError:
        raise _Bad(f"{where}: not a date: {value!r}") from None


def _opt_date(value: object, where: str) -> dt.date | None:
    return None if value is None else _date(value, where)


def _datetime(value: object, where: str) -> dt.datetime:
    if not isinstance(value, str):
        raise _Bad(f"{where}: expected an ISO time, got {value!r}")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise _Bad(f"{where}: not an ISO time: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def _str(d: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = d.get(key, default)
    if not isinstance(value, str) or not value:
        raise _Bad(f"{where}: field {key!r} must be a non-empty string")
    return value


def _bool(d: Mapping[str, Any], key: str, where: str, default: bool | None = None) -> bool:
    value = d.get(key, default)
    if not isinstance(value, bool):
        raise _Bad(f"{where}: field {key!r} must be true or false")
    return value


def _strs(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"{where}: expected a list of strings")
    return tuple(value)


def _sources(value: object, where: str) -> Mapping[str, str]:
    if value is None:
        return MappingProxyType({})
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Bad(f"{where}: 'sources' must map field names to strings")
    return MappingProxyType(dict(value))


@functools.cache
def suite_codes() -> Mapping[str, int]:
    """OpenSSL and IANA cipher-suite names -> code point (from ``cipher_suites.json``)."""
    doc = json.loads((DATA_DIR / "cipher_suites.json").read_text())
    out: dict[str, int] = {}
    for s in doc["suites"]:
        code = int(s["code"], 16)
        out[s["iana"]] = code
        # OpenSSL reuses a name for a draft code point and the final one (the pre-RFC 7905
        # ChaCha20 suites 0xCC13-0xCC15 are "OLD_..."): the final code wins.
        if s.get("openssl") and not s["iana"].startswith("OLD_"):
            out[s["openssl"]] = code
    return MappingProxyType(out)


@functools.cache
def suite_kx() -> Mapping[int, str]:
    """Code point -> key exchange (``ECDHE``, ``DHE``, ``RSA``...; TLS 1.3 suites have none)."""
    doc = json.loads((DATA_DIR / "cipher_suites.json").read_text())
    return MappingProxyType({int(s["code"], 16): s["kx"] for s in doc["suites"] if s.get("kx")})


@functools.cache
def suite_names() -> Mapping[int, str]:
    """Code point -> OpenSSL name (IANA name when OpenSSL has none)."""
    doc = json.loads((DATA_DIR / "cipher_suites.json").read_text())
    return MappingProxyType(
        {int(s["code"], 16): s.get("openssl") or s["iana"] for s in doc["suites"]}
    )


def _hello(hid: str, d: Mapping[str, Any], recorded: Mapping[str, Any], where: str) -> Hello:
    w = f"{where}: hello {hid!r}"
    if not isinstance(d, dict):
        raise _Bad(f"{w}: must be an object")
    sources = _sources(d.get("sources"), w)
    if "cryptodatahub" in d:
        rec = recorded.get(str(d["cryptodatahub"]))
        if not isinstance(rec, dict):
            raise _Bad(f"{w}: unknown recorded hello {d['cryptodatahub']!r}")
        return Hello(
            id=hid,
            versions=tuple(rec["versions"]),
            suites=tuple(int(c, 16) for c in rec["suites"]),
            groups=tuple(rec["groups"]),
            sigalgs=tuple(rec["sigalgs"]),
            sources=sources,
        )
    versions = _strs(d.get("versions"), f"{w} versions")
    for v in versions:
        if v not in VERSIONS:
            raise _Bad(f"{w}: unknown TLS version {v!r} (expected one of {', '.join(VERSIONS)})")
    codes = suite_codes()
    suites: list[int] = []
    text = d.get("suites", "")
    names = text.split(":") if isinstance(text, str) else _strs(text, f"{w} suites")
    for name in names:
        name = name.strip()
        if not name:
            continue
        if re.fullmatch(r"0x[0-9a-fA-F]{4}", name):
            suites.append(int(name, 16))
        elif name in codes:
            suites.append(codes[name])
        else:
            raise _Bad(f"{w}: unknown cipher suite {name!r}")
    groups = _strs(d.get("groups", []), f"{w} groups")
    sigalgs = _strs(d.get("sigalgs", []), f"{w} sigalgs")
    sigalgs_cert = _strs(d.get("sigalgs_cert", []), f"{w} sigalgs_cert")
    for s in (*sigalgs, *sigalgs_cert):
        if s not in SIGALG_CODES:
            raise _Bad(f"{w}: unknown signature algorithm {s!r}")
    differs = d.get("reference_differs", {})
    if not isinstance(differs, dict):
        raise _Bad(f"{w}: reference_differs must be an object")
    ref = d.get("reference")
    return Hello(
        id=hid,
        versions=versions,
        suites=tuple(suites),
        groups=groups,
        sigalgs=sigalgs,
        sigalgs_cert=sigalgs_cert,
        sources=sources,
        reference=ref if isinstance(ref, str) else None,
        reference_differs=MappingProxyType({str(k): str(v) for k, v in differs.items()}),
    )


def _rules(rid: str, d: Mapping[str, Any], where: str) -> Rules:
    w = f"{where}: rule set {rid!r}"
    if not isinstance(d, dict):
        raise _Bad(f"{w}: must be an object")
    mv = []
    for i, item in enumerate(d.get("max_validity", [])):
        if not isinstance(item, dict) or not isinstance(item.get("days"), int):
            raise _Bad(f"{w}: max_validity[{i}] needs 'from' and integer 'days'")
        mv.append(
            (
                _date(item.get("from"), f"{w} max_validity"),
                item["days"],
                bool(item.get("public_only")),
            )
        )
    min_rsa = d.get("min_rsa", 1024)
    if not isinstance(min_rsa, int):
        raise _Bad(f"{w}: min_rsa must be an integer")
    return Rules(
        id=rid,
        sha1=_bool(d, "sha1", w, True),
        min_rsa=min_rsa,
        cn_fallback=_bool(d, "cn_fallback", w, True),
        aia_fetch=_bool(d, "aia_fetch", w, False),
        sha512_tls12=_bool(d, "sha512_tls12", w, True),
        sha1_public_only=_bool(d, "sha1_public_only", w, False),
        ct_required_from=_opt_date(d.get("ct_required_from"), f"{w} ct_required_from"),
        eku_required_from=_opt_date(d.get("eku_required_from"), f"{w} eku_required_from"),
        max_validity=tuple(mv),
        verify=_bool(d, "verify", w, True),
        check_name=_bool(d, "check_name", w, True),
        chain_sigalgs=_bool(d, "chain_sigalgs", w, False),
        sources=_sources(d.get("sources"), w),
    )


_PLATFORMS = frozenset({"apple", "microsoft", "mozilla", "chrome", "android", "java", "certifi"})


def _profiles(
    doc: Mapping[str, Any],
    where: str,
    base_hellos: Mapping[str, Hello],
    base_rules: Mapping[str, Rules],
    recorded: Mapping[str, Any],
    stores: frozenset[str],
) -> tuple[dict[str, Hello], dict[str, Rules], list[Profile]]:
    hellos = dict(base_hellos)
    for hid, h in (doc.get("hellos") or {}).items():
        hellos[hid] = _hello(hid, h, recorded, where)
    rules = dict(base_rules)
    for rid, r in (doc.get("rule_sets") or {}).items():
        rules[rid] = _rules(rid, r, where)
    profiles: list[Profile] = []
    items = doc.get("profiles") or []
    if not isinstance(items, list):
        raise _Bad(f"{where}: 'profiles' must be a list")
    for i, p in enumerate(items):
        if not isinstance(p, dict):
            raise _Bad(f"{where}: profiles[{i}] must be an object")
        pid = _str(p, "id", f"{where}: profiles[{i}]")
        w = f"{where}: profile {pid!r}"
        hello_ref = p.get("hello")
        hello = (
            hellos.get(hello_ref)
            if isinstance(hello_ref, str)
            else _hello(pid, hello_ref, recorded, where)
            if isinstance(hello_ref, dict)
            else None
        )
        if hello is None:
            raise _Bad(f"{w}: unknown hello {hello_ref!r}")
        rules_ref = p.get("rules")
        rule = (
            rules.get(rules_ref)
            if isinstance(rules_ref, str)
            else _rules(pid, rules_ref, where)
            if isinstance(rules_ref, dict)
            else None
        )
        if rule is None:
            raise _Bad(f"{w}: unknown rule set {rules_ref!r}")
        platform = _str(p, "platform", w)
        if platform not in _PLATFORMS:
            raise _Bad(f"{w}: platform must be one of {', '.join(sorted(_PLATFORMS))}")
        store = _str(p, "store", w)
        if store not in stores:
            raise _Bad(f"{w}: unknown store {store!r} (known: {', '.join(sorted(stores))})")
        profiles.append(
            Profile(
                id=pid,
                family=_str(p, "family", w),
                name=_str(p, "name", w),
                version=str(p.get("version", "")),
                released=_date(p.get("released"), f"{w} released"),
                platform=platform,
                store=store,
                store_frozen=_bool(p, "store_frozen", w, False),
                hello=hello,
                rules=rule,
                opportunistic=_bool(p, "opportunistic", w, False),
                sources=_sources(p.get("sources"), w),
            )
        )
    return hellos, rules, profiles


def _membership(d: Mapping[str, Any], where: str) -> StoreMembership:
    present = tuple(
        (_opt_date(a, where), _opt_date(b, where)) for a, b in d.get("present", [[None, None]])
    )
    return StoreMembership(
        present=present,
        not_before=_opt_date(d.get("not_before"), where),
        not_before_ekus=frozenset(d.get("not_before_ekus", ())),
        disallowed=_opt_date(d.get("disallowed"), where),
        distrust_after=_opt_date(d.get("distrust_after"), where),
    )


def _pem_ders(text: bytes) -> tuple[bytes, ...]:
    # Base64 has no "-": matching [^-]+ up to the END line is eight times faster than a lazy
    # ".+?" over the 900 KiB file (read at every scan's start), and b64decode skips newlines.
    pem = rb"-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----"
    return tuple(base64.b64decode(m.group(1)) for m in re.finditer(pem, text))


@functools.cache
def _packaged() -> tuple[TrustData, Mapping[str, Hello], Mapping[str, Rules], Mapping[str, Any]]:
    where = "vedette trust data"
    try:
        roots_doc = json.loads((DATA_DIR / "roots.json").read_text())
        roots = {
            r["sha256"]: RootInfo(
                sha256=r["sha256"],
                subject=r["subject"],
                not_before=_date(r["not_before"], "roots.json"),
                stores=MappingProxyType(
                    {k: _membership(v, f"roots.json {r['sha256']}") for k, v in r["stores"].items()}
                ),
            )
            for r in roots_doc["roots"]
        }
        snapshots: dict[str, dt.date] = {}
        for store in ("mozilla", "chrome", "microsoft", "android"):
            releases = roots_doc["sources"][store]["releases"]
            snapshots[store] = _date(releases[-1]["date"], "roots.json")
        recorded = json.loads((DATA_DIR / "hellos.json").read_text())["hellos"]
        ders = _pem_ders((DATA_DIR / "roots.pem").read_bytes())
        dist = json.loads((DATA_DIR / "distrust.json").read_text())
        groups: dict[str, list[str]] = dist["groups"]
        events = []
        for e in dist["events"]:
            names = e["roots"] if isinstance(e["roots"], list) else [e["roots"]]
            fps = frozenset(fp for n in names for fp in groups[n])
            events.append(
                DistrustEvent(
                    id=e["id"],
                    ca=e["ca"],
                    platform=e["platform"],
                    roots=fps,
                    mechanism=e["mechanism"],
                    effective=_date(e["effective"], f"distrust.json {e['id']}"),
                    cutoff=_datetime(e["cutoff"], e["id"]) if e.get("cutoff") else None,
                    products=e["products"],
                    source=e["source"],
                    status=e["status"],
                )
            )
        stores = frozenset(s for r in roots.values() for s in r.stores)
        prof_doc = json.loads((DATA_DIR / "profiles.json").read_text())
        hellos, rules, profiles = _profiles(prof_doc, "profiles.json", {}, {}, recorded, stores)
        inter = json.loads((DATA_DIR / "interception.json").read_text())
        products = tuple(
            InterceptionProduct(
                product=p["product"],
                patterns=tuple(p["patterns"]),
                status=p["status"],
                source=p["source"],
            )
            for p in inter["products"]
        )
    except (OSError, KeyError, TypeError, ValueError) as exc:  # a packaging bug, said plainly
        raise UsageError(f"{where} is damaged: {exc}") from None
    data = TrustData(
        roots=MappingProxyType(roots),
        roots_der=ders,
        events=tuple(events),
        profiles=tuple(profiles),
        interception=products,
        store_snapshots=MappingProxyType(snapshots),
    )
    return data, MappingProxyType(hellos), MappingProxyType(rules), recorded


def trust_data() -> TrustData:
    """The packaged trust data, read once."""
    return _packaged()[0]


def load_profile_file(path: Path) -> tuple[Profile, ...]:
    """Profiles from a user's JSON file (layout of ``profiles.json``; may use packaged names)."""
    data = read_regular_file(path, what="profile file", limit=4 * 1024 * 1024)
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not a JSON profile file ({exc})") from None
    if not isinstance(doc, dict):
        raise UsageError(f"{path}: expected a JSON object with 'profiles'")
    profiles = profiles_from_document(doc, str(path))
    if not profiles:
        raise UsageError(f"{path}: no profile in this file")
    return profiles


def profiles_from_document(doc: Mapping[str, Any], where: str) -> tuple[Profile, ...]:
    """Profiles from a parsed user document (a profile file's JSON, or the copy stored with a
    scan), in the layout of ``profiles.json``; may use the packaged hellos and rule sets by
    name. A bad document is a one-line :class:`UsageError` naming ``where``."""
    base, hellos, rules, recorded = _packaged()
    stores = frozenset(s for r in base.roots.values() for s in r.stores)
    try:
        _, _, profiles = _profiles(doc, where, hellos, rules, recorded, stores)
    except _Bad as exc:
        raise UsageError(str(exc)) from None
    return tuple(profiles)


def sha256_hex(der: bytes) -> str:
    return hashlib.sha256(der).hexdigest()


def _unverified(source: str) -> bool:
    return "unverified" in source.lower()


def unverified_facts(data: TrustData, profiles: tuple[Profile, ...] | None = None) -> list[str]:
    """Every fact behind ``profiles`` (all by default) still marked *unverified* in its
    source: one line each, ``hello java-6: all: ...``; each hello and rule set counted once,
    however many profiles share it, then the distrust events with that status."""
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    for p in data.profiles if profiles is None else profiles:
        parts = (("hello", p.hello.id, p.hello.sources), ("rules", p.rules.id, p.rules.sources))
        for kind, ident, sources in (*parts, ("profile", p.id, p.sources)):
            if (kind, ident) in seen:
                continue
            seen.add((kind, ident))
            out += [f"{kind} {ident}: {k}: {v}" for k, v in sources.items() if _unverified(v)]
    if profiles is None:
        out += [f"distrust {e.id}: {e.source}" for e in data.events if e.status == "unverified"]
    return out
