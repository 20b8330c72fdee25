"""The `zai` adapter against a local fake Z.AI endpoint: streaming, errors, key hygiene, stops."""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from photon.certs import (
    certificate_to_pem,
    create_ca,
    generate_private_key,
    issue_hub_certificate,
    private_key_to_pem,
)
from photon.errors import TaskFailed
from photon.hub.tasks import input_errors
from photon.model import FailureClass
from photon.plugins import SimpleTaskContext, load_plugins, run_plugin
from photon.plugins.builtin.zai import ZaiPlugin
from photon.plugins.builtin.zai._endpoint import endpoint_for
from photon.plugins.builtin.zai._reply import Reply
from photon.plugins.builtin.zai._sse import Chunk, parse_chunk
from tests.fakes.zai_server import FakeZaiServer

KEY = "k-test-123"
RESULT = "Hello! You said: hello\n你好世界。"
REASONING = "The user wrote something.\nI should answer politely."
USAGE = {"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46, "cached_tokens": 5}


@dataclass
class Run:
    """One task attempt's context and the events it emitted."""

    ctx: SimpleTaskContext
    events: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.events]

    def messages(self, kind: str) -> list[str]:
        return [message for k, message, _ in self.events if k == kind]


def make_run(
    inputs: Mapping[str, Any],
    *,
    settings: Mapping[str, Any] | None = None,
    secrets: Mapping[str, str] | None = None,
    deadline: float | None = None,
    action: str = "chat",
) -> Run:
    events: list[tuple[str, str, dict[str, Any]]] = []
    ctx = SimpleTaskContext(
        task_id="t-1",
        action=action,
        inputs=inputs,
        workdir=Path("."),
        secrets={"ZAI_API_KEY": KEY} if secrets is None else secrets,
        settings=settings or {},
        deadline=deadline,
        on_event=lambda kind, message, data: events.append((kind, message, data)),
    )
    return Run(ctx=ctx, events=events)


@pytest.fixture
def server() -> Iterator[FakeZaiServer]:
    with FakeZaiServer() as fake:
        yield fake


async def chat(
    server: FakeZaiServer,
    inputs: Mapping[str, Any],
    *,
    environ: Mapping[str, str] | None = None,
    **options: Any,
) -> tuple[Run, Mapping[str, Any] | TaskFailed]:
    """Run the adapter once against `server`; returns the run and its outputs or failure."""
    options.setdefault("settings", {"base_url": server.url})
    run = make_run(inputs, **options)
    try:
        return run, await ZaiPlugin(environ=environ or {}).run(run.ctx)
    except TaskFailed as failure:
        return run, failure


def assert_no_key(run: Run, outcome: object) -> None:
    everything = json.dumps(run.events, default=str) + str(outcome)
    assert KEY not in everything


# -- the plugin as the agent sees it ----------------------------------------------------------


def test_registered_as_an_entry_point() -> None:
    loaded = load_plugins()
    plugin = loaded.plugins["zai"]
    assert isinstance(plugin, ZaiPlugin)
    assert plugin.default_action == "chat"
    assert [a.name for a in plugin.actions] == ["chat"]
    schema = plugin.actions[0].input_schema
    assert set(schema["properties"]) == {
        "prompt",
        "messages",
        "model",
        "system",
        "max_tokens",
        "temperature",
        "thinking",
        "base_url",
    }


@pytest.mark.parametrize(
    ("inputs", "problem"),
    [
        ({"prompt": "hi"}, None),
        ({"messages": [{"role": "user", "content": "hi"}]}, None),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, None),
        (
            {
                "prompt": "hi",
                "model": "glm-4.5",
                "system": "s",
                "max_tokens": 10,
                "temperature": 1,
                "thinking": True,
                "base_url": "https://api.z.ai/api/coding/paas/v4/",
            },
            None,
        ),
        ({}, "inputs: 'prompt' is a required property"),
        ({"model": "glm-4.6"}, "inputs: 'prompt' is a required property"),
        ({"prompt": ""}, "input prompt: '' should be non-empty"),
        ({"prompt": "x", "bogus": 1}, "inputs: Additional properties are not allowed"),
        ({"messages": [{"role": "robot", "content": "x"}]}, "input messages.0.role: 'robot'"),
        ({"messages": [{"role": "user"}]}, "input messages.0: 'content' is a required property"),
        ({"prompt": "x", "max_tokens": True}, "input max_tokens: True is not of type 'integer'"),
        ({"prompt": "x", "temperature": -1}, "input temperature: -1 is less than the minimum"),
        ({"prompt": "x", "thinking": "yes"}, "input thinking: 'yes' is not of type 'boolean'"),
    ],
)
def test_the_hub_checks_inputs_with_the_schema(inputs: dict[str, Any], problem: str | None) -> None:
    schema = json.dumps(dict(ZaiPlugin.actions[0].input_schema))
    Draft202012Validator.check_schema(json.loads(schema))
    found = input_errors(schema, inputs)
    if problem is None:
        assert found is None
    else:
        assert found is not None and found.startswith(problem), found


async def test_detect_needs_the_key_in_the_environment() -> None:
    found = await ZaiPlugin(environ={"ZAI_API_KEY": KEY}).detect()
    assert found.available
    missing = await ZaiPlugin(environ={}).detect()
    assert not missing.available
    assert missing.detail == "ZAI_API_KEY not set"
    assert KEY not in repr(found)


# -- success ----------------------------------------------------------------------------------


async def test_streams_reasoning_then_answer_then_usage(server: FakeZaiServer) -> None:
    run, outputs = await chat(server, {"prompt": "hello"})
    assert outputs == {
        "result": RESULT,
        "reasoning": REASONING,
        "model": "glm-4.6",
        "usage": USAGE,
        "finish_reason": "stop",
        "cost_usd": None,
    }
    assert run.kinds() == ["status", "thinking", "thinking", "log", "log", "usage"]
    assert run.messages("thinking") == REASONING.split("\n")
    assert run.messages("log") == RESULT.split("\n")
    assert run.events[-1][2] == {"model": "glm-4.6", **USAGE}

    (request,) = server.requests
    assert request.path == "/api/paas/v4/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["accept"] == "text/event-stream"
    assert request.body == {
        "model": "glm-4.6",
        "messages": [{"role": "user", "content": "hello"}],
        "stream": True,
    }


async def test_passes_the_options_through(server: FakeZaiServer) -> None:
    history = [
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "Hi! How can I help?"},
    ]
    run, outputs = await chat(
        server,
        {
            "messages": history,
            "prompt": "hello",
            "system": "Be brief.",
            "max_tokens": 64,
            "temperature": 0.2,
            "thinking": False,
        },
        settings={"base_url": server.url, "model": "glm-4.5-air"},
    )
    assert isinstance(outputs, Mapping)
    assert outputs["result"] == RESULT
    assert outputs["reasoning"] == ""
    assert outputs["model"] == "glm-4.5-air"
    assert "thinking" not in run.kinds()
    assert server.requests[0].body == {
        "model": "glm-4.5-air",
        "messages": [
            {"role": "system", "content": "Be brief."},
            *history,
            {"role": "user", "content": "hello"},
        ],
        "stream": True,
        "max_tokens": 64,
        "temperature": 0.2,
        "thinking": {"type": "disabled"},
    }


async def test_messages_alone_and_an_explicit_model(server: FakeZaiServer) -> None:
    _, outputs = await chat(
        server, {"messages": [{"role": "user", "content": "hello"}], "model": "glm-4.5"}
    )
    assert isinstance(outputs, Mapping)
    assert (outputs["result"], outputs["model"]) == (RESULT, "glm-4.5")
    assert server.requests[0].body["messages"] == [{"role": "user", "content": "hello"}]


@pytest.mark.parametrize("scenario", ["noise", "close-delimited"])
async def test_tolerates_sse_noise_and_unchunked_bodies(
    server: FakeZaiServer, scenario: str
) -> None:
    run, outputs = await chat(server, {"prompt": "hello", "model": scenario})
    assert isinstance(outputs, Mapping), outputs
    assert (outputs["result"], outputs["reasoning"]) == (RESULT, REASONING)
    assert outputs["usage"] == USAGE
    assert run.kinds() == ["status", "thinking", "thinking", "log", "log", "usage"]


async def test_base_url_from_the_agent_environment(server: FakeZaiServer) -> None:
    _, outputs = await chat(
        server,
        {"prompt": "hello"},
        settings={},
        environ={"PHOTON_ZAI_BASE_URL": server.url},
    )
    assert isinstance(outputs, Mapping)
    assert outputs["result"] == RESULT


async def test_key_from_the_agent_environment(server: FakeZaiServer) -> None:
    _, outputs = await chat(
        server,
        {"prompt": "hello"},
        secrets={},
        settings={"base_url": server.url, "api_key_env": "MY_ZAI_KEY"},
        environ={"MY_ZAI_KEY": KEY},
    )
    assert isinstance(outputs, Mapping)
    assert outputs["result"] == RESULT
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"


async def test_input_base_url_may_repeat_the_configured_host(server: FakeZaiServer) -> None:
    other_path = server.url.replace("/api/paas/v4/", "/api/coding/paas/v4")
    _, outputs = await chat(server, {"prompt": "hello", "base_url": other_path})
    assert isinstance(outputs, Mapping)
    assert server.requests[0].path == "/api/coding/paas/v4/chat/completions"


# -- failures the service reports -------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "failure_class", "message"),
    [
        ("fail-401", FailureClass.AUTH, "zai: error 1000: Authentication failed (HTTP 401)"),
        (
            "fail-1113",
            FailureClass.QUOTA,
            "zai: error 1113: Your account is in arrears or has no resource package (HTTP 429)",
        ),
        (
            "fail-1211",
            FailureClass.INVALID_INPUT,
            "zai: error 1211: Model does not exist, please check the model code (HTTP 400)",
        ),
        (
            "fail-1301",
            FailureClass.TOOL_ERROR,
            "zai: error 1301: The input contains unsafe or sensitive content (HTTP 400)",
        ),
        (
            "fail-1302",
            FailureClass.QUOTA,
            "zai: error 1302: Too many concurrent requests for this API key (HTTP 429)",
        ),
        ("fail-429", FailureClass.QUOTA, "zai: error 1305: Rate limit reached, retry later"),
        ("fail-500", FailureClass.TOOL_ERROR, "zai: error 500: Internal server error (HTTP 500)"),
        (
            "fail-502",
            FailureClass.TOOL_ERROR,
            "zai: HTTP 502 Bad Gateway: <html><body>502 Bad Gateway</body></html>",
        ),
        ("stream-error", FailureClass.TOOL_ERROR, "zai: error 1301: Sensitive content detected"),
        (
            "sensitive",
            FailureClass.TOOL_ERROR,
            "zai: the response was blocked as sensitive content (finish_reason sensitive)",
        ),
        (
            "cut",
            FailureClass.TOOL_ERROR,
            "zai: the stream ended before the response was complete (no finish_reason, no [DONE])",
        ),
    ],
)
async def test_errors_are_classified(
    server: FakeZaiServer, scenario: str, failure_class: FailureClass, message: str
) -> None:
    run, failure = await chat(server, {"prompt": "hello", "model": scenario})
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is failure_class
    assert str(failure).startswith(message), str(failure)
    assert_no_key(run, failure)
    assert "usage" not in run.kinds()


async def test_retry_after_becomes_retry_at(server: FakeZaiServer) -> None:
    _, failure = await chat(server, {"prompt": "hello", "model": "fail-429"})
    assert isinstance(failure, TaskFailed)
    assert failure.retry_at is not None
    assert 25 < failure.retry_at - time.time() <= 30


async def test_what_arrived_before_a_cut_is_still_shown(server: FakeZaiServer) -> None:
    run, failure = await chat(server, {"prompt": "hello", "model": "cut"})
    assert isinstance(failure, TaskFailed)
    assert [(k, m) for k, m, _ in run.events[1:]] == [
        ("thinking", "Let me think."),
        ("log", "Half an ans"),
    ]


async def test_wrong_key_is_auth(server: FakeZaiServer) -> None:
    run, failure = await chat(server, {"prompt": "hello"}, secrets={"ZAI_API_KEY": "k-wrong"})
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.AUTH
    assert str(failure) == "zai: error 1002: Invalid API key (HTTP 401)"
    assert "k-wrong" not in json.dumps(run.events)


async def test_missing_key_is_auth_without_a_request(server: FakeZaiServer) -> None:
    _, failure = await chat(server, {"prompt": "hello"}, secrets={})
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.AUTH
    assert str(failure).startswith("zai: ZAI_API_KEY not set")
    assert server.requests == []


async def test_a_key_that_would_break_the_request_is_refused(server: FakeZaiServer) -> None:
    _, failure = await chat(
        server, {"prompt": "hello"}, secrets={"ZAI_API_KEY": f"{KEY}\r\nX-Injected: 1"}
    )
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.AUTH
    assert str(failure) == "zai: the ZAI_API_KEY value has characters an HTTP header cannot carry"
    assert server.requests == []


@pytest.mark.parametrize("source", ["secret", "environment"])
async def test_a_key_echoed_by_the_server_is_masked(server: FakeZaiServer, source: str) -> None:
    # From the environment the key is no task secret, so the context cannot mask it: the
    # adapter has to.
    secrets = {"ZAI_API_KEY": KEY} if source == "secret" else {}
    environ = {} if source == "secret" else {"ZAI_API_KEY": KEY}
    run, failure = await chat(
        server, {"prompt": "hello", "model": "fail-leak"}, secrets=secrets, environ=environ
    )
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.AUTH
    assert str(failure) == "zai: error 1002: Invalid token: Bearer *** (HTTP 401)"
    assert_no_key(run, failure)


async def test_key_never_in_events_or_outputs(server: FakeZaiServer) -> None:
    run, outputs = await chat(
        server, {"prompt": f"my key is {KEY}"}, secrets={}, environ={"ZAI_API_KEY": KEY}
    )
    assert isinstance(outputs, Mapping)
    assert outputs["result"] == "Hello! You said: my key is ***\n你好世界。"
    assert_no_key(run, outputs)


# -- failures on our side ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ({}, "zai: input 'prompt' or 'messages' is required"),
        ({"prompt": ""}, "zai: input 'prompt' must be a non-empty string"),
        ({"prompt": "x", "bogus": 1}, "zai: unknown input(s): bogus"),
        ({"messages": []}, "zai: input 'messages' must be a non-empty list of {role, content}"),
        (
            {"messages": [{"role": "robot", "content": "x"}]},
            "zai: input 'messages[0]': 'role' must be one of system, user, assistant, tool",
        ),
        (
            {"messages": [{"role": "user"}]},
            "zai: input 'messages[0]': 'content' must be a string or a list of parts",
        ),
        ({"prompt": "x", "max_tokens": True}, "zai: input 'max_tokens' must be a positive integer"),
        ({"prompt": "x", "max_tokens": 0}, "zai: input 'max_tokens' must be a positive integer"),
        (
            {"prompt": "x", "temperature": "hot"},
            "zai: input 'temperature' must be a non-negative number",
        ),
        ({"prompt": "x", "thinking": "yes"}, "zai: input 'thinking' must be true or false"),
        ({"prompt": "x", "model": ""}, "zai: input 'model' must be a non-empty string"),
        ({"prompt": "x", "base_url": "ftp://x/"}, "zai: input 'base_url' must be an http(s) URL"),
        (
            {"prompt": "x", "base_url": "https://evil.example/api/"},
            "zai: input 'base_url' must be an https URL on api.z.ai or open.bigmodel.cn,"
            " or on the configured endpoint's host",
        ),
    ],
)
async def test_bad_inputs_fail_before_any_request(
    server: FakeZaiServer, inputs: dict[str, Any], message: str
) -> None:
    _, failure = await chat(server, inputs)
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.INVALID_INPUT
    assert str(failure) == message
    assert server.requests == []


async def test_unknown_action(server: FakeZaiServer) -> None:
    _, failure = await chat(server, {"prompt": "x"}, action="complete")
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.INVALID_INPUT


def test_endpoint_from_settings_plan_and_environment() -> None:
    def resolve(settings: dict[str, Any], environ: dict[str, str] | None = None) -> str:
        endpoint = endpoint_for({}, settings, environ or {})
        scheme = "https" if endpoint.tls else "http"
        return f"{scheme}://{endpoint.netloc}{endpoint.path}"

    assert resolve({}) == "https://api.z.ai/api/paas/v4/chat/completions"
    assert resolve({"plan": "coding"}) == "https://api.z.ai/api/coding/paas/v4/chat/completions"
    assert resolve({"plan": "mainland"}) == (
        "https://open.bigmodel.cn/api/paas/v4/chat/completions"
    )
    env = {"PHOTON_ZAI_BASE_URL": "http://127.0.0.1:9/v4"}
    assert resolve({}, env) == "http://127.0.0.1:9/v4/chat/completions"
    assert resolve({"plan": "coding"}, env).startswith("https://api.z.ai/api/coding/")
    assert resolve({"base_url": "http://[::1]:8080/x/", "plan": "coding"}, env) == (
        "http://[::1]:8080/x/chat/completions"
    )
    with pytest.raises(TaskFailed, match="setting 'plan' must be one of general, coding"):
        resolve({"plan": "gold"})
    for bad in ("api.z.ai", "https://api.z.ai/a b/", "https://api.z.ai/\r\nX: y"):
        with pytest.raises(TaskFailed, match="is not an http\\(s\\) URL"):
            resolve({"base_url": bad})
    picked = endpoint_for({"base_url": "https://api.z.ai/api/coding/paas/v4/"}, {}, {})
    assert picked.path == "/api/coding/paas/v4/chat/completions"


async def test_connection_refused_is_a_tool_error() -> None:
    with socket.socket() as bound:  # bound but not listening: connections are refused
        bound.bind(("127.0.0.1", 0))
        port = bound.getsockname()[1]
        run = make_run({"prompt": "hello"}, settings={"base_url": f"http://127.0.0.1:{port}/v4/"})
        with pytest.raises(TaskFailed) as caught:
            await ZaiPlugin(environ={}).run(run.ctx)
    assert caught.value.failure_class is FailureClass.TOOL_ERROR
    assert str(caught.value) == f"zai: cannot connect to 127.0.0.1:{port}: Connection refused"


async def test_a_silent_server_hits_the_idle_timeout(server: FakeZaiServer) -> None:
    settings = {"base_url": server.url, "idle_timeout": 0.3}
    started = time.monotonic()
    run, failure = await chat(server, {"prompt": "hello", "model": "slow"}, settings=settings)
    assert time.monotonic() - started < 2
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert str(failure) == (
        f"zai: no data from 127.0.0.1:{server.port} for 0.3 s; request abandoned"
    )
    assert run.messages("thinking") == ["Thinking slowly"]
    assert server.client_gone.wait(2)


# -- stopping ---------------------------------------------------------------------------------


async def test_cancel_aborts_a_stalled_stream(server: FakeZaiServer) -> None:
    run = make_run({"prompt": "hello", "model": "slow"}, settings={"base_url": server.url})

    async def cancel_when_streaming() -> None:
        while "thinking" not in run.kinds():
            await asyncio.sleep(0.01)
        run.ctx.cancelled.set()

    started = time.monotonic()
    async with asyncio.TaskGroup() as tg:
        tg.create_task(cancel_when_streaming())
        with pytest.raises(TaskFailed) as caught:
            await run_plugin(ZaiPlugin(environ={}), run.ctx)
    assert time.monotonic() - started < 2
    assert caught.value.failure_class is FailureClass.CANCELLED
    assert str(caught.value) == "zai: cancelled; request aborted"
    assert run.messages("thinking") == ["Thinking slowly"]
    assert server.client_gone.wait(2)


async def test_deadline_aborts_a_stalled_stream(server: FakeZaiServer) -> None:
    started = time.monotonic()
    _, failure = await chat(server, {"prompt": "hello", "model": "slow"}, deadline=started + 0.5)
    assert 0.4 < time.monotonic() - started < 2
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.TIMEOUT
    assert str(failure) == "zai: deadline passed; request aborted"
    assert server.client_gone.wait(2)


async def test_cancelling_the_coroutine_closes_the_connection(server: FakeZaiServer) -> None:
    run = make_run({"prompt": "hello", "model": "slow"}, settings={"base_url": server.url})
    attempt = asyncio.ensure_future(ZaiPlugin(environ={}).run(run.ctx))
    while "thinking" not in run.kinds():
        await asyncio.sleep(0.01)
    attempt.cancel()
    with pytest.raises(asyncio.CancelledError):
        await attempt
    assert server.client_gone.wait(2)


async def test_already_stopped_tasks_send_nothing(server: FakeZaiServer) -> None:
    _, late = await chat(server, {"prompt": "hello"}, deadline=time.monotonic() - 1)
    assert isinstance(late, TaskFailed)
    assert late.failure_class is FailureClass.TIMEOUT

    run = make_run({"prompt": "hello"}, settings={"base_url": server.url})
    run.ctx.cancelled.set()
    with pytest.raises(TaskFailed) as caught:
        await ZaiPlugin(environ={}).run(run.ctx)
    assert caught.value.failure_class is FailureClass.CANCELLED
    assert server.requests == []


# -- https ------------------------------------------------------------------------------------


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA file and a server context whose certificate that CA signed for 127.0.0.1."""
    ca_key, ca_cert = create_ca(common_name="zai test CA")
    key = generate_private_key()
    cert = issue_hub_certificate(
        ca_key=ca_key, ca_cert=ca_cert, public_key=key.public_key(), sans=["127.0.0.1"]
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(certificate_to_pem(ca_cert))
    chain = tmp_path / "server.pem"
    chain.write_bytes(private_key_to_pem(key) + certificate_to_pem(cert))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return ca_file, context


async def test_https_with_a_trusted_certificate(
    tls_files: tuple[Path, ssl.SSLContext], monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file, context = tls_files
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # read when the default context is made
    with FakeZaiServer(tls=context) as server:
        assert server.url.startswith("https://")
        _, outputs = await chat(server, {"prompt": "hello"})
    assert isinstance(outputs, Mapping), outputs
    assert outputs["result"] == RESULT


async def test_https_with_an_untrusted_certificate(
    tls_files: tuple[Path, ssl.SSLContext],
) -> None:
    _, context = tls_files
    with FakeZaiServer(tls=context) as server:
        run, failure = await chat(server, {"prompt": "hello"})
    assert isinstance(failure, TaskFailed)
    assert failure.failure_class is FailureClass.TOOL_ERROR
    assert str(failure).startswith(f"zai: cannot connect to 127.0.0.1:{server.port}: TLS: ")
    assert "CERTIFICATE_VERIFY_FAILED" in str(failure)
    assert_no_key(run, failure)


def test_stream_chunks_are_interpreted_without_a_connection() -> None:
    assert parse_chunk(" [DONE] ") == Chunk(done=True)
    assert parse_chunk("keep-alive") is None  # not JSON
    assert parse_chunk("[1, 2]") is None  # JSON, but not a chunk
    assert parse_chunk('{"error": {"code": "1113", "message": "arrears"}}') == Chunk(error=True)
    assert parse_chunk('{"choices": [{"delta": {"content": 7}}]}') == Chunk()

    reply = Reply(model="glm-4.6")
    for data in (
        {"model": "glm-4.6-x", "choices": [{"delta": {"reasoning_content": "Hm. "}}]},
        {"choices": [{"delta": {"reasoning_content": "Yes.", "content": "Hi"}}]},
        {"choices": [{"delta": {"content": "!"}, "finish_reason": "stop"}]},
        {
            "usage": {
                "total_tokens": 9,
                "prompt_tokens": True,
                "prompt_tokens_details": {"cached_tokens": 2},
            }
        },
    ):
        chunk = parse_chunk(json.dumps(data))
        assert chunk is not None
        reply.add(chunk)
    assert not reply.done
    reply.add(Chunk(done=True))
    assert reply.done
    assert reply.outputs(lambda text: text.replace("Hi", "**")) == {
        "result": "**!",
        "reasoning": "Hm. Yes.",
        "model": "glm-4.6-x",
        "usage": {"total_tokens": 9, "cached_tokens": 2},
        "finish_reason": "stop",
        "cost_usd": None,
    }
