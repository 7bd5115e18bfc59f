"""Stage calls of :func:`partition`: inputs -> units -> graph -> regions per level -> grids -> checked plan.

The stages live in their own modules: :mod:`.levels` (units, graph and the
regions of every level, dividing sites only where needed), :mod:`.regions`
(one level: counts, bisection, small parts, refinement), :mod:`.bisection`
(spanning-tree cuts), :mod:`.refinement` (the objective and the V-cycle),
:mod:`.parents` (partitioning inside given areas) and :mod:`.assembly`
(dissolve, order, code, name, the plan's layers and its own checks).
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import TYPE_CHECKING

import numpy as np

from .._types import CRSLike, LayerLike
from ..crs import layer_to_wgs84, plan_from_wgs84
from ..errors import InputError
from ..inputs import input_digests, prepare_inputs
from ..options import Level, PartitionOptions
from ..plan import Plan
from ..sites import divided_sites_table
from .assembly import check_plan, context_layers, divided_notes, household_layer, order_grids
from .flags import Cause, Flag
from .levels import divide, site_columns
from .parents import read_parents
from .regions import feasible_counts, partition_graph

if TYPE_CHECKING:
    import geopandas as gpd

    from ..inputs import Inputs
    from ..units import Units

__all__ = [
    "partition",
    "Level",
    "PartitionOptions",
    "order_grids",
    "partition_graph",
    "feasible_counts",
    "Cause",
    "Flag",
]

log = logging.getLogger(__name__)


def partition(
    households: LayerLike,
    boundary: LayerLike,
    barriers: LayerLike = None,
    landmarks: LayerLike = None,
    *,
    min_persons: int = 200,
    max_persons: int = 300,
    n_grids: int | None = None,
    seed: int | np.random.Generator | None = 0,
    id_col: str = "household_id",
    persons_col: str = "persons",
    default_persons: int | None = None,
    kind_col: str | None = None,
    crs: CRSLike = None,
    outside: str = "error",
    snap_tolerance: float = 2.0,
    on_infeasible: str = "raise",
    tries: int = 6,
    restarts: int = 3,
    refine: bool = True,
    compactness: float = 0.5,
    code_prefix: str = "000000000000",
    levels: list | None = None,
    parents: LayerLike = None,
    parent_id_col: str | None = None,
    oversize: str | None = None,
    stack_col: str | None = None,
    input_crs: str | None = None,
    divide_sites: str = "auto",
    entrance_col: str | None = None,
    floor_col: str | None = None,
    options: PartitionOptions | None = None,
    pinned: dict | None = None,
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
    crs : pyproj.CRS, str or int, optional
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

    options : PartitionOptions, optional
        All of the options above in one record, e.g. ``plan.options`` of an
        earlier plan to reproduce it; keywords given as well (other than at
        their defaults) override it.
    pinned : dict, optional
        ``{household_id: label}``: households with the same label end in one
        grid (the label is any value; it is not the grid id, there being no
        grids yet). Data, not an option: not stored in ``plan.options``.
        A label whose households (with their buildings) hold more than max
        persons raises :class:`InfeasibleError` (cause ``pinned``). To keep
        grids of an existing plan, see :func:`microgrid.repartition`
        (``locked=``, and ``pinned=`` to grid ids).

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
    opts = _options(
        options, oversize=oversize, stack_col=stack_col, **{k: v for k, v in locals().items() if k in _OPTION_NAMES}
    )
    t0 = time.perf_counter()
    system = opts.input_crs or "wgs84"
    if system != "wgs84":
        households, boundary, barriers, landmarks, parents = (
            None if x is None else layer_to_wgs84(x, system, what=w, crs=opts.crs)
            for x, w in (
                (households, "households"),
                (boundary, "boundary"),
                (barriers, "barriers"),
                (landmarks, "landmarks"),
                (parents, "parents"),
            )
        )
    inp = prepare_inputs(households, boundary, barriers, landmarks, options=opts)
    par = None
    if parents is not None:
        if opts.n_grids is not None:
            raise InputError("n_grids cannot be combined with parents; each parent gets its own count")
        par = read_parents(parents, opts.parent_id_col, inp)
    site_cols = site_columns(inp, opts.entrance_col, opts.floor_col)
    units, soft, layers, finest, specs, notes_par, (t_units, t_part) = divide(inp, par, site_cols, opts, pinned)
    inp.notes.extend(notes_par)
    t1 = time.perf_counter()
    plan = _assemble(inp, units, soft, layers, finest, specs, site_cols, opts, par is not None)
    t_end = time.perf_counter()
    plan.params.update(
        timings={"units_and_graph": t_units, "partition": t_part, "assemble": t_end - t1, "total": t_end - t0}
    )
    log.info(
        "partition: %d households, %d units, %d grids; units+graph %.2fs partition %.2fs assemble+validate %.2fs",
        len(inp.households),
        units.n,
        len(plan.grids),
        t_units,
        t_part,
        t_end - t1,
    )
    return plan if system == "wgs84" else plan_from_wgs84(plan, system)


#: The keyword options of :func:`partition`, as in :class:`PartitionOptions`.
_OPTION_NAMES = [f for f in PartitionOptions.__dataclass_fields__ if f != "rng"]


def _options(
    options: PartitionOptions | None, *, oversize: str | None = None, stack_col: str | None = None, **given: object
) -> PartitionOptions:
    """The options of a run: ``options`` (or the defaults) with the keywords that differ from the defaults."""
    sig = inspect.signature(partition).parameters
    changed = {k: v for k, v in given.items() if not _same(v, sig[k].default)}
    if oversize is not None:
        changed["oversize"] = oversize
    if stack_col is not None:
        changed["stack_col"] = stack_col
    if options is None:
        return PartitionOptions.from_kwargs(**changed)
    if not isinstance(options, PartitionOptions):
        raise InputError(f"options must be a microgrid.PartitionOptions, got {type(options).__name__}")
    return (
        PartitionOptions.from_kwargs(**(options.to_dict() | {"seed": options.random}) | changed) if changed else options
    )


def _same(a: object, b: object) -> bool:
    try:
        return bool(a is b or (type(a) is type(b) and a == b))
    except Exception:  # arrays, generators: not a default
        return False


def _assemble(
    inp: Inputs,
    units: Units,
    soft: np.ndarray,
    layers: list[gpd.GeoDataFrame],
    finest: np.ndarray,
    specs: list[tuple[str, int, int]],
    site_cols: dict,
    opts: PartitionOptions,
    has_parents: bool,
) -> Plan:
    """The plan from the grid layers: households, divided sites, context layers, checks, back in the input CRS."""
    grids = layers[-1]
    hh_unit = units.unit_of_household
    lm_names = None
    if inp.landmarks is not None and "name" in inp.landmarks.columns:
        lm_names = inp.landmarks["name"].to_numpy(dtype=object)
    divided, site_id, site_part = divided_sites_table(
        units,
        finest,
        grids["grid_id"].to_numpy(),
        inp.households,
        site_cols,
        crs=inp.work_crs,
        soft_landmarks=soft,
        landmark_names=lm_names,
    )
    hh_out = household_layer(inp, grids, finest[hh_unit], site_id, site_part)
    lo, hi = specs[-1][1], specs[-1][2]
    bnd, bars, unit_gdf = context_layers(units, finest + 1, lo, hi, inp)
    notes = list(inp.notes) + site_cols["notes"] + divided_notes(divided, grids)
    report, level_reports = check_plan(
        grids, hh_out, bnd, bars, layers, specs, divided, notes, hh_unit, finest, has_parents
    )
    out = inp.out_crs

    def back(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
        return gdf.to_crs(out) if gdf.crs != out else gdf

    params = {
        "min_persons": lo,
        "max_persons": hi,
        "work_crs": inp.work_crs.to_string(),
        "dropped": inp.dropped,
        "snapped": inp.snapped,
        "entrance_col": site_cols["entrance_col"],
        "floor_col": site_cols["floor_col"],
        "divided_sites": int(divided["site_id"].nunique()) if len(divided) else 0,
        "inputs": input_digests(inp),
    }
    if opts.levels:
        params["levels"] = [list(x) for x in specs]
    extra = {f"grids_{lname}": back(layer) for (lname, _, _), layer in zip(specs[:-1], layers[:-1])}
    if len(divided):
        extra["divided_sites"] = back(divided)
    return Plan(
        grids=back(grids),
        households=back(hh_out),
        report=report,
        boundary=back(bnd),
        barriers=back(bars),
        units=back(unit_gdf),
        params=params,
        layers=extra,
        level_reports=level_reports,
        options=opts,
    )
