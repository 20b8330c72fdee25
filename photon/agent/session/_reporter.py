"""`Reporter`: the runner's reports on their way to the hub."""

from __future__ import annotations

from ...v1 import mesh_pb2
from ...wire import Outgoing
from ..runner import AttemptRef, Progress, RunOutcome
from ._convert import outcome_to_proto, progress_to_proto, ref_to_proto
from ._outbox import Outbox

# Progress and heartbeats beyond this many queued messages are dropped (a slow stream must not
# grow the agent's memory); acceptances and results always go.
SEND_QUEUE_LIMIT = 10_000


class Reporter:
    """Sends what the runner reports over the live stream, when there is one. Outcomes are kept
    in the durable outbox until the hub acks them, and sent again on every new stream;
    acceptances and progress while disconnected are dropped."""

    def __init__(self, outbox: Outbox) -> None:
        self._outbox = outbox
        self._outgoing: Outgoing[mesh_pb2.ConnectRequest] | None = None

    def held(self) -> list[mesh_pb2.AttemptRef]:
        """The attempts whose results wait for the hub's ack."""
        return [r.attempt for r in self._outbox.pending()]

    def attach(self, outgoing: Outgoing[mesh_pb2.ConnectRequest]) -> None:
        """A stream is up: what the outbox holds goes first, then everything new."""
        for result in self._outbox.pending():
            outgoing.put_nowait(mesh_pb2.ConnectRequest(task_result=result))
        self._outgoing = outgoing

    def detach(self) -> None:
        self._outgoing = None

    def ack(self, ref: mesh_pb2.AttemptRef) -> None:
        """The hub recorded this result: the outbox may let it go."""
        self._outbox.ack(ref)

    def send(self, message: mesh_pb2.ConnectRequest, *, droppable: bool = True) -> None:
        queue = self._outgoing
        if queue is None:
            return  # results wait in the outbox; progress while disconnected is dropped
        if droppable and queue.qsize() >= SEND_QUEUE_LIMIT:
            return
        queue.put_nowait(message)

    # -- Reports, for the runner -------------------------------------------------------------

    def accepted(self, ref: AttemptRef) -> None:
        self.send(
            mesh_pb2.ConnectRequest(task_accepted=mesh_pb2.TaskAccepted(attempt=ref_to_proto(ref))),
            droppable=False,
        )

    def progress(self, ref: AttemptRef, event: Progress) -> None:
        if self._outgoing is not None:
            self.send(mesh_pb2.ConnectRequest(task_progress=progress_to_proto(ref, event)))

    def finished(self, outcome: RunOutcome) -> None:
        result = outcome_to_proto(outcome)
        self._outbox.put(result)
        self.send(mesh_pb2.ConnectRequest(task_result=result), droppable=False)
