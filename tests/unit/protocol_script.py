"""A scripted driver for sans-I/O dialogues, used by the protocol unit tests.

It plays the role of ``vedette.probe``'s loop without a socket: the server's bytes are given in
advance as two streams, the clear-text one and the one inside TLS, each cut into the chunks one
``read()`` would return. When a stream runs out the driver feeds end of file.

When the dialogue asks for the TLS handshake, the driver *still* feeds the clear-text chunks it
has left - as a transport that had read ahead would - so every test also checks that bytes
after the STARTTLS go-ahead never reach the TLS side.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING

from hypothesis import strategies as st

from vedette.errors import ProtocolError
from vedette.protocols import Close, NeedData, Send, StartTls

if TYPE_CHECKING:
    from collections.abc import Sequence

    from vedette.model import DialogueObservation, Stage
    from vedette.protocols import MailDialogue

#: More actions than this means the dialogue loops: no test transcript needs 100.
MAX_ACTIONS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    sent: tuple[bytes, ...]
    observation: DialogueObservation
    error: ProtocolError | None
    closed_early: bool
    stage: Stage
    tls_started: bool
    actions: int

    @property
    def summary(self) -> tuple[object, ...]:
        """Everything a user of the dialogue can see, comparable across chunkings."""
        err = None if self.error is None else (type(self.error), self.error.too_large)
        return (self.sent, self.observation, err, self.closed_early, self.stage, self.tls_started)


def drive(
    dialogue: MailDialogue,
    clear: bytes | Sequence[bytes],
    tls: bytes | Sequence[bytes] = (),
) -> Outcome:
    """Run ``dialogue`` to its end against the scripted server bytes."""
    phase = [clear] if isinstance(clear, bytes) else list(clear)
    after = [tls] if isinstance(tls, bytes) else list(tls)
    sent: list[bytes] = []
    started = False
    error: ProtocolError | None = None
    actions = 0
    while True:
        actions += 1
        assert actions < MAX_ACTIONS, "dialogue does not terminate"
        try:
            action = dialogue.next_action()
        except ProtocolError as exc:
            error = exc
            # A dead dialogue only ever says Close afterwards.
            assert dialogue.next_action() == Close()
            break
        if isinstance(action, Send):
            sent.append(action.data)
        elif isinstance(action, NeedData):
            dialogue.receive_data(phase.pop(0) if phase else b"")
        elif isinstance(action, StartTls):
            assert not started, "asked for TLS twice"
            for leftover in phase:  # read-ahead in clear: must be ignored
                dialogue.receive_data(leftover)
            dialogue.tls_started()
            started = True
            phase = after
        else:
            assert isinstance(action, Close)
            break
    return Outcome(
        sent=tuple(sent),
        observation=dialogue.observation(),
        error=error,
        closed_early=dialogue.closed_early,
        stage=dialogue.stage,
        tls_started=started,
        actions=actions,
    )


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """``data`` cut at the given offsets (each in 1..len-1), in order."""
    bounds = [0, *sorted(set(cuts)), len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds) if b > a]


@st.composite
def chunkings(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """A random way to cut ``data`` into reads."""
    if len(data) < 2:
        return [data] if data else []
    cuts = draw(st.lists(st.integers(1, len(data) - 1), max_size=min(len(data), 64)))
    return split_at(data, cuts)


def bytewise(data: bytes) -> list[bytes]:
    """One read per byte: every reply split at every boundary."""
    return [data[i : i + 1] for i in range(len(data))]
