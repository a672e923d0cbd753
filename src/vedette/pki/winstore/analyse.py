"""Findings over Windows certificate stores (pure: exports, a date and trust data in).

Each finding has a stable id, a severity, a plain-words title, the certificates concerned and
the PowerShell that fixes it, every change preceded by a backup export of the certificate
(:mod:`.powershell`). What is judged:

* ``store.root-in-intermediate`` — a self-signed root in Intermediate Certification
  Authorities (CA);
* ``store.non-root-in-root`` — a certificate whose issuer is someone else in Trusted Root
  Certification Authorities (Root);
* ``store.duplicate-root`` — one root in Root more than once: the same key, or the same
  subject, with the same or another serial number;
* ``store.expired`` — an expired certificate (never the expired roots Windows itself needs:
  Microsoft KB 293781, "Required trusted root certificates");
* ``store.distrusted`` — a root the trust timeline (``vedette.trust``) says was removed or
  disallowed;
* ``store.no-private-key`` — a personal (My) certificate without a private key (from
  ``certutil -store`` text only: the other exports carry no key information);
* ``store.several-for-same-name`` — several valid personal certificates for one name and
  purpose: the "more than one certificate" warning of the Skype for Business / Lync
  deployment wizard (field note 003), where the service may pick the wrong one;
* ``store.ca-list-oversized`` — the CA names a Windows server sends in a TLS
  CertificateRequest (the machine's Root store) exceed what SChannel clients accept, the
  same limit as the ``tls.client-cert-ca-list-oversized`` check sees from outside.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from vedette.model import Severity
from vedette.pki.winstore import powershell as ps
from vedette.pki.winstore.inputs import Export, StoreCert

if TYPE_CHECKING:
    from vedette.trust import TrustData

__all__ = ["CaList", "StoreFinding", "StoreReport", "check_stores", "merge"]

#: Expired roots Windows needs (Microsoft KB 293781): never proposed for removal.
REQUIRED_ROOTS = (
    "microsoft root authority",
    "microsoft root certificate authority",
    "thawte timestamping ca",
    "copyright (c) 1997 microsoft corp.",
    "microsoft authenticode(tm) root authority",
    "no liability accepted, (c)97 verisign, inc.",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreFinding:
    id: str
    severity: Severity
    title: str
    detail: str
    certificates: tuple[StoreCert, ...]
    fix: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class CaList:
    """What a server on this machine would send as acceptable client-certificate CAs."""

    location: str
    count: int
    bytes: int
    limit: int
    estimated: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreReport:
    exports: tuple[Export, ...]
    certificates: tuple[StoreCert, ...]
    findings: tuple[StoreFinding, ...]
    ca_lists: tuple[CaList, ...]
    notes: tuple[str, ...] = field(default=())


def merge(exports: Iterable[Export]) -> list[StoreCert]:
    """Every certificate once per (location, store, thumbprint): the DER reading wins, and
    the key state comes from certutil text when both describe the same certificate."""
    by_key: dict[tuple[str, str, str], StoreCert] = {}
    loose: list[StoreCert] = []
    for export in exports:
        for c in export.certificates:
            if c.sha1 is None:
                loose.append(c)
                continue
            k = (c.location, c.store, c.sha1)
            old = by_key.get(k)
            if old is None:
                by_key[k] = c
            elif old.from_text and not c.from_text:
                by_key[k] = _with_key(c, old.has_key)
            elif (c.from_text and not old.from_text) or (
                c.has_key is not None and old.has_key is None
            ):
                by_key[k] = _with_key(old, c.has_key)
    return [*by_key.values(), *loose]


def _with_key(c: StoreCert, has_key: bool | None) -> StoreCert:
    from dataclasses import replace

    return replace(c, has_key=has_key)


def _label(c: StoreCert) -> str:
    thumb = c.sha1.upper() if c.sha1 else "no thumbprint"
    return f"{c.subject or '(no subject)'} [{thumb}]"


def _fixable(c: StoreCert) -> bool:
    try:
        ps.safe_thumbprint(c.sha1 or "")
        ps.safe_store(c.store)
    except ValueError:
        return False
    return c.location in ps.LOCATIONS


def _quoted_comment(prefix: str, c: StoreCert) -> str:
    """A comment naming the certificate; its subject only when it can be quoted safely."""
    try:
        return f"# {prefix}: " + ps.ps_quote(c.subject)
    except ValueError:
        return f"# {prefix}: (subject with control characters, not shown)"


def _required(c: StoreCert) -> bool:
    s = c.subject.casefold()
    return any(name in s for name in REQUIRED_ROOTS)


def _fix(items: Sequence[tuple[StoreCert, list[str]]], prefix: str) -> tuple[str, ...]:
    lines: list[str] = []
    for c, commands in items:
        lines.append(_quoted_comment(prefix, c))
        lines.extend(commands)
    return tuple(lines)


def _stores(certs: Sequence[StoreCert], store: str) -> dict[str, list[StoreCert]]:
    out: dict[str, list[StoreCert]] = defaultdict(list)
    for c in certs:
        if c.store == store:
            out[c.location].append(c)
    return out


def check_stores(
    exports: Sequence[Export],
    *,
    now: datetime,
    trust: TrustData | None,
    ca_list_limit: int,
) -> StoreReport:
    certs = merge(exports)
    findings: list[StoreFinding] = []
    findings += _roots_in_intermediate(certs)
    findings += _non_roots_in_root(certs)
    findings += _duplicate_roots(certs)
    findings += _expired(certs, now)
    if trust is not None:
        findings += _distrusted(certs, now, trust)
    findings += _no_private_key(certs)
    findings += _several_for_same_name(certs, now)
    ca_lists = _ca_lists(certs, ca_list_limit)
    for cl in ca_lists:
        if cl.bytes > cl.limit:
            findings.append(_ca_list_finding(cl))
    notes = _notes(exports)
    findings.sort(key=lambda f: (-f.severity, f.id))
    return StoreReport(
        exports=tuple(exports),
        certificates=tuple(certs),
        findings=tuple(findings),
        ca_lists=tuple(ca_lists),
        notes=notes,
    )


def _notes(exports: Sequence[Export]) -> tuple[str, ...]:
    notes = []
    if any(e.format == "certutil" for e in exports):
        notes.append(
            "certutil -store text carries no certificate bytes: from it vedette reads names, "
            "serials, dates, thumbprints and whether a private key is there, but not the "
            "public key (duplicates are matched by subject only), the extensions (a personal "
            "certificate's purpose is unknown) or the exact size of a name (the CA list size "
            "is estimated). Export the stores as .p7b for the full check."
        )
    if not any(e.format == "certutil" and e.store == "My" for e in exports):
        notes.append(
            "no certutil -store My text given: whether personal certificates have their "
            "private key was not checked (.p7b and .cer exports never carry keys)"
        )
    return tuple(notes)


def _roots_in_intermediate(certs: Sequence[StoreCert]) -> list[StoreFinding]:
    out = []
    for location, group in _stores(certs, "CA").items():
        roots = [c for c in group if c.self_issued and c.self_signed is not False]
        if not roots:
            continue
        in_root = {c.sha1 for c in certs if c.store == "Root" and c.location == location}
        items = []
        for c in roots:
            if not _fixable(c):
                continue
            lines = ps.remove_lines(location, "CA", c.sha1 or "")
            if c.sha1 not in in_root:
                lines.append(
                    "#   only if you trust this root and want it trusted: Import-Certificate "
                    f"-FilePath (Join-Path $backup '{location}-CA-{(c.sha1 or '').upper()}.cer') "
                    f"-CertStoreLocation {ps.cert_path(location, 'Root')}"
                )
            items.append((c, lines))
        out.append(
            StoreFinding(
                id="store.root-in-intermediate",
                severity=Severity.MEDIUM,
                title=f"{len(roots)} self-signed root(s) in the Intermediate Certification "
                f"Authorities store ({location})",
                detail="A root belongs in Trusted Root Certification Authorities; in the "
                "intermediate store it is not trusted as a root, and Skype for Business and "
                "Lync Server expect roots only in Root and intermediates only in CA (their "
                "certificate checks fail on such a store). " + "; ".join(_label(c) for c in roots),
                certificates=tuple(roots),
                fix=_fix(items, "move out of CA"),
            )
        )
    return out


def _non_roots_in_root(certs: Sequence[StoreCert]) -> list[StoreFinding]:
    out = []
    for location, group in _stores(certs, "Root").items():
        bad = [c for c in group if not c.self_issued]
        if not bad:
            continue
        items = []
        for c in bad:
            if not _fixable(c):
                continue
            if c.is_ca is False:
                items.append((c, ps.remove_lines(location, "Root", c.sha1 or "")))
            else:
                items.append((c, ps.move_lines(location, "Root", c.sha1 or "", "CA")))
        out.append(
            StoreFinding(
                id="store.non-root-in-root",
                severity=Severity.MEDIUM,
                title=f"{len(bad)} certificate(s) that are not roots in the Trusted Root "
                f"Certification Authorities store ({location})",
                detail="A certificate issued by another CA is trusted as an anchor when it "
                "sits in Root: chains stop there, revocation of its issuer is not seen, and "
                "Skype for Business / Lync reject the store. Intermediates go to CA; server "
                "or user certificates do not belong in Root at all. "
                + "; ".join(_label(c) for c in bad),
                certificates=tuple(bad),
                fix=_fix(items, "move to CA" if items else ""),
            )
        )
    return out


def _duplicate_roots(certs: Sequence[StoreCert]) -> list[StoreFinding]:
    out = []
    for location, in_root in _stores(certs, "Root").items():
        group = [c for c in in_root if c.self_issued]  # non-roots: store.non-root-in-root
        # Union of "same key" and "same subject" groups, over distinct thumbprints.
        parent: dict[int, int] = {}

        def find(i: int, parent: dict[int, int] = parent) -> int:
            while parent.setdefault(i, i) != i:
                i = parent[i]
            return i

        by_attr: dict[tuple[str, str], int] = {}
        for i, c in enumerate(group):
            find(i)
            for attr in (("key", c.key_id or ""), ("subject", c.subject_key)):
                if not attr[1]:
                    continue
                j = by_attr.setdefault(attr, i)
                parent[find(i)] = find(j)
        clusters: dict[int, list[StoreCert]] = defaultdict(list)
        for i, c in enumerate(group):
            clusters[find(i)].append(c)
        for members in clusters.values():
            distinct = {c.sha1 or c.source: c for c in members}
            if len(distinct) < 2:
                continue
            members = sorted(distinct.values(), key=_newest_first)
            keep, rest = members[0], members[1:]
            same_key = len({c.key_id for c in members}) == 1 and keep.key_id is not None
            same_serial = len({c.serial for c in members}) == 1
            how = ("the same key" if same_key else "the same subject") + (
                " and serial number" if same_serial else ", other serial numbers"
            )
            items = [
                (c, ps.remove_lines(location, "Root", c.sha1 or ""))
                for c in rest
                if _fixable(c) and not _required(c)
            ]
            out.append(
                StoreFinding(
                    id="store.duplicate-root",
                    severity=Severity.MEDIUM if same_key else Severity.LOW,
                    title=f"A root is in the Trusted Root store {len(members)} times "
                    f"({location}): {keep.subject}",
                    detail=f"{len(members)} certificates with {how}. Windows may build "
                    "chains through either; the field note's Skype for Business server had "
                    "such duplicates. Keep the newest "
                    f"({_label(keep)}); remove: "
                    + "; ".join(_label(c) for c in rest)
                    + ". Check first that nothing still chains to the one removed (a "
                    "renewed root with a new key is not a duplicate for clients that "
                    "still see the old chain).",
                    certificates=tuple(members),
                    fix=_fix(items, "duplicate, remove"),
                )
            )
    return out


def _newest_first(c: StoreCert) -> tuple[float, str]:
    after = c.not_after.timestamp() if c.not_after is not None else 0.0
    return (-after, c.sha1 or "")


def _expired(certs: Sequence[StoreCert], now: datetime) -> list[StoreFinding]:
    out = []
    groups: dict[tuple[str, str], list[StoreCert]] = defaultdict(list)
    for c in certs:
        if c.not_after is not None and c.not_after < now and not _required(c):
            groups[(c.location, c.store)].append(c)
    for (location, store), bad in sorted(groups.items()):
        items = [(c, ps.remove_lines(location, store, c.sha1 or "")) for c in bad if _fixable(c)]
        out.append(
            StoreFinding(
                id="store.expired",
                severity=Severity.MEDIUM if store == "My" else Severity.LOW,
                title=f"{len(bad)} expired certificate(s) in {location}\\{store}",
                detail="Expired certificates are never used for new connections; in My they "
                "can still be picked by a service or a deployment wizard, in Root and CA "
                "they lengthen every chain search (the expired roots Windows itself needs, "
                "Microsoft KB 293781, are not listed). "
                + "; ".join(
                    f"{_label(c)} expired {c.not_after:%Y-%m-%d}" for c in bad if c.not_after
                ),
                certificates=tuple(bad),
                fix=_fix(items, "expired, remove"),
            )
        )
    return out


def _distrust_index(trust: TrustData) -> dict[str, str]:
    """Thumbprint (SHA-1) -> SHA-256 of every root the trust data knows."""
    return {
        hashlib.sha1(der).hexdigest(): hashlib.sha256(der).hexdigest()  # noqa: S324
        for der in trust.roots_der
    }


def _distrust_reasons(sha256: str, now: datetime, trust: TrustData) -> tuple[list[str], bool]:
    reasons = []
    microsoft = False
    today = now.date()
    for e in trust.events:
        if sha256 in e.roots and e.mechanism == "removed" and e.effective <= today:
            reasons.append(f"{e.ca}: removed by {e.platform} from {e.effective} ({e.source})")
            microsoft = microsoft or e.platform == "microsoft"
    info = trust.roots.get(sha256)
    ms = info.stores.get("microsoft") if info is not None else None
    if ms is not None and ms.disallowed is not None and ms.disallowed <= today:
        reasons.append(f"Microsoft's root program disallows it since {ms.disallowed}")
        microsoft = True
    return reasons, microsoft


def _distrusted(certs: Sequence[StoreCert], now: datetime, trust: TrustData) -> list[StoreFinding]:
    index: dict[str, str] | None = None
    out = []
    for c in certs:
        sha256 = c.sha256
        if sha256 is None and c.sha1 is not None:
            index = index if index is not None else _distrust_index(trust)
            sha256 = index.get(c.sha1)
        if sha256 is None:
            continue
        reasons, microsoft = _distrust_reasons(sha256, now, trust)
        if not reasons:
            continue
        fix = _fix([(c, ps.remove_lines(c.location, c.store, c.sha1 or ""))], "distrusted, "
                   "remove") if _fixable(c) else ()  # fmt: skip
        out.append(
            StoreFinding(
                id="store.distrusted",
                severity=Severity.HIGH if microsoft else Severity.MEDIUM,
                title=f"A distrusted CA is in {c.location}\\{c.store}: {c.subject}",
                detail=f"{_label(c)}: " + "; ".join(reasons) + ". Anything it signs is "
                "trusted on this machine while it stays here.",
                certificates=(c,),
                fix=fix,
            )
        )
    return out


def _no_private_key(certs: Sequence[StoreCert]) -> list[StoreFinding]:
    out = []
    for c in certs:
        if c.store != "My" or c.has_key is not False:
            continue
        fix = _fix([(c, ps.repair_key_lines(c.location, "My", c.sha1 or ""))],
                   "re-associate the key") if _fixable(c) else ()  # fmt: skip
        out.append(
            StoreFinding(
                id="store.no-private-key",
                severity=Severity.MEDIUM,
                title=f"A personal certificate has no private key ({c.location}\\My): {c.subject}",
                detail=f"{_label(c)}: certutil found no key for it. A service cannot use a "
                'certificate without its key (Skype for Business: "may not have a private '
                'key that is capable of key exchange"). certutil -repairstore re-associates '
                "a key still on the machine; otherwise import the PFX again (vedette cert "
                "convert --for skype-server writes one with a CAPI key).",
                certificates=(c,),
                fix=fix,
            )
        )
    return out


def _several_for_same_name(certs: Sequence[StoreCert], now: datetime) -> list[StoreFinding]:
    out = []
    groups: dict[tuple[str, str, str], list[StoreCert]] = defaultdict(list)
    for c in certs:
        if c.store != "My" or c.is_ca is True:
            continue
        if c.not_after is not None and c.not_after < now:
            continue
        purposes = sorted(c.purposes) if c.purposes else ["any purpose"]
        if c.purposes is None:
            purposes = ["purpose unknown"]
        for name in c.names:
            for purpose in purposes:
                groups[(c.location, name, purpose)].append(c)
    seen: set[frozenset[str]] = set()
    for (location, name, purpose), members in sorted(groups.items()):
        distinct = {c.sha1 or c.source: c for c in members}
        if len(distinct) < 2:
            continue
        ids = frozenset(distinct)
        if ids in seen:
            continue
        seen.add(ids)
        ordered = sorted(distinct.values(), key=_newest_first)
        keep, rest = ordered[0], ordered[1:]
        items = [(c, ps.remove_lines(location, "My", c.sha1 or "")) for c in rest if _fixable(c)]
        out.append(
            StoreFinding(
                id="store.several-for-same-name",
                severity=Severity.MEDIUM,
                title=f"{len(ordered)} valid certificates for {name} ({purpose}) in {location}\\My",
                detail="A service or deployment tool that picks its certificate by name may "
                "take the wrong one: the Skype for Business / Lync deployment wizard warns "
                'of "more than one certificate". Keep the one assigned (vedette assumes '
                f"the newest: {_label(keep)}); remove: " + "; ".join(_label(c) for c in rest),
                certificates=tuple(ordered),
                fix=_fix(items, "older certificate for the same name, remove"),
            )
        )
    return out


def _ca_lists(certs: Sequence[StoreCert], limit: int) -> list[CaList]:
    out = []
    for location, group in sorted(_stores(certs, "Root").items()):
        if location != "LocalMachine":
            continue
        by_subject: dict[str, StoreCert] = {}
        for c in group:
            by_subject.setdefault(c.subject_key, c)
        # Each name travels as a 2-byte length and the subject's DER (RFC 5246 7.4.4).
        size = sum(2 + c.subject_der_len for c in by_subject.values())
        out.append(
            CaList(
                location=location,
                count=len(by_subject),
                bytes=size,
                limit=limit,
                estimated=any(c.from_text for c in by_subject.values()),
            )
        )
    return out


def _ca_list_finding(cl: CaList) -> StoreFinding:
    return StoreFinding(
        id="store.ca-list-oversized",
        severity=Severity.MEDIUM,
        title="The machine's Root store is too large to send as a client-certificate CA list",
        detail=f"{cl.count} root names, {'about ' if cl.estimated else ''}{cl.bytes} bytes in "
        f"a TLS CertificateRequest (SChannel clients fail past {cl.limit} bytes, Microsoft "
        "KB 933430): a server on this machine that asks for client certificates (Skype for "
        "Business / Lync on 5061, IIS with client certificates) breaks those handshakes, what "
        "the tls.client-cert-ca-list-oversized check sees from outside. Stop sending the "
        "list (SendTrustedIssuerList = 0) and remove the roots that do not belong.",
        certificates=(),
        fix=(
            "# back up the SChannel settings, then stop sending the CA list",
            *ps.schannel_lines(),
        ),
    )
