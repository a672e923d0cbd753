"""DANE for SMTP (RFC 7672, with RFC 6698 and RFC 7671): the TLSA records of an MX, matched
against the chains that MX actually serves.

A sending MTA that does DANE (Postfix with ``smtp_tls_security_level = dane``, Exim, Microsoft
Exchange Online for inbound) looks up ``_25._tcp.<mx>`` TLSA records when, and only when, the
MX host's address records and the TLSA records are DNSSEC-validated (SECURE). Then:

* usages 0 and 1 (PKIX-TA, PKIX-EE) are unusable for SMTP (RFC 7672 3.1.3): ignored;
* a ``3 x x`` (DANE-EE) record matching the leaf certificate authenticates the server whatever
  its names and dates (RFC 7672 3.1.1);
* a ``2 x x`` (DANE-TA) record must match a CA certificate of the served chain (or, as
  ``2 1 0``, the full public key of the chain's top issuer), and the leaf must chain to it with
  a name that matches (RFC 7672 3.1.2);
* when usable records exist and none matches, the MTA does not deliver: Postfix with DANE
  defers the mail; a bogus or failed TLSA lookup defers it too (RFC 7672 2.1.1).

The matcher (:func:`match_record`) is pure: a record against a DER chain, leaf first. The entry
point :func:`check_dane` reads DNS through a :class:`~vedette.mailauth.answers.Lookup` (whose
answers carry their DNSSEC standing: see :mod:`vedette.mailauth.dnssec`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa

from vedette.mailauth.answers import DnsAnswer, DnsStatus, Lookup, Security
from vedette.mailauth.dnssec import dnssec_mode
from vedette.mailauth.registry import DomainFinding, domain_check
from vedette.model import Severity
from vedette.x509.chain import load_der, signed_by
from vedette.x509.names import match_certificate

if TYPE_CHECKING:
    import dns.rdata

USAGES = {0: "PKIX-TA", 1: "PKIX-EE", 2: "DANE-TA", 3: "DANE-EE"}
SELECTORS = {0: "full certificate", 1: "public key (SPKI)"}
MATCHING = {0: "exact", 1: "SHA-256", 2: "SHA-512"}
DIGEST_LENGTHS = {1: 32, 2: 64}
_LENGTH_REFUSED = "length inconsistent with matching type"  # dnspython's words

DANE_NO_MATCH = domain_check(
    "domain.dane-no-match",
    "No TLSA record matches the certificate this MX serves: Postfix with DANE will defer mail",
    Severity.HIGH,
    "Publish a TLSA record for the key the server uses now (the '3 1 1' record given in the "
    "detail) next to the old one, or put back the certificate the TLSA records describe. "
    "Mail from DANE senders waits in their queues until a record matches.",
    references=("RFC 7672 3.1", "RFC 7671 8.1"),
)
DANE_TLSA_BOGUS = domain_check(
    "domain.dane-tlsa-bogus",
    "The TLSA or address records of this MX fail DNSSEC validation: DANE senders defer mail",
    Severity.HIGH,
    "Fix the zone's DNSSEC (re-sign it, or make the parent's DS match the key): a DANE sender "
    "treats a bogus TLSA or address answer as a reason to keep the mail queued.",
    references=("RFC 7672 2.1.1", "RFC 7672 2.2"),
)
DANE_LOOKUP_FAILED = domain_check(
    "domain.dane-lookup-failed",
    "The TLSA lookup of this MX fails: DANE senders defer mail",
    Severity.HIGH,
    "Make the authoritative servers answer TLSA queries for _25._tcp.<mx> (NOERROR with the "
    "records, or a signed NODATA/NXDOMAIN); some servers answer SERVFAIL or nothing for "
    "unknown types. A DANE sender cannot tell that from an attack and does not deliver.",
    references=("RFC 7672 2.2",),
)
DANE_ADDRESS_FAILED = domain_check(
    "domain.dane-address-lookup-failed",
    "The address lookup of this MX fails: senders cannot deliver to it",
    Severity.HIGH,
    "Make the MX host's A and AAAA queries answer (NOERROR with the addresses, or a signed "
    "NODATA). A validating resolver answers SERVFAIL for data that fails DNSSEC validation: "
    "if the zone is signed, check its signatures and the DS at the parent.",
    references=("RFC 7672 2.2.1",),
)
DANE_UNUSABLE_USAGE = domain_check(
    "domain.dane-unusable-usage",
    "TLSA usage 0 or 1 (PKIX-TA, PKIX-EE) is unusable for SMTP",
    Severity.MEDIUM,
    "Replace the record with a '3 1 1' record (SHA-256 of the server's public key), "
    "optionally with a '2 1 1' record for the issuing CA: SMTP senders ignore usages 0 and 1.",
    references=("RFC 7672 3.1.3",),
)
DANE_MALFORMED = domain_check(
    "domain.dane-malformed",
    "A TLSA record is malformed and matches nothing",
    Severity.MEDIUM,
    "Regenerate the record from the certificate (for example with 'openssl x509 -pubkey "
    "-noout | openssl pkey -pubin -outform DER | sha256sum' for '3 1 1'); SHA-256 data is 32 "
    "bytes (64 hex digits), SHA-512 data 64 bytes.",
    references=("RFC 6698 2.1", "RFC 7671 5"),
)
DANE_NOT_SECURE = domain_check(
    "domain.dane-not-dnssec",
    "DANE does not apply: the MX's records are not DNSSEC-validated",
    Severity.INFO,
    "Sign the zones of the MX host and of its TLSA records with DNSSEC (and publish the DS at "
    "the parent): senders only use TLSA records whose answers validate.",
    references=("RFC 7672 2.2",),
)
DANE_NO_TLSA = domain_check(
    "domain.dane-no-tlsa",
    "No TLSA records for this MX: DANE senders use opportunistic TLS",
    Severity.INFO,
    "Publish '_25._tcp.<mx> TLSA 3 1 1 <SHA-256 of the server's public key>' (and a '2 1 1' "
    "for the issuing CA) so that DANE senders insist on TLS with this certificate.",
    references=("RFC 7672 3",),
)
DANE_ROLLOVER = domain_check(
    "domain.dane-rollover",
    "TLSA records leave no room for a key or certificate change",
    Severity.LOW,
    "Before switching to a new key, publish its '3 1 1' record beside the current one and "
    "wait at least two TTLs; or keep a '3 1 1' plus '2 1 1' pair (the CA's key) so that a "
    "renewal from the same CA still matches.",
    references=("RFC 7671 8.1", "RFC 7671 8.4"),
)


@dataclass(frozen=True, slots=True)
class MatchResult:
    """How one record fared against one chain: ``depth`` of the matching certificate (0 =
    leaf), or ``None``; ``how`` says it in words; ``problem`` why a match does not count."""

    matched: bool
    depth: int | None = None
    how: str = ""
    problem: str = ""


@dataclass(frozen=True, slots=True)
class TlsaRecord:
    """One TLSA record as vedette judges it, with its matches by address."""

    text: str
    usage: int
    selector: int
    mtype: int
    data: bytes
    usable: bool
    problem: str
    matches: Mapping[str, MatchResult]

    def to_json(self) -> dict[str, Any]:
        return {
            "record": self.text,
            "usage": self.usage,
            "usage_name": USAGES.get(self.usage, "unknown"),
            "selector": self.selector,
            "matching_type": self.mtype,
            "usable_for_smtp": self.usable,
            "problem": self.problem,
            "matches": {
                address: {
                    "matched": m.matched,
                    "depth": m.depth,
                    "how": m.how,
                    "problem": m.problem,
                }
                for address, m in self.matches.items()
            },
        }


def record_problem(usage: int, selector: int, mtype: int, data: bytes) -> tuple[bool, str]:
    """(usable for SMTP, why not): the record's fields and data length, judged alone."""
    if usage not in USAGES:
        return False, f"unknown certificate usage {usage} (0 to 3 exist)"
    if selector not in SELECTORS:
        return False, f"unknown selector {selector} (0 or 1)"
    if mtype not in MATCHING:
        return False, f"unknown matching type {mtype} (0, 1 or 2)"
    expected = DIGEST_LENGTHS.get(mtype)
    if expected is not None and len(data) != expected:
        return False, (
            f"{MATCHING[mtype]} data must be {expected} bytes ({expected * 2} hex digits), "
            f"this one has {len(data)}"
        )
    if mtype == 0:
        if not data:
            return False, "exact-match data is empty"
        try:
            if selector == 0:
                load_der(data)
            else:
                serialization.load_der_public_key(data)
        except (ValueError, UnsupportedAlgorithm, TypeError):
            what = "certificate" if selector == 0 else "public key (SPKI)"
            return False, f"the exact-match data is not a DER {what}"
    if usage in (0, 1):
        return False, f"usage {usage} ({USAGES[usage]}) is unusable for SMTP (RFC 7672 3.1.3)"
    return True, ""


def spki_of(cert_der: bytes) -> bytes | None:
    """The SubjectPublicKeyInfo DER exactly as the certificate carries it (RFC 6698 selector
    1), read from the DER structure; ``None`` if the bytes are not a certificate."""
    try:
        cert, _ = _der_item(cert_der, 0, 0x30)
        tbs, _ = _der_item(cert_der, cert[0], 0x30)
        pos = tbs[0]
        if cert_der[pos] == 0xA0:  # [0] version
            pos = _der_item(cert_der, pos, 0xA0)[1]
        for tag in (0x02, 0x30, 0x30, 0x30, 0x30):  # serial, signature, issuer, validity, subject
            pos = _der_item(cert_der, pos, tag)[1]
        (_, end), _ = _der_item(cert_der, pos, 0x30)
        return cert_der[pos:end]
    except (IndexError, ValueError):
        return None


def _der_item(data: bytes, pos: int, tag: int) -> tuple[tuple[int, int], int]:
    """((content start, item end), item end) of the DER item with ``tag`` at ``pos``."""
    if data[pos] != tag:
        raise ValueError("unexpected tag")
    length = data[pos + 1]
    start = pos + 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4:
            raise ValueError("bad length")
        length = int.from_bytes(data[start : start + count], "big")
        start += count
    end = start + length
    if end > len(data):
        raise ValueError("truncated")
    return (start, end), end


def association(cert_der: bytes, selector: int, mtype: int) -> bytes | None:
    """The data a ``x selector mtype`` record must carry to match ``cert_der``."""
    if selector == 0:
        selected: bytes | None = cert_der
    elif selector == 1:
        selected = spki_of(cert_der)
    else:
        return None
    if selected is None:
        return None
    if mtype == 0:
        return selected
    if mtype == 1:
        return hashlib.sha256(selected).digest()
    if mtype == 2:
        return hashlib.sha512(selected).digest()
    return None


def match_record(
    usage: int,
    selector: int,
    mtype: int,
    data: bytes,
    chain: Sequence[bytes],
    *,
    names: Sequence[str] = (),
) -> MatchResult:
    """Match one TLSA record against a served chain (DER, leaf first), as an SMTP sender does.

    ``names``: the names a DANE-TA match must find in the leaf (the MX host, and the TLSA base
    domain when CNAMEs led elsewhere); DANE-EE ignores names. Never raises."""
    usable, problem = record_problem(usage, selector, mtype, data)
    if not usable or not chain:
        return MatchResult(False, problem=problem or "no chain to match")
    if usage == 3:
        if association(chain[0], selector, mtype) == data:
            return MatchResult(True, 0, "DANE-EE: matches the leaf certificate")
        return MatchResult(False)
    # DANE-TA: a CA certificate of the chain, the leaf chaining to it by signatures.
    try:
        certs = [load_der(der) for der in chain]
    except ValueError:
        return MatchResult(False, problem="the served chain does not parse")
    depth = next(
        (d for d in range(1, len(chain)) if association(chain[d], selector, mtype) == data), None
    )
    if depth is not None:
        how = f"DANE-TA: matches the CA certificate at depth {depth}"
        path = certs[: depth + 1]
    elif selector == 1 and mtype == 0 and _issued_by_key(certs[-1], data):
        depth = len(chain)
        how = "DANE-TA: the full public key of the issuer of the chain's top certificate"
        path = certs
    else:
        return MatchResult(False)
    broken = next((i for i in range(len(path) - 1) if not signed_by(path[i], path[i + 1])), None)
    if broken is not None:
        return MatchResult(
            False, depth, how, f"the certificate at depth {broken} is not signed by the next one"
        )
    if names and not any(match_certificate(certs[0], n).matched for n in names):
        wanted = " or ".join(names)
        return MatchResult(
            False, depth, how, f"DANE-TA needs the leaf to name {wanted}; it does not"
        )
    return MatchResult(True, depth, how)


def _issued_by_key(cert: x509.Certificate, spki: bytes) -> bool:
    """``cert``'s signature verifies with the public key ``spki`` (DER)."""
    try:
        key = serialization.load_der_public_key(spki)
        algorithm = cert.signature_hash_algorithm
        if isinstance(key, rsa.RSAPublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and algorithm is not None:
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes)
        else:
            return False
    except (InvalidSignature, ValueError, TypeError, UnsupportedAlgorithm):
        return False
    return True


def tlsa_311(cert_der: bytes) -> str | None:
    """The ``3 1 1`` record data (hex) for a leaf certificate."""
    digest = association(cert_der, 1, 1)
    return digest.hex() if digest is not None else None


# --- the entry point -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DaneResult:
    """DANE for one MX host.

    Attributes:
        mx_host: the MX name (lower case, no final dot).
        tlsa_name: where the TLSA records were found (or asked last).
        tlsa_status, tlsa_security: that answer's status and DNSSEC standing.
        address_security: the standing of the MX's A/AAAA answers (the weakest of the two).
        applies: DANE senders use these records (all SECURE, at least one usable record).
        records: each TLSA record, judged and matched against each address's chain, in the
            order of (usage, selector, matching type, data).
        addresses: the addresses whose chains were matched.
        dane_match: by address, whether a usable record matches the served chain.
        dane_ee_match: DANE applies and every served chain is matched by a ``3 x x`` record:
            names and expiry do not matter to DANE senders.
        rollover: advice lines about changing keys.
        findings: the problems, as domain findings.
    """

    mx_host: str
    tlsa_name: str
    tlsa_status: DnsStatus
    tlsa_security: Security
    address_security: Security
    applies: bool
    records: tuple[TlsaRecord, ...]
    addresses: tuple[str, ...]
    dane_match: Mapping[str, bool]
    dane_ee_match: bool
    rollover: tuple[str, ...]
    findings: tuple[DomainFinding, ...]

    def to_json(self) -> dict[str, Any]:
        return {
            "mx_host": self.mx_host,
            "tlsa_name": self.tlsa_name,
            "tlsa_status": self.tlsa_status.value,
            "tlsa_security": self.tlsa_security.value,
            "address_security": self.address_security.value,
            "applies": self.applies,
            "records": [r.to_json() for r in self.records],
            "dane_match": dict(self.dane_match),
            "dane_ee_match": self.dane_ee_match,
            "rollover": list(self.rollover),
            "findings": [f.to_json() for f in self.findings],
        }


_RANK = {Security.BOGUS: 0, Security.UNKNOWN: 1, Security.INSECURE: 2, Security.SECURE: 3}


def _weakest(answers: Sequence[DnsAnswer]) -> Security:
    return min((a.security for a in answers), key=_RANK.__getitem__, default=Security.UNKNOWN)


async def check_dane(
    lookup: Lookup,
    mx_host: str,
    chains: Mapping[str, Sequence[bytes]] | None = None,
) -> DaneResult:
    """DANE for ``mx_host``: its TLSA records (RFC 7672 2.2.3: at the CNAME-expanded name
    first, then the name itself), their standing, and each record matched against the chain
    each address served on port 25 (``chains``: address -> DER chain, leaf first)."""
    mx = mx_host.lower().rstrip(".")
    addresses = [await lookup.query(mx, "A"), await lookup.query(mx, "AAAA")]
    address_security = _weakest(addresses)
    bases = [mx]
    expanded = next((a.cnames[-1] for a in addresses if a.cnames), None)
    if expanded is not None and address_security is Security.SECURE:
        bases.insert(0, expanded)
    tlsa = await lookup.query(f"_25._tcp.{bases[0]}", "TLSA")
    if len(bases) > 1 and tlsa.status in (DnsStatus.NODATA, DnsStatus.NXDOMAIN):
        tlsa = await lookup.query(f"_25._tcp.{bases[1]}", "TLSA")
    names = tuple(dict.fromkeys([mx, *(b for b in bases if b != mx)]))
    served = dict(chains or {})
    # An RRset has no order (resolvers rotate it): records in one order make reports stable.
    judged = (_judge(rd, served, names) for rd in tlsa.records if rd.rdtype == 52)
    records = tuple(sorted(judged, key=lambda r: (r.usage, r.selector, r.mtype, r.data)))
    usable = any(r.usable for r in records)
    secure = tlsa.security is Security.SECURE and address_security is Security.SECURE
    applies = secure and tlsa.status is DnsStatus.OK and usable
    dane_match = {
        address: any(r.usable and r.matches[address].matched for r in records) for address in served
    }
    ee = {
        address: any(r.usable and r.usage == 3 and r.matches[address].matched for r in records)
        for address in served
    }
    dane_ee_match = applies and bool(served) and all(ee.values())
    rollover = _rollover(records, served)
    findings = _findings(
        mx,
        tlsa,
        addresses,
        address_security,
        records,
        served,
        applies,
        dane_match,
        rollover,
        dnssec_mode(lookup),
    )
    return DaneResult(
        mx_host=mx,
        tlsa_name=tlsa.name,
        tlsa_status=tlsa.status,
        tlsa_security=tlsa.security,
        address_security=address_security,
        applies=applies,
        records=records,
        addresses=tuple(served),
        dane_match=dane_match,
        dane_ee_match=dane_ee_match,
        rollover=rollover,
        findings=findings,
    )


def _judge(
    rd: dns.rdata.Rdata, chains: Mapping[str, Sequence[bytes]], names: tuple[str, ...]
) -> TlsaRecord:
    usage, selector, mtype = int(rd.usage), int(rd.selector), int(rd.mtype)  # type: ignore[attr-defined]
    data = bytes(rd.cert)  # type: ignore[attr-defined]
    usable, problem = record_problem(usage, selector, mtype, data)
    matches = {
        address: match_record(usage, selector, mtype, data, chain, names=names)
        for address, chain in chains.items()
    }
    text = f"{usage} {selector} {mtype} {data.hex()}"
    return TlsaRecord(text, usage, selector, mtype, data, usable, problem, matches)


def _rollover(
    records: Sequence[TlsaRecord], chains: Mapping[str, Sequence[bytes]]
) -> tuple[str, ...]:
    usable = [r for r in records if r.usable]
    if not usable:
        return ()
    advice: list[str] = []
    ee = [r for r in usable if r.usage == 3]
    ta = [r for r in usable if r.usage == 2]
    if ee and not ta and len(ee) == 1:
        advice.append(
            "Only one DANE-EE record: before switching to a new key, publish the new key's "
            "'3 1 1' record beside it and wait two TTLs; or add a '2 1 1' record for the "
            "issuing CA so that a renewal from the same CA keeps matching."
        )
    if any(r.usage == 3 and r.selector == 0 for r in ee):
        advice.append(
            "A '3 0 x' record names the whole certificate, so it breaks at every renewal even "
            "with the same key: prefer '3 1 1' (the public key)."
        )
    if ta and not ee:
        advice.append(
            "Only DANE-TA records: a change of CA breaks them; pair them with a '3 1 1' record "
            "of the server's key."
        )
    if any(r.mtype == 0 for r in usable):
        advice.append(
            "Exact-match (matching type 0) records are large; '1' (SHA-256) is what senders "
            "expect (RFC 7671 10.1.2)."
        )
    if chains and ee:
        leaves = {chain[0] for chain in chains.values() if chain}
        stale = [r for r in ee if not any(m.matched for m in r.matches.values())]
        if stale and len(stale) < len(ee) and leaves:
            advice.append(
                "Some DANE-EE records match no served certificate: if they are for the next "
                "key, good; if for a retired key, remove them after the switch."
            )
    return tuple(advice)


def _findings(
    mx: str,
    tlsa: DnsAnswer,
    addresses: Sequence[DnsAnswer],
    address_security: Security,
    records: Sequence[TlsaRecord],
    chains: Mapping[str, Sequence[bytes]],
    applies: bool,
    dane_match: Mapping[str, bool],
    rollover: Sequence[str],
    mode: str,
) -> tuple[DomainFinding, ...]:
    out: list[DomainFinding] = []
    bogus = [a for a in (*addresses, tlsa) if a.security is Security.BOGUS]
    if bogus:
        detail = "; ".join(f"{a.name} {a.rdtype}: {a.detail or 'bogus'}" for a in bogus)
        out.append(DANE_TLSA_BOGUS.hit(mx, detail))
        return tuple(out)
    if tlsa.status.is_failure and _LENGTH_REFUSED in tlsa.detail:
        # dnspython (2.8+) refuses a whole answer holding a digest of the wrong length, so the
        # other records of the set cannot be read either; a sender ignores just that record.
        detail = (
            f"{tlsa.name} TLSA: a record's digest length does not fit its matching type "
            "(SHA-256 data is 32 bytes, SHA-512 64); vedette could not read the other records"
        )
        out.append(DANE_MALFORMED.hit(mx, detail))
        return tuple(out)
    if all(a.status.is_failure for a in addresses):
        detail = "; ".join(a.detail or f"{a.name} {a.rdtype}: {a.status.value}" for a in addresses)
        if mode == "trust-ad":
            detail += (
                " (trusting the resolver's AD flag, vedette cannot tell a DNSSEC failure from "
                "another; without --trust-ad it validates itself and says why)"
            )
        out.append(DANE_ADDRESS_FAILED.hit(mx, detail))
        return tuple(out)
    if address_security is Security.SECURE and tlsa.status.is_failure:
        out.append(DANE_LOOKUP_FAILED.hit(mx, f"{tlsa.name} TLSA: {tlsa.detail or tlsa.status}"))
        return tuple(out)
    for r in records:
        if r.usage in (0, 1) and r.usable is False and r.problem.startswith("usage"):
            out.append(DANE_UNUSABLE_USAGE.hit(mx, f"{tlsa.name} TLSA {r.text}: {r.problem}"))
        elif not r.usable:
            out.append(DANE_MALFORMED.hit(mx, f"{tlsa.name} TLSA {r.text}: {r.problem}"))
    if tlsa.status is not DnsStatus.OK or not records:
        if address_security is Security.SECURE and tlsa.security is Security.SECURE:
            out.append(DANE_NO_TLSA.hit(mx, f"{tlsa.name}: {tlsa.status.value}"))
        else:
            out.append(DANE_NOT_SECURE.hit(mx, _standing(addresses, tlsa)))
        return tuple(out)
    if tlsa.security is not Security.SECURE or address_security is not Security.SECURE:
        out.append(DANE_NOT_SECURE.hit(mx, _standing(addresses, tlsa)))
        return tuple(out)
    if applies:
        for address, ok in dane_match.items():
            if ok:
                continue
            leaf = chains[address][0] if chains[address] else b""
            want = tlsa_311(leaf) if leaf else None
            detail = f"{address}: none of {len(records)} TLSA record(s) at {tlsa.name} matches"
            if want is not None:
                detail += f"; the served key's record is '{tlsa.name}. IN TLSA 3 1 1 {want}'"
            problems = [
                m.problem for r in records for m in (r.matches.get(address),) if m and m.problem
            ]
            if problems:
                detail += f" ({problems[0]})"
            out.append(
                DANE_NO_MATCH.hit(
                    f"{mx} ({address})", detail, evidence=tuple(r.text for r in records)
                )
            )
    if rollover:
        out.append(DANE_ROLLOVER.hit(mx, " ".join(rollover[:1]), evidence=tuple(rollover)))
    return tuple(out)


def _standing(addresses: Sequence[DnsAnswer], tlsa: DnsAnswer) -> str:
    return "; ".join(f"{a.name} {a.rdtype}: {a.security.value}" for a in (*addresses, tlsa))
