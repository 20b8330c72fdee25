"""The real Claude Code through a real hub and agent, against the Anthropic API stand-in.

One hub and two agents serve the module: `claude` (as the agent is set up by default) and
`sandbox`, whose owner declared the host a sandbox (`is_sandbox = true`). The scenario is a
marker word in the prompt (see standins/anthropic.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ..integration.harness import Mesh, make_env
from .matrix import record
from .standins.anthropic import RETRY_AFTER, TOOL_COMMAND, AnthropicStandIn, serving

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def standin() -> Iterator[AnthropicStandIn]:
    with serving() as running:
        yield running


@pytest.fixture(scope="module")
def mesh(
    cli_bin: Path, standin: AnthropicStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mesh]:
    root = tmp_path_factory.mktemp("claude")
    root.chmod(0o700)
    mesh = Mesh(root=root, env=make_env(root))
    mesh.init()
    env = {
        "PATH": f"{cli_bin}{os.pathsep}{os.environ['PATH']}",
        "ANTHROPIC_BASE_URL": standin.url,
        "ANTHROPIC_API_KEY": "sk-ant-standin",
    }

    async def start() -> None:
        await mesh.start_hub()
        for name, settings in (("claude", ""), ("sandbox", "is_sandbox = true\n")):
            data_dir = mesh.join(name)
            (data_dir / "agent.toml").write_text(f"[tools.claude-code]\n{settings}")
            mesh.start_agent(data_dir, env=env)
            await mesh.wait_agent_state(name, "connected")

    asyncio.run(start())
    try:
        yield mesh
    finally:
        mesh.stop_all()


def run(
    mesh: Mesh, scenario: str, prompt: str, *args: str, agent: str = "claude"
) -> tuple[dict[str, Any], float]:
    """`photonctl run claude-code` on `agent`; the task JSON it printed, and the seconds it took
    (one matrix row)."""
    started = time.monotonic()
    done = mesh.ctl(
        "run", "claude-code", "--agent", agent, "--input", f"prompt={prompt}", *args, "-o", "json",
        timeout=240,
    )  # fmt: skip
    seconds = time.monotonic() - started
    assert done.stdout, done.stderr
    task: dict[str, Any] = json.loads(done.stdout)
    assert done.returncode == (0 if task["state"] == "SUCCEEDED" else 1), done.stderr
    record("claude", scenario, task, seconds)
    return task, seconds


def failure(task: dict[str, Any]) -> tuple[str, str, int]:
    assert task["state"] == "FAILED", task
    return task["failure"]["failure_class"], task["failure"]["message"], task["attempt"]


def test_plain_answer(mesh: Mesh, standin: AnthropicStandIn) -> None:
    task, _ = run(mesh, "plain", "say hello")
    assert task["state"] == "SUCCEEDED", task
    assert task["outputs"]["result"] == "turn 1: say hello"
    assert UUID.match(task["outputs"]["session_id"])
    assert task["outputs"]["num_turns"] == 1
    assert task["outputs"]["usage"]["output_tokens"] > 0
    # The environment turned the CLI's side calls (a session title) off.
    assert standin.of("side") == []


def test_tool_round(mesh: Mesh, standin: AnthropicStandIn) -> None:
    task, _ = run(mesh, "tool", "scenario:tool run it", "--input", 'allowed_tools:=["Bash"]')
    assert task["state"] == "SUCCEEDED", task
    # The answer quotes what the tool printed: the CLI ran the command the model asked for.
    assert task["outputs"]["result"] == "tool said: tool-ran-42"
    assert task["outputs"]["num_turns"] == 2
    logs = mesh.ctl("tasks", "logs", task["id"])
    assert logs.returncode == 0, logs.stderr
    calls = [line for line in logs.stdout.splitlines() if " tool_call: " in line]
    assert len(calls) == 1 and f'Bash {{"command": "{TOOL_COMMAND}"' in calls[0], logs.stdout
    assert any(" tool_result: tool-ran-42" in line for line in logs.stdout.splitlines())
    assert len(standin.of("tool")) == 2  # the question, then the tool's result


def test_two_turn_session(mesh: Mesh, standin: AnthropicStandIn) -> None:
    first, _ = run(mesh, "session turn 1", "remember the word PINEAPPLE")
    assert first["state"] == "SUCCEEDED", first
    session = first["outputs"]["session_id"]
    second, _ = run(mesh, "session turn 2", "which word was it?", "--input", f"resume={session}")
    assert second["state"] == "SUCCEEDED", second
    assert second["outputs"]["result"] == "turn 2: which word was it?"
    # The second call carried the first turn: its prompt and the model's answer.
    sent = json.dumps(standin.requests[-1].body["messages"])
    assert "remember the word PINEAPPLE" in sent
    assert "turn 1: remember the word PINEAPPLE" in sent


def test_unknown_session_on_resume_is_invalid_input(mesh: Mesh) -> None:
    session = str(uuid.uuid4())
    task, _ = run(mesh, "unknown session", "hello", "--input", f"resume={session}")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("invalid_input", 1)
    assert message == f"No conversation found with session ID: {session}"


def test_401_is_auth_at_once(mesh: Mesh, standin: AnthropicStandIn) -> None:
    task, seconds = run(mesh, "401", "scenario:auth401 hello")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("auth", 1)
    assert "refused the credentials (HTTP 401)" in message
    # One request: neither the CLI nor PHOTON tried the refused key again.
    assert len(standin.of("auth401")) == 1
    assert seconds < 60


def test_400_invalid_key_is_auth(mesh: Mesh, standin: AnthropicStandIn) -> None:
    task, _ = run(mesh, "400 invalid key", "scenario:badkey400 hello")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("auth", 1)
    assert message == "Invalid API key · Fix external API key"  # the CLI's words for a bad key
    assert len(standin.of("badkey400")) == 1


def test_429_is_quota_with_the_retry_time(mesh: Mesh, standin: AnthropicStandIn) -> None:
    before = time.time()
    task, seconds = run(mesh, "429", "scenario:quota429 hello")
    failure_class, message, attempts = failure(task)
    assert failure_class == "quota"
    assert f"it asks to wait {RETRY_AFTER:.1f}s" in message
    # The reset time the CLI reported, counted from the last attempt.
    retry_at = task["failure"]["retry_at"]
    assert retry_at is not None and before + RETRY_AFTER <= retry_at <= time.time() + RETRY_AFTER
    # Each PHOTON attempt made one request: the CLI did not wait and retry on its own.
    assert attempts == 3 and len(standin.of("quota429")) == 3
    assert seconds < 90  # seconds, where the CLI's own retries took minutes


def test_overloaded_is_a_transient_tool_error(mesh: Mesh, standin: AnthropicStandIn) -> None:
    task, _ = run(mesh, "529 overloaded", "scenario:overloaded hello")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("tool_error", 3)
    assert message.startswith("API Error: 529 Overloaded"), message
    # Each attempt: the first call and the CLI's two bounded retries.
    assert len(standin.of("overloaded")) == 3 * 3


def test_stream_cut_midway_is_a_transient_tool_error(mesh: Mesh) -> None:
    task, _ = run(mesh, "stream cut", "scenario:cut hello")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("tool_error", 3)
    assert "Connection to the API was lost" in message


@pytest.mark.skipif(os.getuid() != 0, reason="Claude Code refuses only root")
def test_bypass_permissions_as_root_says_what_to_do(mesh: Mesh) -> None:
    mode = "permission_mode=bypassPermissions"
    task, _ = run(mesh, "root bypass", "hello", "--input", mode)
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("invalid_input", 1)
    assert "run the agent as a non-root user" in message and "is_sandbox = true" in message
    # Where the owner declared the host a sandbox, the same task runs.
    task, _ = run(mesh, "root bypass, sandbox", "hello", "--input", mode, agent="sandbox")
    assert task["state"] == "SUCCEEDED", task
    assert task["outputs"]["result"] == "turn 1: hello"
