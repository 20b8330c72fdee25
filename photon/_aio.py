"""Small asyncio helpers shared by hub and agent."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def first_completed(*coroutines: Coroutine[Any, Any, object]) -> None:
    """Run coroutines until one ends; cancel and await the rest; re-raise the first's error."""
    tasks = [asyncio.create_task(c) for c in coroutines]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_event(event: asyncio.Event, seconds: float) -> bool:
    """True if the event was set within `seconds`."""
    try:
        async with asyncio.timeout(seconds):
            await event.wait()
    except TimeoutError:
        return False
    return True
