"""Validation: prove a grid map leaves out no land and no household.

Works on any grid layer (ours or hand-drawn). Every check lists the
offending ids, a figure and the geometry where it happens.
"""

from __future__ import annotations

import logging

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from .crs import metric_crs_for
from .errors import InputError
from .inputs import adopt_crs, read_layer
from .plan import ValidationReport

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
        site = np.array([int(x) if isinstance(x, float) and np.isfinite(x) and x == int(x) else x for x in site],
                        dtype=object)
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


def _row(check, severity, ids, figure, message, geometry=None):
    return {"check": check, "severity": severity, "ids": list(ids), "figure": figure,
            "message": message, "geometry": geometry}


def grid_metrics(geoms: np.ndarray, boundary, barriers: np.ndarray | None):
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
    grids,
    households,
    boundary,
    barriers=None,
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
    divided_sites=None,
    crs=None,
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
        (severity ``"warning"``), never hidden.
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
    crs : optional
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
    g = read_layer(grids, what="grids")
    h = read_layer(households, what="households")
    if g is None or h is None or boundary is None:
        raise InputError("validate needs grids, households and a boundary")
    b = read_layer(boundary, what="boundary")
    r = read_layer(barriers, what="barriers")
    b, r = adopt_crs(b, g), adopt_crs(r, g)
    problems = []
    for name, gdf in (("grids", g), ("households", h), ("boundary", b), ("barriers", r)):
        if gdf is not None and gdf.crs is None:
            if crs is None:
                problems.append(f"{name} has no CRS; set it or pass crs=...")
            else:
                gdf.set_crs(crs, inplace=True)
    for col, gdf, what in ((grid_id_col, g, "grids"), (household_id_col, h, "households"),
                           (persons_col, h, "households")):
        if col not in gdf.columns:
            problems.append(f"{what} have no column {col!r} (columns: {', '.join(map(str, gdf.columns))})")
    if assignment_col is not None and assignment_col not in h.columns:
        problems.append(f"households have no assignment column {assignment_col!r}")
    if problems:
        raise InputError(problems)
    # metric CRS
    work = metric_crs_for(b)
    in_crs = g.crs  # locations in messages are given in the grids' own CRS
    g = g.to_crs(work)
    h = h.to_crs(work)
    b = b.to_crs(work)
    r = r.to_crs(work) if r is not None and len(r) else None
    bnd = shapely.union_all(shapely.make_valid(b.geometry.to_numpy()))
    rows: list[dict] = []

    gid = np.asarray(g[grid_id_col].tolist() + [None], dtype=object)[:-1]
    geoms = g.geometry.to_numpy()
    missing = shapely.is_missing(geoms) | shapely.is_empty(geoms)
    if missing.any():
        rows.append(_row("empty_geometry", "error", gid[missing], int(missing.sum()),
                         f"{missing.sum()} grids have no geometry"))
    geoms = np.where(missing, shapely.Polygon(), geoms)
    valid = shapely.is_valid(geoms)
    for i in np.flatnonzero(~valid):
        rows.append(_row("invalid_geometry", "error", [gid[i]], 0,
                         f"grid {gid[i]} is invalid: {shapely.is_valid_reason(geoms[i])}", geoms[i]))
    geoms_v = np.where(valid, geoms, shapely.make_valid(geoms))
    dup = pd.Series(gid).duplicated(keep=False).to_numpy()
    if dup.any():
        for val in pd.unique(gid[dup]):
            rows.append(_row("duplicate_grid_id", "error", [val], int((gid == val).sum()),
                             f"grid id {val!r} is used by {(gid == val).sum()} grids"))
    nparts = shapely.get_num_geometries(geoms_v)
    types = shapely.get_type_id(geoms_v)
    multi = (nparts > 1) | ~np.isin(types, [3, 6])
    multi &= ~missing
    flagged = (g[flagged_col].fillna(False).astype(bool).to_numpy()
               if flagged_col and flagged_col in g.columns else np.zeros(len(g), bool))
    for i in np.flatnonzero(multi):
        rows.append(_row("multipart", "flagged" if flagged[i] else "error", [gid[i]], int(nparts[i]),
                         f"grid {gid[i]} has {nparts[i]} separate parts", geoms_v[i]))

    # coverage
    # rows of one stack (stacked grids of one heavy site) share a polygon: one counts for space
    spatial = ~missing
    if stack_col and stack_col in g.columns:
        sv = g[stack_col]
        spatial &= ~(sv.notna() & sv.duplicated()).to_numpy()
    polys = geoms_v[spatial]
    cov_valid = bool(shapely.coverage_is_valid(polys)) if len(polys) else False
    if not cov_valid and len(polys):
        edges = shapely.coverage_invalid_edges(polys)
        bad = ~shapely.is_empty(edges)
        ids_bad = gid[spatial][bad]
        rows.append(_row("coverage_invalid_edges", "error", ids_bad, int(bad.sum()),
                         f"{bad.sum()} grids have edges that do not match their neighbours' (gaps or overlaps)",
                         shapely.union_all(edges[bad])))
    union = shapely.union_all(polys) if len(polys) else shapely.Polygon()
    tree = shapely.STRtree(polys)
    gaps = shapely.get_parts(shapely.difference(bnd, union))
    gaps = gaps[np.isin(shapely.get_type_id(gaps), [3, 6])]
    gap_area = float(shapely.area(gaps).sum())
    if len(gaps):
        for gp in gaps:
            a = float(gp.area)
            if a <= 0:
                continue
            near = gid[spatial][tree.query(gp, predicate="intersects")]
            sev, chk = ("error", "gap") if a >= sliver_area else ("warning", "sliver_gap")
            rows.append(_row(chk, sev, sorted(near.tolist(), key=str), a,
                             f"{a:.2f} m2 of land at {_where(gp.representative_point(), work, in_crs)} "
                             "is in no grid", gp))
    outside = shapely.difference(union, bnd)
    outside_area = float(shapely.area(outside))
    if outside_area > 0:
        out_g = shapely.area(shapely.difference(polys, bnd))
        # per grid, ignore floating-point noise of the overlay (far below the sliver threshold)
        ids_out = gid[spatial][out_g > min(sliver_area, 1.0) * 1e-3]
        sev = "error" if outside_area >= sliver_area else "warning"
        rows.append(_row("outside_boundary", sev, ids_out, outside_area,
                         f"{outside_area:.2f} m2 of grids lie outside the boundary", outside))
    # overlaps
    overlap_area = 0.0
    if len(polys) > 1:
        i1, i2 = tree.query(polys, predicate="intersects")
        m = i1 < i2
        i1, i2 = i1[m], i2[m]
        inter = shapely.intersection(polys[i1], polys[i2])
        ia = shapely.area(inter)
        ids_ok = gid[spatial]
        for j in np.flatnonzero(ia > 0):
            a = float(ia[j])
            overlap_area += a
            sev, chk = ("error", "overlap") if a >= sliver_area else ("warning", "sliver_overlap")
            rows.append(_row(chk, sev, [ids_ok[i1[j]], ids_ok[i2[j]]], a,
                             f"grids {ids_ok[i1[j]]} and {ids_ok[i2[j]]} overlap by {a:.2f} m2", inter[j]))

    # households
    hid = np.asarray(h[household_id_col].tolist() + [None], dtype=object)[:-1]
    pts = h.geometry.to_numpy()
    persons = pd.to_numeric(h[persons_col], errors="coerce").fillna(0).to_numpy()
    hdup = pd.Series(hid).duplicated(keep=False).to_numpy()
    if hdup.any():
        for val in pd.unique(hid[hdup]):
            rows.append(_row("duplicate_household", "error", [val], int((hid == val).sum()),
                             f"household {val!r} appears {(hid == val).sum()} times"))
    sp_idx = np.flatnonzero(spatial)
    tree = shapely.STRtree(geoms_v[sp_idx])
    pi, gi = tree.query(pts, predicate="intersects")
    gi = sp_idx[gi]
    n_in = np.bincount(pi, minlength=len(pts))
    # interior hits (inside two grids' interiors = in an overlap)
    contains = shapely.contains_properly(geoms_v[gi], pts[pi])
    n_interior = np.bincount(pi[contains], minlength=len(pts))
    none = n_in == 0
    for i in np.flatnonzero(none):
        rows.append(_row("household_unassigned", "error", [hid[i]], float(persons[i]),
                         f"household {hid[i]!r} lies in no grid", pts[i]))
    two = (n_interior > 1) | ((n_in > 1) & (assignment_col is None))
    for i in np.flatnonzero(two):
        gs = sorted(gid[gi[pi == i]].tolist(), key=str)
        where = "in an overlap" if n_interior[i] > 1 else "on a shared edge"
        rows.append(_row("household_in_two_grids", "error", [hid[i]], len(gs),
                         f"household {hid[i]!r} lies in grids {gs} ({where})", pts[i]))
    if assignment_col is not None:
        assigned = np.asarray(h[assignment_col].tolist() + [None], dtype=object)[:-1]
        known = set(gid.tolist())
        unknown = np.array([a not in known for a in assigned], bool)
        for i in np.flatnonzero(unknown):
            rows.append(_row("household_unknown_grid", "error", [hid[i]], 0,
                             f"household {hid[i]!r} is assigned to grid {assigned[i]!r}, which does not exist",
                             pts[i]))
        rows_of: dict = {}
        for j, v in enumerate(gid.tolist()):
            rows_of.setdefault(v, []).append(j)
        row_of_hh = np.full(len(pts), -1)
        ok_idx = np.flatnonzero(~unknown)
        cand = [rows_of[assigned[i]] for i in ok_idx]
        first_row = np.array([c[0] for c in cand], dtype=int)
        inside = shapely.covers(geoms_v[first_row], pts[ok_idx]) if len(ok_idx) else np.empty(0, bool)
        row_of_hh[ok_idx] = first_row
        if site_col and site_col in h.columns and not inside.all():
            dv = read_layer(divided_sites, what="divided sites") if divided_sites is not None else None
            inside[~inside] = _in_divided_site(h[site_col].to_numpy(dtype=object), assigned, ok_idx[~inside],
                                               pts, geoms_v, rows_of, dv)
        for j in np.flatnonzero(~inside):
            i = ok_idx[j]
            # a duplicated id: any grid carrying it may hold the household
            other = [r_ for r_ in cand[j][1:] if shapely.covers(geoms_v[r_], pts[i])]
            if other:
                row_of_hh[i] = other[0]
                continue
            rows.append(_row("household_outside_its_grid", "error", [hid[i]], 0,
                             f"household {hid[i]!r} is assigned to grid {assigned[i]!r} but lies outside it",
                             pts[i]))
        # a household listed twice counts once
        row_of_hh[pd.Series(hid).duplicated().to_numpy()] = -1
    else:
        row_of_hh = np.full(len(pts), -1)
        o = np.lexsort((gi, pi))
        fp = np.r_[True, pi[o][1:] != pi[o][:-1]] if len(pi) else np.empty(0, bool)
        row_of_hh[pi[o][fp]] = gi[o][fp]
    has = row_of_hh >= 0
    gp = np.bincount(row_of_hh[has], weights=persons[has], minlength=len(gid))
    gh = np.bincount(row_of_hh[has], minlength=len(gid))
    oob = (gp < min_persons) | (gp > max_persons)
    for i in np.flatnonzero(oob):
        sev = "flagged" if flagged[i] else "error"
        side = "above max" if gp[i] > max_persons else "below min"
        rows.append(_row("persons_out_of_bounds", sev, [gid[i]], int(gp[i]),
                         f"grid {gid[i]} holds {int(gp[i])} persons, {side} ({min_persons}..{max_persons})"
                         + (" [flagged]" if flagged[i] else ""), geoms_v[i]))

    pp, online, share = grid_metrics(geoms_v, bnd, None if r is None else r.geometry.to_numpy())
    per_grid = pd.DataFrame({
        "grid_id": gid, "persons": gp.astype(int), "households": gh.astype(int),
        "area_m2": shapely.area(geoms_v), "online_share": online, "polsby_popper": pp,
        "parts": nparts, "flagged": flagged,
    })
    n_grids = len(g)
    assigned_once = int(((n_in >= 1) & ~two).sum()) if assignment_col is None else int((row_of_hh >= 0).sum())
    metrics = {
        "n_grids": n_grids,
        "in_bounds_share": float((~oob).mean()) if n_grids else 0.0,
        "contiguous_share": float((~multi).mean()) if n_grids else 0.0,
        "coverage_valid": bool(cov_valid and gap_area < sliver_area and outside_area < sliver_area
                               and overlap_area < sliver_area),
        "gap_area": gap_area,
        "overlap_area": overlap_area,
        "outside_area": outside_area,
        "households_in": int(len(pts)),
        "households_out": int(assigned_once),
        "persons_in": int(persons.sum()),
        "persons_out": int(gp.sum()),
        "online_share": share,
        "mean_polsby_popper": float(pp.mean()) if n_grids else 0.0,
    }
    cols = ["check", "severity", "ids", "figure", "message", "geometry"]
    viol = gpd.GeoDataFrame(pd.DataFrame(rows, columns=cols), geometry="geometry", crs=work)
    return ValidationReport(violations=viol, metrics=metrics, per_grid=per_grid, notes=list(notes or []))


def check_invariants(report: ValidationReport, *, households_in: int, persons_in: int, what: str,
                     all_errors: bool = True) -> None:
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
    if broken:
        raise InternalError(f"the {what} result failed its own checks: " + "; ".join(broken[:10]))

