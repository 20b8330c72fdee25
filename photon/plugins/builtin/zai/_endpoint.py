"""Where a chat request goes and with which key: the plans' endpoints, the configured or
overridden base URL, the API key, and the redaction that keeps that key out of what leaves
the plugin.

Pure: reads the mappings it is given, never the process environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

from ....errors import TaskFailed
from ....model import FailureClass
from ..._api import TaskContext
from ._failures import invalid

PLANS: Final[Mapping[str, str]] = {
    "general": "https://api.z.ai/api/paas/v4/",
    "coding": "https://api.z.ai/api/coding/paas/v4/",
    "mainland": "https://open.bigmodel.cn/api/paas/v4/",
}
KEY_NAME: Final = "ZAI_API_KEY"
BASE_URL_ENV: Final = "PHOTON_ZAI_BASE_URL"
# A task's `base_url` input may only pick another endpoint on these hosts (or on the configured
# endpoint's host): the request carries the agent's key, which must not go to a host a task names.
_ZAI_HOSTS: Final = frozenset({"api.z.ai", "open.bigmodel.cn"})


@dataclass(frozen=True, slots=True, kw_only=True)
class Endpoint:
    tls: bool
    host: str
    port: int
    path: str  # of the chat completions resource

    @property
    def netloc(self) -> str:
        default = 443 if self.tls else 80
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == default else f"{host}:{self.port}"


def _parse_url(url: str) -> Endpoint | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        return None
    if not header_safe(parts.path) or " " in parts.path:
        return None  # it goes into the request line as it is
    tls = parts.scheme == "https"
    return Endpoint(
        tls=tls,
        host=parts.hostname,
        port=port or (443 if tls else 80),
        path=parts.path.rstrip("/") + "/chat/completions",
    )


def endpoint_for(
    inputs: Mapping[str, Any], settings: Mapping[str, Any], environ: Mapping[str, str]
) -> Endpoint:
    """Where to send the request: settings, then the environment, then the general plan.

    Raises TaskFailed: `tool_error` for a bad configured URL or plan, `invalid_input` for a
    `base_url` input that is not an allowed host."""
    configured = settings.get("base_url")
    if configured is None and "plan" in settings:
        plan = settings["plan"]
        if plan not in PLANS:
            raise TaskFailed(
                f"zai: setting 'plan' must be one of {', '.join(PLANS)}, not {plan!r}",
                failure_class=FailureClass.TOOL_ERROR,
            )
        configured = PLANS[plan]
    if configured is None:
        configured = environ.get(BASE_URL_ENV) or PLANS["general"]
    base = _parse_url(str(configured))
    if base is None:
        raise TaskFailed(
            f"zai: base URL {configured!r} is not an http(s) URL",
            failure_class=FailureClass.TOOL_ERROR,
        )
    wanted = inputs.get("base_url")
    if wanted is None:
        return base
    override = _parse_url(wanted) if isinstance(wanted, str) else None
    if override is None:
        raise invalid("input 'base_url' must be an http(s) URL")
    if (override.tls and override.host in _ZAI_HOSTS) or (
        (override.tls, override.host, override.port) == (base.tls, base.host, base.port)
    ):
        return override
    raise invalid(
        "input 'base_url' must be an https URL on api.z.ai or open.bigmodel.cn,"
        " or on the configured endpoint's host"
    )


def api_key(ctx: TaskContext, environ: Mapping[str, str]) -> str:
    """The task's secret ZAI_API_KEY, else the configured environment variable.

    Raises TaskFailed (auth) when there is none, or it cannot go into a header."""
    variable = ctx.settings.get("api_key_env") or KEY_NAME
    key = ctx.secrets.get(KEY_NAME) or environ.get(str(variable))
    if key:
        if not header_safe(key):
            raise TaskFailed(
                f"zai: the {KEY_NAME} value has characters an HTTP header cannot carry",
                failure_class=FailureClass.AUTH,
            )
        return key
    raise TaskFailed(
        f"zai: {KEY_NAME} not set (no task secret {KEY_NAME}, no ${variable} on the agent)",
        failure_class=FailureClass.AUTH,
    )


def header_safe(text: str) -> bool:
    return text.isascii() and text.isprintable()


class Redactor:
    """Removes the API key from any text that leaves the plugin (it is not always a task
    secret, so the context's own masking may not know it)."""

    def __init__(self, key: str) -> None:
        self._key = key

    def __call__(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text
