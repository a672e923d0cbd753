"""vedette's PKCS#12 writer (``vedette.pki.pkcs12_write``) and the Windows attributes.

Every file written is read back by two readers: vedette's structure reader (the attributes)
and cryptography's loader (MAC, decryption, key and certificates), which is OpenSSL's and Rust
code, not vedette's. ``tests/integration/test_pkcs12_windows.py`` compares with
``openssl pkcs12 -export -CSP ... -keyex|-keysig -LMK`` attribute by attribute.
"""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedette.errors import PkiError
from vedette.pki import CertificateAuthority
from vedette.pki.convert import to_p12
from vedette.pki.formats import read_material
from vedette.pki.pkcs12 import (
    KeyAttributes,
    Pkcs12Error,
    check_csp_name,
    key_attributes,
    parse_keyspec,
    parse_pfx,
)
from vedette.pki.pkcs12_pbe import bmp_password, pkcs12_kdf
from vedette.pki.pkcs12_write import WindowsKey, write_pfx

_ROOT = CertificateAuthority.create_root("Writer Test Root")
_INTER = _ROOT.issue_intermediate("Writer Test CA")
_LEAF = _INTER.issue_server(["pfx.example.test"], key_spec="rsa:2048")
_DER = serialization.Encoding.DER
_PKCS8 = _LEAF.key.private_bytes(
    _DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
_CHAIN = (_INTER.cert.public_bytes(_DER), _ROOT.cert.public_bytes(_DER))
SCHANNEL = "Microsoft RSA SChannel Cryptographic Provider"


def _write(**kw: object) -> bytes:
    args: dict[str, object] = {
        "private_key_info": _PKCS8,
        "certificate": _LEAF.cert.public_bytes(_DER),
        "chain": _CHAIN,
        "password": b"pw",
        "scheme": "modern",
        "iterations": 64,
    }
    args.update(kw)
    return write_pfx(**args)  # type: ignore[arg-type]


def _key_bag(der: bytes):
    (bag,) = [b for b in parse_pfx(der).bags() if b.kind == "shrouded-key"]
    return bag


@pytest.mark.parametrize(
    ("salt", "purpose", "size", "expected"),
    [  # Dr Stephen Henson's PKCS#12 KDF vectors (password "smeg", 1 iteration, SHA-1), as in
        # BouncyCastle's PKCS12Test and libgcrypt's t-kdf
        ("0A58CF64530D823F", 1, 24, "8aaae6297b6cb04642ab5b077851284eb7128f1a2a7fbca3"),
        ("0A58CF64530D823F", 2, 8, "79993dfe048d3b76"),
        ("642B99AB44FB4B1F", 1, 24, "f3a95fec48d7711e985cfe67908c5ab79fa3d7c5caa5d966"),
        ("642B99AB44FB4B1F", 2, 8, "c0a38d64a79bea1d"),
    ],
)
def test_pkcs12_kdf_known_answers(salt: str, purpose: int, size: int, expected: str):
    key = pkcs12_kdf("sha1", bmp_password(b"smeg"), bytes.fromhex(salt), purpose, 1, size)
    assert key.hex() == expected


_names = st.text(
    st.characters(codec="utf-16", exclude_categories=("Cc", "Cs", "Co", "Cn", "Zl", "Zp")),
    min_size=1,
    max_size=40,
).filter(lambda s: s.strip() and s.isprintable() and all(ord(c) <= 0xFFFF for c in s))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    csp=st.none() | _names,
    keyspec=st.sampled_from([None, "exchange", "signature"]),
    machine=st.booleans(),
    friendly=st.none() | _names,
    scheme=st.sampled_from(["modern", "legacy"]),
    chain=st.integers(0, 2),
    password=st.text(max_size=12).filter(lambda s: "\0" not in s),
)
def test_what_is_written_reads_back_with_the_same_attributes(
    csp, keyspec, machine, friendly, scheme, chain, password
):
    secret = password.encode()
    der = _write(
        chain=_CHAIN[:chain],
        password=secret,
        scheme=scheme,
        friendly_name=friendly,
        windows=WindowsKey(csp_name=csp, keyspec=keyspec, machine_keyset=machine),
    )
    pfx = parse_pfx(der)
    pfx.check_limits()
    bag = _key_bag(der)
    assert bag.attributes.csp_name == csp
    assert bag.attributes.local_machine_keyset is machine
    assert bag.attributes.friendly_name == friendly
    assert bag.attributes.other == ()
    expected = {None: None, "exchange": b"\x10", "signature": b"\x80"}[keyspec]
    assert key_attributes(bag, secret) == KeyAttributes(key_usage=expected)
    assert key_attributes(bag, secret).keyspec == keyspec
    # The certificate bag carries the friendly name and the same localKeyId; the chain none.
    certs = [b for b in pfx.bags() if b.kind == "certificate"]
    assert certs == []  # encrypted: opaque before the password
    assert (pfx.mac is not None) and pfx.mac.digest == ("sha1" if scheme == "legacy" else "sha256")
    # cryptography (OpenSSL underneath) checks the MAC, decrypts and finds the same things.
    p12 = pkcs12.load_pkcs12(der, secret)
    assert p12.key is not None and p12.cert is not None
    assert p12.cert.certificate == _LEAF.cert
    assert p12.cert.friendly_name == (friendly.encode() if friendly else None)
    assert [c.certificate for c in p12.additional_certs] == [_INTER.cert, _ROOT.cert][:chain]
    assert p12.key.private_numbers() == _LEAF.key.private_numbers()  # type: ignore[union-attr]


def test_no_windows_attribute_unless_asked():
    bag = _key_bag(_write())
    assert bag.attributes.csp_name is None and not bag.attributes.local_machine_keyset
    assert key_attributes(bag, b"pw") == KeyAttributes()


def test_certificates_only():
    der = _write(private_key_info=None, certificate=None, scheme="legacy")
    p12 = pkcs12.load_pkcs12(der, b"pw")
    assert p12.key is None
    assert [c.certificate for c in p12.additional_certs] == [_INTER.cert, _ROOT.cert]
    with pytest.raises(Pkcs12Error, match="needs a private key"):
        _write(private_key_info=None, certificate=None, windows=WindowsKey(keyspec="exchange"))


def test_wrong_password_on_the_key_bag_is_one_error():
    bag = _key_bag(_write(windows=WindowsKey(keyspec="exchange")))
    with pytest.raises(Pkcs12Error, match="wrong password") as info:
        key_attributes(bag, b"not the password")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "keyspec"),
    [
        ("exchange", "exchange"),
        ("AT_KEYEXCHANGE", "exchange"),
        ("1", "exchange"),
        ("keyex", "exchange"),
        (" Signature ", "signature"),
        ("AT_SIGNATURE", "signature"),
        ("2", "signature"),
    ],
)
def test_keyspec_words(text: str, keyspec: str):
    assert parse_keyspec(text) == keyspec


@given(st.text(max_size=300))
def test_absurd_keyspec_values_are_one_line_errors(text: str):
    if text.strip().lower() in {
        "exchange",
        "keyex",
        "at_keyexchange",
        "1",
        "signature",
        "keysig",
        "at_signature",
        "2",
    }:
        return
    with pytest.raises(Pkcs12Error) as info:
        parse_keyspec(text)
    message = str(info.value)
    assert "\n" not in message and "\r" not in message and len(message) < 250
    assert "exchange" in message and "signature" in message


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 256, "256 characters"),
        ("Microsoft\nProvider", "U+000A"),
        ("Provider \x1b[31m", "U+001B"),
        ("Provider \U0001f512", "U+1F512"),
    ],
)
def test_bad_csp_names_are_refused(name: str, words: str):
    with pytest.raises(Pkcs12Error, match=words.replace("+", r"\+")):
        check_csp_name(name)
    with pytest.raises(Pkcs12Error):
        _write(windows=WindowsKey(csp_name=name))


def test_a_keyspec_on_a_non_rsa_key_is_refused():
    ca = CertificateAuthority.create_root("EC Root")
    leaf = ca.issue_server(["ec.example.test"], key_spec="ec:p256")

    def write(windows: WindowsKey) -> bytes:
        return to_p12(key=leaf.key, cert=leaf.cert, chain=[], password=b"pw", windows=windows)

    for refused in (WindowsKey(csp_name=SCHANNEL), WindowsKey(keyspec="exchange")):
        with pytest.raises(PkiError, match="RSA"):
            write(refused)
    # A CNG provider takes any key.
    ksp = "Microsoft Software Key Storage Provider"
    assert _key_bag(write(WindowsKey(csp_name=ksp))).attributes.csp_name == ksp


def test_to_p12_writes_modern_and_legacy_as_before():
    for legacy in (False, True):
        der = to_p12(
            key=_LEAF.key,
            cert=_LEAF.cert,
            chain=[_INTER.cert],
            password=b"pw",
            friendly_name="mail",
            legacy=legacy,
            windows=WindowsKey(csp_name=SCHANNEL, keyspec="exchange", machine_keyset=True),
        )
        enc = _key_bag(der).encryption
        assert enc is not None
        assert (enc.scheme, enc.iterations) == (
            ("pbeWithSHAAnd3-KeyTripleDES-CBC", 2048) if legacy else ("PBES2", 200_000)
        )
        assert enc.legacy is legacy


@settings(max_examples=60, deadline=None)
@given(cut=st.integers(1, 10_000), flip=st.integers(0, 10_000))
def test_damaged_files_are_one_line_errors(cut: int, flip: int):
    der = _write(windows=WindowsKey(csp_name=SCHANNEL, keyspec="exchange"))
    damaged = bytearray(der[: len(der) - cut % len(der)])
    if damaged and flip % 3 == 0:
        damaged[flip % len(damaged)] ^= 0x41
    try:
        read_material(bytes(damaged), source="bad.pfx", password=lambda: b"pw")
    except PkiError as exc:
        assert "\n" not in str(exc)


def test_a_key_usage_attribute_of_the_wrong_type_is_one_error():
    from pyasn1.codec.der import decoder, encoder  # type: ignore[import-untyped]
    from pyasn1.type import univ  # type: ignore[import-untyped]
    from pyasn1_modules import rfc5652, rfc5958  # type: ignore[import-untyped]

    info, _ = decoder.decode(_PKCS8, asn1Spec=rfc5958.OneAsymmetricKey())
    attr = rfc5652.Attribute()
    attr["attrType"] = univ.ObjectIdentifier("2.5.29.15")
    attr["attrValues"].append(encoder.encode(univ.Integer(16)))  # not a BIT STRING
    info["attributes"].append(attr)
    bag = _key_bag(_write(private_key_info=encoder.encode(info)))
    with pytest.raises(Pkcs12Error, match="key usage") as exc:
        key_attributes(bag, b"pw")
    assert "\n" not in str(exc.value)


@pytest.mark.parametrize(
    ("windows", "keyspec_read", "words", "commands"),
    [
        (WindowsKey(), True, "no CSP name", ["certutil -csp", "vedette cert convert"]),
        (
            WindowsKey(csp_name="Microsoft Software Key Storage Provider"),
            True,
            "CNG key storage provider, which has no KeySpec",
            ["vedette cert convert"],
        ),
        (
            WindowsKey(csp_name=SCHANNEL, keyspec="signature"),
            True,
            "KeySpec signature (AT_SIGNATURE)",
            ["vedette cert convert"],
        ),
        (WindowsKey(csp_name=SCHANNEL, keyspec="exchange"), True, "what Skype", []),
        (WindowsKey(csp_name=SCHANNEL, keyspec="exchange"), False, "give --passin", []),
    ],
)
def test_what_inspect_says_of_the_windows_import(windows, keyspec_read, words, commands):
    from vedette.pki.describe import describe_windows

    der = _write(windows=windows)
    bag = _key_bag(der)
    attrs = key_attributes(bag, b"pw") if keyspec_read else None
    info = describe_windows(parse_pfx(der), attrs, source="dir/my file.pfx")
    assert info is not None
    assert any(words in advice for advice in info["advice"]), info["advice"]
    assert len(info["commands"]) == len(commands)
    assert all(c.startswith(w) for c, w in zip(info["commands"], commands, strict=True))
    for command in info["commands"]:
        assert "'dir/my file.pfx'" in command  # quoted for the shell
    if "certutil -csp" in commands:
        assert info["commands"][0] == (f"certutil -csp \"{SCHANNEL}\" -importpfx 'dir/my file.pfx'")
        assert "'dir/my file-capi.pfx'" in info["commands"][1]


def test_the_python_kdf_is_not_run_beyond_what_writers_use():
    from dataclasses import replace

    bag = _key_bag(_write(scheme="legacy", windows=WindowsKey(keyspec="exchange")))
    assert bag.encryption is not None
    costly = replace(bag, encryption=replace(bag.encryption, iterations=2_000_000))
    with pytest.raises(Pkcs12Error, match="2000000 is above 200,000"):
        key_attributes(costly, b"pw")
    assert key_attributes(bag, b"pw").keyspec == "exchange"
