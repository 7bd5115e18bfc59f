"""Time microgrid.validate on a large grid map: 2,000 grids, 100,000 households.

Run: python benchmarks/validate_speed.py [--grids 2000] [--households 100000] [--runs 3]

The grid map is a seeded Voronoi tessellation of a 10 km x 10 km square
(2,000 irregular grids, like a hand-drawn map of a district) with households
scattered uniformly and assigned by location; roads are straight lines every
250 m. Prints the median of several runs.
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
import shapely
from _common import machine

import microgrid


def make_map(n_grids: int, n_households: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    side = 10_000.0
    bnd = shapely.box(0, 0, side, side)
    seeds = shapely.multipoints(rng.uniform(0, side, (n_grids, 2)))
    cells = shapely.get_parts(shapely.voronoi_polygons(seeds, extend_to=bnd))
    cells = shapely.intersection(cells, bnd)
    grids = gpd.GeoDataFrame({"grid_id": np.arange(1, len(cells) + 1)}, geometry=cells, crs=32650)
    pts = shapely.points(rng.uniform(1, side - 1, (n_households, 2)))
    tree = shapely.STRtree(cells)
    pi, gi = tree.query(pts, predicate="intersects")
    gid = np.zeros(n_households, int)
    gid[pi] = gi + 1
    hh = gpd.GeoDataFrame(
        {"household_id": np.arange(n_households), "persons": rng.integers(1, 7, n_households), "grid_id": gid},
        geometry=pts,
        crs=32650,
    )
    ys = np.arange(250, side, 250)
    roads = [shapely.LineString([(0, y), (side, y)]) for y in ys] + [
        shapely.LineString([(y, 0), (y, side)]) for y in ys
    ]
    return grids, hh, gpd.GeoDataFrame(geometry=[bnd], crs=32650), gpd.GeoDataFrame(geometry=roads, crs=32650)


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--grids", type=int, default=2000)
    ap.add_argument("--households", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    grids, hh, bnd, roads = make_map(a.grids, a.households)
    print(f"machine: {machine()}")
    print("| grids | households | barriers | assignment | median s | runs | violations |")
    print("|---|---|---|---|---|---|---|")
    for barriers in (None, roads):
        for assign in (None, "grid_id"):
            times = []
            for _ in range(a.runs):
                t = time.perf_counter()
                rep = microgrid.validate(
                    grids, hh, bnd, barriers, min_persons=0, max_persons=10**6, assignment_col=assign
                )
                times.append(time.perf_counter() - t)
            print(
                f"| {len(grids)} | {len(hh)} | {'yes' if barriers is not None else 'no'} | "
                f"{assign or 'by location'} | {np.median(times):.2f} | {a.runs} | "
                f"{int((rep.violations['severity'] == 'error').sum())} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
