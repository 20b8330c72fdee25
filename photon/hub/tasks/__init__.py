"""Tasks: the lifecycle state machine, the scheduler's placement rules, and the engine that
carries their decisions out."""

from ._budget import Spend as Spend
from ._budget import budget_reached as budget_reached
from ._engine import SecretResolver as SecretResolver
from ._engine import TaskEngine as TaskEngine
from ._engine import WatchItem as WatchItem
from ._machine import Command as Command
from ._machine import Free as Free
from ._machine import Instant as Instant
from ._machine import Occupy as Occupy
from ._machine import Outcome as Outcome
from ._machine import Persist as Persist
from ._machine import Progress as Progress
from ._machine import Record as Record
from ._machine import Send as Send
from ._machine import TaskMachine as TaskMachine
from ._quota import QuotaBlock as QuotaBlock
from ._scheduler import Assignment as Assignment
from ._scheduler import Placement as Placement
from ._scheduler import Scheduler as Scheduler
from ._scheduler import ToolLimit as ToolLimit
from ._scheduler import Waiting as Waiting
from ._scheduler import place as place
from ._scheduler import refusal as refusal
from ._validation import check_spec as check_spec
from ._validation import input_errors as input_errors
from ._validation import resolve_action as resolve_action

__all__ = [
    "Assignment",
    "Command",
    "Free",
    "Instant",
    "Occupy",
    "Outcome",
    "Persist",
    "Placement",
    "Progress",
    "QuotaBlock",
    "Record",
    "Scheduler",
    "SecretResolver",
    "Send",
    "Spend",
    "TaskEngine",
    "TaskMachine",
    "ToolLimit",
    "Waiting",
    "WatchItem",
    "budget_reached",
    "check_spec",
    "input_errors",
    "place",
    "refusal",
    "resolve_action",
]
