"""``vedette store check`` on store exports made by OpenSSL (issue 18, Windows stores).

The certificates are made with ``openssl req``/``openssl x509``, the store exports with
``openssl crl2pkcs7 -nocrl -certfile`` (the same PKCS#7 "certificates only" SignedData that
Windows' ``Export-Certificate -Type P7B`` writes), in DER and in PEM, and the thumbprints
vedette prints are compared with ``openssl x509 -fingerprint -sha1``. PowerShell is not
installable here, so the printed commands are checked as text (their quoting is tested
against PowerShell's string grammar in tests/unit/test_winstore.py), not run.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_vedette
from tests.integration.test_cert_inspect_cli import _one_line_error, openssl

RUN_TIMEOUT = 60  # hang detector for one CLI run (about 1 s here)


def vedette(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return run_vedette(*args, timeout=RUN_TIMEOUT)


def _thumb(pem: Path) -> str:
    out = openssl("x509", "-in", pem, "-noout", "-fingerprint", "-sha1", cwd=pem.parent).stdout
    return out.strip().split("=", 1)[1].replace(":", "").upper()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("stores")
    (d / "ca.ext").write_text(
        "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n"
    )
    (d / "leaf.ext").write_text(
        "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth,clientAuth\n"
        "subjectAltName=DNS:pool.example.test\n"
    )
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "root.key", "-out",
            "root.pem", "-subj", "/CN=Store Lab Root/O=Lab", "-days", "3650", cwd=d)  # fmt: skip
    # The same root again: same key and subject, another serial (a re-issued root).
    openssl("req", "-x509", "-key", "root.key", "-out", "root2.pem", "-subj",
            "/CN=Store Lab Root/O=Lab", "-days", "3000", cwd=d)  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "int.key", "-out", "int.csr",
            "-subj", "/CN=Store Lab Issuing CA/O=Lab", cwd=d)  # fmt: skip
    openssl("x509", "-req", "-in", "int.csr", "-CA", "root.pem", "-CAkey", "root.key",
            "-CAcreateserial", "-out", "int.pem", "-days", "1825", "-extfile", "ca.ext",
            cwd=d)  # fmt: skip
    for name, days in (("old", "30"), ("new", "300")):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out",
                f"{name}.csr", "-subj", "/CN=pool.example.test", cwd=d)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "int.pem", "-CAkey", "int.key",
                "-CAcreateserial", "-out", f"{name}.pem", "-days", days, "-extfile", "leaf.ext",
                cwd=d)  # fmt: skip
    # Root store: the root twice and the intermediate (misplaced). CA store: the root.
    openssl("crl2pkcs7", "-nocrl", "-certfile", "root.pem", "-certfile", "root2.pem",
            "-certfile", "int.pem", "-outform", "DER", "-out", "LocalMachine-Root.p7b",
            cwd=d)  # fmt: skip
    openssl("crl2pkcs7", "-nocrl", "-certfile", "root.pem", "-out", "LocalMachine-CA.p7b",
            cwd=d)  # fmt: skip
    openssl("crl2pkcs7", "-nocrl", "-certfile", "old.pem", "-certfile", "new.pem",
            "-outform", "DER", "-out", "personal.p7b", cwd=d)  # fmt: skip
    return d


def test_findings_and_thumbprints_match_openssl(pki: Path) -> None:
    proc = vedette("store", "check", pki / "LocalMachine-Root.p7b", pki / "LocalMachine-CA.p7b",
                   "--store", f"My={pki / 'personal.p7b'}", "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["schema"] == "vedette.store-check/1"
    assert [(i["store"], i["format"], i["certificates"]) for i in doc["inputs"]] == [
        ("Root", "pkcs7", 3), ("CA", "pem", 1), ("My", "pkcs7", 2)
    ]  # fmt: skip
    by_id: dict[str, list[dict[str, object]]] = {}
    for f in doc["findings"]:
        by_id.setdefault(f["id"], []).append(f)
    assert set(by_id) == {
        "store.non-root-in-root",
        "store.root-in-intermediate",
        "store.duplicate-root",
        "store.several-for-same-name",
    }

    def thumbs(finding: dict[str, object]) -> set[str]:
        return {c["thumbprint"] for c in finding["certificates"]}  # type: ignore[attr-defined, index]

    (misplaced,) = by_id["store.non-root-in-root"]
    assert thumbs(misplaced) == {_thumb(pki / "int.pem")}
    (root_in_ca,) = by_id["store.root-in-intermediate"]
    assert thumbs(root_in_ca) == {_thumb(pki / "root.pem")}
    (dup,) = by_id["store.duplicate-root"]
    assert thumbs(dup) == {_thumb(pki / "root.pem"), _thumb(pki / "root2.pem")}
    assert dup["severity"] == "medium" and "the same key" in str(dup["detail"])
    (several,) = by_id["store.several-for-same-name"]
    assert thumbs(several) == {_thumb(pki / "old.pem"), _thumb(pki / "new.pem")}
    # Both purposes of the leaf are grouped once, and the older one is the one removed.
    old, new = _thumb(pki / "old.pem"), _thumb(pki / "new.pem")
    fix = several["fix"]
    assert isinstance(fix, list)
    assert any(line.startswith("Remove-Item") and old in line for line in fix)
    assert not any(new in line for line in fix if not line.startswith("#"))
    # Every fix script backs up before it changes anything.
    for findings in by_id.values():
        for f in findings:
            lines = [str(x) for x in f["fix"]]  # type: ignore[attr-defined]
            changes = [i for i, x in enumerate(lines) if x.startswith(("Remove-Item", "Move-Item"))]
            backups = [i for i, x in enumerate(lines) if x.startswith("Export-Certificate")]
            assert changes and backups and backups[0] < changes[0]
    assert doc["ca_list"] == [
        {"location": "LocalMachine", "count": 2, "bytes": doc["ca_list"][0]["bytes"],
         "limit": 16384, "estimated": False}
    ]  # fmt: skip


def test_sst_export(pki: Path, tmp_path: Path) -> None:
    # An Intermediate store saved as .sst (certmgr, Export-Certificate -Type SST) holding the
    # root: the same finding, the same thumbprint as openssl's, as from the .p7b export.
    from cryptography import x509

    from vedette.pki.sst import write_sst

    root = x509.load_pem_x509_certificate((pki / "root.pem").read_bytes())
    inter = x509.load_pem_x509_certificate((pki / "int.pem").read_bytes())
    (tmp_path / "LocalMachine-CA.sst").write_bytes(write_sst([root, inter]))
    proc = vedette("store", "check", tmp_path / "LocalMachine-CA.sst", "--json")
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert [(i["store"], i["certificates"]) for i in doc["inputs"]] == [("CA", 2)]
    (finding,) = [f for f in doc["findings"] if f["id"] == "store.root-in-intermediate"]
    assert {c["thumbprint"] for c in finding["certificates"]} == {_thumb(pki / "root.pem")}


def test_terminal_report_and_expiry_date(pki: Path) -> None:
    proc = vedette("store", "check", "--store", f"My={pki / 'personal.p7b'}", "--at",
                   "2030-01-01")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "2 expired certificate(s) in LocalMachine\\My" in proc.stdout
    assert "Remove-Item -LiteralPath 'Cert:\\LocalMachine\\My\\" in proc.stdout
    # --fail-on makes a finding an exit status.
    proc = vedette("store", "check", "--store", f"My={pki / 'personal.p7b'}", "--at",
                   "2030-01-01", "--fail-on", "medium")  # fmt: skip
    assert proc.returncode == 1


def test_bad_exports_are_one_line_errors(pki: Path, tmp_path: Path) -> None:
    der = (pki / "LocalMachine-Root.p7b").read_bytes()
    (tmp_path / "Root.p7b").write_bytes(der[: len(der) // 3])
    _one_line_error(vedette("store", "check", tmp_path / "Root.p7b"), "Root.p7b")
    (tmp_path / "CA.p7b").write_bytes(b"\x00garbage" * 50)
    _one_line_error(vedette("store", "check", tmp_path / "CA.p7b"), "CA.p7b")
    (tmp_path / "My.txt").write_text(
        "================ Certificate 0 ================\nCert Hash(sha1): zz\n"
    )
    _one_line_error(vedette("store", "check", tmp_path / "My.txt"), "My.txt")
    # A certificate element whose length runs past the end of the file.
    element = (
        (0x20).to_bytes(4, "little") + (1).to_bytes(4, "little") + (10**6).to_bytes(4, "little")
    )
    (tmp_path / "Root.sst").write_bytes(b"\x00\x00\x00\x00CERT" + element + b"\x30\x82")
    _one_line_error(vedette("store", "check", tmp_path / "Root.sst"), "Root.sst")
    _one_line_error(vedette("store", "check", pki / "int.pem"), "which store")
    _one_line_error(vedette("store", "check", "--backup-dir", "C:\\x\nRemove-Item C:\\",
                            pki / "LocalMachine-CA.p7b"), "control character")  # fmt: skip


def test_export_commands() -> None:
    proc = vedette("store", "export-commands", "--out-dir", "D:\\it's")
    assert proc.returncode == 0, proc.stderr
    assert "$out = 'D:\\it''s'" in proc.stdout
    assert proc.stdout.index("-Type SST") < proc.stdout.index("-Type P7B")
    _one_line_error(vedette("store", "export-commands", "--out-dir", "a\rb"), "control")


def test_french_certutil_text_in_utf16_joins_the_p7b_by_thumbprint(pki: Path) -> None:
    """``certutil -store My > my.txt`` in PowerShell 5 on a French Windows writes UTF-16; its
    key lines join the .p7b's certificates by thumbprint (computed here by openssl)."""
    old, new = _thumb(pki / "old.pem"), _thumb(pki / "new.pem")
    text = (
        'My "Personnel"\n'
        "================ Certificat 0 ================\n"
        "Numéro de série : 01\n"
        "Émetteur: CN=Store Lab Issuing CA, O=Lab\n"
        " NotBefore : 01/12/2026 10:00\n NotAfter : 31/12/2026 10:00\n"
        "Objet: CN=pool.example.test\n"
        f"Hach. cert. (sha1) : {old.lower()}\n"
        "Aucune information sur le fournisseur de clé\n"
        "Impossible de trouver le certificat et la clé privée pour le déchiffrement.\n\n"
        "================ Certificat 1 ================\n"
        "Numéro de série : 02\n"
        "Objet: CN=pool.example.test\n"
        f"Hach. cert. (sha1) : {new.lower()}\n"
        "  Fournisseur = Microsoft RSA SChannel Cryptographic Provider\n"
    )
    (pki / "my-fr.txt").write_bytes(text.encode("utf-16"))
    proc = vedette("store", "check", "--store", f"My={pki / 'personal.p7b'}", pki / "my-fr.txt",
                   "--json")  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert sorted(i["format"] for i in doc["inputs"]) == ["certutil", "pkcs7"]
    assert doc["stores"] == {"LocalMachine\\My": 2}
    (no_key,) = [f for f in doc["findings"] if f["id"] == "store.no-private-key"]
    assert [c["thumbprint"] for c in no_key["certificates"]] == [old]
    assert f"certutil -repairstore My {old}" in no_key["fix"]
