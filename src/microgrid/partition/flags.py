"""Why a grid is flagged, and why bounds cannot be met: enums, never string prefixes."""

from __future__ import annotations

from enum import Enum

__all__ = ["Cause", "Flag"]


class _Text(str, Enum):
    def __str__(self) -> str:  # the value, as in JSON and messages
        return str(self.value)


class Cause(_Text):
    """Why the bounds cannot be met (``InfeasibleError.cause``); compares equal to its text.

    Examples
    --------
    >>> Cause.NO_CUT == "no_cut", str(Cause.HEAVY_SITE)
    (True, 'heavy_site')
    """

    HEAVY_SITE = "heavy_site"  #: a site heavier than max that may not be divided
    NO_GRID_COUNT = "no_grid_count"  #: no whole number of grids fits a connected part
    NO_CUT = "no_cut"  #: no connected division into grids within the bounds was found
    SMALL_PART = "small_part"  #: a part lighter than min is cut off from the rest
    EMPTY_PARENT = "empty_parent"  #: a parent area too light for one grid
    LOCKED = "locked"  #: a locked grid is out of bounds, or a pin would change it
    PINNED = "pinned"  #: households pinned to one grid cannot all be held by it within the bounds


class Flag(_Text):
    """Why a grid breaks a rule it was allowed to break (``on_infeasible="flag"``)."""

    FORCED = "forced"  #: one site (or landmark kept whole) holds more than max persons
    ABSORBED = "absorbed"  #: it took in a part too light to be a grid of its own
    DETACHED = "detached"  #: it includes a part with no neighbour (island, exclave)
    BELOW_MIN = "below_min"  #: all persons together are fewer than min
    OUT_OF_BOUNDS = "out_of_bounds"  #: no plan within the bounds exists for its part of the map
