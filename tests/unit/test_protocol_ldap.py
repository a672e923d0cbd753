"""The LDAP client dialogue against scripted server bytes (no sockets), and its capability
parser and registry entry."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.ldap_messages import (
    OPENLDAP_ROOT_DSE,
    ROOT_DSE_LINES,
    bind_response,
    entry,
    extended_response,
    openldap_clear,
    openldap_tls,
    request,
    search_done,
)
from tests.unit.protocol_script import bytewise, chunkings, drive
from vedette.checks import CheckContext, analyse
from vedette.errors import NotProtocolError, ProtocolError, ServiceUnavailableError
from vedette.model import (
    DialogueObservation,
    Endpoint,
    Observation,
    Protocol,
    Service,
    Severity,
    Stage,
    TlsObservation,
)
from vedette.protocols.ldap import (
    MAX_ELEMENTS,
    MAX_MESSAGE,
    NOTICE_OF_DISCONNECTION_OID,
    ROOT_DSE_ATTRIBUTES,
    STARTTLS_OID,
    LdapDialogue,
    check_ber,
    frame_length,
)
from vedette.protocols.registry import (
    entry as registry_entry,
)
from vedette.protocols.registry import (
    new_dialogue,
    parse_capabilities,
    plaintext_password_mechanisms,
)


def _counter() -> object:
    numbers = itertools.count()
    return lambda n: f"{next(numbers):0{2 * n}x}"


def _dialogue(**kwargs: bool) -> LdapDialogue:
    """A dialogue whose random DN and password are predictable."""
    return LdapDialogue(random_hex=_counter(), **kwargs)  # type: ignore[arg-type]


NOW = datetime(2026, 12, 1, tzinfo=UTC)


def test_ldap_walk_reads_the_root_dse_probes_a_bind_and_starts_tls() -> None:
    out = drive(_dialogue(), openldap_clear(), openldap_tls())
    assert out.error is None and not out.closed_early and out.tls_started
    assert out.stage is Stage.CLOSE
    sent = [request(data) for data in out.sent]
    assert [(mid, name) for mid, name, _ in sent] == [
        (1, "searchRequest"),
        (2, "bindRequest"),
        (3, "extendedReq"),
        (4, "searchRequest"),
        (5, "unbindRequest"),
    ]
    search = sent[0][2]
    assert bytes(search["baseObject"]) == b""
    assert int(search["scope"]) == 0  # baseObject
    assert str(search["filter"].getName()) == "present"
    assert [str(a) for a in search["attributes"]] == list(ROOT_DSE_ATTRIBUTES)
    bind = sent[1][2]
    assert int(bind["version"]) == 3
    # A DN that cannot exist, under the naming context, with a random non-empty password.
    assert str(bind["name"]) == "cn=vedette-probe-0000000000000000,dc=example,dc=com"
    password = bytes(bind["authentication"]["simple"])
    assert password == f"{1:032x}".encode()
    assert str(sent[2][2]["requestName"]) == STARTTLS_OID
    obs = out.observation
    assert obs.greeting == ()
    assert obs.capabilities_before_tls == (
        *ROOT_DSE_LINES,
        "simple bind as a non-existent DN: 49 invalidCredentials",
    )
    assert obs.starttls_reply == ("StartTLS: 0 success",)
    assert obs.capabilities_after_tls is not None
    assert "supportedSASLMechanisms: PLAIN" in obs.capabilities_after_tls


def test_every_random_name_and_password_differ_between_dialogues() -> None:
    first = drive(new_dialogue(Service.LDAP), openldap_clear(), openldap_tls())
    second = drive(new_dialogue(Service.LDAP), openldap_clear(), openldap_tls())
    binds = [request(out.sent[1])[2] for out in (first, second)]
    names = [str(b["name"]) for b in binds]
    passwords = [bytes(b["authentication"]["simple"]) for b in binds]
    assert names[0] != names[1] and passwords[0] != passwords[1]
    assert all(n.startswith("cn=vedette-probe-") for n in names)
    assert all(len(p) == 32 for p in passwords)


@given(data=st.data())
def test_the_outcome_does_not_depend_on_how_bytes_are_cut(data: st.DataObject) -> None:
    clear, tls = openldap_clear(), openldap_tls()
    whole = drive(_dialogue(), clear, tls)
    cut = drive(_dialogue(), data.draw(chunkings(clear)), data.draw(chunkings(tls)))
    assert cut.summary == whole.summary


def test_one_byte_per_read() -> None:
    whole = drive(_dialogue(), openldap_clear(), openldap_tls())
    assert drive(_dialogue(), bytewise(openldap_clear()), bytewise(openldap_tls())).summary == (
        whole.summary
    )


def test_bytes_after_the_starttls_go_ahead_never_reach_the_tls_side() -> None:
    # An attacker injects a forged rootDSE entry (announcing PLAIN) right after the go-ahead:
    # it travelled in clear and must be dropped.
    forged = entry(4, [("supportedSASLMechanisms", ["FORGED"])])
    out = drive(_dialogue(), openldap_clear() + forged, openldap_tls())
    assert out.error is None
    assert out.observation.capabilities_after_tls is not None
    assert not any("FORGED" in line for line in out.observation.capabilities_after_tls)


def test_ldaps_reads_the_root_dse_once_inside_tls_and_never_binds() -> None:
    dialogue = new_dialogue(Service.LDAPS)
    out = drive(dialogue, openldap_tls(message_id=1))
    assert out.error is None and not out.tls_started
    assert [request(d)[1] for d in out.sent] == ["searchRequest", "unbindRequest"]
    assert out.observation.capabilities_before_tls is None
    assert out.observation.starttls_reply is None
    assert "supportedSASLMechanisms: PLAIN" in (out.observation.capabilities_after_tls or ())


def test_without_starttls_the_bind_probe_still_runs_then_unbind() -> None:
    out = drive(_dialogue(try_starttls=False), openldap_clear()[: -len(extended_response(3))])
    assert [request(d)[1] for d in out.sent] == ["searchRequest", "bindRequest", "unbindRequest"]
    assert out.observation.starttls_reply is None
    assert out.observation.capabilities_before_tls is not None
    assert out.observation.capabilities_before_tls[-1].endswith("49 invalidCredentials")


def test_a_redial_goes_straight_to_starttls() -> None:
    # The enumeration and resumption re-dials (tens per scan) only need TLS: no rootDSE, and
    # above all no bind probe, which would be one more failed logon in the server's log each.
    out = drive(new_dialogue(Service.LDAP, redial=True), extended_response(1), openldap_tls(2))
    assert [request(d)[1] for d in out.sent] == ["extendedReq", "searchRequest", "unbindRequest"]
    assert out.tls_started and out.error is None
    assert out.observation.starttls_reply == ("StartTLS: 0 success",)


def test_without_a_naming_context_the_bind_is_not_tried() -> None:
    # A DN outside every naming context gets 49 from slapd whatever its TLS policy: no probe.
    clear = entry(1, [("supportedLDAPVersion", ["3"])]) + search_done(1) + extended_response(2)
    out = drive(_dialogue(), clear, openldap_tls(message_id=3))
    assert [request(d)[1] for d in out.sent] == [
        "searchRequest",
        "extendedReq",
        "searchRequest",
        "unbindRequest",
    ]
    assert out.observation.capabilities_before_tls == (
        "supportedLDAPVersion: 3",
        "rootDSE search: 0 success",
        "simple bind as a non-existent DN: not tried (no naming context in the rootDSE)",
    )
    caps = parse_capabilities(Protocol.LDAP, out.observation.capabilities_before_tls)
    assert plaintext_password_mechanisms(Protocol.LDAP, caps) == frozenset()


def test_refused_starttls_is_recorded_and_the_session_unbinds() -> None:
    out = drive(_dialogue(), openldap_clear(starttls_code=2))
    assert out.error is None and not out.tls_started and not out.closed_early
    assert out.observation.starttls_reply == ("StartTLS: 2 protocolError (refused)",)
    assert request(out.sent[-1])[1] == "unbindRequest"
    assert out.observation.capabilities_after_tls is None


def test_starttls_meeting_outstanding_operations_is_asked_once_more() -> None:
    # slapd can answer operationsError to a StartTLS sent right behind the bind's result (the
    # bind still counted as outstanding): the dialogue asks again, once.
    first = openldap_clear()[: -len(extended_response(3))]
    busy = extended_response(3, 1, "cannot start TLS when operations are outstanding")
    out = drive(_dialogue(), first + busy + extended_response(4), openldap_tls(5))
    assert out.error is None and out.tls_started
    assert [request(d)[1] for d in out.sent[2:4]] == ["extendedReq", "extendedReq"]
    assert out.observation.starttls_reply == ("StartTLS: 0 success",)
    # A second operationsError is the answer.
    out = drive(_dialogue(), first + busy + extended_response(4, 1, "still busy"))
    assert not out.tls_started
    assert out.observation.starttls_reply == ("StartTLS: 1 operationsError (still busy)",)


def test_a_refused_root_dse_search_is_recorded_and_the_walk_goes_on() -> None:
    # olcSecurity: tls=1 answers 13 to everything before TLS except StartTLS.
    clear = search_done(1, 13, "TLS confidentiality required") + extended_response(2)
    out = drive(_dialogue(), clear, openldap_tls(message_id=3))
    assert out.observation.capabilities_before_tls == (
        "rootDSE search: 13 confidentialityRequired (TLS confidentiality required)",
        "simple bind as a non-existent DN: not tried (no naming context in the rootDSE)",
    )
    assert out.tls_started and out.error is None


@pytest.mark.parametrize(
    ("code", "exposed"),
    [(49, True), (0, True), (13, False), (8, False), (53, False), (50, False)],
)
def test_which_bind_results_mean_a_password_was_taken_in_clear(code: int, exposed: bool) -> None:
    out = drive(_dialogue(), openldap_clear(bind_code=code), openldap_tls())
    lines = out.observation.capabilities_before_tls
    assert lines is not None
    caps = parse_capabilities(Protocol.LDAP, lines)
    mechanisms = plaintext_password_mechanisms(Protocol.LDAP, caps)
    assert mechanisms == ({"SIMPLE BIND"} if exposed else frozenset())


def test_capabilities_read_back_from_stored_lines() -> None:
    caps = parse_capabilities(
        Protocol.LDAP,
        (
            *ROOT_DSE_LINES,
            "supportedSASLMechanisms: plain",
            "simple bind as a non-existent DN: 49 invalidCredentials (80090308: LdapErr)",
            "garbage line",
            "supportedLDAPVersion: x",
        ),
    )
    assert caps.starttls
    assert caps.sasl == {"SCRAM-SHA-256", "DIGEST-MD5", "PLAIN"}
    assert {"LDAPV3", "BIND-RESULT=49", STARTTLS_OID} <= caps.names
    # SASL PLAIN before TLS counts too, like the mail protocols' AUTH PLAIN.
    assert plaintext_password_mechanisms(Protocol.LDAP, caps) == {"SIMPLE BIND", "PLAIN"}
    assert not parse_capabilities(Protocol.LDAP, ("supportedExtension: 1.2.3",)).starttls


def test_the_registry_entry_names_starttls_and_the_fix_and_pings_with_a_search() -> None:
    e = registry_entry(Protocol.LDAP)
    assert "1.3.6.1.4.1.1466.20037" in e.starttls_word
    assert "olcSecurity: simple_bind=128" in e.password_fix
    assert "LDAP server signing requirements" in e.password_fix
    for service in (Service.LDAP, Service.LDAPS):
        assert not service.scanned_by_default
        ping = e.ping(Endpoint(host="ldap.example.com", ip="192.0.2.1", port=1, service=service))
        assert ping is not None
        assert request(ping)[1] == "searchRequest"
    assert Service.for_port(389) is Service.LDAP and Service.for_port(636) is Service.LDAPS


# ---- hostile and broken servers -----------------------------------------------------------------


@pytest.mark.parametrize(
    "first",
    [
        b"220 mx.example.com ESMTP\r\n",
        b"* OK IMAP4rev1 ready\r\n",
        b"\x15\x03\x03\x00\x02\x02\x28",  # a TLS alert: ldaps on the ldap port
        b"HTTP/1.1 400 Bad Request\r\n\r\n",
    ],
)
def test_another_service_on_the_port_is_named_at_once(first: bytes) -> None:
    out = drive(_dialogue(), [first])
    assert isinstance(out.error, NotProtocolError)
    assert out.stage is Stage.CAPABILITIES
    assert out.observation.capabilities_before_tls is None


def test_a_first_reply_for_another_message_is_not_ldap() -> None:
    out = drive(_dialogue(), search_done(9))
    assert isinstance(out.error, NotProtocolError)


def test_indefinite_length_is_refused() -> None:
    out = drive(_dialogue(), entry(1, OPENLDAP_ROOT_DSE) + search_done(1) + b"\x30\x80\x02\x01")
    assert isinstance(out.error, ProtocolError)
    assert "indefinite" in str(out.error)
    assert out.observation.capabilities_before_tls == ROOT_DSE_LINES  # complete replies kept


def test_an_oversized_length_is_refused_before_the_body_arrives() -> None:
    header = b"\x30\x84" + (MAX_MESSAGE + 1).to_bytes(4, "big")
    out = drive(_dialogue(), [header, b"\x00" * 100])
    assert isinstance(out.error, ProtocolError) and out.error.too_large
    assert out.actions <= 4  # refused at the header, not after reading the body
    with pytest.raises(ProtocolError, match="5-byte"):
        frame_length(b"\x30\x85\x00\x00\x00\x00\x01")


def test_deep_nesting_is_refused_before_decoding() -> None:
    inner = b"\x05\x00"
    for _ in range(20):
        inner = b"\x30" + _len(len(inner)) + inner
    nested = b"\x30" + _len(len(inner) + 3) + b"\x02\x01\x01" + inner
    with pytest.raises(ProtocolError, match="nested"):
        check_ber(nested)
    out = drive(_dialogue(), nested)
    assert isinstance(out.error, NotProtocolError)


def _len(n: int) -> bytes:
    return bytes([n]) if n < 0x80 else b"\x82" + n.to_bytes(2, "big")


def test_a_message_of_many_small_elements_is_refused_before_decoding() -> None:
    # 60,000 two-byte values fit in 256 KiB but would cost pyasn1 over a second of CPU.
    many = entry(1, [("vendorName", [bytes([i % 256, i // 256]) for i in range(60_000)])])
    assert len(many) < MAX_MESSAGE
    out = drive(_dialogue(), many)
    assert isinstance(out.error, ProtocolError) and out.error.too_large
    assert f"more than {MAX_ELEMENTS} BER elements" in str(out.error)


def test_an_element_longer_than_its_container_is_refused() -> None:
    with pytest.raises(ProtocolError, match="longer than its container"):
        check_ber(b"\x30\x05\x02\x01\x01\x04\x09abc")


def test_a_request_from_the_server_is_not_a_response() -> None:
    # A searchRequest (whose filters nest) is never decoded from a server.
    out = drive(_dialogue(), search_done(1) + bytes.fromhex("30050201026300"))
    assert isinstance(out.error, ProtocolError) and "not a response" in str(out.error)


def test_notice_of_disconnection_is_a_refusal_of_service() -> None:
    notice = extended_response(0, 52, "server shutting down", NOTICE_OF_DISCONNECTION_OID)
    out = drive(_dialogue(), notice)
    assert isinstance(out.error, ServiceUnavailableError)
    assert "52 unavailable (server shutting down)" in str(out.error)


def test_end_of_file_mid_dialogue_keeps_only_complete_replies() -> None:
    clear = openldap_clear()
    cut = entry(1, OPENLDAP_ROOT_DSE) + search_done(1) + bind_response(2, 49)[:-3]
    out = drive(_dialogue(), cut)
    assert out.closed_early and out.error is None
    assert out.stage is Stage.CAPABILITIES
    assert out.observation.capabilities_before_tls == ROOT_DSE_LINES
    assert len(clear) > len(cut)


def test_too_many_search_results_are_refused() -> None:
    flood = b"".join(entry(1, [("vendorName", ["x"])]) for _ in range(40)) + search_done(1)
    out = drive(_dialogue(), flood)
    assert isinstance(out.error, ProtocolError) and out.error.too_large


def test_values_are_latin1_lines_without_line_breaks() -> None:
    clear = entry(1, [("vendorName", [b"Evil\r\nInjected: yes \xe9"])]) + search_done(1)
    out = drive(_dialogue(try_starttls=False), clear + bind_response(2, 53))
    assert out.observation.capabilities_before_tls is not None
    assert out.observation.capabilities_before_tls[0] == "vendorName: Evil  Injected: yes é"


def test_driver_bugs_raise_runtime_error() -> None:
    d = _dialogue()
    with pytest.raises(RuntimeError):
        d.tls_started()
    d.next_action()
    d.receive_data(b"")
    with pytest.raises(RuntimeError):
        d.receive_data(b"x")


# ---- what the checks make of it -----------------------------------------------------------------


def _observation(before: tuple[str, ...], starttls: str, tls: bool) -> Observation:
    return Observation(
        endpoint=Endpoint(host="ldap.example.com", ip="192.0.2.1", port=389, service=Service.LDAP),
        started_at=NOW,
        duration_s=0.1,
        dialogue=DialogueObservation(capabilities_before_tls=before, starttls_reply=(starttls,)),
        tls=TlsObservation(
            version="TLSv1.3", cipher="TLS_AES_128_GCM_SHA256", sni=None, chain_der=()
        )
        if tls
        else None,
    )


@pytest.mark.parametrize(
    ("bind", "starttls", "tls", "expected"),
    [
        ("49 invalidCredentials", "0 success", True, {"tls.plaintext-auth": Severity.HIGH}),
        ("13 confidentialityRequired", "0 success", True, {}),
        ("8 strongerAuthRequired (00002028: LdapErr)", "0 success", True, {}),
        (
            "49 invalidCredentials",
            "52 unavailable (Could not initialize TLS)",
            False,
            {"tls.none": Severity.HIGH, "tls.plaintext-auth": Severity.CRITICAL},
        ),
    ],
)
def test_stored_lines_give_the_findings(
    bind: str, starttls: str, tls: bool, expected: dict[str, Severity]
) -> None:
    before = (*ROOT_DSE_LINES, f"simple bind as a non-existent DN: {bind}")
    o = _observation(before, f"StartTLS: {starttls}", tls)
    # LDAP has no greeting: the rootDSE answer alone shows the server speaks LDAP.
    assert o.scanned
    watched = ("tls.none", "tls.plaintext-auth")
    found = {f.id: f.severity for f in analyse([o], CheckContext(now=NOW)) if f.id in watched}
    assert found == expected


def test_the_plaintext_finding_gives_the_directory_fix_not_dovecots() -> None:
    before = (*ROOT_DSE_LINES, "simple bind as a non-existent DN: 49 invalidCredentials")
    o = _observation(before, "StartTLS: 0 success", True)
    (f,) = [f for f in analyse([o], CheckContext(now=NOW)) if f.id == "tls.plaintext-auth"]
    assert "olcSecurity: simple_bind=128" in f.remediation
    assert "Dovecot" not in f.remediation and "Postfix" not in f.remediation
