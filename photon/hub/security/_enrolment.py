"""Enrolment: a join token and a certificate request in, a signed agent certificate out."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from ..._ids import new_ulid
from ..._names import check_hostname, check_labels, check_name
from ...errors import AuthError, ConflictError, NotFoundError
from ..core import DEFAULT_LIMITS, AgentRecord, Limits
from ..store import EnrolmentStore
from ._issuer import AGENT_CERT_TTL, AgentIssuer
from ._tokens import secret_matches

log = logging.getLogger(__name__)
_INVALID = "join token is invalid"


@dataclass(frozen=True, slots=True, kw_only=True)
class JoinRequest:
    token_id: str
    token_secret: str
    csr_pem: bytes
    name: str
    labels: Mapping[str, str]
    hostname: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Joined:
    agent: AgentRecord
    certificate_pem: bytes
    ca_certificate_pem: bytes


class Enrolment:
    """Checks join tokens and signs agents' certificates with the hub's CA."""

    def __init__(
        self,
        *,
        store: EnrolmentStore,
        ca_key: ec.EllipticCurvePrivateKey,
        ca_cert: x509.Certificate,
        cert_ttl: timedelta = AGENT_CERT_TTL,
        limits: Limits = DEFAULT_LIMITS,
    ) -> None:
        self._store = store
        self._issuer = AgentIssuer(ca_key=ca_key, ca_cert=ca_cert, ttl=cert_ttl)
        self._limits = limits

    def _check(self, request: JoinRequest) -> None:
        """Names, labels and hostnames end up in tables, logs and selectors: a control
        character in one would recolour a terminal or forge a log line. Raises
        InvalidArgumentError naming the field."""
        limits = self._limits
        check_hostname(request.hostname, max_length=limits.max_hostname_length)
        if name := request.name or request.hostname:
            check_name(name, "name", max_length=limits.max_name_length)

    async def join(self, request: JoinRequest) -> Joined:
        """Raises AuthError for a token that is unknown, wrong, revoked, expired or used up;
        InvalidArgumentError for a bad certificate request, name, hostname or label;
        ConflictError for a name another member has."""
        self._check(request)
        try:
            token = await self._store.get_join_token(request.token_id)
        except NotFoundError:
            token = None
        # One message for unknown ids and wrong secrets: a prober learns nothing.
        if token is None or not secret_matches(request.token_secret, token.secret_hash):
            raise AuthError(_INVALID)
        if token.revoked:
            raise AuthError("join token has been revoked")
        if token.expires_at < time.time():
            raise AuthError("join token has expired")
        if token.uses_left <= 0:
            raise AuthError("join token has already been used")
        labels = {**request.labels, **token.labels}
        check_labels(
            labels, max_labels=self._limits.max_labels, max_length=self._limits.max_name_length
        )
        name = request.name or request.hostname
        if name and any(
            a.name == name or a.id == name for a in await self._store.list_agents() if not a.removed
        ):
            raise ConflictError(
                f"an agent named {name!r} is already a member; join with another --name"
            )
        agent_id = new_ulid().lower()
        issued = self._issuer.issue(csr_pem=request.csr_pem, agent_id=agent_id)
        agent = AgentRecord(
            id=agent_id,
            name=name or agent_id,
            hostname=request.hostname,
            labels=labels,
            certificate_serial=issued.serial,
            certificate_expires_at=issued.expires_at,
            joined_at=time.time(),
        )
        try:
            await self._store.consume_join_token(token.id, agent)
        except ConflictError as exc:  # the token's last use went to a concurrent join
            raise AuthError(str(exc)) from None
        log.info("agent %s (%s) joined with token %s", agent.name, agent_id, token.id)
        return Joined(
            agent=agent,
            certificate_pem=issued.certificate_pem,
            ca_certificate_pem=self._issuer.ca_certificate_pem,
        )
