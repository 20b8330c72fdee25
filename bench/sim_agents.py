"""Many simulated agents in one process, for `bench.scale`: real identities, real streams.

`python -m bench.sim_agents --tokens FILE --data-dir D --status FILE [--name-prefix P]` joins one
agent per join token in FILE through the real enrolment (`photon.agent.join`: a key made here, the
hub checked against the pinned CA, a certificate signed by the hub's CA), then holds one mTLS
`MeshService.Connect` stream per agent, each on its own channel with that agent's certificate. Each
sends a real Hello (labelled `sim=true`, 1 slot, the same tool list a real agent reports but with
every tool switched off, so ordinary tasks go elsewhere) and real Heartbeats at the interval the
Welcome gives, jittered like the agent daemon's. An assignment that arrives anyway is answered as
the `echo` tool would: TaskAccepted, then a TaskResult with the inputs as outputs.

Counters (joined, connected, heartbeats, assignments, reconnects, failures) go to the status file
as JSON about once a second. SIGTERM or SIGINT closes every stream and exits.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import random
import signal
import socket
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import grpc
import grpc.aio
import uvloop

from photon import __version__
from photon._aio import first_completed
from photon.agent import AgentPaths, Identity, join
from photon.agent.tools import tool_info
from photon.cli._common import raise_open_file_limit
from photon.errors import PhotonError, TransportError
from photon.plugins import load_plugins
from photon.v1 import common_pb2, mesh_pb2, mesh_pb2_grpc
from photon.wire import CHANNEL_OPTIONS, EOF, tool_to_proto, unbatch

log = logging.getLogger("bench.sim_agents")

LABELS = {"sim": "true"}
JOINS_AT_ONCE = 8
JOIN_ATTEMPTS = 3
WELCOME_TIMEOUT = 15.0
RECONNECT_DELAY = (1.0, 5.0)
STATUS_EVERY = 1.0
# Every channel gets a subchannel of its own: channels that differ only in their client
# certificate must never share a connection.
SIM_CHANNEL_OPTIONS: list[tuple[str, int]] = [
    *CHANNEL_OPTIONS,
    ("grpc.use_local_subchannel_pool", 1),
]


@dataclass(slots=True)
class Counters:
    joined: int = 0
    join_failures: int = 0
    connected: int = 0  # streams welcomed and still open
    heartbeat_interval: float = 0.0  # as the last Welcome gave it
    heartbeats: int = 0
    assigned: int = 0
    reconnects: int = 0
    last_error: str = ""


def simulated_tools() -> list[common_pb2.ToolCapability]:
    """What a real agent with no tool allowed reports: every installed plugin, none enabled."""
    return [
        tool_to_proto(
            tool_info(
                plugin,
                version=plugin.version,
                available=True,
                enabled=False,
                detail="simulated agent: no tool runs here",
            )
        )
        for _, plugin in sorted(load_plugins().plugins.items())
    ]


class SimAgent:
    """One simulated agent: joins once, then keeps one stream open until cancelled."""

    def __init__(
        self,
        *,
        token: str,
        data_dir: Path,
        name: str,
        tools: list[common_pb2.ToolCapability],
        counters: Counters,
        join_gate: asyncio.Semaphore,
        rng: random.Random,
    ) -> None:
        self._token = token
        self._data_dir = data_dir
        self._name = name
        self._tools = tools
        self._counters = counters
        self._join_gate = join_gate
        self._rng = rng

    async def run(self) -> None:
        identity = await self._join()
        if identity is None:
            return
        paths = AgentPaths(root=self._data_dir)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=paths.ca_cert.read_bytes(),
            private_key=paths.key.read_bytes(),
            certificate_chain=paths.cert.read_bytes(),
        )
        while True:
            try:
                await self._session(identity.mesh_addresses[0], credentials)
            except (grpc.aio.AioRpcError, PhotonError, TimeoutError, OSError) as exc:
                self._counters.last_error = f"{self._name}: {_describe(exc)}"
                log.warning("%s: stream failed: %s", self._name, _describe(exc))
            self._counters.reconnects += 1
            await asyncio.sleep(self._rng.uniform(*RECONNECT_DELAY))

    async def _join(self) -> Identity | None:
        error: Exception | None = None
        async with self._join_gate:
            for attempt in range(1, JOIN_ATTEMPTS + 1):
                try:
                    identity = await join(
                        token_text=self._token,
                        data_dir=self._data_dir,
                        name=self._name,
                        labels=LABELS,
                    )
                except (TransportError, TimeoutError) as exc:
                    # Only when the hub could not be reached: a token is good for one join.
                    if attempt < JOIN_ATTEMPTS:
                        await asyncio.sleep(attempt)
                        continue
                    error = exc
                except PhotonError as exc:
                    error = exc
                else:
                    self._counters.joined += 1
                    return identity
                break
        self._counters.join_failures += 1
        self._counters.last_error = f"{self._name}: join failed: {_describe(error)}"
        log.error("%s: join failed: %s", self._name, _describe(error))
        return None

    async def _session(self, address: str, credentials: grpc.ChannelCredentials) -> None:
        async with grpc.aio.secure_channel(
            address, credentials, options=SIM_CHANNEL_OPTIONS
        ) as channel:
            call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
            await call.write(mesh_pb2.ConnectRequest(hello=self._hello()))
            async with asyncio.timeout(WELCOME_TIMEOUT):
                first = await call.read()
            if first is EOF or first.WhichOneof("body") != "welcome":
                raise TransportError("hub ended the stream before welcoming this agent")
            interval = first.welcome.heartbeat_interval_seconds or 5.0
            self._counters.heartbeat_interval = interval
            writing = asyncio.Lock()  # one write at a time on a stream
            self._counters.connected += 1
            try:
                await first_completed(
                    self._heartbeats(call, writing, interval), self._read_loop(call, writing)
                )
            finally:
                self._counters.connected -= 1

    def _hello(self) -> mesh_pb2.Hello:
        return mesh_pb2.Hello(
            agent_version=__version__,
            tools=self._tools,
            labels=LABELS,
            slots=1,
            hostname=socket.gethostname(),
            platform=f"{platform.system().lower()}/{platform.machine()}",
        )

    async def _heartbeats(self, call: Any, writing: asyncio.Lock, interval: float) -> None:
        # Like the agent daemon: the first beat at once, then every interval ±10 %.
        while True:
            beat = mesh_pb2.Heartbeat(metrics=self._metrics())
            async with writing:
                await call.write(mesh_pb2.ConnectRequest(heartbeat=beat))
            self._counters.heartbeats += 1
            await asyncio.sleep(interval * self._rng.uniform(0.9, 1.1))

    def _metrics(self) -> common_pb2.AgentMetrics:
        rng = self._rng
        return common_pb2.AgentMetrics(
            cpu_percent=rng.uniform(1.0, 30.0),
            memory_percent=rng.uniform(20.0, 60.0),
            memory_used_bytes=4 << 30,
            memory_total_bytes=16 << 30,
            load1=rng.uniform(0.0, 2.0),
            load5=1.0,
            load15=1.0,
            disk_percent=40.0,
            disk_free_bytes=100 << 30,
            running_tasks=0,
            free_slots=1,
        )

    async def _read_loop(self, call: Any, writing: asyncio.Lock) -> None:
        """Until the hub ends the stream; answers assignments like the echo tool."""
        while True:
            message = await call.read()
            if message is EOF:
                raise TransportError("hub closed the stream")
            for part in unbatch(message):
                if part.WhichOneof("body") == "assign":
                    await self._answer(call, writing, part.assign)
                # Anything else (result acks, cancels of tasks already done) needs no answer.

    async def _answer(self, call: Any, writing: asyncio.Lock, assign: mesh_pb2.Assign) -> None:
        self._counters.assigned += 1
        started = time.time()
        result = mesh_pb2.TaskResult(
            attempt=assign.attempt,
            ok=True,
            outputs_json=assign.spec.inputs_json or "{}",
            started_at=started,
            finished_at=time.time(),
        )
        async with writing:
            accepted = mesh_pb2.TaskAccepted(attempt=assign.attempt)
            await call.write(mesh_pb2.ConnectRequest(task_accepted=accepted))
            await call.write(mesh_pb2.ConnectRequest(task_result=result))


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__


def _write_status(path: Path, counters: Counters) -> None:
    scratch = path.with_suffix(".tmp")
    scratch.write_text(json.dumps(asdict(counters)))
    scratch.replace(path)


async def _report(path: Path, counters: Counters) -> None:
    while True:
        _write_status(path, counters)
        await asyncio.sleep(STATUS_EVERY)


async def simulate(*, tokens: list[str], data_dir: Path, status: Path, prefix: str) -> None:
    """Run one SimAgent per token until cancelled."""
    counters = Counters()
    tools = simulated_tools()
    gate = asyncio.Semaphore(JOINS_AT_ONCE)
    rng = random.Random()
    agents = [
        SimAgent(
            token=token,
            data_dir=data_dir / f"{prefix}-{i}",
            name=f"{prefix}-{i}",
            tools=tools,
            counters=counters,
            join_gate=gate,
            rng=rng,
        )
        for i, token in enumerate(tokens)
    ]
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(_report(status, counters))
            for agent in agents:
                group.create_task(agent.run())
    finally:
        _write_status(status, counters)


async def _main(args: argparse.Namespace) -> None:
    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    tokens = [line.strip() for line in args.tokens.read_text().splitlines() if line.strip()]
    await simulate(tokens=tokens, data_dir=args.data_dir, status=args.status, prefix=args.prefix)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sim_agents", description=__doc__)
    parser.add_argument("--tokens", type=Path, required=True, help="one join token per line")
    parser.add_argument("--data-dir", type=Path, required=True, help="agents' data dirs go here")
    parser.add_argument("--status", type=Path, required=True, help="counters, as JSON")
    parser.add_argument("--name-prefix", dest="prefix", default=f"sim{os.getpid()}")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    raised = raise_open_file_limit()
    if raised is not None:
        log.info("raised the open-file limit from %d to %d", *raised)
    try:
        uvloop.run(_main(args))
    except asyncio.CancelledError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
