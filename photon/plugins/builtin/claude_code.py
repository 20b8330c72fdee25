"""The `claude-code` tool: Claude Code run headless (`claude -p`), its stream turned into events."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, Final

from ...errors import TaskFailed
from ...model import FailureClass
from .._api import Action, Detection, TaskContext
from .._cli import PROMPT_SCHEMA, CliAdapter, RunState
from .._process import ProcessResult
from .._values import as_dict, as_dicts, as_str, clip, invalid, last_line, strings_field, text_field

_VERSION = re.compile(r"(\d+\.\d+\S*)\s+\(Claude Code\)")
# Claude reports a rate limit as a "successful" result whose text names the limit, sometimes with
# the reset time appended as an epoch: "Claude AI usage limit reached|1767225600".
_QUOTA: Final = re.compile(r"usage limit|rate[ _-]?limit|\b429\b|quota|too many requests", re.I)
_RESET_EPOCH: Final = re.compile(r"\|\s*(\d{9,11})\b")
_AUTH: Final = re.compile(
    r"invalid (?:x-)?api[ -]key|/login|\b401\b|authenticat|unauthori[sz]ed|oauth token", re.I
)
# The CLI's own errors that no retry fixes (it prints them on stderr, or as a result's `errors`).
_UNKNOWN_SESSION: Final = re.compile(r"No conversation found with session ID|--resume requires")
_ROOT_REFUSAL: Final = re.compile(r"cannot be used with root/sudo privileges")
_ROOT_BYPASS_HELP: Final = (
    "claude refuses permission mode bypassPermissions when it runs as root: run the agent as a"
    " non-root user, or, if this host is a throw-away sandbox, set is_sandbox = true under"
    " [tools.claude-code] in agent.toml"
)
# Set in the tool's environment unless the agent's `env` setting or the task's env sets them.
QUIET_ENV: Final = {
    # No session-title or quota side calls, update checks or telemetry: a task talks to its model.
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    # A task must not replace the binary the agent detected while tasks use it.
    "DISABLE_AUTOUPDATER": "1",
    # No usage statistics about PHOTON's tasks leave the host.
    "DISABLE_TELEMETRY": "1",
    # No crash reports (which can quote task content) leave the host.
    "DISABLE_ERROR_REPORTING": "1",
    # Two quick retries (about 0.5 s and 1 s) of a transient API error keep a long session's
    # work; more belong to PHOTON's retry policy (the CLI's default is 10, about 3 minutes).
    "CLAUDE_CODE_MAX_RETRIES": "2",
    # Never the unattended mode, which retries a rate limit for up to six hours.
    "CLAUDE_CODE_RETRY_WATCHDOG": "0",
}
_SUBTYPES: Final = {
    "error_max_turns": "reached its max_turns limit",
    "error_max_budget_usd": "reached its budget",
    "error_during_execution": "failed while running",
    "success": "reported an error without a message",
}
_USAGE_KEYS: Final = (
    "input_tokens",
    "output_tokens",
    "cache_creation_input_tokens",
    "cache_read_input_tokens",
)


# PROMPT_SCHEMA and a spending cap, which the hub fills in from a task's budget.
_SCHEMA: Final[Mapping[str, Any]] = {
    **PROMPT_SCHEMA,
    "properties": {
        **PROMPT_SCHEMA["properties"],
        "max_budget_usd": {"type": "number", "exclusiveMinimum": 0},
    },
}


class ClaudeCodePlugin(CliAdapter):
    """Action `prompt` runs `claude -p --output-format stream-json --verbose ... -- <prompt>`.

    Inputs: see PROMPT_SCHEMA (`prompt` required; `resume` continues a session), and
    `max_budget_usd` (`--max-budget-usd`: the run stops once it has spent this). Agent settings:
    `binary`, `model` and `permission_mode` (defaults for the inputs of those names),
    `extra_args`, `env`, `is_sandbox` (true: the host is a throw-away sandbox, so the tool may
    bypass permissions as root; sets IS_SANDBOX=1). Secrets ANTHROPIC_API_KEY /
    ANTHROPIC_AUTH_TOKEN reach the tool as the environment variables of the same names.

    Outputs: `result` (the final text), `session_id` (from the latest event: a resumed run may
    get a new one), `usage` (token counts), `cost_usd`, `num_turns`.
    """

    name = "claude-code"
    binary = "claude"
    version_args = ("-v",)
    version_pattern = _VERSION
    actions = (Action(name="prompt", description="Run one headless prompt", input_schema=_SCHEMA),)
    secret_env = {
        "ANTHROPIC_API_KEY": "ANTHROPIC_API_KEY",
        "ANTHROPIC_AUTH_TOKEN": "ANTHROPIC_AUTH_TOKEN",
    }

    def build_argv(self, ctx: TaskContext, executable: str, cwd: str) -> list[str]:
        inputs, settings = ctx.inputs, ctx.settings
        prompt = text_field(inputs, "prompt", required=True)
        argv = [executable, "-p", "--output-format", "stream-json", "--verbose"]
        if mode := text_field(inputs, "permission_mode") or text_field(
            settings, "permission_mode", source="setting"
        ):
            argv += ["--permission-mode", mode]
        if allowed := strings_field(inputs, "allowed_tools"):
            argv += ["--allowedTools", ",".join(allowed)]
        if disallowed := strings_field(inputs, "disallowed_tools"):
            argv += ["--disallowedTools", ",".join(disallowed)]
        if model := text_field(inputs, "model") or text_field(settings, "model", source="setting"):
            argv += ["--model", model]
        if (max_turns := _count(inputs, "max_turns")) is not None:
            argv += ["--max-turns", str(max_turns)]
        if (budget := _dollars(inputs, "max_budget_usd")) is not None:
            argv += ["--max-budget-usd", f"{budget:g}"]
        if system_prompt := text_field(inputs, "system_prompt"):
            argv += ["--append-system-prompt", system_prompt]
        if resume := text_field(inputs, "resume"):
            # The equals form, as Anthropic's own SDK passes it: `--resume` takes an optional value.
            argv.append(f"--resume={resume}")
        argv += strings_field(settings, "extra_args", source="setting")
        argv += strings_field(inputs, "extra_args")
        # "--" keeps a prompt that starts with "-" from being read as an option.
        return [*argv, "--", prompt]

    async def detect(self, *, settings: Mapping[str, Any] | None = None) -> Detection:
        """Unavailable, saying why, when `is_sandbox` is not true or false."""
        try:
            _declared_sandbox(settings or {})
        except TaskFailed as exc:
            return Detection(available=False, detail=str(exc))
        return await super().detect(settings=settings)

    def environment(self, ctx: TaskContext) -> dict[str, str]:
        if "IS_SANDBOX" in ctx.env:
            raise TaskFailed(
                "a task cannot declare the host a sandbox (env IS_SANDBOX): the agent's owner"
                " does, with is_sandbox = true under [tools.claude-code] in agent.toml",
                failure_class=FailureClass.INVALID_INPUT,
            )
        env = super().environment(ctx)
        chosen = {str(k) for k in ctx.settings.get("env", {})} | set(ctx.env)
        env.update({k: v for k, v in QUIET_ENV.items() if k not in chosen})
        if _declared_sandbox(ctx.settings):
            # Only the agent owner declares the host a sandbox: Claude Code then lets
            # bypassPermissions run as root.
            env["IS_SANDBOX"] = "1"
        return env

    def handle_event(self, event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
        session_id = event.get("session_id")
        if isinstance(session_id, str) and session_id:
            state.session_id = session_id
        kind = event.get("type")
        if kind == "system" and event.get("subtype") == "api_retry":
            _on_api_retry(event, ctx, now=time.time())
        elif kind == "system" and event.get("subtype") == "init":
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
        elif kind == "assistant":
            _on_assistant(as_dict(event.get("message")), ctx)
        elif kind == "user":
            _on_tool_results(as_dict(event.get("message")), ctx)
        elif kind == "result":
            _on_result(event, state, ctx)

    def outcome(self, state: RunState, result: ProcessResult) -> Mapping[str, Any]:
        """Success needs a result event; the exit code alone decides nothing (exit 1 can still
        carry a good result, and a rate limit exits 0)."""
        if not state.result_seen:
            last = last_line(state.stderr)
            if _ROOT_REFUSAL.search(last):
                raise TaskFailed(_ROOT_BYPASS_HELP, failure_class=FailureClass.INVALID_INPUT)
            message = f"stream ended without a result event (exit {result.exit_code})"
            if last:
                message += f": {last}"
            failure_class, retry_at = _classify(last) or (FailureClass.TOOL_ERROR, None)
            raise TaskFailed(message, failure_class=failure_class, retry_at=retry_at)
        if state.failure_class is not None:
            raise TaskFailed(
                state.error, failure_class=state.failure_class, retry_at=state.retry_at
            )
        return state.outputs()


def _declared_sandbox(settings: Mapping[str, Any]) -> bool:
    """The `is_sandbox` setting; a wrong value makes the tool unusable on this agent."""
    sandbox = settings.get("is_sandbox", False)
    if not isinstance(sandbox, bool):
        raise TaskFailed(
            "claude-code: is_sandbox under [tools.claude-code] in agent.toml must be true or false",
            failure_class=FailureClass.TOOL_MISSING,
        )
    return sandbox


def _on_assistant(message: Mapping[str, Any], ctx: TaskContext) -> None:
    for block in as_dicts(message.get("content")):
        if block.get("type") == "text" and (text := as_str(block.get("text"))):
            ctx.emit("log", text)
        elif block.get("type") == "tool_use":
            name = as_str(block.get("name"))
            tool_input = block.get("input")
            ctx.emit(
                "tool_call",
                clip(f"{name} {json.dumps(tool_input, default=str)}"),
                tool=name,
                id=as_str(block.get("id")),
                input=tool_input,
            )
    if usage := _token_counts(message.get("usage")):
        # One API message can arrive as several events repeating its usage: the id lets
        # consumers count it once.
        ctx.emit("usage", "", scope="message", message_id=as_str(message.get("id")), **usage)


def _on_tool_results(message: Mapping[str, Any], ctx: TaskContext) -> None:
    for block in as_dicts(message.get("content")):
        if block.get("type") != "tool_result":
            continue
        is_error = block.get("is_error") is True
        ctx.emit(
            "tool_result",
            clip(_content_text(block.get("content")).rstrip()),
            id=as_str(block.get("tool_use_id")),
            is_error=is_error,
        )


def _on_result(event: Mapping[str, Any], state: RunState, ctx: TaskContext) -> None:
    state.result_seen = True
    state.text = as_str(event.get("result"))
    cost = event.get("total_cost_usd")
    if isinstance(cost, int | float) and not isinstance(cost, bool):
        state.cost_usd = float(cost)
        ctx.emit("cost", f"${cost:.4f}", usd=float(cost))
    if usage := _token_counts(event.get("usage")):
        state.usage = usage
        ctx.emit("usage", "", scope="total", **usage)
    turns = event.get("num_turns")
    if isinstance(turns, int) and not isinstance(turns, bool):
        state.num_turns = turns

    subtype = as_str(event.get("subtype"))
    denied = sorted(
        {as_str(d.get("tool_name")) or "?" for d in as_dicts(event.get("permission_denials"))}
    )
    state.failure_class, state.error, state.retry_at = None, "", None
    if event.get("is_error") is True or subtype != "success":
        state.error = _failure_message(event, state)
        status = event.get("api_error_status")
        classified = _classify_status(status, state.error) or _classify(state.error)
        state.failure_class, state.retry_at = classified or (FailureClass.TOOL_ERROR, None)
    elif denied:
        state.failure_class = FailureClass.TOOL_ERROR
        state.error = (
            f"permission denied for tool(s) {', '.join(denied)}; allow them with the"
            " allowed_tools or permission_mode input"
        )


def _on_api_retry(event: Mapping[str, Any], ctx: TaskContext, *, now: float) -> None:
    """The CLI is about to retry an API call. A rate limit or refused credentials end the run
    at once (raising from here stops the tool): PHOTON then waits as the API asked, or fails
    the task for good, instead of the CLI retrying on its own. Anything else is left to the
    CLI's bounded retries and reported as a status event."""
    status = event.get("error_status")
    error = as_str(event.get("error"))
    delay_ms = event.get("retry_delay_ms")
    delay = delay_ms / 1000 if isinstance(delay_ms, int | float) and delay_ms >= 0 else None
    described = f"HTTP {status}" if isinstance(status, int) else "no HTTP status"
    if status == 429 or error == "rate_limit":
        wait = f"; it asks to wait {delay:.1f}s" if delay is not None else ""
        raise TaskFailed(
            f"the Anthropic API is rate-limiting this key ({described}){wait}",
            failure_class=FailureClass.QUOTA,
            retry_at=now + delay if delay is not None else None,
        )
    if status in (401, 403) or error == "authentication_failed":
        raise TaskFailed(
            f"the Anthropic API refused the credentials ({described}): check"
            " ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN",
            failure_class=FailureClass.AUTH,
        )
    attempt, limit = event.get("attempt"), event.get("max_retries")
    ctx.emit(
        "status",
        f"API error ({described}, {error or 'unknown'}): claude retries"
        + (f" in {delay:.1f}s" if delay is not None else "")
        + (f" (retry {attempt} of {limit})" if attempt and limit else ""),
        error=error,
        error_status=status if isinstance(status, int) else None,
        attempt=attempt if isinstance(attempt, int) else None,
        retry_in=delay,
    )


def _failure_message(event: Mapping[str, Any], state: RunState) -> str:
    """What failed, in the CLI's words: the result text of an API error, else its `errors`,
    else what the subtype means."""
    if event.get("subtype") == "success" and state.text:
        return state.text
    listed = event.get("errors")
    errors = [e.strip() for e in listed if isinstance(e, str)] if isinstance(listed, list) else []
    if any(errors):
        return "; ".join(e for e in errors if e)
    subtype = as_str(event.get("subtype"))
    what = _SUBTYPES.get(subtype, f"ended with {subtype or 'an error'}")
    turns = state.num_turns
    turns_note = "" if turns is None else f" after {turns} turn{'' if turns == 1 else 's'}"
    message = f"claude {what}{turns_note}"
    return f"{message}: {state.text}" if state.text else message


def _classify_status(status: Any, text: str) -> tuple[FailureClass, float | None] | None:
    """Quota (with the reset time when the text carries one) or auth by a failed API call's
    HTTP status; None for any other (the message decides: a 400 can still be about the key)."""
    if status == 429:
        return FailureClass.QUOTA, _reset_at(text)
    if status in (401, 403):
        return FailureClass.AUTH, None
    return None


def _classify(text: str) -> tuple[FailureClass, float | None] | None:
    """Quota (with the reset time when the text carries one), auth, or an unknown session,
    judged by the message."""
    if _UNKNOWN_SESSION.search(text):
        return FailureClass.INVALID_INPUT, None
    if _QUOTA.search(text):
        return FailureClass.QUOTA, _reset_at(text)
    if _AUTH.search(text):
        return FailureClass.AUTH, None
    return None


def _reset_at(text: str) -> float | None:
    """The reset time a usage-limit message ends with (`...|1767225600`), if it has one."""
    reset = _RESET_EPOCH.search(text)
    return float(reset.group(1)) if reset else None


def _token_counts(value: Any) -> dict[str, int]:
    usage = as_dict(value)
    return {
        key: usage[key]
        for key in _USAGE_KEYS
        if isinstance(usage.get(key), int) and not isinstance(usage.get(key), bool)
    }


def _content_text(content: Any) -> str:
    """A tool result's content: a string, or a list of blocks of which the text ones count."""
    if isinstance(content, str):
        return content
    return "\n".join(as_str(b.get("text")) for b in as_dicts(content) if b.get("type") == "text")


# -- inputs: the hub does not check them against the schema, so the adapter does --------------


def _dollars(values: Mapping[str, Any], field: str) -> float | None:
    value = values.get(field)
    if value is None:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 < value < 1e9:
        raise invalid(field, "a positive number of dollars", "input")
    return float(value)


def _count(values: Mapping[str, Any], field: str) -> int | None:
    value = values.get(field)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise invalid(field, "a positive integer", "input")
    return value
