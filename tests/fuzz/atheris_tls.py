"""Coverage-guided fuzzing of the TLS parsers with atheris (libFuzzer), for long runs.

Not collected by pytest. With atheris installed (``pip install atheris``; not a vedette
dependency)::

    PYTHONPATH=src:. python -m tests.fuzz.atheris_tls -max_total_time=600 corpus-tls/

Without atheris the same entry point replays files given on the command line (a corpus or a
crash reproducer). The first input byte chooses the target: the server-flight reader (the
rest cut into socket reads by length bytes) or the ClientHello parser. Any exception other
than ``TlsParseError`` is a crash.
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


def test_one_input(data: bytes) -> None:
    if not data:
        return
    head, rest = data[0], data[1:]
    try:
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
