"""`HubStats`: what the hub counts as it works, in plain dicts and numbers.

The task engine, the mesh streams and the store add to it on their hot paths: a dict update or
two, no lock (all of them do it on the event loop's thread; the store times a commit in its
worker thread and adds it once back on the loop). The http port's collector reads it at scrape
time and alone speaks Prometheus. Labels stay bounded: tool names fold into "other" past
`max_tools` distinct ones; outcomes and message kinds come from fixed sets.
"""

from __future__ import annotations

from ...model import TaskState
from ..core import TaskRecord, usage_of
from ._histogram import Histogram

OTHER = "other"
MAX_TOOLS = 64
# Seconds: from a millisecond (a dispatch, a commit) to an hour-long AI run.
DISPATCH_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800)
DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 1800, 3600)
COMMIT_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)


class HubStats:
    """Counters, sums and histograms of the hub's work since it started."""

    def __init__(self, *, max_tools: int = MAX_TOOLS) -> None:
        self._max_tools = max_tools
        self._tools: set[str] = set()
        self.submitted: dict[str, int] = {}  # tool -> tasks
        self.finished: dict[tuple[str, str], int] = {}  # (tool, outcome) -> tasks
        self.durations: dict[str, Histogram] = {}  # tool -> seconds from start to end
        self.dispatch = Histogram(DISPATCH_BUCKETS)  # seconds from queued to assigned
        self.received: dict[str, int] = {}  # mesh message kind -> messages from agents
        self.sent: dict[str, int] = {}  # mesh message kind -> messages to agents
        self.cost_usd: dict[str, float] = {}  # tool -> dollars
        self.tokens: dict[tuple[str, str], int] = {}  # (tool, kind) -> tokens
        self.commits = Histogram(COMMIT_BUCKETS)  # seconds per group-commit transaction

    def tool(self, name: str) -> str:
        """The label value of a tool: its name, or "other" past the first `max_tools`."""
        if name in self._tools:
            return name
        if len(self._tools) < self._max_tools:
            self._tools.add(name)
            return name
        return OTHER

    # -- tasks ----------------------------------------------------------------------------

    def task_submitted(self, tool: str) -> None:
        label = self.tool(tool)
        self.submitted[label] = self.submitted.get(label, 0) + 1

    def task_dispatched(self, waited: float) -> None:
        self.dispatch.observe(max(waited, 0.0))

    def task_finished(self, task: TaskRecord) -> None:
        """A task's end, as committed: its outcome, how long it ran, what it spent."""
        tool = self.tool(task.spec.tool)
        key = (tool, outcome(task))
        self.finished[key] = self.finished.get(key, 0) + 1
        if task.started_at is not None and task.finished_at is not None:
            histogram = self.durations.get(tool)
            if histogram is None:
                histogram = self.durations[tool] = Histogram(DURATION_BUCKETS)
            histogram.observe(max(task.finished_at - task.started_at, 0.0))
        usage = usage_of(task.outputs)
        if usage.empty:
            return
        self.cost_usd[tool] = self.cost_usd.get(tool, 0.0) + usage.cost_usd
        for kind, count in usage.tokens().items():
            self.tokens[tool, kind] = self.tokens.get((tool, kind), 0) + count

    # -- the mesh and the store -----------------------------------------------------------

    def message_received(self, kind: str) -> None:
        self.received[kind] = self.received.get(kind, 0) + 1

    def message_sent(self, kind: str) -> None:
        self.sent[kind] = self.sent.get(kind, 0) + 1

    def store_committed(self, seconds: float) -> None:
        self.commits.observe(seconds)


def outcome(task: TaskRecord) -> str:
    """How an ended task ended: "succeeded", else its failure class (cancelled, timeout,
    agent_lost, tool_missing, auth, quota, tool_error, invalid_input), else its state."""
    if task.state is TaskState.SUCCEEDED:
        return "succeeded"
    if task.failure is not None:
        return task.failure.failure_class.value
    return task.state.value.lower()
