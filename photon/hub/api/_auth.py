"""`AuthService.Login`: an API key in, a short-lived token out."""

from __future__ import annotations

import logging
import time

from ...errors import AuthError, NotFoundError, RateLimitedError
from ...v1 import auth_pb2, auth_pb2_grpc
from ..audit import AuditTrail
from ..security import (
    ApiKey,
    Principal,
    Throttle,
    TokenAuthority,
    Users,
    peer_host,
    secret_matches,
)
from ..store import CredentialStore
from ._errors import Context, translating

log = logging.getLogger(__name__)


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):  # type: ignore[misc]
    def __init__(
        self,
        *,
        store: CredentialStore,
        authority: TokenAuthority,
        users: Users,
        audit: AuditTrail,
        throttle: Throttle,
    ) -> None:
        self._store = store
        self._authority = authority
        self._users = users
        self._audit = audit
        self._throttle = throttle

    @translating
    async def Login(
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.LoginResponse:
        peer, now = peer_host(context.peer()), time.monotonic()
        if refusal := self._throttle.admit(peer, now):
            self._audit.record(
                "-", "auth.login", outcome="refused", detail={"peer": peer}, deferred=True
            )
            raise RateLimitedError(refusal)
        try:
            key = ApiKey.parse(request.api_key)
            try:
                record = await self._store.get_api_key(key.id)
            except NotFoundError:
                record = None
            if record is None or not secret_matches(key.secret, record.secret_hash):
                raise AuthError("API key is invalid")
            principal = self._users.admit(Principal(subject=record.user, role=record.role))
        except AuthError as exc:
            detail = {"reason": str(exc), "peer": peer}
            self._audit.record("-", "auth.login", outcome="denied", detail=detail, deferred=True)
            if self._throttle.failed(peer, now):
                log.warning("%s is locked out of logging in for a while: too many failures", peer)
            raise
        self._audit.record(principal.subject, "auth.login", detail={"key": key.id})
        token, expires_at = self._authority.issue(principal)
        return auth_pb2.LoginResponse(
            token=token, expires_at=expires_at, user=principal.subject, role=principal.role.value
        )
