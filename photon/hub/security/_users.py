"""The admin API's users: who may call, and with which role.

A token names its user; the role it carries is the one the user had when it was issued, but a
call is judged by the user's record as it is now: a deleted user's keys and tokens stop working
at once, and a token never outlives its user's role.
"""

from __future__ import annotations

import time

from ..._names import check_name
from ...errors import AuthError, ConflictError, InvalidArgumentError, NotFoundError
from ...model import Role
from ..core import ApiKeyRecord, UserRecord
from ..store import CredentialStore
from ._tokens import MAX_TOKEN_TTL, ApiKey, Principal, TokenAuthority, hash_secret


def parse_role(text: str) -> Role:
    """Raises InvalidArgumentError naming the roles there are."""
    try:
        return Role(text)
    except ValueError:
        names = ", ".join(role.value for role in Role)
        raise InvalidArgumentError(f"role must be one of {names}, not {text!r}") from None


class Users:
    """The users, held in memory (every call is checked against them) and changed through the
    store: a change is in force once it is committed, and not before."""

    def __init__(self, store: CredentialStore, authority: TokenAuthority) -> None:
        self._store = store
        self._authority = authority
        self._roles: dict[str, Role] = {}

    async def load(self) -> None:
        self._roles = {user.name: user.role for user in await self._store.list_users()}

    def admit(self, principal: Principal) -> Principal:
        """The caller as its user is now. Raises AuthError when the user no longer exists."""
        role = self._roles.get(principal.subject)
        if role is None:
            raise AuthError(f"user {principal.subject!r} no longer exists")
        return principal if role is principal.role else _with_role(principal, role)

    async def create(self, name: str, role: Role, *, by: str) -> tuple[UserRecord, str]:
        """The new user and its API key (shown once: only a hash is kept). Raises
        InvalidArgumentError for a bad name, ConflictError when the name is taken."""
        check_name(name, "name")
        now = time.time()
        user = UserRecord(name=name, role=role, created_at=now, created_by=by)
        key = ApiKey.new()
        record = ApiKeyRecord(
            id=key.id, user=name, role=role, secret_hash=hash_secret(key.secret), created_at=now
        )
        await self._store.add_user(user, record)
        self._roles[name] = role
        return user, str(key)

    async def list_users(self) -> list[UserRecord]:
        return await self._store.list_users()

    async def delete(self, name: str) -> None:
        """Raises NotFoundError, or ConflictError for the last admin (the hub would be left
        with no one to manage its users)."""
        if name not in self._roles:
            raise NotFoundError(f"no user named {name!r}")
        admins = [user for user, role in self._roles.items() if role is Role.ADMIN]
        if admins == [name]:
            raise ConflictError(f"{name!r} is the only admin; create another admin first")
        await self._store.delete_user(name)
        self._roles.pop(name, None)

    def token(self, name: str, ttl: float) -> tuple[str, float]:
        """A token acting as the user for `ttl` seconds (at most MAX_TOKEN_TTL), and when it
        expires. Raises NotFoundError, InvalidArgumentError."""
        role = self._roles.get(name)
        if role is None:
            raise NotFoundError(f"no user named {name!r}")
        if not 0 < ttl <= MAX_TOKEN_TTL:
            raise InvalidArgumentError(f"ttl must be between 1s and {MAX_TOKEN_TTL / 60:.0f}m")
        return self._authority.issue(Principal(subject=name, role=role), ttl=ttl)


def _with_role(principal: Principal, role: Role) -> Principal:
    return Principal(subject=principal.subject, role=role, token_id=principal.token_id)
