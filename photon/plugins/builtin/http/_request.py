"""What the `http` tool is asked to send: its limits, its input schema and the checked request.

Pure and light (no network code): the plugin imports it at agent start.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from ....errors import TaskFailed
from ....model import FailureClass

MAX_BODY_BYTES: Final = 1024 * 1024
DEFAULT_TIMEOUT: Final = 30
MAX_TIMEOUT: Final = 300
MAX_REDIRECTS: Final = 10
_METHOD = re.compile(r"[A-Za-z]{1,20}")

REQUEST_SCHEMA: Final = {
    "type": "object",
    "properties": {
        "url": {"type": "string", "pattern": "^[Hh][Tt][Tt][Pp][Ss]?://"},
        "method": {"type": "string", "pattern": "^[A-Za-z]{1,20}$", "default": "GET"},
        "headers": {"type": "object", "additionalProperties": {"type": "string"}},
        "body": {"type": "string"},
        "json": {"description": "Sent as the JSON body, with Content-Type application/json"},
        "timeout": {
            "type": "number",
            "exclusiveMinimum": 0,
            "maximum": MAX_TIMEOUT,
            "default": DEFAULT_TIMEOUT,
        },
        "fail_on_status": {"type": "boolean", "default": False},
        "follow_redirects": {"type": "boolean", "default": True},
    },
    "required": ["url"],
    "additionalProperties": False,
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    url: str
    method: str
    headers: Mapping[str, str]
    body: bytes | None
    timeout: float
    fail_on_status: bool
    follow_redirects: bool

    @classmethod
    def from_inputs(cls, inputs: Mapping[str, Any]) -> Request:
        """Raises TaskFailed (invalid_input) naming the input."""
        url = inputs.get("url")
        if not isinstance(url, str) or not url:
            raise invalid("input 'url' must be a non-empty string")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in {"http", "https"} or not parts.hostname:
            raise invalid(f"input 'url' must be an http:// or https:// URL with a host: {url}")
        method = inputs.get("method", "GET")
        if not isinstance(method, str) or not _METHOD.fullmatch(method):
            raise invalid("input 'method' must be an HTTP method such as GET or POST")
        headers = inputs.get("headers", {})
        if not isinstance(headers, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise invalid("input 'headers' must be an object of strings")
        if any(_has_line_break(k) or _has_line_break(v) for k, v in headers.items()):
            raise invalid("input 'headers' must not contain line breaks")
        headers = dict(headers)
        if "body" in inputs and "json" in inputs:
            raise invalid("inputs 'body' and 'json' cannot both be given")
        body: bytes | None = None
        if "body" in inputs:
            if not isinstance(inputs["body"], str):
                raise invalid("input 'body' must be a string (use 'json' for structured data)")
            body = inputs["body"].encode()
        elif "json" in inputs:
            try:
                body = json.dumps(inputs["json"], allow_nan=False).encode()
            except (TypeError, ValueError) as exc:
                raise invalid(f"input 'json' cannot be sent as JSON: {exc}") from None
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json"
        timeout = inputs.get("timeout", DEFAULT_TIMEOUT)
        if (
            not isinstance(timeout, int | float)
            or isinstance(timeout, bool)
            or not 0 < timeout <= MAX_TIMEOUT
        ):
            raise invalid(f"input 'timeout' must be a number of seconds in (0, {MAX_TIMEOUT:g}]")
        return cls(
            url=url,
            method=method.upper(),
            headers=headers,
            body=body,
            timeout=float(timeout),
            fail_on_status=_flag(inputs, "fail_on_status", False),
            follow_redirects=_flag(inputs, "follow_redirects", True),
        )

    @property
    def what(self) -> str:
        """The request as failure messages and logs name it: `GET https://...`."""
        return f"{self.method} {self.url}"


def _has_line_break(text: str) -> bool:
    return "\r" in text or "\n" in text


def _flag(inputs: Mapping[str, Any], key: str, default: bool) -> bool:
    value = inputs.get(key, default)
    if not isinstance(value, bool):
        raise invalid(f"input {key!r} must be true or false")
    return value


def invalid(message: str) -> TaskFailed:
    """The failure for inputs the request cannot be made from."""
    return TaskFailed(message, failure_class=FailureClass.INVALID_INPUT)


def tool_error(what: str, detail: str) -> TaskFailed:
    """The failure for a server that cannot be reached or breaks the protocol."""
    return TaskFailed(f"http: {what}: {detail}", failure_class=FailureClass.TOOL_ERROR)
