"""How far can the on-line share go? Where the off-line grid lines are, and what straightening would give.

For each case, partition with microgrid and split the internal grid boundary
into the part within 1 m of a barrier (on-line) and the rest (off-line). Then:

- *straight*: the on-line share if every off-line chain were replaced by the
  straight segment between its ends: no plan made of the same grid
  adjacencies can have shorter off-line lines, so it bounds what smoothing
  the lines could gain;
- *heavy blocks*: the share of persons living in blocks (units joined by
  edges on no barrier) heavier than one grid (max persons): such a block
  must be crossed by at least one off-line grid line whatever the method.

Run: ``python benchmarks/online_bound.py [cases...]``.
"""

from __future__ import annotations

import sys

import numpy as np
import shapely
from _common import HI, LO, OSM_CASES, available_cases, build_case, machine
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from microgrid.graph import whole_groups
from microgrid.regions import partition_graph


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
    geoms = np.array([shapely.coverage_union_all(case.units.geometry[labels == r]) for r in np.unique(labels)],
                     dtype=object)
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


def main(names):
    print(f"machine: {machine()}")
    print("| case | persons in blocks > max | such blocks | on-line | on-line if every off-line chain were straight |")
    print("|---|---|---|---|---|")
    for name in available_cases(names):
        case = build_case(name)
        g = case.graph
        labels = partition_graph(case.units.persons, g.u, g.v, g.cost, lo=LO, hi=HI, seed=0, on_infeasible="flag",
                                 groups=whole_groups(case.units, g)).labels
        share_heavy, n_heavy = blocks_over(case)
        on, off, straight = line_split(case, labels)
        print(f"| {name} | {share_heavy:.0%} | {n_heavy} | {on / (on + off):.2f} | {on / (on + straight):.2f} |",
              flush=True)


if __name__ == "__main__":
    main(sys.argv[1:] or ["sample", *OSM_CASES, "synthetic-1k", "synthetic-10k"])
