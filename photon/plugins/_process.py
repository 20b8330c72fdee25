"""The one process runner plugins share: own process group, streamed lines, whole-tree kill."""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ..errors import TaskFailed
from ..model import FailureClass

_TAIL_CHARS: Final = 64 * 1024
# AI tools stream one JSON document per line, and a line can carry a whole file: keep lines whole
# up to this size, split beyond it so one endless line cannot exhaust memory.
_MAX_LINE_CHARS: Final = 8 * 1024 * 1024
_READ_CHUNK: Final = 64 * 1024
# After the process group is gone, how long the pipes may stay open (held by a process that left
# the group with setsid) before we close them ourselves.
_DRAIN_SECONDS: Final = 2.0
_POLL_SECONDS: Final = 0.05
# How much of a refused argument a failure message shows.
_SHOWN_CHARS: Final = 60

_log = logging.getLogger(__name__)

LineSink = Callable[[str, str], None]
"""Receives ("stdout" | "stderr", line without its newline)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ProcessResult:
    """How a process ended, with the last ~64 KiB of each output stream."""

    exit_code: int
    stdout_tail: str
    stderr_tail: str


async def run_process(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    on_line: LineSink | None = None,
    deadline: float | None = None,
    cancelled: asyncio.Event | None = None,
    kill_grace: float = 3.0,
) -> ProcessResult:
    """Run `argv` in its own process group, streaming its output, and wait for it to exit.

    stdin is /dev/null; `env` None inherits the agent's environment. Output is decoded as UTF-8
    (invalid bytes replaced) and passed to `on_line` line by line, in order per stream. A negative
    exit code means the process was killed by that signal.

    When the process exits, anything it left running in its group is killed too. When `deadline`
    (a `time.monotonic()` value) passes or `cancelled` is set, the whole group gets SIGTERM, then
    SIGKILL after `kill_grace` seconds, and TaskFailed is raised with failure class `timeout` or
    `cancelled`. If this coroutine is cancelled, the group is killed the same way and
    CancelledError propagates; a second cancellation during the grace period kills at once.

    Raises TaskFailed `tool_missing` when the executable is missing or not executable,
    `invalid_input` for a string the OS cannot take as it is — a NUL byte in an argument, in an
    environment variable's name or value or in `cwd`, or a variable name that is empty or holds
    "=" — before anything starts, `tool_error` when `cwd` is not usable or the process cannot
    be started otherwise; ValueError for an empty `argv`. An exception raised by `on_line` kills
    the group and propagates.
    """
    if not argv:
        raise ValueError("argv must not be empty")
    _check_os_strings(argv, cwd=cwd, env=env)
    program = argv[0]
    if cancelled is not None and cancelled.is_set():
        raise TaskFailed(f"{program}: cancelled", failure_class=FailureClass.CANCELLED)
    if deadline is not None and time.monotonic() >= deadline:
        raise TaskFailed(f"{program}: deadline passed", failure_class=FailureClass.TIMEOUT)

    transport, protocol = await _spawn(argv, cwd=cwd, env=env)
    pgid = transport.get_pid()
    streams = [
        (_LineReader("stdout", on_line), protocol.stdout),
        (_LineReader("stderr", on_line), protocol.stderr),
    ]
    try:
        async with asyncio.TaskGroup() as tg:
            readers = {tg.create_task(line_reader.pump(s)) for line_reader, s in streams if s}
            stop = await _wait_exit_or_stop(protocol.exited, deadline, cancelled)
            # On a normal exit this only catches what the process left behind in its group.
            await _terminate_group(pgid, kill_grace)
            _, pending = await asyncio.wait(readers, timeout=_DRAIN_SECONDS)
            if pending:
                transport.close()  # the readers see EOF and finish with what is buffered
    except BaseException as exc:
        await _terminate_group(pgid, kill_grace)
        if isinstance(exc, BaseExceptionGroup) and len(exc.exceptions) == 1:
            # Only on_line can fail a reader; hand its error back as the caller raised it.
            raise exc.exceptions[0] from None
        raise
    finally:
        transport.close()

    if stop is FailureClass.TIMEOUT:
        raise TaskFailed(f"{program}: deadline passed; process group killed", failure_class=stop)
    if stop is FailureClass.CANCELLED:
        raise TaskFailed(f"{program}: cancelled; process group killed", failure_class=stop)
    exit_code = transport.get_returncode()
    assert exit_code is not None  # set before `exited` was
    return ProcessResult(
        exit_code=exit_code,
        stdout_tail=streams[0][0].tail,
        stderr_tail=streams[1][0].tail,
    )


def _check_os_strings(argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None) -> None:
    """Refuse what the OS would silently change: C strings end at a NUL byte, and `A=B` + `c`
    becomes the variable `A`. asyncio's own loop refuses these too, but uvloop (the agent's
    loop) cuts an argument at its NUL and starts the program anyway (`echo a\\0b` ran
    `echo a`), so the check cannot be left to the loop."""
    if "\x00" in argv[0]:
        raise _os_refusal(f"program {_shown(argv[0])} contains a NUL byte")
    program = argv[0]
    for i, arg in enumerate(argv[1:], start=1):
        if "\x00" in arg:
            # Not shown: an argument may be long, or carry what should have been a secret.
            raise _os_refusal(f"{program}: argument {i} contains a NUL byte")
    if "\x00" in str(cwd):
        raise _os_refusal(f"{program}: working directory {str(cwd)!r} contains a NUL byte")
    for name, value in (env or {}).items():
        if (problem := _name_problem(name)) is not None:
            raise _os_refusal(f"{program}: environment variable name {_shown(name)} {problem}")
        if "\x00" in value:  # not shown: it may be a secret
            raise _os_refusal(f"{program}: environment variable {name!r} contains a NUL byte")


def _name_problem(name: str) -> str | None:
    if not name:
        return "must not be empty"
    if "\x00" in name:
        return "contains a NUL byte"
    if "=" in name:
        return "must not contain '='"
    return None


def _shown(text: str) -> str:
    return repr(text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…")


def _os_refusal(message: str) -> TaskFailed:
    return TaskFailed(message, failure_class=FailureClass.INVALID_INPUT)


class _Protocol(asyncio.subprocess.SubprocessStreamProtocol):
    """The stream protocol create_subprocess_exec uses, plus an event for the process's exit.

    Process.wait() also waits for the pipes to close, which a leftover grandchild can delay
    forever; we need to know when the process itself is gone.
    """

    def __init__(self, *, limit: int, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(limit, loop)
        self.exited = asyncio.Event()

    def process_exited(self) -> None:
        super().process_exited()
        self.exited.set()


async def _spawn(
    argv: Sequence[str], *, cwd: Path, env: Mapping[str, str] | None
) -> tuple[asyncio.SubprocessTransport, _Protocol]:
    loop = asyncio.get_running_loop()
    program = argv[0]
    try:
        transport, protocol = await loop.subprocess_exec(
            lambda: _Protocol(limit=_READ_CHUNK, loop=loop),
            *argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        raise _start_failure(exc, program=program, cwd=cwd) from exc
    except ValueError as exc:  # e.g. a NUL byte in an argument
        raise TaskFailed(
            f"{program}: cannot start: {exc}", failure_class=FailureClass.INVALID_INPUT
        ) from exc
    return transport, protocol


def _start_failure(exc: OSError, *, program: str, cwd: Path) -> TaskFailed:
    """Classify why a process could not be started."""
    if isinstance(exc, FileNotFoundError | PermissionError | NotADirectoryError):
        # asyncio's own loop names the directory when chdir failed; uvloop does not.
        if exc.filename == cwd or not os.path.isdir(cwd):
            return TaskFailed(
                f"working directory {cwd}: {exc.strerror}", failure_class=FailureClass.TOOL_ERROR
            )
        what = "not executable" if isinstance(exc, PermissionError) else "not found"
        return TaskFailed(f"{program}: {what}", failure_class=FailureClass.TOOL_MISSING)
    return TaskFailed(f"{program}: cannot start: {exc}", failure_class=FailureClass.TOOL_ERROR)


async def _wait_exit_or_stop(
    exited: asyncio.Event, deadline: float | None, cancelled: asyncio.Event | None
) -> FailureClass | None:
    """Wait for the process to exit (None), the deadline (TIMEOUT) or `cancelled` (CANCELLED)."""
    timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
    async with asyncio.TaskGroup() as tg:
        waits = {tg.create_task(exited.wait())}
        if cancelled is not None:
            waits.add(tg.create_task(cancelled.wait()))
        _, pending = await asyncio.wait(waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
    if exited.is_set():
        return None
    if cancelled is not None and cancelled.is_set():
        return FailureClass.CANCELLED
    return FailureClass.TIMEOUT


async def _terminate_group(pgid: int, grace: float) -> None:
    """SIGTERM the process group, SIGKILL it after `grace` s (at once if cancelled meanwhile)."""
    if not _signal_group(pgid, signal.SIGTERM):
        return
    gone = False
    try:
        gone = await _group_gone(pgid, grace)
    finally:
        if not gone:
            _signal_group(pgid, signal.SIGKILL)


async def _group_gone(pgid: int, grace: float) -> bool:
    """Poll until the group is empty (True) or `grace` seconds pass (False)."""
    # The kernel offers no event for "process group empty", so poll.
    end = time.monotonic() + grace
    while _signal_group(pgid, 0):
        if time.monotonic() >= end:
            return False
        await asyncio.sleep(_POLL_SECONDS)
    return True


def _signal_group(pgid: int, sig: int) -> bool:
    """Send `sig` to the group; False if the group no longer exists (or is out of reach)."""
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        return False
    except PermissionError:
        # Happens when only zombies are left (macOS) or a member changed its user id.
        _log.debug("cannot signal process group %d", pgid)
        return False
    return True


class _LineReader:
    """Decodes one output stream, splits it into lines and keeps its tail."""

    def __init__(self, stream: str, on_line: LineSink | None) -> None:
        self._stream = stream
        self._on_line = on_line
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._partial: list[str] = []
        self._partial_len = 0
        self.tail = ""

    async def pump(self, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(_READ_CHUNK):
            self._feed(self._decoder.decode(chunk))
        self._feed(self._decoder.decode(b"", final=True))
        if self._partial:
            self._emit("".join(self._partial))

    def _feed(self, text: str) -> None:
        if not text:
            return
        self.tail = (self.tail + text)[-_TAIL_CHARS:]
        if self._on_line is None:
            return
        first, *rest = text.split("\n")
        if rest:
            self._emit("".join([*self._partial, first]))
            for line in rest[:-1]:
                self._emit(line)
            first = rest[-1]
            self._partial, self._partial_len = [], 0
        if first:
            self._partial.append(first)
            self._partial_len += len(first)
            if self._partial_len > _MAX_LINE_CHARS:
                self._emit("".join(self._partial))
                self._partial, self._partial_len = [], 0

    def _emit(self, line: str) -> None:
        assert self._on_line is not None
        self._on_line(self._stream, line.removesuffix("\r"))
