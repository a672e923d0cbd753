"""Reading a user's input file without waiting on it: regular files only, bounded.

Every certificate, key, CSR, PKCS#12, profile or inventory file vedette reads goes through
:func:`read_regular_file`. A FIFO blocks ``open``/``read`` until a writer comes (forever, for a
named pipe nobody writes to), and ``/dev/zero`` or ``/dev/urandom`` never end: both are refused
before a byte is read, with one line saying what the path is. The file is opened with
``O_NONBLOCK`` (no effect on a regular file; an open that returns at once on a FIFO) and its
type checked again on the open descriptor, so a file swapped for a FIFO after the first check
cannot block either. At most ``limit`` bytes are read.

Target and exclusion lists are not read here: ``--targets <(inventory-command)`` is a pipe on
purpose, and those are streamed line by line.
"""

from __future__ import annotations

import os
import stat
from typing import TYPE_CHECKING

from vedette.errors import UsageError, VedetteError

if TYPE_CHECKING:
    from pathlib import Path

__all__ = ["MAX_INPUT", "read_regular_file"]

#: Default bound (a PEM bundle of a few hundred certificates is ~1 MiB).
MAX_INPUT = 16 * 1024 * 1024

_KINDS = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _size(limit: int) -> str:
    return f"{limit // (1024 * 1024)} MiB" if limit >= 1024 * 1024 else f"{limit} bytes"


def _check(
    path: Path, st: os.stat_result, what: str, limit: int, error: type[VedetteError]
) -> None:
    if stat.S_ISDIR(st.st_mode):
        raise error(f"{path}: is a directory, expected a {what}")
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a regular file")
        raise error(
            f"{path}: is {kind}, not a regular file (vedette reads its inputs from regular "
            "files only: it does not wait on a pipe or read a device)"
        )
    if st.st_size > limit:
        raise error(f"{path}: larger than {_size(limit)}, not a {what}")


def is_regular_file(path: Path) -> bool:
    """``path`` is a regular file (symlinks followed); never raises."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def read_regular_file(
    path: Path,
    *,
    what: str = "file",
    limit: int = MAX_INPUT,
    error: type[VedetteError] = UsageError,
    allow_empty: bool = False,
) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit``; ``error`` (one line) else."""
    try:
        _check(path, os.stat(path), what, limit, error)  # devices are not even opened
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except IsADirectoryError:
        raise error(f"{path}: is a directory, expected a {what}") from None
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError:  # a NUL byte in the name
        raise error(f"cannot read {path!r}: not a valid file name") from None
    try:
        _check(path, os.fstat(fd), what, limit, error)  # the file opened is the file checked
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    except OSError as exc:
        raise error(f"cannot read {path}: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if len(data) > limit:
        raise error(f"{path}: larger than {_size(limit)}, not a {what}")
    if not data and not allow_empty:
        raise error(f"{path}: empty file, expected a {what}")
    return data
