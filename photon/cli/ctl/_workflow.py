"""`photonctl workflow run|list|show|cancel`: workflow files run as a DAG of tasks."""

from __future__ import annotations

import argparse
import sys
from functools import partial
from typing import TYPE_CHECKING, Any

import yaml

from ..._bounds import WORKFLOW, OutOfBounds
from ..._utc import rfc3339
from ...client import PhotonClient, Workflow
from ...errors import UsageError
from ...model import WorkflowState
from .._common import EXIT_FAILURE, EXIT_OK
from .._inputs import check_json, load_yaml, read_text_file
from .._output import human_age, render
from .._times import plain
from .._workflow_view import progress_lines, table
from ._command import add_input_flags, budget, check_count, following, output_flag, read_inputs
from ._listing import Listing, add_list_flags, show_list

if TYPE_CHECKING:
    from ._command import Commands

COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("state", "state"),
    ("age", "age"),
    ("message", "message"),
]
WIDE = [("steps", "steps"), ("created", "created"), ("finished", "finished")]
_KINDS = {list: "a list", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def register(commands: Commands) -> None:
    actions = commands.add_parser("workflow", help="workflows").add_subparsers(
        dest="action", required=True
    )
    run = actions.add_parser("run", parents=[output_flag()], help="run a workflow file")
    run.add_argument("file", help="the workflow file (YAML or JSON)")
    add_input_flags(run)
    run.add_argument(
        "--budget-usd",
        type=float,
        metavar="USD",
        help="start no more steps once the steps have spent this many dollars",
    )
    run.add_argument("--detach", action="store_true", help="print the workflow's id and return")
    run.set_defaults(handler=_run)
    listing = actions.add_parser("list", help="the most recent workflows")
    add_list_flags(listing)
    listing.add_argument("--limit", type=int, default=50, help="at most this many (default 50)")
    listing.set_defaults(handler=_list)
    for action, handler, text in (
        ("show", _show, "a workflow and each of its steps"),
        ("cancel", _cancel, "cancel running steps, skip waiting ones"),
    ):
        parser = actions.add_parser(action, parents=[output_flag()], help=text)
        parser.add_argument("id", help="the workflow's id")
        parser.set_defaults(handler=handler)


def parse_workflow(text: str, path: str) -> dict[str, Any]:
    """A workflow file's document: a YAML or JSON mapping; raises UsageError naming `path`."""
    try:
        document = load_yaml(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{path} is not valid YAML or JSON{where}") from None
    except OutOfBounds as exc:
        raise UsageError(f"{path}: {exc}") from None
    if not isinstance(document, dict):
        kind = "an empty document" if document is None else _KINDS.get(type(document), "a value")
        raise UsageError(f"{path}: a workflow is a mapping with name and steps, not {kind}")
    check_json(document, path, WORKFLOW)
    return document


async def _run(args: argparse.Namespace, client: PhotonClient) -> int:
    document = parse_workflow(read_text_file(args.file), args.file)
    if (budget_usd := budget(args.budget_usd, "--budget-usd")) is not None:
        document["budget_usd"] = budget_usd  # the flag wins over the file's
    inputs = read_inputs(args)
    workflow = await client.submit_workflow(document, inputs=inputs)
    if args.detach:
        print(workflow.id if args.output == "table" else render(plain(workflow), args.output))
        return EXIT_OK
    agents = await _agent_names(client)
    shown: list[Workflow] = []

    def on_update(current: Workflow) -> None:
        if args.output != "table":
            return
        for line in progress_lines(shown[-1] if shown else None, current, agents):
            print(line, file=sys.stderr, flush=True)
        shown[:] = [current]

    follow = client.wait_workflow(workflow.id, on_update=on_update)
    final = await following(follow, noun="workflow", ident=lambda: workflow.id)
    _print_workflow(final, agents, args)
    return EXIT_OK if final.state is WorkflowState.SUCCEEDED else EXIT_FAILURE


async def _list(args: argparse.Namespace, client: PhotonClient) -> int:
    check_count(args.limit, "--limit")
    fetch = partial(client.list_workflows, limit=args.limit)
    await show_list(args, Listing(fetch=fetch, row=workflow_row, columns=COLUMNS, wide=WIDE))
    return EXIT_OK


def workflow_row(workflow: Workflow, now: float) -> dict[str, Any]:
    return {
        "id": workflow.id,
        "name": workflow.name,
        "state": workflow.state.value,
        "age": human_age(workflow.created_at, now),
        "message": workflow.message or "-",
        "steps": len(workflow.steps),
        "created": rfc3339(workflow.created_at),
        "finished": rfc3339(workflow.finished_at) if workflow.finished_at else "-",
    }


async def _show(args: argparse.Namespace, client: PhotonClient) -> int:
    workflow = await client.get_workflow(args.id)
    _print_workflow(workflow, await _agent_names(client), args)
    return EXIT_OK


async def _cancel(args: argparse.Namespace, client: PhotonClient) -> int:
    workflow = await client.cancel_workflow(args.id)
    _print_workflow(workflow, await _agent_names(client), args)
    return EXIT_OK


async def _agent_names(client: PhotonClient) -> dict[str, str]:
    return {a.id: a.name for a in await client.list_agents()}


def _print_workflow(workflow: Workflow, agents: dict[str, str], args: argparse.Namespace) -> None:
    if args.output == "table":
        print(table(workflow, agents, colour=getattr(args, "colour", False)))
    else:
        print(render(plain(workflow), args.output))
