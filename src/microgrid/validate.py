"""Validation: prove a grid map leaves out no land and no household.

Works on any grid layer (ours or hand-drawn). Every check lists the
offending ids, a figure and the geometry where it happens.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ._types import CRSLike, LayerLike, LayerSource
from .crs import metric_crs_for
from .errors import InputError, no_column
from .inputs import adopt_crs, give_crs
from .io import read_layer, read_layers
from .plan import ValidationReport

if TYPE_CHECKING:
    import pyproj

__all__ = ["validate", "grid_metrics", "ONLINE_TOLERANCE"]

log = logging.getLogger(__name__)

#: A grid line counts as "on a barrier" within this many metres of one.
ONLINE_TOLERANCE = 1.0


def _in_divided_site(site, assigned, idx, pts, geoms, rows_of, divided=None) -> np.ndarray:
    """Which households ``idx`` (outside their assigned grid) are of a divided site that their grid shares.

    The grids of a site are those of its parts in ``divided`` (else those its
    households are assigned to); the household is accepted when its grid is
    one of them and its point lies in one of them (the site's one point is
    inside exactly one part).
    """
    known = pd.notna(site)
    grids_of: dict = {}
    if divided is not None and {"site_id", "grid_id"} <= set(divided.columns):
        for s_, g_ in zip(divided["site_id"].tolist(), divided["grid_id"].tolist()):
            grids_of.setdefault(s_, set()).add(g_)
        site = np.array(
            [int(x) if isinstance(x, float) and np.isfinite(x) and x == int(x) else x for x in site], dtype=object
        )
    else:
        for i in np.flatnonzero(known):
            grids_of.setdefault(site[i], set()).add(assigned[i])
    ok = np.zeros(len(idx), bool)
    for j, i in enumerate(idx):
        if not known[i]:
            continue
        gs = grids_of.get(site[i], set())
        if len(gs) < 2 or assigned[i] not in gs:
            continue
        ok[j] = any(shapely.covers(geoms[r], pts[i]) for g_ in gs for r in rows_of.get(g_, []))
    return ok


def _where(point, work, crs) -> str:
    """``(x, y)`` of a working-CRS point in ``crs``: 6 decimals of a degree, 1 of a metre."""
    import pyproj

    crs = pyproj.CRS.from_user_input(crs)
    if crs != pyproj.CRS.from_user_input(work):
        x, y = pyproj.Transformer.from_crs(work, crs, always_xy=True).transform(point.x, point.y)
    else:
        x, y = point.x, point.y
    return f"({x:.6f}, {y:.6f})" if crs.is_geographic else f"({x:.1f}, {y:.1f})"


def _duplicate_rows(ids: np.ndarray, kind: str, say: Callable[[Any, int], str]) -> list[dict]:
    """An error row of ``kind`` per id that stands more than once in ``ids``; ``say(id, count)`` is its message."""
    dup = pd.Series(ids).duplicated(keep=False).to_numpy()
    rows = []
    for val in pd.unique(ids[dup]):
        n = int((ids == val).sum())
        rows.append(_row(kind, "error", [val], n, say(val, n)))
    return rows


def _row(check, severity, ids, figure, message, geometry=None):
    return {
        "check": check,
        "severity": severity,
        "ids": list(ids),
        "figure": figure,
        "message": message,
        "geometry": geometry,
    }


def grid_metrics(geoms: np.ndarray, boundary: shapely.Geometry, barriers: np.ndarray | None):
    """Per-grid Polsby-Popper and on-line share, plus the plan-wide on-line share.

    The on-line share is the length of internal grid boundaries lying within
    :data:`ONLINE_TOLERANCE` of a barrier divided by the total internal
    boundary length (grid edges on the outer boundary do not count).
    """
    area = shapely.area(geoms)
    perim = shapely.length(geoms)
    pp = np.where(perim > 0, 4 * np.pi * area / np.maximum(perim, 1e-12) ** 2, 0.0)
    outer = shapely.buffer(shapely.boundary(boundary), 0.05)
    internal = shapely.difference(shapely.boundary(geoms), outer)
    internal_len = shapely.length(internal)
    on_len = np.zeros(len(geoms))
    if barriers is not None and len(barriers):
        zone = shapely.union_all(shapely.buffer(barriers, ONLINE_TOLERANCE, quad_segs=2))
        shapely.prepare(zone)
        on_len = shapely.length(shapely.intersection(internal, zone))
    total = internal_len.sum()
    share = float(on_len.sum() / total) if total > 0 else 1.0
    per = np.where(internal_len > 0, on_len / np.maximum(internal_len, 1e-12), 1.0)
    return pp, per, share


def validate(
    grids: LayerSource,
    households: LayerSource,
    boundary: LayerSource,
    barriers: LayerLike = None,
    *,
    min_persons: int = 200,
    max_persons: int = 300,
    grid_id_col: str = "grid_id",
    household_id_col: str = "household_id",
    persons_col: str = "persons",
    assignment_col: str | None = None,
    flagged_col: str | None = "flagged",
    sliver_area: float = 0.5,
    stack_col: str | None = "stack_id",
    site_col: str | None = "site_id",
    divided_sites: LayerLike = None,
    crs: CRSLike = None,
    notes: list | None = None,
) -> ValidationReport:
    """Validate a grid layer against its boundary and households.

    Parameters
    ----------
    grids : GeoDataFrame or path
        Grid polygons with an id column.
    households : GeoDataFrame or path
        Household points with id and persons columns.
    boundary : GeoDataFrame, geometry or path
        The community/village polygon the grids must tile.
    barriers : GeoDataFrame or path, optional
        Roads, rivers, walls: used for the on-line share.
    min_persons, max_persons : int
        Bounds of persons per grid.
    grid_id_col, household_id_col, persons_col : str
        Column names.
    assignment_col : str, optional
        Household column naming each household's grid. Without it the
        assignment is derived by location.
    flagged_col : str, optional
        Grid column marking grids the caller accepted as breaking a bound
        (e.g. one building above max); their bound violations are reported
        with severity ``"flagged"`` instead of ``"error"``.
    sliver_area : float
        Gaps and overlaps smaller than this (m²) are reported as slivers
        (severity ``"warning"``). Pieces under a thousandth of it (5 cm² by
        default) are the floating-point noise of an overlay, not land: they
        count in ``gap_area``, ``overlap_area`` and ``outside_area`` but are
        not listed one by one (edges that do not match are an error of
        their own, ``coverage_invalid_edges``).
    stack_col : str, optional
        Grid column naming a stack: stacked grids of one heavy site share
        its polygon and count once in the coverage checks, while every
        household must still be in exactly one of them.
    site_col : str, optional
        Household column naming a divided site (a building whose
        households are shared by several grids, each holding a part of its
        cell): a household of a divided site lies on the site's one point,
        so it counts as inside its grid when that grid holds a part of the
        site (another household of the site is assigned to it) and the
        point lies in one of the site's grids.
    divided_sites : GeoDataFrame or path, optional
        A plan's ``divided_sites`` layer (``site_id``, ``grid_id`` per part):
        the grids that hold a part of each site. Without it they are taken
        from the households' own assignment, which cannot catch a household
        of a divided site moved to a grid that holds no part of it.
    crs : pyproj.CRS, str or int, optional
        CRS for inputs that have none.
    notes : list of str, optional
        Notes carried into the report.

    Returns
    -------
    ValidationReport

    Examples
    --------
    >>> import microgrid
    >>> plan = microgrid.partition(*microgrid.samples.make_village(n_households=300, seed=1),
    ...                            min_persons=200, max_persons=300)
    >>> rep = microgrid.validate(plan.grids, plan.households, plan.boundary,
    ...                          assignment_col="grid_id")
    >>> rep.ok
    True
    """
    g, h, b, r = _read(
        grids, households, boundary, barriers, crs, grid_id_col, household_id_col, persons_col, assignment_col
    )
    work = metric_crs_for(b)
    in_crs = g.crs  # locations in messages are given in the grids' own CRS
    g, h, b = g.to_crs(work), h.to_crs(work), b.to_crs(work)
    r = r.to_crs(work) if r is not None and len(r) else None
    bnd = shapely.union_all(shapely.make_valid(b.geometry.to_numpy()))
    gr = _grid_set(g, grid_id_col, flagged_col, stack_col)
    hs = _Households(
        ids=np.asarray(h[household_id_col].tolist() + [None], dtype=object)[:-1],
        pts=h.geometry.to_numpy(),
        persons=pd.to_numeric(h[persons_col], errors="coerce").fillna(0).to_numpy(),
    )
    rows = check_geometry(gr)
    cov_rows, cov = check_coverage(gr, bnd, sliver_area, work, in_crs)
    rows += cov_rows
    hh_rows, row_of_hh, assigned_once = check_households(
        gr, hs, h, assignment_col=assignment_col, site_col=site_col, divided_sites=divided_sites
    )
    rows += hh_rows
    has = row_of_hh >= 0
    gp = np.bincount(row_of_hh[has], weights=hs.persons[has], minlength=len(gr.ids))
    gh = np.bincount(row_of_hh[has], minlength=len(gr.ids))
    bound_rows, oob = check_bounds(gr, gp, min_persons, max_persons)
    rows += bound_rows
    pp, online, share = grid_metrics(gr.geoms, bnd, None if r is None else r.geometry.to_numpy())
    per_grid = pd.DataFrame(
        {
            "grid_id": gr.ids,
            "persons": gp.astype(int),
            "households": gh.astype(int),
            "area_m2": shapely.area(gr.geoms),
            "online_share": online,
            "polsby_popper": pp,
            "parts": gr.parts,
            "flagged": gr.flagged,
        }
    )
    n_grids = len(gr.ids)
    metrics = {
        "n_grids": n_grids,
        "in_bounds_share": float((~oob).mean()) if n_grids else 0.0,
        "contiguous_share": float((~gr.multi).mean()) if n_grids else 0.0,
        "coverage_valid": bool(
            cov["valid"] and max(cov["gap_area"], cov["outside_area"], cov["overlap_area"]) < sliver_area
        ),
        "gap_area": cov["gap_area"],
        "overlap_area": cov["overlap_area"],
        "outside_area": cov["outside_area"],
        "households_in": int(len(hs.pts)),
        "households_out": int(assigned_once),
        "persons_in": int(hs.persons.sum()),
        "persons_out": int(gp.sum()),
        "online_share": share,
        "mean_polsby_popper": float(pp.mean()) if n_grids else 0.0,
    }
    cols = ["check", "severity", "ids", "figure", "message", "geometry"]
    viol = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=work)
    return ValidationReport(violations=viol, metrics=metrics, per_grid=per_grid, notes=list(notes or []))


def _read(grids, households, boundary, barriers, crs, grid_id_col, household_id_col, persons_col, assignment_col):
    """Read the layers, give them a CRS, and check the columns: one InputError listing every problem."""
    if grids is None or households is None or boundary is None:
        raise InputError("validate needs grids, households and a boundary")
    g, h, b, r = read_layers(
        {"grids": grids, "households": households, "boundary": boundary, "barriers": barriers}
    ).values()
    b, r = adopt_crs(b, g), adopt_crs(r, g)
    problems: list[str] = []
    give_crs({"grids": g, "households": h, "boundary": b, "barriers": r}, crs, problems)
    for col, gdf, what, option, flag in (
        (grid_id_col, g, "grids", "grid_id_col", "--grid-id-col"),
        (household_id_col, h, "households", "household_id_col", "--id-col"),
        (persons_col, h, "households", "persons_col", "--persons-col"),
    ):
        if col not in gdf.columns:
            problems.append(no_column(what, col, gdf.columns, option, flag))
    if assignment_col is not None and assignment_col not in h.columns:
        problems.append(
            f"households have no assignment column {assignment_col!r}; name the right one with "
            'assignment_col=..., or None to audit by location (CLI: --assignment-col, "" for location)'
        )
    if problems:
        raise InputError(problems)
    return g, h, b, r


@dataclass
class _Grids:
    """The grids as the checks see them (metric CRS, invalid ones made valid, empty ones as empty polygons)."""

    ids: np.ndarray
    raw: np.ndarray  # as given (empty -> empty polygon)
    geoms: np.ndarray  # made valid
    missing: np.ndarray
    valid: np.ndarray
    parts: np.ndarray
    multi: np.ndarray
    flagged: np.ndarray
    spatial: np.ndarray  # rows that count for space (one per stack of stacked grids)


@dataclass
class _Households:
    ids: np.ndarray
    pts: np.ndarray
    persons: np.ndarray


def _grid_set(g, grid_id_col, flagged_col, stack_col) -> _Grids:
    gid = np.asarray(g[grid_id_col].tolist() + [None], dtype=object)[:-1]
    geoms = g.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    geoms = np.where(missing, shapely.Polygon(), geoms)
    valid = shapely.is_valid(geoms)
    geoms_v = np.where(valid, geoms, shapely.make_valid(geoms))
    nparts = shapely.get_num_geometries(geoms_v)
    multi = ((nparts > 1) | ~np.isin(shapely.get_type_id(geoms_v), [3, 6])) & ~missing
    flagged = (
        g[flagged_col].fillna(False).astype(bool).to_numpy()
        if flagged_col and flagged_col in g.columns
        else np.zeros(len(g), bool)
    )
    spatial = ~missing
    if stack_col and stack_col in g.columns:  # rows of one stack share a polygon: one counts for space
        sv = g[stack_col]
        spatial &= ~(sv.notna() & sv.duplicated()).to_numpy()
    return _Grids(gid, geoms, geoms_v, missing, valid, nparts, multi, flagged, spatial)


def check_geometry(gr: _Grids) -> list[dict]:
    """Empty and invalid geometries, duplicate grid ids, grids in several parts."""
    rows = []
    gid = gr.ids
    if gr.missing.any():
        rows.append(
            _row(
                "empty_geometry",
                "error",
                gid[gr.missing],
                int(gr.missing.sum()),
                f"{gr.missing.sum()} grids have no geometry",
            )
        )
    for i in np.flatnonzero(~gr.valid):
        rows.append(
            _row(
                "invalid_geometry",
                "error",
                [gid[i]],
                0,
                f"grid {gid[i]} is invalid: {shapely.is_valid_reason(gr.raw[i])}",
                gr.raw[i],
            )
        )
    rows += _duplicate_rows(gid, "duplicate_grid_id", lambda val, n: f"grid id {val!r} is used by {n} grids")
    for i in np.flatnonzero(gr.multi):
        rows.append(
            _row(
                "multipart",
                "flagged" if gr.flagged[i] else "error",
                [gid[i]],
                int(gr.parts[i]),
                f"grid {gid[i]} has {gr.parts[i]} separate parts",
                gr.geoms[i],
            )
        )
    return rows


#: Share of ``sliver_area`` below which a gap, overlap or piece outside the boundary is rounding noise.
NOISE_SHARE = 1e-3


def check_coverage(
    gr: _Grids,
    bnd: shapely.Geometry,
    sliver_area: float,
    work: pyproj.CRS | None = None,
    in_crs: pyproj.CRS | None = None,
) -> tuple[list[dict], dict]:
    """Edges that do not match, gaps, area outside the boundary and overlaps; rows and the areas."""
    rows = []
    polys, ids = gr.geoms[gr.spatial], gr.ids[gr.spatial]
    cov_valid = bool(shapely.coverage_is_valid(polys)) if len(polys) else False
    if not cov_valid and len(polys):
        edges = shapely.coverage_invalid_edges(polys)
        bad = ~shapely.is_empty(edges)
        rows.append(
            _row(
                "coverage_invalid_edges",
                "error",
                ids[bad],
                int(bad.sum()),
                f"{bad.sum()} grids have edges that do not match their neighbours' (gaps or overlaps)",
                shapely.union_all(edges[bad]),
            )
        )
    union = shapely.union_all(polys) if len(polys) else shapely.Polygon()
    tree = shapely.STRtree(polys)
    gaps = shapely.get_parts(shapely.difference(bnd, union))
    gaps = gaps[np.isin(shapely.get_type_id(gaps), [3, 6])]
    gap_area = float(shapely.area(gaps).sum())
    noise = sliver_area * NOISE_SHARE  # pieces below are rounding noise of the overlay: counted, not listed
    for gp in gaps:
        a = float(gp.area)
        if a <= noise:
            continue
        near = ids[tree.query(gp, predicate="intersects")]
        sev, chk = ("error", "gap") if a >= sliver_area else ("warning", "sliver_gap")
        rows.append(
            _row(
                chk,
                sev,
                sorted(near.tolist(), key=str),
                a,
                f"{a:.2f} m2 of land at {_where(gp.representative_point(), work, in_crs)} is in no grid",
                gp,
            )
        )
    outside = shapely.difference(union, bnd)
    outside_area = float(shapely.area(outside))
    if outside_area > noise:
        out_g = shapely.area(shapely.difference(polys, bnd))
        ids_out = ids[out_g > noise]
        sev = "error" if outside_area >= sliver_area else "warning"
        rows.append(
            _row(
                "outside_boundary",
                sev,
                ids_out,
                outside_area,
                f"{outside_area:.2f} m2 of grids lie outside the boundary",
                outside,
            )
        )
    overlap_area = 0.0
    if len(polys) > 1:
        i1, i2 = tree.query(polys, predicate="intersects")
        m = i1 < i2
        i1, i2 = i1[m], i2[m]
        inter = shapely.intersection(polys[i1], polys[i2])
        ia = shapely.area(inter)
        overlap_area = float(ia.sum())
        for j in np.flatnonzero(ia > noise):
            a = float(ia[j])
            sev, chk = ("error", "overlap") if a >= sliver_area else ("warning", "sliver_overlap")
            rows.append(
                _row(
                    chk,
                    sev,
                    [ids[i1[j]], ids[i2[j]]],
                    a,
                    f"grids {ids[i1[j]]} and {ids[i2[j]]} overlap by {a:.2f} m2",
                    inter[j],
                )
            )
    return rows, {"valid": cov_valid, "gap_area": gap_area, "outside_area": outside_area, "overlap_area": overlap_area}


def check_households(
    gr: _Grids,
    hs: _Households,
    h: gpd.GeoDataFrame,
    *,
    assignment_col: str | None,
    site_col: str | None,
    divided_sites: LayerLike,
):
    """Duplicates, households in no grid or two, assigned to no such grid or outside their grid.

    Returns the rows, the grid row of each household (-1: none) and how many
    households are assigned exactly once.
    """
    rows = []
    hid, pts, gid = hs.ids, hs.pts, gr.ids
    rows += _duplicate_rows(hid, "duplicate_household", lambda val, n: f"household {val!r} appears {n} times")
    sp_idx = np.flatnonzero(gr.spatial)
    tree = shapely.STRtree(gr.geoms[sp_idx])
    pi, gi = tree.query(pts, predicate="intersects")
    gi = sp_idx[gi]
    n_in = np.bincount(pi, minlength=len(pts))
    # interior hits (inside two grids' interiors = in an overlap)
    contains = shapely.contains_properly(gr.geoms[gi], pts[pi])
    n_interior = np.bincount(pi[contains], minlength=len(pts))
    for i in np.flatnonzero(n_in == 0):
        rows.append(
            _row(
                "household_unassigned",
                "error",
                [hid[i]],
                float(hs.persons[i]),
                f"household {hid[i]!r} lies in no grid",
                pts[i],
            )
        )
    two = (n_interior > 1) | ((n_in > 1) & (assignment_col is None))
    for i in np.flatnonzero(two):
        gs = sorted(gid[gi[pi == i]].tolist(), key=str)
        where = "in an overlap" if n_interior[i] > 1 else "on a shared edge"
        rows.append(
            _row(
                "household_in_two_grids",
                "error",
                [hid[i]],
                len(gs),
                f"household {hid[i]!r} lies in grids {gs} ({where})",
                pts[i],
            )
        )
    if assignment_col is None:
        row_of_hh = np.full(len(pts), -1)
        o = np.lexsort((gi, pi))
        fp = np.r_[True, pi[o][1:] != pi[o][:-1]] if len(pi) else np.empty(0, bool)
        row_of_hh[pi[o][fp]] = gi[o][fp]
        return rows, row_of_hh, int(((n_in >= 1) & ~two).sum())
    assigned = np.asarray(h[assignment_col].tolist() + [None], dtype=object)[:-1]
    site = h[site_col].to_numpy(dtype=object) if site_col and site_col in h.columns else None
    more, row_of_hh = _check_assignment(gr, hs, assigned, site, divided_sites)
    return rows + more, row_of_hh, int((row_of_hh >= 0).sum())


def _check_assignment(gr: _Grids, hs: _Households, assigned, site, divided_sites):
    """Households assigned to a grid that does not exist, or lying outside the grid they are assigned to."""
    rows = []
    hid, pts, gid, geoms = hs.ids, hs.pts, gr.ids, gr.geoms
    known = set(gid.tolist())
    unknown = np.array([a not in known for a in assigned], bool)
    for i in np.flatnonzero(unknown).tolist():
        rows.append(
            _row(
                "household_unknown_grid",
                "error",
                [hid[i]],
                0,
                f"household {hid[i]!r} is assigned to grid {assigned[i]!r}, which does not exist",
                pts[i],
            )
        )
    rows_of: dict = {}
    for j, v in enumerate(gid.tolist()):
        rows_of.setdefault(v, []).append(j)
    row_of_hh = np.full(len(pts), -1)
    ok_idx = np.flatnonzero(~unknown)
    cand = [rows_of[assigned[i]] for i in ok_idx]
    first_row = np.array([c[0] for c in cand], dtype=int)
    inside = shapely.covers(geoms[first_row], pts[ok_idx]) if len(ok_idx) else np.empty(0, bool)
    row_of_hh[ok_idx] = first_row
    if site is not None and not inside.all():
        dv = read_layer(divided_sites, what="divided sites") if divided_sites is not None else None
        inside[~inside] = _in_divided_site(site, assigned, ok_idx[~inside], pts, geoms, rows_of, dv)
    for j in np.flatnonzero(~inside).tolist():
        i = int(ok_idx[j])
        # a duplicated id: any grid carrying it may hold the household
        other = [r_ for r_ in cand[j][1:] if shapely.covers(geoms[r_], pts[i])]
        if other:
            row_of_hh[i] = other[0]
            continue
        rows.append(
            _row(
                "household_outside_its_grid",
                "error",
                [hid[i]],
                0,
                f"household {hid[i]!r} is assigned to grid {assigned[i]!r} but lies outside it",
                pts[i],
            )
        )
    # a household listed twice counts once
    row_of_hh[pd.Series(hid).duplicated().to_numpy()] = -1
    return rows, row_of_hh


def check_bounds(gr: _Grids, persons: np.ndarray, lo: int, hi: int) -> tuple[list[dict], np.ndarray]:
    """Grids holding fewer than ``lo`` or more than ``hi`` persons (``"flagged"`` when the caller accepted it)."""
    rows = []
    oob = (persons < lo) | (persons > hi)
    for i in np.flatnonzero(oob):
        sev = "flagged" if gr.flagged[i] else "error"
        side = "above max" if persons[i] > hi else "below min"
        rows.append(
            _row(
                "persons_out_of_bounds",
                sev,
                [gr.ids[i]],
                int(persons[i]),
                f"grid {gr.ids[i]} holds {int(persons[i])} persons, {side} ({lo}..{hi})"
                + (" [flagged]" if gr.flagged[i] else ""),
                gr.geoms[i],
            )
        )
    return rows, oob


def invariant_breaks(
    report: ValidationReport, *, households_in: int, persons_in: int, all_errors: bool = True
) -> list[str]:
    """What of the end-of-run invariants a result breaks, in words (empty: none).

    Households and persons in = out, coverage valid, and (``all_errors``) no
    violation of severity ``"error"``.
    """
    m = report.metrics
    broken = []
    if m["households_out"] != households_in:
        broken.append(f"households in {households_in} != out {m['households_out']}")
    if m["persons_out"] != persons_in:
        broken.append(f"persons in {persons_in} != out {m['persons_out']}")
    if not m["coverage_valid"]:
        broken.append(f"coverage invalid (gaps {m['gap_area']:.3f} m2, overlaps {m['overlap_area']:.3f} m2)")
    if all_errors:
        broken.extend(r.message for r in report.errors.itertuples())
    return broken


def check_invariants(
    report: ValidationReport, *, households_in: int, persons_in: int, what: str, all_errors: bool = True
) -> None:
    """Raise :class:`InternalError` unless households and persons in = out and coverage is valid.

    Run at the end of every partition, repartition and repair: a wrong plan
    is never returned as a right one.

    Parameters
    ----------
    report : ValidationReport
        The validation of the result.
    households_in, persons_in : int
        What went in.
    what : str
        The operation, for the message.
    all_errors : bool
        Also fail on any other violation of severity ``"error"``.

    Examples
    --------
    >>> import microgrid
    >>> hh, bnd, roads, _ = microgrid.samples.make_village(n_households=300, seed=1)
    >>> plan = microgrid.partition(hh, bnd, roads)
    >>> check_invariants(plan.report, households_in=300, persons_in=int(hh["persons"].sum()), what="partition")
    >>> check_invariants(plan.report, households_in=301, persons_in=0, what="example")
    Traceback (most recent call last):
    ...
    microgrid.errors.InternalError: the example result failed its own checks: households in 301 != out 300; ...
    """
    from .errors import InternalError

    broken = invariant_breaks(report, households_in=households_in, persons_in=persons_in, all_errors=all_errors)
    if broken:
        raise InternalError(f"the {what} result failed its own checks: " + "; ".join(broken[:10]))
