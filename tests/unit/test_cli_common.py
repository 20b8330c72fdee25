"""What every entry point shares: errors to exit codes, and a reader that goes away early."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from photon.cli._common import EXIT_BROKEN_PIPE, run
from photon.errors import NotFoundError, UsageError

# A command printing more than one line, run as its own process (run() rewires fds 1 and 2).
COMMAND = """
import sys
from photon.cli._common import run

async def command() -> int:
    for n in range(3):
        print(f"line {n}")
    return 0

sys.exit(run(command))
"""


@pytest.mark.parametrize("unbuffered", [True, False], ids=["unbuffered", "buffered"])
def test_a_closed_pipe_ends_the_command_quietly(unbuffered: bool) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    if unbuffered:  # the write itself fails, inside the command
        env["PYTHONUNBUFFERED"] = "1"
    # else the output is buffered and the failure shows when it is flushed, after the command
    reader, writer = os.pipe()
    os.close(reader)  # `| head` that has already gone: every write fails with EPIPE
    try:
        done = subprocess.run(
            [sys.executable, "-c", COMMAND],
            stdout=writer,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
            timeout=30,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (EXIT_BROKEN_PIPE, "")


@pytest.mark.parametrize(
    ("error", "code"),
    [(UsageError("--priority must be between 0 and 9, not 12"), 2), (NotFoundError("no"), 1)],
)
def test_errors_are_one_line_and_an_exit_code(
    error: Exception, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    async def command() -> int:
        raise error

    assert run(command) == code
    assert capsys.readouterr().err == f"error: {error}\n"


def test_the_command_gives_the_exit_code() -> None:
    async def command() -> int:
        print("done")
        return 1

    assert run(command) == 1


def test_an_empty_environment_variable_counts_as_unset() -> None:
    from photon.cli._common import layered

    def pick(env: dict[str, str], flag: object = None) -> object:
        return layered(
            "data_dir",
            flag,
            env=env,
            env_name="PHOTON_HUB_DIR",
            file={"data-dir": "f"},
            default="d",
        )

    assert pick({"PHOTON_HUB_DIR": ""}) == "f"
    assert pick({"PHOTON_HUB_DIR": "  "}) == "f"
    assert pick({"PHOTON_HUB_DIR": "/e"}) == "/e"
    assert pick({"PHOTON_HUB_DIR": "/e"}, flag="/x") == "/x"
