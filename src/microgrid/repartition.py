"""Re-partition with the least churn when households move in or out.

Grids whose persons stay within bounds keep their geometry, id and code.
Only grids out of bounds are partitioned again, inside the area they cover,
so nothing outside it moves; when that area cannot be divided within the
bounds, rings of neighbouring grids join it one at a time. New grids
reuse the old ids of the grids they share most households with.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import metric_crs_for
from .errors import InfeasibleError, InputError, InternalError, ids_preview
from .inputs import _check_households, read_layer
from .locate import locate
from .naming import grid_codes
from .partition import partition
from .plan import Plan
from .validate import check_invariants, validate

__all__ = ["repartition", "ChangeReport"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChangeReport:
    """What :func:`repartition` changed.

    Attributes
    ----------
    households_added, households_removed, households_moved : list
        Household ids new in the input, gone from it, and kept but now in
        another grid.
    grids_kept, grids_changed, grids_new, grids_removed : list
        Grid ids: untouched; re-drawn (same id); new ids; ids that no longer
        exist (merged away).
    churn : float
        Share of households present before and after whose grid changed.
    """

    households_added: list
    households_removed: list
    households_moved: list
    grids_kept: list
    grids_changed: list
    grids_new: list
    grids_removed: list
    churn: float

    def summary(self) -> str:
        """What changed, in one line: grids kept, re-drawn, new; households kept and moved."""
        return (f"households +{len(self.households_added)} -{len(self.households_removed)} "
                f"moved {len(self.households_moved)} (churn {self.churn:.1%}); grids kept {len(self.grids_kept)}, "
                f"changed {len(self.grids_changed)}, new {len(self.grids_new)}, removed {len(self.grids_removed)}")


def _clean(geoms: np.ndarray) -> np.ndarray:
    """Make shared edges between kept and re-drawn grids identical.

    GEOS nodes the edges and snaps vertices closer than a tiny distance
    derived from the extent (sub-millimetre here), so kept grids gain the
    vertices where re-drawn neighbours meet them and otherwise keep their shape.
    """
    return shapely.coverage_clean(geoms)


_NEW = "\0new household"  # stands for "no grid before" when pairing old and new grids


def _match(sub, hh_ids: list, old_grid: list) -> tuple[dict, set, int]:
    """Old grid id for each new grid of ``sub``, pairing those that share most households.

    Returns ``(id_of_new, taken, kept)``: the pairing, the old ids used, and
    how many households stay in a grid of the same id.
    """
    sub_assign = dict(zip(sub.households["household_id"], sub.households["grid_id"]))
    overlap = pd.crosstab(pd.Series([sub_assign[h] for h in hh_ids], name="new"), pd.Series(old_grid, name="old"))
    pairs = sorted(((overlap.loc[n, o], n, o) for n in overlap.index for o in overlap.columns
                    if overlap.loc[n, o] > 0), key=lambda t: (-t[0], str(t[1]), str(t[2])))
    id_of_new, taken, kept = {}, set(), 0
    for cnt, n_, o_ in pairs:
        if o_ is _NEW or o_ == _NEW:
            continue
        if n_ not in id_of_new and o_ not in taken:
            id_of_new[n_] = o_
            taken.add(o_)
            kept += int(cnt)
    return id_of_new, taken, kept


def _neighbours(geoms: np.ndarray, idx: set[int]) -> set[int]:
    tree = shapely.STRtree(geoms)
    out = set()
    for i in idx:
        for j in tree.query(geoms[i], predicate="intersects").tolist():
            if j not in idx and shapely.length(shapely.intersection(geoms[i].boundary, geoms[j].boundary)) > 0:
                out.add(j)
    return out


def repartition(
    plan,
    households,
    boundary=None,
    barriers=None,
    *,
    min_persons: int | None = None,
    max_persons: int | None = None,
    id_col: str = "household_id",
    persons_col: str = "persons",
    seed: int = 0,
    max_rings: int = 4,
    draws: int = 8,
) -> tuple[Plan, ChangeReport]:
    """Update ``plan`` for a new set of households with the least churn.

    Parameters
    ----------
    plan : Plan or path
        The current plan (a Plan, or a plan GeoPackage).
    households : GeoDataFrame or path
        The full, current set of households.
    boundary, barriers : optional
        Default: the plan's own layers.
    min_persons, max_persons : int, optional
        Default: the plan's bounds.
    id_col, persons_col : str
        Household id and persons columns of ``households``.
    seed : int
        Seed of the partition of the re-drawn area.
    max_rings : int
        How many rings of neighbours may join the re-partitioned area.
    draws : int
        Partitions of the area drawn with different seeds; the one that
        keeps most households in a grid of the same id is used.

    Returns
    -------
    (Plan, ChangeReport)

    Examples
    --------
    Fifteen households of grid 1 grow by two persons each, so grid 1 holds
    more than 300 persons; it is re-drawn together with its neighbours 2 and
    5, and the other grids keep their lines, ids and codes:

    >>> import microgrid
    >>> hh, bnd, roads, marks = microgrid.samples.make_village(600, seed=1)
    >>> plan = microgrid.partition(hh, bnd, roads, marks)
    >>> in_1 = plan.households.loc[plan.households["grid_id"] == 1, "household_id"]
    >>> grown = hh.copy()
    >>> grown.loc[grown["household_id"].isin(in_1.iloc[:15]), "persons"] += 2
    >>> new_plan, changes = microgrid.repartition(plan, grown)
    >>> changes.grids_kept, changes.grids_changed
    ([3, 4, 6, 7], [1, 2, 5])
    >>> new_plan.report.ok, bool(new_plan.grids["persons"].between(200, 300).all())
    (True, True)
    """
    if isinstance(plan, Plan):
        grids, old_hh, bnd, bars = plan.grids, plan.households, plan.boundary, plan.barriers
        params = plan.params
    else:
        grids = read_layer(plan, layer="grids", what="grids")
        old_hh = read_layer(plan, layer="households", what="households")
        bnd = read_layer(plan, layer="boundary", what="boundary")
        try:
            bars = read_layer(plan, layer="barriers", what="barriers")
        except InputError:
            bars = None
        params = {}
    ids = grids["grid_id"]
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):  # households of one id would be matched to either grid: refuse rather than guess
        raise InputError(f"grid ids in the plan are not unique: {ids_preview(sorted(set(dup.tolist()), key=str))} "
                         f"({len(dup)} grids); give each grid its own id (or partition again)")
    if boundary is not None:
        bnd = read_layer(boundary, what="boundary")
    if barriers is not None:
        bars = read_layer(barriers, what="barriers")
    lo = min_persons if min_persons is not None else int(params.get("min_persons", bnd.get("min_persons", [200])[0]
                                                                     if "min_persons" in bnd else 200))
    hi = max_persons if max_persons is not None else int(params.get("max_persons", bnd.get("max_persons", [300])[0]
                                                                     if "max_persons" in bnd else 300))
    hh = read_layer(households, what="households")
    if hh.crs is None:
        hh = hh.set_crs(grids.crs)
    problems: list[str] = []
    checked = _check_households(hh, id_col, persons_col, None, problems)  # the same checks as partition()
    if problems:
        raise InputError(problems)
    hh = hh.copy()
    hh[persons_col] = pd.to_numeric(checked["persons"]).round().astype(np.int64).to_numpy()
    hh = hh.set_geometry(gpd.GeoSeries(checked.geometry.to_numpy(), crs=hh.crs, index=hh.index))
    n_in = len(hh)
    # all geometry work in one metric CRS, so kept and re-drawn grids share exact edges
    out_crs = grids.crs
    work = metric_crs_for(grids)
    grids_in = grids
    grids = grids.to_crs(work)
    bnd = bnd.to_crs(work) if bnd.crs is not None else bnd.set_crs(out_crs).to_crs(work)
    bars = bars.to_crs(work) if bars is not None and bars.crs is not None and len(bars) else None
    old_hh = old_hh.to_crs(work)
    hh = hh.to_crs(work)
    old_of = dict(zip(old_hh["household_id"].tolist(), old_hh["grid_id"].tolist()))
    new_ids = hh[id_col].tolist()
    # every household to the grid it falls in (kept households keep theirs when still inside it)
    own_id = {g: g for g in grids["grid_id"].tolist()}  # locate gives 3.0 for 3 when some points miss
    loc = locate(grids, hh.geometry)["grid_id"].map(lambda v: own_id.get(v, v))
    pos = {g: i for i, g in enumerate(grids["grid_id"].tolist())}
    geoms = grids.geometry.to_numpy()
    assign = []
    for i, hid in enumerate(new_ids):
        g = old_of.get(hid)
        if g in pos and shapely.covers(geoms[pos[g]], hh.geometry.iloc[i]):
            assign.append(g)
        else:
            assign.append(loc.iloc[i])
    assign = pd.Series(assign, index=hh.index)
    if assign.isna().any():
        raise InputError(f"households {ids_preview(hh[id_col][assign.isna()].tolist())} lie outside every grid; "
                         "fix their positions, or partition again with a boundary that holds them")
    persons = pd.to_numeric(hh[persons_col]).to_numpy()
    gp = pd.Series(persons).groupby(assign.to_numpy()).sum().reindex(grids["grid_id"]).fillna(0).to_numpy()
    bad = set(np.flatnonzero((gp < lo) | (gp > hi)).tolist())
    bad -= set(np.flatnonzero(grids["flagged"].fillna(False).astype(bool).to_numpy()).tolist()) \
        if "flagged" in grids.columns else set()
    out_grids = grids.copy()
    changed, new, removed = [], [], []
    area = set(bad)
    if bad:
        best, found_at = None, None
        for attempt in range(max_rings + 2):
            if attempt:  # add a ring of neighbours: the area alone could not be fixed, or a wider one may churn less
                wider = _neighbours(geoms, area)
                if not wider:
                    break
                area |= wider
            idx = sorted(area)
            region = shapely.coverage_union_all(geoms[idx])
            inside = assign.isin(grids["grid_id"].to_numpy()[idx]).to_numpy()
            sub_hh = hh[inside]
            if not len(sub_hh):  # every household of the area is gone: its land joins a ring of neighbours
                continue
            sub_ids = sub_hh[id_col].tolist()
            # households new to the plan cannot "keep" a grid: they never count as kept
            was = [g if h in old_of else _NEW for h, g in zip(sub_ids, assign[inside].tolist())]
            n_before = sum(1 for h in sub_ids if h in old_of)
            kept_geoms = np.delete(geoms, idx)
            kept_geoms = kept_geoms[shapely.intersects(kept_geoms, shapely.buffer(region, 1.0))]  # its rim
            for draw in range(draws):
                try:
                    cand = partition(sub_hh, gpd.GeoDataFrame(geometry=[region], crs=grids.crs), bars,
                                     min_persons=lo, max_persons=hi, seed=seed + 1000 * attempt + draw,
                                     id_col=id_col, persons_col=persons_col, outside="snap")
                except InfeasibleError:
                    break  # the same area will not become feasible with another seed
                # matching the kept grids' edges must not pinch a grid in two (two pieces joined by a
                # hair-thin neck become two parts once the edges are cleaned): such a draw is not used
                trial = _clean(np.concatenate([kept_geoms, cand.grids.to_crs(grids.crs).geometry.to_numpy()]))
                before = np.concatenate([shapely.get_num_geometries(kept_geoms), np.ones(len(cand.grids), int)])
                if (shapely.get_num_geometries(trial) > before).any():
                    log.debug("draw %d of attempt %d would be pinched in two by edge cleaning", draw, attempt)
                    continue
                id_of_new, taken, kept = _match(cand, sub_ids, was)
                moved = n_before - kept
                if best is None or moved < best[0]:
                    best = (moved, cand, id_of_new, taken, idx, inside, sub_hh)
            if best is not None and found_at is None:
                found_at = attempt
            if found_at is not None and attempt >= found_at + 1:
                break  # the first area that works and one ring wider have been tried
        if best is None:
            raise InfeasibleError("no least-churn re-partition found: even with all neighbouring grids the "
                                  "bounds cannot be met; partition the area again")
        _moved, sub, id_of_new, taken, idx, inside, sub_hh = best
        old_ids = grids["grid_id"].to_numpy()[idx].tolist()
        next_id = int(pd.to_numeric(grids["grid_id"], errors="coerce").max()) + 1
        new_rows = []
        sub_g = sub.grids.to_crs(grids.crs)
        for r in sub_g.itertuples(index=False):
            gid = id_of_new.get(r.grid_id)
            if gid is None:
                gid = next_id
                next_id += 1
                new.append(gid)
            else:
                changed.append(gid)
            new_rows.append({"grid_id": gid, "persons": r.persons, "households": r.households,
                             "flagged": r.flagged, "flag_reason": r.flag_reason, "geometry": r.geometry,
                             "name": getattr(r, "name", None), "_new": r.grid_id})
        removed = [o for o in old_ids if o not in taken]
        kept = out_grids[~out_grids["grid_id"].isin(old_ids)]
        fresh = gpd.GeoDataFrame(new_rows, geometry="geometry", crs=grids.crs)
        if "code" in grids.columns:
            codes = dict(zip(grids["grid_id"], grids["code"]))
            prefix = str(grids["code"].iloc[0])[:-3]
            held = list(kept["code"]) + [codes[g] for g in fresh["grid_id"] if g in codes and g not in new]
            used = {int(str(c)[len(prefix):]) for c in held if str(c)[len(prefix):].isdigit()}
            seqs = iter(s for s in range(1, 10**4) if s not in used)
            fresh["code"] = [codes.get(g) if g in codes and g not in new else grid_codes([next(seqs)], prefix)[0]
                             for g in fresh["grid_id"]]
        out_grids = pd.concat([kept, fresh.drop(columns="_new")], ignore_index=True)
        out_grids = gpd.GeoDataFrame(out_grids, geometry="geometry", crs=grids.crs)
        # exact shared edges between kept and re-drawn grids
        out_grids = out_grids.set_geometry(gpd.GeoSeries(_clean(out_grids.geometry.to_numpy()),
                                                         index=out_grids.index, crs=grids.crs))
        row_of = {h: i for i, h in enumerate(new_ids)}
        id_map = dict(zip(fresh["_new"], fresh["grid_id"]))
        rows = [row_of[h] for h in sub.households["household_id"]]
        vals = assign.to_numpy(dtype=object)
        vals[rows] = [id_map[g] for g in sub.households["grid_id"]]
        assign = pd.Series(vals, index=assign.index)
    if bad and pd.api.types.is_integer_dtype(grids_in["grid_id"]):
        out_grids["grid_id"] = out_grids["grid_id"].astype(grids_in["grid_id"].dtype)
    canonical = {g: g for g in out_grids["grid_id"].tolist()}  # 18.0 -> 18: one id type throughout
    hh_out = hh.rename(columns={id_col: "household_id", persons_col: "persons"}).copy()
    hh_out["grid_id"] = [canonical[v] for v in assign.tolist()]
    if not bad:  # nothing to re-draw: the plan's own geometry, untouched
        out_grids = grids_in.copy()
    else:
        out_grids = out_grids.to_crs(out_crs)
    gp2 = hh_out.groupby("grid_id")["persons"].sum()
    out_grids["persons"] = out_grids["grid_id"].map(gp2).fillna(0).astype(int)
    out_grids["households"] = out_grids["grid_id"].map(hh_out.groupby("grid_id").size()).fillna(0).astype(int)
    hh_out = hh_out.to_crs(out_crs)
    bnd = bnd.to_crs(out_crs)
    bars = bars.to_crs(out_crs) if bars is not None else None
    report = validate(out_grids, hh_out, bnd, bars, min_persons=lo, max_persons=hi, assignment_col="grid_id")
    check_invariants(report, households_in=len(hh_out), persons_in=int(hh_out["persons"].sum()),
                     what="repartition")
    if bad:  # re-drawn grids need their measures; kept ones get the same values again
        per = report.per_grid
        for col in ("area_m2", "online_share", "polsby_popper"):
            if col in per.columns:
                out_grids[col] = per[col].to_numpy()
        if "name" in grids_in.columns:  # a changed grid keeps its name; a new one is named by the sub-plan
            old_name = dict(zip(grids_in["grid_id"], grids_in["name"]))
            out_grids["name"] = [old_name.get(g) if g in old_name and isinstance(old_name.get(g), str) else nm
                                 for g, nm in zip(out_grids["grid_id"], out_grids["name"])]
    if len(hh_out) != n_in:
        raise InternalError(f"repartition: {n_in} households went in and {len(hh_out)} came out")
    both = [h for h in new_ids if h in old_of]
    new_of = dict(zip(hh_out["household_id"], hh_out["grid_id"]))
    moved = [h for h in both if new_of[h] != old_of[h]]
    changes = ChangeReport(
        households_added=[h for h in new_ids if h not in old_of],
        households_removed=[h for h in old_of if h not in set(new_ids)],
        households_moved=moved,
        grids_kept=[g for g in grids["grid_id"] if g not in set(changed) | set(removed)],
        grids_changed=changed, grids_new=new, grids_removed=removed,
        churn=len(moved) / len(both) if both else 0.0,
    )
    newplan = Plan(grids=out_grids, households=hh_out, report=report, boundary=bnd, barriers=bars,
                   params={**params, "repartition": changes.summary()})
    return newplan, changes
