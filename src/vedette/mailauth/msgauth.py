"""The authentication verdict of one received message: every DKIM signature, the ARC chain,
SPF for the connecting address, DMARC alignment, and what the receiver wrote.

DKIM and ARC are dkimpy's (the library behind dkimpy-milter): vedette hands it each
DKIM-Signature in turn (dkimpy by itself verifies one), and reads the key through vedette's
:class:`Lookup` in a worker thread, as :mod:`vedette.mailauth.spf` does for pyspf, so that no
system resolver is ever asked and every answer is kept as evidence. dkimpy judges ``x=`` against
the clock; vedette judges it against ``as_of`` itself and lets dkimpy check the rest.

SPF is :func:`vedette.mailauth.spf.check_spf` for the one address; DMARC is
:func:`vedette.mailauth.dmarc.check_dmarc`'s record for the From domain, with relaxed alignment
judged by the organisational domains its tree walk finds.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from dataclasses import dataclass
from typing import Any

import dkim  # type: ignore[import-untyped]
import dkim.util  # type: ignore[import-untyped]

from vedette.mailauth.answers import DnsAnswer, Lookup
from vedette.mailauth.dmarc import LOOKUP_FAILED, DmarcResult, check_dmarc
from vedette.mailauth.message import AuthResults, Message, text_of
from vedette.mailauth.spf import _Bridge, check_spf

#: Most DKIM signatures verified in one message (each costs a DNS question and a hash).
MAX_SIGNATURES = 20
#: Most ARC sets looked at (RFC 8617 5.1.1.2: at most 50 instances).
MAX_ARC = 50

_QUIET = logging.getLogger("vedette.mailauth.msgauth.dkimpy")
_QUIET.addHandler(logging.NullHandler())
_QUIET.propagate = False


@dataclass(frozen=True, slots=True)
class DkimVerdict:
    """One DKIM-Signature: ``result`` pass, fail, permerror (the signature or key is unusable)
    or temperror (the key could not be read), and ``why`` in one line."""

    index: int
    domain: str
    selector: str
    result: str
    why: str
    algorithm: str = ""
    expires: int | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "d": self.domain,
            "s": self.selector,
            "a": self.algorithm,
            "x": self.expires,
            "result": self.result,
            "why": self.why,
        }


@dataclass(frozen=True, slots=True)
class ArcHop:
    """One ARC set: its instance, the ``cv=`` its seal claims, whether the seal (AS) and the
    message signature (AMS) verify, and the sealer."""

    instance: int
    cv: str
    seal_valid: bool
    ams_valid: bool
    sealer: str
    selector: str

    def to_json(self) -> dict[str, object]:
        return {
            "instance": self.instance,
            "cv": self.cv,
            "seal_valid": self.seal_valid,
            "ams_valid": self.ams_valid,
            "sealer": self.sealer,
            "selector": self.selector,
        }


@dataclass(frozen=True, slots=True)
class ArcVerdict:
    """The chain: ``result`` none, pass or fail, ``why``, and the hops, newest first."""

    result: str
    why: str
    hops: tuple[ArcHop, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "result": self.result,
            "why": self.why,
            "hops": [h.to_json() for h in self.hops],
        }


@dataclass(frozen=True, slots=True)
class Disagreement:
    """A method where the receiver's Authentication-Results and vedette differ."""

    method: str
    receiver: str
    vedette: str
    detail: str

    def to_json(self) -> dict[str, object]:
        return {
            "method": self.method,
            "receiver": self.receiver,
            "vedette": self.vedette,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class MessageVerdict:
    """Everything :func:`check_message` found (see the module docstring)."""

    from_domain: str | None
    dkim: tuple[DkimVerdict, ...]
    arc: ArcVerdict
    client_ip: str | None
    client_ip_source: str
    spf_domain: str | None
    spf: str
    spf_why: str
    dmarc: str
    dmarc_why: str
    dmarc_policy: str | None
    spf_aligned: bool
    dkim_aligned: tuple[str, ...]
    dmarc_result: DmarcResult | None
    receiver: AuthResults | None
    disagreements: tuple[Disagreement, ...]
    errors: tuple[str, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "from_domain": self.from_domain,
            "dkim": [d.to_json() for d in self.dkim],
            "arc": self.arc.to_json(),
            "spf": {
                "client_ip": self.client_ip,
                "client_ip_source": self.client_ip_source,
                "domain": self.spf_domain,
                "result": self.spf,
                "why": self.spf_why,
                "aligned": self.spf_aligned,
            },
            "dmarc": {
                "result": self.dmarc,
                "why": self.dmarc_why,
                "policy": self.dmarc_policy,
                "dkim_aligned": list(self.dkim_aligned),
                "record": self.dmarc_result.to_json() if self.dmarc_result else None,
            },
            "receiver": self.receiver.to_json() if self.receiver else None,
            "disagreements": [d.to_json() for d in self.disagreements],
            "errors": list(self.errors),
        }


# --- DKIM and ARC in a worker thread -------------------------------------------------------------


class _KeyReader:
    """dkimpy's ``dnsfunc``: the TXT record at a selector, through the bridge, remembered."""

    def __init__(self, bridge: _Bridge) -> None:
        self.bridge = bridge
        self.answers: dict[str, DnsAnswer] = {}

    def answer(self, name: str) -> DnsAnswer:
        key = name.lower().rstrip(".")
        if key not in self.answers:
            self.answers[key] = self.bridge.ask(key, "TXT")
        return self.answers[key]

    def __call__(self, name: bytes | str, timeout: object = None) -> bytes | None:
        text = name.decode("ascii", errors="replace") if isinstance(name, bytes) else name
        answer = self.answer(text)
        if answer.status.is_failure:
            raise dkim.DnsTimeoutError(answer.detail or answer.status.value)
        texts = [b"".join(rd.strings) for rd in answer.records if hasattr(rd, "strings")]
        return texts[0] if texts else None


def _word(value: object) -> str:
    if isinstance(value, bytes):
        return text_of(value, 80)
    return str(value)


def _why(exc: BaseException) -> str:
    """dkimpy's message, without the Python ``b'...'`` around the bytes it quotes."""
    text = re.sub(r"""b(['"])(.*?)\1""", r"\2", str(exc))
    return text_of(text.encode("utf-8", errors="replace"), 200)


def _one_dkim(
    signer: Any, headers: list[tuple[bytes, bytes]], idx: int, keys: _KeyReader, as_of: int
) -> DkimVerdict:
    value = headers[idx][1]
    try:
        sig = dkim.util.parse_tag_value(value)
    except Exception as exc:  # dkimpy's InvalidTagValueList, or worse on garbage
        return DkimVerdict(
            idx, "", "", "permerror", f"the signature's tags do not parse: {_why(exc)}"
        )
    domain, selector = _word(sig.get(b"d", b"")), _word(sig.get(b"s", b""))
    algorithm = _word(sig.get(b"a", b""))
    expires: int | None = None
    raw_x = sig.get(b"x")
    if raw_x is not None:
        if not re.fullmatch(rb"\d{1,15}", raw_x):
            return DkimVerdict(idx, domain, selector, "permerror", "x= is not a number", algorithm)
        expires = int(raw_x)

    def verdict(result: str, why: str) -> DkimVerdict:
        return DkimVerdict(idx, domain, selector, result, why, algorithm, expires)

    raw_t = sig.get(b"t")
    if raw_t is not None and not re.fullmatch(rb"\d{1,15}", raw_t):
        return verdict("permerror", "t= is not a number")
    if expires is not None and raw_t is not None and expires < int(raw_t):
        return verdict("permerror", "x= is earlier than t=")
    try:  # every check dkimpy makes, except its clock-based t= and x=
        dkim.validate_signature_fields({k: v for k, v in sig.items() if k not in (b"x", b"t")})
    except dkim.DKIMException as exc:
        return verdict("permerror", _why(exc))
    if expires is not None and expires < as_of:
        stamp = time.strftime("%Y-%m-%d %H:%M:%SZ", time.gmtime(expires))
        return verdict("permerror", f"expired: x= is {stamp}, before the date judged")
    key_name = f"{selector}._domainkey.{domain}"
    answer = keys.answer(key_name)
    if answer.status.is_failure:
        return verdict("temperror", f"the key {key_name} could not be read ({answer.status})")
    texts = [b"".join(rd.strings) for rd in answer.records if hasattr(rd, "strings")]
    if not texts:
        return verdict("permerror", f"no key at {key_name} ({answer.status})")
    if len(texts) > 1:
        return verdict("permerror", f"{len(texts)} TXT records at {key_name} (one key expected)")
    try:
        tags = dkim.util.parse_tag_value(texts[0])
    except Exception:
        return verdict("permerror", f"the key record at {key_name} does not parse")
    if not tags.get(b"p", b"").strip():
        return verdict("permerror", f"the key at {key_name} is revoked (empty p=)")
    try:
        signer.pk, signer.keysize, signer.ktag, signer.seqtlsrpt = dkim.evaluate_pk(
            key_name, texts[0]
        )
    except Exception as exc:
        return verdict("permerror", f"bad key at {key_name}: {_why(exc)}")
    include = [h.lower() for h in re.split(rb"\s*:\s*", sig[b"h"])]
    try:
        good = signer.verify_sig_process(sig, include, headers[idx], keys)
    except dkim.DKIMException as exc:
        text = _why(exc)
        if text.startswith("body hash mismatch"):
            return verdict("fail", "body hash mismatch: the body changed after signing")
        return verdict("fail" if isinstance(exc, dkim.ValidationError) else "permerror", text)
    except Exception as exc:  # dkimpy raising past its own exceptions: say so, go on
        return verdict("permerror", f"dkimpy failed: {type(exc).__name__}")
    if good:
        return verdict("pass", "signature and body hash verify")
    return verdict("fail", "signature does not verify: a signed header field changed")


def _dkim_all(raw: bytes, keys: _KeyReader, as_of: int) -> list[DkimVerdict]:
    try:
        signer = dkim.DKIM(raw, logger=_QUIET, minkey=1024)
    except Exception as exc:
        return [DkimVerdict(0, "", "", "permerror", f"dkimpy cannot read the message: {_why(exc)}")]
    headers = [(n, v) for n, v in signer.headers if n.lower() == b"dkim-signature"]
    return [
        _one_dkim(signer, headers, i, keys, as_of) for i in range(min(len(headers), MAX_SIGNATURES))
    ]


def _arc(raw: bytes, keys: _KeyReader) -> ArcVerdict:
    try:
        checker = dkim.ARC(raw, logger=_QUIET, minkey=1024)
        cv, data, reason = checker.verify(dnsfunc=keys)
    except Exception as exc:
        return ArcVerdict("fail", f"the ARC sets cannot be read: {_why(exc)}", ())
    hops = tuple(
        ArcHop(
            instance=int(item.get("instance", 0)),
            cv=_word(item.get("cv", b"")).lower(),
            seal_valid=bool(item.get("as-valid")),
            ams_valid=bool(item.get("ams-valid")),
            sealer=_word(item.get("as-domain", b"")),
            selector=_word(item.get("as-selector", b"")),
        )
        for item in data[:MAX_ARC]
    )
    result = _word(cv).lower() if cv is not None else "fail"
    return ArcVerdict(result, text_of(str(reason).encode(), 200), hops)


# --- alignment ------------------------------------------------------------------------------------


def _aligned(mode: str, domain: str, from_domain: str, orgs: dict[str, str]) -> bool:
    if mode == "s":
        return domain == from_domain
    return orgs.get(domain, domain) == orgs.get(from_domain, from_domain)


def _pick_receiver(message: Message, receiver: str | None) -> AuthResults | None:
    found = message.authentication_results
    if receiver:
        want = receiver.lower().rstrip(".")
        for ar in found:
            if ar.authserv_id == want or ar.authserv_id.endswith("." + want):
                return ar
        return None
    return found[0] if found else None


def _compare(
    ar: AuthResults, dkims: tuple[DkimVerdict, ...], spf: str, dmarc: str, arc: str
) -> tuple[Disagreement, ...]:
    out: list[Disagreement] = []
    for r in ar.results:
        if r.method == "dkim":
            d = r.props.get("header.d", "").lower()
            mine = [v for v in dkims if v.domain.lower() == d] if d else list(dkims)
            results = {v.result for v in mine}
            if r.result not in results and not (r.result == "none" and not dkims):
                out.append(
                    Disagreement(
                        "dkim",
                        r.result,
                        ", ".join(sorted(results)) or "no signature",
                        f"d={d or '?'}",
                    )
                )
        elif r.method in ("spf", "dmarc", "arc"):
            ours = {"spf": spf, "dmarc": dmarc, "arc": arc}[r.method]
            if ours != "not evaluated" and r.result != ours:
                out.append(Disagreement(r.method, r.result, ours, ""))
    return tuple(out)


async def check_message(
    lookup: Lookup,
    message: Message,
    *,
    client_ip: str | None = None,
    trust_receiver: str | None = None,
    as_of: float | None = None,
    timeout: float = 30.0,
) -> MessageVerdict:
    """Judge ``message`` (never raises for DNS or message problems)."""
    errors = list(message.errors)
    judged = int(time.time() if as_of is None else as_of)
    loop = asyncio.get_running_loop()
    bridge = _Bridge(lookup, loop, time.monotonic() + timeout)
    keys = _KeyReader(bridge)
    if message.complete and message.raw:
        dkims = tuple(await asyncio.to_thread(_dkim_all, message.raw, keys, judged))
        arc = await asyncio.to_thread(_arc, message.raw, keys)
    else:
        dkims, arc = (), ArcVerdict("not evaluated", "the message was not read whole", ())

    source = "--client-ip" if client_ip else ""
    if not client_ip and trust_receiver:
        hop = message.hop_by(trust_receiver)
        if hop is None:
            errors.append(f"no Received field written by {trust_receiver}")
        elif hop.ip is None:
            errors.append(f"the Received field of {trust_receiver} names no client address")
        else:
            client_ip, source = hop.ip, f"Received by {hop.by_host}"
    from_domains = message.from_domains
    if len(from_domains) > 1:
        errors.append(f"{len(from_domains)} From domains: DMARC judges each; the first shown")
    from_domain = from_domains[0] if from_domains else None
    spf_domain = message.mail_from_domain
    spf_result, spf_why = "not evaluated", "no --client-ip and no trusted Received hop"
    if client_ip and spf_domain:
        checked = await check_spf(lookup, spf_domain, sending_ips=(client_ip,), timeout=timeout)
        if checked.verdicts:
            spf_result = checked.verdicts[0].result
            spf_why = checked.verdicts[0].explanation
        else:
            spf_result, spf_why = "temperror", "the SPF record could not be read"
    elif client_ip:
        spf_why = "no Return-Path: the envelope sender is unknown"

    dmarc_result: DmarcResult | None = None
    dmarc, dmarc_why, policy = "none", "no From domain", None
    spf_aligned = False
    dkim_aligned: tuple[str, ...] = ()
    if from_domain:
        dmarc_result = await check_dmarc(lookup, from_domain)
        record = dmarc_result.record
        failed = [f for f in dmarc_result.findings if f.id == LOOKUP_FAILED.id]
        if record is None and failed:
            dmarc, dmarc_why = (
                "temperror",
                f"the DMARC record could not be read: {failed[0].detail}",
            )
        elif record is None:
            dmarc, dmarc_why = "none", f"no DMARC record for {from_domain}"
        else:
            orgs = {from_domain: dmarc_result.org_domain}
            others = {v.domain.lower() for v in dkims if v.result == "pass"}
            if spf_result == "pass" and spf_domain:
                others.add(spf_domain)
            for other in sorted(others - {from_domain}):
                orgs[other] = (await check_dmarc(lookup, other)).org_domain
            dkim_aligned = tuple(
                v.domain.lower()
                for v in dkims
                if v.result == "pass"
                and _aligned(record.adkim, v.domain.lower(), from_domain, orgs)
            )
            spf_aligned = (
                spf_result == "pass"
                and spf_domain is not None
                and _aligned(record.aspf, spf_domain, from_domain, orgs)
            )
            policy = dmarc_result.applied
            if dkim_aligned or spf_aligned:
                via = (["DKIM d=" + dkim_aligned[0]] if dkim_aligned else []) + (
                    ["SPF " + spf_domain] if spf_aligned and spf_domain else []
                )
                dmarc, dmarc_why = "pass", "aligned: " + ", ".join(via)
            else:
                dmarc = "fail"
                dmarc_why = (
                    f"no aligned DKIM pass or SPF pass (adkim={record.adkim}, "
                    f"aspf={record.aspf}); the policy is {policy or 'none'}"
                )
    receiver = _pick_receiver(message, trust_receiver)
    disagreements: tuple[Disagreement, ...] = ()
    if receiver is not None:
        disagreements = _compare(receiver, dkims, spf_result, dmarc, arc.result)
    return MessageVerdict(
        from_domain=from_domain,
        dkim=dkims,
        arc=arc,
        client_ip=client_ip,
        client_ip_source=source,
        spf_domain=spf_domain,
        spf=spf_result,
        spf_why=spf_why,
        dmarc=dmarc,
        dmarc_why=dmarc_why,
        dmarc_policy=policy,
        spf_aligned=spf_aligned,
        dkim_aligned=dkim_aligned,
        dmarc_result=dmarc_result,
        receiver=receiver,
        disagreements=disagreements,
        errors=tuple(errors),
    )
