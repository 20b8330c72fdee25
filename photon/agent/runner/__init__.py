"""The task runner: runs assigned attempts through their plugins, with deadlines and
cancellation, and reports on them through `Reports`. It speaks frozen values, never messages."""

from ._runner import CANCEL_WAIT as CANCEL_WAIT
from ._runner import DEADLINE_GRACE as DEADLINE_GRACE
from ._runner import Runner as Runner
from ._values import Assignment as Assignment
from ._values import AttemptRef as AttemptRef
from ._values import Progress as Progress
from ._values import Reports as Reports
from ._values import RunOutcome as RunOutcome

__all__ = [
    "CANCEL_WAIT",
    "DEADLINE_GRACE",
    "Assignment",
    "AttemptRef",
    "Progress",
    "Reports",
    "RunOutcome",
    "Runner",
]
