"""Fuzzing the PKCS#12 structure reader: whatever a .pfx holds, only ``Pkcs12Error`` or a result.

``vedette.pki.pkcs12.parse_pfx`` decodes a PFX before any password is asked (algorithms,
iteration counts, bags); through ``read_material`` it serves every command that reads a file.
Seeds are PKCS#12 files of each kind vedette meets: legacy (3DES/SHA-1) and modern
(AES/PBKDF2) from cryptography, a password-less certificate-only file, one with Microsoft's
CSP attribute and one in BER with indefinite lengths. Hypothesis truncates, flips and splices
them; each input must give a :class:`Pkcs12Error` (one line) or a structure, and
``read_material`` only a ``PkiError``. Deterministic (``derandomize=True``).
"""

from __future__ import annotations

import contextlib
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.type import char  # type: ignore[import-untyped]

from tests.fuzz.test_fuzz_pki_formats import FUZZ, mutated
from tests.unit.pkcs12_helpers import add_bag_attribute, p12_encryption, rewrite_pfx
from vedette.errors import PkiError
from vedette.pki import CertificateAuthority
from vedette.pki.formats import read_material
from vedette.pki.pkcs12 import Pkcs12Error, parse_pfx

_ROOT = CertificateAuthority.create_root("Fuzz P12 Root")
_LEAF = _ROOT.issue_server(["fuzz-p12.example.test"])


def _p12(legacy: bool | None) -> bytes:
    if legacy is None:
        enc: serialization.KeySerializationEncryption = serialization.NoEncryption()
        return pkcs12.serialize_key_and_certificates(b"n", None, _LEAF.cert, [_ROOT.cert], enc)
    enc = p12_encryption(legacy=legacy, rounds=16)
    return pkcs12.serialize_key_and_certificates(
        "ü".encode(), _LEAF.key, _LEAF.cert, [_ROOT.cert, _ROOT.cert], enc
    )


def _with_csp_name(contents: Any) -> None:
    add_bag_attribute(
        contents[0],
        "1.3.6.1.4.1.311.17.1",
        char.BMPString("Microsoft Software Key Storage Provider"),
    )


SEEDS = [
    _p12(legacy=True),
    _p12(legacy=False),
    _p12(legacy=None),
    rewrite_pfx(_p12(legacy=True), edit_bags=_with_csp_name),
    rewrite_pfx(_p12(legacy=False), ber=True),  # indefinite lengths, as NSS writes
]


def _parse(data: bytes) -> None:
    with contextlib.suppress(Pkcs12Error):
        pfx = parse_pfx(data)
        list(pfx.iteration_counts())
        with contextlib.suppress(Pkcs12Error):
            pfx.check_limits()
    with contextlib.suppress(PkiError):
        read_material(data, source="fuzz.pfx", password=lambda: b"pw")


def _one_line(data: bytes) -> None:
    try:
        parse_pfx(data)
    except Pkcs12Error as exc:
        assert "\n" not in str(exc) and str(exc)


@FUZZ
@given(mutated(SEEDS))
def test_mutated_pfx_only_raise_pkcs12_error(data: bytes):
    _parse(data)
    _one_line(data)


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_after_a_pfx_header(data: bytes):
    # SEQUENCE, INTEGER 3: what read_material takes for PKCS#12, so the reader sees it all.
    _parse(b"\x30\x82" + len(data).to_bytes(2, "big") + b"\x02\x01\x03" + data)


@FUZZ
@given(a=st.sampled_from(SEEDS), b=st.sampled_from(SEEDS), at=st.integers(min_value=0))
def test_spliced_pfx_only_raise_pkcs12_error(a: bytes, b: bytes, at: int):
    _parse(a[: at % (len(a) + 1)] + b)


def test_seeds_parse():
    for seed in SEEDS:
        assert parse_pfx(seed).containers
    assert any(b.attributes.csp_name for b in parse_pfx(SEEDS[3]).bags())
