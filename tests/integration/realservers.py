"""Real Dovecot, Postfix and dnsmasq instances on loopback, for the integration tests.

Why real servers: the scanner's job is to read what a server *actually* says before and after
TLS (``LOGINDISABLED``, ``USER``, ``AUTH`` before ``STARTTLS``), and the only honest fixture
for that is the daemon administrators run, configured the way they configure it. These
helpers write a configuration per case into a directory of their own, start the daemon in the
foreground (or through ``postfix start``), wait until every port accepts a connection, and stop
exactly the processes they started.

Addresses and ports. Every case listens on its own address in 127.0.0.0/8 (Linux routes the
whole block to ``lo`` without configuration) with the *standard* ports, so the scanner's
port-to-service logic runs as it does in real life::

    127.0.0.11  D1 Dovecot  imap 143, pop3 110    STARTTLS optional, plaintext login allowed
    127.0.0.12  D2 Dovecot  imap 143, pop3 110    disable_plaintext_auth = yes
    127.0.0.13  D3 Dovecot  imaps 993, pop3s 995  implicit TLS, leaf + intermediate
    127.0.0.14  D4 Dovecot  pop3 110              ssl = no
    127.0.0.15  D5 Dovecot  imap 143, pop3 110    TLS policy (test_tls_enum_mail.py)
    127.0.0.16  bench       imap 143              benchmarks/tls_enum.py (not in tests)
    127.0.0.18  D6 Dovecot  imap 143, pop3 110    high-security login mode (test_resumption_real)
    127.0.0.21  P1 Postfix  25, 587               STARTTLS, smtpd_tls_auth_only = no
    127.0.0.22  P2 Postfix  25, 587, 465          smtpd_tls_auth_only = yes, 465 wrapper mode
    127.0.0.23  P3 Postfix  25, 587               TLS policy (test_tls_enum_mail.py)
    127.0.0.24  P4 Postfix  25, 587               P3 + anvil rate limit, loopback not exempt
    127.0.0.26  P5 Postfix  25, 587               smtpd_tls_session_cache_timeout = 0 (same)
    127.0.0.31  N1 Dovecot  imaps 993             nodes.realtest.test: the right certificate
    127.0.0.32  N2 Dovecot  imaps 993             nodes.realtest.test: a leaf for another name
    127.0.0.53  dnsmasq     5353 (udp+tcp)        A records for the names above

Loopback subtlety: Dovecot treats a connection whose remote address equals its local address as
"secured" (as if it came over TLS) and would then allow plaintext login even with
``disable_plaintext_auth = yes``. A client connecting to 127.0.0.12 gets the source address
127.0.0.1 from the kernel (``ip route get 127.0.0.12`` says ``src 127.0.0.1``), so the two
differ and Dovecot behaves as it does towards a remote client.

Side effects: nothing outside ``WORK_ROOT`` is written, no daemon listens beyond loopback,
Postfix does no DNS or reverse lookups (``smtpd_peername_lookup = no``, DNS support disabled)
and dnsmasq forwards nothing (``--no-resolv``). Only one test session at a time can own the
fixed addresses and ports, so :func:`session_lock` serialises concurrent sessions.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from vedette.pki import CertificateAuthority

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

MAIL_HOST = "mail.realtest.test"
NODES_HOST = "nodes.realtest.test"
OTHER_HOST = "other.realtest.test"

USER = "alice"
PASSWORD = "wonderland-7"

# A fixed root, not a per-session temporary directory: a session killed hard leaves daemons
# behind, and the next session finds their configuration here and stops them through their own
# control commands before reusing the addresses. 0755 because Dovecot's auth process (user
# dovecot) and Postfix's smtpd (user postfix) must traverse it.
WORK_ROOT = Path("/tmp/vedette-realservers")

_EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/bin", "/bin")
_READY_TIMEOUT = 20.0


class ServerUnavailable(Exception):
    """A server cannot run here at all (binary missing, not root): skip, or fail in CI."""


class ServerStartError(RuntimeError):
    """A server was available but did not come up; the message carries its log."""


def find_binary(name: str) -> str:
    path = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_PATH])
    found = shutil.which(name, path=path)
    if found is None:
        raise ServerUnavailable(
            f"{name} is not installed (./scripts/install-deps installs the Debian packages "
            "the tests need)"
        )
    return found


def require_root(what: str) -> None:
    if os.geteuid() != 0:
        raise ServerUnavailable(f"{what} needs root (ports below 1024, privilege separation)")


# --- session lock ------------------------------------------------------------------------------


@contextlib.contextmanager
def session_lock(timeout: float = 90.0) -> Iterator[None]:
    """Hold an exclusive lock on WORK_ROOT for the whole session (bounded wait)."""
    WORK_ROOT.mkdir(mode=0o755, exist_ok=True)
    WORK_ROOT.chmod(0o755)
    fd = os.open(WORK_ROOT / "session.lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise ServerStartError(
                        f"another test session holds {WORK_ROOT}/session.lock for more than "
                        f"{timeout:.0f}s; the real-server addresses are in use"
                    ) from None
                time.sleep(0.5)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


# --- certificates ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Pki:
    """Certificates for the real servers, from a root only the tests trust.

    Attributes:
        root_pem: the test root; pass it to vedette as ``--ca``.
        chain_pem: leaf for mail.realtest.test and nodes.realtest.test, then the intermediate.
        key_pem: that leaf's key.
        other_chain_pem: leaf for other.realtest.test only (same intermediate): the wrong name.
        other_key_pem: that leaf's key.
    """

    root_pem: Path
    chain_pem: Path
    key_pem: Path
    other_chain_pem: Path
    other_key_pem: Path


def make_pki(directory: Path) -> Pki:
    directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    root = CertificateAuthority.create_root("Vedette Realtest Root", organization="Vedette Tests")
    intermediate = root.issue_intermediate("Vedette Realtest Issuing CA")
    good = intermediate.issue_server([MAIL_HOST, NODES_HOST])
    other = intermediate.issue_server([OTHER_HOST])

    def write(name: str, data: bytes, mode: int = 0o644) -> Path:
        path = directory / name
        path.write_bytes(data)
        path.chmod(mode)
        return path

    # Keys 0600 root: Dovecot and Postfix read them as root before dropping privileges.
    return Pki(
        root_pem=write("root.pem", root.issued.cert_pem()),
        chain_pem=write("chain.pem", good.cert_pem() + intermediate.chain_pem()),
        key_pem=write("key.pem", good.key_pem(), 0o600),
        other_chain_pem=write("other-chain.pem", other.cert_pem() + intermediate.chain_pem()),
        other_key_pem=write("other-key.pem", other.key_pem(), 0o600),
    )


# --- running servers ---------------------------------------------------------------------------


@dataclass(slots=True, kw_only=True)
class RunningServer:
    """A started server: where it listens, its log, and how to stop what we started."""

    name: str
    address: str
    ports: tuple[int, ...]
    directory: Path
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    stop_command: tuple[str, ...] | None = None
    extra: dict[str, str] = field(default_factory=dict)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log at {self.log_path}: {exc})"

    def stop(self) -> None:
        if self.stop_command is not None:
            subprocess.run(
                self.stop_command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=30,
                check=False,
            )
        if self.process is not None and self.process.poll() is None:
            # Only the PID we spawned; Dovecot's master takes its children down on SIGTERM.
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _wait_ready(server: RunningServer, timeout: float = _READY_TIMEOUT) -> None:
    """Connect to every port until it accepts, or raise with the server's log."""
    deadline = time.monotonic() + timeout
    pending = list(server.ports)
    while pending:
        port = pending[0]
        try:
            with socket.create_connection((server.address, port), timeout=1.0):
                pending.pop(0)
                continue
        except OSError:
            pass
        if server.process is not None and server.process.poll() is not None:
            raise ServerStartError(
                f"{server.name} exited with status {server.process.returncode} before "
                f"listening on {server.address}:{port}\n--- log {server.log_path} ---\n"
                + server.log()
            )
        if time.monotonic() > deadline:
            server.stop()
            raise ServerStartError(
                f"{server.name} did not listen on {server.address}:{port} within "
                f"{timeout:.0f}s\n--- log {server.log_path} ---\n" + server.log()
            )
        time.sleep(0.05)


def _fresh_dir(name: str) -> Path:
    directory = WORK_ROOT / name
    if directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o755, parents=True)
    return directory


# --- Dovecot -----------------------------------------------------------------------------------

Ssl = Literal["no", "yes", "required"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DovecotSpec:
    """One Dovecot instance.

    Attributes:
        name: short name, also the directory under WORK_ROOT and the instance name.
        address: the loopback address it listens on.
        imap, pop3: STARTTLS-capable listeners on 143 / 110.
        imaps, pop3s: implicit-TLS listeners on 993 / 995.
        ssl: Dovecot's ``ssl`` setting.
        disable_plaintext_auth: Dovecot's setting of that name.
        chain_pem, key_pem: certificate chain (leaf first) and key; unused when ``ssl = no``.
        postfix_auth_socket: also export an auth socket for Postfix's SASL.
        extra_config: lines appended to dovecot.conf (protocol and cipher settings).
        service_count: connections a login process serves before it exits; 0 (the default
            here) is Dovecot's high-performance mode, 1 is Debian's stock setting (a new
            login process for every connection: about 10 ms more per handshake).
    """

    name: str
    address: str
    extra_config: str = ""
    imap: bool = False
    pop3: bool = False
    imaps: bool = False
    pop3s: bool = False
    ssl: Ssl = "yes"
    disable_plaintext_auth: bool = True
    chain_pem: Path | None = None
    key_pem: Path | None = None
    postfix_auth_socket: bool = False
    service_count: int = 0

    @property
    def ports(self) -> tuple[int, ...]:
        wanted = ((self.imap, 143), (self.imaps, 993), (self.pop3, 110), (self.pop3s, 995))
        return tuple(port for on, port in wanted if on)


def dovecot_config(spec: DovecotSpec, directory: Path) -> str:
    protocols = " ".join(
        p for p, on in (("imap", spec.imap or spec.imaps), ("pop3", spec.pop3 or spec.pop3s)) if on
    )
    ssl_lines = ""
    if spec.ssl != "no":
        assert spec.chain_pem is not None
        assert spec.key_pem is not None
        # ECDSA leaf: no DHE suite can be negotiated, so no ssl_dh (and no 4096-bit DH cost).
        ssl_lines = f"ssl_cert = <{spec.chain_pem}\nssl_key = <{spec.key_pem}\n"
    postfix_listener = ""
    if spec.postfix_auth_socket:
        # Postfix's smtpd runs as user postfix; 0666 on a socket inside our own directory.
        postfix_listener = "  unix_listener auth-postfix {\n    mode = 0666\n  }\n"
    return f"""\
# Generated by tests/integration/realservers.py for case {spec.name}.
instance_name = vedette-{spec.name}
base_dir = {directory}/run
state_dir = {directory}/state
log_path = {directory}/dovecot.log
listen = {spec.address}
protocols = {protocols}
ssl = {spec.ssl}
{ssl_lines}disable_plaintext_auth = {"yes" if spec.disable_plaintext_auth else "no"}
auth_mechanisms = plain login
# No delay after a failed login: the sanity tests try one on purpose.
auth_failure_delay = 0
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {directory}/passwd
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={directory}/home/%u
}}
mail_location = maildir:~/Maildir
service imap-login {{
  inet_listener imap {{
    port = {143 if spec.imap else 0}
  }}
  inet_listener imaps {{
    port = {993 if spec.imaps else 0}
  }}
  # 0: high-performance mode, one login process serves many connections, no fork per probe.
  service_count = {spec.service_count}
}}
service pop3-login {{
  inet_listener pop3 {{
    port = {110 if spec.pop3 else 0}
  }}
  inet_listener pop3s {{
    port = {995 if spec.pop3s else 0}
  }}
  service_count = {spec.service_count}
}}
service auth {{
{postfix_listener}}}
{spec.extra_config}"""


def start_dovecot(spec: DovecotSpec) -> RunningServer:
    require_root("Dovecot")
    dovecot = find_binary("dovecot")
    directory = WORK_ROOT / spec.name
    _stop_stale_dovecot(dovecot, directory)
    directory = _fresh_dir(spec.name)
    # Mail processes run as nobody (static userdb) and create the user's Maildir on login.
    (directory / "home").mkdir()
    (directory / "home").chmod(0o1777)  # chmod: mkdir's mode is filtered by the umask
    passwd = directory / "passwd"
    passwd.write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    passwd.chmod(0o644)
    config = directory / "dovecot.conf"
    config.write_text(dovecot_config(spec, directory))
    stdio = directory / "dovecot.stdio"
    with stdio.open("wb") as out:
        # -F: stay in the foreground, so the PID we hold is the master's and nothing else.
        process = subprocess.Popen(
            [dovecot, "-F", "-c", str(config)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(
        name=f"dovecot {spec.name}",
        address=spec.address,
        ports=spec.ports,
        directory=directory,
        log_path=directory / "dovecot.log",
        process=process,
    )
    if spec.postfix_auth_socket:
        server.extra["auth_socket"] = str(directory / "run" / "auth-postfix")
    try:
        _wait_ready(server)
    except ServerStartError as exc:
        raise ServerStartError(
            f"{exc}\n--- stdio ---\n{stdio.read_text(errors='replace')}"
        ) from None
    return server


def _stop_stale_dovecot(dovecot: str, directory: Path) -> None:
    """Stop a Dovecot left running from this directory by an earlier, killed session."""
    config = directory / "dovecot.conf"
    if (directory / "run" / "master.pid").exists() and config.exists():
        subprocess.run(
            [dovecot, "-c", str(config), "stop"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )


# --- Postfix -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PostfixSpec:
    """One Postfix instance.

    Attributes:
        name: short name and directory.
        address: loopback address (``inet_interfaces``).
        smtps: also a wrapper-mode (implicit TLS) service on 465.
        tls_auth_only: ``smtpd_tls_auth_only``.
        chain_pem, key_pem: certificate chain (leaf first) and key.
        sasl_socket: Dovecot auth socket for ``smtpd_sasl_type = dovecot``.
        extra_config: lines appended to main.cf (protocol, cipher, anvil settings).
    """

    name: str
    address: str
    extra_config: str = ""
    smtps: bool = False
    tls_auth_only: bool = True
    chain_pem: Path
    key_pem: Path
    sasl_socket: str

    @property
    def ports(self) -> tuple[int, ...]:
        return (25, 587, 465) if self.smtps else (25, 587)


def postfix_main_cf(spec: PostfixSpec, directory: Path) -> str:
    return f"""\
# Generated by tests/integration/realservers.py for case {spec.name}.
compatibility_level = 3.6
queue_directory = {directory}/queue
data_directory = {directory}/data
maillog_file = {directory}/postfix.log
maillog_file_prefixes = {directory}
syslog_name = vedette-{spec.name}
# Postfix refuses an inet_interfaces address that no interface carries, and 127.0.0.21 is only
# routed to lo, not assigned. So every inet service in master.cf names its address explicitly
# (which Postfix binds without that check) and inet_interfaces stays on loopback, unused.
inet_interfaces = loopback-only
inet_protocols = ipv4
myhostname = {MAIL_HOST}
mydomain = realtest.test
myorigin = $myhostname
mydestination =
mynetworks = 127.0.0.0/8
local_recipient_maps =
alias_maps =
alias_database =
relay_domains =
smtpd_relay_restrictions = permit_sasl_authenticated, reject_unauth_destination
# No stray packets: never resolve the client's address, never look up MX or A records.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
smtpd_banner = $myhostname ESMTP
smtpd_tls_chain_files = {spec.key_pem}, {spec.chain_pem}
smtpd_tls_security_level = may
smtpd_tls_auth_only = {"yes" if spec.tls_auth_only else "no"}
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = {spec.sasl_socket}
{spec.extra_config}"""


# Every service runs unchrooted (column 5 = n): the queue directory is ours, not a prepared jail.
_MASTER_CF_COMMON = """\
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
tlsmgr    unix  -       -       n       1000?   1       tlsmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
smtp      unix  -       -       n       -       -       smtp
relay     unix  -       -       n       -       -       smtp
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
local     unix  -       n       n       -       -       local
virtual   unix  -       n       n       -       -       virtual
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
"""


def postfix_master_cf(spec: PostfixSpec) -> str:
    a = spec.address
    lines = [
        f"{a}:25 inet  n       -       n       -       -       smtpd",
        f"{a}:587 inet n       -       n       -       -       smtpd",
    ]
    if spec.smtps:
        lines.append(
            f"{a}:465 inet n       -       n       -       -       smtpd"
            " -o smtpd_tls_wrappermode=yes"
        )
    return "\n".join(lines) + "\n" + _MASTER_CF_COMMON


def start_postfix(spec: PostfixSpec) -> RunningServer:
    require_root("Postfix")
    postfix = find_binary("postfix")
    stale = WORK_ROOT / spec.name
    if (stale / "main.cf").exists():
        subprocess.run(
            [postfix, "-c", str(stale), "stop"],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=30,
            check=False,
        )
    directory = _fresh_dir(spec.name)
    # The queue root belongs to root; `postfix start` (post-install create-missing) makes the
    # postfix-owned subdirectories. The data directory belongs to the mail owner.
    (directory / "queue").mkdir(mode=0o755)
    (directory / "data").mkdir(mode=0o700)
    shutil.chown(directory / "data", user="postfix")
    (directory / "main.cf").write_text(postfix_main_cf(spec, directory))
    (directory / "master.cf").write_text(postfix_master_cf(spec))
    stdio = directory / "postfix.stdio"
    server = RunningServer(
        name=f"postfix {spec.name}",
        address=spec.address,
        ports=spec.ports,
        directory=directory,
        log_path=directory / "postfix.log",
        stop_command=(postfix, "-c", str(directory), "stop"),
    )
    with stdio.open("wb") as out:
        # `postfix start` creates the queue directories, starts master and waits (master -w)
        # until it reports that its initialisation succeeded.
        result = subprocess.run(
            [postfix, "-c", str(directory), "start"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=60,
            check=False,
        )
    if result.returncode != 0:
        raise ServerStartError(
            f"postfix {spec.name}: `postfix start` exited with {result.returncode}\n"
            f"--- output ---\n{stdio.read_text(errors='replace')}\n--- log ---\n{server.log()}"
        )
    _wait_ready(server)
    return server


# --- dnsmasq -----------------------------------------------------------------------------------


def _udp_and_tcp_free(address: str, port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((address, port))
            except OSError:
                return False
    return True


def start_dnsmasq(
    records: Sequence[tuple[str, str]], address: str = "127.0.0.53", port: int = 5353
) -> RunningServer:
    """An authoritative-only DNS server on loopback answering A records for ``records``."""
    dnsmasq = find_binary("dnsmasq")
    # 5353 unless taken (mDNS responders sometimes hold it on the wildcard address).
    candidates = [port, *range(15353, 15363)]
    chosen = next((p for p in candidates if _udp_and_tcp_free(address, p)), None)
    if chosen is None:
        raise ServerStartError(f"no free port for dnsmasq on {address} among {candidates}")
    directory = _fresh_dir("dnsmasq")
    log_path = directory / "dnsmasq.log"
    argv = [
        dnsmasq,
        "--keep-in-foreground",
        f"--port={chosen}",
        f"--listen-address={address}",
        "--bind-interfaces",
        "--no-resolv",
        "--no-hosts",
        "--no-poll",
        "--conf-file=/dev/null",
        "--pid-file=",
        "--log-queries",
        f"--log-facility={log_path}",
    ]
    if os.geteuid() == 0:
        # Stay root rather than drop to "nobody", who could not write the log file here.
        argv.append("--user=root")
    argv += [f"--host-record={name},{ip}" for name, ip in records]
    with (directory / "dnsmasq.stdio").open("wb") as out:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(
        name="dnsmasq",
        address=address,
        ports=(chosen,),
        directory=directory,
        log_path=log_path,
        process=process,
    )
    _wait_ready(server)  # TCP port open implies the UDP socket is bound too (bound first)
    return server


# --- Samba -------------------------------------------------------------------------------------


def _free_tcp_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((address, 0))
        return int(probe.getsockname()[1])


def start_samba(
    name: str,
    *,
    min_protocol: str = "SMB2_02",
    max_protocol: str = "SMB3",
    signing: str = "default",
    extra: Sequence[str] = (),
) -> RunningServer:
    """A private ``smbd`` on 127.0.0.1, on a free port of its own (``smb ports``).

    smbd binds only to addresses configured on an interface (``interfaces``), and only
    127.0.0.1 is on ``lo`` here: each instance differs by port, not address. NetBIOS name
    service (nmbd) is not started; smbd answers a NetBIOS session request on any of its ports,
    so ``netbios-ssn://127.0.0.1:PORT`` reaches the same instance. Nothing authenticates:
    vedette sends NEGOTIATE only. Stopped by the pid started here.
    """
    smbd = find_binary("smbd")
    require_root("smbd")
    address = "127.0.0.1"
    port = _free_tcp_port(address)
    directory = _fresh_dir(f"samba-{name}")
    for sub in ("private", "lock", "state", "cache", "share"):
        (directory / sub).mkdir()
    log_path = directory / "smbd.log"
    config = "\n".join(
        [
            "[global]",
            "  server role = standalone server",
            f"  interfaces = {address}",
            "  bind interfaces only = yes",
            f"  smb ports = {port}",
            "  disable netbios = yes",
            f"  server min protocol = {min_protocol}",
            f"  server max protocol = {max_protocol}",
            f"  server signing = {signing}",
            f"  private dir = {directory / 'private'}",
            f"  lock directory = {directory / 'lock'}",
            f"  state directory = {directory / 'state'}",
            f"  cache directory = {directory / 'cache'}",
            f"  pid directory = {directory / 'lock'}",
            f"  log file = {log_path}",
            "  load printers = no",
            "  printcap name = /dev/null",
            "  map to guest = bad user",
            *(f"  {line}" for line in extra),
            "[share]",
            f"  path = {directory / 'share'}",
            "  guest ok = yes",
            "",
        ]
    )
    conf = directory / "smb.conf"
    conf.write_text(config)
    with (directory / "smbd.stdio").open("wb") as out:
        process = subprocess.Popen(
            [smbd, "--foreground", "--no-process-group", f"--configfile={conf}"],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = RunningServer(
        name=f"smbd {name}",
        address=address,
        ports=(port,),
        directory=directory,
        log_path=directory / "smbd.stdio",
        process=process,
        extra={"config": str(conf)},
    )
    _wait_ready(server)
    return server


# --- driving the CLI ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanRun:
    """One ``vedette scan --json`` run: exit status, the parsed document, stderr."""

    argv: tuple[str, ...]
    returncode: int
    document: dict[str, Any]
    stdout: str
    stderr: str

    def endpoints(self, ip: str, port: int | None = None) -> list[dict[str, Any]]:
        return [
            e
            for e in self.document["endpoints"]
            if e["ip"] == ip and (port is None or e["port"] == port)
        ]

    def endpoint(self, ip: str, port: int) -> dict[str, Any]:
        found = self.endpoints(ip, port)
        assert len(found) == 1, f"expected one endpoint {ip}:{port}, got {found}\n{self}"
        return found[0]

    def finding_ids(self, ip: str | None = None, port: int | None = None) -> set[str]:
        return {
            f["id"]
            for f in self.document["findings"]
            if (ip is None or f["ip"] == ip) and (port is None or f["port"] == port)
        }

    def __str__(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit {self.returncode}\n--- stderr ---\n{self.stderr}"
            f"\n--- stdout ---\n{self.stdout}"
        )


def run_scan(*args: str, ca: Path | None = None, timeout: float = 90.0) -> ScanRun:
    """Run ``python -m vedette scan --json --no-store [--ca CA] ARGS`` as a user would."""
    argv = [sys.executable, "-m", "vedette", "scan", "--json", "--no-store"]
    if ca is not None:
        argv += ["--ca", str(ca)]
    argv += ["--connect-timeout", "5", "--read-timeout", "10", *args]
    result = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout, check=False
    )
    try:
        document = json.loads(result.stdout)
    except json.JSONDecodeError:
        document = {}
    run = ScanRun(
        argv=tuple(argv),
        returncode=result.returncode,
        document=document,
        stdout=result.stdout,
        stderr=result.stderr,
    )
    assert document.get("schema") == "vedette.scan/1", f"no vedette.scan/1 document\n{run}"
    return run
