"""The report a mail administrator reads in a terminal.

Shape: one summary line, then each host with its endpoints; for each endpoint what was seen
(status, greeting, whether a password could cross in clear, STARTTLS, the TLS session and the
certificate) and then its findings, most severe first, each with the fix. ``verbose`` adds the
full capability lists and the whole certificate chain.

Safety. Most of what is printed was chosen by the server: greeting, capabilities, certificate
names, and finding details or evidence that quote them. Two rules keep that data inert:

1. every such string goes through ``safe_text`` (control characters, ANSI escape sequences and
   bidi overrides become visible ``\\xNN`` escapes);
2. it reaches ``rich`` only inside ``Text`` objects, which rich never parses for ``[markup]``
   or ``:emoji:`` codes — no f-string is ever handed to ``console.print`` as markup.

``_put`` is the only way text leaves this module, so both rules hold by construction.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from rich.padding import Padding
from rich.text import Text

from vedette.model import FailureKind, Severity, Stage, TlsMode
from vedette.probe.defence import describe as describe_defence
from vedette.protocols.registry import (
    has_capabilities,
    parse_capabilities,
    plaintext_password_mechanisms,
)
from vedette.report._certinfo import CertificateInfo, describe_certificate
from vedette.report.clients_section import render_endpoint_clients
from vedette.report.escape import safe_text

if TYPE_CHECKING:
    from rich.console import Console

    from vedette.model import Endpoint, Finding, Observation, ScanReport
    from vedette.protocols.capabilities import Capabilities

__all__ = ["render_hosts", "render_orphans", "render_terminal", "summary_line"]

_SEVERITY_STYLE: dict[Severity, str] = {
    Severity.CRITICAL: "bold white on red",
    Severity.HIGH: "bold red",
    Severity.MEDIUM: "bold yellow",
    Severity.LOW: "cyan",
    Severity.INFO: "blue",
}

_FAILURE_WORDS: dict[FailureKind, str] = {
    FailureKind.RESOLVE: "name does not resolve",
    FailureKind.REFUSED: "connection refused",
    FailureKind.UNREACHABLE: "unreachable (no route to the host)",
    FailureKind.TIMEOUT: "timed out",
    FailureKind.CLOSED: "the server closed the connection",
    FailureKind.NOT_PROTOCOL: "not the expected protocol",
    FailureKind.PROTOCOL_ERROR: "protocol error",
    FailureKind.TOO_LARGE: "reply too large",
    FailureKind.UNAVAILABLE: "service unavailable",
    FailureKind.TLS_ERROR: "TLS handshake failed",
}

_STAGE_WORDS: dict[Stage, str] = {
    Stage.RESOLVE: "while resolving the name",
    Stage.CONNECT: "while connecting",
    Stage.GREETING: "waiting for the greeting",
    Stage.CAPABILITIES: "asking for capabilities",
    Stage.STARTTLS: "during STARTTLS",
    Stage.TLS_HANDSHAKE: "during the TLS handshake",
    Stage.CAPABILITIES_AFTER_TLS: "asking for capabilities after TLS",
    Stage.CLOSE: "while closing",
}

_LABEL_WIDTH = 18


# --- output primitives: the only path to the console -------------------------------------------


def _put(
    console: Console, *parts: tuple[str, str] | str, indent: int = 0, wrap: bool = True
) -> None:
    """Print one line made of ``(text, style)`` parts; plain ``str`` parts are unstyled.

    Server data must already be ``safe_text``-escaped by the caller (``_s``); the ``Text`` object
    guarantees no markup is interpreted either way. ``wrap=False`` keeps the line whole (a
    command to copy and paste must not be broken over lines).
    """
    line = Text()
    for part in parts:
        if isinstance(part, str):
            line.append(part)
        else:
            line.append(part[0], style=part[1])
    if not wrap:
        console.print(
            Text(" " * indent) + line, highlight=False, markup=False, emoji=False, soft_wrap=True
        )
        return
    # Padding keeps the indent on continuation lines when a long line wraps.
    console.print(
        Padding(line, (0, 0, 0, indent), expand=False), highlight=False, markup=False, emoji=False
    )


def _s(server_text: str) -> str:
    return safe_text(server_text)


def _field(console: Console, label: str, value: str, *, indent: int = 4, style: str = "") -> None:
    _put(console, (f"{label}:".ljust(_LABEL_WIDTH), "bold"), (value, style), indent=indent)


# --- facts derived from the dialogue -------------------------------------------------------------


def _clear_capabilities(obs: Observation) -> Capabilities | None:
    """What the server advertised before TLS, parsed; ``None`` when not known."""
    dialogue = obs.dialogue
    protocol = obs.endpoint.service.protocol
    if dialogue is None or dialogue.capabilities_before_tls is None:
        return None
    if not has_capabilities(protocol):
        return None
    return parse_capabilities(protocol, dialogue.capabilities_before_tls, dialogue.greeting)


def _login_before_tls(obs: Observation) -> tuple[str, str]:
    """(text, style) answering: is TLS in place before a client can send its password?"""
    ep = obs.endpoint
    if ep.service.tls_mode is TlsMode.IMPLICIT:
        return "yes (implicit TLS: encrypted from the first byte)", "green"
    caps = _clear_capabilities(obs)
    if caps is None:
        return "unknown (the capabilities sent in clear were not read)", "dim"
    exposed = plaintext_password_mechanisms(ep.service.protocol, caps)
    if exposed:
        ways = ", ".join(sorted(exposed))
        return f"no: a password can be sent in clear ({ways} offered before TLS)", "bold red"
    return "yes: no password login is offered before TLS", "green"


def _starttls_offered(obs: Observation) -> tuple[str, str] | None:
    if obs.endpoint.service.tls_mode is TlsMode.IMPLICIT:
        return None
    caps = _clear_capabilities(obs)
    if caps is None:
        return "unknown", "dim"
    return ("yes", "green") if caps.starttls else ("no", "bold red")


def _status(obs: Observation) -> tuple[str, str]:
    failure = obs.failure
    if failure is None:
        return "reachable", "green"
    words = _FAILURE_WORDS.get(failure.kind, failure.kind.value)
    if failure.kind is FailureKind.NOT_PROTOCOL:
        words = f"not the expected protocol ({obs.endpoint.service.protocol.value.upper()})"
    text = f"{words} {_STAGE_WORDS.get(failure.stage, failure.stage.value)}"
    if failure.detail and failure.detail.strip().lower() != words.lower():
        text += f": {_s(failure.detail)}"
    return text, "bold red" if not obs.reachable else "yellow"


# --- certificates --------------------------------------------------------------------------------


def _when(value: datetime | None, now: datetime) -> str:
    if value is None:
        return "unreadable"
    stamp = value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
    if value < now:
        ago = (now - value).days  # whole days elapsed, rounded down
        return f"{stamp} (expired {_days(ago)} ago)" if ago else f"{stamp} (expired)"
    days = (value - now).days
    return f"{stamp} (in {_days(days)})" if days else f"{stamp} (within a day)"


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def _certificate(console: Console, der: bytes, now: datetime, *, verbose: bool, n: int) -> None:
    info = describe_certificate(der)
    title = "Certificate" if n == 0 else f"Chain [{n}]"
    if not isinstance(info, CertificateInfo):
        _field(console, title, f"unreadable ({_s(info.error)}), {len(der)} bytes", style="red")
        return
    _field(console, title, _s(info.subject))
    _field(console, "  issuer", _s(info.issuer), indent=4)
    expiry_style = "bold red" if info.not_after is not None and info.not_after < now else ""
    _field(console, "  expires", _when(info.not_after, now), style=expiry_style)
    if verbose or n == 0:
        shown = info.sans if verbose else info.sans[:4]
        names = ", ".join(_s(name) for name in shown)
        if len(info.sans) > len(shown):
            names += f" (+{len(info.sans) - len(shown)} more)"
        if n == 0 or info.sans:
            _field(console, "  names", names or "none (no subjectAltName)")
    if verbose:
        _field(console, "  valid from", _when(info.not_before, now).split(" (")[0])
        _field(console, "  key", _s(info.key))
        _field(console, "  signature", _s(info.signature_algorithm))
        _field(console, "  serial", info.serial)
        _field(console, "  sha256", info.sha256)


# --- sections ------------------------------------------------------------------------------------


def _summary(report: ScanReport) -> Text:
    obs = report.observations
    counts = {s: 0 for s in Severity}
    for f in report.findings:
        counts[f.severity] += 1
    return summary_line(
        report.scan_id,
        endpoints=len(obs),
        scanned=sum(1 for o in obs if o.scanned),
        unreachable=sum(1 for o in obs if not o.reachable),
        counts=counts,
    )


def summary_line(
    scan_id: int | None,
    *,
    endpoints: int,
    scanned: int,
    unreachable: int,
    counts: dict[Severity, int],
) -> Text:
    """The report's first line, from its counts (``counts``: findings per severity)."""
    line = Text()
    if scan_id is not None:
        line.append(f"Scan {scan_id}: ", style="bold")
    line.append(f"{endpoints} endpoint{'s' if endpoints != 1 else ''}, {scanned} scanned")
    if unreachable:
        line.append(f", {unreachable} unreachable", style="yellow")
    line.append(" · ")
    present = [s for s in sorted(Severity, reverse=True) if counts.get(s)]
    if not present:
        line.append("no findings", style="green")
    else:
        line.append("findings: ")
        for i, sev in enumerate(present):
            if i:
                line.append(", ")
            line.append(f"{counts[sev]} {sev.label}", style=_SEVERITY_STYLE[sev])
    return line


def _finding(console: Console, f: Finding, *, verbose: bool) -> None:
    badge = f" {f.severity.label.upper()} "
    _put(
        console,
        (badge, _badge_style(f.severity)),
        " ",
        (_s(f.id), "bold"),
        "  ",
        _s(f.title),
        indent=4,
    )
    if f.detail:
        _put(console, _s(f.detail), indent=6)
    if verbose:
        for line in f.evidence:
            _put(console, ("evidence: ", "dim"), _s(line), indent=6)
        for ref in f.references:
            _put(console, ("see: ", "dim"), _s(ref), indent=6)
    _put(console, ("Fix: ", "bold green"), _s(f.remediation), indent=6)
    for command in f.fix_commands:
        _put(console, ("Run: ", "bold green"), _s(command), indent=6, wrap=False)


def _badge_style(sev: Severity) -> str:
    # A filled badge reads as a badge in colour and stays legible without colour.
    return {
        Severity.CRITICAL: "bold white on red",
        Severity.HIGH: "bold white on dark_red",
        Severity.MEDIUM: "bold black on yellow",
        Severity.LOW: "black on cyan",
        Severity.INFO: "white on blue",
    }[sev]


def _lines_block(console: Console, label: str, lines: tuple[str, ...] | None) -> None:
    if lines is None:
        _field(console, label, "not sent", style="dim")
        return
    if not lines:
        _field(console, label, "(empty reply)", style="dim")
        return
    _field(console, label, _s(lines[0]))
    for line in lines[1:]:
        _put(console, " " * _LABEL_WIDTH, _s(line), indent=4)


def _endpoint(
    console: Console, obs: Observation, findings: list[Finding], now: datetime, *, verbose: bool
) -> None:
    _put(console, (_s(obs.endpoint.label), "bold cyan"), indent=2)
    status, style = _status(obs)
    _field(console, "Status", status, style=style)
    dialogue = obs.dialogue
    if dialogue is not None and dialogue.greeting:
        _field(console, "Greeting", _s(dialogue.greeting[0]))
    for defence in obs.defences:
        _field(console, "Defence", _s(describe_defence(defence)), style="yellow")
    if obs.scanned:
        login, login_style = _login_before_tls(obs)
        _field(console, "TLS before login", login, style=login_style)
        starttls = _starttls_offered(obs)
        if starttls is not None:
            _field(console, "STARTTLS offered", starttls[0], style=starttls[1])
    if obs.tls is not None:
        _field(console, "TLS", f"{_s(obs.tls.version)}, {_s(obs.tls.cipher)}")
        if not obs.tls.chain_der:
            _field(console, "Certificate", "none sent", style="bold red")
        chain = obs.tls.chain_der if verbose else obs.tls.chain_der[:1]
        for n, der in enumerate(chain):
            _certificate(console, der, now, verbose=verbose, n=n)
        if not verbose and len(obs.tls.chain_der) > 1:
            _field(console, "Chain", f"{len(obs.tls.chain_der)} certificates sent (leaf first)")
    elif obs.scanned:
        _field(console, "TLS", "not established", style="yellow")
    if obs.tls_scan is not None:
        from vedette.report._tls_section import render_tls_scan

        render_tls_scan(
            partial(_field, console), obs.tls_scan, verbose=verbose, defences=obs.defences
        )
    if verbose:
        _field(console, "Probe", f"{obs.duration_s:.2f} s, {obs.connections} connection(s)")
        if dialogue is not None and obs.endpoint.service.tls_mode is TlsMode.STARTTLS:
            _lines_block(console, "Before TLS", dialogue.capabilities_before_tls)
            _lines_block(console, "STARTTLS reply", dialogue.starttls_reply)
        if dialogue is not None:
            _lines_block(console, "After TLS", dialogue.capabilities_after_tls)
    ordered = sorted(findings, key=lambda f: (-f.severity, f.id))
    if ordered:
        _put(console, ("Findings:", "bold"), indent=4)
        for f in ordered:
            _finding(console, f, verbose=verbose)
    elif obs.scanned:
        _put(console, ("No findings.", "green"), indent=4)


def _host_order(observations: tuple[Observation, ...]) -> dict[str, list[Observation]]:
    groups: dict[str, list[Observation]] = {}
    for obs in observations:
        groups.setdefault(obs.endpoint.name, []).append(obs)
    return groups


def render_terminal(report: ScanReport, console: Console, *, verbose: bool = False) -> None:
    """Print ``report`` for a person: summary, then each host's endpoints and findings.

    Everything the servers sent is escaped (``safe_text``) and printed without markup parsing,
    so a hostile greeting or certificate cannot act on the terminal.
    """
    console.print(_summary(report), highlight=False, markup=False, emoji=False)
    render_orphans(console, render_hosts(report, console, verbose=verbose), verbose=verbose)


def render_hosts(report: ScanReport, console: Console, *, verbose: bool = False) -> list[Finding]:
    """Each host of ``report`` with its endpoints, findings and client matrices (no summary
    line): the body of the report, or of one chunk of a streamed one. Returns the findings
    about endpoints with no observation in ``report``, for ``render_orphans``."""
    by_endpoint: dict[Endpoint, list[Finding]] = {}
    for f in report.findings:
        by_endpoint.setdefault(f.endpoint, []).append(f)
    seen: set[Endpoint] = set()
    # Model times are UTC; a naive analysis time (a caller's bug) is taken as UTC.
    now = report.analysed_at
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    for host, members in _host_order(report.observations).items():
        console.print()
        _put(console, (_s(host), "bold underline"))
        for obs in members:
            seen.add(obs.endpoint)
            _endpoint(console, obs, by_endpoint.get(obs.endpoint, []), now, verbose=verbose)
            render_endpoint_clients(console, report, obs.endpoint, verbose=verbose)
    return [f for ep, fs in by_endpoint.items() if ep not in seen for f in fs]


def render_orphans(console: Console, orphans: list[Finding], *, verbose: bool = False) -> None:
    """Findings about endpoints with no observation in the report (should not happen, but a
    finding must never be silently dropped from the report)."""
    if orphans:
        console.print()
        _put(console, ("Other findings", "bold underline"))
        for f in sorted(orphans, key=lambda f: (-f.severity, f.endpoint.label, f.id)):
            _put(console, (_s(f.endpoint.label), "bold cyan"), indent=2)
            _finding(console, f, verbose=verbose)
