"""The transport edge shared by hub, agent and client: gRPC settings, the error <-> status
table, joined stream writes, and the shared values' wire converters."""

from ._convert import failure_from_proto as failure_from_proto
from ._convert import failure_to_proto as failure_to_proto
from ._convert import json_object as json_object
from ._convert import lenient_json as lenient_json
from ._convert import lenient_object as lenient_object
from ._convert import metrics_from_proto as metrics_from_proto
from ._convert import metrics_to_proto as metrics_to_proto
from ._convert import spec_from_proto as spec_from_proto
from ._convert import spec_to_proto as spec_to_proto
from ._convert import state_from_proto as state_from_proto
from ._convert import state_to_proto as state_to_proto
from ._convert import tool_from_proto as tool_from_proto
from ._convert import tool_to_proto as tool_to_proto
from ._convert import workspace_from_proto as workspace_from_proto
from ._grpc import CHANNEL_OPTIONS as CHANNEL_OPTIONS
from ._grpc import EOF as EOF
from ._grpc import MAX_MESSAGE_BYTES as MAX_MESSAGE_BYTES
from ._grpc import SERVER_OPTIONS as SERVER_OPTIONS
from ._grpc import GrpcPort as GrpcPort
from ._outgoing import Outgoing as Outgoing
from ._outgoing import joined as joined
from ._outgoing import unbatch as unbatch
from ._status import error_for as error_for
from ._status import status_details as status_details
from ._status import status_for as status_for

__all__ = [
    "CHANNEL_OPTIONS",
    "EOF",
    "MAX_MESSAGE_BYTES",
    "SERVER_OPTIONS",
    "GrpcPort",
    "Outgoing",
    "error_for",
    "failure_from_proto",
    "failure_to_proto",
    "joined",
    "json_object",
    "lenient_json",
    "lenient_object",
    "metrics_from_proto",
    "metrics_to_proto",
    "spec_from_proto",
    "spec_to_proto",
    "state_from_proto",
    "state_to_proto",
    "status_details",
    "status_for",
    "tool_from_proto",
    "tool_to_proto",
    "unbatch",
    "workspace_from_proto",
]
