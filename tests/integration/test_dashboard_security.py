"""The dashboard's login and session rules over plain HTTP against a real hub: one use per
link, CSRF and Origin checks on every action, a deleted user's session ends at once."""

from __future__ import annotations

import http.client
import json
import urllib.request

from photon.model import TaskState

from .dashboard_harness import Browserless, login_url
from .harness import Mesh, wait_for

MAX_STREAMS = 32  # the hub's bound on live dashboard streams


def _logged_in(mesh: Mesh, api_key: str | None = None) -> Browserless:
    session = Browserless(f"http://{mesh.serving['http']}")
    status, body = session.request(login_url(mesh, api_key))
    assert status == 200 and b"PHOTON Mission Control" in body  # redirected to the page
    (cookie,) = list(session.jar)
    assert cookie.name == "photon_session" and cookie.has_nonstandard_attr("HttpOnly")
    assert cookie.get_nonstandard_attr("SameSite") == "Strict" and not cookie.secure
    return session


async def test_a_link_works_once_and_a_deleted_users_session_stops_at_once(mesh: Mesh) -> None:
    url = login_url(mesh)
    first = Browserless(f"http://{mesh.serving['http']}")
    assert first.request(url)[0] == 200
    assert first.json("/api/me")[1]["user"] == "admin"

    again = Browserless(first.base)
    status, body = again.request(url)
    assert status == 401 and b"used already" in body
    assert not list(again.jar)
    assert again.json("/api/me") == (
        401,
        {"error": "not logged in (or the session ended); run photonctl dashboard"},
    )
    assert again.request("/api/stream?view=operations")[0] == 401
    assert again.request("/login?code=not-a-code")[0] == 401
    assert again.request("/login")[0] == 400
    # The probes stay open and plain.
    assert again.request("/healthz") == (200, b"ok\n")
    assert again.request("/readyz") == (200, b"ready\n")

    # Bad requests get one clear error each.
    session = first
    status, body = session.request("/api/cost.csv?by=tool")
    assert status == 200 and body.splitlines()[0] == b"tool,usd,tokens,runs"
    assert session.json("/api/cost.csv?by=planet") == (
        400,
        {"error": "by must be one of tool, agent, workflow, day"},
    )
    assert session.json("/api/stream?view=nope") == (400, {"error": "no view named 'nope'"})
    status, body = session.json("/api/stream?view=task")
    assert status == 400 and body == {"error": "give a valid id"}

    # A deleted user's session stops at once, live streams included.
    created = mesh.ctl("user", "create", "temp", "--role", "operator")
    assert created.returncode == 0, created.stderr
    session = _logged_in(mesh, created.stdout.strip())
    assert session.json("/api/me")[1]["role"] == "operator"
    cookie = next(iter(session.jar))
    request = urllib.request.Request(
        f"{session.base}/api/stream?view=operations",
        headers={"Cookie": f"{cookie.name}={cookie.value}"},
    )
    with urllib.request.urlopen(request, timeout=20) as stream:
        first = stream.readline()
        assert first.startswith(b"data: ") and "agents" in json.loads(first[6:])
        deleted = mesh.ctl("user", "delete", "temp")
        assert deleted.returncode == 0, deleted.stderr
        lines = []
        while (line := stream.readline()) not in (b"", b"event: logout\n"):
            lines.append(line)
        assert line == b"event: logout\n", lines
    assert session.json("/api/me")[0] == 401

    # Live streams are bounded: past the limit the hub answers 503 rather than hold more.
    session = _logged_in(mesh)
    cookie = next(iter(session.jar))
    headers = {"Cookie": f"{cookie.name}={cookie.value}"}
    host, port = session.base.removeprefix("http://").rsplit(":", 1)
    streams = []
    try:
        for _ in range(MAX_STREAMS + 1):
            connection = http.client.HTTPConnection(host, int(port), timeout=20)
            connection.request("GET", "/api/stream?view=workflows", headers=headers)
            streams.append(connection)
        statuses = [c.getresponse().status for c in streams]
    finally:
        for connection in streams:
            connection.close()
    assert sorted(statuses) == [200] * MAX_STREAMS + [503]

    # The hub frees a slot as soon as its browser goes (not at its next keepalive, 15 s on).
    def reopened() -> bool:
        connection = http.client.HTTPConnection(host, int(port), timeout=20)
        try:
            connection.request("GET", "/api/stream?view=workflows", headers=headers)
            return connection.getresponse().status == 200
        finally:
            connection.close()

    await wait_for(reopened, timeout=8)


async def test_actions_need_the_csrf_token_and_this_origin(mesh: Mesh) -> None:
    session = _logged_in(mesh)
    csrf = session.json("/api/me")[1]["csrf"]
    async with mesh.client() as client:  # no agent: it stays queued
        task = await client.submit("echo", queue_timeout=600)
    path = f"/api/tasks/{task.id}/cancel"
    origin = session.base

    assert session.json(path, method="POST", headers={"Origin": origin}) == (
        403,
        {"error": "missing or wrong X-CSRF-Token header"},
    )
    wrong = {"X-CSRF-Token": csrf[::-1], "Origin": origin}
    assert session.json(path, method="POST", headers=wrong)[0] == 403
    evil = {"X-CSRF-Token": csrf, "Origin": "http://evil.example"}
    status, body = session.json(path, method="POST", headers=evil)
    assert status == 403 and body["error"].startswith("Origin http://evil.example is not")
    assert session.json(path, method="POST", headers={"X-CSRF-Token": csrf})[0] == 403
    assert session.request(path)[0] == 405  # GET never acts
    async with mesh.client() as client:
        assert (await client.get_task(task.id)).state is TaskState.QUEUED

    good = {"X-CSRF-Token": csrf, "Origin": origin}
    assert session.json(path, method="POST", headers=good) == (
        200,
        {"id": task.id, "state": "CANCELLED"},
    )
    status, body = session.json(path, method="POST", headers=good)
    assert status == 409 and "already ended" in body["error"]
    async with mesh.client() as client:
        assert (await client.get_task(task.id)).state is TaskState.CANCELLED
        records = await client.list_audit(action="dashboard.cancel_task")
    assert [r.outcome for r in records].count("denied") == 4

    assert session.json("/logout", method="POST", headers=good) == (200, {"ok": True})
    assert session.json("/api/me")[0] == 401
