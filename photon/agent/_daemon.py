"""`AgentDaemon`: keeps one stream to the hub alive and runs the tasks it is assigned."""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import platform
import random
import socket
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.aio

from .. import __version__
from .._aio import first_completed, wait_event
from .._fs import check_private_dir
from .._x509 import load_certificate, not_after  # not ..certs: cryptography costs ~11 MB RSS
from ..errors import ConfigError, TaskFailed, TransportError
from ..model import FailureClass
from ..plugins import Detection, Plugin, SimpleTaskContext, load_plugins, run_plugin
from ..v1 import common_pb2, mesh_pb2, mesh_pb2_grpc
from ..wire import CHANNEL_OPTIONS, EOF, Outgoing, unbatch
from ._backoff import Backoff
from ._config import AgentConfig, Identity
from ._metrics import collect_metrics
from ._outbox import Outbox

log = logging.getLogger(__name__)
WELCOME_TIMEOUT = 15.0
SEND_QUEUE_LIMIT = 10_000
DEADLINE_GRACE = 5.0


@dataclass(slots=True, kw_only=True)
class _Running:
    ref: mesh_pb2.AttemptRef
    context: SimpleTaskContext
    task: asyncio.Task[None] | None = None


class AgentDaemon:
    """Connects, heartbeats and runs tasks until `stop()`; reconnects with jittered backoff.

    `connected` is set while a stream to the hub is established.
    """

    def __init__(self, config: AgentConfig, *, rng: random.Random | None = None) -> None:
        self._config = config
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not cryptography
        self._backoff = Backoff()
        self.connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._plugins: dict[str, Plugin] = {}
        self._tools: list[common_pb2.ToolCapability] = []
        self._running: dict[str, _Running] = {}
        self._outgoing: Outgoing[mesh_pb2.ConnectRequest] | None = None
        self._outbox = Outbox(config.paths.outbox)
        self._heartbeat_interval = 5.0
        self._group: asyncio.TaskGroup | None = None

    def stop(self) -> None:
        self._stopping.set()

    async def __aenter__(self) -> AgentDaemon:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()

    # -- lifecycle ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve until stopped. Raises ConfigError when the agent has not joined or its
        certificate has expired."""
        paths = self._config.paths
        check_private_dir(self._config.data_dir)
        identity = Identity.load(paths.identity)
        self._check_certificate()
        self._config.workspace_root.mkdir(parents=True, exist_ok=True)
        await self._load_tools()
        async with asyncio.TaskGroup() as group:
            self._group = group
            connection = group.create_task(self._connection_loop(identity))
            await self._stopping.wait()
            await self._drain()
            connection.cancel()
        self._group = None
        self._outbox.close()

    async def _drain(self) -> None:
        """Let running tasks finish within the grace period, then cancel the rest."""
        tasks = [r.task for r in self._running.values() if r.task is not None]
        if not tasks:
            return
        log.info("waiting up to %.0fs for %d task(s)", self._config.shutdown_grace, len(tasks))
        _, late = await asyncio.wait(tasks, timeout=self._config.shutdown_grace)
        for running in self._running.values():
            running.context.cancelled.set()
        if late:
            # Give cancelled tasks a moment to record their result before the stream closes.
            await asyncio.wait(late, timeout=5)

    def _check_certificate(self) -> None:
        paths = self._config.paths
        try:
            cert = load_certificate(paths.cert.read_bytes())
        except FileNotFoundError:
            raise ConfigError(f"{paths.cert} is missing; join again") from None
        expires = not_after(cert)
        if expires <= datetime.now(UTC):
            raise ConfigError(
                f"agent certificate expired at {expires:%Y-%m-%d %H:%M:%S} UTC;"
                " join again with a new token (photon-agent join --token ...)"
            )

    async def _load_tools(self) -> None:
        loaded = load_plugins()
        allowed = self._config.allowed_tools
        for name, plugin in sorted(loaded.plugins.items()):
            try:
                detection = await _detect(plugin, self._config.tools.get(name, {}))
            except Exception as exc:  # a plugin's bug must not stop the agent
                log.warning("plugin %s failed to detect its tool: %s", name, exc)
                self._tools.append(
                    common_pb2.ToolCapability(name=name, detail=f"detect failed: {exc}")
                )
                continue
            enabled = self._config.tool_enabled(name, by_default=plugin.enabled_by_default)
            self._plugins[name] = plugin
            self._tools.append(
                tool_capability(
                    plugin,
                    version=detection.version or plugin.version,
                    available=detection.available,
                    enabled=enabled,
                    detail=detection.detail if enabled else _disabled_detail(self._config, name),
                )
            )
        for name, error in sorted(loaded.errors.items()):
            self._tools.append(common_pb2.ToolCapability(name=name, detail=error))
        unknown = allowed - set(loaded.plugins)
        if unknown:
            log.warning("--allow-tool names unknown tools: %s", ", ".join(sorted(unknown)))
        unset = set(self._config.tools) - set(loaded.plugins) - set(loaded.errors)
        if unset:
            log.warning("agent config has settings for unknown tools: %s", ", ".join(sorted(unset)))

    # -- the connection -----------------------------------------------------------------------

    def _credentials(self) -> grpc.ChannelCredentials:
        paths = self._config.paths
        return grpc.ssl_channel_credentials(
            root_certificates=paths.ca_cert.read_bytes(),
            private_key=paths.key.read_bytes(),
            certificate_chain=paths.cert.read_bytes(),
        )

    async def _connection_loop(self, identity: Identity) -> None:
        failures = 0
        attempt = 0
        while not self._stopping.is_set():
            address = identity.mesh_addresses[attempt % len(identity.mesh_addresses)]
            attempt += 1
            try:
                self._check_certificate()
                welcomed = await self._session(address)
            except (grpc.aio.AioRpcError, TransportError, TimeoutError) as exc:
                welcomed = False
                log.warning("connection to hub %s failed: %s", address, _describe(exc))
            failures = 1 if welcomed else failures + 1
            delay = self._backoff.delay(failures, self._rng)
            log.info("reconnecting in %.1fs", delay)
            await wait_event(self._stopping, delay)

    async def _session(self, address: str) -> bool:
        """One stream's life; returns True if the hub welcomed us before it ended."""
        async with grpc.aio.secure_channel(
            address, self._credentials(), options=CHANNEL_OPTIONS
        ) as channel:
            call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
            await call.write(mesh_pb2.ConnectRequest(hello=self._hello()))
            async with asyncio.timeout(WELCOME_TIMEOUT):
                first = await call.read()
            if first is EOF or first.WhichOneof("body") != "welcome":
                raise TransportError("hub ended the stream before welcoming this agent")
            self._heartbeat_interval = first.welcome.heartbeat_interval_seconds or 5.0
            log.info("connected to hub %s as %s", address, first.welcome.agent_id)
            outgoing = Outgoing(lambda group: mesh_pb2.ConnectRequest(batch=group))
            for result in self._outbox.pending():
                outgoing.put_nowait(mesh_pb2.ConnectRequest(task_result=result))
            self._outgoing = outgoing
            self.connected.set()
            try:
                await first_completed(
                    self._write_loop(call, outgoing),
                    self._read_loop(call),
                    self._heartbeat_loop(),
                )
            finally:
                self.connected.clear()
                self._outgoing = None
            return True

    def _hello(self) -> mesh_pb2.Hello:
        held = [r.attempt for r in self._outbox.pending()]
        return mesh_pb2.Hello(
            agent_version=__version__,
            tools=self._tools,
            labels=dict(self._config.labels),
            slots=self._config.slots,
            hostname=socket.gethostname(),
            platform=f"{platform.system().lower()}/{platform.machine()}",
            running=[r.ref for r in self._running.values()],
            held_results=held,
        )

    async def _write_loop(self, call: Any, outgoing: Outgoing[mesh_pb2.ConnectRequest]) -> None:
        while True:
            message = await outgoing.get()
            try:
                await call.write(message)
            except asyncio.InvalidStateError:
                # The call has ended (the hub closed the stream) between two writes: this
                # session is over and the agent reconnects; results wait in the outbox.
                log.warning("hub closed the stream")
                return

    async def _read_loop(self, call: Any) -> None:
        while True:
            message = await call.read()
            if message is EOF:
                log.warning("hub closed the stream")
                return
            for item in unbatch(message):
                self._handle(item)

    async def _heartbeat_loop(self) -> None:
        # The first beat goes out at once so the hub has metrics from the start.
        while True:
            metrics = collect_metrics(
                disk_path=self._config.data_dir,
                running=len(self._running),
                slots=self._config.slots,
            )
            self._send(mesh_pb2.ConnectRequest(heartbeat=mesh_pb2.Heartbeat(metrics=metrics)))
            await asyncio.sleep(self._heartbeat_interval * self._rng.uniform(0.9, 1.1))

    def _send(self, message: mesh_pb2.ConnectRequest, *, droppable: bool = True) -> None:
        queue = self._outgoing
        if queue is None:
            return  # results wait in the outbox; progress while disconnected is dropped
        if droppable and queue.qsize() >= SEND_QUEUE_LIMIT:
            return
        queue.put_nowait(message)

    # -- messages from the hub ----------------------------------------------------------------

    def _handle(self, message: mesh_pb2.ConnectResponse) -> None:
        kind = message.WhichOneof("body")
        if kind == "assign":
            self._on_assign(message.assign)
        elif kind == "cancel":
            running = self._running.get(message.cancel.attempt.task_id)
            if running is not None and running.ref.epoch == message.cancel.attempt.epoch:
                running.context.cancelled.set()
        elif kind == "result_ack":
            self._outbox.ack(message.result_ack.attempt)
        else:
            log.debug("ignoring %s from the hub", kind)

    def _on_assign(self, assign: mesh_pb2.Assign) -> None:
        ref, spec = assign.attempt, assign.spec
        current = self._running.get(ref.task_id)
        if current is not None:
            if current.ref.epoch != ref.epoch:
                current.context.cancelled.set()  # the hub moved on; the old attempt is stale
            else:
                return  # a duplicate delivery of what already runs
        if self._stopping.is_set() or self._group is None:
            self._refuse(
                ref, TaskFailed("agent is shutting down", failure_class=FailureClass.AGENT_LOST)
            )
            return
        plugin = self._plugins.get(spec.tool)
        capability = next((t for t in self._tools if t.name == spec.tool), None)
        if plugin is None or capability is None or not capability.enabled:
            reason = (
                f"tool {spec.tool!r} is not allowed on this agent (start it with --allow-tool)"
                if plugin is not None
                else f"tool {spec.tool!r} is not installed on this agent"
            )
            self._refuse(ref, TaskFailed(reason, failure_class=FailureClass.TOOL_MISSING))
            return
        try:
            inputs = json.loads(spec.inputs_json) if spec.inputs_json else {}
        except ValueError:
            inputs = None
        if not isinstance(inputs, dict):
            self._refuse(
                ref,
                TaskFailed(
                    "inputs are not a JSON object", failure_class=FailureClass.INVALID_INPUT
                ),
            )
            return
        context = SimpleTaskContext(
            task_id=ref.task_id,
            action=spec.action or plugin.default_action,
            inputs=inputs,
            workdir=self._config.workspace_root,
            secrets=dict(assign.secrets),
            settings=self._config.tools.get(spec.tool, {}),
            deadline=time.monotonic() + spec.timeout_seconds if spec.timeout_seconds else None,
            on_event=lambda kind, text, data: self._progress(ref, kind, text, data),
        )
        running = _Running(ref=ref, context=context)
        self._running[ref.task_id] = running
        self._send(
            mesh_pb2.ConnectRequest(task_accepted=mesh_pb2.TaskAccepted(attempt=ref)),
            droppable=False,
        )
        running.task = self._group.create_task(self._run_task(plugin, context, ref))

    def _progress(
        self, ref: mesh_pb2.AttemptRef, kind: str, text: str, data: Mapping[str, Any]
    ) -> None:
        event = common_pb2.TaskEvent(
            attempt=ref.attempt,
            kind=kind,
            message=text,
            data_json=json.dumps(dict(data), default=str) if data else "",
            time=time.time(),
        )
        self._send(
            mesh_pb2.ConnectRequest(
                task_progress=mesh_pb2.TaskProgress(attempt=ref, events=[event])
            )
        )

    async def _run_task(
        self, plugin: Plugin, context: SimpleTaskContext, ref: mesh_pb2.AttemptRef
    ) -> None:
        started = time.time()
        # Plugins should stop at the deadline themselves; this backstop covers those that don't.
        deadline = context.deadline
        backstop = None if deadline is None else deadline + DEADLINE_GRACE - time.monotonic()
        try:
            async with asyncio.timeout(backstop):
                outputs = await run_plugin(plugin, context)
            result = _result(ref, outputs=outputs, started=started)
        except TaskFailed as failure:
            result = _result(ref, failure=failure, started=started)
        except TimeoutError:
            overrun = TaskFailed(
                f"{plugin.name} ran past its timeout", failure_class=FailureClass.TIMEOUT
            )
            result = _result(ref, failure=overrun, started=started)
        try:
            self._outbox.put(result)
            self._send(mesh_pb2.ConnectRequest(task_result=result), droppable=False)
        finally:
            self._running.pop(ref.task_id, None)

    def _refuse(self, ref: mesh_pb2.AttemptRef, failure: TaskFailed) -> None:
        """Answer an assignment this agent cannot run; durable like any result."""
        result = _result(ref, failure=failure)
        self._outbox.put(result)
        self._send(mesh_pb2.ConnectRequest(task_result=result), droppable=False)


def _result(
    ref: mesh_pb2.AttemptRef,
    *,
    outputs: Mapping[str, Any] | None = None,
    failure: TaskFailed | None = None,
    started: float | None = None,
) -> mesh_pb2.TaskResult:
    result = mesh_pb2.TaskResult(
        attempt=ref,
        ok=failure is None,
        outputs_json=json.dumps(dict(outputs or {}), default=str),
        started_at=started or time.time(),
        finished_at=time.time(),
    )
    if failure is not None:
        result.failure.CopyFrom(
            common_pb2.Failure(
                failure_class=f"FAILURE_CLASS_{failure.failure_class.name}",
                message=str(failure),
                retry_at=failure.retry_at or 0.0,
            )
        )
    return result


def tool_capability(
    plugin: Plugin, *, version: str, available: bool, enabled: bool, detail: str
) -> common_pb2.ToolCapability:
    """What an agent tells the hub about one of its plugins."""
    return common_pb2.ToolCapability(
        name=plugin.name,
        version=version,
        actions=[
            common_pb2.ToolAction(
                name=a.name,
                description=a.description,
                input_schema_json=json.dumps(dict(a.input_schema)) if a.input_schema else "",
            )
            for a in plugin.actions
        ],
        default_action=plugin.default_action,
        available=available,
        enabled=enabled,
        detail=detail,
    )


def _disabled_detail(config: AgentConfig, name: str) -> str:
    if config.tools.get(name, {}).get("enabled") is False:
        return "switched off in the agent config"
    return "not allowed on this agent"


async def _detect(plugin: Plugin, settings: Mapping[str, Any]) -> Detection:
    """Plugins may take this tool's agent settings in detect (e.g. a `binary` path)."""
    if "settings" in inspect.signature(plugin.detect).parameters:
        return await plugin.detect(settings=settings)  # type: ignore[call-arg]
    return await plugin.detect()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
