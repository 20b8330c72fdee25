"""The report RPCs of `AdminService`: what AI tools spent, grouped."""

from __future__ import annotations

import math
import time

from ...errors import InvalidArgumentError
from ...v1 import admin_pb2
from ..reports import CostBy, CostRow, cost_rows, total
from ..store import Store
from ._errors import Context, translating

MAX_REPORT_TASKS = 100_000  # ended tasks one report reads (their records are held at once)

_BY = {
    admin_pb2.COST_BY_UNSPECIFIED: CostBy.TOOL,
    admin_pb2.COST_BY_TOOL: CostBy.TOOL,
    admin_pb2.COST_BY_AGENT: CostBy.AGENT,
    admin_pb2.COST_BY_WORKFLOW: CostBy.WORKFLOW,
    admin_pb2.COST_BY_DAY: CostBy.DAY,
}


class ReportRpcs:
    """Part of the AdminService servicer (which sets `_store`)."""

    _store: Store

    @translating
    async def ReportCost(
        self, request: admin_pb2.ReportCostRequest, context: Context
    ) -> admin_pb2.ReportCostResponse:
        by = _BY.get(request.by)
        if by is None:
            raise InvalidArgumentError(f"by: unknown grouping {request.by}")
        if not math.isfinite(request.since) or not 0 <= request.since <= time.time():
            raise InvalidArgumentError("since must be a Unix time in the past")
        records = await self._store.list_finished_tasks(
            since=request.since, limit=MAX_REPORT_TASKS + 1
        )
        truncated = len(records) > MAX_REPORT_TASKS
        attempt_costs = await self._store.attempt_costs(since=request.since)
        rows = cost_rows(
            records[:MAX_REPORT_TASKS], by=by, since=request.since, attempt_costs=attempt_costs
        )
        return admin_pb2.ReportCostResponse(
            rows=[row_to_proto(r) for r in rows],
            total=row_to_proto(total(rows)),
            truncated=truncated,
        )


def row_to_proto(row: CostRow) -> admin_pb2.CostRow:
    return admin_pb2.CostRow(
        key=row.key,
        tasks=row.tasks,
        cost_usd=row.cost_usd,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cache_read_tokens=row.cache_read_tokens,
        cache_creation_tokens=row.cache_creation_tokens,
    )
