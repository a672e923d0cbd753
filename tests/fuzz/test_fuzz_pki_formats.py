"""Fuzzing the PKI file reader: whatever a file holds, only ``PkiError`` or a result.

``vedette cert inspect|convert|bundle`` and ``ca sign`` read files an administrator got from
anywhere (a CA's e-mail, an appliance export, a web form) and, for ``--like TARGET``, from a
server. ``read_material`` must turn every malformed input into one ``PkiError`` (the CLI's
one-line exit 2) and never let another exception out. Seeds are well-formed files of every
format the reader knows (PEM bundle with a key, DER, PKCS#7, PKCS#12, a request, a CRL,
UTF-16 text, headerless base64); Hypothesis truncates, flips and splices them. Deterministic
in CI (``derandomize=True``).
"""

from __future__ import annotations

import base64
import contextlib
from datetime import UTC, datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedette.errors import PkiError
from vedette.pki import CertificateAuthority
from vedette.pki.convert import to_p7b, to_p12
from vedette.pki.formats import read_material

_ROOT = CertificateAuthority.create_root("Fuzz Root")
_LEAF = _ROOT.issue_server(["fuzz.example.test"])
_CSR = (
    x509.CertificateSigningRequestBuilder()
    .subject_name(_LEAF.cert.subject)
    .sign(_LEAF.key, hashes.SHA256())
)
_NOW = datetime(2026, 1, 1, tzinfo=UTC)
_CRL = (
    x509.CertificateRevocationListBuilder()
    .issuer_name(_ROOT.cert.subject)
    .last_update(_NOW)
    .next_update(_NOW + timedelta(days=7))
    .sign(_ROOT.issued.key, hashes.SHA256())
)
_DER = _LEAF.cert.public_bytes(serialization.Encoding.DER)
_PEM = _LEAF.cert_pem() + _ROOT.issued.cert_pem() + _LEAF.key_pem()

SEEDS = [
    _PEM,
    _DER,
    to_p7b([_LEAF.cert, _ROOT.cert]),
    to_p12(key=_LEAF.key, cert=_LEAF.cert, chain=[_ROOT.cert], password=b"pw"),
    _CSR.public_bytes(serialization.Encoding.PEM),
    _CRL.public_bytes(serialization.Encoding.DER),
    _LEAF.cert_pem().decode().encode("utf-16"),
    base64.encodebytes(_DER),
    _LEAF.key_pem(b"pw"),
]

FUZZ = settings(
    max_examples=300,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
)


def _read(data: bytes) -> None:
    with contextlib.suppress(PkiError):
        read_material(data, source="fuzz", password=lambda: b"pw")


def mutated(seeds: list[bytes]) -> st.SearchStrategy[bytes]:
    """A seed cut short and with up to 6 bytes overwritten (also used by the PKCS#12 fuzzing)."""

    def mutate(seed: bytes, cut: int, flips: list[tuple[int, int]]) -> bytes:
        data = bytearray(seed[: max(1, len(seed) - cut % len(seed))])
        for pos, value in flips:
            data[pos % len(data)] = value
        return bytes(data)

    return st.builds(
        mutate,
        st.sampled_from(seeds),
        st.integers(min_value=0, max_value=4096),
        st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), max_size=6),
    )


@FUZZ
@given(mutated(SEEDS))
def test_mutated_files_only_raise_pki_error(data: bytes):
    _read(data)


@FUZZ
@given(st.binary(max_size=512))
def test_arbitrary_bytes_only_raise_pki_error(data: bytes):
    _read(data)


@FUZZ
@given(a=st.sampled_from(SEEDS), b=st.sampled_from(SEEDS), at=st.integers(min_value=0))
def test_spliced_files_only_raise_pki_error(a: bytes, b: bytes, at: int):
    _read(a[: at % (len(a) + 1)] + b)


def test_seeds_are_read():
    for seed in SEEDS:
        material = read_material(seed, source="seed", password=lambda: b"pw")
        assert not material.empty
