"""`photonctl report cost`: what AI tools spent on the tasks that ended in a period, grouped."""

from __future__ import annotations

import argparse
import sys
import time
from typing import TYPE_CHECKING, Any

from ..._utc import rfc3339
from ...client import PhotonClient
from .._common import EXIT_OK
from .._inputs import parse_duration
from .._output import render
from ._command import output_flag

if TYPE_CHECKING:
    from ._command import Commands

GROUPINGS = ("tool", "agent", "workflow", "day")
MAX_NAMED = 10_000  # workflows looked up by id (the hub lists at most this many at once)
DEFAULT_SINCE = "7d"
# Groupings by id whose rows are also given a name, and the table's columns for them (a
# workflow's name may be shared by many runs: it shows both).
_KEY_COLUMNS = {"agent": [("agent", "name")], "workflow": [("workflow", "name"), ("id", "key")]}
_COLUMNS = [
    ("tasks", "tasks"),
    ("cost", "cost"),
    ("input tokens", "input_tokens"),
    ("output tokens", "output_tokens"),
    ("cache read", "cache_read_tokens"),
    ("cache write", "cache_creation_tokens"),
]


def register(commands: Commands) -> None:
    actions = commands.add_parser("report", help="reports over ended tasks").add_subparsers(
        dest="action", required=True
    )
    cost = actions.add_parser(
        "cost",
        parents=[output_flag()],
        help="what AI tools spent, by tool, agent, workflow or day (UTC)",
    )
    cost.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        help=f"tasks that ended this recently, e.g. 24h, 30d (default {DEFAULT_SINCE})",
    )
    cost.add_argument(
        "--by", choices=GROUPINGS, default="tool", help="what a row is (default tool)"
    )
    cost.set_defaults(handler=_cost)


async def _cost(args: argparse.Namespace, client: PhotonClient) -> int:
    since = max(time.time() - parse_duration(args.since), 0.0)
    report = await client.report_cost(since=since, by=args.by)
    if report.truncated:
        print(
            "photonctl: more tasks ended in the period than one report reads; the rows count"
            " the earliest of them (use a shorter --since)",
            file=sys.stderr,
        )
    rows = [r.to_dict() for r in report.rows]
    total = report.total.to_dict()
    if args.by in _KEY_COLUMNS:  # the hub groups by id; people know agents and workflows by name
        names = await _names(client, args.by)
        for row in [*rows, total]:
            row["name"] = names.get(row["key"], row["key"])
    if args.output in ("json", "yaml"):
        data: Any = {"since": rfc3339(since), "by": args.by, "rows": rows, "total": total}
        data["truncated"] = report.truncated
        print(render(data, args.output))
        return EXIT_OK
    if args.output == "csv":  # the fields by their names, numbers in full
        fields = [(args.by, "key"), *((name, name) for name in total if name != "key")]
        print(render([*rows, total], "csv", columns=fields))
        return EXIT_OK
    shown = [{**row, "cost": f"${row['cost_usd']:.4f}"} for row in [*rows, total]]
    if args.by == "workflow":  # the total row has a name, no id
        shown[-1]["key"] = "-"
    keys = _KEY_COLUMNS.get(args.by, [(args.by, "key")])
    print(render(shown, args.output, columns=[*keys, *_COLUMNS]))
    return EXIT_OK


async def _names(client: PhotonClient, by: str) -> dict[str, str]:
    """Id -> name of the agents, or of the latest MAX_NAMED workflows."""
    if by == "agent":
        return {agent.id: agent.name for agent in await client.list_agents()}
    return {w.id: w.name for w in await client.list_workflows(limit=MAX_NAMED)}
