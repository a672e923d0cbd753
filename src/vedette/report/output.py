"""Where a report goes: standard output, or ``-o FILE`` written atomically.

``-o FILE`` is written to a temporary file in FILE's directory and renamed over FILE only when
the whole report is written, so a reader (a cron job, a web server publishing the CSV) sees
either the previous report or the new one, never half of one; a failure or Ctrl-C leaves FILE
as it was and removes the temporary file. A report is derived data, re-made at will: ``-o``
replaces an existing FILE (the PKI commands' outputs, keys and certificates, are the ones that
want ``--force``).
"""

from __future__ import annotations

import contextlib
import io
import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from vedette.atomicfile import atomic_replace
from vedette.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = ["report_output"]


@contextlib.contextmanager
def report_output(path: str | None) -> Iterator[TextIO]:
    """A text handle for the report: ``sys.stdout`` when ``path`` is ``None``, else a
    temporary file renamed to ``path`` when the block ends without an exception."""
    if path is None:
        yield sys.stdout
        sys.stdout.flush()
        return
    target = Path(path)
    if target.is_dir():
        raise UsageError(f"--output {path}: is a directory")
    with atomic_replace(target, mode=0o644, error=UsageError, label=f"--output {path}") as raw:
        handle = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        try:
            yield handle
        finally:
            handle.detach()  # flushes; the mechanism then syncs, renames or removes
