"""What the noun modules share: the handler contract and the flags and lines several use."""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

from ..._text import escape_controls
from ...client import PhotonClient, TaskEvent
from ...errors import UsageError
from .._inputs import parse_inputs, read_text_file
from .._output import FORMATS

if TYPE_CHECKING:
    # What `add_subparsers()` returns: a noun module adds its parsers to it.
    Commands: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]

Handler: TypeAlias = Callable[[argparse.Namespace, PhotonClient], Awaitable[int]]
"""A command: given its parsed arguments and an open client, does the work and returns the
exit code. Each action's parser names its handler with `set_defaults(handler=...)`."""

LocalHandler: TypeAlias = Callable[
    [argparse.Namespace, Path, Mapping[str, str]], Coroutine[Any, Any, int]
]
"""A command on the client config alone (no hub): given its arguments, the config's path and
the environment. Its parser names it with `set_defaults(local=...)`."""

T = TypeVar("T")
INT32_MAX = 2**31 - 1  # counts travel in int32 fields: larger ones do not fit the request


def output_flag() -> argparse.ArgumentParser:
    """A parent parser giving a command `-o table|json|yaml|csv`."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-o", "--output", choices=FORMATS, default="table", help="table (default), json or yaml"
    )
    return parent


async def following(follow: Awaitable[T], *, noun: str, ident: Callable[[], str]) -> T:
    """Await `follow`, a task or workflow being followed; on Ctrl-C, say it is still running
    and how to cancel it (`ident()`: its id, "" while not known), then stop (exit 130)."""
    try:
        return await follow
    except asyncio.CancelledError:  # what Ctrl-C does to the command's coroutine
        if name := ident():
            command = "tasks" if noun == "task" else noun
            print(
                escape_controls(
                    f"{noun} {name} is still running; "
                    f"cancel it with: photonctl {command} cancel {name}"
                ),
                file=sys.stderr,
                flush=True,
            )
        raise


def add_input_flags(parser: argparse.ArgumentParser) -> None:
    """`--input K=V` (repeated) and `--inputs-file F`, read by `read_inputs`."""
    parser.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="K=V",
        help="an input: K=text, K:=JSON, K=@file (repeatable)",
    )
    parser.add_argument("--inputs-file", metavar="F", help="inputs from a JSON or YAML object")


def read_inputs(args: argparse.Namespace) -> dict[str, Any]:
    """The inputs `add_input_flags` flags give; raises UsageError."""
    inputs_text = None
    if args.inputs_file is not None:
        try:
            inputs_text = read_text_file(args.inputs_file)
        except UsageError as exc:
            raise UsageError(f"--inputs-file: {exc}") from None
    return parse_inputs(args.input, inputs_file_text=inputs_text)


def check_range(value: int | None, flag: str, *, low: int, high: int) -> None:
    """Raise UsageError unless `value` (when given) is between `low` and `high`."""
    if value is not None and not low <= value <= high:
        raise UsageError(f"{flag} must be between {low} and {high}, not {value}")


def budget(value: float | None, flag: str) -> float | None:
    """A dollar budget from a flag; raises UsageError unless it is a positive amount."""
    if value is not None and not (math.isfinite(value) and value > 0):
        raise UsageError(f"{flag} must be a positive number of dollars, not {value:g}")
    return value


def check_count(value: int, flag: str) -> None:
    """Raise UsageError unless `value` is a count the hub can be sent (1 or more)."""
    if value < 1:
        raise UsageError(f"{flag} must be at least 1")
    if value > INT32_MAX:
        raise UsageError(f"{flag} must be at most {INT32_MAX}")


def event_line(event: TaskEvent) -> str:
    """One task event as a log line: `12:00:01 log/stdout: hello`; a tool's control
    characters escaped (`\x1b[31m`), so its output cannot forge lines or recolour the
    terminal."""
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    stream = event.data.get("stream")
    prefix = f"{event.kind}/{stream}" if stream else event.kind
    # An event with no text (a tool's token counts) shows its plain values instead.
    message = event.message or " ".join(
        f"{k}={v}" for k, v in event.data.items() if isinstance(v, str | int | float)
    )
    return escape_controls(f"{stamp} {prefix}: {message}")
