"""Reporters: the same ``ScanReport`` for a person or for a program.

* ``vedette.report.terminal.render_terminal`` — the readable report (rich);
* ``vedette.report.json.report_to_json`` — the versioned document ``vedette.scan/1``,
  documented field by field in ``docs/json-schema.md``;
* ``vedette.report.escape.safe_text`` — the one function that makes server-controlled text
  safe to print on a terminal.

Nothing is imported here, so loading one reporter does not pay for the others (rich is only
needed by the terminal reporter).
"""
