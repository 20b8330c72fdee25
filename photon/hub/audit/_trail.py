"""`AuditTrail`: appends records to the store's hash chain and anchors its head apart.

The head (last sequence number and hash) is written to a file beside the store after each
append, so that records cut off the end of the log are noticed (`verify`). A record is
committed in the store's ordered group commit: a change a caller makes after recording it is
committed with it or after it, never without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..._fs import write_atomic
from ...errors import StoreError
from ..core import AuditEntry, AuditHead, AuditRecord, first_audit_break
from ..store import AuditStore

log = logging.getLogger(__name__)
VERIFY_PAGE = 5000


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
        self._pending: set[asyncio.Future[None]] = set()

    def record(
        self,
        actor: str,
        action: str,
        *,
        target: str = "",
        outcome: str = "ok",
        detail: Mapping[str, Any] | None = None,
    ) -> asyncio.Future[None]:
        """Append a record; the future is done once it is committed (await it where the change
        it records must not be answered before). A failure is the store's: it stops the hub."""
        entry = AuditEntry(
            time=time.time(),
            actor=actor or "-",
            action=action,
            target=target,
            outcome=outcome,
            detail=dict(detail or {}),
        )
        future = asyncio.ensure_future(self._append(entry))
        self._pending.add(future)
        future.add_done_callback(self._done)
        return future

    async def _append(self, entry: AuditEntry) -> None:
        head = await self._store.append_audit([entry], floor=self._floor)
        if self._head is None or head.seq > self._head.seq:
            self._head = head
        if self._anchoring is None or self._anchoring.done():
            self._anchoring = asyncio.ensure_future(self._anchor_loop())

    def _done(self, future: asyncio.Future[None]) -> None:
        self._pending.discard(future)
        if not future.cancelled() and (exc := future.exception()) is not None:
            log.error("the audit record could not be written: %s", exc)

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
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
        if self._anchoring is not None:
            await asyncio.gather(self._anchoring, return_exceptions=True)

    async def list(
        self, *, since: float = 0.0, actor: str = "", action: str = "", limit: int = 1000
    ) -> list[AuditRecord]:
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
