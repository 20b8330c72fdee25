"""Workflows: the file format, the DAG's rules, and the engine that runs steps as tasks."""

from ._dag import StepKey as StepKey
from ._engine import Snapshot as Snapshot
from ._engine import WorkflowEngine as WorkflowEngine
from ._spec import StepSpec as StepSpec
from ._spec import WorkflowSpec as WorkflowSpec
from ._spec import parse_workflow as parse_workflow

__all__ = ["Snapshot", "StepKey", "StepSpec", "WorkflowEngine", "WorkflowSpec", "parse_workflow"]
