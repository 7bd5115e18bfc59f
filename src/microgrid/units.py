"""Stage 2: split the boundary into units that tile it exactly.

Units are the faces of one planar arrangement of lines: the boundary rings,
the barriers (clipped to the boundary, near-miss ends snapped), the Voronoi
edges between distinct household sites, and landmark outlines. Because every
unit comes out of the same noded linework, neighbouring units share their
edges vertex for vertex, so the units form a valid coverage whose union is
the boundary (不漏一地). A road that runs through a household cell, dead end
or not, cuts it wherever it crosses the cell, so grid lines can follow it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import shapely

from .sites import Chunks, Division, plan_chunks, slice_cells

if TYPE_CHECKING:
    from .inputs import Inputs

__all__ = ["Units", "build_units", "GRID_SIZE"]

log = logging.getLogger(__name__)

#: Precision grid of the working geometry, metres. Linework is noded on it.
GRID_SIZE = 0.01


@dataclass
class Units:
    """Units tiling the boundary, with their households."""

    geometry: np.ndarray  # shapely Polygons, one per unit
    persons: np.ndarray  # int64 persons per unit
    n_households: np.ndarray  # households per unit
    site_of_household: np.ndarray  # chunk index per household (in input order); see microgrid.sites
    unit_of_site: np.ndarray  # unit index per chunk
    landmark: np.ndarray  # landmark index per unit, -1 if none
    boundary: shapely.Geometry  # the boundary the units tile
    linework: np.ndarray  # noded line pieces (for the graph)
    barriers: np.ndarray  # clipped, snapped barrier lines
    barrier_rank: np.ndarray
    barrier_kind: np.ndarray
    chunks: Chunks | None = None  # households of divisible sites in chunks, one strip unit each
    unit_site: np.ndarray | None = None  # per unit: the divisible site whose strip it is, -1 otherwise
    unit_entrance: np.ndarray | None = None  # per unit: entrance rank of its chunk, -1 otherwise
    barrier_source: np.ndarray | None = None  # per barrier line: index of the input line it comes from

    @property
    def n(self) -> int:
        """Number of units."""
        return len(self.geometry)

    @property
    def unit_of_household(self) -> np.ndarray:
        """Unit index per household (input order)."""
        return self.unit_of_site[self.site_of_household]


def snap_ends(lines: np.ndarray, boundary: shapely.Geometry, tolerance: float) -> tuple[np.ndarray, np.ndarray]:
    """Extend line ends that miss another line or the boundary by <= ``tolerance``.

    Each free end whose nearest other line (or the boundary ring) is within
    ``tolerance`` but not touching gets a short segment to the nearest point
    on it, so the gap closes and the road splits the land it should.
    Returns the lines with the new segments appended, and for each new
    segment the index of the line it extends.
    """
    if len(lines) == 0 or tolerance <= 0:
        return lines, np.empty(0, int)
    ring = boundary.boundary
    targets = np.concatenate([lines, shapely.get_parts(ring)])
    owner = np.concatenate([np.arange(len(lines)), np.full(len(targets) - len(lines), -1)])
    tree = shapely.STRtree(targets)
    starts = shapely.get_point(lines, 0)
    ends = shapely.get_point(lines, -1)
    pts = np.concatenate([starts, ends])
    line_of_pt = np.concatenate([np.arange(len(lines)), np.arange(len(lines))])
    pi, ti = tree.query(pts, predicate="dwithin", distance=tolerance)
    keep = owner[ti] != line_of_pt[pi]
    pi, ti = pi[keep], ti[keep]
    if len(pi) == 0:
        return lines, np.empty(0, int)
    d = shapely.distance(pts[pi], targets[ti])
    # points already on another line: nothing to snap
    touching = np.zeros(len(pts), bool)
    touching[pi[d < GRID_SIZE]] = True
    sel = ~touching[pi]
    pi, ti, d = pi[sel], ti[sel], d[sel]
    if len(pi) == 0:
        return lines, np.empty(0, int)
    order = np.lexsort((ti, d, pi))
    pi, ti = pi[order], ti[order]
    first = np.r_[True, pi[1:] != pi[:-1]]
    pi, ti = pi[first], ti[first]
    near = shapely.shortest_line(pts[pi], targets[ti])
    log.debug("snapped %d barrier ends", len(pi))
    return np.concatenate([lines, near]), line_of_pt[pi]


#: Barrier stretches closer than this (m) to the boundary line run along it and are dropped.
ALONG_TOLERANCE = 0.05


def _clip_lines(lines: np.ndarray, boundary: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    if len(lines) == 0:
        return np.empty(0, object), np.empty(0, int)
    shapely.prepare(boundary)
    inter = shapely.intersects(boundary, lines)
    idx = np.flatnonzero(inter)
    clipped = shapely.intersection(lines[idx], boundary, grid_size=GRID_SIZE)
    parts, pidx = shapely.get_parts(clipped, return_index=True)
    is_line = shapely.get_type_id(parts) == 1
    parts, pidx = parts[is_line], pidx[is_line]
    # a barrier running along the boundary (a village edge drawn on its road) adds nothing but slivers
    # of no width between the two lines: drop the stretches within ALONG_TOLERANCE of the boundary; the
    # ends it shortens are snapped back onto the boundary by snap_ends
    zone = shapely.buffer(boundary.boundary, ALONG_TOLERANCE)
    shapely.prepare(zone)
    near = np.flatnonzero(shapely.intersects(zone, parts))
    if len(near):  # only lines that run along it (a stretch > 1 m inside the zone), not those that cross it
        inner, which = shapely.get_parts(shapely.intersection(parts[near], zone), return_index=True)
        longest = np.zeros(len(near))
        np.maximum.at(longest, which, shapely.length(inner))
        near = near[longest > 1.0]
    if len(near):
        trimmed = shapely.difference(parts[near], zone, grid_size=GRID_SIZE)
        keep = np.ones(len(parts), bool)
        keep[near] = False
        tp, ti = shapely.get_parts(trimmed, return_index=True)
        line = shapely.get_type_id(tp) == 1
        parts = np.concatenate([parts[keep], tp[line]])
        pidx = np.concatenate([pidx[keep], pidx[near][ti[line]]])
    ok = shapely.length(parts) > 0
    return parts[ok], idx[pidx[ok]]


def units_from_inputs(inp: Inputs, **options: Any) -> Units:
    """:func:`build_units` on checked inputs (:class:`microgrid.inputs.Inputs`).

    Households, boundary, ranked barriers and landmark polygons, all in the
    metric working CRS; ``options`` are :func:`build_units`' keyword options
    (``snap_tolerance``, ``cut_lines``, ``division``).
    """
    hh = inp.households
    return build_units(
        shapely.get_coordinates(hh.geometry.to_numpy()),
        hh["persons"].to_numpy(np.int64),
        inp.boundary,
        inp.barriers.geometry.to_numpy(),
        inp.barriers["rank"].to_numpy(),
        inp.barriers["kind"].to_numpy(dtype=object),
        landmarks=None if inp.landmarks is None else inp.landmarks.geometry.to_numpy(),
        **options,
    )


def household_sites(xy: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct sites of household points: coincident households share a site.

    Returns ``(site_xy, site_of_household)``; sites are sorted by (x, y).
    """
    uniq, inv = np.unique(xy, axis=0, return_inverse=True)
    return uniq, inv.ravel()


def build_units(
    household_xy: np.ndarray,
    persons: np.ndarray,
    boundary: shapely.Geometry,
    barriers: np.ndarray,
    barrier_rank: np.ndarray,
    barrier_kind: np.ndarray,
    *,
    landmarks: np.ndarray | None = None,
    snap_tolerance: float = 2.0,
    cut_lines: np.ndarray | None = None,
    division: Division | None = None,
) -> Units:
    """Split ``boundary`` into units: see the module docstring.

    Parameters
    ----------
    household_xy : (n, 2) array
        Household coordinates in the metric working CRS.
    persons : (n,) int array
    boundary : Polygon or MultiPolygon
    barriers : array of LineString
    barrier_rank, barrier_kind : arrays aligned with ``barriers``
    landmarks : array of Polygon, optional
        Landmark polygons: their outlines become unit edges and the units
        inside are marked so the partition keeps each landmark whole.
    snap_tolerance : float
        Barrier ends missing a line by at most this many metres are snapped.
    cut_lines : array of LineString, optional
        More lines no unit may cross (e.g. outlines of parent areas); they
        are not barriers.
    division : Division, optional
        Sites (distinct household points) holding more persons than
        ``division.divisible_above`` are divisible: their households are
        packed into chunks of at most ``division.chunk_persons`` (by
        entrance, then floor, then input order) and their cell is cut into
        one strip per chunk (:mod:`microgrid.sites`). None: every site stays
        one unit.
    """
    boundary = shapely.make_valid(boundary) if not boundary.is_valid else boundary
    lines, src = _clip_lines(np.asarray(barriers, dtype=object), boundary)
    src = np.asarray(src, dtype=np.int64)
    rank = np.asarray(barrier_rank)[src] if len(src) else np.empty(0, int)
    kind = np.asarray(barrier_kind, dtype=object)[src] if len(src) else np.empty(0, object)
    lines, extended = snap_ends(lines, boundary, snap_tolerance)
    # snap segments inherit the rank and kind of the line they extend
    if len(extended):
        rank = np.concatenate([rank, rank[extended]])
        kind = np.concatenate([kind, kind[extended]])
        src = np.concatenate([src, src[extended]])

    site_xy, site_of_hh = household_sites(household_xy)
    pieces = [shapely.get_parts(boundary.boundary)]
    if len(lines):
        pieces.append(lines)
    if len(site_xy) > 1:
        edges = shapely.voronoi_polygons(shapely.multipoints(site_xy), extend_to=boundary, only_edges=True)
        edges = shapely.intersection(edges, boundary)
        pieces.append(shapely.get_parts(edges))
    lm_index = np.empty(0, int)
    lm_geoms = np.empty(0, object)
    if landmarks is not None and len(landmarks):
        lmg = np.asarray(landmarks, dtype=object)
        poly = np.isin(shapely.get_type_id(lmg), [3, 6])
        lm_index = np.flatnonzero(poly)
        lm_geoms = shapely.intersection(lmg[poly], boundary, grid_size=GRID_SIZE)
        ok = ~shapely.is_empty(lm_geoms) & (shapely.area(lm_geoms) > 0)
        lm_index, lm_geoms = lm_index[ok], lm_geoms[ok]
        if len(lm_geoms):
            pieces.append(shapely.get_parts(shapely.boundary(lm_geoms)))
    if cut_lines is not None and len(cut_lines):
        cl = shapely.intersection(np.asarray(cut_lines, dtype=object), boundary)
        pieces.append(shapely.get_parts(cl))
    linework, faces = _faces(pieces, boundary)
    site_pts = shapely.points(site_xy)
    unit_of_site = _locate(site_pts, faces)

    persons = np.asarray(persons, dtype=np.int64)
    chunks = None
    if division is not None:
        chunks = plan_chunks(site_of_hh, persons, len(site_xy), division)
    unit_site = unit_entrance = None
    if chunks is not None and chunks.divisible.any():
        linework, faces, unit_of_chunk = _strips(chunks, unit_of_site, site_pts, linework, faces, boundary)
        unit_of_site = unit_of_chunk
        site_of_hh = chunks.of_household
        unit_site = np.full(len(faces), -1, np.int64)
        unit_entrance = np.full(len(faces), -1, np.int64)
        div = chunks.divisible[chunks.site]
        unit_site[unit_of_chunk[div]] = chunks.site[div]
        unit_entrance[unit_of_chunk[div]] = chunks.entrance[div]
    elif chunks is not None:
        # nothing to divide: a chunk is a site
        unit_of_site = unit_of_site[chunks.site]
        site_of_hh = chunks.of_household
    hh_unit = unit_of_site[site_of_hh]
    unit_persons = np.bincount(hh_unit, weights=persons, minlength=len(faces)).astype(np.int64)
    unit_hh = np.bincount(hh_unit, minlength=len(faces)).astype(np.int64)

    landmark = np.full(len(faces), -1)
    if len(lm_geoms):
        ltree = shapely.STRtree(lm_geoms)
        ui, li = ltree.query(shapely.point_on_surface(faces), predicate="within")
        landmark[ui] = lm_index[li]
    return Units(
        geometry=faces,
        persons=unit_persons,
        n_households=unit_hh,
        site_of_household=site_of_hh,
        unit_of_site=unit_of_site,
        landmark=landmark,
        boundary=boundary,
        linework=linework,
        barriers=lines,
        barrier_rank=rank,
        barrier_kind=kind,
        chunks=chunks,
        unit_site=unit_site,
        unit_entrance=unit_entrance,
        barrier_source=src,
    )


def _faces(pieces: list, boundary: shapely.Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Node line pieces once and polygonize them: (noded linework, faces inside the boundary, canonical order)."""
    allparts = np.concatenate(pieces)
    allparts = allparts[shapely.get_type_id(allparts) == 1]
    noded = shapely.union_all(allparts)
    linework = shapely.get_parts(noded)
    linework = linework[shapely.get_type_id(linework) == 1]
    faces = shapely.get_parts(shapely.polygonize(linework))
    # keep faces inside the boundary (drops holes)
    rp = shapely.point_on_surface(faces)
    shapely.prepare(boundary)
    faces = faces[shapely.contains(boundary, rp)]
    # canonical order: by representative point
    rp = shapely.get_coordinates(shapely.point_on_surface(faces))
    order = np.lexsort((rp[:, 1], rp[:, 0]))
    faces = faces[order]
    if len(faces) == 0:
        raise RuntimeError("no units could be built from the boundary")  # pragma: no cover
    return linework, faces


def first_hit(
    polygons: np.ndarray, points: np.ndarray, predicate: str = "intersects", tree: shapely.STRtree | None = None
) -> np.ndarray:
    """Index of the first polygon (lowest index) each point meets by ``predicate``; -1 where none does."""
    tree = shapely.STRtree(polygons) if tree is None else tree
    pi, gi = tree.query(points, predicate=predicate)
    out = np.full(len(points), -1)
    o = np.lexsort((gi, pi))
    pi, gi = pi[o], gi[o]
    first = np.r_[True, pi[1:] != pi[:-1]] if len(pi) else np.empty(0, bool)
    out[pi[first]] = gi[first]
    return out


def _locate(points: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Face index per point; a point on an edge goes to the lowest face index, one just outside to the nearest."""
    tree = shapely.STRtree(faces)
    out = first_hit(faces, points, tree=tree)
    lost = np.flatnonzero(out < 0)
    if len(lost):  # on the precision grid a site on the boundary may fall just outside
        _, nearest = tree.query_nearest(points[lost], return_distance=False, all_matches=False)
        out[lost] = nearest
    return out


def _strips(chunks: Chunks, unit_of_site, site_pts, linework, faces, boundary):
    """Cut the cell of every divisible site into one strip per chunk and rebuild the faces.

    Returns the new linework, faces and the unit of each chunk.
    """
    div_sites = np.flatnonzero(chunks.divisible)
    members: dict[int, list[int]] = {int(s): [] for s in div_sites}
    for c, s in enumerate(chunks.site.tolist()):
        if s in members:
            members[s].append(c)
    cells = faces[unit_of_site[div_sites]]
    shares = [chunks.persons[members[int(s)]] for s in div_sites]
    cuts, strip_pts = slice_cells(cells, shares, anchors=site_pts[div_sites])
    if len(cuts):
        linework, faces = _faces([linework, cuts], boundary)
    site_unit = _locate(site_pts, faces)
    unit_of_chunk = site_unit[chunks.site]
    for s, pts in zip(div_sites.tolist(), strip_pts):
        cs = members[s]
        have = np.array([p is not None for p in pts])
        if have.any():
            found = _locate(np.asarray(pts[have], dtype=object), faces)
            u = np.full(len(cs), -1)
            u[have] = found
            # a chunk whose strip was too thin to cut shares the strip before it (or after, for the first)
            for j in range(len(cs)):
                if u[j] < 0:
                    u[j] = u[j - 1] if j > 0 else -1
            for j in range(len(cs) - 1, -1, -1):
                if u[j] < 0:
                    u[j] = u[j + 1] if j + 1 < len(cs) else site_unit[s]
            unit_of_chunk[cs] = u
    log.debug("divisible sites: %d sites cut into %d strips", len(div_sites), len(cuts) + len(div_sites))
    return linework, faces, unit_of_chunk
