"""Sessions and quota failover with the real CLIs: a workflow that continues a real Claude Code
session, a quota failure that moves a task to another agent, and a fallback to the real Gemini
CLI.

One hub serves the module, with two agents: `fresh`, whose Claude Code talks to an Anthropic
stand-in that answers normally, and `spent`, whose Claude Code talks to one that answers every
request with a 429 (retry after RETRY_AFTER seconds) and which also has the Gemini CLI, against
the Gemini stand-in.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..integration.harness import Mesh
from .matrix import record
from .meshes import new_mesh, running
from .standins import anthropic, gemini
from .standins.anthropic import AnthropicStandIn
from .standins.gemini import GeminiStandin

RETRY_AFTER = 30  # seconds the spent agent's Anthropic stand-in asks to wait
TERMINAL = ("SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT")


@pytest.fixture(scope="module")
def claude() -> Iterator[AnthropicStandIn]:
    with anthropic.serving() as running:
        yield running


@pytest.fixture(scope="module")
def spent_claude() -> Iterator[AnthropicStandIn]:
    with anthropic.serving(scenario="quota429", retry_after=RETRY_AFTER) as running:
        yield running


@pytest.fixture(scope="module")
def google() -> Iterator[GeminiStandin]:
    with gemini.serving() as running:
        yield running


def tool_config(name: str, binary: Path, env: dict[str, str]) -> str:
    pairs = ", ".join(f"{key} = {json.dumps(value)}" for key, value in env.items())
    return f"[tools.{name}]\nbinary = {json.dumps(str(binary))}\nenv = {{ {pairs} }}\n"


@pytest.fixture(scope="module")
def mesh(
    cli_bin: Path,
    claude: AnthropicStandIn,
    spent_claude: AnthropicStandIn,
    google: GeminiStandin,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Mesh]:
    def claude_config(standin: AnthropicStandIn) -> str:
        env = {"ANTHROPIC_BASE_URL": standin.url, "ANTHROPIC_API_KEY": "sk-ant-standin"}
        return tool_config("claude-code", cli_bin / "claude", env)

    gemini_env = {"GOOGLE_GEMINI_BASE_URL": google.url, "GEMINI_API_KEY": "test-key"}
    # Each tool's binary by path, so that the agent does not find (and slowly detect) the rest.
    agents = {
        "fresh": "slots = 4\n" + claude_config(claude),
        "spent": "slots = 4\n"
        + claude_config(spent_claude)
        + tool_config("gemini-cli", cli_bin / "gemini", gemini_env),
    }

    with running(new_mesh(tmp_path_factory, "flows"), agents) as mesh:
        yield mesh


def ctl_json(mesh: Mesh, *args: str, timeout: float = 60) -> Any:
    done = mesh.ctl(*args, "-o", "json", timeout=timeout)
    assert done.returncode == 0, done.stderr + done.stdout
    return json.loads(done.stdout)


def agent_id(mesh: Mesh, name: str) -> str:
    value: str = ctl_json(mesh, "agents", "show", name)["id"]
    return value


def epoch(value: float | str) -> float:
    """A time from photonctl's JSON: epoch seconds, or an RFC 3339 string."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value)


def wait_task(
    mesh: Mesh, task_id: str, until: Callable[[dict[str, Any]], bool], timeout: float = 180
) -> dict[str, Any]:
    """The task as `photonctl tasks show` prints it, once `until` holds."""
    deadline = time.monotonic() + timeout
    while True:
        task: dict[str, Any] = ctl_json(mesh, "tasks", "show", task_id)
        if until(task):
            return task
        assert time.monotonic() < deadline, f"gave up waiting: {task}"
        time.sleep(0.5)


def logs(mesh: Mesh, task_id: str) -> str:
    done = mesh.ctl("tasks", "logs", task_id)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_a_workflow_step_continues_the_real_session_of_the_step_before(
    mesh: Mesh, claude: AnthropicStandIn, tmp_path: Path
) -> None:
    document = {
        "name": "remember-then-recall",
        "steps": [
            {
                "id": "remember",
                "tool": "claude-code",
                "agent": "fresh",  # the spent agent's Claude Code is out of quota
                "inputs": {"prompt": "remember the word MANGO"},
            },
            {
                "id": "recall",
                "tool": "claude-code",
                "needs": ["remember"],
                "continue": "remember",
                "inputs": {"prompt": "which fruit was it?"},
            },
        ],
    }
    path = tmp_path / "flow.yaml"
    path.write_text(yaml.safe_dump(document))
    started = time.monotonic()
    workflow = ctl_json(mesh, "workflow", "run", str(path), timeout=300)
    seconds = time.monotonic() - started
    assert workflow["state"] == "SUCCEEDED", workflow
    steps = {step["id"]: step for step in workflow["steps"]}
    [remember_id] = steps["remember"]["task_ids"]
    [recall_id] = steps["recall"]["task_ids"]
    remember = ctl_json(mesh, "tasks", "show", remember_id)
    recall = ctl_json(mesh, "tasks", "show", recall_id)
    record("claude", "workflow continue", recall, seconds)
    assert recall["state"] == "SUCCEEDED", recall

    # The same agent ran both; step 2 resumed step 1's real session.
    assert recall["agent_id"] == remember["agent_id"] == agent_id(mesh, "fresh")
    session = remember["outputs"]["session_id"]
    assert recall["continue_from"] == remember_id
    assert recall["inputs"]["resume"] == session
    assert recall["session"] == {
        "id": recall["outputs"]["session_id"],
        "agent": remember["agent_id"],
        "continues": [remember_id],
    }
    table = mesh.ctl("tasks", "show", recall_id)
    assert table.returncode == 0 and recall["outputs"]["session_id"] in table.stdout, table

    # The CLI sent step 1's conversation along with step 2's prompt: the model's "turn 2".
    assert recall["outputs"]["result"] == "turn 2: which fruit was it?"
    (request,) = [r for r in claude.requests if "which fruit was it?" in json.dumps(r.body)]
    sent = json.dumps(request.body["messages"])
    assert "remember the word MANGO" in sent and "turn 1: remember the word MANGO" in sent


def test_a_quota_failure_moves_the_task_to_the_agent_with_quota_left(
    mesh: Mesh, claude: AnthropicStandIn, spent_claude: AnthropicStandIn
) -> None:
    # While `fresh` drains, the unpinned task can only land on `spent`.
    assert mesh.ctl("agents", "drain", "fresh").returncode == 0
    started = time.monotonic()
    submitted = ctl_json(mesh, "run", "claude-code", "--input", "prompt=count to three", "--detach")
    task_id = submitted["id"]
    try:
        parked = wait_task(mesh, task_id, lambda t: "out of quota" in t["waiting_reason"])
    finally:
        undrained = mesh.ctl("agents", "undrain", "fresh")
    assert undrained.returncode == 0, undrained.stderr
    assert parked["attempt"] == 1, parked
    # One request reached the spent stand-in: the CLI did not retry the 429 itself.
    (refused,) = spent_claude.requests
    blocks = ctl_json(mesh, "agents", "show", "spent")["quota_blocks"]
    assert list(blocks) == ["claude-code"], blocks
    until = epoch(blocks["claude-code"])
    assert refused.at + RETRY_AFTER - 2 <= until <= time.time() + RETRY_AFTER, (until, refused.at)
    table = mesh.ctl("agents", "show", "spent")
    assert "out of quota" in table.stdout and "claude-code" in table.stdout, table.stdout

    done = wait_task(mesh, task_id, lambda t: t["state"] in TERMINAL)
    record("claude", "quota failover", done, time.monotonic() - started)
    assert (done["state"], done["attempt"]) == ("SUCCEEDED", 2), done
    assert done["agent_id"] == agent_id(mesh, "fresh")
    assert done["outputs"]["result"] == "turn 1: count to three"
    # It ran as soon as `fresh` took work again, not after the 30 s reset.
    assert time.time() < until, "the task waited for the quota reset"
    text = logs(mesh, task_id)
    assert "attempt 1 failed (quota on claude-code@spent until " in text, text
    assert "retrying at once where the quota is left" in text, text


def test_out_of_quota_on_its_only_agent_falls_back_to_the_real_gemini_cli(
    mesh: Mesh, spent_claude: AnthropicStandIn, google: GeminiStandin
) -> None:
    asked_before = len(spent_claude.requests)
    prompt = "summarise the plan in one line"
    started = time.monotonic()
    done = mesh.ctl(
        "run",
        "claude-code",
        "--agent",
        "spent",
        "--fallback",
        "gemini-cli",
        "--input",
        f"prompt={prompt}",
        "--input",
        "max_turns:=3",  # claude-code takes it, gemini-cli does not: left behind
        "-o",
        "json",
        timeout=300,
    )
    seconds = time.monotonic() - started
    assert done.stdout, done.stderr
    task = json.loads(done.stdout)
    record("claude->gemini", "quota fallback", task, seconds)
    assert done.returncode == 0, done.stderr
    assert (task["state"], task["tool"], task["action"]) == ("SUCCEEDED", "gemini-cli", "prompt")
    assert task["inputs"] == {"prompt": prompt}
    assert task["outputs"]["result"] == gemini.ANSWER
    # Claude Code got one try per attempt before the fallback, none when already blocked.
    assert task["attempt"] == 1 + len(spent_claude.requests) - asked_before, task
    # The real Gemini CLI sent the prompt carried over to the Gemini stand-in.
    assert any(prompt in json.dumps(seen.body.get("contents")) for seen in google.seen)
    text = logs(mesh, task["id"])
    assert "claude-code out of quota on all agents until" in text, text
    assert "falling back to gemini-cli" in text, text
