"""Teams: staff every grid with the configured composition at least total home-to-grid distance.

Field practice staffs each micro-grid with "1 party-member leader + 3 grid
workers + 2 volunteers". For each role, every grid has that many slots; people
of the role are matched to slots by a min-cost assignment
(:func:`scipy.optimize.linear_sum_assignment`) on the distance from their home
to the grid (0 when they live inside it, so residents are preferred). Slots
left empty are reported per grid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import shapely
from scipy.optimize import linear_sum_assignment

from ._types import LayerSource
from .crs import metric_crs_for
from .errors import InputError
from .io import read_layer

__all__ = ["assign_teams", "Teams", "DEFAULT_COMPOSITION"]

#: 1 party-member leader + 3 grid workers + 2 volunteers per grid.
DEFAULT_COMPOSITION = {"leader": 1, "worker": 3, "volunteer": 2}


@dataclass(frozen=True)
class Teams:
    """Result of :func:`assign_teams`.

    Attributes
    ----------
    members : DataFrame
        One row per assigned person: ``grid_id``, ``role``, ``person_id``,
        ``distance_m`` (0 when living inside the grid).
    shortfalls : DataFrame
        One row per grid and role that could not be filled: ``grid_id``,
        ``role``, ``missing``.
    unassigned : list
        Ids of people not needed in any slot.
    total_distance_m : float
    """

    members: pd.DataFrame
    shortfalls: pd.DataFrame
    unassigned: list
    total_distance_m: float


def assign_teams(
    grids: LayerSource,
    people: LayerSource,
    *,
    composition: dict | None = None,
    role_col: str = "role",
    id_col: str = "person_id",
    grid_id_col: str = "grid_id",
) -> Teams:
    """Assign people to grid teams minimizing the total home-to-grid distance.

    Parameters
    ----------
    grids : GeoDataFrame or path
        Grid polygons with ``grid_id_col``.
    people : GeoDataFrame or path
        Home points with ``id_col`` and ``role_col`` (e.g. leader, worker,
        volunteer).
    composition : dict, optional
        Slots per grid and role; default :data:`DEFAULT_COMPOSITION`.

    Returns
    -------
    Teams

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_id": [1, 2]},
    ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs=32650)
    >>> p = gpd.GeoDataFrame({"person_id": ["a", "b"], "role": ["leader", "leader"]},
    ...     geometry=[shapely.Point(15, 5), shapely.Point(5, 5)], crs=32650)
    >>> t = assign_teams(g, p, composition={"leader": 1})
    >>> sorted(zip(t.members["grid_id"], t.members["person_id"]))
    [(1, 'b'), (2, 'a')]
    """
    composition = dict(DEFAULT_COMPOSITION if composition is None else composition)
    if any((not isinstance(v, (int, np.integer))) or v < 0 for v in composition.values()):
        raise InputError(f"composition needs whole numbers >= 0 per role, got {composition}")
    g = read_layer(grids, what="grids")
    p = read_layer(people, what="people")
    problems = []
    for col, gdf, what in ((grid_id_col, g, "grids"), (id_col, p, "people"), (role_col, p, "people")):
        if col not in gdf.columns:
            problems.append(f"{what} have no column {col!r} (columns: {', '.join(map(str, gdf.columns))})")
    if g.crs is None or p.crs is None:
        problems.append("grids and people need a CRS")
    if problems:
        raise InputError(problems)
    if p[id_col].duplicated().any():
        dup = sorted(set(p.loc[p[id_col].duplicated(), id_col].tolist()), key=str)
        raise InputError(f"duplicate person ids {dup[:10]}; give every person a unique id")
    work = metric_crs_for(g)
    gw, pw = g.to_crs(work), p.to_crs(work)
    geoms = gw.geometry.to_numpy()
    gids = gw[grid_id_col].tolist()
    rows: list = []
    short: list = []
    used: set = set()
    total = 0.0
    for role in sorted(composition):
        n_slots = composition[role]
        if n_slots == 0:
            continue
        cand = pw[pw[role_col].astype(str) == role]
        slot_grid = np.repeat(np.arange(len(gids)), n_slots)
        if len(cand) == 0:
            short.extend({"grid_id": gid, "role": role, "missing": n_slots} for gid in gids)
            continue
        homes = cand.geometry.to_numpy()
        d = shapely.distance(homes[:, None], geoms[None, :])  # people x grids
        cost = d[:, slot_grid]
        pi, si = linear_sum_assignment(cost)
        filled = np.zeros(len(slot_grid), bool)
        filled[si] = True
        for a_, b_ in zip(pi, si):
            gi = slot_grid[b_]
            rows.append(
                {"grid_id": gids[gi], "role": role, "person_id": cand[id_col].iloc[a_], "distance_m": float(d[a_, gi])}
            )
            used.add(cand[id_col].iloc[a_])
            total += float(d[a_, gi])
        missing = np.bincount(slot_grid[~filled], minlength=len(gids))
        short.extend({"grid_id": gids[i], "role": role, "missing": int(m)} for i, m in enumerate(missing) if m)
    members = pd.DataFrame(rows, columns=["grid_id", "role", "person_id", "distance_m"])
    shortfalls = pd.DataFrame(short, columns=["grid_id", "role", "missing"])
    unassigned = [x for x in p[id_col].tolist() if x not in used]
    return Teams(members=members, shortfalls=shortfalls, unassigned=unassigned, total_distance_m=total)
