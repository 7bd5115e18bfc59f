"""Partition inside given areas (villages, existing grids): no grid crosses a parent's outline."""

from __future__ import annotations

from typing import TYPE_CHECKING

import geopandas as gpd
import numpy as np
import shapely

from ..errors import InputError
from ..naming import grid_codes
from ..units import first_hit
from .assembly import order_grids

if TYPE_CHECKING:
    from .._types import CRSLike, LayerSource
    from ..inputs import Inputs
    from ..units import Units

__all__ = ["read_parents", "units_in_parents", "parent_index_of", "PARENT_OVERLAP"]


def read_parents(parents: LayerSource, id_col: str | None, inp: Inputs) -> gpd.GeoDataFrame:
    """Parent areas clipped to the boundary, with ids, checked (unique, overlapping by at most 1 m2)."""
    from ..inputs import adopt_crs
    from ..io import read_layer

    p = adopt_crs(read_layer(parents, what="parents"), inp.households)
    if p.crs is None:
        raise InputError("parents have no CRS; set it on the data")
    p = p.to_crs(inp.work_crs)
    geoms = shapely.make_valid(p.geometry.to_numpy())
    geoms = shapely.intersection(geoms, inp.boundary)
    keep = np.isin(shapely.get_type_id(geoms), [3, 6, 7]) & (shapely.area(geoms) > 0)
    if not keep.any():
        raise InputError("no parent polygon overlaps the boundary")
    if id_col is None:
        id_col = "parent_id" if "parent_id" in p.columns else next((c for c in p.columns if c != p.geometry.name), None)
    ids = p[id_col].tolist() if id_col is not None else list(range(1, len(p) + 1))
    if id_col is not None and id_col not in p.columns:
        raise InputError(f"parents have no column {id_col!r}")
    if len(set(ids)) != len(ids):
        raise InputError(f"parent ids in {id_col!r} are not unique")
    _check_parents_disjoint(geoms[keep], np.asarray(ids, dtype=object)[keep])
    out = gpd.GeoDataFrame(
        {
            "source_id": np.asarray(ids, dtype=object)[keep],
            "code": p["code"].astype(str).to_numpy()[keep] if "code" in p.columns else None,
        },
        geometry=geoms[keep],
        crs=inp.work_crs,
    )
    return out.reset_index(drop=True)


#: Parents overlapping by more than this (m2) are refused: the overlap would go silently to one of them.
PARENT_OVERLAP = 1.0


def _check_parents_disjoint(geoms: np.ndarray, ids: np.ndarray) -> None:
    """Raise InputError naming every pair of parents (clipped to the boundary) that overlap by > 1 m2."""
    tree = shapely.STRtree(geoms)
    i, j = tree.query(geoms, predicate="intersects")
    pair = i < j
    i, j = i[pair], j[pair]
    if not len(i):
        return
    area = shapely.area(shapely.intersection(geoms[i], geoms[j]))
    big = np.flatnonzero(area > PARENT_OVERLAP)
    if not len(big):
        return
    big = big[np.argsort(-area[big], kind="stable")]
    shown = [f"{ids[i[b]]!r} and {ids[j[b]]!r} by {area[b]:,.1f} m2" for b in big[:10]]
    more = f" (and {len(big) - 10} more pairs)" if len(big) > 10 else ""
    raise InputError(
        f"parents overlap: {'; '.join(shown)}{more}; every place must lie in one parent only "
        "(microgrid repair can trim the overlaps)"
    )


def units_in_parents(
    units: Units, par: gpd.GeoDataFrame, code_prefix: str, crs: CRSLike
) -> tuple[np.ndarray, gpd.GeoDataFrame, list[str]]:
    """Parent index per unit (by representative point), and the parents as a plan layer."""
    notes: list[str] = []
    tree = shapely.STRtree(par.geometry.to_numpy())
    parent_of_unit = first_hit(par.geometry.to_numpy(), shapely.point_on_surface(units.geometry), "within", tree)
    lost = np.flatnonzero(parent_of_unit < 0)
    if len(lost):
        area = float(shapely.area(units.geometry[lost]).sum())
        if area >= 1.0:
            c = shapely.centroid(shapely.union_all(units.geometry[lost]))
            raise InputError(
                f"the parents leave {area:.1f} m2 of the boundary uncovered (around "
                f"{c.x:.1f}, {c.y:.1f}); give parents that cover the whole boundary "
                "(microgrid repair can close their gaps)"
            )
        _, near = tree.query_nearest(units.geometry[lost], all_matches=False)
        parent_of_unit[lost] = near
        notes.append(f"{area:.3f} m2 of slivers between parents joined the nearest parent")
    used = np.unique(parent_of_unit)
    remap = np.full(len(par), -1)
    geoms = np.array([shapely.coverage_union_all(units.geometry[parent_of_unit == i]) for i in used], dtype=object)
    order = order_grids(geoms)
    remap[used[order]] = np.arange(len(used))
    parent_of_unit = remap[parent_of_unit]
    src = par.iloc[used[order]]
    codes = (
        src["code"].tolist()
        if src["code"].notna().all() and "code" in src.columns and src["code"].iloc[0] is not None
        else grid_codes(np.arange(1, len(used) + 1), code_prefix)
    )
    k = len(used)
    layer = gpd.GeoDataFrame(
        {
            "grid_id": src["source_id"].tolist(),
            "code": codes,
            "name": [None] * k,
            "persons": np.bincount(parent_of_unit, weights=units.persons, minlength=k).astype(np.int64),
            "households": np.bincount(parent_of_unit, weights=units.n_households, minlength=k).astype(np.int64),
            "flagged": np.zeros(k, bool),
            "flag_reason": [""] * k,
        },
        geometry=geoms[order],
        crs=crs,
    )
    return parent_of_unit, layer, notes


def parent_index_of(layers: list[gpd.GeoDataFrame], level: int, finest: np.ndarray) -> np.ndarray:
    """Map finest-level grid indices (0-based) to grid indices of ``level`` via the parent_id chain."""
    idx = finest
    for lv in range(len(layers) - 1, level, -1):
        pos = {v: i for i, v in enumerate(layers[lv - 1]["grid_id"].tolist())}
        idx = np.array([pos[v] for v in layers[lv]["parent_id"].to_numpy()[idx]], dtype=int)
    return idx
