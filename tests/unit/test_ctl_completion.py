"""`photonctl completion`: the bash script completes in a real bash; zsh gets its own."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

COMPLETE = """
source "$1"
read -r -a COMP_WORDS <<< "$2"
[[ "$2" == *" " ]] && COMP_WORDS+=("")
COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 ))
_shtab_photonctl
printf '%s\\n' "${COMPREPLY[@]}"
"""


def _script(shell: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "photon.cli.ctl", "completion", shell],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stderr) == (0, "")
    return done.stdout


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completes_commands_actions_and_flags(tmp_path: Path) -> None:
    script = tmp_path / "photonctl.bash"
    script.write_text(_script("bash"))

    def complete(line: str) -> list[str]:
        done = subprocess.run(
            ["bash", "-c", COMPLETE, "complete", str(script), line],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    assert complete("photonctl ta") == ["tasks"]
    assert complete("photonctl tasks l") == ["list", "logs"]
    assert complete("photonctl tasks list --st") == ["--state"]
    assert "--watch" in complete("photonctl agents list --")
    assert complete("photonctl completion ") == ["bash", "zsh"]


def test_zsh_gets_a_zsh_script() -> None:
    script = _script("zsh")
    assert script.startswith("#compdef photonctl")
    assert "tasks" in script and "--watch" in script


def test_an_unknown_shell_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "photon.cli.ctl", "completion", "fish"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert "invalid choice: 'fish'" in done.stderr
