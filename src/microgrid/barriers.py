"""The kinds of barrier line and their ranks: which lines grid boundaries should follow first.

Ground floor: imported by the input checks, the OpenStreetMap reader and the
maps, so each ranks a line the same way.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["BARRIER_RANKS", "UNKNOWN_RANK", "rank_of"]

#: Rank of a barrier kind: 1 = strongest line (main road, river, railway, wall),
#: 4 = weakest (footpath). Unknown kinds get rank 3. Values of OSM ``highway``
#: are understood too.
BARRIER_RANKS: dict[str, int] = {
    **dict.fromkeys(
        "main motorway motorway_link trunk trunk_link primary primary_link secondary "
        "secondary_link river canal railway rail wall water".split(),
        1,
    ),
    **dict.fromkeys(
        "road street tertiary tertiary_link residential unclassified stream ditch fence".split(),
        2,
    ),
    **dict.fromkeys("lane alley service living_street driveway".split(), 3),
    **dict.fromkeys(
        "footpath footway path steps cycleway pedestrian track bridleway platform corridor construction".split(),
        4,
    ),
}

#: The rank of a kind not in :data:`BARRIER_RANKS` (a lane).
UNKNOWN_RANK = 3


def rank_of(kinds: pd.Series) -> np.ndarray:
    """The rank of each barrier kind (case and surrounding spaces ignored; unknown kinds and missing values 3).

    Examples
    --------
    >>> rank_of(pd.Series(["Primary", " footway", "canal", None, "goat track"])).tolist()
    [1, 4, 1, 3, 3]
    """
    s = kinds.astype("string").str.strip().str.lower()
    return s.map(lambda k: BARRIER_RANKS.get(k, UNKNOWN_RANK) if isinstance(k, str) else UNKNOWN_RANK).to_numpy(int)
