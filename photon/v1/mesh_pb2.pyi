from photon.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ConnectRequest(_message.Message):
    __slots__ = ("hello", "heartbeat", "task_accepted", "task_progress", "task_result", "renew_request", "batch")
    HELLO_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_FIELD_NUMBER: _ClassVar[int]
    TASK_ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    TASK_PROGRESS_FIELD_NUMBER: _ClassVar[int]
    TASK_RESULT_FIELD_NUMBER: _ClassVar[int]
    RENEW_REQUEST_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    hello: Hello
    heartbeat: Heartbeat
    task_accepted: TaskAccepted
    task_progress: TaskProgress
    task_result: TaskResult
    renew_request: RenewRequest
    batch: _containers.RepeatedCompositeFieldContainer[ConnectRequest]
    def __init__(self, hello: _Optional[_Union[Hello, _Mapping]] = ..., heartbeat: _Optional[_Union[Heartbeat, _Mapping]] = ..., task_accepted: _Optional[_Union[TaskAccepted, _Mapping]] = ..., task_progress: _Optional[_Union[TaskProgress, _Mapping]] = ..., task_result: _Optional[_Union[TaskResult, _Mapping]] = ..., renew_request: _Optional[_Union[RenewRequest, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[ConnectRequest, _Mapping]]] = ...) -> None: ...

class ConnectResponse(_message.Message):
    __slots__ = ("welcome", "assign", "cancel", "drain", "renew_response", "result_ack", "batch")
    WELCOME_FIELD_NUMBER: _ClassVar[int]
    ASSIGN_FIELD_NUMBER: _ClassVar[int]
    CANCEL_FIELD_NUMBER: _ClassVar[int]
    DRAIN_FIELD_NUMBER: _ClassVar[int]
    RENEW_RESPONSE_FIELD_NUMBER: _ClassVar[int]
    RESULT_ACK_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    welcome: Welcome
    assign: Assign
    cancel: Cancel
    drain: Drain
    renew_response: RenewResponse
    result_ack: ResultAck
    batch: _containers.RepeatedCompositeFieldContainer[ConnectResponse]
    def __init__(self, welcome: _Optional[_Union[Welcome, _Mapping]] = ..., assign: _Optional[_Union[Assign, _Mapping]] = ..., cancel: _Optional[_Union[Cancel, _Mapping]] = ..., drain: _Optional[_Union[Drain, _Mapping]] = ..., renew_response: _Optional[_Union[RenewResponse, _Mapping]] = ..., result_ack: _Optional[_Union[ResultAck, _Mapping]] = ..., batch: _Optional[_Iterable[_Union[ConnectResponse, _Mapping]]] = ...) -> None: ...

class AttemptRef(_message.Message):
    __slots__ = ("task_id", "attempt", "epoch")
    TASK_ID_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EPOCH_FIELD_NUMBER: _ClassVar[int]
    task_id: str
    attempt: int
    epoch: int
    def __init__(self, task_id: _Optional[str] = ..., attempt: _Optional[int] = ..., epoch: _Optional[int] = ...) -> None: ...

class Hello(_message.Message):
    __slots__ = ("agent_version", "tools", "labels", "slots", "hostname", "platform", "running", "held_results")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    AGENT_VERSION_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    HOSTNAME_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    HELD_RESULTS_FIELD_NUMBER: _ClassVar[int]
    agent_version: str
    tools: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolCapability]
    labels: _containers.ScalarMap[str, str]
    slots: int
    hostname: str
    platform: str
    running: _containers.RepeatedCompositeFieldContainer[AttemptRef]
    held_results: _containers.RepeatedCompositeFieldContainer[AttemptRef]
    def __init__(self, agent_version: _Optional[str] = ..., tools: _Optional[_Iterable[_Union[_common_pb2.ToolCapability, _Mapping]]] = ..., labels: _Optional[_Mapping[str, str]] = ..., slots: _Optional[int] = ..., hostname: _Optional[str] = ..., platform: _Optional[str] = ..., running: _Optional[_Iterable[_Union[AttemptRef, _Mapping]]] = ..., held_results: _Optional[_Iterable[_Union[AttemptRef, _Mapping]]] = ...) -> None: ...

class Heartbeat(_message.Message):
    __slots__ = ("metrics", "tools", "tools_changed")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    TOOLS_CHANGED_FIELD_NUMBER: _ClassVar[int]
    metrics: _common_pb2.AgentMetrics
    tools: _containers.RepeatedCompositeFieldContainer[_common_pb2.ToolCapability]
    tools_changed: bool
    def __init__(self, metrics: _Optional[_Union[_common_pb2.AgentMetrics, _Mapping]] = ..., tools: _Optional[_Iterable[_Union[_common_pb2.ToolCapability, _Mapping]]] = ..., tools_changed: _Optional[bool] = ...) -> None: ...

class TaskAccepted(_message.Message):
    __slots__ = ("attempt",)
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    attempt: AttemptRef
    def __init__(self, attempt: _Optional[_Union[AttemptRef, _Mapping]] = ...) -> None: ...

class TaskProgress(_message.Message):
    __slots__ = ("attempt", "events")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    attempt: AttemptRef
    events: _containers.RepeatedCompositeFieldContainer[_common_pb2.TaskEvent]
    def __init__(self, attempt: _Optional[_Union[AttemptRef, _Mapping]] = ..., events: _Optional[_Iterable[_Union[_common_pb2.TaskEvent, _Mapping]]] = ...) -> None: ...

class TaskResult(_message.Message):
    __slots__ = ("attempt", "ok", "outputs_json", "failure", "started_at", "finished_at")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    FAILURE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    FINISHED_AT_FIELD_NUMBER: _ClassVar[int]
    attempt: AttemptRef
    ok: bool
    outputs_json: str
    failure: _common_pb2.Failure
    started_at: float
    finished_at: float
    def __init__(self, attempt: _Optional[_Union[AttemptRef, _Mapping]] = ..., ok: _Optional[bool] = ..., outputs_json: _Optional[str] = ..., failure: _Optional[_Union[_common_pb2.Failure, _Mapping]] = ..., started_at: _Optional[float] = ..., finished_at: _Optional[float] = ...) -> None: ...

class RenewRequest(_message.Message):
    __slots__ = ("csr_pem",)
    CSR_PEM_FIELD_NUMBER: _ClassVar[int]
    csr_pem: bytes
    def __init__(self, csr_pem: _Optional[bytes] = ...) -> None: ...

class Welcome(_message.Message):
    __slots__ = ("agent_id", "heartbeat_interval_seconds", "server_time", "hub_version")
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SERVER_TIME_FIELD_NUMBER: _ClassVar[int]
    HUB_VERSION_FIELD_NUMBER: _ClassVar[int]
    agent_id: str
    heartbeat_interval_seconds: float
    server_time: float
    hub_version: str
    def __init__(self, agent_id: _Optional[str] = ..., heartbeat_interval_seconds: _Optional[float] = ..., server_time: _Optional[float] = ..., hub_version: _Optional[str] = ...) -> None: ...

class Assign(_message.Message):
    __slots__ = ("spec", "attempt", "secrets")
    class SecretsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SPEC_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    SECRETS_FIELD_NUMBER: _ClassVar[int]
    spec: _common_pb2.TaskSpec
    attempt: AttemptRef
    secrets: _containers.ScalarMap[str, str]
    def __init__(self, spec: _Optional[_Union[_common_pb2.TaskSpec, _Mapping]] = ..., attempt: _Optional[_Union[AttemptRef, _Mapping]] = ..., secrets: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Cancel(_message.Message):
    __slots__ = ("attempt", "reason")
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    attempt: AttemptRef
    reason: str
    def __init__(self, attempt: _Optional[_Union[AttemptRef, _Mapping]] = ..., reason: _Optional[str] = ...) -> None: ...

class Drain(_message.Message):
    __slots__ = ("draining",)
    DRAINING_FIELD_NUMBER: _ClassVar[int]
    draining: bool
    def __init__(self, draining: _Optional[bool] = ...) -> None: ...

class RenewResponse(_message.Message):
    __slots__ = ("certificate_pem", "error")
    CERTIFICATE_PEM_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    certificate_pem: bytes
    error: str
    def __init__(self, certificate_pem: _Optional[bytes] = ..., error: _Optional[str] = ...) -> None: ...

class ResultAck(_message.Message):
    __slots__ = ("attempt",)
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    attempt: AttemptRef
    def __init__(self, attempt: _Optional[_Union[AttemptRef, _Mapping]] = ...) -> None: ...
