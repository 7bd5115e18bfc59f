"""Buildings on one point each vs one point per entrance: divided sites, bounds, lines, shapes, time; METIS beside.

Run: python benchmarks/dense.py [--cases cau_beijing,...,community-350] [--runs 3]
Needs the bench extra for METIS (pip install -e ".[bench]"). Prints a Markdown table.

For each real extract two household sets are estimated from the same buildings (seed 0): one point per entrance
(12 households each, the estimator's default) and one point per building (``households_per_entrance=None``, as a
register geocoded to the building has it). ``community-N`` is ``microgrid.samples.make_community(N)``: a register
with entrance and floor columns. microgrid runs end to end (``microgrid.partition`` with its defaults, median of
``--runs`` isolated runs); METIS (pymetis, contig) gets the building run's units and graph (division edges
weighted like the rest) and microgrid's number of grids.
"""

from __future__ import annotations

import argparse
import sys

import numpy as np
from _common import HI, LO, OSM, OSM_CASES, Case, machine, measure, median_runs

import microgrid
from microgrid.inputs import estimate_households, prepare_inputs
from microgrid.partition.levels import chunk_steps
from microgrid.partition.levels import site_columns as _site_columns
from microgrid.partition.levels import units_and_graph as _units_and_graph


def inputs(name: str, per_building: bool):
    if name.startswith("community-"):
        return microgrid.samples.make_community(int(name.split("-")[1]), seed=0)
    f = OSM / f"{name}.gpkg"
    hh = estimate_households(
        f"{f}#buildings", clip_to=f"{f}#export_bbox", seed=0, households_per_entrance=None if per_building else 12
    )
    return hh, f"{f}#export_bbox", f"{f}#roads", None


def run_partition(name, per_building):
    plan = microgrid.partition(*inputs(name, per_building))
    g, m, d = plan.grids, plan.report.metrics, plan.divided_sites
    return {
        "k": len(g),
        "in_bounds": float(g["persons"].between(LO, HI).mean()),
        "divided": d["site_id"].nunique(),
        "parts": len(d),
        "online": m["online_share"],
        "pp": m["mean_polsby_popper"],
        "ok": plan.report.ok,
        "units": len(plan.units),
    }


def metis_case(name):
    hh, bnd, bar, lm = inputs(name, True)
    inp = prepare_inputs(hh, bnd, bar, lm)
    q, above = chunk_steps(LO, HI)[0]
    units, graph, *_ = _units_and_graph(inp, None, q, _site_columns(inp, None, None), 2.0, HI, above)
    return Case(name, units, graph, units.boundary, units.barriers, int(units.persons.sum()))


def run_metis(case, k):
    import pymetis

    g = case.graph
    w = np.maximum(1, np.round(np.minimum(g.cost, 1e6) * 10)).astype(np.int64)
    adj = g.csr(w.astype(float))
    opts = pymetis.Options(contig=True, ufactor=int(round(1000 * (HI / (case.persons / k) - 1))) or 1, seed=0)
    _, parts = pymetis.part_graph(
        k,
        adjacency=pymetis.CSRAdjacency(
            adj.indptr.astype(np.int64),
            adj.indices.astype(np.int64),
        ),
        vweights=case.units.persons.astype(np.int64),
        eweights=adj.data.astype(np.int64),
        options=opts,
    )
    return np.asarray(parts)


def divided_by(case, labels) -> int:
    u = case.units
    if u.unit_site is None:
        return 0
    site = u.unit_site
    has = site >= 0
    pairs = {(int(s), int(lab)) for s, lab in zip(site[has], labels[has])}
    per = np.bincount([s for s, _ in pairs])
    return int((per > 1).sum())


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default=",".join([*OSM_CASES, "community-350"]))
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args(argv)
    print(f"machine: {machine()}; microgrid {microgrid.__version__}; median of {a.runs} runs\n")
    print("| case | households as | grids | in bounds | divided sites | parts | on-line | Polsby-Popper | time s |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name in a.cases.split(","):
        if name in OSM_CASES and not (OSM / f"{name}.gpkg").exists():
            print(f"skipping {name}: not found", file=sys.stderr)
            continue
        modes = [True] if name.startswith("community-") else [False, True]
        k = None
        for per_building in modes:
            st, r, dt, _mb = median_runs(run_partition, name, per_building, runs=a.runs)
            label = "one point per building" if per_building else "one point per entrance"
            if st != "ok":
                print(f"| {name} | {label} | {st}: {r} | | | | | | |")
                continue
            k = r["k"]
            print(
                f"| {name} | {label} | {r['k']} | {r['in_bounds']:.1%} | {r['divided']} | {r['parts']} | "
                f"{r['online']:.3f} | {r['pp']:.3f} | {dt:.2f} |",
                flush=True,
            )
        try:
            import pymetis  # noqa: F401
        except ImportError:
            continue
        if k is None:
            continue
        case = metis_case(name)
        st, lab, dt, _ = median_runs(run_metis, case, k, runs=a.runs)
        if st == "ok":
            m = measure(case, lab)
            print(
                f"| {name} | METIS on the building run's units | {m['k']} | {m['in_bounds']:.1%} | "
                f"{divided_by(case, lab)} | | {m['online']:.3f} | {m['pp']:.3f} | {dt:.3f} (partition step) |",
                flush=True,
            )


if __name__ == "__main__":
    main()
