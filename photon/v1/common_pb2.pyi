from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class TaskState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TASK_STATE_UNSPECIFIED: _ClassVar[TaskState]
    TASK_STATE_WAITING: _ClassVar[TaskState]
    TASK_STATE_QUEUED: _ClassVar[TaskState]
    TASK_STATE_ASSIGNED: _ClassVar[TaskState]
    TASK_STATE_RUNNING: _ClassVar[TaskState]
    TASK_STATE_RETRY_WAIT: _ClassVar[TaskState]
    TASK_STATE_SUCCEEDED: _ClassVar[TaskState]
    TASK_STATE_FAILED: _ClassVar[TaskState]
    TASK_STATE_CANCELLED: _ClassVar[TaskState]
    TASK_STATE_TIMED_OUT: _ClassVar[TaskState]

class FailureClass(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    FAILURE_CLASS_UNSPECIFIED: _ClassVar[FailureClass]
    FAILURE_CLASS_AGENT_LOST: _ClassVar[FailureClass]
    FAILURE_CLASS_TIMEOUT: _ClassVar[FailureClass]
    FAILURE_CLASS_CANCELLED: _ClassVar[FailureClass]
    FAILURE_CLASS_TOOL_MISSING: _ClassVar[FailureClass]
    FAILURE_CLASS_AUTH: _ClassVar[FailureClass]
    FAILURE_CLASS_QUOTA: _ClassVar[FailureClass]
    FAILURE_CLASS_TOOL_ERROR: _ClassVar[FailureClass]
    FAILURE_CLASS_INVALID_INPUT: _ClassVar[FailureClass]
TASK_STATE_UNSPECIFIED: TaskState
TASK_STATE_WAITING: TaskState
TASK_STATE_QUEUED: TaskState
TASK_STATE_ASSIGNED: TaskState
TASK_STATE_RUNNING: TaskState
TASK_STATE_RETRY_WAIT: TaskState
TASK_STATE_SUCCEEDED: TaskState
TASK_STATE_FAILED: TaskState
TASK_STATE_CANCELLED: TaskState
TASK_STATE_TIMED_OUT: TaskState
FAILURE_CLASS_UNSPECIFIED: FailureClass
FAILURE_CLASS_AGENT_LOST: FailureClass
FAILURE_CLASS_TIMEOUT: FailureClass
FAILURE_CLASS_CANCELLED: FailureClass
FAILURE_CLASS_TOOL_MISSING: FailureClass
FAILURE_CLASS_AUTH: FailureClass
FAILURE_CLASS_QUOTA: FailureClass
FAILURE_CLASS_TOOL_ERROR: FailureClass
FAILURE_CLASS_INVALID_INPUT: FailureClass

class RetryPolicy(_message.Message):
    __slots__ = ("max_attempts", "initial_backoff_seconds", "backoff_multiplier", "max_backoff_seconds")
    MAX_ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    INITIAL_BACKOFF_SECONDS_FIELD_NUMBER: _ClassVar[int]
    BACKOFF_MULTIPLIER_FIELD_NUMBER: _ClassVar[int]
    MAX_BACKOFF_SECONDS_FIELD_NUMBER: _ClassVar[int]
    max_attempts: int
    initial_backoff_seconds: float
    backoff_multiplier: float
    max_backoff_seconds: float
    def __init__(self, max_attempts: _Optional[int] = ..., initial_backoff_seconds: _Optional[float] = ..., backoff_multiplier: _Optional[float] = ..., max_backoff_seconds: _Optional[float] = ...) -> None: ...

class TaskSpec(_message.Message):
    __slots__ = ("id", "tool", "action", "inputs_json", "selector", "agent", "priority", "timeout_seconds", "queue_timeout_seconds", "retry", "idempotency_key", "locks", "env", "labels", "continue_from", "fallback", "budget_usd", "workspace")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ID_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    INPUTS_JSON_FIELD_NUMBER: _ClassVar[int]
    SELECTOR_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    PRIORITY_FIELD_NUMBER: _ClassVar[int]
    TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    QUEUE_TIMEOUT_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RETRY_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENCY_KEY_FIELD_NUMBER: _ClassVar[int]
    LOCKS_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    CONTINUE_FROM_FIELD_NUMBER: _ClassVar[int]
    FALLBACK_FIELD_NUMBER: _ClassVar[int]
    BUDGET_USD_FIELD_NUMBER: _ClassVar[int]
    WORKSPACE_FIELD_NUMBER: _ClassVar[int]
    id: str
    tool: str
    action: str
    inputs_json: str
    selector: str
    agent: str
    priority: int
    timeout_seconds: float
    queue_timeout_seconds: float
    retry: RetryPolicy
    idempotency_key: str
    locks: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    labels: _containers.ScalarMap[str, str]
    continue_from: str
    fallback: _containers.RepeatedScalarFieldContainer[str]
    budget_usd: float
    workspace: WorkspaceSpec
    def __init__(self, id: _Optional[str] = ..., tool: _Optional[str] = ..., action: _Optional[str] = ..., inputs_json: _Optional[str] = ..., selector: _Optional[str] = ..., agent: _Optional[str] = ..., priority: _Optional[int] = ..., timeout_seconds: _Optional[float] = ..., queue_timeout_seconds: _Optional[float] = ..., retry: _Optional[_Union[RetryPolicy, _Mapping]] = ..., idempotency_key: _Optional[str] = ..., locks: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., labels: _Optional[_Mapping[str, str]] = ..., continue_from: _Optional[str] = ..., fallback: _Optional[_Iterable[str]] = ..., budget_usd: _Optional[float] = ..., workspace: _Optional[_Union[WorkspaceSpec, _Mapping]] = ...) -> None: ...

class WorkspaceSpec(_message.Message):
    __slots__ = ("repo", "ref", "isolate")
    REPO_FIELD_NUMBER: _ClassVar[int]
    REF_FIELD_NUMBER: _ClassVar[int]
    ISOLATE_FIELD_NUMBER: _ClassVar[int]
    repo: str
    ref: str
    isolate: str
    def __init__(self, repo: _Optional[str] = ..., ref: _Optional[str] = ..., isolate: _Optional[str] = ...) -> None: ...

class Failure(_message.Message):
    __slots__ = ("failure_class", "message", "retry_at")
    FAILURE_CLASS_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    RETRY_AT_FIELD_NUMBER: _ClassVar[int]
    failure_class: FailureClass
    message: str
    retry_at: float
    def __init__(self, failure_class: _Optional[_Union[FailureClass, str]] = ..., message: _Optional[str] = ..., retry_at: _Optional[float] = ...) -> None: ...

class TaskEvent(_message.Message):
    __slots__ = ("seq", "attempt", "kind", "message", "data_json", "time")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DATA_JSON_FIELD_NUMBER: _ClassVar[int]
    TIME_FIELD_NUMBER: _ClassVar[int]
    seq: int
    attempt: int
    kind: str
    message: str
    data_json: str
    time: float
    def __init__(self, seq: _Optional[int] = ..., attempt: _Optional[int] = ..., kind: _Optional[str] = ..., message: _Optional[str] = ..., data_json: _Optional[str] = ..., time: _Optional[float] = ...) -> None: ...

class ToolAction(_message.Message):
    __slots__ = ("name", "description", "input_schema_json")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    input_schema_json: str
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., input_schema_json: _Optional[str] = ...) -> None: ...

class ToolCapability(_message.Message):
    __slots__ = ("name", "version", "actions", "default_action", "available", "enabled", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    DEFAULT_ACTION_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: str
    actions: _containers.RepeatedCompositeFieldContainer[ToolAction]
    default_action: str
    available: bool
    enabled: bool
    detail: str
    def __init__(self, name: _Optional[str] = ..., version: _Optional[str] = ..., actions: _Optional[_Iterable[_Union[ToolAction, _Mapping]]] = ..., default_action: _Optional[str] = ..., available: _Optional[bool] = ..., enabled: _Optional[bool] = ..., detail: _Optional[str] = ...) -> None: ...

class AgentMetrics(_message.Message):
    __slots__ = ("cpu_percent", "memory_percent", "memory_used_bytes", "memory_total_bytes", "load1", "load5", "load15", "disk_percent", "disk_free_bytes", "running_tasks", "free_slots")
    CPU_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_PERCENT_FIELD_NUMBER: _ClassVar[int]
    MEMORY_USED_BYTES_FIELD_NUMBER: _ClassVar[int]
    MEMORY_TOTAL_BYTES_FIELD_NUMBER: _ClassVar[int]
    LOAD1_FIELD_NUMBER: _ClassVar[int]
    LOAD5_FIELD_NUMBER: _ClassVar[int]
    LOAD15_FIELD_NUMBER: _ClassVar[int]
    DISK_PERCENT_FIELD_NUMBER: _ClassVar[int]
    DISK_FREE_BYTES_FIELD_NUMBER: _ClassVar[int]
    RUNNING_TASKS_FIELD_NUMBER: _ClassVar[int]
    FREE_SLOTS_FIELD_NUMBER: _ClassVar[int]
    cpu_percent: float
    memory_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    load1: float
    load5: float
    load15: float
    disk_percent: float
    disk_free_bytes: int
    running_tasks: int
    free_slots: int
    def __init__(self, cpu_percent: _Optional[float] = ..., memory_percent: _Optional[float] = ..., memory_used_bytes: _Optional[int] = ..., memory_total_bytes: _Optional[int] = ..., load1: _Optional[float] = ..., load5: _Optional[float] = ..., load15: _Optional[float] = ..., disk_percent: _Optional[float] = ..., disk_free_bytes: _Optional[int] = ..., running_tasks: _Optional[int] = ..., free_slots: _Optional[int] = ...) -> None: ...
