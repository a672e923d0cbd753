"""A real OpenLDAP ``slapd`` on loopback, configured per test: a reusable fixture.

Any test that needs a directory server (LDAP/StartTLS scans, and later S/MIME certificate
lookups or AD-like directories) describes the instance it wants in a ``SlapdSpec`` and starts
it with ``running_slapd``::

    spec = SlapdSpec(
        suffix="dc=example,dc=com",
        entries_ldif=USERS,                              # entries under the suffix
        tls=SlapdTls(chain=CHAIN, key=KEY, ca=ROOT),    # None: no TLS at all
        security=("olcSecurity: simple_bind=128",),     # cn=config attributes, as LDIF lines
    )
    with running_slapd(spec, tmp_path) as server:
        server.url            # "ldap://127.0.0.1:PORT"
        server.ldaps_url      # "ldaps://127.0.0.1:PORT2" (with TLS)

How: a cn=config LDIF (global settings, the schemas core/cosine/inetorgperson from
/etc/ldap/schema, the frontend, a config database nobody may read, one mdb database holding
the suffix) is loaded with ``slapadd -n0 -F DIR/slapd.d``; the suffix's base entry and the
given LDIF go in with ``slapadd -n1``; then ``slapd -F DIR/slapd.d -h "ldap://ADDR:P1/
ldaps://ADDR:P2/" -d 0`` runs in the foreground (``-d`` keeps it from forking, so the process
the fixture started *is* the daemon) and is stopped by that pid at exit. Nothing is written
outside the given directory; the stock Debian daemon and its /etc/ldap/slapd.d are untouched.
Ports are free ephemeral ports on the given loopback address unless fixed ones are asked for.

The rootDN (``cn=admin,<suffix>``, password ``ROOT_PASSWORD``) can write anything; the
access rules are those of a fresh Debian install (``DEBIAN_ACCESS``) unless
``SlapdSpec.database`` gives others. The binary missing: ``tests.tools.unavailable`` (skip
locally, fail in CI).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tests.tools import unavailable

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

#: The rootDN's password (``cn=admin,<suffix>``).
ROOT_PASSWORD = "vedette-root-secret"
#: The database's access rules of a fresh Debian install (less its shadowLastChange rule: the
#: nis schema is not loaded here): passwords serve binds only, the rest is readable by all.
DEBIAN_ACCESS = (
    "olcAccess: {0}to attrs=userPassword by self write by anonymous auth by * none",
    "olcAccess: {1}to * by * read",
)
#: Where Debian's slapd packages put the schemas and the backend modules.
SCHEMA_DIR = Path("/etc/ldap/schema")
MODULE_DIR = Path("/usr/lib/ldap")
_SBIN = ("/usr/sbin", "/sbin")
_READY_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True, kw_only=True)
class SlapdTls:
    """slapd's certificate: ``chain`` (leaf first, then intermediates), its ``key``, and the
    ``ca`` file slapd trusts (for client certificates; also required by GnuTLS builds)."""

    chain: Path
    key: Path
    ca: Path


@dataclass(frozen=True, slots=True, kw_only=True)
class SlapdSpec:
    """One slapd instance.

    Attributes:
        suffix: the naming context of the one database (its base entry is created).
        entries_ldif: more entries under the suffix, as LDIF (may be empty).
        tls: certificate and key; ``None`` runs without TLS (StartTLS is then refused and no
            ldaps listener is opened).
        security: extra attributes of ``cn=config``, one LDIF line each, e.g.
            ``"olcSecurity: simple_bind=128"``, ``"olcDisallows: bind_anon"``,
            ``"olcTLSProtocolMin: 3.3"``.
        database: attributes added to the suffix's database entry, replacing the default
            access rules (``DEBIAN_ACCESS``) when given (``olcAccess: ...``).
        address: the loopback address to listen on.
        ldap_port, ldaps_port: fixed ports, or 0 for free ephemeral ones.
        schemas: the schema LDIF files (from ``SCHEMA_DIR``) to load, in order.
        debug: slapd's ``-d`` level; its output goes to ``RunningSlapd.log_path`` (``"stats"``
            logs every connection and operation, ``"0"`` nothing).
    """

    suffix: str = "dc=example,dc=com"
    entries_ldif: str = ""
    tls: SlapdTls | None = None
    security: Sequence[str] = ()
    database: Sequence[str] = ()
    address: str = "127.0.0.1"
    ldap_port: int = 0
    ldaps_port: int = 0
    schemas: Sequence[str] = ("core", "cosine", "inetorgperson")
    debug: str = "0"

    @property
    def root_dn(self) -> str:
        return f"cn=admin,{self.suffix}"


@dataclass(frozen=True, slots=True, kw_only=True)
class RunningSlapd:
    """A started slapd: its URLs, its directory and its log."""

    spec: SlapdSpec
    directory: Path
    ldap_port: int
    ldaps_port: int | None
    log_path: Path
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"ldap://{self.spec.address}:{self.ldap_port}"

    @property
    def ldaps_url(self) -> str:
        assert self.ldaps_port is not None, "this slapd has no TLS"
        return f"ldaps://{self.spec.address}:{self.ldaps_port}"

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as exc:
            return f"(no log: {exc})"


def find_slapd() -> tuple[str, str]:
    """The paths of ``slapd`` and ``slapadd``, or skip (fail in CI) when not installed."""
    path = ":".join(_SBIN)
    slapd, slapadd = shutil.which("slapd", path=path), shutil.which("slapadd", path=path)
    if slapd is None or slapadd is None or not (MODULE_DIR / "back_mdb.so").exists():
        unavailable("slapd is not installed (Debian package slapd)")
    assert slapd is not None and slapadd is not None
    return slapd, slapadd


def free_port(address: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _base_entry(suffix: str) -> str:
    rdn = suffix.split(",", 1)[0]
    attribute, _, value = rdn.partition("=")
    if attribute.strip().lower() == "dc":
        return (
            f"dn: {suffix}\nobjectClass: top\nobjectClass: dcObject\nobjectClass: organization\n"
            f"dc: {value.strip()}\no: {value.strip()}\n"
        )
    if attribute.strip().lower() == "o":
        return f"dn: {suffix}\nobjectClass: top\nobjectClass: organization\no: {value.strip()}\n"
    raise ValueError(f"suffix must start with dc= or o=: {suffix!r}")


def config_ldif(spec: SlapdSpec, directory: Path) -> str:
    """The cn=config LDIF that ``slapadd -n0`` loads."""
    tls = spec.tls
    global_lines = [
        "dn: cn=config",
        "objectClass: olcGlobal",
        "cn: config",
        f"olcPidFile: {directory / 'slapd.pid'}",
        f"olcArgsFile: {directory / 'slapd.args'}",
    ]
    if tls is not None:
        global_lines += [
            f"olcTLSCertificateFile: {tls.chain}",
            f"olcTLSCertificateKeyFile: {tls.key}",
            f"olcTLSCACertificateFile: {tls.ca}",
        ]
    global_lines += list(spec.security)
    blocks = [
        "\n".join(global_lines),
        "dn: cn=module{0},cn=config\nobjectClass: olcModuleList\ncn: module{0}\n"
        f"olcModulePath: {MODULE_DIR}\nolcModuleLoad: back_mdb",
        "dn: cn=schema,cn=config\nobjectClass: olcSchemaConfig\ncn: schema",
        *(f"include: file://{SCHEMA_DIR / name}.ldif" for name in spec.schemas),
        "dn: olcDatabase={-1}frontend,cn=config\nobjectClass: olcDatabaseConfig\n"
        "objectClass: olcFrontendConfig\nolcDatabase: {-1}frontend",
        "dn: olcDatabase={0}config,cn=config\nobjectClass: olcDatabaseConfig\n"
        "olcDatabase: {0}config\nolcAccess: {0}to * by * none",
        "\n".join(
            [
                "dn: olcDatabase={1}mdb,cn=config",
                "objectClass: olcDatabaseConfig",
                "objectClass: olcMdbConfig",
                "olcDatabase: {1}mdb",
                f"olcSuffix: {spec.suffix}",
                f"olcDbDirectory: {directory / 'db'}",
                f"olcRootDN: {spec.root_dn}",
                f"olcRootPW: {ROOT_PASSWORD}",
                "olcDbMaxSize: 16777216",
                *(spec.database or DEBIAN_ACCESS),
            ]
        ),
    ]
    return "\n\n".join(blocks) + "\n"


def _run(argv: Sequence[str], what: str) -> None:
    proc = subprocess.run(
        argv, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({proc.returncode}): {proc.stderr}{proc.stdout}")


def _wait_ready(server: RunningSlapd) -> None:
    ports = [server.ldap_port] + ([server.ldaps_port] if server.ldaps_port else [])
    deadline = time.monotonic() + _READY_TIMEOUT
    while ports:
        try:
            with socket.create_connection((server.spec.address, ports[0]), timeout=1.0):
                ports.pop(0)
                continue
        except OSError:
            pass
        if server.process.poll() is not None:
            raise RuntimeError(
                f"slapd exited with status {server.process.returncode}\n{server.log()}"
            )
        if time.monotonic() > deadline:
            raise RuntimeError(f"slapd did not listen within {_READY_TIMEOUT:.0f}s\n{server.log()}")
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # only the pid started here
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


@contextlib.contextmanager
def running_slapd(spec: SlapdSpec, directory: Path) -> Iterator[RunningSlapd]:
    """Configure and start slapd under ``directory`` (created empty); stop it on exit."""
    slapd, slapadd = find_slapd()
    directory.mkdir(parents=True, exist_ok=True)
    confdir, dbdir = directory / "slapd.d", directory / "db"
    for d in (confdir, dbdir):
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(mode=0o700)
    (directory / "config.ldif").write_text(config_ldif(spec, directory))
    _run([slapadd, "-n0", "-F", str(confdir), "-l", str(directory / "config.ldif")], "slapadd -n0")
    data = _base_entry(spec.suffix) + ("\n" + spec.entries_ldif if spec.entries_ldif else "")
    (directory / "data.ldif").write_text(data)
    _run([slapadd, "-n1", "-F", str(confdir), "-l", str(directory / "data.ldif")], "slapadd -n1")
    ldap_port = spec.ldap_port or free_port(spec.address)
    ldaps_port = (spec.ldaps_port or free_port(spec.address)) if spec.tls is not None else None
    urls = f"ldap://{spec.address}:{ldap_port}/"
    if ldaps_port is not None:
        urls += f" ldaps://{spec.address}:{ldaps_port}/"
    log_path = directory / "slapd.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [slapd, "-F", str(confdir), "-h", urls, "-d", spec.debug],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = RunningSlapd(
        spec=spec,
        directory=directory,
        ldap_port=ldap_port,
        ldaps_port=ldaps_port,
        log_path=log_path,
        process=process,
    )
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)
