"""``.sst`` files through the commands a user runs: ``vedette cert inspect`` and ``cert convert``
read a serialized certificate store like any certificate file, and a hostile one is one line
and exit 2. (``cert inspect`` also lists each element's properties, ``pki.sst.describe_sst``:
tests/unit/test_smime_sst.py.)"""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography import x509

from tests.cli import run_vedette
from tests.unit.test_sst import GOLDEN_ONE, GOLDEN_RICH, ROOT, self_signed
from vedette.pki import sst


def test_cert_inspect_lists_the_certificates_of_a_store(tmp_path: Path) -> None:
    a, b = self_signed("Alice Issuing CA", 1), self_signed("Bob Root", 2)
    path = tmp_path / "chainOfTrust.sst"
    path.write_bytes(sst.write_sst([a, b], friendly_names={b: "Racine"}))
    proc = run_vedette("cert", "inspect", path)
    assert proc.returncode == 0, proc.stderr
    assert f"{path}  (sst)" in proc.stdout
    assert "Certificate 1 of 2" in proc.stdout and "Certificate 2 of 2" in proc.stdout
    assert proc.stdout.index("CN=Alice Issuing CA") < proc.stdout.index("CN=Bob Root")


def test_cert_convert_writes_the_store_as_pem(tmp_path: Path) -> None:
    src = tmp_path / "rich.sst"
    src.write_bytes(GOLDEN_RICH)
    out = tmp_path / "chain.pem"
    proc = run_vedette("cert", "convert", src, out)
    assert proc.returncode == 0, proc.stderr
    assert x509.load_pem_x509_certificates(out.read_bytes()) == [ROOT]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (GOLDEN_ONE[:100], "declares 234 bytes, 80 left"),
        (GOLDEN_ONE[:8] + b"\x20\x00\x00\x00\x01\x00\x00\x00\xff\xff\xff\xff", "4294967295"),
        (GOLDEN_ONE[:8] + bytes(12), "a serialized store (.sst) with no certificate or CRL"),
    ],
)
def test_a_bad_store_is_one_line_and_exit_2(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "bad.sst"
    path.write_bytes(data)
    proc = run_vedette("cert", "inspect", path)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
