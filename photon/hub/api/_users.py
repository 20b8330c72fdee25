"""The user RPCs of `AdminService`: create, list, mint a token for, delete."""

from __future__ import annotations

from ...v1 import admin_pb2
from ..security import MAX_TOKEN_TTL, Users, caller, parse_role
from . import _convert
from ._errors import Context, translating


class UserRpcs:
    """Part of the AdminService servicer (which sets `_users`); every one needs the admin role."""

    _users: Users

    @translating
    async def CreateUser(
        self, request: admin_pb2.CreateUserRequest, context: Context
    ) -> admin_pb2.CreateUserResponse:
        principal = caller()
        user, api_key = await self._users.create(
            request.name,
            parse_role(request.role),
            by=principal.subject if principal else "",
        )
        return admin_pb2.CreateUserResponse(user=_convert.user_to_proto(user), api_key=api_key)

    @translating
    async def ListUsers(
        self, request: admin_pb2.ListUsersRequest, context: Context
    ) -> admin_pb2.ListUsersResponse:
        users = await self._users.list_users()
        return admin_pb2.ListUsersResponse(users=[_convert.user_to_proto(u) for u in users])

    @translating
    async def CreateUserToken(
        self, request: admin_pb2.CreateUserTokenRequest, context: Context
    ) -> admin_pb2.CreateUserTokenResponse:
        token, expires_at = self._users.token(request.name, request.ttl_seconds or MAX_TOKEN_TTL)
        return admin_pb2.CreateUserTokenResponse(token=token, expires_at=expires_at)

    @translating
    async def DeleteUser(
        self, request: admin_pb2.DeleteUserRequest, context: Context
    ) -> admin_pb2.DeleteUserResponse:
        await self._users.delete(request.name)
        return admin_pb2.DeleteUserResponse()
