"""Stage 4: partition the unit graph into connected regions of bounded weight.

:func:`partition_graph` contracts the units that must stay together, gives
each site heavier than ``hi`` a region of its own, counts the grids each
connected part of the rest can hold, splits each part by recursive
bisection (:mod:`.bisection`), attaches parts too light to be a grid to a
neighbour, and refines the result (:mod:`.refinement`). It is deterministic
for a seed. What cannot meet the bounds is diagnosed (:class:`.Cause`), not
silently broken: raised as :class:`~microgrid.InfeasibleError`, or with
``on_infeasible="flag"`` the regions are flagged (:class:`.Flag`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components

from ..errors import InfeasibleError
from .bisection import split_component
from .flags import Cause, Flag
from .refinement import Level, Shape, vcycle

__all__ = ["Regions", "partition_graph", "feasible_counts"]


@dataclass
class Regions:
    """Result of :func:`partition_graph`."""

    labels: np.ndarray  # region per unit, 0..k-1
    flags: dict[int, list[tuple[Flag, str]]] = field(default_factory=dict)  # region -> (flag, reason) rows

    @property
    def k(self) -> int:
        """Number of regions."""
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


@dataclass
class _Graph:
    """The unit graph with groups contracted into nodes."""

    node: np.ndarray  # node per unit
    w: np.ndarray  # persons per node
    adj: sp.csr_matrix  # cut costs
    shape: Shape | None  # per node area, perimeter, shared lengths and the weight, for compactness
    names: np.ndarray  # name per unit (for messages)

    def name(self, nd: int):
        """The name of a node: that of its first unit."""
        return self.names[np.flatnonzero(self.node == nd)[0]]


@dataclass
class _State:
    """Labels, flags and problems while regions are made."""

    labels: np.ndarray
    flags: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)  # (Cause, message, ids)
    next_label: int = 0

    def new_region(self, nodes: np.ndarray | Sequence[int] | Sequence[np.integer]) -> int:
        self.labels[nodes] = self.next_label
        self.next_label += 1
        return self.next_label - 1

    def flag(self, region: int, what: Flag, text: str) -> None:
        self.flags.setdefault(region, []).append((what, text))


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
        (landmark polygons, household-free blocks).
    seed : int, Generator or None
        Seeds the tree jitter and the coarsening.
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
        (parts of more than ``bisection.LARGE`` units get one).
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

    Examples
    --------
    >>> import numpy as np
    >>> r = partition_graph(np.full(6, 100), np.arange(5), np.arange(1, 6), np.ones(5), lo=200, hi=300)
    >>> r.k, sorted(np.bincount(r.labels, weights=np.full(6, 100)).tolist())
    (2, [300.0, 300.0])
    """
    rng = np.random.default_rng(seed)
    g = _contract(np.asarray(weights, dtype=np.int64), u, v, cost, groups, names, area, perimeter, length, compactness)
    st = _State(labels=np.full(len(g.w), -1))
    heavy = _heavy_sites(g, st, hi, on_infeasible)
    total_w = int(g.w.sum())
    if total_w == 0 and on_infeasible == "raise":
        raise InfeasibleError(
            f"the households hold 0 persons in all; no grid can reach min_persons={lo}", cause=Cause.NO_GRID_COUNT
        )
    light = g.w <= hi
    ncomp, comp = connected_components(g.adj[light][:, light], directed=False)
    light_idx = np.flatnonzero(light)
    comp_w = np.bincount(comp, weights=g.w[light], minlength=ncomp)
    counts, ranges = _grid_counts(g, st, comp, light_idx, comp_w, lo, hi, k, len(heavy), total_w, on_infeasible)
    for ci in [c for c in range(ncomp) if comp_w[c] >= lo]:
        members = light_idx[comp == ci]
        parts = _split_part(
            g, st, members, counts.get(ci), int(comp_w[ci]), lo, hi, rng, tries, restarts, on_infeasible
        )
        for p in parts:
            st.new_region(p)
    _attach_small(g, st, comp, light_idx, comp_w, lo, xy)
    if on_infeasible == "raise" and st.problems:
        cause, msg, ids = st.problems[0]
        more = f" (and {len(st.problems) - 1} more problems)" if len(st.problems) > 1 else ""
        raise InfeasibleError(
            msg + more + "; widen the bounds (CLI: --min-persons/--max-persons), or pass on_infeasible='flag' "
            "(CLI: --on-infeasible flag) to get the best plan with these grids flagged",
            cause=cause,
            ids=ids,
        )
    labels = st.labels
    if refine and st.next_label > 1:
        frozen = np.zeros(st.next_label, bool)
        for lab_, rows in st.flags.items():
            frozen[lab_] = rows[0][0] is Flag.FORCED
        shape = g.shape
        if shape is not None:  # the weight in cut-cost units: compactness x the side of a mean region
            shape = shape._replace(weight=float(compactness) * math.sqrt(shape.area.sum() / st.next_label))
        labels = vcycle(labels, Level(g.w, g.adj, shape), lo, hi, frozen, rng)
    region_w = np.bincount(labels, weights=g.w, minlength=st.next_label)
    for r in range(st.next_label):
        if not lo <= region_w[r] <= hi and r not in st.flags:
            st.flag(
                r,
                Flag.OUT_OF_BOUNDS,
                f"out of bounds: {int(region_w[r])} persons (no plan within {lo}..{hi} exists for its part of the map)",
            )
    return Regions(labels=labels[g.node], flags=st.flags)


def _contract(
    w_units: np.ndarray,
    u: np.ndarray,
    v: np.ndarray,
    cost: np.ndarray,
    groups: np.ndarray | None,
    names: np.ndarray | None,
    area: np.ndarray | None,
    perimeter: np.ndarray | None,
    length: np.ndarray | None,
    compactness: float,
) -> _Graph:
    """Contract each group of units into one node; sum weights, costs and (for compactness) shapes."""
    n_units = len(w_units)
    names = np.arange(n_units) if names is None else np.asarray(names, dtype=object)
    node = np.arange(n_units)
    if groups is not None:
        gr = np.asarray(groups)
        has = gr >= 0
        if has.any():
            _, ginv = np.unique(gr[has], return_inverse=True)
            first = np.full(ginv.max() + 1, n_units)
            np.minimum.at(first, ginv, np.flatnonzero(has))
            node[has] = first[ginv]
    _, node = np.unique(node, return_inverse=True)
    n = int(node.max()) + 1
    w = np.bincount(node, weights=w_units, minlength=n).astype(np.int64)
    nu, nv = node[np.asarray(u, int)], node[np.asarray(v, int)]
    m = nu != nv
    adj = sp.coo_matrix((np.r_[cost[m], cost[m]], (np.r_[nu[m], nv[m]], np.r_[nv[m], nu[m]])), shape=(n, n)).tocsr()
    adj.sum_duplicates()
    shape = None
    if compactness > 0 and area is not None and perimeter is not None and length is not None:
        length = np.asarray(length, dtype=float)
        lens = sp.coo_matrix(
            (np.r_[length[m], length[m]], (np.r_[nu[m], nv[m]], np.r_[nv[m], nu[m]])), shape=(n, n)
        ).tocsr()
        lens.sum_duplicates()
        if np.array_equal(lens.indptr, adj.indptr) and np.array_equal(lens.indices, adj.indices):
            node_area = np.bincount(node, weights=np.asarray(area, dtype=float), minlength=n)
            inside = np.bincount(nu[~m], weights=length[~m], minlength=n)  # edges swallowed by a group
            node_perim = np.bincount(node, weights=np.asarray(perimeter, dtype=float), minlength=n) - 2 * inside
            shape = Shape(node_area, node_perim, lens.data, float(compactness))
    return _Graph(node=node, w=w, adj=adj, shape=shape, names=names)


def _heavy_sites(g: _Graph, st: _State, hi: int, on_infeasible: str) -> np.ndarray:
    """Give each node heavier than ``hi`` a region of its own, flagged; raise when told to."""
    heavy = np.flatnonzero(g.w > hi)
    for h in heavy:
        st.flag(
            st.new_region([h]), Flag.FORCED, "forced: one site (or landmark kept whole) holds more than max persons"
        )
    if heavy.size:
        ids = [g.name(int(h)) for h in heavy]
        each = ", ".join(f"{g.name(h)} ({int(g.w[h])} persons)" for h in heavy[:10])
        msg = f"{len(heavy)} sites hold more than max_persons={hi} persons and may not be divided: {each}" + (
            " ..." if len(heavy) > 10 else ""
        )
        st.problems.append((Cause.HEAVY_SITE, msg, ids))
        if on_infeasible == "raise":
            raise InfeasibleError(
                msg + "; let microgrid divide them by entrance and floor (divide_sites='auto', "
                "the default; CLI: --divide-sites auto; a single household above max cannot be "
                f"divided), raise max_persons to {int(g.w[heavy].max())} (CLI: --max-persons), or "
                "pass on_infeasible='flag' (CLI: --on-infeasible flag) to give each its own flagged "
                "grid",
                cause=Cause.HEAVY_SITE,
                ids=ids,
            )
    return heavy


def _grid_counts(
    g: _Graph,
    st: _State,
    comp: np.ndarray,
    light_idx: np.ndarray,
    comp_w: np.ndarray,
    lo: int,
    hi: int,
    k: int | None,
    n_heavy: int,
    total_w: int,
    on_infeasible: str,
) -> tuple[dict[int, int], dict[int, range]]:
    """Grids per connected part: the feasible count nearest the mean band, or a share of ``k``."""
    big = [ci for ci in range(len(comp_w)) if comp_w[ci] >= lo]
    ranges = {ci: feasible_counts(int(comp_w[ci]), lo, hi) for ci in big}
    for ci in big:
        if len(ranges[ci]) == 0:
            members = light_idx[comp == ci]
            msg = (
                f"a connected part holding {int(comp_w[ci])} persons cannot be divided into grids of "
                f"{lo}..{hi} persons (no whole number of grids fits); widen the bounds"
            )
            st.problems.append((Cause.NO_GRID_COUNT, msg, [g.name(members[0])]))
            if on_infeasible == "raise":
                raise InfeasibleError(msg, cause=Cause.NO_GRID_COUNT, ids=st.problems[-1][2])
    target = (lo + hi) / 2
    counts = {
        ci: int(np.clip(round(comp_w[ci] / target), ranges[ci].start, ranges[ci].stop - 1))
        for ci in big
        if len(ranges[ci])
    }
    if k is None:
        return counts, ranges
    want = k - n_heavy
    lo_sum = sum(ranges[ci].start for ci in counts)
    hi_sum = sum(ranges[ci].stop - 1 for ci in counts)
    overall = feasible_counts(total_w, lo, hi)
    if len(overall) == 0:
        raise InfeasibleError(
            f"n_grids={k} is not feasible: no number of grids of {lo}..{hi} persons holds "
            f"{total_w} persons; widen the bounds",
            cause=Cause.NO_GRID_COUNT,
        )
    if not lo_sum <= want <= hi_sum:
        raise InfeasibleError(
            f"n_grids={k} is not feasible: with {total_w} persons and {lo}..{hi} per grid "
            f"the number of grids must lie in {overall.start}..{max(overall.stop - 1, overall.start)}"
            + (
                f" (here {lo_sum + n_heavy}..{hi_sum + n_heavy} given the parts and heavy sites)"
                if (lo_sum, hi_sum) != (overall.start, overall.stop - 1)
                else ""
            ),
            cause=Cause.NO_GRID_COUNT,
        )
    # distribute: start at the minimum, add to the largest persons/grid ratio
    counts = {ci: ranges[ci].start for ci in counts}
    extra = want - sum(counts.values())
    while extra > 0:
        ci = max((c for c in counts if counts[c] < ranges[c].stop - 1), key=lambda c: (comp_w[c] / counts[c], -c))
        counts[ci] += 1
        extra -= 1
    return counts, ranges


def _split_part(
    g: _Graph,
    st: _State,
    members: np.ndarray,
    count: int | None,
    weight: int,
    lo: int,
    hi: int,
    rng: np.random.Generator,
    tries: int,
    restarts: int,
    on_infeasible: str,
) -> list[np.ndarray]:
    """Split one connected part into ``count`` regions; under ``on_infeasible="flag"`` widen the bounds if must."""
    parts = None
    if count is not None:
        parts = split_component(members, count, g.w, g.adj, lo, hi, rng, tries, restarts)
        if parts is None:
            msg, ids = _no_cut_message(g, members, weight, count, lo, hi)
            if on_infeasible == "raise":
                raise InfeasibleError(msg, cause=Cause.NO_CUT, ids=ids)
            st.problems.append((Cause.NO_CUT, msg, ids))
    if parts is None:  # best effort: widen the bounds step by step
        kc = count or max(1, int(round(weight / ((lo + hi) / 2))))
        for f in (1.1, 1.25, 1.5, 2.0, 4.0, np.inf):
            rlo = max(1, int(lo / f)) if np.isfinite(f) else 0
            rhi = int(math.ceil(hi * f)) if np.isfinite(f) else weight
            parts = split_component(members, kc, g.w, g.adj, rlo, max(rhi, rlo), rng, tries, 1)
            if parts is not None:
                break
        if parts is None:  # pragma: no cover - infinite bounds always admit a cut
            parts = [members]
    return parts


def _no_cut_message(g: _Graph, members: np.ndarray, weight: int, count: int, lo: int, hi: int) -> tuple[str, list]:
    """Why a part could not be divided: the sites no grid can hold whole, when there are such."""
    msg = f"could not divide a part of {weight} persons into {count} connected grids of {lo}..{hi} persons"
    stuck = _stuck_sites(members, g.w, g.adj, lo, hi)
    if not stuck:
        return msg + "; try wider bounds (CLI: --min-persons/--max-persons) or another n_grids (CLI: --n-grids)", [
            g.name(members[0])
        ]
    msg += (
        "; no grid within the bounds can hold these sites whole: "
        + "; ".join(f"{g.name(x)}, {p} persons, touches only sites of {a}-{b} persons" for x, p, a, b in stuck)
        + ". Let microgrid divide buildings (divide_sites='auto', CLI: --divide-sites auto; with "
        "entrance_col/floor_col, CLI: --entrance-col/--floor-col, when the register has them) or widen the bounds "
        f"(max_persons >= {max(p + a for _, p, a, _ in stuck)}, CLI: --max-persons)"
    )
    return msg, [g.name(x) for x, *_ in stuck]


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
            for z in adj.indices[adj.indptr[y] : adj.indptr[y + 1]].tolist():
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


def _attach_small(
    g: _Graph, st: _State, comp: np.ndarray, light_idx: np.ndarray, comp_w: np.ndarray, lo: int, xy: np.ndarray | None
) -> None:
    """Parts lighter than ``lo`` join the neighbouring region they share most cut cost with; islands the nearest."""
    pending = {ci for ci in range(len(comp_w)) if comp_w[ci] < lo}
    while pending:
        progress = False
        for ci in sorted(pending):
            members = light_idx[comp == ci]
            row = g.adj[members]
            share = np.bincount(st.labels[row.indices] + 1, weights=row.data, minlength=st.next_label + 1)[1:]
            if share.sum() <= 0:
                continue
            tgt = int(np.argmax(share))
            st.labels[members] = tgt
            if comp_w[ci] > 0:
                if st.flags.get(tgt, [(None, "")])[0][0] is Flag.FORCED:
                    st.flag(tgt, Flag.ABSORBED, f"holds an enclosed part of {int(comp_w[ci])} persons")
                else:
                    msg = (
                        f"a part of {int(comp_w[ci])} persons (below min_persons={lo}) is cut off from "
                        "the rest by the boundary or by heavy sites; it cannot form a grid of its own"
                    )
                    st.problems.append((Cause.SMALL_PART, msg, [g.name(members[0])]))
                    st.flag(tgt, Flag.ABSORBED, f"absorbed an isolated part of {int(comp_w[ci])} persons")
            pending.discard(ci)
            progress = True
        if not progress:
            break
    for ci in sorted(pending):
        _attach_island(g, st, light_idx[comp == ci], int(comp_w[ci]), lo, xy)


def _attach_island(g: _Graph, st: _State, members: np.ndarray, weight: int, lo: int, xy: np.ndarray | None) -> None:
    """A part with no neighbour at all (island, exclave) joins the nearest region, flagged."""
    if st.next_label == 0:
        st.labels[members] = 0
        st.next_label = 1
        if weight > 0:
            st.problems.append((Cause.SMALL_PART, f"all {weight} persons are fewer than min_persons={lo}", []))
            st.flag(0, Flag.BELOW_MIN, f"holds {weight} persons, below min")
        return
    done = st.labels >= 0
    if xy is not None:
        n = len(g.w)
        pn = np.zeros((n, 2))
        np.add.at(pn, g.node, xy)
        pn /= np.bincount(g.node, minlength=n)[:, None]
        d = ((pn[done][:, None, :] - pn[members][None, :, :]) ** 2).sum(-1).min(axis=1)
        tgt = int(st.labels[np.flatnonzero(done)[int(np.argmin(d))]])
    else:
        tgt = int(st.labels[np.flatnonzero(done)[0]])
    st.labels[members] = tgt
    if weight > 0:
        st.problems.append(
            (
                Cause.SMALL_PART,
                f"a detached part of {weight} persons (an island or exclave below "
                f"min_persons={lo}) cannot form a grid of its own",
                [g.name(members[0])],
            )
        )
    st.flag(tgt, Flag.DETACHED, f"multi-part: includes a detached part of {weight} persons (island or exclave)")
