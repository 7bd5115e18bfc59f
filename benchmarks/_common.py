"""Shared helpers for the benchmark scripts: cases, unit graphs, plan measures."""

from __future__ import annotations

import os
import resource
import time
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

import numpy as np
import shapely

import microgrid
from microgrid.graph import build_graph
from microgrid.inputs import estimate_households, prepare_inputs
from microgrid.units import units_from_inputs
from microgrid.validate import grid_metrics

ROOT = Path(__file__).resolve().parents[1]
OSM = ROOT.parent / "shared" / "data" / "osm-china"
OSM_CASES = ["cau_beijing", "wangjing_beijing", "tsinghua_beijing", "zju_hangzhou"]
LO, HI = 200, 300


def case_inputs(name: str):
    """(households, boundary, barriers, landmarks) of a named case."""
    if name == "sample":
        f = ROOT / "data" / "samples" / "village.gpkg"
        return f"{f}#households", f"{f}#boundary", f"{f}#barriers", f"{f}#landmarks"
    if name.startswith("synthetic-"):
        n = int(name.split("-")[1].replace("k", "000"))
        return microgrid.samples.make_village(n, seed=1)
    f = OSM / f"{name}.gpkg"
    hh = estimate_households(f"{f}#buildings", clip_to=f"{f}#export_bbox", seed=0)
    return hh, f"{f}#export_bbox", f"{f}#roads", None


def available_cases(names):
    out = []
    for n in names:
        if n in OSM_CASES and not (OSM / f"{n}.gpkg").exists():
            print(f"skipping {n}: {OSM} not found")
            continue
        out.append(n)
    return out


@dataclass
class Case:
    name: str
    units: object
    graph: object
    boundary: object
    barriers: np.ndarray
    persons: int


def build_case(name: str) -> Case:
    hh, bnd, bar, lm = case_inputs(name)
    inp = prepare_inputs(hh, bnd, bar, lm)
    units = units_from_inputs(inp)
    graph = build_graph(units)
    return Case(name, units, graph, units.boundary, units.barriers, int(units.persons.sum()))


def measure(case: Case, labels: np.ndarray, lo=LO, hi=HI) -> dict:
    """Plan measures as defined in DESIGN.md, from a unit labelling."""
    labs = np.unique(labels)
    geoms = np.array([shapely.coverage_union_all(case.units.geometry[labels == r]) for r in labs], dtype=object)
    persons = np.array([case.units.persons[labels == r].sum() for r in labs])
    heavy = np.array([case.units.persons[labels == r].max() > hi for r in labs])
    inb = ((persons >= lo) & (persons <= hi)) | heavy
    connected = shapely.get_num_geometries(geoms) == 1
    union = shapely.union_all(geoms)
    cov = bool(shapely.coverage_is_valid(geoms)) and shapely.symmetric_difference(union, case.boundary).area < 1.0
    pp, _, share = grid_metrics(geoms, case.boundary, case.barriers)
    return {
        "k": len(labs),
        "in_bounds": float(inb.mean()),
        "connected": float(connected.mean()),
        "coverage": cov,
        "online": share,
        "pp": float(pp.mean()),
        "forced": int(heavy.sum()),
    }


def _child(fn, args, conn):
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    try:
        t = time.perf_counter()
        out = fn(*args)
        dt = time.perf_counter() - t
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        conn.send(("ok", out, dt, (peak - base) / 1024))
    except Exception as exc:  # a peer failing is a result, not a crash of the benchmark
        conn.send(("error", f"{type(exc).__name__}: {str(exc)[:120]}", 0.0, 0.0))
    conn.close()


def run_isolated(fn, *args, timeout=900):
    """Run ``fn(*args)`` in a forked process: (status, result, seconds, peak MB above start)."""
    ctx = get_context("fork")
    a, b = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(fn, args, b))
    p.start()
    if a.poll(timeout):
        res = a.recv()
    else:
        p.kill()
        res = ("timeout", f"> {timeout} s", float(timeout), 0.0)
    p.join()
    return res


def median_runs(fn, *args, runs=3, timeout=900):
    """Median time and max peak memory over ``runs`` isolated runs; result of the first."""
    times, peaks, first = [], [], None
    for _ in range(runs):
        st, out, dt, mb = run_isolated(fn, *args, timeout=timeout)
        if st != "ok":
            return st, out, dt, mb
        first = out if first is None else first
        times.append(dt)
        peaks.append(mb)
    return "ok", first, float(np.median(times)), float(max(peaks))


def machine() -> str:
    import platform

    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"
