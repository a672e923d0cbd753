"""Running the lab on an event loop in a background thread, for synchronous callers.

Tests that drive the lab with blocking clients (imaplib, poplib, smtplib, curl) cannot share
the lab's event loop, and neither can a synchronous CLI command; :class:`LabThread` starts a
private loop in a daemon thread, runs :class:`~vedette.lab.scenarios.Lab` on it, and stops it
cleanly (servers closed, connections dropped, temporary files removed) on exit.
"""

from __future__ import annotations

import asyncio
import threading
from typing import TYPE_CHECKING, Any

from vedette.lab.scenarios import Lab

if TYPE_CHECKING:
    from types import TracebackType

# Generous: minting the certificates and binding eleven sockets takes well under a second.
_START_TIMEOUT = 60.0


class LabThread:
    """``with LabThread() as lt: lt.lab.server("imaps-good").port`` — the lab, in a thread.

    Keyword arguments are passed to :class:`~vedette.lab.scenarios.Lab`. The ``lab`` object
    belongs to the background loop: read its attributes (ports, ``root_ca_path``,
    ``received``) but do not await its methods from another thread.
    """

    def __init__(self, **lab_kwargs: Any) -> None:
        self._kwargs = lab_kwargs
        self._lab: Lab | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="vedette-lab", daemon=True)

    @property
    def lab(self) -> Lab:
        if self._lab is None:
            raise RuntimeError("the lab is not running")
        return self._lab

    def __enter__(self) -> LabThread:
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT):
            raise TimeoutError(f"the lab did not start within {_START_TIMEOUT:.0f} s")
        if self._error is not None:
            self._thread.join()
            raise RuntimeError("the lab failed to start") from self._error
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(stop.set)
        self._thread.join(_START_TIMEOUT)
        self._lab = None

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:  # reported to __enter__ when it happens during start
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with Lab(**self._kwargs) as lab:
            self._lab = lab
            self._ready.set()
            await self._stop.wait()
