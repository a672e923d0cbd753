"""Whether an endpoint could be scanned at all, and how it failed when it could not."""

from __future__ import annotations

from collections.abc import Iterator

from vedette.checks.registry import CheckContext, Hit, endpoint_check
from vedette.model import DefenceKind, FailureKind, Observation, Severity, Stage
from vedette.probe.defence import describe


def _failure(obs: Observation, *kinds: FailureKind) -> bool:
    return obs.failure is not None and obs.failure.kind in kinds


@endpoint_check(
    "endpoint.resolve-failed",
    title="The host name does not resolve",
    explanation="vedette's resolver found no A or AAAA record, so clients cannot find the server.",
    remediation="Check the spelling, publish A/AAAA records for the name, or pin an address "
    "with --ip / --resolve to scan a server before DNS points at it.",
    severity=Severity.MEDIUM,
)
def resolve_failed(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if _failure(obs, FailureKind.RESOLVE) and obs.failure is not None:
        yield Hit(detail=obs.failure.detail)


@endpoint_check(
    "endpoint.unreachable",
    title="Nothing answers on this port",
    explanation="The TCP connection was refused, timed out or had no route. On a bare-host scan "
    "this usually only means the service is not run on this port.",
    remediation="If clients should reach this service here, start it, open the firewall for the "
    "port, or check the address; otherwise ignore this line or scan only the ports you run "
    "(--ports).",
    severity=Severity.INFO,
)
def unreachable(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    f = obs.failure
    if f is not None and f.stage is Stage.CONNECT:
        yield Hit(detail=f"{f.kind.value}: {f.detail}")


@endpoint_check(
    "endpoint.not-protocol",
    title="The port does not speak the expected protocol",
    explanation="The first reply is not what a client of this service expects: a different "
    "service, a TLS-only port scanned as STARTTLS (or the reverse), or a middlebox.",
    remediation="Run the expected service on its standard port, or scan with the right scheme "
    "(e.g. smtps:// for implicit TLS on 465, submission:// for STARTTLS on 587).",
    severity=Severity.MEDIUM,
    relay_severity=Severity.MEDIUM,
)
def not_protocol(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if obs.failure is not None and obs.failure.kind is FailureKind.NOT_PROTOCOL:
        first = obs.dialogue.greeting[:1] if obs.dialogue is not None else ()
        yield Hit(detail=obs.failure.detail, evidence=first)


@endpoint_check(
    "endpoint.unavailable",
    title="The server refused service to the scanner",
    explanation="The server answered in its protocol but turned the session away (SMTP 421/554, "
    "IMAP BYE, POP3 -ERR): often a connection or rate limit, a block list or maintenance.",
    remediation="Check the server's connection limits and access lists for the scanning "
    "address, then scan again; results for this endpoint are incomplete.",
    severity=Severity.LOW,
)
def unavailable(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if any(d.kind is not DefenceKind.TARPIT for d in obs.defences):
        return  # a rate limit, greylisting or a cap turned the scanner away: endpoint.defended
    if obs.failure is not None and obs.failure.kind is FailureKind.UNAVAILABLE:
        greeting = obs.dialogue.greeting if obs.dialogue is not None else ()
        yield Hit(detail=obs.failure.detail, evidence=greeting[:3])


@endpoint_check(
    "endpoint.defended",
    title="The server defended itself against the scanner",
    explanation="A tarpit (replies later than 3 s, or trickled), a rate limit (421, 'too many "
    "connections', resets after earlier successes), greylisting (450/451) or a cap on "
    "simultaneous connections met the scanner's connections. Nothing is wrong with the server; "
    "but what those connections would have asked is unknown: an incomplete enumeration proves "
    "what was accepted, not what was refused.",
    remediation="To get a complete answer, scan from an address the server exempts from its "
    "limits (Postfix: smtpd_client_event_limit_exceptions; postscreen: "
    "postscreen_access_list; greylisting: its client whitelist), or scan more gently "
    "(--per-host 1, --rate) and give the endpoint more time (--endpoint-timeout).",
    severity=Severity.INFO,
)
def defended(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    if not obs.defences:
        return
    detail = "; ".join(describe(d) for d in obs.defences)
    if obs.tls_scan is not None and obs.tls_scan.incomplete:
        detail += ". The TLS enumeration is incomplete: suites not seen may still be accepted"
    elif obs.failure is not None:
        detail += f". The probe stopped: {obs.failure.detail}"
    yield Hit(detail=detail + ".", evidence=tuple(d.evidence for d in obs.defences))


@endpoint_check(
    "endpoint.protocol-error",
    title="The server broke off or garbled the dialogue",
    explanation="After connecting, the server closed the connection, sent malformed or "
    "oversized replies, or stopped answering: clients will fail the same way.",
    remediation="Look at the server's log for the scanning address at the time of the scan; "
    "check for crashed worker processes, exhausted connection slots or a filtering middlebox.",
    severity=Severity.MEDIUM,
)
def protocol_error(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    f = obs.failure
    if f is None or f.stage in (Stage.CONNECT, Stage.RESOLVE, Stage.TLS_HANDSHAKE):
        return
    if f.kind in (
        FailureKind.CLOSED,
        FailureKind.PROTOCOL_ERROR,
        FailureKind.TOO_LARGE,
        FailureKind.TIMEOUT,
    ):
        yield Hit(detail=f"{f.kind.value} during {f.stage.value}: {f.detail}")


@endpoint_check(
    "tls.handshake-failed",
    title="The TLS handshake fails",
    explanation="The server offers TLS (implicit TLS port, or STARTTLS accepted) but the "
    "handshake does not complete even with vedette's permissive client: no client can connect "
    "securely.",
    remediation="Check the server's certificate and key files load (the server log says why), "
    "that the TLS listener really speaks TLS, and that its protocol and cipher settings are "
    "not empty; then rescan.",
    severity=Severity.HIGH,
    relay_severity=Severity.MEDIUM,
)
def handshake_failed(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    f = obs.failure
    if f is not None and f.stage is Stage.TLS_HANDSHAKE:
        yield Hit(detail=f.detail)
