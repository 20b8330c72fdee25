"""The `gemini-cli` tool: Gemini CLI run headless (`gemini -p`), its stream turned into events."""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from ...errors import TaskFailed
from ...model import FailureClass
from .._api import TaskContext
from .._cli import CliAdapter, RunState, prompt_action
from .._process import ProcessResult
from .._values import as_dict, as_dicts, as_str, clip, last_line, strings_field, text_field

# Exit codes Gemini CLI documents for headless runs (1 is "general or API error").
_EXIT_CODES: Final[Mapping[int, tuple[FailureClass, str]]] = {
    41: (FailureClass.AUTH, "authentication failed"),
    42: (FailureClass.INVALID_INPUT, "input rejected"),
    44: (FailureClass.TOOL_ERROR, "sandbox error"),
    52: (FailureClass.TOOL_ERROR, "configuration error"),
    53: (FailureClass.TOOL_ERROR, "turn limit reached"),
    54: (FailureClass.TOOL_ERROR, "fatal tool error"),
    55: (
        FailureClass.INVALID_INPUT,
        "refused the untrusted folder (PHOTON trusts the task's workspace unless the tool's env"
        " sets GEMINI_CLI_TRUST_WORKSPACE=false or GEMINI_RESTRICTED_MODE=true)",
    ),
}
# An API error ends the CLI with the HTTP status as its exit code, cut to a byte (401 -> 145).
_HTTP_EXITS: Final = {
    status % 256: status for status in (400, 401, 403, 404, 429, *range(500, 505))
}
_QUOTA: Final = re.compile(
    r"\b429\b|quota|resource[ _]exhausted|rate[ _-]?limit|too many requests", re.I
)
_UNAVAILABLE: Final = re.compile(r"\b5\d\d\b|overloaded|unavailable", re.I)
_RETRY_DELAY: Final = re.compile(r"retry (?:in|after) (\d+(?:\.\d+)?)\s*s\b", re.I)
# The CLI's notice that it will retry a model call ("Attempt 1 failed ... Retrying after 5783ms").
_ATTEMPT: Final = re.compile(r"^Attempt \d+ failed\b")
_RETRYING: Final = re.compile(r"Retrying (?:after \d+ms|with backoff)")
_ANSI: Final = re.compile(r"\x1b\[[0-9;]*m")
# Inputs of PROMPT_SCHEMA Gemini CLI has no flag for: left out of its schema (the hub refuses
# them at submit) and refused here too rather than silently dropped.
_UNSUPPORTED: Final = ("allowed_tools", "disallowed_tools", "max_turns", "system_prompt")

# The environment every run gets (the agent's, the tool's and the task's env can override it).
_HEADLESS_ENV: Final = {
    # No OpenTelemetry export (the CLI reads this before its settings).
    "GEMINI_TELEMETRY_ENABLED": "false",
    # The workspace is the agent owner's choice: trust it, or headless runs exit 55 at once.
    "GEMINI_CLI_TRUST_WORKSPACE": "true",
    # The CLI starts a second Node process of itself (for a larger heap); headless that only
    # doubles the start-up time (10 s -> 20 s on a busy host). An empty value turns it back on.
    "GEMINI_CLI_NO_RELAUNCH": "true",
}
# Settings laid over the user's own for every run (only a settings file can say these).
_HEADLESS_SETTINGS: Final[Mapping[str, Mapping[str, Any]]] = {
    # No usage statistics sent to Google.
    "privacy": {"usageStatisticsEnabled": False},
    "general": {
        # One try per chat call: PHOTON's retry policy owns retries (the CLI's took minutes).
        "maxAttempts": 1,
        # No update checks or self-updates.
        "enableAutoUpdate": False,
        "enableAutoUpdateNotification": False,
    },
}
_AUTH_API_KEY: Final = "gemini-api-key"


class GeminiCliPlugin(CliAdapter):
    """Action `prompt` runs `gemini -p <prompt> --output-format stream-json ...`.

    Inputs: `prompt` (required), `cwd`, `model`, `permission_mode` (Gemini's approval mode:
    default, auto_edit, yolo, plan), `resume` (latest, an index or a session id), `extra_args`;
    `allowed_tools`, `disallowed_tools`, `max_turns` and `system_prompt` are refused as
    invalid_input. Agent settings: `binary`, `model`, `approval_mode` (the default for
    `permission_mode`; without it the tool's own default applies), `extra_args`, `env`.
    Secrets GEMINI_API_KEY / GOOGLE_API_KEY reach the tool as environment variables.

    Outputs: `result` (the assistant's text, turns separated by a blank line), `session_id`,
    `usage` (token counts), `cost_usd` (always None: the tool reports none), `num_turns` (None).

    Each run is headless and quiet: the workspace trusted, telemetry, usage statistics and
    update checks off, and the CLI's own retries stopped at their first notice so PHOTON's
    retry policy decides (see `environment`).
    """

    name = "gemini-cli"
    binary = "gemini"
    actions = (prompt_action(without=_UNSUPPORTED),)
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
        delta = event.get("delta") is True
        if not (kind == "message" and delta):
            _end_line(state, ctx)
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
                # Deltas are pieces of one reply; a tool call between them ends a turn.
                if state.turn_break and state.text:
                    state.text += "\n\n"
                state.turn_break = False
                state.text += content
                if delta:  # pieces of lines: each line is logged once it ends
                    *ended, state.partial_line = (state.partial_line + content).split("\n")
                    for line in ended:
                        ctx.emit("log", line)
                else:
                    ctx.emit("log", content)
        elif kind == "tool_use":
            state.turn_break = True
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
            state.turn_break = True
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

    def environment(self, ctx: TaskContext) -> dict[str, str]:
        """The agent's environment with _HEADLESS_ENV under it, and GEMINI_CLI_HOME pointing at
        PHOTON's Gemini home for this user (see `headless_home`)."""
        env = {**_HEADLESS_ENV, **super().environment(ctx)}
        try:
            home, problem = headless_home(env)
        except OSError as exc:
            raise TaskFailed(
                f"gemini-cli: cannot prepare PHOTON's Gemini home: {exc}",
                failure_class=FailureClass.TOOL_ERROR,
            ) from exc
        if problem:
            ctx.emit("log", f"gemini-cli: {problem}", severity="warning")
        env["GEMINI_CLI_HOME"] = str(home)
        return env

    def handle_stderr(self, line: str, state: RunState, ctx: TaskContext) -> None:
        """The CLI announces each retry of a model call on stderr, then waits (seconds to
        minutes). Stop it there: the failure goes to PHOTON's retry policy."""
        if not _RETRYING.search(line):
            return
        start = next(
            (i for i in range(len(state.stderr) - 1, -1, -1) if _ATTEMPT.match(state.stderr[i])),
            len(state.stderr) - 1,
        )
        notice = " ".join(text.strip() for text in state.stderr[start:])
        raise _api_failure(notice, status=_status_in(notice)) or TaskFailed(
            _join("gemini retried a failed model call; stopped it", clip(notice)),
            failure_class=FailureClass.TOOL_ERROR,
        )

    def outcome(self, state: RunState, result: ProcessResult) -> Mapping[str, Any]:
        """Success needs a result event with status "success" and exit 0."""
        code = result.exit_code
        if state.result_seen and state.failure_class is None and code == 0:
            return state.outputs()
        if code in _EXIT_CODES:
            failure_class, reason = _EXIT_CODES[code]
            raise TaskFailed(
                _join(f"gemini {reason} (exit {code})", _stderr_error(state.stderr) or state.error),
                failure_class=failure_class,
            )
        detail = state.error or _stderr_error(state.stderr)
        status = _status_in(state.error) or _HTTP_EXITS.get(code)
        if failed := _api_failure(detail, status=status):
            raise failed
        if not state.result_seen:
            raise TaskFailed(
                _join(f"stream ended without a result event (exit {code})", detail),
                failure_class=FailureClass.TOOL_ERROR,
            )
        raise TaskFailed(_join(f"gemini failed (exit {code})", detail))


def _end_line(state: RunState, ctx: TaskContext) -> None:
    """Log the reply's line held so far: the reply has stopped there (a tool call, its end)."""
    if state.partial_line:
        ctx.emit("log", state.partial_line)
        state.partial_line = ""


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


# -- API errors: the provider's JSON inside the CLI's messages, or the status it exited with ----


def _google_error(text: str) -> Mapping[str, Any]:
    """The `error` object of the first Google error JSON in `text`, else {}."""
    start = text.find('{"error"')
    if start < 0:
        return {}
    try:
        value, _ = json.JSONDecoder().raw_decode(text, start)
    except ValueError:
        return {}
    return as_dict(as_dict(value).get("error"))


def _status_in(text: str) -> int | None:
    """The HTTP status a message names: its Google error's code, or "with status 503"."""
    code = _google_error(text).get("code")
    if isinstance(code, int) and not isinstance(code, bool):
        return code
    found = re.search(r"\bstatus (\d{3})\b", text)
    return int(found.group(1)) if found else None


def _api_failure(text: str, *, status: int | None) -> TaskFailed | None:
    """The failure for a Gemini API error (`status` from the message or the exit code; without
    one, the words of the message decide), None when it is not recognisably one."""
    error = _google_error(text)
    message = clip(as_str(error.get("message")) or _ANSI.sub("", text).strip())
    reasons = {as_str(d.get("reason")) for d in as_dicts(error.get("details"))}
    label = " ".join(str(p) for p in (status, as_str(error.get("status"))) if p)
    http = f" (HTTP {label})" if label else ""
    if status in (401, 403) or "API_KEY_INVALID" in reasons:
        return TaskFailed(
            f"gemini authentication failed{http}: {message}", failure_class=FailureClass.AUTH
        )
    if status is None:
        unavailable = bool(_UNAVAILABLE.search(text))
        quota = not unavailable and bool(_QUOTA.search(text))
    else:
        unavailable, quota = 500 <= status < 600, status == 429
    if quota:
        delay = _retry_delay(error) or _retry_delay_in(text)
        return TaskFailed(
            f"gemini hit a quota or rate limit{http}: {message}",
            failure_class=FailureClass.QUOTA,
            retry_at=time.time() + delay if delay is not None else None,
        )
    if unavailable:
        return TaskFailed(
            f"gemini API unavailable{http}: {message}", failure_class=FailureClass.TOOL_ERROR
        )
    return None


def _retry_delay(error: Mapping[str, Any]) -> float | None:
    """Seconds from a RetryInfo detail's retryDelay ("37s", "1.5s")."""
    for detail in as_dicts(error.get("details")):
        delay = as_str(detail.get("retryDelay"))
        if re.fullmatch(r"\d+(?:\.\d+)?s", delay):
            return float(delay[:-1])
    return None


def _retry_delay_in(text: str) -> float | None:
    """Seconds from "retry after 2s" / "retry in 37.5s" in a message."""
    found = _RETRY_DELAY.search(text)
    return float(found.group(1)) if found else None


def _stderr_error(lines: Sequence[str]) -> str:
    """The CLI's own error line on stderr (colour codes removed), else its last line."""
    clean = [_ANSI.sub("", line).strip() for line in lines]
    for line in reversed(clean):
        if line.startswith("Error") or line.startswith("Gemini CLI is not running"):
            return line
    return last_line(clean)


# -- PHOTON's Gemini home: the user's ~/.gemini seen through links, its settings headless ------


def headless_settings(user: Mapping[str, Any], env: Mapping[str, str]) -> dict[str, Any]:
    """The user's settings with _HEADLESS_SETTINGS laid over them (pure).

    With GOOGLE_GEMINI_BASE_URL set the CLI picks an auth type ("gateway") that its headless
    mode then refuses, so an API key with no auth type chosen gets the API-key type."""
    merged: dict[str, Any] = {**user}
    for section, values in _HEADLESS_SETTINGS.items():
        merged[section] = {**as_dict(user.get(section)), **values}
    security = as_dict(user.get("security"))
    auth = as_dict(security.get("auth"))
    uses_google = any(
        env.get(v) == "true" for v in ("GOOGLE_GENAI_USE_VERTEXAI", "GOOGLE_GENAI_USE_GCA")
    )
    if (
        not auth.get("selectedType")
        and env.get("GOOGLE_GEMINI_BASE_URL")
        and env.get("GEMINI_API_KEY")
        and not uses_google
    ):
        merged["security"] = {**security, "auth": {**auth, "selectedType": _AUTH_API_KEY}}
    return merged


def headless_home(env: Mapping[str, str]) -> tuple[Path, str]:
    """The folder to run the CLI with as GEMINI_CLI_HOME, and a problem to report ("" if none).

    Only a user settings file can turn off usage statistics and bound retries, and the CLI
    reads it from its home. So PHOTON keeps its own home per user's Gemini folder (under the
    cache): every entry of the user's `.gemini` appears there as a link (credentials,
    sessions, memory, extensions — the CLI's writes go to the user's files as usual), except
    settings.json, which is the user's settings with headless_settings() applied. The user's
    own folder is never changed."""
    import hashlib  # at the first run: OpenSSL's set-up is not in the idle agent's memory

    home = Path(env.get("HOME") or Path.home())
    source_home = Path(env.get("GEMINI_CLI_HOME") or home)
    source = source_home / ".gemini"
    cache = Path(env.get("XDG_CACHE_HOME") or home / ".cache")
    key = hashlib.sha256(str(source).encode()).hexdigest()[:16]
    private = cache / "photon" / "gemini-cli" / key
    target = private / ".gemini"
    target.mkdir(parents=True, exist_ok=True, mode=0o700)
    _link_entries(source, target)
    user, problem = _user_settings(source / "settings.json")
    _write_json(target / "settings.json", headless_settings(user, env))
    return private, problem


def _link_entries(source: Path, target: Path) -> None:
    """Link each entry of `source` (but settings.json) into `target`; drop links whose entry
    is gone (or was a passing temporary file). Entries the CLI created in `target` stay."""
    names = {p.name for p in source.iterdir()} - {"settings.json"} if source.is_dir() else set()
    for link in target.iterdir():
        if link.is_symlink() and (link.name not in names or not link.exists()):
            link.unlink(missing_ok=True)
    for name in names:
        link = target / name
        if not link.is_symlink() and not link.exists():
            try:
                link.symlink_to(source / name)
            except FileExistsError:  # another run made it first
                pass


def _user_settings(path: Path) -> tuple[dict[str, Any], str]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, ""
    except (OSError, ValueError) as exc:
        return {}, f"{path} not used ({exc}); running with PHOTON's headless settings only"
    if not isinstance(value, dict):
        return {}, f"{path} not used (not a JSON object); running with PHOTON's settings only"
    return value, ""


def _write_json(path: Path, value: Mapping[str, Any]) -> None:
    """Write atomically: runs at the same time each replace the file whole."""
    with tempfile.NamedTemporaryFile(
        "w", dir=path.parent, prefix=".settings-", suffix=".json", delete=False
    ) as out:
        json.dump(value, out, indent=2)
    os.replace(out.name, path)
