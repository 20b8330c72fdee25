"""`AuthService.Login`: an API key in, a short-lived token out."""

from __future__ import annotations

from ...errors import AuthError, NotFoundError
from ...v1 import auth_pb2, auth_pb2_grpc
from ..audit import AuditTrail
from ..security import ApiKey, Principal, TokenAuthority, Users, secret_matches
from ..store import CredentialStore
from ._errors import Context, translating


class AuthServicer(auth_pb2_grpc.AuthServiceServicer):  # type: ignore[misc]
    def __init__(
        self, *, store: CredentialStore, authority: TokenAuthority, users: Users, audit: AuditTrail
    ) -> None:
        self._store = store
        self._authority = authority
        self._users = users
        self._audit = audit

    @translating
    async def Login(
        self, request: auth_pb2.LoginRequest, context: Context
    ) -> auth_pb2.LoginResponse:
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
            self._audit.record("-", "auth.login", outcome="denied", detail={"reason": str(exc)})
            raise
        self._audit.record(principal.subject, "auth.login", detail={"key": key.id})
        token, expires_at = self._authority.issue(principal)
        return auth_pb2.LoginResponse(
            token=token, expires_at=expires_at, user=principal.subject, role=principal.role.value
        )
