"""The TLS record layer, sans-I/O: content types, size bounds, alert names, and ``RecordFeed``.

``RecordFeed`` is the bounded buffering every reader of a server's flight shares (the plaintext
``server.FlightReader`` and the decrypting ``tls13.Tls13Client``): socket bytes in, at most
``MAX_FLIGHT`` of them, complete records out (RFC 5246 §6.2.1, RFC 8446 §5.1), each at most
``MAX_RECORD`` bytes. Malformed input raises ``TlsParseError`` and nothing else.
"""

from __future__ import annotations

from vedette.tls._wire import TlsParseError

__all__ = [
    "ALERT_NAMES",
    "CONTENT_ALERT",
    "CONTENT_APPLICATION_DATA",
    "CONTENT_CHANGE_CIPHER_SPEC",
    "CONTENT_HANDSHAKE",
    "MAX_FLIGHT",
    "MAX_RECORD",
    "RecordFeed",
    "alert_name",
]

CONTENT_CHANGE_CIPHER_SPEC = 20
CONTENT_ALERT = 21
CONTENT_HANDSHAKE = 22
CONTENT_APPLICATION_DATA = 23

MAX_FLIGHT = 1 << 20
MAX_RECORD = (1 << 14) + 2048

ALERT_NAMES = {
    0: "close_notify",
    10: "unexpected_message",
    20: "bad_record_mac",
    40: "handshake_failure",
    42: "bad_certificate",
    47: "illegal_parameter",
    50: "decode_error",
    70: "protocol_version",
    71: "insufficient_security",
    80: "internal_error",
    86: "inappropriate_fallback",
    90: "user_canceled",
    109: "missing_extension",
    110: "unsupported_extension",
    112: "unrecognized_name",
    120: "no_application_protocol",
}


def alert_name(description: int) -> str:
    return ALERT_NAMES.get(description, f"alert {description}")


class RecordFeed:
    """Socket bytes in, at most ``MAX_FLIGHT`` of them, records out: the buffering shared by
    the readers of a server's flight (this module's, and ``tls13.Tls13Client``). Subclasses
    set ``done`` and consume ``_buf`` in ``_next_record``, which returns False when it needs
    more bytes."""

    def __init__(self) -> None:
        self._buf = bytearray()
        self._total = 0
        self.done = False

    def receive_data(self, data: bytes) -> None:
        """Feed socket bytes; raises ``TlsParseError`` on malformed input."""
        if self.done:
            return
        self._total += len(data)
        if self._total > MAX_FLIGHT:
            raise TlsParseError(f"server flight larger than {MAX_FLIGHT} bytes", too_large=True)
        self._buf += data
        while not self.done and self._next_record():
            pass

    def _next_record(self) -> bool:
        raise NotImplementedError

    def _pop_record(self, majors: tuple[int, ...]) -> tuple[bytes, bytes] | None:
        """The next complete TLS record as (5-byte header, fragment), taken off the buffer;
        ``None`` until all of it is in. ``majors``: record-version major bytes accepted."""
        buf = self._buf
        if len(buf) < 5:
            return None
        if buf[0] not in (20, 21, 22, 23) or buf[1] not in majors:
            raise TlsParseError("the server's answer is not TLS")
        length = int.from_bytes(buf[3:5], "big")
        if length > MAX_RECORD:
            raise TlsParseError(f"record of {length} bytes", too_large=True)
        if len(buf) < 5 + length:
            return None
        header, fragment = bytes(buf[:5]), bytes(buf[5 : 5 + length])
        del buf[: 5 + length]
        return header, fragment
