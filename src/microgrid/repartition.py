"""Re-partition with the least churn when households move in or out, or after hand edits.

Grids whose persons stay within bounds keep their geometry, id and code.
Only grids out of bounds (or broken by a pin or an edit) are partitioned
again, inside the area they cover, so nothing outside it moves; when that
area cannot be divided within the bounds, rings of neighbouring grids join
it one at a time. New grids reuse the old ids of the grids they share most
households with.

It runs on the stages of :func:`microgrid.partition`: the inputs are checked
and the units and their graph built once, cut along the plan's grid lines;
each candidate area is then a subgraph handed to the engine
(:func:`microgrid.partition.partition_graph`), and its grids are unions of
units.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._types import LayerLike, PathLike
from .errors import InfeasibleError, InputError, InternalError, ids_preview
from .graph import UnitGraph
from .inputs import Inputs, prepare_inputs
from .io import read_layer
from .naming import grid_codes
from .options import PartitionOptions
from .partition.flags import Cause
from .partition.levels import chunk_steps, connect_units, site_columns, units_and_graph
from .partition.regions import partition_graph
from .plan import Plan
from .units import Units, first_hit
from .validate import check_invariants, validate

__all__ = ["repartition", "ChangeReport"]

log = logging.getLogger(__name__)

#: Share of existing households moved (1 - the kept-share target) above which the search looks harder.
TARGET_MOVED = 0.10


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
    reasons : list of str
        Why each re-drawn grid was re-drawn, and every edit or pin that could
        not be kept (and why).
    """

    households_added: list
    households_removed: list
    households_moved: list
    grids_kept: list
    grids_changed: list
    grids_new: list
    grids_removed: list
    churn: float
    reasons: list = field(default_factory=list)

    def summary(self) -> str:
        """What changed, in one line: grids kept, re-drawn, new; households kept and moved."""
        return (
            f"households +{len(self.households_added)} -{len(self.households_removed)} "
            f"moved {len(self.households_moved)} (churn {self.churn:.1%}); grids kept {len(self.grids_kept)}, "
            f"changed {len(self.grids_changed)}, new {len(self.grids_new)}, removed {len(self.grids_removed)}"
        )


def _clean(geoms: np.ndarray) -> np.ndarray:
    """Make shared edges between kept and re-drawn grids identical.

    GEOS nodes the edges and snaps vertices closer than a tiny distance
    derived from the extent (sub-millimetre here), so kept grids gain the
    vertices where re-drawn neighbours meet them and otherwise keep their shape.
    """
    return shapely.coverage_clean(geoms)


@dataclass
class _Current:
    """The plan being updated: its layers (grids and households in their own CRS) and bounds."""

    grids: gpd.GeoDataFrame
    households: gpd.GeoDataFrame
    boundary: gpd.GeoDataFrame
    barriers: gpd.GeoDataFrame | None
    lo: int
    hi: int
    params: dict
    options: Any = None
    original: dict | None = None  # household -> grid in the plan as partition made it (hand edits)


@dataclass
class _Stage:
    """Units and graph of the whole plan, cut along its grid lines, in the working CRS."""

    inp: Inputs
    units: Units
    graph: UnitGraph
    whole: np.ndarray  # group per unit (landmarks, empty blocks)
    names: np.ndarray
    xy: np.ndarray
    area: np.ndarray
    perimeter: np.ndarray
    geoms: np.ndarray  # grid polygons (working CRS), in plan order
    grid_of_unit: np.ndarray  # grid position per unit, -1 in a gap between grids
    hh_grid: np.ndarray  # grid position per household (inp order), -1 in a gap
    old_grid: np.ndarray  # grid position of each household in the plan, -1 new (or its grid gone)
    pin: np.ndarray  # grid position each household is pinned to, -1 free
    locked: np.ndarray  # bool per grid


def _read_plan(plan, boundary, barriers, min_persons, max_persons) -> _Current:
    """The plan's layers and bounds (``boundary``/``barriers``/bounds given replace the plan's)."""
    options = None
    if isinstance(plan, Plan):
        grids, old_hh, bnd, bars = plan.grids, plan.households, plan.boundary, plan.barriers
        params, options = plan.params, plan.options
    else:
        grids = read_layer(plan, layer="grids", what="grids")
        old_hh = read_layer(plan, layer="households", what="households")
        bnd = read_layer(plan, layer="boundary", what="boundary")
        try:
            bars = read_layer(plan, layer="barriers", what="barriers")
        except InputError:
            bars = None
        params = {}
    _check_plan_layers(grids, old_hh)
    ids = grids["grid_id"]
    dup = ids[ids.duplicated(keep=False)]
    if len(dup):  # households of one id would be matched to either grid: refuse rather than guess
        raise InputError(
            f"grid ids in the plan are not unique: {ids_preview(sorted(set(dup.tolist()), key=str))} "
            f"({len(dup)} grids); give each grid its own id (or partition again)"
        )
    if boundary is not None:
        bnd = read_layer(boundary, what="boundary")
    if barriers is not None:
        bars = read_layer(barriers, what="barriers")
    if bnd is None:
        raise InputError("the plan has no boundary layer; pass boundary=")
    if bnd.crs is None:
        bnd = bnd.set_crs(grids.crs)

    def bound(given, key, default):
        if given is not None:
            return int(given)
        if key in params:
            return int(params[key])
        return int(bnd[key].iloc[0]) if key in bnd.columns and pd.notna(bnd[key].iloc[0]) else default

    bars = bars if bars is not None and len(bars) else None
    return _Current(
        grids,
        old_hh,
        bnd,
        bars,
        bound(min_persons, "min_persons", 200),
        bound(max_persons, "max_persons", 300),
        dict(params),
        options,
    )


def _check_plan_layers(grids, households) -> None:
    """A plan to update has grids with ids and households with ids and grids: say which part is missing."""
    problems = []
    if grids is None or not len(grids):
        problems.append("the plan has no grids; partition first")
    elif "grid_id" not in grids.columns:
        problems.append(f"the plan's grids have no grid_id column (columns: {', '.join(map(str, grids.columns))})")
    if households is None or not len(households):
        problems.append("the plan has no households; partition first")
    else:
        missing = [c for c in ("household_id", "grid_id") if c not in households.columns]
        if missing:
            problems.append(f"the plan's households have no {' or '.join(missing)} column")
    if problems:
        raise InputError(problems)


def _read_households(households, crs) -> gpd.GeoDataFrame:
    """The current households (checked by :func:`prepare_inputs` as :func:`partition` checks them)."""
    hh = read_layer(households, what="households")
    return hh.set_crs(crs) if hh.crs is None else hh


def _checked_households(hh, st: _Stage, ids: list, id_col: str, persons_col: str) -> gpd.GeoDataFrame:
    """``hh`` with the checked persons (whole numbers) and geometry of ``st.inp``, in the input's row order."""
    inp_hh = st.inp.households
    row = pd.Series(np.arange(len(ids)), index=pd.Index(ids))
    at = row.reindex(hh[id_col].to_numpy()).to_numpy()
    out = hh.copy()
    out[persons_col] = inp_hh["persons"].to_numpy()[at].astype(np.int64)
    return out


def _build_stage(cur: _Current, hh, id_col: str, persons_col: str) -> tuple[_Stage, list]:
    """Stages 1-3 once: checked inputs, units cut along the grid lines, their graph; grid of every unit.

    Returns the stage and the household ids in the order of ``stage.inp``.
    """
    inp = prepare_inputs(
        hh, cur.boundary, cur.barriers, options=PartitionOptions(id_col=id_col, persons_col=persons_col)
    )
    grids_w = cur.grids.to_crs(inp.work_crs)
    geoms = shapely.make_valid(grids_w.geometry.to_numpy())
    lo, hi = cur.lo, cur.hi
    snap = float(getattr(cur.options, "snap_tolerance", 2.0) or 2.0)
    q, above = chunk_steps(lo, hi)[0]  # sites divisible as partition() first tries
    units, graph, _soft, names, whole = units_and_graph(inp, geoms, q, site_columns(inp, None, None), snap, hi, above)
    rp = shapely.point_on_surface(units.geometry)
    tree = shapely.STRtree(geoms)
    gou = first_hit(geoms, rp, "within", tree)
    lost = np.flatnonzero(gou < 0)
    small = lost[shapely.area(units.geometry[lost]) < 1.0]  # slivers between grids: to the nearest grid
    if len(small):
        i, near = tree.query_nearest(units.geometry[small], all_matches=False)
        gou[small[i]] = near
    ids = inp.households["household_id"].tolist()
    pos = {g: i for i, g in enumerate(cur.grids["grid_id"].tolist())}
    old_of = dict(zip(cur.households["household_id"].tolist(), cur.households["grid_id"].tolist()))
    old_grid = np.array([pos.get(old_of[h], -1) if h in old_of else -1 for h in ids], dtype=np.int64)
    st = _Stage(
        inp=inp,
        units=units,
        graph=graph,
        whole=whole,
        names=names,
        xy=shapely.get_coordinates(rp),
        area=shapely.area(units.geometry),
        perimeter=shapely.length(units.geometry),
        geoms=geoms,
        grid_of_unit=gou,
        hh_grid=gou[units.unit_of_household],
        old_grid=old_grid,
        pin=np.full(len(ids), -1),
        locked=np.zeros(len(geoms), bool),
    )
    return st, ids


def _grid_persons(st: _Stage) -> np.ndarray:
    has = st.grid_of_unit >= 0
    return np.bincount(st.grid_of_unit[has], weights=st.units.persons[has], minlength=len(st.geoms)).astype(np.int64)


def _broken(st: _Stage, cur: _Current) -> tuple[set, list]:
    """Grids to re-draw and why.

    Out of bounds, holding a household pinned elsewhere (or pinned to them and outside them), next to land
    in no grid, overlapping another, or in several parts.
    """
    gid = cur.grids["grid_id"].tolist()
    lo, hi = cur.lo, cur.hi
    gp = _grid_persons(st)
    flagged = (
        cur.grids["flagged"].fillna(False).astype(bool).to_numpy()
        if "flagged" in cur.grids
        else np.zeros(len(gid), bool)
    )
    out = (gp < lo) | (gp > hi)
    bad_locked = np.flatnonzero(out & st.locked)
    if len(bad_locked):
        raise InfeasibleError(
            "locked grids out of bounds: "
            + "; ".join(f"grid {gid[i]!r} holds {gp[i]} persons (bounds {lo}..{hi})" for i in bad_locked)
            + "; unlock them or move households out of them",
            cause=Cause.LOCKED,
            ids=[gid[i] for i in bad_locked],
        )
    reasons: dict[int, str] = {}
    for i in np.flatnonzero(out & ~flagged & ~st.locked):
        reasons[int(i)] = f"{gp[i]} persons, {'below min' if gp[i] < lo else 'above max'} ({lo}..{hi})"
    moved = np.flatnonzero((st.pin >= 0) & (st.pin != st.hh_grid))
    for h in moved:
        for g, why in (
            (st.pin[h], "households pinned to it lie outside it"),
            (st.hh_grid[h], "holds households pinned to another grid"),
        ):
            if g >= 0:
                reasons.setdefault(int(g), why)
    gap = st.grid_of_unit < 0
    if gap.any():
        g = st.graph
        e = gap[g.u] != gap[g.v]
        for i in np.unique(np.r_[st.grid_of_unit[g.u[e]], st.grid_of_unit[g.v[e]]]):
            if i >= 0:
                reasons.setdefault(int(i), "borders land that lies in no grid")
    if shapely.area(st.geoms).sum() > shapely.area(st.inp.boundary) + 1.0:  # overlaps somewhere: find them
        tree = shapely.STRtree(st.geoms)
        a, b = tree.query(st.geoms, predicate="intersects")
        keep = a < b
        a, b = a[keep], b[keep]
        over = shapely.area(shapely.intersection(st.geoms[a], st.geoms[b])) > 1.0
        for i, j in zip(a[over], b[over]):
            reasons.setdefault(int(i), f"overlaps grid {gid[j]!r}")
            reasons.setdefault(int(j), f"overlaps grid {gid[i]!r}")
    for i in np.flatnonzero(shapely.get_num_geometries(st.geoms) > 1):
        reasons.setdefault(int(i), "in several parts")
    bad = {i for i in reasons if not st.locked[i] and not (flagged[i] and reasons[i].endswith(f"({lo}..{hi})"))}
    return bad, [f"grid {gid[i]!r} re-drawn: {reasons[i]}" for i in sorted(bad)]


def _neighbours(st: _Stage, area: set) -> set:
    """Grids sharing an edge of the unit graph with the area, locked ones left out."""
    g = st.graph
    gu, gv = st.grid_of_unit[g.u], st.grid_of_unit[g.v]
    inside = np.isin(gu, list(area)) | (gu < 0)
    inside_v = np.isin(gv, list(area)) | (gv < 0)
    nb = set(gv[inside & ~inside_v].tolist()) | set(gu[inside_v & ~inside].tolist())
    return {i for i in nb if i >= 0 and not st.locked[i]}


def _grid_pos(cur: _Current) -> dict:
    """Grid position by id, and by the id's text (ids given on a command line are text)."""
    gid = cur.grids["grid_id"].tolist()
    pos = {str(g): i for i, g in enumerate(gid)}
    pos.update({g: i for i, g in enumerate(gid)})
    return pos


def _locks(st: _Stage, cur: _Current, locked) -> None:
    """Mark the locked grids: ``locked`` ids and the rows of a boolean ``locked`` column of the plan's grids."""
    want = np.zeros(len(st.geoms), bool)
    if "locked" in cur.grids.columns:
        want |= cur.grids["locked"].fillna(False).astype(bool).to_numpy()
    if locked is not None:
        given = [locked] if isinstance(locked, (int, str, np.integer)) else list(locked)
        pos = _grid_pos(cur)
        unknown = [g for g in given if g not in pos]
        if unknown:
            raise InputError(
                f"locked grid ids not in the plan: {ids_preview(unknown)}; "
                f"its grids are {ids_preview(cur.grids['grid_id'].tolist())}"
            )
        want[[pos[g] for g in given]] = True
    st.locked = want


def _pin_items(pinned) -> list:
    """``(key, grid)`` pairs from a mapping, a Series or a two-column table (household/building, grid_id)."""
    if pinned is None:
        return []
    if isinstance(pinned, pd.DataFrame):
        if "grid_id" not in pinned.columns or len(pinned.columns) < 2:
            raise InputError("pins need a grid_id column and a household_id (or building/site_id) column")
        key = next(c for c in pinned.columns if c != "grid_id")
        return list(zip(pinned[key].tolist(), pinned["grid_id"].tolist()))
    if isinstance(pinned, pd.Series):
        return list(pinned.items())
    return list(dict(pinned).items())


def _pins(st: _Stage, cur: _Current, ids: list, pinned, *, strict: bool) -> list:
    """Set ``st.pin`` from ``pinned`` (household id, or building/site id -> grid id).

    Pins no grid can honour raise :class:`InfeasibleError` naming them when
    ``strict``; otherwise (hand edits) they are dropped, and the returned list
    says which and why.
    """
    items = _pin_items(pinned)
    if not items:
        return []
    row = {h: i for i, h in enumerate(ids)}
    ids_text: dict = {}  # ids given as text (a CSV of pins) match ids that are numbers
    for h in ids:
        ids_text.setdefault(str(h), []).append(h)
    extra = st.inp.extra_columns
    site_col = next((c for c in ("building", "building_id", "site_id", "楼栋") if c in extra.columns), None)
    pos = _grid_pos(cur)
    gid = cur.grids["grid_id"].tolist()
    unknown_h, unknown_g, dropped = [], [], []
    for key, g in items:
        rows = [row[key]] if key in row else [row[k] for k in ids_text.get(str(key), [])]
        if not rows and site_col is not None:
            rows = [row[h] for h in extra.index[extra[site_col].astype(str) == str(key)] if h in row]
        if not rows:
            unknown_h.append(key)
        elif g not in pos:
            unknown_g.append((key, g))
        else:
            st.pin[rows] = pos[g]
    if strict and (unknown_h or unknown_g):
        raise InputError(
            [f"pinned households (or buildings) not among the households: {ids_preview(unknown_h)}"] * bool(unknown_h)
            + [f"pinned to grids not in the plan: {ids_preview([f'{k!r} -> {g!r}' for k, g in unknown_g])}"]
            * bool(unknown_g)
        )
    dropped += [
        f"household {k!r} set to grid {g!r}, which is not in the plan: placed by its position" for k, g in unknown_g
    ]
    return dropped + _check_pins(st, cur, gid, strict)


def _check_pins(st: _Stage, cur: _Current, gid: list, strict: bool) -> list:
    """Pins into or out of a locked grid, onto a grid they would push above max, or splitting one site."""
    bad: list[tuple[list, str]] = []
    hu = st.units.unit_of_household
    for h in np.flatnonzero((st.pin >= 0) & (st.pin != st.hh_grid)):
        for g, what in ((st.pin[h], "pinned to locked grid"), (st.hh_grid[h], "inside locked grid")):
            if g >= 0 and st.locked[g]:
                bad.append(
                    (
                        [h],
                        f"household {st.inp.households['household_id'].iat[h]!r} {what} {gid[g]!r}, "
                        f"which cannot change",
                    )
                )
    for g in np.unique(st.pin[st.pin >= 0]):
        hs = np.flatnonzero(st.pin == g)
        p = int(st.units.persons[np.unique(hu[hs])].sum())
        if p > cur.hi:
            bad.append(
                (
                    list(hs),
                    f"households pinned to grid {gid[g]!r} hold {p} persons with their buildings, above max {cur.hi}",
                )
            )
    both = pd.Series(st.pin).groupby(hu).agg(lambda s: len(set(s[s >= 0])))
    for u in both.index[both > 1]:
        hs = np.flatnonzero((hu == u) & (st.pin >= 0))
        bad.append(
            (
                list(hs),
                f"households of one building pinned to grids "
                f"{ids_preview(sorted({gid[g] for g in st.pin[hs]}, key=str))}",
            )
        )
    if not bad:
        return []
    hid = st.inp.households["household_id"].to_numpy()
    if strict:
        raise InfeasibleError(
            "pins cannot be held: " + "; ".join(w for _, w in bad[:10]),
            cause=Cause.LOCKED if any("locked" in w for _, w in bad) else Cause.PINNED,
            ids=[hid[h] for hs, _ in bad for h in hs],
        )
    for idx, _ in bad:
        st.pin[idx] = -1
    return [f"edit not kept: {w}" for _, w in bad]


def _edit_pins(cur: _Current, st: _Stage, ids: list) -> dict:
    """Hand edits in the households layer: households whose ``grid_id`` differs from the grid they lie in.

    A household lying in a grid whose polygon was edited (a line moved, two
    grids merged) keeps a stale ``grid_id``: that is not an edit, and it
    follows the line. A polygon counts as edited when the number of
    households it holds differs from its ``households`` column (written with
    the plan), or, when the plan has its ``units`` layer, when the
    household's ``grid_id`` is the one its unit had.
    """
    hh = cur.households
    if "grid_id" not in hh.columns:
        return {}
    given = dict(zip(hh["household_id"].tolist(), hh["grid_id"].tolist()))
    gid = cur.grids["grid_id"].tolist()
    orig = cur.original or {}
    held = np.bincount(st.hh_grid[st.hh_grid >= 0], minlength=len(gid))
    stored = pd.to_numeric(cur.grids["households"], errors="coerce").to_numpy() if "households" in cur.grids else held
    redrawn_by_hand = held != stored
    out = {}
    for i, h in enumerate(ids):
        g, at = given.get(h), st.hh_grid[i]
        if g is None or (isinstance(g, float) and np.isnan(g)) or at < 0 or redrawn_by_hand[at]:
            continue
        if g != gid[at] and orig.get(h, object()) != g:
            out[h] = g
    return out


@dataclass
class _Draw:
    """One candidate re-drawing of an area."""

    moved: int
    idx: list  # grid positions re-drawn
    sel: np.ndarray  # units of the area
    labels: np.ndarray  # region per unit of the area
    geoms: np.ndarray  # one polygon per region (working CRS)
    grid_of_label: dict  # region -> old grid position it continues


def _sub_groups(st: _Stage, sel: np.ndarray) -> np.ndarray:
    """Groups of the area's units: landmarks and empty blocks, and the units of households pinned to one grid."""
    groups = st.whole[sel].copy()
    local = np.full(st.units.n, -1)
    local[sel] = np.arange(len(sel))
    hu = local[st.units.unit_of_household]
    base = st.units.n + 1
    g_ = st.graph
    m = (local[g_.u] >= 0) & (local[g_.v] >= 0)
    sub = SimpleNamespace(persons=st.units.persons[sel], n=len(sel))
    sub_graph = SimpleNamespace(u=local[g_.u[m]], v=local[g_.v[m]])
    for g in np.unique(st.pin[(st.pin >= 0) & (hu >= 0)]):
        us = connect_units(sub, sub_graph, np.unique(hu[(st.pin == g) & (hu >= 0)]))  # one piece: join them
        old = np.unique(groups[us][groups[us] >= 0])
        groups[np.isin(groups, old) & (groups >= 0) | np.isin(np.arange(len(sel)), us)] = base + g
    return groups


def _try_draw(st: _Stage, idx: list, sel: np.ndarray, r_labels: np.ndarray, rim: np.ndarray):
    """The draw as a :class:`_Draw`, or the reason it cannot be used."""
    k = int(r_labels.max()) + 1
    geoms = np.array(
        [shapely.coverage_union_all(st.units.geometry[sel[r_labels == r]]) for r in range(k)], dtype=object
    )
    if (shapely.get_num_geometries(geoms) > 1).any():
        return "a grid would be in several parts"
    # matching the kept grids' edges must not pinch a grid in two (two pieces joined by a hair-thin neck
    # become two parts once the edges are cleaned): such a draw is not used
    trial = _clean(np.concatenate([rim, geoms]))
    if (shapely.get_num_geometries(trial) > np.r_[shapely.get_num_geometries(rim), np.ones(k, int)]).any():
        return "edge cleaning would pinch a grid in two"
    local = np.full(st.units.n, -1)
    local[sel] = np.arange(len(sel))
    hu = local[st.units.unit_of_household]
    inside = np.flatnonzero(hu >= 0)
    lab = r_labels[hu[inside]]
    grid_of_label: dict = {}
    pins = st.pin[inside]
    for r in range(k):
        targets = np.unique(pins[(lab == r) & (pins >= 0)])
        if len(targets) > 1:
            return f"households pinned to {len(targets)} different grids would share one"
        if len(targets):
            if int(targets[0]) not in idx:
                return "households pinned to a grid outside the area"
            grid_of_label[r] = int(targets[0])
    taken = set(grid_of_label.values())
    old = st.old_grid[inside]
    have = old >= 0
    pairs = pd.Series(1, index=pd.MultiIndex.from_arrays([lab[have], old[have]])).groupby(level=[0, 1]).sum()
    kept = sum(int(pairs.get((r, g), 0)) for r, g in grid_of_label.items())
    for (r, g), cnt in sorted(pairs.items(), key=lambda t: (-t[1], t[0])):
        if r not in grid_of_label and g not in taken and g in idx:
            grid_of_label[int(r)] = int(g)
            taken.add(int(g))
            kept += int(cnt)
    return _Draw(
        moved=int(have.sum()) - kept, idx=idx, sel=sel, labels=r_labels, geoms=geoms, grid_of_label=grid_of_label
    )


def _draws(st: _Stage, cur: _Current, idx: list, attempt: int, seed: int, draws: int, why: list) -> list:
    """Candidate re-drawings of the grids ``idx`` (and land in no grid) with ``draws`` seeds."""
    mask = np.isin(st.grid_of_unit, idx) | (st.grid_of_unit < 0)
    sel = np.flatnonzero(mask)
    if not st.units.persons[sel].sum():  # every household of the area is gone: its land joins a ring
        return []
    local = np.full(st.units.n, -1)
    local[sel] = np.arange(len(sel))
    g = st.graph
    m = mask[g.u] & mask[g.v]
    groups = _sub_groups(st, sel)
    rest = np.flatnonzero(~np.isin(np.arange(len(st.geoms)), idx))
    region = shapely.coverage_union_all(st.units.geometry[sel])
    rim = st.geoms[rest][shapely.intersects(st.geoms[rest], shapely.buffer(region, 1.0))]
    opts = cur.options
    out = []
    for draw in range(draws):
        try:
            r = partition_graph(
                st.units.persons[sel],
                local[g.u[m]],
                local[g.v[m]],
                g.cost[m],
                lo=cur.lo,
                hi=cur.hi,
                groups=groups,
                seed=seed + 1000 * attempt + draw,
                tries=getattr(opts, "tries", 6),
                restarts=1,  # each draw is a restart
                refine=getattr(opts, "refine", True),
                names=st.names[sel],
                xy=st.xy[sel],
                area=st.area[sel],
                perimeter=st.perimeter[sel],
                length=g.length[m],
                compactness=getattr(opts, "compactness", 0.5),
            )
        except InfeasibleError as exc:
            why.append(str(exc))
            break  # the same area will not become feasible with another seed
        d = _try_draw(st, idx, sel, r.labels, rim)
        if isinstance(d, str):
            log.debug("draw %d of attempt %d not used: %s", draw, attempt, d)
            why.append(d)
            continue
        out.append(d)
    return out


def _clusters(st: _Stage, grids: set) -> list[set]:
    """The grids in groups that touch (share an edge of the unit graph); land in no grid joins them all."""
    if (st.grid_of_unit < 0).any():
        return [set(grids)]
    g = st.graph
    gu, gv = st.grid_of_unit[g.u], st.grid_of_unit[g.v]
    m = np.isin(gu, list(grids)) & np.isin(gv, list(grids)) & (gu != gv)
    parent = {i: i for i in grids}

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for a, b in set(zip(gu[m].tolist(), gv[m].tolist())):
        parent[root(a)] = root(b)
    out: dict = {}
    for i in grids:
        out.setdefault(root(i), set()).add(i)
    return sorted(out.values(), key=min)


def _merge_draws(draws: list) -> _Draw:
    """Draws of disjoint areas as one."""
    if len(draws) == 1:
        return draws[0]
    labels, gol, off = [], {}, 0
    for d in draws:
        labels.append(d.labels + off)
        gol.update({r + off: g for r, g in d.grid_of_label.items()})
        off += len(d.geoms)
    return _Draw(
        moved=sum(d.moved for d in draws),
        idx=sorted(i for d in draws for i in d.idx),
        sel=np.concatenate([d.sel for d in draws]),
        labels=np.concatenate(labels),
        geoms=np.concatenate([d.geoms for d in draws]),
        grid_of_label=gol,
    )


def _search(st: _Stage, cur: _Current, bad: set, *, seed: int, max_rings: int, draws: int) -> _Draw:
    """The least-churn draws for each group of touching broken grids, as one.

    Each group grows by rings of neighbours on its own until it can be
    re-drawn within the bounds; groups whose areas come to share a grid are
    merged and searched again as one.
    """
    moved = (st.pin >= 0) & (st.pin != st.hh_grid)
    groups = [set(bad)] if moved.any() else _clusters(st, bad)  # a pin joins its two grids' areas
    while True:
        found = [_search_area(st, cur, grp, seed=seed, max_rings=max_rings, draws=draws) for grp in groups]
        merged = False
        for i in range(len(found)):
            for j in range(i + 1, len(found)):
                if set(found[i].idx) & set(found[j].idx):
                    groups[i] = groups[i] | groups[j]
                    del groups[j]
                    merged = True
                    break
            if merged:
                break
        if not merged:
            return _merge_draws(found)


def _search_area(st: _Stage, cur: _Current, bad: set, *, seed: int, max_rings: int, draws: int) -> _Draw:
    """The least-churn draw over the broken grids and up to ``max_rings`` rings of neighbours.

    Rings join until an area can be re-drawn within the bounds (``draws``
    seeds each). When its best draw moves more than :data:`TARGET_MOVED` of
    all existing households, it gets ``2 * draws`` more seeds and one
    ring wider is tried too; the draw that moves fewest households is kept.
    """
    area, best = set(bad), None
    why: list = []
    for attempt in range(max_rings + 1):
        if attempt:  # a ring of neighbours: the area alone could not be fixed
            wider = _neighbours(st, area)
            if not wider:
                break
            area |= wider
        for d in _draws(st, cur, sorted(area), attempt, seed, draws, why):
            if best is None or d.moved < best.moved:
                best = d
        if best is not None:
            break
    existing = int((st.old_grid >= 0).sum())
    if best is not None and best.moved > TARGET_MOVED * existing:  # too much churn: look harder
        log.debug("repartition: %d of %d households moved; more draws and one ring wider", best.moved, existing)
        more = _draws(st, cur, sorted(area), attempt, seed + 10_000, 2 * draws, why)
        wider = _neighbours(st, area)
        if wider:
            more += _draws(st, cur, sorted(area | wider), attempt + 1, seed, draws, why)
        best = min([best, *more], key=lambda d: d.moved)
    if best is None:
        gid = cur.grids["grid_id"].tolist()
        pinned = (st.pin >= 0).any()
        last = f" (last: {why[-1]})" if why else ""
        raise InfeasibleError(
            "no least-churn re-partition found: even with all neighbouring grids"
            f"{' that are not locked' if st.locked.any() else ''} the bounds cannot be met"
            f"{' with the pins' if pinned else ''}{last}; grids tried: {ids_preview([gid[i] for i in sorted(area)])}"
            f"{'; locked: ' + ids_preview([gid[i] for i in np.flatnonzero(st.locked)]) if st.locked.any() else ''}"
            "; unlock or unpin some, or partition the area again",
            cause=Cause.PINNED if pinned else (Cause.LOCKED if st.locked.any() else Cause.NO_CUT),
        )
    return best


def _redrawn_layer(st: _Stage, cur: _Current, best: _Draw, crs) -> tuple[gpd.GeoDataFrame, dict, list, list]:
    """Grids after the draw, and the grid id of each region.

    Kept grids first, in the work CRS with edges cleaned; also the ids changed and new.
    """
    grids = cur.grids
    gid = grids["grid_id"].tolist()
    next_id = int(pd.to_numeric(grids["grid_id"], errors="coerce").max()) + 1
    id_of: dict = {}
    changed, new = [], []
    for r in range(len(best.geoms)):
        g = best.grid_of_label.get(r)
        if g is None:
            id_of[r] = next_id
            new.append(next_id)
            next_id += 1
        else:
            id_of[r] = gid[g]
            changed.append(gid[g])
    persons = np.bincount(best.labels, weights=st.units.persons[best.sel], minlength=len(best.geoms))
    kept = grids.iloc[[i for i in range(len(gid)) if i not in set(best.idx)]].copy()
    kept = kept.set_geometry(
        gpd.GeoSeries(st.geoms[[i for i in range(len(gid)) if i not in set(best.idx)]], index=kept.index, crs=crs)
    )
    old_name = dict(zip(grids["grid_id"], grids["name"])) if "name" in grids.columns else {}
    fresh = gpd.GeoDataFrame(
        {
            "grid_id": [id_of[r] for r in range(len(best.geoms))],
            "persons": persons.astype(np.int64),
            "flagged": False,
            "flag_reason": "",
            "name": [old_name.get(id_of[r]) for r in range(len(best.geoms))],
        },
        geometry=list(best.geoms),
        crs=crs,
    )
    if "code" in grids.columns:
        codes = dict(zip(grids["grid_id"], grids["code"]))
        prefix = str(grids["code"].iloc[0])[:-3]
        held = list(kept["code"]) + [codes[g] for g in fresh["grid_id"] if g in codes and g not in new]
        used = {int(str(c)[len(prefix) :]) for c in held if str(c)[len(prefix) :].isdigit()}
        seqs = iter(s for s in range(1, 10**4) if s not in used)
        fresh["code"] = [
            codes.get(g) if g in codes and g not in new else grid_codes(np.array([next(seqs)]), prefix)[0]
            for g in fresh["grid_id"]
        ]
    out = gpd.GeoDataFrame(pd.concat([kept, fresh], ignore_index=True), geometry="geometry", crs=crs)
    out = out.set_geometry(gpd.GeoSeries(_clean(out.geometry.to_numpy()), index=out.index, crs=crs))
    if pd.api.types.is_integer_dtype(grids["grid_id"]):
        out["grid_id"] = out["grid_id"].astype(grids["grid_id"].dtype)
    return out, id_of, changed, new


def _household_grids(st: _Stage, cur: _Current, best: _Draw | None, id_of: dict) -> list:
    """Grid id of every household (``stage.inp`` order): its region's when re-drawn, else its grid's."""
    gid = cur.grids["grid_id"].tolist()
    out = [gid[g] if g >= 0 else None for g in st.hh_grid.tolist()]
    if best is not None:
        local = np.full(st.units.n, -1)
        local[best.sel] = np.arange(len(best.sel))
        hu = local[st.units.unit_of_household]
        for h in np.flatnonzero(hu >= 0):
            out[h] = id_of[int(best.labels[hu[h]])]
    return out


def _finish(st, cur, hh, ids, grids_w, hh_grid, id_col, persons_col, redrawn: bool) -> Plan:
    """The plan: households with their grid, grids counted and measured, validated, in the plan's CRS."""
    out_crs = cur.grids.crs
    of = dict(zip(ids, hh_grid))
    canonical = {g: g for g in grids_w["grid_id"].tolist()}  # 18.0 -> 18: one id type throughout
    hh_out = hh.rename(columns={id_col: "household_id", persons_col: "persons"}).copy()
    hh_out["grid_id"] = [canonical.get(of[h], of[h]) for h in hh_out["household_id"].tolist()]
    hh_out = hh_out.to_crs(out_crs)
    out_grids = grids_w.to_crs(out_crs) if redrawn else cur.grids.copy()
    out_grids["persons"] = out_grids["grid_id"].map(hh_out.groupby("grid_id")["persons"].sum()).fillna(0).astype(int)
    out_grids["households"] = out_grids["grid_id"].map(hh_out.groupby("grid_id").size()).fillna(0).astype(int)
    bnd = cur.boundary.to_crs(out_crs)
    bars = cur.barriers.to_crs(out_crs) if cur.barriers is not None else None
    report = validate(out_grids, hh_out, bnd, bars, min_persons=cur.lo, max_persons=cur.hi, assignment_col="grid_id")
    check_invariants(report, households_in=len(hh_out), persons_in=int(hh_out["persons"].sum()), what="repartition")
    if redrawn:  # re-drawn grids need their measures; kept ones get the same values again
        per = report.per_grid
        for col in ("area_m2", "online_share", "polsby_popper"):
            if col in per.columns:
                out_grids[col] = per[col].to_numpy()
    if len(hh_out) != len(hh):
        raise InternalError(f"repartition: {len(hh)} households went in and {len(hh_out)} came out")
    return Plan(
        grids=out_grids,
        households=hh_out,
        report=report,
        boundary=bnd,
        barriers=bars,
        params=dict(cur.params),
        options=cur.options,
    )


def _changes(cur: _Current, plan: Plan, changed, new, removed, reasons) -> ChangeReport:
    old_of = dict(zip(cur.households["household_id"].tolist(), cur.households["grid_id"].tolist()))
    new_ids = plan.households["household_id"].tolist()
    new_of = dict(zip(new_ids, plan.households["grid_id"].tolist()))
    both = [h for h in new_ids if h in old_of]
    moved = [h for h in both if new_of[h] != old_of[h]]
    now = set(new_ids)
    gone = set(changed) | set(removed)
    return ChangeReport(
        households_added=[h for h in new_ids if h not in old_of],
        households_removed=[h for h in old_of if h not in now],
        households_moved=moved,
        grids_kept=[g for g in cur.grids["grid_id"] if g not in gone],
        grids_changed=changed,
        grids_new=new,
        grids_removed=removed,
        churn=len(moved) / len(both) if both else 0.0,
        reasons=list(reasons),
    )


def repartition(
    plan: Plan | PathLike,
    households: LayerLike = None,
    boundary: LayerLike = None,
    barriers: LayerLike = None,
    *,
    min_persons: int | None = None,
    max_persons: int | None = None,
    id_col: str = "household_id",
    persons_col: str = "persons",
    seed: int = 0,
    max_rings: int = 4,
    draws: int = 2,
    locked: int | str | Iterable[int | str] | None = None,
    pinned: Mapping[Any, Any] | pd.Series | pd.DataFrame | None = None,
) -> tuple[Plan, ChangeReport]:
    """Update ``plan`` for a new set of households, or after hand edits, with the least churn.

    Parameters
    ----------
    plan : Plan or path
        The current plan (a Plan, or a plan GeoPackage), possibly edited by
        hand: grid polygons moved, merged or deleted, households' ``grid_id``
        changed.
    households : GeoDataFrame or path, optional
        The full, current set of households. Default: the plan's own
        households layer, read as hand edits: a household whose ``grid_id``
        differs from the grid it lies in is pinned to that grid (when the
        grid exists and the pin can be held; else the edit is dropped and
        ``ChangeReport.reasons`` says why).
    boundary, barriers : GeoDataFrame or path, optional
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
    locked : grid id or list of grid ids, optional
        Grids that keep their polygon and households exactly (so do grids
        with a true ``locked`` column in the plan). A locked grid out of
        bounds raises :class:`InfeasibleError`.
    pinned : dict, Series or DataFrame, optional
        Household id (or building/site id, from a ``building``,
        ``building_id`` or ``site_id`` column) -> grid id: each holds in
        the result. Pins that cannot be held raise :class:`InfeasibleError`
        naming them and why.

    Returns
    -------
    (Plan, ChangeReport)

    Examples
    --------
    Fifteen households of grid 1 grow by two persons each, so grid 1 holds
    more than 300 persons; it is re-drawn with some of its neighbours, and
    the other grids keep their lines, ids and codes:

    >>> import microgrid
    >>> hh, bnd, roads, marks = microgrid.samples.make_village(600, seed=1)
    >>> plan = microgrid.partition(hh, bnd, roads, marks)
    >>> in_1 = plan.households.loc[plan.households["grid_id"] == 1, "household_id"]
    >>> grown = hh.copy()
    >>> grown.loc[grown["household_id"].isin(in_1.iloc[:15]), "persons"] += 2
    >>> new_plan, changes = microgrid.repartition(plan, grown)
    >>> 1 in changes.grids_changed, len(changes.grids_kept) >= 3
    (True, True)
    >>> new_plan.report.ok, bool(new_plan.grids["persons"].between(200, 300).all())
    (True, True)
    """
    cur = _read_plan(plan, boundary, barriers, min_persons, max_persons)
    edits = households is None
    if edits:
        hh = _read_households(cur.households, cur.grids.crs)
        id_col, persons_col = "household_id", "persons"
        cur.original = _original_grids(plan, hh)
    else:
        hh = _read_households(households, cur.grids.crs)
    st, ids = _build_stage(cur, hh, id_col, persons_col)
    hh = _checked_households(hh, st, ids, id_col, persons_col)
    _locks(st, cur, locked)
    reasons = _pins(st, cur, ids, pinned, strict=True)
    if edits:
        edit = _edit_pins(cur, st, ids)
        strict_pin = st.pin.copy()
        reasons += _gone_grids(cur)
        reasons += _pins(
            st,
            cur,
            ids,
            {h: g for h, g in edit.items() if h not in set(np.asarray(ids)[strict_pin >= 0])},
            strict=False,
        )
    bad, why = _broken(st, cur)
    best = None
    if bad:
        try:
            best = _search(st, cur, bad, seed=seed, max_rings=max_rings, draws=draws)
        except InfeasibleError:
            if not edits or (st.pin == strict_pin).all():
                raise
            reasons.append(
                "edits not kept: with every edited household pinned no division within the bounds "
                "exists; households placed by position instead"
            )
            st.pin = strict_pin
            bad, why = _broken(st, cur)
            best = _search(st, cur, bad, seed=seed, max_rings=max_rings, draws=draws) if bad else None
    crs = st.inp.work_crs
    changed: list = []
    new: list = []
    removed: list = []
    id_of: dict = {}
    grids_w = cur.grids.to_crs(crs)
    if best is not None:
        grids_w, id_of, changed, new = _redrawn_layer(st, cur, best, crs)
        gid = cur.grids["grid_id"].tolist()
        removed = [gid[i] for i in best.idx if gid[i] not in set(changed)]
    hh_grid = _household_grids(st, cur, best, id_of)
    if any(g is None for g in hh_grid):
        raise InternalError("repartition: households in no grid after re-drawing the gaps")
    out = _finish(st, cur, hh, ids, grids_w, hh_grid, id_col, persons_col, best is not None)
    changes = _changes(cur, out, changed, new, removed, reasons + why)
    out.params["repartition"] = changes.summary()
    log.info("repartition: %s", changes.summary())
    return out, changes


def _gone_grids(cur: _Current) -> list:
    """Grids households still name that the edited plan no longer has (deleted, or merged into another)."""
    named = cur.households["grid_id"].dropna() if "grid_id" in cur.households.columns else pd.Series([])
    have = set(cur.grids["grid_id"].tolist())
    gone = sorted({g for g in named.tolist() if g not in have}, key=str)
    return [
        f"grid {g!r} is not in the plan (deleted or merged): its "
        f"{int((named == g).sum())} households go to the grids they lie in"
        for g in gone
    ]


def _original_grids(plan, hh) -> dict:
    """Household id -> grid of the unit it lies in, from the plan's ``units`` layer (as partition wrote it)."""
    units = plan.units if isinstance(plan, Plan) else None
    if units is None and not isinstance(plan, Plan):
        try:
            units = read_layer(plan, layer="units", what="units")
        except InputError:
            units = None
    if units is None or "grid_id" not in units.columns or not len(units):
        return {}
    pts = hh.to_crs(units.crs) if units.crs is not None and hh.crs is not None else hh
    j = gpd.sjoin(pts[["household_id", "geometry"]], units[["grid_id", "geometry"]], predicate="within", how="inner")
    j = j[~j.index.duplicated()]
    return dict(zip(j["household_id"], j["grid_id"]))
