"""End-to-end time and peak memory of microgrid vs number of households.

Run: python benchmarks/scaling.py [--sizes 1000,2000,5000,10000,20000,50000,100000] [--runs 3]

For each size a synthetic village (microgrid.samples.make_village, seed 1)
is written to a GeoPackage first; the timed run reads it, partitions it and
writes the plan (read inputs -> plan written), in a fresh forked process so
peak memory is that run's own. Prints a table and the exponent b of a
least-squares fit time = a * households^b.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
from _common import machine, median_runs

import microgrid


def end_to_end(src: str, out: str) -> dict:
    plan = microgrid.partition(f"{src}#households", f"{src}#boundary", f"{src}#barriers", f"{src}#landmarks")
    plan.to_file(out, overwrite=True)
    return {"grids": plan.n_grids, "ok": plan.report.ok, "timings": plan.params["timings"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1000,2000,5000,10000,20000,50000,100000")
    ap.add_argument("--runs", type=int, default=3)
    a = ap.parse_args()
    sizes = [int(x) for x in a.sizes.split(",")]
    print(f"machine: {machine()}; median of {a.runs} runs; peak = RSS growth of the run\n")
    print("| households | grids | valid | end-to-end s | units+graph s | partition s | assemble+validate s | peak MB |")
    print("|---|---|---|---|---|---|---|---|")
    xs, ys = [], []
    with tempfile.TemporaryDirectory() as d:
        for n in sizes:
            src = str(Path(d) / f"v{n}.gpkg")
            layers = microgrid.samples.make_village(n, seed=1)
            for name, gdf in zip(("households", "boundary", "barriers", "landmarks"), layers):
                gdf.to_file(src, layer=name, driver="GPKG", engine="pyogrio")
            st, res, dt, mb = median_runs(end_to_end, src, str(Path(d) / f"plan{n}.gpkg"), runs=a.runs, timeout=1800)
            if st != "ok":
                print(f"| {n} | {st}: {res} | | | | | | |", flush=True)
                continue
            t = res["timings"]
            print(
                f"| {n} | {res['grids']} | {res['ok']} | {dt:.2f} | {t['units_and_graph']:.2f} | "
                f"{t['partition']:.2f} | {t['assemble']:.2f} | {mb:.0f} |",
                flush=True,
            )
            xs.append(n)
            ys.append(dt)
    if len(xs) >= 2:
        b, loga = np.polyfit(np.log(xs), np.log(ys), 1)
        print(f"\nfitted exponent b = {b:.2f} (time = {np.exp(loga):.2e} * households^b)")


if __name__ == "__main__":
    main()
