"""What the dashboard is handed by the composition root: the hub's parts it reads and acts on."""

from __future__ import annotations

from dataclasses import dataclass

from ..audit import AuditTrail
from ..fleet import Fleet
from ..security import DashboardLogins, Users
from ..store import Store
from ..tasks import TaskEngine
from ..workflows import WorkflowEngine


@dataclass(frozen=True, slots=True, kw_only=True)
class DashboardParts:
    fleet: Fleet
    engine: TaskEngine
    workflows: WorkflowEngine
    store: Store
    users: Users
    audit: AuditTrail
    logins: DashboardLogins
