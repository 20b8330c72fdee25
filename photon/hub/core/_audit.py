"""The audit trail's records and the hash chain that makes them tamper-evident (pure).

Each record's hash is SHA-256 over the previous record's hash and the record's canonical form
(sorted-key JSON of every field but the hash). Changing, removing or reordering a record breaks
the chain at that record; cutting records off the end is caught by the head anchored apart
from the log (the last sequence number and hash, kept where the log is not).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GENESIS = "0" * 64  # the "previous hash" of the first record


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """What happened, before it is given its place in the chain."""

    time: float
    actor: str  # a user, an agent id, or "-" for an unauthenticated caller
    action: str  # e.g. "admin.CancelTask", "auth.login", "agent.join", "agent.connect"
    target: str = ""  # what it was done to: an id or a name
    outcome: str = "ok"  # "ok", "denied", or the error's status code
    detail: Mapping[str, Any] = field(default_factory=dict)  # never a secret


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditRecord:
    seq: int
    entry: AuditEntry
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditHead:
    """Where the chain ended when it was last anchored."""

    seq: int
    hash: str


def canonical(seq: int, entry: AuditEntry, prev_hash: str) -> bytes:
    body = {
        "seq": seq,
        "time": entry.time,
        "actor": entry.actor,
        "action": entry.action,
        "target": entry.target,
        "outcome": entry.outcome,
        "detail": dict(entry.detail),
        "prev_hash": prev_hash,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def link(seq: int, entry: AuditEntry, prev_hash: str) -> AuditRecord:
    """The record `entry` becomes after the one whose hash is `prev_hash`."""
    digest = hashlib.sha256(canonical(seq, entry, prev_hash)).hexdigest()
    return AuditRecord(seq=seq, entry=entry, prev_hash=prev_hash, hash=digest)


def first_break(records: Iterable[AuditRecord], head: AuditHead | None) -> str | None:
    """Why the log (every record, in stored order) is not the chain it was, naming the first
    bad record; None when it is intact up to the anchored head."""
    prev_hash, expected = GENESIS, 1
    for record in records:
        if record.seq != expected:
            what = "missing" if record.seq > expected else "out of order"
            return f"record {expected} is {what} (found record {record.seq} in its place)"
        if record.prev_hash != prev_hash or link(record.seq, record.entry, prev_hash) != record:
            return f"record {record.seq} was altered (its hash does not match its contents)"
        if head is not None and record.seq == head.seq and record.hash != head.hash:
            return f"record {record.seq} is not the one anchored (the log was rewritten)"
        prev_hash, expected = record.hash, expected + 1
    last = expected - 1
    if head is not None and head.seq > last:
        return f"records {last + 1} to {head.seq} are missing (the log was cut after {last})"
    return None
