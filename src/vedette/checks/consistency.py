"""Differences between the addresses behind one name.

A name with several A/AAAA records is one service to its users, who land on any of the nodes.
When one node serves another certificate, lacks TLS or still accepts passwords in clear, a
fraction of logins fail or leak, which is the hardest kind of fault to see from one client.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence

from vedette.checks.registry import CheckContext, Hit, group_check
from vedette.model import Observation, Severity
from vedette.protocols.registry import (
    has_capabilities,
    parse_capabilities,
    plaintext_password_mechanisms,
)


def _profile(obs: Observation) -> dict[str, str]:
    """What should be the same on every node, as printable values."""
    out = {"status": "ok" if obs.failure is None else obs.failure.kind.value}
    if obs.tls is not None:
        out["TLS version"] = obs.tls.version
        leaf = obs.tls.chain_der[0] if obs.tls.chain_der else b""
        out["certificate"] = "SHA-256 " + hashlib.sha256(leaf).hexdigest()[:16] if leaf else "none"
    else:
        out["TLS version"] = "no TLS"
    d = obs.dialogue
    proto = obs.endpoint.service.protocol
    if d is not None and d.capabilities_before_tls and has_capabilities(proto):
        caps = parse_capabilities(proto, d.capabilities_before_tls, d.greeting)
        mechs = plaintext_password_mechanisms(proto, caps)
        out["STARTTLS advertised"] = "yes" if caps.starttls else "no"
        out["passwords before TLS"] = ", ".join(sorted(mechs)) or "none"
    return out


@group_check(
    "endpoint.inconsistent",
    title="The addresses behind this name do not behave alike",
    explanation="Clients reach any of the name's addresses; a difference between nodes makes "
    "some connections fail or leak while others work, depending on which node answers.",
    remediation="Deploy the same certificate, TLS settings and authentication policy on every "
    "node behind the name (or take the odd node out of DNS / the load balancer), then rescan: "
    "vedette scans every address of a name.",
    severity=Severity.MEDIUM,
)
def inconsistent(ctx: CheckContext, observations: Sequence[Observation]) -> Iterator[Hit]:
    if len(observations) < 2:
        return
    profiles = [(obs.endpoint.ip or "?", _profile(obs)) for obs in observations]
    keys = sorted({k for _, p in profiles for k in p})
    differing = [k for k in keys if len({p.get(k, "-") for _, p in profiles}) > 1]
    if not differing:
        return
    evidence = tuple(
        f"{ip}: " + "; ".join(f"{k} = {p.get(k, '-')}" for k in differing) for ip, p in profiles
    )
    yield Hit(detail="differs between addresses: " + ", ".join(differing), evidence=evidence)
