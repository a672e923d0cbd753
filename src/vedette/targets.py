"""The target grammar, one for every vedette command.

    host                      every default port of the mail services (or --ports)
    host:port                 one port; its service from the port number or --service
    scheme://host[:port]      the service from the scheme, its default port unless given
    [2001:db8::1]:993         IPv6 literals in brackets when a port or scheme follows

Schemes: every ``vedette.model.Service`` (smtp, imaps, ldap, xmpp, sieve...), each with its
default port; a bare ``host`` covers those ``scanned_by_default``. The README's table lists them.

Parsing is pure; names are resolved later (``vedette.resolve``). A bare IP address has no name:
no SNI is sent and no certificate name check applies.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass

from vedette.errors import UsageError
from vedette.model import Service

#: Ports scanned on a bare host, in the order the report lists them.
DEFAULT_PORTS: tuple[int, ...] = tuple(s.default_port for s in Service if s.scanned_by_default)

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetSpec:
    """A parsed target.

    Attributes:
        text: the target as written.
        host: a lower-case DNS name in A-label form, or an IP address literal.
        is_ip: ``host`` is an IP address (no name to match, no SNI).
        port: the explicit port, ``None`` when the target named none.
        service: the scheme's service, ``None`` when no scheme was given.
    """

    text: str
    host: str
    is_ip: bool
    port: int | None
    service: Service | None


#: Longest argument quoted whole in an error message: a 10,000-character host name makes one
#: readable line, not 20 KB of it.
_QUOTE_MAX = 80


def quoted(text: str) -> str:
    """``text`` for an error message: its ``repr`` (control characters escaped), cut to
    ``_QUOTE_MAX`` characters with its full length said when longer."""
    if len(text) <= _QUOTE_MAX:
        return repr(text)
    return f"{text[:_QUOTE_MAX]!r}... ({len(text)} characters)"


def parse_port(text: str, where: str) -> int:
    """A TCP port, 1-65535 in ASCII digits (``int`` would also take ``"\u0663"``, and raise on
    ``"\u00b2"`` or on 5,000 digits); UsageError naming ``where`` otherwise."""
    if not (text.isascii() and text.isdigit() and len(text) <= 5) or not 0 < int(text) < 65536:
        raise UsageError(f"bad port {quoted(text)} in {where} (expected 1-65535)")
    return int(text)


def normalise_host(host: str, target: str) -> tuple[str, bool]:
    """``(host, is_ip)`` with names in lower-case A-label form; UsageError when invalid."""
    try:
        return str(ipaddress.ip_address(host)), True
    except ValueError:
        pass
    name = host.rstrip(".")
    if not name:
        raise UsageError(f"no host in target {quoted(target)}")
    try:
        name = name.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise UsageError(f"invalid host name {quoted(host)} in target {quoted(target)}") from None
    labels = name.split(".")
    if len(name) > 253 or not all(_LABEL.match(label) for label in labels):
        raise UsageError(f"invalid host name {quoted(host)} in target {quoted(target)}")
    if all(label.isdigit() for label in labels):
        raise UsageError(f"invalid IP address {quoted(host)} in target {quoted(target)}")
    return name, False


def parse_target(text: str) -> TargetSpec:
    """Parse one target of the grammar above; raise UsageError with a one-line reason."""
    raw = text.strip()
    if not raw:
        raise UsageError("empty target")
    service: Service | None = None
    rest = raw
    if "://" in raw:
        scheme, rest = raw.split("://", 1)
        try:
            service = Service(scheme.lower())
        except ValueError:
            known = ", ".join(s.value for s in Service)
            raise UsageError(
                f"unknown scheme {quoted(scheme)} in {quoted(raw)} (known: {known})"
            ) from None
        rest = rest.rstrip("/")
        if "/" in rest or "?" in rest or "@" in rest:
            raise UsageError(
                f"target {quoted(raw)} has a path or user part; give scheme://host[:port]"
            )
    port: int | None = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise UsageError(f"unclosed '[' in target {quoted(raw)}")
        host, after = rest[1:end], rest[end + 1 :]
        if after:
            if not after.startswith(":"):
                raise UsageError(f"unexpected {quoted(after)} after ']' in target {quoted(raw)}")
            port = parse_port(after[1:], f"target {quoted(raw)}")
        try:
            if ipaddress.ip_address(host).version != 6:
                raise ValueError
        except ValueError:
            raise UsageError(
                f"brackets must hold an IPv6 address in target {quoted(raw)}"
            ) from None
    elif rest.count(":") > 1:
        # An IPv6 literal without brackets can carry no port.
        host = rest
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise UsageError(
                f"invalid target {quoted(raw)}; write IPv6 addresses as [addr]:port"
            ) from None
    elif ":" in rest:
        host, port_text = rest.split(":", 1)
        port = parse_port(port_text, f"target {quoted(raw)}")
    else:
        host = rest
    host, is_ip = normalise_host(host, raw)
    return TargetSpec(text=raw, host=host, is_ip=is_ip, port=port, service=service)


def plan_ports(
    spec: TargetSpec,
    *,
    ports: Sequence[int] | None = None,
    service: Service | None = None,
) -> tuple[tuple[int, Service], ...]:
    """The (port, service) pairs to probe for one target.

    A scheme fixes the service; an explicit port comes next; ``ports`` (``--ports``) replaces
    the default list for targets that name no port. A port with no standard service needs a
    scheme or ``service`` (``--service``).
    """
    if spec.service is not None:
        return ((spec.port or spec.service.default_port, spec.service),)
    chosen = (spec.port,) if spec.port is not None else tuple(ports or DEFAULT_PORTS)
    plan: list[tuple[int, Service]] = []
    for port in chosen:
        svc = service or Service.for_port(port)
        if svc is None:
            raise UsageError(
                f"port {port} of {spec.text!r} has no standard service: "
                f"write a scheme (e.g. smtp://{spec.text}) or give --service"
            )
        plan.append((port, svc))
    return tuple(plan)


def parse_ports(text: str) -> tuple[int, ...]:
    """``--ports 25,587,993``: a comma-separated list, duplicates removed, order kept."""
    out: list[int] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        port = parse_port(part, "--ports")
        if port not in out:
            out.append(port)
    if not out:
        raise UsageError("--ports needs at least one port")
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    """curl's ``--resolve HOST:PORT:ADDRESS[,ADDRESS…]``; ``port`` None stands for ``*``."""

    host: str
    port: int | None
    addresses: tuple[str, ...]


def parse_resolve(text: str) -> Pin:
    """Parse ``HOST:PORT:ADDRESS[,ADDRESS...]`` (PORT may be ``*``; IPv6 in brackets)."""
    parts = text.split(":", 2)
    if len(parts) != 3 or not parts[0] or not parts[2]:
        raise UsageError(f"--resolve wants HOST:PORT:ADDRESS, got {quoted(text)}")
    host, _ = normalise_host(parts[0], text)
    port = None if parts[1] == "*" else parse_port(parts[1], f"--resolve {quoted(text)}")
    addresses = tuple(
        parse_address(a.strip(), f"--resolve {quoted(text)}") for a in parts[2].split(",")
    )
    return Pin(host=host, port=port, addresses=addresses)


def parse_address(text: str, where: str) -> str:
    """An IP address, IPv6 optionally in brackets; UsageError otherwise."""
    candidate = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        raise UsageError(f"{where}: {quoted(text)} is not an IP address") from None
