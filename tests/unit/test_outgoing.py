"""The mesh send queue: what piled up goes as one message, in order, under the size limit."""

from __future__ import annotations

import asyncio

import pytest

from photon.v1 import mesh_pb2
from photon.wire._outgoing import JOIN_MAX_BYTES, JOIN_MAX_MESSAGES, Outgoing, unbatch


def ack(task_id: str) -> mesh_pb2.ConnectResponse:
    return mesh_pb2.ConnectResponse(
        result_ack=mesh_pb2.ResultAck(attempt=mesh_pb2.AttemptRef(task_id=task_id))
    )


def ids(message: mesh_pb2.ConnectResponse) -> list[str]:
    return [m.result_ack.attempt.task_id for m in unbatch(message)]


def outgoing(maxsize: int = 0) -> Outgoing[mesh_pb2.ConnectResponse]:
    return Outgoing(lambda group: mesh_pb2.ConnectResponse(batch=group), maxsize=maxsize)


async def test_a_lone_message_goes_as_it_is() -> None:
    queue = outgoing()
    queue.put_nowait(ack("a"))
    message = await queue.get()
    assert message == ack("a")
    assert ids(message) == ["a"]


async def test_what_piled_up_goes_joined_in_order() -> None:
    queue = outgoing()
    for task_id in "abc":
        queue.put_nowait(ack(task_id))
    message = await queue.get()
    assert message.WhichOneof("body") is None and len(message.batch) == 3
    assert ids(message) == ["a", "b", "c"]
    assert queue.qsize() == 0


async def test_get_waits_for_the_next_message() -> None:
    queue = outgoing()
    waiting = asyncio.ensure_future(queue.get())
    await asyncio.sleep(0)
    assert not waiting.done()
    queue.put_nowait(ack("late"))
    assert ids(await waiting) == ["late"]


async def test_joins_stop_at_the_count_and_size_limits() -> None:
    queue = outgoing()
    for i in range(JOIN_MAX_MESSAGES + 5):
        queue.put_nowait(ack(str(i)))
    assert len(ids(await queue.get())) == JOIN_MAX_MESSAGES
    assert ids(await queue.get()) == [str(JOIN_MAX_MESSAGES + i) for i in range(5)]

    big = "x" * (JOIN_MAX_BYTES // 2)
    for task_id in (big, big + "y", "small"):
        queue.put_nowait(ack(task_id))
    first = await queue.get()
    assert ids(first) == [big]  # the second big one would not fit with it
    assert first.ByteSize() <= JOIN_MAX_BYTES
    assert ids(await queue.get()) == [big + "y", "small"]


async def test_a_full_queue_refuses_and_clear_empties_it() -> None:
    queue = outgoing(maxsize=2)
    queue.put_nowait(ack("a"))
    queue.put_nowait(ack("b"))
    with pytest.raises(asyncio.QueueFull):
        queue.put_nowait(ack("c"))
    queue.clear()
    assert queue.qsize() == 0


def test_unbatch_ignores_empty_and_nested_envelopes() -> None:
    nested = mesh_pb2.ConnectResponse(batch=[ack("hidden")])
    message = mesh_pb2.ConnectResponse(batch=[ack("a"), mesh_pb2.ConnectResponse(), nested])
    assert ids(message) == ["a"]
