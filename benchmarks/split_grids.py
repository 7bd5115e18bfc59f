"""Find graph edges that dissolving does not honour, and the grids they split.

A grid is the ``coverage_union_all`` of its units; the partition keeps each
grid connected in the unit graph. If the graph joins two units that share no
boundary segment, a grid joined only through that edge dissolves into two
parts ("the plan failed its own checks: grid N has 2 separate parts").

Usage::

    python benchmarks/split_grids.py --households 2000 --footpaths 200000
    python benchmarks/split_grids.py --households 300000 --seed 3 --partition

Prints the edges whose units share no boundary length (with the graph's
length, the units' areas and the smallest unit near the contact), and with
``--partition`` runs :func:`microgrid.partition` and lists every grid made of
several parts with the graph edges that join its parts.
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

import microgrid
from microgrid.graph import build_graph
from microgrid.inputs import prepare_inputs
from microgrid.partition import levels as api
from microgrid.units import units_from_inputs


def village(n_households: int, seed: int, footpaths: int, length: float = 8.0):
    """``make_village`` plus ``footpaths`` random straight footpaths of ``length`` m over its extent."""
    hh, bnd, roads, marks = microgrid.samples.make_village(n_households, seed=seed)
    if footpaths:
        rng = np.random.default_rng(seed)
        x0, y0, x1, y1 = bnd.total_bounds
        c = np.c_[rng.uniform(x0, x1, footpaths), rng.uniform(y0, y1, footpaths)]
        a = rng.uniform(0, np.pi, footpaths)
        d = np.c_[np.cos(a), np.sin(a)] * length / 2
        fp = gpd.GeoDataFrame(
            {"kind": ["footpath"] * footpaths},
            geometry=shapely.linestrings(np.stack([c - d, c + d], axis=1)),
            crs=roads.crs,
        )
        roads = gpd.GeoDataFrame(pd.concat([roads, fp], ignore_index=True), crs=roads.crs)
    return hh, bnd, roads, marks


def false_edges(units, graph) -> np.ndarray:
    """Indices of graph edges whose two units share no boundary length."""
    a, b = units.geometry[graph.u], units.geometry[graph.v]
    shared = shapely.length(shapely.intersection(shapely.boundary(a), shapely.boundary(b)))
    return np.flatnonzero(shared < 1e-9)


def describe_edge(units, graph, e: int, tree) -> str:
    a, b = int(graph.u[e]), int(graph.v[e])
    ga, gb = units.geometry[a], units.geometry[b]
    contact = shapely.intersection(ga.boundary, gb.boundary)
    near = tree.query(shapely.buffer(shapely.shortest_line(ga, gb), 0.01))
    small = min(near.tolist(), key=lambda f: units.geometry[f].area)
    return (
        f"units {a}-{b}: graph length {graph.length[e]:.4g} m, contact {contact.geom_type} "
        f"(distance {shapely.distance(ga, gb):.2g} m), areas {ga.area:.4g} / {gb.area:.4g} m2; smallest unit "
        f"near the contact {small} ({units.geometry[small].area:.3g} m2)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--households", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--footpaths", type=int, default=0)
    ap.add_argument("--partition", action="store_true", help="also partition and look for split grids")
    ap.add_argument("--show", type=int, default=10)
    args = ap.parse_args()
    inputs = village(args.households, args.seed, args.footpaths)
    t = time.perf_counter()
    units = units_from_inputs(prepare_inputs(*inputs))
    t1 = time.perf_counter()
    graph = build_graph(units)
    t2 = time.perf_counter()
    print(f"{units.n} units ({t1 - t:.1f} s), {len(graph.u)} edges ({t2 - t1:.1f} s)")
    tree = shapely.STRtree(units.geometry)
    bad = false_edges(units, graph)
    print(f"{len(bad)} edges join units that share no boundary")
    for e in bad[: args.show]:
        print("  " + describe_edge(units, graph, e, tree))
    if not args.partition:
        return
    seen = {}
    partition_graph = api.partition_graph

    def spy(*a, **k):
        r = partition_graph(*a, **k)
        seen["labels"] = r.labels
        return r

    api.partition_graph = spy
    try:
        plan = microgrid.partition(*inputs)
        print(f"plan: {len(plan.grids)} grids, report ok {plan.report.ok}")
    except microgrid.MicrogridError as exc:
        print(f"{type(exc).__name__}: {exc}")
    finally:
        api.partition_graph = partition_graph
    labels = seen.get("labels")
    if labels is None:
        return
    for r in range(int(labels.max()) + 1):
        idx = np.flatnonzero(labels == r)
        parts = shapely.get_parts(shapely.coverage_union_all(units.geometry[idx]))
        if len(parts) < 2:
            continue
        print(f"region {r}: {len(idx)} units in {len(parts)} parts of {np.round(shapely.area(parts), 6)} m2")
        pi, ui = shapely.STRtree(parts).query(shapely.point_on_surface(units.geometry[idx]), predicate="within")
        part_of = dict(zip(idx[ui].tolist(), pi.tolist()))
        inner = np.flatnonzero((labels[graph.u] == r) & (labels[graph.v] == r))
        for e in inner:
            if part_of.get(int(graph.u[e])) != part_of.get(int(graph.v[e])):
                print("  joined by " + describe_edge(units, graph, e, tree))


if __name__ == "__main__":
    main()
