"""A sample PHOTON tool plugin: the `hello` tool greets people."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from photon.errors import TaskFailed
from photon.model import FailureClass
from photon.plugins import PLUGIN_API_VERSION, Action, Detection, TaskContext

__all__ = ["HelloPlugin"]

_GREET_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"name": {"type": "string", "minLength": 1, "description": "Who to greet"}},
    "required": ["name"],
    "additionalProperties": False,
}


class HelloPlugin:
    """Action `greet`: input `name` -> output `greeting` ("Hello, NAME!").

    Agent settings ([tools.hello] in agent.toml): `greeting`, the word to use instead of "Hello".
    """

    name = "hello"  # the tool name tasks use; must equal the entry-point name
    version = "0.1.0"
    api_version = PLUGIN_API_VERSION  # the contract this was written against
    actions = (Action(name="greet", description="Greet someone", input_schema=_GREET_SCHEMA),)
    default_action = "greet"
    enabled_by_default = True

    async def detect(self) -> Detection:
        # Nothing to find on this host; a wrapper for a CLI would look for its binary here.
        return Detection(available=True, version=self.version)

    async def run(self, ctx: TaskContext) -> Mapping[str, Any]:
        """Raises TaskFailed: `invalid_input` when `name` is missing or not a string,
        `cancelled` when the task was cancelled before it started."""
        # A task can be cancelled before its attempt starts: stop, as the contract asks. A
        # plugin that waits on something would also watch ctx.cancelled and ctx.deadline.
        if ctx.cancelled.is_set():
            raise TaskFailed("hello: cancelled", failure_class=FailureClass.CANCELLED)
        name = ctx.inputs.get("name")
        if not isinstance(name, str) or not name.strip():
            raise TaskFailed(
                "input 'name' must be a non-empty string", failure_class=FailureClass.INVALID_INPUT
            )
        word = str(ctx.settings.get("greeting", "Hello"))
        ctx.emit("log", f"greeting {name}")
        return {"greeting": f"{word}, {name}!"}
