"""Telling a defended connection from an answer: tarpits, rate limits, greylisting, caps.

Mail servers defend themselves against clients that connect too often or too fast, and a
scanner is such a client. What a defended connection shows says nothing about TLS, so the
probe and the enumeration feed every connection attempt to a ``DefenceLog``; it classifies
what it sees into one of four documented kinds (``model.DefenceKind``) and keeps, per kind,
the first evidence, how many connections got through before it, and how many it hit:

``tarpit``
    a reply that arrives, but later than ``TARPIT_DELAY`` seconds (sendmail's greet_pause,
    Postfix's postscreen greet wait, ``smtpd_error_sleep_time``); bytes trickled into a reply
    that misses its deadline; after earlier successes, a greeting that never comes on a
    connection with no other of ours open.
``rate-limited``
    a ``421`` greeting, or any refusal whose text speaks of a rate or of too many connections
    (Postfix anvil: ``421 4.7.0 … Error: too many connections from …``); or, after earlier
    successes, a connection refused or reset before the greeting with none of ours open.
``greylisted``
    a ``450``/``451`` reply to the dialogue (milter-greylist and rspamd answer
    ``451 4.7.1``, postgrey ``450 4.2.0 … Greylisted``), or any reply naming greylisting.
``connection-cap``
    a refusal that speaks of concurrent or simultaneous connections (Exim
    ``smtp_accept_max_per_host``), or, after earlier successes, a new connection refused,
    reset, or left without a greeting while others of ours were open (Dovecot's login
    ``process_limit``/``client_limit``).

Pure: no I/O and no clock; the callers measure. Nothing here raises on what a server sent.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from vedette.model import Defence, DefenceKind, Failure, FailureKind, Stage

__all__ = [
    "TARPIT_DELAY",
    "Attempt",
    "DefenceLog",
    "ReplyTimer",
    "classify",
    "describe",
    "merge",
]

#: Seconds past which a reply counts as tarpitted (well above any loopback or LAN latency,
#: well under the 10 s reply deadline).
TARPIT_DELAY = 3.0
#: Longest evidence kept, in characters (a reply line is bounded at 8192 bytes upstream).
_EVIDENCE_MAX = 200

_GREY = re.compile(r"gr[ae]y[- ]?list", re.IGNORECASE)
_CAP = re.compile(r"concurrent|simultaneous|max(imum)?[ _]+(number of )?connections", re.I)
_RATE = re.compile(
    r"too many|rate limit|connection rate|limit exceeded|exceeded|try again later|busy", re.I
)
# A server going away for everyone (Dovecot's "* BYE Server shutting down.", a 421 at
# shutdown or in maintenance) is not defending itself against the scanner.
_GOING_AWAY = re.compile(r"shutting down|shut ?down|restart|maintenance|going down", re.I)
_SMTP_CODE = re.compile(r"^([2-5][0-9][0-9])(?:[ -]|$)")
# Stages at which a connection is still being let in, before anything about TLS is asked.
_ADMISSION = frozenset({Stage.CONNECT, Stage.GREETING})
_DIALOGUE_STAGES = frozenset({Stage.GREETING, Stage.CAPABILITIES, Stage.STARTTLS})


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One connection attempt, as the probe layer saw it.

    Attributes:
        failure: why it stopped short before the question was put; ``None`` when it got
            through (the dialogue reached TLS, or the hello was written).
        reply: the server's refusal in its protocol (greeting or STARTTLS reply lines).
        others_open: other connections of this scan to the same endpoint open at the time.
        slowest_reply: seconds the slowest reply took (greeting included), if measured.
        slowest_stage: the stage of that reply.
        trickled: bytes received since the last command when a reply missed its deadline.
    """

    failure: Failure | None = None
    reply: tuple[str, ...] = ()
    others_open: int = 0
    slowest_reply: float | None = None
    slowest_stage: Stage | None = None
    trickled: int = 0


def _clip(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _EVIDENCE_MAX else text[: _EVIDENCE_MAX - 1] + "…"


def _by_reply(line: str, earlier_ok: int, others_open: int) -> DefenceKind | None:
    m = _SMTP_CODE.match(line)
    code = int(m.group(1)) if m else None
    if _GOING_AWAY.search(line):
        return None
    if _GREY.search(line):
        return DefenceKind.GREYLISTED
    if _CAP.search(line):
        return DefenceKind.CONNECTION_CAP
    if code in (450, 451):
        return DefenceKind.GREYLISTED
    if code == 421 or _RATE.search(line):
        return DefenceKind.RATE_LIMITED
    if code is not None and code >= 500:
        return None  # a permanent refusal (554 block list) is a policy, not a defence
    if earlier_ok:  # IMAP BYE, POP3 -ERR, another 4xx after the same server let us in
        return DefenceKind.CONNECTION_CAP if others_open else DefenceKind.RATE_LIMITED
    return None


def _stage_words(stage: Stage | None) -> str:
    return {
        Stage.GREETING: "the greeting",
        Stage.CAPABILITIES: "the capability reply",
        Stage.STARTTLS: "the STARTTLS reply",
        Stage.CAPABILITIES_AFTER_TLS: "the capability reply inside TLS",
    }.get(stage or Stage.GREETING, "a reply")


def classify(attempt: Attempt, *, earlier_ok: int) -> tuple[DefenceKind, str] | None:
    """The defence ``attempt`` shows, with its evidence, or ``None`` for an ordinary outcome.

    ``earlier_ok`` counts the connections to the same endpoint that got through before.
    """
    f = attempt.failure
    slow: tuple[DefenceKind, str] | None = None
    if attempt.slowest_reply is not None and attempt.slowest_reply >= TARPIT_DELAY:
        words = _stage_words(attempt.slowest_stage)
        slow = DefenceKind.TARPIT, f"{words} took {attempt.slowest_reply:.1f} s"
    if f is None:
        return slow
    return _by_failure(f, attempt, earlier_ok) or slow


def _by_failure(f: Failure, attempt: Attempt, earlier_ok: int) -> tuple[DefenceKind, str] | None:
    if f.kind is FailureKind.UNAVAILABLE and attempt.reply:
        line = attempt.reply[0]
        kind = _by_reply(line, earlier_ok, attempt.others_open)
        return None if kind is None else (kind, _clip(line))
    if f.kind is FailureKind.TIMEOUT and f.stage in _DIALOGUE_STAGES and attempt.trickled:
        words = _stage_words(f.stage)
        return DefenceKind.TARPIT, f"{attempt.trickled} byte(s) of {words} trickled, then no end"
    if not earlier_ok or f.stage not in _ADMISSION:
        return None
    if f.kind in (FailureKind.REFUSED, FailureKind.CLOSED, FailureKind.TIMEOUT):
        what = {
            FailureKind.REFUSED: "refused a new connection",
            FailureKind.CLOSED: "closed a new connection before its greeting",
            FailureKind.TIMEOUT: "left a new connection without a greeting",
        }[f.kind]
        if attempt.others_open:
            return (
                DefenceKind.CONNECTION_CAP,
                f"{what} while {attempt.others_open} other(s) were open",
            )
        if f.kind is FailureKind.TIMEOUT:
            return DefenceKind.TARPIT, f"{what}: {_clip(f.detail)}"
        return DefenceKind.RATE_LIMITED, f"{what}: {_clip(f.detail)}"
    return None


class ReplyTimer:
    """The slowest reply of one dialogue: ``waiting`` when a reply is first awaited,
    ``answered`` when the dialogue moves on (times from the caller's monotonic clock)."""

    def __init__(self) -> None:
        self.slowest: float | None = None
        self.stage: Stage | None = None
        self._since: float | None = None
        self._stage: Stage | None = None

    def waiting(self, now: float, stage: Stage) -> None:
        if self._since is None:
            self._since, self._stage = now, stage

    def answered(self, now: float) -> None:
        if self._since is None:
            return
        took = now - self._since
        if self.slowest is None or took > self.slowest:
            self.slowest, self.stage = took, self._stage
        self._since = None


@dataclass(slots=True)
class _Tally:
    evidence: str
    after: int
    hits: int = 1


class DefenceLog:
    """Connection attempts to one endpoint in the order they ended; ``defences()`` sums up."""

    def __init__(self) -> None:
        self.ok = 0
        self.attempts = 0
        self._seen: dict[DefenceKind, _Tally] = {}

    def record(self, attempt: Attempt) -> DefenceKind | None:
        """Count ``attempt``; the defence it showed, if any."""
        self.attempts += 1
        found = classify(attempt, earlier_ok=self.ok)
        before = self.ok
        if attempt.failure is None:
            self.ok += 1
        if found is None:
            return None
        kind, evidence = found
        tally = self._seen.get(kind)
        if tally is None:
            self._seen[kind] = _Tally(evidence=evidence, after=before)
        else:
            tally.hits += 1
        return kind

    def defences(self) -> tuple[Defence, ...]:
        return tuple(
            Defence(kind=kind, evidence=t.evidence, after=t.after, hits=t.hits)
            for kind, t in self._seen.items()
        )


def merge(*groups: tuple[Defence, ...]) -> tuple[Defence, ...]:
    """One ``Defence`` per kind: the first evidence, the least ``after``, hits summed."""
    out: dict[DefenceKind, Defence] = {}
    for group in groups:
        for d in group:
            prev = out.get(d.kind)
            if prev is None:
                out[d.kind] = d
            else:
                out[d.kind] = Defence(
                    kind=d.kind,
                    evidence=prev.evidence,
                    after=min(prev.after, d.after),
                    hits=prev.hits + d.hits,
                )
    return tuple(out.values())


_VERBS = {
    DefenceKind.TARPIT: "the server tarpitted the scanner",
    DefenceKind.RATE_LIMITED: "the server rate-limited the scanner",
    DefenceKind.GREYLISTED: "the server greylisted the scanner",
    DefenceKind.CONNECTION_CAP: "the server capped the scanner's connections",
}


def describe(d: Defence) -> str:
    """``the server rate-limited the scanner (421 4.7.0 …) after 37 connections`` (unescaped)."""
    text = f"{_VERBS[d.kind]} ({d.evidence})"
    if d.after:
        text += f" after {d.after} connection{'s' if d.after != 1 else ''}"
    if d.hits > 1:
        text += f", {d.hits} times"
    return text
