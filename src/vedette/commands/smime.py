"""``vedette smime sign|verify``: S/MIME signatures (RFC 8551), made and checked.

The pure work is in ``vedette.smime`` (MIME framing, CMS, the verdict); this module reads the
files, asks for passphrases, reads the clock and writes the output.

Exit status of ``verify``: 0 the signature and the signer are valid, 1 they are not (a
tampered body, a swapped certificate, a weak digest, an expired or unfit certificate, a
sender who is not the certificate's owner, an issuer not among the CAs given), 2 the input
cannot be read or the command is misused. ``sign`` exits 0 or 2.

``sst`` (the issuing CAs as a ``.sst`` for Exchange Online) exits 1 when a chain does not reach
a root among the inputs (unless ``--allow-incomplete``); ``exo`` (the Exchange Online
PowerShell) exits 1 when a recipient's certificate is unfit or its issuer is not in ``--sst``.
The pure work of both is in ``vedette.smime.issuing`` and ``vedette.smime.exo``; the
PowerShell quoting is ``vedette.pki.winstore.powershell.ps_quote``, passed in from here
(``smime`` and ``pki`` are one layer, with no import declared between them).
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vedette.commands import _common as c
from vedette.commands import _pki as p
from vedette.errors import PkiError, UsageError
from vedette.inputfiles import read_regular_file
from vedette.smime import SmimeError

if TYPE_CHECKING:
    from cryptography import x509
    from rich.console import Console

    from vedette.smime.verify import Problem, Verdict

NAME = "smime"

#: Version of the JSON document of ``smime verify --json``.
JSON_VERSION = 1


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vedette.smime.cms import SIGNING_DIGESTS

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    sign = sub.add_parser(
        "sign",
        help="sign a message: multipart/signed (default) or opaque",
        description="Sign a message (an .eml file, or a bare text) with an S/MIME certificate: "
        "detached multipart/signed by default, opaque application/pkcs7-mime with --opaque. "
        "The headers that are not Content-* stay outside the signature, as mail clients do.",
    )
    sign.add_argument("input", type=Path, metavar="IN", help="the message to sign")
    sign.add_argument(
        "--cert",
        type=Path,
        required=True,
        metavar="FILE",
        help="the signer's certificate (PEM, DER or PKCS#12; further certificates in it are "
        "attached as its chain; a PKCS#12 or PEM file holding the key needs no --key)",
    )
    sign.add_argument("--key", type=Path, metavar="FILE", help="the signer's private key")
    p.add_passin(sign, "the key or the PKCS#12 file")
    sign.add_argument(
        "--chain",
        type=Path,
        action="append",
        default=[],
        metavar="FILE",
        help="intermediate CA certificates to attach (repeatable)",
    )
    sign.add_argument(
        "--opaque",
        action="store_true",
        help="application/pkcs7-mime signed-data (the text inside the signature) instead of "
        "multipart/signed",
    )
    sign.add_argument(
        "--digest", choices=SIGNING_DIGESTS, default="sha256", help="digest (default sha256)"
    )
    sign.add_argument(
        "--pss", action="store_true", help="RSASSA-PSS instead of RSA PKCS#1 v1.5 (RSA keys)"
    )
    sign.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write")
    p.add_force(sign)

    verify = sub.add_parser(
        "verify",
        help="verify a signed message: signature, body, chain, sender, certificate",
        description="Verify a signed message (multipart/signed, pkcs7-mime, or a raw CMS "
        "file). Exit 0 valid, 1 the signature or the signer fails, 2 unreadable input.",
    )
    verify.add_argument("input", type=Path, metavar="IN", help="the signed message (.eml)")
    verify.add_argument(
        "--ca",
        action="append",
        default=[],
        type=Path,
        metavar="FILE|DIR",
        help="a CA that issues S/MIME certificates you trust (PEM bundle, DER, or a "
        "directory); repeatable. No public root store is used for e-mail",
    )
    verify.add_argument(
        "--as-of",
        metavar="DATE",
        help="judge certificate validity at DATE (YYYY-MM-DD or ISO time) instead of now",
    )
    verify.add_argument("--json", action="store_true", help="print the versioned JSON document")

    enc = sub.add_parser(
        "encrypt",
        help="encrypt a message to recipients' certificates",
        description="Encrypt a message to one or more recipients' certificates: "
        "AES-256-CBC with RSA PKCS#1 v1.5 key transport by default, the form every client "
        "reads; AES-256-GCM (AuthEnvelopedData) and RSA-OAEP on request; EC certificates "
        "get ECDH key agreement (RFC 5753).",
    )
    enc.add_argument("input", type=Path, metavar="IN", help="the message to encrypt")
    enc.add_argument(
        "--to",
        type=Path,
        action="append",
        required=True,
        metavar="CERT",
        help="a recipient's certificate (PEM, DER, .p7b; every certificate in the file is a "
        "recipient); repeatable",
    )
    enc.add_argument(
        "--cipher",
        choices=("aes256-cbc", "aes256-gcm"),
        default="aes256-cbc",
        help="content cipher (default aes256-cbc; aes256-gcm writes AuthEnvelopedData)",
    )
    enc.add_argument("--oaep", action="store_true", help="RSA-OAEP (SHA-256) key transport")
    enc.add_argument("--out", type=Path, required=True, metavar="FILE", help="where to write")
    p.add_force(enc)

    dec = sub.add_parser(
        "decrypt",
        help="decrypt a message with a recipient's key (checks it can be read)",
        description="Decrypt an S/MIME message with a recipient's private key. Without --out "
        "nothing is written: vedette says whether the key can read it. Every decryption "
        "failure gives the same error (no padding oracle).",
    )
    dec.add_argument("input", type=Path, metavar="IN", help="the encrypted message")
    dec.add_argument(
        "--key",
        type=Path,
        required=True,
        metavar="FILE",
        help="the recipient's private key (PEM, DER, or a PKCS#12 holding the certificate too)",
    )
    dec.add_argument(
        "--cert",
        type=Path,
        metavar="FILE",
        help="the recipient's certificate, to pick its recipient entry (needed when the "
        "message has several recipients and --key holds no certificate)",
    )
    p.add_passin(dec, "the key or the PKCS#12 file")
    dec.add_argument("--out", type=Path, metavar="FILE", help="write the decrypted message here")
    p.add_force(dec)
    _add_sst(sub)
    _add_exo(sub)


def run(args: argparse.Namespace) -> int:
    actions = {
        "sign": _sign,
        "verify": _verify,
        "encrypt": _encrypt,
        "decrypt": _decrypt,
        "sst": _sst,
        "exo": _exo,
    }
    return actions[args.action](args)


# --- encrypt, decrypt -----------------------------------------------------------------------


def _encrypt(args: argparse.Namespace) -> int:
    from vedette.smime import envelope, mime

    p.check_outputs(args.out, force=args.force)
    recipients: list[x509.Certificate] = []
    for path in args.to:
        recipients.extend(p.read_file(path, None, what="certificate").certificates)
    if not recipients:
        raise UsageError("no recipient certificate in the --to files")
    data = read_regular_file(args.input, what="message", limit=mime.MAX_MESSAGE, error=SmimeError)
    outer, entity, notes = mime.prepare_entity(data)
    with p.certificate_errors():
        der = envelope.encrypt(entity, tuple(recipients), cipher=args.cipher, oaep=args.oaep)
    out = mime.build_enveloped(outer, der, auth=args.cipher == "aes256-gcm")
    p.write(args.out, out, force=args.force)
    for note in notes:
        p.note(note)
    from cryptography.hazmat.primitives.asymmetric import ec

    kinds = {isinstance(r.public_key(), ec.EllipticCurvePublicKey) for r in recipients}
    rsa_word = "RSA-OAEP (SHA-256)" if args.oaep else "RSA PKCS#1 v1.5"
    transport = " and ".join(
        word for flag, word in ((False, rsa_word), (True, "ECDH (RFC 5753)")) if flag in kinds
    )
    p.line(
        c.console(),
        f"wrote {args.out}: {args.cipher.upper()}, {transport}, {len(recipients)} recipient(s)",
    )
    return 0


def _decrypt(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    from vedette.smime import envelope, mime

    if args.out is not None:
        p.check_outputs(args.out, force=args.force)
    material = p.read_file(args.key, args.passin, what="private key")
    if len(material.keys) != 1:
        raise PkiError(f"{args.key}: expected one private key, found {len(material.keys)}")
    key = material.keys[0]
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError("S/MIME decrypts with an RSA or EC key, not this one")
    cert = material.certificates[0] if material.certificates else None
    if args.cert is not None:
        certs = p.read_file(args.cert, None, what="certificate").certificates
        if not certs:
            raise PkiError(f"{args.cert}: no certificate in this file")
        cert = certs[0]
    data = read_regular_file(args.input, what="message", limit=mime.MAX_MESSAGE, error=SmimeError)
    outer, der = mime.parse_enveloped(data)
    env = envelope.parse_envelope(der)
    with p.certificate_errors():
        entity = envelope.decrypt(env, key, cert)
    if env.cipher == "des-ede3-cbc":
        p.note(
            "the sender's client encrypts with 3DES-CBC, a legacy cipher with 64-bit blocks; "
            "S/MIME 4.0 (RFC 8551) senders use AES"
        )
    if args.out is not None:
        p.write(args.out, mime.join_message(outer, entity), force=args.force, secret=True)
        where = f"wrote {args.out} (mode 0600)"
    else:
        where = "nothing written (no --out)"
    p.line(
        c.console(),
        f"decrypts: {env.kind}, {env.cipher}, {len(env.recipients)} recipient(s), "
        f"{len(entity)} bytes of content; {where}",
    )
    return 0


# --- sign ----------------------------------------------------------------------------------------


def _sign(args: argparse.Namespace) -> int:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    from vedette.smime import cms, mime

    p.check_outputs(args.out, force=args.force)
    material = p.read_file(args.cert, args.passin, what="certificate")
    if not material.certificates:
        raise PkiError(f"{args.cert}: no certificate in this file")
    cert, *chain = material.certificates
    for path in args.chain:
        chain.extend(p.read_file(path, None, what="certificate").certificates)
    if args.key is not None:
        key = p.read_key(args.key, args.passin)
    elif material.keys:
        key = material.keys[0]
    else:
        raise UsageError(f"{args.cert} holds no private key: give it with --key")
    if not isinstance(
        key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
    ):
        raise PkiError("the key is neither RSA, EC nor Ed25519")
    data = read_regular_file(args.input, what="message", limit=mime.MAX_MESSAGE, error=SmimeError)
    outer, entity, notes = mime.prepare_entity(data)
    with p.certificate_errors():
        der = cms.sign(
            entity,
            cert=cert,
            key=key,
            chain=tuple(chain),
            digest=args.digest,
            pss=args.pss,
            signing_time=datetime.now(UTC),
            detached=not args.opaque,
        )
    digest = "sha512" if isinstance(key, ed25519.Ed25519PrivateKey) else args.digest
    if args.opaque:
        out = mime.build_opaque(outer, der)
    else:
        out = mime.build_signed(outer, entity, cms.micalg(digest), der)
    p.write(args.out, out, force=args.force)
    for note in notes:
        p.note(note)
    form = "opaque application/pkcs7-mime" if args.opaque else "multipart/signed"
    from vedette.x509.chain import describe

    p.line(
        c.console(),
        f"wrote {args.out}: {form}, {digest.upper().replace('SHA', 'SHA-')}, signed by "
        f"{describe(cert.subject)}, {1 + len(chain)} certificate(s) attached",
    )
    return 0


# --- verify --------------------------------------------------------------------------------------


def _as_of(text: str | None) -> datetime:
    if text is None:
        return datetime.now(UTC)
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UsageError(f"--as-of: {text!r} is not a date (YYYY-MM-DD)") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _verify(args: argparse.Namespace) -> int:
    from vedette.smime import cms, mime
    from vedette.smime.verify import verify_signed
    from vedette.trust import load_extra_roots

    at = _as_of(args.as_of)
    anchors = load_extra_roots(args.ca)
    data = read_regular_file(args.input, what="message", limit=mime.MAX_MESSAGE, error=SmimeError)
    message = mime.parse_signed(data)
    sd = cms.parse_signed_data(message.cms)
    verdict = verify_signed(
        sd,
        content=message.content,
        anchors=anchors,
        from_addresses=message.from_addresses,
        at=at,
        form=message.form,
        micalg_param=message.micalg,
    )
    if args.json:
        sys.stdout.write(json.dumps(verdict_json(verdict), indent=2) + "\n")
    else:
        _render(c.console(), verdict)
    return 0 if verdict.valid else 1


def _problem_json(problem: Problem) -> dict[str, str]:
    return {
        "id": problem.id,
        "severity": problem.severity,
        "title": problem.title,
        "detail": problem.detail,
        "fix": problem.fix,
    }


def verdict_json(verdict: Verdict) -> dict[str, Any]:
    """The versioned JSON document of a verdict (``schema``, ``version``)."""
    return {
        "schema": "vedette.smime.verify",
        "version": JSON_VERSION,
        "valid": verdict.valid,
        "form": verdict.form,
        "checked_at": verdict.checked_at.isoformat(),
        "from": list(verdict.from_addresses),
        "problems": [_problem_json(x) for x in verdict.problems],
        "signers": [
            {
                "index": s.index,
                "valid": s.valid,
                "subject": s.subject,
                "issuer": s.issuer,
                "serial": s.serial,
                "addresses": list(s.addresses),
                "subject_email": list(s.subject_email),
                "digest": s.digest,
                "signature_algorithm": s.signature_algorithm,
                "signing_time": s.signing_time.isoformat() if s.signing_time else None,
                "capabilities": list(s.capabilities),
                "digest_matches": s.digest_matches,
                "signature_valid": s.signature_valid,
                "chain": list(s.chain),
                "trusted": s.trusted,
                "problems": [_problem_json(x) for x in s.problems],
            }
            for s in verdict.signers
        ],
    }


def _render_problem(console: Console, problem: Problem) -> None:
    style = "bold red" if problem.severity == "fail" else "yellow"
    word = "FAIL" if problem.severity == "fail" else "warning"
    p.line(console, (f"{word}: ", style), problem.title, (f"  [{problem.id}]", "dim"), indent=2)
    p.line(console, ("why: ", "bold"), problem.detail, indent=6)
    p.line(console, ("fix: ", "bold"), problem.fix, indent=6)


def _render(console: Console, verdict: Verdict) -> None:
    forms = {
        "detached": "multipart/signed (detached signature)",
        "opaque": "application/pkcs7-mime (opaque signed-data)",
        "cms": "a CMS file",
    }
    if verdict.valid:
        p.line(console, ("VALID", "bold green"), ": the signature and the signer check out")
    else:
        p.line(console, ("NOT VALID", "bold red"), ": see the failures below")
    p.field(console, "form", forms.get(verdict.form, verdict.form))
    p.field(console, "from", ", ".join(verdict.from_addresses) or "(no From field)")
    p.field(console, "checked at", f"{verdict.checked_at:%Y-%m-%d %H:%M:%S} UTC")
    for problem in verdict.problems:
        _render_problem(console, problem)
    for s in verdict.signers:
        p.line(console, (f"signer #{s.index}", "bold cyan"))
        p.field(console, "certificate", s.subject or "(not in the message)")
        if s.subject is not None:
            p.field(console, "issuer", s.issuer or "")
            p.field(console, "addresses", ", ".join(s.addresses) or "none in subjectAltName")
        when = f"{s.signing_time:%Y-%m-%d %H:%M:%S} UTC" if s.signing_time else "not given"
        p.field(console, "signed at", when)
        p.field(console, "algorithm", f"{s.signature_algorithm} with {s.digest}")
        if s.digest_matches is not None:
            p.field(console, "body", "intact" if s.digest_matches else "CHANGED after signing")
        if s.signature_valid is not None:
            p.field(console, "signature", "verifies" if s.signature_valid else "DOES NOT VERIFY")
        if s.chain:
            p.field(console, "chain", " <- ".join(s.chain))
        p.field(
            console,
            "issuing CA",
            "one of the CAs given" if s.trusted else "not among the CAs given",
        )
        for problem in s.problems:
            _render_problem(console, problem)


# --- sst: the issuing CAs for Exchange Online --------------------------------------------------

#: ``smime sst --fetch``: distinct caIssuers URLs downloaded, and levels followed up.
MAX_FETCHES = 16
MAX_FETCH_ROUNDS = 4


def _add_sst(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "sst",
        help="write the .sst of the CAs issuing your users' and contacts' certificates",
        description="Write a Microsoft serialized certificate store (.sst) of the CAs that "
        "issue the S/MIME certificates given: what Exchange Online's Set-SmimeConfig "
        "-SMIMECertificateIssuingCA takes. Users' certificates are not stored, only their "
        "issuers (roots and intermediates). Exit 1 when a user's chain does not reach a "
        "root among the inputs (unless --allow-incomplete), 2 on unreadable input.",
    )
    sp.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        metavar="INPUT",
        help="certificates, chains, .p7b, .p12 (with --passin), .sst, or directories of them",
    )
    sp.add_argument("--out", type=Path, required=True, metavar="FILE", help="the .sst to write")
    p.add_passin(sp, "the PKCS#12 inputs")
    sp.add_argument(
        "--fetch",
        action="store_true",
        help="download a missing issuer from the URL the certificate gives (AIA caIssuers, "
        "http only); contacts the CA's web server. Off by default",
    )
    sp.add_argument("--resolver", metavar="ADDRESS[:PORT]", help="DNS server for --fetch")
    sp.add_argument(
        "--allow-incomplete",
        action="store_true",
        help="write the store even when a chain does not reach a root among the inputs",
    )
    p.add_force(sp)


def _read_inputs(paths: list[Path], passin: Any) -> list[x509.Certificate]:
    """Every certificate of the files and directories given; in a directory, a file that
    holds no certificate (a README, a key) is skipped with a note, not an error."""
    out: list[x509.Certificate] = []
    for path in paths:
        if not path.is_dir():
            out.extend(p.read_file(path, passin, what="certificate").certificates)
            continue
        try:
            entries = sorted(e for e in path.iterdir() if e.is_file() and e.name[:1] != ".")
        except OSError as exc:
            raise PkiError(f"cannot read {path}: {exc.strerror or exc}") from None
        for entry in entries:
            try:
                out.extend(p.read_file(entry, passin, what="certificate").certificates)
            except PkiError as exc:
                p.note(f"skipped {entry}: {exc}")
    return out


def _thumbprint(cert: x509.Certificate) -> str:
    from cryptography.hazmat.primitives import hashes

    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - Windows' thumbprint


def _fetch_missing(certs: list[x509.Certificate], args: argparse.Namespace) -> None:
    """``--fetch``: download the issuers the paths miss, level by level (bounded)."""
    from vedette.pki.aia import fetch_issuers
    from vedette.pki.bundle import ca_issuers_urls
    from vedette.report.escape import safe_text
    from vedette.resolve import parse_resolver
    from vedette.smime.issuing import issuing_set

    resolver = parse_resolver(args.resolver) if args.resolver else None
    tried: set[str] = set()
    for _ in range(MAX_FETCH_ROUNDS):
        result = issuing_set(certs)
        urls = []
        for gap in result.incomplete:
            if gap.missing_issuer is None:
                continue
            url = next(
                (u for u in ca_issuers_urls(gap.last) if u.lower().startswith("http://")), None
            )
            if url is not None and url not in tried and url not in urls:
                urls.append(url)
        urls = urls[: MAX_FETCHES - len(tried)]
        if not urls:
            return
        for url in urls:
            tried.add(url)
            p.note(f"fetching a missing issuer from {safe_text(url)} (--fetch)")
            try:
                certs.extend(fetch_issuers(url, resolver=resolver))
            except PkiError as exc:
                p.note(f"warning: {safe_text(str(exc))}")


def _sst(args: argparse.Namespace) -> int:
    from vedette.pki.sst import write_sst
    from vedette.smime.issuing import issuing_set
    from vedette.x509.chain import describe

    p.check_outputs(args.out, force=args.force)
    certs = _read_inputs(args.inputs, args.passin)
    if not certs:
        raise PkiError("no certificate in the inputs")
    with p.certificate_errors():
        if args.fetch:
            _fetch_missing(certs, args)
        result = issuing_set(certs)
    console = c.console()
    if not result.cas:
        raise PkiError(
            "no CA certificate among the inputs: the store holds the issuing CAs (roots and "
            "intermediates), not the users' certificates; give the CA files too (or --fetch)"
        )
    for gap in result.incomplete:
        p.line(console, ("missing: ", "bold red"), gap.why)
    if result.incomplete and not args.allow_incomplete:
        p.line(
            console,
            f"nothing written: {len(result.incomplete)} chain(s) incomplete; give the missing "
            "CA certificates, add --fetch, or --allow-incomplete",
        )
        return 1
    # No property elements (hashes=False): read alike by Windows and by both of Wine's readers
    # (Wine's file-store reader drops a store that starts with a property); see README.
    data = write_sst([entry.cert for entry in result.cas], hashes=False)
    p.write(args.out, data, force=args.force)
    for entry in result.cas:
        kind = "root" if entry.root else "intermediate"
        p.line(console, ("in: ", "bold green"), f"{describe(entry.cert.subject)} ({kind})")
        p.field(console, "SHA-1 thumbprint", _thumbprint(entry.cert), indent=4)
        p.field(console, "why", "; ".join(entry.reasons), indent=4)
    if result.users:
        p.line(
            console,
            f"{len(result.users)} user certificate(s) given: not in the store (Exchange's "
            "SMIMECertificateIssuingCA holds CAs only; a user's certificate goes to its "
            "mailbox or contact: vedette smime exo)",
        )
    p.line(console, f"wrote {args.out}: {len(result.cas)} CA certificate(s)")
    return 0


# --- exo: the Exchange Online script ------------------------------------------------------------

#: Largest recipients CSV read.
MAX_CSV = 4 * 1024 * 1024


def _add_exo(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sp = sub.add_parser(
        "exo",
        help="write the PowerShell that sets S/MIME up in Exchange Online",
        description="Write the PowerShell 7 script (ExchangeOnlineManagement) that uploads "
        "the issuing CAs (Set-SmimeConfig -SMIMECertificateIssuingCA), each internal user's "
        "certificate (Set-Mailbox -UserCertificate), each external contact (New-MailContact, "
        "Set-MailContact -UserCertificate), and checks what Exchange stored against each "
        "certificate's SHA-256. Each certificate is checked first (S/MIME EKU, the address "
        "in its subjectAltName, validity); exit 1 when one is unfit, 2 on unreadable input.",
    )
    sp.add_argument(
        "recipients",
        type=Path,
        metavar="CSV",
        help="one recipient a row: address,certificate-file,internal|external,display-name "
        "(certificate files relative to the CSV's folder; a header row is optional)",
    )
    sp.add_argument(
        "--sst",
        type=Path,
        metavar="FILE",
        help="the issuing CAs' store (vedette smime sst); without it Set-SmimeConfig is left "
        "out (it REPLACES the list of issuing CAs)",
    )
    sp.add_argument("--out", type=Path, required=True, metavar="FILE", help="the .ps1 to write")
    sp.add_argument("--admin", metavar="UPN", help="Connect-ExchangeOnline -UserPrincipalName UPN")
    sp.add_argument(
        "--user-smime-certificate",
        action="store_true",
        help="set -UserSMimeCertificate instead of -UserCertificate",
    )
    sp.add_argument(
        "--as-of",
        metavar="DATE",
        help="judge certificate validity at DATE (YYYY-MM-DD) instead of now",
    )
    p.add_force(sp)


def _recipient_certificate(path: Path, address: str, line: int) -> x509.Certificate:
    """The user's certificate in ``path``: the one end-entity certificate, or the one whose
    subjectAltName holds ``address`` when the file holds several (a .p7b with its chain)."""
    from vedette.x509.chain import is_ca

    certs = [cert for cert in p.read_file(path, None, what="certificate").certificates]
    users = [cert for cert in certs if not is_ca(cert)]
    if len(users) > 1:
        mine = []
        for cert in users:
            try:
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
            except x509.ExtensionNotFound:
                continue
            if address.lower() in (a.lower() for a in san.get_values_for_type(x509.RFC822Name)):
                mine.append(cert)
        users = mine[:1] if mine else users
    if len(users) != 1:
        raise PkiError(
            f"line {line}: {path}: "
            + ("no user certificate" if not users else f"{len(users)} user certificates")
            + f" for {address}"
        )
    return users[0]


def _exo(args: argparse.Namespace) -> int:
    from vedette.pki.sst import parse_sst
    from vedette.pki.winstore.powershell import ps_quote
    from vedette.smime import exo
    from vedette.smime.verify import recipient_problems

    p.check_outputs(args.out, force=args.force)
    at = _as_of(args.as_of)
    raw = read_regular_file(args.recipients, what="recipients CSV", limit=MAX_CSV, error=SmimeError)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SmimeError(f"{args.recipients}: not UTF-8 text") from None
    try:
        rows = exo.parse_rows(text)
    except SmimeError as exc:
        raise SmimeError(f"{args.recipients}: {exc}") from None
    base = args.recipients.parent
    recipients = []
    unfit = 0
    console = c.console()
    for row in rows:
        cert_path = Path(row.certificate_file)
        with p.certificate_errors():
            cert = _recipient_certificate(
                cert_path if cert_path.is_absolute() else base / cert_path, row.address, row.line
            )
            problems = recipient_problems(cert, row.address, at)
        for problem in problems:
            word = "FAIL" if problem.severity == "fail" else "warning"
            p.line(console, f"line {row.line} {row.address}: {word}: {problem.title}")
            p.line(console, f"fix: {problem.fix}", indent=4)
        if any(x.severity == "fail" for x in problems):
            unfit += 1
        recipients.append(exo.Recipient(row=row, certificate=cert))
    if unfit:
        p.line(console, f"nothing written: {unfit} certificate(s) unfit for S/MIME")
        return 1
    sst = None
    if args.sst is not None:
        sst = read_regular_file(args.sst, what="serialized store", limit=32 << 20, error=PkiError)
        store = parse_sst(sst)
        if not store.certificates:
            raise PkiError(f"{args.sst}: no certificate in this store")
        from vedette.x509.chain import describe, signed_by

        orphans = [
            r
            for r in recipients
            if not any(signed_by(r.certificate, ca) for ca in store.certificates)
        ]
        for r in orphans:
            p.line(
                console,
                f"line {r.row.line} {r.row.address}: FAIL: its issuer "
                f"{describe(r.certificate.issuer)} is not in {args.sst}",
            )
            p.line(console, "fix: vedette smime sst with this certificate and its CAs", indent=4)
        if orphans:
            p.line(console, f"nothing written: {len(orphans)} issuer(s) missing from the store")
            return 1
    try:
        text = exo.script(
            recipients,
            quote=ps_quote,
            sst=sst,
            sst_name=args.sst.name if args.sst is not None else "",
            admin=args.admin,
            smime_attribute=args.user_smime_certificate,
            source=args.recipients.name,
        )
    except ValueError as exc:
        raise SmimeError(f"not written into PowerShell: {exc}") from None
    p.write(args.out, text.encode("utf-8"), force=args.force)
    for r in recipients:
        p.line(console, f"{r.row.kind} {r.row.address}: SHA-256 {r.sha256}")
    p.line(
        console,
        f"wrote {args.out}: {len(recipients)} recipient(s)"
        + (f", issuing CAs from {args.sst}" if args.sst is not None else ", no Set-SmimeConfig"),
    )
    return 0
