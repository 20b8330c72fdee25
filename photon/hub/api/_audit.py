"""The audit RPCs of `AdminService` (list, verify), and what the edge records of each call."""

from __future__ import annotations

import json

from ...v1 import admin_pb2
from ..audit import AuditTrail
from ..core import AuditRecord
from ._errors import Context, translating

# Request fields that name what a call acts on, in the order they are looked for.
_TARGET_FIELDS = ("id", "name", "task_id", "workflow_id")


def target_of(request: object) -> str:
    """What an admin call acts on, as its request names it ("" when it names nothing)."""
    for name in _TARGET_FIELDS:
        value = getattr(request, name, None)
        if isinstance(value, str) and value:
            return value[:200]
    spec = getattr(request, "spec", None)
    tool = getattr(spec, "tool", None)
    return tool[:200] if isinstance(tool, str) else ""


def record_to_proto(record: AuditRecord) -> admin_pb2.AuditRecord:
    entry = record.entry
    return admin_pb2.AuditRecord(
        seq=record.seq,
        time=entry.time,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        outcome=entry.outcome,
        detail_json=json.dumps(dict(entry.detail), sort_keys=True),
        hash=record.hash,
    )


class AuditRpcs:
    """Part of the AdminService servicer (which sets `_audit`)."""

    _audit: AuditTrail

    @translating
    async def ListAudit(
        self, request: admin_pb2.ListAuditRequest, context: Context
    ) -> admin_pb2.ListAuditResponse:
        records = await self._audit.list(
            since=request.since,
            actor=request.actor,
            action=request.action,
            limit=min(max(request.limit, 0), 10_000) or 100,
        )
        return admin_pb2.ListAuditResponse(records=[record_to_proto(r) for r in records])

    @translating
    async def VerifyAudit(
        self, request: admin_pb2.VerifyAuditRequest, context: Context
    ) -> admin_pb2.VerifyAuditResponse:
        count, problem = await self._audit.verify()
        return admin_pb2.VerifyAuditResponse(
            records=count, intact=problem is None, problem=problem or ""
        )
