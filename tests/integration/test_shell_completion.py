"""``vedette --print-completion bash``: the script a real bash completes vedette's commands,
options and choices with (bash itself is the independent implementation here)."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from tests.cli import run_vedette
from tests.tools import require_program


def _complete(script: Path, line: str) -> list[str]:
    """What bash offers after ``line`` (the words typed so far; a trailing space starts a new
    word), calling the function the script registers with ``complete -F``."""
    bash = require_program("bash")
    words = shlex.split(line) + ([""] if line.endswith(" ") else [])
    array = " ".join(shlex.quote(w) for w in words)
    program = (
        f"source {shlex.quote(str(script))}\n"
        f"COMP_WORDS=({array}); COMP_CWORD={len(words) - 1}\n"
        f"COMP_LINE={shlex.quote(line)}; COMP_POINT=${{#COMP_LINE}}\n"
        f"_shtab_vedette vedette {shlex.quote(words[-1])} {shlex.quote(words[-2])}\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    out = subprocess.run(
        [bash, "--norc", "--noprofile", "-c", program],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return [w for w in out.stdout.splitlines() if w]


@pytest.fixture(scope="module")
def bash_script(tmp_path_factory: pytest.TempPathFactory) -> Path:
    proc = run_vedette("--print-completion", "bash")
    assert proc.returncode == 0, proc.stderr
    path = tmp_path_factory.mktemp("completion") / "vedette.bash"
    path.write_text(proc.stdout)
    return path


def test_bash_completes_commands_options_and_choices(bash_script: Path) -> None:
    assert _complete(bash_script, "vedette sc") == ["scan"]
    assert set(_complete(bash_script, "vedette ")) >= {"scan", "report", "cert", "ca", "demo"}
    assert "--mode" in _complete(bash_script, "vedette scan --mo")
    assert set(_complete(bash_script, "vedette scan --mode ")) == {"quick", "clients", "full"}
    assert "inspect" in _complete(bash_script, "vedette cert ")


def test_zsh_and_tcsh_scripts_and_a_wrong_shell() -> None:
    for shell in ("zsh", "tcsh"):
        proc = run_vedette("--print-completion", shell)
        assert proc.returncode == 0 and "vedette" in proc.stdout, proc.stderr
    bad = run_vedette("--print-completion", "fish")
    assert bad.returncode == 2
    assert bad.stderr == "vedette: error: --print-completion takes one shell: bash, zsh, tcsh\n"
