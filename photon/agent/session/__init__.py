"""The agent's edge: its stream to the hub and its enrolment. Only this layer speaks gRPC and
protobuf; it turns the hub's messages into the runner's values and the runner's and tools'
values into messages.

`HubLink` keeps the mesh stream (Hello/Welcome, heartbeats, the reconnect loop with backoff);
`Reporter` carries the runner's reports to it, results through the durable `Outbox`; `join`
enrols a new agent.
"""

from ._backoff import Backoff as Backoff
from ._credentials import check_certificate as check_certificate
from ._enrol import join as join
from ._link import HubLink as HubLink
from ._outbox import Outbox as Outbox
from ._reporter import Reporter as Reporter

__all__ = [
    "Backoff",
    "HubLink",
    "Outbox",
    "Reporter",
    "check_certificate",
    "join",
]
