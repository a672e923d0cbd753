"""Microsoft serialized certificate stores (.sst): golden files, round trips, hostile files.

The golden stores below are written out byte by byte from the public description of the
format, not by vedette's writer:

* Microsoft [MS-OSHARED] 2.3.9.1 ``DocSigSerializedCertStore`` and 2.3.2.5.1-4: a header of
  version 0x00000000 and fileType 0x54524543 ("CERT"); groups of zero or more
  ``SerializedPropertyEntry`` (id, encodingType, length, value) followed by a
  ``SerializedCertificateEntry`` (id 0x20, encodingType 1, length, DER); an
  ``EndElementMarkerEntry`` of id 0 and 8 zero bytes;
* Wine's crypt32 tests (``dlls/crypt32/tests/store.c``, ``serializedStoreWithCert``), which
  pass on Windows: ``CertSaveStore(CERT_STORE_SAVE_AS_STORE)`` of a memory store holding one
  certificate without properties is the header, the 0x20 element and 12 zero bytes;
* wincrypt.h for the property ids (3 SHA-1 hash, 11 friendly name, 2 key provider info, 9
  enhanced key usage) and [MS-GPEF] 2.2.1.1.1.1 for their values.

Every integer is a little-endian u32. The certificate is a fixed Ed25519 one (deterministic
signature) whose SHA-1 below was computed with ``sha1sum`` and ``openssl x509 -fingerprint``.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedette.errors import PkiError
from vedette.pki import sst
from vedette.pki.formats import read_material

# CN=SST Root, Ed25519, serial 1, 2026-01-01 to 2036-01-01, basicConstraints CA: 234 bytes.
ROOT_DER = bytes.fromhex(
    "3081e730819aa003020102020101300506032b657030133111300f06035504030c0853535420526f6f74301e"
    "170d3236303130313030303030305a170d3336303130313030303030305a30133111300f06035504030c0853"
    "535420526f6f74302a300506032b657003210003a107bff3ce10be1d70dd18e74bc09967e4d6309ba50d5f1d"
    "dc8664125531b8a3133011300f0603551d130101ff040530030101ff300506032b6570034100939d1eabcf12"
    "2c7d3b8d444d496507ee8d092e87bb2abeb16cc242b5ec5ee596625aee4a258020b933617ce25bc95e3c7c9c"
    "90f3dc4578576fcabbb547cec30c"
)
ROOT_SHA1 = "85a40d5093492d596c6622eb71410e8f107aebd6"  # sha1sum / openssl x509 -fingerprint
# The CRL that root issued (empty, same dates): 140 bytes.
ROOT_CRL = bytes.fromhex(
    "308189303d020101300506032b657030133111300f06035504030c0853535420526f6f74170d323630313031"
    "3030303030305a170d3336303130313030303030305a300506032b6570034100f7f454fb0c5ef5867692052601"
    "a08228ce9a7996ff2acb843e933ba1d5b8cde806e152e7ccc29d474678f1df4fcc9d46f3efd056b3d9dc93e26d"
    "d46325187804"
)

HEADER = bytes.fromhex("0000000043455254")  # version 0, then "CERT" (0x54524543 LE)
END = bytes.fromhex("000000000000000000000000")  # id 0, then an 8-byte zero marker

# One certificate, no property: what CertSaveStore writes for a bare certificate.
GOLDEN_ONE = (
    HEADER
    + bytes.fromhex("2000000001000000ea000000")  # id 0x20 (certificate), encoding 1, 234
    + ROOT_DER
    + END
)

# The same certificate preceded by its SHA-1 hash property (id 3, 20 bytes).
GOLDEN_ONE_HASHED = (
    HEADER
    + bytes.fromhex("030000000100000014000000")  # CERT_SHA1_HASH_PROP_ID, 1, 20
    + bytes.fromhex(ROOT_SHA1)
    + bytes.fromhex("2000000001000000ea000000")
    + ROOT_DER
    + END
)

FRIENDLY = "Racine été"  # NUL-terminated UTF-16LE: 10 characters + NUL = 22 bytes
FRIENDLY_UTF16 = bytes.fromhex("52006100630069006e0065002000e9007400e9000000")

# A CERT_KEY_PROV_INFO_PROP_ID value as Windows serializes it: seven u32 (offset of the
# container name, offset of the provider name, provider type, flags, number of provider
# parameters, offset of the parameters, KeySpec), then the two UTF-16LE strings.
CONTAINER = "le-conteneur".encode("utf-16-le") + b"\x00\x00"  # 26 bytes at offset 28
PROVIDER = "Microsoft RSA SChannel Cryptographic Provider".encode("utf-16-le") + b"\x00\x00"
KEY_PROV_INFO = (
    struct.pack("<7I", 28, 28 + len(CONTAINER), 12, 0, 0, 0, 1)  # type 12, AT_KEYEXCHANGE
    + CONTAINER
    + PROVIDER
)
# CERT_ENHKEY_USAGE_PROP_ID: DER SEQUENCE { OID 1.3.6.1.5.5.7.3.4 emailProtection }.
EKU_EMAIL = bytes.fromhex("300a06082b06010505070304")

GOLDEN_RICH = (
    HEADER
    + bytes.fromhex("0b0000000100000016000000")  # CERT_FRIENDLY_NAME_PROP_ID, 1, 22
    + FRIENDLY_UTF16
    + struct.pack("<III", 2, 1, len(KEY_PROV_INFO))  # CERT_KEY_PROV_INFO_PROP_ID
    + KEY_PROV_INFO
    + bytes.fromhex("09000000010000000c000000")  # CERT_ENHKEY_USAGE_PROP_ID, 1, 12
    + EKU_EMAIL
    + bytes.fromhex("7777000001000000020000000102")  # id 0x7777: not in wincrypt.h
    + bytes.fromhex("2000000001000000ea000000")
    + ROOT_DER
    + bytes.fromhex("21000000010000008c000000")  # id 0x21 (CRL), 1, 140
    + ROOT_CRL
    + bytes.fromhex("22000000010000000400000030020500")  # id 0x22 (CTL), kept raw
    + END
)


def _element(prop_id: int, value: bytes, encoding: int = 1) -> bytes:
    return struct.pack("<III", prop_id, encoding, len(value)) + value


def self_signed(cn: str, seed: int) -> x509.Certificate:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(bytes([seed]) * 32)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(seed + 1)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(days=365))
        .sign(key, None)
    )


ROOT = x509.load_der_x509_certificate(ROOT_DER)


# --- golden files -----------------------------------------------------------------------


def test_golden_store_of_one_certificate_without_properties() -> None:
    store = sst.parse_sst(GOLDEN_ONE)
    assert store.certificates == (ROOT,)
    (context,) = store.contexts
    assert context.kind == "certificate"
    assert context.properties == ()
    assert context.offset == 8
    assert context.sha1 == ROOT_SHA1
    assert store.end_marker and store.notes == ()


def test_writer_without_hashes_is_byte_for_byte_what_certsavestore_writes() -> None:
    assert sst.write_sst([ROOT], hashes=False) == GOLDEN_ONE


def test_writer_default_is_the_golden_store_with_the_sha1_property() -> None:
    assert sst.write_sst([ROOT]) == GOLDEN_ONE_HASHED
    assert hashlib.sha1(ROOT_DER).hexdigest() == ROOT_SHA1
    (context,) = sst.parse_sst(GOLDEN_ONE_HASHED).contexts
    (prop,) = context.properties
    assert (prop.id, prop.name, prop.value.hex()) == (3, "CERT_SHA1_HASH_PROP_ID", ROOT_SHA1)


def test_writer_with_a_friendly_name_matches_the_golden_layout() -> None:
    expected = (
        GOLDEN_ONE_HASHED[:40]  # header + the SHA-1 property
        + bytes.fromhex("0b0000000100000016000000")
        + FRIENDLY_UTF16
        + GOLDEN_ONE_HASHED[40:]
    )
    assert sst.write_sst([ROOT], friendly_names={ROOT: FRIENDLY}) == expected


def test_golden_rich_store_every_element_and_property() -> None:
    store = sst.parse_sst(GOLDEN_RICH)
    cert, crl, ctl = store.contexts
    assert [c.kind for c in store.contexts] == ["certificate", "crl", "ctl"]
    assert [p.id for p in cert.properties] == [11, 2, 9, 0x7777]
    assert cert.friendly_name == FRIENDLY
    info = cert.key_prov_info
    assert info is not None
    assert info.container == "le-conteneur"
    assert info.provider == "Microsoft RSA SChannel Cryptographic Provider"
    assert (info.provider_type, info.key_spec) == (12, 1)
    unknown = cert.properties[3]
    assert unknown.name == "unknown property 0x7777" and unknown.value == b"\x01\x02"
    assert crl.crl is not None and crl.properties == ()
    assert ctl.der == bytes.fromhex("30020500") and ctl.certificate is None
    assert store.crls == (x509.load_der_x509_crl(ROOT_CRL),)
    assert "properties not in wincrypt.h kept: 0x7777" in store.notes


def test_describe_names_every_property_and_the_unknown_one() -> None:
    lines = sst.describe_sst(GOLDEN_RICH)
    text = "\n".join(lines)
    assert lines[0].endswith("1 certificate(s), 1 CRL(s), 1 CTL(s)")
    assert "certificate #1: CN=SST Root" in text
    assert f"SHA-1: {ROOT_SHA1}" in text
    assert "0x0b CERT_FRIENDLY_NAME_PROP_ID: 'Racine été'" in text
    assert (
        "0x02 CERT_KEY_PROV_INFO_PROP_ID: provider 'Microsoft RSA SChannel Cryptographic "
        "Provider', type 12, KeySpec AT_KEYEXCHANGE, container 'le-conteneur'"
    ) in text
    assert "0x09 CERT_ENHKEY_USAGE_PROP_ID: emailProtection" in text
    assert "0x7777 unknown property 0x7777: 0102" in text
    assert "CRL #1: issuer CN=SST Root" in text
    assert "CTL #1: certificate trust list, 4 bytes (not read)" in text


def test_read_material_reads_sst_certificates_and_crls() -> None:
    material = read_material(GOLDEN_RICH, source="chain.sst")
    assert material.format == "sst"
    assert material.certificates == (ROOT,)
    assert len(material.crls) == 1
    assert "1 certificate trust list(s) (CTL) not read" in material.notes


@pytest.mark.parametrize("form", ["der", "pem"])
def test_a_certificate_with_an_invalid_version_is_one_line(form: str) -> None:
    # The .sst fuzz found it: cryptography raises InvalidVersion, not ValueError, for a
    # version out of range; the loader of plain certificate files had the same hole.
    der = ROOT_DER.replace(bytes.fromhex("a003020102"), bytes.fromhex("a003020165"), 1)
    data = der if form == "der" else x509_pem(der)
    with pytest.raises(PkiError, match="101 is not a valid X509 version") as info:
        read_material(data, source=f"bad.{form}")
    assert "\n" not in str(info.value)
    with pytest.raises(sst.SstError, match="the certificate does not parse"):
        sst.parse_sst(HEADER + _element(0x20, der) + END)


def x509_pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).decode("ascii")
    return f"-----BEGIN CERTIFICATE-----\n{body}-----END CERTIFICATE-----\n".encode()


# --- round trips -------------------------------------------------------------------------


def test_round_trip_keeps_order_drops_duplicates_and_keeps_names() -> None:
    a, b, c = self_signed("A", 1), self_signed("B", 2), self_signed("C", 3)
    data = sst.write_sst([b, a, b, c, a], friendly_names={a: "Alice", c: "Carol"})
    store = sst.parse_sst(data)
    assert store.certificates == (b, a, c)
    assert [ctx.friendly_name for ctx in store.contexts] == [None, "Alice", "Carol"]
    for ctx in store.contexts:
        assert ctx.prop(sst.SHA1_HASH) is not None
        assert ctx.prop(sst.SHA1_HASH).value == hashlib.sha1(ctx.der).digest()  # type: ignore[union-attr]
    assert store.notes == ()


def test_round_trip_with_crls() -> None:
    crl = x509.load_der_x509_crl(ROOT_CRL)
    store = sst.parse_sst(sst.write_sst([ROOT], crls=[crl, crl]))
    assert [c.kind for c in store.contexts] == ["certificate", "crl"]
    assert store.crls == (crl,)


def test_a_store_of_one_certificate_is_written_and_read() -> None:
    assert sst.certificates_from_sst(sst.write_sst([ROOT])) == (ROOT,)


def test_writer_refuses_an_empty_store_and_a_nul_in_a_name() -> None:
    with pytest.raises(sst.SstError, match="no certificate"):
        sst.write_sst([])
    with pytest.raises(sst.SstError, match="NUL"):
        sst.write_sst([ROOT], friendly_names={ROOT: "a\x00b"})


# --- odd but readable -----------------------------------------------------------------------


def test_no_end_marker_and_trailing_bytes_are_notes() -> None:
    store = sst.parse_sst(GOLDEN_ONE[: -len(END)])
    assert store.certificates == (ROOT,) and not store.end_marker
    assert store.notes == ("no end marker (the file stops after the last element)",)
    store = sst.parse_sst(GOLDEN_ONE + b"junk")
    assert store.notes == ("4 bytes after the end marker ignored",)


def test_properties_after_the_last_certificate_are_kept_and_noted() -> None:
    data = GOLDEN_ONE[: -len(END)] + _element(11, FRIENDLY_UTF16) + END
    store = sst.parse_sst(data)
    assert store.contexts[0].properties == ()
    assert [p.id for p in store.trailing_properties] == [11]
    assert "1 property after the last certificate, attached to nothing" in store.notes
    assert "after the last certificate: 0x0b" in "\n".join(sst.describe_sst(store))


def test_a_wrong_sha1_property_and_odd_encoding_are_noted() -> None:
    data = HEADER + _element(3, b"\x00" * 20, encoding=7) + _element(0x20, ROOT_DER) + END
    notes = sst.parse_sst(data).notes
    assert any("CERT_SHA1_HASH_PROP_ID (0000" in n and "not the SHA1" in n for n in notes)
    assert "1 element(s) with an encoding type other than 1 (X509_ASN_ENCODING)" in notes


def test_an_empty_store_reads_as_empty_and_read_material_says_so() -> None:
    assert sst.parse_sst(HEADER + END).contexts == ()
    with pytest.raises(PkiError, match=r"^empty\.sst: a serialized store \(\.sst\) with no"):
        read_material(HEADER + END, source="empty.sst")


def test_hostile_key_prov_info_offsets_are_bounded() -> None:
    value = struct.pack("<7I", 10_000, 0xFFFFFFFF, 1, 0, 0xFFFFFFFF, 5, 99)
    data = HEADER + _element(2, value) + _element(0x20, ROOT_DER) + END
    (context,) = sst.parse_sst(data).contexts
    assert context.key_prov_info is None  # too many parameters: not decoded
    value = struct.pack("<7I", 10_000, 0, 1, 0, 0, 0, 99)
    (context,) = sst.parse_sst(HEADER + _element(2, value) + _element(0x20, ROOT_DER)).contexts
    info = context.key_prov_info
    assert info is not None and info.container is None
    assert "KeySpec 99 (unknown)" in info.describe()


# --- hostile files: one line, a vedette error ---------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x00\x00\x00\x00CE", "truncated serialized store: 6 bytes, the header needs 8"),
        (b"\x01\x00\x00\x00CERT" + END, "not a serialized certificate store"),
        (HEADER + b"\x20\x00\x00\x00\x01", "element #1 at offset 8 needs 12 header bytes, 5 left"),
        (
            HEADER + bytes.fromhex("2000000001000000ffffffff") + ROOT_DER,
            "element #1 (certificate) at offset 8 declares 4294967295 bytes, 234 left",
        ),
        (
            GOLDEN_ONE[:100],
            "element #1 (certificate) at offset 8 declares 234 bytes, 80 left",
        ),
        (
            HEADER + _element(3, b"x" * 20) + _element(0x20, b"\x30\x03\x02\x01\x01") + END,
            "element #2 (certificate #1) at offset 40: the certificate does not parse",
        ),
        (
            HEADER + _element(0x21, b"not a crl") + END,
            "element #1 (crl #1) at offset 8: the CRL does not parse",
        ),
    ],
)
def test_malformed_stores_give_one_line(data: bytes, message: str) -> None:
    with pytest.raises(sst.SstError) as info:
        sst.parse_sst(data)
    assert message in str(info.value)
    assert "\n" not in str(info.value)
    with pytest.raises(PkiError) as info2:
        read_material(data, source="bad.sst")
    assert "\n" not in str(info2.value)


def test_100000_property_elements_are_refused_quickly() -> None:
    data = HEADER + _element(11, b"") * 100_000 + END
    with pytest.raises(sst.SstError, match="more than 64 properties before one certificate"):
        sst.parse_sst(data)


def test_100000_certificate_elements_are_refused() -> None:
    data = HEADER + _element(0x20, ROOT_DER) * 100_000 + END
    with pytest.raises(sst.SstError, match="more than 10000 certificates, CRLs and CTLs"):
        sst.parse_sst(data)


def test_too_many_elements_in_all_are_refused() -> None:
    group = _element(11, b"") * 60 + _element(0x20, ROOT_DER)
    with pytest.raises(sst.SstError, match="more than 50000 elements"):
        sst.parse_sst(HEADER + group * 1000 + END)


def test_a_file_above_the_size_limit_is_refused_before_reading() -> None:
    with pytest.raises(sst.SstError, match="refused"):
        sst.parse_sst(HEADER + b"\x00" * sst.MAX_SIZE)


def test_control_characters_from_the_file_never_reach_the_terminal() -> None:
    cert = self_signed("evil\nline\x1b[31m", 9)
    lines = sst.describe_sst(sst.write_sst([cert], friendly_names={cert: "a\rb"}))
    assert "certificate #1: CN=evil\\x0aline\\x1b[31m" in lines
    assert all(ch.isprintable() for line in lines for ch in line)


def test_property_names() -> None:
    assert sst.property_name(3) == "CERT_SHA1_HASH_PROP_ID"
    assert sst.property_name(29) == "CERT_SUBJECT_NAME_MD5_HASH_PROP_ID"
    assert sst.property_name(107) == "CERT_SHA256_HASH_PROP_ID"
    assert sst.property_name(0x8001) == "user property 0x8001"
    assert sst.property_name(0x1234) == "unknown property 0x1234"


# --- fuzz --------------------------------------------------------------------------------


def _reads_or_one_line(data: bytes) -> None:
    try:
        store = sst.parse_sst(data)
    except sst.SstError as exc:
        assert "\n" not in str(exc)
        return
    for line in sst.describe_sst(store):
        assert "\n" not in line


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600))
def test_fuzz_garbage_after_the_header(tail: bytes) -> None:
    _reads_or_one_line(HEADER + tail)
    _reads_or_one_line(tail)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([GOLDEN_ONE, GOLDEN_ONE_HASHED, GOLDEN_RICH]),
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)),
        min_size=1,
        max_size=8,
    ),
    st.integers(min_value=0, max_value=2_000),
)
def test_fuzz_mutated_stores(base: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(base)
    for where, value in flips:
        data[where % len(data)] = value
    _reads_or_one_line(bytes(data))
    _reads_or_one_line(bytes(data[: len(data) - cut % len(data)]))
    try:
        read_material(bytes(data), source="fuzz.sst")
    except PkiError as exc:
        assert "\n" not in str(exc)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(min_value=0, max_value=0x8100), st.binary(max_size=64)),
        max_size=12,
    )
)
def test_fuzz_random_properties_before_a_certificate(props: list[tuple[int, bytes]]) -> None:
    body = b"".join(_element(i, v) for i, v in props if i not in (0, 0x20, 0x21, 0x22))
    store = sst.parse_sst(HEADER + body + _element(0x20, ROOT_DER) + END)
    (context,) = store.contexts
    kept = [(p.id, p.value) for p in context.properties]
    assert kept == [(i, v) for i, v in props if i not in (0, 0x20, 0x21, 0x22)]
    assert all(line.count("\n") == 0 for line in sst.describe_sst(store))
