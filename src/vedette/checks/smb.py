"""SMB: is SMBv1 still there, and is signing required? Read from NEGOTIATE answers only.

The SMB probe never sets up a session: it offers each SMB2 dialect on its own connection and,
on one more, only the SMB1 dialects (``vedette.protocols.smb``). These checks read what it
stored. SMBv1 is the protocol of the EternalBlue family (MS17-010, WannaCry, NotPetya);
CERT-FR and ANSSI advise removing it, site by site when a whole enterprise is concerned.
"""

from __future__ import annotations

from collections.abc import Iterator

from vedette.checks.registry import CheckContext, Hit, endpoint_check
from vedette.model import Observation, Severity
from vedette.protocols.registry import smb_negotiation
from vedette.protocols.smb import SmbFacts

_SMB1_REFERENCES = (
    "CERTFR-2016-ACT-039 (SMBv1 weaknesses, systems supporting only SMBv1 obsolete)",
    "CERTFR-2017-ALE-010 (WannaCry, MS17-010)",
    "Microsoft MS17-010",
    "Microsoft: How to detect, enable and disable SMBv1, SMBv2, and SMBv3 in Windows (KB 2696547)",
    "Microsoft: SMBv1 is not installed by default in Windows 10 1709 and Windows Server 1709 "
    "and later",
)


def _facts(obs: Observation) -> SmbFacts | None:
    d = obs.dialogue
    if d is None:
        return None
    return smb_negotiation(obs.endpoint.service.protocol, d.greeting)


def _smb1_evidence(obs: Observation) -> tuple[str, ...]:
    d = obs.dialogue
    return tuple(line for line in (d.greeting if d else ()) if line.startswith("smb1 "))


@endpoint_check(
    "smb.v1-enabled",
    title="SMBv1 is accepted: the protocol of EternalBlue and WannaCry",
    explanation="The server accepted an SMB1 NEGOTIATE (dialect NT LM 0.12 or older). SMBv1 "
    "has no pre-authentication integrity, weak signing, and is the protocol the EternalBlue "
    "family of exploits (MS17-010: WannaCry, NotPetya) goes through. Every Windows since "
    "Vista and every Samba since 3.6 speaks SMB2 or later.",
    remediation="Windows: `Set-SmbServerConfiguration -EnableSMB1Protocol $false` (Windows "
    "8.1/2012 R2 and later: also `Disable-WindowsOptionalFeature -Online -FeatureName "
    "SMB1Protocol`); Samba: `server min protocol = SMB2_10` (the default since 4.11). Across "
    "an enterprise, go site by site: domain controllers first, then watch for a few days "
    "before the next servers, then workstations.",
    severity=Severity.HIGH,
    references=_SMB1_REFERENCES,
)
def smb_v1_enabled(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(obs)
    if facts is None or not facts.smb1_enabled:
        return
    also = ", ".join(facts.smb2_dialects)
    detail = f"SMB1 dialect {facts.smb1_dialect!r} accepted"
    detail += f"; SMB2 dialects accepted too: {also}" if also else "; no SMB2 dialect accepted"
    yield Hit(detail=detail, evidence=_smb1_evidence(obs))


@endpoint_check(
    "smb.only-v1",
    title="Only SMBv1: this host breaks when SMBv1 is removed elsewhere",
    explanation="The server accepts SMB1 and none of the SMB2 dialects 2.0.2 to 3.1.1. Clients "
    "and servers where SMBv1 is removed can no longer reach it: Windows XP and Server 2003 and "
    "old NAS units show themselves this way. It must be replaced or upgraded before SMBv1 is "
    "removed from the rest of its site.",
    remediation="Upgrade the system or its firmware to one that speaks SMB2 or later (Samba: "
    "`server max protocol` is SMB3 by default; an old NAS: its vendor's firmware), or replace "
    "it; until then, isolate it and list the clients that need it.",
    severity=Severity.HIGH,
    references=(
        _SMB1_REFERENCES[0],
        "Microsoft: SMBv1 Product Clearinghouse (products that still require SMBv1)",
    ),
)
def smb_only_v1(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(obs)
    if facts is None or not facts.smb1_enabled or facts.smb2_dialects:
        return
    refused = ", ".join(facts.smb2_refused)
    yield Hit(
        detail=f"SMB1 dialect {facts.smb1_dialect!r} accepted; SMB2 dialects refused: {refused}",
        evidence=_smb1_evidence(obs),
    )


@endpoint_check(
    "smb.signing-not-required",
    title="SMB signing is not required: sessions can be relayed and tampered with",
    explanation="The server does not require SMB signing. Unless the client insists, its "
    "sessions are unsigned: an attacker on the path can alter them, and NTLM authentication "
    "to this server can be relayed from elsewhere (the NTLM relay attacks).",
    remediation='Windows: Group Policy "Microsoft network server: Digitally sign '
    'communications (always)" = Enabled, or `Set-SmbServerConfiguration '
    "-RequireSecuritySignature $true`; Samba: `server signing = mandatory` (the default on a "
    "domain controller).",
    severity=Severity.MEDIUM,
    references=(
        "[MS-SMB2] 3.3.5.4 (SecurityMode)",
        "Microsoft: Overview of Server Message Block signing",
        "ANSSI: Recommandations de sécurité relatives à Active Directory",
    ),
)
def smb_signing_not_required(ctx: CheckContext, obs: Observation) -> Iterator[Hit]:
    facts = _facts(obs)
    if facts is None:
        return
    if facts.smb2_dialects:
        signing, where = facts.signing, f"SMB {facts.smb2_dialects[0]}"
    elif facts.smb1_enabled:
        signing, where = facts.smb1_signing, f"SMB1 {facts.smb1_dialect}"
    else:
        return
    if signing in ("", "required"):
        return
    d = obs.dialogue
    evidence = tuple(d.greeting[:1]) if d else ()
    yield Hit(detail=f"{where}: signing {signing}, not required", evidence=evidence)
