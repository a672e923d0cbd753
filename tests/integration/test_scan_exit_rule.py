"""One exit-code rule for ``vedette scan``, set by the kind of input, end to end.

Explicit targets: full mode, exit 1 when a finding reaches ``--fail-on`` (default high). A
fleet source (``--targets``, a CIDR, ``--resume``): quick mode, exit 0 unless ``--fail-on`` is
given. Incidental flags (``--quiet``, ``--rate``) change neither, although they run the scan
through the fleet runner. The server is the lab's ``imaps-sha1`` (a SHA-1 signed leaf: a high
finding), on loopback.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from tests.cli import run_vedette
from vedette.lab import LabThread
from vedette.lab.scenarios import Lab, LabServer
from vedette.plan import Resolution, ScanMode, ScanPlan, TargetSource
from vedette.store.db import Store
from vedette.targets import Pin


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    with LabThread(workdir=tmp_path_factory.mktemp("lab")) as lt:
        yield lt.lab


@pytest.fixture
def sha1(lab: Lab) -> LabServer:
    return lab.server("imaps-sha1")


def scan(lab: Lab, db: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_vedette("scan", "--db", db, "--ca", str(lab.root_ca_path), *args, timeout=120)


def depths(db: str) -> set[str]:
    """The modes the last stored scan probed its endpoints in (fleet runner scans)."""
    with Store.open(db) as store:
        scan_id = store.last_scan_id()
        assert scan_id is not None
        return {key.split("|", 1)[0] for key in store.endpoint_keys(scan_id)}


@pytest.mark.parametrize(
    "extra",
    [(), ("--quiet",), ("--rate", "50")],
    ids=["plain", "quiet", "rate"],
)
def test_explicit_targets_exit_1_on_a_high_finding_whatever_the_incidental_flags(
    lab: Lab, sha1: LabServer, tmp_path: Path, extra: tuple[str, ...]
) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    result = scan(lab, db, "--ip", "127.0.0.1", sha1.target, *extra)
    assert result.returncode == 1, result.stderr
    if extra:  # run by the fleet runner: full mode all the same
        assert depths(db) == {"full"}
    relaxed = scan(lab, db, "--ip", "127.0.0.1", sha1.target, "--fail-on", "critical", *extra)
    assert relaxed.returncode == 0, relaxed.stderr


def test_a_target_file_is_quick_and_exits_0_unless_fail_on_is_given(
    lab: Lab, sha1: LabServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    targets = tmp_path / "targets.txt"
    targets.write_text(f"{sha1.target} 127.0.0.1\n")
    result = scan(lab, db, "--targets", str(targets))
    assert result.returncode == 0, result.stderr
    assert "cert.sha1-signature" in result.stdout  # found, and still exit 0
    assert depths(db) == {"quick"}
    strict = scan(lab, db, "--targets", str(targets), "--quiet", "--fail-on", "high")
    assert strict.returncode == 1, strict.stderr


def test_a_cidr_is_quick_and_exits_0_unless_fail_on_is_given(
    lab: Lab, sha1: LabServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    cidr = f"imaps://127.0.0.1/32:{sha1.port}"
    result = scan(lab, db, cidr, "--allow-reserved", "--quiet")
    assert result.returncode == 0, result.stderr
    assert depths(db) == {"quick"}
    strict = scan(lab, db, cidr, "--allow-reserved", "--fail-on", "high")
    assert strict.returncode == 1, strict.stderr


def test_a_resumed_scan_exits_0_unless_fail_on_is_given(
    lab: Lab, sha1: LabServer, tmp_path: Path
) -> None:
    db = f"sqlite:///{tmp_path / 'v.db'}"
    # Two scans stopped before their first target was probed, as a kill leaves them: spooled,
    # planned, nothing stored. Their targets were explicit: the resume is a fleet source.
    plan = ScanPlan(
        source=TargetSource(targets=(sha1.target,)),
        mode=ScanMode.QUICK,
        resolution=Resolution(
            pins=(Pin(host=sha1.host, port=sha1.port, addresses=("127.0.0.1",)),)
        ),
        extra_roots=tuple(
            c.public_bytes(serialization.Encoding.DER)
            for c in x509.load_pem_x509_certificates(lab.root_ca_path.read_bytes())
        ),
    )
    with Store.open(db) as store:
        ids = []
        for _ in range(2):
            scan_id = store.begin_fleet_scan(
                [sha1.target], {}, datetime.now(UTC), ScanMode.QUICK, plan
            )
            store.spool_targets(scan_id, [(sha1.target, "", 1)])
            ids.append(scan_id)
    result = scan(lab, db, "--resume", str(ids[0]))
    assert result.returncode == 0, result.stderr
    assert "cert.sha1-signature" in result.stdout
    strict = scan(lab, db, "--resume", str(ids[1]), "--fail-on", "high")
    assert strict.returncode == 1, strict.stderr
