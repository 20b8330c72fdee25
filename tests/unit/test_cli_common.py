"""What every entry point shares: errors to exit codes, and a reader that goes away early."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from photon.cli._common import EXIT_BROKEN_PIPE, JsonFormatter, TextFormatter, load_toml, run
from photon.errors import ConfigError, NotFoundError, UsageError

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


def _record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("bad\x1b[31m value\nforged line")
        except ValueError:
            exc_info = sys.exc_info()
    return logging.LogRecord("photon.hub", logging.INFO, __file__, 1, msg, args, exc_info)


FORGED = "build-7\n2026-01-01 12:00:00,000 INFO photon.hub: agent admin joined\x1b[2J"


def test_log_lines_escape_what_the_message_and_its_arguments_hold() -> None:
    line = TextFormatter().format(_record("agent %s connected", FORGED))
    assert line.count("\n") == 0 and "\x1b" not in line
    assert line.endswith(
        "INFO photon.hub: agent build-7\\n2026-01-01 12:00:00,000 INFO photon.hub: agent admin"
        " joined\\x1b[2J connected"
    )
    entry = json.loads(JsonFormatter().format(_record("agent %s connected", FORGED)))
    assert entry["message"] == (
        "agent build-7\\n2026-01-01 12:00:00,000 INFO photon.hub: agent admin joined\\x1b[2J"
        " connected"
    )


def test_a_traceback_keeps_its_lines_but_not_a_terminal_escape() -> None:
    text = TextFormatter().format(_record("failed", exc=True))
    assert "\x1b" not in text and "ValueError: bad\\x1b[31m value" in text
    entry = json.loads(JsonFormatter().format(_record("failed", exc=True)))
    assert "\x1b" not in entry["exception"] and "Traceback" in entry["exception"]


def test_an_error_line_escapes_what_it_quotes(capsys: pytest.CaptureFixture[str]) -> None:
    async def command() -> int:
        raise NotFoundError("agent \x1b[31mx\nforged not found")

    assert run(command) == 1
    assert capsys.readouterr().err == "error: agent \\x1b[31mx\\nforged not found\n"


def test_a_config_file_nested_too_deeply_is_one_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "[" * 5_000)
    with pytest.raises(ConfigError) as info:
        load_toml(path)
    assert str(info.value) == f"cannot read config file {path}: nested too deeply"
