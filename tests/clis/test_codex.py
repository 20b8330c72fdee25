"""The real Codex CLI through a real hub and agent, against the OpenAI Responses stand-in.

One hub and one agent serve the module. The agent's owner points codex at the stand-in the way
a user would point it at any OpenAI-compatible endpoint — a custom `model_provider` in
`[tools.codex.config]` of agent.toml — and gives codex a CODEX_HOME of its own, so nothing
reads or writes a real ~/.codex. The scenario is a marker word in the prompt (see
standins/openai.py).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Final, NamedTuple

import pytest

from ..integration.harness import Mesh
from .matrix import record
from .meshes import new_mesh, running
from .standins.openai import (
    ESCAPE_COMMAND,
    RETRY_AFTER,
    SLOW_COMMAND,
    TOOL_COMMAND,
    OpenAIStandIn,
)

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
KEY = "sk-standin-codex"
# Only against a run that hangs (the machine may be loaded): the request counts the stand-in
# saw are what prove who retried.
HUNG: Final = 180
# A quota failure blocks codex on its agent for every task until the reset, so each quota
# scenario run side by side with the others has an agent of its own.
QUOTA_AGENTS: Final = ("quota-429", "quota-stream", "quota-usage")


@pytest.fixture(scope="module")
def standin() -> Iterator[OpenAIStandIn]:
    running = OpenAIStandIn()
    running.start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def mesh(
    cli_bin: Path, standin: OpenAIStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mesh]:
    mesh = new_mesh(tmp_path_factory, "codex")
    codex_home = mesh.root / "codex-home"
    codex_home.mkdir()
    agent_toml = f"""
[tools.codex]
binary = {json.dumps(str(cli_bin / "codex"))}
model = "gpt-5-codex"
env = {{ CODEX_HOME = {json.dumps(str(codex_home))} }}

[tools.codex.config]
model_provider = "standin"

[tools.codex.config.model_providers.standin]
name = "OpenAI stand-in"
base_url = {json.dumps(standin.url)}
env_key = "OPENAI_API_KEY"
wire_api = "responses"

# The sandbox's writable places are the workspace alone: codex also allows /tmp and $TMPDIR
# by default, where this test's directories are.
[tools.codex.config.sandbox_workspace_write]
exclude_slash_tmp = true
exclude_tmpdir_env_var = true
"""

    agents = dict.fromkeys(("codex", *QUOTA_AGENTS), agent_toml)
    with running(mesh, agents, env={"OPENAI_API_KEY": KEY}) as started:
        yield started


def run(
    mesh: Mesh, scenario: str, prompt: str, *args: str, agent: str = "codex"
) -> tuple[dict[str, Any], float]:
    """`photonctl run codex` on `agent`; the task JSON it printed and the seconds it took (a
    matrix row)."""
    started = time.monotonic()
    done = mesh.ctl(
        "run", "codex", "--agent", agent, "--input", f"prompt={prompt}", *args, "-o", "json",
        timeout=240,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert done.stdout, done.stderr
    task: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if task["state"] == "SUCCEEDED" else 1), done.stderr
    record("codex", scenario, task, seconds)
    return task, seconds


def failure(task: dict[str, Any]) -> tuple[str, str, int]:
    assert task["state"] == "FAILED", task
    return task["failure"]["failure_class"], task["failure"]["message"], task["attempt"]


def logs(mesh: Mesh, task: dict[str, Any], *, showing: str = "") -> list[str]:
    """The task's event lines (`photonctl tasks logs`), once one of them holds `showing`."""
    end = time.monotonic() + 15
    while True:
        shown = mesh.ctl("tasks", "logs", task["id"])
        assert shown.returncode == 0, shown.stderr
        lines = shown.stdout.splitlines()
        if any(showing in line for line in lines) or time.monotonic() > end:
            return lines
        time.sleep(0.5)


def test_the_agent_detects_the_real_codex(mesh: Mesh) -> None:
    shown = mesh.ctl("agents", "show", "codex", "-o", "json")
    assert shown.returncode == 0, shown.stderr
    tools = {t["name"]: t for t in json.loads(shown.stdout)["tools"]}
    # `codex --version` prints "codex-cli 0.171.0": the version is the number alone.
    assert tools["codex"]["available"], tools["codex"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", tools["codex"]["version"]), tools["codex"]


def test_plain_answer(mesh: Mesh, standin: OpenAIStandIn) -> None:
    task, _ = run(mesh, "plain", "say hello")
    assert task["state"] == "SUCCEEDED", task
    assert task["outputs"]["result"] == "turn 1: say hello"
    assert UUID.match(task["outputs"]["session_id"])
    assert task["outputs"]["num_turns"] == 1
    assert task["outputs"]["usage"] == {
        "input_tokens": 120,
        "cached_input_tokens": 20,
        "cache_write_input_tokens": 0,
        "output_tokens": 7,
        "reasoning_output_tokens": 0,
    }
    request = standin.of("plain")[-1]
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "gpt-5-codex"
    # Nothing but the model's endpoint was asked for (no model list, no WebSocket tries).
    assert standin.side_requests == []


def test_tool_round(mesh: Mesh, standin: OpenAIStandIn) -> None:
    task, _ = run(mesh, "tool", "scenario:tool run it")
    assert task["state"] == "SUCCEEDED", task
    # The answer quotes what the command printed: the CLI ran it in its sandbox and sent the
    # output back (codex wraps it in a header: "Chunk ID: ...", "Output:").
    assert task["outputs"]["result"].startswith("tool said: ")
    assert task["outputs"]["result"].endswith("\ntool-ran-42"), task["outputs"]["result"]
    lines = logs(mesh, task, showing="(exit 0)")
    calls = [line for line in lines if " tool_call: " in line]
    assert len(calls) == 2, lines  # started, then completed
    assert calls[0].endswith(f"tool_call: /bin/bash -lc '{TOOL_COMMAND}'")
    assert calls[1].endswith(f"tool_call: /bin/bash -lc '{TOOL_COMMAND}' (exit 0)")
    assert len(standin.of("tool")) == 2  # the question, then the command's output
    sent = standin.of("tool")[-1].body["input"]
    outputs = [item for item in sent if item.get("type") == "function_call_output"]
    assert outputs and "tool-ran-42" in outputs[0]["output"]


def test_the_sandbox_keeps_writes_in_the_workspace(mesh: Mesh) -> None:
    workspace = mesh.root / "agent-codex" / "workspace"
    task, _ = run(mesh, "sandbox", "scenario:escape try it")
    assert task["state"] == "SUCCEEDED", task  # the command failed, the turn did not
    assert "Read-only file system" in task["outputs"]["result"]
    lines = logs(mesh, task, showing="(exit 1)")
    # codex 0.171 sometimes ends this turn without its command_execution items (seen in one
    # run in three): when they are there, the last one is the refused write.
    calls = [line for line in lines if " tool_call: " in line]
    if calls:
        assert calls[-1].endswith(f"tool_call: /bin/bash -lc '{ESCAPE_COMMAND}' (exit 1)"), calls
    assert (workspace / "kept.txt").read_text() == "inside\n"
    assert not (workspace.parent / "escaped").exists()


def test_cancel_ends_codex_and_the_command_it_runs(mesh: Mesh) -> None:
    submitted = mesh.ctl(
        "run", "codex", "--agent", "codex", "--input", "prompt=scenario:slow wait", "--detach"
    )
    assert submitted.returncode == 0, submitted.stderr
    task_id = submitted.stdout.strip().split()[-1]
    # The sandboxed command runs in a session of its own, beyond the agent's reach by group.
    wait_until(lambda: _processes(SLOW_COMMAND), "the slow command to start")
    cancelled = mesh.ctl("tasks", "cancel", task_id)
    assert cancelled.returncode == 0, cancelled.stderr
    wait_until(lambda: not _processes(SLOW_COMMAND), "the slow command to end", timeout=30)
    wait_until(lambda: _state(mesh, task_id) == "CANCELLED", "the task to end CANCELLED")
    assert not _processes("codex exec --json --sandbox workspace-write")


def _processes(command: str) -> list[int]:
    """The pids whose command line is `command`, or contains it."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError):
            continue
        if command in cmdline and "pytest" not in cmdline:
            found.append(int(entry.name))
    return found


def _state(mesh: Mesh, task_id: str) -> str:
    shown = mesh.ctl("tasks", "show", task_id, "-o", "json")
    assert shown.returncode == 0, shown.stderr
    return str(json.loads(shown.stdout)["state"])


def wait_until(condition: Callable[[], object], what: str, timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.2)


def test_two_turn_thread(mesh: Mesh, standin: OpenAIStandIn) -> None:
    first, _ = run(mesh, "thread turn 1", "remember the word PINEAPPLE")
    assert first["state"] == "SUCCEEDED", first
    thread = first["outputs"]["session_id"]
    second, _ = run(mesh, "thread turn 2", "which word was it?", "--input", f"resume={thread}")
    assert second["state"] == "SUCCEEDED", second
    assert second["outputs"]["result"] == "turn 2: which word was it?"
    assert second["outputs"]["session_id"] == thread
    # The second request carried the first turn: its prompt and the model's answer.
    sent = json.dumps(standin.requests[-1].body["input"])
    assert "remember the word PINEAPPLE" in sent
    assert "turn 1: remember the word PINEAPPLE" in sent


def test_unknown_thread_on_resume_is_invalid_input(mesh: Mesh) -> None:
    thread = str(uuid.uuid4())
    task, _ = run(mesh, "unknown session", "hello", "--input", f"resume={thread}")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("invalid_input", 1)
    assert message == (
        f"codex has no thread {thread} to resume on this agent"
        " (threads live in the agent's CODEX_HOME)"
    )
    assert not any("backtrace" in line.lower() for line in logs(mesh, task))


def test_401_is_auth_at_once(mesh: Mesh, standin: OpenAIStandIn) -> None:
    task, seconds = run(mesh, "401", "scenario:auth401 hello")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("auth", 1)
    assert message.startswith(
        "codex turn failed: unexpected status 401 Unauthorized: Incorrect API key provided."
    )
    # One request: neither the CLI nor PHOTON tried the refused key again.
    assert len(standin.of("auth401")) == 1
    assert seconds < HUNG


def test_400_invalid_key_is_auth(mesh: Mesh, standin: OpenAIStandIn) -> None:
    task, _ = run(mesh, "400 invalid key", "scenario:badkey400 hello")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("auth", 1)
    # codex hands this one on as the raw response body; the adapter shows its message.
    assert message == "codex turn failed: Incorrect API key provided. (invalid_api_key)"
    assert len(standin.of("badkey400")) == 1


class Ran(NamedTuple):
    """One retried scenario's run, for its check."""

    mesh: Mesh
    standin: OpenAIStandIn
    task: dict[str, Any]
    seconds: float


def _429_is_quota_retried_by_photon(run: Ran) -> None:
    standin, task, seconds = run.standin, run.task, run.seconds
    failure_class, message, attempts = failure(task)
    assert failure_class == "quota"
    assert message == "codex turn failed: exceeded retry limit, last status: 429 Too Many Requests"
    # codex drops the retry-after of an HTTP 429, so PHOTON's backoff decides; each attempt
    # made one request (the CLI did not retry on its own).
    assert not task["failure"].get("retry_at")
    assert attempts == 3 and len(standin.of("quota429")) == 3
    assert seconds < HUNG


def _rate_limit_in_the_stream_gives_its_retry_time(run: Ran) -> None:
    mesh, standin, task, seconds = run.mesh, run.standin, run.task, run.seconds
    failure_class, message, attempts = failure(task)
    assert failure_class == "quota"
    assert message.endswith("Please try again in 3s.")
    assert attempts == 3 and len(standin.of("ratelimit")) == 3
    # PHOTON waited the time codex reported between attempts: seconds, not minutes.
    assert seconds >= 2 * RETRY_AFTER
    assert seconds < HUNG
    # The reset time reached the hub, which kept codex off the agent until then, each time.
    assert task["failure"]["retry_at"]
    lines = logs(mesh, task, showing="state: failed")
    waits = [line for line in lines if "failed (quota on codex@" in line]
    assert len(waits) == 2, lines


def _usage_limit_is_quota_with_its_reset_time(run: Ran) -> None:
    standin, task, seconds = run.standin, run.task, run.seconds
    failure_class, message, attempts = failure(task)
    assert failure_class == "quota"
    assert "You\u2019ve hit your usage limit" in message and "try again at" in message
    # codex gives the reset as a clock time, to the minute: a minute away at most.
    assert task["failure"]["retry_at"]
    assert attempts == 3 and len(standin.of("usagelimit")) == 3
    assert seconds < HUNG


def _overloaded_is_a_tool_error_photon_retries(run: Ran) -> None:
    standin, task, seconds = run.standin, run.task, run.seconds
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("tool_error", 3)
    assert message == (
        "codex turn failed: Selected model is at capacity. Please try a different model."
    )
    # The provider's retries are bounded to none: one request per PHOTON attempt.
    assert len(standin.of("overloaded")) == 3
    assert seconds < HUNG


def _stream_cut_is_a_tool_error_photon_retries(run: Ran) -> None:
    standin, task, seconds = run.standin, run.task, run.seconds
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("tool_error", 3)
    assert message.startswith("codex turn failed: stream disconnected before completion")
    assert len(standin.of("cut")) == 3
    assert seconds < HUNG


# The failures PHOTON retries, with its backoff between attempts: run side by side in one test
# (so the module waits for the slowest, not for their sum), each checked on its own.
RETRIED: Final[dict[str, tuple[str, Callable[[Ran], None], str]]] = {
    "429": ("scenario:quota429 hello", _429_is_quota_retried_by_photon, "quota-429"),
    "429 in stream": (
        "scenario:ratelimit hello",
        _rate_limit_in_the_stream_gives_its_retry_time,
        "quota-stream",
    ),
    "usage limit": (
        "scenario:usagelimit hello",
        _usage_limit_is_quota_with_its_reset_time,
        "quota-usage",
    ),
    "5xx overloaded": (
        "scenario:overloaded hello",
        _overloaded_is_a_tool_error_photon_retries,
        "codex",
    ),
    "stream cut": ("scenario:cut hello", _stream_cut_is_a_tool_error_photon_retries, "codex"),
}


# A quota failure blocks codex on the agent until its reset, or for a minute when codex gives
# none (docs/tasks.md), so the quota scenarios' attempts are a minute apart.
@pytest.mark.timeout(2 * HUNG)
def test_failures_photon_retries(mesh: Mesh, standin: OpenAIStandIn) -> None:
    with ThreadPoolExecutor(max_workers=len(RETRIED)) as pool:
        runs = {
            name: pool.submit(run, mesh, name, prompt, agent=agent)
            for name, (prompt, _, agent) in RETRIED.items()
        }
    wrong = []
    for name, (_, check, _) in RETRIED.items():
        try:
            check(Ran(mesh, standin, *runs[name].result()))
        except AssertionError as exc:
            wrong.append(f"{name} ({check.__name__}): {exc}")
    assert not wrong, "\n".join(wrong)


def test_codex_own_openai_provider_gets_the_tasks_key(mesh: Mesh, standin: OpenAIStandIn) -> None:
    # codex's built-in provider, pointed at the stand-in: it reads CODEX_API_KEY only, so the
    # OPENAI_API_KEY the task gives must reach it under that name too.
    overrides = ["-c", 'model_provider="openai"', "-c", f'openai_base_url="{standin.url}"']
    task, _ = run(
        mesh,
        "openai provider",
        "through the openai provider",
        "--input",
        f"extra_args:={json.dumps(overrides)}",
        "--env",
        "OPENAI_API_KEY=sk-from-the-task",
    )
    assert task["state"] == "SUCCEEDED", task
    assert task["outputs"]["result"] == "turn 1: through the openai provider"
    assert standin.requests[-1].headers["Authorization"] == "Bearer sk-from-the-task"
    # It tries a WebSocket first (a 404 here), then streams over HTTPS.
    assert {side for side in standin.side_requests} == {"GET /v1/responses"}
