"""The `codex` tool: the OpenAI Codex CLI run headless (`codex exec --json`), its JSONL turned into
events."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime, timedelta
from typing import Any, Final

from ...errors import TaskFailed
from ...model import FailureClass
from .._api import TaskContext
from .._cli import CliAdapter, RunState
from .._process import ProcessResult
from .._values import as_dict, as_dicts, as_str, clip, invalid, last_line, strings_field, text_field

_VERSION = re.compile(r"(\d+\.\d+\S*)")
_SANDBOXES: Final = ("read-only", "workspace-write", "danger-full-access")
# Checked before auth: OpenAI's "insufficient_quota" is a 429 that talks about the API key.
_QUOTA: Final = re.compile(r"\b429\b|rate[ _-]?limit|quota|usage limit|too many requests", re.I)
_AUTH: Final = re.compile(
    r"\b401\b|\b403\b|unauthori[sz]ed|api[ _-]?key|authenticat|not logged in|codex login", re.I
)
# An API rate limit: "Rate limit reached for gpt-5. Please try again in 3s." (also 1.5s, 20ms,
# "1 hour 5 minutes").
_TRY_AGAIN_IN: Final = re.compile(
    r"try again in ((?:\s*\d+(?:\.\d+)?\s*(?:ms|s|m|h|d|(?:day|hour|minute|second)s?)\b,?)+)",
    re.I,
)
# Each number and its unit, by the unit's spelling ("minutes" starts with "m").
_DURATION_PART: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)", re.I)
_SECONDS: Final = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}
# A plan's usage limit, in the agent's local time: "... or try again at 4:28 PM." or, further
# away, "try again at Dec 4th, 2026 12:01 AM."
_TRY_AGAIN_AT: Final = re.compile(
    r"try again at (?:([A-Z][a-z]{2}) (\d{1,2})(?:st|nd|rd|th)?, (\d{4}) )?"
    r"(\d{1,2}):(\d{2}) ?([AP]M)",
    re.I,
)
_USAGE_KEYS: Final = (
    "input_tokens",
    "cached_input_tokens",
    "cache_write_input_tokens",
    "output_tokens",
    "reasoning_output_tokens",
)
# What codex prints (on stderr, with no events) for a resume of a thread it has no record of.
_NO_THREAD: Final = re.compile(r"no rollout found for thread id (\S+)")
# Sent as `-c` overrides on every run, so the user's ~/.codex stays as it is.
_QUIET: Final = (
    "analytics.enabled=false",  # no usage analytics sent to OpenAI
    "feedback.enabled=false",  # no feedback / error report uploads
    "check_for_update_on_startup=false",  # no release check: the agent's owner installs codex
    'otel.exporter="none"',  # no OpenTelemetry log export
    'otel.trace_exporter="none"',  # ... nor traces
    'otel.metrics_exporter="none"',  # ... nor metrics
)
# Providers codex defines itself: it refuses any setting of their retries.
_BUILT_IN_PROVIDERS: Final = ("openai", "ollama", "lmstudio", "amazon-bedrock")
# A custom provider's own retries, bounded so PHOTON's retry policy owns them: a failed request
# or a dropped stream fails the attempt, and the hub retries it with its backoff.
_RETRY_BOUNDS: Final = {"request_max_retries": 0, "stream_max_retries": 0}
_CONFIG_KEY: Final = re.compile(r"[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*")
# Inputs of PROMPT_SCHEMA codex exec has no flag for. Refused rather than ignored: a run that
# silently drops `disallowed_tools` would do what the user forbade.
_UNSUPPORTED: Final = ("allowed_tools", "disallowed_tools", "max_turns", "system_prompt")


class CodexPlugin(CliAdapter):
    """Action `prompt` runs `codex exec --json --sandbox <mode> --skip-git-repo-check ...`.

    Inputs: `prompt` (required), `model`, `permission_mode` (the sandbox: read-only,
    workspace-write (default) or danger-full-access), `resume` (a thread id: a UUID), `cwd`
    (inside the workspace), `extra_args` (exec options, placed before `resume`); the other
    PROMPT_SCHEMA inputs have no codex flag and fail the task as `invalid_input`. Agent settings:
    `binary`, `model` and `permission_mode` (defaults for those inputs), `extra_args`, `env`,
    `config` (a table of codex config values, passed as `-c key=value`; a custom
    `model_provider` named there gets its retries bounded). Secrets OPENAI_API_KEY /
    CODEX_API_KEY reach the tool as the environment variables of those names.

    Events: "status" when the thread starts, "thinking" per reasoning item, "log" per agent
    message, "tool_call" for commands (started, then completed with `exit_code`), file changes,
    MCP tool calls and web searches, "usage" per completed turn.

    Outputs: `result` (the last agent message), `session_id` (the thread id, for `resume`),
    `usage` (token counts summed over turns), `num_turns`, `cost_usd` (None: codex reports none).
    """

    name = "codex"
    binary = "codex"
    version_pattern = _VERSION
    secret_env = {"OPENAI_API_KEY": "OPENAI_API_KEY", "CODEX_API_KEY": "CODEX_API_KEY"}

    def build_argv(self, ctx: TaskContext, executable: str, cwd: str) -> list[str]:
        """Raises TaskFailed (invalid_input) for malformed or unsupported inputs."""
        inputs, settings = ctx.inputs, ctx.settings
        if unsupported := [name for name in _UNSUPPORTED if inputs.get(name) is not None]:
            raise TaskFailed(
                f"codex does not support input(s) {', '.join(unsupported)}",
                failure_class=FailureClass.INVALID_INPUT,
            )
        prompt = text_field(inputs, "prompt", required=True)
        sandbox = (
            text_field(inputs, "permission_mode")
            or text_field(settings, "permission_mode", source="setting")
            or "workspace-write"
        )
        if sandbox not in _SANDBOXES:
            raise invalid("permission_mode", f"one of {', '.join(_SANDBOXES)}", "input")
        argv = [executable, "exec", "--json", "--sandbox", sandbox, "--skip-git-repo-check"]
        for override in (*_QUIET, *_config_overrides(settings.get("config"))):
            argv += ["-c", override]
        if model := text_field(inputs, "model") or text_field(settings, "model", source="setting"):
            argv += ["-m", model]
        argv += ["-C", cwd]
        argv += strings_field(settings, "extra_args", source="setting")
        argv += strings_field(inputs, "extra_args")
        if resume := text_field(inputs, "resume"):
            if resume.startswith("-"):
                raise invalid("resume", "a thread id, not an option", "input")
            # codex also takes a thread *name* here, and one it does not know silently starts a
            # new thread: only an id, so a resume either continues that thread or fails.
            if not _is_uuid(resume):
                raise invalid("resume", "a thread id (the UUID a run's session_id gives)", "input")
            # `resume` is a subcommand of exec; --sandbox and -C belong to exec, so they go first.
            argv += ["resume", resume]
        # "--" keeps a prompt that starts with "-" from being read as an option.
        return [*argv, "--", prompt]

    def environment(self, ctx: TaskContext) -> dict[str, str]:
        env = super().environment(ctx)
        # codex's errors end with a "Stack backtrace:" block when RUST_BACKTRACE is set: the
        # failure message is the one line before it.
        env["RUST_BACKTRACE"] = "0"
        # With its own OpenAI provider, codex exec reads CODEX_API_KEY and ignores
        # OPENAI_API_KEY: a key the task gives under either name must reach it.
        task_key = ctx.secrets.get("OPENAI_API_KEY") or ctx.env.get("OPENAI_API_KEY")
        if task_key and "CODEX_API_KEY" not in ctx.secrets and "CODEX_API_KEY" not in ctx.env:
            env["CODEX_API_KEY"] = task_key
        return env

    def handle_event(self, event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
        kind = event.get("type")
        if kind == "thread.started":
            state.session_id = as_str(event.get("thread_id")) or state.session_id
            ctx.emit("status", f"thread {state.session_id} started", session_id=state.session_id)
        elif kind in ("item.started", "item.updated", "item.completed"):
            _on_item(as_str(kind).removeprefix("item."), as_dict(event.get("item")), state, ctx)
        elif kind == "turn.completed":
            state.result_seen = True
            state.num_turns = (state.num_turns or 0) + 1
            usage = as_dict(event.get("usage"))
            counts = {
                key: usage[key]
                for key in _USAGE_KEYS
                if isinstance(usage.get(key), int) and not isinstance(usage.get(key), bool)
            }
            for key, value in counts.items():
                state.usage[key] = state.usage.get(key, 0) + value
            if counts:
                ctx.emit("usage", "", scope="turn", **counts)
        elif kind == "turn.failed":
            message = as_str(as_dict(event.get("error")).get("message")) or "turn failed"
            classified = _classify(message)
            state.failure_class = classified[0] if classified else FailureClass.TOOL_ERROR
            state.retry_at = classified[1] if classified else None
            state.error = f"codex turn failed: {_api_message(message)}"
        elif kind == "error":
            # Also sent for problems codex recovers from (reconnects): the outcome decides.
            message = as_str(event.get("message"))
            state.error = message or state.error
            ctx.emit("log", message, level="error")

    def outcome(self, state: RunState, result: ProcessResult) -> Mapping[str, Any]:
        """Success needs turn.completed, no turn.failed, and exit 0."""
        if state.failure_class is not None:
            raise TaskFailed(
                state.error, failure_class=state.failure_class, retry_at=state.retry_at
            )
        if state.result_seen and result.exit_code == 0:
            return state.outputs()
        detail = state.error or last_line(state.stderr)
        if missing := _NO_THREAD.search(detail):
            raise TaskFailed(
                f"codex has no thread {missing.group(1)} to resume on this agent"
                " (threads live in the agent's CODEX_HOME)",
                failure_class=FailureClass.INVALID_INPUT,
            )
        if state.result_seen:
            message = f"codex exited with {result.exit_code}"
        else:
            message = f"stream ended without turn.completed (exit {result.exit_code})"
        classified = _classify("\n".join([*state.stderr[-5:], state.error]))
        raise TaskFailed(
            f"{message}: {detail}" if detail else message,
            failure_class=classified[0] if classified else FailureClass.TOOL_ERROR,
            retry_at=classified[1] if classified else None,
        )


def _on_item(phase: str, item: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
    kind, item_id = item.get("type"), as_str(item.get("id"))
    if kind == "agent_message" and phase == "completed":
        state.text = as_str(item.get("text"))
        ctx.emit("log", state.text)
    elif kind == "reasoning" and phase == "completed":
        if text := as_str(item.get("text")):
            ctx.emit("thinking", clip(text))
    elif kind == "command_execution" and phase != "updated":
        command = as_str(item.get("command"))
        data: dict[str, Any] = {"phase": phase, "tool": "command", "id": item_id}
        data["command"] = command
        data["status"] = as_str(item.get("status"))
        summary = command
        if phase == "completed":
            exit_code = item.get("exit_code")
            if isinstance(exit_code, int) and not isinstance(exit_code, bool):
                data["exit_code"] = exit_code
                summary = f"{command} (exit {exit_code})"
            data["success"] = data["status"] == "completed" and exit_code == 0
            data["output"] = clip(as_str(item.get("aggregated_output")))
        ctx.emit("tool_call", clip(summary), **data)
    elif kind == "file_change" and phase == "completed":
        changes = [
            {"path": as_str(c.get("path")), "kind": as_str(c.get("kind"))}
            for c in as_dicts(item.get("changes"))
        ]
        ctx.emit(
            "tool_call",
            clip(", ".join(f"{c['kind']} {c['path']}" for c in changes) or "file change"),
            phase=phase,
            tool="file_change",
            id=item_id,
            changes=changes,
            status=as_str(item.get("status")),
            success=as_str(item.get("status")) == "completed",
        )
    elif kind == "mcp_tool_call" and phase != "updated":
        tool = f"{as_str(item.get('server'))}.{as_str(item.get('tool'))}".strip(".") or "mcp"
        arguments = item.get("arguments")
        status = as_str(item.get("status"))
        data = {"phase": phase, "tool": tool, "id": item_id, "args": arguments, "status": status}
        if phase == "completed":
            data["success"] = status == "completed" and not item.get("error")
        ctx.emit("tool_call", clip(f"{tool} {json.dumps(arguments, default=str)}"), **data)
    elif kind == "web_search" and phase == "completed":
        query = as_str(item.get("query"))
        ctx.emit(
            "tool_call",
            clip(f"web search {query}"),
            phase=phase,
            tool="web_search",
            id=item_id,
            query=query,
        )
    elif kind == "todo_list":
        items = [
            {"text": as_str(i.get("text")), "completed": i.get("completed") is True}
            for i in as_dicts(item.get("items"))
        ]
        done = sum(1 for i in items if i["completed"])
        ctx.emit("status", f"plan: {done}/{len(items)} done", id=item_id, todo=items)
    elif kind == "error" and phase == "completed":
        ctx.emit("log", as_str(item.get("message")), level="warning")


def _classify(text: str) -> tuple[FailureClass, float | None] | None:
    """Quota (with the reset time when the message gives one) or auth, judged by the message."""
    if _QUOTA.search(text):
        return FailureClass.QUOTA, reset_time(text)
    if _AUTH.search(text):
        return FailureClass.AUTH, None
    return None


def reset_time(text: str) -> float | None:
    """When the quota resets, from "try again in 3s" or "try again at 4:28 PM"; None if the
    message does not say."""
    if match := _TRY_AGAIN_IN.search(text):
        seconds = sum(
            float(n) * _SECONDS[unit.lower()] for n, unit in _DURATION_PART.findall(match.group(1))
        )
        return time.time() + seconds
    if match := _TRY_AGAIN_AT.search(text):
        month, day, year, hour, minute, half = match.groups()
        clock = f"{int(hour) % 12 + (12 if half.upper() == 'PM' else 0)}:{minute}"
        now = datetime.now().astimezone()
        if month:
            try:
                when = datetime.strptime(f"{month} {day} {year} {clock}", "%b %d %Y %H:%M")
            except ValueError:
                return None
            return when.astimezone().timestamp()
        at = datetime.strptime(clock, "%H:%M").time()
        when = datetime.combine(now.date(), at, tzinfo=now.tzinfo)
        # Only the clock time: today's, or tomorrow's once today's has passed (codex shows the
        # minute, so one that just began is still today's).
        if when < now - timedelta(minutes=1):
            when += timedelta(days=1)
        return when.timestamp()
    return None


def _api_message(message: str) -> str:
    """codex passes some API errors on as the raw JSON body: its message and code instead."""
    try:
        body = json.loads(message)
    except ValueError:
        return message
    error = as_dict(as_dict(body).get("error"))
    text, code = as_str(error.get("message")), as_str(error.get("code"))
    if not text:
        return message
    return f"{text} ({code})" if code else text


def _config_overrides(config: Any) -> list[str]:
    """`key=<TOML value>` for each value of the `config` setting (nested tables become dotted
    keys), plus the retry bounds of the custom provider it chooses."""
    if config is None:
        return []
    if not isinstance(config, Mapping):
        raise invalid("config", "a table of codex config values", "setting")
    values = dict(_flatten(config, ""))
    provider = values.get("model_provider")
    if isinstance(provider, str) and provider not in _BUILT_IN_PROVIDERS:
        for key, bound in _RETRY_BOUNDS.items():
            values.setdefault(f"model_providers.{provider}.{key}", bound)
    return [f"{key}={_toml(key, value)}" for key, value in values.items()]


def _flatten(table: Mapping[str, Any], prefix: str) -> Iterator[tuple[str, Any]]:
    for name, value in table.items():
        key = f"{prefix}{name}"
        if not _CONFIG_KEY.fullmatch(key):
            raise invalid(
                "config", f"keys of letters, digits, '_' and '-' (not {key!r})", "setting"
            )
        if isinstance(value, Mapping):
            yield from _flatten(value, f"{key}.")
        else:
            yield key, value


def _toml(key: str, value: Any) -> str:
    """The TOML spelling of a config value (JSON's strings and numbers are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float | str):
        if isinstance(value, str) and "\x00" in value:
            raise invalid(f"config.{key}", "a string without NUL bytes", "setting")
        return json.dumps(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml(key, item) for item in value) + "]"
    raise invalid(f"config.{key}", "a string, number, boolean, list or table", "setting")


def _is_uuid(text: str) -> bool:
    try:
        uuid.UUID(text)
    except ValueError:
        return False
    return True
