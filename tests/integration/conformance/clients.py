"""The real clients of the conformance harness and the vedette profile each one speaks for.

Each client is a real implementation run in a subprocess with timeouts: CPython's ssl and its
stdlib mail modules, curl, Java 17's JSSE, JavaMail 1.6 and Jakarta Mail 2.0 (Debian's jars),
NSS's tstclnt, GnuTLS's gnutls-cli, Postfix's posttls-finger, and openssl s_client replaying
each profile's ClientHello (the one testssl.sh recorded from the real client where it exists).

A client answers ``connects`` or ``fails`` (with the client's own words), or ``unknown`` when
it could not tell. ``scope`` says which half of vedette's verdict it can check: ``full`` (the
client verifies the certificate the way the profile says) or ``handshake`` (it only shows
whether the hello meets the server: the replays, and the opportunistic MTAs, which verify
nothing).
"""

from __future__ import annotations

import os
import queue
import re
import shutil
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from tests.integration.realservers import MAIL_HOST, NODES_HOST
from tests.integration.test_clients_scan import _openssl_sigalg
from tests.unit.test_trust_profiles import TESTSSL, _testssl_clients, parse_client_hello
from vedette.trust._data import GROUP_CODES, SIGALG_CODES, VERSIONS, suite_names, trust_data

if TYPE_CHECKING:
    from collections.abc import Callable

    from tests.integration.conformance.servers import Target

Outcome = Literal["connects", "fails", "unknown"]
Scope = Literal["full", "handshake"]

# --- which profile each client speaks for ------------------------------------------------------
# Scripts that verify (ssl.create_default_context(), requests, curl's OpenSSL defaults) and the
# standard library's mail clients without a context. Lync/SfB "-kb2973337" variants need no
# line: every profile's hello is replayed with s_client (below), whatever profiles the data holds.
VERIFYING_SCRIPTS: tuple[str, ...] = ("python-verifying",)
STDLIB_MAIL_SCRIPTS: tuple[str, ...] = ("python-stdlib-mail",)
# Thunderbird (current) verifies with NSS; tstclnt is NSS's own client.
NSS_PROFILES = ("thunderbird-current",)
# Java 17's JSSE (HTTPS name check) and Jakarta Mail 2.0 on it: the java-17-current profile
# (Angus Mail 2 on the Java 17 installed here, which checks the name as JSSE's HTTPS check does;
# Jakarta Mail 2.0 does not). java-17 (17.0.3) is compared through its recorded hello's replay.
JAVA17_PROFILES = ("java-17-current",)
# JavaMail 1.6 and Jakarta Mail 2.0 run here on Java 17, not on the JDKs of the java-8/java-11
# profiles: they speak for those profiles only where the mail library decides (the name check).
NAME_CASES = frozenset({"tls12-only", "wrong-name"})
JAVAMAIL_16_PROFILES = ("java-8",)
JAKARTA_20_OLD_JDK_PROFILES = ("java-11",)
EXIM_PROFILES = ("exim-debian12",)
POSTFIX_PROFILES = ("postfix-debian12",)

TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class Real:
    outcome: Outcome
    detail: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Client:
    """One real client.

    Attributes:
        id: stable id (the accepted-differences file uses it).
        label: what it is, with versions.
        profiles: the vedette profiles it speaks for.
        scope: which half of vedette's verdict it checks (module docstring).
        also: more profiles, each compared on the given server cases only.
        except_cases: server cases where ``profiles`` are not compared.
        dialects: the server dialects it can talk to.
        programs: what must be installed (on PATH).
        files: other files it needs (the JavaMail jars).
        run: connect to a target.
    """

    id: str
    label: str
    profiles: tuple[str, ...]
    run: Callable[[Target, Kit], Real]
    scope: Scope = "full"
    also: tuple[tuple[str, frozenset[str]], ...] = ()
    except_cases: frozenset[str] = frozenset()
    dialects: frozenset[str] = frozenset({"raw", "imap", "smtp"})
    programs: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def compared(self, case: str) -> tuple[str, ...]:
        """The profiles this client's outcome on ``case`` is compared with."""
        mine = () if case in self.except_cases else self.profiles
        return mine + tuple(p for p, cases in self.also if case in cases)


def _one_line(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _run(argv: list[str], *, env: dict[str, str] | None = None, timeout: float = TIMEOUT):
    return subprocess.run(
        argv,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        env=env,
        check=False,
    )


# --- the session's toolbox ---------------------------------------------------------------------


class JavaDriver:
    """One JVM running Probe (Probe.java.in) for one mail library, fed a request a line."""

    def __init__(self, argv: list[str]) -> None:
        self._proc = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._lines: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line.rstrip("\n"))
        self._lines.put("UNKNOWN the Java probe exited")

    def ask(self, *words: str) -> Real:
        with self._lock:
            assert self._proc.stdin is not None
            self._proc.stdin.write(" ".join(words) + "\n")
            self._proc.stdin.flush()
            try:
                answer = self._lines.get(timeout=TIMEOUT)
            except queue.Empty:
                return Real("unknown", "the Java probe did not answer in time")
        word, _, detail = answer.partition(" ")
        outcome: Outcome = {"OK": "connects", "FAIL": "fails"}.get(word, "unknown")  # type: ignore[assignment]
        return Real(outcome, _one_line(detail))

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


JARS = {
    "javax.mail": ("/usr/share/java/javax.mail.jar", "/usr/share/java/javax.activation.jar"),
    "jakarta.mail": (
        "/usr/share/java/jakarta-mail.jar",
        "/usr/share/java/jakarta-activation.jar",
    ),
}
# Names the Java clients resolve, from a hosts file (jdk.net.hosts.file): never the system
# resolver. The real Dovecot (D3) answers as nodes.realtest.test and the real Postfix (P2) as
# mail.realtest.test: both names are on their certificate.
JAVA_HOSTS = {"mail.vedette.test": "127.0.0.1", MAIL_HOST: "127.0.0.22", NODES_HOST: "127.0.0.13"}


class Kit:
    """What the clients share in a session: a scratch directory, NSS databases per root, a
    Postfix configuration directory for posttls-finger, and the JVMs (started on first use)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self._lock = threading.Lock()
        self._nss: dict[str, Path] = {}
        self._java: dict[str, JavaDriver] = {}
        self.postfix_conf = work / "postfix"
        self.postfix_conf.mkdir(parents=True, exist_ok=True)
        # posttls-finger reads main.cf; an empty Postfix configuration, DNS lookups off.
        (self.postfix_conf / "main.cf").write_text(
            "compatibility_level = 3.6\nsmtp_dns_support_level = disabled\n"
        )

    def nss_db(self, root: Path | None) -> Path:
        """An NSS database trusting ``root`` for TLS servers (empty for ``None``)."""
        key = str(root)
        with self._lock:
            if key not in self._nss:
                db = self.work / f"nss{len(self._nss)}"
                db.mkdir()
                certutil = shutil.which("certutil") or "certutil"
                _check(_run([certutil, "-N", "-d", f"sql:{db}", "--empty-password"]))
                if root is not None:
                    add = [certutil, "-A", "-n", "root", "-t", "C,,", "-i", str(root)]
                    _check(_run([*add, "-d", f"sql:{db}"]))
                self._nss[key] = db
            return self._nss[key]

    def java(self, package: str) -> JavaDriver:
        with self._lock:
            if package not in self._java:
                self._java[package] = self._start_java(package)
            return self._java[package]

    def _start_java(self, package: str) -> JavaDriver:
        java, javac = shutil.which("java"), shutil.which("javac")
        assert java is not None and javac is not None
        out = self.work / f"java-{package}"
        out.mkdir()
        source = (Path(__file__).parent / "Probe.java.in").read_text().replace("@PKG@", package)
        (out / "Probe.java").write_text(source)
        classpath = ":".join(JARS[package])
        _check(_run([javac, "-cp", classpath, "-d", str(out), str(out / "Probe.java")],
                    timeout=180))  # fmt: skip
        hosts = out / "hosts"
        hosts.write_text("".join(f"{ip} {name}\n" for name, ip in JAVA_HOSTS.items()))
        return JavaDriver(
            [java, f"-Djdk.net.hosts.file={hosts}", "-cp", f"{out}:{classpath}", "Probe"]
        )

    def close(self) -> None:
        for driver in self._java.values():
            driver.close()


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(result.args)}: {result.stdout}{result.stderr}")


# --- Python ------------------------------------------------------------------------------------

_PY_VERIFYING = r"""
import socket, ssl, sys
host, ip, port, root = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
ctx = ssl.create_default_context(cafile=None if root == "-" else root)
try:
    with socket.create_connection((ip, port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname=host) as s:
            print("connects", s.version(), s.cipher()[0])
except ssl.SSLError as e:
    print("fails", e)
"""

# The stdlib mail modules with no ssl_context: what a script that just calls IMAP4_SSL(host)
# gets. The subclasses only note that the handshake completed (s_server sends no greeting).
_PY_STDLIB_MAIL = r"""
import imaplib, smtplib, ssl, sys
dialect, ip, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
user, password = sys.argv[4], sys.argv[5]
done = []
class Imap(imaplib.IMAP4_SSL):
    def _create_socket(self, timeout):
        sock = super()._create_socket(timeout)
        done.append(sock.version())
        return sock
class Smtp(smtplib.SMTP_SSL):
    def _get_socket(self, host, port, timeout):
        sock = super()._get_socket(host, port, timeout)
        done.append(sock.version())
        return sock
try:
    if dialect == "smtp":
        with Smtp(ip, port, timeout=5) as s:
            s.ehlo()
    else:
        m = Imap(ip, port, timeout=2)
        if user != "-":
            m.login(user, password)
        m.logout()
    print("connects", done[0])
except ssl.SSLError as e:
    print("fails", e)
except Exception as e:
    if done:
        print("connects", done[0], "(no greeting:", type(e).__name__ + ")")
    else:
        print("unknown", type(e).__name__, e)
"""


def _python(script: str, *args: str) -> Real:
    result = _run([sys.executable, "-I", "-c", script, *args])
    word, _, detail = result.stdout.strip().partition(" ")
    if word in ("connects", "fails", "unknown"):
        return Real(word, _one_line(detail))  # type: ignore[arg-type]
    return Real("unknown", _one_line(result.stderr or result.stdout or "no output"))


def python_verifying(t: Target, kit: Kit) -> Real:
    return _python(_PY_VERIFYING, t.host, t.ip, str(t.port), str(t.root or "-"))


def python_stdlib_mail(t: Target, kit: Kit) -> Real:
    user, password = t.login or ("-", "-")
    return _python(_PY_STDLIB_MAIL, t.dialect, t.ip, str(t.port), user, password)


# --- curl --------------------------------------------------------------------------------------

# curl's TLS failures (libcurl-errors(3)): SSL connect error, peer certificate, CA cert...
_CURL_TLS = {35, 51, 53, 54, 58, 59, 60, 64, 66, 77, 80, 82, 83, 90, 91}


def curl(t: Target, kit: Kit) -> Real:
    url = {
        "raw": f"https://{t.host}:{t.port}/",
        "imap": f"imaps://{t.host}:{t.port}/",
        "smtp": f"smtps://{t.host}:{t.port}/",
    }[t.dialect]
    argv = [shutil.which("curl") or "curl", "--silent", "--show-error", "--verbose"]
    argv += ["--max-time", "10", "--resolve", f"{t.host}:{t.port}:{t.ip}"]
    if t.root is not None:
        argv += ["--cacert", str(t.root)]
    if t.login is not None:
        argv += ["--user", ":".join(t.login)]
    result = _run([*argv, url])
    if result.returncode == 0:
        return Real("connects", "exit 0")
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("curl:")]
    why = _one_line(lines[-1] if lines else f"exit {result.returncode}")
    if result.returncode in _CURL_TLS:
        return Real("fails", why)
    if "SSL connection using" in result.stderr:
        return Real("connects", f"TLS up, then {why}")
    return Real("unknown", why)


# --- Java --------------------------------------------------------------------------------------


def java_jsse(t: Target, kit: Kit) -> Real:
    return kit.java("javax.mail").ask("jsse", t.host, str(t.port), str(t.root or "-"))


def javamail(package: str, *props: str) -> Callable[[Target, Kit], Real]:
    """JavaMail (``javax.mail``) or Jakarta Mail (``jakarta.mail``) with its default
    properties, plus ``props`` (``name=value``; ``{proto}`` stands for imaps or smtps)."""

    def run(t: Target, kit: Kit) -> Real:
        proto = "smtps" if t.dialect == "smtp" else "imaps"
        user, password = t.login or ("-", "-")
        extra = [p.format(proto=proto) for p in props]
        return kit.java(package).ask(
            "mail", proto, t.host, str(t.port), str(t.root or "-"), user, password, *extra
        )

    return run


# --- NSS, GnuTLS, Postfix ----------------------------------------------------------------------


def nss_tstclnt(t: Target, kit: Kit) -> Real:
    # Thunderbird's security.tls.version.min is 3 (TLS 1.2) since version 78. tstclnt's -Q
    # ("exit after handshake") races at TLS 1.2 and may wait for server data forever, so the
    # handshake callback's line on stderr ("N cache hits; ...") is the sign of success.
    argv = [shutil.which("tstclnt") or "tstclnt", "-h", t.ip, "-p", str(t.port), "-a", t.host]
    argv += ["-d", f"sql:{kit.nss_db(t.root)}", "-V", "tls1.2:tls1.3"]
    proc = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str | None] = queue.Queue()

    def read() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=TIMEOUT)
            if line is None:
                break
            seen.append(line)
            if "cache hits;" in line:
                return Real("connects", "handshake and certificate accepted")
    except queue.Empty:
        return Real("unknown", "tstclnt neither finished the handshake nor failed in time")
    finally:
        proc.kill()
        proc.wait(5)
        for stream in (proc.stdin, proc.stderr):
            if stream is not None:
                stream.close()
    errors = [ln for ln in seen if "tstclnt:" in ln]
    if any(re.search(r"\b(SSL|SEC)_ERROR_", ln) for ln in errors):  # TLS or the certificate
        return Real("fails", _one_line(errors[-1]))
    return Real("unknown", _one_line(errors[-1] if errors else f"exit {proc.returncode}"))


def gnutls_cli(t: Target, kit: Kit) -> Real:
    # Exim on Debian delivers over TLS whatever the certificate (tls_try_verify_hosts does not
    # abort), with GnuTLS's NORMAL priority (Exim's default tls_require_ciphers).
    argv = [shutil.which("gnutls-cli") or "gnutls-cli", "--insecure", "--priority", "NORMAL"]
    argv += ["--sni-hostname", t.host, "-p", str(t.port), t.ip]
    result = _run(argv)
    if "Handshake was completed" in result.stdout:
        described = re.search(r"- Description: (\S+)", result.stdout)
        return Real("connects", described.group(1) if described else "handshake completed")
    errors = [ln for ln in (result.stderr + result.stdout).splitlines() if "***" in ln]
    if any("Handshake has failed" in ln or "Fatal error" in ln for ln in errors):
        return Real("fails", _one_line(errors[-1]))
    return Real("unknown", _one_line(errors[-1] if errors else f"exit {result.returncode}"))


def posttls_finger(t: Target, kit: Kit) -> Real:
    # Postfix's SMTP client as Debian 12 configures it: smtp_tls_security_level = may.
    finger = shutil.which("posttls-finger", path="/usr/sbin:/usr/bin") or "posttls-finger"
    argv = [finger, "-w", "-c", "-l", "may", "-L", "summary", "-t", "5", "-T", "2"]
    env = {**os.environ, "MAIL_CONFIG": str(kit.postfix_conf)}
    result = _run([*argv, f"[{t.ip}]:{t.port}"], env=env)
    out = result.stdout + result.stderr
    established = re.search(r"(\w+ TLS connection established[^\n]*)", out)
    if established:
        return Real("connects", _one_line(established.group(1)))
    lines = [ln for ln in out.splitlines() if ln.strip()]
    tls = [ln for ln in lines if re.search(r"TLS|SSL|handshake", ln)]
    if tls:  # the connection was made and TLS failed
        return Real("fails", _one_line(tls[-1]))
    return Real("unknown", _one_line(lines[-1] if lines else f"exit {result.returncode}"))


# --- openssl s_client replaying a profile's hello ----------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Hello:
    """A ClientHello as s_client can offer it: versions, suites, groups, signature schemes."""

    source: str
    versions: tuple[str, ...]
    suites: tuple[int, ...]
    groups: tuple[str, ...]
    sigalgs: tuple[str, ...]


def _recorded(hello_id: str) -> Hello | None:
    """The testssl.sh recording the profile hello names as its reference, if it parses."""
    profile_hello = next(p.hello for p in trust_data().profiles if p.hello.id == hello_id)
    if not profile_hello.reference or not TESTSSL.exists():
        return None
    real = _testssl_clients().get(profile_hello.reference)
    if real is None:
        return None
    try:
        parsed = parse_client_hello(real["hello"])  # type: ignore[arg-type]
    except AssertionError:  # an SSLv2-compatible hello
        return None
    codes_groups = {code: name for name, code in GROUP_CODES.items()}
    codes_sigalgs = {code: name for name, code in SIGALG_CODES.items()}
    versions = sorted(real["versions"], key=VERSIONS.index)  # type: ignore[arg-type]
    if parsed["versions"]:
        names = {0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2", 0x0304: "TLSv1.3"}
        versions = sorted((names[v] for v in parsed["versions"] if v in names), key=VERSIONS.index)
    hello = Hello(
        source=f"testssl.sh's recording of {profile_hello.reference!r}",
        versions=tuple(versions),
        suites=tuple(parsed["suites"]),
        groups=tuple(codes_groups[g] for g in parsed["groups"] if g in codes_groups),
        sigalgs=tuple(codes_sigalgs[s] for s in parsed["sigalgs"] if s in codes_sigalgs),
    )
    # Where the profile differs from the recording on purpose, the profile's field is the truth.
    differs = profile_hello.reference_differs
    return Hello(
        source=hello.source + (f" ({', '.join(differs)} as the profile)" if differs else ""),
        versions=tuple(profile_hello.versions) if "versions" in differs else hello.versions,
        suites=tuple(profile_hello.suites) if "suites" in differs else hello.suites,
        groups=tuple(profile_hello.groups) if "groups" in differs else hello.groups,
        sigalgs=tuple(profile_hello.sigalgs) if "sigalgs" in differs else hello.sigalgs,
    )


def _own(hello_id: str) -> Hello:
    h = next(p.hello for p in trust_data().profiles if p.hello.id == hello_id)
    return Hello(
        source=f"vedette's hello {hello_id!r} (no recording)",
        versions=tuple(h.versions),
        suites=tuple(h.suites),
        groups=tuple(h.groups),
        sigalgs=tuple(h.sigalgs),
    )


# The signature schemes OpenSSL 3.0's -sigalgs knows (no MD5, no post-quantum schemes).
_OPENSSL_30_SCHEMES = re.compile(
    r"(rsa_pkcs1|ecdsa|dsa)_(secp\d+r1_)?sha\d+|rsa_pss_(rsae|pss)_sha\d+|ed25519|ed448"
)


def s_client_argv(hello: Hello) -> list[str] | None:
    """s_client options offering ``hello`` (``None``: nothing s_client can offer of it)."""
    names = suite_names()
    known = [names[c] for c in hello.suites if c in names]
    tls12 = [n for n in known if not n.startswith("TLS_")]
    tls13 = [n for n in known if n.startswith("TLS_")]
    order = ["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"]
    versions = [v for v in order if v in hello.versions]
    if not tls12:
        versions = [v for v in versions if v == "TLSv1.3"]
    if not tls13:
        versions = [v for v in versions if v != "TLSv1.3"]
    if not versions:
        return None
    argv = ["-min_protocol", versions[0], "-max_protocol", versions[-1]]
    # SECLEVEL 0: offer what the real client offered, however old; the server decides.
    argv += ["-cipher", (":".join(tls12) or "NULL") + ":@SECLEVEL=0"]
    if tls13:
        argv += ["-ciphersuites", ":".join(tls13)]
    groups = [g for g in hello.groups if not g.endswith("ml_kem_768")]
    if groups:
        argv += ["-groups", ":".join(groups)]
    # s_client refuses a scheme it does not know, or one given twice.
    known_schemes = [s for s in hello.sigalgs if _OPENSSL_30_SCHEMES.fullmatch(s)]
    sigalgs = list(dict.fromkeys(_openssl_sigalg(s) for s in known_schemes))
    if sigalgs and versions[-1] in ("TLSv1.2", "TLSv1.3"):
        argv += ["-sigalgs", ":".join(sigalgs)]
    return argv


def _replay(hello: Hello) -> Callable[[Target, Kit], Real]:
    def run(t: Target, kit: Kit) -> Real:
        flags = s_client_argv(hello)
        if flags is None:
            return Real("unknown", "s_client can offer nothing of this hello")
        openssl = shutil.which("openssl") or "openssl"
        argv = [openssl, "s_client", "-connect", f"{t.ip}:{t.port}", "-servername", t.host]
        result = _run([*argv, *flags])
        if "CONNECTED" not in result.stdout:  # s_client refused its options: nothing was sent
            return Real("unknown", _one_line(f"s_client did not connect: {result.stderr}"))
        cipher = re.search(r"Cipher is (\S+)", result.stdout)
        if result.returncode == 0 and cipher and cipher.group(1) != "(NONE)":
            version = re.search(r"New, (\S+), Cipher", result.stdout)
            return Real("connects", f"{version.group(1) if version else ''} {cipher.group(1)}")
        errors = [ln for ln in result.stderr.splitlines() if ":error:" in ln]
        return Real("fails", _one_line(errors[0] if errors else f"exit {result.returncode}"))

    return run


def replay_clients() -> list[Client]:
    """One s_client replay per distinct profile hello, speaking for every profile using it."""
    by_hello: dict[str, list[str]] = {}
    for p in trust_data().profiles:
        by_hello.setdefault(p.hello.id, []).append(p.id)
    out = []
    for hello_id, profiles in by_hello.items():
        hello = _recorded(hello_id) or _own(hello_id)
        out.append(
            Client(
                id=f"s_client:{hello_id}",
                label=f"openssl s_client replaying {hello.source}",
                profiles=tuple(profiles),
                run=_replay(hello),
                scope="handshake",
                programs=("openssl",),
            )
        )
    return out


def _python_label() -> str:
    import ssl

    return f"CPython {sys.version.split()[0]} with {ssl.OPENSSL_VERSION}"


def real_clients() -> list[Client]:
    """The clients besides the replays (see the mapping at the top of this module)."""
    py = _python_label()
    mail_library = "default properties (mail.<proto>.ssl.checkserveridentity unset)"
    return [
        Client(
            id="python-verifying",
            label=f"{py}: ssl.create_default_context(), the root as cafile",
            profiles=VERIFYING_SCRIPTS,
            run=python_verifying,
        ),
        Client(
            id="python-stdlib-mail",
            label=f"{py}: imaplib.IMAP4_SSL / smtplib.SMTP_SSL without ssl_context",
            profiles=STDLIB_MAIL_SCRIPTS,
            run=python_stdlib_mail,
        ),
        Client(
            id="curl",
            label="curl (Debian 12, OpenSSL 3) with the root as --cacert",
            profiles=VERIFYING_SCRIPTS,
            run=curl,
            programs=("curl",),
        ),
        Client(
            id="java17-jsse",
            label="Java 17 JSSE defaults, HTTPS name check (not a mail library's)",
            profiles=JAVA17_PROFILES,
            run=java_jsse,
            programs=("java", "javac"),
            files=JARS["javax.mail"],
        ),
        Client(
            id="javamail-1.6",
            label=f"JavaMail 1.6 (Debian libmail-java) on Java 17, {mail_library}",
            profiles=(),
            also=tuple((p, NAME_CASES) for p in JAVAMAIL_16_PROFILES),
            run=javamail("javax.mail"),
            programs=("java", "javac"),
            files=JARS["javax.mail"],
        ),
        Client(
            id="jakarta-mail-2.0",
            label=f"Jakarta Mail 2.0 (Debian libjakarta-mail-java) on Java 17, {mail_library}",
            profiles=JAVA17_PROFILES,
            except_cases=frozenset({"wrong-name"}),  # Angus Mail 2 (java-17-current) does
            also=tuple((p, NAME_CASES) for p in JAKARTA_20_OLD_JDK_PROFILES),
            run=javamail("jakarta.mail"),
            programs=("java", "javac"),
            files=JARS["jakarta.mail"],
        ),
        Client(
            id="nss-tstclnt",
            label="NSS tstclnt (Debian libnss3-tools), TLS 1.2-1.3 as Thunderbird, root in its db",
            profiles=NSS_PROFILES,
            run=nss_tstclnt,
            programs=("tstclnt", "certutil"),
        ),
        Client(
            id="gnutls-cli",
            label="gnutls-cli (GnuTLS 3.7, Debian 12), priority NORMAL, no verification (Exim)",
            profiles=EXIM_PROFILES,
            run=gnutls_cli,
            scope="handshake",
            dialects=frozenset({"raw", "smtp"}),
            programs=("gnutls-cli",),
        ),
        Client(
            id="posttls-finger",
            label="Postfix posttls-finger (Debian 12), -l may (smtp_tls_security_level = may)",
            profiles=POSTFIX_PROFILES,
            run=posttls_finger,
            scope="handshake",
            dialects=frozenset({"raw", "smtp"}),
            programs=("posttls-finger",),
        ),
    ]
