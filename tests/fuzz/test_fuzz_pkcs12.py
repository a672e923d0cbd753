"""Fuzzing the PKCS#12 structure reader: whatever a .pfx holds, only ``Pkcs12Error`` or a result.

``vedette.pki.pkcs12.parse_pfx`` decodes a PFX before any password is asked (algorithms,
iteration counts, bags); through ``read_material`` it serves every command that reads a file.
Seeds are PKCS#12 files of each kind vedette meets: legacy (3DES/SHA-1) and modern
(AES/PBKDF2) from cryptography, a password-less certificate-only file, and one with
Microsoft's CSP attribute. Hypothesis truncates, flips and splices them; each input must
give a :class:`Pkcs12Error` (one line) or a structure, and ``read_material`` only a
``PkiError``. Deterministic (``derandomize=True``).
"""

from __future__ import annotations

import contextlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedette.errors import PkiError
from vedette.pki import CertificateAuthority
from vedette.pki.formats import read_material
from vedette.pki.pkcs12 import Pkcs12Error, parse_pfx

_ROOT = CertificateAuthority.create_root("Fuzz P12 Root")
_LEAF = _ROOT.issue_server(["fuzz-p12.example.test"])


def _p12(algorithm: pkcs12.PBES | None, mac: hashes.HashAlgorithm) -> bytes:
    if algorithm is None:
        enc: serialization.KeySerializationEncryption = serialization.NoEncryption()
        return pkcs12.serialize_key_and_certificates(b"n", None, _LEAF.cert, [_ROOT.cert], enc)
    enc = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(16)
        .key_cert_algorithm(algorithm)
        .hmac_hash(mac)
        .build(b"pw")
    )
    return pkcs12.serialize_key_and_certificates(
        "ü".encode(), _LEAF.key, _LEAF.cert, [_ROOT.cert, _ROOT.cert], enc
    )


SEEDS = [
    _p12(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC, hashes.SHA1()),
    _p12(pkcs12.PBES.PBESv2SHA256AndAES256CBC, hashes.SHA256()),
    _p12(None, hashes.SHA256()),
]

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


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
@given(
    seed=st.sampled_from(SEEDS),
    cut=st.integers(min_value=0, max_value=4096),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
)
def test_mutated_pfx_only_raise_pkcs12_error(seed: bytes, cut: int, flips: list[tuple[int, int]]):
    data = bytearray(seed[: max(1, len(seed) - cut % len(seed))])
    for pos, value in flips:
        data[pos % len(data)] = value
    _parse(bytes(data))
    _one_line(bytes(data))


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
