"""The asyncio driver of the TLS enumeration: one connection per hello, bounded and retried.

``vedette.tls.plan.Planner`` decides which ClientHellos to send; this module only moves bytes.
For each probe it connects, runs the mail dialogue up to STARTTLS/STLS when the service needs
it (the sans-I/O dialogues of ``vedette.protocols``, through ``runner.drive_to_starttls``),
writes the hand-built hello and feeds the answer to ``vedette.tls.server.FlightReader`` until
it has seen enough. No handshake is ever completed: the connection is dropped after the
server's first flight.

Mail servers defend themselves (Postfix anvil rate limits, Dovecot per-IP caps, ``421``
greetings, resets, tarpits), and a defended connection says nothing about TLS. So everything
that fails *before our hello is on the wire* — connect, greeting, STARTTLS — and a server that
goes silent after it, is retried after an exponential back-off, within a per-endpoint budget;
when the budget is spent the planner is told ``Unanswered`` and the result is marked
incomplete. Only an answer to the hello itself (an alert, a close, bytes that are not TLS)
counts as a refusal.

Concurrency: an endpoint has at most ``Limits.per_host`` connections open at once; within a
scan, every connection to an address also waits for the scan's window on that address
(``probe.limits.HostSlots``, which a retry here shrinks: ``report_defence``). The planner has
at most a handful of probes ready at a time, so an endpoint costs about one connection per
accepted suite, version, and group.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vedette.model import Defence, Endpoint, FailureKind, Observation, Stage, TlsMode
from vedette.probe.defence import DefenceLog, ReplyTimer, merge
from vedette.probe.limits import EndpointClock, Limits, report_defence
from vedette.probe.resumption import probe_resumption, probe_resumption_tls13
from vedette.probe.runner import attempt_of, drive_to_starttls
from vedette.probe.stream import Stream
from vedette.probe.transport import Connection, ProbeFailed
from vedette.protocols.registry import has_dialogue, new_dialogue
from vedette.tls import TlsParseError
from vedette.tls.hello import build_ssl2_client_hello, client_hello_records
from vedette.tls.plan import Answered, Outcome, Planner, Probe, Refused, Unanswered
from vedette.tls.result import TlsScan
from vedette.tls.server import FlightReader
from vedette.tls.tls13 import Tls13Client

_LEGACY = (0x0301, 0x0302, 0x0303)  # versions whose sessions resumption is probed on
_TLS13 = 0x0304


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How hard to insist on a defended server.

    Attributes:
        attempts: tries per hello (1 = no retry).
        budget: retries allowed in all on one endpoint.
        backoff: first wait in seconds, doubled at each retry of the same hello.
        hello_timeout: seconds to wait for the server's flight after the hello (the SSLv2
            hello, which most servers just never answer, is a refusal after this).
    """

    attempts: int = 3
    budget: int = 12
    backoff: float = 0.5
    hello_timeout: float = 5.0


class _Transient(Exception):
    """The question could not be put: retry later."""


class _Enumeration:
    def __init__(
        self,
        endpoint: Endpoint,
        limits: Limits,
        ehlo_name: str,
        slots: asyncio.Semaphore,
        policy: RetryPolicy,
        clock: EndpointClock,
    ) -> None:
        self.ep = endpoint
        self.limits = limits
        self.ehlo_name = ehlo_name
        self.slots = slots
        self.policy = policy
        self.clock = clock
        self.connections = 0
        self.retries_left = policy.budget
        self.open = 0  # connections of this endpoint open now
        self.defences = DefenceLog()  # what each connection attempt showed (probe.defence)

    async def run(self) -> TlsScan:
        planner = Planner(self.ep.host)
        tasks: dict[asyncio.Task[Outcome], Probe] = {}
        timed_out = False
        resumed: bool | None = None
        resumed13: bool | None = None
        try:
            async with self.clock.running():
                while not planner.done:
                    for probe in planner.ready():
                        tasks[asyncio.create_task(self._ask(probe))] = probe
                    if not tasks:  # pragma: no cover - a planner bug, not a server's
                        break
                    finished, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                    for task in finished:
                        planner.record(tasks.pop(task), task.result())
                versions = planner.result(connections=0).versions
                if any(v in versions for v in _LEGACY):
                    async with self.slots:
                        resumed, used = await probe_resumption(self.ep, self.limits, self.ehlo_name)
                    self.connections += used
                if _TLS13 in versions:
                    async with self.slots:
                        resumed13, used = await probe_resumption_tls13(
                            self.ep, self.limits, self.ehlo_name
                        )
                    self.connections += used
        except TimeoutError:
            timed_out = True
        finally:
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)
        result = dataclasses.replace(
            planner.result(connections=self.connections),
            resumption=resumed,
            resumption_tls13=resumed13,
        )
        if timed_out:
            # The endpoint's one clock (probe.limits.EndpointClock): the quick probe before
            # the enumeration spent part of it.
            reason = f"the endpoint took longer than {self.clock.seconds:g} s in all"
            if result.incomplete_reason:
                reason = f"{result.incomplete_reason}; {reason}"
            result = dataclasses.replace(result, incomplete=True, incomplete_reason=reason)
        return result

    async def _ask(self, probe: Probe) -> Outcome:
        reason = "not tried"
        for attempt in range(self.policy.attempts):
            if attempt:
                if self.retries_left <= 0:
                    return Unanswered(f"{reason} (retry budget spent)")
                self.retries_left -= 1
                await asyncio.sleep(self.policy.backoff * 2 ** (attempt - 1))
            async with self.slots:
                try:
                    return await self._once(probe)
                except _Transient as exc:
                    reason = str(exc)
                    # The question could not be put: the server is defending itself, or
                    # overwhelmed. The scan's window on this address shrinks.
                    report_defence(self.ep.ip or "")
        return Unanswered(f"{reason} ({self.policy.attempts} attempts)")

    async def _once(self, probe: Probe) -> Outcome:
        ep = self.ep
        assert ep.ip is not None
        try:
            conn: Stream = await Connection.connect(
                ep.ip, ep.port, timeout=self.limits.connect_timeout
            )
        except ProbeFailed as exc:
            self.defences.record(attempt_of(exc.failure, None, None, None, others_open=self.open))
            raise _Transient(exc.failure.detail) from None
        self.connections += 1
        self.open += 1
        try:
            dialogue = timer = None
            if ep.service.tls_mode is TlsMode.STARTTLS and has_dialogue(ep.service.protocol):
                dialogue = new_dialogue(
                    ep.service, ehlo_name=self.ehlo_name, server_name=ep.host, redial=True
                )
                timer = ReplyTimer()
                try:
                    await drive_to_starttls(conn, dialogue, self.limits, timer)
                except ProbeFailed as exc:
                    self.defences.record(
                        attempt_of(exc.failure, dialogue, conn, timer, others_open=self.open - 1)
                    )
                    raise _Transient(f"{exc.failure.stage.value}: {exc.failure.detail}") from None
            self.defences.record(attempt_of(None, dialogue, conn, timer, others_open=self.open - 1))
            reader: FlightReader | Tls13Client = FlightReader()
            if probe.hello is None:
                data = build_ssl2_client_hello(probe.ssl2_kinds, os.urandom(16))
            else:
                spec = dataclasses.replace(probe.hello, random=os.urandom(32))
                if probe.decrypt:
                    reader = Tls13Client(spec)
                    data = reader.hello_bytes()
                else:
                    data = client_hello_records(spec)
            try:
                await conn.write(data, self.limits.read_timeout, Stage.TLS_HANDSHAKE)
            except ProbeFailed as exc:
                return Refused(exc.failure.detail, hung_up=True)
            return await self._read_flight(conn, reader, ssl2=probe.hello is None)
        finally:
            self.open -= 1
            await conn.close()

    async def _read_flight(
        self, conn: Stream, reader: FlightReader | Tls13Client, *, ssl2: bool
    ) -> Outcome:
        deadline = asyncio.get_running_loop().time() + self.policy.hello_timeout
        while not reader.done:
            try:
                chunk = await conn.read(self.limits.max_read, deadline, Stage.TLS_HANDSHAKE)
            except ProbeFailed as exc:
                if reader.started:
                    return Answered(reader.answer())
                if exc.failure.kind is FailureKind.TIMEOUT and not ssl2:
                    raise _Transient("no answer to the ClientHello in time") from None
                return Refused(exc.failure.detail, hung_up=True)
            if not chunk:
                if reader.started:
                    return Answered(reader.answer())
                return Refused("the server closed the connection after the hello", hung_up=True)
            try:
                reader.receive_data(chunk)
            except TlsParseError as exc:
                if reader.started:
                    return Answered(reader.answer())
                return Refused(str(exc))
        return Answered(reader.answer())


def _driver(
    endpoint: Endpoint,
    limits: Limits,
    ehlo_name: str,
    slots: asyncio.Semaphore | None,
    policy: RetryPolicy | None,
    clock: EndpointClock | None,
) -> _Enumeration:
    """The connection driver of one endpoint, with the defaults of what was not given."""
    return _Enumeration(
        endpoint,
        limits,
        ehlo_name,
        slots or asyncio.Semaphore(limits.per_host),
        policy or RetryPolicy(),
        clock or EndpointClock(limits.endpoint_timeout),
    )


async def enumerate_endpoint(
    endpoint: Endpoint,
    *,
    limits: Limits | None = None,
    ehlo_name: str = "vedette.invalid",
    slots: asyncio.Semaphore | None = None,
    policy: RetryPolicy | None = None,
    clock: EndpointClock | None = None,
) -> TlsScan:
    """Enumerate what ``endpoint`` accepts; never raises for what the server does."""
    scan, _ = await enumerate_defended(
        endpoint, limits=limits, ehlo_name=ehlo_name, slots=slots, policy=policy, clock=clock
    )
    return scan


async def enumerate_defended(
    endpoint: Endpoint,
    *,
    limits: Limits | None = None,
    ehlo_name: str = "vedette.invalid",
    slots: asyncio.Semaphore | None = None,
    policy: RetryPolicy | None = None,
    clock: EndpointClock | None = None,
) -> tuple[TlsScan, tuple[Defence, ...]]:
    """``enumerate_endpoint`` and the defences its connections met (``probe.defence``).

    ``clock``: the endpoint's ``--endpoint-timeout`` as the quick probe left it (by default
    the enumeration has the whole of it); when it runs out the result is marked incomplete.
    """
    limits = limits or Limits()
    enumeration = _driver(endpoint, limits, ehlo_name, slots, policy, clock)
    scan = await enumeration.run()
    return scan, enumeration.defences.defences()


async def probe_hellos(
    endpoint: Endpoint,
    probes: Sequence[Probe],
    *,
    limits: Limits | None = None,
    ehlo_name: str = "vedette.invalid",
    slots: asyncio.Semaphore | None = None,
    policy: RetryPolicy | None = None,
    clock: EndpointClock | None = None,
) -> tuple[tuple[Outcome, ...], int, tuple[Defence, ...]]:
    """Send each of ``probes`` on its own connection, as the enumeration does (dialogue to
    STARTTLS, the hello, the server's first flight; retries per ``policy``), all at once.

    Returns the outcomes in the order of ``probes`` (``Unanswered`` for those the endpoint's
    ``clock`` ran out on), the connections opened and the defences met."""
    limits = limits or Limits()
    clock = clock or EndpointClock(limits.endpoint_timeout)
    driver = _driver(endpoint, limits, ehlo_name, slots, policy, clock)
    tasks: list[asyncio.Task[Outcome]] = []
    try:
        async with clock.running():  # the tasks see its deadline (a context variable)
            tasks.extend(asyncio.create_task(driver._ask(p)) for p in probes)
            await asyncio.gather(*tasks)
    except TimeoutError:
        pass
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    late: Outcome = Unanswered(f"the endpoint took longer than {clock.seconds:g} s in all")
    outcomes = tuple(
        t.result() if t.done() and not t.cancelled() and t.exception() is None else late
        for t in tasks
    ) + (late,) * (len(probes) - len(tasks))
    return outcomes, driver.connections, driver.defences.defences()


async def enumerate_observed(
    observations: Sequence[Observation],
    *,
    limits: Limits | None = None,
    ehlo_name: str = "vedette.invalid",
    policy: RetryPolicy | None = None,
    clocks: Mapping[Endpoint, EndpointClock] | None = None,
) -> tuple[Observation, ...]:
    """Add a ``tls_scan`` to every observation whose quick probe reached TLS.

    Endpoints run concurrently (``Limits.concurrency`` at once); connections to one address
    share ``Limits.per_host`` slots, whichever endpoint they serve. ``clocks`` holds each
    endpoint's clock as its quick probe left it: one ``--endpoint-timeout`` for both.
    """
    limits = limits or Limits()
    overall = asyncio.Semaphore(limits.concurrency)
    per_ip: dict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(limits.per_host))

    async def one(obs: Observation) -> Observation:
        if obs.tls is None or obs.endpoint.ip is None:
            return obs
        async with overall:
            scan, defences = await enumerate_defended(
                obs.endpoint,
                limits=limits,
                ehlo_name=ehlo_name,
                slots=per_ip[obs.endpoint.ip],
                policy=policy,
                clock=None if clocks is None else clocks.get(obs.endpoint),
            )
        return dataclasses.replace(obs, tls_scan=scan, defences=merge(obs.defences, defences))

    return tuple(await asyncio.gather(*(one(o) for o in observations)))
