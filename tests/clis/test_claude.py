"""The real Claude Code through a real hub and agent, against the Anthropic API stand-in.

One hub and two agents serve the module: `claude` (as the agent is set up by default) and
`sandbox`, whose owner declared the host a sandbox (`is_sandbox = true`). The module's runs
start together (see Runs). The scenario is a marker word in the prompt (see
standins/anthropic.py)."""

from __future__ import annotations

import itertools
import json
import os
import re
import subprocess
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from ..integration.harness import Mesh
from .matrix import record
from .meshes import new_mesh, running
from .standins.anthropic import RETRY_AFTER, TOOL_COMMAND, AnthropicStandIn, serving

UNKNOWN_SESSION = str(uuid.uuid4())
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture(scope="module")
def standin() -> Iterator[AnthropicStandIn]:
    with serving() as running:
        yield running


@pytest.fixture(scope="module")
def mesh(
    cli_bin: Path, standin: AnthropicStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Mesh]:
    env = {"ANTHROPIC_BASE_URL": standin.url, "ANTHROPIC_API_KEY": "sk-ant-standin"}
    # Slots for all the module's runs at once; the binary by path, so that the agent does not
    # find (and slowly detect) the other real CLIs beside it.
    config = f"slots = 12\n[tools.claude-code]\nbinary = {json.dumps(str(cli_bin / 'claude'))}\n"
    agents = {"claude": config, "sandbox": config + "is_sandbox = true\n"}
    with running(new_mesh(tmp_path_factory, "claude"), agents, env=env) as mesh:
        yield mesh


BYPASS = "permission_mode=bypassPermissions"
# Scenario (matrix row) -> the prompt, more photonctl arguments, and the agent.
SCENARIOS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "plain": ("say hello", (), "claude"),
    "tool": ("scenario:tool run it", ("--input", 'allowed_tools:=["Bash"]'), "claude"),
    "session turn 1": ("remember the word PINEAPPLE", (), "claude"),
    "unknown session": ("hello", ("--input", f"resume={UNKNOWN_SESSION}"), "claude"),
    "401": ("scenario:auth401 hello", (), "claude"),
    "400 invalid key": ("scenario:badkey400 hello", (), "claude"),
    "429": ("scenario:quota429 hello", (), "claude"),
    "529 overloaded": ("scenario:overloaded hello", (), "claude"),
    "stream cut": ("scenario:cut hello", (), "claude"),
    "root bypass": ("bypass me", ("--input", BYPASS), "claude"),
    "root bypass, sandbox": ("bypass me", ("--input", BYPASS), "sandbox"),
}


class Runs:
    """`photonctl run claude-code ... -o json` per scenario, in threads of their own; each test
    collects its own (one matrix row). Run alone, the module starts them all at once, so that
    the CLI's slow start-ups overlap; under pytest-xdist, whose workers share the module's tests
    out, each starts when its test asks for it."""

    def __init__(self, mesh: Mesh) -> None:
        self.mesh = mesh
        self.pool = ThreadPoolExecutor(max_workers=len(SCENARIOS) + 1)
        self.pending: dict[str, Future[tuple[subprocess.CompletedProcess[str], float]]] = {}

    def start(self, scenario: str, prompt: str, *args: str, agent: str = "claude") -> None:
        argv = ["run", "claude-code", "--agent", agent, "--input", f"prompt={prompt}", *args]
        self.pending[scenario] = self.pool.submit(self._ctl, *argv, "-o", "json")

    def start_all(self) -> None:
        for scenario, (prompt, args, agent) in SCENARIOS.items():
            self.start(scenario, prompt, *args, agent=agent)

    def _ctl(self, *argv: str) -> tuple[subprocess.CompletedProcess[str], float]:
        started = time.monotonic()
        done = self.mesh.ctl(*argv, timeout=300)
        return done, time.monotonic() - started

    def result(self, scenario: str) -> tuple[dict[str, Any], float]:
        """The task JSON photonctl printed, and the seconds the run took."""
        if scenario not in self.pending:
            prompt, args, agent = SCENARIOS[scenario]
            self.start(scenario, prompt, *args, agent=agent)
        done, seconds = self.pending.pop(scenario).result()
        assert done.stdout, done.stderr
        task: dict[str, Any] = json.loads(done.stdout)
        assert done.returncode == (0 if task["state"] == "SUCCEEDED" else 1), done.stderr
        record("claude", scenario, task, seconds)
        return task, seconds

    def run(self, scenario: str, prompt: str, *args: str) -> tuple[dict[str, Any], float]:
        self.start(scenario, prompt, *args)
        return self.result(scenario)


@pytest.fixture(scope="module")
def runs(mesh: Mesh) -> Iterator[Runs]:
    runs = Runs(mesh)
    if "PYTEST_XDIST_WORKER" not in os.environ:
        runs.start_all()
    with runs.pool:  # waits for runs a failed test left behind
        yield runs


def epoch(value: float | str) -> float:
    """A time from photonctl's JSON: epoch seconds, or an RFC 3339 string."""
    return value if isinstance(value, float) else datetime.fromisoformat(value).timestamp()


def failure(task: dict[str, Any]) -> tuple[str, str, int]:
    assert task["state"] == "FAILED", task
    return task["failure"]["failure_class"], task["failure"]["message"], task["attempt"]


def test_plain_answer(runs: Runs, standin: AnthropicStandIn) -> None:
    task, _ = runs.result("plain")
    assert task["state"] == "SUCCEEDED", task
    assert task["outputs"]["result"] == "turn 1: say hello"
    assert UUID.match(task["outputs"]["session_id"])
    assert task["outputs"]["num_turns"] == 1
    assert task["outputs"]["usage"]["output_tokens"] > 0
    # The environment turned the CLI's side calls (a session title) off.
    assert standin.of("side") == []


def test_tool_round(runs: Runs, mesh: Mesh, standin: AnthropicStandIn) -> None:
    task, _ = runs.result("tool")
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


def test_two_turn_session(runs: Runs, standin: AnthropicStandIn) -> None:
    first, _ = runs.result("session turn 1")
    assert first["state"] == "SUCCEEDED", first
    session = first["outputs"]["session_id"]
    second, _ = runs.run("session turn 2", "which word was it?", "--input", f"resume={session}")
    assert second["state"] == "SUCCEEDED", second
    assert second["outputs"]["result"] == "turn 2: which word was it?"
    # The second call carried the first turn: its prompt and the model's answer.
    (turn_2,) = [r for r in standin.requests if "which word was it?" in json.dumps(r.body)]
    sent = json.dumps(turn_2.body["messages"])
    assert "remember the word PINEAPPLE" in sent
    assert "turn 1: remember the word PINEAPPLE" in sent


def test_unknown_session_on_resume_is_invalid_input(runs: Runs) -> None:
    task, _ = runs.result("unknown session")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("invalid_input", 1)
    assert message == f"No conversation found with session ID: {UNKNOWN_SESSION}"


def test_401_is_auth_at_once(runs: Runs, standin: AnthropicStandIn) -> None:
    task, _ = runs.result("401")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("auth", 1)
    assert "refused the credentials (HTTP 401)" in message
    # One request: neither the CLI nor PHOTON tried the refused key again.
    assert len(standin.of("auth401")) == 1


def test_400_invalid_key_is_auth(runs: Runs, standin: AnthropicStandIn) -> None:
    task, _ = runs.result("400 invalid key")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("auth", 1)
    assert message == "Invalid API key · Fix external API key"  # the CLI's words for a bad key
    assert len(standin.of("badkey400")) == 1


def test_429_is_quota_with_the_retry_time(runs: Runs, standin: AnthropicStandIn) -> None:
    task, _ = runs.result("429")
    failure_class, message, attempts = failure(task)
    assert failure_class == "quota"
    assert f"it asks to wait {RETRY_AFTER:.1f}s" in message
    # Each PHOTON attempt made one request: the CLI did not wait and retry on its own.
    requests = [r.at for r in standin.of("quota429")]
    assert attempts == 3 and len(requests) == 3
    # The retry time the CLI reported, counted from the last attempt's request...
    retry_at = epoch(task["failure"]["retry_at"])
    assert requests[-1] + RETRY_AFTER <= retry_at <= time.time() + RETRY_AFTER
    # ...and PHOTON, not the CLI, waited that long before each next attempt.
    assert all(b - a >= RETRY_AFTER for a, b in itertools.pairwise(requests))


def test_overloaded_is_a_transient_tool_error(runs: Runs, standin: AnthropicStandIn) -> None:
    task, _ = runs.result("529 overloaded")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("tool_error", 3)
    assert message.startswith("API Error: 529 Overloaded"), message
    # Each attempt: the first call and the CLI's two bounded retries.
    assert len(standin.of("overloaded")) == 3 * 3


def test_stream_cut_midway_is_a_transient_tool_error(runs: Runs) -> None:
    task, _ = runs.result("stream cut")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("tool_error", 3)
    assert "Connection to the API was lost" in message


@pytest.mark.skipif(os.getuid() != 0, reason="Claude Code refuses only root")
def test_bypass_permissions_as_root_says_what_to_do(runs: Runs) -> None:
    task, _ = runs.result("root bypass")
    failure_class, message, attempts = failure(task)
    assert (failure_class, attempts) == ("invalid_input", 1)
    assert "run the agent as a non-root user" in message and "is_sandbox = true" in message
    # Where the owner declared the host a sandbox, the same task runs.
    task, _ = runs.result("root bypass, sandbox")
    assert task["state"] == "SUCCEEDED", task
    assert task["outputs"]["result"] == "turn 1: bypass me"
