"""A real Prosody (Debian ``prosody``) on loopback, for the XMPP integration tests.

Each instance gets its own directory (configuration, data, pid file, log, certificates), its
own loopback address and free ports for client-to-server with STARTTLS (``c2s_ports``), Direct
TLS (``c2s_direct_tls_ports``, XEP-0368) and server-to-server (``s2s_ports``). It is started
in the foreground with ``prosody -F --config FILE`` and stopped by the pid we started; the
Debian daemon and ``/etc/prosody`` are never touched. Prosody refuses to run as root unless
``run_as_root = true``, which the configuration says (tests run as root here; as another user
Prosody simply runs as that user).

Certificates: a private root, an intermediate and a leaf for ``XMPP_DOMAIN``, laid out as
Prosody's certificate directory expects (``DOMAIN.crt`` with the chain, ``DOMAIN.key``): Direct
TLS picks its certificate by SNI from that directory.

When ``prosody`` is not installed, ``ProsodyUnavailable`` is raised: the tests skip locally and
fail in CI (``tests.tools.unavailable``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from vedette.pki import CertificateAuthority

XMPP_DOMAIN = "chat.realtest.test"
#: A name Prosody does not serve (it answers ``host-unknown``).
OTHER_DOMAIN = "wrong.realtest.test"

_READY_TIMEOUT = 20.0
_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/bin", "/usr/sbin", "/bin"])


class ProsodyUnavailable(Exception):
    """Prosody cannot run here (not installed): skip, or fail in CI."""


class ProsodyStartError(RuntimeError):
    """Prosody was available but did not come up; the message carries its log."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProsodyPki:
    """``root_pem``: the root to pass as ``--ca``; ``cert_dir``: Prosody's certificates."""

    root_pem: Path
    cert_dir: Path
    leaf_pem: Path


def make_prosody_pki(directory: Path) -> ProsodyPki:
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    root = CertificateAuthority.create_root("Vedette XMPP Test Root", organization="Vedette Tests")
    intermediate = root.issue_intermediate("Vedette XMPP Test Issuing CA")
    leaf = intermediate.issue_server([XMPP_DOMAIN])
    cert_dir = directory / "certs"
    cert_dir.mkdir(mode=0o755, exist_ok=True)
    (cert_dir / f"{XMPP_DOMAIN}.crt").write_bytes(leaf.cert_pem() + intermediate.chain_pem())
    key = cert_dir / f"{XMPP_DOMAIN}.key"
    key.write_bytes(leaf.key_pem())
    key.chmod(0o600)
    root_pem = directory / "root.pem"
    root_pem.write_bytes(root.issued.cert_pem())
    leaf_pem = directory / "leaf.pem"
    leaf_pem.write_bytes(leaf.cert_pem())
    return ProsodyPki(root_pem=root_pem, cert_dir=cert_dir, leaf_pem=leaf_pem)


@dataclass(frozen=True, slots=True, kw_only=True)
class ProsodySpec:
    """One Prosody instance.

    Attributes:
        name: a directory-friendly label.
        address: the loopback address it listens on.
        require_encryption: ``c2s_require_encryption`` and ``s2s_require_encryption``.
        allow_plain: ``allow_unencrypted_plain_auth`` (PLAIN listed before TLS when encryption
            is not required).
        legacy_auth: load ``mod_legacyauth`` (XEP-0078 ``iq-auth``).
        starttls: load ``mod_tls``; without it Prosody offers no TLS on 5222/5269 at all.
    """

    name: str
    address: str
    require_encryption: bool
    allow_plain: bool
    legacy_auth: bool = False
    starttls: bool = True


@dataclass(kw_only=True)
class Daemon:
    """A process we started: its log, and how to stop it (by its pid only)."""

    log_path: Path
    process: subprocess.Popen[bytes]

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log at {self.log_path}: {exc})"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL, to the one process we started."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@dataclass(kw_only=True)
class RunningProsody(Daemon):
    spec: ProsodySpec
    directory: Path
    c2s_port: int
    direct_tls_port: int
    s2s_port: int

    @property
    def address(self) -> str:
        return self.spec.address

    def resolve(self, name: str, port: int) -> tuple[str, str]:
        """``--resolve`` arguments sending ``name:port`` to this instance."""
        return "--resolve", f"{name}:{port}:{self.address}"


def _spawn(argv: list[str], stdio: Path) -> subprocess.Popen[bytes]:
    """A daemon in the foreground, in its own session, its output in ``stdio`` (never in the
    test runner's pipes, which it would hold open)."""
    with stdio.open("wb") as out:
        return subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True
        )


def _free_ports(address: str, count: int) -> tuple[int, ...]:
    """``count`` distinct free ports (all held open together, so none repeats)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind((address, 0))
        return tuple(int(p.getsockname()[1]) for p in probes)


def _lua(value: bool) -> str:
    return "true" if value else "false"


def prosody_config(
    spec: ProsodySpec, directory: Path, cert_dir: Path, ports: tuple[int, ...]
) -> str:
    c2s, direct, s2s = ports
    modules = ["saslauth", "disco", "ping", "posix", "dialback"]
    if spec.starttls:
        modules.append("tls")
    if spec.legacy_auth:
        modules.append("legacyauth")
    listed = "; ".join(f'"{m}"' for m in modules)
    return f"""-- vedette test instance {spec.name}: written by tests/integration/prosody_server.py
run_as_root = true
pidfile = "{directory}/prosody.pid"
data_path = "{directory}/data"
certificates = "{cert_dir}"
interfaces = {{ "{spec.address}" }}
local_interfaces = {{ "{spec.address}" }}
c2s_ports = {{ {c2s} }}
c2s_direct_tls_ports = {{ {direct} }}
s2s_ports = {{ {s2s} }}
s2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
component_ports = {{ }}
log = {{ info = "{directory}/prosody.log" }}
modules_enabled = {{ {listed} }}
modules_disabled = {{ }}
c2s_require_encryption = {_lua(spec.require_encryption)}
s2s_require_encryption = {_lua(spec.require_encryption)}
s2s_secure_auth = false
allow_unencrypted_plain_auth = {_lua(spec.allow_plain)}
allow_registration = false
authentication = "internal_hashed"
storage = "internal"

VirtualHost "{XMPP_DOMAIN}"
"""


def _wait_ready(server: RunningProsody) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    for port in (server.c2s_port, server.direct_tls_port, server.s2s_port):
        while True:
            with (
                contextlib.suppress(OSError),
                socket.create_connection((server.address, port), timeout=1.0),
            ):
                break
            if server.process.poll() is not None:
                raise ProsodyStartError(
                    f"prosody exited with status {server.process.returncode} before listening "
                    f"on {server.address}:{port}\n--- log ---\n{server.log()}"
                )
            if time.monotonic() > deadline:
                server.stop()
                raise ProsodyStartError(
                    f"prosody did not listen on {server.address}:{port} within "
                    f"{_READY_TIMEOUT:.0f}s\n--- log ---\n{server.log()}"
                )
            time.sleep(0.05)


def start_prosody(spec: ProsodySpec, pki: ProsodyPki, root: Path) -> RunningProsody:
    """Start ``spec`` in a directory under ``root``; wait until its three ports accept."""
    prosody = shutil.which("prosody", path=_PATH)
    if prosody is None:
        raise ProsodyUnavailable(
            "prosody is not installed (./scripts/install-deps installs the Debian package)"
        )
    directory = Path(tempfile.mkdtemp(prefix=f"prosody-{spec.name}-", dir=root))
    directory.chmod(0o755)
    (directory / "data").mkdir(mode=0o750)
    ports = _free_ports(spec.address, 3)
    config = directory / "prosody.cfg.lua"
    config.write_text(prosody_config(spec, directory, pki.cert_dir, ports))
    process = _spawn([prosody, "-F", "--config", str(config)], directory / "prosody.stdio")
    server = RunningProsody(
        spec=spec,
        directory=directory,
        c2s_port=ports[0],
        direct_tls_port=ports[1],
        s2s_port=ports[2],
        log_path=directory / "prosody.log",
        process=process,
    )
    _wait_ready(server)
    return server


# ---- a loopback DNS server with the XMPP SRV records ------------------------------------------


@dataclass(kw_only=True)
class RunningDns(Daemon):
    """dnsmasq answering only the records it was given; ``resolver`` is ``--resolver``'s value."""

    address: str
    port: int

    @property
    def resolver(self) -> str:
        return f"{self.address}:{self.port}"


def _udp_and_tcp_port(address: str) -> int:
    """A port free for both UDP and TCP on ``address``."""
    for _ in range(50):
        port = _free_ports(address, 1)[0]
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            try:
                udp.bind((address, port))
            except OSError:
                continue
            return port
    raise ProsodyStartError(f"no port free for UDP and TCP on {address}")


def start_dns(
    root: Path,
    *,
    hosts: dict[str, str],
    srv: list[tuple[str, str, int]],
    address: str = "127.0.0.45",
) -> RunningDns:
    """dnsmasq on ``address``: A records ``hosts`` (name -> IP) and SRV records
    ``(owner, target, port)``; it forwards nothing and reads no host file."""
    dnsmasq = shutil.which("dnsmasq", path=_PATH)
    if dnsmasq is None:
        raise ProsodyUnavailable("dnsmasq is not installed (./scripts/install-deps installs it)")
    directory = Path(tempfile.mkdtemp(prefix="dnsmasq-", dir=root))
    directory.chmod(0o755)
    port = _udp_and_tcp_port(address)
    log_path = directory / "dnsmasq.log"
    # Everything in a private configuration file: answer only these records, forward nothing.
    settings = [
        f"port={port}",
        f"listen-address={address}",
        "bind-interfaces",
        "no-resolv",
        "no-hosts",
        "no-poll",
        "log-queries",
        f"log-facility={log_path}",
        *(f"host-record={name},{ip}" for name, ip in hosts.items()),
        *(f"srv-host={owner},{target},{p},0,5" for owner, target, p in srv),
    ]
    if os.geteuid() == 0:
        settings.append("user=root")  # "nobody" could not write the log here
    config = directory / "dnsmasq.conf"
    config.write_text("".join(f"{line}\n" for line in settings))
    argv = [dnsmasq, "--keep-in-foreground", f"--conf-file={config}", "--pid-file="]
    process = _spawn(argv, directory / "dnsmasq.stdio")
    server = RunningDns(address=address, port=port, log_path=log_path, process=process)
    deadline = time.monotonic() + _READY_TIMEOUT
    while True:
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=1.0):
            return server
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise ProsodyStartError(f"dnsmasq did not start\n{server.log()}")
        time.sleep(0.05)
