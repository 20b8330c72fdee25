"""The SQLite schema as versioned migrations, applied in order at open."""

from __future__ import annotations

import logging
import sqlite3

log = logging.getLogger(__name__)

# Each entry is one schema version; never edit a released one, append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE join_tokens (
        id TEXT PRIMARY KEY, secret_hash TEXT NOT NULL, labels TEXT NOT NULL,
        uses_left INTEGER NOT NULL, expires_at REAL NOT NULL, created_at REAL NOT NULL,
        revoked INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE agents (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, hostname TEXT NOT NULL, labels TEXT NOT NULL,
        certificate_serial TEXT NOT NULL, certificate_expires_at REAL NOT NULL,
        joined_at REAL NOT NULL, draining INTEGER NOT NULL DEFAULT 0,
        removed INTEGER NOT NULL DEFAULT 0);
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY, user TEXT NOT NULL, role TEXT NOT NULL, secret_hash TEXT NOT NULL,
        created_at REAL NOT NULL);
    CREATE TABLE tasks (
        id TEXT PRIMARY KEY, spec TEXT NOT NULL, state TEXT NOT NULL, attempt INTEGER NOT NULL,
        epoch INTEGER NOT NULL, agent_id TEXT NOT NULL, outputs TEXT, failure TEXT,
        created_at REAL NOT NULL, started_at REAL, finished_at REAL,
        idempotency_key TEXT UNIQUE);
    CREATE INDEX tasks_by_state ON tasks (state, created_at);
    CREATE TABLE task_events (
        task_id TEXT NOT NULL, seq INTEGER NOT NULL, attempt INTEGER NOT NULL, kind TEXT NOT NULL,
        message TEXT NOT NULL, data TEXT NOT NULL, time REAL NOT NULL,
        PRIMARY KEY (task_id, seq));
    """,
    """
    CREATE TABLE workflows (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, document TEXT NOT NULL, inputs TEXT NOT NULL,
        state TEXT NOT NULL, created_at REAL NOT NULL, finished_at REAL,
        message TEXT NOT NULL DEFAULT '');
    CREATE INDEX workflows_by_state ON workflows (state);
    CREATE TABLE workflow_steps (
        workflow_id TEXT NOT NULL, step_id TEXT NOT NULL, state TEXT NOT NULL,
        task_ids TEXT NOT NULL, outputs TEXT, started_at REAL, finished_at REAL,
        message TEXT NOT NULL DEFAULT '', position INTEGER NOT NULL,
        PRIMARY KEY (workflow_id, step_id));
    """,
    # Users of the admin API: until now only `photon-hub init`'s admin, known by its key.
    """
    CREATE TABLE users (
        name TEXT PRIMARY KEY, role TEXT NOT NULL, created_at REAL NOT NULL,
        created_by TEXT NOT NULL);
    INSERT INTO users (name, role, created_at, created_by)
        SELECT user, MIN(role), MIN(created_at), 'photon-hub init' FROM api_keys GROUP BY user;
    """,
    # The audit trail: a hash chain, one row per record.
    """
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY, time REAL NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        target TEXT NOT NULL, outcome TEXT NOT NULL, detail TEXT NOT NULL,
        prev_hash TEXT NOT NULL, hash TEXT NOT NULL);
    CREATE INDEX audit_by_time ON audit (time);
    """,
    # Every version of each secret, sealed; the value itself is never stored.
    """
    CREATE TABLE secrets (
        name TEXT NOT NULL, version INTEGER NOT NULL, nonce BLOB NOT NULL,
        ciphertext BLOB NOT NULL, set_by TEXT NOT NULL, set_at REAL NOT NULL,
        PRIMARY KEY (name, version));
    """,
    # Reports read the tasks that ended since a time.
    """
    CREATE INDEX tasks_by_end ON tasks (finished_at);
    """,
    # ... and what their attempts' cost events said: not the (many) other events beside them.
    """
    CREATE INDEX task_events_costs ON task_events (task_id, attempt) WHERE kind = 'cost';
    """,
)


def migrate(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()
    current = (row[0] if row else None) or 0
    for version, script in enumerate(MIGRATIONS[current:], start=current + 1):
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in filter(str.strip, script.split(";")):
                conn.execute(statement)
            conn.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        log.info("store schema migrated to version %d", version)
