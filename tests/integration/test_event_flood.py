"""An enrolled agent that floods the hub with progress events cannot fill its database."""

from __future__ import annotations

import json
import sqlite3

import grpc
import grpc.aio

from photon.v1 import common_pb2, mesh_pb2, mesh_pb2_grpc
from photon.wire import CHANNEL_OPTIONS, EOF

from .harness import Mesh, wait_for

FLOOD = 100_003
CAP = 10_000  # the default max-events-per-task


async def test_a_flood_of_progress_events_is_capped_and_said(mesh: Mesh) -> None:
    data_dir = mesh.join("flooder")
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(data_dir / "ca.crt").read_bytes(),
        private_key=(data_dir / "agent.key").read_bytes(),
        certificate_chain=(data_dir / "agent.crt").read_bytes(),
    )
    echo = common_pb2.ToolCapability(
        name="echo", default_action="echo", available=True, enabled=True,
        actions=[common_pb2.ToolAction(name="echo")],
    )  # fmt: skip
    async with grpc.aio.secure_channel(
        mesh.serving["mesh"], credentials, options=CHANNEL_OPTIONS
    ) as channel:
        call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
        await call.write(mesh_pb2.ConnectRequest(hello=mesh_pb2.Hello(slots=1, tools=[echo])))
        welcome = await call.read()
        assert welcome is not EOF and welcome.WhichOneof("body") == "welcome"
        async with mesh.client() as client:
            task = await client.submit("echo", agent="flooder")
            assign = None
            while assign is None:
                message = await call.read()
                items = [message, *message.batch]
                assign = next((m.assign for m in items if m.WhichOneof("body") == "assign"), None)
            ref = assign.attempt
            await call.write(
                mesh_pb2.ConnectRequest(task_accepted=mesh_pb2.TaskAccepted(attempt=ref))
            )
            line = common_pb2.TaskEvent(kind="log", message="x" * 400)
            batch = [
                mesh_pb2.ConnectRequest(
                    task_progress=mesh_pb2.TaskProgress(attempt=ref, events=[line] * 1000)
                )
            ]
            for _ in range(FLOOD // 1000):
                await call.write(mesh_pb2.ConnectRequest(batch=batch))
            await call.write(
                mesh_pb2.ConnectRequest(
                    task_progress=mesh_pb2.TaskProgress(attempt=ref, events=[line] * 3)
                )
            )
            await call.write(
                mesh_pb2.ConnectRequest(
                    task_result=mesh_pb2.TaskResult(attempt=ref, ok=True, outputs_json="{}")
                )
            )

            async def ended() -> bool:
                return (await client.get_task(task.id)).state.terminal

            await wait_for(ended, timeout=60)
        await call.done_writing()

    with sqlite3.connect(f"file:{mesh.hub_dir / 'hub.db'}?mode=ro", uri=True) as db:
        kinds = dict(
            db.execute(
                "SELECT kind, COUNT(*) FROM task_events WHERE task_id = ? GROUP BY kind", (task.id,)
            ).fetchall()
        )
        (end,) = db.execute(
            "SELECT data FROM task_events WHERE task_id = ? AND kind = 'state' ORDER BY seq DESC"
            " LIMIT 1",
            (task.id,),
        ).fetchone()
    assert kinds["log"] <= CAP
    assert kinds["warning"] == 1
    assert json.loads(end)["dropped_events"] == FLOOD - kinds["log"]
    logs = mesh.ctl("tasks", "logs", task.id)
    assert "progress events over the limit" in logs.stdout
