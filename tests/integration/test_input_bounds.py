"""What a client or an agent sends the hub is bounded where it is parsed: depth and size of
documents, the characters of names and labels, and the length of what an error quotes.

Raw gRPC stubs send what photonctl and the agent would refuse before sending.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest

from photon.client import TaskEvent, load_context
from photon.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    mesh_pb2,
    mesh_pb2_grpc,
)

from .harness import Mesh

DEEPER = "nested deeper than the limit max-input-depth (32)"
DEPTH_ERROR = f"inputs: {DEEPER}"


def _nested(depth: int) -> str:
    """A JSON object nested `depth` levels deep."""
    return '{"a":' * depth + "1" + "}" * depth


@asynccontextmanager
async def _admin(mesh: Mesh) -> AsyncIterator[tuple[Any, tuple[tuple[str, str], ...]]]:
    context = load_context(mesh.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    async with grpc.aio.secure_channel(context.api, credentials) as channel:
        login = await auth_pb2_grpc.AuthServiceStub(channel).Login(
            auth_pb2.LoginRequest(api_key=context.api_key)
        )
        metadata = (("authorization", f"Bearer {login.token}"),)
        yield admin_pb2_grpc.AdminServiceStub(channel), metadata


async def _refusal(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    return caught.value


async def test_inputs_nested_too_deeply_are_refused_naming_the_limit(mesh: Mesh) -> None:
    await mesh.agent("worker")
    async with _admin(mesh) as (admin, metadata):
        for depth in (33, 900, 10_000):
            spec = common_pb2.TaskSpec(tool="echo", inputs_json=_nested(depth))
            refused = await _refusal(
                admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=spec), metadata=metadata)
            )
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
            assert refused.details() == DEPTH_ERROR
            many = await _refusal(
                admin.SubmitTasks(admin_pb2.SubmitTasksRequest(specs=[spec]), metadata=metadata)
            )
            assert many.details() == f"spec 0: {DEPTH_ERROR}"
        big = common_pb2.TaskSpec(tool="echo", inputs_json=json.dumps({"a": "x" * 1_100_000}))
        refused = await _refusal(
            admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=big), metadata=metadata)
        )
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.details() == (
            "inputs: size exceeds the limit max-input-bytes (1100009 > 1048576)"
        )
        # Right at the limit is fine, and what comes back can be shown.
        ok = common_pb2.TaskSpec(tool="echo", inputs_json=_nested(32))
        created = await admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=ok), metadata=metadata)
    async with mesh.client() as client:
        task = await client.wait(created.task.spec.id)
    assert task.state.value == "SUCCEEDED"
    shown = mesh.ctl("tasks", "show", task.id)
    assert shown.returncode == 0, shown.stderr


async def test_workflow_documents_nested_too_deeply_or_too_large_are_refused(mesh: Mesh) -> None:
    async with _admin(mesh) as (admin, metadata):
        for depth in (40, 10_000):
            request = admin_pb2.SubmitWorkflowRequest(document_json=_nested(depth))
            refused = await _refusal(admin.SubmitWorkflow(request, metadata=metadata))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.details() == f"workflow: {DEEPER}"
        document = json.dumps({"name": "w", "steps": [], "description": "x" * 1_100_000})
        request = admin_pb2.SubmitWorkflowRequest(document_json=document)
        refused = await _refusal(admin.SubmitWorkflow(request, metadata=metadata))
        assert refused.details() == (
            f"workflow: size exceeds the limit max-workflow-bytes ({len(document)} > 1048576)"
        )
        request = admin_pb2.SubmitWorkflowRequest(
            document_json=json.dumps({"name": "w", "steps": []}), inputs_json=_nested(10_000)
        )
        refused = await _refusal(admin.SubmitWorkflow(request, metadata=metadata))
        assert refused.details() == DEPTH_ERROR


async def test_an_error_quotes_a_600_kb_selector_briefly(mesh: Mesh) -> None:
    await mesh.agent("worker")
    selector = "a=(" + "b" * 600_000
    async with _admin(mesh) as (admin, metadata):
        spec = common_pb2.TaskSpec(tool="echo", selector=selector)
        refused = await _refusal(
            admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=spec), metadata=metadata)
        )
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
        assert refused.details() == (
            "selector: length exceeds the limit max-selector-length (600003 > 1024)"
        )
        # A selector within the limit whose term does not parse is quoted in part.
        spec = common_pb2.TaskSpec(tool="echo", selector="a=(" + "b" * 1000)
        refused = await _refusal(
            admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=spec), metadata=metadata)
        )
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.details().startswith("selector term 'a=(bbb")
        assert len(refused.details()) < 300
        # A pin nobody could have (the engine quotes it) is cut at the edge.
        spec = common_pb2.TaskSpec(tool="echo", agent="x" * 600_000)
        refused = await _refusal(
            admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=spec), metadata=metadata)
        )
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
        assert refused.details() == (
            "agent: length exceeds the limit max-name-length (600000 > 63)"
        )


async def test_a_cycle_of_ten_thousand_steps_is_refused_with_a_short_message(mesh: Mesh) -> None:
    await mesh.agent("worker")
    count = 10_000
    steps = [
        {"id": f"s{i}", "tool": "echo", "needs": [f"s{(i + 1) % count}"]} for i in range(count)
    ]
    request = admin_pb2.SubmitWorkflowRequest(
        document_json=json.dumps({"name": "loop", "steps": steps})
    )
    async with _admin(mesh) as (admin, metadata):
        refused = await _refusal(admin.SubmitWorkflow(request, metadata=metadata))
    # Whatever the workflow's rules say about it, the status carries the reason, cut short.
    assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.code()
    assert 0 < len(refused.details()) <= 1000


CONTROL = ["\x1b[31mred", "two\nlines", "nul\x00", "bell\x07"]


async def test_labels_and_selectors_with_control_characters_are_refused(mesh: Mesh) -> None:
    await mesh.agent("worker")
    async with _admin(mesh) as (admin, metadata):
        for text in CONTROL:
            spec = common_pb2.TaskSpec(tool="echo", labels={"team": text})
            refused = await _refusal(
                admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=spec), metadata=metadata)
            )
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.details() == "labels: the value of 'team' has a control character"
            spec = common_pb2.TaskSpec(tool="echo", labels={text: "x"})
            refused = await _refusal(
                admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=spec), metadata=metadata)
            )
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.details().startswith("labels: key "), refused.details()
            assert "\x1b" not in refused.details() and "\n" not in refused.details()
            spec = common_pb2.TaskSpec(tool="echo", selector=f"team={text}")
            refused = await _refusal(
                admin.SubmitTask(admin_pb2.SubmitTaskRequest(spec=spec), metadata=metadata)
            )
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.details() == "selector: has a control character"
            token = admin_pb2.CreateJoinTokenRequest(labels={"pool": text})
            refused = await _refusal(admin.CreateJoinToken(token, metadata=metadata))
            assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert refused.details() == "labels: the value of 'pool' has a control character"
        document = {
            "name": "w",
            "steps": [{"id": "a", "tool": "echo", "labels": {"team": "\x1b[2J"}}],
        }
        request = admin_pb2.SubmitWorkflowRequest(document_json=json.dumps(document))
        refused = await _refusal(admin.SubmitWorkflow(request, metadata=metadata))
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert refused.details() == ("step 'a' labels: the value of 'team' has a control character")
        document["steps"] = [{"id": "a", "tool": "echo", "selector": "team=\x1b[2J"}]
        request = admin_pb2.SubmitWorkflowRequest(document_json=json.dumps(document))
        refused = await _refusal(admin.SubmitWorkflow(request, metadata=metadata))
        assert refused.details() == "step 'a' selector: has a control character"
    async with mesh.client() as client:
        assert await client.list_tasks() == []
        assert await client.list_workflows() == []


async def _join_raw(mesh: Mesh, **fields: Any) -> grpc.aio.AioRpcError | None:
    """Join with a hand-made request; the error, or None when the hub took it."""
    from photon._join_token import JoinToken
    from photon.certs import create_csr, generate_private_key
    from photon.v1 import enroll_pb2, enroll_pb2_grpc

    token = JoinToken.decode(mesh.ctl("join-token", "create").stdout.strip())
    request = enroll_pb2.JoinRequest(
        token_id=token.token_id,
        token_secret=token.secret,
        csr_pem=create_csr(key=generate_private_key(), common_name="x"),
        **fields,
    )
    ca_pem = (mesh.hub_dir / "ca.crt").read_bytes()
    credentials = grpc.ssl_channel_credentials(root_certificates=ca_pem)
    async with grpc.aio.secure_channel(token.api_addresses[0], credentials) as channel:
        try:
            await enroll_pb2_grpc.EnrollServiceStub(channel).Join(request)
        except grpc.aio.AioRpcError as exc:
            return exc
    return None


async def test_join_refuses_names_labels_and_hostnames_a_terminal_would_obey(mesh: Mesh) -> None:
    not_a_name = "name: must be letters, digits and ._- (not first)"
    cases: list[tuple[dict[str, Any], str]] = [
        ({"name": "\x1b[31mred"}, not_a_name),
        ({"name": "ok", "hostname": "h\nost"}, "hostname: has a control character"),
        ({"name": "n" * 64}, "name: length exceeds the limit max-name-length (64 > 63)"),
        (
            {"name": "ok", "labels": {"k": "v\x00"}},
            "labels: the value of 'k' has a control character",
        ),
        ({"hostname": "bad host"}, not_a_name),  # the name defaults to the hostname
    ]
    for fields, message in cases:
        refused = await _join_raw(mesh, **fields)
        assert refused is not None, fields
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
        assert refused.details() == message
    fine = {"name": "fine-1.2_x", "hostname": "host.example", "labels": {"a/b": "c d"}}
    assert await _join_raw(mesh, **fine) is None
    async with mesh.client() as client:
        assert [a.name for a in await client.list_agents()] == ["fine-1.2_x"]


def _agent_credentials(data_dir: Path) -> grpc.ChannelCredentials:
    return grpc.ssl_channel_credentials(
        root_certificates=(data_dir / "ca.crt").read_bytes(),
        private_key=(data_dir / "agent.key").read_bytes(),
        certificate_chain=(data_dir / "agent.crt").read_bytes(),
    )


async def _hello(mesh: Mesh, data_dir: Path, hello: mesh_pb2.Hello) -> grpc.aio.AioRpcError:
    async with grpc.aio.secure_channel(mesh.serving["mesh"], _agent_credentials(data_dir)) as ch:
        call = mesh_pb2_grpc.MeshServiceStub(ch).Connect()
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call.write(mesh_pb2.ConnectRequest(hello=hello))
            while True:
                await call.read()
        return caught.value


async def test_a_hello_with_bad_labels_or_hostname_is_refused_saying_why(mesh: Mesh) -> None:
    data_dir = mesh.join("raw")
    cases = [
        (
            mesh_pb2.Hello(slots=1, labels={"gpu": "\x1b]0;pwned\x07"}),
            "labels: the value of 'gpu' has a control character",
        ),
        (
            mesh_pb2.Hello(slots=1, labels={"bad key": "x"}),
            "labels: key 'bad key' must be letters, digits and ._/- (not first)",
        ),
        (
            mesh_pb2.Hello(slots=1, hostname="fake\n2026-01-01 INFO agent admin connected"),
            "hostname: has a control character",
        ),
        (
            mesh_pb2.Hello(slots=1, labels={f"k{i}": "v" for i in range(65)}),
            "labels: count exceeds the limit max-labels (65 > 64)",
        ),
        (
            mesh_pb2.Hello(slots=1, tools=[_tool(schema=_nested(40))]),
            f"tool 'echo' action 'echo' input schema: {DEEPER}",
        ),
        (
            mesh_pb2.Hello(slots=1, tools=[_tool(schema="[1]")]),
            "tool 'echo' action 'echo' input schema must be a JSON object",
        ),
    ]
    for hello, message in cases:
        refused = await _hello(mesh, data_dir, hello)
        assert refused.code() == grpc.StatusCode.INVALID_ARGUMENT, refused.details()
        assert refused.details() == f"Hello refused: {message}"
    async with mesh.client() as client:
        (agent,) = await client.list_agents()
    assert agent.state.value == "lost" and dict(agent.labels) == {}


async def test_a_heartbeat_with_tools_the_hub_cannot_take_ends_the_stream(mesh: Mesh) -> None:
    data_dir = mesh.join("raw")
    async with grpc.aio.secure_channel(mesh.serving["mesh"], _agent_credentials(data_dir)) as ch:
        call = mesh_pb2_grpc.MeshServiceStub(ch).Connect()
        await call.write(mesh_pb2.ConnectRequest(hello=mesh_pb2.Hello(slots=1, tools=[_tool()])))
        assert (await call.read()).WhichOneof("body") == "welcome"
        beat = mesh_pb2.Heartbeat(tools_changed=True, tools=[_tool(schema=_nested(40))])
        await call.write(mesh_pb2.ConnectRequest(heartbeat=beat))
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            while True:
                await call.read()
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert caught.value.details() == f"tool 'echo' action 'echo' input schema: {DEEPER}"
    async with mesh.client() as client:
        (agent,) = await client.list_agents()
    assert agent.state.value != "connected"


async def test_an_agent_whose_labels_the_hub_refuses_stops_with_one_line(mesh: Mesh) -> None:
    data_dir = mesh.join("labelled")
    (data_dir / "agent.toml").write_text('labels = { team = "\\u001b[31mred" }\n')
    result = mesh.run("-m", "photon.cli.agent", "run", "--data-dir", str(data_dir), timeout=30)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == (
        "error: Hello refused: labels: the value of 'team' has a control character"
    )


def _tool(*, schema: str = "") -> common_pb2.ToolCapability:
    return common_pb2.ToolCapability(
        name="echo",
        available=True,
        enabled=True,
        actions=[common_pb2.ToolAction(name="echo", input_schema_json=schema)],
        default_action="echo",
    )


def _event(message: str, data_json: str = "") -> common_pb2.TaskEvent:
    return common_pb2.TaskEvent(kind="log", message=message, data_json=data_json, time=time.time())


async def test_what_an_agent_reports_is_kept_within_bounds(mesh: Mesh) -> None:
    """Deep or huge event data and outputs become a short marker; the task still ends."""
    data_dir = mesh.join("raw")
    async with (
        mesh.client() as client,
        grpc.aio.secure_channel(mesh.serving["mesh"], _agent_credentials(data_dir)) as channel,
    ):
        call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
        await call.write(mesh_pb2.ConnectRequest(hello=mesh_pb2.Hello(slots=1, tools=[_tool()])))
        assert (await call.read()).WhichOneof("body") == "welcome"
        task = await client.submit("echo")
        assign = None
        while assign is None:
            message = await call.read()
            for item in message.batch or [message]:
                if item.WhichOneof("body") == "assign":
                    assign = item.assign
        ref = assign.attempt
        accepted = mesh_pb2.TaskAccepted(attempt=ref)
        await call.write(mesh_pb2.ConnectRequest(task_accepted=accepted))
        events = [
            _event("deep", _nested(1_000)),
            _event("big", json.dumps({"x": "y" * 100_000})),
            _event("m" * 100_000),
        ]
        progress = mesh_pb2.TaskProgress(attempt=ref, events=events)
        await call.write(mesh_pb2.ConnectRequest(task_progress=progress))
        result = mesh_pb2.TaskResult(
            attempt=ref, ok=True, outputs_json=_nested(10_000), finished_at=time.time()
        )
        await call.write(mesh_pb2.ConnectRequest(task_result=result))
        ended = await client.wait(task.id)
        call.cancel()
        assert ended.state.value == "SUCCEEDED"
        assert ended.outputs == {"omitted": DEEPER}
        logged = [
            item
            async for item in client.watch(task.id, follow=False)
            if isinstance(item, TaskEvent) and item.kind == "log"
        ]
    assert [dict(e.data) for e in logged[:2]] == [
        {"omitted": DEEPER},
        {"omitted": "size exceeds the limit max-event-bytes (100009 > 16384)"},
    ]
    assert len(logged[2].message) < 17_000 and logged[2].message.startswith("mmm")
    assert mesh.ctl("tasks", "show", task.id).returncode == 0
    assert mesh.hub is not None and "Traceback" not in mesh.hub.output()


async def test_a_billion_laughs_workflow_file_is_one_usage_line(mesh: Mesh, tmp_path: Path) -> None:
    lines = ["a0: &a0 [" + ", ".join(['"lol"'] * 10) + "]"]
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]" for i in range(1, 9)]
    path = tmp_path / "laughs.yaml"
    path.write_text("name: laughs\n" + "\n".join(lines) + "\nsteps: []\n")
    started = time.monotonic()
    result = mesh.ctl("workflow", "run", str(path), timeout=30)
    assert result.returncode == 2, result.stderr[-500:]
    assert result.stderr.splitlines() == [
        f"error: {path}: expands to more than 1048576 bytes (aliases repeat what they name)"
    ]
    assert time.monotonic() - started < 10
