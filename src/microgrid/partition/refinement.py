"""Multilevel refinement that keeps contiguity and bounds (stage 4, second phase).

Boundary units move to a neighbouring region when that lowers the
:class:`Objective`, keeps both regions within bounds, and keeps the region
they leave connected (Fiduccia-Mattheyses-style single moves, positive gain
only, so it always terminates). The objective is the total cut cost less
``compactness`` times the regions' Polsby-Popper scores (exact, from the
areas and perimeters of the two regions a move touches). The moves run on a
V-cycle as in METIS and KaHIP: units of one region are merged pairwise with
their heaviest same-region neighbour level after level, the coarsest level
is refined first (a coarse move shifts a whole stretch of boundary) and each
finer level after it.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from typing import NamedTuple

import numpy as np
import scipy.sparse as sp

__all__ = ["Shape", "Level", "Objective", "vcycle", "refine"]

log = logging.getLogger(__name__)


class Shape(NamedTuple):
    """What the compactness term of the :class:`Objective` needs, per node of a graph."""

    area: np.ndarray  #: area of each node (m2)
    perimeter: np.ndarray  #: perimeter of each node (m)
    lengths: np.ndarray  #: shared boundary length of each stored entry of the cost matrix (m)
    weight: float  #: weight of compactness in cut-cost units


class Level(NamedTuple):
    """One level of the graph being refined: what moves weigh, what cuts cost, what shapes they make."""

    w: np.ndarray  #: weight (persons) per node
    adj: sp.csr_matrix  #: symmetric cut costs
    shape: Shape | None = None  #: the compactness term's data; None: cut cost only


def _pp(a: float, p: float) -> float:
    """Polsby-Popper score of an area and perimeter."""
    return 4.0 * math.pi * a / (p * p) if p > 0 else 0.0


class Objective:
    """Total cut cost less ``weight`` x the regions' Polsby-Popper scores, kept up to date under moves.

    ``gain(u, B)`` is the drop of the objective if node ``u`` moved to region
    ``B``; ``apply(u, B)`` makes the move. Region weights, sizes, areas and
    perimeters are kept exactly (a move changes a perimeter by the moved
    node's perimeter less twice its shared edges), so gains are exact.

    Parameters
    ----------
    labels : (n,) int array
        Region per node.
    level : Level
        Weight per node, cut costs and, for the compactness term, per node
        area and perimeter, the shared length of each entry of the costs and
        the weight of compactness in cost units.
    """

    def __init__(self, labels: np.ndarray, level: Level):
        w, adj, shape = level
        n = len(labels)
        indptr, indices, data = adj.indptr, adj.indices, adj.data
        self.nbrs = [indices[indptr[i] : indptr[i + 1]].tolist() for i in range(n)]
        self.costs = [data[indptr[i] : indptr[i + 1]].tolist() for i in range(n)]
        self.lab = labels.tolist()
        self.wl = w.tolist()
        k = int(labels.max()) + 1
        self.pw = np.bincount(labels, weights=w, minlength=k).tolist()
        self.size = np.bincount(labels, minlength=k).tolist()
        self.compact = shape is not None
        self._u = -1
        if shape is not None:
            area, perim, lens, self.lam = shape.area, shape.perimeter, shape.lengths, shape.weight
            self.lens = [lens[indptr[i] : indptr[i + 1]].tolist() for i in range(n)]
            self.ar = np.bincount(labels, weights=area, minlength=k).tolist()
            row0 = np.repeat(np.arange(n), np.diff(indptr))
            inner = labels[indices] == labels[row0]
            self.pr = (
                np.bincount(labels, weights=perim, minlength=k)
                - np.bincount(labels[row0[inner]], weights=lens[inner], minlength=k)
            ).tolist()
            self.al, self.pl = area.tolist(), perim.tolist()

    def look(self, u: int) -> dict[int, float]:
        """Cut cost from ``u`` to each region it touches (and cache what gains of ``u`` need)."""
        lab = self.lab
        conn: dict[int, float] = {}
        for v, cv in zip(self.nbrs[u], self.costs[u]):
            conn[lab[v]] = conn.get(lab[v], 0.0) + cv
        A = lab[u]
        self._u, self._conn, self._inA = u, conn, conn.get(A, 0.0)
        if self.compact:
            shl: dict[int, float] = {}
            for v, lv in zip(self.nbrs[u], self.lens[u]):
                shl[lab[v]] = shl.get(lab[v], 0.0) + lv
            au, pu = self.al[u], self.pl[u]
            self._shl = shl
            self._newA = (self.ar[A] - au, self.pr[A] - pu + 2 * shl.get(A, 0.0))
            self._dA = _pp(*self._newA) - _pp(self.ar[A], self.pr[A])
        return conn

    def gain(self, u: int, B: int) -> float:
        """Drop of the objective if ``u`` moved to region ``B`` (a neighbouring region)."""
        if u != self._u:
            self.look(u)
        g = self._conn[B] - self._inA
        if self.compact:
            au, pu, ar, pr = self.al[u], self.pl[u], self.ar, self.pr
            g += self.lam * (self._dA + _pp(ar[B] + au, pr[B] + pu - 2 * self._shl[B]) - _pp(ar[B], pr[B]))
        return g

    def apply(self, u: int, B: int) -> None:
        """Move ``u`` to region ``B``."""
        if u != self._u:
            self.look(u)
        A = self.lab[u]
        if self.compact:
            self.ar[A], self.pr[A] = self._newA
            self.ar[B] += self.al[u]
            self.pr[B] += self.pl[u] - 2 * self._shl[B]
        wu = self.wl[u]
        self.lab[u] = B
        self.pw[A] -= wu
        self.pw[B] += wu
        self.size[A] -= 1
        self.size[B] += 1
        self._u = -1

    def keeps_connected(self, u: int) -> bool:
        """Whether ``u``'s region stays connected without it."""
        lab, nbrs = self.lab, self.nbrs
        A = lab[u]
        an = [v for v in nbrs[u] if lab[v] == A]
        if len(an) <= 1:
            return True
        target = set(an)
        seen = {an[0], u}
        q = deque([an[0]])
        target.discard(an[0])
        while q and target:
            x = q.popleft()
            for y in nbrs[x]:
                if y not in seen and lab[y] == A:
                    seen.add(y)
                    target.discard(y)
                    q.append(y)
        return not target


def refine(
    labels: np.ndarray, level: Level, lo: float, hi: float, frozen: np.ndarray, max_passes: int = 20
) -> np.ndarray:
    """Greedy positive-gain single-node moves that keep bounds and contiguity (see :class:`Objective`).

    Each pass visits the nodes on a region boundary in order; a node moves to
    the neighbouring region of highest positive gain when both regions stay
    within ``[lo, hi]``, neither is ``frozen`` and its own region stays
    connected. Passes repeat until none moves (at most ``max_passes``).
    """
    n = len(labels)
    obj = Objective(labels, level)
    lab, pw, size, fr = obj.lab, obj.pw, obj.size, frozen.tolist()
    indptr, indices = level.adj.indptr, level.adj.indices
    total_gain = 0.0
    for _ in range(max_passes):
        moved = 0
        row = np.repeat(np.arange(n), np.diff(indptr))
        bnd = np.unique(row[labels[indices] != labels[row]]).tolist()
        for u in bnd:
            A = lab[u]
            wu = obj.wl[u]
            if fr[A] or size[A] <= 1 or pw[A] - wu < lo:
                continue
            best, bestgain = -1, 1e-9
            for B in sorted(obj.look(u)):
                if B == A or fr[B] or pw[B] + wu > hi:
                    continue
                gain = obj.gain(u, B)
                if gain > bestgain:
                    best, bestgain = B, gain
            if best < 0 or not obj.keeps_connected(u):
                continue
            obj.apply(u, best)
            total_gain += bestgain
            moved += 1
        labels = np.asarray(lab)
        if not moved:
            break
    log.debug("refinement gained %.1f", total_gain)
    return labels


def contract(labels: np.ndarray, level: Level, rng: np.random.Generator) -> tuple[np.ndarray, Level] | None:
    """One coarsening level that respects ``labels``: mutual heaviest same-region neighbours merge.

    Returns the map fine -> coarse and the coarse level, or None when too few
    nodes merge to be worth a level.
    """
    w, adj, shape = level
    n = len(labels)
    row = np.repeat(np.arange(n), np.diff(adj.indptr))
    col = adj.indices
    same = labels[row] == labels[col]
    if not same.any():
        return None
    val = np.where(same, adj.data * np.exp(rng.normal(0.0, 0.1, len(col))), -np.inf)
    o = np.lexsort((val, row))
    last = np.r_[row[o][1:] != row[o][:-1], True]
    best = np.full(n, -1)
    pick = o[last]
    ok = np.isfinite(val[pick])
    best[row[pick[ok]]] = col[pick[ok]]
    has = best >= 0
    mutual = np.zeros(n, bool)
    mutual[has] = best[best[has]] == np.flatnonzero(has)
    rep = np.arange(n)
    rep[mutual] = np.minimum(np.flatnonzero(mutual), best[mutual])
    uniq, cmap = np.unique(rep, return_inverse=True)
    nc = len(uniq)
    if nc > 0.9 * n:
        return None
    keep = cmap[row] != cmap[col]
    cadj = sp.coo_matrix((adj.data[keep], (cmap[row[keep]], cmap[col[keep]])), shape=(nc, nc)).tocsr()
    cadj.sum_duplicates()
    cw = np.bincount(cmap, weights=w, minlength=nc).astype(w.dtype)
    cshape = None
    if shape is not None:
        area, perim, lens = shape.area, shape.perimeter, shape.lengths
        cl = sp.coo_matrix((lens[keep], (cmap[row[keep]], cmap[col[keep]])), shape=(nc, nc)).tocsr()
        cl.sum_duplicates()
        if not (np.array_equal(cl.indptr, cadj.indptr) and np.array_equal(cl.indices, cadj.indices)):
            return None  # pragma: no cover - both are built from the same pairs
        cperim = np.bincount(cmap, weights=perim, minlength=nc) - np.bincount(
            cmap[row[~keep]], weights=lens[~keep], minlength=nc
        )
        cshape = Shape(np.bincount(cmap, weights=area, minlength=nc), cperim, cl.data, shape.weight)
    return cmap, Level(cw, cadj, cshape)


def vcycle(
    labels: np.ndarray,
    level: Level,
    lo: float,
    hi: float,
    frozen: np.ndarray,
    rng: np.random.Generator,
    max_levels: int = 8,
) -> np.ndarray:
    """Multilevel refinement: coarsen within regions, refine from the coarsest level down.

    Coarse nodes are connected groups of units of one region, so a move at a
    coarse level shifts a whole stretch of boundary at once, which single
    unit moves cannot do when every step alone would raise the cost; a region
    that is connected at a coarse level is connected at every finer one.
    """
    finer = []
    cur, cur_lab = level, labels
    for _ in range(max_levels):
        c = contract(cur_lab, cur, rng)
        if c is None:
            break
        cmap, coarse = c
        clab = np.empty(len(coarse.w), np.int64)
        clab[cmap] = cur_lab
        finer.append((cmap, cur))
        cur, cur_lab = coarse, clab
    lab = refine(cur_lab, cur, lo, hi, frozen)
    for cmap, fine in reversed(finer):
        lab = refine(lab[cmap], fine, lo, hi, frozen)
    return lab
