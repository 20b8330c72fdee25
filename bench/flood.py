"""`python -m bench.flood [--quick]`: another client's W1 while one client or agent misbehaves.

The claim under test: nothing one client or agent sends runs for long on the hub's event loop —
another client's task latency stays within 2x of idle while one client misbehaves.

It starts a real hub and 2 real agents of 1 slot (as `bench.photon_system` does for W1) and
measures W1 (sequential no-op `echo` tasks through `PhotonClient.run`, each timed from submit to
its result) idle, then again while misbehaving peers run, each peer a process of its own, one
scenario at a time and then all together:

  a. an enrolled agent floods progress events for its task as fast as the hub reads them (a raw
     Connect stream, batches of 1,000 events; the hub keeps max-events-per-task of them and
     max-agent-events-per-second);
  b. a client submits, as fast as the hub answers, workflows of the nastiest shapes the limits
     allow: a ring of max-workflow-steps steps (refused as a cycle), a chain of as many steps
     each referring to its predecessor's outputs, and a step input holding a 1,500-character
     unterminated `${{ `;
  c. a client sends, as fast as the hub answers, inputs nested 10,000 deep, a 600 KB selector,
     inputs just over 1 MiB, and SubmitTasks batches of max-batch specs of a tool no agent has;
  d. 200 WatchTask streams on running tasks, and a client calling ListAgents and ListTasks in a
     tight loop.

One table at the end: W1 p50 and p99 per scenario, their ratio to idle, whether both are within
2x, and the hub's CPU over the W1 window. The notes say how the hub answered each kind of
misbehaving request (how fast, with what) and whether that is what the hub owes it; logs, data
dirs and each peer's status file stay in the work dir.

`python -m bench.flood --peer KIND ...` runs one misbehaving peer until SIGTERM; this module and
tests/integration/test_flood.py start them. Every process it starts carries a BENCH_TAG, and
whatever still carries it at the end (also after Ctrl-C or SIGTERM) is ended.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sqlite3
import sys
import tempfile
import time
import traceback
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import psutil
import uvloop

from photon.client import ClientContext, load_context
from photon.errors import PhotonError
from photon.hub.core import DEFAULT_LIMITS, Limits
from photon.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    auth_pb2,
    auth_pb2_grpc,
    common_pb2,
    mesh_pb2,
    mesh_pb2_grpc,
)
from photon.wire import CHANNEL_OPTIONS, EOF

from .photon_system import PhotonSystem
from .procs import PYTHON, TAG_VARIABLE, Daemon, sweep, wait_until
from .workloads import WORKERS, percentile

CLAIM_RATIO = 2.0
# No agent offers it: a request that gets past the limits it is sent to test is refused for the
# tool instead (the checks count that as a missed limit), and nothing is ever stored or run.
ABSENT_TOOL = "nobody-has"
# No agent has this label: a workflow the hub accepts queues its first step without taking a
# slot from W1's agents, and the peer cancels it at once.
PARKED = "flood=parked"
FLOOD_TOOL = "flood"
HOLD_TOOL = "hold"
EVENTS_PER_BATCH = 1_000
WATCHES = 200
# A refusal longer than this quotes what it was given instead of naming what is wrong with it.
REFUSAL_CHARS = 1_000
REQUEST_TIMEOUT = 60.0
LOGIN_MARGIN = 60.0
STATUS_EVERY = 0.5
READY_WITHIN = 90.0
SETTLE = 1.0  # after every peer is ready: the flood is in its stride
START_WITHIN = 180.0
PEERS = ("flood", "workflows", "inputs", "watch")


# -- what the misbehaving peers send ------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Expect:
    """What the hub owes a request: one of `codes` (gRPC status names, OK for served) and, when
    refused, a message that contains `says` and is at most REFUSAL_CHARS long."""

    codes: tuple[str, ...]
    says: str = ""

    def __str__(self) -> str:
        codes = " or ".join(self.codes)
        return f"{codes} naming {self.says!r}" if self.says else codes


@dataclass(frozen=True, slots=True, kw_only=True)
class Shape:
    """One misbehaving request, built once and sent again and again."""

    kind: str
    method: str  # of AdminService
    request: Any
    expect: Expect


REFUSED_AS_INVALID = ("INVALID_ARGUMENT",)


def _step(step_id: str, **fields: Any) -> dict[str, Any]:
    return {"id": step_id, "tool": "echo", "selector": PARKED, **fields}


def _workflow(name: str, steps: list[dict[str, Any]]) -> admin_pb2.SubmitWorkflowRequest:
    document = {"name": name, "steps": steps}
    return admin_pb2.SubmitWorkflowRequest(document_json=json.dumps(document), inputs_json="{}")


def workflow_shapes(limits: Limits = DEFAULT_LIMITS) -> list[Shape]:
    """Scenario b: the nastiest workflows the limits allow."""
    n = limits.max_workflow_steps
    ring = [_step(f"s{i}", needs=[f"s{(i - 1) % n}"]) for i in range(n)]
    chain = [_step("s0")] + [
        _step(f"s{i}", needs=[f"s{i - 1}"], inputs={"prev": f"${{{{ steps.s{i - 1}.outputs.x }}}}"})
        for i in range(1, n)
    ]
    unterminated = [_step("a", inputs={"x": "${{ " * 375})]
    return [
        Shape(
            kind=f"ring of {n:,}",
            method="SubmitWorkflow",
            request=_workflow("ring", ring),
            expect=Expect(codes=REFUSED_AS_INVALID, says="cycle"),
        ),
        Shape(
            kind=f"chain of {n:,}",
            method="SubmitWorkflow",
            request=_workflow("chain", chain),
            expect=Expect(codes=("OK",)),
        ),
        Shape(
            # Literal text for a hub that reads a `${{` never closed as text, a short refusal
            # for one that does not: either is fine, a long parse is not.
            kind="unterminated ${{ x1,500",
            method="SubmitWorkflow",
            request=_workflow("unterminated", unterminated),
            expect=Expect(codes=("OK", "INVALID_ARGUMENT")),
        ),
    ]


def _task(**fields: Any) -> admin_pb2.SubmitTaskRequest:
    return admin_pb2.SubmitTaskRequest(spec=common_pb2.TaskSpec(tool=ABSENT_TOOL, **fields))


def input_shapes(limits: Limits = DEFAULT_LIMITS) -> list[Shape]:
    """Scenario c: inputs, selectors and batches over (or at) their limits."""
    depth = 10_000
    deep = '{"a":' * depth + "1" + "}" * depth  # by hand: json.dumps would recurse as deep
    just_over = json.dumps({"x": "a" * limits.max_input_bytes})
    batch = [common_pb2.TaskSpec(tool=ABSENT_TOOL)] * limits.max_batch
    return [
        Shape(
            kind=f"inputs nested {depth:,} deep",
            method="SubmitTask",
            request=_task(inputs_json=deep),
            expect=Expect(codes=REFUSED_AS_INVALID, says="max-input-depth"),
        ),
        Shape(
            kind="600 KB selector",
            method="SubmitTask",
            request=_task(selector="a=b," * 150_000),
            expect=Expect(codes=REFUSED_AS_INVALID, says="max-selector-length"),
        ),
        Shape(
            kind=f"inputs of {len(just_over):,} bytes",
            method="SubmitTask",
            request=_task(inputs_json=just_over),
            expect=Expect(codes=REFUSED_AS_INVALID, says="max-input-bytes"),
        ),
        Shape(
            kind=f"batch of {limits.max_batch:,} specs",
            method="SubmitTasks",
            request=admin_pb2.SubmitTasksRequest(specs=batch),
            expect=Expect(codes=("FAILED_PRECONDITION",), says=ABSENT_TOOL),
        ),
    ]


# -- how they were answered ---------------------------------------------------------------------


@dataclass(slots=True)
class Answers:
    """How the hub answered one kind of request."""

    expect: Expect
    seconds: list[float] = field(default_factory=list)
    codes: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # code -> its first message, cut
    longest: int = 0  # characters of the longest refusal

    def add(self, seconds: float, code: str, details: str) -> None:
        self.seconds.append(seconds)
        self.codes[code] = self.codes.get(code, 0) + 1
        self.examples.setdefault(code, details[:REFUSAL_CHARS])
        if code != "OK":
            self.longest = max(self.longest, len(details))

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.seconds)
        return {
            "expect": {"codes": list(self.expect.codes), "says": self.expect.says},
            "answered": len(ordered),
            "p50_ms": percentile(ordered, 50) * 1e3 if ordered else None,
            "max_ms": ordered[-1] * 1e3 if ordered else None,
            "codes": dict(self.codes),
            "examples": dict(self.examples),
            "longest": self.longest,
        }


@dataclass(slots=True)
class PeerStatus:
    """What a peer has done so far, written to its status file every STATUS_EVERY seconds."""

    peer: str
    path: Path
    ready: bool = False
    error: str = ""
    answers: dict[str, Answers] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)

    def of(self, kind: str, expect: Expect) -> Answers:
        return self.answers.setdefault(kind, Answers(expect))

    def write(self) -> None:
        data = {
            "peer": self.peer,
            "ready": self.ready,
            "error": self.error,
            "requests": {kind: a.summary() for kind, a in self.answers.items()},
            **self.counters,
        }
        scratch = self.path.with_suffix(".tmp")
        scratch.write_text(json.dumps(data, indent=1))
        scratch.replace(self.path)

    async def keep_written(self) -> None:
        while True:
            self.write()
            await asyncio.sleep(STATUS_EVERY)


def read_status(path: Path) -> dict[str, Any]:
    """A peer's status file; {} before its first write."""
    try:
        return dict(json.loads(path.read_text()))
    except (FileNotFoundError, ValueError):
        return {}


def problems(status: dict[str, Any]) -> list[str]:
    """Where a peer's requests were not answered as the hub owes them (empty: all were)."""
    peer = status.get("peer", "?")
    found = [f"{peer}: {status['error']}"] if status.get("error") else []
    answered = status.get("requests", {})
    found += [f"{kind}: never answered" for kind in status.get("sends", []) if kind not in answered]
    for kind, seen in answered.items():
        expect = Expect(codes=tuple(seen["expect"]["codes"]), says=seen["expect"]["says"])
        for code, count in seen["codes"].items():
            example = seen["examples"][code]
            if code not in expect.codes:
                found.append(f"{kind}: {count} x {code} {example[:160]!r}; owed {expect}")
            elif code != "OK" and expect.says not in example:
                found.append(f"{kind}: {code} {example[:160]!r} does not name {expect.says!r}")
        if seen["longest"] > REFUSAL_CHARS:
            found.append(f"{kind}: a refusal of {seen['longest']:,} characters")
    return found


# -- the peers ----------------------------------------------------------------------------------


class Admin:
    """Raw AdminService calls, as a script of the misbehaving client's own would make them."""

    def __init__(self, context: ClientContext) -> None:
        self._context = context
        self._channel: grpc.aio.Channel | None = None
        self._token = ""
        self._expires = 0.0
        self.stub: Any = None

    async def __aenter__(self) -> Admin:
        credentials = grpc.ssl_channel_credentials(root_certificates=self._context.ca_pem.encode())
        self._channel = grpc.aio.secure_channel(
            self._context.api, credentials, options=CHANNEL_OPTIONS
        )
        self.stub = admin_pb2_grpc.AdminServiceStub(self._channel)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._channel is not None:
            await self._channel.close(None)

    async def metadata(self) -> tuple[tuple[str, str], ...]:
        if time.time() > self._expires - LOGIN_MARGIN:
            assert self._channel is not None
            login = await auth_pb2_grpc.AuthServiceStub(self._channel).Login(
                auth_pb2.LoginRequest(api_key=self._context.api_key), timeout=REQUEST_TIMEOUT
            )
            self._token, self._expires = login.token, login.expires_at
        return (("authorization", f"Bearer {self._token}"),)

    async def call(self, method: str, request: Any) -> tuple[str, str, Any]:
        """(status code name, details, response or None); never raises for a status."""
        metadata = await self.metadata()
        try:
            response = await getattr(self.stub, method)(
                request, metadata=metadata, timeout=REQUEST_TIMEOUT
            )
        except grpc.aio.AioRpcError as exc:
            return exc.code().name, exc.details() or "", None
        return "OK", "", response

    async def timed(
        self, status: PeerStatus, kind: str, expect: Expect, method: str, request: Any
    ) -> Any:
        t0 = time.perf_counter()
        code, details, response = await self.call(method, request)
        status.of(kind, expect).add(time.perf_counter() - t0, code, details)
        return response


class RawAgent:
    """An enrolled agent's Connect stream driven by hand: a Hello, then what the peer writes.

    Assignments are accepted at once and queued on `assigned`; `run()` owns the reading, the
    writing (one writer: what `send` queues) and the heartbeats.
    """

    def __init__(self, data_dir: Path, *, tool: str, slots: int) -> None:
        self._data_dir = data_dir
        self._tool = tool
        self._slots = slots
        self._outbox: asyncio.Queue[mesh_pb2.ConnectRequest | None] = asyncio.Queue(maxsize=4)
        self._channel: grpc.aio.Channel | None = None
        self._call: Any = None
        self._interval = 5.0
        self.agent_id = ""
        self.assigned: asyncio.Queue[mesh_pb2.AttemptRef] = asyncio.Queue()
        self.acked: set[str] = set()

    async def __aenter__(self) -> RawAgent:
        identity = json.loads((self._data_dir / "identity.json").read_text())
        credentials = grpc.ssl_channel_credentials(
            root_certificates=(self._data_dir / "ca.crt").read_bytes(),
            private_key=(self._data_dir / "agent.key").read_bytes(),
            certificate_chain=(self._data_dir / "agent.crt").read_bytes(),
        )
        self._channel = grpc.aio.secure_channel(
            identity["mesh_addresses"][0], credentials, options=CHANNEL_OPTIONS
        )
        tool = common_pb2.ToolCapability(
            name=self._tool, default_action=self._tool, available=True, enabled=True,
            actions=[common_pb2.ToolAction(name=self._tool)],
        )  # fmt: skip
        self._call = mesh_pb2_grpc.MeshServiceStub(self._channel).Connect()
        hello = mesh_pb2.Hello(slots=self._slots, tools=[tool], agent_version="bench-flood")
        await self._call.write(mesh_pb2.ConnectRequest(hello=hello))
        welcome = await self._call.read()
        if welcome is EOF or welcome.WhichOneof("body") != "welcome":
            raise RuntimeError(f"no Welcome from the hub: {welcome}")
        self.agent_id = welcome.welcome.agent_id
        self._interval = welcome.welcome.heartbeat_interval_seconds or self._interval
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._channel is not None:
            await self._channel.close(None)

    async def send(self, message: mesh_pb2.ConnectRequest) -> None:
        await self._outbox.put(message)

    async def finish(self) -> None:
        """Write what is queued, then half-close the stream."""
        await self._outbox.put(None)

    async def run(self) -> None:
        """Until `finish()` has half-closed the stream and the hub has ended it (or 5 s)."""
        async with asyncio.TaskGroup() as group:
            beat = group.create_task(self._beat())
            reader = group.create_task(self._read())
            await self._write()
            beat.cancel()
            await asyncio.wait([reader], timeout=5)
            reader.cancel()

    async def _write(self) -> None:
        while (message := await self._outbox.get()) is not None:
            await self._call.write(message)
        await self._call.done_writing()

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            beat = mesh_pb2.Heartbeat(metrics=common_pb2.AgentMetrics(free_slots=0))
            await self.send(mesh_pb2.ConnectRequest(heartbeat=beat))

    async def _read(self) -> None:
        while (message := await self._call.read()) is not EOF:
            for item in [message, *message.batch]:
                body = item.WhichOneof("body")
                if body == "assign":
                    accepted = mesh_pb2.TaskAccepted(attempt=item.assign.attempt)
                    await self.send(mesh_pb2.ConnectRequest(task_accepted=accepted))
                    self.assigned.put_nowait(item.assign.attempt)
                elif body == "result_ack":
                    self.acked.add(item.result_ack.attempt.task_id)


def _result(ref: mesh_pb2.AttemptRef) -> mesh_pb2.ConnectRequest:
    return mesh_pb2.ConnectRequest(
        task_result=mesh_pb2.TaskResult(attempt=ref, ok=True, outputs_json="{}")
    )


async def flood_peer(
    context: ClientContext, data_dir: Path, rate: float, stop: asyncio.Event, status: PeerStatus
) -> None:
    """Scenario a: one task, and its progress events in batches of 1,000 for as long as it runs,
    `rate` batches a second (0: as fast as the hub reads them); then its result."""
    async with Admin(context) as admin, RawAgent(data_dir, tool=FLOOD_TOOL, slots=1) as agent:
        async with asyncio.TaskGroup() as group:
            group.create_task(agent.run())
            spec = common_pb2.TaskSpec(tool=FLOOD_TOOL, agent=agent.agent_id)
            submitted = await admin.timed(
                status, "flood task", Expect(codes=("OK",)), "SubmitTask",
                admin_pb2.SubmitTaskRequest(spec=spec),
            )  # fmt: skip
            if submitted is None:
                raise RuntimeError("the hub refused the flood task")
            ref = await agent.assigned.get()
            status.counters["flood"] = flood = {"task_id": ref.task_id, "batches": 0}
            line = common_pb2.TaskEvent(kind="log", message="x" * 400, data_json='{"n": 1}')
            progress = mesh_pb2.TaskProgress(attempt=ref, events=[line] * EVENTS_PER_BATCH)
            batch = mesh_pb2.ConnectRequest(batch=[mesh_pb2.ConnectRequest(task_progress=progress)])
            t0 = time.monotonic()
            while not stop.is_set():
                await agent.send(batch)
                flood["batches"] += 1
                flood["events"] = flood["batches"] * EVENTS_PER_BATCH
                flood["seconds"] = time.monotonic() - t0
                status.ready = True
                if rate:
                    await _pace(t0, flood["batches"] / rate, stop)
            await agent.send(_result(ref))
            with contextlib.suppress(TimeoutError):
                await wait_until(lambda: ref.task_id in agent.acked, within=5, what="ack")
            flood["acked"] = ref.task_id in agent.acked
            await agent.finish()


async def _pace(t0: float, due: float, stop: asyncio.Event) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, t0 + due - time.monotonic())):
            await stop.wait()


async def requests_peer(
    context: ClientContext, shapes: Sequence[Shape], stop: asyncio.Event, status: PeerStatus
) -> None:
    """Scenarios b and c: each shape in turn, the next as soon as the hub has answered; an
    accepted workflow is cancelled at once."""
    status.counters["sends"] = [shape.kind for shape in shapes]
    async with Admin(context) as admin:
        while not stop.is_set():
            for shape in shapes:
                response = await admin.timed(
                    status, shape.kind, shape.expect, shape.method, shape.request
                )
                if shape.method == "SubmitWorkflow" and response is not None:
                    await admin.timed(
                        status, f"{shape.kind}: cancel", Expect(codes=("OK",)),
                        "CancelWorkflow",
                        admin_pb2.CancelWorkflowRequest(id=response.workflow.id),
                    )  # fmt: skip
            status.ready = True


async def watch_peer(
    context: ClientContext, data_dir: Path, stop: asyncio.Event, status: PeerStatus
) -> None:
    """Scenario d: WATCHES running tasks (on an agent of WATCHES slots that sends one progress
    event a second for each), a WatchTask stream on each, and ListAgents / ListTasks calls one
    after the other; at the end every task succeeds."""
    async with Admin(context) as admin, RawAgent(data_dir, tool=HOLD_TOOL, slots=WATCHES) as agent:
        async with asyncio.TaskGroup() as group:
            group.create_task(agent.run())
            specs = [common_pb2.TaskSpec(tool=HOLD_TOOL, agent=agent.agent_id)] * WATCHES
            submitted = await admin.timed(
                status, "hold tasks", Expect(codes=("OK",)), "SubmitTasks",
                admin_pb2.SubmitTasksRequest(specs=specs),
            )  # fmt: skip
            if submitted is None:
                raise RuntimeError("the hub refused the tasks to watch")
            refs = [await agent.assigned.get() for _ in range(WATCHES)]
            watch = status.counters["watch"] = {"tasks": len(refs), "streams": 0, "ended": 0}
            watch["messages"] = watch["broken"] = 0
            expect = Expect(codes=("OK",))

            async def follow(task_id: str) -> None:
                """One stream to its end; how it ended is recorded, not raised: a broken stream
                is an answer the hub owed otherwise, and the others go on."""
                request = admin_pb2.WatchTaskRequest(id=task_id)
                call = admin.stub.WatchTask(request, metadata=await admin.metadata())
                opened, t0 = False, time.perf_counter()
                code, details = "OK", ""
                try:
                    async for message in call:
                        if not opened:
                            opened = True
                            watch["streams"] += 1
                        watch["messages"] += 1
                        if message.WhichOneof("body") == "task" and message.task.finished_at:
                            watch["ended"] += 1
                except grpc.aio.AioRpcError as exc:
                    code, details = exc.code().name, exc.details() or ""
                    watch["broken"] += 1
                status.of("WatchTask", expect).add(time.perf_counter() - t0, code, details)

            async def progress() -> None:
                line = common_pb2.TaskEvent(kind="log", message="still holding")
                while True:
                    await asyncio.sleep(1.0)
                    batch = [
                        mesh_pb2.ConnectRequest(
                            task_progress=mesh_pb2.TaskProgress(attempt=r, events=[line])
                        )
                        for r in refs
                    ]
                    await agent.send(mesh_pb2.ConnectRequest(batch=batch))

            async def lists() -> None:
                while True:
                    await admin.timed(
                        status, "ListAgents", expect, "ListAgents", admin_pb2.ListAgentsRequest()
                    )
                    await admin.timed(
                        status, "ListTasks", expect, "ListTasks", admin_pb2.ListTasksRequest()
                    )

            followers = [group.create_task(follow(r.task_id)) for r in refs]
            background = [group.create_task(progress()), group.create_task(lists())]
            await wait_until(
                lambda: (
                    watch["streams"] + watch["broken"] >= WATCHES and "ListTasks" in status.answers
                ),
                within=READY_WITHIN,
                what="watch streams open",
            )
            status.ready = True
            await stop.wait()
            for task in background:
                task.cancel()
            for ref in refs:
                await agent.send(_result(ref))
            await asyncio.wait(followers, timeout=10)
            for task in followers:
                task.cancel()
            await agent.finish()


async def _peer(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    status = PeerStatus(peer=args.peer, path=args.status)
    context = load_context(args.config)
    try:
        async with asyncio.TaskGroup() as group:
            writer = group.create_task(status.keep_written())
            if args.peer == "flood":
                await flood_peer(context, args.data_dir, args.rate, stop, status)
            elif args.peer == "workflows":
                await requests_peer(context, workflow_shapes(), stop, status)
            elif args.peer == "inputs":
                await requests_peer(context, input_shapes(), stop, status)
            else:
                await watch_peer(context, args.data_dir, stop, status)
            writer.cancel()
    except Exception as exc:
        while isinstance(exc, ExceptionGroup):  # the task groups': say what went wrong
            exc = exc.exceptions[0]
        status.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        status.write()


def peer_args(
    peer: str, *, config: Path, status: Path, data_dir: Path | None = None, rate: float = 0.0
) -> list[str]:
    """The command line of one peer (its cwd must be the repository, or bench on PYTHONPATH)."""
    args = [PYTHON, "-m", "bench.flood", "--peer", peer, "--config", str(config)]
    args += ["--status", str(status), "--rate", str(rate)]
    return args + (["--data-dir", str(data_dir)] if data_dir else [])


# -- the benchmark ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Scenario:
    name: str
    peers: tuple[str, ...]


SCENARIOS = (
    Scenario(name="idle", peers=()),
    Scenario(name="a: agent floods events", peers=("flood",)),
    Scenario(name="b: nasty workflows", peers=("workflows",)),
    Scenario(name="c: oversized inputs", peers=("inputs",)),
    Scenario(name="d: 200 watches + lists", peers=("watch",)),
    Scenario(name="all: a-d together", peers=PEERS),
    Scenario(name="idle again", peers=()),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    tasks: int
    warmup: int
    w1_within: float
    scenarios: tuple[Scenario, ...]
    workdir: Path


@dataclass(slots=True, kw_only=True)
class Measured:
    scenario: str
    tasks: int = 0  # W1 tasks that ran (fewer than planned when the phase ran out of time)
    p50_ms: float | None = None
    p99_ms: float | None = None
    hub_cpu_percent: float | None = None
    peers_cpu_percent: float | None = None
    machine_cpu_percent: float | None = None
    notes: list[str] = field(default_factory=list)


@dataclass(slots=True, kw_only=True)
class Outcome:
    plan: Plan
    rows: list[Measured] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _say(text: str) -> None:
    print(f"flood: {text}", file=sys.stderr, flush=True)


async def _join(system: PhotonSystem, name: str, data_dir: Path) -> None:
    token, _ = await system.client.create_join_token()
    proc = await asyncio.create_subprocess_exec(
        PYTHON, "-m", "photon.cli.agent", "join", "--token", token, "--name", name,
        "--data-dir", str(data_dir),
        env=dict(system.env), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"joining {name} failed: {err.decode().strip()}")


async def w1(system: PhotonSystem, n: int, within: float) -> tuple[list[float], str]:
    """Up to n sequential no-ops, each timed from submit to its result: as many as ran within
    `within` seconds, sorted seconds; and why one failed, if one did (the rest are not run)."""
    samples: list[float] = []
    failed = ""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(within):
            while len(samples) < n:
                t0 = time.perf_counter()
                try:
                    await system.run_one()
                except (PhotonError, RuntimeError) as exc:  # a task that failed or was refused
                    failed = f"{type(exc).__name__}: {exc}"
                    break
                samples.append(time.perf_counter() - t0)
    return sorted(samples), failed


def _cpu_seconds(procs: Sequence[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            total += sum(proc.cpu_times()[:2])
    return total


def _flood_kept(hub_dir: Path, task_id: str) -> dict[str, int]:
    """The flood task's stored events by kind."""
    with sqlite3.connect(f"file:{hub_dir / 'hub.db'}?mode=ro", uri=True) as db:
        rows = db.execute(
            "SELECT kind, COUNT(*) FROM task_events WHERE task_id = ? GROUP BY kind", (task_id,)
        ).fetchall()
    return dict(rows)


def _ms(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _peer_notes(status: dict[str, Any], hub_dir: Path, limits: Limits) -> list[str]:
    notes = []
    for kind, seen in status.get("requests", {}).items():
        codes = ", ".join(f"{count:,} x {code}" for code, count in seen["codes"].items())
        refusal = next((seen["examples"][c] for c in seen["codes"] if c != "OK"), "")
        said = f": {refusal[:100]!r}" if refusal else ""
        if seen["longest"] > 100:
            said += f" ({seen['longest']:,} characters)"
        notes.append(
            f"{kind}: answered in {_ms(seen['p50_ms'])} ms median, {_ms(seen['max_ms'])} ms at "
            f"most; {codes}{said}"
        )
    if flood := status.get("flood"):
        rate = flood.get("events", 0) / max(flood.get("seconds", 0.0), 1e-9)
        kept = _flood_kept(hub_dir, flood["task_id"])
        capped = kept.get("log", 0) <= limits.max_events_per_task and kept.get("warning") == 1
        notes.append(
            f"flood: {flood.get('events', 0):,} events in {flood.get('seconds', 0.0):.1f} s "
            f"({rate:,.0f}/s); the hub kept {kept.get('log', 0):,} and said so "
            f"{kept.get('warning', 0)} time(s): {'as owed' if capped else 'NOT as owed'}"
        )
    if watch := status.get("watch"):
        notes.append(
            f"watch: {watch['streams']} WatchTask streams on {watch['tasks']} running tasks "
            f"carried {watch['messages']:,} messages; {watch['ended']} saw their task end, "
            f"{watch['broken']} broke"
        )
    notes += [f"NOT as owed: {p}" for p in problems(status)]
    return notes


async def measure(system: PhotonSystem, plan: Plan, scenario: Scenario) -> Measured:
    """W1 and the hub's CPU while the scenario's peers run; the peers' answers in the notes."""
    measured = Measured(scenario=scenario.name)
    root = plan.workdir / "peers" / scenario.name.split(":")[0].replace(" ", "-")
    root.mkdir(parents=True, exist_ok=True)
    peers: list[tuple[Daemon, Path]] = []
    config = Path(system.env["PHOTON_CONFIG"])
    try:
        for peer in scenario.peers:
            status = root / f"{peer}.json"
            data_dir = plan.workdir / f"agent-{peer}" if peer in ("flood", "watch") else None
            args = peer_args(peer, config=config, status=status, data_dir=data_dir)
            daemon = Daemon(args, root / f"{peer}.log", env=system.env).start()
            peers.append((daemon, status))

        def ready() -> bool:
            for daemon, _ in peers:
                if not daemon.running:
                    raise RuntimeError(f"peer {daemon.args[4]} exited:\n{daemon.tail()}")
            return all(read_status(status).get("ready") for _, status in peers)

        if peers:
            _say(f"{scenario.name}: starting {', '.join(scenario.peers)}")
            await wait_until(ready, within=READY_WITHIN, interval=0.1, what="peers ready")
            await asyncio.sleep(SETTLE)
        hub = psutil.Process(system.hub_pid)
        procs = [psutil.Process(d.pid) for d, _ in peers]
        _say(f"{scenario.name}: W1, {plan.tasks} sequential echo tasks")
        hub_cpu, peers_cpu, t0 = _cpu_seconds([hub]), _cpu_seconds(procs), time.monotonic()
        psutil.cpu_percent(interval=None)
        samples, failed = await w1(system, plan.tasks, plan.w1_within)
        wall = time.monotonic() - t0
        measured.machine_cpu_percent = psutil.cpu_percent(interval=None)
        measured.hub_cpu_percent = (_cpu_seconds([hub]) - hub_cpu) / wall * 100
        if procs:
            measured.peers_cpu_percent = (_cpu_seconds(procs) - peers_cpu) / wall * 100
        measured.tasks = len(samples)
        if samples:
            measured.p50_ms = percentile(samples, 50) * 1e3
            measured.p99_ms = percentile(samples, 99) * 1e3
        if failed:
            measured.notes.append(f"W1 task {len(samples) + 1} failed: {failed}")
        elif len(samples) < plan.tasks:
            measured.notes.append(
                f"only {len(samples)} of {plan.tasks} W1 tasks ran within {plan.w1_within:.0f} s"
            )
    finally:
        await asyncio.gather(*(asyncio.to_thread(d.stop, 20.0) for d, _ in peers))
    for _, status in peers:
        measured.notes += _peer_notes(read_status(status), plan.workdir / "hub", DEFAULT_LIMITS)
    return measured


def tracebacks(log: Path) -> list[str]:
    """The exception line of each traceback in a log (of a chain of them, the last one's)."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    found: list[str] = []
    for i, line in enumerate(lines):
        if line.startswith("Traceback"):
            exception = next((x for x in lines[i + 1 :] if x and not x[0].isspace()), line)
            before = next((x for x in reversed(lines[:i]) if x), "")
            chained = before.startswith(("During handling of", "The above exception"))
            if chained and found:
                found[-1] = exception
            else:
                found.append(exception)
    return found


async def run(plan: Plan) -> Outcome:
    system = PhotonSystem(workdir=plan.workdir)
    outcome = Outcome(plan=plan)
    try:
        _say("starting the hub and 2 agents (1 slot each)")
        async with asyncio.timeout(START_WITHIN):
            await system.start(slots=1)
            for peer in ("flood", "watch"):
                await _join(system, f"{peer}-peer", plan.workdir / f"agent-{peer}")
        _say("warm-up")
        _, failed = await w1(system, plan.warmup, plan.w1_within)
        if failed:
            raise RuntimeError(f"warm-up: {failed}")
        for scenario in plan.scenarios:
            try:
                outcome.rows.append(await measure(system, plan, scenario))
            except (TimeoutError, RuntimeError) as exc:
                outcome.rows.append(Measured(scenario=scenario.name, notes=[f"failed: {exc}"]))
                _say(f"{scenario.name}: failed: {exc}")
        hub_running = system.hub_pid is not None and psutil.pid_exists(system.hub_pid)
        outcome.notes.append(f"the hub is {'still' if hub_running else 'NOT'} running")
        found = tracebacks(plan.workdir / "hub.log")
        outcome.notes.append(
            f"hub.log holds {len(found)} traceback(s)"
            + (f", the first: {found[0]}" if found else "")
        )
        return outcome
    finally:
        _say("stopping")
        await system.stop()


def _ratio(value: float | None, idle: float | None) -> float | None:
    return None if value is None or not idle else value / idle


def render(outcome: Outcome) -> str:
    plan = outcome.plan
    idle = next((r for r in outcome.rows if r.scenario == "idle"), None)
    header = ("scenario", "W1 p50 ms", "W1 p99 ms", "p50 x idle", "p99 x idle", "within 2x",
              "hub CPU %")  # fmt: skip
    rows = []
    for row in outcome.rows:
        p50 = _ratio(row.p50_ms, idle.p50_ms if idle else None)
        p99 = _ratio(row.p99_ms, idle.p99_ms if idle else None)
        if row is idle or p50 is None or p99 is None:
            within = "-"
        else:
            within = "yes" if max(p50, p99) <= CLAIM_RATIO else "NO"
        rows.append(
            (
                row.scenario,
                _ms(row.p50_ms, 2),
                _ms(row.p99_ms, 2),
                _ms(p50, 2),
                _ms(p99, 2),
                within,
                _ms(row.hub_cpu_percent),
            )
        )
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first, *rest = cells
        pairs = zip(rest, widths[1:], strict=True)
        return "  ".join([first.ljust(widths[0])] + [c.rjust(w) for c, w in pairs])

    lines = [
        f"PHOTON flood: W1 ({plan.tasks} sequential echo tasks, submit -> result) while peers "
        f"misbehave; {WORKERS} agents of 1 slot",
        *(line(cells) for cells in [header, *rows]),
    ]
    for row in outcome.rows:
        cpu = []
        if row.peers_cpu_percent is not None:
            cpu.append(f"the peers used {row.peers_cpu_percent:,.0f} % of one core")
        if row.machine_cpu_percent is not None:
            cores = psutil.cpu_count()
            cpu.append(f"the machine's {cores} cores were {row.machine_cpu_percent:.0f} % busy")
        lines.append(f"- {row.scenario}: " + "; ".join(cpu))
        lines += [f"    {note}" for note in row.notes]
    lines += [f"- {note}" for note in outcome.notes]
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.flood",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--tasks", type=int, help="W1 tasks per scenario (500; 100 --quick)")
    parser.add_argument("--quick", action="store_true", help="fewer W1 tasks, shorter phases")
    parser.add_argument(
        "--only", default="", help="comma-separated scenarios by letter (a,b,c,d,all); idle runs"
    )
    parser.add_argument("--workdir", type=Path, help="where data dirs and logs go (kept)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--peer", choices=PEERS, help=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--status", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=0.0, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.tasks = args.tasks or (100 if args.quick else 500)
    return args


def _scenarios(only: str) -> tuple[Scenario, ...]:
    wanted = {w.strip() for w in only.split(",") if w.strip()}
    if not wanted:
        return SCENARIOS
    return tuple(s for s in SCENARIOS if not s.peers or s.name.split(":")[0] in wanted)


async def _main(plan: Plan) -> Outcome:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()

    def on_signal() -> None:
        # The first signal cancels the run; further ones must not cut its stopping short.
        if not task.cancelling():
            _say("stopping what was started (a few seconds)")
            task.cancel()

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal)
    return await run(plan)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    if args.peer:
        try:
            uvloop.run(_peer(args))
        except Exception:
            traceback.print_exc()
            return 1
        return 0
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="photon-flood-"))
    workdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    plan = Plan(
        tasks=args.tasks,
        warmup=20 if args.quick else 50,
        w1_within=60.0 if args.quick else 120.0,
        scenarios=_scenarios(args.only),
        workdir=workdir,
    )
    # Everything started from here on inherits the tag; the sweep below ends what is left.
    tag = uuid.uuid4().hex
    os.environ[TAG_VARIABLE] = tag
    _say(f"logs and data in {workdir}")
    t0 = time.monotonic()
    try:
        outcome = uvloop.run(_main(plan))
    except (KeyboardInterrupt, asyncio.CancelledError):
        _say("interrupted")
        return 130
    except Exception:
        traceback.print_exc()
        return 1
    finally:
        left = sweep(tag)
        if left:
            _say(f"ended {left} leftover process(es)")
    print(render(outcome))
    _say(f"took {time.monotonic() - t0:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(asdict(outcome), default=str, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
