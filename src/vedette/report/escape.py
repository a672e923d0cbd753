"""Making server-controlled text inert before it reaches a terminal.

Everything a server sends (greeting, capabilities, certificate names, and finding details
that quote them) is attacker-controlled. Printed raw, it could move the cursor, clear the
screen, retitle the window or forge lines of the report with ANSI/OSC escape sequences, or hide
and reorder text with Unicode bidirectional controls (the "Trojan Source" trick). ``safe_text``
replaces every such character with a visible escape so the administrator sees exactly which
bytes the server sent:

* C0 controls (U+0000-U+001F, tab and newline included), DEL (U+007F) and C1 controls
  (U+0080-U+009F; U+009B is a one-byte CSI on some terminals) become ``\\xNN``;
* other invisible or layout-changing code points — Unicode format characters (category Cf:
  bidi overrides and isolates, zero-width joiners, soft hyphen), line and paragraph separators
  (Zl, Zp) and lone surrogates (Cs) — become ``\\xNN``, ``\\uNNNN`` or ``\\UNNNNNNNN``.

Backslashes are left alone, so a literal ``\\x1b`` sent by a server looks the same as an
escaped ESC; the point is that neither can act on the terminal.

Rich markup is the other half: text passed to ``rich`` as a ``str`` is parsed for
``[style]`` tags. The terminal reporter therefore only hands server data to ``rich`` inside
``Text`` objects (never parsed as markup); ``safe_text`` does not escape brackets.
"""

from __future__ import annotations

import unicodedata

__all__ = ["safe_text"]

_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs"})


def _escape(ch: str) -> str:
    code = ord(ch)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def safe_text(s: str) -> str:
    """``s`` with every control or invisible formatting character shown as a visible escape."""
    # Fast path: most server text is printable ASCII.
    if s.isascii() and s.isprintable():
        return s
    return "".join(
        _escape(ch) if unicodedata.category(ch) in _INVISIBLE_CATEGORIES else ch for ch in s
    )
