"""`MeshService`: the agents' long-lived Connect streams."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc
import grpc.aio

from ... import __version__
from ..._aio import first_completed
from ..._names import check_hostname, check_labels
from ..._text import shorten
from ...certs import agent_id_of, load_certificate
from ...errors import CertificateError, InvalidArgumentError, NotFoundError, PhotonError
from ...v1 import mesh_pb2, mesh_pb2_grpc
from ...wire import EOF, joined, metrics_from_proto, status_details, unbatch
from ..audit import AuditTrail
from ..core import DEFAULT_LIMITS, AgentRecord, Limits
from ..fleet import AgentMessage, AgentSession, Fleet, RenewalAnswer
from ..security import Renewal
from ..stats import HubStats
from ..store import EnrolmentStore
from ..tasks import TaskEngine
from ._convert import (
    Bounds,
    ProgressBatch,
    message_to_proto,
    outcome_from_proto,
    ref_from_proto,
    renewal_from_proto,
    tools_from_proto,
)

log = logging.getLogger(__name__)
HELLO_TIMEOUT = 10.0
Context = grpc.aio.ServicerContext[Any, Any]


def _batch(group: list[mesh_pb2.ConnectResponse]) -> mesh_pb2.ConnectResponse:
    return mesh_pb2.ConnectResponse(batch=group)


class MeshServicer(mesh_pb2_grpc.MeshServiceServicer):  # type: ignore[misc]
    """Authenticates each stream by its client certificate, then relays messages to the engine."""

    def __init__(
        self,
        *,
        store: EnrolmentStore,
        fleet: Fleet,
        engine: TaskEngine,
        renewal: Renewal,
        heartbeat_interval: float,
        send_queue_limit: int,
        audit: AuditTrail,
        limits: Limits = DEFAULT_LIMITS,
        stats: HubStats | None = None,
    ) -> None:
        self._stats = stats or HubStats()
        self._store = store
        self._audit = audit
        self._fleet = fleet
        self._engine = engine
        self._renewal = renewal
        self._heartbeat_interval = heartbeat_interval
        self._send_queue_limit = send_queue_limit
        self._limits = limits
        self._bounds = Bounds.of(limits)

    async def _peer_agent_id(self, context: Context) -> str:
        pems = list(context.auth_context().get("x509_pem_cert") or [])
        try:
            agent_id = agent_id_of(load_certificate(pems[0])) if pems else None
        except CertificateError:
            agent_id = None
        if agent_id is None:
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED, "client certificate is not an agent certificate"
            )
            raise AssertionError("unreachable")
        try:
            record = await self._store.get_agent(agent_id)
        except NotFoundError:
            record = None
        if record is None:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED, f"agent {agent_id} is not a member of this mesh"
            )
        elif record.removed:
            await context.abort(
                grpc.StatusCode.PERMISSION_DENIED,
                f"agent {agent_id} was removed from this mesh; join again with a new token",
            )
        return agent_id

    async def Connect(self, request_iterator: Any, context: Context) -> None:
        agent_id = await self._peer_agent_id(context)
        try:
            async with asyncio.timeout(HELLO_TIMEOUT):
                first = await context.read()
        except TimeoutError:
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "no Hello received")
        if first is EOF or first.WhichOneof("body") != "hello":
            await context.abort(grpc.StatusCode.FAILED_PRECONDITION, "first message must be Hello")
        self._stats.message_received("hello")
        hello = first.hello
        record = await self._store.get_agent(agent_id)
        try:
            session = self._session(agent_id, record, hello)
        except InvalidArgumentError as exc:
            log.warning("agent %s (%s): Hello refused: %s", record.name, agent_id, exc)
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT, status_details(f"Hello refused: {exc}")
            )
            raise AssertionError("unreachable") from None
        self._fleet.attach(session)
        log.info("agent %s (%s) connected", record.name, agent_id)
        self._audit.record(agent_id, "agent.connect", target=record.name)
        self._stats.message_sent("welcome")
        await context.write(
            mesh_pb2.ConnectResponse(
                welcome=mesh_pb2.Welcome(
                    agent_id=agent_id,
                    heartbeat_interval_seconds=self._heartbeat_interval,
                    server_time=time.time(),
                    hub_version=__version__,
                )
            )
        )
        self._engine.on_agent_connected(
            agent_id,
            running=[ref_from_proto(r) for r in hello.running],
            held=[ref_from_proto(r) for r in hello.held_results],
        )
        try:
            # Whichever ends first (agent hung up, hub closed the session) ends the stream, even
            # when a write is stuck because the agent stopped reading.
            await first_completed(
                self._write_loop(session, context),
                self._read_loop(session, context),
                session.closed.wait(),
            )
        finally:
            session.close(session.close_reason or "stream ended")
            log.info("agent %s stream closed: %s", record.name, session.close_reason)
            reason = {"reason": session.close_reason}
            self._audit.record(agent_id, "agent.disconnect", target=record.name, detail=reason)

    def _session(self, agent_id: str, record: AgentRecord, hello: mesh_pb2.Hello) -> AgentSession:
        """The session a Hello opens. Raises InvalidArgumentError naming what the agent said
        wrong: its labels (from its config) and hostname end up in tables, logs and
        selectors, its tools' schemas in the validation of every task."""
        limits = self._limits
        labels = dict(hello.labels)
        check_labels(labels, max_labels=limits.max_labels, max_length=limits.max_name_length)
        labels.update(record.labels)  # those fixed at join win; they were checked then
        limits.check("max_labels", len(labels), "labels: count")
        check_hostname(hello.hostname, max_length=limits.max_hostname_length)
        return AgentSession(
            agent_id=agent_id,
            name=record.name,
            labels=labels,
            slots=max(hello.slots, 1),
            hostname=hello.hostname or record.hostname,
            version=shorten(hello.agent_version, limits.max_name_length),
            platform=shorten(hello.platform, limits.max_name_length),
            tools=tools_from_proto(hello.tools, self._bounds),
            send_queue_limit=self._send_queue_limit,
            draining=record.draining,
        )

    async def _write_loop(self, session: AgentSession, context: Context) -> None:
        while True:
            messages = map(self._outbound, await session.take_outbound())
            for message in joined(messages, _batch):
                await context.write(message)

    def _outbound(self, message: AgentMessage) -> mesh_pb2.ConnectResponse:
        proto = message_to_proto(message)
        self._stats.message_sent(proto.WhichOneof("body"))
        return proto

    async def _read_loop(self, session: AgentSession, context: Context) -> None:
        while session.stream_open:
            message = await context.read()
            if message is EOF:
                session.close("agent closed the stream")
                return
            session.last_seen = time.monotonic()
            try:
                for item in unbatch(message):
                    if (renewal := self._handle(session, item)) is not None:
                        await self._renew(session, renewal)
            except InvalidArgumentError as exc:
                log.warning("agent %s: stream refused: %s", session.agent_id, exc)
                session.close(f"refused: {exc}")
                await context.abort(grpc.StatusCode.INVALID_ARGUMENT, status_details(str(exc)))
            if self._engine.over_budget(session.agent_id):
                # Backpressure: the flood waits in the agent's send buffer, not on the hub's
                # loop (each batch read costs decoding however few of its events are kept).
                await asyncio.sleep(self._heartbeat_interval / 2)

    async def _renew(self, session: AgentSession, request: mesh_pb2.RenewRequest) -> None:
        """Answer a renewal in the stream's order (the agent asks about twice a day); the
        agent is the one the stream's certificate names, whatever the request says."""
        try:
            renewed = await self._renewal.renew(
                renewal_from_proto(request, agent_id=session.agent_id)
            )
        except PhotonError as exc:
            log.warning("agent %s: certificate renewal refused: %s", session.name, exc)
            why = {"reason": str(exc)[:200]}
            self._audit.record(session.agent_id, "cert.renew", outcome="denied", detail=why)
            session.send(RenewalAnswer(error=str(exc)))
            return
        detail = {"serial": renewed.serial, "expires_at": renewed.expires_at}
        await self._audit.record(session.agent_id, "cert.renew", target=session.name, detail=detail)
        session.send(RenewalAnswer(certificate_pem=renewed.certificate_pem))

    def _handle(
        self, session: AgentSession, message: mesh_pb2.ConnectRequest
    ) -> mesh_pb2.RenewRequest | None:
        """Hand the message on; a renewal request is returned for the read loop to answer
        (that waits for the store, everything else here is taken at once)."""
        kind = message.WhichOneof("body")
        self._stats.message_received(kind or "empty")
        if kind == "heartbeat":
            beat = message.heartbeat
            session.last_heartbeat_at = time.time()
            tools = tools_from_proto(beat.tools, self._bounds) if beat.tools_changed else None
            session.report(metrics_from_proto(beat.metrics), tools)
            if tools is not None:
                self._engine.wake()
        elif kind == "task_accepted":
            self._engine.on_accepted(
                session.agent_id, ref_from_proto(message.task_accepted.attempt)
            )
        elif kind == "task_progress":
            progress = message.task_progress
            self._engine.on_progress(
                session.agent_id,
                ref_from_proto(progress.attempt),
                ProgressBatch(progress.events, self._bounds),
            )
        elif kind == "task_result":
            result = message.task_result
            # Acked once recorded (or at once when stale): then the agent may drop its copy.
            self._engine.on_result(
                session.agent_id,
                ref_from_proto(result.attempt),
                outcome_from_proto(result, self._bounds),
            )
        elif kind == "renew_request":
            return message.renew_request
        else:
            log.debug("ignoring %s from agent %s", kind, session.agent_id)
        return None
