"""The compatibility matrix of a scan: observations in, one :class:`ClientMatrix` per endpoint out.

Pure: it reads the stored observation (the chain as sent, the negotiated session and, after a
``--mode full`` scan, the TLS enumeration) and the check context (analysis time, ``--ca``
roots, the client options). The result is cached in ``ctx.cache`` so the checks of
``vedette.checks.clients`` and the report share one simulation per endpoint.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from vedette.model import ClientMatrix, Observation, Role
from vedette.trust._data import TrustData, trust_data
from vedette.trust.simulate import ClientOptions, ServerTls, select_profiles, simulate

if TYPE_CHECKING:
    from vedette.checks.registry import CheckContext

__all__ = ["endpoint_matrix", "report_matrices", "server_tls"]

_CACHE_KEY = "vedette.trust.matrix"

_WIRE_VERSIONS = {0x0300: "SSLv3", 0x0301: "TLSv1", 0x0302: "TLSv1.1", 0x0303: "TLSv1.2",
                  0x0304: "TLSv1.3"}  # fmt: skip


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
            _WIRE_VERSIONS[vs.version]: frozenset(vs.suites)
            for vs in scan.suites
            if vs.version in _WIRE_VERSIONS
        }
        groups = frozenset(scan.groups)
        groups12 = frozenset(scan.groups_tls12)
        incomplete = scan.incomplete
    return ServerTls(
        negotiated_version=obs.tls.version if obs.tls is not None else None,
        negotiated_suite=obs.tls.cipher if obs.tls is not None else None,
        accepted=accepted,
        groups_tls13=groups,
        groups_tls12=groups12,
        incomplete=incomplete,
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
