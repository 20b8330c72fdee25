"""The `zai` tool through a real hub and agent, against a local fake Z.AI endpoint.

The agent finds the endpoint through PHOTON_ZAI_BASE_URL (the fallback after per-tool
settings) and the key in its own environment, as on a real host.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from photon.model import RetryPolicy
from tests.fakes.zai_server import FakeZaiServer

from .harness import Mesh

KEY = "k-test-123"
RESULT = "Hello! You said: hello\n你好世界。"


@pytest.fixture
def zai_server() -> Iterator[FakeZaiServer]:
    with FakeZaiServer(key=KEY) as server:
        yield server


async def test_zai_chat_streams_through_the_mesh(mesh: Mesh, zai_server: FakeZaiServer) -> None:
    await mesh.agent("ai-1", env={"ZAI_API_KEY": KEY, "PHOTON_ZAI_BASE_URL": zai_server.url})
    await mesh.agent("no-key")  # zai is installed here but has no key: never picked

    listed = json.loads(mesh.ctl("agents", "list", "-o", "json").stdout)
    tools = {a["name"]: {t["name"]: t for t in a["tools"]} for a in listed}
    assert tools["ai-1"]["zai"]["available"] and tools["ai-1"]["zai"]["enabled"]
    assert not tools["no-key"]["zai"]["available"]
    assert tools["no-key"]["zai"]["detail"] == "ZAI_API_KEY not set"

    done = mesh.ctl("run", "zai", "--input", "prompt=hello", "-o", "json")
    assert done.returncode == 0, done.stderr
    task = json.loads(done.stdout)
    assert task["state"] == "SUCCEEDED"
    assert task["action"] in {"", "chat"}
    assert task["outputs"] == {
        "result": RESULT,
        "reasoning": "The user wrote something.\nI should answer politely.",
        "model": "glm-4.6",
        "usage": {
            "prompt_tokens": 12,
            "completion_tokens": 34,
            "total_tokens": 46,
            "cached_tokens": 5,
        },
        "finish_reason": "stop",
        "cost_usd": None,
    }
    assert zai_server.requests[-1].body["messages"] == [{"role": "user", "content": "hello"}]

    # The live view shows the reasoning, then the answer, then the token count.
    live = mesh.ctl("run", "zai", "--input", "prompt=hello", "--input", "max_tokens:=50")
    assert live.returncode == 0, live.stderr
    assert json.loads(live.stdout)["result"] == RESULT
    shown = live.stderr
    order = [
        shown.index("thinking: The user wrote something."),
        shown.index("thinking: I should answer politely."),
        shown.index("log: Hello! You said: hello"),
        shown.index("usage: 46 tokens"),
    ]
    assert order == sorted(order), shown
    assert zai_server.requests[-1].body["max_tokens"] == 50
    assert KEY not in done.stdout + live.stdout + shown


async def test_zai_errors_are_classified(mesh: Mesh, zai_server: FakeZaiServer) -> None:
    await mesh.agent("ai-1", env={"ZAI_API_KEY": KEY, "PHOTON_ZAI_BASE_URL": zai_server.url})

    unknown = mesh.ctl("run", "zai", "--input", "prompt=hello", "--input", "model=fail-1211")
    assert unknown.returncode == 1
    assert "invalid_input: zai: error 1211: Model does not exist" in unknown.stderr

    # The hub checks the inputs against the action's schema before anything runs.
    sent = len(zai_server.requests)
    refused = mesh.ctl("run", "zai", "--input", "model=glm-4.6")
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.strip() == "error: zai chat: inputs: 'prompt' is a required property"
    assert len(zai_server.requests) == sent

    # Arrears are a quota failure. With attempts left the task would wait for the tool's
    # quota to come back (docs/tasks.md); with one attempt it fails at once, saying why.
    async with mesh.client() as client:
        task = await client.run(
            "zai",
            inputs={"prompt": "hello", "model": "fail-1113"},
            retry=RetryPolicy(max_attempts=1),
        )
    assert task.state.value == "FAILED"
    assert task.failure is not None
    assert task.failure.failure_class.value == "quota"
    assert task.failure.message.startswith("zai: error 1113: ")
    assert KEY not in task.failure.message
