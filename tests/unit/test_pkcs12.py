"""The PKCS#12 structure reader (``vedette.pki.pkcs12``) on files cryptography writes.

Files are made with cryptography's ``serialize_key_and_certificates`` (legacy and modern
encryption builders) and, for what no writer produces on request (a MAC count of 2^31-1,
Microsoft's CSP-name attribute, nesting), re-encoded with pyasn1's DER encoder: the reader is
judged on structures another implementation wrote. ``tests/integration/test_cert_inspect_cli.py``
compares the readout with ``openssl pkcs12 -info``.
"""

from __future__ import annotations

import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from pyasn1.codec.der import encoder  # type: ignore[import-untyped]
from pyasn1.type import char, univ  # type: ignore[import-untyped]
from pyasn1_modules import rfc7292  # type: ignore[import-untyped]

from tests.unit.pkcs12_helpers import (
    add_bag_attribute,
    outer_ber,
    p12_encryption,
    rewrite_pfx,
)
from vedette.errors import PkiError
from vedette.pki import CertificateAuthority
from vedette.pki.describe import describe_pkcs12
from vedette.pki.formats import read_material
from vedette.pki.pkcs12 import (
    MAX_ITERATIONS,
    Container,
    Encryption,
    Mac,
    Pfx,
    Pkcs12Error,
    parse_pfx,
)

_ROOT = CertificateAuthority.create_root("P12 Test Root")
_LEAF = _ROOT.issue_server(["p12.example.test"])


def _p12(*, legacy: bool, rounds: int = 2048, cas=(_ROOT.cert,), name=b"mail") -> bytes:
    enc = p12_encryption(legacy=legacy, rounds=rounds)
    return pkcs12.serialize_key_and_certificates(name, _LEAF.key, _LEAF.cert, list(cas), enc)


def test_legacy_file_from_cryptography():
    pfx = parse_pfx(_p12(legacy=True))
    assert pfx.integrity == "password"
    assert pfx.mac == Mac(digest="sha1", iterations=2048, salt_length=pfx.mac.salt_length)
    assert pfx.mac.legacy
    encrypted = [c for c in pfx.containers if c.kind == "encrypted-data"]
    assert len(encrypted) == 1 and encrypted[0].encryption is not None
    enc = encrypted[0].encryption
    assert (enc.scheme, enc.cipher, enc.kdf, enc.iterations) == (
        "pbeWithSHAAnd3-KeyTripleDES-CBC",
        "3DES-CBC",
        "PKCS#12 KDF (SHA-1)",
        2048,
    )
    assert enc.legacy
    (key_bag,) = [b for b in pfx.bags() if b.kind == "shrouded-key"]
    assert key_bag.encryption == enc
    assert key_bag.attributes.friendly_name == "mail"
    assert key_bag.attributes.local_key_id  # pairs the key with its certificate


def test_modern_file_from_cryptography():
    pfx = parse_pfx(_p12(legacy=False, rounds=50_000))
    assert pfx.mac is not None and (pfx.mac.digest, pfx.mac.legacy) == ("sha256", False)
    (key_bag,) = [b for b in pfx.bags() if b.kind == "shrouded-key"]
    enc = key_bag.encryption
    assert enc is not None
    assert (enc.scheme, enc.kdf, enc.prf, enc.cipher, enc.iterations) == (
        "PBES2",
        "PBKDF2",
        "hmacWithSHA256",
        "AES-256-CBC",
        50_000,
    )
    assert not enc.legacy
    assert enc.describe() == "PBES2, PBKDF2-hmacWithSHA256, AES-256-CBC, 50000 iterations"
    counts = dict(pfx.iteration_counts())
    assert counts["MAC"] == 2048 and counts["shrouded key #1"] == 50_000


def test_certificates_in_a_plain_container_are_listed_with_their_attributes():
    none = serialization.NoEncryption()
    der = pkcs12.serialize_key_and_certificates(b"plain", None, _LEAF.cert, [_ROOT.cert], none)
    pfx = parse_pfx(der)
    certs = [b for b in pfx.bags() if b.kind == "certificate"]
    assert [b.value for b in certs] == [
        _LEAF.cert.public_bytes(serialization.Encoding.DER),
        _ROOT.cert.public_bytes(serialization.Encoding.DER),
    ]
    assert certs[0].attributes.friendly_name == "plain"


def test_microsoft_csp_name_and_unknown_attributes_are_kept():
    csp = "Microsoft Enhanced RSA and AES Cryptographic Provider"

    def add(contents):
        add_bag_attribute(contents[0], "1.3.6.1.4.1.311.17.1", char.BMPString(csp))
        # Microsoft's "local machine keyset" marker (a NULL value here; OpenSSL writes none)
        add_bag_attribute(contents[0], "1.3.6.1.4.1.311.17.2", univ.Null(""))
        add_bag_attribute(contents[0], "1.2.3.4.5", univ.Null(""))  # unknown: kept by OID

    pfx = parse_pfx(rewrite_pfx(_p12(legacy=True), edit_bags=add))
    (key_bag,) = [b for b in pfx.bags() if b.kind == "shrouded-key"]
    assert key_bag.attributes.csp_name == csp
    assert key_bag.attributes.local_machine_keyset
    assert key_bag.attributes.other == ("1.2.3.4.5",)
    assert key_bag.attributes.friendly_name == "mail"


def test_ber_indefinite_lengths_as_nss_writes_them():
    der = _p12(legacy=False, cas=[_ROOT.cert] * 3)
    ber = rewrite_pfx(der, ber=True)
    assert ber != der and b"\x30\x80" in ber and b"\x24\x80" in ber  # really BER
    assert parse_pfx(ber) == parse_pfx(der)
    # With the MAC intact, cryptography opens it too: read_material reads it all.
    outer = outer_ber(der)
    assert outer.startswith(b"\x30\x80") and b"\x24\x80" in outer
    material = read_material(outer, source="nss.p12", password=lambda: b"pw")
    assert material.pkcs12 == parse_pfx(der)
    assert len(material.certificates) == 4 and material.keys


def test_mac_count_of_2_31_is_refused_before_any_derivation():
    der = rewrite_pfx(_p12(legacy=True), mac_iterations=2**31 - 1)
    pfx = parse_pfx(der)
    with pytest.raises(Pkcs12Error) as err:
        pfx.check_limits()
    assert str(err.value).startswith(
        "MAC iteration count 2147483647 exceeds vedette's limit of 2,000,000"
    )
    # Through the file reader: refused fast, whether a password is given or not.
    started = time.monotonic()
    with pytest.raises(PkiError, match="MAC iteration count 2147483647"):
        read_material(der, source="x.pfx", password=lambda: b"wrong")
    assert time.monotonic() - started < 20  # hang detector only: quiet time is milliseconds


def test_sum_of_counts_is_capped():
    enc = Encryption(
        oid="1.2.840.113549.1.5.13",
        scheme="PBES2",
        cipher="AES-256-CBC",
        kdf="PBKDF2",
        prf="hmacWithSHA256",
        iterations=MAX_ITERATIONS,
        salt_length=8,
    )
    pfx = Pfx(
        version=3,
        integrity="password",
        mac=Mac(digest="sha256", iterations=2048, salt_length=8),
        containers=tuple(
            Container(kind="encrypted-data", oid="1.2.840.113549.1.7.6", encryption=enc)
            for _ in range(5)
        ),
    )
    with pytest.raises(Pkcs12Error, match=r"add up to 10002048, beyond vedette's limit"):
        pfx.check_limits()
    Pfx(version=3, integrity="password", mac=pfx.mac, containers=pfx.containers[:4]).check_limits()


def test_nesting_is_bounded():
    def nest(contents):
        bag = contents[0]
        for _ in range(6):
            outer = rfc7292.SafeBag()
            outer["bagId"] = rfc7292.id_safeContentsBag
            inner = rfc7292.SafeContents()
            inner.append(bag)
            outer["bagValue"] = encoder.encode(inner)
            bag = outer
        contents[0] = bag

    der = rewrite_pfx(_p12(legacy=True), edit_bags=nest)
    with pytest.raises(Pkcs12Error, match="nested more than 4 deep"):
        parse_pfx(der)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"\x30\x03\x02\x01\x03", "does not decode"),
        (b"\x30\x80\x02\x01\x03\x00\x00", "does not decode"),
        (_p12(legacy=True) + b"\x00", "stray byte"),
        (_p12(legacy=True)[:-9], "truncated ASN.1 element"),
        (b"\x30\x80\x02\x01\x03" + b"\x30\x80" * 40, "nested more than 32 deep"),
        (b"\x30\x80\x02\x01\x03\x30\x80\x06\x01\x00", "missing end-of-contents"),
    ],
)
def test_garbage_is_one_pkcs12_error(data: bytes, message: str):
    with pytest.raises(Pkcs12Error, match=message) as err:
        parse_pfx(data)
    assert "\n" not in str(err.value)


def test_encryption_profile_of_the_whole_file():
    def profile(der: bytes) -> str:
        material = read_material(der, source="x.p12", password=lambda: b"pw")
        assert material.pkcs12 is not None
        info = describe_pkcs12(material.pkcs12, material.certificates, key_certificate=None)
        return str(info["encryption_profile"])

    assert profile(_p12(legacy=True)) == "legacy"
    assert profile(_p12(legacy=False)) == "modern"
    # AES with a SHA-1 MAC: what some tools write "for compatibility", and neither family.
    aes_sha1 = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .key_cert_algorithm(pkcs12.PBES.PBESv2SHA256AndAES256CBC)
        .hmac_hash(hashes.SHA1())
        .build(b"pw")
    )
    mixed = pkcs12.serialize_key_and_certificates(b"m", _LEAF.key, _LEAF.cert, None, aes_sha1)
    assert profile(mixed) == "mixed"
    # Nothing encrypted: the MAC alone makes it neither legacy nor modern.
    none = serialization.NoEncryption()
    plain = pkcs12.serialize_key_and_certificates(b"p", None, _LEAF.cert, None, none)
    assert profile(plain) == "none"


def test_attributes_of_an_unexpected_type_do_not_make_the_file_unreadable():
    def replace(contents):
        contents[0]["bagAttributes"].clear()
        add_bag_attribute(contents[0], "1.2.840.113549.1.9.20", char.UTF8String("utf8 name"))
        add_bag_attribute(contents[0], "1.2.840.113549.1.9.21", univ.Integer(7))

    pfx = parse_pfx(rewrite_pfx(_p12(legacy=True), edit_bags=replace))
    (key_bag,) = [b for b in pfx.bags() if b.kind == "shrouded-key"]
    assert key_bag.attributes.friendly_name == "utf8 name"  # some tools write UTF8String
    assert key_bag.attributes.local_key_id is None
    assert key_bag.attributes.other == ("1.2.840.113549.1.9.21",)
