"""`Store` on SQLite (aiosqlite, WAL, synchronous=FULL): group commit, versioned migrations."""

from __future__ import annotations

import asyncio
import json
import logging
import math
import sqlite3
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from ....errors import ConflictError, NotFoundError, PhotonError, StoreError
from ....model import Role, StepState, TaskState, WorkflowState
from ...core import (
    AUDIT_GENESIS,
    AgentRecord,
    ApiKeyRecord,
    AuditEntry,
    AuditHead,
    AuditRecord,
    JoinTokenRecord,
    SecretRecord,
    StepRecord,
    TaskEventRecord,
    TaskRecord,
    UserRecord,
    WorkflowRecord,
    link_audit,
)
from ...stats import HubStats
from .. import _rows
from ._schema import migrate

log = logging.getLogger(__name__)
T = TypeVar("T")
_IN_CHUNK = 500  # ids per `IN (...)` query, well under SQLite's limit on parameters
WriteOp = Callable[[sqlite3.Connection], Any]

RETRY_DELAYS = (0.1, 0.3, 0.9)  # seconds between attempts at a commit that failed


class SqliteStore:
    """Durable hub state in one SQLite file.

    Writes from concurrent callers are batched into one transaction (group commit): each caller
    is answered only after the commit that holds its write. A commit that fails (a full disk, an
    I/O error) is retried briefly with later writes held behind it, so writes stay in order; if
    it still fails, the store gives up: `failed` is set, and that write and every later one raise
    StoreError. Hooks given to `before_commit` run as each batch is taken: what they write joins
    it.
    """

    def __init__(self, path: Path, *, stats: HubStats | None = None) -> None:
        self._path = path
        self._stats = stats or HubStats()
        self._writer: sqlite3.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._pending: list[tuple[WriteOp, asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._before_commit: list[Callable[[], None]] = []
        self._failed = asyncio.Event()
        self._failure: StoreError | None = None

    @property
    def failed(self) -> asyncio.Event:
        return self._failed

    @property
    def failure(self) -> StoreError | None:
        return self._failure

    async def open(self) -> None:
        try:
            self._writer = await asyncio.to_thread(self._open_writer)
            self._reader = await aiosqlite.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open the store {self._path}: {exc}") from None
        self._reader.row_factory = sqlite3.Row
        await self._reader.execute("PRAGMA busy_timeout=5000")

    def _open_writer(self) -> sqlite3.Connection:
        # Used from one worker thread at a time (the flusher's), never concurrently.
        conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("PRAGMA foreign_keys=ON")
        migrate(conn)
        return conn

    async def close(self) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._reader is not None:
            await self._reader.close()
        if self._writer is not None:
            self._writer.close()
        self._reader = self._writer = None

    # -- group commit -------------------------------------------------------------------------

    def before_commit(self, hook: Callable[[], None]) -> None:
        """Run `hook` as each batch of writes is taken to be committed: what it writes then
        (a deferred audit record) is committed with the batch."""
        self._before_commit.append(hook)

    async def _write(self, op: WriteOp) -> Any:
        return await self._queue(op)

    def _queue(self, op: WriteOp) -> asyncio.Future[Any]:
        """Queue a write now (writes are committed in the order they are queued); the future
        is done once it is committed."""
        if self._failure is not None:
            raise self._failure
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending.append((op, future))
        if self._flusher is None or self._flusher.done():
            # One flusher drains the queue batch by batch; no single caller's cancellation
            # stops it, so the other callers in its batch still get their answer.
            self._flusher = asyncio.ensure_future(self._flush())
        return future

    async def _flush(self) -> None:
        while self._pending:
            try:
                for hook in self._before_commit:
                    hook()
            except Exception as exc:  # a bug in a hook: what it meant to write is lost
                self._give_up(StoreError(f"the store could not commit: {exc!r}"), [])
                return
            batch, self._pending = self._pending, []
            try:
                results, seconds = await self._commit_retrying([op for op, _ in batch])
            except StoreError as exc:
                self._give_up(exc, batch)
                return
            self._stats.store_committed(seconds)
            for (_, future), (value, error) in zip(batch, results, strict=True):
                if future.done():
                    continue
                if error is None:
                    future.set_result(value)
                else:
                    future.set_exception(error)

    async def _commit_retrying(
        self, ops: list[WriteOp]
    ) -> tuple[list[tuple[Any, Exception | None]], float]:
        for delay in (*RETRY_DELAYS, None):
            try:
                # The whole batch runs in one thread hop: one transaction, one fsync.
                return await asyncio.to_thread(self._commit, ops)
            except sqlite3.Error as exc:
                if delay is None:
                    raise StoreError(f"the store could not commit: {exc}") from exc
                log.warning("store commit failed (%s); retrying in %.1fs", exc, delay)
                await asyncio.sleep(delay)
            except Exception as exc:  # a bug in an op: retrying cannot help
                raise StoreError(f"the store could not commit: {exc!r}") from exc
        raise AssertionError("unreachable")

    def _give_up(self, error: StoreError, batch: list[tuple[WriteOp, asyncio.Future[Any]]]) -> None:
        log.error("%s; the store takes no more writes", error)
        self._failure = error
        self._failed.set()
        for _, future in [*batch, *self._pending]:
            if not future.done():
                future.set_exception(error)
        self._pending = []

    def _commit(self, ops: list[WriteOp]) -> tuple[list[tuple[Any, Exception | None]], float]:
        """Run ops in one transaction; their results and the seconds it took. An op refused for
        what it asks (a duplicate, an unknown id, a failed epoch check) is rolled back alone
        (savepoint); any other error rolls back the whole transaction and is raised."""
        conn = self._writer
        assert conn is not None, "store is not open"
        start = time.perf_counter()
        results: list[tuple[Any, Exception | None]] = []
        conn.execute("BEGIN IMMEDIATE")
        try:
            for op in ops:
                conn.execute("SAVEPOINT op")
                try:
                    results.append((op(conn), None))
                    conn.execute("RELEASE op")
                except (sqlite3.IntegrityError, PhotonError) as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    if isinstance(exc, sqlite3.IntegrityError):
                        exc = ConflictError(f"already exists: {exc}")
                    results.append((None, exc))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return results, time.perf_counter() - start

    async def _read(self, sql: str, args: Sequence[Any] = ()) -> list[sqlite3.Row]:
        assert self._reader is not None, "store is not open"
        # Execute and fetch in one step: a cursor left open between awaits would hold the
        # connection's read transaction open while other reads interleave, and under load every
        # read would keep seeing an old snapshot.
        return list(await self._reader.execute_fetchall(sql, args))

    async def _read_one(self, sql: str, args: Sequence[Any], what: str) -> sqlite3.Row:
        rows = await self._read(sql, args)
        if not rows:
            raise NotFoundError(what)
        return rows[0]

    # -- join tokens --------------------------------------------------------------------------

    async def add_join_token(self, token: JoinTokenRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO join_tokens (id, secret_hash, labels, uses_left, expires_at,"
                " created_at, revoked) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    token.id,
                    token.secret_hash,
                    _rows.dumps(dict(token.labels)),
                    token.uses_left,
                    token.expires_at,
                    token.created_at,
                    int(token.revoked),
                ),
            )

        await self._write(op)

    async def get_join_token(self, token_id: str) -> JoinTokenRecord:
        row = await self._read_one(
            "SELECT * FROM join_tokens WHERE id = ?", (token_id,), f"join token {token_id}"
        )
        return _join_token(row)

    async def list_join_tokens(self) -> list[JoinTokenRecord]:
        return [_join_token(r) for r in await self._read("SELECT * FROM join_tokens ORDER BY id")]

    async def revoke_join_token(self, token_id: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute("UPDATE join_tokens SET revoked = 1 WHERE id = ?", (token_id,))
            if cur.rowcount == 0:
                raise NotFoundError(f"join token {token_id} not found")

        await self._write(op)

    async def consume_join_token(self, token_id: str, agent: AgentRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            # Names are unique among members, and never an agent's id: a pin names one agent.
            taken = conn.execute(
                "SELECT id FROM agents WHERE id = ? OR (removed = 0 AND (name = ? OR id = ?))",
                (agent.id, agent.name, agent.name),
            ).fetchone()
            if taken is not None:
                raise ConflictError(f"an agent named {agent.name!r} is already a member")
            cur = conn.execute(
                "UPDATE join_tokens SET uses_left = uses_left - 1"
                " WHERE id = ? AND uses_left > 0 AND revoked = 0",
                (token_id,),
            )
            if cur.rowcount == 0:
                raise ConflictError("join token has already been used")
            conn.execute(_INSERT_AGENT, _agent_row(agent))

        await self._write(op)

    # -- agents -------------------------------------------------------------------------------

    async def get_agent(self, agent_id: str) -> AgentRecord:
        row = await self._read_one(
            "SELECT * FROM agents WHERE id = ?", (agent_id,), f"agent {agent_id} not found"
        )
        return _agent(row)

    async def list_agents(self) -> list[AgentRecord]:
        return [_agent(r) for r in await self._read("SELECT * FROM agents ORDER BY name, id")]

    async def update_agent(self, agent: AgentRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = _agent_row(agent)
            cur = conn.execute(
                "UPDATE agents SET name = ?, hostname = ?, labels = ?, certificate_serial = ?,"
                " certificate_expires_at = ?, joined_at = ?, draining = ?, removed = ?"
                " WHERE id = ?",
                (*row[1:], row[0]),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"agent {agent.id} not found")

        await self._write(op)

    async def renew_agent_certificate(
        self, agent_id: str, *, serial: str, expires_at: float
    ) -> None:
        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(
                "UPDATE agents SET certificate_serial = ?, certificate_expires_at = ?"
                " WHERE id = ? AND removed = 0",
                (serial, expires_at, agent_id),
            )
            if cur.rowcount == 0:
                raise NotFoundError(f"agent {agent_id} is not a member of this mesh")

        await self._write(op)

    # -- api keys -----------------------------------------------------------------------------

    async def add_user(self, user: UserRecord, key: ApiKeyRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if conn.execute("SELECT 1 FROM users WHERE name = ?", (user.name,)).fetchone():
                raise ConflictError(f"a user named {user.name!r} already exists")
            conn.execute(
                "INSERT INTO users (name, role, created_at, created_by) VALUES (?, ?, ?, ?)",
                (user.name, user.role.value, user.created_at, user.created_by),
            )
            conn.execute(
                "INSERT INTO api_keys (id, user, role, secret_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (key.id, key.user, key.role.value, key.secret_hash, key.created_at),
            )

        await self._write(op)

    async def list_users(self) -> list[UserRecord]:
        rows = await self._read("SELECT * FROM users ORDER BY name")
        return [
            UserRecord(
                name=row["name"],
                role=Role(row["role"]),
                created_at=row["created_at"],
                created_by=row["created_by"],
            )
            for row in rows
        ]

    async def delete_user(self, name: str) -> None:
        def op(conn: sqlite3.Connection) -> None:
            if not conn.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount:
                raise NotFoundError(f"no user named {name!r}")
            conn.execute("DELETE FROM api_keys WHERE user = ?", (name,))

        await self._write(op)

    async def get_api_key(self, key_id: str) -> ApiKeyRecord:
        row = await self._read_one(
            "SELECT * FROM api_keys WHERE id = ?", (key_id,), f"api key {key_id} not found"
        )
        return ApiKeyRecord(
            id=row["id"],
            user=row["user"],
            role=Role(row["role"]),
            secret_hash=row["secret_hash"],
            created_at=row["created_at"],
        )

    async def count_api_keys(self) -> int:
        rows = await self._read("SELECT COUNT(*) FROM api_keys")
        return int(rows[0][0])

    # -- audit --------------------------------------------------------------------------------

    def append_audit(
        self, entries: Sequence[AuditEntry], *, floor: AuditHead | None = None
    ) -> asyncio.Future[AuditHead]:
        def op(conn: sqlite3.Connection) -> AuditHead:
            row = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev_hash = (row[0], row[1]) if row else (0, AUDIT_GENESIS)
            if floor is not None and floor.seq > seq:
                seq, prev_hash = floor.seq, floor.hash
            for entry in entries:
                seq += 1
                record = link_audit(seq, entry, prev_hash)
                conn.execute(
                    "INSERT INTO audit (seq, time, actor, action, target, outcome, detail,"
                    " prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        seq,
                        entry.time,
                        entry.actor,
                        entry.action,
                        entry.target,
                        entry.outcome,
                        _rows.dumps(dict(entry.detail)),
                        record.prev_hash,
                        record.hash,
                    ),
                )
                prev_hash = record.hash
            return AuditHead(seq=seq, hash=prev_hash)

        return self._queue(op)

    async def list_audit(
        self,
        *,
        after_seq: int = 0,
        since: float = 0.0,
        actor: str = "",
        action: str = "",
        limit: int = 1000,
    ) -> list[AuditRecord]:
        sql = "SELECT * FROM audit WHERE seq > ? AND time >= ?"
        args: list[Any] = [after_seq, since]
        if actor:
            sql += " AND actor = ?"
            args.append(actor)
        if action:
            sql += " AND substr(action, 1, ?) = ?"
            args += [len(action), action]
        rows = await self._read(sql + " ORDER BY seq LIMIT ?", [*args, limit])
        return [
            AuditRecord(
                seq=row["seq"],
                entry=AuditEntry(
                    time=row["time"],
                    actor=row["actor"],
                    action=row["action"],
                    target=row["target"],
                    outcome=row["outcome"],
                    detail=json.loads(row["detail"]),
                ),
                prev_hash=row["prev_hash"],
                hash=row["hash"],
            )
            for row in rows
        ]

    # -- secrets ------------------------------------------------------------------------------

    async def add_secret(self, secret: SecretRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(
                    "INSERT INTO secrets (name, version, nonce, ciphertext, set_by, set_at)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        secret.name,
                        secret.version,
                        secret.nonce,
                        secret.ciphertext,
                        secret.set_by,
                        secret.set_at,
                    ),
                )
            except sqlite3.IntegrityError:
                # Said here, so the message names the secret and quotes nothing of the row.
                raise ConflictError(
                    f"secret {secret.name!r} already has version {secret.version}"
                ) from None

        await self._write(op)

    async def get_secret(self, name: str) -> SecretRecord:
        row = await self._read_one(
            "SELECT * FROM secrets WHERE name = ? ORDER BY version DESC LIMIT 1",
            (name,),
            f"no secret named {name!r}",
        )
        return _secret(row)

    async def list_secrets(self) -> list[SecretRecord]:
        rows = await self._read(
            "SELECT s.* FROM secrets s JOIN (SELECT name, MAX(version) AS version FROM secrets"
            " GROUP BY name) latest ON latest.name = s.name AND latest.version = s.version"
            " ORDER BY s.name"
        )
        return [_secret(r) for r in rows]

    async def list_secret_versions(self, name: str) -> list[SecretRecord]:
        rows = await self._read("SELECT * FROM secrets WHERE name = ? ORDER BY version", (name,))
        return [_secret(r) for r in rows]

    async def delete_secret(self, name: str) -> int:
        def op(conn: sqlite3.Connection) -> int:
            cur = conn.execute("DELETE FROM secrets WHERE name = ?", (name,))
            if cur.rowcount == 0:
                raise NotFoundError(f"no secret named {name!r}")
            return int(cur.rowcount)

        deleted: int = await self._write(op)
        return deleted

    # -- tasks --------------------------------------------------------------------------------

    async def insert_tasks(self, tasks: Sequence[TaskRecord]) -> list[tuple[TaskRecord, bool]]:
        def op(conn: sqlite3.Connection) -> list[tuple[TaskRecord, bool]]:
            results = []
            for task in tasks:
                key = task.spec.idempotency_key or None
                if key is not None:
                    row = conn.execute(
                        "SELECT * FROM tasks WHERE idempotency_key = ?", (key,)
                    ).fetchone()
                    if row is not None:
                        results.append((_task(row), False))
                        continue
                conn.execute(
                    _INSERT_TASK,
                    (task.id, _rows.spec_to_json(task.spec), task.created_at, key, *_state(task)),
                )
                results.append((task, True))
            return results

        stored: list[tuple[TaskRecord, bool]] = await self._write(op)
        return stored

    async def update_task(
        self,
        task: TaskRecord,
        *,
        expected_epoch: int,
        events: Sequence[TaskEventRecord] = (),
        respec: bool = False,
    ) -> None:
        # The spec is written again only when it changed (a fallback tool took over).
        values = (*_state(task), task.id, expected_epoch)
        spec = _rows.spec_to_json(task.spec) if respec else None

        def op(conn: sqlite3.Connection) -> None:
            cur = conn.execute(_UPDATE_TASK, values)
            if spec is not None and cur.rowcount:
                conn.execute("UPDATE tasks SET spec = ? WHERE id = ?", (spec, task.id))
            if cur.rowcount == 0:
                row = conn.execute("SELECT epoch FROM tasks WHERE id = ?", (task.id,)).fetchone()
                if row is None:
                    raise NotFoundError(f"task {task.id} not found")
                raise ConflictError(
                    f"task {task.id} is at epoch {row[0]}, not {expected_epoch}: another writer"
                    " moved it"
                )
            _insert_events(conn, events)

        await self._write(op)

    async def claim_unfinished_tasks(self) -> list[TaskRecord]:
        queued = (TaskState.QUEUED.value, TaskState.RETRY_WAIT.value)
        unfinished = [s.value for s in TaskState if not s.terminal]
        marks = ",".join("?" * len(unfinished))

        def op(conn: sqlite3.Connection) -> list[TaskRecord]:
            conn.execute("UPDATE tasks SET epoch = epoch + 1 WHERE state IN (?, ?)", queued)
            rows = conn.execute(
                f"SELECT * FROM tasks WHERE state IN ({marks}) ORDER BY id",  # noqa: S608
                unfinished,
            ).fetchall()
            return [_task(row) for row in rows]

        claimed: list[TaskRecord] = await self._write(op)
        return claimed

    async def get_task(self, task_id: str) -> TaskRecord:
        row = await self._read_one(
            "SELECT * FROM tasks WHERE id = ?", (task_id,), f"task {task_id} not found"
        )
        return _task(row)

    async def get_tasks(self, task_ids: Collection[str]) -> list[TaskRecord]:
        ids = list(task_ids)
        tasks = []
        for start in range(0, len(ids), _IN_CHUNK):
            chunk = ids[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = await self._read(f"SELECT * FROM tasks WHERE id IN ({marks})", chunk)  # noqa: S608
            tasks += [_task(row) for row in rows]
        return tasks

    async def list_tasks(
        self,
        *,
        state: TaskState | None = None,
        limit: int = 100,
        tool: str = "",
        agent_id: str = "",
        labels: Mapping[str, str] | None = None,
        since: float = 0.0,
    ) -> list[TaskRecord]:
        terms: list[str] = []
        params: list[Any] = []
        for term, value in (
            ("state = ?", state.value if state else ""),
            ("json_extract(spec, '$.tool') = ?", tool),
            ("agent_id = ?", agent_id),
            ("created_at >= ?", since),
        ):
            if value:
                terms.append(term)
                params.append(value)
        for key, value in (labels or {}).items():
            terms.append(
                "EXISTS (SELECT 1 FROM json_each(spec, '$.labels') WHERE key = ? AND value = ?)"
            )
            params += [key, value]
        where = f"WHERE {' AND '.join(terms)} " if terms else ""
        rows = await self._read(
            f"SELECT * FROM tasks {where}ORDER BY id DESC LIMIT ?",  # noqa: S608 - placeholders only
            [*params, limit],
        )
        return [_task(r) for r in rows]

    async def list_finished_tasks(self, *, since: float, limit: int) -> list[TaskRecord]:
        rows = await self._read(
            "SELECT * FROM tasks WHERE finished_at >= ? ORDER BY finished_at, id LIMIT ?",
            (since, limit),
        )
        return [_task(r) for r in rows]

    async def attempt_costs(self, *, since: float) -> dict[str, dict[int, float]]:
        rows = await self._read(
            # The tasks that ended since (tasks_by_end), then each one's cost events alone
            # (task_events_costs): CROSS JOIN keeps that order. json_type: what is not a
            # number counts as nothing, as `usage_of` reads outputs.
            "SELECT e.task_id, e.attempt, SUM(json_extract(e.data, '$.usd'))"
            " FROM tasks t CROSS JOIN task_events e ON e.task_id = t.id"
            " WHERE t.finished_at >= ? AND e.kind = 'cost'"
            " AND json_type(e.data, '$.usd') IN ('integer', 'real')"
            " AND json_extract(e.data, '$.usd') > 0"
            " GROUP BY e.task_id, e.attempt",
            (since,),
        )
        costs: dict[str, dict[int, float]] = {}
        for task_id, attempt, usd in rows:
            if math.isfinite(usd):
                costs.setdefault(task_id, {})[int(attempt)] = float(usd)
        return costs

    async def list_unfinished_tasks(self) -> list[TaskRecord]:
        terminal = [s.value for s in TaskState if s.terminal]
        marks = ",".join("?" * len(terminal))
        rows = await self._read(
            f"SELECT * FROM tasks WHERE state NOT IN ({marks}) ORDER BY id",  # noqa: S608
            terminal,
        )
        return [_task(r) for r in rows]

    async def append_task_events(self, events: Sequence[TaskEventRecord]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            _insert_events(conn, events)

        await self._write(op)

    async def last_event_seqs(self) -> dict[str, int]:
        terminal = [s.value for s in TaskState if s.terminal]
        marks = ",".join("?" * len(terminal))
        rows = await self._read(
            "SELECT e.task_id, MAX(e.seq) FROM task_events e JOIN tasks t ON t.id = e.task_id"  # noqa: S608 - placeholders only
            f" WHERE t.state NOT IN ({marks}) GROUP BY e.task_id",
            terminal,
        )
        return {row[0]: int(row[1]) for row in rows}

    # -- workflows ----------------------------------------------------------------------------

    async def insert_workflow(self, workflow: WorkflowRecord, steps: Sequence[StepRecord]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO workflows (id, name, document, inputs, state, created_at,"
                " finished_at, message) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _workflow_row(workflow),
            )
            conn.executemany(
                "INSERT INTO workflow_steps (state, task_ids, outputs, started_at, finished_at,"
                " message, workflow_id, step_id, position) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(*_step_row(step), position) for position, step in enumerate(steps)],
            )

        await self._write(op)

    async def update_workflow(self, workflow: WorkflowRecord) -> None:
        def op(conn: sqlite3.Connection) -> None:
            row = _workflow_row(workflow)
            conn.execute(
                "UPDATE workflows SET name = ?, document = ?, inputs = ?, state = ?,"
                " created_at = ?, finished_at = ?, message = ? WHERE id = ?",
                (*row[1:], row[0]),
            )

        await self._write(op)

    async def update_steps(self, steps: Sequence[StepRecord]) -> None:
        def op(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "UPDATE workflow_steps SET state = ?, task_ids = ?, outputs = ?, started_at = ?,"
                " finished_at = ?, message = ? WHERE workflow_id = ? AND step_id = ?",
                [_step_row(step) for step in steps],
            )

        await self._write(op)

    async def get_workflow(self, workflow_id: str) -> tuple[WorkflowRecord, list[StepRecord]]:
        row = await self._read_one(
            "SELECT * FROM workflows WHERE id = ?",
            (workflow_id,),
            f"workflow {workflow_id} not found",
        )
        steps = await self._read(
            "SELECT * FROM workflow_steps WHERE workflow_id = ? ORDER BY position", (workflow_id,)
        )
        return _workflow(row), [_step(s) for s in steps]

    async def list_workflows(self, *, limit: int = 100) -> list[WorkflowRecord]:
        rows = await self._read("SELECT * FROM workflows ORDER BY id DESC LIMIT ?", (limit,))
        return [_workflow(r) for r in rows]

    async def list_unfinished_workflows(self) -> list[WorkflowRecord]:
        rows = await self._read(
            "SELECT * FROM workflows WHERE state = ? ORDER BY id", (WorkflowState.RUNNING.value,)
        )
        return [_workflow(r) for r in rows]

    async def list_task_events(self, task_id: str, *, after_seq: int = 0) -> list[TaskEventRecord]:
        rows = await self._read(
            "SELECT * FROM task_events WHERE task_id = ? AND seq > ? ORDER BY seq",
            (task_id, after_seq),
        )
        return [
            TaskEventRecord(
                task_id=r["task_id"],
                seq=r["seq"],
                attempt=r["attempt"],
                kind=r["kind"],
                message=r["message"],
                data=json.loads(r["data"]),
                time=r["time"],
            )
            for r in rows
        ]


def _insert_events(conn: sqlite3.Connection, events: Sequence[TaskEventRecord]) -> None:
    if events:
        conn.executemany(
            "INSERT OR IGNORE INTO task_events (task_id, seq, attempt, kind, message, data, time)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [
                (e.task_id, e.seq, e.attempt, e.kind, e.message, _rows.dumps(e.data), e.time)
                for e in events
            ],
        )


def _workflow_row(workflow: WorkflowRecord) -> tuple[Any, ...]:
    return (
        workflow.id,
        workflow.name,
        _rows.dumps(dict(workflow.document)),
        _rows.dumps(dict(workflow.inputs)),
        workflow.state.value,
        workflow.created_at,
        workflow.finished_at,
        workflow.message,
    )


def _workflow(row: sqlite3.Row) -> WorkflowRecord:
    return WorkflowRecord(
        id=row["id"],
        name=row["name"],
        document=json.loads(row["document"]),
        inputs=json.loads(row["inputs"]),
        state=WorkflowState(row["state"]),
        created_at=row["created_at"],
        finished_at=row["finished_at"],
        message=row["message"],
    )


def _step_row(step: StepRecord) -> tuple[Any, ...]:
    return (
        step.state.value,
        _rows.dumps(list(step.task_ids)),
        None if step.outputs is None else _rows.dumps(step.outputs),
        step.started_at,
        step.finished_at,
        step.message,
        step.workflow_id,
        step.step_id,
    )


def _step(row: sqlite3.Row) -> StepRecord:
    return StepRecord(
        workflow_id=row["workflow_id"],
        step_id=row["step_id"],
        state=StepState(row["state"]),
        task_ids=tuple(json.loads(row["task_ids"])),
        outputs=None if row["outputs"] is None else json.loads(row["outputs"]),
        started_at=row["started_at"],
        finished_at=row["finished_at"],
        message=row["message"],
    )


def _secret(row: sqlite3.Row) -> SecretRecord:
    return SecretRecord(
        name=row["name"],
        version=row["version"],
        nonce=bytes(row["nonce"]),
        ciphertext=bytes(row["ciphertext"]),
        set_by=row["set_by"],
        set_at=row["set_at"],
    )


def _join_token(row: sqlite3.Row) -> JoinTokenRecord:
    return JoinTokenRecord(
        id=row["id"],
        secret_hash=row["secret_hash"],
        labels=json.loads(row["labels"]),
        uses_left=row["uses_left"],
        expires_at=row["expires_at"],
        created_at=row["created_at"],
        revoked=bool(row["revoked"]),
    )


def _agent_row(agent: AgentRecord) -> tuple[Any, ...]:
    return (
        agent.id,
        agent.name,
        agent.hostname,
        _rows.dumps(dict(agent.labels)),
        agent.certificate_serial,
        agent.certificate_expires_at,
        agent.joined_at,
        int(agent.draining),
        int(agent.removed),
    )


def _agent(row: sqlite3.Row) -> AgentRecord:
    return AgentRecord(
        id=row["id"],
        name=row["name"],
        hostname=row["hostname"],
        labels=json.loads(row["labels"]),
        certificate_serial=row["certificate_serial"],
        certificate_expires_at=row["certificate_expires_at"],
        joined_at=row["joined_at"],
        draining=bool(row["draining"]),
        removed=bool(row["removed"]),
    )


_INSERT_TASK = (
    "INSERT INTO tasks (id, spec, created_at, idempotency_key, state, attempt, epoch, agent_id,"
    " outputs, failure, started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPDATE_TASK = (
    "UPDATE tasks SET state = ?, attempt = ?, epoch = ?, agent_id = ?, outputs = ?, failure = ?,"
    " started_at = ?, finished_at = ? WHERE id = ? AND epoch = ?"
)
_INSERT_AGENT = (
    "INSERT INTO agents (id, name, hostname, labels, certificate_serial, certificate_expires_at,"
    " joined_at, draining, removed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


def _state(task: TaskRecord) -> tuple[Any, ...]:
    """What changes as a task runs, in the order of the state columns of the two statements
    above."""
    return (
        task.state.value,
        task.attempt,
        task.epoch,
        task.agent_id,
        None if task.outputs is None else _rows.dumps(dict(task.outputs)),
        _rows.failure_to_json(task.failure),
        task.started_at,
        task.finished_at,
    )


def _task(row: sqlite3.Row) -> TaskRecord:
    return TaskRecord(
        id=row["id"],
        spec=_rows.spec_from_json(row["spec"]),
        state=TaskState(row["state"]),
        attempt=row["attempt"],
        epoch=row["epoch"],
        agent_id=row["agent_id"],
        outputs=_rows.mapping_from_json(row["outputs"]),
        failure=_rows.failure_from_json(row["failure"]),
        created_at=row["created_at"],
        started_at=row["started_at"],
        finished_at=row["finished_at"],
    )
