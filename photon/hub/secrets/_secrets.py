"""`Secrets`: set, list, delete and open the hub's secrets.

Values are sealed by `SecretBox` before they reach the store, and opened only to go into the
`Assign` of a task that references them. The latest version of each secret is kept in memory,
sealed, so a dispatch opens what it needs without waiting for the store.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..._names import check_name
from ...errors import InvalidArgumentError, NotFoundError, SecretError
from ..core import DEFAULT_LIMITS, Limits, SecretRecord
from ..store import SecretStore
from ._box import SecretBox

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class SecretInfo:
    """What may be said about a secret: everything but its value."""

    name: str
    version: int
    set_by: str
    set_at: float


def _info(record: SecretRecord) -> SecretInfo:
    return SecretInfo(
        name=record.name, version=record.version, set_by=record.set_by, set_at=record.set_at
    )


def check_value(value: bytes, limits: Limits = DEFAULT_LIMITS) -> str:
    """The value as the text a tool's environment will hold. Raises InvalidArgumentError (never
    quoting the value) when it is empty, over max-secret-bytes, not UTF-8 or holds a NUL byte."""
    if not value:
        raise InvalidArgumentError("a secret's value must not be empty")
    limits.check("max_secret_bytes", len(value), "a secret's value: size in bytes")
    try:
        text = value.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgumentError("a secret's value must be UTF-8 text") from None
    if "\x00" in text:
        raise InvalidArgumentError(
            "a secret's value must not contain a NUL byte (an environment variable cannot)"
        )
    return text


class Secrets:
    """The hub's secrets. `load()` once before use; then `set`, `delete` and `list` go to the
    store, and `resolve` opens the latest versions from memory."""

    def __init__(
        self,
        *,
        store: SecretStore,
        box: SecretBox,
        limits: Limits = DEFAULT_LIMITS,
        on_open: Callable[[str, int, str], None] | None = None,
    ) -> None:
        self._store = store
        self._box = box
        self._limits = limits
        # Told of every value opened (name, version, what for): the hub records it in its audit
        # trail.
        self._on_open = on_open
        self._latest: dict[str, SecretRecord] = {}
        self._writing = asyncio.Lock()  # one version number at a time

    async def load(self) -> None:
        """Read the latest version of each secret from the store, and say in the log when some
        do not open with this key (a replaced secrets.key): the tasks that reference them will
        fail, naming the secret."""
        self._latest = {s.name: s for s in await self._store.list_secrets()}
        unopened = []
        for record in self._latest.values():
            try:
                self._box.open(record.name, record.version, record.nonce, record.ciphertext)
            except SecretError:
                unopened.append(record.name)
        if unopened:
            log.error(
                "%d of %d secrets do not open with the hub's secrets key (was it replaced?),"
                " first %r: tasks that reference them will fail",
                len(unopened),
                len(self._latest),
                unopened[0],
            )

    def _check_name(self, name: str) -> None:
        check_name(name, "secret name", max_length=self._limits.max_name_length)

    async def set(self, name: str, value: bytes, *, set_by: str) -> SecretInfo:
        """Store `value` as the next version of `name` (1 for a new name). Raises
        InvalidArgumentError for a bad name or value, ConflictError when another hub wrote the
        same version meanwhile, StoreError when the store has failed."""
        self._check_name(name)
        check_value(value, self._limits)
        async with self._writing:
            try:
                version = (await self._store.get_secret(name)).version + 1
            except NotFoundError:
                version = 1
            nonce, ciphertext = self._box.seal(name, version, value)
            record = SecretRecord(
                name=name,
                version=version,
                nonce=nonce,
                ciphertext=ciphertext,
                set_by=set_by,
                set_at=time.time(),
            )
            await self._store.add_secret(record)
            self._latest[name] = record
        return _info(record)

    async def delete(self, name: str) -> int:
        """Remove every version of `name`; how many there were. Tasks that reference it and
        have not started fail when they are dispatched. Raises InvalidArgumentError,
        NotFoundError."""
        self._check_name(name)
        async with self._writing:
            deleted = await self._store.delete_secret(name)
            self._latest.pop(name, None)
        return deleted

    async def list(self) -> list[SecretInfo]:
        """Each secret's latest version, by name; never a value."""
        return [_info(s) for s in await self._store.list_secrets()]

    def exists(self, name: str) -> bool:
        return name in self._latest

    def resolve(self, names: Iterable[str], *, purpose: str = "") -> dict[str, str]:
        """The latest value of each named secret, opened for `purpose` (e.g. a task's
        assignment to an agent). Raises NotFoundError naming the first that does not exist,
        SecretError when one does not open."""
        values = {}
        for name in names:
            record = self._latest.get(name)
            if record is None:
                raise NotFoundError(f"no secret named {name!r}")
            value = self._box.open(name, record.version, record.nonce, record.ciphertext)
            values[name] = value.decode("utf-8")
            if self._on_open is not None:
                self._on_open(name, record.version, purpose)
        return values

    def version_of(self, name: str) -> int | None:
        """The latest version of `name`, None when there is none."""
        record = self._latest.get(name)
        return None if record is None else record.version
