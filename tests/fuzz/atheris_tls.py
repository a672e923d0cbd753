"""Coverage-guided fuzzing of the TLS parsers with atheris (libFuzzer), for long runs.

Not collected by pytest. With atheris installed (``pip install atheris``; not a vedette
dependency)::

    PYTHONPATH=src:. python -m tests.fuzz.atheris_tls -max_total_time=600 corpus-tls/

Without atheris the same entry point replays files given on the command line (a corpus or a
crash reproducer). The first input byte chooses the target: the server-flight reader (the
rest cut into socket reads by length bytes), the ClientHello parser, or the decrypting TLS 1.3
reader (``vedette.tls.tls13``). For the last, the rest of the input is either raw wire bytes
(ServerHello and record layer) or — the useful half, since mutated ciphertext never passes the
AEAD — a list of *plaintext* handshake messages that the harness encrypts correctly behind a
valid ServerHello, so the fuzzer reaches EncryptedExtensions, Certificate and its entry
extensions, CertificateVerify and Finished. Any exception other than ``TlsParseError`` is a
crash.
"""

from __future__ import annotations

import sys

from vedette.tls._wire import TlsParseError
from vedette.tls.hello import parse_client_hello
from vedette.tls.server import FlightReader


def _reads(data: bytes) -> list[bytes]:
    out: list[bytes] = []
    i = 0
    while i < len(data):
        n = data[i] or 256
        out.append(data[i + 1 : i + 1 + n])
        i += 1 + n
    return [r for r in out if r]


def _tls13(head: int, rest: bytes) -> None:
    # The encrypting test server lives with the unit tests (importing it needs pytest).
    from tests.unit.test_tls13_flight import client, server_flight

    c = client()
    if head & 8:
        suite = (0x1301, 0x1302, 0x1303)[(head >> 5) % 3]
        chunks = [server_flight(c, _reads(rest), suite=suite, finished=bool(head & 16))]
    else:
        chunks = _reads(rest) if head & 2 else [rest]
    for chunk in chunks:
        c.receive_data(chunk)
        if c.done:
            break
    c.answer()


def test_one_input(data: bytes) -> None:
    if not data:
        return
    head, rest = data[0], data[1:]
    try:
        if head & 4:
            _tls13(head, rest)
            return
        if head & 1:
            parse_client_hello(rest)
            return
        reader = FlightReader()
        for chunk in _reads(rest) if head & 2 else [rest]:
            reader.receive_data(chunk)
            if reader.done:
                break
        reader.answer()
    except TlsParseError:
        pass


def main(argv: list[str]) -> None:
    try:
        import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]
    except ImportError:
        paths = [a for a in argv[1:] if not a.startswith("-")]
        if not paths:
            sys.exit("atheris is not installed; give input files to replay them")
        for path in paths:
            with open(path, "rb") as f:
                test_one_input(f.read())
            print(f"ok {path}")
        return
    atheris.instrument_all()
    atheris.Setup(argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
