"""Every bound a probe obeys, as one value the CLI fills from its options."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """Timeouts (seconds) and bounds for probing.

    Attributes:
        connect_timeout: TCP connect.
        read_timeout: one complete reply (greeting, capability list…) from the first byte asked
            for to its last line; a server that trickles bytes cannot stretch it.
        tls_timeout: the TLS handshake.
        endpoint_timeout: everything spent on one endpoint.
        max_read: bytes taken from the socket at a time (lines are bounded separately by the
            dialogues: 8192 bytes a line, 256 lines a reply).
        concurrency: endpoints probed at once, in all.
        per_host: endpoints probed at once on one IP address (mail servers limit connections
            per client address).
    """

    connect_timeout: float = 5.0
    read_timeout: float = 10.0
    tls_timeout: float = 10.0
    endpoint_timeout: float = 45.0
    max_read: int = 65536
    concurrency: int = 32
    per_host: int = 4
