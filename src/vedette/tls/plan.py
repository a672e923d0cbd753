"""The enumeration planner: a pure state machine that decides which hello to send next.

Theory of operation
-------------------
A server's accepted suites for a version are learnt by **offering many and removing the chosen
one**: offer every suite of the registry; the ServerHello names the one the server prefers;
offer everything minus that one; and so on until the server refuses (an alert, or it closes).
That costs one connection per accepted suite plus one, whatever the registry's size — where
testing suites one at a time costs one connection per *registry* entry. The same trick serves
TLS 1.3 groups (a HelloRetryRequest names the group, see ``vedette.tls.hello``) and TLS ≤ 1.2
curves (the ServerKeyExchange names it).

The pick sequence is the server's preference order only if the server imposes one, so once a
version's suites are known one more hello offers them **reversed**: if the server still picks
its first choice it orders suites itself; if it picks our first, it follows the client.

Work is split into *chains*: generators that yield a ``Probe`` (one hello, one connection) and
receive its ``Outcome``. Each chain has at most one probe outstanding; chains of one stage run
concurrently (the driver bounds how many connections are open at once per host). Stage two
(curves, signature schemes, fallback SCSV, the certificate without SNI) starts when stage one
(versions and suites) is done, since it needs its answers; the TLS 1.3 groups start as soon as
the TLS 1.3 suites are known, alongside the longer TLS 1.2 chain. The planner never touches a
socket or a clock: ``ready()`` hands out probes, ``record()`` takes outcomes, ``result()``
folds everything into a ``TlsScan``. Unit tests drive it with simulated servers.

Outcomes the driver reports:

* ``Answered``: the server's flight parsed (ServerHello, HelloRetryRequest, alert, SSLv2 hello);
* ``Refused``: after our hello the server closed, reset, or sent bytes that are not TLS — how
  many servers say no;
* ``Unanswered``: the question could not be put (connect, greeting or STARTTLS failed, or the
  server went silent) even after the driver's retries. The chain stops and the scan is marked
  incomplete: a suite is never reported refused because a mail server rate-limited us.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Generator
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, x448
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from vedette.model import CLIENTS_MODE
from vedette.tls.hello import (
    EXT_ENCRYPT_THEN_MAC,
    EXT_EXTENDED_MASTER_SECRET,
    EXT_HEARTBEAT,
    EXT_RENEGOTIATION_INFO,
    EXT_SESSION_TICKET,
    EXT_STATUS_REQUEST,
    X25519_SHARE,
    ClientHelloSpec,
)
from vedette.tls.registry import (
    SSL2,
    SSL3,
    TLS10,
    TLS11,
    TLS12,
    TLS13,
    all_groups,
    all_sigalgs,
    legacy_suites,
    registry,
    suite,
    tls13_groups,
    tls13_suites,
    version_name,
)
from vedette.tls.result import ClientCertRequest, TlsScan, VersionSuites
from vedette.tls.server import ServerAnswer
from vedette.tls.tls13 import COMPUTABLE as COMPUTABLE_GROUPS
from vedette.tls.tls13 import GROUPS as DECRYPTABLE_GROUPS
from vedette.tls.tls13 import SUITES as DECRYPTABLE_SUITES

ALERT_INAPPROPRIATE_FALLBACK = 86
#: Alerts that mean "no" and nothing else: handshake_failure, protocol_version,
#: insufficient_security (RFC 8446 §6.2).
CLEAN_REFUSALS = frozenset({40, 70, 71})
#: Suites per hello when a server hangs up on the full registry.
SLICE = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class Probe:
    """One question: a ClientHello (``hello``) or, when ``hello`` is None, the SSLv2 hello
    offering ``ssl2_kinds``. ``decrypt``: a TLS 1.3 hello whose server flight the driver reads
    through ``vedette.tls.tls13.Tls13Client`` (real key shares, decrypted records)."""

    id: int
    hello: ClientHelloSpec | None
    ssl2_kinds: tuple[int, ...] = ()
    purpose: str = ""
    decrypt: bool = False


@dataclass(frozen=True, slots=True)
class Answered:
    answer: ServerAnswer


@dataclass(frozen=True, slots=True)
class Refused:
    """No answer to the hello: ``hung_up`` when the server closed or reset without a byte
    (as servers that choke on long hellos do), False for bytes that are not TLS."""

    reason: str
    hung_up: bool = False


@dataclass(frozen=True, slots=True)
class Unanswered:
    reason: str


Outcome = Answered | Refused | Unanswered
_Chain = Generator[Probe, Outcome, None]


class _Facts:
    """Mutable accumulator shared by the chains; frozen into a TlsScan by ``result()``."""

    def __init__(self) -> None:
        self.accepted: dict[int, list[int]] = {}
        self.order: dict[int, bool | None] = {}
        self.groups13: list[int] = []
        self.groups12: list[int] = []
        self.dh_bits: set[int] = set()
        self.sigalgs: list[int] = []
        self.sigalgs13: list[int] = []
        self.staple12: bytes | None = None
        self.cert_flights12 = 0  # TLS 1.0-1.2 flights with a certificate (status_request sent)
        self.staple13: bytes | None = None
        self.decrypted13 = False
        self.ext_hello: dict[int, ServerAnswer] = {}
        self.compression: bool | None = None
        self.fallback: bool | None = None
        self.cert_request: ClientCertRequest | None = None
        self.leaves: list[bytes] = []
        self.needs_share = False  # TLS 1.3 hellos must carry a key share to be answered
        self.leaf_without_sni: bytes | None = None
        self.incomplete: list[str] = []
        self.tested: set[int] = set()  # versions whose chain finished without Unanswered


class Planner:
    """Plans the enumeration of one endpoint (see the module docstring).

    Args:
        sni: the name sent in every hello (``None`` for a bare IP target).
        versions: versions to test (default all, SSLv2 included).
    """

    def __init__(
        self,
        sni: str | None,
        *,
        versions: tuple[int, ...] = (SSL2, SSL3, TLS10, TLS11, TLS12, TLS13),
    ) -> None:
        self._sni = sni
        self._ids = itertools.count(1)
        self._f = _Facts()
        self._chains: dict[int, _Chain] = {}
        self._pending: dict[int, Probe] = {}  # chain id -> probe not yet handed out
        self._out: dict[int, int] = {}  # probe id -> chain id
        self._stage2_started = False
        self.probes_planned = 0
        first: list[_Chain] = []
        for v in versions:
            if v == SSL2:
                first.append(self._ssl2())
            elif v != TLS13:
                first.append(self._suites_legacy(v))
        self._stage1 = set(self._start(first))
        # TLS 1.3 groups need only the TLS 1.3 suites: they start as soon as those are known,
        # alongside the (longer) TLS 1.2 chain, which keeps the critical path short.
        self._tls13 = set(self._start([self._suites13()] if TLS13 in versions else []))
        self._stage1 |= self._tls13

    # --- the driver's interface ---------------------------------------------------------------

    @property
    def done(self) -> bool:
        return not self._chains

    def ready(self) -> list[Probe]:
        """Probes to send now; each is handed out once."""
        out = []
        for chain_id, probe in self._pending.items():
            self._out[probe.id] = chain_id
            out.append(probe)
        self._pending.clear()
        return out

    def record(self, probe: Probe, outcome: Outcome) -> None:
        chain_id = self._out.pop(probe.id)
        chain = self._chains[chain_id]
        try:
            nxt = chain.send(outcome)
        except StopIteration:
            del self._chains[chain_id]
            self._chain_done(chain_id)
            return
        self._pending[chain_id] = nxt
        self.probes_planned += 1

    def result(self, *, connections: int) -> TlsScan:
        f = self._f
        versions = tuple(sorted(v for v, s in f.accepted.items() if s))
        suites = tuple(
            VersionSuites(version=v, suites=tuple(f.accepted[v]), server_order=f.order.get(v))
            for v in versions
        )
        facts = self._hello_facts()
        return TlsScan(
            versions=versions,
            suites=suites,
            groups=tuple(f.groups13),
            groups_tls12=tuple(f.groups12),
            dh_bits=tuple(sorted(f.dh_bits)),
            sigalgs=tuple(f.sigalgs),
            sigalgs_tls13=tuple(f.sigalgs13),
            ocsp_staple_tls12=(f.staple12 is not None) if f.cert_flights12 else None,
            ocsp_staple_tls13=(f.staple13 is not None) if f.decrypted13 else None,
            ocsp_response=f.staple13 if f.staple13 is not None else f.staple12,
            secure_renegotiation=facts.get(EXT_RENEGOTIATION_INFO),
            fallback_scsv=f.fallback,
            compression=f.compression,
            session_ticket=facts.get(EXT_SESSION_TICKET),
            ocsp_stapling=facts.get(EXT_STATUS_REQUEST),
            heartbeat=facts.get(EXT_HEARTBEAT),
            extended_master_secret=facts.get(EXT_EXTENDED_MASTER_SECRET),
            encrypt_then_mac=facts.get(EXT_ENCRYPT_THEN_MAC),
            client_cert_request=f.cert_request,
            leaf_certificates=tuple(f.leaves),
            leaf_without_sni=f.leaf_without_sni,
            tested_versions=tuple(sorted(f.tested)),
            connections=connections,
            incomplete=bool(f.incomplete),
            incomplete_reason="; ".join(f.incomplete) if f.incomplete else None,
        )

    # --- machinery ----------------------------------------------------------------------------

    def _start(self, chains: list[_Chain]) -> list[int]:
        """Start ``chains``; the ids of those that have a first probe."""
        ids = []
        for chain in chains:
            try:
                first = next(chain)
            except StopIteration:
                continue
            chain_id = next(self._ids)
            self._chains[chain_id] = chain
            self._pending[chain_id] = first
            self.probes_planned += 1
            ids.append(chain_id)
        return ids

    def _chain_done(self, chain_id: int) -> None:
        """Start what waited for this chain: stage two needs every version's suites."""
        if chain_id in self._tls13:
            self._start([self._groups13(), self._sigalgs13()])
        self._stage1.discard(chain_id)
        if self._stage1 or self._stage2_started:
            return
        self._stage2_started = True
        self._start([self._groups12(), self._sigalgs12(), self._fallback(), self._without_sni()])

    def _probe(
        self,
        hello: ClientHelloSpec | None,
        purpose: str,
        ssl2_kinds: tuple[int, ...] = (),
        *,
        decrypt: bool = False,
    ) -> Probe:
        return Probe(
            id=next(self._ids),
            hello=hello,
            purpose=purpose,
            ssl2_kinds=ssl2_kinds,
            decrypt=decrypt,
        )

    def _hello(
        self,
        version: int,
        suites: tuple[int, ...],
        *,
        groups: tuple[int, ...] | None = None,
        sigalgs: tuple[int, ...] | None = None,
        compression: tuple[int, ...] = (0,),
        fallback_scsv: bool = False,
        key_shares: tuple[tuple[int, bytes], ...] = (),
    ) -> ClientHelloSpec:
        return ClientHelloSpec(
            version=version,
            suites=suites,
            groups=(tls13_groups() if version == TLS13 else all_groups())
            if groups is None
            else groups,
            sigalgs=all_sigalgs() if sigalgs is None else sigalgs,
            sni=self._sni,
            compression=compression,
            fallback_scsv=fallback_scsv,
            key_shares=key_shares,
        )

    def _hello_facts(self) -> dict[int, bool]:
        """Extension answers from the first ServerHello of the highest TLS ≤ 1.2 version."""
        for v in (TLS12, TLS11, TLS10, SSL3):
            ans = self._f.ext_hello.get(v)
            if ans is not None and ans.hello is not None:
                h = ans.hello
                exts = (
                    EXT_RENEGOTIATION_INFO,
                    EXT_SESSION_TICKET,
                    EXT_STATUS_REQUEST,
                    EXT_HEARTBEAT,
                    EXT_EXTENDED_MASTER_SECRET,
                    EXT_ENCRYPT_THEN_MAC,
                )
                facts = {e: h.has_extension(e) for e in exts}
                if v == SSL3:  # no extensions were offered: only renegotiation_info tells
                    facts = {EXT_RENEGOTIATION_INFO: facts[EXT_RENEGOTIATION_INFO]}
                return facts
        return {}

    def _unanswered(self, what: str, outcome: Unanswered) -> None:
        self._f.incomplete.append(f"{what}: {outcome.reason}")

    def _absorb(self, version: int, ans: ServerAnswer) -> None:
        """Record what a TLS ≤ 1.2 flight tells beyond the suite."""
        f = self._f
        f.ext_hello.setdefault(version, ans)
        kx = ans.key_exchange
        if kx is not None:
            if kx.kind == "dhe" and kx.bits is not None:
                f.dh_bits.add(kx.bits)
            if kx.sigalg is not None and kx.sigalg not in f.sigalgs:
                f.sigalgs.append(kx.sigalg)
        if ans.certificate_request is not None and f.cert_request is None:
            cr = ans.certificate_request
            f.cert_request = ClientCertRequest(ca_count=cr.ca_count, ca_bytes=cr.ca_bytes)
        if ans.certificates and ans.certificates[0] not in f.leaves:
            f.leaves.append(ans.certificates[0])
        if ans.certificates and version >= TLS10:
            f.cert_flights12 += 1
            if ans.ocsp_response is not None and f.staple12 is None:
                f.staple12 = ans.ocsp_response

    # --- chains -------------------------------------------------------------------------------

    def _ssl2(self) -> _Chain:
        kinds = tuple(sorted(registry().ssl2_kinds))
        out = yield self._probe(None, "SSLv2", ssl2_kinds=kinds)
        if isinstance(out, Unanswered):
            self._unanswered("SSLv2", out)
            return
        self._f.tested.add(SSL2)
        if isinstance(out, Answered) and out.answer.ssl2 is not None:
            offered = set(kinds)
            self._f.accepted[SSL2] = [k for k in out.answer.ssl2.cipher_kinds if k in offered]

    def _suites_legacy(self, version: int) -> _Chain:
        """SSLv3 … TLS 1.2: offer everything, remove the chosen, until refused.

        A few servers choke on long hellos (testssl.sh keeps to 128 suites a hello for them)
        and hang up instead of answering. A clean refusal — ``handshake_failure`` (no suite in
        common) or ``protocol_version`` — is believed; any other refusal of the very first,
        400-suite hello is retried in slices of ``SLICE`` suites before concluding that the
        version is off, which costs nothing on servers that answer properly.
        """
        everything = list(legacy_suites())
        accepted: list[int] = []
        self._f.accepted[version] = accepted
        name = {SSL3: "SSLv3", TLS10: "TLS 1.0", TLS11: "TLS 1.1", TLS12: "TLS 1.2"}[version]
        status = yield from self._drain(version, name, everything, accepted, first=True)
        if status == "choked" and not accepted:
            for i in range(0, len(everything), SLICE):
                pool = everything[i : i + SLICE]
                status = yield from self._drain(version, name, pool, accepted, first=False)
                if status in ("unanswered", "broken"):
                    break
        if status != "unanswered":
            self._f.tested.add(version)
        if status in ("unanswered", "broken"):
            return
        yield from self._order(version, accepted)

    def _drain(
        self, version: int, name: str, pool: list[int], accepted: list[int], *, first: bool
    ) -> Generator[Probe, Outcome, str]:
        """Offer ``pool``, remove the chosen suite, until refused; say how it ended."""
        remaining = list(pool)
        while remaining:
            # DEFLATE is offered once per version: a server that takes it is open to CRIME.
            hello = self._hello(version, tuple(remaining), compression=(1, 0) if first else (0,))
            out = yield self._probe(hello, f"{name} suites")
            if isinstance(out, Unanswered):
                self._unanswered(f"{name} suites", out)
                return "unanswered"
            clean = isinstance(out, Answered) and (
                out.answer.hello is not None
                or (out.answer.alert is not None and out.answer.alert[1] in CLEAN_REFUSALS)
            )
            if isinstance(out, Refused) or (not clean and out.answer.hello is None):
                choked = not isinstance(out, Refused) or out.hung_up
                return "choked" if first and choked else "done"
            h = out.answer.hello
            if h is None or h.retry or h.version != version:
                return "done"  # an alert, or the server picked another version: none left here
            if first:
                self._f.compression = bool(self._f.compression) or h.compression == 1
            first = False
            if h.suite not in remaining:
                # The server chose something not offered: a broken server; stop rather than
                # loop. The suite is still what it accepts.
                if h.suite not in accepted:
                    accepted.append(h.suite)
                return "broken"
            accepted.append(h.suite)
            remaining.remove(h.suite)
            self._absorb(version, out.answer)
        return "done"

    def _suites13(self) -> _Chain:
        remaining = list(tls13_suites())
        accepted: list[int] = []
        self._f.accepted[TLS13] = accepted
        shares: tuple[tuple[int, bytes], ...] = ()
        while remaining:
            hello = self._hello(TLS13, tuple(remaining), key_shares=shares)
            out = yield self._probe(hello, "TLS 1.3 suites")
            if not accepted and not shares and not isinstance(out, Unanswered):
                h = out.answer.hello if isinstance(out, Answered) else None
                if h is None or h.version != TLS13:
                    # Some servers refuse an empty key_share instead of asking for a retry:
                    # ask once more with an X25519 share before concluding "no TLS 1.3".
                    shares = (X25519_SHARE,)
                    hello = self._hello(TLS13, tuple(remaining), key_shares=shares)
                    out = yield self._probe(hello, "TLS 1.3 suites (key share)")
                    self._f.needs_share = isinstance(out, Answered) and (
                        out.answer.hello is not None and out.answer.hello.version == TLS13
                    )
            if isinstance(out, Unanswered):
                self._unanswered("TLS 1.3 suites", out)
                return
            self._f.tested.add(TLS13)
            if isinstance(out, Refused):
                break
            h = out.answer.hello
            if h is None or h.version != TLS13 or h.suite not in remaining:
                break
            accepted.append(h.suite)
            remaining.remove(h.suite)
            if h.group is not None and not self._f.groups13:
                # Every hello so far offered every group: its pick is the first group.
                self._f.groups13.append(h.group)
        yield from self._order(TLS13, accepted)

    def _order(self, version: int, accepted: list[int]) -> _Chain:
        if len(accepted) < 2:
            return
        reverse = tuple(reversed(accepted))
        out = yield self._probe(self._hello(version, reverse), f"{version_name(version)} order")
        if isinstance(out, Unanswered):
            self._unanswered("server order", out)
            return
        if isinstance(out, Answered) and out.answer.hello is not None:
            picked = out.answer.hello.suite
            if picked == accepted[0]:
                self._f.order[version] = True
            elif picked == reverse[0]:
                self._f.order[version] = False

    def _groups13(self) -> _Chain:
        f = self._f
        if not f.accepted.get(TLS13):
            return
        suites = tuple(f.accepted[TLS13])
        remaining = [g for g in tls13_groups() if g not in f.groups13]
        while remaining:
            shares: tuple[tuple[int, bytes], ...] = ()
            if f.needs_share:
                # The server refuses an empty key_share, so each hello carries a real share
                # for one offered group (RFC 8446 §4.2.8: only for a group also offered in
                # supported_groups). The server either takes it (the group is supported) or
                # asks for another offered group by HelloRetryRequest: one group learnt per
                # connection either way. A refusal condemns only the group of the share.
                testable = [g for g in remaining if key_share_for(g) is not None]
                if not testable:
                    if remaining:
                        self._f.incomplete.append(
                            "TLS 1.3 groups: no key share can be built for "
                            + ", ".join(f"0x{g:04x}" for g in remaining)
                        )
                    return
                share = key_share_for(testable[0])
                assert share is not None
                shares = ((testable[0], share),)
            hello = self._hello(TLS13, suites, groups=tuple(remaining), key_shares=shares)
            out = yield self._probe(hello, "TLS 1.3 groups")
            if isinstance(out, Unanswered):
                self._unanswered("TLS 1.3 groups", out)
                return
            h = out.answer.hello if isinstance(out, Answered) else None
            g = h.group if h is not None and h.version == TLS13 else None
            if g is None or g not in remaining:
                if not shares:
                    return
                remaining.remove(shares[0][0])
                continue
            f.groups13.append(g)
            remaining.remove(g)

    def _groups12(self) -> _Chain:
        """Curves for ECDHE in the highest TLS ≤ 1.2 version that has ECDHE suites."""
        f = self._f
        for version in (TLS12, TLS11, TLS10):
            ecdhe = tuple(
                c for c in f.accepted.get(version, ()) if (s := suite(c)) and s.kx == "ECDHE"
            )
            if ecdhe:
                break
        else:
            return
        remaining = [g for g in all_groups() if registry().groups[g].kind == "ec"]
        while remaining:
            hello = self._hello(version, ecdhe, groups=tuple(remaining))
            out = yield self._probe(hello, "TLS 1.2 curves")
            if isinstance(out, Unanswered):
                self._unanswered("TLS 1.2 curves", out)
                return
            if not isinstance(out, Answered):
                return
            kx = out.answer.key_exchange
            if kx is None or kx.group is None or kx.group not in remaining:
                return
            f.groups12.append(kx.group)
            remaining.remove(kx.group)
            self._absorb(version, out.answer)

    def _sigalgs12(self) -> _Chain:
        """Signature schemes the server signs TLS 1.2 key exchanges with.

        The ServerKeyExchange of an ECDHE or DHE suite names its scheme, so the same trick
        applies: offer every scheme, remove the one used, until the server refuses. Every
        stage-one hello offered every scheme, so the schemes seen there are already accepted.
        """
        f = self._f
        signed = tuple(
            c
            for c in f.accepted.get(TLS12, ())
            if (s := suite(c)) and s.kx in ("ECDHE", "DHE") and not s.anonymous
        )
        if not signed:
            return
        remaining = [a for a in all_sigalgs() if a not in f.sigalgs]
        while remaining:
            hello = self._hello(TLS12, signed, sigalgs=tuple(remaining))
            out = yield self._probe(hello, "TLS 1.2 signature schemes")
            if isinstance(out, Unanswered):
                self._unanswered("TLS 1.2 signature schemes", out)
                return
            if not isinstance(out, Answered):
                return
            kx = out.answer.key_exchange
            if kx is None or kx.sigalg is None or kx.sigalg not in remaining:
                return  # refused, or a default scheme not offered (RFC 5246 §7.4.1.4.1)
            f.sigalgs.append(kx.sigalg)
            remaining.remove(kx.sigalg)

    def _sigalgs13(self) -> _Chain:
        """Signature schemes of TLS 1.3 CertificateVerify, with the OCSP staple on the way.

        CertificateVerify is encrypted, so these hellos carry real key shares (X25519 and
        P-256) and the driver decrypts the server's flight (``vedette.tls.tls13``). Then the
        usual trick: offer every scheme, remove the one the server signed with, until it
        refuses. A dual-certificate server shows both keys' schemes (it picks its certificate
        by the schemes offered), so the chains seen are added to the leaf certificates.
        """
        f = self._f
        suites = tuple(c for c in f.accepted.get(TLS13, ()) if c in DECRYPTABLE_SUITES)
        if not suites:
            return
        remaining = list(all_sigalgs())
        # Shares go with the first two (X25519, P-256); the others are offered so that a server
        # preferring them answers with a HelloRetryRequest naming one.
        groups: tuple[int, ...] = (
            *DECRYPTABLE_GROUPS,
            *sorted(COMPUTABLE_GROUPS - set(DECRYPTABLE_GROUPS)),
        )
        while remaining:
            hello = self._hello(TLS13, suites, groups=groups, sigalgs=tuple(remaining))
            out = yield self._probe(hello, "TLS 1.3 signature schemes", decrypt=True)
            if isinstance(out, Unanswered):
                self._unanswered("TLS 1.3 signature schemes", out)
                return
            ans = out.answer if isinstance(out, Answered) else ServerAnswer()
            flight = ans.tls13
            if flight is None or flight.sigalg is None:
                h = ans.hello
                if (
                    h is not None
                    and h.retry
                    and h.group in COMPUTABLE_GROUPS
                    and groups != (h.group,)
                ):
                    # A HelloRetryRequest for a group we can compute but sent no share for
                    # (P-384, X448…): a new connection offers just that one.
                    groups = (h.group,)
                    continue
                if not f.sigalgs13:
                    # Every scheme was offered: no answer to that is not a "no" to schemes.
                    why = "the server refused a hello offering every scheme"
                    if h is not None and h.retry:
                        why = f"the server wants group {h.group or 0:#06x}, not computed here"
                    elif h is not None and h.version == TLS13:
                        why = "its encrypted flight could not be read"
                    elif f.groups13 and not COMPUTABLE_GROUPS.intersection(f.groups13):
                        listed = ", ".join(f"{g:#06x}" for g in f.groups13)
                        why = f"the server's groups ({listed}) are not computed here"
                    f.incomplete.append(f"TLS 1.3 signature schemes: {why}")
                return
            if not f.decrypted13:
                f.decrypted13 = True
                f.staple13 = flight.ocsp_response
            if flight.certificates and flight.certificates[0] not in f.leaves:
                f.leaves.append(flight.certificates[0])
            if flight.sigalg not in remaining:
                return  # a scheme not offered: a broken server; stop rather than loop
            f.sigalgs13.append(flight.sigalg)
            remaining.remove(flight.sigalg)

    def _without_sni(self) -> _Chain:
        """The certificate a client that sends no SNI gets (TLS ≤ 1.2: it is in clear)."""
        if self._sni is None:
            return
        version = next((v for v in (TLS12, TLS11, TLS10, SSL3) if self._f.accepted.get(v)), None)
        if version is None:
            return
        # Every suite, not only those accepted with SNI: the default certificate may be of
        # another key type (an RSA default behind an ECDSA certificate for the name).
        spec = self._hello(version, legacy_suites())
        hello = ClientHelloSpec(
            version=spec.version, suites=spec.suites, groups=spec.groups, sigalgs=spec.sigalgs
        )
        out = yield self._probe(hello, "certificate without SNI")
        if isinstance(out, Unanswered):
            self._unanswered("certificate without SNI", out)
        elif isinstance(out, Answered) and out.answer.certificates:
            self._f.leaf_without_sni = out.answer.certificates[0]

    def _fallback(self) -> _Chain:
        """RFC 7507: a hello below the best version, with the SCSV, must get an alert."""
        f = self._f
        versions = sorted(v for v in (TLS10, TLS11, TLS12, TLS13) if f.accepted.get(v))
        if len(versions) < 2:
            return
        version = versions[-2]  # the best version below the best: always TLS 1.2 or older
        hello = self._hello(version, tuple(f.accepted[version]), fallback_scsv=True)
        out = yield self._probe(hello, "fallback SCSV")
        if isinstance(out, Unanswered):
            self._unanswered("fallback SCSV", out)
        elif isinstance(out, Answered):
            a = out.answer
            if a.alert is not None and a.hello is None:
                f.fallback = a.alert[1] == ALERT_INAPPROPRIATE_FALLBACK
            elif a.hello is not None:
                f.fallback = False


#: Versions the quick probe's client offers (``probe.transport.scanner_ssl_context``): what it
#: negotiated is the highest the server accepts, and every version above it is refused.
_QUICK_OFFERS = (TLS10, TLS11, TLS12, TLS13)
#: ``protocol_version``: the server refuses every version the hello allows.
ALERT_PROTOCOL_VERSION = 70


def client_hellos(sni: str | None, suites: tuple[int, ...]) -> tuple[Probe, Probe]:
    """The two hellos of a ``clients`` scan, after the quick probe (see :func:`clients_scan`).

    ``suites``: the TLS ≤ 1.2 suites the client profiles offer, most offered first (a server
    that follows the client's order then picks the most common). Only those: a suite no
    client offers decides no verdict, and a short hello spares the servers that choke on
    long ones (``SLICE``).

    * the first offers TLS 1.2 at most: which TLS 1.2 suite the server picks;
    * the second offers TLS 1.0 at most: does the server still accept TLS 1.0, and with what.
    """

    def hello(version: int) -> ClientHelloSpec:
        return ClientHelloSpec(
            version=version, suites=suites, groups=all_groups(), sigalgs=all_sigalgs(), sni=sni
        )

    return (
        Probe(id=1, hello=hello(TLS12), purpose="clients: TLS 1.2 suite"),
        Probe(id=2, hello=hello(TLS10), purpose="clients: TLS 1.0"),
    )


def clients_scan(
    negotiated: tuple[int, int | None] | None,
    outcomes: tuple[Outcome, ...],
    *,
    connections: int,
) -> TlsScan:
    """Fold the quick probe's session and the answers to :func:`client_hellos` into a partial
    ``TlsScan`` (``incomplete``; ``tested_versions`` says which versions were settled).

    ``negotiated``: the quick probe's (version, suite) codes, the suite ``None`` when unknown.
    ``outcomes``: the answers to the hellos, in order (max TLS 1.2, max TLS 1.0).
    A version is *tested* when an answer settles it: the one a server picks (accepted), the
    ones above it up to what the hello allowed (refused: a server picks its highest), or all
    of a hello's versions on a ``protocol_version`` alert or a close without an answer (as the
    enumeration concludes from a short hello, ``Planner._drain``; Python's asyncio servers
    close without the alert). Another alert (``handshake_failure``: none of the profiles'
    suites, though others might be accepted) settles nothing.
    """
    accepted: dict[int, list[int]] = {}
    tested: set[int] = set()
    reasons: list[str] = []

    def settle(top: int, picked: int | None, suite: int | None) -> None:
        lowest = picked if picked is not None else SSL3
        tested.update(v for v in (SSL3, *_QUICK_OFFERS) if lowest <= v <= top)
        if picked is not None:
            found = accepted.setdefault(picked, [])
            if suite is not None and suite not in found:
                found.append(suite)

    if negotiated is not None:
        settle(TLS13, negotiated[0], negotiated[1])
    for top, outcome in zip((TLS12, TLS10), outcomes, strict=False):
        name = version_name(top)
        if isinstance(outcome, Unanswered):
            reasons.append(f"the {name} hello: {outcome.reason}")
            continue
        if isinstance(outcome, Refused):
            settle(top, None, None)
            continue
        h = outcome.answer.hello
        if h is not None and not h.retry and h.version <= top:
            settle(top, h.version, h.suite)
        elif outcome.answer.alert is not None and outcome.answer.alert[1] == ALERT_PROTOCOL_VERSION:
            settle(top, None, None)
    versions = tuple(sorted(accepted))
    reason = f"{CLIENTS_MODE} the versions and suites a client matrix needs, not an enumeration"
    return TlsScan(
        versions=versions,
        suites=tuple(
            VersionSuites(version=v, suites=tuple(accepted.get(v, ())), server_order=None)
            for v in versions
        ),
        tested_versions=tuple(sorted(tested)),
        connections=connections,
        incomplete=True,
        incomplete_reason="; ".join([reason, *reasons]),
    )


@functools.cache
def key_share_for(group: int) -> bytes | None:
    """A valid public key share for ``group``, or None for groups without one here.

    Deterministic (private key 1 for the NIST curves: the base point, a valid public key; a
    fixed scalar for X448): the handshake is abandoned after the ServerHello, so the share
    only has to pass the server's point validation, never to be secret.
    """
    if group == X25519_SHARE[0]:
        return X25519_SHARE[1]
    curves: dict[int, ec.EllipticCurve] = {
        0x0017: ec.SECP256R1(),
        0x0018: ec.SECP384R1(),
        0x0019: ec.SECP521R1(),
    }
    if group in curves:
        key = ec.derive_private_key(1, curves[group]).public_key()
        return key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    if group == 0x001E:
        priv = x448.X448PrivateKey.from_private_bytes(bytes([9]) * 56)
        return priv.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    return None
