"""What a log line is about, for JSON logs: the agent and the task, as fields.

A line names them with `extra={"task_id": ..., "agent_id": ...}`, or inherits them from the
context: an agent sets `AGENT_ID` once it knows who it is, and each task attempt runs with
`TASK_ID` set, so everything logged while it runs is about that task.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar

AGENT_ID: ContextVar[str] = ContextVar("photon_agent_id", default="")
TASK_ID: ContextVar[str] = ContextVar("photon_task_id", default="")
FIELDS = (("agent_id", AGENT_ID), ("task_id", TASK_ID))


def fields_of(record: logging.LogRecord) -> dict[str, str]:
    """The record's `agent_id` and `task_id`: its own (`extra=`), else the context's; only
    those known."""
    found = {}
    for name, var in FIELDS:
        value = getattr(record, name, "") or var.get()
        if value:
            found[name] = str(value)
    return found
