"""The `shell` tool: runs a program from an argv list, or a `script` where the agent allows it.

Off unless enabled on the agent."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from ... import __version__
from ...errors import TaskFailed
from ...model import FailureClass
from .._api import PLUGIN_API_VERSION, Action, Detection, TaskContext
from .._process import run_process


class ShellPlugin:
    """Action `run` executes input `argv` in the task's workdir, with the task's env and then
    input `env` added to the agent's environment.

    Outputs: `exit_code`, and the last ~64 KiB of `stdout` and `stderr`. Each output line is
    also emitted as a "log" event with `stream` set to "stdout" or "stderr".
    """

    name = "shell"
    version = __version__
    api_version = PLUGIN_API_VERSION
    actions = (
        Action(
            name="run",
            description="Run a program given as an argv list",
            input_schema={
                "type": "object",
                "properties": {
                    "argv": {"type": "array", "items": {"type": "string"}, "minItems": 1},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["argv"],
                "additionalProperties": False,
            },
        ),
        Action(
            name="script",
            description="Run a /bin/sh script (only where the agent config sets script = true)",
            input_schema={
                "type": "object",
                "properties": {
                    "script": {"type": "string", "minLength": 1},
                    "env": {"type": "object", "additionalProperties": {"type": "string"}},
                },
                "required": ["script"],
                "additionalProperties": False,
            },
        ),
    )
    default_action = "run"
    enabled_by_default = False

    async def detect(self) -> Detection:
        return Detection(available=True, version="builtin")

    @staticmethod
    def _script_argv(ctx: TaskContext) -> list[str]:
        # Scripts are shell parsing by design, so they need a second, explicit opt-in.
        if ctx.settings.get("script") is not True:
            raise TaskFailed(
                "the script action is not enabled on this agent (set script = true under"
                " [tools.shell] in its agent.toml)",
                failure_class=FailureClass.INVALID_INPUT,
            )
        script = ctx.inputs.get("script")
        if not isinstance(script, str) or not script:
            raise _invalid("input 'script' must be a non-empty string")
        if "\x00" in script:
            raise _invalid("input 'script' contains a NUL byte")
        return ["/bin/sh", "-c", script]

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: `invalid_input` for bad inputs (a NUL byte in an argument or in `env`,
        a variable name that is empty or holds "="), `tool_missing` when the program is
        not found, `tool_error` for a non-zero exit, `timeout`/`cancelled` when the process
        group had to be killed."""
        argv = self._script_argv(ctx) if ctx.action == "script" else ctx.inputs.get("argv")
        if not (isinstance(argv, list) and argv and all(isinstance(arg, str) for arg in argv)):
            raise _invalid("input 'argv' must be a non-empty list of strings")
        if ctx.action != "script":  # the script's own NUL check names its input
            for i, arg in enumerate(argv):
                if "\x00" in arg:
                    raise _invalid(f"input 'argv' item {i} contains a NUL byte")
        extra_env = ctx.inputs.get("env")
        env: dict[str, str] | None = None
        if extra_env is not None or ctx.env:
            # The program runs on this agent, so it starts from the agent's own environment;
            # the task's env comes on top, then the `env` input.
            checked = {} if extra_env is None else _checked_env(extra_env)
            env = {**os.environ, **ctx.env, **checked}

        def on_line(stream: str, line: str) -> None:
            ctx.emit("log", line, stream=stream)

        result = await run_process(
            argv,
            cwd=ctx.workdir,
            env=env,
            on_line=on_line,
            deadline=ctx.deadline,
            cancelled=ctx.cancelled,
        )
        if result.exit_code != 0:
            last = next((ln for ln in reversed(result.stderr_tail.splitlines()) if ln.strip()), "")
            message = f"exited with {result.exit_code}"
            raise TaskFailed(
                f"{message}: {last.strip()}" if last else message,
                failure_class=FailureClass.TOOL_ERROR,
            )
        return {
            "exit_code": result.exit_code,
            "stdout": result.stdout_tail,
            "stderr": result.stderr_tail,
        }


def _checked_env(extra_env: object) -> dict[str, str]:
    """Input `env` as the OS will see it: run_process would refuse the same, but could not name
    the input."""
    if not (
        isinstance(extra_env, Mapping)
        and all(isinstance(k, str) and isinstance(v, str) for k, v in extra_env.items())
    ):
        raise _invalid("input 'env' must be a mapping of strings to strings")
    for name, value in extra_env.items():
        if not name:
            raise _invalid("input 'env' names must not be empty")
        if "\x00" in name:
            raise _invalid(f"input 'env' name {name!r} contains a NUL byte")
        if "=" in name:
            raise _invalid(f"input 'env' name {name!r} must not contain '='")
        if "\x00" in value:
            raise _invalid(f"input 'env' value of {name!r} contains a NUL byte")
    return dict(extra_env)


def _invalid(message: str) -> TaskFailed:
    return TaskFailed(message, failure_class=FailureClass.INVALID_INPUT)
