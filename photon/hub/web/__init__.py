"""The web edge: the http port's health probes and metrics."""

from ._metrics import HubMetrics as HubMetrics
from ._server import WebServer as WebServer

__all__ = ["HubMetrics", "WebServer"]
