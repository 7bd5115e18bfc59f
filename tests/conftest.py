"""Tiny hand-built cases shared by the tests.

All hand-built layers are in a projected CRS (UTM 50N, EPSG:32650) near
Beijing, so distances and areas are metres and square metres.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

import microgrid
from microgrid.units import build_units

CRS = "EPSG:32650"
X0, Y0 = 440_000.0, 4_420_000.0
REPO = Path(__file__).resolve().parents[1]
OSM_DIR = REPO.parent / "shared" / "data" / "osm-china"
#: the real OpenStreetMap extracts in OSM_DIR that the real-data tests run on
REAL_PLACES = ["cau_beijing", "wangjing_beijing", "tsinghua_beijing", "zju_hangzhou"]


# ---------------------------------------------------------------- builders


def square(size: float = 300.0, x0: float = X0, y0: float = Y0) -> shapely.Polygon:
    """A ``size`` x ``size`` square with its lower-left corner at ``(x0, y0)``."""
    return shapely.box(x0, y0, x0 + size, y0 + size)


def households_gdf(xy, persons, ids=None, crs=CRS) -> gpd.GeoDataFrame:
    """Household points with ``household_id`` and ``persons`` columns."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    if ids is None:
        ids = [f"h{i:03d}" for i in range(len(xy))]
    return gpd.GeoDataFrame({"household_id": list(ids), "persons": list(persons)}, geometry=shapely.points(xy), crs=crs)


def boundary_gdf(geom, crs=CRS) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({"name": ["boundary"]}, geometry=[geom], crs=crs)


def lines_gdf(lines, kinds=None, crs=CRS) -> gpd.GeoDataFrame:
    lines = [shapely.LineString(ln) if not isinstance(ln, shapely.Geometry) else ln for ln in lines]
    kinds = kinds or ["road"] * len(lines)
    return gpd.GeoDataFrame({"kind": kinds}, geometry=lines, crs=crs)


def block_village(per_side: int = 5, cycle: int = 5):
    """The 3x3 block village: a 300 x 300 m square cut by 2 horizontal and 2 vertical roads.

    Each 100 x 100 m block holds ``per_side`` x ``per_side`` households on a
    regular grid (10 m from the roads); household ``i`` has ``1 + i % cycle``
    persons. With the defaults every block holds 25 households and 75
    persons, 675 persons in all: exactly three grids of 200..300.

    Returns ``(households, boundary, barriers)``.
    """
    step = 80.0 / (per_side - 1) if per_side > 1 else 0.0
    offs = 10.0 + step * np.arange(per_side) if per_side > 1 else np.array([50.0])
    xy = []
    for bx in range(3):
        for by in range(3):
            for ox in offs:
                for oy in offs:
                    xy.append((X0 + 100 * bx + ox, Y0 + 100 * by + oy))
    persons = [1 + i % cycle for i in range(len(xy))]
    hh = households_gdf(xy, persons)
    bnd = boundary_gdf(square())
    roads = lines_gdf(
        [
            [(X0, Y0 + 100), (X0 + 300, Y0 + 100)],
            [(X0, Y0 + 200), (X0 + 300, Y0 + 200)],
            [(X0 + 100, Y0), (X0 + 100, Y0 + 300)],
            [(X0 + 200, Y0), (X0 + 200, Y0 + 300)],
        ],
        kinds=["main", "main", "lane", "lane"],
    )
    return hh, bnd, roads


def split_square(persons_per_side: int = 250, n_per_side: int = 50):
    """A 200 x 100 m rectangle split by one vertical road at its middle.

    Each side holds ``n_per_side`` households on a line; persons are spread
    so each side totals ``persons_per_side``. Returns
    ``(households, boundary, barriers)``.
    """
    xy, persons = [], []
    base, rest = divmod(persons_per_side, n_per_side)
    for x in (X0 + 50.0, X0 + 150.0):
        for j in range(n_per_side):
            xy.append((x + (j % 5) * 8 - 16, Y0 + 5 + (j // 5) * 9))
            persons.append(base + (1 if j < rest else 0))
    hh = households_gdf(xy, persons)
    bnd = boundary_gdf(shapely.box(X0, Y0, X0 + 200, Y0 + 100))
    road = lines_gdf([[(X0 + 100, Y0 - 20), (X0 + 100, Y0 + 120)]], kinds=["main"])
    return hh, bnd, road


def grid_union_diff_area(grids: gpd.GeoDataFrame, boundary) -> float:
    """Area of the symmetric difference between the union of ``grids`` and ``boundary``."""
    if isinstance(boundary, (gpd.GeoDataFrame, gpd.GeoSeries)):
        boundary = shapely.union_all(boundary.to_crs(grids.crs).geometry.to_numpy())
    union = shapely.coverage_union_all(grids.geometry.to_numpy())
    return float(shapely.symmetric_difference(union, boundary).area)


def assert_plan_invariants(plan, households, *, min_persons=200, max_persons=300, tol_area=1e-3):
    """The plan-wide promises: full cover, contiguity, bounds, every household once."""
    grids = plan.grids
    geoms = grids.geometry.to_numpy()
    assert shapely.coverage_is_valid(geoms)
    bnd = shapely.union_all(plan.boundary.to_crs(grids.crs).geometry.to_numpy())
    assert grid_union_diff_area(grids, bnd) < tol_area
    assert (shapely.get_type_id(geoms) == 3).all(), "every grid is one Polygon"
    ok = grids["persons"].between(min_persons, max_persons) | grids["flagged"]
    assert ok.all(), grids.loc[~ok, ["grid_id", "persons"]]
    out = plan.households
    assert sorted(out["household_id"]) == sorted(households["household_id"])
    assert out["household_id"].is_unique
    assert int(out["persons"].sum()) == int(households["persons"].sum())
    assert int(grids["persons"].sum()) == int(households["persons"].sum())
    # each household lies in (covered by) the grid it is assigned to
    gmap = dict(zip(grids["grid_id"], geoms))
    cov = [shapely.covers(gmap[g], p) for g, p in zip(out["grid_id"], out.geometry)]
    assert all(cov)
    # persons per grid agree with the assignment
    per = out.groupby("grid_id")["persons"].sum()
    assert per.reindex(grids["grid_id"]).fillna(0).astype(int).tolist() == grids["persons"].astype(int).tolist()


# ---------------------------------------------------------------- unit-level helpers

#: A 100 x 100 m square at the origin, for unit-level tests in plain metres.
SQ = shapely.box(0, 0, 100, 100)


def units_of(xy, boundary, lines=(), *, persons=None, snap=2.0, landmarks=None):
    """:func:`build_units` on plain coordinates; every line a rank-2 ``road``, one person per household."""
    xy = np.asarray(xy, dtype=float).reshape(-1, 2)
    lines = np.array([shapely.LineString(ln) for ln in lines], dtype=object)
    persons = np.ones(len(xy), np.int64) if persons is None else np.asarray(persons, np.int64)
    return build_units(
        xy,
        persons,
        boundary,
        lines,
        np.full(len(lines), 2),
        np.array(["road"] * len(lines), dtype=object),
        snap_tolerance=snap,
        landmarks=landmarks,
    )


# ---------------------------------------------------------------- plan comparison


def plans_equal(a, b, *, normalize: bool = False) -> bool:
    """Same grid ids, persons, geometries and household assignment.

    Geometries are compared vertex for vertex; with ``normalize`` after
    :func:`shapely.normalize` (same shapes, rings may start elsewhere).
    """
    ga, gb = a.grids, b.grids
    if ga["grid_id"].tolist() != gb["grid_id"].tolist():
        return False
    if ga["persons"].tolist() != gb["persons"].tolist():
        return False
    xa, xb = ga.geometry.to_numpy(), gb.geometry.to_numpy()
    if normalize:
        xa, xb = shapely.normalize(xa), shapely.normalize(xb)
    if not shapely.equals_exact(xa, xb, tolerance=0).all():
        return False
    ha = a.households.set_index("household_id")["grid_id"].sort_index()
    hb = b.households.set_index("household_id")["grid_id"].sort_index()
    return ha.equals(hb)


# ---------------------------------------------------------------- fixtures


@pytest.fixture
def village3x3():
    return block_village()


@pytest.fixture
def split():
    return split_square()


@pytest.fixture(scope="session")
def sample_village():
    """A small synthetic village (households, boundary, barriers, landmarks)."""
    return microgrid.samples.make_village(400, seed=3)


@pytest.fixture(scope="session")
def sample_plan(sample_village):
    return microgrid.partition(*sample_village, seed=0)


@pytest.fixture(scope="session")
def osm_dir() -> Path:
    """The real OpenStreetMap extracts next to the repository (skips when absent)."""
    if not OSM_DIR.is_dir():
        pytest.skip(f"real OSM extracts not found at {OSM_DIR}")
    return OSM_DIR


def real_extract(osm_dir: Path, place: str, suffix: str = "osm") -> Path:
    """``osm_dir/PLACE.SUFFIX``; skips when it is absent, or for ``.osm`` when osmnx is not installed."""
    if suffix == "osm":
        pytest.importorskip("osmnx")
    f = osm_dir / f"{place}.{suffix}"
    if not f.exists():
        pytest.skip(f"{f} not found")
    return f


# ---------------------------------------------------------------- the command line in a child process


def run_cli(*args, timeout: float = 300, cwd=None) -> subprocess.CompletedProcess:
    """``python -m microgrid ARGS`` in a child process, Python warnings off, output captured as text."""
    return subprocess.run(
        [sys.executable, "-m", "microgrid", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )


def write_layers(path, **layers: gpd.GeoDataFrame):
    """Write each frame as the GeoPackage layer of its keyword name; return ``path``."""
    for name, frame in layers.items():
        frame.to_file(path, layer=name, engine="pyogrio")
    return path


# ---------------------------------------------------------------- a real ``microgrid serve``


def free_port() -> int:
    """A TCP port on localhost that nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(*args, stderr=subprocess.PIPE) -> tuple[subprocess.Popen, str]:
    """``microgrid serve ARGS`` on a free port, once ``/healthz`` answers: ``(process, base url)``."""
    import httpx

    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "microgrid", "serve", "--port", str(port), *args],
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            said = proc.stderr.read().decode()[-2000:] if proc.stderr is not None else "(stderr not kept)"
            raise RuntimeError(f"microgrid serve exited: {said}")
        try:
            if httpx.get(url + "/healthz", timeout=2).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("microgrid serve did not start in 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server of :func:`start_server`: terminate, else kill after 10 s."""
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stderr is not None:
        proc.stderr.close()
