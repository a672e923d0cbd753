"""safe_text: server text cannot act on a terminal."""

from __future__ import annotations

import unicodedata

from hypothesis import given
from hypothesis import strategies as st

from vedette.report.escape import safe_text


def test_printable_text_is_unchanged() -> None:
    for s in ("220 mail.example.test ESMTP Postfix", "CN=Müller GmbH,O=日本", "[bold]x[/]", ""):
        assert safe_text(s) == s


def test_ansi_and_controls_become_visible_escapes() -> None:
    assert safe_text("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert safe_text("\x00\t\r\n\x7f") == "\\x00\\x09\\x0d\\x0a\\x7f"
    # C1: U+009B is a single-character CSI on 8-bit terminals.
    assert safe_text("\x9b31m\x85") == "\\x9b31m\\x85"
    # OSC 8 hyperlink / window title sequence.
    assert safe_text("\x1b]0;pwned\x07") == "\\x1b]0;pwned\\x07"


def test_bidi_and_invisible_formatting_are_shown() -> None:
    assert safe_text("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert safe_text("a\u200bb\u2028c\u2029") == "a\\u200bb\\u2028c\\u2029"
    assert safe_text("soft\xadhyphen") == "soft\\xadhyphen"
    assert safe_text("\U000e0001tag") == "\\U000e0001tag"
    assert safe_text("lone\ud800") == "lone\\ud800"


@given(st.text())
def test_output_never_contains_a_control_or_format_character(s: str) -> None:
    out = safe_text(s)
    assert all(unicodedata.category(ch) not in {"Cc", "Cf", "Zl", "Zp", "Cs"} for ch in out)


@given(st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E)))
def test_printable_ascii_is_identity(s: str) -> None:
    assert safe_text(s) == s
