"""`photonctl agents list|show|drain|undrain|remove`: the fleet."""

from __future__ import annotations

import argparse
import time
from typing import TYPE_CHECKING, Any

from ..._text import escape_controls
from ..._utc import rfc3339
from ...client import Agent, PhotonClient
from .._common import EXIT_OK
from .._output import human_age, human_bytes, render
from .._times import plain
from ._command import output_flag
from ._listing import Listing, add_list_flags, show_list

if TYPE_CHECKING:
    from ._command import Commands

COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("state", "state"),
    ("labels", "labels"),
    ("tasks", "tasks"),
    ("cpu", "cpu"),
    ("mem", "memory"),
    ("tools", "tools"),
    ("heartbeat", "heartbeat"),
]
WIDE = [
    ("hostname", "hostname"),
    ("platform", "platform"),
    ("version", "version"),
    ("load", "load"),
    ("disk", "disk"),
]


def register(commands: Commands) -> None:
    actions = commands.add_parser("agents", help="the fleet").add_subparsers(
        dest="action", required=True
    )
    listing = actions.add_parser("list", help="every agent: state, tasks, CPU, memory, tools")
    add_list_flags(listing)
    listing.set_defaults(handler=_list)
    show = actions.add_parser(
        "show", parents=[output_flag()], help="one agent: host, metrics, tools, certificate"
    )
    show.add_argument("id", help="the agent's id or name")
    show.set_defaults(handler=_show)
    for action, handler, text in (
        ("drain", _drain, "send the agent no new tasks; its running tasks finish"),
        ("undrain", _undrain, "let the agent take tasks again"),
        ("remove", _remove, "revoke the agent; its running tasks are retried elsewhere"),
    ):
        parser = actions.add_parser(action, help=text)
        parser.add_argument("id", help="the agent's id or name")
        parser.set_defaults(handler=handler)


def agent_row(agent: Agent, now: float) -> dict[str, Any]:
    return {
        "id": agent.id,
        "name": agent.name,
        "state": agent.state.value,
        "labels": dict(agent.labels),
        "tasks": f"{agent.running_tasks}/{agent.slots}" if agent.slots else "-",
        "cpu": f"{agent.metrics['cpu_percent']:.0f}%" if agent.metrics else "-",
        "memory": f"{agent.metrics['memory_percent']:.0f}%" if agent.metrics else "-",
        "tools": [t.name for t in agent.tools if t.available and t.enabled],
        "heartbeat": human_age(agent.last_heartbeat_at, now) if agent.last_heartbeat_at else "-",
        "hostname": agent.hostname,
        "platform": agent.platform,
        "version": agent.version,
        "load": f"{agent.metrics['load1']:.2f}" if agent.metrics else "-",
        "disk": f"{agent.metrics['disk_percent']:.0f}%" if agent.metrics else "-",
    }


def agent_detail(agent: Agent, now: float) -> dict[str, Any]:
    metrics = agent.metrics
    detail: dict[str, Any] = {
        "id": agent.id,
        "name": agent.name,
        "state": agent.state.value,
        "hostname": agent.hostname,
        "platform": agent.platform or "-",
        "version": agent.version or "-",
        "labels": dict(agent.labels),
        "slots": agent.slots,
        "running tasks": agent.running_tasks,
        "last heartbeat": human_age(agent.last_heartbeat_at, now) + " ago"
        if agent.last_heartbeat_at
        else "-",
        "certificate expires": rfc3339(agent.certificate_expires_at),
    }
    if metrics:
        total = human_bytes(int(metrics["memory_total_bytes"]))
        free = human_bytes(int(metrics["disk_free_bytes"]))
        detail["metrics"] = {
            "cpu": f"{metrics['cpu_percent']:.1f}%",
            "memory": f"{metrics['memory_percent']:.1f}% of {total}",
            "load": f"{metrics['load1']:.2f} {metrics['load5']:.2f} {metrics['load15']:.2f}",
            "disk": f"{metrics['disk_percent']:.1f}% used, {free} free",
            "free slots": int(metrics["free_slots"]),
        }
    detail["tools"] = [
        {
            "name": t.name,
            "version": t.version or "-",
            "status": "ready"
            if t.available and t.enabled
            else ("disabled" if t.available else "unavailable"),
            "detail": t.detail or "-",
        }
        for t in agent.tools
    ]
    if agent.quota_blocks:
        detail["out of quota"] = [
            {"tool": tool, "until": rfc3339(until)} for tool, until in agent.quota_blocks.items()
        ]
    return detail


async def _list(args: argparse.Namespace, client: PhotonClient) -> int:
    await show_list(
        args, Listing(fetch=client.list_agents, row=agent_row, columns=COLUMNS, wide=WIDE)
    )
    return EXIT_OK


async def _show(args: argparse.Namespace, client: PhotonClient) -> int:
    agent = await client.get_agent(args.id)
    data = agent_detail(agent, time.time()) if args.output == "table" else plain(agent)
    print(render(data, args.output))
    return EXIT_OK


async def _drain(args: argparse.Namespace, client: PhotonClient) -> int:
    agent = await client.drain_agent(args.id)
    print(escape_controls(f"agent {agent.name} draining"))
    return EXIT_OK


async def _undrain(args: argparse.Namespace, client: PhotonClient) -> int:
    agent = await client.undrain_agent(args.id)
    print(escape_controls(f"agent {agent.name} accepting work"))
    return EXIT_OK


async def _remove(args: argparse.Namespace, client: PhotonClient) -> int:
    await client.remove_agent(args.id)
    print(f"agent {args.id} removed; its certificate is revoked")
    return EXIT_OK
