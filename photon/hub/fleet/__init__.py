"""The fleet: a session per connected agent, what it offers and what the hub sends it."""

from ._messages import AckResult as AckResult
from ._messages import AgentMessage as AgentMessage
from ._messages import AssignTask as AssignTask
from ._messages import CancelAttempt as CancelAttempt
from ._messages import RenewalAnswer as RenewalAnswer
from ._messages import SetDraining as SetDraining
from ._session import AgentSession as AgentSession
from ._session import Fleet as Fleet

__all__ = [
    "AckResult",
    "AgentMessage",
    "AgentSession",
    "AssignTask",
    "CancelAttempt",
    "Fleet",
    "RenewalAnswer",
    "SetDraining",
]
