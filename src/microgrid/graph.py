"""Stage 3: the unit adjacency graph.

Two units are neighbours when they share an edge of positive length. Each
graph edge carries the shared length, the part of it lying on a barrier, the
kind and rank of that barrier, and a cut cost: cutting along a main road is
cheap, cutting through a block is expensive.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely

from .sites import DIVIDE_COST
from .units import GRID_SIZE, Units

__all__ = ["UnitGraph", "build_graph", "whole_groups", "division_costs", "RANK_COST"]

#: Cost factor of cutting along a shared edge that lies on a barrier of each
#: rank (see ``microgrid.barriers.BARRIER_RANKS``), relative to 1.0 for an edge on no barrier.
RANK_COST: dict[int, float] = {1: 0.02, 2: 0.04, 3: 0.08, 4: 0.15}

log = logging.getLogger(__name__)

#: Shortest shared edge (m) that makes two units neighbours; shorter contacts are rounding
#: (a lon/lat round trip leaves contacts of ~1e-10 m; real ones on the sample and the OSM extracts are >= 1e-4 m).
MIN_SHARED = 1e-6


@dataclass
class UnitGraph:
    """Adjacency of units, one row per unordered pair ``u < v``."""

    n: int
    u: np.ndarray
    v: np.ndarray
    length: np.ndarray  # shared edge length, m
    barrier_length: np.ndarray  # part of it on a barrier, m
    rank: np.ndarray  # best (lowest) barrier rank on the edge, 0 if none
    kind: np.ndarray  # kind of that barrier, None if none
    cost: np.ndarray  # cut cost

    def csr(self, weights: np.ndarray | None = None) -> sp.csr_matrix:
        """Symmetric sparse matrix of ``weights`` (default: cost)."""
        w = self.cost if weights is None else weights
        m = sp.coo_matrix((np.r_[w, w], (np.r_[self.u, self.v], np.r_[self.v, self.u])), shape=(self.n, self.n))
        return m.tocsr()

    def to_networkx(self):
        """The graph as a :class:`networkx.Graph` with edge attributes."""
        import networkx as nx

        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        for i in range(len(self.u)):
            g.add_edge(
                int(self.u[i]),
                int(self.v[i]),
                length=float(self.length[i]),
                barrier_length=float(self.barrier_length[i]),
                rank=int(self.rank[i]),
                kind=self.kind[i],
                cost=float(self.cost[i]),
            )
        return g


def _segments(geoms: np.ndarray, rings: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Straight segments of ``geoms`` (polygon rings, or lines) in a canonical direction.

    Returns ``(key, owner, length)``: ``key`` is ``(x0, y0, x1, y1)`` with the
    lexicographically smaller end first, so a segment has the same key in
    every geometry it belongs to; ``owner`` indexes ``geoms``. Zero-length
    segments are dropped.
    """
    parts, owner = shapely.get_parts(geoms, return_index=True)
    if rings:
        parts, ri = shapely.get_rings(parts, return_index=True)
        owner = owner[ri]
    xy, part = shapely.get_coordinates(parts, return_index=True)
    same = part[1:] == part[:-1]
    a, b = xy[:-1][same], xy[1:][same]
    owner = owner[part[:-1][same]]
    swap = (b[:, 0] < a[:, 0]) | ((b[:, 0] == a[:, 0]) & (b[:, 1] < a[:, 1]))
    a, b = np.where(swap[:, None], b, a), np.where(swap[:, None], a, b)
    d = b - a
    length = np.hypot(d[:, 0], d[:, 1])
    ok = length > 0
    return np.c_[a, b][ok], owner[ok], length[ok]


def build_graph(units: Units) -> UnitGraph:
    """Build the adjacency graph of ``units`` from their shared linework.

    Two units are neighbours exactly when their rings share a segment, vertex
    for vertex: the units are faces of one noded linework, so this is what
    :func:`shapely.coverage_union_all` dissolves along, and a set of units
    connected in the graph dissolves into one polygon. (Points set up to
    4 mm off each line piece, used before to find the units on its sides,
    jumped sliver units thinner than that, where lines nearly meet in one
    point, and joined units that touch only at a point or not at all: a grid
    joined through such an edge came out in two parts.) Each segment's
    barrier is that of the noded line piece it lies on.
    """
    n = units.n
    if n < 2:
        e = np.empty(0, int)
        f = np.empty(0)
        return UnitGraph(n, e, e, f, f, e, np.empty(0, object), f)
    fkey, face, flen = _segments(units.geometry, rings=True)
    lw = units.linework
    if len(lw):
        lkey, lpiece, _ = _segments(lw, rings=False)
    else:
        lkey, lpiece = np.empty((0, 4)), np.empty(0, int)
    # one group per distinct segment, over the unit rings and the linework together
    keys = np.concatenate([fkey, lkey])
    o = np.lexsort((keys[:, 3], keys[:, 2], keys[:, 1], keys[:, 0]))
    ks = keys[o]
    new = np.r_[True, (ks[1:] != ks[:-1]).any(axis=1)] if len(ks) else np.empty(0, bool)
    grp = np.empty(len(keys), int)
    grp[o] = np.cumsum(new) - 1
    ng = int(grp.max()) + 1 if len(grp) else 0
    gf, gl = grp[: len(fkey)], grp[len(fkey) :]
    piece_of = np.full(ng, -1)
    piece_of[gl] = lpiece
    # a segment in two unit rings joins those two units
    count = np.bincount(gf, minlength=ng)
    if (count > 2).any():  # faces of one noded linework never overlap  # pragma: no cover
        log.debug("%d segments lie on more than two units; ignored", int((count > 2).sum()))
    of = np.argsort(gf, kind="stable")
    first = np.searchsorted(gf[of], np.arange(ng))
    two = np.flatnonzero(count == 2)
    i0, i1 = of[first[two]], of[first[two] + 1]
    fl, fr, plen, seg_piece = face[i0], face[i1], flen[i0], piece_of[two]
    inner = fl != fr
    fl, fr, plen, seg_piece = fl[inner], fr[inner], plen[inner], seg_piece[inner]
    # barrier on each line piece: a barrier within a hair of the piece's midpoint
    prank = np.zeros(len(lw), int)
    pkind = np.full(len(lw), None, dtype=object)
    used = np.unique(seg_piece[seg_piece >= 0])
    if len(units.barriers) and len(used):
        mids = shapely.line_interpolate_point(lw[used], 0.5, normalized=True)
        btree = shapely.STRtree(units.barriers)
        pi, bi = btree.query(mids, predicate="dwithin", distance=GRID_SIZE * 2)
        if len(pi):
            r = units.barrier_rank[bi]
            o = np.lexsort((bi, r, pi))
            pi, bi, r = pi[o], bi[o], r[o]
            firstb = np.r_[True, pi[1:] != pi[:-1]]
            prank[used[pi[firstb]]] = r[firstb]
            pkind[used[pi[firstb]]] = units.barrier_kind[bi[firstb]]
    on_piece = seg_piece >= 0
    srank = np.where(on_piece, prank[np.maximum(seg_piece, 0)], 0)
    skind = np.where(on_piece, pkind[np.maximum(seg_piece, 0)], None)
    factor = np.ones(len(plen))
    for rk, fac in RANK_COST.items():
        factor[srank == rk] = fac
    uu, vv = np.minimum(fl, fr), np.maximum(fl, fr)
    key = uu.astype(np.int64) * n + vv
    uniq, inv = np.unique(key, return_inverse=True)
    m = len(uniq)
    length = np.bincount(inv, weights=plen, minlength=m)
    blen = np.bincount(inv, weights=plen * (srank > 0), minlength=m)
    cost = np.bincount(inv, weights=plen * factor, minlength=m)
    # best rank and its kind per pair
    rank_for_min = np.where(srank > 0, srank, 99)
    o = np.lexsort((rank_for_min, inv))
    firstp = np.r_[True, inv[o][1:] != inv[o][:-1]] if m else np.empty(0, bool)
    best = o[firstp]
    rank = np.where(rank_for_min[best] == 99, 0, rank_for_min[best]).astype(int)
    kind = np.where(rank > 0, skind[best], np.full(len(best), None, dtype=object))
    # units meeting along less than a micrometre: keep them apart (a contact that short would not
    # survive writing the plan in lon/lat)
    real = length >= MIN_SHARED
    return UnitGraph(
        n=n,
        u=(uniq[real] // n).astype(int),
        v=(uniq[real] % n).astype(int),
        length=length[real],
        barrier_length=blen[real],
        rank=rank[real],
        kind=kind[real],
        cost=cost[real],
    )


def division_costs(graph: UnitGraph, units: Units, soft_landmarks: Iterable[int] = ()) -> UnitGraph:
    """The graph with the cost of dividing a site or a landmark on its inner edges.

    An edge between two strips of one divisible site costs
    :data:`~microgrid.sites.DIVIDE_COST` (twice that when both strips are of
    one entrance, so sites divide at entrance boundaries first); an edge
    inside one of ``soft_landmarks`` (landmark indices allowed to be
    divided) costs :data:`~microgrid.sites.DIVIDE_COST`. Other edges keep
    their cost.
    """
    cost = graph.cost.copy()
    if units.unit_site is not None and units.unit_entrance is not None and len(graph.u):
        su, sv = units.unit_site[graph.u], units.unit_site[graph.v]
        same = (su >= 0) & (su == sv)
        one_entrance = units.unit_entrance[graph.u] == units.unit_entrance[graph.v]
        cost[same] = DIVIDE_COST * np.where(one_entrance[same], 2.0, 1.0)
    soft = np.asarray(list(soft_landmarks), dtype=np.int64)
    if len(soft) and len(graph.u):
        lu, lv = units.landmark[graph.u], units.landmark[graph.v]
        inner = (lu >= 0) & (lu == lv) & np.isin(lu, soft)
        cost[inner] = np.maximum(cost[inner], DIVIDE_COST)
    return UnitGraph(graph.n, graph.u, graph.v, graph.length, graph.barrier_length, graph.rank, graph.kind, cost)


def whole_groups(units: Units, graph: UnitGraph, soft_landmarks: Iterable[int] = ()) -> np.ndarray:
    """Group id per unit for sets of units that must stay in one grid, -1 for free units.

    Two kinds of sets are kept whole: the units inside one landmark polygon,
    and blocks without households (land that barriers enclose and nobody
    lives on: a park, a field between roads), so empty land is attached whole
    along barriers instead of being shared out piece by piece. Empty units
    inside a block where people live stay free, so the grid lines can pass
    through them. Landmarks in ``soft_landmarks`` (heavier than a grid) are
    not kept whole: :func:`division_costs` makes dividing them expensive
    instead.
    """
    from scipy.sparse.csgraph import connected_components

    n = units.n
    rows, cols = [], []
    lm = units.landmark
    has = np.flatnonzero((lm >= 0) & ~np.isin(lm, np.asarray(list(soft_landmarks), dtype=np.int64)))
    if len(has):
        o = has[np.argsort(lm[has], kind="stable")]
        same = lm[o[1:]] == lm[o[:-1]]
        rows.append(o[1:][same])
        cols.append(o[:-1][same])
    inner = graph.rank == 0
    blk_m = sp.coo_matrix((np.ones(inner.sum()), (graph.u[inner], graph.v[inner])), shape=(n, n))
    nblk, blk = connected_components(blk_m, directed=False)
    empty_blk = np.bincount(blk, weights=units.persons, minlength=nblk)[blk] == 0
    e = inner & empty_blk[graph.u] & empty_blk[graph.v]
    rows.append(graph.u[e])
    cols.append(graph.v[e])
    r = np.concatenate(rows) if rows else np.empty(0, int)
    c = np.concatenate(cols) if cols else np.empty(0, int)
    m = sp.coo_matrix((np.ones(len(r)), (r, c)), shape=(n, n))
    _, comp = connected_components(m, directed=False)
    size = np.bincount(comp, minlength=comp.max() + 1 if n else 0)
    return np.where(size[comp] > 1, comp, -1)
