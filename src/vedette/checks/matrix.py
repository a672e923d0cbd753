"""The compatibility matrix of a scan: observations in, one :class:`ClientMatrix` per endpoint out.

Pure: it reads the stored observation (the chain as sent, the negotiated session and, after a
``--mode full`` scan, the TLS enumeration) and the check context (analysis time, ``--ca``
roots, the ``--intermediates``/``--fetch`` certificates, the client options). The result is
cached in ``ctx.cache`` so the checks of ``vedette.checks.clients`` and the report share one
simulation per endpoint.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cryptography import x509

from vedette.model import ClientMatrix, Observation, Role
from vedette.tls.registry import SSL_MODULE_NAMES
from vedette.trust import TrustData, sha256_hex, trust_data
from vedette.trust.simulate import ClientOptions, ServerTls, select_profiles, simulate
from vedette.x509.chain import anchor_certificate, parse_sent

if TYPE_CHECKING:
    from vedette.checks.registry import CheckContext

__all__ = ["distrust_candidate", "endpoint_matrix", "report_matrices", "server_tls"]

_CACHE_KEY = "vedette.checks.matrix"
#: The report and the checks of one endpoint reuse its matrix; older ones are dropped.
_CACHE_MAX = 256


def server_tls(obs: Observation) -> ServerTls | None:
    """What the observation says about the server's TLS (the enumeration when there is one)."""
    if obs.tls is None and obs.tls_scan is None:
        return None
    accepted = None
    groups: frozenset[int] = frozenset()
    groups12: frozenset[int] = frozenset()
    incomplete = False
    scan = obs.tls_scan
    if scan is not None and scan.suites:
        accepted = {
            SSL_MODULE_NAMES[vs.version]: frozenset(vs.suites)
            for vs in scan.suites
            if vs.version in SSL_MODULE_NAMES
        }
        groups = frozenset(scan.groups)
        groups12 = frozenset(scan.groups_tls12)
        incomplete = scan.incomplete
    refused = (
        frozenset(SSL_MODULE_NAMES[v] for v in scan.refused_versions() if v in SSL_MODULE_NAMES)
        if scan is not None
        else frozenset()
    )
    return ServerTls(
        negotiated_version=obs.tls.version if obs.tls is not None else None,
        negotiated_suite=obs.tls.cipher if obs.tls is not None else None,
        accepted=accepted,
        groups_tls13=groups,
        groups_tls12=groups12,
        incomplete=incomplete,
        refused=refused,
    )


def _data(options: ClientOptions) -> TrustData:
    base = options.data if options.data is not None else trust_data()
    return base.with_profiles(options.extra_profiles) if options.extra_profiles else base


def endpoint_matrix(ctx: CheckContext, obs: Observation) -> ClientMatrix | None:
    """The matrix of one endpoint, or ``None`` when no TLS session was observed."""
    if obs.tls is None:
        return None
    cache = ctx.cache.setdefault(_CACHE_KEY, {})
    assert isinstance(cache, dict)
    if obs.endpoint in cache:
        found = cache[obs.endpoint]
        return found if isinstance(found, ClientMatrix) else None
    if len(cache) >= _CACHE_MAX:
        cache.clear()  # a fleet analysis shares one context: keep memory bounded
    options = ctx.clients or ClientOptions()
    data = _data(options)
    relay = obs.endpoint.service.role is Role.RELAY
    profiles = select_profiles(data.profiles, options.families, relay=relay)
    matrix = simulate(
        obs.tls.chain_der,
        host=obs.endpoint.host,
        as_of=options.as_of or ctx.now,
        data=data,
        profiles=profiles,
        server=server_tls(obs),
        extra_roots=ctx.extra_roots_der,
        options=options,
        endpoint=obs.endpoint,
        intermediates=ctx.intermediates_der,
    )
    cache[obs.endpoint] = matrix
    return matrix


def report_matrices(
    observations: Sequence[Observation], ctx: CheckContext
) -> tuple[ClientMatrix, ...]:
    out = []
    for obs in observations:
        m = endpoint_matrix(ctx, obs)
        if m is not None:
            out.append(m)
    return tuple(out)


_NAMES: dict[int, tuple[TrustData, frozenset[x509.Name]]] = {}


def _distrusted_names(data: TrustData) -> frozenset[x509.Name]:
    """Subjects of every root with a distrust event or a Microsoft NotBefore/Disallowed date
    (computed once per TrustData object; the packaged one lives for the whole process)."""
    found = _NAMES.get(id(data))
    if found is not None and found[0] is data:
        return found[1]
    fps = {fp for e in data.events for fp in e.roots}
    for fp, info in data.roots.items():
        ms = info.stores.get("microsoft")
        if ms is not None and (ms.not_before is not None or ms.disallowed is not None):
            fps.add(fp)
    names = set()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        for der in data.roots_der:
            if sha256_hex(der) in fps:
                names.add(anchor_certificate(der).subject)
    if len(_NAMES) > 8:
        _NAMES.clear()
    _NAMES[id(data)] = (data, frozenset(names))
    return _NAMES[id(data)][1]


def distrust_candidate(ctx: CheckContext, obs: Observation) -> bool:
    """Cheap pre-check: could this chain lead to a distrusted root at all? (A certificate sent
    names, as issuer or subject, a root that some platform distrusts.) Lets a fleet analysis
    skip the full simulation for the vast majority of endpoints."""
    if obs.tls is None or not obs.tls.chain_der:
        return False
    options = ctx.clients or ClientOptions()
    names = _distrusted_names(_data(options))
    for sent in parse_sent(obs.tls.chain_der):
        if sent.cert is not None and (sent.cert.issuer in names or sent.cert.subject in names):
            return True
    return False
