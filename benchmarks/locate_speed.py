"""Points located per second by microgrid.locate (target: >= 100,000 points/s).

Run: python benchmarks/locate_speed.py [--points 1000000] [--runs 3]
Grids: the 2,000-grid Voronoi map of validate_speed.py; points uniform over it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import shapely
from _common import machine
from validate_speed import make_map

import microgrid


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--points", type=int, default=1_000_000)
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    grids, _, _, _ = make_map(2000, 10)
    rng = np.random.default_rng(1)
    pts = shapely.points(rng.uniform(0, 10_000, (a.points, 2)))
    times = []
    for _ in range(a.runs):
        t = time.perf_counter()
        out = microgrid.locate(grids, pts)
        times.append(time.perf_counter() - t)
    med = float(np.median(times))
    print(f"machine: {machine()}")
    print("| grids | points | located | median s | points/s |")
    print("|---|---|---|---|---|")
    print(f"| {len(grids)} | {a.points} | {int(out['grid_id'].notna().sum())} | {med:.2f} | {a.points / med:,.0f} |")


if __name__ == "__main__":
    main()
