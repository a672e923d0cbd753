"""Product presets (``vedette.pki.windows_presets``): the data's sources, and certreq INF files.

The INF is checked against the keys ``certreq -new`` documents (``[NewRequest]`` ProviderName,
ProviderType, KeySpec, KeyLength, Exportable, MachineKeySet; ``[EnhancedKeyUsageExtension]``;
``[Extensions]`` 2.5.29.17 with ``_continue_`` lines), since no certreq runs here.
"""

from __future__ import annotations

import copy
import json

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from vedette.errors import PkiError
from vedette.pki.pkcs12 import PROVIDERS
from vedette.pki.windows_presets import (
    DATA,
    _load,
    certreq_inf,
    preset,
    presets,
    subject_text,
)

_SUBJECT = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pool.example.test")])
_NAMES = [x509.DNSName("pool.example.test"), x509.DNSName("sip.example.test")]


def _sections(inf: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = ""
    for line in inf.split("\r\n"):
        line = line.split("  ;")[0].strip()
        if not line or line.startswith(";"):
            continue
        if line.startswith("["):
            current = line.strip("[]")
            sections[current] = []
        else:
            sections[current].append(line)
    return sections


def test_the_presets_the_issue_names_are_there_with_sources():
    assert set(presets()) >= {"skype-server", "lync-server", "exchange", "iis", "adfs"}
    for chosen in presets().values():
        for name, fact in chosen.facts.items():
            if fact.verified:
                assert fact.sources, (chosen.id, name)
            else:
                assert fact.note, (chosen.id, name)
        for source in chosen.sources.values():
            assert source.url and source.says


def test_skype_server_is_what_the_field_note_needed():
    skype = preset("skype-server")
    assert skype.key_type == "rsa:2048"
    assert skype.provider is not None and PROVIDERS[skype.provider].api == "capi"
    assert skype.keyspec == "exchange"
    assert skype.ekus == ("serverAuth", "clientAuth")
    assert skype.crl_distribution_point and skype.legacy_pkcs12
    assert "field-note-003" in skype.facts["keyspec"].sources and skype.facts["keyspec"].verified
    assert preset("iis").provider is None and preset("iis").keyspec is None


def test_unknown_preset_is_one_line_listing_the_known_ones():
    with pytest.raises(PkiError) as info:
        preset("x" * 500)
    message = str(info.value)
    assert "\n" not in message and len(message) < 200 and "skype-server" in message


@pytest.mark.parametrize(
    ("edit", "words"),
    [
        (lambda p: p["key"].update(verified=True, sources=[]), "by no source"),
        (lambda p: p["key"].update(verified=False, note=None), "without a note"),
        (lambda p: p["key"].update(sources=["nowhere"]), "not in the sources"),
        (lambda p: p["key"].update(value="rsa:512"), "unknown key type"),
        (lambda p: p["keyspec"].update(value="3"), "KeySpec '3'"),
    ],
)
def test_the_loader_refuses_facts_without_sources(edit, words):
    doc = json.loads(DATA.read_text())
    bad = copy.deepcopy(doc)
    edit(bad["presets"]["skype-server"])
    with pytest.raises(PkiError, match=words):
        _load(bad)


def test_certreq_inf_for_skype_server():
    inf = certreq_inf(_SUBJECT, _NAMES, preset("skype-server"))
    assert "\n" not in inf.replace("\r\n", "")  # CRLF only
    sections = _sections(inf)
    assert sections["Version"] == ['Signature = "$Windows NT$"']
    request = dict(line.split(" = ", 1) for line in sections["NewRequest"])
    assert request["Subject"] == '"CN=pool.example.test"'
    assert request["ProviderName"] == '"Microsoft RSA SChannel Cryptographic Provider"'
    assert request["ProviderType"] == "12"
    assert (request["KeySpec"], request["KeyUsage"], request["KeyLength"]) == ("1", "0xa0", "2048")
    assert (request["Exportable"], request["MachineKeySet"]) == ("TRUE", "TRUE")
    assert request["RequestType"] == "PKCS10"
    assert sections["EnhancedKeyUsageExtension"] == [
        "OID = 1.3.6.1.5.5.7.3.1",
        "OID = 1.3.6.1.5.5.7.3.2",
    ]
    assert sections["Extensions"] == [
        '2.5.29.17 = "{text}"',
        '_continue_ = "dns=pool.example.test&"',
        '_continue_ = "dns=sip.example.test&"',
    ]


def test_certreq_inf_for_iis_names_no_provider():
    request = _sections(
        certreq_inf(
            _SUBJECT,
            [x509.IPAddress(__import__("ipaddress").ip_address("192.0.2.7"))],
            preset("iis"),
        )
    )
    keys = dict(line.split(" = ", 1) for line in request["NewRequest"])
    assert "ProviderName" not in keys and "KeySpec" not in keys
    assert request["Extensions"][1] == '_continue_ = "ipaddress=192.0.2.7&"'


@pytest.mark.parametrize(
    ("subject", "names", "words"),
    [
        ("evil\r\nProviderName = x", [], "control character"),
        ("ok", [x509.DNSName("a.test&dns=evil.test")], "'&'"),
    ],
)
def test_certreq_inf_refuses_what_would_change_its_meaning(subject, names, words):
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    with pytest.raises(PkiError, match=words):
        certreq_inf(name, names, preset("skype-server"))


def test_subject_in_certreq_syntax():
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "FR"),
            x509.NameAttribute(NameOID.STATE_OR_PROVINCE_NAME, "IDF"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, 'Example, "Best" Inc.'),
            x509.NameAttribute(NameOID.COMMON_NAME, "pool.example.test"),
        ]
    )
    assert subject_text(name) == 'CN=pool.example.test, O="Example, ""Best"" Inc.", S=IDF, C=FR'
    # In the INF's quoted value, each quote doubled again.
    inf = certreq_inf(name, _NAMES, preset("exchange"))
    assert 'Subject = "CN=pool.example.test, O=""Example, """"Best"""" Inc."", S=IDF, C=FR"' in inf
    odd = x509.Name([x509.NameAttribute(NameOID.PSEUDONYM, "x")])
    with pytest.raises(PkiError, match="no certreq name"):
        certreq_inf(odd, _NAMES, preset("exchange"))
