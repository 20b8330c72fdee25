"""`photonctl top`: agents, queues and running tasks, live on a terminal (a snapshot when
piped)."""

from __future__ import annotations

import argparse
import asyncio
import curses
import sys
import time
from typing import TYPE_CHECKING, Any

from ...client import PhotonClient
from .._common import EXIT_OK
from .._top_view import RUNNING_STATES, SORTS, WAITING_STATES, Snapshot, lines

if TYPE_CHECKING:
    from ._command import Commands

REFRESH = 2.0  # seconds between fetches
_KEY_POLL = 0.05  # seconds between looks at the keyboard
_PER_STATE = 500  # tasks fetched in each unfinished state


def register(commands: Commands) -> None:
    parser = commands.add_parser(
        "top", help="live view of agents, queues by tool and running tasks"
    )
    parser.add_argument(
        "--sort",
        choices=sorted(SORTS.values()),
        default="cpu",
        help="how agents are sorted at first (keys c, m, n, t change it)",
    )
    parser.set_defaults(handler=_top)


async def snapshot(client: PhotonClient) -> Snapshot:
    agents = await client.list_agents()
    tasks = []
    for state in (*RUNNING_STATES, *WAITING_STATES):
        tasks += await client.list_tasks(state=state, limit=_PER_STATE)
    return Snapshot(agents=agents, tasks=tasks, time=time.time())


async def _top(args: argparse.Namespace, client: PhotonClient) -> int:
    if not (sys.stdout.isatty() and sys.stdin.isatty()):
        print("\n".join(lines(await snapshot(client), args.sort, colour=False)))
        return EXIT_OK
    screen = curses.initscr()
    try:
        curses.noecho()
        curses.cbreak()
        screen.keypad(True)
        screen.nodelay(True)
        curses.curs_set(0)
        await _live(screen, client, args.sort)
    finally:
        curses.nocbreak()
        curses.echo()
        curses.endwin()
    return EXIT_OK


async def _live(screen: Any, client: PhotonClient, sort: str) -> None:
    """Redraw every REFRESH seconds, and at once when a sort key is pressed; return on q."""
    current = await snapshot(client)
    fetched = time.monotonic()
    while True:
        _draw(screen, lines(current, sort))
        while True:
            key = screen.getch()
            if key in (ord("q"), ord("Q")):
                return
            if 0 <= key < 256 and chr(key) in SORTS:
                sort = SORTS[chr(key)]
                break
            if time.monotonic() - fetched >= REFRESH:
                current = await snapshot(client)
                fetched = time.monotonic()
                break
            await asyncio.sleep(_KEY_POLL)


def _draw(screen: Any, text: list[str]) -> None:
    height, width = screen.getmaxyx()
    screen.erase()
    for row, line in enumerate(text[: height - 1]):
        screen.addnstr(row, 0, line, width - 1)
    screen.refresh()
