"""Writing a file so that readers see the old one or the new one, never half of one.

One mechanism for every output vedette writes (keys, certificates, bundles, the CA's files,
and ``report -o FILE``): the content goes to a temporary file in the target's own directory
(same file system, so ``rename`` is atomic), created with its final permissions *before* any
byte is in it (a key is never readable by others, even for an instant), flushed with ``fsync``,
renamed over the target, and the directory itself is ``fsync``-ed so the rename survives a
power loss. An error or Ctrl-C at any point removes the temporary file and leaves the target
as it was. Whether an existing target may be replaced is the caller's rule.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from vedette.errors import VedetteError

__all__ = ["atomic_replace"]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_replace(
    path: Path, *, mode: int, error: type[VedetteError], label: str
) -> Iterator[IO[bytes]]:
    """A binary handle whose content replaces ``path`` when the block ends without an
    exception. An ``OSError`` becomes ``error(f"{label}: {reason}")``."""
    directory = path.parent if str(path.parent) else Path()
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise error(f"{label}: {exc.strerror or exc}") from None
    tmp = Path(tmp_name)
    try:
        os.fchmod(fd, mode)  # mkstemp made it 0600; the final mode before any content
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(directory)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise error(f"{label}: {exc.strerror or exc}") from None
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
