"""The per-endpoint probe plan and the scheduler that runs many of them at once.

Plan for one endpoint (one TCP connection):

1. connect;
2. implicit-TLS services: handshake first;
3. mail protocols: drive the sans-I/O dialogue (greeting, capabilities, STARTTLS, capabilities
   again inside TLS, polite quit), upgrading the connection when the dialogue asks;
4. HTTPS and SIPS: the handshake is all this probe does.

Whatever happens, an ``Observation`` comes back with what was seen up to the failure. The
scheduler bounds concurrency globally and per IP address, and every await is under a deadline.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import (
    Defence,
    DialogueObservation,
    Endpoint,
    Failure,
    FailureKind,
    Observation,
    Stage,
    TlsMode,
    TlsObservation,
)
from vedette.probe.defence import Attempt, DefenceLog, ReplyTimer
from vedette.probe.limits import EndpointClock, Limits
from vedette.probe.stream import Connect, Stream
from vedette.probe.transport import Connection, ProbeFailed, fail, scanner_ssl_context
from vedette.protocols import Close, MailDialogue, NeedData, Send, StartTls
from vedette.protocols.registry import entry, has_dialogue, new_dialogue

#: Actions a dialogue may ask for before the driver calls it a runaway (a bug, not a server).
_MAX_ACTIONS = 10_000


class _Probe:
    """Mutable state of one probe; frozen into an Observation at the end."""

    def __init__(
        self, endpoint: Endpoint, limits: Limits, ehlo_name: str, connect: Connect
    ) -> None:
        self.endpoint = endpoint
        self.connect = connect
        self.limits = limits
        self.dialogue: MailDialogue | None = None
        if has_dialogue(endpoint.service.protocol):
            self.dialogue = new_dialogue(
                endpoint.service, ehlo_name=ehlo_name, server_name=endpoint.host
            )
        self.conn: Stream | None = None
        self.stage = Stage.CONNECT
        self.tls: TlsObservation | None = None
        self.timer = ReplyTimer()
        self.ehlo_name = ehlo_name
        #: Protocols probed over several connections (``ProtocolEntry.rounds``): the
        #: observations of the rounds done before the current one, and their connections.
        self.rounds_seen: list[DialogueObservation] = []

    @property
    def sni(self) -> str | None:
        return self.endpoint.host

    async def run(self, ctx: ssl.SSLContext) -> None:
        ep = self.endpoint
        assert ep.ip is not None
        self.conn = await self.connect(ep.ip, ep.port, timeout=self.limits.connect_timeout)
        if ep.service.tls_mode is TlsMode.IMPLICIT:
            await self._start_tls(ctx)
        rounds = entry(ep.service.protocol).rounds
        if self.dialogue is not None and rounds > 1:
            await self._rounds(rounds, ctx)
        elif self.dialogue is not None:
            try:
                await self._drive(self.dialogue, ctx)
            except ProbeFailed as exc:
                # Everything is recorded once the dialogue is saying goodbye: a server that
                # does not answer QUIT/LOGOUT in time has not failed the probe.
                if exc.failure.stage is not Stage.CLOSE:
                    raise

    async def _rounds(self, rounds: int, ctx: ssl.SSLContext) -> None:
        """A protocol that learns one fact per connection (SMB: one dialect per NEGOTIATE):
        one dialogue per round, each on a new connection. A close or a reset is that round's
        answer (the server refused the offer): fed as end of file, the dialogue records it."""
        ep = self.endpoint
        assert ep.ip is not None and self.dialogue is not None
        for index in range(rounds):
            if index:
                assert self.conn is not None
                self.rounds_seen.append(self.dialogue.observation())
                await self.conn.close()
                self.stage = Stage.CONNECT
                self.dialogue = new_dialogue(
                    ep.service, ehlo_name=self.ehlo_name, server_name=ep.host, round_index=index
                )
                self.conn = await self.connect(ep.ip, ep.port, timeout=self.limits.connect_timeout)
            try:
                await self._drive(self.dialogue, ctx)
            except ProbeFailed as exc:
                if exc.failure.kind is not FailureKind.CLOSED:
                    raise
                self.dialogue.receive_data(b"")
                await self._drive(self.dialogue, ctx)

    async def _start_tls(self, ctx: ssl.SSLContext) -> None:
        assert self.conn is not None
        self.stage = Stage.TLS_HANDSHAKE
        await self.conn.start_tls(ctx, self.sni, self.limits.tls_timeout)
        self.tls = TlsObservation(
            version=self.conn.tls_version or "unknown",
            cipher=self.conn.tls_cipher or "unknown",
            sni=self.sni,
            chain_der=self.conn.chain_der,
        )

    async def _drive(self, dialogue: MailDialogue, ctx: ssl.SSLContext) -> None:
        assert self.conn is not None

        def seen(stage: Stage) -> None:
            self.stage = stage

        async def start_tls() -> None:
            await self._start_tls(ctx)

        await drive_dialogue(
            self.conn, dialogue, self.limits, self.timer, start_tls=start_tls, on_stage=seen
        )


async def drive_dialogue(
    conn: Stream,
    dialogue: MailDialogue,
    limits: Limits,
    timer: ReplyTimer,
    *,
    start_tls: Callable[[], Awaitable[None]] | None = None,
    on_stage: Callable[[Stage], None] | None = None,
) -> None:
    """The one driver loop of ``protocols/_base.py``: the dialogue decides, this moves bytes.

    ``start_tls`` runs the handshake when the dialogue asks for it (the probe); without it the
    loop returns at ``StartTls()`` and leaves the TLS bytes to the caller (the enumeration and
    the resumption probe write their own ClientHellos there), and a dialogue that closes
    instead is "the server did not accept STARTTLS". One deadline per reply (``read_timeout``
    from the first byte asked for), reset by every command; ``timer`` learns the slowest reply;
    ``on_stage`` hears each stage. Raises ``ProbeFailed`` (421, refusals, timeouts, resets).
    """
    loop = asyncio.get_running_loop()
    deadline: float | None = None
    for _ in range(_MAX_ACTIONS):
        if on_stage is not None:
            on_stage(dialogue.stage)
        try:
            action = dialogue.next_action()
        except ProtocolError as exc:
            raise _protocol_failure(exc, dialogue.stage) from exc
        if not isinstance(action, NeedData):
            timer.answered(loop.time())
        if isinstance(action, Send):
            deadline = None
            await conn.write(action.data, limits.read_timeout, dialogue.stage)
        elif isinstance(action, NeedData):
            timer.waiting(loop.time(), dialogue.stage)
            if deadline is None:
                deadline = loop.time() + limits.read_timeout
            data = await conn.read(limits.max_read, deadline, dialogue.stage)
            try:
                dialogue.receive_data(data)
            except ProtocolError as exc:
                raise _protocol_failure(exc, dialogue.stage) from exc
        elif isinstance(action, StartTls):
            if start_tls is None:
                return
            deadline = None
            await start_tls()
            dialogue.tls_started()
        elif isinstance(action, Close):
            if start_tls is None:
                kind = FailureKind.CLOSED if dialogue.closed_early else FailureKind.UNAVAILABLE
                raise fail(kind, dialogue.stage, "the server did not accept STARTTLS")
            if dialogue.closed_early:
                raise fail(
                    FailureKind.CLOSED,
                    dialogue.stage,
                    "the server closed the connection in the middle of the dialogue",
                )
            return
    raise fail(FailureKind.PROTOCOL_ERROR, dialogue.stage, "dialogue did not terminate")


def attempt_of(
    failure: Failure | None,
    dialogue: MailDialogue | None,
    conn: Stream | None,
    timer: ReplyTimer | None,
    *,
    others_open: int = 0,
) -> Attempt:
    """What ``vedette.probe.defence`` needs to know about one connection attempt."""
    reply: tuple[str, ...] = ()
    if failure is not None and failure.kind is FailureKind.UNAVAILABLE and dialogue is not None:
        seen = dialogue.observation()
        if failure.stage is not Stage.GREETING and seen.starttls_reply:
            reply = seen.starttls_reply
        else:
            reply = seen.greeting
    return Attempt(
        failure=failure,
        reply=reply,
        others_open=others_open,
        slowest_reply=None if timer is None else timer.slowest,
        slowest_stage=None if timer is None else timer.stage,
        trickled=0 if conn is None else conn.received_since_write,
    )


def _protocol_failure(exc: ProtocolError, stage: Stage) -> ProbeFailed:
    if isinstance(exc, NotProtocolError):
        kind = FailureKind.NOT_PROTOCOL
    elif isinstance(exc, ServiceUnavailableError):
        kind = FailureKind.UNAVAILABLE
    elif exc.too_large:
        kind = FailureKind.TOO_LARGE
    else:
        kind = FailureKind.PROTOCOL_ERROR
    return fail(kind, stage, str(exc))


async def probe_endpoint(
    endpoint: Endpoint,
    *,
    limits: Limits | None = None,
    ehlo_name: str = "vedette.invalid",
    ssl_context: ssl.SSLContext | None = None,
    clock: EndpointClock | None = None,
    connect: Connect = Connection.connect,
) -> Observation:
    """Probe one endpoint; never raises for anything the server or network does.

    ``clock`` is the endpoint's ``--endpoint-timeout`` when later steps (the TLS enumeration,
    a ``--deep`` pass) are to share it; by default the probe has the whole of it. ``connect``
    opens the connection (``probe.stream``; a scripted stream in unit tests)."""
    limits = limits or Limits()
    clock = clock or EndpointClock(limits.endpoint_timeout)
    started = datetime.now(UTC)
    t0 = time.monotonic()
    probe = _Probe(endpoint, limits, ehlo_name, connect)
    failure: Failure | None = None
    try:
        async with clock.running():
            try:
                await probe.run(ssl_context or scanner_ssl_context())
            finally:
                if probe.conn is not None:
                    await probe.conn.close()
    except ProbeFailed as exc:
        failure = exc.failure
    except TimeoutError:
        failure = Failure(
            kind=FailureKind.TIMEOUT,
            stage=probe.stage,
            detail=f"the probe took longer than {limits.endpoint_timeout:g} s in all",
        )
    dialogue_obs: DialogueObservation | None = None
    if probe.dialogue is not None and probe.rounds_seen:
        done = (*probe.rounds_seen, probe.dialogue.observation())
        dialogue_obs = DialogueObservation(greeting=tuple(g for o in done for g in o.greeting))
    elif probe.dialogue is not None and probe.dialogue.observation() != DialogueObservation():
        dialogue_obs = probe.dialogue.observation()
    log = DefenceLog()
    log.record(attempt_of(failure, probe.dialogue, probe.conn, probe.timer))
    defences: tuple[Defence, ...] = log.defences()
    return Observation(
        endpoint=endpoint,
        started_at=started,
        duration_s=round(time.monotonic() - t0, 4),
        dialogue=dialogue_obs,
        tls=probe.tls,
        failure=failure,
        connections=len(probe.rounds_seen) + (0 if probe.conn is None else 1),
        defences=defences,
    )


def unresolved_observation(endpoint: Endpoint, reason: str) -> Observation:
    """The observation for an endpoint whose name gave no address."""
    return Observation(
        endpoint=endpoint,
        started_at=datetime.now(UTC),
        duration_s=0.0,
        failure=Failure(kind=FailureKind.RESOLVE, stage=Stage.RESOLVE, detail=reason),
        connections=0,
    )


async def drive_to_starttls(
    conn: Stream, dialogue: MailDialogue, limits: Limits, timer: ReplyTimer | None = None
) -> None:
    """Drive a STARTTLS-mode ``dialogue`` on ``conn`` until it asks for the handshake
    (:func:`drive_dialogue` without one); a dialogue that closes first is a failure at its
    stage. ``timer``, when given, learns how long the slowest reply took."""
    await drive_dialogue(conn, dialogue, limits, timer or ReplyTimer())
