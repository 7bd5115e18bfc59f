"""Least-churn re-partition: share of existing households that keep their grid.

Run: python benchmarks/churn.py
Cases: the bundled sample and the osm-china extracts (when present). For each:
partition, then (a) add 10% more households concentrated in the south-west
corner, (b) remove 10% of households, those nearest the south-west corner;
re-partition and report the kept share, bounds and coverage.
"""

from __future__ import annotations

import time

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from _common import OSM_CASES, available_cases, case_inputs, machine

import microgrid


def corner_add(hh: gpd.GeoDataFrame, boundary, frac: float, seed: int = 0) -> gpd.GeoDataFrame:
    rng = np.random.default_rng(seed)
    bb = shapely.union_all(boundary.to_crs(hh.crs).geometry.to_numpy())
    minx, miny, maxx, maxy = bb.bounds
    n = int(len(hh) * frac)
    inner = bb.buffer(-(maxx - minx) * 0.002)
    pts: list = []
    while len(pts) < n:
        c = shapely.points(rng.uniform(minx, minx + (maxx - minx) * 0.45, 5000),
                           rng.uniform(miny, miny + (maxy - miny) * 0.45, 5000))
        pts += list(c[shapely.contains(inner, c)])
    add = gpd.GeoDataFrame({"household_id": [f"new{i}" for i in range(n)], "persons": rng.integers(1, 7, n)},
                           geometry=pts[:n], crs=hh.crs)
    return pd.concat([hh[["household_id", "persons", "geometry"]], add], ignore_index=True)


def corner_remove(hh: gpd.GeoDataFrame, frac: float) -> gpd.GeoDataFrame:
    g = hh.to_crs(hh.estimate_utm_crs())
    score = (g.geometry.x + g.geometry.y).rank(method="first")
    return hh[(score > len(hh) * frac).to_numpy()]


def main():
    print(f"machine: {machine()}\n")
    print("| case | households | change | kept share | grids kept/changed/new/removed | in-bounds | coverage | s |")
    print("|---|---|---|---|---|---|---|---|")
    for name in available_cases(["sample", *OSM_CASES]):
        hh, bnd, bar, lm = case_inputs(name)
        plan = microgrid.partition(hh, bnd, bar, lm)
        base = plan.households
        bnd_g = plan.boundary
        for label, new in (("+10% in a corner", corner_add(base, bnd_g, 0.10)),
                           ("-10% in a corner", corner_remove(base, 0.10))):
            t = time.perf_counter()
            p2, ch = microgrid.repartition(plan, new)
            dt = time.perf_counter() - t
            m = p2.report.metrics
            print(f"| {name} | {len(base)} | {label} | {1 - ch.churn:.1%} | {len(ch.grids_kept)}/"
                  f"{len(ch.grids_changed)}/{len(ch.grids_new)}/{len(ch.grids_removed)} | "
                  f"{m['in_bounds_share']:.0%} | {'valid' if m['coverage_valid'] else 'INVALID'} | {dt:.1f} |",
                  flush=True)


if __name__ == "__main__":
    main()
