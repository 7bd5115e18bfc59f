"""Stage 2a: divisible sites — a building's households in parts, its cell in strips.

A household register geocoded to the building puts every household of a
building on one point (a *site*); a high-rise of 1,000 persons is one site.
Field practice draws micro-grids from whole buildings where it can and
divides a building by entrance (单元), then by floor (楼层), only where the
bounds force it. microgrid does the same with one mechanism:

1. **Chunks.** The households of a site heavier than half the band are
   put in entrance, floor, id order and packed into consecutive chunks of at
   most ``chunk_persons`` (a quarter of the band) persons. A chunk never spans two entrances, and it
   breaks at a floor boundary where a whole floor fits.
2. **Strips.** The site's cell (its unit) is cut by lines across its long
   axis into one strip per chunk, each strip's area in proportion to its
   chunk's persons and in chunk order. The cut lines join the noded
   linework, so the strips tile the cell and the units still tile the
   boundary exactly.
3. **Cost.** The edge between two strips of one site costs
   :data:`DIVIDE_COST` (twice that inside one entrance), far above any cut
   along or through blocks, so the partition divides a site only when no
   plan of whole sites meets the bounds, and then at entrance boundaries
   first. A grid's part of a divided site is the union of its strips.

The same cost keeps landmark polygons that hold households together without
forbidding a split when they are heavier than a grid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import shapely

from ._types import CRSLike

if TYPE_CHECKING:
    import geopandas as gpd

    from .units import Units

__all__ = [
    "DIVIDE_COST",
    "Chunks",
    "Division",
    "plan_chunks",
    "slice_cells",
    "natural_codes",
    "detect_column",
    "divided_sites_table",
    "ENTRANCE_NAMES",
    "FLOOR_NAMES",
]

#: Cut cost of dividing a site between two grids (one edge between two of its strips). Far above any real cut
#: (metres of line through blocks), so the number of divided sites is minimized first.
DIVIDE_COST = 1e7

#: Column names taken as the entrance (单元) and floor (楼层) of a household when none is named.
ENTRANCE_NAMES = ("entrance", "单元", "单元号", "entrance_no")
FLOOR_NAMES = ("floor", "楼层", "层", "floor_no")


def detect_column(columns: Iterable[str], names: Iterable[str]) -> str | None:
    """The first column whose name (case-insensitive) is one of ``names``."""
    low = {str(c).lower(): c for c in columns}
    for n in names:
        if n.lower() in low:
            return low[n.lower()]
    return None


def natural_codes(values: Iterable[object]) -> np.ndarray:
    """Integer ranks of ``values`` in natural order ("2单元" before "10单元"); missing values last, as -1.

    Examples
    --------
    >>> natural_codes(["10单元", "2单元", None, "2单元", "B"]).tolist()
    [1, 0, -1, 0, 2]
    """
    s = pd.Series(list(values), dtype=object)
    miss = s.isna().to_numpy()
    text = s.astype(str).to_numpy()
    uniq = sorted(set(text[~miss]), key=_natural_key)
    rank = {v: i for i, v in enumerate(uniq)}
    return np.array([-1 if m else rank[t] for t, m in zip(text, miss)], dtype=np.int64)


def _natural_key(v: str):
    m = re.search(r"-?\d+(\.\d+)?", v)
    return (0, float(m.group()), v) if m else (1, 0.0, v)


@dataclass
class Chunks:
    """Households of each site packed into chunks (a site that is not divisible is one chunk)."""

    of_household: np.ndarray  # chunk per household
    site: np.ndarray  # site per chunk
    persons: np.ndarray  # persons per chunk
    entrance: np.ndarray  # entrance rank per chunk, -1 when unknown
    divisible: np.ndarray  # per site: its households were packed into several chunks

    @property
    def n(self) -> int:
        """Number of chunks."""
        return len(self.site)


@dataclass(frozen=True)
class Division:
    """How sites heavier than a grid may be divided: by entrance, then floor, into chunks of ``chunk_persons``.

    Attributes
    ----------
    chunk_persons : int
        Most persons in one chunk (a single heavier household is a chunk of its own).
    entrance, floor : (n,) int arrays, optional
        Entrance and floor rank per household, from :func:`natural_codes` (-1: unknown).
    divisible_above : int, optional
        Sites holding more persons than this are divisible (default: ``chunk_persons``).
    """

    chunk_persons: int
    entrance: np.ndarray | None = None
    floor: np.ndarray | None = None
    divisible_above: int | None = None


def plan_chunks(site_of_household: np.ndarray, persons: np.ndarray, n_sites: int, division: Division) -> Chunks:
    """Pack the households of each divisible site into chunks, as ``division`` says.

    Parameters
    ----------
    site_of_household : (n,) int array
    persons : (n,) int array
    n_sites : int
    division : Division
        Chunk size, entrance and floor ranks, and the weight above which a site is divisible.

    Examples
    --------
    >>> c = plan_chunks(np.zeros(6, int), np.full(6, 20), 1, Division(50, entrance=np.array([0, 0, 0, 1, 1, 1])))
    >>> c.of_household.tolist(), c.persons.tolist()
    ([0, 0, 1, 2, 2, 3], [40, 20, 40, 20])
    """
    chunk_persons, entrance, floor = int(division.chunk_persons), division.entrance, division.floor
    n = len(site_of_household)
    persons = np.asarray(persons, dtype=np.int64)
    ent = np.full(n, -1, np.int64) if entrance is None else np.asarray(entrance, np.int64)
    flr = np.full(n, -1, np.int64) if floor is None else np.asarray(floor, np.int64)
    site_persons = np.bincount(site_of_household, weights=persons, minlength=n_sites)
    site_count = np.bincount(site_of_household, minlength=n_sites)
    above = chunk_persons if division.divisible_above is None else division.divisible_above
    divisible = (site_persons > max(above, chunk_persons)) & (site_count > 1)
    # unknown entrance/floor sort last (-1 -> a large rank)
    big = np.int64(1) << 40
    o = np.lexsort((np.where(flr < 0, big, flr), np.where(ent < 0, big, ent), site_of_household))  # stable: input order
    chunk = np.empty(n, np.int64)
    c_site: list[int] = []
    c_persons: list[int] = []
    c_ent: list[int] = []
    s_o, p_o, e_o, f_o = site_of_household[o], persons[o], ent[o], flr[o]
    start = np.r_[0, np.flatnonzero(s_o[1:] != s_o[:-1]) + 1, n] if n else np.array([0])
    for a, b in zip(start[:-1], start[1:]):
        s = int(s_o[a])
        if not divisible[s]:
            chunk[o[a:b]] = len(c_site)
            c_site.append(s)
            c_persons.append(int(p_o[a:b].sum()))
            c_ent.append(int(e_o[a]))
            continue
        for lab, ppl in _pack(p_o[a:b], e_o[a:b], f_o[a:b], chunk_persons):
            idx = o[a:b][lab]
            chunk[idx] = len(c_site)
            c_site.append(s)
            c_persons.append(int(ppl))
            c_ent.append(int(ent[idx[0]]))
    return Chunks(
        of_household=chunk,
        site=np.asarray(c_site, np.int64),
        persons=np.asarray(c_persons, np.int64),
        entrance=np.asarray(c_ent, np.int64),
        divisible=divisible,
    )


def _runs(key: np.ndarray) -> list[tuple[int, int]]:
    cut = np.r_[0, np.flatnonzero(key[1:] != key[:-1]) + 1, len(key)]
    return list(zip(cut[:-1].tolist(), cut[1:].tolist()))


def _pack(p: np.ndarray, ent: np.ndarray, flr: np.ndarray, q: int):
    """Chunks of one site's households (already in entrance, floor, id order): yields (positions, persons)."""
    for ea, eb in _runs(ent):
        # floors of this entrance, each split by households when heavier than q
        pieces = []
        for fa, fb in _runs(flr[ea:eb]):
            fa, fb = fa + ea, fb + ea
            if p[fa:fb].sum() <= q or fb - fa == 1:
                pieces.append((fa, fb))
                continue
            run = fa
            acc = 0
            for i in range(fa, fb):
                if acc and acc + p[i] > q:
                    pieces.append((run, i))
                    run, acc = i, 0
                acc += int(p[i])
            pieces.append((run, fb))
        # whole pieces packed greedily up to q
        cur: list[int] = []
        acc = 0
        for a, b in pieces:
            w = int(p[a:b].sum())
            if cur and acc + w > q:
                yield np.arange(cur[0], cur[-1]), acc
                cur, acc = [], 0
            cur = [cur[0], b] if cur else [a, b]
            acc += w
        if cur:
            yield np.arange(cur[0], cur[-1]), acc


def slice_cells(
    cells: np.ndarray, shares: list[np.ndarray], min_width: float = 0.05, anchors: np.ndarray | None = None
):
    """Cut each cell across its long axis into strips with areas in proportion to ``shares``.

    Parameters
    ----------
    cells : array of Polygon
    shares : list of 1-D arrays
        Per cell, the weight of each strip in order (persons of each chunk).
    min_width : float
        Cuts closer than this (m) to the previous cut are dropped; that strip
        then shares its neighbour's unit.
    anchors : array of Point, optional
        Per cell, a point that must lie in a strip's face (the site itself):
        the strip whose band holds it is represented by it. A strip of a cell
        that is not convex may come in several pieces; the others are empty.

    Returns
    -------
    lines : array of LineString
        The cut lines, clipped to their cells.
    points : list of arrays of Point or None
        Per cell, a point inside each strip (None where a strip was dropped).

    Examples
    --------
    >>> lines, pts = slice_cells(np.array([shapely.box(0, 0, 40, 10)]), [np.array([1, 1, 2])])
    >>> [round(x, 3) for x in sorted(shapely.get_coordinates(lines)[:, 0].tolist())]
    [10.0, 10.0, 20.0, 20.0]
    """
    nc = len(cells)
    if nc == 0:
        return np.empty(0, object), []
    env = shapely.oriented_envelope(cells)
    d = np.zeros((nc, 2))
    d[:, 0] = 1.0
    poly = shapely.get_type_id(env) == 3
    if poly.any():
        ring = shapely.get_coordinates(shapely.get_exterior_ring(env[poly])).reshape(-1, 5, 2)
        e1, e2 = ring[:, 1] - ring[:, 0], ring[:, 2] - ring[:, 1]
        long = np.where((np.hypot(*e1.T) >= np.hypot(*e2.T))[:, None], e1, e2)
        norm = np.hypot(*long.T)
        ok = norm > 0
        idx = np.flatnonzero(poly)[ok]
        d[idx] = long[ok] / norm[ok, None]
    nrm = np.c_[-d[:, 1], d[:, 0]]
    xy, ci = shapely.get_coordinates(cells, return_index=True)
    t = (xy * d[ci]).sum(1)
    s = (xy * nrm[ci]).sum(1)
    tmin, tmax = np.full(nc, np.inf), np.full(nc, -np.inf)
    smin, smax = np.full(nc, np.inf), np.full(nc, -np.inf)
    np.minimum.at(tmin, ci, t)
    np.maximum.at(tmax, ci, t)
    np.minimum.at(smin, ci, s)
    np.maximum.at(smax, ci, s)
    smin, smax = smin - 1.0, smax + 1.0
    area = shapely.area(cells)
    cut_cell: list[int] = []
    frac: list[float] = []
    for i, w in enumerate(shares):
        w = np.maximum(np.asarray(w, dtype=float), 1e-3 * max(float(np.sum(w)), 1.0) / max(len(w), 1))
        c = np.cumsum(w)[:-1] / w.sum()
        cut_cell.extend([i] * len(c))
        frac.extend(c.tolist())
    cf = np.asarray(cut_cell, np.int64)
    target = np.asarray(frac) * area[cf]

    def slab(c, ta, tb):  # the part of the plane between ta and tb along each cell's axis
        corners = [(ta, smin[c]), (tb, smin[c]), (tb, smax[c]), (ta, smax[c])]
        pts = np.stack([tt[:, None] * d[c] + ss[:, None] * nrm[c] for tt, ss in corners], axis=1)
        return shapely.polygons(pts)

    tcut = _cut_positions(cells[cf], target, tmin[cf], tmax[cf], lambda ta, tb: slab(cf, ta, tb))
    # per cell: boundaries of its strips, dropping cuts too close to the previous one
    points = []
    strip_cell, strip_lo, strip_hi, strip_slot = [], [], [], []
    seg_t, seg_cell = [], []
    pos = 0
    for i, w in enumerate(shares):
        m = len(w) - 1
        tc = tcut[pos : pos + m]
        pos += m
        keep = np.ones(m, bool)
        last = tmin[i]
        for j in range(m):
            if tc[j] - last < min_width or tmax[i] - tc[j] < min_width:
                keep[j] = False
            else:
                last = tc[j]
        edges = np.r_[tmin[i] - 1.0, tc, tmax[i] + 1.0]
        # strip j lies between the last kept edge at or before j and the next kept edge after it
        bounds = np.flatnonzero(np.r_[True, keep, True])
        strip_cell.extend([i] * (len(bounds) - 1))
        strip_lo.extend(edges[bounds[:-1]].tolist())
        strip_hi.extend(edges[bounds[1:]].tolist())
        strip_slot.extend(bounds[:-1].tolist())
        points.append(np.full(m + 1, None, dtype=object))
        seg_t.extend(tc[keep].tolist())
        seg_cell.extend([i] * int(keep.sum()))
    # one point inside each strip: on its largest piece (a strip of a cell that is not convex may be several)
    sc = np.asarray(strip_cell, np.int64)
    lo_s, hi_s = np.asarray(strip_lo), np.asarray(strip_hi)
    strips = shapely.intersection(cells[sc], slab(sc, lo_s, hi_s))
    parts, which = shapely.get_parts(strips, return_index=True)
    poly = shapely.get_type_id(parts) == 3
    parts, which = parts[poly], which[poly]
    if len(parts):
        o = np.lexsort((-shapely.area(parts), which))
        first = o[np.r_[True, which[o][1:] != which[o][:-1]]]
        for k, pt in zip(which[first].tolist(), shapely.point_on_surface(parts[first])):
            points[strip_cell[k]][strip_slot[k]] = pt
    if anchors is not None:  # the strip whose band holds the site's point is represented by it
        ta = (shapely.get_coordinates(np.asarray(anchors, dtype=object)) * d).sum(1)[sc]
        last_strip = np.r_[sc[1:] != sc[:-1], True]
        inside = (lo_s <= ta) & ((ta < hi_s) | last_strip)
        for k in np.flatnonzero(inside).tolist():
            points[strip_cell[k]][strip_slot[k]] = anchors[strip_cell[k]]
    if not seg_t:
        return np.empty(0, object), points
    t_ = np.asarray(seg_t)[:, None]
    ci_ = np.asarray(seg_cell, np.int64)
    ends = np.stack([t_ * d[ci_] + smin[ci_, None] * nrm[ci_], t_ * d[ci_] + smax[ci_, None] * nrm[ci_]], axis=1)
    lp = shapely.get_parts(shapely.intersection(shapely.linestrings(ends), cells[ci_]))
    return _extend(lp[shapely.get_type_id(lp) == 1]), points


def _cut_positions(cells, target, tmin, tmax, band) -> np.ndarray:
    """Where along its axis each cell's area up to the cut reaches ``target``: bisection, all cuts at once.

    ``band(ta, tb)`` is the part of the plane between ``ta`` and ``tb`` along each cut's axis.
    """
    lo, hi = tmin.copy(), tmax.copy()
    for _ in range(26):  # the band halves each step: 2^-26 of a cell 1 km long is 15 micrometres
        mid = (lo + hi) / 2
        below = shapely.area(shapely.intersection(cells, band(tmin - 1.0, mid))) < target
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
    return (lo + hi) / 2


def _extend(lines: np.ndarray, eps: float = 1e-3) -> np.ndarray:
    """Straight pieces lengthened by ``eps`` at both ends, so noding sees them cross the cell outline.

    A piece clipped to a cell ends on its outline only up to rounding; left
    as it is, the noding may miss that end and polygonize would drop the cut
    as a dangle. The stubs beyond the outline are dangles themselves.
    """
    if len(lines) == 0:
        return lines
    a = shapely.get_coordinates(shapely.get_point(lines, 0))
    b = shapely.get_coordinates(shapely.get_point(lines, -1))
    d = b - a
    n = np.hypot(d[:, 0], d[:, 1])
    ok = n > 0
    u = np.zeros_like(d)
    u[ok] = d[ok] / n[ok, None]
    return shapely.linestrings(np.stack([a - eps * u, b + eps * u], axis=1))[ok]


def _span(values) -> str:
    """Short text of the distinct values of one part: ``"1单元, 2单元"``, ``"1-6"`` for numbers."""
    vals = [v for v in values if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if not vals:
        return ""
    uniq = sorted({str(v) for v in vals}, key=_natural_key)
    nums = pd.to_numeric(pd.Series(uniq), errors="coerce")
    if len(uniq) > 2 and nums.notna().all() and (nums == nums.round()).all():
        return f"{int(nums.min())}-{int(nums.max())}"
    return ", ".join(uniq) if len(uniq) <= 4 else f"{uniq[0]} .. {uniq[-1]} ({len(uniq)})"


DIVIDED_COLUMNS = [
    "site_id",
    "site_label",
    "site_persons",
    "part",
    "parts",
    "grid_id",
    "households",
    "persons",
    "entrances",
    "floors",
    "first_household",
    "last_household",
]


def _landmark_parts(
    units: Units,
    grid_of_unit: np.ndarray,
    grid_ids: np.ndarray,
    households: pd.DataFrame,
    soft_landmarks: Iterable[int],
    landmark_names: np.ndarray | None,
    rows: list[dict],
    geoms: list,
    site_id: np.ndarray,
    site_part: np.ndarray,
) -> None:
    """The parts of each landmark divided between grids: rows and outlines appended, households marked."""
    hh_unit = units.unit_of_household
    roster = (households["household_id"].to_numpy(), households["persons"].to_numpy(np.int64), None, None)
    for lm in np.asarray(list(soft_landmarks), dtype=np.int64).tolist():
        lu = np.flatnonzero(units.landmark == lm)
        gs = list(dict.fromkeys(grid_of_unit[lu].tolist()))
        if len(gs) < 2:
            continue
        name = landmark_names[lm] if landmark_names is not None else None
        label = f"landmark {lm}" if name is None or pd.isna(name) else str(name)
        parts = []
        for g in gs:
            uu = lu[grid_of_unit[lu] == g]
            parts.append(
                (grid_ids[g], np.flatnonzero(np.isin(hh_unit, uu)), shapely.coverage_union_all(units.geometry[uu]))
            )
        _add_divided_site(label, parts, roster, rows, geoms, site_id, site_part)


def _add_divided_site(
    label: str,
    parts: list[tuple[Any, Any, Any]],
    roster: tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None],
    rows: list[dict],
    geoms: list,
    site_id: np.ndarray,
    site_part: np.ndarray,
) -> None:
    """One site divided between grids: a row and an outline per part appended, its households marked.

    ``parts`` holds (grid id, household indices in roster order, outline) per part, in part order;
    ``roster`` the households' ids, persons, entrances and floors (None when not given).
    """
    ids, persons, ent, flr = roster
    sid = rows[-1]["site_id"] + 1 if rows else 1
    site_persons = int(sum(int(persons[hs].sum()) for _, hs, _ in parts))
    for part, (gid, hs, outline) in enumerate(parts, start=1):
        site_id[hs] = sid
        site_part[hs] = part
        rows.append(
            {
                "site_id": sid,
                "site_label": label,
                "site_persons": site_persons,
                "part": part,
                "parts": len(parts),
                "grid_id": gid,
                "households": len(hs),
                "persons": int(persons[hs].sum()),
                "entrances": _span(ent[hs]) if ent is not None else "",
                "floors": _span(flr[hs]) if flr is not None else "",
                "first_household": str(ids[hs[0]]) if len(hs) else "",
                "last_household": str(ids[hs[-1]]) if len(hs) else "",
            }
        )
        geoms.append(outline)


def divided_sites_table(
    units: Units,
    grid_of_unit: np.ndarray,
    grid_ids: np.ndarray,
    households: gpd.GeoDataFrame,
    site_cols: dict,
    *,
    crs: CRSLike = None,
    soft_landmarks: Iterable[int] = (),
    landmark_names: np.ndarray | None = None,
):
    """The divided sites of a plan, one row per part, and ``site_id``/``site_part`` per household.

    Parameters
    ----------
    units : Units
    grid_of_unit : (n_units,) int array
        0-based grid index per unit.
    grid_ids : array
        Grid id per grid index.
    households : GeoDataFrame
        The checked households (``household_id``, ``persons``), in the order units were built from.
    site_cols : dict
        ``entrance``, ``floor``, ``building`` value arrays (or None) and their ranks.
    crs : pyproj.CRS, str or int, optional
        CRS of the parts' geometry (the working CRS).
    soft_landmarks : array of int
        Landmarks that were allowed to be divided; those whose units lie in
        several grids are listed too (after the buildings).
    landmark_names : array, optional
        Name per landmark index, for ``site_label``.

    Returns
    -------
    (GeoDataFrame, Int64 array, Int64 array)
        Parts (columns :data:`DIVIDED_COLUMNS`, geometry: the part's strips),
        and site id / part per household (missing outside divided sites).
    """
    import geopandas as gpd

    n_hh = len(households)
    site_id = np.full(n_hh, -1, np.int64)
    site_part = np.full(n_hh, -1, np.int64)
    ch = units.chunks
    rows: list[dict] = []
    geoms: list = []
    if ch is not None and ch.divisible.any():
        g_chunk = grid_of_unit[units.unit_of_site]
        by_site: dict[int, list[int]] = {}
        for c, s in enumerate(ch.site.tolist()):
            if ch.divisible[s]:
                by_site.setdefault(s, []).append(c)
        split = [(int(g_chunk[cs].min()), s) for s, cs in by_site.items() if len(set(g_chunk[cs].tolist())) > 1]
        hh_ids = households["household_id"].to_numpy()
        persons = households["persons"].to_numpy(np.int64)
        ent = site_cols.get("entrance")
        flr = site_cols.get("floor")
        bld = site_cols.get("building")
        ranks = [np.arange(n_hh)]
        for key in ("floor_rank", "entrance_rank"):
            if site_cols.get(key) is not None:
                r = site_cols[key]
                ranks.append(np.where(r < 0, np.iinfo(np.int64).max, r))
        hh_order = np.lexsort(ranks)
        pos = np.empty(n_hh, np.int64)
        pos[hh_order] = np.arange(n_hh)
        members = pd.Series(np.arange(n_hh)).groupby(ch.of_household).apply(list).to_dict()
        roster = (hh_ids, persons, ent, flr)
        for _g, s in sorted(split):
            cs = by_site[s]
            first = min((h for c in cs for h in members.get(c, [])), key=lambda h: pos[h])
            label = str(bld[first]) if bld is not None and bld[first] is not None else f"household {hh_ids[first]}"
            parts = []
            for g in dict.fromkeys(g_chunk[cs].tolist()):
                pc = [c for c in cs if g_chunk[c] == g]
                hs = np.asarray(sorted((h for c in pc for h in members.get(c, [])), key=lambda h: pos[h]), np.int64)
                parts.append(
                    (grid_ids[g], hs, shapely.coverage_union_all(units.geometry[np.unique(units.unit_of_site[pc])]))
                )
            _add_divided_site(label, parts, roster, rows, geoms, site_id, site_part)
    _landmark_parts(
        units, grid_of_unit, grid_ids, households, soft_landmarks, landmark_names, rows, geoms, site_id, site_part
    )
    table = gpd.GeoDataFrame(
        pd.DataFrame(rows, columns=DIVIDED_COLUMNS),
        geometry=np.asarray(geoms, dtype=object) if geoms else gpd.GeoSeries([], crs=crs),
        crs=crs,
    )
    as_int = pd.array(np.where(site_id >= 0, site_id, 0), dtype="Int64")
    as_int[site_id < 0] = pd.NA
    part_int = pd.array(np.where(site_part >= 0, site_part, 0), dtype="Int64")
    part_int[site_part < 0] = pd.NA
    return table, as_int, part_int
