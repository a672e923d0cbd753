"""``ca sign``'s own name-constraint check, for a CA made before every type was constrained."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID

from tests.builders import certificate
from vedette.errors import PkiError
from vedette.pki.issue import check_name_constraints, name_constraints


def _ca(nc: x509.NameConstraints) -> x509.Certificate:
    now = datetime.now(UTC)
    return certificate(
        "Old Root",
        not_before=now,
        not_after=now.replace(year=now.year + 1),
        ca=True,
        path_length=0,
        extensions=[(nc, True)],
        serial=1,
    ).cert


# What vedette wrote before: DNS subtrees only.
OLD = x509.NameConstraints(
    permitted_subtrees=[x509.DNSName("example.test")], excluded_subtrees=None
)


@pytest.mark.parametrize(
    "name",
    [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.RFC822Name("a@evil.com"),
        x509.UniformResourceIdentifier("https://evil.com/"),
        x509.UniformResourceIdentifier("urn:uuid:1234"),
        x509.DNSName("mail.evil.com"),
        x509.OtherName(x509.ObjectIdentifier("1.3.6.1.4.1.311.20.2.3"), b"\x0c\x01a"),
    ],
)
def test_old_dns_only_ca_still_refuses_every_other_type(name: x509.GeneralName):
    with pytest.raises(PkiError):
        check_name_constraints(_ca(OLD), [name])


@pytest.mark.parametrize("nc", [OLD, name_constraints(["example.test"])])
def test_names_inside_pass(nc: x509.NameConstraints):
    ca = _ca(nc)
    check_name_constraints(
        ca,
        [
            x509.DNSName("www.example.test"),
            x509.RFC822Name("a@example.test"),
            x509.RFC822Name("b@eu.example.test"),
            x509.UniformResourceIdentifier("https://www.example.test/"),
        ],
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "www.example.test")]),
    )
    with pytest.raises(PkiError, match="mail.evil.com"):
        check_name_constraints(
            ca, [], x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "mail.evil.com")])
        )
