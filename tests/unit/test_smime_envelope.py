"""S/MIME encryption, pure parts: round trips, one error for every decryption failure, and
hostile envelopes. OpenSSL reads and writes the same messages in
tests/integration/test_smime_envelope.py."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vedette.cli import main
from vedette.pki.ca import CertificateAuthority, Issued
from vedette.smime import SmimeError, envelope, mime
from vedette.smime.envelope import CANNOT_DECRYPT

MESSAGE = b"From: alice@example.org\nTo: bob@example.org\nSubject: s\n\nThe secret is 42.\n"


@pytest.fixture(scope="module")
def people() -> dict[str, Issued]:
    ca = CertificateAuthority.create_root("Envelope CA")
    return {
        name: ca.issue_smime(f"{name}@example.org", key_spec="rsa:2048")
        for name in ("bob", "carol", "eve")
    }


@pytest.mark.parametrize("cipher", ["aes256-cbc", "aes256-gcm"])
@pytest.mark.parametrize("oaep", [False, True])
def test_every_recipient_reads_it(people: dict[str, Issued], cipher: str, oaep: bool) -> None:
    _, entity, _ = mime.prepare_entity(MESSAGE)
    der = envelope.encrypt(
        entity,
        (people["bob"].cert, people["carol"].cert),
        cipher=cipher,
        oaep=oaep,  # type: ignore[arg-type]
    )
    env = envelope.parse_envelope(der)
    assert env.cipher == cipher
    assert env.kind == ("auth-enveloped-data" if cipher == "aes256-gcm" else "enveloped-data")
    assert {r.algorithm for r in env.recipients} == {"rsaes-oaep" if oaep else "rsa-pkcs1v15"}
    for name in ("bob", "carol"):
        assert envelope.decrypt(env, people[name].key, people[name].cert) == entity  # type: ignore[arg-type]


@pytest.mark.parametrize("curve", ["ec:p256", "ec:p384"])
@pytest.mark.parametrize("cipher", ["aes256-cbc", "aes256-gcm"])
def test_ec_recipients_beside_rsa_ones(people: dict[str, Issued], curve: str, cipher: str) -> None:
    ca = CertificateAuthority.create_root("EC Envelope CA")
    dora = ca.issue_smime("dora@example.org", key_spec=curve)
    _, entity, _ = mime.prepare_entity(MESSAGE)
    der = envelope.encrypt(entity, (dora.cert, people["bob"].cert), cipher=cipher)  # type: ignore[arg-type]
    env = envelope.parse_envelope(der)
    assert sorted(r.kind for r in env.recipients) == ["kari", "ktri"]
    assert envelope.decrypt(env, dora.key, dora.cert) == entity  # type: ignore[arg-type]
    assert envelope.decrypt(env, people["bob"].key, people["bob"].cert) == entity  # type: ignore[arg-type]
    # another EC key, the message's only EC recipient: tried, and the one answer
    stranger = ca.issue_smime("eve@example.org", key_spec=curve)
    with pytest.raises(SmimeError, match="^cannot decrypt"):
        envelope.decrypt(env, stranger.key)  # type: ignore[arg-type]


def test_every_failure_is_the_same_error(people: dict[str, Issued]) -> None:
    _, entity, _ = mime.prepare_entity(MESSAGE)
    for cipher in ("aes256-cbc", "aes256-gcm"):
        der = envelope.encrypt(entity, (people["bob"].cert,), cipher=cipher)  # type: ignore[arg-type]
        env = envelope.parse_envelope(der)
        messages = set()
        # the wrong key (single recipient: tried), a damaged wrapped key, a damaged body
        with pytest.raises(SmimeError) as exc:
            envelope.decrypt(env, people["eve"].key)  # type: ignore[arg-type]
        messages.add(str(exc.value))
        (r,) = env.recipients
        bad_key = bytes([r.encrypted_key[0] ^ 1]) + r.encrypted_key[1:]
        damaged = env.__class__(
            **{
                **_fields(env),
                "recipients": (r.__class__(**{**_fields(r), "encrypted_key": bad_key}),),
            }
        )
        with pytest.raises(SmimeError) as exc:
            envelope.decrypt(damaged, people["bob"].key)  # type: ignore[arg-type]
        messages.add(str(exc.value))
        assert env.content is not None
        flipped = env.content[:-1] + bytes([env.content[-1] ^ 1])
        with pytest.raises(SmimeError) as exc:
            envelope.decrypt(
                env.__class__(**{**_fields(env), "content": flipped}),
                people["bob"].key,  # type: ignore[arg-type]
            )
        messages.add(str(exc.value))
        assert messages == {CANNOT_DECRYPT}


def _fields(obj: object) -> dict[str, object]:
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


def test_several_recipients_need_the_certificate(people: dict[str, Issued]) -> None:
    _, entity, _ = mime.prepare_entity(MESSAGE)
    env = envelope.parse_envelope(
        envelope.encrypt(entity, (people["bob"].cert, people["carol"].cert))
    )
    with pytest.raises(SmimeError, match="give the certificate with --cert"):
        envelope.decrypt(env, people["bob"].key)  # type: ignore[arg-type]
    with pytest.raises(SmimeError, match="not encrypted to this certificate"):
        envelope.decrypt(env, people["eve"].key, people["eve"].cert)  # type: ignore[arg-type]


def test_a_signed_message_is_not_an_encrypted_one() -> None:
    with pytest.raises(SmimeError, match="not an encrypted message"):
        mime.parse_enveloped(b"From: a@example.org\r\nContent-Type: text/plain\r\n\r\nhi\r\n")


@pytest.fixture(scope="module")
def sealed(people: dict[str, Issued]) -> bytes:
    _, entity, _ = mime.prepare_entity(MESSAGE)
    return envelope.encrypt(entity, (people["bob"].cert,), cipher="aes256-gcm")


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.data())
def test_a_damaged_envelope_is_an_error_never_a_crash(
    sealed: bytes, people: dict[str, Issued], data: st.DataObject
) -> None:
    damaged = bytearray(sealed)
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(damaged) - 1))
        damaged[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(1, len(damaged)))
    for blob in (bytes(damaged), bytes(damaged[:cut])):
        try:
            env = envelope.parse_envelope(blob)
            envelope.decrypt(env, people["bob"].key)  # type: ignore[arg-type]
        except SmimeError as exc:
            assert "\n" not in str(exc)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=1024))
def test_garbage_is_never_a_crash(data: bytes) -> None:
    for blob in (data, b"\x30" + data):
        try:
            envelope.parse_envelope(mime.parse_enveloped(blob)[1])
        except SmimeError as exc:
            assert "\n" not in str(exc)


def test_cli_encrypt_decrypt_writes_only_with_out(
    tmp_path: Path, people: dict[str, Issued], capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "in.eml").write_bytes(MESSAGE)
    (tmp_path / "bob.pem").write_bytes(people["bob"].cert_pem())
    (tmp_path / "bob.key").write_bytes(people["bob"].key_pem())
    (tmp_path / "eve.key").write_bytes(people["eve"].key_pem())
    enc = tmp_path / "enc.eml"
    assert main(["smime", "encrypt", str(tmp_path / "in.eml"), "--to", str(tmp_path / "bob.pem"),
                 "--out", str(enc)]) == 0  # fmt: skip
    head = enc.read_bytes().split(b"\r\n\r\n", 1)[0]
    assert b"Subject: s" in head and b"smime-type=enveloped-data" in head
    assert b"The secret" not in enc.read_bytes()
    before = set(tmp_path.iterdir())
    assert main(["smime", "decrypt", str(enc), "--key", str(tmp_path / "bob.key")]) == 0
    assert "nothing written" in capsys.readouterr().out
    assert set(tmp_path.iterdir()) == before
    out = tmp_path / "dec.eml"
    assert main(["smime", "decrypt", str(enc), "--key", str(tmp_path / "bob.key"),
                 "--out", str(out)]) == 0  # fmt: skip
    assert out.read_bytes().endswith(b"\r\n\r\nThe secret is 42.\r\n")
    assert b"Subject: s\r\n" in out.read_bytes()
    assert out.stat().st_mode & 0o777 == 0o600
    capsys.readouterr()
    assert main(["smime", "decrypt", str(enc), "--key", str(tmp_path / "eve.key")]) == 2
    assert capsys.readouterr().err == f"vedette: error: {CANNOT_DECRYPT}\n"


def test_ten_thousand_recipients_are_refused_before_decoding(
    people: dict[str, Issued], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, entity, _ = mime.prepare_entity(MESSAGE)
    der = envelope.encrypt(entity, (people["bob"].cert,))
    env = envelope.parse_envelope(der)
    # rebuild the EnvelopedData with its one RecipientInfo repeated 10,000 times
    from vedette.smime.asn1 import children

    (_, wrapper) = children(der)
    (inner,) = children(wrapper)
    version, infos, eci = children(inner)
    (one,) = children(infos)
    huge_infos = b"\x31\x84" + (len(one) * 10_000).to_bytes(4, "big") + one * 10_000
    body = version + huge_infos + eci
    inner2 = b"\x30\x84" + len(body).to_bytes(4, "big") + body
    wrapper2 = b"\xa0\x84" + len(inner2).to_bytes(4, "big") + inner2
    oid = children(der)[0]
    top = oid + wrapper2
    hostile = b"\x30\x84" + len(top).to_bytes(4, "big") + top
    decoded: list[str] = []  # what pyasn1 is asked to decode (4 s for these 10,000)
    real = envelope.decode_definite

    def spy(der: bytes, spec: object, what: str) -> object:
        decoded.append(what)
        return real(der, spec, what)

    monkeypatch.setattr(envelope, "decode_definite", spy)
    with pytest.raises(SmimeError, match="10000 recipients, more than vedette's limit of 1000"):
        envelope.parse_envelope(hostile)
    assert decoded == ["the CMS ContentInfo"]
    assert len(env.recipients) == 1


def test_signed_then_encrypted_then_decrypted_still_verifies(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # What Outlook sends with both buttons pressed: the signed message, encrypted.
    ca = CertificateAuthority.create_root("Both CA")
    alice = ca.issue_smime("alice@example.org")
    bob = ca.issue_smime("bob@example.org", key_spec="rsa:2048")
    files = {
        "in.eml": MESSAGE,
        "alice.pem": alice.cert_pem(),
        "alice.key": alice.key_pem(),
        "bob.pem": bob.cert_pem(),
        "bob.key": bob.key_pem(),
        "ca.pem": ca.issued.cert_pem(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    t = {name: str(tmp_path / name) for name in [*files, "s.eml", "e.eml", "d.eml"]}
    steps = [
        ["sign", t["in.eml"], "--cert", t["alice.pem"], "--key", t["alice.key"],
         "--out", t["s.eml"]],
        ["encrypt", t["s.eml"], "--to", t["bob.pem"], "--out", t["e.eml"]],
        ["decrypt", t["e.eml"], "--key", t["bob.key"], "--out", t["d.eml"]],
    ]  # fmt: skip
    for step in steps:
        assert main(["smime", *step]) == 0
    assert b"multipart/signed" not in (tmp_path / "e.eml").read_bytes()
    capsys.readouterr()
    assert main(["smime", "verify", t["e.eml"], "--ca", t["ca.pem"]]) == 2
    assert "decrypt it first" in capsys.readouterr().err
    assert main(["smime", "verify", t["d.eml"], "--ca", t["ca.pem"]]) == 0
