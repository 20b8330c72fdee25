"""`photonctl tasks list|show|diff|logs|cancel`: tasks, whoever submitted them."""

from __future__ import annotations

import argparse
import sys
import time
from functools import partial
from typing import TYPE_CHECKING, Any

from ..._utc import rfc3339
from ...client import PhotonClient, Task, TaskEvent
from ...errors import PhotonError
from ...model import TaskState
from .._common import EXIT_OK
from .._inputs import parse_duration, parse_labels
from .._output import human_age, human_duration, render
from .._times import plain
from ._command import check_count, event_line, following, output_flag
from ._listing import Listing, add_list_flags, show_list

if TYPE_CHECKING:
    from ._command import Commands

MAX_CHAIN = 1000  # the tasks `show` follows back through a session's chain

COLUMNS = [
    ("id", "id"),
    ("tool", "tool"),
    ("state", "state"),
    ("attempt", "attempt"),
    ("agent", "agent_id"),
    ("age", "age"),
    ("duration", "duration"),
]
WIDE = [
    ("action", "action"),
    ("priority", "priority"),
    ("labels", "labels"),
    ("created", "created"),
    ("waiting", "waiting"),
]


def register(commands: Commands) -> None:
    actions = commands.add_parser("tasks", help="tasks").add_subparsers(
        dest="action", required=True
    )
    listing = actions.add_parser("list", help="the most recent tasks, newest first")
    add_list_flags(listing)
    listing.add_argument(
        "--state",
        type=str.upper,
        choices=[s.value for s in TaskState],
        help="only tasks in this state (any case)",
    )
    listing.add_argument("--tool", default="", help="only tasks of this tool")
    listing.add_argument("--agent", default="", help="only tasks run by this agent (id or name)")
    listing.add_argument(
        "--label",
        action="append",
        default=[],
        metavar="K=V",
        help="only tasks labelled K=V (repeatable: all must match)",
    )
    listing.add_argument("--since", help="only tasks created this recently, e.g. 30s, 1h, 7d")
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.set_defaults(handler=_list)
    for action, handler, text in (
        ("show", _show, "one task: its spec, state, outputs or failure, times"),
        ("cancel", _cancel, "cancel a task"),
    ):
        parser = actions.add_parser(action, parents=[output_flag()], help=text)
        parser.add_argument("id", help="the task's id")
        parser.set_defaults(handler=handler)
    diff = actions.add_parser("diff", help="the patch a task's workspace commit holds")
    diff.add_argument("id", help="the task's id")
    diff.set_defaults(handler=_diff)
    logs = actions.add_parser("logs", help="a task's events; -f follows them")
    logs.add_argument("id", help="the task's id")
    logs.add_argument(
        "-f", "--follow", action="store_true", help="keep following until the task ends"
    )
    logs.set_defaults(handler=_logs)


def task_row(task: Task, now: float) -> dict[str, Any]:
    return {
        "id": task.id,
        "tool": task.tool,
        "state": task.state.value,
        "attempt": task.attempt,
        "agent_id": task.agent_id or "-",
        "age": human_age(task.created_at, now),
        "duration": human_duration(task.duration),
        "action": task.action,
        "priority": task.spec.priority,
        "labels": dict(task.spec.labels),
        "created": rfc3339(task.created_at),
        "waiting": task.waiting_reason,
    }


async def _list(args: argparse.Namespace, client: PhotonClient) -> int:
    check_count(args.limit, "--limit")
    filters = list_filters(args)
    fetch = partial(client.list_tasks, **filters)
    await show_list(args, Listing(fetch=fetch, row=task_row, columns=COLUMNS, wide=WIDE))
    return EXIT_OK


def list_filters(args: argparse.Namespace) -> dict[str, Any]:
    """The `list_tasks` filters the flags give; raises UsageError."""
    return {
        "state": TaskState(args.state) if args.state else None,
        "limit": args.limit,
        "tool": args.tool,
        "agent": args.agent,
        "labels": parse_labels(",".join(args.label)),
        "since": time.time() - parse_duration(args.since) if args.since else 0.0,
    }


async def _show(args: argparse.Namespace, client: PhotonClient) -> int:
    task = await client.get_task(args.id)
    shown = plain(task)
    if session := await _session(client, task):
        shown["session"] = session
    if args.output == "table":
        _patch_as_a_pointer(shown)
    print(render(shown, args.output))
    return EXIT_OK


def _patch_as_a_pointer(shown: dict[str, Any]) -> None:
    """In the table, a workspace's patch is its size and the command that prints it (JSON and
    YAML keep it whole)."""
    outputs = shown.get("outputs")
    if not isinstance(outputs, dict):
        return
    workspace = outputs.get("workspace")
    if isinstance(workspace, dict) and isinstance(workspace.get("patch"), str):
        lines = len(workspace["patch"].splitlines())
        pointer = f"{lines} lines: photonctl tasks diff {shown['id']}"
        shown["outputs"] = {**outputs, "workspace": {**workspace, "patch": pointer}}


async def _session(client: PhotonClient, task: Task) -> dict[str, Any] | None:
    """The task's AI session: its id, the agent holding it, and the tasks this one continues
    (oldest first); None for a task with no session."""
    session_id = (task.outputs or {}).get("session_id") or task.inputs.get("resume")
    if not session_id and not task.spec.continue_from:
        return None
    chain: list[str] = []
    current = task
    while current.spec.continue_from and len(chain) < MAX_CHAIN:
        if current.spec.continue_from in chain:
            break
        chain.append(current.spec.continue_from)
        current = await client.get_task(current.spec.continue_from)
    return {"id": session_id or "", "agent": task.agent_id, "continues": chain[::-1]}


async def _cancel(args: argparse.Namespace, client: PhotonClient) -> int:
    task = await client.cancel_task(args.id)
    if args.output == "table":
        print(f"task {task.id} cancelled")
    else:
        print(render(plain(task), args.output))
    return EXIT_OK


async def _diff(args: argparse.Namespace, client: PhotonClient) -> int:
    task = await client.get_task(args.id)
    workspace = (task.outputs or {}).get("workspace")
    if not isinstance(workspace, dict):
        if task.spec.workspace is None:
            raise PhotonError(f"task {task.id} has no workspace (it was not run with --repo)")
        if not task.state.terminal:
            raise PhotonError(f"task {task.id} has not finished ({task.state.value})")
        raise PhotonError(
            f"task {task.id} {task.state.value}: a failed task's changes stay uncommitted in"
            " its worktree on the agent"
        )
    patch = str(workspace.get("patch", ""))
    sys.stdout.write(patch)
    if workspace.get("patch_truncated"):
        print(
            f"photonctl: the patch was cut at {len(patch.encode())} bytes; the whole change is"
            f" commit {workspace.get('commit')} on branch {workspace.get('branch')} in the"
            " agent's clone",
            file=sys.stderr,
        )
    elif not patch:
        print(f"photonctl: task {task.id} changed nothing", file=sys.stderr)
    return EXIT_OK


async def _logs(args: argparse.Namespace, client: PhotonClient) -> int:
    if args.follow:

        def on_update(item: Task | TaskEvent) -> None:
            if isinstance(item, TaskEvent):
                print(event_line(item), flush=True)

        await following(
            client.wait(args.id, on_update=on_update), noun="task", ident=lambda: args.id
        )
        return EXIT_OK
    async for item in client.watch(args.id, follow=False):  # the events so far, then done
        if isinstance(item, TaskEvent):
            print(event_line(item))
    return EXIT_OK
