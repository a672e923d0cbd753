"""The vedette commands that fix a certificate finding, with this endpoint's arguments filled in.

Checks attach these to their hits (``Hit.fix_commands``); reports print them under "Run:". The
commands must work when pasted: the target is written in the scan's grammar
(``imaps://mail.example.com:993``), the address that was scanned is pinned with ``--ip`` (so
the command talks to the very node that has the problem, even behind a load balancer or
without DNS), and every argument is shell-quoted. File names derive from the host name.

Which command for which problem:

* renewal problems (expired, expiring, self-signed, untrusted, weak key, SHA-1, wrong usages,
  too long): a new key and a CSR mirroring the certificate in service
  (``vedette cert csr --like TARGET --new-key HOST.key --out HOST.csr``), to be signed by a
  public CA or ``vedette ca sign``;
* a name mismatch: the same CSR with the scanned name added (``--san HOST``);
* an incomplete chain: ``vedette cert bundle TARGET`` completing the served chain, downloading
  the missing issuer (``--fetch``) when the certificate names where it is published, or from a
  directory of CA certificates otherwise.
* a certificate signed with SHA-512 (legacy SChannel): the same new key and CSR, then
  ``vedette ca sign HOST.csr --hash sha256`` when an internal vedette CA issues it (a public
  CA is given the CSR and asked for SHA-256);
* a chain in the wrong order, or with the root: ``vedette cert bundle TARGET`` alone, which
  rebuilds the served certificates in issuing order without the root.
"""

from __future__ import annotations

import ipaddress
import shlex

from vedette.model import Endpoint

__all__ = ["bundle_command", "renewal_commands", "sha256_reissue_commands", "target_text"]


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def target_text(endpoint: Endpoint) -> str:
    """``scheme://host:port`` in the target grammar (IPv6 literals in brackets)."""
    name = endpoint.name
    shown = f"[{name}]" if ":" in name else name
    return f"{endpoint.service.value}://{shown}:{endpoint.port}"


def _pin(endpoint: Endpoint) -> list[str]:
    if endpoint.host is not None and endpoint.ip is not None and not _is_ip(endpoint.host):
        return ["--ip", endpoint.ip]
    return []


def _base(endpoint: Endpoint) -> str:
    return endpoint.name.replace(":", "_").replace("*", "wildcard")


def _join(words: list[str]) -> str:
    return " ".join(shlex.quote(w) for w in words)


def renewal_commands(endpoint: Endpoint, *, add_name: bool = False) -> tuple[str, ...]:
    """A new key and a CSR like the certificate served on ``endpoint``."""
    base = _base(endpoint)
    words = ["vedette", "cert", "csr", "--like", target_text(endpoint), *_pin(endpoint)]
    if add_name and endpoint.host is not None:
        words += ["--san", endpoint.host]
    words += ["--new-key", f"{base}.key", "--out", f"{base}.csr"]
    return (_join(words),)


def sha256_reissue_commands(endpoint: Endpoint) -> tuple[str, ...]:
    """A new key and CSR like the served certificate, signed again with SHA-256."""
    base = _base(endpoint)
    sign = ["vedette", "ca", "sign", f"{base}.csr", "--hash", "sha256"]
    sign += ["--out", f"{base}-fullchain.pem"]
    return (*renewal_commands(endpoint), _join(sign))


def bundle_command(
    endpoint: Endpoint, *, fetchable: bool, complete: bool = False
) -> tuple[str, ...]:
    """The served chain completed (or, when ``complete``, only put in order and stripped of
    its root) into ``HOST-fullchain.pem``."""
    words = ["vedette", "cert", "bundle", target_text(endpoint), *_pin(endpoint)]
    if complete:
        pass  # every certificate needed is in what the server sends
    elif fetchable:
        words.append("--fetch")
    else:
        words += ["--intermediates", "/path/to/ca-certificates"]
    words += ["--out", f"{_base(endpoint)}-fullchain.pem"]
    return (_join(words),)
