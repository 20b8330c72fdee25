"""The api port's fair-share guard on a real grpc.aio server: a connection that has used more
than its share waits before its next call while another connection is active."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest

from photon.hub.api._fair import FairShareGuard
from photon.hub.security import FairShare

WORK = 0.5  # seconds each call of the busy connection takes
SHARE, BURST = 1.0, 0.2  # a call of WORK leaves it owing as much as it may: BURST
# Channels of one process share their connections unless told not to: one each here.
OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]


@pytest.fixture
async def address() -> AsyncIterator[tuple[str, list[tuple[str, float]]]]:
    started: list[tuple[str, float]] = []  # (who, when its handler began)

    async def work(request: bytes, context: Any) -> bytes:
        started.append((request.decode(), time.monotonic()))
        if request == b"busy":
            await asyncio.sleep(WORK)
        return b"done"

    server = grpc.aio.server(interceptors=[FairShareGuard(FairShare(share=SHARE, burst=BURST))])
    handlers = {"Work": grpc.unary_unary_rpc_method_handler(work)}
    server.add_generic_rpc_handlers(
        [grpc.method_handlers_generic_handler("photon.v1.AdminService", handlers)]
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    yield f"127.0.0.1:{port}", started
    await server.stop(0)


async def test_an_overdrawn_connection_waits_while_another_calls(
    address: tuple[str, list[tuple[str, float]]],
) -> None:
    target, started = address
    async with (
        grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as busy,
        grpc.aio.insecure_channel(target, options=OWN_CONNECTION) as other,
    ):
        work_busy = busy.unary_unary("/photon.v1.AdminService/Work")
        work_other = other.unary_unary("/photon.v1.AdminService/Work")
        assert await work_other(b"other") == b"done"  # another connection is using the port
        assert await work_busy(b"busy") == b"done"  # owes BURST of call time
        ended = time.monotonic()
        assert await work_other(b"other") == b"done"  # the other is not held back for it
        assert await work_busy(b"busy") == b"done"
    busy_starts = [at for who, at in started if who == "busy"]
    # It waited until its debt was earned back (BURST at SHARE a second), less the time the
    # other connection's call took meanwhile (milliseconds; unheld, it would not wait at all).
    assert busy_starts[1] - ended >= BURST / SHARE / 2
