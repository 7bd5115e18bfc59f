"""Recursive bisection by spanning-tree cuts under hard bounds (stage 4, first phase).

A region that must become ``k`` grids is split in two along one edge of a
spanning tree of its unit graph; both sides of a tree cut are connected by
construction. The tree is a maximum spanning tree of the cut cost (with
seeded jitter across tries), so units inside a block hang together and blocks
meet along barrier edges. For every tree edge the exact cost of the cut it
induces (the sum of the costs of all graph edges crossing it) is computed at
once with the lowest-common-ancestor trick; among the edges whose sides can
be split into ``k1`` and ``k - k1`` grids within ``[lo, hi]`` the cheapest
wins. This is GerryChain's ``recursive_tree_part`` made exact (hard bounds
instead of ``±ε``) and road-aware (cost-weighted trees, exact cut cost
instead of a random valid edge).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import NoReturn

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import depth_first_order, minimum_spanning_tree

from ..sites import DIVIDE_COST

__all__ = ["split_component", "cut_cost", "MARGIN", "BALANCE", "LARGE"]

log = logging.getLogger(__name__)

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
            self.tab[j, n - half :] = self.tab[j - 1, n - half :]

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

    def side(x: np.ndarray, kk: np.ndarray, m: float) -> tuple[np.ndarray, np.ndarray]:
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


@dataclass
class _Bisector:
    """Recursive bisection of one component by spanning-tree cuts, backtracking over the best candidates."""

    w: np.ndarray  # persons per node
    adj: sp.csr_matrix  # cut costs
    lo: float
    hi: float
    rng: np.random.Generator
    tries: int  # spanning trees drawn per split
    candidates: int = 4  # cuts tried per split before backtracking
    divisions_first: bool = False  # rank cuts by divided sites before the margin
    failures: int = field(default=0, init=False)
    max_failures: int = field(default=32, init=False)

    @property
    def margin(self) -> float:
        return MARGIN * (self.hi - self.lo)

    def split(self, nodes: np.ndarray, k: int, depth: int = 0) -> list[np.ndarray]:
        if depth == 0:
            # the divisions-first order is a gamble: it gets a small budget, so a dead end costs little
            self.failures, self.max_failures = 0, (16 if self.divisions_first else 32 + 4 * k)
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

    def _fail(self) -> NoReturn:
        self.failures += 1
        if self.failures > self.max_failures:
            raise _GiveUp
        raise _NoCut

    def _cuts(
        self, n: int, a: np.ndarray, b: np.ndarray, c: np.ndarray, w: np.ndarray, k: int, tries: int | None = None
    ) -> list[tuple[float, np.ndarray, int]]:
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
        tg = sp.csr_matrix(
            (np.ones(len(forest.row) + T), (np.r_[forest.row, np.full(T, N)], np.r_[forest.col, roots])),
            shape=(N + 1, N + 1),
        )
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
        found: dict[bytes, tuple[int, float, np.ndarray, int]] = {}
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
                side[order[pos[j] : end[j]] - lo_t] = True
                keyside = side.tobytes()
                if keyside not in found:
                    found[keyside] = (tier, float(cut[j]), side, int(k1[j]))
        if self.divisions_first:  # fewest divided sites, then the margin, then the cost
            ranked = sorted(
                found.values(), key=lambda x: (x[1] // DIVIDE_COST, x[0], x[1], int(np.flatnonzero(x[2])[0]))
            )
        else:  # the margin, then the fewest divided sites, then the cost
            ranked = sorted(
                found.values(), key=lambda x: (x[0], x[1] // DIVIDE_COST, x[1], int(np.flatnonzero(x[2])[0]))
            )
        return [(c_, side, k1_) for _t, c_, side, k1_ in ranked]


def cut_cost(labels: np.ndarray, adj: sp.csr_matrix) -> float:
    """Total cost of the graph edges whose ends carry different labels."""
    coo = adj.tocoo()
    return float(coo.data[labels[coo.row] != labels[coo.col]].sum() / 2)


def split_component(
    members: np.ndarray,
    k: int,
    w: np.ndarray,
    adj: sp.csr_matrix,
    lo: float,
    hi: float,
    rng: np.random.Generator,
    tries: int,
    restarts: int,
) -> list[np.ndarray] | None:
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
            log.debug(
                "bisection of %d units into %d gave up after %d failed splits, %.2fs",
                len(members),
                k,
                bis.failures,
                time.perf_counter() - t0,
            )
            continue
        log.debug(
            "bisection of %d units into %d: %d failed splits, %.2fs",
            len(members),
            k,
            bis.failures,
            time.perf_counter() - t0,
        )
        lab = np.empty(len(members), np.int64)
        for i, p in enumerate(parts):
            lab[p] = i
        c = cut_cost(lab, sub)
        if c < best_cost - 1e-9:
            best, best_cost = parts, c
    if best is None:
        return None
    return [members[p] for p in best]
