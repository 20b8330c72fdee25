"""`photonctl`: the admin CLI, a thin layer over `photon.client`."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from ..client import PhotonClient, Task, TaskEvent, Workflow, load_context
from ..errors import UsageError
from ..model import TaskState
from ._common import EXIT_FAILURE, EXIT_OK, environ, run
from ._inputs import parse_duration, parse_inputs, parse_labels
from ._output import human_age, human_bytes, human_duration, render
from ._workflow_view import progress_lines, table

AGENT_COLUMNS = [
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
TASK_COLUMNS = [
    ("id", "id"),
    ("tool", "tool"),
    ("state", "state"),
    ("attempt", "attempt"),
    ("agent", "agent_id"),
    ("age", "age"),
    ("duration", "duration"),
]
WORKFLOW_COLUMNS = [
    ("id", "id"),
    ("name", "name"),
    ("state", "state"),
    ("age", "age"),
    ("message", "message"),
]
TOKEN_COLUMNS = [
    ("id", "id"),
    ("labels", "labels"),
    ("uses left", "uses_left"),
    ("expires", "expires"),
]


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("-o", "--output", choices=["table", "json", "yaml"], default="table")

    parser = argparse.ArgumentParser(prog="photonctl", description="PHOTON admin CLI")
    parser.add_argument("--config", type=Path, help="client config (env PHOTON_CONFIG)")
    parser.add_argument("--context", help="context name in the client config")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    tokens = sub.add_parser("join-token", help="join tokens").add_subparsers(
        dest="action", required=True
    )
    create = tokens.add_parser("create", parents=[common])
    create.add_argument("--labels", default="")
    create.add_argument("--ttl", default="15m")
    create.add_argument("--uses", type=int, default=1)
    tokens.add_parser("list", parents=[common])
    tokens.add_parser("revoke").add_argument("id")

    agents = sub.add_parser("agents", help="the fleet").add_subparsers(dest="action", required=True)
    agents.add_parser("list", parents=[common])
    agents.add_parser("show", parents=[common]).add_argument("id")
    for action in ("drain", "undrain", "remove"):
        agents.add_parser(action).add_argument("id")

    run_cmd = sub.add_parser("run", parents=[common], help="run one task")
    run_cmd.add_argument("tool")
    run_cmd.add_argument("task_action", nargs="?", default="", metavar="ACTION")
    run_cmd.add_argument("--input", "-i", action="append", default=[], metavar="K=V")
    run_cmd.add_argument("--inputs-file", type=Path)
    run_cmd.add_argument("--selector", default="")
    run_cmd.add_argument("--agent", default="")
    run_cmd.add_argument("--priority", type=int)
    run_cmd.add_argument("--timeout")
    run_cmd.add_argument("--idempotency-key", default="")
    run_cmd.add_argument("--detach", action="store_true")

    workflows = sub.add_parser("workflow", help="workflows").add_subparsers(
        dest="action", required=True
    )
    wf_run = workflows.add_parser("run", parents=[common], help="run a workflow file")
    wf_run.add_argument("file", type=Path)
    wf_run.add_argument("--input", "-i", action="append", default=[], metavar="K=V")
    wf_run.add_argument("--inputs-file", type=Path)
    wf_run.add_argument("--detach", action="store_true")
    workflows.add_parser("list", parents=[common]).add_argument("--limit", type=int, default=50)
    workflows.add_parser("show", parents=[common]).add_argument("id")
    workflows.add_parser("cancel", parents=[common]).add_argument("id")

    tasks = sub.add_parser("tasks", help="tasks").add_subparsers(dest="action", required=True)
    listing = tasks.add_parser("list", parents=[common])
    listing.add_argument("--state", type=str.upper, choices=[s.value for s in TaskState])
    listing.add_argument("--limit", type=int, default=50)
    tasks.add_parser("show", parents=[common]).add_argument("id")
    tasks.add_parser("cancel", parents=[common]).add_argument("id")
    logs = tasks.add_parser("logs")
    logs.add_argument("id")
    logs.add_argument("-f", "--follow", action="store_true")
    return parser


def _agent_row(agent: Any, now: float) -> dict[str, Any]:
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
    }


def _agent_detail(agent: Any, now: float) -> dict[str, Any]:
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
        "certificate expires": time.strftime(
            "%Y-%m-%d %H:%M:%S UTC", time.gmtime(agent.certificate_expires_at)
        ),
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
    return detail


def _task_row(task: Task, now: float) -> dict[str, Any]:
    return {
        "id": task.id,
        "tool": task.tool,
        "state": task.state.value,
        "attempt": task.attempt,
        "agent_id": task.agent_id or "-",
        "age": human_age(task.created_at, now),
        "duration": human_duration(task.duration),
    }


def _event_line(event: TaskEvent) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(event.time))
    stream = event.data.get("stream")
    prefix = f"{event.kind}/{stream}" if stream else event.kind
    return f"{stamp} {prefix}: {event.message}"


def _print_result(task: Task, fmt: str) -> None:
    if fmt != "table":
        print(render(task.to_dict(), fmt))
        return
    if task.state is TaskState.SUCCEEDED:
        print(render(dict(task.outputs or {}), "json"))
    else:
        failure = task.failure
        reason = f"{failure.failure_class}: {failure.message}" if failure else task.state.value
        print(f"task {task.id} {task.state.value}: {reason}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    env = environ()

    async def command() -> int:
        context = load_context(args.config, args.context, env=env)
        async with PhotonClient.from_context(context) as client:
            return await _dispatch(args, client)

    return run(command, debug=args.debug)


async def _dispatch(args: argparse.Namespace, client: PhotonClient) -> int:
    now = time.time()
    fmt = getattr(args, "output", "table")
    if args.command == "join-token":
        if args.action == "create":
            if args.uses < 1:
                raise UsageError("--uses must be at least 1")
            token, info = await client.create_join_token(
                labels=parse_labels(args.labels), ttl=parse_duration(args.ttl), uses=args.uses
            )
            if fmt == "table":
                print(token)
            else:
                print(render({"token": token, **info.to_dict()}, fmt))
        elif args.action == "list":
            rows = [
                {**t.to_dict(), "expires": "revoked" if t.revoked else human_age(t.expires_at, now)}
                for t in await client.list_join_tokens()
            ]
            print(render(rows, fmt, columns=TOKEN_COLUMNS))
        else:
            await client.revoke_join_token(args.id)
            print(f"join token {args.id} revoked")
        return EXIT_OK
    if args.command == "agents":
        if args.action == "list":
            agents = await client.list_agents()
            if fmt == "table":
                print(render([_agent_row(a, now) for a in agents], fmt, columns=AGENT_COLUMNS))
            else:
                print(render([a.to_dict() for a in agents], fmt))
        elif args.action == "show":
            agent = await client.get_agent(args.id)
            data = _agent_detail(agent, now) if fmt == "table" else agent.to_dict()
            print(render(data, fmt))
        elif args.action == "remove":
            await client.remove_agent(args.id)
            print(f"agent {args.id} removed; its certificate is revoked")
        else:
            drain = args.action == "drain"
            agent = await (client.drain_agent if drain else client.undrain_agent)(args.id)
            print(f"agent {agent.name} {'draining' if drain else 'accepting work'}")
        return EXIT_OK
    if args.command == "run":
        return await _run(args, client, fmt)
    if args.command == "workflow":
        return await _workflow(args, client, fmt)
    if args.action == "list":
        state = TaskState(args.state) if args.state else None
        tasks = await client.list_tasks(state=state, limit=args.limit)
        if fmt == "table":
            print(render([_task_row(t, now) for t in tasks], fmt, columns=TASK_COLUMNS))
        else:
            print(render([t.to_dict() for t in tasks], fmt))
        return EXIT_OK
    if args.action == "show":
        task = await client.get_task(args.id)
        print(render(task.to_dict(), fmt))
        return EXIT_OK
    if args.action == "cancel":
        task = await client.cancel_task(args.id)
        print(f"task {task.id} cancelled" if fmt == "table" else render(task.to_dict(), fmt))
        return EXIT_OK
    # logs
    if args.follow:
        await client.wait(
            args.id,
            on_update=lambda item: (
                print(_event_line(item), flush=True) if isinstance(item, TaskEvent) else None
            ),
        )
    else:
        async for item in client.watch(args.id):
            if isinstance(item, TaskEvent):
                print(_event_line(item))
            elif not item.state.terminal:
                break
    return EXIT_OK


def _read_inputs(args: argparse.Namespace) -> dict[str, Any]:
    inputs_text = None
    if args.inputs_file is not None:
        try:
            inputs_text = args.inputs_file.read_text()
        except OSError as exc:
            raise UsageError(
                f"--inputs-file: cannot read {args.inputs_file}: {exc.strerror}"
            ) from None
    return parse_inputs(args.input, inputs_file_text=inputs_text)


def _read_workflow(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"{path} is not valid YAML or JSON{where}") from None


async def _workflow(args: argparse.Namespace, client: PhotonClient, fmt: str) -> int:
    if args.action == "list":
        rows = [
            {
                "id": w.id,
                "name": w.name,
                "state": w.state.value,
                "age": human_age(w.created_at, time.time()),
                "message": w.message or "-",
            }
            for w in await client.list_workflows(limit=args.limit)
        ]
        print(render(rows, fmt, columns=WORKFLOW_COLUMNS))
        return EXIT_OK
    if args.action in ("show", "cancel"):
        if args.action == "show":
            workflow = await client.get_workflow(args.id)
        else:
            workflow = await client.cancel_workflow(args.id)
        agents = {a.id: a.name for a in await client.list_agents()}
        print(table(workflow, agents) if fmt == "table" else render(workflow.to_dict(), fmt))
        return EXIT_OK
    document = _read_workflow(args.file)
    workflow = await client.submit_workflow(document, inputs=_read_inputs(args))
    if args.detach:
        print(workflow.id if fmt == "table" else render(workflow.to_dict(), fmt))
        return EXIT_OK
    agents = {a.id: a.name for a in await client.list_agents()}
    shown: list[Workflow] = []

    def on_update(current: Workflow) -> None:
        if fmt != "table":
            return
        for line in progress_lines(shown[-1] if shown else None, current, agents):
            print(line, file=sys.stderr, flush=True)
        shown[:] = [current]

    final = await client.wait_workflow(workflow.id, on_update=on_update)
    print(table(final, agents) if fmt == "table" else render(final.to_dict(), fmt))
    return EXIT_OK if final.state.value == "SUCCEEDED" else EXIT_FAILURE


async def _run(args: argparse.Namespace, client: PhotonClient, fmt: str) -> int:
    inputs = _read_inputs(args)
    timeout = parse_duration(args.timeout) if args.timeout else None
    fields: dict[str, Any] = {
        "inputs": inputs,
        "selector": args.selector,
        "agent": args.agent,
        "priority": args.priority,
        "timeout": timeout,
        "idempotency_key": args.idempotency_key,
    }
    if args.detach:
        task = await client.submit(args.tool, args.task_action, **fields)
        print(task.id if fmt == "table" else render(task.to_dict(), fmt))
        return EXIT_OK
    shown: dict[str, str] = {}

    def on_update(item: Task | TaskEvent) -> None:
        if isinstance(item, TaskEvent):
            print(_event_line(item), file=sys.stderr, flush=True)
            return
        status = item.state.value
        if item.waiting_reason:
            status += f" ({item.waiting_reason})"
        elif item.agent_id and not item.state.terminal:
            status += f" on {item.agent_id}"
        if shown.get("status") != status:
            shown["status"] = status
            print(f"task {item.id}: {status}", file=sys.stderr, flush=True)

    # Submitted and followed on one call; the live view only in table format.
    final = await client.run(
        args.tool, args.task_action, on_update=on_update if fmt == "table" else None, **fields
    )
    _print_result(final, fmt)
    return EXIT_OK if final.state is TaskState.SUCCEEDED else EXIT_FAILURE


if __name__ == "__main__":
    sys.exit(main())
