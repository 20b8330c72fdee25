"""Secrets end to end: set, rotate, list and delete them with photonctl; a task references one
in its env and its tool gets the value, while everything streamed back, the task record, the
hub's log and its database show no trace of it."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
import urllib.request
from pathlib import Path

import pytest

from photon.client import PhotonClient, load_context, task_spec
from photon.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from photon.model import FailureClass, RetryPolicy, Role, TaskState, WorkflowState

from .harness import PYTHON, Mesh, free_port

# The tool prints its token (to be masked) and the token's SHA-256 (to prove it got it).
SCRIPT = 'echo "token=$TOKEN"; printf %s "$TOKEN" | sha256sum'


def ctl(
    mesh: Mesh, *args: str, input: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "photon.cli.ctl", *args],
        env={**mesh.env, **(env or {})},
        capture_output=True,
        text=True,
        input=input,
        timeout=60,
    )


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def run_script(mesh: Mesh, script: str, *env: str) -> dict:  # type: ignore[type-arg]
    flags = [f for pair in env for f in ("--env", pair)]
    argv = json.dumps(["sh", "-c", script])
    result = ctl(mesh, "run", "shell", *flags, "--input", f"argv:={argv}", "-o", "json")
    assert result.stderr == "", result.stderr
    task: dict = json.loads(result.stdout)  # type: ignore[type-arg]
    return task


def stored_bytes(hub_dir: Path) -> bytes:
    """Everything SQLite holds on disk: the database and its write-ahead log."""
    return b"".join(p.read_bytes() for p in hub_dir.glob("hub.db*"))


def client_as(mesh: Mesh, role: Role) -> PhotonClient:
    """A client acting as a new user of `role`."""
    made = mesh.ctl("user", "create", f"someone-{role.value}", "--role", role.value)
    assert made.returncode == 0, made.stderr
    context = load_context(mesh.config_path)
    return PhotonClient(
        address=context.api, ca_pem=context.ca_pem.encode(), api_key=made.stdout.strip()
    )


async def test_a_secret_reaches_the_tool_masked_everywhere_else(mesh: Mesh) -> None:
    first, second = f"s3cret-{secrets.token_hex(8)}", f"r0tated-{secrets.token_hex(8)}"
    agent = await mesh.agent("box", "--allow-tool", "shell")

    # From stdin, one trailing newline dropped.
    made = ctl(mesh, "secret", "set", "tok", input=first + "\n")
    assert (made.returncode, made.stdout, made.stderr) == (0, "secret tok set (version 1)\n", "")

    task = run_script(mesh, SCRIPT, "TOKEN=secret:tok")
    assert task["state"] == "SUCCEEDED", task
    stdout = task["outputs"]["stdout"]
    assert stdout.startswith("token=***\n")
    assert sha256(first) in stdout  # the process really had the value
    assert task["env"] == {"TOKEN": "secret:tok"}  # the record keeps the reference

    logs = ctl(mesh, "tasks", "logs", task["id"])
    assert logs.returncode == 0, logs.stderr
    assert "log/stdout: token=***" in logs.stdout
    shown = ctl(mesh, "tasks", "show", task["id"], "-o", "json")
    assert json.loads(shown.stdout)["env"] == {"TOKEN": "secret:tok"}

    # Rotation, from a file: the next task gets version 2.
    value_file = mesh.root / "value.txt"
    value_file.write_text(second + "\n")
    rotated = ctl(mesh, "secret", "set", "tok", "--from-file", str(value_file))
    assert rotated.stdout == "secret tok set (version 2)\n", rotated.stderr
    task = run_script(mesh, SCRIPT, "TOKEN=secret:tok", "PLAIN=as-is")
    assert sha256(second) in task["outputs"]["stdout"]
    assert task["env"] == {"TOKEN": "secret:tok", "PLAIN": "as-is"}

    # A failure message quoting the value is masked too.
    failed = run_script(mesh, 'echo "bad $TOKEN" >&2; exit 3', "TOKEN=secret:tok")
    assert failed["state"] == "FAILED"
    assert failed["failure"]["message"] == "exited with 3: bad ***"
    assert failed["outputs"] is None or second not in json.dumps(failed["outputs"])

    # From a variable (taken as it is), JSON output.
    from_env = ctl(
        mesh,
        "secret",
        "set",
        "other",
        "--from-env",
        "MY_VALUE",
        "-o",
        "json",
        env={"MY_VALUE": "v\n"},
    )
    assert json.loads(from_env.stdout)["version"] == 1, from_env.stderr

    listed = ctl(mesh, "secret", "list", "-o", "json")
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert {n: (r["version"], r["set_by"]) for n, r in rows.items()} == {
        "other": (1, "admin"),
        "tok": (2, "admin"),
    }
    assert all(set(r) == {"name", "version", "set_by", "set_at"} for r in rows.values())
    table = ctl(mesh, "secret", "list")
    assert table.stdout.splitlines()[0].split() == ["NAME", "VERSION", "SET", "BY", "SET"]

    deleted = ctl(mesh, "secret", "delete", "tok")
    assert deleted.stdout == "secret tok deleted (2 versions)\n", deleted.stderr
    left = json.loads(ctl(mesh, "secret", "list", "-o", "json").stdout)
    assert [r["name"] for r in left] == ["other"]
    gone = ctl(mesh, "secret", "delete", "tok")
    assert (gone.returncode, gone.stderr) == (1, "error: no secret named 'tok'\n")

    # Nothing of either value anywhere the hub writes or the client was shown.
    with urllib.request.urlopen(f"http://{mesh.serving['http']}/metrics", timeout=10) as page:
        metrics = page.read().decode()
    assert "photon_agents" in metrics
    mesh.stop_all()
    for value in (first, second):
        assert value.encode() not in stored_bytes(mesh.hub_dir)
        assert value not in (mesh.root / "hub.log").read_text()
        assert value not in agent.output()
        assert value not in metrics


async def test_references_are_checked_at_submit_and_at_dispatch(mesh: Mesh) -> None:
    await mesh.agent("box", "--allow-tool", "shell")
    unknown = ctl(
        mesh, "run", "shell", "--env", "API_KEY=secret:anthropic", "--input", 'argv:=["true"]'
    )
    assert (unknown.returncode, unknown.stderr) == (
        1,
        "error: env API_KEY: no secret named 'anthropic'\n",
    )
    bad = ctl(mesh, "run", "shell", "--env", "NOEQUALS", "--input", 'argv:=["true"]')
    assert (bad.returncode, bad.stderr) == (2, "error: --env 'NOEQUALS': expected NAME=VALUE\n")

    async with mesh.client() as client:
        await client.set_secret("gone", "soon")
        with pytest.raises(InvalidArgumentError, match="step 'use': env K: no secret named 'x'"):
            await client.submit_workflow(
                {
                    "name": "refs",
                    "steps": [
                        {
                            "id": "use",
                            "tool": "shell",
                            "inputs": {"argv": ["true"]},
                            "env": {"K": "secret:x"},
                        },
                    ],
                }
            )
        # A step's env references secrets as a task's does.
        await client.set_secret("wf", "wf-value-123")
        started = await client.submit_workflow(
            {
                "name": "uses",
                "steps": [
                    {
                        "id": "s",
                        "tool": "shell",
                        "inputs": {"argv": ["sh", "-c", "echo got $K"]},
                        "env": {"K": "secret:wf"},
                    }
                ],
            }
        )
        done = await client.wait_workflow(started.id)
        assert done.state is WorkflowState.SUCCEEDED, done
        [step] = done.steps
        step_task = await client.get_task(step.task_ids[0])
        assert step_task.outputs == {"exit_code": 0, "stdout": "got ***\n", "stderr": ""}
        assert step_task.spec.env == {"K": "secret:wf"}

        # The second task waits for the lock the first holds; its secret is deleted meanwhile.
        holder = await client.submit("shell", inputs={"argv": ["sleep", "1.5"]}, locks=["repo:web"])
        waiter = await client.submit(
            "shell", inputs={"argv": ["true"]}, locks=["repo:web"], env={"TOKEN": "secret:gone"}
        )
        assert await client.delete_secret("gone") == 1
        assert (await client.wait(holder.id)).state is TaskState.SUCCEEDED
        ended = await client.wait(waiter.id)
        assert ended.state is TaskState.FAILED
        assert ended.failure is not None
        assert ended.failure.failure_class is FailureClass.INVALID_INPUT
        assert ended.failure.message == (
            "env TOKEN: secret 'gone' no longer exists (deleted since submit)"
        )
        assert ended.attempt == 1


async def test_only_admins_change_secrets_and_viewers_see_none(mesh: Mesh) -> None:
    async with mesh.client() as admin:
        assert (await admin.set_secret("tok", b"value")).version == 1
    async with client_as(mesh, Role.OPERATOR) as operator:
        with pytest.raises(PermissionDeniedError):
            await operator.set_secret("tok", "mine now")
        with pytest.raises(PermissionDeniedError):
            await operator.delete_secret("tok")
        [info] = await operator.list_secrets()
        assert (info.name, info.version, info.set_by) == ("tok", 1, "admin")
    async with client_as(mesh, Role.VIEWER) as viewer:
        with pytest.raises(PermissionDeniedError):
            await viewer.list_secrets()
    async with mesh.client() as admin:
        with pytest.raises(InvalidArgumentError, match="secret name"):
            await admin.set_secret("no spaces", "v")
        with pytest.raises(InvalidArgumentError, match="max-secret-bytes"):
            await admin.set_secret("big", b"x" * (64 * 1024 + 1))
        with pytest.raises(InvalidArgumentError, match="UTF-8"):
            await admin.set_secret("bin", b"\xff\xfe")
        with pytest.raises(NotFoundError):
            await admin.delete_secret("never")


async def test_secrets_survive_a_restart_and_a_replaced_key_fails_their_tasks(mesh: Mesh) -> None:
    value = f"kept-{secrets.token_hex(8)}"
    made = ctl(mesh, "secret", "set", "tok", input=value)
    assert made.returncode == 0, made.stderr
    assert mesh.hub is not None
    mesh.hub.stop()
    # Fixed ports from now on, so the agent finds the hub again after the next restart.
    mesh.mesh_port, mesh.api_port = free_port(), free_port()
    await mesh.start_hub()
    await mesh.agent("box", "--allow-tool", "shell")
    task = run_script(mesh, SCRIPT, "TOKEN=secret:tok")
    assert sha256(value) in task["outputs"]["stdout"]

    mesh.hub.stop()
    key = mesh.hub_dir / "secrets.key"
    key.write_bytes(secrets.token_bytes(32))
    await mesh.start_hub()
    assert "1 of 1 secrets do not open with the hub's secrets key" in mesh.hub.output()
    await mesh.wait_agent_state("box", "connected", timeout=40)
    failed = run_script(mesh, SCRIPT, "TOKEN=secret:tok")
    assert failed["state"] == "FAILED"
    assert failed["failure"]["failure_class"] == "invalid_input"
    assert failed["failure"]["message"] == (
        "env TOKEN: secret 'tok' version 1 does not open: the hub's secrets key is not the one"
        " that sealed it, or the stored value was altered"
    )


async def test_a_canary_used_by_a_thousand_tasks_is_in_no_sink(mesh: Mesh) -> None:
    canary = f"canary-{secrets.token_hex(12)}"
    await mesh.agent("box", "--allow-tool", "shell", "--slots", "8")
    made = ctl(mesh, "secret", "set", "canary", input=canary)
    assert made.returncode == 0, made.stderr
    printing = ["sh", "-c", 'echo "token=$TOKEN"; echo "$TOKEN" >&2; exit 3']
    async with mesh.client() as client:
        env = {"TOKEN": "secret:canary"}
        specs = [task_spec("echo", env=env, inputs={"n": n}) for n in range(990)]
        specs += [
            task_spec(
                "shell", env=env, inputs={"argv": printing},
                retry=RetryPolicy(max_attempts=1),
            )
            for _ in range(10)
        ]  # fmt: skip
        submitted = await client.submit_many(specs)
        ended = await client.wait_many([t.id for t in submitted])
        assert [t.state for t in ended].count(TaskState.SUCCEEDED) == 990
        # What the printing tasks streamed back, and how they failed, is masked.
        streamed = []
        for task in ended[990:]:
            assert task.state is TaskState.FAILED
            streamed += [item async for item in client.watch(task.id, follow=False)]
        records = await client.list_tasks(limit=2000)
    shown = repr(streamed) + repr(records) + repr(ended)
    assert "token=***" in shown and canary not in shown
    audit = ctl(mesh, "audit", "list", "--action", "secret.open", "--limit", "2000", "-o", "json")
    assert len(json.loads(audit.stdout)) == 1000  # each opening recorded, never the value
    with urllib.request.urlopen(f"http://{mesh.serving['http']}/metrics", timeout=10) as page:
        metrics = page.read()
    assert mesh.hub is not None
    for sink, data in {
        "the database": stored_bytes(mesh.hub_dir),
        "the hub's log": mesh.hub.output().encode(),
        "the agent's log": mesh.agents[-1].output().encode(),
        "the audit trail": audit.stdout.encode(),
        "the metrics": metrics,
    }.items():
        assert canary.encode() not in data, sink
