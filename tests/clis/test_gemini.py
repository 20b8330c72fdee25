"""The real Gemini CLI through a real hub and agent, against the local Gemini API stand-in.

One hub, one agent and one stand-in serve the module; each test picks its scenario with a
marker word in the prompt (see standins/gemini.py) and records a matrix row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.integration.harness import Mesh

from .matrix import record
from .meshes import new_mesh, running
from .standins import gemini
from .standins.gemini import GeminiStandin

UNKNOWN_SESSION = "0d0e0f00-1111-4222-8333-444455556666"


@pytest.fixture(scope="module")
def standin() -> Iterator[GeminiStandin]:
    with gemini.serving() as server:
        yield server


@pytest.fixture(scope="module")
def mesh(
    tmp_path_factory: pytest.TempPathFactory, standin: GeminiStandin, cli_bin: Path
) -> Iterator[Mesh]:
    config = (
        "[tools.gemini-cli]\n"
        f"binary = {json.dumps(str(cli_bin / 'gemini'))}\n"
        f"env = {{ GOOGLE_GEMINI_BASE_URL = {json.dumps(standin.url)},"
        ' GEMINI_API_KEY = "test-key" }\n'
    )
    with running(new_mesh(tmp_path_factory, "gemini"), {"gemini": config}) as mesh:
        workspace = mesh.root / "agent-gemini" / "workspace"  # what the tool round lists
        workspace.mkdir(parents=True, exist_ok=True)
        (workspace / "notes.txt").write_text("remember the milk\n")
        yield mesh


def run(mesh: Mesh, scenario: str, prompt: str, *extra: str) -> tuple[dict[str, Any], str]:
    """`photonctl run gemini-cli` with `prompt`; records the matrix row; (task, stderr)."""
    started = time.monotonic()
    done = mesh.ctl(
        "run", "gemini-cli", "--input", f"prompt={prompt}", *extra, "-o", "json", timeout=240
    )
    seconds = time.monotonic() - started
    assert done.stdout, done.stderr
    task: dict[str, Any] = json.loads(done.stdout)
    record("gemini", scenario, task, seconds)
    assert done.returncode == (0 if task["state"] == "SUCCEEDED" else 1), done.stderr
    return task, done.stderr


def failure(task: dict[str, Any], failure_class: str, attempts: int) -> str:
    """The message of a task that failed as `failure_class` after `attempts` attempts."""
    assert task["state"] == "FAILED", task
    assert (task["failure"]["failure_class"], task["attempt"]) == (failure_class, attempts), task
    message: str = task["failure"]["message"]
    return message


def test_plain_answer(mesh: Mesh, standin: GeminiStandin) -> None:
    task, _ = run(mesh, "plain", "say hello")
    assert task["state"] == "SUCCEEDED", task
    assert task["attempt"] == 1
    outputs = task["outputs"]
    assert outputs["result"] == gemini.ANSWER
    assert outputs["session_id"]
    # The stand-in's chunks carry usage; the CLI adds up its model calls (router included).
    assert outputs["usage"]["output_tokens"] >= 8
    # The CLI really asked the stand-in, with the key from the tool's env.
    assert standin.calls("plain") >= 1


def test_resume_continues_the_session(mesh: Mesh, standin: GeminiStandin) -> None:
    first, _ = run(mesh, "resume turn 1", "remember: the answer is 42")
    session = first["outputs"]["session_id"]
    again, _ = run(mesh, "resume turn 2", "what was the answer?", "--input", f"resume={session}")
    assert again["state"] == "SUCCEEDED", again
    assert again["outputs"]["session_id"] == session
    # The CLI sent the first turn back as history: the session was kept between runs.
    history = json.dumps(standin.seen[-1].body["contents"])
    assert "the answer is 42" in history and "what was the answer?" in history


def test_tool_round(mesh: Mesh, standin: GeminiStandin) -> None:
    task, _ = run(mesh, "tool", "what is in this folder? scenario:tool")
    assert task["state"] == "SUCCEEDED", task
    # Two turns, each its own paragraph.
    assert task["outputs"]["result"] == f"Let me look at the folder.\n\n{gemini.TOOL_ANSWER}"
    logs = mesh.ctl("tasks", "logs", task["id"])
    assert logs.returncode == 0, logs.stderr
    assert 'tool_call: list_directory {"dir_path": "."}' in logs.stdout, logs.stdout
    # The CLI ran the tool and sent its result back before the final answer.
    last = [s for s in standin.seen if s.scenario == "tool"][-1]
    responses = [p for p in last.body["contents"][-1]["parts"] if "functionResponse" in p]
    assert "notes.txt" in json.dumps(responses)


def test_401_is_auth_and_not_retried(mesh: Mesh) -> None:
    task, _ = run(mesh, "401", "hi scenario:unauthenticated")
    message = failure(task, "auth", 1)
    assert message.startswith("gemini authentication failed (HTTP 401 UNAUTHENTICATED)"), message
    assert "invalid authentication credentials" in message


def test_400_invalid_key_is_auth(mesh: Mesh) -> None:
    task, _ = run(mesh, "400 invalid key", "hi scenario:bad_key")
    message = failure(task, "auth", 1)
    assert "API key not valid" in message, message


def test_429_is_quota_with_the_retry_time_in_seconds(mesh: Mesh, standin: GeminiStandin) -> None:
    started = time.time()
    task, _ = run(mesh, "429", "hi scenario:rate_limited")
    message = failure(task, "quota", 3)
    assert "exceeded your current quota" in message, message
    # photonctl prints times as RFC 3339.
    retry_at = datetime.fromisoformat(task["failure"]["retry_at"]).timestamp()
    assert retry_at >= started + gemini.RETRY_DELAY_SECONDS
    assert retry_at <= time.time() + gemini.RETRY_DELAY_SECONDS
    # PHOTON retried it: each attempt made one model call, the CLI's own retries were stopped.
    assert standin.calls("rate_limited") == 3
    # Seconds, not minutes (the CLI alone spent over three per attempt); loose for a busy host.
    assert time.time() - started < 150


def test_503_overloaded_is_transient(mesh: Mesh, standin: GeminiStandin) -> None:
    task, _ = run(mesh, "503 overloaded", "hi scenario:overloaded")
    message = failure(task, "tool_error", 3)
    assert message.startswith("gemini API unavailable (HTTP 503"), message
    assert "overloaded" in message
    assert standin.calls("overloaded") == 3


def test_stream_cut_mid_way_is_retried(mesh: Mesh) -> None:
    task, _ = run(mesh, "stream cut", "hi scenario:cut")
    message = failure(task, "tool_error", 3)
    assert "terminated" in message, message


def test_unknown_session_on_resume_is_invalid_input(mesh: Mesh) -> None:
    task, _ = run(mesh, "unknown session", "more", "--input", f"resume={UNKNOWN_SESSION}")
    message = failure(task, "invalid_input", 1)
    assert message == (
        "gemini input rejected (exit 42): Error resuming session:"
        f' Invalid session identifier "{UNKNOWN_SESSION}".'
    )


def test_untrusted_folder_is_refused_clearly(mesh: Mesh) -> None:
    task, _ = run(mesh, "untrusted folder", "hi", "--env", "GEMINI_CLI_TRUST_WORKSPACE=false")
    message = failure(task, "invalid_input", 1)
    assert "GEMINI_CLI_TRUST_WORKSPACE=false" in message
    assert "not running in a trusted directory" in message
