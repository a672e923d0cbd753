"""LDAP server responses for the scripted dialogue tests, encoded with the same RFC 4511
definitions and BER encoder the dialogue uses (``vedette.protocols.ldap.asn1``), and a reader
for what the dialogue sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vedette.protocols.ldap import asn1, message


def _result(op: Any, code: int, diagnostic: str) -> Any:
    rfc = asn1().rfc
    op["resultCode"] = rfc.ResultCode(code)
    op["matchedDN"] = rfc.LDAPDN("")
    op["diagnosticMessage"] = rfc.LDAPString(diagnostic)
    return op


def entry(message_id: int, attributes: Sequence[tuple[str, Sequence[bytes | str]]]) -> bytes:
    """A searchResEntry for the rootDSE (object name "")."""
    rfc = asn1().rfc
    op = rfc.SearchResultEntry()
    op["object"] = rfc.LDAPDN("")
    partial = rfc.PartialAttributeList()
    for i, (name, values) in enumerate(attributes):
        attribute = rfc.PartialAttribute()
        attribute["type"] = rfc.AttributeDescription(name)
        vals = rfc.Vals()
        for j, value in enumerate(values):
            vals[j] = rfc.AttributeValue(value.encode() if isinstance(value, str) else value)
        attribute["vals"] = vals
        partial[i] = attribute
    op["attributes"] = partial
    return message(message_id, "searchResEntry", op)


def search_done(message_id: int, code: int = 0, diagnostic: str = "") -> bytes:
    return message(
        message_id, "searchResDone", _result(asn1().rfc.SearchResultDone(), code, diagnostic)
    )


def bind_response(message_id: int, code: int, diagnostic: str = "") -> bytes:
    return message(message_id, "bindResponse", _result(asn1().rfc.BindResponse(), code, diagnostic))


def extended_response(
    message_id: int, code: int = 0, diagnostic: str = "", name: str | None = None
) -> bytes:
    rfc = asn1().rfc
    op = _result(rfc.ExtendedResponse(), code, diagnostic)
    if name is not None:
        op["responseName"] = rfc.ResponseName(name)
    return message(message_id, "extendedResp", op)


def request(data: bytes) -> tuple[int, str, Any]:
    """A request the dialogue sent: (messageID, operation name, operation)."""
    msg, rest = asn1().decoder.decode(data, asn1Spec=asn1().rfc.LDAPMessage())
    assert rest == b""
    op = msg["protocolOp"]
    return int(msg["messageID"]), str(op.getName()), op.getComponent()


#: slapd 2.5 (Debian 12) as the tests' fixture configures it, before TLS.
OPENLDAP_ROOT_DSE = [
    ("namingContexts", ["dc=example,dc=com"]),
    ("supportedExtension", ["1.3.6.1.4.1.1466.20037", "1.3.6.1.4.1.4203.1.11.1"]),
    ("supportedLDAPVersion", ["3"]),
    ("supportedSASLMechanisms", ["SCRAM-SHA-256", "DIGEST-MD5"]),
]

#: How the dialogue records OPENLDAP_ROOT_DSE (``DialogueObservation`` lines).
ROOT_DSE_LINES = (
    "namingContexts: dc=example,dc=com",
    "supportedExtension: 1.3.6.1.4.1.1466.20037",
    "supportedExtension: 1.3.6.1.4.1.4203.1.11.1",
    "supportedLDAPVersion: 3",
    "supportedSASLMechanisms: SCRAM-SHA-256",
    "supportedSASLMechanisms: DIGEST-MD5",
    "rootDSE search: 0 success",
)


def openldap_clear(bind_code: int = 49, starttls_code: int = 0) -> bytes:
    """What slapd sends on ldap:// before TLS: rootDSE, bind result, StartTLS answer."""
    return (
        entry(1, OPENLDAP_ROOT_DSE)
        + search_done(1)
        + bind_response(2, bind_code)
        + extended_response(3, starttls_code, "" if starttls_code == 0 else "refused")
    )


def openldap_tls(message_id: int = 4) -> bytes:
    """The rootDSE inside TLS, where slapd adds PLAIN."""
    after = [*OPENLDAP_ROOT_DSE[:3], ("supportedSASLMechanisms", ["SCRAM-SHA-256", "PLAIN"])]
    return entry(message_id, after) + search_done(message_id)
