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
import pandas as pd
import shapely
from _common import ROOT, machine

import microgrid
from microgrid.crs import metric_crs_for

RI = ROOT.parent / "shared" / "data" / "real-grid-maps" / "ri_precincts.gpkg"
BOUNDS = {"min_persons": 0, "max_persons": 10**9}


def households(grids, outline, work):
    bnd = outline.to_crs(work).geometry.union_all()
    polys = grids.to_crs(work).geometry.to_numpy()
    x0, y0, x1, y1 = bnd.bounds
    xs, ys = np.meshgrid(np.arange(x0 + 250, x1, 1000.0), np.arange(y0 + 250, y1, 1000.0))
    pts = shapely.points(xs.ravel(), ys.ravel())
    pts = list(pts[shapely.contains_properly(bnd, pts)])
    gaps = shapely.get_parts(shapely.difference(bnd, shapely.union_all(polys)))
    pts += list(shapely.point_on_surface(gaps[shapely.area(gaps) > 1.0]))
    i, j = shapely.STRtree(polys).query(polys, predicate="intersects")
    over = shapely.get_parts(shapely.intersection(polys[i[i < j]], polys[j[i < j]]))
    pts += list(shapely.point_on_surface(over[(shapely.get_type_id(over) == 3) & (shapely.area(over) > 1.0)]))
    pts = np.asarray(pts, dtype=object)
    pi, gi = shapely.STRtree(polys).query(pts, predicate="within")
    first = pd.Series(gi).groupby(pi).min()
    assigned = pd.Series(np.nan, index=range(len(pts)))
    assigned[first.index] = grids["grid_id"].to_numpy()[first.to_numpy()]
    return gpd.GeoDataFrame({"household_id": [f"h{k:05d}" for k in range(len(pts))],
                             "persons": 1 + np.arange(len(pts)) % 5, "grid_id": assigned.to_numpy()},
                            geometry=pts, crs=work).to_crs(grids.crs)


def counts(rep) -> dict[str, str]:
    v = rep.violations
    out = {}
    for (check, sev), n in v.groupby(["check", "severity"]).size().items():
        area = v.loc[(v["check"] == check) & (v["severity"] == sev), "figure"].sum()
        unit = f", {area:.2f} m2" if check in ("gap", "overlap", "sliver_gap", "sliver_overlap",
                                               "outside_boundary") else ""
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
    work = metric_crs_for(outline)
    hh = households(grids, outline, work)
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
        print(f"\n{name}: coverage_valid {m['coverage_valid']}, gap {m['gap_area']:.2f} m2, overlap "
              f"{m['overlap_area']:.2f} m2, outside {m['outside_area']:.4f} m2, households in/out "
              f"{m['households_in']}/{m['households_out']}, contiguous share {m['contiguous_share']:.3f}")
    print(f"\nrepair with households (incl. its own validation): median {np.median(times):.1f} s of {a.runs}; "
          f"geometry only: {geometry_only:.1f} s")
    print(res.summary())
    isl = res.remaining[res.remaining["issue"] == "multipart"]
    n_parts = isl["reason"].str.extract(r"^(\d+) of")[0].astype(int).sum()
    print(f"islands: {n_parts} parts in {len(isl)} grids; remaining issues: {sorted(set(res.remaining['issue']))}")


if __name__ == "__main__":
    main()
