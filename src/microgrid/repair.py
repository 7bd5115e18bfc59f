"""Opt-in repair of a grid map: fill gaps, trim overlaps and outside parts, join stray parts.

The grids' outlines and the boundary ring are noded into one planar
arrangement; every face of it is then given to exactly one grid:

- a face two grids claim (overlap) goes to the claimant it shares the
  longest border with;
- a face no grid claims (gap) goes to the neighbouring grid with the longest
  shared edge;
- a face outside the boundary is trimmed;
- a grid left in several parts keeps its largest; every other part joins the
  neighbour it shares the most border with.

Because all faces come from one arrangement, the result is an exact
coverage of the boundary. Households are then reassigned by location; none
is ever invented or dropped. Every change is listed.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from .crs import metric_crs_for
from .errors import InputError
from .graph import build_graph
from .inputs import adopt_crs, read_layer
from .plan import ValidationReport
from .units import Units
from .validate import check_invariants, validate

__all__ = ["repair", "RepairResult"]


@dataclass(frozen=True)
class RepairResult:
    """What :func:`repair` returns.

    Attributes
    ----------
    grids : GeoDataFrame
        Repaired grids (same ids and columns, new geometry), input CRS.
    households : GeoDataFrame or None
        Households with their (re)assigned ``grid_id``.
    changes : GeoDataFrame
        One row per change: ``action`` (``overlap_trimmed``, ``gap_filled``,
        ``outside_trimmed``, ``stray_part_moved``, ``household_reassigned``),
        ``grid_id`` (receiving grid), ``from_grid``, ``area_m2``,
        ``household_id`` and the geometry concerned.
    report : ValidationReport or None
        Validation of the repaired map (when households were given).
    """

    grids: gpd.GeoDataFrame
    households: gpd.GeoDataFrame | None
    changes: gpd.GeoDataFrame
    report: ValidationReport | None

    def summary(self) -> str:
        counts = self.changes.groupby("action").size()
        parts = [f"{a} x{c}" for a, c in counts.items()] or ["no changes"]
        return "repair: " + ", ".join(parts)


def _faces(polys: np.ndarray, boundary) -> tuple[np.ndarray, np.ndarray]:
    lines = [shapely.get_parts(shapely.boundary(boundary))]
    lines.append(shapely.get_parts(shapely.boundary(polys[~shapely.is_empty(polys)])))
    parts = np.concatenate(lines)
    parts = shapely.get_parts(shapely.line_merge(parts)) if len(parts) else parts
    noded = shapely.get_parts(shapely.union_all(parts))
    noded = noded[shapely.get_type_id(noded) == 1]
    faces = shapely.get_parts(shapely.polygonize(noded))
    return faces, noded


def repair(
    grids,
    boundary,
    households=None,
    *,
    grid_id_col: str = "grid_id",
    household_id_col: str = "household_id",
    persons_col: str = "persons",
    assignment_col: str | None = None,
    min_persons: int = 200,
    max_persons: int = 300,
    barriers=None,
    crs=None,
) -> RepairResult:
    """Repair gaps, overlaps, outside parts and stray parts of a grid map.

    Parameters
    ----------
    grids : GeoDataFrame or path
        Grid polygons with an id column.
    boundary : GeoDataFrame, geometry or path
        The area the grids must tile.
    households : GeoDataFrame or path, optional
        Household points: reassigned by location to the repaired grids.
    grid_id_col, household_id_col, persons_col : str
        Column names.
    assignment_col : str, optional
        Household column with the grid each household had; changed
        assignments are listed as ``household_reassigned``.
    min_persons, max_persons : int
        Bounds used by the validation of the result.
    barriers : optional
        Barriers for the validation's on-line share.
    crs : optional
        CRS for inputs that carry none.

    Returns
    -------
    RepairResult

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_id": [1, 2]},
    ...     geometry=[shapely.box(0, 0, 6, 10), shapely.box(4, 0, 9, 10)], crs=32650)
    >>> fixed = repair(g, shapely.box(0, 0, 10, 10))
    >>> sorted(fixed.changes["action"])
    ['gap_filled', 'overlap_trimmed']
    >>> float(round(fixed.grids.area.sum(), 6))
    100.0
    """
    g = read_layer(grids, what="grids")
    b = read_layer(boundary, what="boundary")
    h = read_layer(households, what="households")
    b = adopt_crs(b, g)
    for name, gdf in (("grids", g), ("boundary", b), ("households", h)):
        if gdf is not None and gdf.crs is None:
            if crs is None:
                raise InputError(f"{name} has no CRS; set it or pass crs=...")
            gdf.set_crs(crs, inplace=True)
    if grid_id_col not in g.columns:
        raise InputError(f"grids have no column {grid_id_col!r}")
    if g[grid_id_col].duplicated().any():
        dups = sorted(set(g.loc[g[grid_id_col].duplicated(), grid_id_col].tolist()), key=str)
        raise InputError(f"duplicate grid ids {dups}; give every grid a unique id before repairing")
    if len(g) == 0:
        raise InputError("grids layer is empty; nothing to repair")
    work = metric_crs_for(b)
    out_crs = g.crs
    gw = g.to_crs(work)
    bnd = shapely.union_all(shapely.make_valid(b.to_crs(work).geometry.to_numpy()))
    gid = np.asarray(gw[grid_id_col].tolist() + [None], dtype=object)[:-1]
    polys = shapely.make_valid(gw.geometry.to_numpy())
    polys = np.array([shapely.union_all([p for p in shapely.get_parts(x) if p.geom_type in ("Polygon", "MultiPolygon")])
                      if x is not None else shapely.Polygon() for x in polys], dtype=object)
    faces, noded = _faces(polys, bnd)
    rp = shapely.point_on_surface(faces)
    shapely.prepare(bnd)
    inside = shapely.covers(bnd, rp)
    tree = shapely.STRtree(polys)
    fi, gi = tree.query(rp, predicate="within")
    claims: dict[int, list[int]] = {}
    for f_, g_ in zip(fi.tolist(), gi.tolist()):
        claims.setdefault(f_, []).append(g_)
    changes: list[dict] = []
    outside_faces = np.flatnonzero(~inside)
    for f_ in outside_faces:
        for g_ in claims.get(int(f_), []):
            changes.append({"action": "outside_trimmed", "grid_id": None, "from_grid": gid[g_],
                            "area_m2": float(faces[f_].area), "household_id": None, "geometry": faces[f_]})
    keep = np.flatnonzero(inside)
    faces = faces[keep]
    remap = {int(old): i for i, old in enumerate(keep)}
    claims = {remap[f_]: gs for f_, gs in claims.items() if f_ in remap}
    n = len(faces)
    units = Units(geometry=faces, persons=np.zeros(n, np.int64), n_households=np.zeros(n, np.int64),
                  site_of_household=np.empty(0, int), unit_of_site=np.empty(0, int), landmark=np.full(n, -1),
                  boundary=bnd, linework=noded, barriers=np.empty(0, object), barrier_rank=np.empty(0, int),
                  barrier_kind=np.empty(0, object))
    graph = build_graph(units)
    nbrs: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for a, bb, ln in zip(graph.u.tolist(), graph.v.tolist(), graph.length.tolist()):
        nbrs[a].append((bb, ln))
        nbrs[bb].append((a, ln))
    owner = np.full(n, -1)
    for f_ in range(n):
        gs = claims.get(f_, [])
        if len(gs) == 1:
            owner[f_] = gs[0]
    # overlaps: the claimant with the longest border with faces it alone owns
    for f_ in range(n):
        gs = claims.get(f_, [])
        if len(gs) > 1:
            score = {g_: 0.0 for g_ in gs}
            for nb, ln in nbrs[f_]:
                if owner[nb] in score:
                    score[owner[nb]] += ln
            win = max(sorted(score), key=lambda g_: (score[g_], -g_))
            owner[f_] = win
            for g_ in gs:
                if g_ != win:
                    changes.append({"action": "overlap_trimmed", "grid_id": gid[win], "from_grid": gid[g_],
                                    "area_m2": float(faces[f_].area), "household_id": None, "geometry": faces[f_]})
    # gaps: to the neighbour with the longest shared edge, repeatedly
    gap = set(np.flatnonzero(owner < 0).tolist())
    gap_faces = sorted(gap)
    while gap:
        progress = False
        for f_ in sorted(gap):
            score: dict[int, float] = {}
            for nb, ln in nbrs[f_]:
                if owner[nb] >= 0:
                    score[owner[nb]] = score.get(owner[nb], 0.0) + ln
            if score:
                owner[f_] = max(sorted(score), key=lambda g_: (score[g_], -g_))
                gap.discard(f_)
                progress = True
        if not progress:
            break
    for f_ in gap_faces:
        if owner[f_] >= 0:
            changes.append({"action": "gap_filled", "grid_id": gid[owner[f_]], "from_grid": None,
                            "area_m2": float(faces[f_].area), "household_id": None, "geometry": faces[f_]})
    if gap:  # faces touching no grid at all (e.g. an island): nearest grid by distance
        for f_ in sorted(gap):
            d = shapely.distance(polys, faces[f_])
            owner[f_] = int(np.nanargmin(d))
            changes.append({"action": "gap_filled", "grid_id": gid[owner[f_]], "from_grid": None,
                            "area_m2": float(faces[f_].area), "household_id": None, "geometry": faces[f_]})
    # stray parts: components of each grid's faces other than the largest
    area = shapely.area(faces)
    for _round in range(5):
        same = owner[graph.u] == owner[graph.v]
        adj = coo_matrix((np.ones(same.sum()), (graph.u[same], graph.v[same])), shape=(n, n))
        ncomp, comp = connected_components(adj, directed=False)
        comp_area = np.bincount(comp, weights=area, minlength=ncomp)
        comp_owner = np.full(ncomp, -1)
        comp_owner[comp] = owner
        main = {}
        for ci in np.argsort(-comp_area, kind="stable"):
            main.setdefault(int(comp_owner[ci]), int(ci))
        stray = [ci for ci in range(ncomp) if main.get(int(comp_owner[ci])) != ci]
        if not stray:
            break
        moved = False
        for ci in stray:
            members = np.flatnonzero(comp == ci)
            score: dict[int, float] = {}
            for f_ in members:
                for nb, ln in nbrs[f_]:
                    o = owner[nb]
                    if o != comp_owner[ci]:
                        score[o] = score.get(o, 0.0) + ln
            if not score:
                continue  # an island: it stays a part of its grid
            tgt = max(sorted(score), key=lambda g_: (score[g_], -g_))
            owner[members] = tgt
            moved = True
            changes.append({"action": "stray_part_moved", "grid_id": gid[tgt], "from_grid": gid[comp_owner[ci]],
                            "area_m2": float(area[members].sum()), "household_id": None,
                            "geometry": shapely.union_all(faces[members])})
        if not moved:
            break
    new_geoms = np.array([shapely.coverage_union_all(faces[owner == i]) if (owner == i).any() else shapely.Polygon()
                          for i in range(len(gid))], dtype=object)
    fixed = gw.copy()
    fixed = fixed.set_geometry(gpd.GeoSeries(new_geoms, index=gw.index, crs=work))
    hh_out = None
    report = None
    if h is not None:
        if household_id_col not in h.columns:
            raise InputError(f"households have no column {household_id_col!r}")
        hw = h.to_crs(work)
        pts = hw.geometry.to_numpy()
        t2 = shapely.STRtree(new_geoms)
        pi, gi2 = t2.query(pts, predicate="intersects")
        o = np.lexsort((gi2, pi))
        first = np.r_[True, pi[o][1:] != pi[o][:-1]] if len(pi) else np.empty(0, bool)
        new_g = np.full(len(pts), -1)
        new_g[pi[o][first]] = gi2[o][first]
        lost = np.flatnonzero(new_g < 0)
        if len(lost):
            _, near = t2.query_nearest(pts[lost], return_distance=False, all_matches=False)
            new_g[lost] = near
        hid = hw[household_id_col].tolist()
        old = hw[assignment_col].tolist() if assignment_col and assignment_col in hw.columns else [None] * len(hid)
        newids = [gid[x] for x in new_g]
        for i in range(len(hid)):
            if assignment_col and old[i] != newids[i]:
                changes.append({"action": "household_reassigned", "grid_id": newids[i], "from_grid": old[i],
                                "area_m2": 0.0, "household_id": hid[i], "geometry": pts[i]})
        hw = hw.copy()
        hw[assignment_col or grid_id_col] = newids
        if persons_col in hw.columns:
            report = validate(fixed, hw, gpd.GeoDataFrame(geometry=[bnd], crs=work), barriers,
                              min_persons=min_persons, max_persons=max_persons, grid_id_col=grid_id_col,
                              household_id_col=household_id_col, persons_col=persons_col,
                              assignment_col=assignment_col or grid_id_col)
        hh_out = hw.to_crs(h.crs)
        if report is not None:  # the map may break bounds, but nothing may be lost and the coverage must hold
            check_invariants(report, households_in=len(h), persons_in=int(pd.to_numeric(h[persons_col]).sum()),
                             what="repair", all_errors=False)
    cols = ["action", "grid_id", "from_grid", "area_m2", "household_id", "geometry"]
    ch = gpd.GeoDataFrame(pd.DataFrame(changes, columns=cols), geometry="geometry", crs=work)
    return RepairResult(grids=fixed.to_crs(out_crs), households=hh_out, changes=ch, report=report)
