"""Reporters: the same ``ScanReport`` for a person (``terminal``) or a program (``json``).

``escape.safe_text`` is the one function that makes server-controlled text safe to print.
"""

from __future__ import annotations

from vedette.report.escape import safe_text as safe_text
from vedette.report.json import JSON_SCHEMA as JSON_SCHEMA
from vedette.report.json import report_to_json as report_to_json
from vedette.report.terminal import render_terminal as render_terminal
