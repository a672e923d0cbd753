"""The CSV report: one line per endpoint, fixed columns in the spirit of Shadowserver's
per-host reports (``vedette.report.rows.CSV_COLUMNS``, documented in the README).

Every cell is made safe for the program that will open the file, because most of them are
server-controlled (banner, certificate subject and issuer, capability words):

* *formula injection*: a cell starting with ``=``, ``+``, ``-``, ``@``, tab or carriage
  return is a formula to Excel, LibreOffice and Google Sheets (``=HYPERLINK(...)``,
  ``=cmd|' /C calc'!A0``). Such a cell gets a leading apostrophe, the OWASP recommendation:
  spreadsheets show the text and do not evaluate it. Full-width look-alikes (U+FF1D ``＝``...)
  are treated the same, as some spreadsheets normalise them.
* control characters (line breaks included) are shown as visible escapes (``safe_text``), so
  one endpoint is always one physical line and no cell can hide text with bidi controls.

Quoting is the csv module's (RFC 4180 style, ``\\r\\n`` line ends).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from typing import TextIO

from vedette.report.escape import safe_text
from vedette.report.rows import CSV_COLUMNS, EndpointRecord

__all__ = ["csv_cell", "write_csv"]

_FORMULA_STARTS = frozenset("=+-@\t\r\uff1d\uff0b\uff0d\uff20")


def csv_cell(value: str) -> str:
    """``value`` made inert for a spreadsheet (see the module docstring)."""
    if value and value[0] in _FORMULA_STARTS:
        value = "'" + value
    return safe_text(value)


def write_csv(records: Iterable[EndpointRecord], out: TextIO) -> int:
    """Write the header and one row per record; returns the number of rows."""
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    count = 0
    for record in records:
        writer.writerow([csv_cell(v) for v in record.csv_values()])
        count += 1
    return count
