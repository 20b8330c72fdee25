"""The `gemini-cli` tool: Gemini CLI run headless (`gemini -p`), its stream turned into events."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from ...errors import TaskFailed
from ...model import FailureClass
from .._api import TaskContext
from .._cli import CliAdapter, RunState
from .._process import ProcessResult
from .._values import as_dict, as_str, clip, last_line, strings_field, text_field

# Exit codes Gemini CLI documents for headless runs (1 is "general or API error").
_EXIT_CODES: Final[Mapping[int, tuple[FailureClass, str]]] = {
    41: (FailureClass.AUTH, "authentication failed"),
    42: (FailureClass.INVALID_INPUT, "input rejected"),
    44: (FailureClass.TOOL_ERROR, "sandbox error"),
    52: (FailureClass.TOOL_ERROR, "configuration error"),
    53: (FailureClass.TOOL_ERROR, "turn limit reached"),
    54: (FailureClass.TOOL_ERROR, "fatal tool error"),
}
_QUOTA: Final = re.compile(
    r"\b429\b|quota|resource[ _]exhausted|rate[ _-]?limit|too many requests", re.I
)
_RETRY_DELAY: Final = re.compile(r"retry in (\d+(?:\.\d+)?)\s*s", re.I)
# Inputs of PROMPT_SCHEMA Gemini CLI has no flag for; refused rather than silently dropped.
_UNSUPPORTED: Final = ("allowed_tools", "disallowed_tools", "max_turns", "system_prompt")


class GeminiCliPlugin(CliAdapter):
    """Action `prompt` runs `gemini -p <prompt> --output-format stream-json ...`.

    Inputs: `prompt` (required), `cwd`, `model`, `permission_mode` (Gemini's approval mode:
    default, auto_edit, yolo, plan), `resume` (latest, an index or a session id), `extra_args`;
    `allowed_tools`, `disallowed_tools`, `max_turns` and `system_prompt` are refused as
    invalid_input. Agent settings: `binary`, `model`, `approval_mode` (the default for
    `permission_mode`; without it the tool's own default applies), `extra_args`, `env`.
    Secrets GEMINI_API_KEY / GOOGLE_API_KEY reach the tool as environment variables.

    Outputs: `result` (the assistant's text), `session_id`, `usage` (token counts),
    `cost_usd` (always None: the tool reports none), `num_turns` (None).
    """

    name = "gemini-cli"
    binary = "gemini"
    secret_env = {"GEMINI_API_KEY": "GEMINI_API_KEY", "GOOGLE_API_KEY": "GOOGLE_API_KEY"}

    def build_argv(self, ctx: TaskContext, executable: str, cwd: str) -> list[str]:
        inputs, settings = ctx.inputs, ctx.settings
        for field in _UNSUPPORTED:
            if inputs.get(field) is not None:
                raise TaskFailed(
                    f"input {field!r} is not supported by gemini-cli",
                    failure_class=FailureClass.INVALID_INPUT,
                )
        prompt = text_field(inputs, "prompt", required=True)
        # The equals form keeps a prompt that starts with "-" from being read as an option.
        argv = [
            executable,
            *(["-p", prompt] if not prompt.startswith("-") else [f"--prompt={prompt}"]),
        ]
        argv += ["--output-format", "stream-json"]
        if model := text_field(inputs, "model") or text_field(settings, "model", source="setting"):
            argv += ["-m", model]
        mode = text_field(inputs, "permission_mode") or text_field(
            settings, "approval_mode", source="setting"
        )
        if mode:
            argv += ["--approval-mode", mode]
        if resume := text_field(inputs, "resume"):
            argv += ["--resume", resume]
        argv += strings_field(settings, "extra_args", source="setting")
        argv += strings_field(inputs, "extra_args")
        return argv

    def handle_event(self, event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
        session_id = event.get("session_id")
        if isinstance(session_id, str) and session_id:
            state.session_id = session_id
        kind = event.get("type")
        if kind == "init":
            model = as_str(event.get("model"))
            ctx.emit(
                "status",
                f"session {state.session_id} started (model {model or 'default'})",
                session_id=state.session_id,
                model=model,
            )
        elif kind == "message":
            content = as_str(event.get("content"))
            if event.get("role") == "assistant" and content:
                # Deltas are pieces of one reply; whole messages are appended the same way.
                state.text += content
                ctx.emit("log", content, delta=event.get("delta") is True)
        elif kind == "tool_use":
            name = as_str(event.get("tool_name"))
            parameters = event.get("parameters")
            ctx.emit(
                "tool_call",
                clip(f"{name} {json.dumps(parameters, default=str)}"),
                tool=name,
                id=as_str(event.get("tool_id")),
                input=parameters,
            )
        elif kind == "tool_result":
            is_error = event.get("status") == "error"
            text = as_str(as_dict(event.get("error")).get("message")) if is_error else ""
            ctx.emit(
                "tool_result",
                clip((text or as_str(event.get("output"))).rstrip()),
                id=as_str(event.get("tool_id")),
                is_error=is_error,
            )
        elif kind == "error":
            severity = as_str(event.get("severity")) or "error"
            message = as_str(event.get("message"))
            ctx.emit("log", message, severity=severity)
            if severity == "error" and message:
                state.error = message
        elif kind == "result":
            _on_result(event, state, ctx)

    def outcome(self, state: RunState, result: ProcessResult) -> Mapping[str, Any]:
        """Success needs a result event with status "success" and exit 0."""
        code = result.exit_code
        if state.result_seen and state.failure_class is None and code == 0:
            return state.outputs()
        detail = state.error or last_line(state.stderr)
        if code in _EXIT_CODES:
            failure_class, reason = _EXIT_CODES[code]
            raise TaskFailed(
                _join(f"gemini {reason} (exit {code})", detail), failure_class=failure_class
            )
        for text in (state.error, *reversed(state.stderr)):
            if _QUOTA.search(text):
                delay = _RETRY_DELAY.search(text)
                raise TaskFailed(
                    _join(f"gemini hit a quota or rate limit (exit {code})", text.strip()),
                    failure_class=FailureClass.QUOTA,
                    retry_at=time.time() + float(delay.group(1)) if delay else None,
                )
        if not state.result_seen:
            raise TaskFailed(
                _join(f"stream ended without a result event (exit {code})", detail),
                failure_class=FailureClass.TOOL_ERROR,
            )
        raise TaskFailed(_join(f"gemini failed (exit {code})", detail))


def _on_result(event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
    state.result_seen = True
    stats = as_dict(event.get("stats"))
    usage = {
        name: stats[key]
        for key, name in (
            ("input_tokens", "input_tokens"),
            ("output_tokens", "output_tokens"),
            ("total_tokens", "total_tokens"),
            ("cached", "cache_read_input_tokens"),
        )
        if isinstance(stats.get(key), int) and not isinstance(stats.get(key), bool)
    }
    if usage:
        state.usage = usage
        ctx.emit("usage", "", scope="total", **usage)
    status = as_str(event.get("status"))
    if status == "success":
        state.failure_class = None
        return
    state.failure_class = FailureClass.TOOL_ERROR
    message = as_str(as_dict(event.get("error")).get("message"))
    state.error = message or state.error or f"result status {status or 'missing'}"


def _join(message: str, detail: str) -> str:
    return f"{message}: {detail}" if detail else message
