"""Renewal: an agent's certificate request over its stream in, its next certificate out."""

from __future__ import annotations

import logging
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime

from ...errors import ConflictError, NotFoundError, PermissionDeniedError
from ..core import AgentRecord
from ..store import EnrolmentStore
from ._issuer import AgentIssuer

log = logging.getLogger(__name__)
# An agent renews at about 60 % of its certificate's lifetime, so even at the shortest lifetime
# (30 s) it asks about three times a minute; more than this is a loop or a misbehaving agent.
RENEWALS_PER_WINDOW = 6
RENEWAL_WINDOW = 60.0  # seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class RenewalRequest:
    agent_id: str  # from the stream's peer certificate, never from the request
    csr_pem: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Renewed:
    agent: AgentRecord
    certificate_pem: bytes
    serial: str
    expires_at: float


class RenewalGate:
    """Which renewals may start: one at a time per agent, and at most `per_window` of them
    per agent within `window` seconds. Reads no clock; callers pass the (monotonic) time."""

    def __init__(
        self, *, per_window: int = RENEWALS_PER_WINDOW, window: float = RENEWAL_WINDOW
    ) -> None:
        self._per_window = per_window
        self._window = window
        self._started: dict[str, deque[float]] = {}
        self._in_flight: set[str] = set()

    def admit(self, agent_id: str, now: float) -> None:
        """Count a renewal as started; `finish` ends it. Raises ConflictError when one is
        already in flight for the agent, or it has started too many lately."""
        if agent_id in self._in_flight:
            raise ConflictError("a renewal is already in progress")
        started = self._started.setdefault(agent_id, deque())
        while started and started[0] <= now - self._window:
            started.popleft()
        if len(started) >= self._per_window:
            raise ConflictError(
                f"too many renewals: at most {self._per_window} in {self._window:g} s"
            )
        started.append(now)
        self._in_flight.add(agent_id)

    def finish(self, agent_id: str) -> None:
        self._in_flight.discard(agent_id)


class Renewal:
    """Issues an agent its next certificate, for the agent its stream's certificate names, and
    records the new serial and expiry on it (removal refuses the agent, whatever certificate
    it shows).

    A stream outlives the certificate it was opened with (TLS checks it once), so what counts
    is the newest certificate the hub gave the agent: while that is valid, the agent renews
    over its stream; once it has expired the agent must join again."""

    def __init__(
        self, *, store: EnrolmentStore, issuer: AgentIssuer, gate: RenewalGate | None = None
    ) -> None:
        self._store = store
        self._issuer = issuer
        self._gate = gate or RenewalGate()

    async def renew(self, request: RenewalRequest) -> Renewed:
        """Raises PermissionDeniedError when the agent is not a member (unknown or removed)
        or its newest certificate has expired, ConflictError when it renews too often or
        again while a renewal is in flight, InvalidArgumentError for a bad request."""
        agent_id = request.agent_id
        self._gate.admit(agent_id, time.monotonic())
        try:
            agent = await self._member(agent_id)
            if agent.certificate_expires_at <= time.time():
                raise PermissionDeniedError(
                    f"agent {agent_id}'s certificate has expired; join again with a new token"
                )
            issued = self._issuer.issue(csr_pem=request.csr_pem, agent_id=agent_id)
            try:
                await self._store.renew_agent_certificate(
                    agent_id, serial=issued.serial, expires_at=issued.expires_at
                )
            except NotFoundError:  # removed while the certificate was being signed
                raise PermissionDeniedError(_removed(agent_id)) from None
        finally:
            self._gate.finish(agent_id)
        expires = datetime.fromtimestamp(issued.expires_at, UTC)
        log.info(
            "agent %s (%s) renewed its certificate: serial %s, valid until %s UTC",
            agent.name,
            agent_id,
            issued.serial,
            f"{expires:%Y-%m-%d %H:%M:%S}",
        )
        return Renewed(
            agent=agent,
            certificate_pem=issued.certificate_pem,
            serial=issued.serial,
            expires_at=issued.expires_at,
        )

    async def _member(self, agent_id: str) -> AgentRecord:
        try:
            agent = await self._store.get_agent(agent_id)
        except NotFoundError:
            raise PermissionDeniedError(f"agent {agent_id} is not a member of this mesh") from None
        if agent.removed:
            raise PermissionDeniedError(_removed(agent_id))
        return agent


def _removed(agent_id: str) -> str:
    return f"agent {agent_id} was removed from this mesh; join again with a new token"
