"""Stage 5: grids from unit labels — dissolve, order, code, name; the plan's layers; its own checks."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Protocol

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..naming import grid_codes, grid_names

if TYPE_CHECKING:
    from ..inputs import Inputs
    from ..plan import ValidationReport
    from ..units import Units
    from .flags import Flag

__all__ = ["order_grids", "grid_layer", "divided_notes", "household_layer", "context_layers", "check_plan"]


def order_grids(geoms: np.ndarray) -> np.ndarray:
    """Order grids in rows north to south, west to east within a row.

    Rows are bands as tall as the side of an average grid, so the order reads
    like text on the map. Returns the permutation.
    """
    if len(geoms) == 0:
        return np.empty(0, int)
    rp = shapely.get_coordinates(shapely.point_on_surface(geoms))
    area = shapely.area(geoms)
    h = max(math.sqrt(area.mean()), 1e-9)
    row = np.floor((rp[:, 1].max() - rp[:, 1]) / h).astype(int)
    return np.lexsort((rp[:, 1] * -1, rp[:, 0], row))


def grid_layer(
    units: Units,
    labels: np.ndarray,
    flags: dict[int, list[tuple[Flag, str]]],
    parent_of_region: np.ndarray | None,
    parent_of_unit: np.ndarray | None,
    parent_codes: list[str],
    parent_layer: gpd.GeoDataFrame | None,
    inp: Inputs,
    code_prefix: str,
) -> tuple[gpd.GeoDataFrame, np.ndarray, list[str]]:
    """Dissolve units into grids, order them (within their parent), code and name them.

    ``parent_of_region`` (the parent index of each label),
    ``parent_of_unit`` and ``parent_layer`` are all None without a level
    above.
    """
    k = int(labels.max()) + 1
    geoms = np.empty(k, dtype=object)
    for r in range(k):
        geoms[r] = shapely.coverage_union_all(units.geometry[labels == r])
    if parent_of_region is None:  # no level above (then parent_of_unit and parent_layer are None too)
        order = order_grids(geoms)
        seq = np.arange(1, k + 1)
        codes = grid_codes(seq, code_prefix)
    else:  # children numbered within their parent, parents in their own order
        order = np.concatenate(
            [
                np.flatnonzero(parent_of_region == pr)[order_grids(geoms[parent_of_region == pr])]
                for pr in range(int(parent_of_region.max()) + 1)
            ]
        )
        seq = np.concatenate(
            [np.arange(1, int((parent_of_region == pr).sum()) + 1) for pr in range(int(parent_of_region.max()) + 1)]
        )
        codes = grid_codes(seq, parent_codes=[parent_codes[parent_of_region[r]] for r in order])
    new_id = np.empty(k, int)
    new_id[order] = np.arange(k)
    final = new_id[labels]  # 0-based grid index in final order, per unit
    reasons = [""] * k
    for r, rs in flags.items():
        reasons[new_id[r]] = "; ".join(dict.fromkeys(text for _flag, text in rs))  # each reason once, in order
    cols = {
        "grid_id": np.arange(1, k + 1),
        "code": codes,
        "name": grid_names(geoms[order], inp.landmarks, inp.barriers),
        "persons": np.bincount(final, weights=units.persons, minlength=k).astype(np.int64),
        "households": np.bincount(final, weights=units.n_households, minlength=k).astype(np.int64),
        "flagged": np.array([bool(x) for x in reasons]),
        "flag_reason": reasons,
    }
    if parent_layer is not None and parent_of_region is not None:
        cols["parent_id"] = parent_layer["grid_id"].to_numpy()[parent_of_region[order]]
    return gpd.GeoDataFrame(cols, geometry=geoms[order], crs=inp.work_crs), final, codes


def divided_notes(divided: gpd.GeoDataFrame, grids: gpd.GeoDataFrame) -> list[str]:
    """The report's notes on divided sites: how many, and each one's parts in words (first 20)."""
    if not len(divided):
        return []
    code = dict(zip(grids["grid_id"].tolist(), grids["code"].tolist()))
    notes = [f"{divided['site_id'].nunique()} sites divided between grids (whole sites could not meet the bounds)"]
    for sid, rows in list(divided.groupby("site_id", sort=True))[:20]:
        parts = ", ".join(
            f"{part_text(r)} -> grid {r.grid_id} ({code.get(r.grid_id)}, {r.persons} persons)"
            for r in rows.itertuples()
        )
        notes.append(f"site {sid} ({rows['site_label'].iloc[0]}, {rows['site_persons'].iloc[0]} persons): {parts}")
    if divided["site_id"].nunique() > 20:
        notes.append(f"... and {divided['site_id'].nunique() - 20} more divided sites (layer divided_sites)")
    return notes


class _PartRow(Protocol):
    """A row of the divided-sites table (``itertuples``): what :func:`part_text` reads."""

    entrances: str
    floors: str
    first_household: object
    last_household: object


def part_text(r: _PartRow) -> str:
    """What of a site one part holds: entrances and floors, else its households' id range."""
    where = " ".join(x for x in (r.entrances, f"floors {r.floors}" if r.floors else "") if x)
    return where or f"households {r.first_household}..{r.last_household}"


def household_layer(
    inp: Inputs, grids: gpd.GeoDataFrame, grid_of_hh: np.ndarray, site_id: np.ndarray, site_part: np.ndarray
) -> gpd.GeoDataFrame:
    """Every household with its grid (and divided site), and the columns it came with."""
    hh = inp.households
    out = gpd.GeoDataFrame(
        {
            "household_id": hh["household_id"].to_numpy(),
            "grid_id": grids["grid_id"].to_numpy()[grid_of_hh],
            "persons": hh["persons"].to_numpy(np.int64),
            "site_id": site_id,
            "site_part": site_part,
        },
        geometry=hh.geometry.to_numpy(),
        crs=inp.work_crs,
    )
    extra = inp.extra_columns
    if len(extra.columns):
        extra = extra.reindex(out["household_id"].to_numpy())  # ids are unique: checked on input
        for c in extra.columns:
            if c not in out.columns:
                out[c] = extra[c].to_numpy()
    return out


def context_layers(
    units: Units, grid_of_unit: np.ndarray, lo: int, hi: int, inp: Inputs
) -> tuple[gpd.GeoDataFrame, gpd.GeoDataFrame, gpd.GeoDataFrame]:
    """The boundary, barriers and units layers of a plan.

    The boundary carries its name and the bounds (so a written plan validates
    against them); the barriers their kind, rank and name.
    """
    crs = inp.work_crs
    bnd = gpd.GeoDataFrame(
        {**_boundary_name(inp), "min_persons": [lo], "max_persons": [hi]}, geometry=[units.boundary], crs=crs
    )
    bars = gpd.GeoDataFrame(
        {
            "kind": [None if k_ is None else str(k_) for k_ in units.barrier_kind],
            "rank": units.barrier_rank,
            **_barrier_names(inp, units),
        },
        geometry=units.barriers,
        crs=crs,
    )
    unit_gdf = gpd.GeoDataFrame(
        {
            "unit_id": np.arange(units.n),
            "grid_id": grid_of_unit,
            "persons": units.persons,
            "households": units.n_households,
            "landmark": units.landmark,
        },
        geometry=units.geometry,
        crs=crs,
    )
    return bnd, bars, unit_gdf


def _barrier_names(inp: Inputs, units: Units) -> dict:
    """``{"name": [...]}``: each barrier line's name from the input line it comes from; {} without names."""
    src = getattr(units, "barrier_source", None)
    if "name" not in inp.barriers.columns or src is None or len(src) != len(units.barriers):
        return {}
    names = inp.barriers["name"].to_numpy(dtype=object)
    return {"name": [None if pd.isna(v) else str(v) for v in names[src]] if len(src) else []}


def _boundary_name(inp: Inputs) -> dict:
    """``{"name": [...]}`` of the boundary (its rows' names joined), or {} when it has none."""
    names = [str(v) for v in (inp.boundary_names or []) if v is not None and not pd.isna(v) and str(v).strip()]
    return {"name": ["、".join(dict.fromkeys(names))]} if names else {}


def check_plan(
    grids: gpd.GeoDataFrame,
    hh_out: gpd.GeoDataFrame,
    bnd: gpd.GeoDataFrame,
    bars: gpd.GeoDataFrame,
    layers: list[gpd.GeoDataFrame],
    specs: list[tuple[str, int, int]],
    divided: gpd.GeoDataFrame,
    notes: list[str],
    hh_unit: np.ndarray,
    finest: np.ndarray,
    has_parents: bool,
) -> tuple[ValidationReport, dict[str, ValidationReport]]:
    """Validate the plan in memory and raise :class:`InternalError` if it breaks an invariant.

    Households and persons in = out, coverage valid, no error in the report
    of the finest level or of any coarser level. Returns the report and the
    reports of the coarser levels.
    """
    from ..errors import InternalError
    from ..validate import invariant_breaks, validate
    from .parents import parent_index_of

    lo, hi = specs[-1][1], specs[-1][2]
    report = validate(
        grids,
        hh_out,
        bnd,
        bars if len(bars) else None,
        min_persons=lo,
        max_persons=hi,
        assignment_col="grid_id",
        notes=notes,
        divided_sites=divided if len(divided) else None,
    )
    broken = invariant_breaks(report, households_in=len(hh_out), persons_in=int(hh_out["persons"].sum()))
    level_reports: dict[str, ValidationReport] = {}
    for (lname, lo_l, hi_l), layer in zip(specs[:-1], layers[:-1]):
        if lname == "parent" and has_parents:
            lo_l, hi_l = 0, 10**9
        hh_l = hh_out[["household_id", "persons", "site_id", "geometry"]].copy()
        hh_l["grid_id"] = layer["grid_id"].to_numpy()[parent_index_of(layers, len(level_reports), finest)[hh_unit]]
        rep_l = validate(layer, hh_l, bnd, None, min_persons=lo_l, max_persons=hi_l, assignment_col="grid_id")
        level_reports[lname] = rep_l
        broken.extend(f"level {lname}: {r.message}" for r in rep_l.errors.itertuples())
        layer["area_m2"] = rep_l.per_grid["area_m2"].to_numpy()
        layer["polsby_popper"] = rep_l.per_grid["polsby_popper"].to_numpy()
    if broken:
        raise InternalError("the plan failed its own checks: " + "; ".join(broken[:10]))
    for col in ("area_m2", "online_share", "polsby_popper"):
        grids[col] = report.per_grid[col].to_numpy()
    return report, level_reports
