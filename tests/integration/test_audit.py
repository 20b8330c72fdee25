"""The audit trail on a real hub: what is recorded, `photonctl audit list` and `verify`, and
verification naming the first bad record of a log edited, cut, or with a record removed or
moved, in the hub's own SQLite file while the hub was down."""

from __future__ import annotations

import asyncio
import json
import sqlite3

from photon.client import PhotonClient, load_context

from .harness import Mesh, wait_for


def _records(mesh: Mesh, *args: str) -> list[dict[str, object]]:
    result = mesh.ctl("audit", "list", "-o", "json", "--limit", "1000", *args)
    assert result.returncode == 0, result.stderr
    records: list[dict[str, object]] = json.loads(result.stdout)
    return records


async def test_calls_logins_joins_and_connections_are_recorded(mesh: Mesh) -> None:
    await mesh.agent("worker")
    created = mesh.ctl("user", "create", "vi", "--role", "viewer")
    assert created.returncode == 0, created.stderr
    as_viewer = {**mesh.env, "PHOTON_API_KEY": created.stdout.strip()}
    denied = mesh.run("-m", "photon.cli.ctl", "user", "list", env=as_viewer)
    assert denied.returncode == 1
    set_secret = mesh.run(
        "-m", "photon.cli.ctl", "secret", "set", "tok", input="s3cret-value-1234\n"
    )
    assert set_secret.returncode == 0, set_secret.stderr
    ran = mesh.ctl("run", "echo", "--env", "TOKEN=secret:tok")
    assert ran.returncode == 0, ran.stderr
    records = _records(mesh)
    opened = [r for r in records if r["action"] == "secret.open"]
    assert [(r["target"], r["detail"]["version"]) for r in opened] == [("tok", 1)]  # type: ignore[index]
    assert "s3cret-value-1234" not in json.dumps(records)
    seen = {(r["actor"], r["action"], r["outcome"]) for r in records}
    worker = next(r["actor"] for r in records if r["action"] == "agent.join")
    assert {
        ("admin", "auth.login", "ok"),
        ("admin", "admin.CreateJoinToken", "allowed"),
        (worker, "agent.join", "ok"),
        (worker, "agent.connect", "ok"),
        ("admin", "admin.CreateUser", "allowed"),
        ("vi", "auth.login", "ok"),
        ("vi", "admin.ListUsers", "denied"),
        ("admin", "admin.SetSecret", "allowed"),
    } <= seen
    assert [r["seq"] for r in records] == list(range(1, len(records) + 1))
    created_user = next(r for r in records if r["action"] == "admin.CreateUser")
    assert created_user["target"] == "vi"
    # Filters: by actor, by action prefix, by time.
    assert {r["actor"] for r in _records(mesh, "--actor", "vi")} == {"vi"}
    assert {str(r["action"]) for r in _records(mesh, "--action", "agent.")} >= {
        "agent.join",
        "agent.connect",
    }
    assert _records(mesh, "--since", "1h")[0]["seq"] == 1
    # No record holds a credential.
    text = json.dumps(records)
    assert created.stdout.strip() not in text and "phk_" not in text

    verified = mesh.ctl("audit", "verify")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout.startswith("the audit trail is intact: ")


async def _tampered(mesh: Mesh, *statements: str) -> str:
    """Stop the hub, run the statements on its database, start it, and verify."""
    assert mesh.hub is not None
    assert mesh.hub.stop() == 0
    with sqlite3.connect(mesh.hub_dir / "hub.db") as db:
        for statement in statements:
            db.execute(statement)
    await mesh.start_hub()
    result = mesh.ctl("audit", "verify")
    assert result.returncode == 1, result.stdout
    return result.stderr.strip()


async def _log_of(mesh: Mesh, at_least: int) -> int:
    for _ in range(at_least):
        assert mesh.ctl("join-token", "create").returncode == 0
    return int(mesh.ctl("audit", "verify").stdout.split(": ")[1].split()[0])


async def test_an_edited_record_is_named(mesh: Mesh) -> None:
    await _log_of(mesh, 4)
    why = await _tampered(mesh, "UPDATE audit SET actor = 'mallory' WHERE seq = 3")
    assert why == (
        "error: the audit trail is not intact:"
        " record 3 was altered (its hash does not match its contents)"
    )


async def test_a_deleted_record_is_named(mesh: Mesh) -> None:
    await _log_of(mesh, 4)
    why = await _tampered(mesh, "DELETE FROM audit WHERE seq = 2")
    assert why == (
        "error: the audit trail is not intact: record 2 is missing (found record 3 in its place)"
    )


async def test_moved_records_are_named(mesh: Mesh) -> None:
    await _log_of(mesh, 4)
    why = await _tampered(
        mesh,
        "UPDATE audit SET seq = -1 WHERE seq = 2",
        "UPDATE audit SET seq = 2 WHERE seq = 3",
        "UPDATE audit SET seq = 3 WHERE seq = -1",
    )
    assert why == (
        "error: the audit trail is not intact:"
        " record 2 was altered (its hash does not match its contents)"
    )


async def test_a_log_cut_short_is_named_by_its_anchored_head(mesh: Mesh) -> None:
    last = await _log_of(mesh, 4)
    # The verify call that counted them is recorded too, as the last record anchored.
    why = await _tampered(mesh, f"DELETE FROM audit WHERE seq > {last - 2}")
    assert why.startswith(f"error: the audit trail is not intact: record {last - 1} is missing")


async def test_a_client_logs_in_once_for_all_its_first_calls(mesh: Mesh) -> None:
    made = mesh.ctl("user", "create", "solo", "--role", "viewer")
    assert made.returncode == 0, made.stderr
    context = load_context(mesh.config_path)
    client = PhotonClient(
        address=context.api, ca_pem=context.ca_pem.encode(), api_key=made.stdout.strip()
    )
    async with client:
        await asyncio.gather(*(client.list_agents() for _ in range(64)))
    # The 64 calls were recorded (not awaited by a read: wait for them), after one login.
    await wait_for(lambda: len(_records(mesh, "--actor", "solo")) >= 65, timeout=10)
    logins = [r for r in _records(mesh, "--actor", "solo") if r["action"] == "auth.login"]
    assert len(logins) == 1
