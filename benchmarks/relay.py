"""A TCP relay for the benchmarks: every tool talks to the server through it, so every tool's
connections are counted (and timed) the same way; it can add a round-trip time."""

from __future__ import annotations

import asyncio
import threading
import time


class Relay:
    """Forwards ``listen`` to ``upstream`` in a thread with its own event loop.

    ``count`` counts connections; ``opened`` and ``closed`` hold when each was accepted and
    when its last direction closed (``time.monotonic``). ``rtt``: seconds of round-trip time
    to add, as a distant server would (each chunk waits half of it in each direction, and
    the connection to the server a whole one). ``listen`` port 0: a free port (``port``)."""

    def __init__(
        self, listen: tuple[str, int], upstream: tuple[str, int], *, rtt: float = 0.0
    ) -> None:
        self.listen = listen
        self.upstream = upstream
        self.rtt = rtt
        self.count = 0
        self.port = listen[1]
        self.opened: list[float] = []
        self.closed: list[float] = []
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Relay:
        self._thread.start()
        self._ready.wait(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def reset(self) -> None:
        self.opened.clear()
        self.closed.clear()

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, *self.listen))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()
        server.close()

    async def _handle(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        self.count += 1
        self.opened.append(time.monotonic())
        try:
            if self.rtt:
                await asyncio.sleep(self.rtt)
            ur, uw = await asyncio.open_connection(*self.upstream)
        except OSError:
            w.close()
            self.closed.append(time.monotonic())
            return

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    if self.rtt:
                        await asyncio.sleep(self.rtt / 2)
                    dst.write(data)
                    await dst.drain()
            except OSError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(r, uw), pipe(ur, w))
        self.closed.append(time.monotonic())
