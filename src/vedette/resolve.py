"""Name resolution through vedette's own resolver setting.

vedette never calls the C library's resolver: a scan resolves names with dnspython, either
through the nameservers of ``/etc/resolv.conf`` or through ``--resolver ADDRESS[:PORT]``. Both
A and AAAA are asked, and every address is scanned. ``localhost`` is answered locally
(RFC 6761) without a query. Addresses pinned with ``--ip`` or ``--resolve`` skip DNS.
"""

from __future__ import annotations

import asyncio
import ipaddress
from typing import TYPE_CHECKING

from vedette.errors import ResolveError, UsageError
from vedette.targets import parse_port, quoted

if TYPE_CHECKING:
    import dns.asyncresolver


def parse_resolver(text: str) -> tuple[str, int]:
    """``ADDRESS[:PORT]`` (IPv6 as ``[addr]:port`` or bare) → (address, port)."""
    address, port = text, 53
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise UsageError(f"--resolver: unclosed '[' in {quoted(text)}")
        address, rest = text[1:end], text[end + 1 :]
        if rest:
            if not rest.startswith(":"):
                raise UsageError(f"--resolver wants ADDRESS[:PORT], got {quoted(text)}")
            port = parse_port(rest[1:], "--resolver")
    elif text.count(":") == 1:
        address, port_text = text.split(":")
        port = parse_port(port_text, "--resolver")
    try:
        address = str(ipaddress.ip_address(address))
    except ValueError:
        raise UsageError(f"--resolver: {quoted(address)} is not an IP address") from None
    return address, port


#: Most SRV targets scanned for one name (real domains list one to four).
MAX_SRV_TARGETS = 16


class Resolver:
    """Resolves names to every A and AAAA address, with a bounded time per query."""

    def __init__(self, nameserver: tuple[str, int] | None = None, *, timeout: float = 5.0):
        self._nameserver = nameserver
        self._timeout = timeout
        # Made at the first lookup: a scan of addresses only needs neither dnspython (whose
        # import is a noticeable part of start-up) nor /etc/resolv.conf.
        self._resolver: dns.asyncresolver.Resolver | None = None
        self._cache: dict[str, asyncio.Future[tuple[str, ...]]] = {}

    def _dns(self) -> dns.asyncresolver.Resolver:
        if self._resolver is None:
            import dns.asyncresolver
            import dns.resolver

            if self._nameserver is None:
                try:
                    resolver = dns.asyncresolver.Resolver(configure=True)
                except dns.resolver.NoResolverConfiguration:
                    resolver = dns.asyncresolver.Resolver(configure=False)
            else:
                resolver = dns.asyncresolver.Resolver(configure=False)
                resolver.nameservers = [self._nameserver[0]]
                resolver.port = self._nameserver[1]
            resolver.lifetime = self._timeout
            resolver.timeout = self._timeout
            self._resolver = resolver
        return self._resolver

    async def resolve(self, name: str) -> tuple[str, ...]:
        """All addresses of ``name`` (IPv4 first), or ResolveError with the reason."""
        if name == "localhost" or name.endswith(".localhost"):
            return ("127.0.0.1", "::1")
        if name not in self._cache:
            self._cache[name] = asyncio.ensure_future(self._lookup(name))
        return await asyncio.shield(self._cache[name])

    async def srv(self, name: str) -> tuple[tuple[str, int], ...]:
        """The SRV targets of ``name`` as (host, port), by priority then weight (RFC 2782);
        ``()`` when the lookup gives none, whatever the reason (no record, NXDOMAIN, a server
        failure or a timeout): RFC 6120 3.2.1 then falls back to the domain's own addresses.

        Raises:
            ResolveError: the record says the service is not offered (a single target ``.``).
        """
        import dns.exception

        try:
            answer = await self._dns().resolve(name, "SRV", search=False)
        except dns.exception.DNSException:
            return ()
        import dns.name

        records = sorted(answer, key=lambda rr: (rr.priority, -rr.weight))[:MAX_SRV_TARGETS]
        targets = tuple(
            (rr.target.to_text(omit_final_dot=True).lower(), int(rr.port))
            for rr in records
            if rr.target != dns.name.root
        )
        if not targets:
            raise ResolveError(f"{name}: the SRV record says the service is not offered ('.')")
        return targets

    async def _lookup(self, name: str) -> tuple[str, ...]:
        results = await asyncio.gather(
            self._query(name, "A"), self._query(name, "AAAA"), return_exceptions=True
        )
        addresses: list[str] = []
        errors: list[str] = []
        for res in results:
            if isinstance(res, BaseException):
                errors.append(str(res))
            else:
                addresses.extend(res)
        if addresses:
            return tuple(addresses)
        raise ResolveError(errors[0] if errors else f"{name} has no A or AAAA record")

    async def _query(self, name: str, rdtype: str) -> tuple[str, ...]:
        import dns.exception
        import dns.resolver

        try:
            answer = await self._dns().resolve(name, rdtype, search=False)
        except dns.resolver.NXDOMAIN:
            raise ResolveError(f"{name} does not exist (NXDOMAIN)") from None
        except dns.resolver.NoAnswer:
            return ()
        except dns.resolver.NoNameservers as exc:
            raise ResolveError(f"no nameserver answered for {name}: {exc}") from None
        except dns.exception.Timeout:
            raise ResolveError(f"DNS query for {name} timed out") from None
        except dns.exception.DNSException as exc:
            raise ResolveError(f"DNS lookup of {name} failed: {exc}") from None
        return tuple(rr.to_text() for rr in answer)
