"""Stage 3: the unit adjacency graph.

Two units are neighbours when they share an edge of positive length. Each
graph edge carries the shared length, the part of it lying on a barrier, the
kind and rank of that barrier, and a cut cost: cutting along a main road is
cheap, cutting through a block is expensive.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import shapely

from .inputs import RANK_COST
from .sites import DIVIDE_COST
from .units import GRID_SIZE, Units

__all__ = ["UnitGraph", "build_graph", "whole_groups", "division_costs"]

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
                int(self.u[i]), int(self.v[i]),
                length=float(self.length[i]), barrier_length=float(self.barrier_length[i]),
                rank=int(self.rank[i]), kind=self.kind[i], cost=float(self.cost[i]),
            )
        return g


def build_graph(units: Units) -> UnitGraph:
    """Build the adjacency graph of ``units`` from their shared linework.

    Every noded line piece borders at most two units; the unit on each side
    is found by a point just off the piece's first segment.
    """
    lw = units.linework
    n = units.n
    if len(lw) == 0 or n < 2:
        e = np.empty(0, int)
        f = np.empty(0)
        return UnitGraph(n, e, e, f, f, e, np.empty(0, object), f)
    c = shapely.get_coordinates(shapely.get_point(lw, 0))
    d = shapely.get_coordinates(shapely.get_point(lw, 1))
    seg = d - c
    seglen = np.hypot(seg[:, 0], seg[:, 1])
    good = seglen > 0
    lw, c, seg, seglen = lw[good], c[good], seg[good], seglen[good]
    mid = c + seg / 2
    normal = np.c_[-seg[:, 1], seg[:, 0]] / seglen[:, None]
    eps = np.minimum(GRID_SIZE * 0.4, seglen / 4)
    left = shapely.points(mid + normal * eps[:, None])
    right = shapely.points(mid - normal * eps[:, None])
    tree = shapely.STRtree(units.geometry)

    def face_of(pts):
        pi, fi = tree.query(pts, predicate="within")
        out = np.full(len(pts), -1)
        out[pi] = fi
        return out

    fl, fr = face_of(left), face_of(right)
    inner = (fl >= 0) & (fr >= 0) & (fl != fr)
    lw, fl, fr = lw[inner], fl[inner], fr[inner]
    plen = shapely.length(lw)
    # barrier on each piece: a barrier within a hair of the piece's midpoint
    prank = np.zeros(len(lw), int)
    pkind = np.full(len(lw), None, dtype=object)
    if len(units.barriers) and len(lw):
        mids = shapely.line_interpolate_point(lw, 0.5, normalized=True)
        btree = shapely.STRtree(units.barriers)
        pi, bi = btree.query(mids, predicate="dwithin", distance=GRID_SIZE * 2)
        if len(pi):
            r = units.barrier_rank[bi]
            o = np.lexsort((bi, r, pi))
            pi, bi, r = pi[o], bi[o], r[o]
            first = np.r_[True, pi[1:] != pi[:-1]]
            prank[pi[first]] = r[first]
            pkind[pi[first]] = units.barrier_kind[bi[first]]
    factor = np.ones(len(lw))
    for rk, f in RANK_COST.items():
        factor[prank == rk] = f
    # faces too thin for the offset points (slivers from noding): exact shared boundaries
    seen = np.zeros(n, bool)
    seen[fl] = True
    seen[fr] = True
    lonely = np.flatnonzero(~seen)
    if len(lonely):
        gi, gj = tree.query(units.geometry[lonely], predicate="intersects")
        a_, b_ = lonely[gi], gj
        keep = a_ != b_
        a_, b_ = a_[keep], b_[keep]
        shared = shapely.intersection(shapely.boundary(units.geometry[a_]), shapely.boundary(units.geometry[b_]))
        ln = shapely.length(shared)
        ok = ln > 0
        fl = np.r_[fl, a_[ok]]
        fr = np.r_[fr, b_[ok]]
        plen = np.r_[plen, ln[ok]]
        prank = np.r_[prank, np.zeros(ok.sum(), int)]
        pkind = np.r_[pkind, np.full(ok.sum(), None, dtype=object)]
        factor = np.r_[factor, np.ones(ok.sum())]
    uu, vv = np.minimum(fl, fr), np.maximum(fl, fr)
    key = uu.astype(np.int64) * n + vv
    uniq, inv = np.unique(key, return_inverse=True)
    m = len(uniq)
    length = np.bincount(inv, weights=plen, minlength=m)
    blen = np.bincount(inv, weights=plen * (prank > 0), minlength=m)
    cost = np.bincount(inv, weights=plen * factor, minlength=m)
    # best rank and its kind per pair
    rank_for_min = np.where(prank > 0, prank, 99)
    o = np.lexsort((rank_for_min, inv))
    firstp = np.r_[True, inv[o][1:] != inv[o][:-1]]
    best = o[firstp]
    rank = np.where(rank_for_min[best] == 99, 0, rank_for_min[best])
    kind = np.where(rank > 0, pkind[best], None)
    # units meeting along less than a micrometre only touch (rounding left a sliver of an edge): a grid
    # joined through such a contact would dissolve into two polygons
    real = length >= MIN_SHARED
    return UnitGraph(
        n=n, u=(uniq[real] // n).astype(int), v=(uniq[real] % n).astype(int), length=length[real],
        barrier_length=blen[real], rank=rank[real], kind=kind[real], cost=cost[real],
    )


def division_costs(graph: UnitGraph, units: Units, soft_landmarks=()) -> UnitGraph:
    """The graph with the cost of dividing a site or a landmark on its inner edges.

    An edge between two strips of one divisible site costs
    :data:`~microgrid.sites.DIVIDE_COST` (twice that when both strips are of
    one entrance, so sites divide at entrance boundaries first); an edge
    inside one of ``soft_landmarks`` (landmark indices allowed to be
    divided) costs :data:`~microgrid.sites.DIVIDE_COST`. Other edges keep
    their cost.
    """
    cost = graph.cost.copy()
    if units.unit_site is not None and len(graph.u):
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


def whole_groups(units: Units, graph: UnitGraph, soft_landmarks=()) -> np.ndarray:
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
