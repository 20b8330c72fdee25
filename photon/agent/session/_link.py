"""`HubLink`: the agent's one stream to the hub, kept up by one reconnect loop."""

from __future__ import annotations

import asyncio
import logging
import platform
import random
import socket
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import grpc
import grpc.aio

from ... import __version__
from ..._aio import first_completed
from ...errors import TransportError
from ...model import ToolInfo
from ...v1 import mesh_pb2, mesh_pb2_grpc
from ...wire import (
    CHANNEL_OPTIONS,
    EOF,
    Outgoing,
    error_for,
    metrics_to_proto,
    tool_to_proto,
    unbatch,
)
from ..config import AgentConfig, Identity
from ..runner import Runner
from ..tools import collect_metrics
from ._backoff import Backoff
from ._convert import (
    assignment_from_proto,
    ref_from_proto,
    ref_to_proto,
    renew_answer_from_proto,
)
from ._credentials import channel_credentials, check_certificate, current_certificate
from ._renewal import Renewer
from ._reporter import Reporter

log = logging.getLogger(__name__)
WELCOME_TIMEOUT = 15.0
# How the hub answers a stream from an agent it will never take again (removed, or not a
# member): reconnecting cannot help, so the agent stops.
REFUSED = grpc.StatusCode.PERMISSION_DENIED
# How the hub answers a Hello it refuses (a label or hostname it will not take, a tool's
# schema out of bounds): this agent would say the same again, so it stops too.
HELLO_REFUSED = grpc.StatusCode.INVALID_ARGUMENT


class HubLink:
    """Keeps a Connect stream to the hub: says Hello, waits for Welcome, then heartbeats, hands
    the hub's assignments and cancels to the runner and sends what `reporter` is given.
    A lost stream is reconnected after a capped, jittered backoff, trying the hub's addresses
    in turn. While a stream is up, the agent's certificate is renewed over it when due.

    `connected` is set while a stream is established.
    """

    def __init__(
        self,
        *,
        config: AgentConfig,
        identity: Identity,
        tools: Sequence[ToolInfo],
        runner: Runner,
        reporter: Reporter,
        rng: random.Random,
        backoff: Backoff | None = None,
        connected: asyncio.Event | None = None,
    ) -> None:
        self._config = config
        self._identity = identity
        self._tools = tools
        self._runner = runner
        self._reporter = reporter
        self._rng = rng
        self._backoff = backoff or Backoff()
        self.connected = connected or asyncio.Event()
        self._stopping = asyncio.Event()
        self._heartbeat_interval = 5.0
        self._renewer = Renewer(paths=config.paths, agent_id=identity.agent_id, rng=rng)

    def stop(self) -> None:
        """End the stream and the reconnect loop. Safe to call twice or before `run()`."""
        self._stopping.set()

    async def run(self) -> None:
        """Connect and reconnect until `stop()`.

        Raises PermissionDeniedError with the hub's words when the hub refuses this agent for
        good (it was removed from the mesh, or is not a member), InvalidArgumentError with the
        hub's words when it refuses what the Hello says (labels, hostname, tools), and
        ConfigError when the agent certificate is missing or has expired (before a connection,
        or while connected when it could not be renewed in time): retrying cannot help
        either. Any other failure (hub down or unreachable, stream broken) is logged and
        retried. Cancelling it closes the stream.
        """
        await first_completed(self._reconnect(), self._stopping.wait())

    async def _reconnect(self) -> None:
        failures = 0
        attempt = 0
        addresses = self._identity.mesh_addresses
        while not self._stopping.is_set():
            address = addresses[attempt % len(addresses)]
            attempt += 1
            try:
                check_certificate(self._config.paths)
                welcomed = await self._session(address)
            except grpc.aio.AioRpcError as exc:
                if exc.code() == REFUSED:
                    raise error_for(exc.code(), exc.details() or "refused by the hub") from None
                welcomed = False
                log.warning("connection to hub %s failed: %s", address, _describe(exc))
            except (TransportError, TimeoutError) as exc:
                welcomed = False
                log.warning("connection to hub %s failed: %s", address, _describe(exc))
            if self._stopping.is_set():
                return
            failures = 1 if welcomed else failures + 1
            delay = self._backoff.delay(failures, self._rng)
            log.info("reconnecting in %.1fs", delay)
            # A certificate that expires meanwhile is said so when it does, not a backoff later.
            expires = current_certificate(self._config.paths).not_valid_after_utc
            await asyncio.sleep(min(delay, max((expires - datetime.now(UTC)).total_seconds(), 0)))

    async def _session(self, address: str) -> bool:
        """One stream's life; returns True if the hub welcomed us before it ended."""
        credentials = channel_credentials(self._config.paths)
        async with grpc.aio.secure_channel(
            address, credentials, options=CHANNEL_OPTIONS
        ) as channel:
            call = mesh_pb2_grpc.MeshServiceStub(channel).Connect()
            try:
                await call.write(mesh_pb2.ConnectRequest(hello=self._hello()))
            except asyncio.InvalidStateError:
                pass  # the call has already ended; reading it says how
            try:
                async with asyncio.timeout(WELCOME_TIMEOUT):
                    first = await call.read()
            except grpc.aio.AioRpcError as exc:
                if exc.code() == HELLO_REFUSED:
                    raise error_for(exc.code(), exc.details() or "Hello refused") from None
                raise
            if first is EOF or first.WhichOneof("body") != "welcome":
                raise TransportError("hub ended the stream before welcoming this agent")
            self._heartbeat_interval = first.welcome.heartbeat_interval_seconds or 5.0
            log.info("connected to hub %s as %s", address, first.welcome.agent_id)
            outgoing = Outgoing(lambda group: mesh_pb2.ConnectRequest(batch=group))
            self._reporter.attach(outgoing)
            self.connected.set()
            try:
                await first_completed(
                    self._write_loop(call, outgoing),
                    self._read_loop(call),
                    self._heartbeat_loop(),
                    self._renewer.run(self._send_now),
                )
            finally:
                self.connected.clear()
                self._reporter.detach()
            return True

    def _hello(self) -> mesh_pb2.Hello:
        return mesh_pb2.Hello(
            agent_version=__version__,
            tools=[tool_to_proto(t) for t in self._tools],
            labels=dict(self._config.labels),
            slots=self._config.slots,
            hostname=socket.gethostname(),
            platform=f"{platform.system().lower()}/{platform.machine()}",
            running=[ref_to_proto(r) for r in self._runner.running],
            held_results=self._reporter.held(),
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

    def _send_now(self, message: mesh_pb2.ConnectRequest) -> None:
        self._reporter.send(message, droppable=False)

    async def _heartbeat_loop(self) -> None:
        # The first beat goes out at once so the hub has metrics from the start.
        while True:
            metrics = collect_metrics(
                disk_path=self._config.data_dir,
                running=len(self._runner.running),
                slots=self._config.slots,
            )
            beat = mesh_pb2.Heartbeat(metrics=metrics_to_proto(metrics))
            self._reporter.send(mesh_pb2.ConnectRequest(heartbeat=beat))
            await asyncio.sleep(self._heartbeat_interval * self._rng.uniform(0.9, 1.1))

    def _handle(self, message: mesh_pb2.ConnectResponse) -> None:
        kind = message.WhichOneof("body")
        if kind == "assign":
            self._runner.assign(assignment_from_proto(message.assign))
        elif kind == "cancel":
            self._runner.cancel(ref_from_proto(message.cancel.attempt))
        elif kind == "result_ack":
            self._reporter.ack(message.result_ack.attempt)
        elif kind == "renew_response":
            self._renewer.answered(renew_answer_from_proto(message.renew_response))
        else:
            log.debug("ignoring %s from the hub", kind)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    return str(exc) or type(exc).__name__
