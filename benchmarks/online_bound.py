"""How far can the on-line share go? Where the off-line grid lines are, and what straightening would give.

For each case, partition with microgrid and split the internal grid boundary
into the part within 1 m of a barrier (on-line) and the rest (off-line). Then:

- *straight*: the on-line share if every off-line chain were replaced by the
  straight segment between its ends: no plan made of the same grid
  adjacencies can have shorter off-line lines, so it bounds what smoothing
  the lines could gain;
- *heavy blocks*: the share of persons living in blocks (units joined by
  edges on no barrier) heavier than one grid (max persons): such a block
  must be crossed by at least one off-line grid line whatever the method;
- *best found, lines only*: the highest on-line share any of these searches
  found, with compactness ignored: microgrid with a cut cost of 1 per metre
  off the barriers and 0.001 on them (compactness 0, seeds 0-2), and METIS
  (contig) with edge weights 100 per metre off the barriers and 0.1 on them
  (seeds 0-3, ``ncuts=4``). It is not a proof of a ceiling, only the best
  that two optimizers of the line objective reach on the same units.

Run: ``python benchmarks/online_bound.py [cases...]``.
"""

from __future__ import annotations

import sys

import numpy as np
import shapely
from _common import HI, LO, OSM_CASES, available_cases, build_case, machine
from compare_peers import run_microgrid
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from microgrid.graph import whole_groups
from microgrid.partition.regions import partition_graph


def blocks_over(case, hi=HI) -> tuple[float, int]:
    """Share of persons in blocks heavier than ``hi``, and the number of such blocks."""
    g = case.graph
    off = g.barrier_length < 0.5 * g.length  # units joined across no barrier
    n = len(case.units.persons)
    m = coo_matrix((np.ones(off.sum()), (g.u[off], g.v[off])), shape=(n, n))
    _, lab = connected_components(m, directed=False)
    per = np.bincount(lab, weights=case.units.persons)
    heavy = per > hi
    return float(per[heavy].sum() / per.sum()), int(heavy.sum())


def line_split(case, labels):
    geoms = np.array(
        [shapely.coverage_union_all(case.units.geometry[labels == r]) for r in np.unique(labels)], dtype=object
    )
    near = shapely.union_all(case.barriers).buffer(1.0) if len(case.barriers) else shapely.Polygon()
    tree = shapely.STRtree(geoms)
    a, b = tree.query(geoms, predicate="intersects")
    on = off = straight = 0.0
    for i, j in zip(a[a < b], b[a < b]):
        shared = shapely.intersection(geoms[i].boundary, geoms[j].boundary)
        lines = [p for p in shapely.get_parts(shared) if p.geom_type in ("LineString", "MultiLineString")]
        if not lines:
            continue
        shared = shapely.line_merge(shapely.union_all(lines))
        on += shared.intersection(near).length
        rest = shapely.line_merge(shared.difference(near)) if not shared.difference(near).is_empty else None
        if rest is None:
            continue
        off += rest.length
        for p in shapely.get_parts(rest):
            if p.geom_type == "LineString" and not p.is_empty:
                c = np.asarray(p.coords)
                straight += float(np.hypot(*(c[-1] - c[0])))
    return on, off, straight


def best_lines_only(case, k) -> float:
    """Best on-line share found by lines-only searches (microgrid and METIS, several seeds)."""
    import pymetis

    g = case.graph
    off = g.length - g.barrier_length
    groups = whole_groups(case.units, g)
    best = 0.0
    for seed in range(3):
        lab = partition_graph(
            case.units.persons,
            g.u,
            g.v,
            off + 0.001 * g.barrier_length,
            lo=LO,
            hi=HI,
            k=k,
            seed=seed,
            on_infeasible="flag",
            groups=groups,
        ).labels
        on, o, _ = line_split(case, lab)
        best = max(best, on / (on + o))
    w = np.maximum(1, np.round(off * 100 + g.barrier_length * 0.1)).astype(np.int64)
    adj = g.csr(w.astype(float))
    for seed in range(4):
        opts = pymetis.Options(
            contig=True, ufactor=int(round(1000 * (HI / (case.persons / k) - 1))) or 1, seed=seed, ncuts=4
        )
        _, parts = pymetis.part_graph(
            k,
            adjacency=pymetis.CSRAdjacency(adj.indptr.astype(np.int64), adj.indices.astype(np.int64)),
            vweights=case.units.persons.astype(np.int64),
            eweights=adj.data.astype(np.int64),
            options=opts,
        )
        lab = np.asarray(parts)
        w_ = np.bincount(lab, weights=case.units.persons, minlength=k)
        if ((w_ >= LO) & (w_ <= HI)).all():  # only plans within bounds count
            on, o, _ = line_split(case, lab)
            best = max(best, on / (on + o))
    return best


def main(names):
    print(f"machine: {machine()}")
    print(
        "| case | persons in blocks > max | such blocks | on-line | on-line if every off-line chain were straight "
        "| best found, lines only |"
    )
    print("|---|---|---|---|---|---|")
    for name in available_cases(names):
        case = build_case(name)
        labels = run_microgrid(case, None)
        share_heavy, n_heavy = blocks_over(case)
        on, off, straight = line_split(case, labels)
        best = best_lines_only(case, len(np.unique(labels)))
        print(
            f"| {name} | {share_heavy:.0%} | {n_heavy} | {on / (on + off):.2f} | {on / (on + straight):.2f} "
            f"| {best:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main(sys.argv[1:] or ["sample", *OSM_CASES, "synthetic-1k", "synthetic-10k"])
