"""The `cursor-agent` tool: the Cursor CLI run headless (`cursor-agent -p`), its stream-json turned
into events."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from ...errors import TaskFailed
from ...model import FailureClass
from .._api import TaskContext
from .._cli import CliAdapter, RunState, prompt_action
from .._process import ProcessResult
from .._values import as_dict, as_dicts, as_str, clip, invalid, last_line, strings_field, text_field

# Checked before auth: a rate-limit notice may mention the key that hit the limit.
_QUOTA: Final = re.compile(
    r"usage limit|rate[ _-]?limit|\b429\b|too many requests|resource[ _]exhausted|quota", re.I
)
_AUTH: Final = re.compile(
    r"workspace trust required|authentication required|press any key to sign in|cursor_api_key"
    r"|not logged in|\b401\b|unauthori[sz]ed|invalid api key",
    re.I,
)
# Inputs of PROMPT_SCHEMA the Cursor CLI has no flag for: left out of its schema and refused
# rather than ignored, since a run that silently dropped `disallowed_tools` would do what the
# user forbade.
_UNSUPPORTED: Final = (
    "permission_mode",
    "allowed_tools",
    "disallowed_tools",
    "max_turns",
    "system_prompt",
)


class CursorAgentPlugin(CliAdapter):
    """Action `prompt` runs `cursor-agent -p --output-format stream-json --force --trust ...`.

    Inputs: `prompt` (required), `model`, `resume` (a chat id), `cwd` (inside the workspace),
    `extra_args`; the other PROMPT_SCHEMA inputs have no Cursor flag and fail the task as
    `invalid_input`. Agent settings: `binary`, `model` (default model), `extra_args`, `env`.
    The secret CURSOR_API_KEY reaches the tool as the environment variable of that name.

    Events: "status" for the session start, "thinking" per reasoning block, "log" per
    assistant message, "tool_call" when a tool call starts and again when it completes (with
    `success`, and `exit_code` for shell calls).

    Outputs: `result` (the final text), `session_id` (the chat id, for `resume`), `usage`
    (empty: the CLI reports none), `cost_usd` and `num_turns` (None).
    """

    name = "cursor-agent"
    binary = "cursor-agent"
    actions = (prompt_action(without=_UNSUPPORTED),)
    secret_env = {"CURSOR_API_KEY": "CURSOR_API_KEY"}

    def build_argv(self, ctx: TaskContext, executable: str, cwd: str) -> list[str]:
        """Raises TaskFailed (invalid_input) for malformed or unsupported inputs."""
        inputs, settings = ctx.inputs, ctx.settings
        if unsupported := [name for name in _UNSUPPORTED if inputs.get(name) is not None]:
            raise TaskFailed(
                f"cursor-agent does not support input(s) {', '.join(unsupported)}",
                failure_class=FailureClass.INVALID_INPUT,
            )
        prompt = text_field(inputs, "prompt", required=True)
        # --force lets the agent run commands without asking (nobody can answer headless);
        # --trust accepts the workspace, without which a headless run exits at once.
        argv = [executable, "-p", "--output-format", "stream-json", "--force", "--trust"]
        if model := text_field(inputs, "model") or text_field(settings, "model", source="setting"):
            argv += ["--model", model]
        if resume := text_field(inputs, "resume"):
            if resume.startswith("-"):
                raise invalid("resume", "a chat id, not an option", "input")
            argv += ["--resume", resume]
        argv += ["--workspace", cwd]
        argv += strings_field(settings, "extra_args", source="setting")
        argv += strings_field(inputs, "extra_args")
        # "--" keeps a prompt that starts with "-" from being read as an option.
        return [*argv, "--", prompt]

    def handle_event(self, event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
        kind, subtype = event.get("type"), event.get("subtype")
        if kind != "thinking":
            _flush_thinking(state, ctx)
        session_id = event.get("session_id")
        if isinstance(session_id, str) and session_id:
            state.session_id = session_id
        if kind == "system" and subtype == "init":
            model = as_str(event.get("model"))
            ctx.emit(
                "status",
                f"session {state.session_id} started (model {model or 'default'})",
                session_id=state.session_id,
                model=model,
                cwd=as_str(event.get("cwd")),
                permission_mode=as_str(event.get("permissionMode")),
                api_key_source=as_str(event.get("apiKeySource")),
            )
        elif kind == "thinking":
            if subtype == "delta":
                state.thinking.append(as_str(event.get("text")))
            elif subtype == "completed":
                _flush_thinking(state, ctx)
        elif kind == "assistant":
            message = as_dict(event.get("message"))
            text = "".join(
                as_str(block.get("text"))
                for block in as_dicts(message.get("content"))
                if block.get("type") == "text"
            )
            if text:
                # The result event repeats the whole answer; until it comes, the messages so far
                # are the best answer there is.
                state.text += text
                ctx.emit("log", text)
        elif kind == "tool_call" and subtype in ("started", "completed"):
            _on_tool_call(event, subtype == "completed", state, ctx)
        elif kind == "result":
            _on_result(event, state, ctx)

    def outcome(self, state: RunState, result: ProcessResult) -> Mapping[str, Any]:
        """Success needs a result event with is_error false, and exit 0."""
        if state.result_seen and state.failure_class is None and result.exit_code == 0:
            return state.outputs()
        if state.failure_class is not None:
            raise TaskFailed(state.error, failure_class=state.failure_class)
        lines = _diagnostics(state.stderr, result.stdout_tail)
        classified = _classify(lines)
        detail = classified[1] if classified else last_line(state.stderr) or last_line(lines)
        if state.result_seen:
            message = f"cursor-agent exited with {result.exit_code}"
        else:
            message = f"stream ended without a result event (exit {result.exit_code})"
        raise TaskFailed(
            f"{message}: {detail}" if detail else message,
            failure_class=classified[0] if classified else FailureClass.TOOL_ERROR,
        )


def _flush_thinking(state: RunState, ctx: TaskContext) -> None:
    if text := "".join(state.thinking):
        ctx.emit("thinking", clip(text))
    state.thinking.clear()


def _on_tool_call(
    event: Mapping[str, Any], completed: bool, state: RunState, ctx: TaskContext
) -> None:
    # The call sits under one key naming its kind: {"shellToolCall": {"args": ..., "result": ...}}.
    tool, body = "", as_dict(None)
    for key, value in as_dict(event.get("tool_call")).items():
        if isinstance(value, Mapping):
            tool, body = key.removesuffix("ToolCall"), value
            break
    if tool == "function":  # the generic shape some tool calls use: {"function": {name, arguments}}
        tool, args = as_str(body.get("name")) or "function", body.get("arguments")
    else:
        args = body.get("args")
    call_id = as_str(event.get("call_id"))
    if not completed:
        ctx.emit(
            "tool_call",
            clip(f"{tool} {json.dumps(args, default=str)}"),
            phase="started",
            tool=tool,
            call_id=call_id,
            args=args,
        )
        return
    # The result is keyed by how it ended: success, failure/error, or rejected (not allowed).
    result = as_dict(body.get("result"))
    outcome = next(iter(result), "")
    detail = as_dict(result.get(outcome))
    exit_code = detail.get("exitCode")
    exit_code = (
        exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
    )
    success = outcome == "success" and exit_code in (None, 0)
    data: dict[str, Any] = {"phase": "completed", "tool": tool, "call_id": call_id, "args": args}
    data["success"] = success
    if exit_code is not None:
        data["exit_code"] = exit_code
    if outcome in ("rejected", "permissionDenied"):
        reason = as_str(detail.get("reason"))
        data["rejected"] = True
        data["reason"] = reason
        summary = f"{tool} rejected" + (f": {reason}" if reason else "")
        state.failure_class = state.failure_class or FailureClass.TOOL_ERROR
        if not state.error:
            state.error = (
                f"cursor-agent was not allowed to run a {tool} tool call"
                + (f" ({reason})" if reason else "")
                + "; check the deny rules in its permissions config"
            )
    elif success:
        summary = f"{tool} ok"
    else:
        error = as_str(detail.get("errorMessage")) or as_str(detail.get("stderr"))
        summary = f"{tool} failed" + (f" (exit {exit_code})" if exit_code is not None else "")
        if error:
            summary += f": {error}"
    ctx.emit("tool_call", clip(summary), **data)


def _on_result(event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
    state.result_seen = True
    if isinstance(text := event.get("result"), str):
        state.text = text
    usage = as_dict(event.get("usage"))
    if counts := {k: v for k, v in usage.items() if isinstance(v, int) and not isinstance(v, bool)}:
        state.usage = dict(counts)
        ctx.emit("usage", "", scope="total", **counts)
    duration = event.get("duration_ms")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        ctx.emit("status", f"finished in {duration / 1000:.1f}s", duration_ms=duration)
    if event.get("is_error") is True or event.get("subtype") not in ("success", None):
        classified = _classify([state.text])
        state.failure_class = classified[0] if classified else FailureClass.TOOL_ERROR
        state.error = f"cursor-agent reported an error: {state.text or event.get('subtype')}"


def _diagnostics(stderr: Sequence[str], stdout_tail: str) -> list[str]:
    """What the tool said besides its events: non-JSON stdout lines (the sign-in prompt comes
    there), then stderr, so that a search from the end finds the error message first."""
    noise = [line for line in stdout_tail.splitlines() if not line.lstrip().startswith("{")]
    return [line.strip() for line in [*noise, *stderr] if line.strip()]


def _classify(lines: Sequence[str]) -> tuple[FailureClass, str] | None:
    """Quota or auth, judged by the messages, with the line that tells."""
    for pattern, failure_class in ((_QUOTA, FailureClass.QUOTA), (_AUTH, FailureClass.AUTH)):
        for line in reversed(lines):
            if pattern.search(line):
                return failure_class, line
    return None
