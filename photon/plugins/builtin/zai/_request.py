"""What a chat request asks for: the input schema, and the JSON body built from a task's
checked inputs and the agent's settings.

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from ....errors import TaskFailed
from ....model import FailureClass
from ._failures import invalid

DEFAULT_MODEL: Final = "glm-4.6"

_MESSAGE_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "role": {"type": "string", "enum": ["system", "user", "assistant", "tool"]},
        "content": {"type": ["string", "array"]},
    },
    "required": ["role", "content"],
}
CHAT_SCHEMA: Final[Mapping[str, Any]] = {
    "type": "object",
    "properties": {
        "prompt": {"type": "string", "minLength": 1},
        "messages": {"type": "array", "minItems": 1, "items": _MESSAGE_SCHEMA},
        "model": {"type": "string", "minLength": 1},
        "system": {"type": "string"},
        "max_tokens": {"type": "integer", "minimum": 1},
        "temperature": {"type": "number", "minimum": 0},
        "thinking": {"type": "boolean"},
        "base_url": {"type": "string", "minLength": 1},
    },
    # "prompt or messages", worded so a validator names the missing field.
    "if": {"not": {"required": ["messages"]}},
    "then": {"required": ["prompt"]},
    "additionalProperties": False,
}


def request_body(inputs: Mapping[str, Any], settings: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON body of the request, from validated inputs.

    Raises TaskFailed (invalid_input) naming the input."""
    unknown = sorted(set(inputs) - set(CHAT_SCHEMA["properties"]))
    if unknown:
        raise invalid(f"unknown input(s): {', '.join(unknown)}")
    prompt = inputs.get("prompt")
    history = inputs.get("messages")
    if prompt is None and history is None:
        raise invalid("input 'prompt' or 'messages' is required")
    if prompt is not None and not (isinstance(prompt, str) and prompt):
        raise invalid("input 'prompt' must be a non-empty string")
    messages: list[dict[str, Any]] = []
    system = inputs.get("system")
    if system is not None:
        if not isinstance(system, str):
            raise invalid("input 'system' must be a string")
        messages.append({"role": "system", "content": system})
    if history is not None:
        if not (isinstance(history, list) and history):
            raise invalid("input 'messages' must be a non-empty list of {role, content}")
        for index, message in enumerate(history):
            messages.append(_message(index, message))
    if prompt is not None:
        messages.append({"role": "user", "content": prompt})

    model = inputs.get("model", settings.get("model") or DEFAULT_MODEL)
    if not (isinstance(model, str) and model):
        raise invalid("input 'model' must be a non-empty string")
    body: dict[str, Any] = {"model": model, "messages": messages, "stream": True}
    max_tokens = inputs.get("max_tokens")
    if max_tokens is not None:
        if not (_is_number(max_tokens) and isinstance(max_tokens, int) and max_tokens >= 1):
            raise invalid("input 'max_tokens' must be a positive integer")
        body["max_tokens"] = max_tokens
    temperature = inputs.get("temperature")
    if temperature is not None:
        if not (_is_number(temperature) and temperature >= 0):
            raise invalid("input 'temperature' must be a non-negative number")
        body["temperature"] = temperature
    thinking = inputs.get("thinking")
    if thinking is not None:
        if not isinstance(thinking, bool):
            raise invalid("input 'thinking' must be true or false")
        body["thinking"] = {"type": "enabled" if thinking else "disabled"}
    return body


def _message(index: int, message: object) -> dict[str, Any]:
    where = f"input 'messages[{index}]'"
    if not isinstance(message, Mapping):
        raise invalid(f"{where} must be an object with 'role' and 'content'")
    role = message.get("role")
    if role not in _MESSAGE_SCHEMA["properties"]["role"]["enum"]:
        raise invalid(f"{where}: 'role' must be one of system, user, assistant, tool")
    if not isinstance(message.get("content"), str | list):
        raise invalid(f"{where}: 'content' must be a string or a list of parts")
    return dict(message)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def seconds(settings: Mapping[str, Any], name: str, default: float) -> float:
    """A timeout setting; raises TaskFailed (tool_error: the agent's config is wrong)."""
    value = settings.get(name, default)
    if not (_is_number(value) and value > 0):
        raise TaskFailed(
            f"zai: setting {name!r} must be a positive number of seconds",
            failure_class=FailureClass.TOOL_ERROR,
        )
    return float(value)
