"""The api port's interceptor admits or denies every call in one place, and binds the verified
principal for the whole of each admitted call, judged by its user's record as it is now (a
real grpc.aio server on loopback, real users in a real SQLite store)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from photon.hub.api._interceptor import AuthInterceptor
from photon.hub.audit import AuditTrail
from photon.hub.security import Principal, TokenAuthority, Users, caller
from photon.hub.store import SqliteStore
from photon.model import Role

AUTHORITY = TokenAuthority(Ed25519PrivateKey.generate())


def _whoami() -> bytes:
    principal = caller()
    if principal is None:
        return b"nobody"
    return f"{principal.subject}/{principal.role}/{principal.token_id}".encode()


async def _unary(request: bytes, context: Any) -> bytes:
    return _whoami()


async def _stream(request: bytes, context: Any) -> AsyncIterator[bytes]:
    for _ in range(3):
        yield _whoami()


@pytest.fixture
async def users(store: SqliteStore) -> Users:
    users = Users(store, AUTHORITY)
    await users.load()
    for role in Role:  # a user named after each role
        await users.create(role.value, role, by="test")
    return users


@pytest.fixture
def audit(store: SqliteStore, tmp_path: Path) -> AuditTrail:
    return AuditTrail(store, tmp_path / "audit.head")


@pytest.fixture
async def channel(users: Users, audit: AuditTrail) -> AsyncIterator[grpc.aio.Channel]:
    server = grpc.aio.server(interceptors=[AuthInterceptor(AUTHORITY, users, audit)])
    handlers = {
        "ListAgents": grpc.unary_unary_rpc_method_handler(_unary),
        "CancelTask": grpc.unary_unary_rpc_method_handler(_unary),
        "WatchTask": grpc.unary_stream_rpc_method_handler(_stream),
        "Unlisted": grpc.unary_unary_rpc_method_handler(_unary),
    }
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("photon.v1.AdminService", handlers)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield channel
    await server.stop(0)


def _bearer(role: Role, subject: str = "") -> tuple[tuple[str, str], ...]:
    principal = Principal(subject=subject or role.value, role=role, token_id="tok-7")
    token, _ = AUTHORITY.issue(principal)
    return (("authorization", f"Bearer {token}"),)


async def test_an_admitted_call_runs_as_its_principal(channel: grpc.aio.Channel) -> None:
    call = channel.unary_unary("/photon.v1.AdminService/ListAgents")
    assert await call(b"", metadata=_bearer(Role.VIEWER)) == b"viewer/viewer/tok-7"


async def test_a_stream_runs_as_its_principal_throughout(channel: grpc.aio.Channel) -> None:
    stream = channel.unary_stream("/photon.v1.AdminService/WatchTask")
    items = [item async for item in stream(b"", metadata=_bearer(Role.OPERATOR))]
    assert items == [b"operator/operator/tok-7"] * 3


async def test_calls_do_not_leak_their_principal_to_each_other(
    channel: grpc.aio.Channel,
) -> None:
    call = channel.unary_unary("/photon.v1.AdminService/ListAgents")
    answers = [await call(b"", metadata=_bearer(role)) for role in (Role.ADMIN, Role.VIEWER)]
    assert answers == [b"admin/admin/tok-7", b"viewer/viewer/tok-7"]
    assert caller() is None  # nothing bound outside a call


async def test_denials_are_logged_with_who_and_why(
    channel: grpc.aio.Channel, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="photon.hub.api._interceptor")
    cancel = channel.unary_unary("/photon.v1.AdminService/CancelTask")
    with pytest.raises(grpc.aio.AioRpcError) as denied:
        await cancel(b"", metadata=_bearer(Role.VIEWER))
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert denied.value.details() == "role viewer may not call CancelTask (needs operator)"

    with pytest.raises(grpc.aio.AioRpcError) as anonymous:
        await cancel(b"")
    assert anonymous.value.code() == grpc.StatusCode.UNAUTHENTICATED

    unlisted = channel.unary_unary("/photon.v1.AdminService/Unlisted")
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await unlisted(b"", metadata=_bearer(Role.ADMIN))
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED

    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        "denied '/photon.v1.AdminService/CancelTask' to viewer (viewer):"
        " role viewer may not call CancelTask (needs operator)",
        "denied '/photon.v1.AdminService/CancelTask' to an unauthenticated caller:"
        " missing bearer token; log in first",
        "denied '/photon.v1.AdminService/Unlisted' to an unauthenticated caller:"
        " /photon.v1.AdminService/Unlisted is not allowed by the policy",
    ]


async def test_a_call_is_judged_by_its_user_as_it_is_now(
    channel: grpc.aio.Channel, users: Users
) -> None:
    cancel = channel.unary_unary("/photon.v1.AdminService/CancelTask")
    # A token that says admin, of a user who is a viewer: the record wins.
    with pytest.raises(grpc.aio.AioRpcError) as demoted:
        await cancel(b"", metadata=_bearer(Role.ADMIN, subject="viewer"))
    assert demoted.value.code() == grpc.StatusCode.PERMISSION_DENIED
    # A deleted user's tokens stop working at once.
    assert await cancel(b"", metadata=_bearer(Role.OPERATOR)) == b"operator/operator/tok-7"
    await users.delete("operator")
    with pytest.raises(grpc.aio.AioRpcError) as gone:
        await cancel(b"", metadata=_bearer(Role.OPERATOR))
    assert gone.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert gone.value.details() == "user 'operator' no longer exists"


async def test_every_call_allowed_or_denied_is_recorded(
    channel: grpc.aio.Channel, audit: AuditTrail
) -> None:
    cancel = channel.unary_unary("/photon.v1.AdminService/CancelTask")
    assert await cancel(b"", metadata=_bearer(Role.OPERATOR)) == b"operator/operator/tok-7"
    with pytest.raises(grpc.aio.AioRpcError):
        await cancel(b"", metadata=_bearer(Role.VIEWER))
    with pytest.raises(grpc.aio.AioRpcError):
        await cancel(b"")
    await audit.flush()
    records = [(r.entry.actor, r.entry.action, r.entry.outcome) for r in await audit.list()]
    assert records == [
        ("operator", "admin.CancelTask", "allowed"),
        ("viewer", "admin.CancelTask", "denied"),
        ("-", "admin.CancelTask", "denied"),
    ]
    assert await audit.verify() == (3, None)
