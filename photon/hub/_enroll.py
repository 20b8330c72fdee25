"""`EnrollService.Join`: a join token and a CSR in, a signed agent certificate out."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from .._ids import new_ulid
from ..certs import certificate_to_pem, sign_agent_csr
from ..errors import CertificateError, ConflictError, NotFoundError
from ..v1 import enroll_pb2, enroll_pb2_grpc
from ._auth import secret_matches
from ._store import AgentRecord, Store

log = logging.getLogger(__name__)
AGENT_CERT_TTL = timedelta(hours=24)
_INVALID = "join token is invalid"


class EnrollServicer(enroll_pb2_grpc.EnrollServiceServicer):  # type: ignore[misc]
    def __init__(
        self,
        *,
        store: Store,
        ca_key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        mesh_addresses: Callable[[], Sequence[str]],
    ) -> None:
        self._store = store
        self._ca_key = ca_key
        self._ca_cert = ca_cert
        self._mesh_addresses = mesh_addresses

    async def Join(
        self, request: enroll_pb2.JoinRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> enroll_pb2.JoinResponse:
        try:
            token = await self._store.get_join_token(request.token_id)
        except NotFoundError:
            token = None
        # One message for unknown ids and wrong secrets: a prober learns nothing.
        if token is None or not secret_matches(request.token_secret, token.secret_hash):
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, _INVALID)
            raise AssertionError("unreachable")
        if token.revoked:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "join token has been revoked")
        if token.expires_at < time.time():
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "join token has expired")
        if token.uses_left <= 0:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, "join token has already been used")
        agent_id = new_ulid().lower()
        try:
            cert = sign_agent_csr(
                ca_key=self._ca_key,
                ca_cert=self._ca_cert,
                csr_pem=request.csr_pem,
                agent_id=agent_id,
                ttl=AGENT_CERT_TTL,
            )
        except CertificateError as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise
        labels = {**request.labels, **token.labels}
        agent = AgentRecord(
            id=agent_id,
            name=request.name or request.hostname or agent_id,
            hostname=request.hostname or socket.gethostname(),
            labels=labels,
            certificate_serial=format(cert.serial_number, "x"),
            certificate_expires_at=cert.not_valid_after_utc.timestamp(),
            joined_at=time.time(),
        )
        try:
            await self._store.consume_join_token(token.id, agent)
        except ConflictError as exc:
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(exc))
        log.info("agent %s (%s) joined with token %s", agent.name, agent_id, token.id)
        return enroll_pb2.JoinResponse(
            agent_id=agent_id,
            certificate_pem=certificate_to_pem(cert),
            ca_certificate_pem=certificate_to_pem(self._ca_cert),
            mesh_addresses=list(self._mesh_addresses()),
            labels=labels,
        )
