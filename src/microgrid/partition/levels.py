"""Stages 2-4 for every level: units and graph (with divisible sites), then regions level by level."""

from __future__ import annotations

import logging
from collections.abc import Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol

import geopandas as gpd
import numpy as np
import shapely

from ..errors import InfeasibleError, InputError
from ..graph import build_graph, division_costs, whole_groups
from ..sites import ENTRANCE_NAMES, FLOOR_NAMES, Division, detect_column, natural_codes
from ..units import units_from_inputs
from .assembly import grid_layer
from .flags import Cause
from .parents import units_in_parents
from .regions import partition_graph

if TYPE_CHECKING:
    from ..graph import UnitGraph
    from ..inputs import Inputs
    from ..options import PartitionOptions
    from ..units import Units
    from .flags import Flag

__all__ = ["site_columns", "units_and_graph", "run_levels", "partition_within", "pin_groups", "connect_units"]

log = logging.getLogger(__name__)


class _Nodes(Protocol):
    """What :func:`connect_units` reads of the units: persons per unit and their number."""

    @property
    def persons(self) -> np.ndarray: ...

    @property
    def n(self) -> int: ...


class _Edges(Protocol):
    """What :func:`connect_units` reads of the graph: the ends of its edges."""

    @property
    def u(self) -> np.ndarray: ...

    @property
    def v(self) -> np.ndarray: ...


def site_columns(inp: Inputs, entrance_col: str | None, floor_col: str | None) -> dict:
    """Entrance and floor of each household (ranks in natural order) from the named or detected columns."""
    extra = inp.extra_columns
    ids = inp.households["household_id"].to_numpy()
    out: dict = {
        "notes": [],
        "entrance_col": None,
        "floor_col": None,
        "entrance_rank": None,
        "floor_rank": None,
        "entrance": None,
        "floor": None,
        "building": None,
    }
    for key, given, names, label in (
        ("entrance", entrance_col, ENTRANCE_NAMES, "entrance (单元)"),
        ("floor", floor_col, FLOOR_NAMES, "floor (楼层)"),
    ):
        col = given
        if col is None:
            col = detect_column(extra.columns, names)
            if col is not None:
                out["notes"].append(f"households' column {col!r} taken as the {label} for dividing buildings")
        elif col not in extra.columns:
            raise InputError(
                f"households have no column {col!r} for the {label} (columns: "
                f"{', '.join(map(str, extra.columns)) or 'none'}); name one with {key}_col="
            )
        if col is not None:
            vals = extra[col].reindex(ids).to_numpy(dtype=object)
            out[f"{key}_col"], out[key], out[f"{key}_rank"] = col, vals, natural_codes(vals)
    bcol = detect_column(extra.columns, ("building", "楼栋", "楼号", "building_id"))
    if bcol is not None:
        out["building"] = extra[bcol].reindex(ids).to_numpy(dtype=object)
    return out


def chunk_steps(lo: int, hi: int, divide_sites: str = "auto") -> list[tuple[int | None, int | None]]:
    """``(chunk persons, divisible above)`` to try in turn: a quarter and half the band, then one household.

    Sites heavier than half the band are divisible, in chunks of a quarter of
    it; where that is too coarse to meet the bounds (a cut must land in a
    narrow window), every site of several households is divisible, household
    by household. ``divide_sites="never"``: every site whole.
    """
    if divide_sites != "auto":
        return [(None, None)]
    return [(max(1, (hi - lo) // 4), max(1, (hi - lo) // 2)), (1, 1)]


def units_and_graph(
    inp: Inputs,
    cut_areas: np.ndarray | None,
    q: int | None,
    site_cols: dict,
    snap_tolerance: float,
    hi_f: int,
    above: int | None = None,
) -> tuple[Units, UnitGraph, np.ndarray, np.ndarray, np.ndarray]:
    """Stages 2-3: units and their graph with division costs.

    No unit crosses the outline of a polygon of ``cut_areas`` (parents, a
    plan's grids; None: no such lines). Sites above ``above`` persons are
    divided in chunks of ``q`` (None: every site whole); landmarks heavier
    than ``hi_f`` may be divided at a cost.
    """
    units = units_from_inputs(
        inp,
        snap_tolerance=snap_tolerance,
        cut_lines=None if cut_areas is None else shapely.get_parts(shapely.boundary(np.asarray(cut_areas))),
        division=None
        if q is None
        else Division(q, entrance=site_cols["entrance_rank"], floor=site_cols["floor_rank"], divisible_above=above),
    )
    graph = build_graph(units)
    soft = np.empty(0, np.int64)
    if q is not None:  # a landmark holding more persons than a grid may be divided, at a cost
        has = units.landmark >= 0
        lm_persons = np.bincount(units.landmark[has], weights=units.persons[has], minlength=1)
        soft = np.flatnonzero(lm_persons > hi_f)
    graph = division_costs(graph, units, soft)
    hh_unit = units.unit_of_household
    hh_ids = inp.households["household_id"]
    names = np.array([f"unit {i} (empty land)" for i in range(units.n)], dtype=object)
    first_hh = np.full(units.n, len(hh_unit))
    np.minimum.at(first_hh, hh_unit, np.arange(len(hh_unit)))
    n_hh = np.bincount(hh_unit, minlength=units.n)
    for i in np.flatnonzero(first_hh < len(hh_unit)):
        first = hh_ids.iat[first_hh[i]]
        names[i] = (
            f"household {first!r}" if n_hh[i] == 1 else f"the site of household {first!r} and {n_hh[i] - 1} others"
        )
    return units, graph, soft, names, whole_groups(units, graph, soft)


def run_levels(
    units: Units,
    graph: UnitGraph,
    par: gpd.GeoDataFrame | None,
    specs: list[tuple[str, int, int]],
    inp: Inputs,
    *,
    names: np.ndarray,
    whole: np.ndarray,
    code_prefix: str,
    k: int | None,
    seed: int | np.random.Generator | None,
    tries: int,
    refine: bool,
    on_infeasible: str,
    restarts: int,
    compactness: float,
) -> tuple[list[gpd.GeoDataFrame], np.ndarray, list[tuple[str, int, int]], list[str]]:
    """Stage 4-5 per level, coarse to fine: partition inside the level above, dissolve, order, code, name.

    Returns the grid layers (coarse to fine), the finest grid index per unit,
    the level specs (with the parents first when given) and notes.
    """
    unit_xy = shapely.get_coordinates(shapely.point_on_surface(units.geometry))
    layers: list[gpd.GeoDataFrame] = []
    parent_of_unit = None  # grid index (0-based, in final order) of the previous level per unit
    parent_codes: list[str] = []
    notes: list[str] = []
    if par is not None:
        parent_of_unit, par_layer, notes = units_in_parents(units, par, code_prefix, inp.work_crs)
        parent_codes = par_layer["code"].tolist()
        layers.append(par_layer)
        specs = [("parent", 0, 10**9)] + specs
    for _name, lo_l, hi_l in specs[len(layers) :]:
        labels, flags, parent_of_region = partition_within(
            units,
            graph,
            parent_of_unit,
            lo=max(int(lo_l), 1),
            hi=int(hi_l),
            k=k,
            groups=whole,
            seed=seed,
            tries=tries,
            refine=refine,
            on_infeasible=on_infeasible,
            names=names,
            xy=unit_xy,
            restarts=restarts,
            compactness=compactness,
            parent_ids=layers[-1]["grid_id"].tolist() if layers else None,  # named in an InfeasibleError
        )
        layer, final, codes = grid_layer(
            units,
            labels,
            flags,
            parent_of_region,
            parent_of_unit,
            parent_codes,
            layers[-1] if layers else None,
            inp,
            code_prefix,
        )
        layers.append(layer)
        parent_of_unit = final
        parent_codes = list(codes)
    assert parent_of_unit is not None  # specs is never empty: the finest level ran
    return layers, parent_of_unit, specs, notes


def partition_within(
    units: Units,
    graph: UnitGraph,
    parent_of_unit: np.ndarray | None,
    *,
    lo: int,
    hi: int,
    k: int | None,
    groups: np.ndarray,
    seed: int | np.random.Generator | None,
    tries: int,
    refine: bool,
    on_infeasible: str,
    names: np.ndarray,
    xy: np.ndarray,
    restarts: int,
    compactness: float = 0.5,
    parent_ids: Sequence[object] | None = None,
) -> tuple[np.ndarray, dict[int, list[tuple[Flag, str]]], np.ndarray | None]:
    """Partition the whole unit graph, or each parent region's part of it separately.

    Returns labels per unit (0..k-1), flags per label and the parent index of
    each label (None without parents). ``parent_ids`` (one per parent index)
    name a parent too light for a grid in the InfeasibleError.
    """
    area = shapely.area(units.geometry)
    perimeter = shapely.length(units.geometry)

    def solve(idx: np.ndarray, m: np.ndarray, k: int | None, seed: int | np.random.Generator | None):
        """partition_graph on units ``idx`` and the edges ``m`` between them."""
        local = np.full(units.n, -1)
        local[idx] = np.arange(len(idx))
        return partition_graph(
            units.persons[idx],
            local[graph.u[m]],
            local[graph.v[m]],
            graph.cost[m],
            lo=lo,
            hi=hi,
            k=k,
            groups=groups[idx],
            seed=seed,
            tries=tries,
            refine=refine,
            on_infeasible=on_infeasible,
            names=names[idx],
            xy=xy[idx],
            restarts=restarts,
            area=area[idx],
            perimeter=perimeter[idx],
            length=graph.length[m],
            compactness=compactness,
        )

    if parent_of_unit is None:
        r = solve(np.arange(units.n), np.ones(len(graph.u), bool), k, seed)
        return r.labels, r.flags, None
    rng = np.random.default_rng(seed)
    labels = np.full(units.n, -1)
    flags: dict[int, list[tuple[Flag, str]]] = {}
    parent_of_region: list[int] = []
    for pr in range(int(parent_of_unit.max()) + 1):
        idx = np.flatnonzero(parent_of_unit == pr)
        m = (parent_of_unit[graph.u] == pr) & (parent_of_unit[graph.v] == pr)
        who = f"parent {parent_ids[pr]!r}" if parent_ids is not None else f"parent {pr + 1}"
        p_hh, p_persons = int(units.n_households[idx].sum()), int(units.persons[idx].sum())
        if on_infeasible == "raise" and p_persons < lo:  # no grid of min persons fits: say which parent
            held = "no households" if p_hh == 0 else f"only {p_persons} persons ({p_hh} households)"
            raise InfeasibleError(
                f"{who} holds {held} on {area[idx].sum():,.1f} m2; no grid there can reach "
                f"min_persons={lo}: join it to a neighbouring parent, or pass "
                "on_infeasible='flag' (CLI: --on-infeasible flag) to give it one flagged grid",
                cause=Cause.EMPTY_PARENT,
            )
        r = solve(idx, m, None, rng)
        off = len(parent_of_region)
        labels[idx] = r.labels + off
        for key, val in r.flags.items():
            flags[key + off] = val
        parent_of_region.extend([pr] * r.k)
    return labels, flags, np.asarray(parent_of_region)


def connect_units(units: _Nodes, graph: _Edges, us: np.ndarray) -> np.ndarray:
    """``us`` and the lightest paths (by persons) joining them to the first, so a group is connected.

    ``units`` and ``graph`` may be :class:`~microgrid.units.Units` and
    :class:`~microgrid.graph.UnitGraph` or anything with their ``persons``,
    ``n`` and ``u``, ``v`` (repartition passes a part of them).
    """
    import scipy.sparse as sp
    from scipy.sparse.csgraph import dijkstra

    if len(us) < 2:
        return us
    w = units.persons.astype(float) + 1e-3
    m = sp.coo_matrix(
        (np.r_[w[graph.v], w[graph.u]], (np.r_[graph.u, graph.v], np.r_[graph.v, graph.u])), shape=(units.n, units.n)
    ).tocsr()
    _, pred = dijkstra(m, indices=int(us[0]), return_predecessors=True)
    out = set(us.tolist())
    for t in us[1:]:
        t = int(t)
        while pred[t] >= 0 and t not in (int(us[0]),):
            t = int(pred[t])
            out.add(t)
    return np.fromiter(out, int)


def pin_groups(
    whole: np.ndarray,
    units: Units,
    inp: Inputs,
    pinned: Mapping[Hashable, Hashable] | None,
    hi: int,
    graph: UnitGraph | None = None,
) -> np.ndarray:
    """``whole`` with the units of households pinned to one label (``{household_id: label}``) in one group.

    Households of one label far apart are joined by the lightest path of
    units between them, so their grid is one piece.

    Raises InputError for unknown households, InfeasibleError (cause
    ``pinned``) for a label whose households hold more than ``hi`` persons.
    """
    if not pinned:
        return whole
    ids = inp.households["household_id"].tolist()
    row = {h: i for i, h in enumerate(ids)}
    row.update({str(h): i for i, h in enumerate(ids) if str(h) not in row})
    unknown = [h for h in pinned if h not in row]
    if unknown:
        raise InputError(
            f"pinned households not among the households: {', '.join(map(repr, unknown[:10]))}"
            f"{f' (and {len(unknown) - 10} more)' if len(unknown) > 10 else ''}"
        )
    hu = units.unit_of_household
    out = whole.copy()
    label_of: dict = {}
    for h, lab in pinned.items():
        label_of.setdefault(lab, set()).add(int(hu[row[h]]))
    base = units.n + 1
    heavy = []
    for j, (lab, us) in enumerate(label_of.items()):
        us = np.fromiter(us, int)
        if graph is not None:
            us = connect_units(units, graph, us)
        joined = np.isin(out, out[us][out[us] >= 0]) & (out >= 0)
        joined[us] = True
        out[joined] = base + j
        p = int(units.persons[joined].sum())
        if p > hi:
            heavy.append(f"label {lab!r}: {p} persons with their buildings (max {hi})")
    if heavy:
        raise InfeasibleError(
            "households pinned to share a grid hold more than a grid may: " + "; ".join(heavy),
            cause=Cause.PINNED,
            ids=[h for h, lab in pinned.items()],
        )
    return out


def divide(
    inp: Inputs,
    par: gpd.GeoDataFrame | None,
    site_cols: dict,
    opts: PartitionOptions,
    pinned: Mapping[Hashable, Hashable] | None = None,
) -> tuple[
    Units, np.ndarray, list[gpd.GeoDataFrame], np.ndarray, list[tuple[str, int, int]], list[str], tuple[float, float]
]:
    """Units, graph and grid layers for every level, dividing sites only where whole ones cannot meet the bounds.

    The chunk sizes are :func:`chunk_steps`: where the first is too coarse,
    the units are built once more with every household a chunk of its own.
    Returns ``(units, soft_landmarks, layers, finest grid per unit, specs,
    notes, timings)``.
    """
    import time

    specs = opts.specs
    lo_f, hi_f = specs[-1][1], specs[-1][2]
    steps = chunk_steps(lo_f, hi_f, opts.divide_sites)
    for attempt, (q, above) in enumerate(steps):
        t0 = time.perf_counter()
        units, graph, soft, names, whole = units_and_graph(
            inp, None if par is None else par.geometry.to_numpy(), q, site_cols, opts.snap_tolerance, hi_f, above
        )
        whole = pin_groups(whole, units, inp, pinned, hi_f, graph)
        t1 = time.perf_counter()
        try:
            layers, parent_of_unit, specs_run, notes = run_levels(
                units,
                graph,
                par,
                specs,
                inp,
                names=names,
                whole=whole,
                code_prefix=opts.code_prefix,
                k=opts.n_grids if not opts.levels else None,
                seed=opts.random,
                tries=opts.tries,
                refine=opts.refine,
                on_infeasible=opts.on_infeasible,
                restarts=opts.restarts,
                compactness=opts.compactness,
            )
            return units, soft, layers, parent_of_unit, specs_run, notes, (t1 - t0, time.perf_counter() - t1)
        except InfeasibleError as exc:
            if attempt + 1 == len(steps) or exc.cause != Cause.NO_CUT or units.unit_site is None:
                raise
            log.info(
                "partition: buildings in chunks of %d persons could not meet the bounds (%s); "
                "dividing them by household",
                q,
                exc,
            )
    raise AssertionError("unreachable")  # pragma: no cover
