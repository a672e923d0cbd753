"""Printing terminal lines: wrapped with a hanging indent, never with trailing spaces.

Every line of the terminal reports (``report.terminal``, ``report.clients_section``) leaves
through :func:`put`: it wraps the body to the console's width itself, so that

* a wrapped line keeps its hanging indent: the continuation lines start under the body, not
  under the label (``Fix: ...``, ``Certificate:      ...``);
* no line carries trailing spaces, on a terminal or in a pipe (rich pads wrapped renderables
  to the full width; lines printed here are never padded);
* a line that must stay whole (a command to copy and paste) is printed whole, and a line
  that must stay one line is cut with an ellipsis.

Callers pass ``Text`` objects: rich never parses them for markup, so server strings (escaped
by ``safe_text`` first) cannot act on the terminal.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from rich.text import Text

if TYPE_CHECKING:
    from rich.console import Console

__all__ = ["MIN_BODY", "put", "wrap_lines"]

#: Below this many columns for the body, the hanging indent is dropped (a very narrow
#: terminal, or a very long label): the text wraps under the label instead.
MIN_BODY = 16


def wrap_lines(text: Text, width: int, *, hang: int = 0) -> list[Text]:
    """``text`` wrapped to ``width`` columns, the continuation lines indented by ``hang``
    columns (a hanging indent); no line ends with a space. ``hang`` is dropped when it would
    leave the continuation lines fewer than ``MIN_BODY`` columns."""
    width = max(width, 2)  # a double-width character needs two columns
    console = _wrap_console()
    wrapped = text.wrap(console, width, overflow="fold")
    if not wrapped:
        return [Text()]
    first = wrapped[0]
    first.rstrip()
    if len(wrapped) == 1:
        return [first]
    rest = text[len(first.plain) :]
    rest = rest[len(rest.plain) - len(rest.plain.lstrip(" ")) :]
    if width - hang < MIN_BODY:
        hang = 0
    out = [first]
    pad = Text(" " * hang)
    for piece in rest.wrap(console, width - hang, overflow="fold"):
        piece.rstrip()
        out.append(pad + piece)
    return out


def put(
    console: Console,
    *parts: Text | str | tuple[str, str],
    indent: int = 0,
    hang: int = 0,
    wrap: bool = True,
    one_line: bool = False,
) -> int:
    """Print one logical line made of ``parts`` (``Text``, plain ``str``, or ``(text, style)``)
    at ``indent``, wrapped with continuation lines at ``indent + hang``; returns the number of
    lines printed.

    ``wrap=False`` prints the line whole whatever its length (the terminal folds it; a pipe
    gets it on one line: a command to copy), ``one_line=True`` cuts it to the width with an
    ellipsis.
    """
    line = Text()
    for part in parts:
        if isinstance(part, Text):
            line.append_text(part)
        elif isinstance(part, str):
            line.append(part)
        else:
            line.append(part[0], style=part[1])
    width = max(console.width - indent, 1)
    if not wrap:
        line.rstrip()
        lines = [line]
    elif one_line:
        line.rstrip()
        if line.cell_len > width:
            line.truncate(width, overflow="ellipsis")
        lines = [line]
    else:
        lines = wrap_lines(line, width, hang=hang)
    pad = Text(" " * indent)
    for out in lines:
        console.print(pad + out, highlight=False, markup=False, emoji=False, soft_wrap=True)
    return len(lines)


def _wrap_console() -> Console:
    # Text.wrap needs a console only for its tab size and cell widths: a fixed one, so that
    # wrapping never depends on (nor writes to) the console being printed to.
    global _CONSOLE
    if _CONSOLE is None:
        from rich.console import Console

        _CONSOLE = Console(width=1000, file=io.StringIO())
    return _CONSOLE


_CONSOLE: Console | None = None
