"""Users, roles and contexts on a real hub, through photonctl and raw gRPC calls.

The role x RPC matrix is walked against the policy as docs/security.md writes it: every RPC of
the admin API called as each role, allowed exactly where the written table says so.
"""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import grpc
import pytest

from photon._join_token import JoinToken
from photon.client import load_context
from photon.hub.security import POLICY
from photon.model import Role
from photon.v1 import admin_pb2, auth_pb2, auth_pb2_grpc

from .harness import Mesh

ROOT = Path(__file__).resolve().parents[2]
ADMIN = admin_pb2.DESCRIPTOR.services_by_name["AdminService"]


def _written_policy() -> dict[str, Role]:
    page = (ROOT / "docs" / "security.md").read_text()
    rows = re.findall(r"^\| `([A-Za-z]+)` \| (admin|operator|viewer) \|$", page, re.MULTILINE)
    return {name: Role(role) for name, role in rows}


def test_the_written_policy_is_the_hubs() -> None:
    served = {m.name for m in ADMIN.methods}
    written = _written_policy()
    assert set(written) == served, "docs/security.md must list every AdminService call"
    prefix = f"/{ADMIN.full_name}/"
    hubs = {k.removeprefix(prefix): v for k, v in POLICY.items() if k.startswith(prefix)}
    assert hubs == written


def _create_user(mesh: Mesh, name: str, role: str) -> str:
    result = mesh.ctl("user", "create", name, "--role", role, "-o", "json")
    assert result.returncode == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["name"] == name and created["role"] == role
    assert created["created_by"] == "admin"
    assert created["api_key"].startswith("phk_")
    return str(created["api_key"])


def _token(channel: grpc.Channel, api_key: str) -> str:
    login = auth_pb2_grpc.AuthServiceStub(channel).Login
    return str(login(auth_pb2.LoginRequest(api_key=api_key), timeout=10).token)


async def test_every_call_is_allowed_exactly_where_the_written_policy_says(mesh: Mesh) -> None:
    keys = {Role.ADMIN: load_context(mesh.config_path).api_key}
    keys[Role.OPERATOR] = _create_user(mesh, "op", "operator")
    keys[Role.VIEWER] = _create_user(mesh, "vi", "viewer")
    written = _written_policy()
    context = load_context(mesh.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    wrong = []
    with grpc.secure_channel(context.api, credentials) as channel:
        tokens = {role: _token(channel, key) for role, key in keys.items()}
        for method in ADMIN.methods:
            # An empty request: refused for what it asks (or harmless) once past the policy.
            request = b""
            path = f"/{ADMIN.full_name}/{method.name}"
            for role, token in tokens.items():
                metadata = (("authorization", f"Bearer {token}"),)
                code, details = grpc.StatusCode.OK, ""
                try:
                    if method.server_streaming:
                        stream = channel.unary_stream(path)(request, metadata=metadata, timeout=5)
                        next(iter(stream), None)
                        stream.cancel()
                    else:
                        channel.unary_unary(path)(request, metadata=metadata, timeout=10)
                except grpc.RpcError as exc:
                    code, details = exc.code(), exc.details() or ""
                allowed = role.allows(written[method.name])
                denied = code == grpc.StatusCode.PERMISSION_DENIED
                if allowed == denied or code == grpc.StatusCode.UNAUTHENTICATED:
                    wrong.append(f"{method.name} as {role}: {code.name} {details}")
                if denied and f"(needs {written[method.name]})" not in details:
                    wrong.append(f"{method.name} as {role}: denial does not say why: {details}")
    assert wrong == []


async def test_a_deleted_users_key_and_token_stop_working_at_once(mesh: Mesh) -> None:
    key = _create_user(mesh, "ci", "operator")
    env = {**mesh.env, "PHOTON_API_KEY": key}
    token = mesh.ctl("user", "token", "ci", "--ttl", "10m")
    assert token.returncode == 0, token.stderr
    as_token = {**mesh.env, "PHOTON_TOKEN": token.stdout.strip()}
    as_ci = mesh.run("-m", "photon.cli.ctl", "agents", "list", env=env)
    assert as_ci.returncode == 0, as_ci.stderr
    assert mesh.run("-m", "photon.cli.ctl", "agents", "list", env=as_token).returncode == 0
    # ci is an operator: it may not manage users, and is told what it lacks.
    refused = mesh.run("-m", "photon.cli.ctl", "user", "list", env=env)
    assert refused.returncode == 1
    assert refused.stderr.strip() == ("error: role operator may not call ListUsers (needs admin)")

    listed = mesh.ctl("user", "list", "-o", "json")
    assert [(u["name"], u["role"]) for u in json.loads(listed.stdout)] == [
        ("admin", "admin"),
        ("ci", "operator"),
    ]
    deleted = mesh.ctl("user", "delete", "ci")
    assert deleted.returncode == 0, deleted.stderr
    for environment, why in (
        (env, "error: API key is invalid"),
        (as_token, "error: user 'ci' no longer exists"),
    ):
        gone = mesh.run("-m", "photon.cli.ctl", "agents", "list", env=environment)
        assert (gone.returncode, gone.stderr.strip()) == (1, why)


async def test_bad_users_are_refused_with_one_line(mesh: Mesh) -> None:
    _create_user(mesh, "ci", "viewer")
    again = mesh.ctl("user", "create", "ci", "--role", "viewer")
    assert (again.returncode, again.stderr.strip()) == (
        1,
        "error: a user named 'ci' already exists",
    )
    bad_name = mesh.ctl("user", "create", "c i", "--role", "viewer")
    assert bad_name.returncode == 1 and "name" in bad_name.stderr
    bad_role = mesh.ctl("user", "create", "root", "--role", "root")
    assert bad_role.returncode == 2 and "invalid choice: 'root'" in bad_role.stderr
    last_admin = mesh.ctl("user", "delete", "admin")
    assert (last_admin.returncode, last_admin.stderr.strip()) == (
        1,
        "error: 'admin' is the only admin; create another admin first",
    )
    unknown = mesh.ctl("user", "token", "nobody")
    assert unknown.returncode == 1 and "no user named 'nobody'" in unknown.stderr
    too_long = mesh.ctl("user", "token", "ci", "--ttl", "2h")
    assert too_long.returncode == 1 and "ttl must be between" in too_long.stderr


async def test_contexts_are_listed_added_used_and_deleted(mesh: Mesh, tmp_path: Path) -> None:
    key = _create_user(mesh, "ci", "viewer")
    context = load_context(mesh.config_path)
    ca = tmp_path / "ca.crt"
    ca.write_text(context.ca_pem)
    added = mesh.run(
        "-m", "photon.cli.ctl", "context", "add", "ci", "--api", context.api,
        "--ca-file", str(ca), input=key + "\n",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listed = mesh.ctl("context", "list", "-o", "json")
    assert json.loads(listed.stdout) == [
        {"current": "", "name": "ci", "api": context.api},
        {"current": "*", "name": "default", "api": context.api},
    ]
    assert mesh.ctl("context", "use", "ci").returncode == 0
    # Now a viewer: reads work, users are an admin's.
    assert mesh.ctl("agents", "list").returncode == 0
    assert mesh.ctl("user", "list").returncode == 1
    assert mesh.ctl("--context", "default", "user", "list").returncode == 0
    # PHOTON_API_KEY stands in for the context's key.
    admin = {**mesh.env, "PHOTON_API_KEY": context.api_key}
    assert mesh.run("-m", "photon.cli.ctl", "user", "list", env=admin).returncode == 0

    from_env = {**mesh.env, "STAGING_KEY": key}
    staging = mesh.run(
        "-m", "photon.cli.ctl", "context", "add", "staging", "--api", context.api,
        "--ca-file", str(ca), "--from-env", "STAGING_KEY", env=from_env,
    )  # fmt: skip
    assert staging.returncode == 0, staging.stderr
    assert mesh.ctl("context", "delete", "staging").returncode == 0
    missing = mesh.ctl("context", "use", "staging")
    assert missing.returncode == 1 and "context 'staging' not found" in missing.stderr
    not_a_key = mesh.run(
        "-m", "photon.cli.ctl", "context", "add", "x", "--api", context.api,
        "--ca-file", str(ca), input="hunter2\n",
    )  # fmt: skip
    assert not_a_key.returncode == 2 and "not an API key" in not_a_key.stderr


@pytest.mark.parametrize("role", ["operator", "viewer"])
async def test_a_user_logs_in_with_its_role(mesh: Mesh, role: str) -> None:
    key = _create_user(mesh, f"u-{role}", role)
    context = load_context(mesh.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    with grpc.secure_channel(context.api, credentials) as channel:
        login = auth_pb2_grpc.AuthServiceStub(channel).Login
        answer = login(auth_pb2.LoginRequest(api_key=key), timeout=10)
    assert (answer.user, answer.role) == (f"u-{role}", role)


async def test_a_peer_guessing_keys_or_join_tokens_is_locked_out(mesh: Mesh) -> None:
    # Joining is throttled apart from logging in: wrong join tokens lock the peer out of
    # joining, and it may still log in.
    made = mesh.ctl("join-token", "create")
    assert made.returncode == 0, made.stderr
    token = JoinToken.decode(made.stdout.strip())
    answers = [mesh.run(
        "-m", "photon.cli.agent", "join", "--data-dir", str(mesh.root / f"guess-{n}"),
        "--token", JoinToken(
            api_addresses=token.api_addresses, ca_pin=token.ca_pin,
            token_id=token.token_id, secret=f"wrong{n}",
        ).encode(),
    ).stderr.strip() for n in range(11)]  # fmt: skip
    assert answers[:10] == ["error: join token is invalid"] * 10
    # The wait counts down from 60 s while the eleven joins run (each a new process).
    locked = re.fullmatch(
        r"error: too many failed joins from 127\.0\.0\.1; try again in (\d+)s", answers[10]
    )
    assert locked and 1 <= int(locked.group(1)) <= 60, answers[10]
    assert mesh.ctl("agents", "list").returncode == 0

    context = load_context(mesh.config_path)
    credentials = grpc.ssl_channel_credentials(root_certificates=context.ca_pem.encode())
    codes: list[grpc.StatusCode] = []
    with grpc.secure_channel(context.api, credentials) as channel:
        login = auth_pb2_grpc.AuthServiceStub(channel).Login
        for n in range(300):
            try:
                login(auth_pb2.LoginRequest(api_key=f"phk_guess{n}.nope"), timeout=10)
            except grpc.RpcError as exc:
                codes.append(exc.code())
        # Ten wrong keys are told they are wrong; from then on the peer is locked out, even
        # with the right key.
        assert codes[:10] == [grpc.StatusCode.UNAUTHENTICATED] * 10
        assert set(codes[10:]) == {grpc.StatusCode.RESOURCE_EXHAUSTED} and len(codes) == 300
        try:
            login(auth_pb2.LoginRequest(api_key=context.api_key), timeout=10)
            raise AssertionError("a locked-out peer logged in")
        except grpc.RpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    locked = mesh.ctl("agents", "list")
    assert locked.returncode == 1
    assert re.fullmatch(
        r"error: too many failed logins from 127\.0\.0\.1; try again in (5\d|60)s",
        locked.stderr.strip(),
    ), locked.stderr
    # Each refusal is in the audit trail (read as the hub's own file: no one may log in).
    with sqlite3.connect(mesh.hub_dir / "hub.db") as db:
        outcomes = dict(
            db.execute(
                "SELECT outcome, COUNT(*) FROM audit WHERE action = 'auth.login' GROUP BY outcome"
            ).fetchall()
        )
    assert outcomes["denied"] == 10 and outcomes["refused"] >= 290
