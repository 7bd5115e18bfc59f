"""Opt-in repair of a grid map: fill gaps, trim overlaps and outside parts, join stray parts.

The outlines of all grids and of the boundary are noded together on a
precision grid of :data:`GRID_SIZE` metres (snap rounding: the noding is
exact, so no face can cross another) and polygonized into one planar
arrangement. Every face of it is then given to exactly one grid:

- a face two grids claim (overlap) goes to the claimant it shares the
  longest border with; a grid drawn entirely over another keeps its land;
- a face no grid claims (gap) goes to the neighbouring grid with the longest
  shared edge (a gap with no neighbouring grid at all goes to the nearest
  grid, as an island of it);
- a face outside the boundary is trimmed;
- a grid left in several parts keeps its largest; every other part, of any
  size, joins the neighbour it shares the longest edge with. A part with no
  neighbouring grid at all (an island) stays and is named in
  :attr:`RepairResult.remaining`.

Neighbours are found from the faces' shared edges themselves (exact, as every
face is built from the same noded lines), so a sliver a micrometre wide is a
neighbour like any other face. Because all faces come from one arrangement,
the result is an exact coverage of the boundary. Households are then
reassigned by location; none is ever invented or dropped, and one outside
the boundary is named. Every change is listed, with grid ids of the input's
own type.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from scipy.sparse import coo_matrix, csr_matrix
from scipy.sparse.csgraph import connected_components

from ._types import CRSLike, LayerLike, LayerSource
from .crs import metric_crs_for
from .errors import InputError, no_column
from .inputs import adopt_crs, give_crs
from .io import read_layers
from .plan import ValidationReport
from .validate import check_invariants, validate

__all__ = ["repair", "RepairResult", "GRID_SIZE"]

log = logging.getLogger(__name__)

#: Precision grid (m) of the noded arrangement: vertices snap to it, so a grid edge moves by at most
#: ~0.7 µm (far below any sliver a validation reports) and the noding can never fail.
GRID_SIZE = 1e-6

_CHANGE_COLS = ["action", "grid_id", "from_grid", "area_m2", "household_id", "geometry"]
_REMAINING_COLS = ["issue", "grid_id", "household_id", "area_m2", "reason", "geometry"]
#: what repair does not fix: persons per grid
_NOT_REPAIRED = {"persons_out_of_bounds"}


def _empty_remaining(crs) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(pd.DataFrame(columns=_REMAINING_COLS), geometry="geometry", crs=crs)


@dataclass(frozen=True)
class RepairResult:
    """What :func:`repair` returns.

    Attributes
    ----------
    grids : GeoDataFrame
        Repaired grids (same ids and columns, new geometry), input CRS.
    households : GeoDataFrame or None
        Households with their (re)assigned grid id (same type as the grid ids).
    changes : GeoDataFrame
        One row per change: ``action`` (``overlap_trimmed``, ``gap_filled``,
        ``outside_trimmed``, ``stray_part_moved``, ``household_reassigned``),
        ``grid_id`` (receiving grid, ``None`` for land trimmed away),
        ``from_grid`` (``None`` for a gap), ``area_m2``, ``household_id`` and
        the geometry concerned. Ids keep their type (an int stays an int).
    report : ValidationReport or None
        Validation of the repaired map (when households with persons were given).
    remaining : GeoDataFrame
        What the repaired map still breaks, and why (empty when it validates
        clean apart from persons per grid, which repair does not change):
        ``issue`` (the check it leaves: ``multipart`` for islands,
        ``empty_geometry``, ``household_outside_boundary``, or any other
        check the validation still reports), ``grid_id``, ``household_id``,
        ``area_m2``, ``reason`` and the geometry concerned.
    """

    grids: gpd.GeoDataFrame
    households: gpd.GeoDataFrame | None
    changes: gpd.GeoDataFrame
    report: ValidationReport | None
    remaining: gpd.GeoDataFrame = field(default_factory=lambda: _empty_remaining(None))

    @property
    def ok(self) -> bool:
        """True when nothing remains: the repaired map validates clean (persons per grid aside)."""
        return len(self.remaining) == 0

    def summary(self) -> str:
        """What was repaired, and what remains, in one line."""
        counts = self.changes.groupby("action").size()
        parts = [f"{a} x{c}" for a, c in counts.items()] or ["no changes"]
        text = "repair: " + ", ".join(parts)
        if len(self.remaining):
            left = self.remaining.groupby("issue").size()
            text += "; remaining: " + ", ".join(f"{a} x{c}" for a, c in left.items())
        return text


# ---------------------------------------------------------------- the arrangement


def _polygonal(geoms: np.ndarray) -> np.ndarray:
    """Valid polygonal geometry per row (empty polygon when none)."""
    out = np.empty(len(geoms), dtype=object)
    fixed = shapely.make_valid(geoms, method="structure", keep_collapsed=False)
    for i, x in enumerate(fixed):
        parts = [] if x is None else shapely.get_parts(x)
        parts = [p for p in parts if shapely.get_type_id(p) == 3 and not p.is_empty]
        out[i] = shapely.union_all(parts) if parts else shapely.Polygon()
    return out


def _faces(polys: np.ndarray, bnd) -> np.ndarray:
    """Faces of the arrangement of all outlines, noded by snap rounding on :data:`GRID_SIZE`."""
    geoms = np.r_[polys[~shapely.is_empty(polys)], [bnd]]
    lines = shapely.get_parts(shapely.boundary(geoms))
    noded = shapely.get_parts(shapely.union_all(lines, grid_size=GRID_SIZE))
    faces = shapely.get_parts(shapely.polygonize(noded[shapely.get_type_id(noded) == 1]))
    bad = ~shapely.is_valid(faces)
    if bad.any():  # a face whose ring touches itself: split it, its vertices stay where they are
        fixed = shapely.get_parts(shapely.make_valid(faces[bad]))
        faces = np.r_[faces[~bad], fixed[shapely.get_type_id(fixed) == 3]]
    return faces[shapely.area(faces) > 0]


def _members(faces: np.ndarray, geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pairs (face, geometry) where the face lies in the geometry.

    A face's point on surface decides when it lies well inside the face; a
    face thinner than a few grid cells is decided by area (more than half of
    it inside).
    """
    rp = shapely.point_on_surface(faces)
    deep = shapely.distance(rp, shapely.boundary(faces)) > 10 * GRID_SIZE
    fat = np.flatnonzero(deep)
    gi, fi = shapely.STRtree(rp[fat]).query(geoms, predicate="contains_properly")
    fi = fat[fi]
    thin = np.flatnonzero(~deep)
    if len(thin):
        ti, tg = shapely.STRtree(geoms).query(faces[thin])
        share = shapely.area(shapely.intersection(faces[thin][ti], geoms[tg])) / shapely.area(faces[thin][ti])
        fi, gi = np.r_[fi, thin[ti[share > 0.5]]], np.r_[gi, tg[share > 0.5]]
    return fi, gi


def _adjacency(faces: np.ndarray) -> csr_matrix:
    """Symmetric matrix of the edge length two faces share (exact: faces share noded segments)."""
    n = len(faces)
    rings, ring_face = shapely.get_rings(faces, return_index=True)
    xy, ring_of = shapely.get_coordinates(rings, return_index=True)
    same = ring_of[1:] == ring_of[:-1]
    a, b, f = xy[:-1][same], xy[1:][same], ring_face[ring_of[:-1][same]]
    swap = (a[:, 0] > b[:, 0]) | ((a[:, 0] == b[:, 0]) & (a[:, 1] > b[:, 1]))
    p, q = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    length = np.hypot(q[:, 0] - p[:, 0], q[:, 1] - p[:, 1])
    _, seg = np.unique(np.c_[p, q], axis=0, return_inverse=True)
    o = np.argsort(seg.ravel(), kind="stable")
    s, f, length = seg.ravel()[o], f[o], length[o]
    pair = (s[1:] == s[:-1]) & (f[1:] != f[:-1]) & (length[1:] > 0)
    u, v, ln = f[:-1][pair], f[1:][pair], length[1:][pair]
    m = coo_matrix((np.r_[ln, ln], (np.r_[u, v], np.r_[v, u])), shape=(n, n)).tocsr()
    m.sum_duplicates()
    return m


def _best(score: dict[int, float]) -> int:
    """The key with the highest score; ties go to the lowest index (the earlier grid)."""
    return max(sorted(score), key=lambda k: score[k])


def _neighbours(adj: csr_matrix, f: int):
    lo, hi = adj.indptr[f], adj.indptr[f + 1]
    return zip(adj.indices[lo:hi].tolist(), adj.data[lo:hi].tolist())


# ---------------------------------------------------------------- giving faces to grids


def _resolve_overlaps(claims: list[list[int]], adj: csr_matrix, owner: np.ndarray, n_grids: int, log_: list) -> None:
    """Each face several grids claim goes to the claimant it shares the longest border with."""
    pending = [f for f, gs in enumerate(claims) if len(gs) > 1]
    while pending:
        decided = {}
        for f in pending:
            score = dict.fromkeys(claims[f], 0.0)
            for nb, ln in _neighbours(adj, f):
                if owner[nb] in score:
                    score[owner[nb]] += ln
            if max(score.values()) > 0:
                decided[f] = _best(score)
        if not decided:  # overlap faces bordering no face of a claimant: the earliest claimant
            decided = {f: min(claims[f]) for f in pending}
        for f, w in decided.items():
            owner[f] = w
        pending = [f for f in pending if f not in decided]
    # a grid drawn entirely over others would be left with nothing: it keeps the land it claims,
    # as long as the grid that won that land keeps some of its own
    count = np.bincount(owner[owner >= 0], minlength=n_grids)
    contested: dict[int, list[int]] = {}
    for f, gs in enumerate(claims):
        if len(gs) > 1:
            for g_ in gs:
                contested.setdefault(g_, []).append(f)
    for g_ in sorted(contested):
        if count[g_] == 0:
            for f in contested[g_]:
                if count[owner[f]] > 1:
                    count[owner[f]] -= 1
                    owner[f] = g_
                    count[g_] += 1
    for f, gs in enumerate(claims):
        for g_ in gs:
            if len(gs) > 1 and g_ != owner[f]:
                log_.append(("overlap_trimmed", int(owner[f]), g_, f))


def _fill_gaps(
    gap: list[int], adj: csr_matrix, owner: np.ndarray, faces: np.ndarray, polys: np.ndarray, log_: list
) -> None:
    """Each unclaimed face goes to the neighbouring grid with the longest shared edge, layer by layer."""
    pending = list(gap)
    while pending:
        decided = {}
        for f in pending:
            score: dict[int, float] = {}
            for nb, ln in _neighbours(adj, f):
                if owner[nb] >= 0:
                    score[int(owner[nb])] = score.get(int(owner[nb]), 0.0) + ln
            if score:
                decided[f] = _best(score)
        if not decided:
            break
        for f, w in decided.items():
            owner[f] = w
        pending = [f for f in pending if f not in decided]
    if pending:  # land no grid touches (an island of the boundary): each piece to the nearest grid
        sub = adj[pending][:, pending]
        ncomp, comp = connected_components(sub, directed=False)
        has_land = ~shapely.is_empty(polys)
        for c in range(ncomp):
            members = np.asarray(pending)[comp == c]
            d = np.where(has_land, shapely.distance(polys, shapely.union_all(faces[members])), np.inf)
            owner[members] = int(np.argmin(d))
    for f in gap:
        log_.append(("gap_filled", int(owner[f]), None, f))


def _components(adj: csr_matrix, owner: np.ndarray) -> tuple[int, np.ndarray]:
    a = adj.tocoo()
    same = (owner[a.row] == owner[a.col]) & (owner[a.row] >= 0)
    m = coo_matrix((np.ones(same.sum()), (a.row[same], a.col[same])), shape=adj.shape)
    return connected_components(m, directed=False)


def _join_strays(adj: csr_matrix, owner: np.ndarray, area: np.ndarray, log_: list) -> list[np.ndarray]:
    """Every part of a grid but its largest joins the neighbour it shares the longest edge with.

    Returns the islands: parts (arrays of faces) that border no other grid and so stay.
    Each move merges a whole part into a neighbour, so the number of parts falls until
    only main parts and islands are left.
    """
    while True:
        ncomp, comp = _components(adj, owner)
        comp_area = np.bincount(comp, weights=area, minlength=ncomp)
        comp_owner = np.full(ncomp, -1)
        comp_owner[comp] = owner
        main: dict[int, int] = {}
        for c in np.lexsort((np.arange(ncomp), -comp_area)):
            if comp_owner[c] >= 0:
                main.setdefault(int(comp_owner[c]), int(c))
        strays = [c for c in range(ncomp) if comp_owner[c] >= 0 and main[int(comp_owner[c])] != c]
        received: set[int] = set()
        islands, moved = [], False
        members_of = pd.Series(np.arange(len(comp))).groupby(comp).indices
        for c in sorted(strays, key=lambda c: (comp_area[c], c)):
            own = int(comp_owner[c])
            members = members_of[c]
            if own in received:  # its grid grew this round: its parts are recounted next round
                continue
            score: dict[int, float] = {}
            for f in members.tolist():
                for nb, ln in _neighbours(adj, f):
                    if owner[nb] >= 0 and owner[nb] != own:
                        score[int(owner[nb])] = score.get(int(owner[nb]), 0.0) + ln
            if not score:
                islands.append(members)
                continue
            tgt = _best(score)
            owner[members] = tgt
            received.add(tgt)
            moved = True
            log_.append(("stray_part_moved", tgt, own, members))
        if not moved:
            return islands


# ---------------------------------------------------------------- households and records


def _canon(gid: np.ndarray):
    """Map any spelling of a grid id (11, 11.0, numpy ints) to the grid's own id; missing to None."""
    own = {v: v for v in gid.tolist()}

    def canon(x):
        if x is None or (np.ndim(x) == 0 and pd.isna(x)):
            return None
        return own.get(x, x.item() if isinstance(x, np.generic) else x)

    return canon


def _id_series(values: list, like: pd.Series, index) -> pd.Series:
    """Ids as a column of the grid ids' own dtype (object when one is missing)."""
    if any(v is None for v in values):
        return pd.Series(values, index=index, dtype=object)
    return pd.Series(values, index=index, dtype=like.dtype)


def _place_households(pts: np.ndarray, geoms: np.ndarray, bnd) -> tuple[np.ndarray, np.ndarray]:
    """Row of the grid each point lies in (the first one on a shared edge), else the nearest grid.

    Returns the rows (-1 for a household without a location) and a mask of the
    households outside the boundary.
    """
    tree = shapely.STRtree(geoms)
    pi, gi = tree.query(pts, predicate="intersects")
    o = np.lexsort((gi, pi))
    first = np.r_[True, pi[o][1:] != pi[o][:-1]] if len(pi) else np.empty(0, bool)
    row = np.full(len(pts), -1)
    row[pi[o][first]] = gi[o][first]
    located = ~(shapely.is_missing(pts) | shapely.is_empty(pts))
    lost = np.flatnonzero((row < 0) & located)
    if len(lost):
        qi, near = tree.query_nearest(pts[lost], all_matches=False)
        row[lost[qi]] = near
    outside = located & ~shapely.covers(bnd, np.where(located, pts, shapely.Point(0, 0)))
    return row, outside


def _change_rows(log_: list, faces: np.ndarray, gid: np.ndarray) -> list[dict]:
    """One row per (action, receiving grid, giving grid); a moved stray part is one row of its own."""
    groups: dict[tuple, list] = {}
    rows = []
    for action, to, frm, members in log_:
        if action == "stray_part_moved":
            rows.append((action, to, frm, np.atleast_1d(members)))
        else:
            groups.setdefault((action, to, frm), []).append(members)
    rows += [(a, t, f_, np.asarray(m)) for (a, t, f_), m in groups.items()]
    order = {a: i for i, a in enumerate(["outside_trimmed", "overlap_trimmed", "gap_filled", "stray_part_moved"])}
    out = []
    for action, to, frm, members in sorted(rows, key=lambda r: order[r[0]]):
        out.append(
            {
                "action": action,
                "grid_id": None if to is None or to < 0 else gid[to],
                "from_grid": None if frm is None else gid[frm],
                "area_m2": float(shapely.area(faces[members]).sum()),
                "household_id": None,
                "geometry": shapely.coverage_union_all(faces[members]),
            }
        )
    return out


def _island_note(i: int, geoms: np.ndarray, tree: shapely.STRtree, gid: np.ndarray) -> tuple[float, str]:
    """Area of a grid's parts but its largest, and how far the nearest other grid is from them."""
    parts = shapely.get_parts(geoms[i])
    rest = np.delete(parts, np.argmax(shapely.area(parts)))
    others = tree.query(shapely.envelope(shapely.union_all(rest)), predicate="dwithin", distance=1e4)
    others = others[others != i]
    if not len(others):
        return float(shapely.area(rest).sum()), "no other grid within 10 km"
    d = shapely.distance(geoms[others][:, None], rest[None, :]).min(axis=1)
    k = int(np.argmin(d))
    return float(shapely.area(rest).sum()), f"the nearest other grid, {gid[others[k]]!r}, is {d[k]:.3g} m away"


def _remaining_rows(
    new: np.ndarray,
    out: np.ndarray,
    seen: np.ndarray,
    gid: np.ndarray,
    islands: dict[int, int],
    report: ValidationReport | None,
    named_households: list[dict],
) -> list[dict]:
    """What the repaired map still breaks: islands, empty grids, and whatever the validation still finds.

    ``new`` are the repaired grids in the metric CRS, ``out`` the same in the output CRS and ``seen``
    the output back in the metric CRS (what a validation sees).
    """
    rows, named = [], set()
    tree = shapely.STRtree(new)

    def add(issue, i, area, reason, geom):
        rows.append(
            {
                "issue": issue,
                "grid_id": gid[i],
                "household_id": None,
                "area_m2": area,
                "reason": reason,
                "geometry": geom,
            }
        )
        named.add((issue, gid[i]))

    for i, geom in enumerate(new):
        parts = int(shapely.get_num_geometries(geom))
        if shapely.is_empty(geom):
            add("empty_geometry", i, 0.0, "all of its land lay outside the boundary or under other grids", None)
        elif parts > 1:
            area, near = _island_note(i, new, tree, gid)
            if islands.get(i, 0) == parts - 1:
                why = (
                    f"{parts - 1} of its {parts} parts share no edge with another grid inside the boundary "
                    f"(islands: they stay with it; {near})"
                )
            else:
                why = f"repair left {parts} parts, {islands.get(i, 0)} of them islands (a bug: please report)"
            add("multipart", i, area, why, geom)
        if not shapely.is_valid(out[i]):
            add(
                "invalid_geometry",
                i,
                0.0,
                f"repair made it invalid: {shapely.is_valid_reason(out[i])} (a bug: please report)",
                geom,
            )
    land = ~shapely.is_empty(seen)
    if land.any() and not shapely.coverage_is_valid(seen[land]):
        bad = ~shapely.is_empty(shapely.coverage_invalid_edges(seen[land]))
        for i in np.flatnonzero(land)[bad]:
            add(
                "coverage_invalid_edges",
                i,
                0.0,
                "its edges do not match its neighbours' (a bug: please report)",
                new[i],
            )
    rows += named_households
    named |= {("household", r["household_id"]) for r in named_households}
    if report is None:
        return rows
    for v in report.errors.itertuples():
        hh = v.check.startswith("household") or v.check == "duplicate_household"
        key = ("household", v.ids[0]) if hh and v.ids else (v.check, *v.ids)
        if v.check in _NOT_REPAIRED or key in named:
            continue
        rows.append(
            {
                "issue": v.check,
                "grid_id": v.ids[0] if not hh and len(v.ids) == 1 else None,
                "household_id": v.ids[0] if hh and v.ids else None,
                "area_m2": float(v.figure) if v.check in ("gap", "overlap", "outside_boundary") else 0.0,
                "reason": f"the validation of the result still reports it: {v.message}",
                "geometry": v.geometry,
            }
        )
    return rows


def _read(grids, boundary, households, grid_id_col, household_id_col, crs):
    g, b, h = read_layers({"grids": grids, "boundary": boundary, "households": households}).values()
    if g is None or b is None:
        raise InputError("repair needs grids and a boundary")
    b = adopt_crs(b, g)
    problems: list[str] = []
    give_crs({"grids": g, "boundary": b, "households": h}, crs, problems)
    if grid_id_col not in g.columns:
        problems.append(no_column("grids", grid_id_col, g.columns, "grid_id_col", "--grid-id-col"))
    elif g[grid_id_col].isna().any():
        problems.append(f"{int(g[grid_id_col].isna().sum())} grids have no id; give every grid an id")
    elif g[grid_id_col].duplicated().any():
        dups = sorted(set(g.loc[g[grid_id_col].duplicated(), grid_id_col].tolist()), key=str)
        problems.append(f"duplicate grid ids {dups}; give every grid a unique id before repairing")
    if h is not None and household_id_col not in h.columns:
        problems.append(no_column("households", household_id_col, h.columns, "household_id_col", "--id-col"))
    if len(g) == 0:
        problems.append("grids layer is empty; nothing to repair")
    if problems:
        raise InputError(problems)
    return g, b, h


def _assign(faces, polys, bnd, n_grids):
    """Give every face of the arrangement inside the boundary to one grid; log every change."""
    log_: list = []
    fi, gi = _members(faces, polys)
    inside = np.zeros(len(faces), bool)
    inside[_members(faces, np.array([bnd], dtype=object))[0]] = True
    claims: list[list[int]] = [[] for _ in range(len(faces))]
    for f, g_ in sorted(zip(fi.tolist(), gi.tolist())):
        claims[f].append(g_)
    for f in np.flatnonzero(~inside).tolist():
        log_ += [("outside_trimmed", None, g_, f) for g_ in claims[f]]
    keep = np.flatnonzero(inside)
    claims = [claims[f] for f in keep]
    faces = faces[keep]
    adj = _adjacency(faces)
    owner = np.array([gs[0] if len(gs) == 1 else -1 for gs in claims], dtype=np.int64)
    inner: list = []
    _resolve_overlaps(claims, adj, owner, n_grids, inner)
    _fill_gaps([f for f, gs in enumerate(claims) if not gs], adj, owner, faces, polys, inner)
    islands = _join_strays(adj, owner, shapely.area(faces), inner)
    # face numbers of the inner steps refer to the kept faces
    log_ += [(a, t, f_, keep[m]) for a, t, f_, m in inner]
    island_count: dict[int, int] = {}
    for members in islands:
        island_count[int(owner[members[0]])] = island_count.get(int(owner[members[0]]), 0) + 1
    return keep, owner, log_, island_count


def repair(
    grids: LayerSource,
    boundary: LayerSource,
    households: LayerLike = None,
    *,
    grid_id_col: str = "grid_id",
    household_id_col: str = "household_id",
    persons_col: str = "persons",
    assignment_col: str | None = None,
    min_persons: int = 200,
    max_persons: int = 300,
    barriers: LayerLike = None,
    crs: CRSLike = None,
) -> RepairResult:
    """Repair gaps, overlaps, outside parts and stray parts of a grid map.

    The result validates clean (persons per grid aside, which repair does
    not change) unless :attr:`RepairResult.remaining` names what is left and
    why: a part with no neighbouring grid (an island), a grid left without
    land, a household outside the boundary.

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
    barriers : GeoDataFrame or path, optional
        Barriers for the validation's on-line share.
    crs : pyproj.CRS, str or int, optional
        CRS for inputs that carry none.

    Returns
    -------
    RepairResult

    Raises
    ------
    InputError
        Missing or duplicate grid ids, no CRS, an empty grids layer.
    InternalError
        The repaired map lost a household or broke the coverage (a bug).

    Examples
    --------
    >>> import geopandas as gpd, shapely
    >>> g = gpd.GeoDataFrame({"grid_id": [1, 2]},
    ...     geometry=[shapely.box(0, 0, 6, 10), shapely.box(4, 0, 9, 10)], crs=32650)
    >>> fixed = repair(g, shapely.box(0, 0, 10, 10))
    >>> fixed.changes[["action", "grid_id", "from_grid"]].values.tolist()
    [['overlap_trimmed', 1, 2], ['gap_filled', 2, None]]
    >>> float(round(fixed.grids.area.sum(), 6)), fixed.ok
    (100.0, True)
    """
    g, b, h = _read(grids, boundary, households, grid_id_col, household_id_col, crs)
    work = metric_crs_for(b)
    gw = g.to_crs(work)
    bnd = shapely.union_all(_polygonal(b.to_crs(work).geometry.to_numpy()))
    gid = np.asarray(gw[grid_id_col].tolist() + [None], dtype=object)[:-1]
    polys = _polygonal(gw.geometry.to_numpy())
    faces = _faces(polys, bnd)
    keep, owner, log_, islands = _assign(faces, polys, bnd, len(gid))
    inner = faces[keep]
    new = np.array(
        [
            shapely.coverage_union_all(inner[owner == i]) if (owner == i).any() else shapely.Polygon()
            for i in range(len(gid))
        ],
        dtype=object,
    )
    fixed = gw.set_geometry(gpd.GeoSeries(new, index=gw.index, crs=work)).to_crs(g.crs)
    records = _change_rows(log_, faces, gid)
    # the grids as a validation will see them (back from the output CRS)
    seen = fixed.to_crs(work).geometry.to_numpy()
    hh_out, report, named_hh = None, None, []
    if h is not None:
        hw, moves, named_hh = _households(
            h.to_crs(work),
            seen,
            gid,
            bnd,
            g[grid_id_col],
            household_id_col=household_id_col,
            assignment_col=assignment_col,
            grid_id_col=grid_id_col,
        )
        records += moves
        if persons_col in hw.columns:
            report = validate(
                fixed,
                hw,
                b,
                barriers,
                min_persons=min_persons,
                max_persons=max_persons,
                grid_id_col=grid_id_col,
                household_id_col=household_id_col,
                persons_col=persons_col,
                assignment_col=assignment_col or grid_id_col,
            )
            # the map may break bounds, but nothing may be lost and the coverage must hold
            check_invariants(
                report,
                households_in=len(h),
                persons_in=int(pd.to_numeric(h[persons_col]).sum()),
                what="repair",
                all_errors=False,
            )
        hh_out = hw.to_crs(h.crs)
    remaining = _remaining_rows(new, fixed.geometry.to_numpy(), seen, gid, islands, report, named_hh)
    if remaining:
        kinds = pd.Series([r["issue"] for r in remaining]).value_counts()
        log.warning("repair left %s; see RepairResult.remaining", ", ".join(f"{k} x{n}" for k, n in kinds.items()))
    return RepairResult(
        grids=fixed,
        households=hh_out,
        changes=_frame(records, _CHANGE_COLS, work),
        report=report,
        remaining=_frame(remaining, _REMAINING_COLS, work),
    )


def _households(hw, geoms, gid, bnd, grid_ids: pd.Series, *, household_id_col, assignment_col, grid_id_col):
    """Reassign households by location; list the moves and the households outside the boundary."""
    pts = hw.geometry.to_numpy()
    row, outside = _place_households(pts, geoms, bnd)
    canon = _canon(gid)
    hid = hw[household_id_col].tolist()
    new_ids = [gid[r] if r >= 0 else None for r in row]
    moves, named = [], []
    if assignment_col and assignment_col in hw.columns:
        old = [canon(x) for x in hw[assignment_col].tolist()]
        moves = [
            {
                "action": "household_reassigned",
                "grid_id": new_ids[i],
                "from_grid": old[i],
                "area_m2": 0.0,
                "household_id": hid[i],
                "geometry": pts[i],
            }
            for i in range(len(hid))
            if old[i] != new_ids[i]
        ]
    for i in np.flatnonzero(outside):
        d = float(shapely.distance(bnd, pts[i]))
        named.append(
            {
                "issue": "household_outside_boundary",
                "grid_id": new_ids[i],
                "household_id": hid[i],
                "area_m2": 0.0,
                "geometry": pts[i],
                "reason": f"it lies {d:.2f} m outside the boundary; kept, assigned to the nearest grid",
            }
        )
    for i in np.flatnonzero(row < 0):
        named.append(
            {
                "issue": "household_unassigned",
                "grid_id": None,
                "household_id": hid[i],
                "area_m2": 0.0,
                "geometry": None,
                "reason": "it has no location; kept without a grid",
            }
        )
    hw = hw.copy()
    hw[assignment_col or grid_id_col] = _id_series(new_ids, grid_ids, hw.index)
    return hw, moves, named


def _frame(rows: list[dict], cols: list[str], crs) -> gpd.GeoDataFrame:
    """Rows as a GeoDataFrame whose id columns keep each id's own type (object dtype, None for none)."""
    df = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in cols[:-1]})
    df["area_m2"] = df["area_m2"].astype(float)
    return gpd.GeoDataFrame(df, geometry=gpd.GeoSeries([r["geometry"] for r in rows], crs=crs), crs=crs)
