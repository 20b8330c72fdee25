"""The `echo` tool, for tests and benchmarks: returns its inputs, after a sleep or failing."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Mapping
from typing import Any

from ... import __version__
from ...errors import TaskFailed
from ...model import FailureClass
from .._api import PLUGIN_API_VERSION, Action, Detection, TaskContext


class EchoPlugin:
    """Action `echo` returns the inputs as outputs.

    Inputs it reads: `log` (emit this as a log event), `sleep` (seconds to wait first), `fail`
    (fail with this message) and `fail_class` (the failure class for `fail`, default
    `tool_error`). Without them it is a no-op, as benchmarks want.
    """

    name = "echo"
    version = __version__
    api_version = PLUGIN_API_VERSION
    actions = (
        Action(
            name="echo",
            description="Return the inputs as the outputs",
            input_schema={
                "type": "object",
                "properties": {
                    "log": {"type": "string"},
                    "sleep": {"type": "number", "minimum": 0},
                    "fail": {"type": "string"},
                    "fail_class": {"enum": [c.value for c in FailureClass]},
                },
            },
        ),
    )
    default_action = "echo"
    enabled_by_default = True

    async def detect(self) -> Detection:
        return Detection(available=True, version=self.version)

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: `invalid_input` for a bad input, `cancelled` or `timeout` when the
        sleep is cut short by `ctx.cancelled` or the deadline, else the class asked for."""
        inputs = ctx.inputs
        sleep = inputs.get("sleep", 0)
        if not _is_seconds(sleep):
            raise TaskFailed(
                "input 'sleep' must be a non-negative number of seconds",
                failure_class=FailureClass.INVALID_INPUT,
            )
        fail = inputs.get("fail")
        if fail is not None and not isinstance(fail, str):
            raise TaskFailed(
                "input 'fail' must be a string", failure_class=FailureClass.INVALID_INPUT
            )
        fail_class = _failure_class(inputs.get("fail_class", FailureClass.TOOL_ERROR.value))

        if isinstance(message := inputs.get("log"), str):
            ctx.emit("log", message)
        if sleep > 0:
            await _sleep(ctx, float(sleep))
        if fail is not None:
            raise TaskFailed(fail, failure_class=fail_class)
        return dict(inputs)


def _is_seconds(value: object) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def _failure_class(value: object) -> FailureClass:
    if isinstance(value, str):
        with contextlib.suppress(ValueError):
            return FailureClass(value)
    choices = ", ".join(FailureClass)
    raise TaskFailed(
        f"input 'fail_class' must be one of: {choices}", failure_class=FailureClass.INVALID_INPUT
    )


async def _sleep(ctx: TaskContext, seconds: float) -> None:
    """Sleep, waking early with TaskFailed when the task is cancelled or its deadline passes."""
    wait = seconds
    if ctx.deadline is not None:
        wait = min(wait, max(0.0, ctx.deadline - time.monotonic()))
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(wait):
            await ctx.cancelled.wait()
    if ctx.cancelled.is_set():
        raise TaskFailed("echo: cancelled", failure_class=FailureClass.CANCELLED)
    if wait < seconds:
        raise TaskFailed("echo: deadline passed", failure_class=FailureClass.TIMEOUT)
