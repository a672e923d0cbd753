"""The report a mail administrator reads in a terminal.

Shape: one summary line, then the opening table (one line per endpoint: TLS before login, the
best TLS version negotiated, the certificate's name and days left, the worst finding and the
client families that fail), then each host with its endpoints: the TLS session, versions and
certificate, the findings (most severe first, each with its id, a one-line fix and the ``Run:``
commands) and the client matrix as a count by family. ``verbose`` adds everything: greeting,
capability lists, the whole chain, the cipher suites, the whole remediation, and every client
with every reason.

Lines are printed by ``report.lines.put``: wrapped with a hanging indent, no trailing spaces.

Safety. Most of what is printed was chosen by the server: greeting, capabilities, certificate
names, and finding details or evidence that quote them. Two rules keep that data inert:

1. every such string goes through ``safe_text`` (control characters, ANSI escape sequences and
   bidi overrides become visible ``\\xNN`` escapes);
2. it reaches ``rich`` only inside ``Text`` objects, which rich never parses for ``[markup]``
   or ``:emoji:`` codes — no f-string is ever handed to ``console.print`` as markup.

``_put`` (over ``report.lines.put``) is the only way text leaves this module, so both rules
hold by construction.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

from rich.text import Text

from vedette.model import FailureKind, Severity, Stage, TlsMode
from vedette.probe.defence import describe as describe_defence
from vedette.protocols.registry import (
    has_capabilities,
    parse_capabilities,
    plaintext_password_mechanisms,
)
from vedette.report._certinfo import CertificateInfo, describe_certificate
from vedette.report.clients_section import failing_families, render_endpoint_clients
from vedette.report.escape import safe_text
from vedette.report.lines import put, wrap_lines

if TYPE_CHECKING:
    from rich.console import Console

    from vedette.model import ClientMatrix, Endpoint, Finding, Observation, ScanReport
    from vedette.protocols.capabilities import Capabilities

__all__ = [
    "OVERVIEW_LIMIT",
    "OverviewRow",
    "badge_style",
    "overview_rows",
    "render_hosts",
    "render_orphans",
    "render_overview",
    "render_terminal",
    "short_fix",
    "summary_line",
]

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
    console: Console,
    *parts: Text | tuple[str, str] | str,
    indent: int = 0,
    hang: int = 0,
    wrap: bool = True,
    one_line: bool = False,
) -> None:
    """Print one line made of ``(text, style)`` parts; plain ``str`` parts are unstyled.

    Server data must already be ``safe_text``-escaped by the caller (``_s``); the ``Text`` object
    guarantees no markup is interpreted either way. Continuation lines start ``hang`` columns
    right of ``indent``; ``wrap=False`` keeps the line whole (a command to copy and paste must
    not be broken over lines).
    """
    put(console, *parts, indent=indent, hang=hang, wrap=wrap, one_line=one_line)


def _s(server_text: str) -> str:
    return safe_text(server_text)


def _field(console: Console, label: str, value: str, *, indent: int = 4, style: str = "") -> None:
    head = f"{label}:".ljust(_LABEL_WIDTH)
    _put(console, (head, "bold"), (value, style), indent=indent, hang=len(head))


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


_SENTENCE_END = re.compile(r"(?<!e\.g)(?<!i\.e)\.(?:\s|$)")
_PARENTHESIS = re.compile(r"\s*\([^()]*\)")


def short_fix(remediation: str) -> str:
    """The one-line fix of a remediation: its first sentence without the parenthetical
    examples, cut before a product-by-product list ("Refuse authentication before TLS: Dovecot
    ...; Postfix ..." gives "Refuse authentication before TLS."). ``-v`` prints it whole."""
    text = " ".join(remediation.split())
    text = _PARENTHESIS.sub("", text)
    m = _SENTENCE_END.search(text)
    if m is not None:
        text = text[: m.start()]
    text = text.split("; ", 1)[0]
    head, colon, _ = text.partition(": ")
    if colon and len(head.split()) >= 4:
        text = head
    text = text.rstrip(" .,;:")
    return f"{text}." if text else " ".join(remediation.split())


def _finding(console: Console, f: Finding, *, verbose: bool) -> None:
    badge = f" {f.severity.label.upper()} "
    _put(
        console,
        (badge, badge_style(f.severity)),
        " ",
        (_s(f.id), "bold"),
        "  ",
        _s(f.title),
        indent=4,
        hang=2,
        one_line=not verbose,
    )
    if f.detail:
        _detail(console, _s(f.detail), verbose=verbose)
    if verbose:
        for line in f.evidence:
            _put(console, ("evidence: ", "dim"), _s(line), indent=6, hang=10)
        for ref in f.references:
            _put(console, ("see: ", "dim"), _s(ref), indent=6, hang=5)
    fix = f.remediation if verbose else short_fix(f.remediation)
    _put(console, ("Fix: ", "bold green"), _s(fix), indent=6, hang=5)
    for command in f.fix_commands:
        _put(console, ("Run: ", "bold green"), _s(command), indent=6, wrap=False)


#: Without -v, a finding's detail shows at most this many lines (-v shows it whole).
_DETAIL_LINES = 2


def _detail(console: Console, text: str, *, verbose: bool) -> None:
    if verbose:
        _put(console, text, indent=6, hang=2)
        return
    lines = wrap_lines(Text(text), max(console.width - 6, 1), hang=2)
    if len(lines) > _DETAIL_LINES:
        lines = lines[:_DETAIL_LINES]
        last = lines[-1]
        last.append(" …")
        if last.cell_len > console.width - 6:
            last.truncate(console.width - 6, overflow="ellipsis")
    for line in lines:
        _put(console, line, indent=6, wrap=False)


def badge_style(sev: Severity) -> str:
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
        _put(console, " " * _LABEL_WIDTH, _s(line), indent=4, hang=_LABEL_WIDTH)


def _tls_brief(obs: Observation) -> str | None:
    """``accepts TLSv1.2, TLSv1.3`` when the enumeration found the versions, else the version
    negotiated (the opening table has it too; ``-v`` adds the cipher and the suites)."""
    if obs.tls is None:
        return None
    scan = obs.tls_scan
    if scan is not None and scan.versions:
        from vedette.tls.registry import version_name

        return "accepts " + ", ".join(version_name(v) for v in scan.versions)
    return _s(obs.tls.version)


def _compact_certificate(console: Console, der: bytes, now: datetime, sent: int) -> None:
    """Two lines: the subject with its expiry day, the issuer with the chain's length."""
    info = describe_certificate(der)
    if not isinstance(info, CertificateInfo):
        unreadable = f"unreadable ({_s(info.error)}), {len(der)} bytes"
        _field(console, "Certificate", unreadable, style="red")
        return
    expired = info.not_after is not None and info.not_after < now
    # The day only: the opening table has the days left, a finding the days since expiry.
    until = "unreadable" if info.not_after is None else f"{info.not_after:%Y-%m-%d}"
    _put(
        console,
        ("Certificate:".ljust(_LABEL_WIDTH), "bold"),
        _s(info.subject),
        ", until ",
        (until + (" (expired)" if expired else ""), "bold red" if expired else ""),
        indent=4,
        hang=_LABEL_WIDTH,
    )
    chain = f"{sent} sent" if sent != 1 else "sent alone"
    _field(console, "  issuer", f"{_s(info.issuer)} ({chain})")


def _endpoint(
    console: Console, obs: Observation, findings: list[Finding], now: datetime, *, verbose: bool
) -> None:
    brief = None if verbose else _tls_brief(obs)
    if brief is None:
        _put(console, (_s(obs.endpoint.label), "bold cyan"), indent=2)
    else:
        # Without -v the TLS version goes on the endpoint's line: one line fewer per endpoint.
        _put(console, (_s(obs.endpoint.label), "bold cyan"), "  ", brief, indent=2, hang=4)
    status, style = _status(obs)
    if verbose or obs.failure is not None:
        _field(console, "Status", status, style=style)
    dialogue = obs.dialogue
    if verbose and dialogue is not None and dialogue.greeting:
        _field(console, "Greeting", _s(dialogue.greeting[0]))
    for defence in obs.defences:
        _field(console, "Defence", _s(describe_defence(defence)), style="yellow")
    if obs.scanned and verbose:
        login, login_style = _login_before_tls(obs)
        _field(console, "TLS before login", login, style=login_style)
        starttls = _starttls_offered(obs)
        if starttls is not None:
            _field(console, "STARTTLS offered", starttls[0], style=starttls[1])
    if obs.tls is not None:
        if verbose:
            _field(console, "TLS", f"{_s(obs.tls.version)}, {_s(obs.tls.cipher)}")
        if not obs.tls.chain_der:
            _field(console, "Certificate", "none sent", style="bold red")
        elif not verbose:
            _compact_certificate(console, obs.tls.chain_der[0], now, len(obs.tls.chain_der))
        else:
            for n, der in enumerate(obs.tls.chain_der):
                _certificate(console, der, now, verbose=True, n=n)
    elif obs.scanned and verbose:  # (the opening table says "none")
        _field(console, "TLS", "not established", style="yellow")
    if obs.tls_scan is not None:
        from vedette.report._tls_section import render_tls_scan

        render_tls_scan(
            partial(_field, console),
            obs.tls_scan,
            verbose=verbose,
            defences=obs.defences,
            brief=not verbose,
            versions=obs.tls is None,
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
        if verbose:
            _put(console, ("Findings:", "bold"), indent=4)
        for f in ordered:
            _finding(console, f, verbose=verbose)
    elif obs.scanned and verbose:
        _put(console, ("No findings.", "green"), indent=4)


def _host_order(observations: tuple[Observation, ...]) -> dict[str, list[Observation]]:
    groups: dict[str, list[Observation]] = {}
    for obs in observations:
        groups.setdefault(obs.endpoint.name, []).append(obs)
    return groups


# --- the opening table ---------------------------------------------------------------------------

_SEVERITY_SHORT: dict[Severity, str] = {
    Severity.CRITICAL: "CRIT",
    Severity.HIGH: "HIGH",
    Severity.MEDIUM: "MED",
    Severity.LOW: "LOW",
    Severity.INFO: "INFO",
}


@dataclass(frozen=True, slots=True)
class OverviewRow:
    """One endpoint's line of the opening table, before it is fitted to the width.

    ``login``: ``TLS`` (no password can cross in clear), ``clear`` (one can), ``?`` (the
    capabilities were not read), ``-`` (not scanned). ``tls``: the version negotiated, without
    ``TLSv`` (``1.3``), ``none`` or ``-``. ``certificate``: the leaf's name and days left.
    ``worst``: the most severe finding as (severity word, id), or None. ``failing``: the client
    families with at least one failing client; ``everyone`` when every client fails.
    """

    endpoint: Endpoint
    login: tuple[str, str]
    tls: tuple[str, str]
    certificate: tuple[str, str]
    worst: tuple[str, str] | None
    failing: tuple[str, ...]
    everyone: bool
    judged: bool


def _overview_login(obs: Observation) -> tuple[str, str]:
    if not obs.scanned:
        return "-", "dim"
    if obs.endpoint.service.tls_mode is TlsMode.IMPLICIT:
        return "TLS", "green"
    caps = _clear_capabilities(obs)
    if caps is None:
        return "?", "dim"
    if plaintext_password_mechanisms(obs.endpoint.service.protocol, caps):
        return "clear", "bold red"
    return "TLS", "green"


def _overview_tls(obs: Observation) -> tuple[str, str]:
    if obs.tls is not None:
        version = obs.tls.version
    elif obs.tls_scan is not None and obs.tls_scan.versions:
        from vedette.tls.registry import version_name

        version = version_name(max(obs.tls_scan.versions))
    else:
        return ("none", "bold red") if obs.scanned else ("-", "dim")
    short = "1.0" if version == "TLSv1" else _s(version.removeprefix("TLSv"))
    old = version in ("SSLv2", "SSLv3", "TLSv1", "TLSv1.0", "TLSv1.1")
    return short, "bold red" if old else ""


def _overview_certificate(obs: Observation, now: datetime) -> tuple[str, str]:
    if obs.tls is None:
        return "-", "dim"
    if not obs.tls.chain_der:
        return "none sent", "bold red"
    info = describe_certificate(obs.tls.chain_der[0])
    if not isinstance(info, CertificateInfo):
        return "unreadable", "red"
    name = info.short_name or info.subject
    # The name only when it is not the endpoint's own: the usual case says nothing.
    shown = "" if name.lower() == (obs.endpoint.host or "").lower() else f" {_s(name)}"
    if info.not_after is None:
        return f"?d{shown}", "yellow"
    days = (info.not_after - now).days if info.not_after >= now else -((now - info.not_after).days)
    style = "bold red" if info.not_after < now else ("yellow" if days < 14 else "")
    return f"{days}d{shown}", style


def overview_rows(report: ScanReport) -> list[OverviewRow]:
    """The opening table's rows of ``report``, one per observation, in report order."""
    now = report.analysed_at
    if now.tzinfo is None:
        now = now.replace(tzinfo=UTC)
    worst: dict[Endpoint, Finding] = {}
    for f in report.findings:
        best = worst.get(f.endpoint)
        if best is None or (f.severity, best.id) > (best.severity, f.id):
            worst[f.endpoint] = f
    matrices: dict[Endpoint, ClientMatrix] = {
        m.endpoint: m for m in report.clients if m.endpoint is not None
    }
    rows = []
    for obs in report.observations:
        top = worst.get(obs.endpoint)
        matrix = matrices.get(obs.endpoint)
        families = failing_families(matrix) if matrix is not None else []
        judged = [v for v in matrix.verdicts if v.outcome.value != "not-released"] if matrix else []
        failing = sum(n for _, n in families)
        rows.append(
            OverviewRow(
                endpoint=obs.endpoint,
                login=_overview_login(obs),
                tls=_overview_tls(obs),
                certificate=_overview_certificate(obs, now),
                worst=None if top is None else (_SEVERITY_SHORT[top.severity], _s(top.id)),
                failing=tuple(name for name, _ in families),
                everyone=bool(judged) and failing == len(judged),
                judged=matrix is not None,
            )
        )
    return rows


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(width - 1, 0)] + "…"


def _families_cell(row: OverviewRow, width: int | None = None) -> str:
    if not row.judged:
        return "-"
    if not row.failing:
        return "none"
    if row.everyone:
        return "all"
    text = ",".join(row.failing)
    if width is None or len(text) <= width:
        return text
    for shown in range(len(row.failing) - 1, 0, -1):
        text = ",".join(row.failing[:shown]) + f" +{len(row.failing) - shown}"
        if len(text) <= width:
            return text
    return _cut(f"{len(row.failing)} families", width)


def _endpoint_cells(rows: list[OverviewRow]) -> list[str]:
    hosts = {r.endpoint.name for r in rows}
    seen: dict[tuple[str, int, str], int] = {}
    for r in rows:
        key = (r.endpoint.name, r.endpoint.port, r.endpoint.service.value)
        seen[key] = seen.get(key, 0) + 1
    cells = []
    for r in rows:
        ep = r.endpoint
        text = f"{ep.service.value}:{ep.port}"
        if len(hosts) > 1:
            text = f"{ep.name} {text}"
        if seen[(ep.name, ep.port, ep.service.value)] > 1 and ep.ip:
            text += f" {ep.ip}"
        cells.append(_s(text))
    return cells


_HEADERS = ("endpoint", "login", "TLS", "cert", "worst finding", "clients failing")
_GAP = 2


def _fit(widths: list[int], avail: int) -> list[int]:
    """Column widths within ``avail``: the certificate's name gives way first (its days stay),
    then the worst finding and the failing families share what is left, then the endpoint."""
    widths = list(widths)
    excess = sum(widths) - avail
    if excess <= 0:
        return widths
    widths[3] = max(6, widths[3] - excess)
    for floor in (widths[0], 12):
        widths[0] = max(floor, 12) if floor == 12 else widths[0]
        rest = avail - sum(widths[:4])
        worst, failing = widths[4], widths[5]
        if worst + failing <= rest:
            return widths
        if rest >= 2 * 12:
            widths[4] = min(worst, max(rest // 2, rest - failing))
            widths[5] = rest - widths[4]
            return widths
    widths[4] = max(rest // 2, 1)
    widths[5] = max(rest - widths[4], 1)
    return widths


#: The opening table lists this many endpoints at most (a fleet scan's report would otherwise
#: open with thousands of lines, and hold them all in memory); the rest are counted.
OVERVIEW_LIMIT = 200


def render_overview(console: Console, rows: list[OverviewRow], *, total: int | None = None) -> None:
    """The opening table: one line per endpoint, fitted to the console's width (long cells
    end with ``…``; the failing families with ``+N``). Only the first ``OVERVIEW_LIMIT`` rows
    are shown; ``total`` is the number of endpoints (default: ``len(rows)``)."""
    total = len(rows) if total is None else total
    rows = rows[:OVERVIEW_LIMIT]
    if not rows:
        return
    endpoints = _endpoint_cells(rows)
    # The severity is the cell's colour (and the summary line's counts): the id needs the room.
    worst = [("-", "") if r.worst is None else (r.worst[1], "") for r in rows]
    cells = [
        [endpoints[i], r.login[0], r.tls[0], r.certificate[0], worst[i][0], _families_cell(r)]
        for i, r in enumerate(rows)
    ]
    # The last column's header may be wider than its cells: nothing follows it.
    natural = [max(len(h), *(len(c[k]) for c in cells)) for k, h in enumerate(_HEADERS)]
    natural[-1] = max(4, *(len(c[-1]) for c in cells))
    widths = _fit(natural, console.width - _GAP * (len(_HEADERS) - 1))
    gap = _GAP
    header = Text()
    for k, h in enumerate(_HEADERS):
        header.append(_cut(h, widths[k]).ljust(widths[k]) if k < len(widths) - 1 else h, "bold")
        if k < len(widths) - 1:
            header.append(" " * gap)
    # (put cuts the header's last cell if the line is too long.)
    _put(console, header, one_line=True)
    sev_style = {_SEVERITY_SHORT[s]: _SEVERITY_STYLE[s] for s in Severity}
    for i, r in enumerate(rows):
        line = Text()
        styles = [
            "bold cyan",
            r.login[1],
            r.tls[1],
            r.certificate[1],
            sev_style.get(r.worst[0], "") if r.worst else "green",
            "bold red" if r.failing else "green",
        ]
        values = list(cells[i])
        values[5] = _families_cell(r, widths[5])
        for k, value in enumerate(values):
            text = _cut(value, widths[k])
            last = k == len(values) - 1
            line.append(text, styles[k])
            if not last:
                line.append(" " * (widths[k] - len(text) + gap))
        _put(console, line, one_line=True)
    if total > len(rows):
        _put(console, (f"… and {total - len(rows)} more endpoints below", "dim"))


# --- the report ----------------------------------------------------------------------------------


def render_terminal(report: ScanReport, console: Console, *, verbose: bool = False) -> None:
    """Print ``report`` for a person: summary, the opening table, then each host's endpoints,
    findings and clients.

    Everything the servers sent is escaped (``safe_text``) and printed without markup parsing,
    so a hostile greeting or certificate cannot act on the terminal.
    """
    _put(console, _summary(report), hang=2)
    console.print()
    render_overview(console, overview_rows(report))
    render_orphans(console, render_hosts(report, console, verbose=verbose), verbose=verbose)


def render_hosts(
    report: ScanReport,
    console: Console,
    *,
    verbose: bool = False,
    notes_seen: set[str] | None = None,
) -> list[Finding]:
    """Each host of ``report`` with its endpoints, findings and client matrices (no summary
    line): the body of the report, or of one chunk of a streamed one. Returns the findings
    about endpoints with no observation in ``report``, for ``render_orphans``. A matrix note
    already in ``notes_seen`` is not repeated (without ``-v``); printed ones are added."""
    by_endpoint: dict[Endpoint, list[Finding]] = {}
    for f in report.findings:
        by_endpoint.setdefault(f.endpoint, []).append(f)
    seen: set[Endpoint] = set()
    notes = set() if notes_seen is None else notes_seen
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
            render_endpoint_clients(
                console, report, obs.endpoint, verbose=verbose, notes_seen=notes
            )
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
