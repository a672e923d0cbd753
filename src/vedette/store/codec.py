"""Plain-dict forms of the model values, for the store and for anything else that persists them.

Scan plans (``vedette.plan.ScanPlan``) have theirs too (``plan_to_dict``/``plan_from_dict``,
format ``PLAN_FORMAT``), under the same conventions; a seed is hex.

``model.py`` knows nothing about serialisation; this module is the one adapter between the
frozen values and JSON-compatible dicts (``str``/``int``/``float``/``None``/``list``/``dict``
only). The mapping is exact: ``observation_from_dict(observation_to_dict(o)) == o``.

Conventions, fixed by ``OBSERVATION_FORMAT``:

* bytes (certificate DER) are standard base64 with padding;
* datetimes are ISO-8601 in UTC with an explicit ``+00:00`` offset. A naive datetime is
  refused on the way in (``ValueError``: it is a bug in the caller, the model says UTC) and a
  stored one without an offset is refused on the way out;
* enums are stored by value (``"submission"``, ``"tls-error"``), severities by label
  (``"high"``), so the stored text stays readable and independent of enum ordering;
* tuples become lists, and ``None`` stays ``null`` (``None`` and ``()`` mean different things
  in ``DialogueObservation``).

Reading is strict because stored rows outlive the code that wrote them: every key is checked
for presence and type, unknown keys are refused, and every failure is one ``StoreError`` with a
one-line message saying where (``observation.tls.chain_der[1]: invalid base64``) — never a
``KeyError`` or ``TypeError`` leaking out of a corrupt row.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

from vedette.errors import StoreError
from vedette.model import (
    Defence,
    DefenceKind,
    DialogueObservation,
    Endpoint,
    Failure,
    FailureKind,
    Finding,
    Observation,
    Service,
    Severity,
    Stage,
    TlsObservation,
)
from vedette.plan import FORMATS, Output, PlanLimits, Resolution, ScanMode, ScanPlan, TargetSource
from vedette.store._tls_codec import tls_scan_from_dict, tls_scan_to_dict
from vedette.targets import Pin

__all__ = [
    "OBSERVATION_FORMAT",
    "PLAN_FORMAT",
    "datetime_from_text",
    "datetime_to_text",
    "endpoint_from_dict",
    "endpoint_to_dict",
    "finding_from_dict",
    "finding_to_dict",
    "observation_from_dict",
    "observation_to_dict",
    "plan_from_dict",
    "plan_to_dict",
]

#: Version of the dict layout written by ``observation_to_dict`` (key ``"format"``). Bump it
#: when the layout changes, and keep reading the old versions.
OBSERVATION_FORMAT = 1

_E = TypeVar("_E")


# --- writing ---------------------------------------------------------------------------------


def datetime_to_text(value: datetime) -> str:
    """ISO-8601 in UTC (``2024-05-01T12:00:00.123456+00:00``); refuses naive datetimes."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"naive datetime {value.isoformat()} (vedette stores UTC times only)")
    return value.astimezone(UTC).isoformat()


def endpoint_to_dict(endpoint: Endpoint) -> dict[str, Any]:
    return {
        "host": endpoint.host,
        "ip": endpoint.ip,
        "port": endpoint.port,
        "service": endpoint.service.value,
    }


def _opt_lines(lines: tuple[str, ...] | None) -> list[str] | None:
    return None if lines is None else list(lines)


def observation_to_dict(obs: Observation) -> dict[str, Any]:
    """The JSON-compatible form of ``obs``, tagged with ``"format": OBSERVATION_FORMAT``."""
    dialogue: dict[str, Any] | None = None
    if obs.dialogue is not None:
        d = obs.dialogue
        dialogue = {
            "greeting": list(d.greeting),
            "capabilities_before_tls": _opt_lines(d.capabilities_before_tls),
            "starttls_reply": _opt_lines(d.starttls_reply),
            "capabilities_after_tls": _opt_lines(d.capabilities_after_tls),
        }
    tls: dict[str, Any] | None = None
    if obs.tls is not None:
        tls = {
            "version": obs.tls.version,
            "cipher": obs.tls.cipher,
            "sni": obs.tls.sni,
            "chain_der": [base64.b64encode(der).decode("ascii") for der in obs.tls.chain_der],
        }
    failure: dict[str, Any] | None = None
    if obs.failure is not None:
        failure = {
            "kind": obs.failure.kind.value,
            "stage": obs.failure.stage.value,
            "detail": obs.failure.detail,
        }
    out = {
        "format": OBSERVATION_FORMAT,
        "endpoint": endpoint_to_dict(obs.endpoint),
        "started_at": datetime_to_text(obs.started_at),
        "duration_s": obs.duration_s,
        "dialogue": dialogue,
        "tls": tls,
        "failure": failure,
        "connections": obs.connections,
    }
    # Optional key, written only in full mode: rows stored before it existed still load.
    if obs.tls_scan is not None:
        out["tls_scan"] = tls_scan_to_dict(obs.tls_scan)
    # Optional too: written only when the server defended itself.
    if obs.defences:
        out["defences"] = [
            {"kind": d.kind.value, "evidence": d.evidence, "after": d.after, "hits": d.hits}
            for d in obs.defences
        ]
    return out


def finding_to_dict(f: Finding) -> dict[str, Any]:
    """The JSON-compatible form of a finding (severity by label, endpoint as a nested dict)."""
    return {
        "id": f.id,
        "severity": f.severity.label,
        "title": f.title,
        "detail": f.detail,
        "remediation": f.remediation,
        "endpoint": endpoint_to_dict(f.endpoint),
        "evidence": list(f.evidence),
        "references": list(f.references),
    }


# --- reading ---------------------------------------------------------------------------------


class _Reader:
    """Typed, checked access to one dict of untrusted stored data.

    ``where`` is the dotted path used in error messages, so a bad row says exactly which field
    is wrong. ``done()`` refuses keys nobody asked for: a row written by a newer layout under the
    same format number is corrupt, not something to half-read.
    """

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, Mapping):
            raise StoreError(f"{where}: expected an object, got {_kind(data)}")
        self._data: Mapping[Any, Any] = data
        self._where = where
        self._seen: set[str] = set()

    def _get(self, key: str) -> object:
        self._seen.add(key)
        if key not in self._data:
            raise StoreError(f"{self._where}: missing field {key!r}")
        return self._data[key]

    def path(self, key: str) -> str:
        return f"{self._where}.{key}"

    def raw(self, key: str) -> object:
        return self._get(key)

    def optional(self, key: str) -> object:
        """The value of a key that older layouts may lack (``None`` when absent)."""
        self._seen.add(key)
        return self._data.get(key)

    def text(self, key: str) -> str:
        value = self._get(key)
        if not isinstance(value, str):
            raise StoreError(f"{self.path(key)}: expected a string, got {_kind(value)}")
        return value

    def opt_text(self, key: str) -> str | None:
        return None if self._get(key) is None else self.text(key)

    def integer(self, key: str, *, low: int, high: int | None = None) -> int:
        value = self._get(key)
        # bool is an int subclass; a stored ``true`` for a port is corruption, not 1.
        if not isinstance(value, int) or isinstance(value, bool):
            raise StoreError(f"{self.path(key)}: expected an integer, got {_kind(value)}")
        if value < low or (high is not None and value > high):
            raise StoreError(f"{self.path(key)}: {value} is out of range")
        return value

    def number(self, key: str) -> float:
        value = self._get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise StoreError(f"{self.path(key)}: expected a number, got {_kind(value)}")
        result = float(value)
        if not math.isfinite(result) or result < 0:
            raise StoreError(f"{self.path(key)}: {value!r} is not a duration")
        return result

    def lines(self, key: str) -> tuple[str, ...]:
        value = self._get(key)
        if not isinstance(value, list):
            raise StoreError(f"{self.path(key)}: expected a list, got {_kind(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise StoreError(f"{self.path(key)}[{i}]: expected a string, got {_kind(item)}")
        return tuple(value)

    def opt_lines(self, key: str) -> tuple[str, ...] | None:
        return None if self._get(key) is None else self.lines(key)

    def enum(self, key: str, parse: Callable[[str], _E]) -> _E:
        text = self.text(key)
        try:
            return parse(text)
        except ValueError:
            raise StoreError(f"{self.path(key)}: unknown value {_short(text)}") from None

    def time(self, key: str) -> datetime:
        return datetime_from_text(self.text(key), where=self.path(key))

    def done(self) -> None:
        extra = sorted(str(k) for k in self._data if k not in self._seen)
        if extra:
            raise StoreError(f"{self._where}: unknown field(s) {', '.join(map(_short, extra))}")


def _kind(value: object) -> str:
    return "null" if value is None else type(value).__name__


def _short(value: object) -> str:
    # Error messages are one line and bounded, whatever a corrupt row holds (repr escapes
    # newlines and controls).
    shown = repr(value)
    return shown if len(shown) <= 60 else shown[:57] + "..."


def datetime_from_text(text: str, *, where: str = "datetime") -> datetime:
    """Parse what ``datetime_to_text`` wrote; the result is aware, in UTC."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise StoreError(f"{where}: not an ISO-8601 time: {_short(text)}") from None
    if value.tzinfo is None:
        raise StoreError(f"{where}: time without a UTC offset: {_short(text)}")
    return value.astimezone(UTC)


def endpoint_from_dict(data: object, *, where: str = "endpoint") -> Endpoint:
    r = _Reader(data, where)
    endpoint = Endpoint(
        host=r.opt_text("host"),
        ip=r.opt_text("ip"),
        port=r.integer("port", low=0, high=65535),
        service=r.enum("service", Service),
    )
    r.done()
    return endpoint


def _dialogue_from_dict(data: object, where: str) -> DialogueObservation:
    r = _Reader(data, where)
    dialogue = DialogueObservation(
        greeting=r.lines("greeting"),
        capabilities_before_tls=r.opt_lines("capabilities_before_tls"),
        starttls_reply=r.opt_lines("starttls_reply"),
        capabilities_after_tls=r.opt_lines("capabilities_after_tls"),
    )
    r.done()
    return dialogue


def _tls_from_dict(data: object, where: str) -> TlsObservation:
    r = _Reader(data, where)
    chain: list[bytes] = []
    for i, item in enumerate(r.lines("chain_der")):
        try:
            chain.append(base64.b64decode(item, validate=True))
        except (binascii.Error, ValueError):
            raise StoreError(f"{r.path('chain_der')}[{i}]: invalid base64") from None
    tls = TlsObservation(
        version=r.text("version"),
        cipher=r.text("cipher"),
        sni=r.opt_text("sni"),
        chain_der=tuple(chain),
    )
    r.done()
    return tls


def _failure_from_dict(data: object, where: str) -> Failure:
    r = _Reader(data, where)
    failure = Failure(
        kind=r.enum("kind", FailureKind),
        stage=r.enum("stage", Stage),
        detail=r.text("detail"),
    )
    r.done()
    return failure


def _defences_from_dict(data: object, where: str) -> tuple[Defence, ...]:
    if not isinstance(data, list):
        raise StoreError(f"{where}: expected a list, got {_kind(data)}")
    out: list[Defence] = []
    for i, item in enumerate(data):
        r = _Reader(item, f"{where}[{i}]")
        out.append(
            Defence(
                kind=r.enum("kind", DefenceKind),
                evidence=r.text("evidence"),
                after=r.integer("after", low=0),
                hits=r.integer("hits", low=0),
            )
        )
        r.done()
    return tuple(out)


def observation_from_dict(d: object) -> Observation:
    """Rebuild an ``Observation`` from ``observation_to_dict``'s output.

    Raises ``StoreError`` (one line, naming the bad field) for anything else: a non-dict, an
    unknown ``format``, a missing, mistyped or unknown field, an unknown enum value, bad base64
    or a time without an offset.
    """
    r = _Reader(d, "observation")
    fmt = r.raw("format")
    if fmt != OBSERVATION_FORMAT or isinstance(fmt, bool):
        raise StoreError(
            f"observation: unsupported format {_short(fmt)} "
            f"(this vedette reads format {OBSERVATION_FORMAT})"
        )
    dialogue_raw = r.raw("dialogue")
    tls_raw = r.raw("tls")
    failure_raw = r.raw("failure")
    tls_scan_raw = r.optional("tls_scan")
    defences_raw = r.optional("defences")
    obs = Observation(
        endpoint=endpoint_from_dict(r.raw("endpoint"), where=r.path("endpoint")),
        started_at=r.time("started_at"),
        duration_s=r.number("duration_s"),
        dialogue=None
        if dialogue_raw is None
        else _dialogue_from_dict(dialogue_raw, r.path("dialogue")),
        tls=None if tls_raw is None else _tls_from_dict(tls_raw, r.path("tls")),
        failure=None if failure_raw is None else _failure_from_dict(failure_raw, r.path("failure")),
        connections=r.integer("connections", low=0),
        tls_scan=None
        if tls_scan_raw is None
        else tls_scan_from_dict(tls_scan_raw, r.path("tls_scan")),
        defences=()
        if defences_raw is None
        else _defences_from_dict(defences_raw, r.path("defences")),
    )
    r.done()
    return obs


def finding_from_dict(d: object) -> Finding:
    """Rebuild a ``Finding`` from ``finding_to_dict``'s output; ``StoreError`` otherwise."""
    r = _Reader(d, "finding")
    finding = Finding(
        id=r.text("id"),
        severity=r.enum("severity", Severity.parse),
        title=r.text("title"),
        detail=r.text("detail"),
        remediation=r.text("remediation"),
        endpoint=endpoint_from_dict(r.raw("endpoint"), where=r.path("endpoint")),
        evidence=r.lines("evidence"),
        references=r.lines("references"),
    )
    r.done()
    return finding


# --- scan plans ------------------------------------------------------------------------------

#: Version of the dict layout written by ``plan_to_dict`` (key ``"format"``).
PLAN_FORMAT = 1

#: Bounds a stored plan is held to: those of the command line that built it.
_MAX_SECONDS = 3600.0
_MAX_COUNT = 10_000
_MAX_RATE = 1_000_000.0
_MAX_SCAN_ID = (1 << 63) - 1


def plan_to_dict(plan: ScanPlan) -> dict[str, Any]:
    """The JSON-compatible form of a scan plan, tagged with ``"format": PLAN_FORMAT``.

    Bytes are base64 (roots, intermediates) or hex (the seed), enums by value, severities by
    label, sets sorted: the same plan always gives the same text."""
    src, lim, res, out = plan.source, plan.limits, plan.resolution, plan.output
    return {
        "format": PLAN_FORMAT,
        "source": {
            "targets": list(src.targets),
            "file": src.file,
            "resume": src.resume,
            "max_cidr": src.max_cidr,
            "allow_reserved": src.allow_reserved,
        },
        "mode": plan.mode.value,
        "limits": {
            "connect_timeout": lim.connect_timeout,
            "read_timeout": lim.read_timeout,
            "endpoint_timeout": lim.endpoint_timeout,
            "concurrency": lim.concurrency,
            "per_host": lim.per_host,
            "rate": lim.rate,
        },
        "resolution": {
            "ports": None if res.ports is None else list(res.ports),
            "service": None if res.service is None else res.service.value,
            "pinned": list(res.pinned),
            "pins": [
                {"host": p.host, "port": p.port, "addresses": list(p.addresses)} for p in res.pins
            ],
            "resolver": None if res.resolver is None else list(res.resolver),
            "ehlo_name": res.ehlo_name,
            "exclusions": list(res.exclusions),
            "xmpp_domain": res.xmpp_domain,
        },
        "clients": _plain_json(plan.clients),
        "extra_roots": [base64.b64encode(der).decode("ascii") for der in plan.extra_roots],
        "intermediates": [base64.b64encode(der).decode("ascii") for der in plan.intermediates],
        "fetch_issuers": plan.fetch_issuers,
        "deep": sorted(plan.deep),
        "cluster": plan.cluster,
        "seed": None if plan.seed is None else plan.seed.hex(),
        "output": {
            "fail_on": None if out.fail_on is None else out.fail_on.label,
            "quiet": out.quiet,
            "json": out.json,
            "verbose": out.verbose,
            "store": out.store,
            "db": out.db,
            "format": out.format,
            "file": out.file,
        },
    }


def _plain_json(value: Any) -> Any:
    """A deep copy of JSON data as plain dicts and lists (the plan holds read-only views)."""
    if isinstance(value, Mapping):
        return {str(k): _plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain_json(v) for v in value]
    return value


class _PlanReader(_Reader):
    """``_Reader`` with the checks a stored plan needs beyond an observation's."""

    def flag(self, key: str) -> bool:
        value = self._get(key)
        if not isinstance(value, bool):
            raise StoreError(f"{self.path(key)}: expected true or false, got {_kind(value)}")
        return value

    def seconds(self, key: str) -> float:
        value = self.number(key)
        if not 0 < value <= _MAX_SECONDS:
            raise StoreError(f"{self.path(key)}: {value!r} is out of range")
        return value

    def opt_rate(self, key: str) -> float | None:
        if self.raw(key) is None:
            return None
        value = self.number(key)
        if not 0 < value <= _MAX_RATE:
            raise StoreError(f"{self.path(key)}: {value!r} is out of range")
        return value

    def opt_int(self, key: str, *, low: int, high: int) -> int | None:
        return None if self.raw(key) is None else self.integer(key, low=low, high=high)

    def address(self, value: object, where: str) -> str:
        if not isinstance(value, str):
            raise StoreError(f"{where}: expected a string, got {_kind(value)}")
        try:
            return str(ipaddress.ip_address(value))
        except ValueError:
            raise StoreError(f"{where}: not an IP address: {_short(value)}") from None

    def items(self, key: str) -> list[object]:
        value = self._get(key)
        if not isinstance(value, list):
            raise StoreError(f"{self.path(key)}: expected a list, got {_kind(value)}")
        return value

    def der_list(self, key: str) -> tuple[bytes, ...]:
        out = []
        for i, item in enumerate(self.lines(key)):
            try:
                der = base64.b64decode(item, validate=True)
            except (binascii.Error, ValueError):
                raise StoreError(f"{self.path(key)}[{i}]: invalid base64") from None
            if not der:
                raise StoreError(f"{self.path(key)}[{i}]: empty certificate")
            out.append(der)
        return tuple(out)


def _strict(data: object, where: str, build: Callable[[_PlanReader], _E]) -> _E:
    """``build`` over a reader of ``data``, which must hold no field ``build`` did not read."""
    r = _PlanReader(data, where)
    value = build(r)
    r.done()
    return value


def _port(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 < value <= 65535:
        raise StoreError(f"{where}: not a port: {_short(value)}")
    return value


def _source_from_dict(data: object, where: str) -> TargetSource:
    return _strict(
        data,
        where,
        lambda r: TargetSource(
            targets=r.lines("targets"),
            file=r.opt_text("file"),
            resume=r.opt_int("resume", low=1, high=_MAX_SCAN_ID),
            max_cidr=r.integer("max_cidr", low=1, high=1 << 32),
            allow_reserved=r.flag("allow_reserved"),
        ),
    )


def _limits_from_dict(data: object, where: str) -> PlanLimits:
    return _strict(
        data,
        where,
        lambda r: PlanLimits(
            connect_timeout=r.seconds("connect_timeout"),
            read_timeout=r.seconds("read_timeout"),
            endpoint_timeout=r.seconds("endpoint_timeout"),
            concurrency=r.integer("concurrency", low=1, high=_MAX_COUNT),
            per_host=r.integer("per_host", low=1, high=_MAX_COUNT),
            rate=r.opt_rate("rate"),
        ),
    )


def _pin_from_dict(data: object, where: str) -> Pin:
    r = _PlanReader(data, where)
    host = r.text("host")
    if not host or not host.isprintable() or any(ch.isspace() for ch in host):
        raise StoreError(f"{r.path('host')}: not a host name: {_short(host)}")
    port = r.raw("port")
    addresses = r.items("addresses")
    if not addresses:
        raise StoreError(f"{r.path('addresses')}: no address")
    pin = Pin(
        host=host,
        port=None if port is None else _port(port, r.path("port")),
        addresses=tuple(
            r.address(a, f"{r.path('addresses')}[{i}]") for i, a in enumerate(addresses)
        ),
    )
    r.done()
    return pin


def _resolution_from_dict(data: object, where: str) -> Resolution:
    r = _PlanReader(data, where)
    ports = r.raw("ports")
    resolver = r.raw("resolver")
    if resolver is not None and not (isinstance(resolver, list) and len(resolver) == 2):
        raise StoreError(f"{r.path('resolver')}: expected [address, port]")
    ehlo = r.text("ehlo_name")
    if not ehlo or len(ehlo) > 255 or any(ch.isspace() or not ch.isprintable() for ch in ehlo):
        raise StoreError(f"{r.path('ehlo_name')}: not a usable host name: {_short(ehlo)}")
    resolution = Resolution(
        ports=None
        if ports is None
        else tuple(_port(p, f"{r.path('ports')}[{i}]") for i, p in enumerate(r.items("ports"))),
        service=None if r.raw("service") is None else r.enum("service", Service),
        pinned=tuple(
            r.address(a, f"{r.path('pinned')}[{i}]") for i, a in enumerate(r.items("pinned"))
        ),
        pins=tuple(
            _pin_from_dict(p, f"{r.path('pins')}[{i}]") for i, p in enumerate(r.items("pins"))
        ),
        resolver=None
        if resolver is None
        else (
            r.address(resolver[0], f"{r.path('resolver')}[0]"),
            _port(resolver[1], f"{r.path('resolver')}[1]"),
        ),
        ehlo_name=ehlo,
        exclusions=r.lines("exclusions"),
        xmpp_domain=_optional_text(r.optional("xmpp_domain"), r.path("xmpp_domain")),
    )
    r.done()
    return resolution


def _report_format(value: object, where: str) -> str:
    # Plans stored before ``--format`` existed on scan have none: the terminal report.
    if value is None:
        return "text"
    if value not in FORMATS:
        raise StoreError(f"{where}: {_kind(value)} is not a report format")
    return str(value)


def _optional_text(value: object, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise StoreError(f"{where}: expected a string, got {_kind(value)}")
    return value


def _output_from_dict(data: object, where: str) -> Output:
    return _strict(
        data,
        where,
        lambda r: Output(
            fail_on=None if r.raw("fail_on") is None else r.enum("fail_on", Severity.parse),
            quiet=r.flag("quiet"),
            json=r.flag("json"),
            verbose=r.flag("verbose"),
            store=r.flag("store"),
            db=r.opt_text("db"),
            format=_report_format(r.optional("format"), r.path("format")),
            file=_optional_text(r.optional("file"), r.path("file")),
        ),
    )


def plan_from_dict(d: object) -> ScanPlan:
    """Rebuild a ``ScanPlan`` from ``plan_to_dict``'s output.

    Strict like ``observation_from_dict``: anything else (a wrong type, a missing or unknown
    field, a value the command line would have refused) is one ``StoreError`` naming the field.
    """
    r = _PlanReader(d, "plan")
    fmt = r.raw("format")
    if fmt != PLAN_FORMAT or isinstance(fmt, bool):
        raise StoreError(
            f"plan: unsupported format {_short(fmt)} (this vedette reads format {PLAN_FORMAT})"
        )
    clients = r.raw("clients")
    if not isinstance(clients, Mapping):
        raise StoreError(f"{r.path('clients')}: expected an object, got {_kind(clients)}")
    seed_text = r.opt_text("seed")
    seed: bytes | None = None
    if seed_text is not None:
        try:
            seed = bytes.fromhex(seed_text)
        except ValueError:
            seed = b""
        if len(seed) != 16:
            raise StoreError(f"{r.path('seed')}: expected 32 hex digits: {_short(seed_text)}")
    plan = ScanPlan(
        source=_source_from_dict(r.raw("source"), r.path("source")),
        mode=r.enum("mode", ScanMode),
        limits=_limits_from_dict(r.raw("limits"), r.path("limits")),
        resolution=_resolution_from_dict(r.raw("resolution"), r.path("resolution")),
        clients=_plain_json(clients),
        extra_roots=r.der_list("extra_roots"),
        intermediates=r.der_list("intermediates"),
        fetch_issuers=r.flag("fetch_issuers"),
        deep=frozenset(r.lines("deep")),
        cluster=r.opt_text("cluster"),
        seed=seed,
        output=_output_from_dict(r.raw("output"), r.path("output")),
    )
    r.done()
    return plan
