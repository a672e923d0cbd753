"""The client-compatibility matrix in the terminal and in JSON.

Terminal, ``vedette cert clients`` and ``-v``: per endpoint (or chain file), one summary line
("as of 2026-11-23: 30 work, 3 fail, 2 unknown"), then each client that does not simply work with
**every** reason and its fix, then the clients that work, on one line.

Terminal scan report without ``-v``: a count by family ("Clients: 9 of 36 fail: android 2,
java 1, lync 3, outlook 2, skype 1"), then one line per reason ("- 5 clients: server
certificate ... is signed with SHA-512 ..."), cut to the width; ``-v`` names every client.

Reason texts quote certificate names, which a server chose, so they go through ``safe_text``
and reach ``rich`` only inside ``Text`` objects, as in ``report.terminal``. Lines leave through
``report.lines.put`` (hanging indent, no trailing spaces).

JSON: ``matrix_to_json`` gives the ``clients`` object documented in ``docs/json-schema.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from vedette.model import ClientMatrix, ClientOutcome, ClientReason, ClientVerdict
from vedette.report.escape import safe_text
from vedette.report.lines import put

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from vedette.model import Endpoint, ScanReport

__all__ = [
    "by_family",
    "failing_families",
    "matrix_to_json",
    "render_endpoint_clients",
    "render_matrix",
    "summary_counts",
    "summary_text",
]

_STYLE = {
    ClientOutcome.FAILS: "bold white on dark_red",
    ClientOutcome.UNKNOWN: "black on white",
    ClientOutcome.WARNING: "bold black on yellow",
    ClientOutcome.WORKS: "bold white on green",
    ClientOutcome.NOT_RELEASED: "dim",
}
_ORDER = (
    ClientOutcome.FAILS,
    ClientOutcome.UNKNOWN,
    ClientOutcome.WARNING,
    ClientOutcome.WORKS,
    ClientOutcome.NOT_RELEASED,
)
_WORDS = {
    ClientOutcome.FAILS: "fail",
    ClientOutcome.UNKNOWN: "unknown",
    ClientOutcome.WARNING: "work with a warning",
    ClientOutcome.WORKS: "work",
    ClientOutcome.NOT_RELEASED: "not released yet",
}


def _line(console: Console, text: Text, indent: int, *, hang: int = 2) -> None:
    put(console, text, indent=indent, hang=hang)


def summary_counts(matrix: ClientMatrix) -> dict[ClientOutcome, int]:
    counts = dict.fromkeys(_ORDER, 0)
    for v in matrix.verdicts:
        counts[v.outcome] += 1
    return counts


def summary_text(matrix: ClientMatrix) -> str:
    """``as of 2026-11-23: 30 work, 3 fail, 2 unknown`` (vedette's words only)."""
    counts = summary_counts(matrix)
    parts = [f"{counts[o]} {_WORDS[o]}" for o in _ORDER if counts[o]]
    return f"as of {matrix.as_of.strftime('%Y-%m-%d')}: " + (", ".join(parts) or "no client")


def by_family(
    matrix: ClientMatrix, outcome: ClientOutcome
) -> list[tuple[str, list[ClientVerdict], list[ClientReason]]]:
    """The families with a client of ``outcome``, in profile order: each with those clients
    and their reasons (every distinct one, first seen first; a client's fix kept with it)."""
    families: dict[str, tuple[list[ClientVerdict], dict[tuple[str, str], ClientReason]]] = {}
    for v in matrix.verdicts:
        if v.outcome is not outcome:
            continue
        members, reasons = families.setdefault(v.family, ([], {}))
        members.append(v)
        for r in v.reasons:
            if r.outcome is outcome:
                reasons.setdefault((r.text, r.fix), r)
    return [
        (name, members, list(reasons.values())) for name, (members, reasons) in families.items()
    ]


def _verdict(console: Console, v: ClientVerdict, indent: int) -> None:
    badge = f" {v.outcome.value.upper()} "
    head = Text()
    head.append(badge, style=_STYLE[v.outcome])
    head.append(" ")
    head.append(safe_text(v.name), style="bold")
    head.append(f"  [{v.profile}]", style="dim")
    _line(console, head, indent)
    _reasons(console, v.reasons, indent + 4)


def _reasons(console: Console, reasons: Sequence[ClientReason], indent: int) -> None:
    """One line per reason, with its fix when there is one."""
    for r in reasons:
        line = Text()
        line.append("- ", style="dim")
        line.append(safe_text(r.text))
        if r.fix:
            line.append(" — fix: ", style="bold green")
            line.append(safe_text(r.fix))
        _line(console, line, indent)


def _group(console: Console, members: list[ClientVerdict], indent: int) -> None:
    first = members[0]
    head = Text()
    head.append(f" {first.outcome.value.upper()} ", style=_STYLE[first.outcome])
    head.append(" ")
    head.append(", ".join(safe_text(v.name) for v in members), style="bold")
    _line(console, head, indent)
    _reasons(console, first.reasons, indent + 4)


def _unknown_group(console: Console, members: list[ClientVerdict], indent: int) -> None:
    """Compact form: how many clients are unknown for one reason, without their names."""
    head = Text()
    head.append(" UNKNOWN ", style=_STYLE[ClientOutcome.UNKNOWN])
    head.append(f" {len(members)} client{'s' if len(members) > 1 else ''}", style="bold")
    head.append(" (-v names them)", style="dim")
    _line(console, head, indent)
    _reasons(console, members[0].reasons, indent + 4)


def render_matrix(
    console: Console,
    matrix: ClientMatrix,
    *,
    indent: int = 4,
    verbose: bool = False,
    compact: bool = False,
) -> None:
    """Print one matrix: summary, every non-working client with all reasons, then the rest.

    ``compact`` (the per-endpoint matrix of a scan report) names only the clients that fail
    or warn; unknown ones are counted per reason and working ones only in the summary line,
    so that a quick scan of many endpoints does not bury the findings. ``verbose`` wins.
    """
    title = Text()
    title.append("Clients".ljust(18) if indent else "Clients ", style="bold")
    title.append(summary_text(matrix))
    _line(console, title, indent)
    for note in matrix.notes:
        _line(console, Text(safe_text(note), style="yellow"), indent + 2)
    for outcome in (ClientOutcome.FAILS, ClientOutcome.UNKNOWN, ClientOutcome.WARNING):
        chosen = [v for v in matrix.verdicts if v.outcome is outcome]
        if verbose:
            for v in chosen:
                _verdict(console, v, indent + 2)
            continue
        # Clients with exactly the same reasons are listed together, reasons once: a quick
        # scan leaves twenty old clients "unknown" for the same reason.
        groups: dict[tuple[tuple[str, str], ...], list[ClientVerdict]] = {}
        for v in chosen:
            groups.setdefault(tuple((r.text, r.fix) for r in v.reasons), []).append(v)
        for members in groups.values():
            if compact and outcome is ClientOutcome.UNKNOWN:
                _unknown_group(console, members, indent + 2)
            elif len(members) == 1:
                _verdict(console, members[0], indent + 2)
            else:
                _group(console, members, indent + 2)
    works = [v for v in matrix.verdicts if v.outcome is ClientOutcome.WORKS]
    if works and (verbose or not compact):
        if verbose:
            for v in works:
                _verdict(console, v, indent + 2)
        else:
            line = Text()
            line.append(" WORKS ", style=_STYLE[ClientOutcome.WORKS])
            line.append(" " + ", ".join(safe_text(v.name) for v in works))
            _line(console, line, indent + 2)
    later = [v for v in matrix.verdicts if v.outcome is ClientOutcome.NOT_RELEASED]
    if later and verbose:
        line = Text("not released at that date: " + ", ".join(v.profile for v in later))
        _line(console, line, indent + 2)
    for text in matrix.inventory:
        _line(console, Text(safe_text(text), style="bold"), indent + 2)


def matrix_to_json(matrix: ClientMatrix) -> dict[str, Any]:
    counts = summary_counts(matrix)
    return {
        "as_of": matrix.as_of.isoformat(),
        "endpoint": matrix.endpoint.label if matrix.endpoint is not None else None,
        "summary": {o.value.replace("-", "_"): counts[o] for o in _ORDER},
        "notes": list(matrix.notes),
        "inventory": list(matrix.inventory),
        "verdicts": [
            {
                "profile": v.profile,
                "name": v.name,
                "family": v.family,
                "outcome": v.outcome.value,
                "reasons": [
                    {"code": r.code, "outcome": r.outcome.value, "text": r.text, "fix": r.fix}
                    for r in v.reasons
                ],
            }
            for v in matrix.verdicts
        ],
    }


def failing_families(
    matrix: ClientMatrix, outcome: ClientOutcome = ClientOutcome.FAILS
) -> list[tuple[str, int]]:
    """The families with clients of ``outcome`` (failing by default) and how many, in the
    order of the profiles."""
    counts: dict[str, int] = {}
    for v in matrix.verdicts:
        if v.outcome is outcome:
            counts[v.family] = counts.get(v.family, 0) + 1
    return list(counts.items())


def _by_family(matrix: ClientMatrix, outcome: ClientOutcome) -> str:
    return ", ".join(f"{safe_text(name)} {n}" for name, n in failing_families(matrix, outcome))


def render_compact(
    console: Console, matrix: ClientMatrix, *, indent: int = 4, notes_seen: set[str] | None = None
) -> None:
    """The matrix as counts by family, then one line per reason (cut to the width)."""
    counts = summary_counts(matrix)
    judged = sum(n for o, n in counts.items() if o is not ClientOutcome.NOT_RELEASED)
    line = Text()
    line.append("Clients:".ljust(18), style="bold")
    parts: list[tuple[str, str]] = []
    for outcome, word in (
        (ClientOutcome.FAILS, "fail"),
        (ClientOutcome.WARNING, "warn"),
        (ClientOutcome.UNKNOWN, "unknown"),
    ):
        if counts[outcome]:
            text = f"{counts[outcome]} {word}"
            if outcome is not ClientOutcome.FAILS or counts[ClientOutcome.WORKS]:
                # When no client works, the families that fail are all of them.
                text += f": {_by_family(matrix, outcome)}"
            parts.append((text, _STYLE_WORD[outcome]))
    if not parts:
        line.append(f"all {judged} work" if judged else "no client", style="green")
    elif judged and counts[ClientOutcome.FAILS] == judged:
        line.append(f"all {judged} fail", style="bold red")
    else:
        for i, (text, style) in enumerate(parts):
            line.append("; " if i else "")
            line.append(text, style=style)
        line.append(f" (of {judged})")
    groups: dict[tuple[str, ClientOutcome], list[ClientReason]] = {}
    for v in matrix.verdicts:
        if v.outcome in (ClientOutcome.FAILS, ClientOutcome.WARNING, ClientOutcome.UNKNOWN):
            for r in v.reasons:
                if r.outcome is v.outcome:
                    # A client that only warns for a reason others fail on is counted apart.
                    groups.setdefault((r.code, r.outcome), []).append(r)
    reasons = sorted(groups.values(), key=len, reverse=True)
    put(console, line, indent=indent, hang=18)
    for note in matrix.notes:
        if notes_seen is not None and note in notes_seen:
            continue
        if notes_seen is not None:
            notes_seen.add(note)
        put(console, Text(safe_text(note), style="yellow"), indent=indent + 2, hang=2)
    for members in reasons:
        first = members[0]
        why = Text()
        why.append(f"- {len(members)} client{'s' if len(members) != 1 else ''}: ", style="dim")
        if first.outcome is ClientOutcome.UNKNOWN and first.fix:
            # What was not tested matters less than how to test it.
            why.append(f"unknown: {safe_text(first.fix)}")
        else:
            why.append(safe_text(first.text))
        put(console, why, indent=indent + 2, one_line=True)
    for text_line in matrix.inventory:
        put(console, Text(safe_text(text_line), style="bold"), indent=indent + 2, hang=2)


_STYLE_WORD = {
    ClientOutcome.FAILS: "bold red",
    ClientOutcome.WARNING: "yellow",
    ClientOutcome.UNKNOWN: "dim",
}


def render_endpoint_clients(
    console: Console,
    report: ScanReport,
    endpoint: Endpoint,
    *,
    verbose: bool = False,
    notes_seen: set[str] | None = None,
) -> None:
    """The matrix of ``endpoint`` in ``report``, if it has one (called by report.terminal):
    counts by family, or every client with ``verbose``."""
    for matrix in report.clients:
        if matrix.endpoint == endpoint:
            if verbose:
                render_matrix(console, matrix, indent=4, verbose=True, compact=True)
            else:
                render_compact(console, matrix, indent=4, notes_seen=notes_seen)
