"""`AuditTrail`: appends records to the store's hash chain and anchors its head apart.

The head (last sequence number and hash) is written to a file beside the store after each
append, so that records cut off the end of the log are noticed (`verify`). A record is
committed in the store's ordered group commit: a change a caller makes after recording it is
committed with it or after it, never without it.

A record may be deferred: it then joins the store's next commit, whatever that holds, or is
written within DEFER_SECONDS with the records deferred meanwhile. A call's record is queued
before the call changes anything, so it is committed with that change or before it; a call
that changes nothing (a read, a refusal) adds no commit of its own. A client sending bad
requests as fast as the hub answers them then costs the store a commit every DEFER_SECONDS,
not one or two per request (each with its fsync), and the store's writer stays free for other
clients' tasks.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any

from ..._fs import write_atomic
from ...errors import StoreError
from ..core import AuditEntry, AuditHead, AuditRecord, first_audit_break
from ..store import AuditStore

log = logging.getLogger(__name__)
VERIFY_PAGE = 5000
DEFER_SECONDS = 0.05  # the longest a deferred record waits to be written
DEFER_MOST = 1000  # deferred records written at once, whatever their age


class AuditTrail:
    def __init__(
        self,
        store: AuditStore,
        anchor: Path,
        *,
        on_fatal: Callable[[BaseException], None] | None = None,
    ) -> None:
        self._store = store
        self._anchor = anchor
        self._on_fatal = on_fatal
        # Where the log ended when last anchored: records follow it even if the stored log
        # now ends sooner (it was cut), so that the gap stays for `verify` to name.
        self._floor = self.anchored_head()
        self._head: AuditHead | None = None
        self._anchored: AuditHead | None = self._floor
        self._anchoring: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Future[None]] = set()  # appends not yet committed
        self._queued: list[tuple[AuditEntry, asyncio.Future[None]]] = []  # not yet appended
        self._deferral: asyncio.TimerHandle | None = None
        store.before_commit(self._append_queued)

    def record(
        self,
        actor: str,
        action: str,
        *,
        target: str = "",
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
        deferred: bool = False,
    ) -> asyncio.Future[None]:
        """Append a record; the future is done once it is committed (await `written` where the
        change it records must not be answered before). A `deferred` one joins the store's next
        commit or is appended within DEFER_SECONDS; any other at once, after those queued (the
        log keeps the order of the calls). A failure is the store's: it stops the hub."""
        entry = AuditEntry(
            time=time.time(),
            actor=actor or "-",
            action=action,
            target=target,
            outcome=outcome,
            detail=dict(detail or {}),
        )
        loop = asyncio.get_running_loop()
        future: asyncio.Future[None] = loop.create_future()
        future.add_done_callback(_retrieved)  # a failure is logged once, for its whole batch
        self._queued.append((entry, future))
        if not deferred or len(self._queued) >= DEFER_MOST:
            self._append_queued()
        elif self._deferral is None:
            self._deferral = loop.call_later(DEFER_SECONDS, self._append_queued)
        return future

    async def written(self, record: asyncio.Future[None]) -> None:
        """Wait until `record` (from `record`) is committed, appending it now if it waits."""
        if any(future is record for _, future in self._queued):
            self._append_queued()
        await record

    def _append_queued(self) -> None:
        if self._deferral is not None:
            self._deferral.cancel()
            self._deferral = None
        if not self._queued:
            return
        batch, self._queued = self._queued, []
        try:
            committed = self._store.append_audit([e for e, _ in batch], floor=self._floor)
        except StoreError as exc:  # the store has failed already
            _fail(batch, exc)
            return
        append = asyncio.ensure_future(self._append(batch, committed))
        self._pending.add(append)
        append.add_done_callback(self._pending.discard)

    async def _append(
        self, batch: list[tuple[AuditEntry, asyncio.Future[None]]], committed: Awaitable[AuditHead]
    ) -> None:
        try:
            head = await committed
        except Exception as exc:
            _fail(batch, exc)
            return
        if self._head is None or head.seq > self._head.seq:
            self._head = head
        if self._anchoring is None or self._anchoring.done():
            self._anchoring = asyncio.ensure_future(self._anchor_loop())
        for _, future in batch:
            if not future.done():
                future.set_result(None)

    async def _anchor_loop(self) -> None:
        # One writer; each pass writes the newest head, however many appends came meanwhile.
        try:
            while self._head is not None and self._head != self._anchored:
                head = self._head
                text = json.dumps({"seq": head.seq, "hash": head.hash}).encode()
                await asyncio.to_thread(write_atomic, self._anchor, text, mode=0o600)
                self._anchored = head
        except OSError as exc:
            # Records the anchor does not cover could be cut off unnoticed: stop, as for the
            # store itself.
            error = StoreError(
                f"cannot anchor the audit trail's head in {self._anchor}: {exc.strerror or exc}"
            )
            log.error("%s", error)
            if self._on_fatal is not None:
                self._on_fatal(error)

    async def flush(self) -> None:
        """Wait for every record and the anchor (at shutdown)."""
        self._append_queued()
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._anchoring is not None:
            await asyncio.gather(self._anchoring, return_exceptions=True)

    async def list(
        self, *, since: float = 0.0, actor: str = "", action: str = "", limit: int = 1000
    ) -> list[AuditRecord]:
        await self.flush()  # with the deferred records: the calls made so far
        return await self._store.list_audit(since=since, actor=actor, action=action, limit=limit)

    def anchored_head(self) -> AuditHead | None:
        """The head as the anchor file has it (None when none was written yet)."""
        try:
            data = json.loads(self._anchor.read_text())
            return AuditHead(seq=int(data["seq"]), hash=str(data["hash"]))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError):
            return AuditHead(seq=-1, hash="unreadable")

    async def verify(self) -> tuple[int, str | None]:
        """How many records the log holds, and why it is not intact (naming the first bad
        record), or None."""
        await self.flush()
        head = self.anchored_head()
        if head is not None and head.seq < 0:
            return 0, f"the anchor {self._anchor} is unreadable"
        records: list[AuditRecord] = []
        while page := await self._store.list_audit(
            after_seq=records[-1].seq if records else 0, limit=VERIFY_PAGE
        ):
            records += page
        problem = await asyncio.to_thread(first_audit_break, records, head)
        return len(records), problem


def _retrieved(future: asyncio.Future[None]) -> None:
    if not future.cancelled():
        future.exception()


def _fail(batch: list[tuple[AuditEntry, asyncio.Future[None]]], error: Exception) -> None:
    log.error("the audit record could not be written: %s", error)
    for _, future in batch:
        if not future.done():
            future.set_exception(error)
