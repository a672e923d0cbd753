""".sst files against another implementation: Wine's crypt32, driven by a small Windows program.

``tests/integration/wine/sstutil.c`` is built here with MinGW-w64 and run under Wine
(``wine64``, Debian's 8.0) in a throw-away prefix. It reads a store with
``CertOpenStore(CERT_STORE_PROV_FILENAME_W)`` (Wine's file-store reader) or element by element
with ``CertAddSerializedElementToStore``, prints each certificate's SHA-1 (computed by crypt32
from the DER) and its properties, and writes stores with
``CertSaveStore(CERT_STORE_SAVE_AS_STORE)``. So vedette's writer is checked by Wine's readers,
vedette's reader by Wine's writer, and the two writers are compared byte for byte.

Recorded difference (``WINE_FILE_READER_ORDER``): Wine 8.0's file-store reader attaches a
property to the context *before* it and gives an empty store when the file starts with a
property ("prop id 3 before a context id"), while its own writer, Windows and Microsoft's
specification ([MS-OSHARED] 2.3.2.5.4) put properties *before* their certificate. So a store
with properties (vedette's default, SHA-1 hash property first, like the stores Windows
exports) is checked with Wine's per-element reader, and the file-store reader gets stores
without properties. The first start of Wine in a new prefix takes several seconds (it creates
the prefix); the prefix is made once per module.
"""

from __future__ import annotations

import datetime
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from tests.tools import require_program, unavailable
from tests.unit.test_sst import KEY_PROV_INFO, ROOT_DER
from vedette.pki import sst
from vedette.pki.formats import read_material

SOURCE = Path(__file__).parent / "wine" / "sstutil.c"
WINE_CANDIDATES = ("wine64", "/usr/lib/wine/wine64")  # Debian's wine64 package: not on PATH
WINESERVER_CANDIDATES = ("wineserver", "/usr/lib/wine/wineserver")
WINE_FILE_READER_ORDER = "Wine 8.0's file-store reader attaches properties to the previous context"


def _find(candidates: tuple[str, ...]) -> str | None:
    for name in candidates:
        path = shutil.which(name) or (name if os.access(name, os.X_OK) else None)
        if path:
            return path
    return None


@dataclass
class Wine:
    exe: Path
    wine: str
    env: dict[str, str]
    first_start: float

    def run_raw(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.wine, str(self.exe), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    def run(self, *args: str) -> str:
        done = self.run_raw(*args)
        assert done.returncode == 0, f"sstutil {args[0]} failed: {done.stderr.strip()}"
        return done.stdout


def windows_path(path: Path) -> str:
    """Wine's Z: drive is the Unix root."""
    return "Z:" + str(path.resolve()).replace("/", "\\")


@pytest.fixture(scope="module")
def wine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Wine]:
    gcc = require_program("x86_64-w64-mingw32-gcc")
    wine_path = _find(WINE_CANDIDATES)
    if wine_path is None:
        unavailable("wine64 is not installed")
    assert wine_path is not None
    work = tmp_path_factory.mktemp("wine")
    exe = work / "sstutil.exe"
    subprocess.run(
        [gcc, "-municode", "-O1", "-Wall", "-o", str(exe), str(SOURCE), "-lcrypt32"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    env = {k: v for k, v in os.environ.items() if k != "DISPLAY"}
    env.update(
        WINEPREFIX=str(work / "prefix"),
        WINEDEBUG="-all",
        # No Mono or Gecko install prompt when the prefix is created.
        WINEDLLOVERRIDES="mscoree,mshtml=",
    )
    wine = Wine(exe=exe, wine=wine_path, env=env, first_start=0.0)
    started = time.monotonic()
    probe = wine.run_raw()  # creates the prefix: Wine's slow first start
    wine.first_start = time.monotonic() - started
    assert probe.returncode == 2 and "usage: sstutil" in probe.stderr, probe.stderr
    yield wine
    wineserver = _find(WINESERVER_CANDIDATES)
    if wineserver is not None:  # stop this prefix's wineserver (and only it)
        subprocess.run([wineserver, "-k"], env=env, capture_output=True, timeout=60, check=False)


@dataclass(frozen=True)
class Listed:
    sha1: str
    length: int
    properties: dict[int, str]


def parse_listing(text: str) -> tuple[list[Listed], int]:
    certs: list[Listed] = []
    crls = -1
    for line in text.splitlines():
        words = line.split(" ", 2)
        if words[0] == "cert":
            certs.append(Listed(sha1=words[1], length=int(words[2]), properties={}))
        elif words[0] == "prop":
            certs[-1].properties[int(words[1])] = words[2]
        elif words[0] == "crls":
            crls = int(words[1])
    assert text.rstrip().endswith("end"), text
    return certs, crls


def _issue(
    cn: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: x509.Certificate | None = None,
    signer: ec.EllipticCurvePrivateKey | None = None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer is not None else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .sign(signer or key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def chain() -> tuple[x509.Certificate, x509.Certificate, x509.Certificate]:
    """An S/MIME-like chain: a root, an intermediate, a user's certificate."""
    root_key, inter_key, user_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _issue("Wine Test Root", root_key)
    inter = _issue("Wine Test Issuing CA", inter_key, root, signer=root_key)
    user = _issue("alice@example.test", user_key, inter, signer=inter_key)
    return root, inter, user


def _sha1(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA1()).hex()


def _utf16z(text: str) -> str:
    return (text + "\x00").encode("utf-16-le").hex()


def test_wine_first_start_is_measured(wine: Wine) -> None:
    # Creating the prefix is the slow part of Wine; later runs take a fraction of a second.
    started = time.monotonic()
    probe = wine.run_raw()
    later = time.monotonic() - started
    print(f"wine first start {wine.first_start:.1f} s, a later run {later:.2f} s")
    assert probe.returncode == 2
    assert later < wine.first_start


def test_wine_reads_vedette_store_element_by_element(wine: Wine, chain, tmp_path: Path) -> None:
    root, inter, user = chain
    path = tmp_path / "chainOfTrust.sst"
    path.write_bytes(
        sst.write_sst(
            [user, inter, root, inter], friendly_names={root: "Racine été", inter: "Émettrice"}
        )
    )
    certs, crls = parse_listing(wine.run("elements", windows_path(path)))
    by_sha1 = {c.sha1: c for c in certs}
    assert sorted(by_sha1) == sorted(_sha1(c) for c in (user, inter, root))
    assert len(certs) == 3 and crls == 0  # the duplicate intermediate was written once
    assert by_sha1[_sha1(root)].properties.get(11) == _utf16z("Racine été")
    assert by_sha1[_sha1(inter)].properties.get(11) == _utf16z("Émettrice")
    assert 11 not in by_sha1[_sha1(user)].properties
    for cert in (user, inter, root):
        assert by_sha1[_sha1(cert)].length == len(cert.public_bytes(Encoding.DER))


def test_wine_file_store_reads_vedette_store_without_properties(
    wine: Wine, chain, tmp_path: Path
) -> None:
    root, inter, user = chain
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(root.subject)
        .last_update(datetime.datetime.now(datetime.UTC))
        .next_update(datetime.datetime.now(datetime.UTC) + datetime.timedelta(days=7))
        .sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    )
    path = tmp_path / "bare.sst"
    path.write_bytes(sst.write_sst([root, inter, user], crls=[crl], hashes=False))
    certs, crls = parse_listing(wine.run("list", windows_path(path)))
    assert sorted(c.sha1 for c in certs) == sorted(_sha1(c) for c in (root, inter, user))
    assert crls == 1


def test_wine_file_store_reader_drops_a_store_starting_with_a_property(
    wine: Wine, chain, tmp_path: Path
) -> None:
    """WINE_FILE_READER_ORDER: recorded so that a Wine that fixes it shows up here."""
    root, _, _ = chain
    path = tmp_path / "hashed.sst"
    path.write_bytes(sst.write_sst([root]))
    certs, _ = parse_listing(wine.run("list", windows_path(path)))
    assert certs == [], WINE_FILE_READER_ORDER
    certs, _ = parse_listing(wine.run("elements", windows_path(path)))
    assert [c.sha1 for c in certs] == [_sha1(root)]


def test_vedette_reads_the_store_wine_writes(wine: Wine, chain, tmp_path: Path) -> None:
    root, inter, user = chain
    ders = []
    for n, cert in enumerate((root, inter, user)):
        der = tmp_path / f"{n}.der"
        der.write_bytes(cert.public_bytes(Encoding.DER))
        ders.append(windows_path(der))
    out = tmp_path / "wine.sst"
    assert wine.run("save", windows_path(out), "--name", "Racine été", *ders).strip() == "saved"
    store = sst.parse_sst(out.read_bytes())
    assert sorted(store.certificates, key=_sha1) == sorted((root, inter, user), key=_sha1)
    names = {c.sha1: c.friendly_name for c in store.contexts}
    assert names[_sha1(root)] == "Racine été"  # the property before its certificate
    assert store.notes == () and store.end_marker and store.trailing_properties == ()
    assert read_material(out.read_bytes(), source="wine.sst").format == "sst"


@pytest.mark.parametrize("name", [None, "Émettrice S/MIME"])
def test_one_certificate_stores_are_byte_identical_to_wines(
    wine: Wine, chain, tmp_path: Path, name: str | None
) -> None:
    """A store of ONE certificate: Wine's CertSaveStore and vedette (without the hash
    property, which CertSaveStore leaves out) write the same bytes."""
    _, inter, _ = chain
    der = tmp_path / "inter.der"
    der.write_bytes(inter.public_bytes(Encoding.DER))
    out = tmp_path / "one.sst"
    args = ["--name", name] if name else []
    wine.run("save", windows_path(out), *args, windows_path(der))
    ours = sst.write_sst([inter], friendly_names={inter: name} if name else None, hashes=False)
    assert out.read_bytes() == ours
    assert sst.certificates_from_sst(out.read_bytes()) == (inter,)


def test_vedette_reads_the_properties_wine_writes(wine: Wine, chain, tmp_path: Path) -> None:
    """Key provider info, extended key usage and description as Wine's CertSaveStore
    serializes them (CRYPT_KEY_PROV_INFO with its pointers turned into offsets)."""
    root, inter, _ = chain
    ders = []
    for n, cert in enumerate((root, inter)):
        der = tmp_path / f"{n}.der"
        der.write_bytes(cert.public_bytes(Encoding.DER))
        ders.append(windows_path(der))
    out = tmp_path / "props.sst"
    provider = "Microsoft RSA SChannel Cryptographic Provider"
    description = "Émise pour S/MIME"
    wine.run(
        "save",
        windows_path(out),
        "--keyprov",
        "le-conteneur",
        provider,
        "--eku",
        "1.3.6.1.5.5.7.3.4",
        "--prop",
        "13",
        _utf16z(description),
        *ders,
    )
    store = sst.parse_sst(out.read_bytes())
    (context,) = [c for c in store.contexts if c.certificate == root]
    info = context.key_prov_info
    assert info is not None
    assert (info.container, info.provider, info.provider_type, info.key_spec) == (
        "le-conteneur",
        provider,
        12,  # PROV_RSA_SCHANNEL
        1,  # AT_KEYEXCHANGE
    )
    lines = sst.describe_sst(store)
    assert "  0x09 CERT_ENHKEY_USAGE_PROP_ID: emailProtection" in lines
    assert f"  0x0d CERT_DESCRIPTION_PROP_ID: {description!r}" in lines


def test_wine_reads_the_golden_key_prov_info(wine: Wine, tmp_path: Path) -> None:
    """The unit tests' hand-written KEY_PROV_INFO value (tests/unit/test_sst.py), in front of
    the golden certificate, decodes in Wine to what vedette reads from it."""
    element = struct.Struct("<III")
    data = (
        sst.HEADER
        + element.pack(2, 1, len(KEY_PROV_INFO))
        + KEY_PROV_INFO
        + element.pack(0x20, 1, len(ROOT_DER))
        + ROOT_DER
        + bytes(12)
    )
    path = tmp_path / "keyprov.sst"
    path.write_bytes(data)
    (listed,), _ = parse_listing(wine.run("elements", windows_path(path)))
    info = sst.parse_sst(data).contexts[0].key_prov_info
    assert info is not None
    assert listed.properties[2] == (
        f"type={info.provider_type};spec={info.key_spec};"
        f"container={info.container};provider={info.provider}"
    )
    assert listed.properties[2] == (
        "type=12;spec=1;container=le-conteneur;"
        "provider=Microsoft RSA SChannel Cryptographic Provider"
    )
