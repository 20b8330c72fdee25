"""The shared shape of adapters for headless AI coding CLIs that stream NDJSON events."""

from __future__ import annotations

import json
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import __version__
from ..errors import TaskFailed
from ..model import FailureClass
from ._api import PLUGIN_API_VERSION, Action, Detection, TaskContext
from ._process import ProcessResult, run_process
from ._workspace import resolve_in_workspace

PROMPT_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "cwd": {"type": "string"},
        "model": {"type": "string"},
        "permission_mode": {"type": "string"},
        "allowed_tools": {"type": "array", "items": {"type": "string"}},
        "disallowed_tools": {"type": "array", "items": {"type": "string"}},
        "max_turns": {"type": "integer", "minimum": 1},
        "resume": {"type": "string"},
        "system_prompt": {"type": "string"},
        "extra_args": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["prompt"],
    "additionalProperties": False,
}


def prompt_action(*, without: Sequence[str] = (), extra: Mapping[str, Any] | None = None) -> Action:
    """The `prompt` action taking PROMPT_SCHEMA's inputs less `without`, plus `extra`: the
    schema names exactly the inputs the adapter accepts, so the hub refuses the others at
    submit and a fallback to this tool carries over only what it can use."""
    known = PROMPT_SCHEMA["properties"]
    if missing := [name for name in without if name not in known]:
        raise ValueError(f"not inputs of PROMPT_SCHEMA: {', '.join(missing)}")
    properties = {name: rule for name, rule in known.items() if name not in without}
    schema = {**PROMPT_SCHEMA, "properties": {**properties, **(extra or {})}}
    return Action(name="prompt", description="Run one headless prompt", input_schema=schema)


def json_object(line: str) -> dict[str, Any] | None:
    """The JSON object on a stream line, or None for noise (banners, warnings, retries)."""
    text = line.strip()
    if not text.startswith("{"):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


@dataclass(slots=True, kw_only=True)
class RunState:
    """What an adapter has learned from the stream so far (mutable, one per run)."""

    session_id: str = ""
    text: str = ""
    usage: dict[str, int] = field(default_factory=dict)
    cost_usd: float | None = None
    num_turns: int | None = None
    result_seen: bool = False
    error: str = ""
    failure_class: FailureClass | None = None
    retry_at: float | None = None
    stderr: list[str] = field(default_factory=list)
    # Reasoning text streamed in deltas, held until its block ends so it becomes one event.
    thinking: list[str] = field(default_factory=list)
    # A tool ran since the last assistant text: the next text starts a new turn.
    turn_break: bool = False
    # A reply streamed in pieces: its line not ended yet, held so that each line is one event.
    partial_line: str = ""

    def outputs(self) -> dict[str, Any]:
        return {
            "result": self.text,
            "session_id": self.session_id,
            "usage": dict(self.usage),
            "cost_usd": self.cost_usd,
            "num_turns": self.num_turns,
        }


class CliAdapter(ABC):
    """Runs `binary` headless in the task's working directory and turns its stream into events.

    Subclasses give the argv, how each stream event updates the RunState, and the outcome rules
    of their tool. Per-tool agent settings: `binary` (path), `model` (default model),
    `extra_args` (list), `env` (mapping added to the tool's environment).
    """

    name: str
    binary: str
    version = __version__
    api_version = PLUGIN_API_VERSION
    default_action = "prompt"
    enabled_by_default = True
    version_args: Sequence[str] = ("--version",)
    # Picks the version out of what `version_args` prints (group 1); empty: the first line.
    version_pattern: re.Pattern[str] | None = None
    # Secret name -> environment variable the tool reads it from.
    secret_env: Mapping[str, str] = {}
    actions: Sequence[Action] = (prompt_action(),)

    def executable(self, settings: Mapping[str, Any]) -> str:
        return str(settings.get("binary") or self.binary)

    async def detect(self, *, settings: Mapping[str, Any] | None = None) -> Detection:
        """Available when the tool (the `binary` setting, else found on PATH) answers its
        version flag."""
        executable = self.executable(settings or {})
        if "\x00" in executable:  # shutil.which would raise
            return Detection(available=False, detail="the binary setting contains a NUL byte")
        found = shutil.which(executable)
        if found is None:
            return Detection(available=False, detail=f"{executable} not found")
        try:
            result = await run_process([found, *self.version_args], cwd=Path.home())
        except TaskFailed as exc:
            return Detection(available=False, detail=str(exc))
        lines = (result.stdout_tail or result.stderr_tail).strip().splitlines()
        version = lines[0] if lines else ""
        if self.version_pattern is not None and (match := self.version_pattern.search(version)):
            version = match.group(1)
        return Detection(available=result.exit_code == 0, version=version)

    @abstractmethod
    def build_argv(self, ctx: TaskContext, executable: str, cwd: str) -> list[str]:
        """The command line for this task's inputs (the prompt included)."""

    @abstractmethod
    def handle_event(self, event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
        """Update the state from one stream event and emit task events for it."""

    @abstractmethod
    def outcome(self, state: RunState, result: ProcessResult) -> Mapping[str, Any]:
        """The outputs, or raise TaskFailed classified by the tool's rules."""

    def handle_stderr(self, line: str, state: RunState, ctx: TaskContext) -> None:
        """React to one stderr line (already in `state.stderr`); raising TaskFailed stops the
        tool. The default does nothing."""
        return None

    def environment(self, ctx: TaskContext) -> dict[str, str]:
        # The tool runs on this agent as the agent's user, so it starts from the agent's env.
        # Then the tool's `env` setting, then the task's env (its secret references resolved).
        settings_env = {str(k): str(v) for k, v in ctx.settings.get("env", {}).items()}
        env = {**os.environ, **settings_env, **ctx.env}
        for secret, variable in self.secret_env.items():
            if secret in ctx.secrets:
                env[variable] = ctx.secrets[secret]
        return env

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: tool_missing, auth, quota, tool_error, timeout, cancelled,
        invalid_input (a `cwd` outside the workspace)."""
        cwd = resolve_in_workspace(ctx.workdir, str(ctx.inputs.get("cwd", ".")), field="cwd")
        argv = self.build_argv(ctx, self.executable(ctx.settings), str(cwd))
        state = RunState()

        def on_line(stream: str, line: str) -> None:
            if stream == "stderr":
                state.stderr.append(line)
                del state.stderr[:-50]
                ctx.emit("log", line, stream="stderr")
                self.handle_stderr(line, state, ctx)
                return
            event = json_object(line)
            if event is None:
                ctx.emit("log", line, stream="stdout")
            else:
                self.handle_event(event, state, ctx)

        result = await run_process(
            argv,
            cwd=cwd,
            env=self.environment(ctx),
            on_line=on_line,
            deadline=ctx.deadline,
            cancelled=ctx.cancelled,
        )
        return self.outcome(state, result)
