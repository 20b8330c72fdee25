"""`photonctl run TOOL [ACTION]`: run one task, following it live unless `--detach`."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from ..._names import check_selector
from ..._repos import check_workspace
from ..._selector import parse_selector
from ..._text import escape_controls
from ...client import PhotonClient, Task, TaskEvent
from ...errors import InvalidArgumentError, UsageError
from ...model import MAX_PRIORITY, Isolation, TaskState, WorkspaceSpec
from .._common import EXIT_FAILURE, EXIT_OK
from .._inputs import parse_duration, parse_env
from .._output import render
from .._times import plain
from ._command import (
    add_input_flags,
    budget,
    check_range,
    event_line,
    following,
    output_flag,
    read_inputs,
)

if TYPE_CHECKING:
    from ._command import Commands


def register(commands: Commands) -> None:
    parser = commands.add_parser("run", parents=[output_flag()], help="run one task")
    parser.add_argument("tool", help="the tool to run: echo, shell, claude-code, ...")
    parser.add_argument(
        "task_action",
        nargs="?",
        default="",
        metavar="ACTION",
        help="the tool's action (default: its default action)",
    )
    add_input_flags(parser)
    parser.add_argument(
        "--selector", default="", help="agents' labels must match, e.g. kind=local,!gpu"
    )
    parser.add_argument("--agent", default="", help="run on this agent (id or name)")
    parser.add_argument("--priority", type=int, help="0 to 9 (default 5); higher runs first")
    parser.add_argument("--timeout", help="limit for each attempt: 90, 30s, 10m, 1h30m")
    parser.add_argument(
        "--idempotency-key",
        default="",
        help="a second submission with this key returns the first task",
    )
    parser.add_argument(
        "--env",
        "-e",
        action="append",
        default=[],
        metavar="K=V",
        help="an environment variable for the tool; V may be secret:NAME (repeatable)",
    )
    parser.add_argument(
        "--continue",
        dest="continue_from",
        default="",
        metavar="TASK_ID",
        help="continue that task's AI session (on the agent that holds it)",
    )
    parser.add_argument(
        "--fallback",
        action="append",
        default=[],
        metavar="TOOL",
        help="a tool to run instead when TOOL is out of quota on every agent (repeatable)",
    )
    parser.add_argument(
        "--budget-usd",
        type=float,
        metavar="USD",
        help="stop retrying once the attempts have spent this many dollars",
    )
    workspace = parser.add_argument_group("workspace (a git checkout the tool works in)")
    workspace.add_argument("--repo", default="", help="a git URL, host:path or absolute path")
    workspace.add_argument("--ref", default="", help="branch, tag or commit (default: HEAD)")
    workspace.add_argument(
        "--isolate",
        choices=[i.value for i in Isolation],
        default=Isolation.WORKTREE.value,
        help="a worktree of the task's own (default), or one checkout shared in turns",
    )
    parser.add_argument("--detach", action="store_true", help="print the task's id and return")
    parser.set_defaults(handler=_run)


def task_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The `task_spec` fields the flags give, checked as the hub would; raises UsageError."""
    check_range(args.priority, "--priority", low=0, high=MAX_PRIORITY)
    try:
        check_selector(args.selector, "--selector")
        parse_selector(args.selector)
    except InvalidArgumentError as exc:
        raise UsageError(str(exc)) from None
    return {
        "workspace": _workspace(args),
        "inputs": read_inputs(args),
        "selector": args.selector,
        "agent": args.agent,
        "priority": args.priority,
        "timeout": parse_duration(args.timeout) if args.timeout else None,
        "idempotency_key": args.idempotency_key,
        "env": parse_env(args.env),
        "continue_from": args.continue_from,
        "fallback": args.fallback,
        "budget_usd": budget(args.budget_usd, "--budget-usd"),
    }


def _workspace(args: argparse.Namespace) -> WorkspaceSpec | None:
    if not args.repo:
        if args.ref or args.isolate != Isolation.WORKTREE.value:
            raise UsageError("--ref and --isolate need --repo")
        return None
    spec = WorkspaceSpec(repo=args.repo, ref=args.ref, isolate=Isolation(args.isolate))
    try:
        check_workspace(spec, "--repo")
    except InvalidArgumentError as exc:
        raise UsageError(
            str(exc).replace("--repo.ref", "--ref").replace("--repo.repo", "--repo")
        ) from None
    return spec


async def _run(args: argparse.Namespace, client: PhotonClient) -> int:
    fields = task_fields(args)
    if args.detach:
        task = await client.submit(args.tool, args.task_action, **fields)
        print(task.id if args.output == "table" else render(plain(task), args.output))
        return EXIT_OK
    shown: dict[str, str] = {}

    def on_update(item: Task | TaskEvent) -> None:
        """The task's id first, then its events (its state changes among them), and why it
        waits each time that changes: every state once."""
        if isinstance(item, TaskEvent):
            if args.output == "table":  # the live view only in table format
                print(event_line(item), file=sys.stderr, flush=True)
            return
        if args.output == "table" and (
            "id" not in shown or item.waiting_reason not in ("", shown["reason"])
        ):
            reason = item.waiting_reason
            status = f": {item.state.value} ({reason})" if reason else " submitted"
            print(escape_controls(f"task {item.id}{status}"), file=sys.stderr, flush=True)
        shown.update(id=item.id, reason=item.waiting_reason)

    # Submitted and followed on one call.
    run = client.run(args.tool, args.task_action, on_update=on_update, **fields)
    final = await following(run, noun="task", ident=lambda: shown.get("id", ""))
    _print_result(final, args.output)
    return EXIT_OK if final.state is TaskState.SUCCEEDED else EXIT_FAILURE


def _print_result(task: Task, fmt: str) -> None:
    if fmt != "table":
        print(render(plain(task), fmt))
        return
    if task.state is TaskState.SUCCEEDED:
        print(render(dict(task.outputs or {}), "json"))
    else:
        failure = task.failure
        reason = f"{failure.failure_class}: {failure.message}" if failure else task.state.value
        print(escape_controls(f"task {task.id} {task.state.value}: {reason}"), file=sys.stderr)
