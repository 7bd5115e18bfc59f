"""Route points (field events, new households) to the grid responsible for them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._types import CRSLike, LayerSource
from .errors import InputError
from .inputs import adopt_crs
from .io import read_layer

if TYPE_CHECKING:
    from .plan import Plan

__all__ = ["locate"]


def locate(
    plan: Plan | LayerSource,
    points: LayerSource | np.ndarray | Sequence[shapely.Geometry],
    *,
    grid_id_col: str = "grid_id",
    crs: CRSLike = None,
) -> pd.DataFrame:
    """Grid id and code of every point, vectorized.

    Parameters
    ----------
    plan : Plan, GeoDataFrame or path
        A plan (its ``grids``), a grid layer, or a plan GeoPackage.
    points : GeoDataFrame, GeoSeries, array of Points or path
        The points to locate; their CRS is converted to the grids' CRS.
    grid_id_col : str
        Grid id column.
    crs : pyproj.CRS, str or int, optional
        CRS of points that carry none (default: the grids' CRS).

    Returns
    -------
    DataFrame
        On the points' index: ``grid_id``, ``code`` (when the grids have
        codes) and ``stack_id`` (stacked grids: the point lies in the shared
        polygon of the stack). ``grid_id`` is missing for points in no grid;
        a point exactly on a shared edge goes to the grid listed first.

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_id": [1, 2], "code": ["a", "b"]},
    ...     geometry=[shapely.box(0, 0, 10, 10), shapely.box(10, 0, 20, 10)], crs=32650)
    >>> locate(g, shapely.points([(5, 5), (15, 5), (50, 50)]))["grid_id"].tolist()
    [1.0, 2.0, nan]
    """
    grids = getattr(plan, "grids", None)
    if grids is None:
        grids = read_layer(plan, layer="grids", what="grids") if not isinstance(plan, gpd.GeoDataFrame) else plan
    if grid_id_col not in grids.columns:
        raise InputError(f"grids have no column {grid_id_col!r}")
    if isinstance(points, (np.ndarray, list)):
        points = gpd.GeoSeries(np.asarray(points, dtype=object), crs=crs or grids.crs)
    pts = read_layer(points, what="points")
    pts = adopt_crs(pts, grids)
    if pts.crs is None:
        if crs is None and grids.crs is not None:
            pts = pts.set_crs(grids.crs)
        elif crs is not None:
            pts = pts.set_crs(crs)
    if grids.crs is not None and pts.crs is not None and pts.crs != grids.crs:
        pts = pts.to_crs(grids.crs)
    geom = pts.geometry.to_numpy()
    bad = ~np.isin(shapely.get_type_id(geom), [0])
    if bad.any():
        raise InputError(f"{int(bad.sum())} inputs are not points (rows {pts.index[bad][:10].tolist()}); give points")
    tree = shapely.STRtree(grids.geometry.to_numpy())
    pi, gi = tree.query(geom, predicate="intersects")
    o = np.lexsort((gi, pi))
    first = np.r_[True, pi[o][1:] != pi[o][:-1]] if len(pi) else np.empty(0, bool)
    row = np.full(len(geom), -1)
    row[pi[o][first]] = gi[o][first]
    found = row >= 0
    out = pd.DataFrame(index=pts.index)
    ids = grids[grid_id_col].to_numpy()
    vals = np.full(len(geom), np.nan, dtype=object if ids.dtype == object else float)
    vals[found] = ids[row[found]]
    out[grid_id_col] = vals
    for col in ("code", "stack_id"):
        if col in grids.columns:
            v = np.full(len(geom), None, dtype=object)
            v[found] = grids[col].to_numpy()[row[found]]
            out[col] = v
    return out
