"""What every entry point shares: logging, the event loop, signals, errors to exit codes."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
import tomllib
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from .. import __version__
from .._log_fields import fields_of
from .._text import escape_controls
from .._utc import rfc3339
from ..errors import ConfigError, PhotonError, UsageError

EXIT_OK, EXIT_FAILURE, EXIT_USAGE = 0, 1, 2
# 128 + the signal, as a shell reports a process the signal ended: what `seq 9999 | head -1`
# gives for seq (SIGPIPE) and Ctrl-C for anything (SIGINT).
EXIT_BROKEN_PIPE, EXIT_INTERRUPTED = 141, 130


def add_version_flag(parser: argparse.ArgumentParser, *, extra: str = "") -> None:
    """`--version`: prints `PROG 0.x.y` (and `extra`, e.g. the plugin API) and exits."""
    text = f"%(prog)s {__version__}" + (f" ({extra})" if extra else "")
    parser.add_argument("--version", action="version", version=text, help="print the version")


def add_examples(parser: argparse.ArgumentParser, examples: Mapping[str, Sequence[str]]) -> None:
    """End each command's help with its examples: `examples` maps a command's words after the
    program's name (`"tasks list"`) to its example lines."""
    for path, command in _commands(parser, ()):
        if lines := examples.get(" ".join(path)):
            command.epilog = "examples:\n" + "\n".join(f"  {line}" for line in lines)
            command.formatter_class = argparse.RawDescriptionHelpFormatter


def _commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...]
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _commands(child, (*path, name))


# Log lines quote what peers sent (agents' names, hostnames, tools' messages, the hub's
# words): the formatters escape control characters in the message and its arguments, so none of
# it can forge a line or recolour a terminal, however old the data or whoever wrote it. A
# traceback keeps its lines; what its lines say is escaped.


class TextFormatter(logging.Formatter):
    """`time level logger: message`, control characters in the message escaped."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)

    def formatException(self, ei: Any) -> str:
        return escape_controls(super().formatException(ei), keep_newlines=True)

    def formatStack(self, stack_info: str) -> str:
        return escape_controls(super().formatStack(stack_info), keep_newlines=True)


class JsonFormatter(logging.Formatter):
    """One JSON object a line: an RFC 3339 `time`, `level`, `logger`, `message` (control
    characters escaped), and `agent_id` / `task_id` when the line is about one."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": rfc3339(record.created, millis=True),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": escape_controls(record.getMessage()),
            **{k: escape_controls(v) for k, v in fields_of(record).items()},
        }
        if record.exc_info:
            entry["exception"] = escape_controls(
                self.formatException(record.exc_info), keep_newlines=True
            )
        return json.dumps(entry)


def setup_logging(*, level: str = "info", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    logging.basicConfig(level=level.upper(), handlers=[handler], force=True)


def run(main: Callable[[], Coroutine[Any, Any, int]], *, debug: bool = False) -> int:
    """Run the command's coroutine; map errors to one stderr line and an exit code.

    When the reader of our output goes away (`photonctl ... | head`), the command stops at its
    next write and exits quietly with EXIT_BROKEN_PIPE.
    """
    try:
        code = _run_loop(main)
        # Output to a pipe is buffered: a reader that went away shows only when it is flushed.
        sys.stdout.flush()
    except BrokenPipeError as exc:
        _discard_output(exc, debug)
        return EXIT_BROKEN_PIPE
    except UsageError as exc:
        _fail(exc, debug)
        return EXIT_USAGE
    except PhotonError as exc:
        _fail(exc, debug)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


def _run_loop(main: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.run(main())
    return uvloop.run(main())


def _discard_output(exc: BrokenPipeError, debug: bool) -> None:
    """Point stdout and stderr at /dev/null: what is still buffered for the closed pipe would
    fail again when Python flushes it at exit, with an "Exception ignored" message."""
    if debug:
        import traceback

        with contextlib.suppress(OSError):
            traceback.print_exception(exc)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):  # ValueError: no file descriptor
                os.dup2(devnull, stream.fileno())
    finally:
        os.close(devnull)


def _fail(exc: BaseException, debug: bool) -> None:
    if debug:
        import traceback

        traceback.print_exception(exc)
    # One line, whatever the error quotes (the hub's words, a name an agent chose).
    print(f"error: {escape_controls(str(exc))}", file=sys.stderr)


async def serve_until_signalled(
    run_forever: Coroutine[Any, Any, None], stop: Callable[[], None]
) -> None:
    """Run a daemon; the first SIGTERM/SIGINT stops it gracefully, a second one forces."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(run_forever)
    signals = 0

    def on_signal() -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            logging.getLogger("photon").info("stopping (signal again to force)")
            stop()
        else:
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    try:
        await task
    except asyncio.CancelledError:
        if signals < 2:
            raise
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def raise_open_file_limit() -> tuple[int, int] | None:
    """Raise the soft RLIMIT_NOFILE to the hard limit: a hub holds a socket per agent, and 1,024
    (a common default) runs out near a thousand agents. Returns (old, new) when it was raised,
    None when there was nothing to raise or the system refused."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows has no rlimits
        return None
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # macOS reports an unlimited hard limit but refuses a soft one above OPEN_MAX (10,240).
    target = hard if hard != resource.RLIM_INFINITY else 10_240
    if soft == resource.RLIM_INFINITY or soft >= target:
        return None
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return None
    return soft, target


def load_toml(path: Path | None) -> dict[str, Any]:
    """A config file's table (empty without a file). Raises ConfigError."""
    if path is None:
        return {}
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {path} not found") from None
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    except RecursionError:  # tomllib recurses once per level of nested arrays and tables
        raise ConfigError(f"cannot read config file {path}: nested too deeply") from None


def layered(
    name: str,
    flag: Any,
    *,
    env: Mapping[str, str],
    env_name: str,
    file: Mapping[str, Any],
    default: Any,
) -> Any:
    """One setting by precedence: flag > environment > config file > default. An empty
    environment variable counts as unset."""
    if flag is not None:
        return flag
    if env.get(env_name, "").strip():
        return env[env_name]
    return file.get(name.replace("_", "-"), file.get(name, default))


def environ() -> Mapping[str, str]:
    """The process environment, read in one place (entry points pass it down)."""
    return dict(os.environ)
