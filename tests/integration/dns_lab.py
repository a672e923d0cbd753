"""A DNS world on loopback: Knot serving test zones (DNSSEC-signed on request), Unbound
validating them from the tests' own trust anchors.

Shared by every test that needs real DNS (SRV discovery, the mail domain's MX/SPF/DKIM/DMARC/
MTA-STS/TLSA records): the tests point vedette's ``--resolver`` at ``DnsLab.resolver`` (the
validating Unbound) or at ``DnsLab.authoritative`` (Knot itself, no validation), and nothing
ever reaches the system resolver or the internet:

* Knot answers only for the zones given (REFUSED for anything else); it signs the zones marked
  ``signed`` itself at load (ECDSA P-256; NSEC, or NSEC3 for zones marked ``nsec3``), with
  keys kept in the lab's directory.
* Unbound forwards the whole name space (``.``) to Knot, so it never primes from the root
  servers, and holds one trust anchor per signed zone: the zone's key-signing key as Knot
  published it. ``bogus`` zones get a made-up anchor instead, so their answers fail validation
  (SERVFAIL, as a validating resolver returns for a broken chain); unsigned zones and signed
  zones without an anchor are insecure (answers without the AD flag).
* A zone under another lab zone is delegated from it (NS and glue added to the parent). A
  signed child gets its DS at the parent, from a key-signing key made with ``keymgr`` before
  Knot starts, and no anchor of its own: the chain of trust runs from the top zone's anchor.
  ``ds_mismatch`` puts a DS for no key of the child at the parent (bogus); ``expired`` serves
  the child signed (by dnspython, with the lab's own key) with signatures that expired a day
  ago, and the parent's DS matching that key (bogus). An unsigned child is an insecure
  delegation (NSEC at the parent proves there is no DS).

Bad DNS is scripted apart: :func:`scripted_dns` answers on loopback with a SERVFAIL, silence
(a timeout), a truncated UDP answer whose TCP retry is whole, or a CNAME loop, per name.

Usage::

    zone = Zone("mail.test.", ["@ 300 MX 10 mx1", "mx1 300 A 127.0.0.25"], signed=True)
    with dns_lab([zone]) as lab:
        run_vedette("scan", "--resolver", lab.resolver_arg, ...)

Knot runs as root here (its files live in a private directory); both daemons are started by the
fixture and stopped by their pid.
"""

from __future__ import annotations

import base64
import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rdatatype

from tests.integration.realservers import (
    RunningServer,
    ServerStartError,
    ServerUnavailable,
    find_binary,
)

#: Loopback addresses of the lab: Knot (authoritative) and Unbound (validating resolver).
AUTH_ADDRESS = "127.0.0.54"
RESOLVER_ADDRESS = "127.0.0.55"
_READY = 30.0  # seconds; a hang detector (both start in well under a second)


@dataclass(frozen=True, slots=True)
class Zone:
    """A test zone: its origin (absolute, ending in a dot) and zone-file lines.

    ``records`` are master-file lines relative to the origin (``"mx1 300 A 127.0.0.25"``,
    ``'@ 300 TXT "v=spf1 -all"'``); SOA and NS are added. ``signed``: Knot signs the zone and
    Unbound trusts its key; ``bogus``: signed, but Unbound holds a wrong anchor for it.
    ``nsec3``: Knot denies with NSEC3 (no salt, no extra iterations, RFC 9276) instead of
    NSEC: ``"opt-out"`` as most top-level domains do, ``"strict"`` without opt-out.
    """

    origin: str
    records: Sequence[str] = ()
    signed: bool = False
    bogus: bool = False
    ds_mismatch: bool = False
    expired: bool = False
    nsec3: str = ""

    @property
    def knot_signed(self) -> bool:
        """Knot signs it (an ``expired`` zone comes signed already)."""
        return (self.signed or self.bogus or self.ds_mismatch) and not self.expired


@dataclass(slots=True)
class DnsLab:
    """The running lab. ``anchors``: the DNSKEY text Unbound trusts, by zone origin."""

    authoritative: tuple[str, int]
    resolver: tuple[str, int]
    directory: Path
    anchors: dict[str, str] = field(default_factory=dict)
    daemons: list[RunningServer] = field(default_factory=list)

    @property
    def resolver_arg(self) -> str:
        """``ADDRESS:PORT`` of the validating resolver, as ``--resolver`` takes it."""
        return f"{self.resolver[0]}:{self.resolver[1]}"

    @property
    def authoritative_arg(self) -> str:
        """``ADDRESS:PORT`` of Knot itself (answers without validation)."""
        return f"{self.authoritative[0]}:{self.authoritative[1]}"

    def logs(self) -> str:
        return "\n".join(f"--- {d.name} ---\n{d.log()}" for d in self.daemons)


def _free_port(address: str) -> int:
    # A port free for both UDP and TCP on ``address``.
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind((address, 0))
            port = int(tcp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                try:
                    udp.bind((address, port))
                except OSError:
                    continue
            return port
    raise ServerStartError(f"no port free for UDP and TCP on {address}")


def _zone_text(zone: Zone, extra: Sequence[str] = ()) -> str:
    lines = [
        f"$ORIGIN {zone.origin}",
        "$TTL 300",
        f"@ 300 SOA ns.{zone.origin} hostmaster.{zone.origin} 1 3600 600 86400 300",
        f"@ 300 NS ns.{zone.origin}",
        f"ns 300 A {AUTH_ADDRESS}",
        *zone.records,
        *extra,
    ]
    return "\n".join(lines) + "\n"


def _parent(zone: Zone, zones: Sequence[Zone]) -> Zone | None:
    """The closest lab zone above ``zone``."""
    above = [
        z
        for z in zones
        if z.origin != zone.origin and zone.origin.lower().endswith("." + z.origin.lower())
    ]
    return max(above, key=lambda z: len(z.origin), default=None)


def _keymgr_ds(conf: Path, zone: Zone) -> str:
    """Make ``zone``'s key-signing key with keymgr (Knot signs with it later); its DS text."""
    keymgr = find_binary("keymgr")
    for argv in (
        [keymgr, "-c", str(conf), zone.origin, "generate", "algorithm=ecdsap256sha256", "ksk=yes"],
        [keymgr, "-c", str(conf), zone.origin, "generate", "algorithm=ecdsap256sha256", "zsk=yes"],
        [keymgr, "-c", str(conf), zone.origin, "ds"],
    ):
        out = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        if out.returncode != 0:
            raise ServerStartError(f"keymgr failed for {zone.origin}: {out.stderr or out.stdout}")
    # "c.test. DS 20953 13 2 1cf0...": the SHA-256 one.
    line = next(ln for ln in out.stdout.splitlines() if ln.split()[4:5] == ["2"])
    return " ".join(line.split()[1:])


def _presigned_expired(zone: Zone, extra: Sequence[str]) -> tuple[str, str]:
    """``zone`` signed by dnspython with signatures that expired a day ago; (text, DS)."""
    import datetime as dt
    import warnings

    import dns.zone
    from cryptography.hazmat.primitives.asymmetric import ec

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import dns.dnssec

    key = ec.generate_private_key(ec.SECP256R1())
    dnskey = dns.dnssec.make_dnskey(key.public_key(), "ECDSAP256SHA256", flags=257)
    parsed = dns.zone.from_text(_zone_text(zone, extra), origin=zone.origin, relativize=False)
    now = dt.datetime.now(dt.UTC)
    with parsed.writer() as txn:
        dns.dnssec.sign_zone(
            parsed,
            txn,
            keys=[(key, dnskey)],
            inception=now - dt.timedelta(days=10),
            expiration=now - dt.timedelta(days=1),
        )
    ds = dns.dnssec.make_ds(zone.origin, dnskey, "SHA256")
    return parsed.to_text(relativize=False), f"DS {ds.to_text()}"


def _wrong_ds(ds: str) -> str:
    # Same key tag and algorithm, another digest: matches no key of the child.
    fields = ds.split()
    digest = fields[4]
    fields[4] = ("0" if digest[0] != "0" else "1") + digest[1:]
    return " ".join(fields)


def _write_zones(directory: Path, conf: Path, zones: Sequence[Zone]) -> None:
    """Zone files, with delegations (NS, glue, DS) in the parents of lab zones."""
    extra: dict[str, list[str]] = {z.origin: [] for z in zones}
    presigned: dict[str, str] = {}
    for z in sorted(zones, key=lambda z: -len(z.origin)):
        parent = _parent(z, zones)
        if parent is None:
            continue
        extra[parent.origin] += [
            f"{z.origin} 300 NS ns.{z.origin}",
            f"ns.{z.origin} 300 A {AUTH_ADDRESS}",
        ]
        ds = ""
        if z.expired:
            presigned[z.origin], ds = _presigned_expired(z, extra[z.origin])
        elif z.knot_signed:
            ds = _keymgr_ds(conf, z)
            if z.ds_mismatch:
                ds = _wrong_ds(ds)
        if ds:
            extra[parent.origin].append(f"{z.origin} 300 {ds}")
    for z in zones:
        text = presigned.get(z.origin) or _zone_text(z, extra[z.origin])
        (directory / "zones" / f"{z.origin.rstrip('.')}.zone").write_text(text)


def _knot_conf(directory: Path, port: int, zones: Sequence[Zone]) -> str:
    zone_lines = []
    for z in zones:
        zone_lines.append(f'  - domain: "{z.origin}"')
        if z.knot_signed:
            # Delegated zones sign with the keys keymgr made before the start (their DS is in
            # the parent already): a manual policy, so that Knot makes no keys of its own.
            policy = "lab-manual" if _parent(z, zones) is not None else "lab"
            policy += {"": "", "opt-out": "-nsec3", "strict": "-nsec3-strict"}[z.nsec3]
            zone_lines += ["    dnssec-signing: on", f"    dnssec-policy: {policy}"]
    return "\n".join(
        [
            "server:",
            f'  rundir: "{directory}"',
            f"  listen: {AUTH_ADDRESS}@{port}",
            "log:",
            f'  - target: "{directory / "knot.log"}"',
            "    any: info",
            "database:",
            f'  storage: "{directory / "db"}"',
            "control:",
            f'  listen: "{directory / "knot.sock"}"',
            "keystore:",
            "  - id: lab",
            f'    config: "{directory / "keys"}"',
            "policy:",
            "  - id: lab",
            "    keystore: lab",
            "    algorithm: ecdsap256sha256",
            "    ksk-lifetime: 0",
            "    zsk-lifetime: 0",
            "    nsec3: off",
            "  - id: lab-manual",
            "    keystore: lab",
            "    algorithm: ecdsap256sha256",
            "    manual: on",
            "    nsec3: off",
            *_nsec3_policies(),
            "template:",
            "  - id: default",
            f'    storage: "{directory / "zones"}"',
            '    file: "%s.zone"',
            "    zonefile-sync: -1",
            "    journal-content: none",
            "zone:",
            *zone_lines,
        ]
    )


def _nsec3_policies() -> list[str]:
    """The ``lab`` and ``lab-manual`` policies again, denying with NSEC3 (``-nsec3``: with
    opt-out; ``-nsec3-strict``: without)."""
    out: list[str] = []
    for suffix, opt_out in (("-nsec3", "on"), ("-nsec3-strict", "off")):
        nsec3 = [
            "    nsec3: on",
            f"    nsec3-opt-out: {opt_out}",
            "    nsec3-iterations: 0",
            "    nsec3-salt-length: 0",
        ]
        out += [f"  - id: lab{suffix}", "    keystore: lab", "    algorithm: ecdsap256sha256"]
        out += ["    ksk-lifetime: 0", "    zsk-lifetime: 0", *nsec3]
        out += [f"  - id: lab-manual{suffix}", "    keystore: lab"]
        out += ["    algorithm: ecdsap256sha256", "    manual: on", *nsec3]
    return out


def _unbound_conf(
    directory: Path, port: int, auth_port: int, anchors: dict[str, str], zones: Sequence[Zone]
) -> str:
    # Unbound answers special-use names (test., invalid., ...: RFC 6761) itself unless told
    # not to; the lab's zones live under them.
    tlds = sorted({z.origin.rstrip(".").rsplit(".", 1)[-1] + "." for z in zones})
    lines = [
        "server:",
        f"  interface: {RESOLVER_ADDRESS}@{port}",
        f"  port: {port}",
        "  do-ip6: no",
        "  do-not-query-localhost: no",
        "  access-control: 127.0.0.0/8 allow",
        '  username: ""',
        '  chroot: ""',
        f'  directory: "{directory}"',
        f'  pidfile: "{directory / "unbound.pid"}"',
        f'  logfile: "{directory / "unbound.log"}"',
        "  use-syslog: no",
        "  verbosity: 1",
        "  val-log-level: 2",
        '  module-config: "validator iterator"',
        "  qname-minimisation: no",
        "  harden-dnssec-stripped: yes",
        "  cache-max-ttl: 5",
        "  cache-max-negative-ttl: 5",
        "  trust-anchor-signaling: no",
        "  root-key-sentinel: no",
        *[f'  local-zone: "{tld}" nodefault' for tld in tlds],
        *[f'  trust-anchor: "{anchor}"' for anchor in anchors.values()],
        "remote-control:",
        "  control-enable: no",
        # Everything goes to Knot: no root priming, no packet leaves loopback.
        "forward-zone:",
        '  name: "."',
        f"  forward-addr: {AUTH_ADDRESS}@{auth_port}",
    ]
    return "\n".join(lines) + "\n"


def _wait_answer(daemon: RunningServer, name: str, rdtype: str) -> dns.message.Message:
    """Query ``daemon`` over TCP until it answers NOERROR for ``name``, or raise with its log."""
    deadline = time.monotonic() + _READY
    last = "no answer"
    while time.monotonic() < deadline:
        process = daemon.process
        if process is not None and process.poll() is not None:
            status = process.returncode
            raise ServerStartError(f"{daemon.name} exited with {status}\n{daemon.log()}")
        query = dns.message.make_query(name, rdtype, want_dnssec=True)
        try:
            answer = dns.query.tcp(query, daemon.address, port=daemon.ports[0], timeout=2)
        except (OSError, dns.exception.DNSException) as exc:
            last = str(exc)
        else:
            if answer.rcode() == 0 and answer.answer:
                return answer
            last = f"rcode {answer.rcode()}"
        time.sleep(0.1)
    raise ServerStartError(
        f"{daemon.name} gave no {rdtype} for {name} in {_READY:.0f}s ({last})\n{daemon.log()}"
    )


def _ksk_anchor(answer: dns.message.Message, origin: str) -> str:
    for rrset in answer.answer:
        if rrset.rdtype == dns.rdatatype.DNSKEY:
            for rdata in rrset:
                if rdata.flags & 0x0001:  # SEP: the key-signing key
                    return f"{origin} DNSKEY {rdata.to_text()}"
    raise ServerStartError(f"Knot published no key-signing key for {origin}")


def _wrong_anchor(origin: str) -> str:
    # A well-formed P-256 key that no zone uses: validation against it must fail.
    key = base64.b64encode(bytes(range(1, 65))).decode()
    return f"{origin} DNSKEY 257 3 13 {key}"


@contextlib.contextmanager
def dns_lab(zones: Sequence[Zone]) -> Iterator[DnsLab]:
    """Start Knot with ``zones`` and a validating Unbound in front of it; stop both after."""
    knotd, unbound = find_binary("knotd"), find_binary("unbound")
    directory = Path(tempfile.mkdtemp(prefix="vedette-dns-"))
    lab: DnsLab | None = None
    try:
        for sub in ("zones", "db", "keys"):
            (directory / sub).mkdir()
        auth_port = _free_port(AUTH_ADDRESS)
        conf = directory / "knot.conf"
        conf.write_text(_knot_conf(directory, auth_port, zones))
        _write_zones(directory, conf, zones)
        lab = DnsLab((AUTH_ADDRESS, auth_port), (RESOLVER_ADDRESS, 0), directory)
        lab.daemons.append(_start("knot", [knotd, "-c", str(conf)], auth_port, directory))
        knot = lab.daemons[0]
        for z in zones:
            answer = _wait_answer(knot, z.origin, "DNSKEY" if z.knot_signed else "SOA")
            if _parent(z, zones) is not None:
                continue  # trusted through its parent's DS, or not at all
            if z.signed:
                lab.anchors[z.origin] = _ksk_anchor(answer, z.origin)
            elif z.bogus:
                lab.anchors[z.origin] = _wrong_anchor(z.origin)
        port = _free_port(RESOLVER_ADDRESS)
        lab.resolver = (RESOLVER_ADDRESS, port)
        uconf = directory / "unbound.conf"
        uconf.write_text(_unbound_conf(directory, port, auth_port, lab.anchors, zones))
        check = subprocess.run(
            [find_binary("unbound-checkconf"), str(uconf)],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        if check.returncode != 0:
            raise ServerStartError(f"unbound-checkconf refused the lab config: {check.stdout}")
        # Listening on TCP means Unbound has read its anchors and answers.
        lab.daemons.append(_start("unbound", [unbound, "-d", "-c", str(uconf)], port, directory))
        yield lab
    finally:
        if lab is not None:
            for daemon in reversed(lab.daemons):
                daemon.stop()
        shutil.rmtree(directory, ignore_errors=True)


def lab_for_fixture(zones: Sequence[Zone]) -> Iterator[DnsLab]:
    """:func:`dns_lab` for a pytest fixture (``yield from lab_for_fixture(ZONES)``): a daemon
    that is not installed fails the test in CI and skips it elsewhere."""
    from tests.tools import unavailable

    try:
        with dns_lab(zones) as running:
            yield running
    except ServerUnavailable as exc:
        unavailable(str(exc))


def _start(name: str, argv: list[str], port: int, directory: Path) -> RunningServer:
    log_path = directory / f"{name}.log"
    with (directory / f"{name}.stdio").open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    daemon = RunningServer(
        name=name,
        address=AUTH_ADDRESS if name == "knot" else RESOLVER_ADDRESS,
        ports=(port,),
        directory=directory,
        log_path=log_path,
        process=process,
    )
    deadline = time.monotonic() + _READY
    while True:
        with socket.socket() as probe:
            probe.settimeout(1)
            try:
                probe.connect((daemon.address, port))
                return daemon
            except OSError:
                pass
        if process.poll() is not None or time.monotonic() > deadline:
            daemon.stop()
            stdio = (directory / f"{name}.stdio").read_text(errors="replace")
            raise ServerStartError(f"{name} did not listen on port {port}\n{stdio}\n{daemon.log()}")
        time.sleep(0.05)


# --- bad DNS, scripted -------------------------------------------------------------------------

#: Loopback address of the scripted (misbehaving) DNS server.
SCRIPTED_ADDRESS = "127.0.0.56"


@dataclass(frozen=True, slots=True)
class Scripted:
    """How the scripted server answers one name (any type).

    ``behaviour``: ``answer`` (NOERROR with ``records``), ``servfail``, ``silent`` (no reply
    at all, over UDP or TCP: the client times out), ``truncate`` (over UDP an empty answer with
    TC=1; over TCP the whole answer). ``records``: master-file lines with absolute owners
    (``"loop1.bad.test. 300 CNAME loop2.bad.test."``), all put in the answer section; data in
    the generic form (``\\# LENGTH HEX``) is sent as given, even data dnspython refuses.
    """

    behaviour: str = "answer"
    records: Sequence[str] = ()


@dataclass(slots=True)
class ScriptedDns:
    """The running scripted server: where it listens and what it was asked
    (``(transport, name, type)``, in order)."""

    address: tuple[str, int]
    asked: list[tuple[str, str, str]] = field(default_factory=list)


def _scripted_reply(
    script: dict[str, Scripted], wire: bytes, transport: str, server: ScriptedDns
) -> bytes | None:
    import dns.flags
    import dns.name
    import dns.rcode
    import dns.rdata
    import dns.rdataclass
    import dns.rrset

    query = dns.message.from_wire(wire)
    question = query.question[0]
    name = question.name.to_text().lower().rstrip(".")
    server.asked.append((transport, name, dns.rdatatype.to_text(question.rdtype)))
    reply = dns.message.make_response(query)
    entry = script.get(name)
    if entry is None:
        reply.set_rcode(dns.rcode.REFUSED)
    elif entry.behaviour == "silent":
        return None
    elif entry.behaviour == "servfail":
        reply.set_rcode(dns.rcode.SERVFAIL)
    elif entry.behaviour == "truncate" and transport == "udp":
        reply.flags |= dns.flags.TC
    else:
        for line in entry.records:
            owner, ttl, rdtype, rest = line.split(None, 3)
            if rest.startswith("\\# "):  # raw data, sent as is even if dnspython refuses it
                rrset = dns.rrset.RRset(
                    dns.name.from_text(owner), dns.rdataclass.IN, dns.rdatatype.from_text(rdtype)
                )
                data = bytes.fromhex("".join(rest.split()[2:]))
                rrset.add(dns.rdata.GenericRdata(rrset.rdclass, rrset.rdtype, data), int(ttl))
                reply.answer.append(rrset)
                continue
            reply.answer.append(dns.rrset.from_text(owner, int(ttl), "IN", rdtype, rest))
    # Over TCP the whole answer fits (make_response caps it at the query's UDP size).
    return reply.to_wire(max_size=65535 if transport == "tcp" else 0)


@contextlib.contextmanager
def scripted_dns(script: dict[str, Scripted]) -> Iterator[ScriptedDns]:
    """A DNS server on loopback (UDP and TCP, one port) that misbehaves as ``script`` says,
    by name (lower case, no final dot); other names are REFUSED. Runs in threads of this
    process, stopped on exit."""
    import select
    import threading

    port = _free_port(SCRIPTED_ADDRESS)
    server = ScriptedDns((SCRIPTED_ADDRESS, port))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    udp.bind(server.address)
    tcp.bind(server.address)
    tcp.listen(16)
    stop = threading.Event()
    held: list[socket.socket] = []  # silent TCP connections, kept open until the end

    def serve() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([udp, tcp], [], [], 0.1)
            for sock in ready:
                try:
                    if sock is udp:
                        wire, peer = udp.recvfrom(65535)
                        reply = _scripted_reply(script, wire, "udp", server)
                        if reply is not None:
                            udp.sendto(reply, peer)
                    else:
                        conn, _ = tcp.accept()
                        held.append(conn)  # closed at the end, or now once answered
                        conn.settimeout(2)
                        size = int.from_bytes(conn.recv(2), "big")
                        wire = b""
                        while len(wire) < size:
                            chunk = conn.recv(size - len(wire))
                            if not chunk:
                                break
                            wire += chunk
                        reply = _scripted_reply(script, wire, "tcp", server)
                        if reply is not None:
                            conn.sendall(len(reply).to_bytes(2, "big") + reply)
                            held.remove(conn)
                            conn.close()
                except (OSError, dns.exception.DNSException):
                    continue

    thread = threading.Thread(target=serve, name="scripted-dns", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        for sock in (udp, tcp, *held):
            sock.close()
