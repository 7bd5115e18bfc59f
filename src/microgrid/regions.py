"""Stage 4: partition the unit graph into connected regions of bounded weight.

The engine has two phases, both deterministic for a seed:

1. **Recursive bisection by spanning-tree cuts.** A region that must become
   ``k`` grids is split in two along one edge of a spanning tree of its unit
   graph; both sides of a tree cut are connected by construction. The tree
   is a maximum spanning tree of the cut cost (with seeded jitter across
   tries), so units inside a block hang together and blocks meet along
   barrier edges. For every tree edge the exact cost of the cut it induces
   (the sum of the costs of all graph edges crossing it) is computed at once
   with the lowest-common-ancestor trick; among the edges whose sides can be
   split into ``k1`` and ``k - k1`` grids within ``[lo, hi]`` the cheapest
   wins. This is GerryChain's ``recursive_tree_part`` made exact (hard
   bounds instead of ``±ε``) and road-aware (cost-weighted trees, exact cut
   cost instead of a random valid edge).
2. **Multilevel refinement.** Boundary units move to a neighbouring region
   when that lowers the objective, keeps both regions within bounds, and
   keeps the region they leave connected (Fiduccia-Mattheyses-style single
   moves, positive gain only, so it always terminates). The objective is the
   total cut cost less ``compactness`` times the regions' Polsby-Popper
   scores (exact, from the areas and perimeters of the two regions a move
   touches). The moves run on a V-cycle as in METIS and KaHIP: units of one
   region are merged pairwise with their heaviest same-region neighbour
   level after level, the coarsest level is refined first (a coarse move
   shifts a whole stretch of boundary) and each finer level after it.

Units heavier than ``hi`` become their own region and are flagged; parts of
the graph that cannot hold a region are diagnosed, not silently broken.
"""

from __future__ import annotations

import logging
import math
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components, depth_first_order, minimum_spanning_tree

from .errors import InfeasibleError
from .sites import DIVIDE_COST

__all__ = ["Regions", "partition_graph", "feasible_counts"]

log = logging.getLogger(__name__)


@dataclass
class Regions:
    """Result of :func:`partition_graph`."""

    labels: np.ndarray  # region per unit, 0..k-1
    flags: dict[int, list[str]] = field(default_factory=dict)  # region -> reasons it breaks a rule

    @property
    def k(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def feasible_counts(total: int, lo: int, hi: int) -> range:
    """Grid counts ``k`` with ``k*lo <= total <= k*hi``.

    Examples
    --------
    >>> feasible_counts(5000, 200, 300)
    range(17, 26)
    """
    if total <= 0:
        return range(0)
    return range(math.ceil(total / hi), total // lo + 1)


#: Regions that will be split again keep their average persons per grid this
#: share of the band inside the bounds when they can, so later splits have room.
MARGIN = 0.3

#: A region of k grids is split into sides of at least k // BALANCE grids.
BALANCE = 4

#: Parts with more units than this get one bisection with at most 3 trees per split.
LARGE = 20_000


class _NoCut(Exception):
    pass


class _GiveUp(_NoCut):
    """The backtracking budget of a bisection is spent."""


class _PreorderRMQ:
    """Range minima of (depth, position) over a preorder, by a sparse table.

    Serves both questions the tree cuts ask: where each subtree ends (the
    first later position at its depth or above) and the lowest common
    ancestor of each edge's ends (the parent of the shallowest node strictly
    after the first end, up to the second), each in O(1) or O(log n)
    vectorized steps.
    """

    def __init__(self, order: np.ndarray, depth: np.ndarray):
        self.n = n = len(order)
        self.order = order
        key = depth[order].astype(np.int64) * n + np.arange(n)  # min key: shallowest, then first
        levels = max(1, int(n).bit_length())
        # row j: minimum over [p, p + 2**j); entries past the end are never read
        self.tab = np.empty((levels, n), np.int64)
        self.tab[0] = key
        for j in range(1, levels):
            half = 1 << (j - 1)
            self.tab[j, : n - half] = np.minimum(self.tab[j - 1, : n - half], self.tab[j - 1, half:])
            self.tab[j, n - half:] = self.tab[j - 1, n - half:]

    def subtree_ends(self, pos: np.ndarray, depth: np.ndarray) -> np.ndarray:
        """End (exclusive) of each node's subtree in the preorder."""
        n = self.n
        p = pos + 1
        bound = (depth.astype(np.int64) + 1) * n  # keys at this bound or above are deeper than the node
        for j in range(len(self.tab) - 1, -1, -1):
            span = 1 << j
            idx = np.flatnonzero(p <= n - span)
            jump = self.tab[j, p[idx]] >= bound[idx]
            p[idx[jump]] += span
        return p

    def lca(self, a: np.ndarray, b: np.ndarray, pos: np.ndarray, pred: np.ndarray) -> np.ndarray:
        """Lowest common ancestor of each pair ``a[i] != b[i]``."""
        pa, pb = pos[a], pos[b]
        lo_ = np.minimum(pa, pb) + 1
        hi_ = np.maximum(pa, pb)  # inclusive
        length = hi_ - lo_ + 1
        j = np.floor(np.log2(length)).astype(np.int64)
        m = np.minimum(self.tab[j, lo_], self.tab[j, hi_ - (np.int64(1) << j) + 1])
        return pred[self.order[m % self.n]]


def _choose_k1(s: np.ndarray, W: float, k: int, lo: float, hi: float, margin: float, kmin: int = 1):
    """Best grid count ``k1`` for a side of weight ``s`` (the rest gets ``k - k1``).

    A side that becomes one grid needs ``lo <= s <= hi``; a side that will be
    split again should keep its average ``margin`` inside the bounds so its
    own splits have room. Returns ``k1`` (0 where no count fits) and whether
    the choice keeps that margin; among the options the one whose sides'
    averages stay furthest from the bounds wins.
    """
    r = np.clip(np.round(s * k / max(W, 1)), kmin, k - kmin)
    opts = np.stack([r, r - 1, r + 1, np.ones_like(r), np.full_like(r, k - 1)], axis=1)
    opts = np.clip(opts, kmin, k - kmin)
    sa = s[:, None]
    sb = W - sa
    kb = k - opts

    def side(x, kk, m):
        avg = x / np.maximum(kk, 1)
        single = kk == 1
        ok = np.where(single, (x >= lo) & (x <= hi), (avg >= lo + m) & (avg <= hi - m))
        slack = np.where(single, (hi - lo) / 2, np.minimum(avg - lo, hi - avg))
        return ok, slack

    best_k = np.zeros(len(s), np.int64)
    best_strict = np.zeros(len(s), bool)
    for m, strict in ((margin, True), (0.0, False)):
        oka, sla = side(sa, opts, m)
        okb, slb = side(sb, kb, m)
        ok = oka & okb
        slack = np.where(ok, np.minimum(sla, slb), -np.inf)
        pick = np.argmax(slack, axis=1)
        has = ok.any(axis=1) & (best_k == 0)
        best_k[has] = opts[has, pick[has]]
        best_strict[has] = strict
    return best_k, best_strict


class _Bisector:
    def __init__(self, w, adj: sp.csr_matrix, lo, hi, rng, tries, candidates=4, divisions_first=False):
        self.w = w
        self.divisions_first = divisions_first  # rank cuts by divided sites before the margin
        self.adj = adj
        self.lo, self.hi = lo, hi
        self.rng = rng
        self.tries = tries
        self.candidates = candidates
        self.margin = MARGIN * (hi - lo)
        self.failures = 0
        self.max_failures = 32

    def split(self, nodes: np.ndarray, k: int, depth: int = 0) -> list[np.ndarray]:
        if depth == 0:
            self.failures, self.max_failures = 0, 32 + 4 * k
        if k == 1:
            return [nodes]
        sub = self.adj[nodes][:, nodes].tocoo()
        keep = sub.row < sub.col
        a, b, c = sub.row[keep], sub.col[keep], sub.data[keep]
        cands = self._cuts(len(nodes), a, b, c, self.w[nodes], k)
        if not cands and len(nodes) < LARGE:  # rare: draw more trees before giving up on this region
            cands = self._cuts(len(nodes), a, b, c, self.w[nodes], k, tries=4 * self.tries)
        if not cands:
            self._fail()
        for _score, side, k1 in cands[: self.candidates]:
            try:
                left = self.split(nodes[side], k1, depth + 1)
                right = self.split(nodes[~side], k - k1, depth + 1)
                return left + right
            except _GiveUp:
                raise
            except _NoCut:
                continue
        self._fail()

    def _fail(self):
        self.failures += 1
        if self.failures > self.max_failures:
            raise _GiveUp
        raise _NoCut

    def _cuts(self, n, a, b, c, w, k, tries=None):
        """Candidate cuts from ``tries`` jittered maximum spanning trees, cheapest first.

        All trees are drawn at once: ``T`` copies of the region side by side in
        one sparse graph, their spanning forest rooted at a virtual node, so
        every step below is one vectorized pass over all trees instead of one
        pass per tree (small regions are most of the calls).
        """
        T = tries or self.tries
        W = int(w.sum())
        lo, hi = self.lo, self.hi
        m = len(c)
        # tree weights must be positive: edges rewarded for lying on a barrier
        # (negative cost) are the last to join the maximum spanning tree
        cpos = np.maximum(c, 0.0)
        # the scale of the jitter comes from ordinary edges; edges inside a divisible site (DIVIDE_COST) join
        # every tree first
        plain = cpos[cpos < DIVIDE_COST]
        cmax = float(plain.max()) if len(plain) and plain.max() > 0 else 1.0
        cpos = np.minimum(cpos, 1e3 * cmax)
        scale = np.full((T, 1), 0.6)
        scale[0] = 0.0  # the first tree is the plain one
        jitter = np.exp(self.rng.normal(0.0, scale, size=(T, m)))
        key = 1.0 / (cpos[None, :] * jitter / cmax + 1e-6)
        N = T * n  # node N is the virtual root; copy t holds nodes t*n .. t*n + n - 1
        off = (np.arange(T, dtype=np.int64) * n)[:, None]
        A = (a[None, :] + off).ravel()
        B = (b[None, :] + off).ravel()
        forest = minimum_spanning_tree(sp.csr_matrix((key.ravel(), (A, B)), shape=(N + 1, N + 1))).tocoo()
        roots = np.arange(T, dtype=np.int64) * n
        tg = sp.csr_matrix((np.ones(len(forest.row) + T), (np.r_[forest.row, np.full(T, N)], np.r_[forest.col, roots])),
                           shape=(N + 1, N + 1))
        order, pred = depth_first_order(tg, N, directed=False, return_predecessors=True)
        if len(order) != N + 1:
            return []  # region not connected: cannot happen for tree-cut sides
        pred = pred.copy()
        pred[N] = N
        # depth by pointer jumping
        depth = (np.arange(N + 1) != N).astype(np.int64)
        anc = pred
        while True:
            depth = depth + depth[anc] * (anc != N)
            nxt = anc[anc]
            if np.array_equal(nxt, anc):
                break
            anc = nxt
        pos = np.empty(N + 1, np.int64)
        pos[order] = np.arange(N + 1)
        rmq = _PreorderRMQ(order, depth)
        # cut cost of each subtree: its nodes' edge costs, less twice those of edges inside it
        # (an edge is inside the subtrees of its ends' lowest common ancestor and above)
        cT = np.tile(c, T)
        lca = rmq.lca(A, B, pos, pred)
        acc = np.bincount(A, weights=cT, minlength=N + 1) + np.bincount(B, weights=cT, minlength=N + 1)
        acc -= 2 * np.bincount(lca, weights=cT, minlength=N + 1)
        # a preorder lists each subtree contiguously: its sums are differences of prefix sums
        end = rmq.subtree_ends(pos, depth)
        wT = np.r_[np.tile(np.asarray(w, dtype=np.int64), T), 0]
        cw = np.concatenate(([0], np.cumsum(wT[order], dtype=np.int64)))
        ca = np.concatenate(([0.0], np.cumsum(acc[order])))
        s = (cw[end] - cw[pos]).astype(np.float64)
        cut = ca[end] - ca[pos]
        # only sides that can hold a grid each are worth scoring (most subtrees are far too light);
        # large regions split near the middle so the recursion stays log(k) deep
        local = np.r_[np.tile(np.arange(n), T), -1]
        maybe = np.flatnonzero((s >= lo) & (s <= W - lo) & (local > 0))
        k1 = np.zeros(N + 1, np.int64)
        ok_strict = np.zeros(N + 1, bool)
        k1[maybe], ok_strict[maybe] = _choose_k1(s[maybe], W, k, lo, hi, self.margin, kmin=max(1, k // BALANCE))
        found = {}
        for t in range(T):
            lo_t, hi_t = t * n, (t + 1) * n
            valid = k1[lo_t:hi_t] > 0
            if not valid.any():
                continue
            if self.divisions_first:
                divs = np.floor(cut[lo_t:hi_t] / DIVIDE_COST)
                valid &= divs == divs[valid].min()
            strict = valid & ok_strict[lo_t:hi_t]
            idx = np.flatnonzero(strict if strict.any() else valid)  # local node ids of this tree
            if len(idx) == 0:
                continue
            tier = 0 if strict.any() else 1
            g_idx = idx + lo_t
            # cheapest cuts first; ties broken by balance, then by index
            bal = np.abs(s[g_idx] / W - 0.5)
            o = np.lexsort((idx, bal, np.round(cut[g_idx], 6)))
            for j in g_idx[o[: self.candidates]]:
                side = np.zeros(n, bool)
                side[order[pos[j]:end[j]] - lo_t] = True
                keyside = side.tobytes()
                if keyside not in found:
                    found[keyside] = (tier, float(cut[j]), side, int(k1[j]))
        if self.divisions_first:  # fewest divided sites, then the margin, then the cost
            ranked = sorted(found.values(), key=lambda x: (x[1] // DIVIDE_COST, x[0], x[1], int(np.flatnonzero(x[2])[0])))
        else:  # the margin, then the fewest divided sites, then the cost
            ranked = sorted(found.values(), key=lambda x: (x[0], x[1] // DIVIDE_COST, x[1], int(np.flatnonzero(x[2])[0])))
        return [(c_, side, k1_) for _t, c_, side, k1_ in ranked]


def _refine(labels, w, adj: sp.csr_matrix, lo, hi, frozen: np.ndarray, max_passes: int = 20, shape=None):
    """Greedy positive-gain single-unit moves that keep bounds and contiguity.

    The gain of a move is the drop in total cut cost. With ``shape`` =
    ``(area, perimeter, lengths, weight)`` (per node area and perimeter, the
    shared length of each entry of ``adj``, and the weight of compactness in
    cost units), the gain also counts ``weight`` times the rise in the sum of
    the two regions' Polsby-Popper scores, computed exactly from the areas
    and perimeters of the regions before and after the move.
    """
    n = len(labels)
    indptr, indices, data = adj.indptr, adj.indices, adj.data
    nbrs = [indices[indptr[i]:indptr[i + 1]].tolist() for i in range(n)]
    costs = [data[indptr[i]:indptr[i + 1]].tolist() for i in range(n)]
    lab = labels.tolist()
    wl = w.tolist()
    k = int(labels.max()) + 1
    pw = np.bincount(labels, weights=w, minlength=k).tolist()
    size = np.bincount(labels, minlength=k).tolist()
    fr = frozen.tolist()
    if shape is not None:
        area, perim, lens, lam = shape
        lens_l = [lens[indptr[i]:indptr[i + 1]].tolist() for i in range(n)]
        ar = np.bincount(labels, weights=area, minlength=k).tolist()
        row0 = np.repeat(np.arange(n), np.diff(indptr))
        inner = labels[indices] == labels[row0]
        pr = (np.bincount(labels, weights=perim, minlength=k)
              - np.bincount(labels[row0[inner]], weights=lens[inner], minlength=k)).tolist()
        al, pl = area.tolist(), perim.tolist()
        four_pi = 4.0 * math.pi

        def pp(a, p):
            return four_pi * a / (p * p) if p > 0 else 0.0
    total_gain = 0.0
    for _ in range(max_passes):
        moved = 0
        row = np.repeat(np.arange(n), np.diff(indptr))
        bnd = np.unique(row[labels[indices] != labels[row]]).tolist()
        for u in bnd:
            A = lab[u]
            if fr[A] or size[A] <= 1:
                continue
            wu = wl[u]
            if pw[A] - wu < lo:
                continue
            conn: dict[int, float] = {}
            for v, cv in zip(nbrs[u], costs[u]):
                conn[lab[v]] = conn.get(lab[v], 0.0) + cv
            inA = conn.get(A, 0.0)
            if shape is not None:
                shl: dict[int, float] = {}
                for v, lv in zip(nbrs[u], lens_l[u]):
                    shl[lab[v]] = shl.get(lab[v], 0.0) + lv
                au, pu = al[u], pl[u]
                newA_a, newA_p = ar[A] - au, pr[A] - pu + 2 * shl.get(A, 0.0)
                base_A = pp(ar[A], pr[A])
                dA = pp(newA_a, newA_p) - base_A
            best, bestgain = -1, 1e-9
            for B, cB in sorted(conn.items()):
                if B == A or fr[B] or pw[B] + wu > hi:
                    continue
                gain = cB - inA
                if shape is not None:
                    gain += lam * (dA + pp(ar[B] + au, pr[B] + pu - 2 * shl[B]) - pp(ar[B], pr[B]))
                if gain > bestgain:
                    best, bestgain = B, gain
            if best < 0:
                continue
            # contiguity of A without u
            an = [v for v in nbrs[u] if lab[v] == A]
            if len(an) > 1:
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
                if target:
                    continue
            if shape is not None:
                ar[A], pr[A] = newA_a, newA_p
                ar[best] += au
                pr[best] += pu - 2 * shl[best]
            lab[u] = best
            pw[A] -= wu
            pw[best] += wu
            size[A] -= 1
            size[best] += 1
            total_gain += bestgain
            moved += 1
        labels = np.asarray(lab)
        if not moved:
            break
    log.debug("refinement gained %.1f", total_gain)
    return labels


def _contract(labels, w, adj: sp.csr_matrix, shape, rng):
    """One coarsening level that respects ``labels``: mutual heaviest same-region neighbours merge.

    Returns the map fine -> coarse and the coarse (weights, adjacency, shape),
    or None when too few nodes merge to be worth a level.
    """
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
        area, perim, lens, lam = shape
        cl = sp.coo_matrix((lens[keep], (cmap[row[keep]], cmap[col[keep]])), shape=(nc, nc)).tocsr()
        cl.sum_duplicates()
        if not (np.array_equal(cl.indptr, cadj.indptr) and np.array_equal(cl.indices, cadj.indices)):
            return None  # pragma: no cover - both are built from the same pairs
        cperim = np.bincount(cmap, weights=perim, minlength=nc) - np.bincount(cmap[row[~keep]], weights=lens[~keep],
                                                                              minlength=nc)
        cshape = [np.bincount(cmap, weights=area, minlength=nc), cperim, cl.data, lam]
    return cmap, cw, cadj, cshape


def _vcycle(labels, w, adj: sp.csr_matrix, lo, hi, frozen, shape, rng, max_levels: int = 8):
    """Multilevel refinement: coarsen within regions, refine from the coarsest level down.

    Coarse nodes are connected groups of units of one region, so a move at a
    coarse level shifts a whole stretch of boundary at once, which single
    unit moves cannot do when every step alone would raise the cost; a region
    that is connected at a coarse level is connected at every finer one.
    """
    levels = []
    cur_w, cur_adj, cur_shape, cur_lab = w, adj, shape, labels
    for _ in range(max_levels):
        c = _contract(cur_lab, cur_w, cur_adj, cur_shape, rng)
        if c is None:
            break
        cmap, cw, cadj, cshape = c
        clab = np.empty(len(cw), np.int64)
        clab[cmap] = cur_lab
        levels.append((cmap, cur_w, cur_adj, cur_shape))
        cur_w, cur_adj, cur_shape, cur_lab = cw, cadj, cshape, clab
    lab = _refine(cur_lab, cur_w, cur_adj, lo, hi, frozen, shape=cur_shape)
    for cmap, fw, fadj, fshape in reversed(levels):
        lab = _refine(lab[cmap], fw, fadj, lo, hi, frozen, shape=fshape)
    return lab


def _cut_cost(labels: np.ndarray, adj: sp.csr_matrix) -> float:
    coo = adj.tocoo()
    return float(coo.data[labels[coo.row] != labels[coo.col]].sum() / 2)


def _stuck_sites(members: np.ndarray, w: np.ndarray, adj: sp.csr_matrix, lo: int, hi: int, limit: int = 10):
    """Nodes of ``members`` that no grid of ``lo..hi`` persons can hold whole.

    A node below ``lo`` must share a grid with a neighbour holding persons
    (reached directly or across empty land); when even the lightest of them
    takes it above ``hi``, no in-bounds grid can hold it. Returns
    ``(node, persons, lightest, heaviest neighbour persons)`` rows.
    """
    out = []
    for x in members[(w[members] > 0) & (w[members] < lo)]:
        seen, stack, found = {int(x)}, [int(x)], []
        while stack and len(seen) < 200:
            y = stack.pop()
            for z in adj.indices[adj.indptr[y]:adj.indptr[y + 1]].tolist():
                if z in seen:
                    continue
                seen.add(z)
                if w[z] == 0:
                    stack.append(z)
                else:
                    found.append(int(w[z]))
        if found and int(w[x]) + min(found) > hi:
            out.append((int(x), int(w[x]), min(found), max(found)))
            if len(out) >= limit:
                break
    return out


def _split_component(members, k, w, adj, lo, hi, rng, tries, restarts):
    """Best of ``restarts`` bisections of one connected component into ``k`` regions."""
    sub = adj[members][:, members].tocsr()
    best, best_cost = None, np.inf
    local = np.arange(len(members))
    if len(members) > LARGE:  # big parts: one pass with fewer trees keeps time near-linear
        restarts, tries = 1, min(tries, 3)
    # with divisible sites, the first bisection ranks cuts by divided sites before the margin (fewer divisions,
    # but it may run out of room); the others keep the margin first; the cheapest result (fewest divisions) wins
    divisible = bool(len(sub.data)) and float(sub.data.max()) >= DIVIDE_COST
    for _r in range(max(1, restarts)):
        t0 = time.perf_counter()
        bis = _Bisector(w[members], sub, lo, hi, rng, tries, divisions_first=divisible and _r == 0)
        try:
            parts = bis.split(local, k)
        except _NoCut:
            log.debug("bisection of %d units into %d gave up after %d failed splits, %.2fs",
                      len(members), k, bis.failures, time.perf_counter() - t0)
            continue
        log.debug("bisection of %d units into %d: %d failed splits, %.2fs",
                  len(members), k, bis.failures, time.perf_counter() - t0)
        lab = np.empty(len(members), np.int64)
        for i, p in enumerate(parts):
            lab[p] = i
        c = _cut_cost(lab, sub)
        if c < best_cost - 1e-9:
            best, best_cost = parts, c
    if best is None:
        return None
    return [members[p] for p in best]


def partition_graph(
    weights: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    cost: np.ndarray,
    *,
    lo: int,
    hi: int,
    k: int | None = None,
    groups: np.ndarray | None = None,
    seed: int | np.random.Generator | None = 0,
    tries: int = 6,
    refine: bool = True,
    on_infeasible: str = "raise",
    names: np.ndarray | None = None,
    xy: np.ndarray | None = None,
    restarts: int = 3,
    heavy: str = "raise",
    area: np.ndarray | None = None,
    perimeter: np.ndarray | None = None,
    length: np.ndarray | None = None,
    compactness: float = 0.5,
) -> Regions:
    """Partition a weighted graph into connected regions with weights in ``[lo, hi]``.

    Parameters
    ----------
    weights : (n,) int array
        Persons per unit.
    u, v, cost : arrays
        Undirected edges and their cut costs.
    lo, hi : int
        Bounds of persons per region.
    k : int, optional
        Number of regions; default: the feasible count closest to an average
        of ``(lo + hi) / 2`` persons.
    groups : (n,) int array, optional
        Units with the same non-negative group id are kept in one region
        (landmark polygons).
    seed : int, Generator or None
        Seeds the tree jitter.
    tries : int
        Spanning trees drawn per split.
    refine : bool
        Run the move-based refinement after the bisection.
    on_infeasible : {"raise", "flag"}
        Raise :class:`InfeasibleError`, or return the best plan with the
        offending regions listed in ``flags``.
    names : (n,) array, optional
        Label of each unit used in error messages (e.g. a household id).
    xy : (n, 2) array, optional
        Unit positions, to attach islands to the nearest region.
    restarts : int
        Independent bisections per connected part; the cheapest is kept
        (parts of more than :data:`LARGE` units get one).
    heavy : {"raise", "flag", "stack"}
        A site above ``hi`` always becomes its own region. ``"raise"``
        follows ``on_infeasible``; ``"flag"`` flags it without raising;
        ``"stack"`` flags it ``"stack"`` for the caller to split its
        households into stacked grids.
    area, perimeter : (n,) arrays, optional
        Area and perimeter of each unit; with ``length`` (the shared length of
        each edge) and a positive ``compactness`` the refinement also raises
        the regions' Polsby-Popper scores.
    compactness : float
        Weight of compactness against the cut cost: raising one region's
        Polsby-Popper score by 0.1 is worth ``0.1 * compactness * s`` of cut
        cost, ``s`` being the side of a square of the mean region area.

    Returns
    -------
    Regions
    """
    rng = np.random.default_rng(seed)
    w_units = np.asarray(weights, dtype=np.int64)
    n_units = len(w_units)
    names = np.arange(n_units) if names is None else np.asarray(names, dtype=object)
    # contract groups into nodes
    node = np.arange(n_units)
    if groups is not None:
        g = np.asarray(groups)
        has = g >= 0
        if has.any():
            _, ginv = np.unique(g[has], return_inverse=True)
            first = np.full(ginv.max() + 1, n_units)
            np.minimum.at(first, ginv, np.flatnonzero(has))
            node[has] = first[ginv]
    _, node = np.unique(node, return_inverse=True)
    n = int(node.max()) + 1
    w = np.bincount(node, weights=w_units, minlength=n).astype(np.int64)
    nu, nv = node[np.asarray(u, int)], node[np.asarray(v, int)]
    m = nu != nv
    adj = sp.coo_matrix(
        (np.r_[cost[m], cost[m]], (np.r_[nu[m], nv[m]], np.r_[nv[m], nu[m]])), shape=(n, n)
    ).tocsr()
    adj.sum_duplicates()
    shape = None
    if compactness > 0 and area is not None and perimeter is not None and length is not None:
        length = np.asarray(length, dtype=float)
        lens = sp.coo_matrix((np.r_[length[m], length[m]], (np.r_[nu[m], nv[m]], np.r_[nv[m], nu[m]])),
                             shape=(n, n)).tocsr()
        lens.sum_duplicates()
        if np.array_equal(lens.indptr, adj.indptr) and np.array_equal(lens.indices, adj.indices):
            node_area = np.bincount(node, weights=np.asarray(area, dtype=float), minlength=n)
            inside = np.bincount(nu[~m], weights=length[~m], minlength=n)  # edges swallowed by a group
            node_perim = np.bincount(node, weights=np.asarray(perimeter, dtype=float), minlength=n) - 2 * inside
            shape = [node_area, node_perim, lens.data, float(compactness)]

    total_w = int(w.sum())
    labels = np.full(n, -1)
    flags: dict[int, list[str]] = {}
    problems: list[tuple[str, str, list]] = []
    next_label = 0
    heavy_mode = heavy
    heavy = np.flatnonzero(w > hi)
    for h in heavy:
        labels[h] = next_label
        flags[next_label] = ["stack" if heavy_mode == "stack" else
                             "forced: one site (or landmark kept whole) holds more than max persons"]
        next_label += 1
    light = w <= hi
    sub = adj[light][:, light]
    ncomp, comp = connected_components(sub, directed=False)
    light_idx = np.flatnonzero(light)
    comp_w = np.bincount(comp, weights=w[light], minlength=ncomp)
    if heavy.size and heavy_mode == "raise":
        ids = [names[np.flatnonzero(node == h)[0]] for h in heavy]
        each = ", ".join(f"{names[np.flatnonzero(node == h)[0]]} ({int(w[h])} persons)" for h in heavy[:10])
        msg = (f"{len(heavy)} sites hold more than max_persons={hi} persons and may not be divided: {each}"
               + (" ..." if len(heavy) > 10 else ""))
        problems.append(("heavy_site", msg, ids))
        if on_infeasible == "raise":
            raise InfeasibleError(msg + "; let microgrid divide them by entrance and floor (divide_sites='auto', "
                                  "the default; a single household above max cannot be divided), raise "
                                  f"max_persons to {int(w[heavy].max())}, or pass on_infeasible='flag' to give "
                                  "each its own flagged grid", cause="heavy_site", ids=ids)
    if total_w == 0 and on_infeasible == "raise":
        raise InfeasibleError(f"the households hold 0 persons in all; no grid can reach min_persons={lo}",
                              cause="no_grid_count")

    # grid counts per component
    big = [ci for ci in range(ncomp) if comp_w[ci] >= lo]
    ranges = {ci: feasible_counts(int(comp_w[ci]), lo, hi) for ci in big}
    for ci in big:
        if len(ranges[ci]) == 0:
            members = light_idx[comp == ci]
            msg = (f"a connected part holding {int(comp_w[ci])} persons cannot be divided into grids of "
                   f"{lo}..{hi} persons (no whole number of grids fits); widen the bounds")
            problems.append(("no_grid_count", msg, [names[np.flatnonzero(node == members[0])[0]]]))
            if on_infeasible == "raise":
                raise InfeasibleError(msg, cause="no_grid_count", ids=problems[-1][2])
    counts: dict[int, int] = {}
    target = (lo + hi) / 2
    for ci in big:
        r = ranges[ci]
        if len(r):
            counts[ci] = int(np.clip(round(comp_w[ci] / target), r.start, r.stop - 1))
    if k is not None:
        want = k - len(heavy)
        lo_sum = sum(ranges[ci].start for ci in counts)
        hi_sum = sum(ranges[ci].stop - 1 for ci in counts)
        overall = feasible_counts(total_w, lo, hi)
        if len(overall) == 0:
            raise InfeasibleError(
                f"n_grids={k} is not feasible: no number of grids of {lo}..{hi} persons holds {total_w} "
                "persons; widen the bounds", cause="no_grid_count")
        if not lo_sum <= want <= hi_sum:
            raise InfeasibleError(
                f"n_grids={k} is not feasible: with {total_w} persons and {lo}..{hi} per grid "
                f"the number of grids must lie in {overall.start}..{max(overall.stop - 1, overall.start)}"
                + (f" (here {lo_sum + len(heavy)}..{hi_sum + len(heavy)} given the parts and heavy sites)"
                   if (lo_sum, hi_sum) != (overall.start, overall.stop - 1) else ""),
                cause="no_grid_count",
            )
        # distribute: start at the minimum, add to the largest persons/grid ratio
        counts = {ci: ranges[ci].start for ci in counts}
        extra = want - sum(counts.values())
        while extra > 0:
            ci = max((c for c in counts if counts[c] < ranges[c].stop - 1),
                     key=lambda c: (comp_w[c] / counts[c], -c))
            counts[ci] += 1
            extra -= 1

    for ci in big:
        members = light_idx[comp == ci]
        parts = None
        if ci in counts:
            parts = _split_component(members, counts[ci], w, adj, lo, hi, rng, tries, restarts)
            if parts is None:
                ids = [names[np.flatnonzero(node == members[0])[0]]]
                msg = (f"could not divide a part of {int(comp_w[ci])} persons into {counts[ci]} connected grids "
                       f"of {lo}..{hi} persons")
                stuck = _stuck_sites(members, w, adj, lo, hi)
                if stuck:
                    ids = [names[np.flatnonzero(node == x)[0]] for x, *_ in stuck]
                    msg += ("; no grid within the bounds can hold these sites whole: " + "; ".join(
                        f"{names[np.flatnonzero(node == x)[0]]}, {p} persons, touches only sites of "
                        f"{a}-{b} persons" for x, p, a, b in stuck)
                        + f". Let microgrid divide buildings (divide_sites='auto', with entrance_col/floor_col "
                        f"when the register has them) or widen the bounds (max_persons >= "
                        f"{max(p + a for _, p, a, _ in stuck)})")
                else:
                    msg += "; try wider bounds or another n_grids"
                if on_infeasible == "raise":
                    raise InfeasibleError(msg, cause="no_cut", ids=ids)
                problems.append(("no_cut", msg, ids))
        if parts is None:
            # best effort under on_infeasible="flag": widen the bounds step by step
            kc = counts.get(ci) or max(1, int(round(comp_w[ci] / target)))
            for f in (1.1, 1.25, 1.5, 2.0, 4.0, np.inf):
                rlo = max(1, int(lo / f)) if np.isfinite(f) else 0
                rhi = int(math.ceil(hi * f)) if np.isfinite(f) else int(comp_w[ci])
                parts = _split_component(members, kc, w, adj, rlo, max(rhi, rlo), rng, tries, 1)
                if parts is not None:
                    break
            if parts is None:  # pragma: no cover - infinite bounds always admit a cut
                parts = [members]
        for p in parts:
            labels[p] = next_label
            next_label += 1

    # small and empty components attach to a neighbouring region
    small = [ci for ci in range(ncomp) if comp_w[ci] < lo]
    pending = set(small)
    while pending:
        progress = False
        for ci in sorted(pending):
            members = light_idx[comp == ci]
            row = adj[members]
            nb = row.indices
            share = np.bincount(labels[nb] + 1, weights=row.data, minlength=next_label + 1)[1:]
            if share.sum() > 0:
                tgt = int(np.argmax(share))
                labels[members] = tgt
                if comp_w[ci] > 0:
                    if flags.get(tgt, [""])[0].startswith(("forced", "stack")):
                        flags[tgt].append(f"holds an enclosed part of {int(comp_w[ci])} persons")
                    else:
                        ids = [names[np.flatnonzero(node == members[0])[0]]]
                        msg = (f"a part of {int(comp_w[ci])} persons (below min_persons={lo}) is cut off from "
                               "the rest by the boundary or by heavy sites; it cannot form a grid of its own")
                        problems.append(("small_part", msg, ids))
                        flags.setdefault(tgt, []).append(f"absorbed an isolated part of {int(comp_w[ci])} persons")
                pending.discard(ci)
                progress = True
        if not progress:
            break
    # parts with no neighbour at all (islands, exclaves): join the nearest region, flagged
    for ci in sorted(pending):
        members = light_idx[comp == ci]
        if next_label == 0:
            labels[members] = 0
            next_label = 1
            if comp_w[ci] > 0:
                problems.append(("small_part", f"all {int(comp_w[ci])} persons are fewer than min_persons={lo}", []))
                flags.setdefault(0, []).append(f"holds {int(comp_w[ci])} persons, below min")
            continue
        done = labels >= 0
        if xy is not None:
            pn = np.zeros((n, 2))
            np.add.at(pn, node, xy)
            pn /= np.bincount(node, minlength=n)[:, None]
            d = ((pn[done][:, None, :] - pn[members][None, :, :]) ** 2).sum(-1).min(axis=1)
            tgt = int(labels[np.flatnonzero(done)[int(np.argmin(d))]])
        else:
            tgt = int(labels[np.flatnonzero(done)[0]])
        labels[members] = tgt
        if comp_w[ci] > 0:
            ids = [names[np.flatnonzero(node == members[0])[0]]]
            problems.append(("small_part", f"a detached part of {int(comp_w[ci])} persons (an island or exclave "
                             f"below min_persons={lo}) cannot form a grid of its own", ids))
        flags.setdefault(tgt, []).append(
            f"multi-part: includes a detached part of {int(comp_w[ci])} persons (island or exclave)")
    hard = problems
    if on_infeasible == "raise" and hard:
        cause, msg, ids = hard[0]
        more = f" (and {len(hard) - 1} more problems)" if len(hard) > 1 else ""
        raise InfeasibleError(msg + more + "; pass on_infeasible='flag' to get the best plan with these grids flagged",
                              cause=cause, ids=ids)

    if refine and next_label > 1:
        frozen = np.zeros(next_label, bool)
        for lab_, reasons in flags.items():
            if reasons and reasons[0].startswith(("forced", "stack")):
                frozen[lab_] = True
        if shape is not None:
            shape[3] = float(compactness) * math.sqrt(shape[0].sum() / next_label)
        labels = _vcycle(labels, w, adj, lo, hi, frozen, shape, rng)
    region_w = np.bincount(labels, weights=w, minlength=next_label)
    for r in range(next_label):
        if not lo <= region_w[r] <= hi and r not in flags:
            flags[r] = [f"out of bounds: {int(region_w[r])} persons (no plan within {lo}..{hi} exists "
                        "for its part of the map)"]
    return Regions(labels=labels[node], flags=flags)
