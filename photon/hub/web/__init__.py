"""The web edge: the http port's health probes, metrics and the Mission Control dashboard."""

from ._metrics import HubMetrics as HubMetrics
from ._parts import DashboardParts as DashboardParts
from ._server import WebServer as WebServer

__all__ = ["DashboardParts", "HubMetrics", "WebServer"]
