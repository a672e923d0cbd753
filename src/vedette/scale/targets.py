"""Fleet targets: target files, CIDR sweeps, the exclusion list and the permutation key.

Pure code (no sockets, no clock): what is read here is spooled into the store by
``vedette.scale.spool`` and probed later by the runner.

Target file grammar (``--targets FILE`` or ``-`` for standard input), one target a line::

    # a comment; blank lines are ignored
    imaps://mail.example.org                 any target of the scan grammar
    mail.example.net:587 192.0.2.25          ... optionally followed by an address to pin
    198.51.100.0/28                          a CIDR (also scheme://CIDR, CIDR:port, [v6/n]:port)

A CSV report is a target file too, recognised by its header (a byte-order mark, quoted
fields and CRLF line ends are fine):

* Shadowserver's reports (``timestamp,ip,protocol,port,...``): their ``protocol`` is the
  transport (``tcp``), so each row is the target ``ip:port``, its service that of the port
  (``--service`` for the others);
* vedette's own CSV report (``timestamp,ip,port,protocol,hostname,...``): ``protocol`` is the
  service, and a row is ``protocol://hostname:port`` pinned to ``ip`` (``protocol://ip:port``
  for a bare address).

A CIDR expands to one target per address. Sweeps skip reserved and bogon ranges (private,
loopback, link-local, documentation, multicast, shared address space, IPv6 outside 2000::/3…)
unless ``--allow-reserved``; an address written as a target on its own is always allowed.

The exclusion list (``--exclude FILE``) holds CIDRs, addresses and names, one a line, ``#``
comments. A name excludes itself and every name under it. It is applied after resolution, to
the address actually connected to, so a name that resolves into an excluded network is never
contacted.
"""

from __future__ import annotations

import bisect
import csv
import hashlib
import ipaddress
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from vedette import plan
from vedette.errors import UsageError
from vedette.model import Service
from vedette.targets import TargetSpec, normalise_host, parse_port, parse_target, quoted

__all__ = [
    "DEFAULT_MAX_CIDR",
    "Exclusions",
    "TargetLine",
    "expand_line",
    "order_key",
    "parse_exclusions",
    "parse_target_file",
    "parse_target_line",
    "shard_bounds",
]

#: The most addresses one CIDR may expand to unless ``--max-cidr`` says otherwise (the plan's).
DEFAULT_MAX_CIDR = plan.DEFAULT_MAX_CIDR

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Reserved and bogon ranges skipped by CIDR sweeps (RFC 6890 special-purpose registries and
# Team Cymru's bogon list). For IPv6 only 2000::/3 is allocated for global unicast, so the
# complement of that range is skipped whole, and the special ranges inside it listed.
_BOGONS_V4 = (
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.0.0.0/24",
    "192.0.2.0/24",
    "192.88.99.0/24",
    "192.168.0.0/16",
    "198.18.0.0/15",
    "198.51.100.0/24",
    "203.0.113.0/24",
    "224.0.0.0/4",
    "240.0.0.0/4",
)
_BOGONS_V6 = (
    "::/3",
    "4000::/2",
    "8000::/1",
    "2001::/23",
    "2001:2::/48",
    "2001:10::/28",
    "2001:db8::/32",
    "2002::/16",
    "3ffe::/16",
    "3fff::/20",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TargetLine:
    """One line of a target file or one command-line target.

    Attributes:
        text: the target (a target of the scan grammar, or a CIDR form).
        pin: an address to connect to instead of resolving, ``""`` when none.
        where: ``FILE:LINE`` or ``argument`` for error messages.
    """

    text: str
    pin: str = ""
    where: str = "argument"


def parse_target_line(line: str, where: str) -> TargetLine | None:
    """A target-file line → ``TargetLine``; ``None`` for blank and comment lines."""
    body = line.split("#", 1)[0] if line.lstrip().startswith("#") else _strip_comment(line)
    fields = body.split()
    if not fields:
        return None
    if len(fields) > 2:
        raise UsageError(f"{where}: expected 'TARGET [ADDRESS]', got {body.strip()!r}")
    pin = ""
    if len(fields) == 2:
        try:
            pin = str(ipaddress.ip_address(fields[1]))
        except ValueError:
            raise UsageError(f"{where}: {fields[1]!r} is not an IP address to pin") from None
    return TargetLine(text=fields[0], pin=pin, where=where)


def _strip_comment(line: str) -> str:
    # '#' starts a comment at the start of a line or after whitespace; targets never hold one.
    for i, ch in enumerate(line):
        if ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i]
    return line


#: The longest line of a target file, and of a CSV report (whose rows carry banners).
MAX_LINE = 4096
MAX_CSV_LINE = 65536


def parse_target_file(lines: Iterable[str], source: str) -> Iterator[TargetLine]:
    """The targets of a target file, read lazily: one target a line, or a CSV report
    (Shadowserver's or vedette's own) recognised by its header."""
    it = iter(lines)
    first = next(it, None)
    if first is None:
        return
    first = first.removeprefix("\ufeff")
    kind = _csv_kind(first)
    if kind is None:
        for number, line in enumerate(itertools.chain([first], it), 1):
            if len(line) > MAX_LINE:
                raise UsageError(f"{source}:{number}: line too long")
            parsed = parse_target_line(line, f"{source}:{number}")
            if parsed is not None:
                yield parsed
        return
    yield from _csv_targets(itertools.chain([first], it), source, kind)


_SHADOWSERVER = ("timestamp", "ip", "protocol", "port")
_VEDETTE_CSV = ("timestamp", "ip", "port", "protocol", "hostname")


def _header(line: str) -> list[str]:
    try:
        row = next(csv.reader([line]), [])
    except csv.Error:
        return []
    return [cell.strip().lower() for cell in row]


def _csv_kind(first: str) -> str | None:
    """``shadowserver``, ``vedette`` or ``None`` (not a CSV report) from the first line."""
    if "," not in first:
        return None
    header = _header(first)
    if tuple(header[: len(_VEDETTE_CSV)]) == _VEDETTE_CSV:
        return "vedette"
    if tuple(header[: len(_SHADOWSERVER)]) == _SHADOWSERVER:
        return "shadowserver"
    return None


def _bounded(lines: Iterable[str], source: str) -> Iterator[str]:
    for number, line in enumerate(lines, 1):
        if len(line) > MAX_CSV_LINE:
            raise UsageError(f"{source}:{number}: line too long")
        yield line


def _csv_targets(lines: Iterable[str], source: str, kind: str) -> Iterator[TargetLine]:
    reader = csv.reader(_bounded(lines, source), strict=True)
    try:
        header = [cell.strip().lower() for cell in next(reader)]
        column = {name: i for i, name in reversed(list(enumerate(header)))}
        for row in reader:
            where = f"{source}:{reader.line_num}"
            if not row or all(not cell.strip() for cell in row):
                continue
            cells: dict[str, str] = {}
            for name in ("ip", "port", "protocol", "hostname"):
                i = column.get(name)
                cell = row[i].strip() if i is not None and i < len(row) else ""
                if not cell.isprintable():
                    raise UsageError(f"{where}: control characters in column {name}: {cell!r}")
                cells[name] = cell
            if kind == "shadowserver":
                yield _shadowserver_target(cells, where)
            else:
                yield _vedette_target(cells, where)
    except csv.Error as err:
        raise UsageError(f"{source}:{reader.line_num}: not a well-formed CSV row: {err}") from None


def _csv_port(cells: dict[str, str], where: str) -> str:
    port = cells["port"]
    if not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise UsageError(f"{where}: bad port {port!r} (expected 1-65535)")
    return str(int(port))


def _csv_address(cells: dict[str, str], where: str, *, required: bool) -> str:
    ip = cells["ip"]
    if not ip and not required:
        return ""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise UsageError(f"{where}: {ip!r} is not an IP address") from None
    return f"[{address}]" if address.version == 6 else str(address)


def _shadowserver_target(cells: dict[str, str], where: str) -> TargetLine:
    # Shadowserver's ``protocol`` is the transport; every service vedette speaks is on TCP.
    if cells["protocol"].lower() not in ("tcp", ""):
        raise UsageError(
            f"{where}: protocol {cells['protocol']!r}: vedette probes TCP services only"
        )
    address = _csv_address(cells, where, required=True)
    return TargetLine(text=f"{address}:{_csv_port(cells, where)}", where=where)


def _vedette_target(cells: dict[str, str], where: str) -> TargetLine:
    scheme = cells["protocol"].lower()
    try:
        Service(scheme)
    except ValueError:
        raise UsageError(f"{where}: unknown protocol {cells['protocol']!r}") from None
    port = _csv_port(cells, where)
    address = _csv_address(cells, where, required=not cells["hostname"])
    if not cells["hostname"]:
        return TargetLine(text=f"{scheme}://{address}:{port}", where=where)
    try:
        host, is_ip = normalise_host(cells["hostname"], cells["hostname"])
    except UsageError as err:
        raise UsageError(f"{where}: {err}") from None
    if is_ip and ":" in host:
        host = f"[{host}]"
    return TargetLine(text=f"{scheme}://{host}:{port}", pin=address.strip("[]"), where=where)


# --- CIDR ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Cidr:
    network: IPNetwork
    scheme: str
    port: int | None


def _parse_cidr(text: str, where: str) -> _Cidr | None:
    """The CIDR forms of the target grammar; ``None`` when ``text`` is not one."""
    if "/" not in text.split("://", 1)[-1]:
        return None
    scheme, rest = "", text
    if "://" in text:
        scheme, rest = text.split("://", 1)
        try:
            Service(scheme.lower())
        except ValueError:
            raise UsageError(f"{where}: unknown scheme {scheme!r} in {text!r}") from None
        scheme = scheme.lower()
    port: int | None = None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise UsageError(f"{where}: unclosed '[' in {text!r}")
        net_text, after = rest[1:end], rest[end + 1 :]
        if after:
            if not after.startswith(":"):
                raise UsageError(f"{where}: unexpected {after!r} after ']' in {text!r}")
            port = _port(after[1:], text, where)
    elif rest.count(":") == 1:
        net_text, port_text = rest.split(":")
        port = _port(port_text, text, where)
    else:
        net_text = rest
    try:
        network = ipaddress.ip_network(net_text, strict=False)
    except ValueError:
        raise UsageError(f"{where}: {net_text!r} is not a CIDR network") from None
    return _Cidr(network=network, scheme=scheme, port=port)


def _port(text: str, target: str, where: str) -> int:
    # ``where`` names the command-line target already, or a file line (then name the target)
    return parse_port(text, where if quoted(target) in where else f"{where}: {quoted(target)}")


def _intervals(networks: Iterable[IPNetwork]) -> list[tuple[int, int]]:
    """Merged, sorted ``[first, last]`` integer intervals covering ``networks``."""
    spans = sorted((int(n.network_address), int(n.broadcast_address)) for n in networks)
    merged: list[tuple[int, int]] = []
    for lo, hi in spans:
        if merged and lo <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(hi, merged[-1][1]))
        else:
            merged.append((lo, hi))
    return merged


_BOGON_INTERVALS = {
    4: _intervals(ipaddress.IPv4Network(n) for n in _BOGONS_V4),
    6: _intervals(ipaddress.IPv6Network(n) for n in _BOGONS_V6),
}


def _subtract(lo: int, hi: int, holes: list[tuple[int, int]]) -> Iterator[tuple[int, int]]:
    """``[lo, hi]`` minus the sorted, merged ``holes``, as intervals (jumps over whole holes,
    so a /8 sweep does not test sixteen million addresses one by one)."""
    start = lo
    i = max(0, bisect.bisect_right(holes, (lo, lo)) - 1)
    while start <= hi:
        while i < len(holes) and holes[i][1] < start:
            i += 1
        if i == len(holes) or holes[i][0] > hi:
            yield start, hi
            return
        h_lo, h_hi = holes[i]
        if h_lo > start:
            yield start, h_lo - 1
        start = h_hi + 1


def _address_target(address: IPAddress, cidr: _Cidr) -> str:
    host = str(address)
    if cidr.port is not None:
        shown = f"[{host}]" if address.version == 6 else host
        text = f"{shown}:{cidr.port}"
    else:
        text = host
    return f"{cidr.scheme}://{text}" if cidr.scheme else text


def expand_line(
    line: TargetLine, *, max_cidr: int = DEFAULT_MAX_CIDR, allow_reserved: bool = False
) -> Iterator[tuple[TargetSpec, str]]:
    """The targets of one line as ``(spec, pin)``: one for a target, one per address for a
    CIDR (reserved ranges skipped unless ``allow_reserved``). Lazy: a /8 is never a list."""
    cidr = _parse_cidr(line.text, line.where)
    if cidr is None:
        try:
            spec = parse_target(line.text)
        except UsageError as err:
            raise UsageError(f"{line.where}: {err}") from None
        yield spec, line.pin
        return
    if line.pin:
        raise UsageError(f"{line.where}: a CIDR cannot be pinned to an address")
    net = cidr.network
    if net.num_addresses > max_cidr:
        raise UsageError(
            f"{line.where}: {net} holds {net.num_addresses} addresses, more than the "
            f"--max-cidr limit of {max_cidr}"
        )
    lo, hi = int(net.network_address), int(net.broadcast_address)
    spans = [(lo, hi)] if allow_reserved else list(_subtract(lo, hi, _BOGON_INTERVALS[net.version]))
    factory = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    for first, last in spans:
        for value in range(first, last + 1):
            text = _address_target(factory(value), cidr)
            yield parse_target(text), ""


# --- exclusions ------------------------------------------------------------------------------


class Exclusions:
    """Networks and names never to contact. Lookups are a bisection per address family."""

    def __init__(self, networks: Iterable[IPNetwork] = (), names: Iterable[str] = ()) -> None:
        self._networks = tuple(sorted(set(networks), key=lambda n: (n.version, str(n))))
        self._names = frozenset(names)
        self._spans = {v: _intervals(n for n in self._networks if n.version == v) for v in (4, 6)}
        self._starts = {v: [lo for lo, _ in spans] for v, spans in self._spans.items()}

    @property
    def entries(self) -> tuple[str, ...]:
        """The list as text, to store with a scan (a resumed scan honours it too)."""
        return tuple(str(n) for n in self._networks) + tuple(sorted(self._names))

    def __bool__(self) -> bool:
        return bool(self._networks or self._names)

    def union(self, other: Exclusions) -> Exclusions:
        return Exclusions((*self._networks, *other._networks), self._names | other._names)

    def address_excluded(self, ip: str) -> bool:
        if not self._networks:  # the usual case, asked once per target and per endpoint
            return False
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return False
        # ::ffff:192.0.2.1 reaches 192.0.2.1: an IPv4 exclusion covers it.
        mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
        if mapped is not None and self.address_excluded(str(mapped)):
            return True
        value = int(address)
        spans, starts = self._spans[address.version], self._starts[address.version]
        i = bisect.bisect_right(starts, value) - 1
        return i >= 0 and spans[i][1] >= value

    def name_excluded(self, host: str) -> bool:
        labels = host.rstrip(".").lower().split(".")
        return any(".".join(labels[i:]) in self._names for i in range(len(labels)))


def parse_exclusions(lines: Iterable[str], source: str) -> Exclusions:
    """An exclusion file: CIDRs, addresses or names, one a line, ``#`` comments."""
    networks: list[IPNetwork] = []
    names: list[str] = []
    for number, line in enumerate(lines, 1):
        text = _strip_comment(line).strip()
        if not text:
            continue
        where = f"{source}:{number}"
        # IPv6 as written in targets: "[2001:db8::1]" or "[2001:db8::/32]"
        bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
        try:
            networks.append(ipaddress.ip_network(bare, strict=False))
            continue
        except ValueError:
            pass
        if "/" in text or ":" in text:
            raise UsageError(f"{where}: {quoted(text)} is neither a CIDR, an address nor a name")
        try:
            name, _ = normalise_host(text.lstrip("*.").lstrip("."), text)
        except UsageError as err:
            raise UsageError(f"{where}: {err}") from None
        names.append(name)
    return Exclusions(networks, names)


def exclusions_from_entries(entries: Iterable[str]) -> Exclusions:
    """The inverse of ``Exclusions.entries`` (what a resumed scan reads from the store)."""
    return parse_exclusions(entries, "stored exclusion list")


# --- permutation -----------------------------------------------------------------------------

#: Keys are below 2**62 (they fit a signed 64-bit column); the low 16 bits order the targets
#: of one host, the high bits order hosts.
KEY_BITS = 62
_HOST_SHIFT = 16


def order_key(seed: bytes, spec: TargetSpec, address: str = "") -> int:
    """A keyed pseudo-random position for a target.

    Targets are probed in key order, which scatters consecutive addresses of a sweep (no
    network sees a burst) without holding a shuffled list in memory: the database's index on
    the key is the permutation. The key's high bits come from the address the target
    connects to when it is known (an IP target, or ``address``: a pinned one), else from its
    name; so every target of one address (or of one unresolved name) sits together and a
    shard boundary on a multiple of 2**16 never splits them: per-host limits hold even when
    shards run on different machines. (The cluster runner pins named targets to their
    addresses before probing: ``vedette.scale.cluster``.)
    """
    if address:
        where = str(ipaddress.ip_address(address))
    elif spec.is_ip:
        where = str(ipaddress.ip_address(spec.host))
    else:
        where = spec.host
    host = hashlib.blake2b(where.encode(), key=seed, digest_size=8).digest()
    line = hashlib.blake2b(spec.text.encode(), key=seed, digest_size=8).digest()
    high = int.from_bytes(host, "big") >> (64 - (KEY_BITS - _HOST_SHIFT))
    return (high << _HOST_SHIFT) | (int.from_bytes(line, "big") & 0xFFFF)


def shard_bounds(count: int) -> list[tuple[int, int]]:
    """``count`` key ranges ``[lo, hi)`` covering every key, cut on host boundaries."""
    count = max(1, count)
    hosts = 1 << (KEY_BITS - _HOST_SHIFT)
    cuts = [(hosts * i // count) << _HOST_SHIFT for i in range(count + 1)]
    return [(cuts[i], cuts[i + 1]) for i in range(count) if cuts[i] < cuts[i + 1]]
