"""The java-17 profile against a real Java 17 client (the JDK that scripts/install-deps installs).

A small Java program (written here, run with the single-file launcher) connects with JSSE's
defaults — the JDK's own algorithm constraints, PKIX validation, HTTPS hostname check — trusting
only the test root, to an s_server that serves one problem each time. Its verdict must be the one
vedette simulates for the ``java-17`` profile with that root given as ``--ca``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess

import pytest

from tests.integration.test_clients_scan import HOST, _build, s_server, scan, verdicts
from tests.tools import unavailable

PROBE = """
import java.io.FileInputStream;
import java.io.InputStream;
import java.net.Socket;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;
import javax.net.ssl.SSLContext;
import javax.net.ssl.SSLParameters;
import javax.net.ssl.SSLSocket;
import javax.net.ssl.TrustManagerFactory;

public class Probe {
    public static void main(String[] a) throws Exception {
        CertificateFactory cf = CertificateFactory.getInstance("X.509");
        KeyStore ks = KeyStore.getInstance(KeyStore.getDefaultType());
        ks.load(null, null);
        try (InputStream in = new FileInputStream(a[2])) {
            ks.setCertificateEntry("root", cf.generateCertificate(in));
        }
        TrustManagerFactory tmf =
            TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
        tmf.init(ks);
        SSLContext ctx = SSLContext.getInstance("TLS");
        ctx.init(null, tmf.getTrustManagers(), null);
        Socket raw = new Socket("127.0.0.1", Integer.parseInt(a[1]));
        raw.setSoTimeout(10000);
        SSLSocket s = (SSLSocket) ctx.getSocketFactory()
            .createSocket(raw, a[0], Integer.parseInt(a[1]), true);
        SSLParameters p = s.getSSLParameters();
        p.setEndpointIdentificationAlgorithm("HTTPS");
        s.setSSLParameters(p);
        try {
            s.startHandshake();
            System.out.println("OK " + s.getSession().getProtocol());
        } catch (Exception e) {
            System.out.println("FAIL " + e);
            System.exit(1);
        }
        s.close();
    }
}
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """``java -cp DIR Probe``, compiled once for the module."""
    java, javac = shutil.which("java"), shutil.which("javac")
    if java is None or javac is None:
        unavailable("java/javac are not installed")
    out = tmp_path_factory.mktemp("javaprobe")
    (out / "Probe.java").write_text(PROBE)
    subprocess.run([javac, "-d", str(out), str(out / "Probe.java")], check=True, timeout=120)
    return [java, "-cp", str(out), "Probe"]


def _as_java_17_0_3() -> list[str]:
    """The java-17 profile models Java 17.0.3, whose hello (testssl.sh's recording) lists no
    SHA-1 scheme in signature_algorithms nor signature_algorithms_cert; Debian's Java 17.0.21
    lists rsa_pkcs1_sha1 in the latter. jdk.tls.client.SignatureSchemes sets both lists in
    Java 17, so the real client offers what the profile offers."""
    from vedette.trust import trust_data

    hello = next(p.hello for p in trust_data().profiles if p.id == "java-17")
    assert hello.sigalgs_cert == hello.sigalgs
    return [f"-Djdk.tls.client.SignatureSchemes={','.join(hello.sigalgs)}"]


@pytest.mark.parametrize(
    "problem", ["clean", "sha1", "rsa1024", "missing-intermediate", "no-eku", "validity"]
)
@pytest.mark.parametrize("version", ["-tls1_2", "-tls1_3"])
def test_java_17_agrees_with_the_simulation(tmp_path, probe, problem, version):
    _build(tmp_path, problem)
    java, *rest = probe
    with s_server(tmp_path, version) as port:
        doc = scan(port, tmp_path, "--clients", "java-17", mode="full")
        real = subprocess.run(
            [java, *_as_java_17_0_3(), *rest, HOST, str(port), str(tmp_path / "root.pem")],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    simulated = verdicts(doc)["java-17"]
    assert simulated["outcome"] in ("works", "fails"), simulated
    assert (simulated["outcome"] == "works") == (real.returncode == 0), (
        problem,
        simulated,
        real.stdout,
    )
    if problem == "sha1":
        # The server aborts: an OpenSSL server has no certificate the client's
        # signature_algorithms_cert allows (s_server: "no suitable signature algorithm").
        assert "handshake_failure" in real.stdout, real.stdout
        assert "tls.sigalgs-cert" in {r["code"] for r in simulated["reasons"]}


def test_debian_java_17_lists_sha1_in_signature_algorithms_cert_only(tmp_path, probe):
    """What changed after 17.0.3: the default Java 17 here accepts the SHA-1 leaf under a
    private root again (SHA-1 back in signature_algorithms_cert)."""
    _build(tmp_path, "sha1")
    with s_server(tmp_path, "-tls1_3") as port:
        real = subprocess.run(
            [*probe, HOST, str(port), str(tmp_path / "root.pem")],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert real.returncode == 0, real.stdout


CAPTURE = """
import javax.net.ssl.*;
public class Hello {
    public static void main(String[] a) throws Exception {
        SSLSocketFactory f = (SSLSocketFactory) SSLSocketFactory.getDefault();
        try (SSLSocket s = (SSLSocket) f.createSocket("127.0.0.1", Integer.parseInt(a[0]))) {
            s.setSoTimeout(5000);
            try { s.startHandshake(); } catch (java.io.IOException e) { }
        }
    }
}
"""


def test_the_java_17_current_profile_is_the_installed_jdks_hello(tmp_path):
    """java-17-current models the Java 17 installed here (Debian 12's current update): its
    real ClientHello, captured on a socket that answers nothing, must be the profile's."""
    from tests.unit.test_trust_profiles import parse_client_hello
    from vedette.trust import trust_data
    from vedette.trust._data import GROUP_CODES, SIGALG_CODES

    java = shutil.which("java")
    if java is None:
        unavailable("java is not installed")
    (tmp_path / "Hello.java").write_text(CAPTURE)
    received = bytearray()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        listener.settimeout(60)
        port = listener.getsockname()[1]
        client = subprocess.Popen(
            [java, str(tmp_path / "Hello.java"), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(30)
                while len(received) < 5 or len(received) < 5 + int.from_bytes(received[3:5]):
                    chunk = conn.recv(65536)
                    if not chunk:
                        break
                    received += chunk
        finally:
            client.wait(60)
    real = parse_client_hello(bytes(received))
    hello = next(p.hello for p in trust_data().profiles if p.id == "java-17-current")
    # The renegotiation SCSV (0x00FF) is a signal, not a suite: profiles leave it out.
    assert [c for c in real["suites"] if c != 0x00FF] == list(hello.suites)
    assert real["groups"] == [GROUP_CODES[g] for g in hello.groups]
    assert real["sigalgs"] == [SIGALG_CODES[s] for s in hello.sigalgs]
    assert real["sigalgs_cert"] == [SIGALG_CODES[s] for s in hello.sigalgs_cert]
    assert sorted(real["versions"]) == [0x0303, 0x0304]
