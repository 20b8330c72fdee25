"""The `zai` tool: one chat completion from Z.AI (GLM) over HTTPS, streamed as server-sent events.

The agent stays light, so this speaks just enough HTTP/1.1 over asyncio streams: one POST per
task on its own connection (`Connection: close`), a chunked, length-delimited or close-delimited
response body, and an SSE decoder on top.

Inside, imports go one way: each module below imports only modules listed after it.

    _plugin     the adapter: a task's request, run until it ends, is cancelled or times out
    _exchange   the connection and its I/O: send, read the head, stream the body into events
    _http11     the request's bytes and the response body's framing
    _request    the JSON body from a task's inputs and the agent's settings
    _endpoint   where the request goes and with which key; keeping the key out of messages
    _reply      what the stream delivered: answer, reasoning, token usage; the task's outputs
    _sse        server-sent events, and the chat chunk each one carries
    _failures   error codes, statuses, finish reasons and socket errors as failure classes
"""

from ._endpoint import BASE_URL_ENV as BASE_URL_ENV
from ._endpoint import KEY_NAME as KEY_NAME
from ._endpoint import PLANS as PLANS
from ._plugin import ZaiPlugin as ZaiPlugin
from ._request import CHAT_SCHEMA as CHAT_SCHEMA
from ._request import DEFAULT_MODEL as DEFAULT_MODEL

__all__ = ["BASE_URL_ENV", "CHAT_SCHEMA", "DEFAULT_MODEL", "KEY_NAME", "PLANS", "ZaiPlugin"]
