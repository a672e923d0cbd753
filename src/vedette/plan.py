"""The scan plan: everything a scan needs, decided once from the command line.

``vedette scan`` parses its arguments into one frozen :class:`ScanPlan` (in ``commands/``);
everything below takes the plan, never an ``argparse.Namespace``. A fleet scan stores its plan
with the scan (``vedette.store.codec.plan_to_dict``), and ``--resume`` reads it back: nothing
parses the command line again.

The plan is plain data (no I/O, no probe types): ``vedette.scan.scan_options`` turns it into
what the probes take.

What the kind of input decides (:class:`InputKind`, one rule for every way in):

* **explicit targets** (``vedette scan mail.example.com imaps://...``): full mode by default,
  exit 1 when a finding reaches ``--fail-on`` (default ``high``);
* **a fleet source** (``--targets FILE``, a CIDR, ``--resume``): quick mode by default, exit 0
  whatever was found unless ``--fail-on`` is given.

Incidental flags (``--quiet``, ``--rate``, ``--exclude``...) change neither.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Any

from vedette.model import Service, Severity
from vedette.targets import Pin

__all__ = [
    "DEFAULT_EHLO",
    "DEFAULT_MAX_CIDR",
    "InputKind",
    "Output",
    "PlanLimits",
    "Resolution",
    "ScanMode",
    "ScanPlan",
    "TargetSource",
    "has_cidr",
]

#: vedette's SMTP identity unless ``--ehlo`` says otherwise.
DEFAULT_EHLO = "vedette.invalid"
#: The most addresses one CIDR may expand to unless ``--max-cidr`` says otherwise: an IPv4 /8.
#: IPv6 sweeps need a prefix of /104 or longer under this cap.
DEFAULT_MAX_CIDR = 1 << 24


class ScanMode(StrEnum):
    """How deep a scan probes each endpoint.

    ``QUICK``: connect, dialogue, STARTTLS, one handshake, the certificate. ``CLIENTS``:
    that, plus two hand-built hellos (TLS 1.2 at most, with the suites the client profiles
    offer; TLS 1.0 at most), enough to decide most client verdicts: three connections an
    endpoint. ``FULL``: the quick probe, plus the TLS enumeration (versions, suites,
    groups...) and the resumption probe."""

    QUICK = "quick"
    CLIENTS = "clients"
    FULL = "full"


class InputKind(Enum):
    """Where the targets come from; it sets the default mode and the exit-code rule."""

    EXPLICIT = "explicit"  # named on the command line
    FLEET = "fleet"  # a target file, a CIDR, a stored scan to resume


def has_cidr(targets: tuple[str, ...] | list[str]) -> bool:
    """True when one of the targets is a CIDR (``192.0.2.0/24``, ``imaps://[2001:db8::]/120``)."""
    return any("/" in t.split("://", 1)[-1] for t in targets)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSource:
    """The targets, or where to read them.

    Attributes:
        targets: as written on the command line (names, ``host:port``, URLs, CIDRs).
        file: ``--targets FILE`` (``-``: standard input), one target a line.
        resume: ``--resume SCAN_ID``: the targets still pending in that stored scan.
        max_cidr: most addresses one CIDR may hold. allow_reserved: sweep reserved ranges too.
    """

    targets: tuple[str, ...] = ()
    file: str | None = None
    resume: int | None = None
    max_cidr: int = DEFAULT_MAX_CIDR
    allow_reserved: bool = False

    @property
    def kind(self) -> InputKind:
        if self.file is not None or self.resume is not None or has_cidr(self.targets):
            return InputKind.FLEET
        return InputKind.EXPLICIT

    @property
    def shown(self) -> tuple[str, ...]:
        """The targets as a scan's record shows them."""
        return self.targets + ((f"--targets {self.file}",) if self.file is not None else ())


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanLimits:
    """Timeouts (seconds) and bounds; the probes' ``Limits`` is made from these.

    The defaults are those of ``vedette.probe.limits.Limits`` (a unit test holds them equal).
    ``rate``: new connections per second over the whole scan, ``None`` for no limit.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    endpoint_timeout: float = 45.0
    concurrency: int = 32
    per_host: int = 8
    rate: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """From targets to endpoints.

    Attributes:
        ports: ``--ports``, replacing the default ports of targets naming none.
        service: ``--service``, the service of non-standard ports.
        pinned: ``--ip`` addresses, used for every named target instead of DNS.
        pins: ``--resolve`` entries.
        resolver: ``--resolver`` as (address, port); ``None``: /etc/resolv.conf's.
        ehlo_name: vedette's SMTP identity (``--ehlo``).
        exclusions: never contacted (``--exclude`` files' entries: CIDRs, addresses, names).
        xmpp_domain: ``--xmpp-domain``: for services located by SRV (XMPP), the domain served,
            used as the endpoint's name (the stream's ``to``, the SNI, the name the
            certificate must match) while the target only gives the addresses; ``None``: the
            target name is the domain, and a target without a port is located through SRV.
    """

    ports: tuple[int, ...] | None = None
    service: Service | None = None
    pinned: tuple[str, ...] = ()
    pins: tuple[Pin, ...] = ()
    resolver: tuple[str, int] | None = None
    ehlo_name: str = DEFAULT_EHLO
    exclusions: tuple[str, ...] = ()
    xmpp_domain: str | None = None


#: Report formats read from the store in batches, whatever the scan's size
#: (``vedette.report.stored``).
STREAMED_FORMATS = ("csv", "jsonl", "html", "summary")
#: Every report format, as ``--format`` takes them on ``report`` and ``scan``.
FORMATS = ("text", "json", *STREAMED_FORMATS)


@dataclass(frozen=True, slots=True, kw_only=True)
class Output:
    """Where results go and what the exit status says.

    Attributes:
        fail_on: ``--fail-on``, ``None`` when not given (see :attr:`ScanPlan.fail_threshold`).
        quiet: no progress bar, no summary. json: the JSON document instead of the terminal
            report. verbose: full capabilities and chains.
        store: record the scan (``--no-store`` clears it). db: ``--db`` URL, ``None`` for
            the default store.
        format: the report's format (``text``, ``json``, ``csv``, ``jsonl``, ``html``,
            ``summary``: :data:`FORMATS`). file: ``-o FILE``, ``None`` for
            standard output.
    """

    fail_on: Severity | None = None
    quiet: bool = False
    json: bool = False
    verbose: bool = False
    store: bool = True
    db: str | None = None
    format: str = "text"
    file: str | None = None


def _frozen_json(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanPlan:
    """Everything a scan needs, decided once.

    Attributes:
        source: the targets or their source.
        mode: how deep each endpoint is probed (default: by the kind of input).
        limits: timeouts, concurrency, per-address bound, rate.
        resolution: ports, service, pins, resolver, EHLO name, exclusions.
        clients: the client-matrix options (``--clients``, ``--as-of``, ``--inventory``...)
            as the JSON object stored with the scan; empty for none given.
        extra_roots: ``--ca`` roots, DER. intermediates: ``--intermediates``, DER.
        fetch_issuers: ``--fetch``: download missing issuers (named targets only).
        deep: finding ids whose endpoints a quick fleet scan probes again in full.
        cluster: ``--cluster`` scheduler address, ``None`` to probe here.
        seed: the key of a fleet scan's target permutation (fixed when the scan starts).
        output: where results go, and ``--fail-on``.
    """

    source: TargetSource = field(default_factory=TargetSource)
    mode: ScanMode
    limits: PlanLimits = field(default_factory=PlanLimits)
    resolution: Resolution = field(default_factory=Resolution)
    clients: Mapping[str, Any] = field(default_factory=dict)
    extra_roots: tuple[bytes, ...] = ()
    intermediates: tuple[bytes, ...] = ()
    fetch_issuers: bool = False
    deep: frozenset[str] = frozenset()
    cluster: str | None = None
    seed: bytes | None = None
    output: Output = field(default_factory=Output)

    def __post_init__(self) -> None:
        object.__setattr__(self, "clients", _frozen_json(self.clients))

    @property
    def kind(self) -> InputKind:
        return self.source.kind

    @property
    def fail_threshold(self) -> Severity | None:
        """The severity from which a finding makes the exit status 1, ``None`` for never:
        ``--fail-on`` when given; otherwise ``high`` for explicit targets and never for a
        fleet source."""
        if self.output.fail_on is not None:
            return self.output.fail_on
        return Severity.HIGH if self.kind is InputKind.EXPLICIT else None

    @staticmethod
    def default_mode(source: TargetSource) -> ScanMode:
        """Full for explicit targets, quick for a fleet source."""
        return ScanMode.FULL if source.kind is InputKind.EXPLICIT else ScanMode.QUICK
