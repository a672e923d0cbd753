"""Coverage-guided fuzzing of the client dialogues with atheris (libFuzzer), for long runs.

Not collected by pytest. With atheris installed (``pip install atheris``; it is not a vedette
dependency)::

    PYTHONPATH=src python -m tests.fuzz.atheris_dialogues -max_total_time=3600 corpus/

Without atheris, the same entry point replays files given on the command line (a corpus or a
crash reproducer), which is how a finding is turned into a regression test::

    PYTHONPATH=src python -m tests.fuzz.atheris_dialogues crash-1234abcd

The input's first byte picks the service and whether STARTTLS is tried; the rest is split into
the clear-text stream and the TLS stream, each cut into reads, by further bytes of the input.
Any exception other than ``ProtocolError``, or a dialogue that does not terminate, is a crash.
"""

from __future__ import annotations

import sys

from tests.unit.protocol_script import drive
from vedette.model import Service
from vedette.protocols.registry import has_dialogue, new_dialogue

#: Every service vedette speaks a dialogue on (the mail protocols, ManageSieve...).
SERVICES = [s for s in Service if has_dialogue(s.protocol)]


def _reads(data: bytes) -> list[bytes]:
    """Cut ``data`` into reads: each read is prefixed by a length byte (0 means 256)."""
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
    service = SERVICES[head % len(SERVICES)]
    try_starttls = head & 0x80 == 0
    # A 0xFF 0xFF marker separates the clear stream from the TLS stream when present.
    clear, _, tls = rest.partition(b"\xff\xff")
    out = drive(new_dialogue(service, try_starttls=try_starttls), _reads(clear), _reads(tls))
    assert len(out.sent) <= 5


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
