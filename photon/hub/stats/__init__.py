"""What the hub counts as it works (plain numbers; the http port exports them)."""

from ._histogram import Histogram as Histogram
from ._stats import OTHER as OTHER
from ._stats import HubStats as HubStats
from ._stats import outcome as outcome

__all__ = ["OTHER", "Histogram", "HubStats", "outcome"]
