"""What the hub refuses at submit time rather than letting a task wait for nothing, and the
submissions whose client gives up half-way."""

from __future__ import annotations

import asyncio
import json
import random
import sqlite3

import grpc
import grpc.aio
import pytest

from photon.client import load_context
from photon.errors import InvalidArgumentError, NotFoundError
from photon.v1 import admin_pb2, admin_pb2_grpc, auth_pb2, auth_pb2_grpc, common_pb2

from .harness import Mesh, wait_for


async def test_a_pin_to_an_agent_the_hub_never_heard_of_is_refused(mesh: Mesh) -> None:
    await mesh.agent("known")
    run = mesh.ctl("run", "echo", "--agent", "stranger", timeout=20)
    assert run.returncode == 1
    assert run.stderr.strip() == (
        "error: no agent 'stranger' has joined this mesh (photonctl agents list)"
    )
    async with mesh.client() as client:
        with pytest.raises(NotFoundError):
            await client.submit("echo", agent="stranger")
        assert await client.list_tasks() == []


async def test_a_pin_by_name_runs_there_and_is_kept_as_the_agents_id(mesh: Mesh) -> None:
    await mesh.agent("one")
    await mesh.agent("two")
    async with mesh.client() as client:
        two = next(a for a in await client.list_agents() if a.name == "two")
        task = await client.run("echo", agent="two")
    assert task.state.value == "SUCCEEDED" and task.agent_id == two.id
    assert task.spec.agent == two.id


async def test_a_task_pinned_to_a_draining_agent_says_it_is_draining(mesh: Mesh) -> None:
    await mesh.agent("busy")
    assert mesh.ctl("agents", "drain", "busy").returncode == 0
    async with mesh.client() as client:
        task = await client.submit("echo", agent="busy")

        async def reason() -> str:
            return (await client.get_task(task.id)).waiting_reason

        assert await wait_for(reason) == "agent busy is draining"
        await client.undrain_agent("busy")
        ended = await client.wait(task.id)
    assert ended.state.value == "SUCCEEDED"


async def test_an_agent_may_not_take_another_agents_id_as_its_name(mesh: Mesh) -> None:
    await mesh.agent("genuine")
    async with mesh.client() as client:
        genuine = next(a for a in await client.list_agents() if a.name == "genuine")
    token = mesh.ctl("join-token", "create").stdout.strip()
    impostor = mesh.run(
        "-m",
        "photon.cli.agent",
        "join",
        "--token",
        token,
        "--name",
        genuine.id,
        "--data-dir",
        str(mesh.root / "impostor"),
    )
    assert impostor.returncode == 1
    assert impostor.stderr.strip() == (
        f"error: an agent named '{genuine.id}' is already a member; join with another --name"
    )
    twin = mesh.run(
        "-m",
        "photon.cli.agent",
        "join",
        "--token",
        token,
        "--name",
        "genuine",
        "--data-dir",
        str(mesh.root / "twin"),
    )
    assert twin.returncode == 1 and "already a member" in twin.stderr
    # The refused joins spent nothing of the one-use token.
    assert mesh.run(
        "-m", "photon.cli.agent", "join", "--token", token, "--name", "third",
        "--data-dir", str(mesh.root / "third"),
    ).returncode == 0  # fmt: skip
    async with mesh.client() as client:
        tasks = [await client.run("echo", agent=genuine.id) for _ in range(4)]
    assert {t.agent_id for t in tasks} == {genuine.id}


async def test_a_workflow_whose_tool_no_agent_can_run_is_refused(mesh: Mesh) -> None:
    data_dir = mesh.join("no-cursor")
    (data_dir / "agent.toml").write_text(
        '[tools.cursor-agent]\nbinary = "/nonexistent/cursor-agent"\n'
    )
    mesh.start_agent(data_dir)
    await mesh.wait_agent_state("no-cursor", "connected")
    document = {
        "name": "ui",
        "steps": [
            {"id": "hello", "tool": "echo"},
            {"id": "ui", "tool": "cursor-agent", "needs": ["hello"], "inputs": {"prompt": "x"}},
        ],
    }
    async with mesh.client() as client:
        with pytest.raises(InvalidArgumentError) as refused:
            await client.submit_workflow(document)
        assert str(refused.value) == "step 'ui': no agent offers the tool 'cursor-agent'"
        assert await client.list_workflows() == []
        with pytest.raises(InvalidArgumentError, match="step 'hello': no agent 'gone'"):
            await client.submit_workflow(
                {"name": "pinned", "steps": [{"id": "hello", "tool": "echo", "agent": "gone"}]}
            )


async def test_clients_that_give_up_mid_submission_leave_no_task_behind(mesh: Mesh) -> None:
    await mesh.agent("worker", "--slots", "16")
    context = load_context(mesh.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    rng = random.Random(7)
    async with grpc.aio.secure_channel(context.api, credentials) as channel:
        login = await auth_pb2_grpc.AuthServiceStub(channel).Login(
            auth_pb2.LoginRequest(api_key=context.api_key)
        )
        metadata = (("authorization", f"Bearer {login.token}"),)
        admin = admin_pb2_grpc.AdminServiceStub(channel)

        async def impatient(i: int) -> None:
            spec = common_pb2.TaskSpec(
                tool="echo",
                inputs_json=json.dumps({"n": i}),
                idempotency_key=f"key-{i}" if i % 2 else "",
            )
            try:  # deadlines of 1-40 ms: many give up while the hub commits
                await admin.SubmitTask(
                    admin_pb2.SubmitTaskRequest(spec=spec),
                    metadata=metadata,
                    timeout=rng.uniform(0.001, 0.04),
                )
            except grpc.aio.AioRpcError as exc:
                assert exc.code() == grpc.StatusCode.DEADLINE_EXCEEDED

        await asyncio.gather(*(impatient(i) for i in range(400)))

    def unfinished() -> list[tuple[str, str]]:
        with sqlite3.connect(f"file:{mesh.hub_dir / 'hub.db'}?mode=ro", uri=True) as db:
            return db.execute(
                "SELECT id, state FROM tasks WHERE state NOT IN"
                " ('SUCCEEDED', 'FAILED', 'CANCELLED', 'TIMED_OUT')"
            ).fetchall()

    # Every task the store holds runs to an end, whatever its client did.
    await wait_for(lambda: unfinished() == [], timeout=60)
    async with mesh.client() as client:
        # A keyed resubmission finds its twin, and that twin has run.
        again = await client.run("echo", inputs={"n": 1}, idempotency_key="key-1")
    assert again.state.value == "SUCCEEDED"
