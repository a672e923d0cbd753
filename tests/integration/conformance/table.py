"""Comparing a real client's outcome with vedette's verdict, the accepted differences, and the
agreement table printed at the end of the run."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from tests.integration.conformance.clients import Outcome, Real, Scope

ACCEPTED = Path(__file__).with_name("accepted.toml")
Status = Literal["agree", "disagree", "unknown"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """A known disagreement: on ``server``, vedette says ``vedette`` for ``profile`` and the real
    ``client`` does ``real``; ``reason`` and ``source`` say why that is accepted for now, and
    ``fixed_by`` names the change that will make them agree (then the entry goes)."""

    client: str
    profile: str
    server: str
    vedette: str
    real: str
    reason: str
    source: str
    fixed_by: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.client, self.profile, self.server)


_OUTCOMES = {"connects", "fails"}


def load_accepted(path: Path = ACCEPTED) -> dict[tuple[str, str, str], Accepted]:
    """The accepted differences; a malformed entry raises ValueError naming it."""
    doc = tomllib.loads(path.read_text(encoding="utf-8"))
    out: dict[tuple[str, str, str], Accepted] = {}
    for i, raw in enumerate(doc.get("difference", [])):
        where = f"{path.name}: difference #{i + 1}"
        required = {"client", "profile", "server", "vedette", "real", "reason", "source"}
        missing = sorted(required - set(raw))
        unknown = sorted(set(raw) - required - {"fixed_by"})
        if missing or unknown:
            raise ValueError(f"{where}: missing {missing}, unknown {unknown}")
        entry = Accepted(**raw)
        if entry.vedette not in _OUTCOMES or entry.real not in _OUTCOMES:
            raise ValueError(f"{where}: vedette and real are 'connects' or 'fails'")
        if entry.vedette == entry.real:
            raise ValueError(f"{where}: vedette and real agree; that is no difference")
        if not entry.reason.strip() or not entry.source.strip():
            raise ValueError(f"{where}: a reason and a source are required")
        if entry.key in out:
            raise ValueError(f"{where}: {entry.key} is listed twice")
        out[entry.key] = entry
    return out


def vedette_side(verdict: dict[str, Any], scope: Scope) -> tuple[Outcome, str]:
    """What vedette predicts for the half of the verdict a client checks, and why."""
    reasons = verdict["reasons"]
    if scope == "handshake":
        reasons = [r for r in reasons if r["code"].startswith("tls.")]
        outcomes = {r["outcome"] for r in reasons}
        outcome: Outcome = (
            "fails" if "fails" in outcomes else "unknown" if "unknown" in outcomes else "connects"
        )
    else:
        outcome = {"works": "connects", "warning": "connects", "fails": "fails"}.get(
            verdict["outcome"], "unknown"
        )  # type: ignore[assignment]
    why = ", ".join(f"{r['code']}:{r['outcome']}" for r in reasons) or "no reason"
    return outcome, why


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    """One comparison: a real client against one server, for one profile."""

    case: str
    client: str
    profile: str
    family: str
    vedette: Outcome
    vedette_why: str
    real: Real
    accepted: Accepted | None = None

    @property
    def status(self) -> Status:
        if self.vedette == "unknown" or self.real.outcome == "unknown":
            return "unknown"
        return "agree" if self.vedette == self.real.outcome else "disagree"

    def line(self) -> str:
        return (
            f"{self.case} / {self.client} -> {self.profile}: vedette {self.vedette} "
            f"({self.vedette_why}); real {self.real.outcome} ({self.real.detail})"
        )


def match(row: Row, accepted: dict[tuple[str, str, str], Accepted]) -> Row:
    """``row`` with its accepted entry, if one lists exactly this disagreement."""
    entry = accepted.get((row.client, row.profile, row.case))
    if (
        row.status == "disagree"
        and entry is not None
        and (entry.vedette, entry.real) == (row.vedette, row.real.outcome)
    ):
        return replace(row, accepted=entry)
    return row


@dataclass(slots=True)
class Session:
    """Everything the run measured, for the table at the end."""

    rows: list[Row] = field(default_factory=list)
    quick_rows: list[Row] = field(default_factory=list)
    clients_rows: list[Row] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    scan_seconds: dict[str, float] = field(default_factory=dict)


RESULTS = Session()


def stale(session: Session, accepted: dict[tuple[str, str, str], Accepted]) -> list[Accepted]:
    """Accepted entries whose pair ran in this session and no longer disagrees that way."""
    ran = {(r.client, r.profile, r.case): r for r in session.rows}
    out = []
    for key, entry in accepted.items():
        row = ran.get(key)
        if row is not None and row.accepted is None:
            out.append(entry)
    return out


def _counts(rows: list[Row], key: str, title: str) -> list[str]:
    counts: dict[str, dict[str, int]] = {}
    for r in rows:
        c = counts.setdefault(
            getattr(r, key), {"agree": 0, "disagree": 0, "accepted": 0, "unknown": 0}
        )
        c[r.status] += 1
        c["accepted"] += r.accepted is not None
    counts_total = {
        k: sum(c[k] for c in counts.values()) for k in ("agree", "disagree", "accepted", "unknown")
    }
    width = max([len(title), 5, *(len(k) for k in counts)]) + 2
    out = [f"{title:<{width}}{'agree':>7}{'disagree':>10}{'(accepted)':>12}{'unknown':>9}"]
    for name, c in [*sorted(counts.items()), ("total", counts_total)]:
        out.append(
            f"{name:<{width}}{c['agree']:>7}{c['disagree']:>10}{c['accepted']:>12}{c['unknown']:>9}"
        )
    return out


def render(
    session: Session, accepted: dict[tuple[str, str, str], Accepted], *, every_row: bool = False
) -> list[str]:
    """The agreement table per profile family (all clients, then the real clients alone, without
    the s_client hello replays), every disagreement, the timing; ``every_row``: each comparison."""
    cases = sorted({r.case for r in session.rows})
    real = [r for r in session.rows if not r.client.startswith("s_client:")]
    lines = [
        f"{len(session.rows)} comparisons of a real client with vedette's verdict "
        f"(vedette scan --mode full, once per server) on {len(cases)} servers: " + ", ".join(cases),
        "",
        *_counts(session.rows, "family", "family"),
        "",
        f"of which real clients, without the {len(session.rows) - len(real)} s_client hello "
        "replays:",
        *_counts(real, "family", "family"),
    ]
    if session.quick_rows:
        unknown = sum(r.vedette == "unknown" for r in session.quick_rows)
        lines += [
            "",
            "quick mode (vedette scan --mode quick, the fleet default; no disagreement allowed): "
            f"vedette says unknown in {unknown} of {len(session.quick_rows)}",
            *_counts(session.quick_rows, "family", "family"),
        ]
    if session.clients_rows:
        unknown = sum(r.vedette == "unknown" for r in session.clients_rows)
        wrong = sum(r.status == "disagree" for r in session.clients_rows)
        lines += [
            "",
            "clients mode (vedette scan --mode clients, 3 connections an endpoint; no "
            "disagreement, at most 10% unknown on a modern server): vedette says unknown in "
            f"{unknown} of {len(session.clients_rows)}, "
            f"disagrees in {wrong}",
            *_counts(session.clients_rows, "family", "family"),
        ]
    if every_row:
        lines += ["", "every comparison:"]
        lines += [f"  [{r.status}] {r.line()}" for r in session.rows]
    new = [
        r
        for r in (*session.rows, *session.quick_rows, *session.clients_rows)
        if r.status == "disagree" and r.accepted is None
    ]
    known = [r for r in session.rows if r.accepted is not None]
    if new:
        lines += ["", "DISAGREEMENTS NOT IN accepted.toml (they fail the run):"]
        lines += [f"  {r.line()}" for r in new]
    if known:
        lines += ["", "accepted differences seen (tests/integration/conformance/accepted.toml):"]
        for r in known:
            assert r.accepted is not None
            tag = f" [fixed by {r.accepted.fixed_by}]" if r.accepted.fixed_by else ""
            lines.append(f"  {r.case} / {r.client} -> {r.profile}: vedette {r.vedette}, "
                         f"real {r.real.outcome}{tag}")  # fmt: skip
    gone = stale(session, accepted)
    if gone:
        lines += ["", "accepted differences that no longer occur (remove them):"]
        lines += [f"  {e.server} / {e.client} -> {e.profile}" for e in gone]
    unknown = [r for r in session.rows if r.status == "unknown"]
    if unknown:
        lines += ["", "unknown (vedette or the client could not tell):"]
        lines += [f"  {r.line()}" for r in unknown]
    if session.missing:
        lines += ["", "clients not run (not installed): " + ", ".join(session.missing)]
    if session.labels:
        lines += ["", "clients:"]
        lines += [f"  {cid}: {label}" for cid, label in sorted(session.labels.items())]
    spent = sum(session.seconds.values())
    scans = sum(session.scan_seconds.values())
    lines += [
        "",
        f"time: {spent:.1f} s for {len(session.seconds)} servers "
        f"(vedette scans {scans:.1f} s, the rest the clients)",
    ]
    return lines
