"""The `http` tool: one HTTP(S) request per task, with the standard library only.

Inside, imports go one way: each module below imports only modules listed after it.

    _plugin     the adapter: checks the task, runs the fetch in a thread, stops it on cancel
    _fetch      urllib over sockets the event loop can shut down; foreign errors classified
                (imported at the first request: http.client and urllib stay out of an idle agent)
    _response   the response as read, its outputs, and the failure a status means
    _policy     which addresses may be connected to: the agent's settings, the verdict on one
    _request    the limits, the input schema and the request checked from a task's inputs
"""

from ._plugin import HttpPlugin as HttpPlugin
from ._request import DEFAULT_TIMEOUT as DEFAULT_TIMEOUT
from ._request import MAX_BODY_BYTES as MAX_BODY_BYTES
from ._request import MAX_REDIRECTS as MAX_REDIRECTS
from ._request import MAX_TIMEOUT as MAX_TIMEOUT

__all__ = ["DEFAULT_TIMEOUT", "MAX_BODY_BYTES", "MAX_REDIRECTS", "MAX_TIMEOUT", "HttpPlugin"]
