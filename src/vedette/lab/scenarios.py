"""The lab's scenarios, and :class:`Lab`, which starts them all on loopback.

Each scenario is one server built with exactly one problem (or none), so that a scan of the
lab shows every kind of finding vedette reports, each next to a server that does it right:

==========================  ===========  ===================================================
scenario                    service      what is wrong                  -> expected finding
==========================  ===========  ===================================================
imaps-good                  imaps        nothing (leaf + intermediate sent)
imap-starttls-good          imap         nothing (LOGINDISABLED before STARTTLS)
pop3s-self-signed           pop3s        self-signed leaf               -> cert.self-signed
smtps-expired               smtps        leaf expired 310 days ago      -> cert.expired
imaps-sha1                  imaps        leaf signed with SHA-1         -> cert.sha1-signature
imaps-no-intermediate       imaps        intermediate not sent          -> cert.chain-incomplete
pop3s-wrong-name            pop3s        leaf for other.vedette.test    -> cert.name-mismatch
pop3-no-tls                 pop3         no STLS, USER in clear         -> tls.none,
                                                                           tls.plaintext-auth
imap-plaintext-login        imap         AUTH=PLAIN, LOGIN before TLS   -> tls.plaintext-auth
submission-auth-before-tls  submission   AUTH offered before STARTTLS   -> tls.plaintext-auth
smtp-relay-good             smtp         nothing (MX, opportunistic TLS, no AUTH)
imaps-sha512                imaps        leaf signed with SHA-512       -> cert.sha512-legacy-
                                         (Lync 2013, Skype for Business    schannel
                                         2015, Outlook 2013 on Windows
                                         7/8.1/2012 without KB2973337)
pop3s-tls10-only            pop3s        TLS 1.0 only, old suites       -> tls.tls10,
                                         (only old clients connect)        tls.no-tls12,
                                                                           tls.no-tls13
                                                                        (quick scan:
                                                                        tls.old-version)
==========================  ===========  ===================================================

The last two are the stories people run the demo for: a SHA-512 chain that every client takes
but the legacy SChannel ones (``SEC_E_ALGORITHM_MISMATCH``), and a legacy server that only old
clients still reach. Which clients fail is not written here: the demo prints what vedette's
client matrix computes for each server.

All servers listen on ``127.0.0.1`` (ephemeral ports) under the name ``lab.vedette.test``,
which is never resolved: scans and clients are given the address with the name (curl
``--resolve``, vedette's pinned addresses). Certificates are minted at every start by
:mod:`vedette.pki.ca`: a root "vedette lab root" (the scan is given it with ``--ca``) and an
intermediate "vedette lab intermediate" that issues the leaves.

Every server serves the same account (``demo`` / ``demo-password``) and mailbox, so any client
can log in and read mail over TLS: the lab is a set of real servers, not canned answers.
"""

from __future__ import annotations

import asyncio
import enum
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from vedette.lab._channel import LabLimits, LineServer
from vedette.lab._imap import ImapPolicy, ImapServer
from vedette.lab._mailbox import StoredMessage, sample_messages
from vedette.lab._pop3 import Pop3Policy, Pop3Server
from vedette.lab._smtp import ReceivedMessage, SmtpPolicy, SmtpServer
from vedette.lab._tls import TlsFiles
from vedette.model import Endpoint, Protocol, Service, TlsMode
from vedette.pki.ca import CertificateAuthority, self_signed_server

if TYPE_CHECKING:
    import ssl
    from types import TracebackType

__all__ = ["SCENARIOS", "Lab", "LabServer", "Scenario"]

#: The name every lab server answers to (and the certificates are issued for).
LAB_HOST = "lab.vedette.test"
#: The name on the wrong-name scenario's certificate.
OTHER_HOST = "other.vedette.test"


class CertKind(enum.StrEnum):
    """Which certificate (and chain on the wire) a scenario's server presents."""

    GOOD = "good"  # leaf by the intermediate, leaf + intermediate sent
    SELF_SIGNED = "self-signed"
    EXPIRED = "expired"  # not_before 400 days ago, valid 90 days
    SHA1 = "sha1"  # RSA-2048 leaf, signature hash SHA-1
    NO_INTERMEDIATE = "no-intermediate"  # good leaf sent alone
    WRONG_NAME = "wrong-name"  # leaf for OTHER_HOST
    SHA512 = "sha512"  # leaf signed with SHA-512 (sha512WithRSAEncryption by the RSA intermediate)
    GOOD_RSA = "good-rsa"  # as GOOD with an RSA-2048 leaf, as legacy servers (and clients) have


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    """A server of the lab, before it runs.

    Attributes:
        name: stable identifier, used in reports and tests.
        service: what runs there (protocol, TLS mode, role).
        description: one line for humans.
        expected_findings: check ids a scan must report for it, exactly.
        cert: the certificate it presents; None for a server without TLS.
        imap, pop3, smtp: the protocol policy (what is offered before TLS); the one matching
            ``service.protocol`` is used.
        tls10_only: the server speaks TLS 1.0 and nothing else (a legacy server).
        quick_findings: what a quick scan (one handshake, no enumeration) must report
            instead, when it sees less; None when it is ``expected_findings``.
    """

    name: str
    service: Service
    description: str
    expected_findings: frozenset[str]
    cert: CertKind | None
    imap: ImapPolicy = field(default_factory=ImapPolicy)
    pop3: Pop3Policy = field(default_factory=Pop3Policy)
    smtp: SmtpPolicy = field(default_factory=SmtpPolicy)
    tls10_only: bool = False
    quick_findings: frozenset[str] | None = None


_NONE: frozenset[str] = frozenset()

SCENARIOS: tuple[Scenario, ...] = (
    Scenario(
        name="imaps-good",
        service=Service.IMAPS,
        description="IMAPS with a complete chain (leaf + intermediate) for the right name",
        expected_findings=_NONE,
        cert=CertKind.GOOD,
    ),
    Scenario(
        name="imap-starttls-good",
        service=Service.IMAP,
        description="IMAP with STARTTLS; LOGINDISABLED and no AUTH= before TLS",
        expected_findings=_NONE,
        cert=CertKind.GOOD,
        imap=ImapPolicy(starttls=True, login_disabled_before_tls=True),
    ),
    Scenario(
        name="pop3s-self-signed",
        service=Service.POP3S,
        description="POP3S presenting a self-signed certificate",
        expected_findings=frozenset({"cert.self-signed"}),
        cert=CertKind.SELF_SIGNED,
    ),
    Scenario(
        name="smtps-expired",
        service=Service.SMTPS,
        description="SMTPS (implicit TLS submission) with a certificate expired 310 days ago",
        expected_findings=frozenset({"cert.expired"}),
        cert=CertKind.EXPIRED,
        smtp=SmtpPolicy(auth=True, submission=True),
    ),
    Scenario(
        name="imaps-sha1",
        service=Service.IMAPS,
        description="IMAPS with an RSA-2048 leaf signed with SHA-1",
        expected_findings=frozenset({"cert.sha1-signature"}),
        cert=CertKind.SHA1,
    ),
    Scenario(
        name="imaps-no-intermediate",
        service=Service.IMAPS,
        description="IMAPS sending its leaf without the intermediate that issued it",
        expected_findings=frozenset({"cert.chain-incomplete"}),
        cert=CertKind.NO_INTERMEDIATE,
    ),
    Scenario(
        name="pop3s-wrong-name",
        service=Service.POP3S,
        description=f"POP3S with a certificate for {OTHER_HOST}",
        expected_findings=frozenset({"cert.name-mismatch"}),
        cert=CertKind.WRONG_NAME,
    ),
    Scenario(
        name="pop3-no-tls",
        service=Service.POP3,
        description="POP3 without STLS; USER/PASS accepted in clear",
        expected_findings=frozenset({"tls.none", "tls.plaintext-auth"}),
        cert=None,
        pop3=Pop3Policy(stls=False, user_before_tls=True),
    ),
    Scenario(
        name="imap-plaintext-login",
        service=Service.IMAP,
        description="IMAP offering STARTTLS but also AUTH=PLAIN and LOGIN before it",
        expected_findings=frozenset({"tls.plaintext-auth"}),
        cert=CertKind.GOOD,
        imap=ImapPolicy(starttls=True, login_disabled_before_tls=False, auth_plain_before_tls=True),
    ),
    Scenario(
        name="submission-auth-before-tls",
        service=Service.SUBMISSION,
        description="SMTP submission advertising AUTH PLAIN LOGIN before STARTTLS",
        expected_findings=frozenset({"tls.plaintext-auth"}),
        cert=CertKind.GOOD,
        smtp=SmtpPolicy(starttls=True, auth=True, auth_before_tls=True, submission=True),
    ),
    Scenario(
        name="smtp-relay-good",
        service=Service.SMTP,
        description="SMTP MX (port-25 role) with STARTTLS and a good chain, no AUTH",
        expected_findings=_NONE,
        cert=CertKind.GOOD,
        smtp=SmtpPolicy(starttls=True, auth=False, submission=False),
    ),
    Scenario(
        name="imaps-sha512",
        service=Service.IMAPS,
        description="IMAPS with a leaf signed with SHA-512 (legacy SChannel refuses it)",
        expected_findings=frozenset({"cert.sha512-legacy-schannel"}),
        cert=CertKind.SHA512,
    ),
    Scenario(
        name="pop3s-tls10-only",
        service=Service.POP3S,
        description="POP3S speaking TLS 1.0 only: a legacy server only old clients reach",
        expected_findings=frozenset({"tls.tls10", "tls.no-tls12", "tls.no-tls13"}),
        cert=CertKind.GOOD_RSA,
        tls10_only=True,
        # One handshake shows the version it got, not which versions are refused.
        quick_findings=frozenset({"tls.old-version"}),
    ),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class LabServer:
    """A running lab server.

    Attributes:
        name: the scenario's name (``imaps-good``).
        service: what runs there.
        port: the ephemeral TCP port it listens on.
        host: the name it answers to and is certified for (never resolved: use ``ip``).
        ip: the address it listens on.
        description: one line for humans.
        expected_findings: the check ids a scan must report for it, exactly (the problem it
            was built with; empty for the good servers).
        quick_findings: the same for a quick scan (``--mode quick``).
    """

    name: str
    service: Service
    port: int
    host: str
    ip: str
    description: str
    expected_findings: frozenset[str]
    quick_findings: frozenset[str] = frozenset()

    @property
    def target(self) -> str:
        """The target as vedette and curl write it, e.g. ``imaps://lab.vedette.test:41234``."""
        return f"{self.service.value}://{self.host}:{self.port}"

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint to probe: the name with its pinned address."""
        return Endpoint(host=self.host, ip=self.ip, port=self.port, service=self.service)

    @property
    def curl_url(self) -> str:
        """The URL curl understands for this server (curl has no ``submission``/``pop3``
        STARTTLS schemes: it upgrades ``imap://``, ``pop3://``, ``smtp://`` with ``--ssl``)."""
        scheme = {
            Protocol.IMAP: "imap",
            Protocol.POP3: "pop3",
            Protocol.SMTP: "smtp",
        }.get(self.service.protocol, self.service.value)
        if self.service.tls_mode is TlsMode.IMPLICIT:
            scheme += "s"
        return f"{scheme}://{self.host}:{self.port}"


class Lab:
    """Every scenario's server, running on this event loop until the context exits.

    ``async with Lab() as lab:`` mints a fresh CA and certificates, starts the servers, and
    writes the lab root to ``lab.root_ca_path`` (in ``workdir`` if given, else in the lab's
    private temporary directory, removed on exit). Messages accepted by the SMTP servers are
    kept in ``lab.received``.
    """

    def __init__(
        self,
        *,
        host: str = LAB_HOST,
        bind: str = "127.0.0.1",
        workdir: Path | None = None,
        limits: LabLimits | None = None,
        scenarios: tuple[Scenario, ...] = SCENARIOS,
    ) -> None:
        self.host = host
        self.bind = bind
        self.workdir = workdir
        self.limits = limits or LabLimits()
        self.scenarios = scenarios
        self.servers: tuple[LabServer, ...] = ()
        self.root_ca_pem = b""
        self.root_ca_path = Path()
        self._received: list[ReceivedMessage] = []
        self._running: list[LineServer] = []
        self._files: TlsFiles | None = None

    @property
    def received(self) -> tuple[ReceivedMessage, ...]:
        """Messages the lab's SMTP servers accepted, oldest first."""
        return tuple(self._received)

    def server(self, name: str) -> LabServer:
        """The running server of scenario ``name`` (``KeyError`` if there is none)."""
        for srv in self.servers:
            if srv.name == name:
                return srv
        raise KeyError(name)

    async def __aenter__(self) -> Lab:
        try:
            await self._start()
        except BaseException:
            await self._stop()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self._stop()

    async def _start(self) -> None:
        self._files = files = TlsFiles()
        # Key generation (an RSA-2048 key for the SHA-1 scenario) takes a few tens of
        # milliseconds; it runs in a thread so a lab started inside a busy loop stays responsive.
        contexts = await asyncio.to_thread(self._mint, files)
        messages = sample_messages(self.host)
        started: list[LabServer] = []
        for sc in self.scenarios:
            server = self._server_for(sc, contexts.get(sc.name), messages)
            self._running.append(server)
            port = await server.start(self.bind, 0)
            started.append(
                LabServer(
                    name=sc.name,
                    service=sc.service,
                    port=port,
                    host=self.host,
                    ip=self.bind,
                    description=sc.description,
                    expected_findings=sc.expected_findings,
                    quick_findings=sc.expected_findings
                    if sc.quick_findings is None
                    else sc.quick_findings,
                )
            )
        self.servers = tuple(started)

    def _mint(self, files: TlsFiles) -> dict[str, ssl.SSLContext]:
        # RSA CAs, as almost every public CA still is: the SHA-1 scenario's leaf then carries
        # sha1WithRSAEncryption, the signature real SHA-1 certificates had (ecdsa-with-SHA1
        # barely existed in the wild). Leaves are ECDSA P-256 unless the scenario says otherwise.
        root = CertificateAuthority.create_root(
            "vedette lab root", organization="vedette lab", key_spec="rsa:2048"
        )
        inter = root.issue_intermediate("vedette lab intermediate", key_spec="rsa:2048")
        self.root_ca_pem = root.issued.cert_pem()
        if self.workdir is not None:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.root_ca_path = self.workdir / "vedette-lab-root.pem"
            tmp = self.root_ca_path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_bytes(self.root_ca_pem)
            tmp.replace(self.root_ca_path)
        else:
            self.root_ca_path = files.write("vedette-lab-root.pem", self.root_ca_pem)

        contexts: dict[str, ssl.SSLContext] = {}
        now = datetime.now(UTC)
        for sc in self.scenarios:
            if sc.cert is None:
                continue
            legacy = False
            chain = inter.chain_pem()  # the intermediate: what a complete chain adds
            if sc.cert is CertKind.SELF_SIGNED:
                leaf = self_signed_server([self.host])
                chain = b""
            elif sc.cert is CertKind.EXPIRED:
                leaf = inter.issue_server(
                    [self.host], not_before=now - timedelta(days=400), days=90
                )
            elif sc.cert is CertKind.SHA1:
                leaf = inter.issue_server([self.host], key_spec="rsa:2048", hash_alg="sha1")
                legacy = True
            elif sc.cert is CertKind.NO_INTERMEDIATE:
                leaf = inter.issue_server([self.host])
                chain = b""
            elif sc.cert is CertKind.WRONG_NAME:
                leaf = inter.issue_server([OTHER_HOST])
            elif sc.cert is CertKind.GOOD_RSA:
                leaf = inter.issue_server([self.host], key_spec="rsa:2048")
            elif sc.cert is CertKind.SHA512:
                leaf = inter.issue_server([self.host], hash_alg="sha512")
            else:
                leaf = inter.issue_server([self.host])
            contexts[sc.name] = files.server_context(
                sc.name,
                leaf.cert_pem() + chain,
                leaf.key_pem(),
                legacy=legacy,
                tls10_only=sc.tls10_only,
            )
        return contexts

    def _server_for(
        self,
        sc: Scenario,
        ctx: ssl.SSLContext | None,
        messages: tuple[StoredMessage, ...],
    ) -> LineServer:
        implicit = sc.service.tls_mode is TlsMode.IMPLICIT
        proto = sc.service.protocol
        if proto is Protocol.IMAP:
            return ImapServer(
                tls_context=ctx,
                implicit_tls=implicit,
                limits=self.limits,
                hostname=self.host,
                policy=sc.imap,
                messages=messages,
            )
        if proto is Protocol.POP3:
            return Pop3Server(
                tls_context=ctx,
                implicit_tls=implicit,
                limits=self.limits,
                hostname=self.host,
                policy=sc.pop3,
                messages=messages,
            )
        if proto is Protocol.SMTP:
            return SmtpServer(
                tls_context=ctx,
                implicit_tls=implicit,
                limits=self.limits,
                hostname=self.host,
                policy=sc.smtp,
                name=sc.name,
                deliver=self._received.append,
            )
        raise ValueError(f"the lab has no {proto} server (scenario {sc.name})")

    async def _stop(self) -> None:
        running, self._running = self._running, []
        await asyncio.gather(*(s.stop() for s in running), return_exceptions=True)
        if self._files is not None:
            self._files.cleanup()
            self._files = None
