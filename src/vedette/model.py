"""The values that flow through vedette: endpoints, observations, findings.

Everything here is a frozen value (``slots=True, kw_only=True``) built from tuples and
frozensets, so an observation taken by the probe layer can be stored, re-loaded and re-analysed
offline without anything changing under the checks' feet. Serialisation lives elsewhere
(``vedette.store.codec``): these classes know nothing about JSON or SQL.

Layering::

    targets  ->  Endpoint  ->  probe (asyncio)  ->  Observation  ->  checks (pure)  ->  Finding
"""

from __future__ import annotations

import enum
import ipaddress
from dataclasses import dataclass, field
from datetime import datetime


class Protocol(enum.StrEnum):
    """The application protocol spoken on an endpoint."""

    SMTP = "smtp"
    IMAP = "imap"
    POP3 = "pop3"
    HTTP = "http"
    SIP = "sip"
    XMPP = "xmpp"
    MANAGESIEVE = "managesieve"
    LDAP = "ldap"
    SMB = "smb"


class TlsMode(enum.StrEnum):
    """How TLS starts: at once after connect (``implicit``) or after a STARTTLS command."""

    IMPLICIT = "implicit"
    STARTTLS = "starttls"


class Role(enum.StrEnum):
    """Who talks to the endpoint, which weighs the severity of a finding.

    ``relay``: server-to-server SMTP on port 25, where TLS is opportunistic and senders accept
    any certificate unless DANE or MTA-STS applies. ``user``: a person's client that types a
    password (submission, IMAP, POP3, HTTPS, SIP).
    """

    RELAY = "relay"
    USER = "user"


@dataclass(frozen=True, slots=True)
class ServiceSpec:
    """A service's facts. ``scanned_by_default``: a bare ``host`` target probes its default
    port (the mail and UC ports); other services are probed only when named by scheme or port.
    ``srv``: the SRV label that locates the service of a domain (``_xmpp-client._tcp``), for
    services whose target is a domain rather than a server; empty for the others."""

    name: str
    protocol: Protocol
    tls_mode: TlsMode
    default_port: int
    role: Role
    scanned_by_default: bool = True
    srv: str = ""


class Service(enum.StrEnum):
    """A scheme of the target grammar: the protocol, its TLS mode and its default port."""

    SMTP = "smtp"
    SUBMISSION = "submission"
    SMTPS = "smtps"
    IMAP = "imap"
    IMAPS = "imaps"
    POP3 = "pop3"
    POP3S = "pop3s"
    HTTPS = "https"
    SIPS = "sips"
    XMPP = "xmpp"
    XMPPS = "xmpps"
    XMPP_SERVER = "xmpp-server"
    SIEVE = "sieve"
    LDAP = "ldap"
    LDAPS = "ldaps"
    SMB = "smb"
    NETBIOS_SSN = "netbios-ssn"

    @property
    def spec(self) -> ServiceSpec:
        return _SERVICE_SPECS[self]

    @property
    def protocol(self) -> Protocol:
        return _SERVICE_SPECS[self].protocol

    @property
    def tls_mode(self) -> TlsMode:
        return _SERVICE_SPECS[self].tls_mode

    @property
    def default_port(self) -> int:
        return _SERVICE_SPECS[self].default_port

    @property
    def role(self) -> Role:
        return _SERVICE_SPECS[self].role

    @property
    def scanned_by_default(self) -> bool:
        return _SERVICE_SPECS[self].scanned_by_default

    @property
    def srv(self) -> str:
        return _SERVICE_SPECS[self].srv

    @classmethod
    def for_port(cls, port: int) -> Service | None:
        """The service whose default port is ``port``, or None for a non-standard port."""
        for svc in cls:
            if svc.default_port == port:
                return svc
        return None


_SERVICE_SPECS: dict[Service, ServiceSpec] = {
    Service.SMTP: ServiceSpec("smtp", Protocol.SMTP, TlsMode.STARTTLS, 25, Role.RELAY),
    Service.SUBMISSION: ServiceSpec("submission", Protocol.SMTP, TlsMode.STARTTLS, 587, Role.USER),
    Service.SMTPS: ServiceSpec("smtps", Protocol.SMTP, TlsMode.IMPLICIT, 465, Role.USER),
    Service.IMAP: ServiceSpec("imap", Protocol.IMAP, TlsMode.STARTTLS, 143, Role.USER),
    Service.IMAPS: ServiceSpec("imaps", Protocol.IMAP, TlsMode.IMPLICIT, 993, Role.USER),
    Service.POP3: ServiceSpec("pop3", Protocol.POP3, TlsMode.STARTTLS, 110, Role.USER),
    Service.POP3S: ServiceSpec("pop3s", Protocol.POP3, TlsMode.IMPLICIT, 995, Role.USER),
    Service.HTTPS: ServiceSpec("https", Protocol.HTTP, TlsMode.IMPLICIT, 443, Role.USER),
    Service.SIPS: ServiceSpec("sips", Protocol.SIP, TlsMode.IMPLICIT, 5061, Role.USER),
    # XMPP (RFC 6120): client-to-server with STARTTLS, Direct TLS (XEP-0368), server-to-server.
    # A target names the XMPP domain; SRV (RFC 6120 3.2.1, XEP-0368) locates its servers.
    Service.XMPP: ServiceSpec(
        "xmpp", Protocol.XMPP, TlsMode.STARTTLS, 5222, Role.USER, False, "_xmpp-client._tcp"
    ),
    Service.XMPPS: ServiceSpec(
        "xmpps", Protocol.XMPP, TlsMode.IMPLICIT, 5223, Role.USER, False, "_xmpps-client._tcp"
    ),
    Service.XMPP_SERVER: ServiceSpec(
        "xmpp-server", Protocol.XMPP, TlsMode.STARTTLS, 5269, Role.RELAY, False, "_xmpp-server._tcp"
    ),
    # ManageSieve (RFC 5804): no implicit-TLS variant exists. Dovecot mail hosts run it.
    Service.SIEVE: ServiceSpec("sieve", Protocol.MANAGESIEVE, TlsMode.STARTTLS, 4190, Role.USER),
    Service.LDAP: ServiceSpec("ldap", Protocol.LDAP, TlsMode.STARTTLS, 389, Role.USER, False),
    Service.LDAPS: ServiceSpec("ldaps", Protocol.LDAP, TlsMode.IMPLICIT, 636, Role.USER, False),
    # SMB (file sharing): no TLS; vedette reads the dialects and signing from NEGOTIATE only.
    # 445 is direct TCP; 139 is the NetBIOS session service (a session request first).
    Service.SMB: ServiceSpec("smb", Protocol.SMB, TlsMode.STARTTLS, 445, Role.USER, False),
    Service.NETBIOS_SSN: ServiceSpec(
        "netbios-ssn", Protocol.SMB, TlsMode.STARTTLS, 139, Role.USER, False
    ),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    """One address and port to probe, with the name it is known by.

    Attributes:
        host: the DNS name the user gave; it is the SNI and the name certificates must match.
            ``None`` when the target was a bare IP address (no name to match).
        ip: the address connected to; ``None`` only when ``host`` could not be resolved.
        port: TCP port.
        service: what is expected on the port (protocol, TLS mode, role).
    """

    host: str | None
    ip: str | None
    port: int
    service: Service

    @property
    def name(self) -> str:
        """The host name, or the IP address for a bare-IP target."""
        return self.host if self.host is not None else (self.ip or "?")

    @property
    def label(self) -> str:
        """``scheme://name:port`` plus ``[ip]`` when the name is not the address itself."""
        shown = self.name
        if ":" in shown:
            shown = f"[{shown}]"
        text = f"{self.service.value}://{shown}:{self.port}"
        if self.host is not None and self.ip is not None:
            text += f" ({self.ip})"
        return text

    @property
    def group_key(self) -> tuple[str, int, Service]:
        """Endpoints sharing this key are one service seen through several addresses."""
        return (self.name, self.port, self.service)

    @property
    def ip_version(self) -> int | None:
        return ipaddress.ip_address(self.ip).version if self.ip else None


class FailureKind(enum.StrEnum):
    """Why a probe stopped short. Each is a result the scan reports, not an exception."""

    RESOLVE = "resolve"  # the name has no address (NXDOMAIN, no A/AAAA, resolver failure)
    REFUSED = "refused"  # TCP RST on connect
    UNREACHABLE = "unreachable"  # no route, network down, host unreachable
    TIMEOUT = "timeout"  # connect or a reply did not complete within its deadline
    CLOSED = "closed"  # the server closed the connection mid-dialogue
    NOT_PROTOCOL = "not-protocol"  # the first reply is not the expected protocol
    PROTOCOL_ERROR = "protocol-error"  # a reply broke the protocol (garbage, bad syntax)
    TOO_LARGE = "too-large"  # a line or a reply exceeded vedette's size bound
    UNAVAILABLE = "unavailable"  # the service said so (SMTP 421/554 greeting, IMAP BYE, -ERR)
    TLS_ERROR = "tls-error"  # the TLS handshake failed


class Stage(enum.StrEnum):
    """Where in the probe a failure happened."""

    RESOLVE = "resolve"
    CONNECT = "connect"
    GREETING = "greeting"
    CAPABILITIES = "capabilities"
    STARTTLS = "starttls"
    TLS_HANDSHAKE = "tls-handshake"
    CAPABILITIES_AFTER_TLS = "capabilities-after-tls"
    CLOSE = "close"


@dataclass(frozen=True, slots=True, kw_only=True)
class Failure:
    kind: FailureKind
    stage: Stage
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DialogueObservation:
    """What the application protocol said, verbatim (decoded as latin-1, CR/LF stripped).

    Attributes:
        greeting: the server's first reply, one item per line.
        capabilities_before_tls: the reply to EHLO / CAPABILITY / CAPA sent in clear, one item
            per line; ``None`` for implicit TLS or when the dialogue did not get that far; an
            empty tuple when the server refused the command (POP3 ``-ERR`` to CAPA).
        starttls_reply: the reply to STARTTLS / STLS; ``None`` when it was not sent.
        capabilities_after_tls: the capability reply sent inside TLS; ``None`` if not reached.
    """

    greeting: tuple[str, ...] = ()
    capabilities_before_tls: tuple[str, ...] | None = None
    starttls_reply: tuple[str, ...] | None = None
    capabilities_after_tls: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsObservation:
    """The TLS session vedette negotiated, and the certificates exactly as the server sent them.

    Attributes:
        version: negotiated protocol, e.g. ``TLSv1.3``.
        cipher: negotiated suite, OpenSSL's name (e.g. ``TLS_AES_256_GCM_SHA384``).
        sni: the server name sent in the ClientHello, ``None`` for a bare-IP target.
        chain_der: the certificate list in the order the server sent it (leaf first), DER.
    """

    version: str
    cipher: str
    sni: str | None
    chain_der: tuple[bytes, ...]


class DefenceKind(enum.StrEnum):
    """How a mail server defended itself against the scanner (``vedette.probe.defence``)."""

    TARPIT = "tarpit"  # replies slower than a threshold: a late greeting, bytes trickled
    RATE_LIMITED = "rate-limited"  # 421 / "too many connections", or resets after successes
    GREYLISTED = "greylisted"  # 450/451 (4.7.1) temporary rejection of the dialogue
    CONNECTION_CAP = "connection-cap"  # new connections turned away while others were open


@dataclass(frozen=True, slots=True, kw_only=True)
class Defence:
    """One kind of defence seen on an endpoint, with its evidence.

    Attributes:
        kind: what the server did.
        evidence: the server's own words (its reply line, verbatim) or what was measured
            ("no greeting within 10 s"); escaped only at output.
        after: connections that got through before the first defended one.
        hits: connections it turned away or slowed down.
    """

    kind: DefenceKind
    evidence: str
    after: int = 0
    hits: int = 1


# --- the TLS enumeration's result (``vedette scan --mode full``) --------------------------------
# What the enumeration learnt about one endpoint. It keeps the exact accepted sets (codes, not
# names) so that a client's hello can be replayed against them offline, and everything the
# checks judge. ``None`` always means "not learnt" (not tested, or the test could not
# conclude), never "no". Built by vedette.tls.plan; re-exported by vedette.tls.result.


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionSuites:
    """The suites one protocol version accepts.

    Attributes:
        version: wire code (0x0300 SSLv3 … 0x0304 TLS 1.3; 0x0002 SSLv2 with 3-byte kinds).
        suites: accepted codes, in the order the server picked them when offered everything
            still untried — the server's preference order when ``server_order`` is True.
        server_order: True if the server imposes its own order, False if it follows the
            client's, ``None`` when fewer than two suites were accepted or the test failed.
    """

    version: int
    suites: tuple[int, ...]
    server_order: bool | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientCertRequest:
    """The server asked for a client certificate (TLS ≤ 1.2, seen in clear).

    Attributes:
        ca_count: distinguished names in its list of acceptable CAs.
        ca_bytes: that list's size on the wire; SChannel fails past 16 KiB of names.
    """

    ca_count: int
    ca_bytes: int


#: How the ``incomplete_reason`` of a ``--mode clients`` scan starts (``TlsScan.partial``).
CLIENTS_MODE = "clients mode:"


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsScan:
    """The enumeration of one endpoint.

    Attributes:
        versions: accepted protocol versions (wire codes), oldest first.
        suites: per accepted version, the accepted suites (see ``VersionSuites``).
        groups: TLS 1.3 groups accepted (HelloRetryRequest selections), in pick order; hybrid
            post-quantum groups such as X25519MLKEM768 (0x11EC) included.
        groups_tls12: curves accepted for ECDHE in TLS ≤ 1.2 (ServerKeyExchange), pick order.
        dh_bits: distinct DH prime sizes seen in DHE ServerKeyExchanges, smallest first.
        sigalgs: signature schemes the server signs TLS 1.2 ServerKeyExchanges with, in pick
            order (enumerated when the server accepts a signed ECDHE or DHE suite).
        secure_renegotiation: the server answered the RFC 5746 SCSV with renegotiation_info.
        fallback_scsv: the server refused a downgraded hello carrying TLS_FALLBACK_SCSV.
        compression: the server chose DEFLATE when offered (CRIME).
        session_ticket, ocsp_stapling, heartbeat, extended_master_secret, encrypt_then_mac:
            the server acknowledged the extension in a TLS ≤ 1.2 ServerHello.
        resumption: a TLS ≤ 1.2 session (ticket or session id) from one full handshake was
            resumed on a second connection; ``None`` if not tried or no handshake completed.
        resumption_tls13: the same for TLS 1.3: a ticket (NewSessionTicket, read after the
            handshake) was offered as a PSK on a second connection and accepted; False when
            no ticket came or it was not accepted, ``None`` if not tried or no handshake.
        sigalgs_tls13: signature schemes the server signs TLS 1.3 CertificateVerify with, in
            pick order (learnt by decrypting its flight, ``vedette.tls.tls13``).
        ocsp_staple_tls12: a TLS ≤ 1.2 server sent a CertificateStatus (an OCSP response
            really stapled, not only the extension acknowledged); ``None`` if no TLS ≤ 1.2
            certificate was seen.
        ocsp_staple_tls13: the TLS 1.3 leaf carried a stapled OCSP response; ``None`` if no
            TLS 1.3 flight was decrypted.
        ocsp_response: the stapled OCSP response (DER), TLS 1.3's when both were seen.
        client_cert_request: the server asked for a client certificate; ``None`` if not.
        leaf_certificates: distinct leaf certificates (DER) served in TLS ≤ 1.2 flights and in
            decrypted TLS 1.3 ones: an RSA and an ECDSA one for a dual-certificate server.
        leaf_without_sni: the leaf served to a TLS ≤ 1.2 hello that names no server (a
            client without SNI, or a scanner given an IP); ``None`` when not tested (bare-IP
            target, TLS 1.3 only) or when no certificate came.
        connections: TCP connections the enumeration opened (retries included).
        incomplete: the enumeration could not finish (or, in ``clients`` mode, was never
            meant to); ``incomplete_reason`` says why. Sets are then lower bounds: nothing
            missing from them was seen refused, except the versions of ``tested_versions``.
        tested_versions: versions whose acceptance was settled, oldest first: a version in it
            and not in ``versions`` was refused. A full enumeration lists every version it
            finished testing; empty in scans stored before this field (nothing known).
    """

    versions: tuple[int, ...] = ()
    suites: tuple[VersionSuites, ...] = ()
    groups: tuple[int, ...] = ()
    groups_tls12: tuple[int, ...] = ()
    dh_bits: tuple[int, ...] = ()
    sigalgs: tuple[int, ...] = ()
    secure_renegotiation: bool | None = None
    fallback_scsv: bool | None = None
    compression: bool | None = None
    session_ticket: bool | None = None
    ocsp_stapling: bool | None = None
    heartbeat: bool | None = None
    extended_master_secret: bool | None = None
    encrypt_then_mac: bool | None = None
    resumption: bool | None = None
    resumption_tls13: bool | None = None
    sigalgs_tls13: tuple[int, ...] = ()
    ocsp_staple_tls12: bool | None = None
    ocsp_staple_tls13: bool | None = None
    ocsp_response: bytes | None = None
    client_cert_request: ClientCertRequest | None = None
    leaf_certificates: tuple[bytes, ...] = ()
    leaf_without_sni: bytes | None = None
    connections: int = 0
    incomplete: bool = False
    incomplete_reason: str | None = None
    tested_versions: tuple[int, ...] = ()

    @property
    def partial(self) -> bool:
        """The partial scan of ``--mode clients`` (two hellos), not an enumeration."""
        return self.incomplete and (self.incomplete_reason or "").startswith(CLIENTS_MODE)

    def refused_versions(self) -> frozenset[int]:
        """Versions tested and not accepted."""
        return frozenset(v for v in self.tested_versions if v not in self.versions)

    def suites_for(self, version: int) -> tuple[int, ...]:
        for vs in self.suites:
            if vs.version == version:
                return vs.suites
        return ()

    def all_suites(self) -> frozenset[int]:
        """Every accepted TLS/SSLv3 suite code, whatever the version (SSLv2 kinds excluded)."""
        return frozenset(c for vs in self.suites if vs.version != 0x0002 for c in vs.suites)


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """Everything seen on one endpoint during one probe.

    Attributes:
        endpoint: what was probed.
        started_at: UTC time the probe began; certificate dates are judged against the analysis
            time, not this.
        duration_s: wall time of the probe.
        dialogue: the application-protocol exchange; ``None`` when no reply was read.
        tls: the negotiated TLS session; ``None`` when TLS was not established.
        failure: why the probe stopped short, ``None`` when it completed.
        connections: TCP connections the probe opened.
        tls_scan: the full TLS enumeration (``vedette scan --mode full``): accepted versions,
            suites, groups…; ``None`` in quick mode or when no TLS was reached. Its own
            ``connections`` are not counted in ``connections``.
        defences: tarpits, rate limits, greylisting or connection caps met by the probe and
            the enumeration, one per kind (``vedette.probe.defence``); empty when none.
    """

    endpoint: Endpoint
    started_at: datetime
    duration_s: float
    dialogue: DialogueObservation | None = None
    tls: TlsObservation | None = None
    failure: Failure | None = None
    connections: int = 1
    tls_scan: TlsScan | None = None
    defences: tuple[Defence, ...] = ()

    @property
    def reachable(self) -> bool:
        return self.failure is None or self.failure.kind not in _UNREACHED

    @property
    def scanned(self) -> bool:
        """True when the probe got at least an answer in the expected protocol or TLS: a
        greeting, or (where the client speaks first, as in LDAP) a capability reply."""
        d = self.dialogue
        return self.tls is not None or (
            d is not None and (bool(d.greeting) or d.capabilities_before_tls is not None)
        )


_UNREACHED = frozenset({FailureKind.RESOLVE, FailureKind.REFUSED, FailureKind.UNREACHABLE})


class Severity(enum.IntEnum):
    """One scale for every finding."""

    INFO = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.strip().upper()]
        except KeyError:
            names = ", ".join(s.label for s in cls)
            raise ValueError(f"unknown severity {text!r} (expected one of: {names})") from None


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """A problem (or a notable fact) on an endpoint, with what to do about it.

    Attributes:
        id: stable identifier from the check registry, e.g. ``cert.expired``.
        severity: already weighed by the endpoint's role.
        title: one line saying what is wrong, in plain words.
        detail: the specifics of this endpoint (dates, names, mechanisms).
        remediation: how to fix it.
        endpoint: where it was seen; for a finding about several addresses of one name, the
            first of them.
        evidence: verbatim server data backing the finding (capability lines, subjects).
        references: URLs or RFC numbers.
        fix_commands: vedette command lines that fix the problem, arguments filled in for
            this endpoint (run in order); empty when no command applies.
    """

    id: str
    severity: Severity
    title: str
    detail: str
    remediation: str
    endpoint: Endpoint
    evidence: tuple[str, ...] = ()
    references: tuple[str, ...] = field(default=())
    fix_commands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanReport:
    """A scan's observations and the findings an analysis drew from them.

    Attributes:
        scan_id: the id in the store, ``None`` when the scan was not stored.
        targets: the targets as the user wrote them.
        started_at, finished_at: UTC times of the probe run.
        analysed_at: the time certificate dates were judged against.
        observations: one per endpoint, in the order of the plan.
        findings: most severe first.
    """

    scan_id: int | None
    targets: tuple[str, ...]
    started_at: datetime
    finished_at: datetime
    analysed_at: datetime
    observations: tuple[Observation, ...]
    findings: tuple[Finding, ...]
    clients: tuple[ClientMatrix, ...] = ()


class ClientOutcome(enum.StrEnum):
    """What one client would see against one endpoint (the compatibility matrix)."""

    WORKS = "works"
    WARNING = "warning"  # works, with a caveat (fetches a missing intermediate, opportunistic...)
    FAILS = "fails"
    UNKNOWN = "unknown"  # the scan did not gather what this client needs (e.g. TLS versions)
    NOT_RELEASED = "not-released"  # the client did not exist at the date judged (--as-of)


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientReason:
    """One reason behind a verdict: a stable code, a one-line sentence and the fix."""

    code: str
    outcome: ClientOutcome
    text: str
    fix: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientVerdict:
    """One client profile against one endpoint (or one chain file).

    Attributes:
        profile: the profile id (``ios-10.2``); ``name`` and ``family`` as in the profile data.
        outcome: the worst outcome among ``reasons`` (``works`` when there is none).
        reasons: every reason found, worst first, not only the first.
    """

    profile: str
    name: str
    family: str
    outcome: ClientOutcome
    reasons: tuple[ClientReason, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientMatrix:
    """The compatibility matrix of one endpoint.

    Attributes:
        endpoint: the endpoint judged; ``None`` for a chain file (``vedette cert clients``).
        as_of: the date the clients' stores, rules and certificate dates were judged at.
        verdicts: one per profile selected.
        notes: statements that hold for the whole matrix (``--ca`` applies to..., interception).
        inventory: lines such as ``412 devices will fail: ...`` from ``--inventory``.
    """

    endpoint: Endpoint | None
    as_of: datetime
    verdicts: tuple[ClientVerdict, ...]
    notes: tuple[str, ...] = ()
    inventory: tuple[str, ...] = ()
