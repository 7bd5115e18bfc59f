"""Least-churn re-partition: share of existing households that keep their grid.

Run: python benchmarks/churn.py [--cases sample,synthetic-3k] [--repeat 3] [--service 200]
Cases: the bundled sample, a synthetic village and the osm-china extracts
(when present). For each: partition, then (a) add 10% more households
concentrated in the south-west corner, (b) remove 10% of households, those
nearest the south-west corner; re-partition and report the kept share,
bounds, coverage, and the median time against partitioning the new
households afresh. ``--service N`` times N sequential one-household
``POST /v1/changes`` calls on the sample (p50, p95).
"""

from __future__ import annotations

import time
from functools import partial

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
        c = shapely.points(
            rng.uniform(minx, minx + (maxx - minx) * 0.45, 5000), rng.uniform(miny, miny + (maxy - miny) * 0.45, 5000)
        )
        pts += list(c[shapely.contains(inner, c)])
    add = gpd.GeoDataFrame(
        {"household_id": [f"new{i}" for i in range(n)], "persons": rng.integers(1, 7, n)}, geometry=pts[:n], crs=hh.crs
    )
    return pd.concat([hh[["household_id", "persons", "geometry"]], add], ignore_index=True)


def corner_remove(hh: gpd.GeoDataFrame, frac: float) -> gpd.GeoDataFrame:
    g = hh.to_crs(hh.estimate_utm_crs())
    score = (g.geometry.x + g.geometry.y).rank(method="first")
    return hh[(score > len(hh) * frac).to_numpy()]


def _median_time(fn, repeat: int):
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times)), out


def churn_table(cases, repeat: int = 3):
    """Partition afresh vs re-partition after +-10% of households in one corner (medians of ``repeat`` runs)."""
    print(
        "| case | households | change | kept share | grids kept/changed/new/removed | in-bounds | coverage "
        "| partition s | repartition s | ratio |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in available_cases(cases):
        hh, bnd, bar, lm = case_inputs(name)
        plan = microgrid.partition(hh, bnd, bar, lm)
        base = plan.households
        for label, new in (
            ("+10% in a corner", corner_add(base, plan.boundary, 0.10)),
            ("-10% in a corner", corner_remove(base, 0.10)),
        ):
            t_fresh, _ = _median_time(partial(microgrid.partition, new, bnd, bar, lm), repeat)
            dt, (p2, ch) = _median_time(partial(microgrid.repartition, plan, new), repeat)
            m = p2.report.metrics
            print(
                f"| {name} | {len(base)} | {label} | {1 - ch.churn:.1%} | {len(ch.grids_kept)}/"
                f"{len(ch.grids_changed)}/{len(ch.grids_new)}/{len(ch.grids_removed)} | "
                f"{m['in_bounds_share']:.0%} | {'valid' if m['coverage_valid'] else 'INVALID'} | "
                f"{t_fresh:.2f} | {dt:.2f} | {dt / t_fresh:.2f} |",
                flush=True,
            )


def service_latency(calls: int = 200):
    """p50/p95 of POST /v1/changes (one household's persons) on the sample, sequential, through the app."""
    from fastapi.testclient import TestClient

    from microgrid.io.geojson import plan_to_geojson, to_feature_collection
    from microgrid.service import create_app

    hh, bnd, bar, lm = case_inputs("sample")
    plan = microgrid.partition(hh, bnd, bar, lm)
    body = plan_to_geojson(plan)
    ids = plan.households["household_id"].tolist()
    base = {
        "plan": {"grids": body["grids"], "households": body["households"]},
        "boundary": to_feature_collection(plan.boundary),
        "barriers": to_feature_collection(plan.barriers),
    }
    times = []
    with TestClient(create_app()) as client:
        for i in range(calls):
            change = [{"op": "persons", "household_id": ids[i % len(ids)], "persons": 1 + i % 6}]
            t = time.perf_counter()
            r = client.post("/v1/changes", json={**base, "changes": change})
            times.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text
    print(
        f"POST /v1/changes, 1 household, sample ({len(ids)} households), {calls} sequential calls: "
        f"p50 {np.percentile(times, 50):.2f} s, p95 {np.percentile(times, 95):.2f} s"
    )


def main():
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", default="sample,synthetic-3k," + ",".join(OSM_CASES))
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--service", type=int, default=0, help="also time this many /v1/changes calls")
    a = ap.parse_args()
    print(f"machine: {machine()}\n")
    churn_table([c for c in a.cases.split(",") if c], a.repeat)
    if a.service:
        service_latency(a.service)


if __name__ == "__main__":
    main()
