"""`EnrollService.Join`: the wire side of enrolment (the rules are in `security`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from ...errors import AuthError, PhotonError, RateLimitedError
from ...v1 import enroll_pb2, enroll_pb2_grpc
from ..audit import AuditTrail
from ..security import Enrolment, JoinRequest, Throttle, peer_host
from ._errors import Context, translating

log = logging.getLogger(__name__)


class EnrollServicer(enroll_pb2_grpc.EnrollServiceServicer):  # type: ignore[misc]
    def __init__(
        self,
        *,
        enrolment: Enrolment,
        mesh_addresses: Callable[[], Sequence[str]],
        audit: AuditTrail,
        throttle: Throttle,
    ) -> None:
        self._enrolment = enrolment
        self._mesh_addresses = mesh_addresses
        self._audit = audit
        self._throttle = throttle

    @translating
    async def Join(
        self, request: enroll_pb2.JoinRequest, context: Context
    ) -> enroll_pb2.JoinResponse:
        peer, now = peer_host(context.peer()), time.monotonic()
        if refusal := self._throttle.admit(peer, now):
            self._audit.record(
                "-", "agent.join", outcome="refused", detail={"peer": peer}, deferred=True
            )
            raise RateLimitedError(refusal)
        try:
            joined = await self._enrolment.join(
                JoinRequest(
                    token_id=request.token_id,
                    token_secret=request.token_secret,
                    csr_pem=request.csr_pem,
                    name=request.name,
                    labels=dict(request.labels),
                    hostname=request.hostname,
                )
            )
        except PhotonError as exc:
            detail = {"token": request.token_id[:40], "reason": str(exc)[:200], "peer": peer}
            self._audit.record("-", "agent.join", outcome="denied", detail=detail, deferred=True)
            if isinstance(exc, AuthError) and self._throttle.failed(peer, now):
                log.warning("%s is locked out of joining for a while: too many failures", peer)
            raise
        agent = joined.agent
        detail = {"token": request.token_id, "serial": agent.certificate_serial}
        await self._audit.record(agent.id, "agent.join", target=agent.name, detail=detail)
        return enroll_pb2.JoinResponse(
            agent_id=joined.agent.id,
            certificate_pem=joined.certificate_pem,
            ca_certificate_pem=joined.ca_certificate_pem,
            mesh_addresses=list(self._mesh_addresses()),
            labels=dict(joined.agent.labels),
        )
