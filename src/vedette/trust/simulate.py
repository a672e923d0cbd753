"""Client simulation: which clients accept this server, and why not. Pure and offline.

Theory of operation
===================

For one certificate chain (as the server sent it), what is known of the server's TLS, a date
("as of") and a set of client profiles, each profile gets a verdict — ``works``, ``warning``,
``fails``, ``unknown`` or ``not-released`` — with **every** reason found, each a one-line
sentence and the fix. Nothing here does I/O or reads the clock: the caller passes the date and
the data (:class:`vedette.trust._data.TrustData`), so a stored scan re-analysed tomorrow, with
newer data, gives the newer answer.

Two halves:

1. **Trust** — one path is built from the leaf over the certificates sent, to any root vedette
   knows (the union of all stores, plus the user's ``--ca`` roots). Then, per profile:

   * the profile's *effective date*: ``as_of``, or its release date when the profile is
     ``store_frozen`` (a device that never gets updates keeps the store and the distrust
     rules it shipped with; an auto-updating Windows follows Microsoft's CTL);
   * is the root in the profile's store at that date (``roots.json`` intervals, plus
     ``added``/``removed`` events of the distrust timeline for stores known only by one
     snapshot)? Microsoft's CTL adds a *Disallowed* date (the root stops working) and a
     *NotBefore* date (certificates issued after it stop working);
   * the distrust timeline (``distrust.json``): an event applies when its platform is the
     profile's and it was in force at the effective date; ``issued-after`` compares the leaf's
     notBefore with the cutoff (this is how iOS 10.2 keeps accepting a StartCom leaf from
     November 2016 but refuses one from 2016-12-05), ``sct-after`` the earliest embedded SCT;
   * the profile's certificate rules: SHA-1, RSA size, EKU, maximum validity, CT, names (with
     or without the CN fallback), dates, and the SChannel SHA-512 rule (KB2973337: Windows 7,
     8.1, 2012 and 2012 R2 do not accept a SHA-512 signed certificate *sent in the chain*
     under TLS 1.2, and the handshake fails with SEC_E_ALGORITHM_MISMATCH).

2. **Handshake** — does the profile's ClientHello meet the server? With only what a quick
   probe records (the version and suite negotiated by vedette's own client), the answer is
   often "unknown": a TLS 1.0-only client against a server that negotiated TLS 1.3 with
   vedette may or may not be accepted. :class:`ServerTls` carries the accepted suites per
   version when a full TLS enumeration is available, and then the answer is exact.

Opportunistic MTAs (``opportunistic`` profiles: Postfix, Exim, Exchange as SMTP clients)
accept any certificate unless DANE or MTA-STS applies; their trust reasons are downgraded to
warnings that say so ("depends on DANE/MTA-STS, not checked").
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

from vedette.errors import UsageError
from vedette.model import ClientMatrix, ClientOutcome, ClientReason, ClientVerdict, Endpoint
from vedette.trust._data import (
    GROUP_CODES,
    PROFILE_ALIASES,
    VERSIONS,
    Profile,
    RootInfo,
    Rules,
    TrustData,
    sha256_hex,
    suite_codes,
    suite_kx,
    suite_names,
)
from vedette.x509.chain import (
    MAX_DEPTH,
    ChainAnalysis,
    ChainEnd,
    analyse_chain,
    describe,
    is_self_signed,
    parse_sent,
)
from vedette.x509.legacy_algorithms import public_key_of
from vedette.x509.names import dns_name_matches, match_certificate

__all__ = [
    "ClientOptions",
    "ServerTls",
    "chain_notes",
    "inventory_lines",
    "parse_inventory",
    "select_profiles",
    "simulate",
]

_ORDER = {
    ClientOutcome.FAILS: 0,
    ClientOutcome.UNKNOWN: 1,
    ClientOutcome.WARNING: 2,
    ClientOutcome.WORKS: 3,
    ClientOutcome.NOT_RELEASED: 4,
}

_ANY_EKU = x509.ObjectIdentifier("2.5.29.37.0")
_SCT_OID = x509.ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
_SHA512_OIDS = frozenset(
    {"1.2.840.113549.1.1.13", "1.2.840.10045.4.3.4"}  # sha512WithRSAEncryption, ecdsa-with-SHA512
)
_SHA1_MD5_OIDS: Mapping[str, str] = MappingProxyType(
    {
        "1.2.840.113549.1.1.4": "MD5",
        "1.2.840.113549.1.1.5": "SHA-1",
        "1.3.14.3.2.29": "SHA-1",
        "1.2.840.10045.4.1": "SHA-1",
        "1.2.840.10040.4.3": "SHA-1",
    }
)

_REISSUE = (
    "reissue the certificate from a CA this client trusts (e.g. Let's Encrypt) and install it "
    "with its chain"
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServerTls:
    """What is known of the server's TLS.

    Attributes:
        negotiated_version, negotiated_suite: what vedette's probe negotiated (its own client
            offers TLS 1.2 and 1.3 with a broad suite list), ``None`` when unknown.
        accepted: version -> accepted suite code points, when a full enumeration was done;
            ``None`` otherwise (the handshake half is then partly unknown).
        groups_tls13: TLS 1.3 groups the server accepted (empty: not learnt).
        groups_tls12: curves the server used for ECDHE in TLS <= 1.2 (empty: not learnt).
        incomplete: the enumeration did not finish (or was the partial one of ``--mode
            clients``), so its sets are lower bounds: what is missing from them is "unknown",
            not "refused", except the versions of ``refused``.
        refused: versions (``TLSv1``...) tested and not accepted, even in an incomplete scan.
    """

    negotiated_version: str | None = None
    negotiated_suite: str | None = None
    accepted: Mapping[str, frozenset[int]] | None = None
    groups_tls13: frozenset[int] = frozenset()
    groups_tls12: frozenset[int] = frozenset()
    incomplete: bool = False
    refused: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientOptions:
    """What the user asked for (``--clients``, ``--client-profile``, ``--as-of``, ...).

    Attributes:
        families: profile ids or families to keep; empty = all that fit the endpoint's role.
        as_of: judge at this time instead of the analysis time.
        extra_profiles: the user's own profiles.
        ca_applies_to: families (or profile ids) on which the ``--ca`` roots are installed;
            empty = every profile.
        inventory: (client, version, count) rows from ``--inventory``.
        expect_issuer: ``--expect-issuer`` (substring of an issuer DN in the chain).
        pins: ``--pin sha256:HEX`` values (SHA-256 of the leaf's SubjectPublicKeyInfo).
    """

    families: tuple[str, ...] = ()
    as_of: dt.datetime | None = None
    extra_profiles: tuple[Profile, ...] = ()
    ca_applies_to: tuple[str, ...] = ()
    inventory: tuple[tuple[str, str, int], ...] = ()
    expect_issuer: tuple[str, ...] = ()
    pins: tuple[str, ...] = ()
    data: TrustData | None = field(default=None, compare=False)


# --- profile selection -------------------------------------------------------------------------


def select_profiles(
    profiles: Sequence[Profile], families: Sequence[str], *, relay: bool | None
) -> tuple[Profile, ...]:
    """Profiles named (by id or family) in ``families``; all of them when empty.

    ``relay``: for SMTP port 25 only MTA profiles make sense, and MTAs are left out elsewhere;
    ``None`` (a chain file) keeps every profile but MTAs unless they are asked for.
    """
    if families:
        wanted = {_canonical(f.strip().lower()) for f in families if f.strip()}
        known = {p.id for p in profiles} | {p.family for p in profiles}
        unknown = sorted(wanted - known)
        if unknown:
            raise UsageError(
                f"--clients: unknown client {', '.join(unknown)} (families: "
                f"{', '.join(sorted({p.family for p in profiles}))})"
            )
        return tuple(p for p in profiles if p.id in wanted or p.family in wanted)
    if relay:
        return tuple(p for p in profiles if p.opportunistic)
    return tuple(p for p in profiles if not p.opportunistic)


def _canonical(name: str) -> str:
    """A profile id or family, a former profile id replaced by its successor
    (``python-certifi`` is ``python-verifying``)."""
    return PROFILE_ALIASES.get(name, name)


# --- facts about one chain, computed once ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _ChainFacts:
    chain: ChainAnalysis
    anchor_fp: str | None
    anchor_is_extra: bool
    top: x509.Certificate | None  # last certificate of the path (the root, when reached)
    leaf_nb: dt.datetime | None
    earliest_sct: dt.datetime | None
    has_sct: bool
    aia_url: str | None


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> x509.ExtensionType | None:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def _scts(cert: x509.Certificate) -> tuple[bool, dt.datetime | None]:
    try:
        ext = cert.extensions.get_extension_for_oid(_SCT_OID).value
    except (x509.ExtensionNotFound, ValueError):
        return False, None
    times = []
    if isinstance(ext, x509.PrecertificateSignedCertificateTimestamps):
        for sct in ext:
            ts = sct.timestamp
            times.append(ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC))
    return True, min(times) if times else None


def _facts(
    chain_der: Sequence[bytes],
    data: TrustData,
    extra: tuple[bytes, ...],
    intermediates: tuple[bytes, ...] = (),
) -> _ChainFacts:
    with warnings.catch_warnings():
        # A few store roots have over-long name attributes (cryptography warns on them); they
        # are real roots, so parse them quietly.
        warnings.simplefilter("ignore", UserWarning)
        chain = analyse_chain(chain_der, data.roots_der + extra, intermediates)
    anchor_fp = sha256_hex(chain.anchor_der) if chain.anchor_der is not None else None
    last = chain.path_indexes[-1] if chain.path_indexes else None
    if anchor_fp is None and last is not None and chain.end is ChainEnd.UNTRUSTED_ROOT:
        # The path ends at a root the server sent: some roots are known by fingerprint only
        # (from a source whose certificates vedette does not ship), so match it that way.
        sent_fp = sha256_hex(chain.sent[last].der)
        if sent_fp in data.roots and last > 0:
            anchor_fp = sent_fp
    leaf = chain.leaf
    has_sct, earliest = _scts(leaf) if leaf is not None else (False, None)
    aia = None
    if chain.path:
        info = _ext(chain.path[-1], x509.AuthorityInformationAccess)
        if isinstance(info, x509.AuthorityInformationAccess):
            for d in info:
                if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS and isinstance(
                    d.access_location, x509.UniformResourceIdentifier
                ):
                    aia = d.access_location.value
                    break
    return _ChainFacts(
        chain=chain,
        anchor_fp=anchor_fp,
        anchor_is_extra=chain.anchor_der is not None and chain.anchor_der in set(extra),
        top=chain.path[-1] if chain.path else None,
        leaf_nb=leaf.not_valid_before_utc if leaf is not None else None,
        earliest_sct=earliest,
        has_sct=has_sct,
        aia_url=aia,
    )


def _name(cert: x509.Certificate) -> str:
    try:
        cns = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        if cns and isinstance(cns[0].value, str):
            return cns[0].value
    except ValueError:
        pass
    return describe(cert.subject)


def _day(d: dt.date | dt.datetime) -> str:
    return d.strftime("%Y-%m-%d")


# --- the trust half ----------------------------------------------------------------------------


def _effective(profile: Profile, as_of: dt.datetime) -> dt.date:
    day = as_of.date()
    return min(day, profile.released) if profile.store_frozen else day


_PLATFORM_NAMES = {
    "apple": "Apple",
    "microsoft": "Microsoft",
    "mozilla": "Mozilla",
    "chrome": "Chrome",
    "android": "Android",
    "java": "Java",
    "certifi": "certifi",
}

#: Reason codes: the root was trusted once and was distrusted or removed since.
DISTRUSTED = "cert.distrusted-ca"
NOT_IN_STORE = "cert.root-not-trusted"
UNCERTAIN = "cert.root-membership-unknown"


def _first_public(info: RootInfo) -> dt.date | None:
    """When the root entered Mozilla's store, from certifi's releases (the deepest history in
    the data, from 2015); ``None`` when it was already there in 2015 or never was."""
    member = info.stores.get("mozilla")
    if member is None:
        return None
    starts = [start for start, _ in member.present]
    if not starts or None in starts:
        return None
    return min(s for s in starts if s is not None)


def _in_store(
    profile: Profile, fp: str, when: dt.date, data: TrustData
) -> tuple[bool | None, str, str]:
    """(trusted, why-not, reason code) for root ``fp`` in the profile's store at ``when``;
    trusted is ``None`` when the data cannot tell."""
    info = data.roots.get(fp)
    store_name = profile.store
    events = [e for e in data.events if e.platform == profile.platform and fp in e.roots]
    removed = [e for e in events if e.mechanism == "removed"]
    added = [e for e in events if e.mechanism == "added"]
    for e in added:
        if when < e.effective:
            why = f"added to the {store_name} store only on {_day(e.effective)} ({e.products})"
            return False, why, NOT_IN_STORE
    for e in removed:
        if e.effective <= when:
            who = _PLATFORM_NAMES.get(profile.platform, profile.platform)
            return (
                False,
                f"distrusted by {who} since {_day(e.effective)} ({e.ca}: {e.products})",
                DISTRUSTED,
            )
    if info is None:
        return False, f"not in the {store_name} store", NOT_IN_STORE
    member = info.stores.get(store_name)
    if member is not None and member.contains(when, info.not_before):
        if member.disallowed is not None and member.disallowed <= when:
            why = f"disallowed by Microsoft's root list since {_day(member.disallowed)}"
            return False, why, DISTRUSTED
        estimate = _first_public(info) if store_name not in data.store_snapshots else None
        if estimate is not None and when < estimate and not added:
            # One snapshot of this store, and the root entered the stores whose history is
            # known (Mozilla, Chrome, Microsoft) only later: this old client probably lacks it.
            return (
                None,
                (
                    f"is in today's {store_name} store, but entered public root stores only on "
                    f"{_day(estimate)} (the history of the {store_name} store is not recorded)"
                ),
                UNCERTAIN,
            )
        return True, "", ""
    # A store known by one snapshot only (Apple, Android, Java): a later removal recorded in
    # the timeline means the root was there before it.
    if removed and when >= info.not_before:
        return True, "", ""
    snap = data.store_snapshots.get(store_name)
    if member is not None:
        first = min((a for a, _ in member.present if a is not None), default=None)
        if first is not None and when < first:
            return False, f"added to the {store_name} store only on {_day(first)}", NOT_IN_STORE
        last = max((b for _, b in member.present if b is not None), default=None)
        if last is not None:
            return False, f"removed from the {store_name} store on {_day(last)}", DISTRUSTED
    suffix = f" (snapshot of {_day(snap)})" if snap else ""
    return False, f"not in the {store_name} store{suffix}", NOT_IN_STORE


def _reason(code: str, outcome: ClientOutcome, text: str, fix: str = "") -> ClientReason:
    return ClientReason(code=code, outcome=outcome, text=text, fix=fix)


_FULL_CHAIN = "send the full chain (server certificate, then the intermediates)"
_OWN_ROOT = (
    "if it is your organisation's root, deploy it to the clients and pass it to vedette with "
    "--ca (sending it does not help); else use a certificate from a public CA"
)


def _chain_end_reasons(profile: Profile, facts: _ChainFacts) -> list[ClientReason]:
    """Why the path from the leaf reaches no root this client could know, one cause (the rule
    of :class:`vedette.x509.chain.ChainEnd`, shared with the checks)."""
    ch = facts.chain
    top = facts.top
    fails = ClientOutcome.FAILS
    if ch.end is ChainEnd.ABUSIVE:
        return [
            _reason(
                "chain.abusive",
                fails,
                f"the server sends {len(ch.sent)} certificates built to make path building "
                f"explode ({ch.abusive}); clients give up or hang",
                "send only the server certificate and one copy of each intermediate",
            )
        ]
    if ch.end is ChainEnd.TOO_LONG:
        return [
            _reason(
                "chain.too-long",
                fails,
                f"the path from the server certificate is longer than {MAX_DEPTH} "
                f"certificates ({len(ch.sent)} sent); clients stop before its end",
                "send only the server certificate and the intermediates up to the root",
            )
        ]
    if ch.end is ChainEnd.UNKNOWN_ROOT and top is not None:
        root = _name(ch.supplied_path[0]) if ch.supplied_path else describe(top.issuer)
        return [
            _reason(
                "cert.unknown-root",
                fails,
                f"the chain sent ends at {_name(top)}, issued by {root}, a root in no store "
                "known to vedette",
                _OWN_ROOT,
            )
        ]
    if ch.end is ChainEnd.MISSING_INTERMEDIATE and top is not None:
        if ch.supplied_missing:
            what = f"intermediate {_name(ch.supplied_missing[0])} not sent"
        else:
            what = (
                f"issuer {describe(top.issuer)} of {_name(top)} not sent: an intermediate is "
                "probably missing"
            )
        if profile.rules.aia_fetch and facts.aia_url:
            return [
                _reason(
                    "chain.incomplete-aia",
                    ClientOutcome.WARNING,
                    f"{what}; this client downloads it from {facts.aia_url}",
                    _FULL_CHAIN,
                )
            ]
        if profile.rules.aia_fetch:
            why = (
                f"; this client downloads a missing intermediate from the certificate's "
                f"caIssuers URL, but {_name(top)} has no caIssuers URL"
            )
        else:
            why = ", and this client does not fetch it"
        return [_reason("chain.incomplete", fails, f"{what}{why}", _FULL_CHAIN)]
    label = _name(top) if top is not None else "?"
    return [
        _reason(
            "cert.unknown-root",
            fails,
            f"the chain ends at {label}, a root in no public store known to vedette",
            "use a certificate from a public CA, or deploy the root to the clients and "
            "pass it with --ca",
        )
    ]


def _trust_reasons(
    profile: Profile,
    facts: _ChainFacts,
    data: TrustData,
    as_of: dt.datetime,
    options: ClientOptions,
) -> list[ClientReason]:
    """Every reason this client refuses (or doubts) the chain: where the path ends and whether
    the client trusts that root, then the client's rules on each certificate of the path."""
    leaf = facts.chain.leaf
    if leaf is None:
        return [
            _reason(
                "chain.unparseable",
                ClientOutcome.FAILS,
                "the server certificate cannot be parsed",
                "re-export the certificate in PEM and reinstall it",
            )
        ]
    rules = profile.rules
    public = facts.anchor_fp is not None and not facts.anchor_is_extra
    path = _answered_path(facts.chain)
    return [
        *_anchor_reasons(profile, facts, data, _effective(profile, as_of), options, leaf),
        *_abusive_warning(facts),
        *_signature_reasons(rules, facts.chain, path, public),
        *_key_size_reasons(rules, path),
        *_eku_reasons(rules, leaf),
        *_validity_reasons(rules, leaf, public),
        *_ct_reasons(rules, leaf, facts, public),
        *_date_reasons(path, as_of),
    ]


def _answered_path(ch: ChainAnalysis) -> list[x509.Certificate]:
    """The certificates of the path the server sent (and so answers for); a root taken from a
    store is not among them."""
    return [c for c, i in zip(ch.path, ch.path_indexes, strict=True) if i is not None]


def _anchor_reasons(
    profile: Profile,
    facts: _ChainFacts,
    data: TrustData,
    when: dt.date,
    options: ClientOptions,
    leaf: x509.Certificate,
) -> list[ClientReason]:
    """Rule: the path must end at a root in the client's store at its effective date (or at a
    ``--ca`` root deployed on it), and no distrust event may apply to that root.

    A self-signed leaf fails as such; a path reaching no known root fails for the cause
    :func:`_chain_end_reasons` names; a ``--ca`` root fails only on clients outside
    ``--ca-for``; a public root is looked up in the client's store (:func:`_in_store`), and
    the distrust timeline applies when it is (or may be) there (:func:`_distrust`).
    """
    fails = ClientOutcome.FAILS
    if facts.anchor_fp is None:
        if facts.chain.leaf_self_signed:
            return [
                _reason(
                    "cert.self-signed",
                    fails,
                    f"self-signed certificate {_name(leaf)}",
                    "get a certificate from a public CA, or deploy this one to the clients and "
                    "pass it with --ca",
                )
            ]
        return _chain_end_reasons(profile, facts)
    if facts.anchor_is_extra:
        applies = {_canonical(a) for a in options.ca_applies_to}
        if applies and profile.id not in applies and profile.family not in applies:
            top = facts.top
            return [
                _reason(
                    "cert.private-root",
                    fails,
                    f"private root {_name(top) if top else '?'} (--ca) is not deployed on this "
                    "client (--ca-for)",
                    "deploy the private root to these clients, or use a public CA",
                )
            ]
        return []
    ok, why, code = _in_store(profile, facts.anchor_fp, when, data)
    root = facts.top
    root_name = _name(root) if root is not None else facts.anchor_fp[:16]
    if ok is None:
        return [
            _reason(code, ClientOutcome.UNKNOWN, f"root {root_name} {why}", _REISSUE),
            *_distrust(profile, facts, data, when, root_name),
        ]
    if not ok:
        return [_reason(code, fails, f"root {root_name} {why}", _REISSUE)]
    return _distrust(profile, facts, data, when, root_name)


def _abusive_warning(facts: _ChainFacts) -> list[ClientReason]:
    """Rule: a chain built to make path building explode is a warning even when a path to a
    root exists, since a client may give up before it finds it (no path at all is a failure,
    in :func:`_chain_end_reasons`)."""
    ch = facts.chain
    if ch.abusive is None or facts.anchor_fp is None:
        return []
    return [
        _reason(
            "chain.abusive",
            ClientOutcome.WARNING,
            f"the server sends {len(ch.sent)} certificates built to make path building "
            f"explode ({ch.abusive}); a path exists, but this client may give up first",
            "send only the server certificate and one copy of each intermediate",
        )
    ]


def _signature_reasons(
    rules: Rules, ch: ChainAnalysis, path: Sequence[x509.Certificate], public: bool
) -> list[ClientReason]:
    """Rule: no MD5 signature, and no SHA-1 one unless the client allows SHA-1 (some refuse it
    only under a public root: ``sha1_public_only``). A root's own signature and a self-signed
    leaf's are never checked."""
    out: list[ClientReason] = []
    leaf = ch.leaf
    for cert in path:
        if cert is not leaf and is_self_signed(cert):
            continue  # a root's own signature is never checked
        if cert is leaf and ch.leaf_self_signed:
            continue
        weak = _SHA1_MD5_OIDS.get(cert.signature_algorithm_oid.dotted_string)
        refused_sha1 = not rules.sha1 and (public or not rules.sha1_public_only)
        if weak == "MD5" or (weak == "SHA-1" and refused_sha1):
            out.append(
                _reason(
                    "cert.sha1",
                    ClientOutcome.FAILS,
                    f"{_name(cert)} is signed with {weak}, which this client refuses",
                    "reissue with SHA-256 (openssl req -sha256); use the CA's SHA-256 intermediate",
                )
            )
    return out


def _key_size_reasons(rules: Rules, path: Sequence[x509.Certificate]) -> list[ClientReason]:
    """Rule: every RSA key on the path has at least the client's ``min_rsa`` bits."""
    out: list[ClientReason] = []
    for cert in path:
        try:
            key = public_key_of(cert)
        except (ValueError, UnsupportedAlgorithm):
            continue
        if isinstance(key, rsa.RSAPublicKey) and key.key_size < rules.min_rsa:
            out.append(
                _reason(
                    "cert.weak-key",
                    ClientOutcome.FAILS,
                    f"{_name(cert)} has an RSA {key.key_size}-bit key; this client needs "
                    f"{rules.min_rsa} bits or more",
                    "generate a new RSA 2048+ or ECDSA P-256 key and reissue",
                )
            )
    return out


def _eku_reasons(rules: Rules, leaf: x509.Certificate) -> list[ClientReason]:
    """Rule: a leaf with an extended key usage must allow serverAuth (or anyExtendedKeyUsage);
    a leaf without one fails on clients that require it for certificates issued from
    ``eku_required_from``."""
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    nb = leaf.not_valid_before_utc
    if isinstance(eku, x509.ExtendedKeyUsage):
        oids = list(eku)
        if ExtendedKeyUsageOID.SERVER_AUTH in oids or _ANY_EKU in oids:
            return []
        return [
            _reason(
                "cert.eku",
                ClientOutcome.FAILS,
                f"{_name(leaf)} is not allowed for TLS servers (no serverAuth in its extended "
                "key usage)",
                "request a TLS server certificate (EKU serverAuth)",
            )
        ]
    if rules.eku_required_from is not None and nb.date() >= rules.eku_required_from:
        return [
            _reason(
                "cert.no-eku",
                ClientOutcome.FAILS,
                f"{_name(leaf)} has no extended key usage; this client requires serverAuth for "
                f"certificates issued from {_day(rules.eku_required_from)}",
                "reissue with extendedKeyUsage = serverAuth",
            )
        ]
    return []


def _validity_reasons(rules: Rules, leaf: x509.Certificate, public: bool) -> list[ClientReason]:
    """Rule: the leaf's validity period stays within the client's maximum for its issue date
    (``max_validity``: the first limit in force that applies, some to public roots only)."""
    nb = leaf.not_valid_before_utc
    period = leaf.not_valid_after_utc - nb
    for start, days, public_only in rules.max_validity:
        if nb.date() >= start and (public or not public_only) and period > dt.timedelta(days=days):
            return [
                _reason(
                    "cert.validity",
                    ClientOutcome.FAILS,
                    f"{_name(leaf)} is valid {period.days} days; this client accepts at most "
                    f"{days} days for certificates issued from {_day(start)}",
                    f"reissue with a validity of {days} days or less",
                )
            ]
    return []


def _ct_reasons(
    rules: Rules, leaf: x509.Certificate, facts: _ChainFacts, public: bool
) -> list[ClientReason]:
    """Rule: a leaf under a public root issued from the client's ``ct_required_from`` carries
    embedded SCTs (Certificate Transparency; SCTs from the handshake or OCSP are not seen)."""
    if (
        rules.ct_required_from is None
        or not public
        or leaf.not_valid_before_utc.date() < rules.ct_required_from
        or facts.has_sct
    ):
        return []
    return [
        _reason(
            "cert.no-sct",
            ClientOutcome.FAILS,
            f"{_name(leaf)} carries no embedded SCTs and this client requires Certificate "
            "Transparency (SCTs sent in the handshake or OCSP were not checked)",
            "use a public CA that logs to CT and embeds SCTs (all current ones do)",
        )
    ]


def _date_reasons(path: Sequence[x509.Certificate], as_of: dt.datetime) -> list[ClientReason]:
    """Rule: every certificate of the path is valid at ``as_of`` (not expired, not yet to
    come); judged at the date asked, not the profile's effective date."""
    out: list[ClientReason] = []
    for cert in path:
        if cert.not_valid_after_utc < as_of:
            out.append(
                _reason(
                    "cert.expired",
                    ClientOutcome.FAILS,
                    f"{_name(cert)} expired on {_day(cert.not_valid_after_utc)}",
                    "renew the certificate and install it with its chain",
                )
            )
        elif cert.not_valid_before_utc > as_of:
            out.append(
                _reason(
                    "cert.not-yet-valid",
                    ClientOutcome.FAILS,
                    f"{_name(cert)} is valid only from {_day(cert.not_valid_before_utc)}",
                    "check the server's clock and install a certificate valid now",
                )
            )
    return out


def _distrust(
    profile: Profile, facts: _ChainFacts, data: TrustData, when: dt.date, root_name: str
) -> list[ClientReason]:
    out: list[ClientReason] = []
    fp = facts.anchor_fp
    nb = facts.leaf_nb
    if fp is None or nb is None:
        return out
    info = data.roots.get(fp)
    member = info.stores.get(profile.store) if info is not None else None
    if (
        profile.platform == "microsoft"
        and member is not None
        and member.not_before is not None
        and member.not_before <= when
        and (not member.not_before_ekus or "server_auth" in member.not_before_ekus)
        and nb.date() > member.not_before
    ):
        out.append(
            _reason(
                "cert.distrusted-ca",
                ClientOutcome.FAILS,
                f"issued {_day(nb)} under {root_name}, which Windows no longer trusts for "
                f"certificates issued after {_day(member.not_before)} (Microsoft root list "
                "NotBefore)",
                _REISSUE,
            )
        )
    for e in data.events:
        if e.platform != profile.platform or fp not in e.roots or e.effective > when:
            continue
        if e.cutoff is None or e.mechanism not in ("issued-after", "issued-before", "sct-after"):
            continue
        if e.mechanism == "issued-after" and nb >= e.cutoff:
            what = f"issued {_day(nb)}, on or after {_day(e.cutoff)}"
        elif e.mechanism == "issued-before" and nb < e.cutoff:
            what = f"issued {_day(nb)}, before {_day(e.cutoff)}"
        elif e.mechanism == "sct-after":
            stamp = facts.earliest_sct or nb
            if stamp <= e.cutoff:
                continue
            what = f"first logged {_day(stamp)}, after {_day(e.cutoff)}"
        else:
            continue
        unverified = " [date of the client release unverified]" if e.status == "unverified" else ""
        out.append(
            _reason(
                "cert.distrusted-ca",
                ClientOutcome.FAILS,
                f"{e.ca} certificate {what}: distrusted by {e.products} since "
                f"{_day(e.effective)}{unverified}",
                _REISSUE,
            )
        )
    return out


# --- the handshake half ------------------------------------------------------------------------


def _vindex(v: str | None) -> int:
    return VERSIONS.index(v) if v in VERSIONS else -1


def _leaf_kind(facts: _ChainFacts) -> str | None:
    leaf = facts.chain.leaf
    if leaf is None:
        return None
    try:
        key = public_key_of(leaf)
    except (ValueError, UnsupportedAlgorithm):
        return None
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return "ECDSA"
    return "other"


#: How TLS 1.2 is turned on for SChannel clients on Windows 7 (KB3140245). The update and its
#: DefaultSecureProtocols values cover WinHTTP only; Outlook and Lync/Skype use SChannel
#: directly and need the SChannel client keys as well.
_WIN7_TLS12 = (
    "Windows 7: install KB3140245, set DefaultSecureProtocols=0xA00 (DWORD: TLS 1.1 and 1.2) "
    "under HKLM\\SOFTWARE\\Microsoft\\Windows\\CurrentVersion\\Internet Settings\\WinHttp "
    "and HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\Windows\\CurrentVersion\\Internet "
    "Settings\\WinHttp (WinHTTP), and for Outlook and other SChannel clients "
    "DisabledByDefault=0 and Enabled=1 (DWORD) under HKLM\\SYSTEM\\CurrentControlSet\\Control\\"
    "SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\Client"
)


def _enable_tls12(profile: Profile) -> str:
    if profile.platform == "microsoft":
        return _WIN7_TLS12
    return "an update on old Android or Java clients"


def _handshake(
    profile: Profile, server: ServerTls | None, facts: _ChainFacts
) -> tuple[list[ClientReason], str | None]:
    """Reasons from the hello side, and the version the client would use (if known)."""
    hello = profile.hello
    out: list[ClientReason] = []
    client_max = max((_vindex(v) for v in hello.versions), default=-1)
    if server is None or (server.negotiated_version is None and server.accepted is None):
        return [
            _reason(
                "tls.unknown",
                ClientOutcome.UNKNOWN,
                "the TLS session was not observed",
                "scan the endpoint",
            )
        ], None
    if server.accepted is not None:
        # Exact: replay the client's offer against what the enumeration saw accepted. When the
        # enumeration did not finish, a missing entry is "not seen", not "refused".
        failed = ClientOutcome.UNKNOWN if server.incomplete else ClientOutcome.FAILS
        caveat = " (the TLS enumeration was incomplete)" if server.incomplete else ""
        common = [v for v in hello.versions if server.accepted.get(v)]
        if not common:
            if server.incomplete and all(v in server.refused for v in hello.versions):
                # Every version this client offers was tested and refused: decisive.
                failed, caveat = ClientOutcome.FAILS, ""
            offered = ", ".join(hello.versions)
            server_v = ", ".join(v for v in VERSIONS if server.accepted.get(v)) or "none"
            return [
                _reason(
                    "tls.version",
                    failed,
                    f"no common TLS version: the client offers {offered}, the server accepts "
                    f"{server_v}{caveat}",
                    f"enable TLS 1.2 on the client ({_enable_tls12(profile)}), or as a "
                    "stop-gap the client's version on the server",
                )
            ], None
        best = max(common, key=_vindex)
        suites = set(hello.suites) & server.accepted.get(best, frozenset())
        if not suites:
            return [
                _reason(
                    "tls.suite",
                    failed,
                    f"no common cipher suite at {best}{caveat}",
                    "enable a suite this client offers (e.g. ECDHE-RSA-AES128-GCM-SHA256) on "
                    "the server",
                )
            ], best
        mine = {GROUP_CODES[g] for g in hello.groups if g in GROUP_CODES}
        kx = suite_kx()
        # ECDHE needs a common curve; without one only the other common suites remain.
        no_curve = bool(server.groups_tls12) and bool(mine) and not mine & server.groups_tls12
        if best != "TLSv1.3" and no_curve and all(kx.get(c) == "ECDHE" for c in suites):
            out.append(
                _reason(
                    "tls.group",
                    failed,
                    f"every common suite at {best} is ECDHE, and the client's curves "
                    f"({', '.join(hello.groups)}) are not among the server's{caveat}",
                    "enable secp256r1 (P-256) for ECDHE on the server",
                )
            )
        no_group = bool(server.groups_tls13) and bool(mine) and not mine & server.groups_tls13
        if best == "TLSv1.3" and no_group:
            out.append(
                _reason(
                    "tls.group",
                    failed,
                    f"no common key-exchange group at TLS 1.3 (client: "
                    f"{', '.join(hello.groups)}){caveat}",
                    "enable x25519 and secp256r1 on the server",
                )
            )
        return out, best
    neg = server.negotiated_version
    if client_max < 0:
        return [
            _reason("tls.unknown", ClientOutcome.UNKNOWN, "the profile offers no TLS version", "")
        ], None
    if _vindex(neg) > client_max:
        top = VERSIONS[client_max]
        return [
            _reason(
                "tls.version-untested",
                ClientOutcome.UNKNOWN,
                f"the server negotiated {neg} with vedette; whether it also accepts {top} (this "
                "client's highest) was not tested",
                "run vedette scan --mode full to test it; enable TLS 1.2 on the client "
                f"({_enable_tls12(profile)})",
            )
        ], top
    if neg not in hello.versions:
        return _version_not_offered(hello.versions, neg), None
    version = neg
    kind = _leaf_kind(facts)
    names = suite_names()
    offered_names = {names.get(c, "") for c in hello.suites}
    if version != "TLSv1.3" and kind == "ECDSA" and not any("ECDSA" in n for n in offered_names):
        out.append(
            _reason(
                "tls.no-ecdsa",
                ClientOutcome.FAILS,
                "the server certificate has an ECDSA key, and this client offers no ECDSA cipher "
                "suite",
                "add an RSA certificate next to the ECDSA one (dual certificates)",
            )
        )
    if server.negotiated_suite and server.negotiated_suite not in offered_names:
        code = suite_codes().get(server.negotiated_suite)
        if code is None or code not in hello.suites:
            out.append(
                _reason(
                    "tls.suite-untested",
                    ClientOutcome.UNKNOWN,
                    f"the server chose {server.negotiated_suite} with vedette, which this client "
                    "does not offer; whether it accepts one of the client's suites was not tested",
                    "run vedette scan --mode full to test it",
                )
            )
    return out, version


def _version_not_offered(offered: Sequence[str], neg: str | None) -> list[ClientReason]:
    """Quick mode: the server negotiated ``neg`` with vedette's probe, which offered every
    version up to TLS 1.3, so ``neg`` is the highest the server accepts. A client whose
    versions are all newer cannot connect; one that also offers older ones might."""
    older = [v for v in offered if _vindex(v) < _vindex(neg)]
    if not older:
        return [
            _reason(
                "tls.version",
                ClientOutcome.FAILS,
                f"no common TLS version: the server's highest is {neg} (it chose it when "
                f"vedette offered up to TLS 1.3); the client offers {', '.join(offered)}",
                "enable TLS 1.2 and 1.3 on the server (OpenSSL 1.1.1 or later)",
            )
        ]
    return [
        _reason(
            "tls.version-untested",
            ClientOutcome.UNKNOWN,
            f"the server negotiated {neg} with vedette, which this client does not offer; "
            f"whether it also accepts {max(older, key=_vindex)} was not tested",
            "run vedette scan --mode full to test it",
        )
    ]


def _sha512_rule(profile: Profile, facts: _ChainFacts, version: str | None) -> list[ClientReason]:
    if profile.rules.sha512_tls12:
        return []
    if version not in (None, "TLSv1.2") and _vindex(version) < _vindex("TLSv1.2"):
        return []
    if "TLSv1.2" not in profile.hello.versions:
        return []
    out = []
    for sent in facts.chain.sent:
        cert = sent.cert
        if cert is None or cert.signature_algorithm_oid.dotted_string not in _SHA512_OIDS:
            continue
        position = "server certificate" if sent.index == 0 else f"certificate #{sent.index + 1}"
        out.append(
            _reason(
                "cert.sha512-legacy-schannel",
                ClientOutcome.FAILS,
                f"{position} {_name(cert)} is signed with SHA-512, which SChannel on this OS does "
                "not accept under TLS 1.2 (the handshake fails with SEC_E_ALGORITHM_MISMATCH, "
                "0x80090331; fixed by KB2973337)",
                "reissue with SHA-256 (vedette ca sign --hash sha256, or a new CSR for a public "
                "CA), or install KB2973337 on the clients",
            )
        )
    return out


#: JavaMail's protocol name (the ``mail.<protocol>.`` property prefix) per service.
_JAVAMAIL_PROTOCOLS = MappingProxyType(
    {
        "imap": "imap",
        "imaps": "imaps",
        "pop3": "pop3",
        "pop3s": "pop3s",
        "smtp": "smtp",
        "submission": "smtp",
        "smtps": "smtps",
    }
)


#: Certificate signature algorithm OIDs -> the TLS SignatureScheme names that cover them in
#: signature_algorithms(_cert) (RFC 8446 4.2.3: for certificates, ECDSA schemes name the hash
#: only; RSASSA-PSS is listed as rsa_pss_rsae_* or rsa_pss_pss_*).
_CERT_SCHEMES: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "1.2.840.113549.1.1.4": ("rsa_pkcs1_md5",),
        "1.2.840.113549.1.1.5": ("rsa_pkcs1_sha1",),
        "1.3.14.3.2.29": ("rsa_pkcs1_sha1",),
        "1.2.840.113549.1.1.14": ("rsa_pkcs1_sha224",),
        "1.2.840.113549.1.1.11": ("rsa_pkcs1_sha256",),
        "1.2.840.113549.1.1.12": ("rsa_pkcs1_sha384",),
        "1.2.840.113549.1.1.13": ("rsa_pkcs1_sha512",),
        "1.2.840.10045.4.1": ("ecdsa_sha1",),
        "1.2.840.10045.4.3.1": ("ecdsa_sha224",),
        "1.2.840.10045.4.3.2": ("ecdsa_secp256r1_sha256",),
        "1.2.840.10045.4.3.3": ("ecdsa_secp384r1_sha384",),
        "1.2.840.10045.4.3.4": ("ecdsa_secp521r1_sha512",),
        "1.2.840.10040.4.3": ("dsa_sha1",),
        "1.3.101.112": ("ed25519",),
        "1.3.101.113": ("ed448",),
    }
)
_PSS_OID = "1.2.840.113549.1.1.10"


def _cert_schemes(cert: x509.Certificate) -> tuple[str, ...]:
    oid = cert.signature_algorithm_oid.dotted_string
    if oid == _PSS_OID:
        digest = cert.signature_hash_algorithm
        bits = digest.digest_size * 8 if digest is not None else 0
        return (f"rsa_pss_rsae_sha{bits}", f"rsa_pss_pss_sha{bits}")
    return _CERT_SCHEMES.get(oid, ())


def _sigalgs_cert_rule(
    profile: Profile, facts: _ChainFacts, version: str | None
) -> list[ClientReason]:
    """Rule: the chain the server sends is signed with schemes the client lists (TLS 1.2+).

    Two sides abort (both seen with OpenSSL's s_server and a real Java 17 offering Java
    17.0.3's lists, tests/integration/test_clients_java.py): a server certificate signed with
    a scheme missing from the client's ``signature_algorithms_cert`` leaves an OpenSSL server
    (Postfix, Dovecot) with no certificate to send, and it aborts (handshake_failure, "no
    suitable signature algorithm"); a CA certificate so signed is sent, and a client that
    holds the chain to its own list (``chain_sigalgs``: JSSE's algorithm constraints) refuses
    it. A root's own signature is never checked.
    """
    hello = profile.hello
    listed = hello.sigalgs_cert or hello.sigalgs
    if not listed or (version is not None and _vindex(version) < _vindex("TLSv1.2")):
        return []
    if "TLSv1.2" not in hello.versions and "TLSv1.3" not in hello.versions:
        return []
    out: list[ClientReason] = []
    for sent in facts.chain.sent:
        cert = sent.cert
        if cert is None or is_self_signed(cert):
            continue
        schemes = _cert_schemes(cert)
        if not schemes or set(schemes) & set(listed):
            continue
        position = "server certificate" if sent.index == 0 else f"certificate #{sent.index + 1}"
        what = f"{position} {_name(cert)} is signed with {schemes[0]}"
        fix = "reissue with SHA-256 (vedette ca sign --hash sha256, or a new CSR for a public CA)"
        if sent.index == 0 and hello.sigalgs_cert:
            text = (
                f"{what}, which this client's signature_algorithms_cert does not list: an "
                "OpenSSL server finds no certificate it may send and aborts the handshake "
                "(handshake_failure, no suitable signature algorithm)"
            )
            out.append(_reason("tls.sigalgs-cert", ClientOutcome.FAILS, text, fix))
        elif profile.rules.chain_sigalgs:
            text = (
                f"{what}, which this client's hello does not list, and it refuses such a chain "
                "(Java: Algorithm constraints check failed on signature algorithm)"
            )
            out.append(_reason("cert.sigalg-not-offered", ClientOutcome.FAILS, text, fix))
    return out


def _name_check_property(endpoint: Endpoint | None) -> str:
    proto = _JAVAMAIL_PROTOCOLS.get(str(endpoint.service)) if endpoint is not None else None
    if proto is not None:
        return f"mail.{proto}.ssl.checkserveridentity=true"
    return (
        "mail.<protocol>.ssl.checkserveridentity=true (mail.imap., mail.imaps., mail.smtp., "
        "mail.smtps., mail.pop3., mail.pop3s.)"
    )


def _name_reasons(
    profile: Profile, leaf: x509.Certificate, host: str, endpoint: Endpoint | None
) -> list[ClientReason]:
    result = match_certificate(leaf, host)
    if result.matched:
        return []
    no_san_name = not result.dns_names and not result.ip_addresses
    cn_match = any(dns_name_matches(cn, host) for cn in result.common_names)
    if profile.rules.cn_fallback and no_san_name and cn_match:
        return [
            _reason(
                "cert.cn-only",
                ClientOutcome.WARNING,
                f"{host} is only in the subject CN (no subjectAltName); this client still "
                "accepts it, newer ones do not",
                "reissue with the name in the subjectAltName",
            )
        ]
    fix = "get a certificate whose subjectAltName lists every name clients use"
    if not profile.rules.check_name:
        return [
            _reason(
                "cert.name-unchecked",
                ClientOutcome.WARNING,
                f"works, but accepts any name: a man-in-the-middle risk (the certificate is "
                f"not valid for {host}: {result.describe()}; this client does not check the "
                "name by default)",
                f"set {_name_check_property(endpoint)} in the client; {fix}",
            )
        ]
    return [
        _reason(
            "cert.name-mismatch",
            ClientOutcome.FAILS,
            f"the certificate is not valid for {host} ({result.describe()})",
            fix,
        )
    ]


def _verdict(profile: Profile, reasons: list[ClientReason]) -> ClientVerdict:
    # Drop duplicates (the same rule from two sources), keep the worst first.
    seen: set[tuple[str, str]] = set()
    unique = []
    for r in sorted(reasons, key=lambda r: _ORDER[r.outcome]):
        if (r.code, r.text) not in seen:
            seen.add((r.code, r.text))
            unique.append(r)
    outcome = unique[0].outcome if unique else ClientOutcome.WORKS
    return ClientVerdict(
        profile=profile.id,
        name=profile.name,
        family=profile.family,
        outcome=outcome,
        reasons=tuple(unique),
    )


_DANE = "depends on DANE/MTA-STS, not checked: an opportunistic MTA accepts it otherwise"
_UNVERIFIED = "works, but does not check the certificate: "
_VERIFY_FIX = (
    "make the script verify: pass ssl.create_default_context() (imaplib.IMAP4_SSL(ssl_context="
    "...), smtplib's starttls(context=...), poplib.POP3_SSL(context=...)); then: "
)


def _not_fatal(
    reasons: list[ClientReason], reword: Callable[[ClientReason], tuple[str, str]]
) -> list[ClientReason]:
    """A client that goes on whatever the certificate (an MTA's opportunistic TLS, a script
    that does not verify): its certificate failures become warnings, reworded; the handshake's
    (``tls.``) stay failures."""
    out = []
    for r in reasons:
        if r.outcome is not ClientOutcome.FAILS or r.code.startswith("tls."):
            out.append(r)
        else:
            text, fix = reword(r)
            out.append(_reason(r.code, ClientOutcome.WARNING, text, fix))
    return out


def simulate(
    chain_der: Sequence[bytes],
    *,
    host: str | None,
    as_of: dt.datetime,
    data: TrustData,
    profiles: Sequence[Profile],
    server: ServerTls | None = None,
    extra_roots: tuple[bytes, ...] = (),
    options: ClientOptions | None = None,
    endpoint: Endpoint | None = None,
    check_handshake: bool = True,
    intermediates: tuple[bytes, ...] = (),
) -> ClientMatrix:
    """The matrix for one chain: a verdict per profile, every reason listed.

    ``intermediates``: CA certificates known besides the chain (``--intermediates``, ``--fetch``);
    they name what is missing and never make the chain work.
    """
    options = options or ClientOptions()
    if as_of.tzinfo is None:
        as_of = as_of.replace(tzinfo=dt.UTC)
    facts = _facts(chain_der, data, extra_roots, intermediates)
    verdicts = []
    for profile in profiles:
        if as_of.date() < profile.released:
            verdicts.append(
                ClientVerdict(
                    profile=profile.id,
                    name=profile.name,
                    family=profile.family,
                    outcome=ClientOutcome.NOT_RELEASED,
                    reasons=(
                        _reason(
                            "client.not-released",
                            ClientOutcome.NOT_RELEASED,
                            f"released {_day(profile.released)}, after {_day(as_of)}",
                        ),
                    ),
                )
            )
            continue
        if not chain_der:
            verdicts.append(
                _verdict(
                    profile,
                    [
                        _reason(
                            "cert.none",
                            ClientOutcome.FAILS,
                            "the server sent no certificate",
                            "configure a certificate",
                        )
                    ],
                )
            )
            continue
        reasons = _trust_reasons(profile, facts, data, as_of, options)
        if facts.chain.leaf is not None and host is not None:
            reasons.extend(_name_reasons(profile, facts.chain.leaf, host, endpoint))
        version: str | None = None
        if check_handshake:
            hs, version = _handshake(profile, server, facts)
            reasons.extend(hs)
        else:
            version = max(profile.hello.versions, key=_vindex, default=None)
        reasons.extend(_sha512_rule(profile, facts, version))
        reasons.extend(_sigalgs_cert_rule(profile, facts, version))
        if not profile.rules.verify:
            reasons = _not_fatal(reasons, lambda r: (_UNVERIFIED + r.text, _VERIFY_FIX + r.fix))
        elif profile.opportunistic:
            reasons = _not_fatal(reasons, lambda r: (f"{r.text} — {_DANE}", r.fix))
        verdicts.append(_verdict(profile, reasons))
    return ClientMatrix(
        endpoint=endpoint,
        as_of=as_of,
        verdicts=tuple(verdicts),
        notes=chain_notes(facts, data, extra_roots, options),
        inventory=inventory_lines(verdicts, options.inventory, profiles),
    )


# --- notes: --ca, interception, expectations ---------------------------------------------------


def _issuer_texts(facts: _ChainFacts) -> list[str]:
    out = []
    for s in facts.chain.sent:
        if s.cert is not None:
            out.append(describe(s.cert.issuer))
            out.append(describe(s.cert.subject))
    return out


def interception_product(chain_der: Sequence[bytes], data: TrustData) -> str | None:
    """The SSL-inspection product whose CA name appears in the chain, if any (cheap: names
    only, no path building)."""
    texts = []
    for s in parse_sent(chain_der):
        if s.cert is not None:
            texts += [describe(s.cert.issuer), describe(s.cert.subject)]
    return _match_product(texts, data)


def _interception(facts: _ChainFacts, data: TrustData) -> str | None:
    return _match_product(_issuer_texts(facts), data)


def _match_product(texts: list[str], data: TrustData) -> str | None:
    names = [t.lower() for t in texts]
    for product in data.interception:
        for pattern in product.patterns:
            p = pattern.lower()
            if any(p in n for n in names):
                return product.product
    return None


def chain_notes(
    facts: _ChainFacts, data: TrustData, extra: tuple[bytes, ...], options: ClientOptions
) -> tuple[str, ...]:
    notes = []
    if facts.anchor_is_extra:
        who = ", ".join(options.ca_applies_to) if options.ca_applies_to else "every client"
        notes.append(
            f"The chain ends at a private root given with --ca; assumed installed on: {who}."
        )
    elif (
        facts.anchor_fp is None
        and facts.chain.leaf is not None
        and facts.chain.missing_issuer is None
    ):
        notes.append("The chain ends at a root that is in no public store known to vedette.")
    elif facts.chain.end is ChainEnd.UNKNOWN_ROOT and facts.top is not None:
        top = facts.top
        root = describe(
            facts.chain.supplied_path[0].subject if facts.chain.supplied_path else top.issuer
        )
        notes.append(
            f"The server sends the chain up to {describe(top.subject)}; its issuer {root} is in "
            "no store known to vedette: an unknown root. If it is your organisation's own root, "
            "deploy it to the clients and give it to vedette with --ca; sending it does not help."
        )
    product = _interception(facts, data)
    if product is not None:
        notes.append(
            f"The chain was issued by {product}, an SSL-inspection product: the connection is "
            "intercepted between vedette and the server; clients without its root fail."
        )
    return tuple(notes)


# --- inventory ---------------------------------------------------------------------------------


def parse_inventory(text: str, source: str) -> tuple[tuple[str, str, int], ...]:
    """Rows of a ``client,version,count`` CSV (header optional; ``#`` comments allowed)."""
    rows = []
    reader = csv.reader(io.StringIO(text))
    for n, row in enumerate(reader, start=1):
        if not row or not "".join(row).strip() or row[0].strip().startswith("#"):
            continue
        cells = [c.strip() for c in row]
        if n == 1 and cells[0].lower() == "client":
            continue
        if len(cells) != 3 or not cells[2].isdigit():
            raise UsageError(f"{source}:{n}: expected client,version,count (count a whole number)")
        rows.append((cells[0].lower(), cells[1], int(cells[2])))
    if not rows:
        raise UsageError(f"{source}: no inventory row (columns: client,version,count)")
    return tuple(rows)


def _vkey(text: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", text)) or (0,)


def _profile_for(client: str, version: str, profiles: Sequence[Profile]) -> Profile | None:
    client = _canonical(client)
    for p in profiles:
        if p.id == client:
            return p
    family = [p for p in profiles if p.family == client]
    if not family:
        return None
    if not version:
        return max(family, key=lambda p: p.released)
    want = _vkey(version)
    older = [p for p in family if _vkey(p.version) <= want]
    if older:
        return max(older, key=lambda p: _vkey(p.version))
    return min(family, key=lambda p: _vkey(p.version))


def inventory_lines(
    verdicts: Iterable[ClientVerdict],
    inventory: Sequence[tuple[str, str, int]],
    profiles: Sequence[Profile],
) -> tuple[str, ...]:
    if not inventory:
        return ()
    by_id = {v.profile: v for v in verdicts}
    buckets: dict[ClientOutcome, list[tuple[int, str]]] = {}
    unmatched = 0
    for client, version, count in inventory:
        p = _profile_for(client, version, profiles)
        verdict = by_id.get(p.id) if p is not None else None
        if p is None or verdict is None:
            unmatched += count
            continue
        label = f"{client} {version}".strip() + f" (as {p.id})"
        buckets.setdefault(verdict.outcome, []).append((count, label))
    lines = []
    words = {
        ClientOutcome.FAILS: "will fail",
        ClientOutcome.UNKNOWN: "unknown",
        ClientOutcome.WARNING: "work with a warning",
        ClientOutcome.WORKS: "work",
        ClientOutcome.NOT_RELEASED: "not released at that date",
    }
    for outcome in sorted(buckets, key=lambda o: _ORDER[o]):
        items = sorted(buckets[outcome], reverse=True)
        total = sum(c for c, _ in items)
        detail = ", ".join(f"{c} {label}" for c, label in items)
        lines.append(f"{total} device{'s' if total != 1 else ''} {words[outcome]}: {detail}")
    if unmatched:
        lines.append(
            f"{unmatched} devices match no client profile (see vedette cert clients --list)"
        )
    return tuple(lines)


# --- expectations: --expect-issuer, --pin -------------------------------------------------------


def spki_sha256(cert: x509.Certificate) -> str:
    """SHA-256 of the SubjectPublicKeyInfo, hex (HPKP's pin-sha256, in hex rather than base64)."""
    from cryptography.hazmat.primitives import serialization

    spki = public_key_of(cert).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    h = hashes.Hash(hashes.SHA256())
    h.update(spki)
    return h.finalize().hex()
