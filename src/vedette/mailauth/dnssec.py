"""DNSSEC: the chain of trust from a trust anchor down to a name, walked by vedette.

dnspython checks one signature at a time (``dns.dnssec.validate``) but builds no chain of trust;
this module builds it, as a validating resolver does (RFC 4035 section 5):

* at the trust anchor's zone, the DNSKEY set must contain the anchored key (a DNSKEY anchor) or
  a key matching an anchored DS, and be signed by it;
* at each label below, the parent zone says whether there is a zone cut with DS records: a DS
  set signed by the parent's keys leads to the child's DNSKEY set, which must hold a key
  matching a DS and be signed by it; a validated NSEC/NSEC3 record proving "delegation without
  DS" makes everything below INSECURE; a name that is no cut stays in the parent's zone;
* the answer itself (each RRset of a CNAME chain, or the NSEC/NSEC3 proof of a denial) must be
  signed by the keys of the zone it belongs to.

Anything that does not validate is BOGUS with a one-line reason (an expired signature, no DNSKEY
matching the DS, a DS denial without proof...). A lookup that fails (timeout, SERVFAIL on a CD
query) leaves the standing UNKNOWN, with the reason.

Trust anchors are the IANA root key-signing keys shipped in ``anchors/root.ds`` (with their date
and source), or a file in master-file format (DS or DNSKEY lines, as Unbound's
``trust-anchor-file``), ``--trust-anchor FILE``.

The walk reads DNS only through :class:`RawLookup` (``DnsClient.raw``: DO+CD questions whose
answers keep their RRSIGs, NSEC and NSEC3 records). :class:`ValidatingLookup` wraps a client
into a :class:`~vedette.mailauth.answers.Lookup` whose answers carry the validated standing,
so every mail-domain rule sees the standing of its records. :func:`dnssec_status` says, for
one name, which mode judged it (``chain``: vedette's walk; ``trust-ad``: the AD flag of a
validating resolver; ``none``), the standing, the reason and the chain.

A wildcard-expanded answer needs, besides its signature, the validated NSEC or NSEC3 proof
that no closer name exists (RFC 4035 5.3.4, RFC 5155 8.8); an NXDOMAIN proven by NSEC needs the
proof that no wildcard at the closest encloser exists (RFC 4035 5.4). Not implemented (said
so rather than guessed): that wildcard proof for an NXDOMAIN proven by NSEC3, and the proofs
of a wildcard's NODATA.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import dns.exception
import dns.name
import dns.rdata
import dns.rdataclass
import dns.rdataset
import dns.rdatatype
import dns.rrset

from vedette.errors import UsageError
from vedette.mailauth.answers import DnsAnswer, DnsStatus, Security
from vedette.mailauth.dnsclient import CNAME_LOOP, RawAnswer, normalise
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.model import Severity

with warnings.catch_warnings():
    # dnspython's DSA support warns at import (cryptography deprecates DSA); vedette never
    # needs DSA to be quiet about it: a zone signed with DSA validates or not all the same.
    warnings.simplefilter("ignore")
    import dns.dnssec

MAX_CNAMES = 16
_DS = dns.rdatatype.DS
_DNSKEY = dns.rdatatype.DNSKEY
_RRSIG = dns.rdatatype.RRSIG
_NSEC = dns.rdatatype.NSEC
_NSEC3 = dns.rdatatype.NSEC3
_CNAME = dns.rdatatype.CNAME
_ZONE_KEY = 0x0100  # DNSKEY flags: Zone Key (RFC 4034 2.1.1)
_OPT_OUT = 0x01  # NSEC3 flags (RFC 5155 3.1.2)

DNSSEC_BOGUS = domain_check(
    "domain.dnssec-bogus",
    "DNSSEC validation fails: validating resolvers answer SERVFAIL",
    Severity.HIGH,
    "Fix the chain of trust: re-sign the zone (expired signatures), or make the DS records at "
    "the parent match the zone's current key-signing key (remove the DS to go unsigned "
    "safely). Until then mail from validating senders is not delivered.",
    references=("RFC 4035 5", "RFC 7672 2.1"),
)
DNSSEC_INSECURE = domain_check(
    "domain.dnssec-unsigned",
    "Not protected by DNSSEC",
    Severity.LOW,
    "Sign the zone and publish its DS record at the parent (your registrar). Without DNSSEC "
    "a sending MTA cannot use DANE, and MX, SPF and TLSA answers can be forged.",
    references=("RFC 4033", "RFC 7672 2.2"),
)
DNSSEC_UNKNOWN = domain_check(
    "domain.dnssec-unknown",
    "The DNSSEC standing could not be established",
    Severity.INFO,
    "Check that the resolver answers DO+CD queries (or give --trust-ad with a validating "
    "resolver, or --trust-anchor FILE); then run the check again.",
    references=("RFC 4035 4.3",),
)


class RawLookup(Protocol):
    """Where the walk reads DNS: whole DO+CD responses (``DnsClient.raw``)."""

    async def raw(self, name: str, rdtype: str) -> RawAnswer: ...


# --- trust anchors ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TrustAnchors:
    """DS and DNSKEY trust anchors by zone, and where they came from."""

    ds: Mapping[dns.name.Name, tuple[dns.rdata.Rdata, ...]]
    dnskeys: Mapping[dns.name.Name, tuple[dns.rdata.Rdata, ...]]
    source: str

    def closest(self, name: dns.name.Name) -> dns.name.Name | None:
        """The deepest anchored zone at or above ``name``."""
        best: dns.name.Name | None = None
        for zone in (*self.ds, *self.dnskeys):
            if name.is_subdomain(zone) and (best is None or len(zone) > len(best)):
                best = zone
        return best


def parse_trust_anchors(text: str, source: str) -> TrustAnchors:
    """DS and DNSKEY lines in master-file format (``OWNER [TTL] [IN] DS|DNSKEY RDATA``; ``;``
    comments; owners absolute, a missing final dot is added). Raises :class:`UsageError`
    with the line number on anything else."""
    ds: dict[dns.name.Name, list[dns.rdata.Rdata]] = {}
    keys: dict[dns.name.Name, list[dns.rdata.Rdata]] = {}
    for number, raw_line in enumerate(text.splitlines(), 1):
        line = raw_line.split(";", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        where = f"{source}, line {number}"
        if len(fields) < 3:
            raise UsageError(f"{where}: expected 'OWNER DS ...' or 'OWNER DNSKEY ...'")
        owner_text, rest = fields[0], fields[1:]
        while rest and (rest[0].isdigit() or rest[0].upper() == "IN"):
            rest = rest[1:]
        if len(rest) < 2 or rest[0].upper() not in ("DS", "DNSKEY"):
            raise UsageError(f"{where}: only DS and DNSKEY records are trust anchors")
        try:
            owner = dns.name.from_text(owner_text if owner_text.endswith(".") else owner_text + ".")
            rdata = dns.rdata.from_text(
                dns.rdataclass.IN, dns.rdatatype.from_text(rest[0].upper()), " ".join(rest[1:])
            )
        except (dns.exception.DNSException, ValueError) as exc:
            raise UsageError(f"{where}: not a valid {rest[0].upper()} record: {exc}") from None
        (ds if rdata.rdtype == _DS else keys).setdefault(owner, []).append(rdata)
    if not ds and not keys:
        raise UsageError(f"{source}: no DS or DNSKEY trust anchor in the file")
    return TrustAnchors(
        {k: tuple(v) for k, v in ds.items()}, {k: tuple(v) for k, v in keys.items()}, source
    )


def load_trust_anchors(path: Path) -> TrustAnchors:
    """``--trust-anchor FILE``: see :func:`parse_trust_anchors`."""
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the trust anchor file {path}: {exc}") from None
    return parse_trust_anchors(text, str(path))


def root_trust_anchors() -> TrustAnchors:
    """The IANA root zone key-signing keys shipped with vedette (``anchors/root.ds``)."""
    text = resources.files("vedette.mailauth").joinpath("anchors/root.ds").read_text("ascii")
    source = next(
        (ln[len("; source:") :].strip() for ln in text.splitlines() if ln.startswith("; source:")),
        "IANA root-anchors.xml",
    )
    return parse_trust_anchors(text, source)


# --- the walk --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ZoneLink:
    """One step of a chain of trust: a zone and how it was (or was not) trusted."""

    zone: str
    security: Security
    how: str

    def to_json(self) -> dict[str, str]:
        return {"zone": self.zone, "security": self.security.value, "how": self.how}


@dataclass(frozen=True, slots=True)
class _Zone:
    """The state of the walk at a zone: trusted keys when SECURE, else why not."""

    name: dns.name.Name
    security: Security
    keys: tuple[dns.rdata.Rdata, ...] = ()
    reason: str = ""
    links: tuple[ZoneLink, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """The standing of one answer: security, one-line reason, the chain, the raw answer."""

    security: Security
    reason: str
    links: tuple[ZoneLink, ...]
    raw: RawAnswer


def _text(name: dns.name.Name) -> str:
    return normalise(name.to_text()) or "."


def _tag(key: dns.rdata.Rdata) -> int:
    return int(dns.dnssec.key_id(key))  # type: ignore[arg-type]


def _tags(keys: Iterable[dns.rdata.Rdata]) -> str:
    return ", ".join(str(t) for t in sorted({_tag(k) for k in keys})) or "none"


def _when(stamp: int) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _sigs_for(
    section: Iterable[dns.rrset.RRset], owner: dns.name.Name, covered: int
) -> dns.rrset.RRset | None:
    for rrset in section:
        if rrset.rdtype == _RRSIG and rrset.name == owner and rrset.covers == covered:
            return rrset
    return None


def verify_rrset(
    rrset: dns.rrset.RRset,
    sigs: dns.rrset.RRset | None,
    keys: Sequence[dns.rdata.Rdata],
    zone: dns.name.Name,
    now: float,
) -> str | None:
    """``None`` when one signature by one of ``keys`` (of ``zone``) validates ``rrset`` at
    ``now``; otherwise one line saying why none does (the most telling reason)."""
    what = f"{_text(rrset.name)} {dns.rdatatype.to_text(rrset.rdtype)}"
    if sigs is None or len(sigs) == 0:
        return f"{what} has no signature (RRSIG)"
    tags = {_tag(k) for k in keys}
    reasons: list[str] = []
    for sig in sigs:
        signer = sig.signer
        if signer != zone:
            reasons.append(f"{what} is signed by {_text(signer)}, not by its zone {_text(zone)}")
        elif sig.key_tag not in tags:
            reasons.append(
                f"{what} is signed with key {sig.key_tag}, which is not a trusted key "
                f"of {_text(zone)} (trusted: {_tags(keys)})"
            )
        elif sig.expiration < now:
            reasons.insert(0, f"the signature of {what} expired on {_when(sig.expiration)}")
        elif sig.inception > now:
            reasons.insert(0, f"the signature of {what} is valid only from {_when(sig.inception)}")
        else:
            one = dns.rrset.RRset(sigs.name, sigs.rdclass, sigs.rdtype, sigs.covers)
            one.add(sig)
            keyset = dns.rdataset.Rdataset(dns.rdataclass.IN, _DNSKEY)
            for key in keys:
                keyset.add(key)
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    dns.dnssec.validate(rrset, one, {zone: keyset}, now=now)
            except dns.exception.ValidationFailure:
                reasons.insert(0, f"the signature of {what} by key {sig.key_tag} does not verify")
            except dns.exception.DNSException as exc:
                reasons.append(f"the signature of {what} cannot be checked: {exc}")
            else:
                return None
    return reasons[0]


def nsec_types(rdata: dns.rdata.Rdata) -> frozenset[int]:
    """The types in an NSEC or NSEC3 record's bitmap."""
    out: set[int] = set()
    for window, bitmap in rdata.windows:  # type: ignore[attr-defined]
        for i, byte in enumerate(bitmap):
            for bit in range(8):
                if byte & (0x80 >> bit):
                    out.add(window * 256 + i * 8 + bit)
    return frozenset(out)


def _nsec_covers(owner: dns.name.Name, rdata: dns.rdata.Rdata, name: dns.name.Name) -> bool:
    nxt: dns.name.Name = rdata.next  # type: ignore[attr-defined]
    if owner < nxt:
        return bool(owner < name < nxt)
    return bool(name > owner or name < nxt)  # the last NSEC of the zone wraps to the apex


def _nsec3_hash(name: dns.name.Name, rdata: dns.rdata.Rdata) -> str | None:
    try:
        return str(
            dns.dnssec.nsec3_hash(name, rdata.salt, rdata.iterations, rdata.algorithm)  # type: ignore[attr-defined]
        ).lower()
    except (ValueError, dns.exception.DNSException):
        return None


def _nsec3_span(owner: dns.name.Name, rdata: dns.rdata.Rdata) -> tuple[str, str]:
    first = owner.labels[0].decode("ascii", errors="replace").lower()
    nxt = base64.b32hexencode(rdata.next).decode("ascii").lower()  # type: ignore[attr-defined]
    return first, nxt


def _nsec3_covers(owner: dns.name.Name, rdata: dns.rdata.Rdata, hashed: str) -> bool:
    first, nxt = _nsec3_span(owner, rdata)
    if first < nxt:
        return first < hashed < nxt
    return hashed > first or hashed < nxt


@dataclass(frozen=True, slots=True)
class _Denial:
    """What validated NSEC/NSEC3 records say of a name and type."""

    kind: str  # "types" (the name exists: see .types), "absent", "opt-out", "bogus", "none"
    types: frozenset[int] = frozenset()
    reason: str = ""


def _denial(raw: RawAnswer, name: dns.name.Name, zone: _Zone, now: float) -> _Denial:
    """Read the validated NSEC/NSEC3 records of a negative answer about ``name``."""
    checked: list[tuple[dns.name.Name, dns.rdata.Rdata]] = []
    for rrset in raw.authority:
        if rrset.rdtype not in (_NSEC, _NSEC3):
            continue
        reason = verify_rrset(
            rrset, _sigs_for(raw.authority, rrset.name, rrset.rdtype), zone.keys, zone.name, now
        )
        if reason is not None:
            return _Denial("bogus", reason=reason)
        checked.extend((rrset.name, rd) for rd in rrset)
    if not checked:
        return _Denial("none")
    for owner, rd in checked:
        if rd.rdtype == _NSEC:
            if owner == name:
                return _Denial("types", nsec_types(rd))
            if _nsec_covers(owner, rd, name):
                return _Denial("absent")
    nsec3 = [(o, rd) for o, rd in checked if rd.rdtype == _NSEC3]
    if nsec3:
        hashed = _nsec3_hash(name, nsec3[0][1])
        if hashed is None:
            return _Denial("bogus", reason="the NSEC3 parameters cannot be used")
        for owner, rd in nsec3:
            if _nsec3_span(owner, rd)[0] == hashed:
                return _Denial("types", nsec_types(rd))
        for owner, rd in nsec3:
            if _nsec3_covers(owner, rd, hashed):
                return _Denial("opt-out" if rd.flags & _OPT_OUT else "absent")  # type: ignore[attr-defined]
        # The name's own hash is not covered: look for the next closer name's (RFC 5155 7.2.1).
        for depth in range(len(zone.name) + 1, len(name)):
            closer = name.split(depth)[1]
            closer_hash = _nsec3_hash(closer, nsec3[0][1])
            for owner, rd in nsec3:
                if closer_hash is not None and _nsec3_covers(owner, rd, closer_hash):
                    return _Denial("opt-out" if rd.flags & _OPT_OUT else "absent")  # type: ignore[attr-defined]
    return _Denial("none")


class ChainValidator:
    """Walks chains of trust through a :class:`RawLookup`, from ``anchors``; caches each
    zone's state for the validator's life. ``now``: the validation time (default: the clock)."""

    def __init__(
        self, lookup: RawLookup, anchors: TrustAnchors, *, now: float | None = None
    ) -> None:
        self._lookup = lookup
        self.anchors = anchors
        self._now = now
        self._zones: dict[dns.name.Name, asyncio.Future[_Zone]] = {}

    @property
    def now(self) -> float:
        return self._now if self._now is not None else dt.datetime.now(dt.UTC).timestamp()

    async def zone_of(self, name: dns.name.Name) -> _Zone:
        """The walk's state at ``name``: the secure zone holding it (with its keys), or the
        point where the chain became insecure, bogus or unknown."""
        if name not in self._zones:
            self._zones[name] = asyncio.ensure_future(self._zone_of(name))
        return await asyncio.shield(self._zones[name])

    async def _zone_of(self, name: dns.name.Name) -> _Zone:
        anchor = self.anchors.closest(name)
        if anchor is None:
            return _Zone(name, Security.UNKNOWN, reason=f"no trust anchor covers {_text(name)}")
        if name == anchor:
            return await self._anchored(anchor)
        parent = await self.zone_of(name.parent())
        if parent.security is not Security.SECURE:
            return parent
        return await self._step(parent, name)

    async def _anchored(self, zone: dns.name.Name) -> _Zone:
        raw = await self._lookup.raw(_text(zone), "DNSKEY")
        keys = _rrset(raw, zone, _DNSKEY)
        if raw.status.is_failure:
            return _Zone(zone, Security.UNKNOWN, reason=f"the DNSKEY question failed: {raw.detail}")
        if keys is None:
            return _Zone(
                zone, Security.BOGUS, reason=f"{_text(zone)} publishes no DNSKEY (trust anchor)"
            )
        anchored_keys = set(self.anchors.dnskeys.get(zone, ()))
        trusted = [k for k in keys if k in anchored_keys]
        trusted += _matching_ds(zone, keys, self.anchors.ds.get(zone, ()))
        if not trusted:
            anchors = (*self.anchors.dnskeys.get(zone, ()), *self.anchors.ds.get(zone, ()))
            anchor_tags = ", ".join(
                str(a.key_tag if a.rdtype == _DS else _tag(a))  # type: ignore[attr-defined]
                for a in anchors
            )
            return _Zone(
                zone,
                Security.BOGUS,
                reason=f"no DNSKEY of {_text(zone)} matches the trust anchor "
                f"(anchored key tags {anchor_tags}; published {_tags(keys)})",
            )
        return self._trust_keyset(zone, raw, keys, trusted, (), f"trust anchor ({_tags(trusted)})")

    def _trust_keyset(
        self,
        zone: dns.name.Name,
        raw: RawAnswer,
        keys: dns.rrset.RRset,
        trusted: Sequence[dns.rdata.Rdata],
        links: tuple[ZoneLink, ...],
        how: str,
    ) -> _Zone:
        sigs = _sigs_for(raw.answer, zone, _DNSKEY)
        reason = verify_rrset(keys, sigs, trusted, zone, self.now)
        if reason is not None:
            link = ZoneLink(_text(zone), Security.BOGUS, reason)
            return _Zone(zone, Security.BOGUS, reason=reason, links=(*links, link))
        zone_keys = tuple(k for k in keys if k.flags & _ZONE_KEY)
        link = ZoneLink(_text(zone), Security.SECURE, how)
        return _Zone(zone, Security.SECURE, zone_keys, links=(*links, link))

    async def _step(self, parent: _Zone, child: dns.name.Name) -> _Zone:
        """Is there a zone cut at ``child`` (one label below a name of ``parent``'s zone)?"""
        raw = await self._lookup.raw(_text(child), "DS")
        where = f"{_text(child)} (in {_text(parent.name)})"
        if raw.status.is_failure:
            return self._unknown(child, parent, f"the DS question for {where} failed: {raw.detail}")
        ds = _rrset(raw, child, _DS)
        if ds is not None:
            reason = verify_rrset(
                ds, _sigs_for(raw.answer, child, _DS), parent.keys, parent.name, self.now
            )
            if reason is not None:
                return self._bogus(child, parent, f"the DS records of {where}: {reason}")
            return await self._child(child, parent, ds)
        if any(r.rdtype == _CNAME and r.name == child for r in raw.answer):
            return parent  # an alias is no zone cut; its signature is checked with the answer
        denial = _denial(raw, child, parent, self.now)
        if denial.kind == "bogus":
            return self._bogus(child, parent, f"the proof of no DS for {where}: {denial.reason}")
        if denial.kind == "none":
            return self._bogus(
                child, parent, f"no NSEC or NSEC3 record proves that {where} has no DS"
            )
        if denial.kind == "opt-out":
            return self._insecure(child, parent, "inside an NSEC3 opt-out span (unsigned)")
        if denial.kind == "types":
            if _DS in denial.types:
                return self._bogus(child, parent, f"NSEC says {where} has DS, yet none came")
            if dns.rdatatype.NS in denial.types and dns.rdatatype.SOA not in denial.types:
                return self._insecure(child, parent, "delegated without DS (proven by NSEC/NSEC3)")
        return parent  # no cut here (the name is in the parent's zone or does not exist)

    async def _child(self, child: dns.name.Name, parent: _Zone, ds: dns.rrset.RRset) -> _Zone:
        usable = [d for d in ds if _ds_supported(d)]
        if not usable:
            return self._insecure(
                child, parent, "its DS records use only algorithms or digests vedette cannot use"
            )
        raw = await self._lookup.raw(_text(child), "DNSKEY")
        if raw.status.is_failure:
            return self._unknown(
                child, parent, f"the DNSKEY question for {_text(child)} failed: {raw.detail}"
            )
        keys = _rrset(raw, child, _DNSKEY)
        if keys is None:
            return self._bogus(
                child, parent, f"{_text(child)} has DS records but publishes no DNSKEY"
            )
        trusted = _matching_ds(child, keys, usable)
        if not trusted:
            tags = ", ".join(str(d.key_tag) for d in usable)
            return self._bogus(
                child,
                parent,
                f"no DNSKEY of {_text(child)} matches its DS at {_text(parent.name)} "
                f"(DS key tags {tags}; published DNSKEY {_tags(keys)})",
            )
        return self._trust_keyset(
            child,
            raw,
            keys,
            trusted,
            parent.links,
            f"DS at {_text(parent.name)} ({_tags(trusted)})",
        )

    def _unknown(self, child: dns.name.Name, parent: _Zone, reason: str) -> _Zone:
        return _Zone(child, Security.UNKNOWN, reason=reason, links=parent.links)

    def _bogus(self, child: dns.name.Name, parent: _Zone, reason: str) -> _Zone:
        link = ZoneLink(_text(child), Security.BOGUS, reason)
        return _Zone(child, Security.BOGUS, reason=reason, links=(*parent.links, link))

    def _insecure(self, child: dns.name.Name, parent: _Zone, how: str) -> _Zone:
        reason = f"{_text(child)} is {how}"
        link = ZoneLink(_text(child), Security.INSECURE, how)
        return _Zone(child, Security.INSECURE, reason=reason, links=(*parent.links, link))

    async def validate(self, name: str, rdtype: str) -> Verdict:
        """The standing of the answer to (``name``, ``rdtype``), CNAMEs and denials included."""
        raw = await self._lookup.raw(name, rdtype)
        try:
            qname = dns.name.from_text(name)
        except dns.exception.DNSException:
            return Verdict(Security.UNKNOWN, raw.detail or "not a DNS name", (), raw)
        zone = await self.zone_of(qname)
        if zone.security is not Security.SECURE:
            return Verdict(zone.security, zone.reason, zone.links, raw)
        if raw.status.is_failure:
            return Verdict(Security.UNKNOWN, raw.detail, zone.links, raw)
        qtype = dns.rdatatype.from_text(rdtype)
        current, links = qname, zone.links
        for _ in range(MAX_CNAMES):
            here = await self.zone_of(current)
            if here.security is not Security.SECURE:
                return Verdict(here.security, here.reason, here.links, raw)
            found = _rrset(raw, current, qtype) or _rrset(raw, current, _CNAME)
            if found is None:
                return self._negative(raw, current, qtype, here)
            sigs = _sigs_for(raw.answer, current, found.rdtype)
            reason = verify_rrset(found, sigs, here.keys, here.name, self.now)
            if reason is None and sigs is not None:
                reason = _wildcard_unproven(raw, current, sigs, here, self.now)
            if reason is not None:
                return Verdict(Security.BOGUS, reason, here.links, raw)
            links = here.links
            if found.rdtype == qtype:
                return Verdict(Security.SECURE, "", links, raw)
            current = found[0].target
        return Verdict(Security.UNKNOWN, CNAME_LOOP, links, raw)

    def _negative(self, raw: RawAnswer, name: dns.name.Name, qtype: int, zone: _Zone) -> Verdict:
        denial = _denial(raw, name, zone, self.now)
        what = f"{_text(name)} {dns.rdatatype.RdataType.make(qtype).name}"
        if denial.kind == "bogus":
            return Verdict(
                Security.BOGUS, f"the denial of {what}: {denial.reason}", zone.links, raw
            )
        if denial.kind == "types" and qtype not in denial.types and _CNAME not in denial.types:
            return Verdict(Security.SECURE, "", zone.links, raw)
        if denial.kind == "absent" and raw.status is DnsStatus.NXDOMAIN:
            reason = _wildcard_not_denied(raw, name)
            if reason is not None:
                return Verdict(Security.BOGUS, f"the denial of {what}: {reason}", zone.links, raw)
            return Verdict(Security.SECURE, "", zone.links, raw)
        if denial.kind == "absent":  # an empty non-terminal: the name exists without records
            return Verdict(Security.SECURE, "", zone.links, raw)
        if denial.kind == "opt-out":
            return Verdict(
                Security.INSECURE, f"{what} is in an NSEC3 opt-out span", zone.links, raw
            )
        return Verdict(
            Security.BOGUS,
            f"no valid NSEC or NSEC3 record proves the denial of {what}",
            zone.links,
            raw,
        )


def _wildcard_unproven(
    raw: RawAnswer, owner: dns.name.Name, sigs: dns.rrset.RRset, zone: _Zone, now: float
) -> str | None:
    """For an answer a wildcard made (its RRSIG counts fewer labels than its owner), why the
    proof that no closer name exists is missing or bad (RFC 4035 5.3.4, RFC 5155 8.8): a
    validated NSEC or NSEC3 covering the next closer name. ``None`` when not expanded or
    proven."""
    count = len(owner) - 1  # labels, without the root's
    fewer = [int(sig.labels) for sig in sigs if sig.labels < count]
    if not fewer:
        return None
    next_closer = dns.name.Name(owner.labels[-(min(fewer) + 2) :])
    denial = _denial(raw, next_closer, zone, now)
    what = f"{_text(owner)}, made by a wildcard,"
    if denial.kind == "bogus":
        return f"{what} has a bad proof: {denial.reason}"
    if denial.kind not in ("absent", "opt-out"):
        return f"{what} comes without the NSEC/NSEC3 proof that {_text(next_closer)} does not exist"
    return None


def _wildcard_not_denied(raw: RawAnswer, name: dns.name.Name) -> str | None:
    """For an NXDOMAIN proven by NSEC (records already validated), why the proof that no
    wildcard at the closest encloser could have answered is missing (RFC 4035 5.4);
    ``None`` when it is there, or when the proof is NSEC3 (not checked: see the module)."""
    nsecs = [(rrset.name, rd) for rrset in raw.authority if rrset.rdtype == _NSEC for rd in rrset]
    covering = next(((o, rd) for o, rd in nsecs if _nsec_covers(o, rd, name)), None)
    if covering is None:
        return None
    owner, rd = covering
    common = max(name.fullcompare(owner)[2], name.fullcompare(rd.next)[2])
    encloser = dns.name.Name(name.labels[-common:])
    wildcard = dns.name.from_text("*", encloser)
    if any(o == wildcard for o, _ in nsecs):
        return f"a wildcard {_text(wildcard)} exists, so the name cannot be absent"
    if any(_nsec_covers(o, rd, wildcard) for o, rd in nsecs):
        return None
    return f"no NSEC proves that no wildcard {_text(wildcard)} exists"


def _rrset(raw: RawAnswer, owner: dns.name.Name, rdtype: int) -> dns.rrset.RRset | None:
    for rrset in raw.answer:
        if rrset.rdtype == rdtype and rrset.name == owner:
            return rrset
    return None


def _ds_supported(ds: dns.rdata.Rdata) -> bool:
    return bool(
        ds.digest_type in (1, 2, 4)  # type: ignore[attr-defined]
        and ds.algorithm in (5, 7, 8, 10, 13, 14, 15, 16)  # type: ignore[attr-defined]
    )


def _matching_ds(
    owner: dns.name.Name, keys: Iterable[dns.rdata.Rdata], ds_set: Iterable[dns.rdata.Rdata]
) -> list[dns.rdata.Rdata]:
    out = []
    for key in keys:
        if not key.flags & _ZONE_KEY:  # type: ignore[attr-defined]
            continue
        for ds in ds_set:
            try:
                made = dns.dnssec.make_ds(owner, key, ds.digest_type)  # type: ignore[attr-defined]
            except (dns.exception.DNSException, ValueError):
                continue
            if made == ds:
                out.append(key)
                break
    return out


# --- the Lookup that validates ---------------------------------------------------------------


class ValidatingLookup:
    """A :class:`~vedette.mailauth.answers.Lookup` whose answers carry the standing vedette's
    own walk gives them. A BOGUS answer is what a validating MTA gets: SERVFAIL, no records,
    with the reason in ``detail``."""

    dnssec_mode = "chain"

    def __init__(
        self, client: Any, anchors: TrustAnchors | None = None, *, now: float | None = None
    ) -> None:
        self.client = client
        self.validator = ChainValidator(client, anchors or root_trust_anchors(), now=now)
        self._cache: dict[tuple[str, str], asyncio.Future[DnsAnswer]] = {}

    @property
    def asked(self) -> int:
        return int(getattr(self.client, "asked", 0))

    async def query(self, name: str, rdtype: str) -> DnsAnswer:
        key = (normalise(name), rdtype.upper())
        if key not in self._cache:
            self._cache[key] = asyncio.ensure_future(self._query(*key))
        return await asyncio.shield(self._cache[key])

    async def _query(self, name: str, rdtype: str) -> DnsAnswer:
        verdict = await self.validator.validate(name, rdtype)
        return answer_from(verdict)


def answer_from(verdict: Verdict) -> DnsAnswer:
    """The :class:`DnsAnswer` a rule sees for a validated raw answer."""
    raw = verdict.raw
    if verdict.security is Security.BOGUS:
        return DnsAnswer(
            raw.name,
            raw.rdtype,
            DnsStatus.SERVFAIL,
            security=Security.BOGUS,
            detail=f"DNSSEC validation failed: {verdict.reason}",
        )
    if raw.status.is_failure:
        return DnsAnswer(raw.name, raw.rdtype, raw.status, detail=raw.detail)
    qtype = dns.rdatatype.from_text(raw.rdtype)
    current = dns.name.from_text(raw.name)
    cnames: list[str] = []
    records: tuple[dns.rdata.Rdata, ...] = ()
    for _ in range(MAX_CNAMES + 1):
        found = _rrset(raw, current, qtype)
        if found is not None:
            records = tuple(found)
            break
        alias = _rrset(raw, current, _CNAME)
        if alias is None or qtype == _CNAME:
            break
        current = alias[0].target
        if _text(current) in cnames:
            return DnsAnswer(
                raw.name,
                raw.rdtype,
                DnsStatus.ERROR,
                detail=f"{raw.name} {raw.rdtype}: {CNAME_LOOP}",
            )
        cnames.append(_text(current))
    status = raw.status
    if status is DnsStatus.OK and not records:
        status = DnsStatus.NODATA
    return DnsAnswer(
        raw.name, raw.rdtype, status, records, verdict.security, tuple(cnames), raw.detail
    )


# --- one name's standing ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DnssecStatus:
    """The DNSSEC standing of one name, and which mode judged it.

    ``mode``: ``chain`` (vedette walked the chain of trust from ``anchor``), ``trust-ad`` (the
    AD flag of a validating resolver), ``none`` (not checked) or ``lookup`` (as the lookup
    reported it: tests' fakes)."""

    name: str
    rdtype: str
    mode: str
    security: Security
    reason: str = ""
    anchor: str = ""
    chain: tuple[ZoneLink, ...] = ()
    findings: tuple[DomainFinding, ...] = field(default=())

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "rdtype": self.rdtype,
            "mode": self.mode,
            "security": self.security.value,
            "reason": self.reason,
            "anchor": self.anchor,
            "chain": [link.to_json() for link in self.chain],
            "findings": [f.to_json() for f in self.findings],
        }


def dnssec_mode(lookup: object) -> str:
    """``chain``, ``trust-ad``, ``none`` or ``lookup`` (see :class:`DnssecStatus`)."""
    mode = getattr(lookup, "dnssec_mode", None)
    if isinstance(mode, str):
        return mode
    trust_ad = getattr(lookup, "trust_ad", None)
    if isinstance(trust_ad, bool):
        return "trust-ad" if trust_ad else "none"
    return "lookup"


async def dnssec_status(lookup: Any, name: str, rdtype: str = "A") -> DnssecStatus:
    """The standing of ``name`` (its ``rdtype`` answer: ``MX`` for a mail domain, ``A`` for an
    MX host, ``TLSA`` for ``_25._tcp.mx``), with a finding when it is not SECURE."""
    subject = normalise(name)
    mode = dnssec_mode(lookup)
    if isinstance(lookup, ValidatingLookup):
        verdict = await lookup.validator.validate(subject, rdtype)
        status = DnssecStatus(
            subject,
            rdtype.upper(),
            mode,
            verdict.security,
            verdict.reason,
            lookup.validator.anchors.source,
            verdict.links,
        )
    elif mode == "none":
        status = DnssecStatus(
            subject,
            rdtype.upper(),
            mode,
            Security.UNKNOWN,
            "not checked: no trust anchor, and the resolver's AD flag is not trusted",
        )
    else:
        answer = await lookup.query(subject, rdtype)
        reason = ""
        security = answer.security
        if answer.status is DnsStatus.SERVFAIL and security is not Security.BOGUS:
            security = Security.UNKNOWN
            reason = "the resolver answered SERVFAIL (a validating resolver does so for bogus data)"
        elif answer.status.is_failure:
            security, reason = Security.UNKNOWN, answer.detail
        elif security is Security.INSECURE:
            reason = "the validating resolver did not set AD"
        status = DnssecStatus(subject, rdtype.upper(), mode, security, reason or answer.detail)
    return _with_findings(status)


def _with_findings(status: DnssecStatus) -> DnssecStatus:
    how = {"chain": "walking the chain of trust", "trust-ad": "the resolver's AD flag"}.get(
        status.mode, "the lookup"
    )
    detail = f"{status.name} {status.rdtype}: {status.reason or status.security.value} ({how})"
    if status.security is Security.BOGUS:
        finding = DNSSEC_BOGUS.hit(status.name, detail)
    elif status.security is Security.INSECURE:
        finding = DNSSEC_INSECURE.hit(status.name, detail)
    elif status.security is Security.UNKNOWN and status.mode != "none":
        finding = DNSSEC_UNKNOWN.hit(status.name, detail)
    else:
        return status
    return DnssecStatus(
        status.name,
        status.rdtype,
        status.mode,
        status.security,
        status.reason,
        status.anchor,
        status.chain,
        (finding,),
    )
