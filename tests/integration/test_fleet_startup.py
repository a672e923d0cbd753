"""A quiet fleet scan of addresses loads neither the terminal renderer nor DNS.

Start-up is a fixed cost of every cron sweep (and most of a small one): ``--quiet`` draws
nothing, so rich is not imported, and targets that are addresses resolve nothing, so dnspython
is not either. Asserted on the modules loaded in a fresh interpreter, never on timings.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.integration.fleet_support import free_port


def test_quiet_fleet_scan_of_addresses_imports_neither_rich_nor_dnspython(
    tmp_path: Path,
) -> None:
    targets = tmp_path / "targets.txt"
    targets.write_text(f"imaps://127.0.0.1:{free_port()}\n")  # refused: nothing listens there
    argv = [
        "scan",
        "--targets",
        str(targets),
        "--quiet",
        "--db",
        f"sqlite:///{tmp_path / 'fleet.db'}",
    ]
    code = (
        "import json, sys\n"
        "from vedette.cli import main\n"
        f"status = main({argv!r})\n"
        "sys.stderr.write(json.dumps([status, sorted(sys.modules)]) + '\\n')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    status, modules = json.loads(proc.stderr.strip().splitlines()[-1])
    assert status == 0
    top = {m.split(".")[0] for m in modules}
    assert "sqlalchemy" in top  # the scan did run and store its result
    assert "rich" not in top
    assert "dns" not in top
