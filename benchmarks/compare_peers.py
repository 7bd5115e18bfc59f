"""microgrid vs METIS (pymetis), GerryChain and spopt on the same unit graphs.

Run: python benchmarks/compare_peers.py [--cases sample,cau_beijing,...] [--runs 3]
Needs the bench extra: pip install -e ".[bench]". Prints a Markdown table.

Every method gets the same units, the same unit graph and the same number of
grids k (microgrid's choice); figures follow ../shared/DESIGN.md.
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings

import numpy as np
import shapely
from _common import HI, LO, OSM_CASES, available_cases, build_case, machine, measure, median_runs

from microgrid.graph import whole_groups
from microgrid.options import PartitionOptions
from microgrid.partition.levels import partition_within

DEFAULT = ["sample", *OSM_CASES, "synthetic-500", "synthetic-1k", "synthetic-10k", "synthetic-100k"]


def run_microgrid(case, k, compactness=0.5):
    """microgrid's partition step as ``microgrid.partition`` runs it (default options)."""
    units, g = case.units, case.graph
    opts = PartitionOptions(compactness=compactness, on_infeasible="flag")
    search = {name: getattr(opts, name) for name in ("tries", "refine", "on_infeasible", "restarts", "compactness")}
    xy = shapely.get_coordinates(shapely.point_on_surface(units.geometry))
    names = np.array([f"unit {i}" for i in range(units.n)], dtype=object)
    groups = whole_groups(units, g)
    return partition_within(units, g, None, lo=LO, hi=HI, k=k, groups=groups, seed=0, names=names, xy=xy, **search)[0]


def run_metis(case, k):
    import pymetis

    g = case.graph
    # integer edge weights: cut cost, cheap on barriers (at least 1)
    w = np.maximum(1, np.round(g.cost * 10)).astype(np.int64)
    adj = g.csr(w.astype(float))
    xadj = adj.indptr.astype(np.int64)
    adjncy = adj.indices.astype(np.int64)
    ew = adj.data.astype(np.int64)
    opts = pymetis.Options(contig=True, ufactor=int(round(1000 * (HI / (case.persons / k) - 1))) or 1, seed=0)
    _, parts = pymetis.part_graph(
        k,
        adjacency=pymetis.CSRAdjacency(xadj, adjncy),
        vweights=case.units.persons.astype(np.int64),
        eweights=ew,
        options=opts,
    )
    return np.asarray(parts)


def run_gerrychain(case, k):
    import networkx as nx
    from gerrychain import Graph
    from gerrychain.partition import recursive_tree_part

    g = case.graph
    G = nx.Graph()
    for i, p in enumerate(case.units.persons.tolist()):
        G.add_node(i, population=p)
    G.add_edges_from(zip(g.u.tolist(), g.v.tolist()))
    P = case.persons
    assign = recursive_tree_part(Graph.from_networkx(G), range(k), P / k, "population", 0.2)
    return np.array([assign[i] for i in range(g.n)])


def run_spopt(case, k):
    import geopandas as gpd
    from libpysal.weights import W
    from spopt.region import MaxPHeuristic

    g = case.graph
    nb = {i: [] for i in range(g.n)}
    for a, b in zip(g.u.tolist(), g.v.tolist()):
        nb[a].append(b)
        nb[b].append(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        w = W(nb, silence_warnings=True)
        df = gpd.GeoDataFrame({"persons": case.units.persons, "x": np.ones(g.n)}, geometry=case.units.geometry)
        m = MaxPHeuristic(df, w, ["x"], "persons", LO, top_n=2)
        m.solve()
    return np.asarray(m.labels_)


METHODS = {"microgrid": run_microgrid, "pymetis": run_metis, "gerrychain": run_gerrychain, "spopt-maxp": run_spopt}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--cases", default=",".join(DEFAULT))
    ap.add_argument("--methods", default=",".join(METHODS))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--slow-runs", type=int, default=1, help="runs of spopt (minutes per run)")
    a = ap.parse_args()
    print(
        f"machine: {machine()}; bounds {LO}..{HI}; median of {a.runs} runs ({a.slow_runs} for spopt); "
        "peak = RSS growth of the run; k = microgrid's grid count for every method\n"
    )
    print(
        "| case | units | persons | method | k | in-bounds | connected | coverage | on-line | Polsby-Popper | time s | peak MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for name in available_cases(a.cases.split(",")):
        case = build_case(name)
        n = case.graph.n
        k = max(1, round(case.persons / ((LO + HI) / 2)))
        k = min(max(k, math.ceil(case.persons / HI)), case.persons // LO)
        for meth in a.methods.split(","):
            if meth == "spopt-maxp" and n > 1000:
                print(f"| {name} | {n} | {case.persons} | {meth} | – | skipped: > 1,000 units | | | | | | |")
                continue
            if meth == "gerrychain" and n > 40000:
                print(f"| {name} | {n} | {case.persons} | {meth} | – | skipped: > 40,000 units | | | | | | |")
                continue
            runs = a.slow_runs if meth == "spopt-maxp" else a.runs
            st, labels, dt, mb = median_runs(METHODS[meth], case, k, runs=runs, timeout=a.timeout)
            if st != "ok":
                print(f"| {name} | {n} | {case.persons} | {meth} | – | {st}: {labels} | | | | | {dt:.2f} | |")
                sys.stdout.flush()
                continue
            m = measure(case, labels)
            print(
                f"| {name} | {n} | {case.persons} | {meth} | {m['k']} | {m['in_bounds']:.0%} | {m['connected']:.0%} | "
                f"{'valid' if m['coverage'] else 'INVALID'} | {m['online']:.2f} | {m['pp']:.2f} | {dt:.3f} | {mb:.0f} |"
            )
            sys.stdout.flush()


if __name__ == "__main__":
    main()
