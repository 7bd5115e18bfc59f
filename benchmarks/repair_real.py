"""Repair a real hand-drawn map: the Rhode Island voting precincts; violations before and after, repair time.

Run: python benchmarks/repair_real.py [--runs 1]

Reads ``../shared/data/real-grid-maps/ri_precincts.gpkg`` (339 precincts, ODbL;
see the README next to it) and audits it against its ``outline`` layer (the
precincts' union with interior holes filled). The map has no households: they
are a 1 km lattice over the outline plus one point in every gap and every
overlap of the map (1 + i % 5 persons), assigned by location (none for the
ones in gaps), as in ``tests/test_repair_real.py``. Bounds are switched off
(repair does not change persons per grid). Prints a markdown table.
"""

from __future__ import annotations

import argparse
import time

import geopandas as gpd
import numpy as np
from _common import ROOT, machine

import microgrid

RI = ROOT.parent / "shared" / "data" / "real-grid-maps" / "ri_precincts.gpkg"
BOUNDS = {"min_persons": 0, "max_persons": 10**9}


def counts(rep) -> dict[str, str]:
    v = rep.violations
    out = {}
    for (check, sev), n in v.groupby(["check", "severity"]).size().items():
        area = v.loc[(v["check"] == check) & (v["severity"] == sev), "figure"].sum()
        unit = (
            f", {area:.2f} m2"
            if check in ("gap", "overlap", "sliver_gap", "sliver_overlap", "outside_boundary")
            else ""
        )
        out[f"{check} ({sev})"] = f"{n}{unit}"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=1)
    a = ap.parse_args()
    if not RI.exists():
        raise SystemExit(f"{RI} not found")
    raw = gpd.read_file(RI, layer="precincts", engine="pyogrio")
    outline = gpd.read_file(RI, layer="outline", engine="pyogrio")
    grids = raw.assign(grid_id=raw["JOINID"].str[1:].astype("int64"))
    hh = microgrid.samples.lattice_households(grids, outline)
    before = microgrid.validate(grids, hh, outline, assignment_col="grid_id", **BOUNDS)
    times, res = [], None
    for _ in range(a.runs):
        t = time.perf_counter()
        res = microgrid.repair(grids, outline, hh, assignment_col="grid_id", **BOUNDS)
        times.append(time.perf_counter() - t)
    t = time.perf_counter()
    microgrid.repair(grids, outline, **BOUNDS)
    geometry_only = time.perf_counter() - t
    after = microgrid.validate(res.grids, res.households, outline, assignment_col="grid_id", **BOUNDS)
    b, f = counts(before), counts(after)
    print(f"{len(grids)} precincts, {len(hh)} households, {machine()}\n")
    print("| violation (severity) | before | after |\n|---|---|---|")
    for k in sorted(set(b) | set(f)):
        print(f"| {k} | {b.get(k, 0)} | {f.get(k, 0)} |")
    for name, rep in (("before", before), ("after", after)):
        m = rep.metrics
        print(
            f"\n{name}: coverage_valid {m['coverage_valid']}, gap {m['gap_area']:.2f} m2, overlap "
            f"{m['overlap_area']:.2f} m2, outside {m['outside_area']:.4f} m2, households in/out "
            f"{m['households_in']}/{m['households_out']}, contiguous share {m['contiguous_share']:.3f}"
        )
    print(
        f"\nrepair with households (incl. its own validation): median {np.median(times):.1f} s of {a.runs}; "
        f"geometry only: {geometry_only:.1f} s"
    )
    print(res.summary())
    isl = res.remaining[res.remaining["issue"] == "multipart"]
    n_parts = isl["reason"].str.extract(r"^(\d+) of")[0].astype(int).sum()
    print(f"islands: {n_parts} parts in {len(isl)} grids; remaining issues: {sorted(set(res.remaining['issue']))}")


if __name__ == "__main__":
    main()
