"""Public entry point: partition a community into micro-grids."""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import layer_to_wgs84, normalize_system, plan_from_wgs84
from .errors import InfeasibleError, InputError, InternalError
from .graph import build_graph, division_costs, whole_groups
from .inputs import prepare_inputs
from .naming import check_prefix, grid_codes, grid_names
from .plan import Plan
from .regions import partition_graph
from .sites import ENTRANCE_NAMES, FLOOR_NAMES, detect_column, divided_sites_table, natural_codes
from .units import units_from_inputs
from .validate import validate

__all__ = ["partition", "order_grids", "Level"]

log = logging.getLogger(__name__)


def _check_params(min_persons, max_persons, n_grids, on_infeasible, snap_tolerance, tries=6, restarts=3,
                  compactness=0.5):
    problems = []
    for name, val in (("min_persons", min_persons), ("max_persons", max_persons)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or not (0 <= val <= 10**9):
            problems.append(f"{name} must be a whole number >= 0, got {val!r}")
    if not problems and min_persons > max_persons:
        problems.append(f"min_persons={min_persons} is greater than max_persons={max_persons}; swap them")
    if not problems and max_persons < 1:
        problems.append("max_persons must be at least 1")
    if n_grids is not None and (isinstance(n_grids, bool) or not isinstance(n_grids, (int, np.integer))
                                or n_grids < 1):
        problems.append(f"n_grids must be a whole number >= 1 or None, got {n_grids!r}")
    for name, val in (("tries", tries), ("restarts", restarts)):
        if isinstance(val, bool) or not isinstance(val, (int, np.integer)) or val < 1:
            problems.append(f"{name} must be a whole number >= 1, got {val!r}")
    if isinstance(compactness, bool) or not isinstance(compactness, (int, float, np.integer, np.floating)) \
            or not math.isfinite(compactness) or compactness < 0:
        problems.append(f"compactness must be a number >= 0 (0 = lines only), got {compactness!r}")
    if on_infeasible not in ("raise", "flag"):
        problems.append(f"on_infeasible must be 'raise' or 'flag', got {on_infeasible!r}")
    if not (isinstance(snap_tolerance, (int, float)) and math.isfinite(snap_tolerance) and snap_tolerance >= 0):
        problems.append(f"snap_tolerance must be a number >= 0, got {snap_tolerance!r}")
    if problems:
        raise InputError(problems)


@dataclass(frozen=True)
class Level:
    """One level of nested grids: a name and its bounds of persons per grid.

    Examples
    --------
    >>> Level("microgrid", 200, 300)
    Level(name='microgrid', min_persons=200, max_persons=300)
    """

    name: str
    min_persons: int
    max_persons: int


def _check_levels(levels, n_grids):
    problems = []
    if n_grids is not None:
        problems.append("n_grids cannot be combined with levels; set each level's bounds instead")
    if not isinstance(levels, (list, tuple)) or not levels:
        raise InputError("levels must be a non-empty list of Level(name, min_persons, max_persons)")
    names = []
    for lv in levels:
        if not isinstance(lv, Level):
            problems.append(f"levels must hold Level objects, got {lv!r}")
            continue
        names.append(lv.name)
        if not isinstance(lv.name, str) or not lv.name.isidentifier():
            problems.append(f"level name {lv.name!r} must be a simple word (letters, digits, _)")
        try:
            _check_params(lv.min_persons, lv.max_persons, None, "raise", 0.0)
        except InputError as exc:
            problems.extend(f"level {lv.name}: {p}" for p in exc.problems)
    if len(set(names)) != len(names):
        problems.append(f"level names must be unique, got {names}")
    ok = [lv for lv in levels if isinstance(lv, Level)]
    for a, b in zip(ok, ok[1:]):
        if b.max_persons > a.max_persons or b.min_persons > a.min_persons:
            problems.append(f"levels go coarse to fine: {b.name} ({b.min_persons}..{b.max_persons}) cannot be "
                            f"larger than {a.name} ({a.min_persons}..{a.max_persons})")
    if problems:
        raise InputError(problems)


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


def partition(
    households,
    boundary,
    barriers=None,
    landmarks=None,
    *,
    min_persons: int = 200,
    max_persons: int = 300,
    n_grids: int | None = None,
    seed: int | np.random.Generator | None = 0,
    id_col: str = "household_id",
    persons_col: str = "persons",
    default_persons: int | None = None,
    kind_col: str | None = None,
    crs=None,
    outside: str = "error",
    snap_tolerance: float = 2.0,
    on_infeasible: str = "raise",
    tries: int = 6,
    restarts: int = 3,
    refine: bool = True,
    compactness: float = 0.5,
    code_prefix: str = "000000000000",
    levels: list | None = None,
    parents=None,
    parent_id_col: str | None = None,
    oversize: str | None = None,
    stack_col: str | None = None,
    input_crs: str | None = None,
    divide_sites: str = "auto",
    entrance_col: str | None = None,
    floor_col: str | None = None,
) -> Plan:
    """Divide a community into contiguous, population-balanced grids along its roads.

    Parameters
    ----------
    households : GeoDataFrame or path
        One point per household with an id and a persons column.
    boundary : GeoDataFrame, geometry or path
        The community/village polygon (several rows are unioned; a
        MultiPolygon with exclaves is fine).
    barriers : GeoDataFrame or path, optional
        Lines the grid boundaries should follow (roads, lanes, rivers, walls)
        with an optional kind column (``kind``, or OSM ``highway``).
    landmarks : GeoDataFrame or path, optional
        Points/polygons; a landmark polygon is never split between grids.
    min_persons, max_persons : int
        Hard bounds of persons per grid.
    n_grids : int, optional
        Number of grids; default: the feasible number closest to an average
        of ``(min_persons + max_persons) / 2`` persons per grid.
    seed : int, Generator or None
        Same inputs and seed give the same plan.
    id_col, persons_col : str
        Household id and persons columns.
    default_persons : int, optional
        Persons per household when the persons column is absent (only when
        you say so).
    kind_col : str, optional
        Barrier kind column (default: ``kind`` or ``highway`` when present).
    crs : optional
        CRS of inputs that carry none.
    outside : {"error", "drop", "snap", "nearest"}
        What to do with households outside the boundary. Never silent: the
        report's notes list every dropped or moved household. ``"nearest"``
        is a synonym of ``"snap"`` (the name :func:`partition_many` uses).
    snap_tolerance : float
        Road ends missing a junction or the boundary by at most this many
        metres are joined to it.
    on_infeasible : {"raise", "flag"}
        Raise :class:`InfeasibleError` when a bound cannot be met, or return
        the best plan with the offending grids flagged.
    tries : int
        Spanning trees drawn per split (more: slower, slightly better lines).
    restarts : int
        Independent bisections; the one with the cheapest cut is kept.
    refine : bool
        Improve the lines by moving boundary units after the first cut.
    compactness : float
        Weight of compact shapes against lines off the barriers in that
        refinement: raising one grid's Polsby-Popper score by 0.1 is worth
        ``0.1 * compactness * s`` metres of line through a block, ``s`` being
        the side of a square of the mean grid area. 0 follows the barriers
        only; higher values give rounder grids with a little more line off
        the barriers (see docs/benchmarks.md).
    code_prefix : str
        12 digits (6-digit division code + 3-digit street/town + 3-digit
        community) before each grid's 3-digit sequence in column ``code``.
    levels : list of Level, optional
        Nested levels, coarse to fine, e.g. ``[Level("grid", 800, 1500),
        Level("microgrid", 200, 300)]``: each level is partitioned inside the
        grids of the level above, so every coarse grid is exactly the union of
        its children. The finest level becomes ``plan.grids`` (with
        ``parent_id``); coarser ones ``plan.layers["grids_<name>"]``. Codes of
        a finer level extend their parent's code by 3 digits. Replaces
        ``min_persons``/``max_persons``; ``n_grids`` cannot be combined with it.
    parents : GeoDataFrame or path, optional
        Existing areas (villages, grids) to partition inside: no grid crosses
        a parent's outline, each grid gets the parent's id as ``parent_id``
        and the parents (clipped to the boundary, with persons counted) are
        returned as ``plan.layers["grids_parent"]``.
    parent_id_col : str, optional
        Parent id column (default ``parent_id``, else the first column).
    oversize : {None, "flag", "stack"}
        Older name of ``divide_sites``, kept as an alias: ``"stack"`` is
        ``divide_sites="auto"`` (the default); ``"flag"`` is
        ``divide_sites="never"`` with each site above max in its own
        flagged grid.
    stack_col : str, optional
        Older name of ``entrance_col``.
    input_crs : {None, "wgs84", "gcj02", "bd09"}, optional
        The lon/lat system of all geometry inputs when they come from a
        Chinese web map: ``"gcj02"`` (GCJ-02: Amap/Gaode, Tencent) or
        ``"bd09"`` (BD-09: Baidu); case and hyphens do not matter. They are
        converted to WGS84 first, and every layer of the plan (grids,
        households, boundary, barriers, units, coarser levels, violations)
        comes back in the same system, labelled EPSG:4326 (there is no EPSG
        code for either); ``plan.params["input_crs"]`` records it.
    divide_sites : {"auto", "never"}
        A site (one point holding several households: a building geocoded
        as one point; or a landmark polygon holding households) may be
        divided among grids only when whole sites cannot meet the bounds
        (``"auto"``): its households are taken in entrance, floor, id order,
        its cell is cut into strips in proportion to their persons, and the
        partition counts divided sites first, so it divides as few as it
        can, at entrance boundaries where it can. ``plan.divided_sites``
        lists every divided site and its parts; households get ``site_id``
        and ``site_part``. ``"never"`` keeps every site whole; then the
        bounds may be infeasible and the error names the sites no grid can
        hold.
    entrance_col, floor_col : str, optional
        Household columns with the entrance (单元) and floor (楼层) used to
        divide a site. Default: a column named ``entrance``/``单元`` and
        ``floor``/``楼层`` when there is one (said in the report's notes);
        else households are divided in id order.

    Returns
    -------
    Plan

    Raises
    ------
    InputError
        Bad inputs: the message names the ids and the fix.
    InfeasibleError
        The bounds cannot be met (a single site above max, an isolated part
        below min, no grid count fits), unless ``on_infeasible="flag"``.

    Examples
    --------
    >>> import microgrid
    >>> hh, bnd, roads, marks = microgrid.samples.make_village(n_households=400, seed=3)
    >>> plan = microgrid.partition(hh, bnd, roads, marks, seed=0)
    >>> plan.report.ok
    True
    >>> bool(plan.grids["persons"].between(200, 300).all())
    True
    """
    t0 = time.perf_counter()
    system = "wgs84" if input_crs is None else normalize_system(input_crs)
    if system != "wgs84":
        households, boundary, barriers, landmarks, parents = (
            None if x is None else layer_to_wgs84(x, system, what=w, crs=crs)
            for x, w in ((households, "households"), (boundary, "boundary"), (barriers, "barriers"),
                         (landmarks, "landmarks"), (parents, "parents"))
        )
    _check_params(min_persons, max_persons, n_grids, on_infeasible, snap_tolerance, tries, restarts, compactness)
    if not (seed is None or isinstance(seed, np.random.Generator)
            or (isinstance(seed, (int, np.integer)) and not isinstance(seed, bool) and seed >= 0)):
        raise InputError(f"seed must be a whole number >= 0, a numpy Generator or None, got {seed!r}")
    check_prefix(code_prefix)
    if oversize not in (None, "flag", "stack"):
        raise InputError(f"oversize must be None, 'flag' or 'stack', got {oversize!r}")
    if divide_sites not in ("auto", "never"):
        raise InputError(f"divide_sites must be 'auto' or 'never', got {divide_sites!r}")
    heavy_mode = "raise"
    if oversize == "flag":  # the older spelling of: keep sites whole, each heavy one in its own flagged grid
        divide_sites, heavy_mode = "never", "flag"
    entrance_col = entrance_col if entrance_col is not None else stack_col
    if levels is not None:
        _check_levels(levels, n_grids)
    inp = prepare_inputs(
        households, boundary, barriers, landmarks, id_col=id_col, persons_col=persons_col,
        default_persons=default_persons, kind_col=kind_col, crs=crs, outside=outside,
    )
    hh = inp.households
    persons = hh["persons"].to_numpy(np.int64)
    par = None
    if parents is not None:
        if n_grids is not None:
            raise InputError("n_grids cannot be combined with parents; each parent gets its own count")
        par = _read_parents(parents, parent_id_col, inp)
    specs = [(lv.name, lv.min_persons, lv.max_persons) for lv in levels] if levels else \
        [("grid", min_persons, max_persons)]
    lo_f, hi_f = int(specs[-1][1]), int(specs[-1][2])
    site_cols = _site_columns(inp, entrance_col, floor_col)
    # sites heavier than half the band are divisible, in chunks of a quarter of it; where that is too coarse to
    # meet the bounds (a cut must land in a narrow window), once more with every household a chunk of its own
    steps = [(max(1, (hi_f - lo_f) // 4), max(1, (hi_f - lo_f) // 2)), (1, 1)] if divide_sites == "auto" else \
        [(None, None)]
    for attempt, (q, above) in enumerate(steps):
        units, graph, soft, names, whole = _units_and_graph(inp, par, q, site_cols, snap_tolerance, hi_f, above)
        t_units = t_graph = time.perf_counter()
        try:
            layers, parent_of_unit, specs_run, notes_par = _levels(
                units, graph, par, specs, inp, names=names, whole=whole, code_prefix=code_prefix,
                k=n_grids if not levels else None, seed=seed, tries=tries, refine=refine, on_infeasible=on_infeasible,
                restarts=restarts, compactness=compactness, heavy_mode=heavy_mode)
            break
        except InfeasibleError as exc:
            if attempt + 1 == len(steps) or exc.cause != "no_cut" or units.unit_site is None:
                raise
            log.info("partition: buildings in chunks of %d persons could not meet the bounds (%s); "
                     "dividing them by household", q, exc)
    inp.notes.extend(notes_par)
    specs = specs_run
    hh_unit = units.unit_of_household
    t_part = time.perf_counter()
    min_persons, max_persons = int(specs[-1][1]), int(specs[-1][2])
    grid_of_hh = parent_of_unit[hh_unit]  # 0-based finest grid per household
    grids = layers[-1]
    lm_names = None
    if inp.landmarks is not None and "name" in inp.landmarks.columns:
        lm_names = inp.landmarks["name"].to_numpy(dtype=object)
    divided, site_id, site_part = divided_sites_table(
        units, parent_of_unit, grids["grid_id"].to_numpy(), hh, site_cols, crs=inp.work_crs,
        soft_landmarks=soft, landmark_names=lm_names)
    k = len(grids)
    grid_of_unit = parent_of_unit + 1
    hh_out = gpd.GeoDataFrame(
        {"household_id": hh["household_id"].to_numpy(), "grid_id": grids["grid_id"].to_numpy()[grid_of_hh],
         "persons": persons, "site_id": site_id, "site_part": site_part},
        geometry=hh.geometry.to_numpy(),
        crs=inp.work_crs,
    )
    extra = inp.extra_columns
    if len(extra.columns):
        extra = extra.reindex(hh_out["household_id"].to_numpy())  # ids are unique: checked on input
        for c in extra.columns:
            if c not in hh_out.columns:
                hh_out[c] = extra[c].to_numpy()
    # the boundary layer carries the bounds, so a written plan validates against them
    bnd = gpd.GeoDataFrame({**_boundary_name(inp), "min_persons": [min_persons], "max_persons": [max_persons]},
                           geometry=[units.boundary], crs=inp.work_crs)
    bars = gpd.GeoDataFrame({"kind": [None if k_ is None else str(k_) for k_ in units.barrier_kind],
                             "rank": units.barrier_rank, **_barrier_names(inp, units)},
                            geometry=units.barriers, crs=inp.work_crs)
    notes = list(inp.notes) + site_cols["notes"] + _divided_notes(divided, grids)
    report = validate(
        grids, hh_out, bnd, bars if len(bars) else None, min_persons=min_persons, max_persons=max_persons,
        assignment_col="grid_id", notes=notes, divided_sites=divided if len(divided) else None,
    )
    m = report.metrics
    # end-of-run invariants: never return a wrong plan silently
    broken = []
    if m["households_out"] != len(hh) or len(hh_out) != len(hh):
        broken.append(f"households in {len(hh)} != out {m['households_out']}")
    if m["persons_out"] != int(persons.sum()):
        broken.append(f"persons in {int(persons.sum())} != out {m['persons_out']}")
    if not m["coverage_valid"]:
        broken.append(f"coverage invalid (gaps {m['gap_area']:.3f} m2, overlaps {m['overlap_area']:.3f} m2)")
    for r in report.errors.itertuples():
        broken.append(r.message)
    level_reports = {}
    for (lname, lo_l, hi_l), layer in zip(specs[:-1], layers[:-1]):
        if lname == "parent" and par is not None:
            lo_l, hi_l = 0, 10**9
        hh_l = hh_out[["household_id", "persons", "site_id", "geometry"]].copy()
        hh_l["grid_id"] = layer["grid_id"].to_numpy()[parent_index_of(layers, len(level_reports), grid_of_unit - 1)[
            hh_unit]]
        rep_l = validate(layer, hh_l, bnd, None, min_persons=lo_l, max_persons=hi_l, assignment_col="grid_id")
        level_reports[lname] = rep_l
        broken.extend(f"level {lname}: {r.message}" for r in rep_l.errors.itertuples())
    if broken:
        raise InternalError("the plan failed its own checks: " + "; ".join(broken[:10]))
    grids["area_m2"] = report.per_grid["area_m2"].to_numpy()
    grids["online_share"] = report.per_grid["online_share"].to_numpy()
    grids["polsby_popper"] = report.per_grid["polsby_popper"].to_numpy()
    unit_gdf = gpd.GeoDataFrame(
        {"unit_id": np.arange(units.n), "grid_id": grid_of_unit, "persons": units.persons,
         "households": units.n_households, "landmark": units.landmark},
        geometry=units.geometry, crs=inp.work_crs,
    )
    out = inp.out_crs

    def back(gdf):
        return gdf.to_crs(out) if gdf.crs != out else gdf

    t_end = time.perf_counter()
    log.info("partition: %d households, %d units, %d grids; units %.2fs graph %.2fs partition %.2fs "
             "assemble+validate %.2fs", len(hh), units.n, k, t_units - t0, t_graph - t_units,
             t_part - t_graph, t_end - t_part)
    params = {
        "min_persons": min_persons, "max_persons": max_persons, "n_grids": n_grids, "code_prefix": code_prefix,
        "seed": seed if isinstance(seed, (int, type(None))) else "generator", "snap_tolerance": snap_tolerance,
        "work_crs": inp.work_crs.to_string(), "dropped": inp.dropped, "snapped": inp.snapped,
        "timings": {"units": t_units - t0, "graph": t_graph - t_units, "partition": t_part - t_graph,
                    "assemble": t_end - t_part},
        "divide_sites": divide_sites, "entrance_col": site_cols["entrance_col"],
        "floor_col": site_cols["floor_col"], "divided_sites": len(divided),
    }
    for (lname, _, _), layer in zip(specs[:-1], layers[:-1]):
        rep_l = level_reports[lname]
        layer["area_m2"] = rep_l.per_grid["area_m2"].to_numpy()
        layer["polsby_popper"] = rep_l.per_grid["polsby_popper"].to_numpy()
    if levels:
        params["levels"] = [list(x) for x in specs]
    plan = Plan(
        grids=back(grids), households=back(hh_out), report=report, boundary=back(bnd),
        barriers=back(bars), units=back(unit_gdf), params=params,
        layers={f"grids_{lname}": back(layer) for (lname, _, _), layer in zip(specs[:-1], layers[:-1])}
        | ({"divided_sites": back(divided)} if len(divided) else {}),
        level_reports=level_reports,
    )
    return plan if system == "wgs84" else plan_from_wgs84(plan, system)


def _units_and_graph(inp, par, q, site_cols, snap_tolerance, hi_f, above=None):
    """Stages 2-3: units (sites above ``above`` persons in chunks of ``q``, None: whole) and their graph with
    division costs."""
    units = units_from_inputs(
        inp, snap_tolerance=snap_tolerance,
        cut_lines=None if par is None else shapely.get_parts(shapely.boundary(par.geometry.to_numpy())),
        chunk_persons=q, entrance=site_cols["entrance_rank"], floor=site_cols["floor_rank"], divisible_above=above,
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
    for i in np.flatnonzero(first_hh < len(hh_unit)):
        names[i] = f"household {hh_ids.iat[first_hh[i]]!r}"
    return units, graph, soft, names, whole_groups(units, graph, soft)


def _levels(units, graph, par, specs, inp, *, names, whole, code_prefix, k, seed, tries, refine, on_infeasible,
            restarts, compactness, heavy_mode):
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
        parent_of_unit, par_layer, notes = _units_in_parents(units, par, code_prefix, inp.work_crs)
        parent_codes = par_layer["code"].tolist()
        layers.append(par_layer)
        specs = [("parent", 0, 10**9)] + specs
    for _name, lo_l, hi_l in specs[len(layers):]:
        labels, flags, parent_of_region = _partition_within(
            units, graph, parent_of_unit, lo=max(int(lo_l), 1), hi=int(hi_l),
            k=k, groups=whole, seed=seed, tries=tries, refine=refine,
            on_infeasible=on_infeasible, names=names, xy=unit_xy, restarts=restarts, compactness=compactness,
            heavy=heavy_mode if _name == specs[-1][0] else "raise",
        )
        layer, final, codes = _assemble(units, labels, flags, parent_of_region, parent_of_unit, parent_codes,
                                        layers[-1] if layers else None, inp, code_prefix)
        layers.append(layer)
        parent_of_unit = final
        parent_codes = list(codes)
    return layers, parent_of_unit, specs, notes


def _barrier_names(inp, units) -> dict:
    """``{"name": [...]}``: each barrier line's name from the input line it comes from; {} without names."""
    src = getattr(units, "barrier_source", None)
    if "name" not in inp.barriers.columns or src is None or len(src) != len(units.barriers):
        return {}
    names = inp.barriers["name"].to_numpy(dtype=object)
    return {"name": [None if pd.isna(v) else str(v) for v in names[src]] if len(src) else []}


def _boundary_name(inp) -> dict:
    """``{"name": [...]}`` of the boundary (its rows' names joined), or {} when it has none."""
    names = [str(v) for v in (inp.boundary_names or []) if v is not None and not pd.isna(v) and str(v).strip()]
    return {"name": ["、".join(dict.fromkeys(names))]} if names else {}


def _assemble(units, labels, flags, parent_of_region, parent_of_unit, parent_codes, parent_layer, inp, code_prefix):
    """Dissolve units into grids, order them (within their parent), code and name them."""
    k = int(labels.max()) + 1
    geoms = np.empty(k, dtype=object)
    for r in range(k):
        geoms[r] = shapely.coverage_union_all(units.geometry[labels == r])
    if parent_of_unit is None:
        order = order_grids(geoms)
        seq = np.arange(1, k + 1)
        codes = grid_codes(seq, code_prefix)
    else:  # children numbered within their parent, parents in their own order
        order = np.concatenate([np.flatnonzero(parent_of_region == pr)[order_grids(geoms[parent_of_region == pr])]
                                for pr in range(int(parent_of_region.max()) + 1)])
        seq = np.concatenate([np.arange(1, int((parent_of_region == pr).sum()) + 1)
                              for pr in range(int(parent_of_region.max()) + 1)])
        codes = grid_codes(seq, parent_codes=[parent_codes[parent_of_region[r]] for r in order])
    new_id = np.empty(k, int)
    new_id[order] = np.arange(k)
    final = new_id[labels]  # 0-based grid index in final order, per unit
    reasons = [""] * k
    for r, rs in flags.items():
        reasons[new_id[r]] = "; ".join(dict.fromkeys(rs))  # each reason once, in order
    cols = {
        "grid_id": np.arange(1, k + 1),
        "code": codes,
        "name": grid_names(geoms[order], inp.landmarks, inp.barriers),
        "persons": np.bincount(final, weights=units.persons, minlength=k).astype(np.int64),
        "households": np.bincount(final, weights=units.n_households, minlength=k).astype(np.int64),
        "flagged": np.array([bool(x) for x in reasons]),
        "flag_reason": reasons,
    }
    if parent_layer is not None:
        cols["parent_id"] = parent_layer["grid_id"].to_numpy()[parent_of_region[order]]
    return gpd.GeoDataFrame(cols, geometry=geoms[order], crs=inp.work_crs), final, codes


def _site_columns(inp, entrance_col, floor_col) -> dict:
    """Entrance and floor of each household (ranks in natural order) from the named or detected columns."""
    extra = inp.extra_columns
    ids = inp.households["household_id"].to_numpy()
    out = {"notes": [], "entrance_col": None, "floor_col": None, "entrance_rank": None, "floor_rank": None,
           "entrance": None, "floor": None, "building": None}
    for key, given, names, label in (("entrance", entrance_col, ENTRANCE_NAMES, "entrance (单元)"),
                                     ("floor", floor_col, FLOOR_NAMES, "floor (楼层)")):
        col = given
        if col is None:
            col = detect_column(extra.columns, names)
            if col is not None:
                out["notes"].append(f"households' column {col!r} taken as the {label} for dividing buildings")
        elif col not in extra.columns:
            raise InputError(f"households have no column {col!r} for the {label} (columns: "
                             f"{', '.join(map(str, extra.columns)) or 'none'}); name one with {key}_col=")
        if col is not None:
            vals = extra[col].reindex(ids).to_numpy(dtype=object)
            out[f"{key}_col"], out[key], out[f"{key}_rank"] = col, vals, natural_codes(vals)
    bcol = detect_column(extra.columns, ("building", "楼栋", "楼号", "building_id"))
    if bcol is not None:
        out["building"] = extra[bcol].reindex(ids).to_numpy(dtype=object)
    return out


def _divided_notes(divided, grids) -> list[str]:
    if not len(divided):
        return []
    code = dict(zip(grids["grid_id"].tolist(), grids["code"].tolist()))
    notes = [f"{divided['site_id'].nunique()} sites divided between grids (whole sites could not meet the bounds)"]
    for sid, rows in list(divided.groupby("site_id", sort=True))[:20]:
        parts = ", ".join(f"{_part_text(r)} -> grid {r.grid_id} ({code.get(r.grid_id)}, {r.persons} persons)"
                          for r in rows.itertuples())
        notes.append(f"site {sid} ({rows['site_label'].iloc[0]}, {rows['site_persons'].iloc[0]} persons): {parts}")
    if divided["site_id"].nunique() > 20:
        notes.append(f"... and {divided['site_id'].nunique() - 20} more divided sites (layer divided_sites)")
    return notes


def _part_text(r) -> str:
    """What of a site one part holds: entrances and floors, else its households' id range."""
    where = " ".join(x for x in (r.entrances, f"floors {r.floors}" if r.floors else "") if x)
    return where or f"households {r.first_household}..{r.last_household}"


def _read_parents(parents, id_col, inp) -> gpd.GeoDataFrame:
    from .inputs import adopt_crs, read_layer

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
        id_col = "parent_id" if "parent_id" in p.columns else next(
            (c for c in p.columns if c != p.geometry.name), None)
    ids = p[id_col].tolist() if id_col is not None else list(range(1, len(p) + 1))
    if id_col is not None and id_col not in p.columns:
        raise InputError(f"parents have no column {id_col!r}")
    if len(set(ids)) != len(ids):
        raise InputError(f"parent ids in {id_col!r} are not unique")
    out = gpd.GeoDataFrame({"source_id": np.asarray(ids, dtype=object)[keep],
                            "code": p["code"].astype(str).to_numpy()[keep] if "code" in p.columns else None},
                           geometry=geoms[keep], crs=inp.work_crs)
    return out.reset_index(drop=True)


def _units_in_parents(units, par, code_prefix, crs):
    """Parent index per unit (by representative point), and the parents as a plan layer."""
    notes = []
    rp = shapely.point_on_surface(units.geometry)
    tree = shapely.STRtree(par.geometry.to_numpy())
    ui, pi = tree.query(rp, predicate="within")
    parent_of_unit = np.full(units.n, -1)
    o = np.lexsort((pi, ui))
    first = np.r_[True, ui[o][1:] != ui[o][:-1]] if len(ui) else np.empty(0, bool)
    parent_of_unit[ui[o][first]] = pi[o][first]
    lost = np.flatnonzero(parent_of_unit < 0)
    if len(lost):
        area = float(shapely.area(units.geometry[lost]).sum())
        if area >= 1.0:
            c = shapely.centroid(shapely.union_all(units.geometry[lost]))
            raise InputError(f"the parents leave {area:.1f} m2 of the boundary uncovered (around "
                             f"{c.x:.1f}, {c.y:.1f}); give parents that cover the whole boundary "
                             "(microgrid repair can close their gaps)")
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
    codes = (src["code"].tolist() if src["code"].notna().all() and "code" in src.columns and
             src["code"].iloc[0] is not None else grid_codes(np.arange(1, len(used) + 1), code_prefix))
    k = len(used)
    layer = gpd.GeoDataFrame({
        "grid_id": src["source_id"].tolist(), "code": codes, "name": [None] * k,
        "persons": np.bincount(parent_of_unit, weights=units.persons, minlength=k).astype(np.int64),
        "households": np.bincount(parent_of_unit, weights=units.n_households, minlength=k).astype(np.int64),
        "flagged": np.zeros(k, bool), "flag_reason": [""] * k,
    }, geometry=geoms[order], crs=crs)
    return parent_of_unit, layer, notes


def parent_index_of(layers: list, level: int, finest: np.ndarray) -> np.ndarray:
    """Map finest-level grid indices (0-based) to grid indices of ``level`` via the parent_id chain."""
    idx = finest
    for lv in range(len(layers) - 1, level, -1):
        pos = {v: i for i, v in enumerate(layers[lv - 1]["grid_id"].tolist())}
        idx = np.array([pos[v] for v in layers[lv]["parent_id"].to_numpy()[idx]], dtype=int)
    return idx


def _partition_within(units, graph, parent_of_unit, *, lo, hi, k, groups, seed, tries, refine,
                      on_infeasible, names, xy, restarts, heavy="raise", compactness=0.5):
    """Partition the whole unit graph, or each parent region's part of it separately.

    Returns labels per unit (0..k-1), flags per label and the parent index of
    each label (None without parents).
    """
    area = shapely.area(units.geometry)
    perimeter = shapely.length(units.geometry)
    if parent_of_unit is None:
        r = partition_graph(units.persons, graph.u, graph.v, graph.cost, lo=lo, hi=hi, k=k, groups=groups,
                            seed=seed, tries=tries, refine=refine, on_infeasible=on_infeasible, names=names,
                            xy=xy, restarts=restarts, heavy=heavy, area=area, perimeter=perimeter,
                            length=graph.length, compactness=compactness)
        return r.labels, r.flags, None
    rng = np.random.default_rng(seed)
    labels = np.full(units.n, -1)
    flags: dict[int, list[str]] = {}
    parent_of_region: list[int] = []
    for pr in range(int(parent_of_unit.max()) + 1):
        idx = np.flatnonzero(parent_of_unit == pr)
        local = np.full(units.n, -1)
        local[idx] = np.arange(len(idx))
        m = (parent_of_unit[graph.u] == pr) & (parent_of_unit[graph.v] == pr)
        r = partition_graph(units.persons[idx], local[graph.u[m]], local[graph.v[m]], graph.cost[m], lo=lo, hi=hi,
                            groups=groups[idx], seed=rng, tries=tries, refine=refine, on_infeasible=on_infeasible,
                            names=names[idx], xy=xy[idx], restarts=restarts, heavy=heavy, area=area[idx],
                            perimeter=perimeter[idx], length=graph.length[m], compactness=compactness)
        off = len(parent_of_region)
        labels[idx] = r.labels + off
        for key, val in r.flags.items():
            flags[key + off] = val
        parent_of_region.extend([pr] * r.k)
    return labels, flags, np.asarray(parent_of_region)


