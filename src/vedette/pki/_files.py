"""File I/O for the PKI toolkit: bounded reads, atomic writes, and a directory lock.

Bounded reads. An input is read only from a regular file of at most :data:`MAX_INPUT`
(16 MiB): a FIFO (which blocks until a writer comes), a device (``/dev/zero`` never ends) or a
socket is refused at once with one line, before and after opening.

Atomic writes. Every output of ``vedette key|cert|ca`` goes through
:func:`vedette.atomicfile.atomic_replace` (the mechanism ``report -o`` uses too): final mode
before any byte of a secret is in it, ``fsync``, rename, directory ``fsync``; a crash or an
error leaves either the old file or the new one, never a half-written key or bundle.

Refusing to overwrite. Outputs that already exist are refused unless the caller says
``overwrite=True`` (the CLI's ``--force``): replacing a server's key by accident is the kind
of mistake that takes a mail service down.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import TYPE_CHECKING

from vedette.atomicfile import atomic_replace
from vedette.errors import PkiError
from vedette.inputfiles import MAX_INPUT as INPUT_LIMIT
from vedette.inputfiles import read_regular_file

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["MAX_INPUT", "atomic_write", "directory_lock", "read_input"]

#: Largest file the toolkit reads (a PEM bundle of a few hundred certificates is ~1 MiB).
MAX_INPUT = INPUT_LIMIT


def read_input(path: Path, *, what: str = "file") -> bytes:
    """The bytes of ``path`` (``-`` is not special); one-line :class:`PkiError` on failure.

    Only a regular file of at most :data:`MAX_INPUT` bytes is read: see
    :mod:`vedette.inputfiles` (a FIFO or a device is refused before a byte is read).
    """
    return read_regular_file(path, what=what, limit=MAX_INPUT, error=PkiError)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644, overwrite: bool = False) -> None:
    """Write ``data`` to ``path`` atomically with permissions ``mode`` (0600 for keys)."""
    directory = path.parent if str(path.parent) else Path()
    if path.is_dir():
        raise PkiError(f"{path}: is a directory")
    if path.exists() and not overwrite:
        raise PkiError(f"{path}: already exists (use --force to replace it)")
    if not directory.is_dir():
        raise PkiError(f"{path}: the directory {directory} does not exist")
    with atomic_replace(path, mode=mode, error=PkiError, label=f"cannot write {path}") as f:
        f.write(data)


@contextlib.contextmanager
def directory_lock(directory: Path, *, name: str = ".lock") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``directory/name`` (non-blocking: a busy CA is an error).

    The lock dies with the process that holds it, so a crash never leaves a stale lock.
    """
    try:
        fd = os.open(directory / name, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise PkiError(f"cannot lock {directory}: {exc.strerror or exc}") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PkiError(
                f"{directory}: another vedette process is using this CA (lock {name})"
            ) from None
        yield
    finally:
        os.close(fd)
