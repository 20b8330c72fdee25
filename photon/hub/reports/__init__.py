"""Reports over the hub's records: what tasks spent, grouped (pure functions, no I/O)."""

from ._cost import NONE as NONE
from ._cost import TOTAL as TOTAL
from ._cost import CostBy as CostBy
from ._cost import CostRow as CostRow
from ._cost import cost_rows as cost_rows
from ._cost import day_of as day_of
from ._cost import total as total

__all__ = ["NONE", "TOTAL", "CostBy", "CostRow", "cost_rows", "day_of", "total"]
